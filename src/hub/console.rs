//! `/ui`: the console's live feed, a push-only WebSocket per browser.
//!
//! After the Host, Origin and ticket checks it answers with an upgrade, and
//! on the socket it is handed writes `auth_ok`, the snapshot, then each
//! event the room publishes (`events.rs`). It never reads: operator
//! commands arrive over HTTP (`POST /control`). Frames are written straight
//! from the shared event text, each within the write deadline, so a
//! console that stops reading is let go within [`WRITE_DEADLINE`].

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use serde_json::json;

use super::auth::Role;
use super::error::HubError;
use super::events::{Events, HEALTH_EVERY, MAX_CONSOLES};
use super::health::resident_mib;
use super::http::{Outcome, Request, Response, WRITE_DEADLINE, write_all_by};
use super::reply::{error_response, query_param};
use super::state::Hub;

fn refuse(e: &HubError) -> Outcome {
    Outcome::Respond(error_response(e))
}

/// Serves `GET /ui`: checks, upgrades, then pushes until the browser goes.
pub fn serve(hub: &Arc<Hub>, req: &Request, query: &str) -> Outcome {
    if let Err(e) = hub.check_browser(req.header("Host"), req.header("Origin")) {
        return refuse(&e);
    }
    let upgrade = req
        .header("Upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = req.header("Sec-WebSocket-Key");
    let Some(key) = key.filter(|_| upgrade) else {
        return refuse(&HubError::invalid("a WebSocket upgrade is expected at /ui"));
    };
    let role = if hub.access.enabled() {
        query_param(query, "ticket")
            .ok()
            .flatten()
            .and_then(|t| hub.tickets.redeem(&t))
    } else {
        Some(Role::Operator)
    };
    // At the cap, the operator's console takes the place of one that does
    // not read; nobody else's does.
    if hub.room().consoles() >= MAX_CONSOLES
        && !(role == Some(Role::Operator) && hub.room().make_console_room())
    {
        return refuse(&HubError::Limit("too many consoles are watching"));
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = Response::new(101, Vec::new())
        .with_header("Upgrade", "websocket")
        .with_header("Connection", "Upgrade")
        .with_header("Sec-WebSocket-Accept", accept);
    let hub = Arc::clone(hub);
    Outcome::Upgrade(
        response,
        Box::new(move |mut stream, _early| {
            let Some(role) = role else {
                let _ = text(&mut stream, &json!({"type": "auth_error"}).to_string());
                let _ = close(&mut stream, 1008, "a valid ticket is required");
                return;
            };
            let hello =
                json!({"type": "auth_ok", "role": role.as_str(), "auth": hub.access.enabled()});
            if text(&mut stream, &hello.to_string()).is_err() {
                return;
            }
            let rss = resident_mib();
            let Some(events) = hub.room().watch(rss) else {
                let _ = close(&mut stream, 1013, "too many consoles; try again later");
                return;
            };
            log::info!("a console connected as {}", role.as_str());
            push(&mut stream, &events);
            log::info!("a console disconnected");
        }),
    )
}

/// Writes one unmasked WebSocket frame (RFC 6455, server to client),
/// straight from `payload`, within the write deadline.
fn frame(stream: &mut TcpStream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + WRITE_DEADLINE;
    let mut head = Vec::with_capacity(10);
    head.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => head.push(n as u8),
        n if n <= 0xFFFF => {
            head.push(126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    write_all_by(stream, &head, deadline)?;
    write_all_by(stream, payload, deadline)?;
    stream.flush()
}

fn text(stream: &mut TcpStream, s: &str) -> std::io::Result<()> {
    frame(stream, 0x1, s.as_bytes())
}

fn close(stream: &mut TcpStream, code: u16, reason: &str) -> std::io::Result<()> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    frame(stream, 0x8, &payload)
}

/// Writes events until a write fails or the room drops this subscriber.
fn push(stream: &mut TcpStream, events: &Events) {
    loop {
        match events.next(HEALTH_EVERY * 4) {
            Ok(event) => {
                if text(stream, &event).is_err() {
                    return;
                }
            }
            // No event for a while (no health thread?): the channel is alive.
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Dropped for falling behind: say so, and let the page reconnect.
                let _ = close(stream, 1013, "fell behind; reconnect for a fresh snapshot");
                return;
            }
        }
    }
}
