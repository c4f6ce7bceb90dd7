//! Channel mode's state for one session (see `channel` for the pusher and
//! the permission relay): the probe pushed and whether the model answered
//! it, whether the pusher runs, whether the session ended; and the one way
//! a push reaches the host.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Out;

/// The channel of one bridge session.
pub struct Channel {
    out: Out,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// The code of the probe pushed, and the token it was pushed for.
    probe: Option<(String, String)>,
    confirmed: bool,
    running: bool,
    ended: bool,
}

impl Channel {
    pub fn new(out: Out) -> Arc<Channel> {
        Arc::new(Channel {
            out,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `off`-less summary for `whoami`: `confirmed`, or `waiting` for the
    /// model to answer the probe.
    pub fn status(&self) -> &'static str {
        if self.state().confirmed {
            "confirmed"
        } else {
            "waiting"
        }
    }

    pub fn is_confirmed(&self) -> bool {
        self.state().confirmed
    }

    /// The model answered a probe: whether `code` is the one pushed.
    pub fn confirm(&self, code: &str) -> bool {
        let mut s = self.state();
        let right = s
            .probe
            .as_ref()
            .is_some_and(|(c, _)| crate::shared::secret::same_secret(c, code.trim()));
        if right {
            s.confirmed = true;
            self.wake.notify_all();
        }
        right
    }

    /// The session ends: the pusher stops.
    pub fn end(&self) {
        self.state().ended = true;
        self.wake.notify_all();
    }

    /// Waits up to `d`, or until something changes.
    pub(super) fn pause(&self, d: Duration) {
        let s = self.state();
        if !s.ended {
            let _ = self.wake.wait_timeout(s, d);
        }
    }

    pub(super) fn push(&self, content: &str, meta: Map<String, Value>) {
        self.out.send(&json!({
            "jsonrpc": "2.0",
            "method": "notifications/claude/channel",
            "params": {"content": content, "meta": meta},
        }));
    }

    /// Marks the pusher as started; false when one runs or the session ended.
    pub(super) fn claim_pusher(&self) -> bool {
        let mut s = self.state();
        if s.running || s.ended {
            return false;
        }
        s.running = true;
        true
    }

    pub(super) fn pusher_done(&self) {
        self.state().running = false;
    }

    pub(super) fn is_ended(&self) -> bool {
        self.state().ended
    }

    /// A fresh probe code for the agent joined with `token`, or `None` when
    /// one was already pushed for it.
    pub(super) fn new_probe(&self, token: &str) -> Option<String> {
        let mut s = self.state();
        if s.probe.as_ref().is_some_and(|(_, t)| t == token) {
            return None;
        }
        let code = crate::shared::secret::new_token()
            .map(|t| t[..8].to_string())
            .unwrap_or_else(|_| "00000000".into());
        s.probe = Some((code.clone(), token.to_string()));
        Some(code)
    }

    /// Writes one JSON-RPC message to the host.
    pub(super) fn send(&self, message: &Value) {
        self.out.send(message);
    }
}
