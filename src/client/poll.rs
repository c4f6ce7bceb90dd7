//! The one way a client listens: long-poll `/receive`, acknowledging
//! through `ack_seq` what it handed over before; sort what came (the
//! operator's stop, the hub's notices, the messages); hand the messages
//! over; acknowledge. The watcher, the agent, the hooks, `listen` and the
//! channel pusher all listen through a `Listener`.
//!
//! A client that acknowledges is handed again what it was handed and did
//! not acknowledge, so nothing is lost to a crash between the two; a
//! message seen again is dropped here by its `seq`.

use super::{CallError, HubClient};
use crate::shared::wire::{Kind, Message, Mode};

/// What one `/receive` answer holds, sorted for a reader that must not
/// spend a model turn on the hub's own notices ("bob joined", "bob
/// reconnected after 2m away"): those ride along with a real message, and
/// alone are acknowledged and waited past.
#[derive(Debug, Default)]
pub struct Received {
    /// Messages from agents and the operator, in the hub's order.
    pub messages: Vec<Message>,
    /// The hub's notices (kind `system`).
    pub notices: Vec<Message>,
    /// The operator stopped the room.
    pub stop: bool,
    /// The stop itself, as the hub sent it.
    pub stop_message: Option<Message>,
    /// The highest seq handed out: what to acknowledge.
    pub max_seq: u64,
    /// The room's mode when the answer was made.
    pub mode: Option<Mode>,
}

impl Received {
    /// Sorts `messages`, leaving out any already handed over (a `seq` at
    /// or below `handed`).
    pub fn sort(messages: Vec<Message>, mode: Mode, handed: u64) -> Received {
        let mut r = Received {
            mode: Some(mode),
            ..Received::default()
        };
        for msg in messages {
            if msg.kind == Kind::Control {
                if msg.content == "stop" {
                    r.stop = true;
                    r.stop_message = Some(msg);
                }
                continue;
            }
            r.max_seq = r.max_seq.max(msg.seq);
            if msg.seq != 0 && msg.seq <= handed {
                continue;
            }
            if msg.kind == Kind::System {
                r.notices.push(msg);
            } else {
                r.messages.push(msg);
            }
        }
        r
    }

    /// Every message worth handing over with a real one: notices first
    /// where they came first, as the hub ordered them.
    pub fn all(&self) -> Vec<Message> {
        let mut all: Vec<Message> = self.notices.iter().chain(&self.messages).cloned().collect();
        all.sort_by_key(|m| m.seq);
        all
    }
}

/// One agent listening: its token and the highest seq it handed over.
pub struct Listener<'a> {
    hub: &'a HubClient,
    token: String,
    handed: u64,
}

impl<'a> Listener<'a> {
    /// Listens as `token`, with everything up to `handed` already handed
    /// over (0 for a fresh client: its first poll says it acknowledges).
    pub fn new(hub: &'a HubClient, token: &str, handed: u64) -> Self {
        Listener {
            hub,
            token: token.to_string(),
            handed,
        }
    }

    /// Waits up to `timeout` seconds for what is queued, acknowledging what
    /// was handed over before.
    pub fn poll(&self, timeout: f64) -> Result<Received, CallError> {
        let batch = self.hub.receive(&self.token, timeout, Some(self.handed))?;
        Ok(Received::sort(batch.messages, batch.mode, self.handed))
    }

    /// Marks everything up to `seq` as handed over: the next poll
    /// acknowledges it, or `ack` does now.
    pub fn handed_over(&mut self, seq: u64) {
        self.handed = self.handed.max(seq);
    }

    /// Acknowledges what was handed over now, for a client that will not
    /// poll again soon (it exits, or waits on something else).
    pub fn ack(&self) -> Result<(), CallError> {
        if self.handed == 0 {
            return Ok(());
        }
        self.hub.ack(&self.token, self.handed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::wire::Origin;

    fn msg(seq: u64, kind: Kind, content: &str) -> Message {
        Message {
            id: format!("{seq:012x}"),
            sender: "a".into(),
            recipient: "b".into(),
            content: content.into(),
            kind,
            ts: 0.0,
            seq,
            origin: Origin::Agent,
            meta: None,
        }
    }

    #[test]
    fn the_stop_notices_and_messages_are_sorted_and_what_was_handed_is_left_out() {
        let r = Received::sort(
            vec![
                msg(3, Kind::Message, "seen"),
                msg(4, Kind::System, "bob joined"),
                msg(5, Kind::Message, "new"),
                msg(0, Kind::Control, "stop"),
            ],
            Mode::Stopped,
            3,
        );
        assert!(r.stop);
        assert_eq!(r.max_seq, 5);
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].content, "new");
        assert_eq!(r.notices.len(), 1);
        let all: Vec<u64> = r.all().iter().map(|m| m.seq).collect();
        assert_eq!(all, [4, 5]);
    }
}
