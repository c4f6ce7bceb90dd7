//! The console's live feed: `/ui`, a push-only WebSocket per browser.
//!
//! tiny_http's upgraded stream cannot be split into read and write halves, so
//! the feed never reads: after the handshake it writes the snapshot, then
//! each event the room publishes. Operator commands arrive over HTTP
//! (`POST /control`) instead.
//!
//! **Invariant:** routing never waits for a browser. The room hands each
//! subscriber events through a bounded channel with `try_send`; a subscriber
//! that falls [`BACKLOG`] events behind is dropped (its page reconnects and
//! gets a fresh snapshot) rather than buffered without bound. A dead browser
//! is found when a write fails; the health tick guarantees a write every
//! 1.5 s.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use serde_json::json;
use tiny_http::{Request, Response};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role as WsRole, WebSocket};

use super::Hub;
use super::auth::Role;
use super::error::HubError;
use super::routes::{header_value, with_header};

/// Events a subscriber may be behind before it is dropped.
pub const BACKLOG: usize = 4096;

/// How often the health event goes out.
pub const HEALTH_EVERY: Duration = Duration::from_millis(1500);

/// Every browser that is watching, as the room sees them.
#[derive(Debug, Default)]
pub struct Feed {
    subscribers: Vec<SyncSender<Arc<str>>>,
}

impl Feed {
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// A new subscriber whose first event is `snapshot`.
    pub fn subscribe(&mut self, snapshot: String) -> Receiver<Arc<str>> {
        let (tx, rx) = sync_channel(BACKLOG);
        // The channel is new and empty: this send cannot fail.
        let _ = tx.try_send(Arc::from(snapshot));
        self.subscribers.push(tx);
        rx
    }

    /// Hands `event` to every subscriber without ever waiting.
    pub fn publish(&mut self, event: String) {
        if self.subscribers.is_empty() {
            return;
        }
        let event: Arc<str> = Arc::from(event);
        self.subscribers
            .retain(|tx| match tx.try_send(Arc::clone(&event)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    log::warn!(
                        "a console fell {BACKLOG} events behind; dropping it (it will reconnect)"
                    );
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
    }
}

fn refuse(req: Request, e: &HubError) {
    let response = Response::from_string(e.body().to_string()).with_status_code(e.status());
    let _ = req.respond(with_header(response, "Content-Type", "application/json"));
}

/// Serves `GET /ui`: checks, upgrades, then pushes until the browser goes.
pub fn serve(hub: &Hub, req: Request, query: &str) {
    if let Err(e) = hub.check_browser(header_value(&req, "Host"), header_value(&req, "Origin")) {
        return refuse(req, &e);
    }
    let upgrade =
        header_value(&req, "Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = header_value(&req, "Sec-WebSocket-Key").map(str::to_string) else {
        return refuse(
            req,
            &HubError::invalid("a WebSocket upgrade is expected at /ui"),
        );
    };
    if !upgrade {
        return refuse(
            req,
            &HubError::invalid("a WebSocket upgrade is expected at /ui"),
        );
    }
    let role = if hub.access.enabled() {
        super::routes::query_param(query, "ticket")
            .ok()
            .flatten()
            .and_then(|t| hub.tickets.redeem(&t))
    } else {
        Some(Role::Operator)
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    // tiny_http writes `Upgrade` and `Connection` itself for an upgrade.
    let response = with_header(Response::empty(101), "Sec-WebSocket-Accept", &accept);
    let stream = req.upgrade("websocket", response);
    let mut ws = WebSocket::from_raw_socket(stream, WsRole::Server, None);
    let Some(role) = role else {
        let _ = ws.send(tungstenite::Message::text(
            json!({"type": "auth_error"}).to_string(),
        ));
        let _ = ws.close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "a valid ticket is required".into(),
        }));
        let _ = ws.flush();
        return;
    };
    let hello = json!({"type": "auth_ok", "role": role.as_str(), "auth": hub.access.enabled()});
    if ws
        .send(tungstenite::Message::text(hello.to_string()))
        .is_err()
    {
        return;
    }
    let rss = super::room::resident_mib();
    let events = hub.room().watch(rss);
    log::info!("a console connected as {}", role.as_str());
    push(&mut ws, &events);
    log::info!("a console disconnected");
}

/// Writes events until a write fails or the room drops this subscriber.
fn push<S: std::io::Read + std::io::Write>(ws: &mut WebSocket<S>, events: &Receiver<Arc<str>>) {
    loop {
        match events.recv_timeout(HEALTH_EVERY * 4) {
            Ok(event) => {
                if ws.send(tungstenite::Message::text(event.as_ref())).is_err() {
                    return;
                }
            }
            // No event for a while (no health thread?): the channel is alive.
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Dropped for falling behind: say so, and let the page reconnect.
                let _ = ws.close(Some(CloseFrame {
                    code: CloseCode::Again,
                    reason: "fell behind; reconnect for a fresh snapshot".into(),
                }));
                let _ = ws.flush();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_that_falls_behind_is_dropped_not_buffered() {
        let mut feed = Feed::default();
        let slow = feed.subscribe("{}".into());
        let fast = feed.subscribe("{}".into());
        for i in 0..BACKLOG {
            feed.publish(format!("{i}"));
            let _ = fast.try_recv();
        }
        assert_eq!(feed.len(), 1, "the slow one is gone");
        drop(slow);
        drop(fast);
        feed.publish("x".into());
        assert!(feed.is_empty());
    }
}
