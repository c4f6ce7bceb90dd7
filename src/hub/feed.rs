//! The console's live feed: `/ui`, a push-only WebSocket per browser.
//!
//! The feed only pushes: after the handshake it writes the snapshot, then
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
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role as WsRole, WebSocket};

use super::Hub;
use super::auth::Role;
use super::error::HubError;
use super::http::{Outcome, Request, Response};
use super::routes::error_response;

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
        super::routes::query_param(query, "ticket")
            .ok()
            .flatten()
            .and_then(|t| hub.tickets.redeem(&t))
    } else {
        Some(Role::Operator)
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = Response::new(101, Vec::new())
        .with_header("Upgrade", "websocket")
        .with_header("Connection", "Upgrade")
        .with_header("Sec-WebSocket-Accept", accept);
    let hub = Arc::clone(hub);
    Outcome::Upgrade(
        response,
        Box::new(move |stream, _early| {
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
            let hello =
                json!({"type": "auth_ok", "role": role.as_str(), "auth": hub.access.enabled()});
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
        }),
    )
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
