//! The chair's hand mid-turn: interrupts (and resets) of one agent, the
//! tool gate a host's `PreToolUse` hook asks before each tool call, and the
//! tool approvals a `PermissionRequest` hook (or a channel's permission
//! relay) puts before the operator.
//!
//! An interrupt waits in its peer's record, beside the queue, until two
//! doors have each handed it over once: a poll (`take`, which hands it out
//! even while the room or the peer is paused: the priority lane) and the
//! gate (`gate`, which denies the next tool call with its text). An agent
//! with no hooks never asks the gate; one in the middle of a turn never
//! polls; each hears it where it is. It is kept in the journal's `meta`.

use super::*;
use crate::shared::lines;
use crate::shared::wire::{Interruption, PendingApproval};

/// Text of a reset the operator gave no words for.
const RESET_TEXT: &str = "The operator reset you: drop what you know of this room's \
     conversation so far, read the room's protocol again, and start afresh from the \
     next message.";

/// Approvals pending at once, in the whole room and per agent.
pub const MAX_APPROVALS: usize = 64;
const MAX_APPROVALS_PER_PEER: usize = 8;
/// Answered approvals kept so the hook waiting on one reads its verdict.
const SETTLED_KEPT: usize = 64;
/// How long an approval waits for the operator unless the hook says.
pub const APPROVAL_WINDOW: f64 = 120.0;
/// The most characters of a tool's input an approval carries: the
/// operator sees all of it, so a longer one is refused (the host's own
/// dialog decides) rather than cut. The 64 KiB body limit is above it.
pub const APPROVAL_INPUT_CHARS: usize = 16_384;
/// Characters of the summary line (the command, the file, the URL).
const SUMMARY_CHARS: usize = 1_000;
const MAX_TOOL_CHARS: usize = 128;
const MAX_DESCRIPTION_CHARS: usize = 300;

/// An operator's interrupt of one agent (see the module docs).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Interrupt {
    msg: Message,
    /// Handed out by a poll.
    heard: bool,
    /// Turned into a denied tool call.
    gated: bool,
}

impl Interrupt {
    fn summary(&self) -> Interruption {
        Interruption {
            id: self.msg.id.clone(),
            content: self.msg.content.clone(),
            reset: self
                .msg
                .meta
                .as_ref()
                .is_some_and(|m| m["reset"] == json!(true)),
        }
    }
}

/// A tool call an agent's host asks the operator to allow.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct Approval {
    id: String,
    peer: String,
    tool: String,
    /// The model's own words about the call: shown, never as the summary.
    description: String,
    /// What runs, read from the input: the command, else the file or URL.
    summary: String,
    /// The tool's whole input as JSON (at most `APPROVAL_INPUT_CHARS`).
    preview: String,
    ts: f64,
    expires: f64,
    /// `pending`, `allow`, `deny` or `expired`.
    state: &'static str,
    reason: Option<String>,
    /// Moves each time a wait on it begins: one wait per approval.
    #[serde(skip)]
    wait_turn: u64,
}

/// What a tool call runs, read from its input rather than from the
/// model's description of it: the command (a string, or argv joined), else
/// the file, path or URL it acts on. Empty when the input names none.
fn summary_of(input: &Value) -> String {
    let command = match &input["command"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(argv) => Some(
            argv.iter()
                .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    };
    command
        .or_else(|| {
            ["file_path", "path", "url", "cmd"]
                .iter()
                .find_map(|k| input[*k].as_str().map(str::to_string))
        })
        .map(|s| s.chars().take(SUMMARY_CHARS).collect())
        .unwrap_or_default()
}

#[cfg(test)]
pub(super) fn summary_of_for_tests(input: &Value) -> String {
    summary_of(input)
}

/// What the gate says of one tool call.
pub enum Gate {
    Allow,
    Deny {
        reason: String,
        interrupt: Option<Interruption>,
    },
}

impl Room {
    /// `POST /control` `interrupt` and `reset_peer`: the operator's word to
    /// one live agent, through pause, at its next step.
    pub fn interrupt(
        &mut self,
        name: &str,
        content: Option<&str>,
        reset: bool,
    ) -> Result<Value, HubError> {
        if let Some(c) = content {
            check_len("content", c, 1, MAX_CONTENT_CHARS)?;
        }
        let text = match (content, reset) {
            (Some(c), false) => c.to_string(),
            (Some(c), true) => format!("{RESET_TEXT}\n{c}"),
            (None, true) => RESET_TEXT.to_string(),
            (None, false) => return Err(HubError::invalid("content: required for interrupt")),
        };
        if !self.peers.get(name).is_some_and(Peer::is_live) {
            return Err(HubError::NotFound(format!("no live peer named {name:?}")));
        }
        self.since_human = 0;
        let mut msg = self.message("human", name, text, Kind::Message);
        msg.meta = Some(json!({"interrupt": true, "reset": reset}));
        let routed = Routed::new(msg.clone(), &self.held);
        if let Some(peer) = self.peers.get_mut(name) {
            peer.interrupt = Some(Interrupt {
                msg,
                heard: false,
                gated: false,
            });
            peer.wake.notify_all();
        }
        self.changed();
        self.dirty.peers = true;
        self.jot(|| json!({"t": "note", "m": routed.msg}));
        self.remember(&routed);
        self.write_transcript(&routed, &[name.to_string()]);
        let verb = if reset { "reset" } else { "interrupted" };
        log::warn!("operator: {name} {verb}");
        Ok(json!({"peer": name, "message_id": routed.msg.id, "reset": reset}))
    }

    /// Hands a poll the interrupt it has not heard yet, if one waits.
    pub(super) fn take_interrupt(&mut self, name: &str) -> Option<Arc<Routed>> {
        let peer = self.peers.get_mut(name)?;
        let i = peer.interrupt.as_mut().filter(|i| !i.heard)?;
        i.heard = true;
        let msg = i.msg.clone();
        if i.gated {
            peer.interrupt = None;
        }
        self.changed();
        self.dirty.peers = true;
        Some(Routed::new(msg, &self.held))
    }

    /// `POST /gate`: may this agent run a tool now? Stopped: no. An
    /// interrupt the gate has not turned into a denial yet: no, once, with
    /// the operator's text. Paused (room or agent): no. Else yes.
    ///
    /// With `urgent_only` (a `caucus agent` watching its running command)
    /// only a stop or an interrupt answers; `None` otherwise.
    pub fn gate(
        &mut self,
        token: &str,
        urgent_only: bool,
    ) -> Result<(Option<Gate>, Arc<Condvar>), HubError> {
        let name = self.authenticate(token)?;
        let mode = self.mode;
        let peer = self.peer_mut(&name)?;
        let wake = Arc::clone(&peer.wake);
        let deny = |reason: &str| Gate::Deny {
            reason: reason.to_string(),
            interrupt: None,
        };
        if mode == Mode::Stopped {
            let why = "The operator stopped the caucus room: stop working, say nothing more, \
                       and finish.";
            return Ok((Some(deny(why)), wake));
        }
        if let Some(i) = peer.interrupt.as_mut().filter(|i| !i.gated) {
            i.gated = true;
            let summary = i.summary();
            if i.heard {
                peer.interrupt = None;
            }
            let reason = format!(
                "The operator interrupts you (this tool call did not run): {}",
                summary.content
            );
            self.changed();
            self.dirty.peers = true;
            self.notice(format!(
                "{name}'s next tool call was denied with the interrupt"
            ));
            return Ok((
                Some(Gate::Deny {
                    reason,
                    interrupt: Some(summary),
                }),
                wake,
            ));
        }
        if urgent_only {
            return Ok((None, wake));
        }
        let gate = if mode == Mode::Paused {
            deny(
                "The operator paused the caucus room: no tool runs until it resumes. Wait: call \
                 the caucus listen tool to hear when it does.",
            )
        } else if peer.paused {
            deny(
                "The operator paused you in the caucus room: no tool runs until you are \
                 resumed. Wait: call the caucus listen tool to hear when it happens.",
            )
        } else {
            Gate::Allow
        };
        Ok((Some(gate), wake))
    }

    /// `POST /approvals`: an agent's host asks the operator to allow a tool
    /// call; the request waits `window` seconds (5..600) at most.
    pub fn request_approval(
        &mut self,
        token: &str,
        tool: &str,
        description: &str,
        input: &Value,
        window: Option<f64>,
    ) -> Result<Value, HubError> {
        check_len("tool", tool, 1, MAX_TOOL_CHARS)?;
        if tool.chars().any(char::is_control) {
            return Err(HubError::invalid(
                "tool: control characters are not allowed",
            ));
        }
        let description: String = description.chars().take(MAX_DESCRIPTION_CHARS).collect();
        let window = match window {
            None => APPROVAL_WINDOW,
            Some(w) if w.is_finite() => w.clamp(5.0, 600.0),
            Some(_) => return Err(HubError::invalid("window: must be a number of seconds")),
        };
        let name = self.authenticate(token)?;
        let now = now_unix();
        self.expire_approvals(now);
        let pending = self.approvals.iter().filter(|a| a.state == "pending");
        if pending.clone().count() >= MAX_APPROVALS {
            return Err(HubError::Limit("too many approvals wait for the operator"));
        }
        if pending.filter(|a| a.peer == name).count() >= MAX_APPROVALS_PER_PEER {
            return Err(HubError::Limit(
                "this agent has too many approvals waiting for the operator",
            ));
        }
        let raw = match input {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if raw.chars().count() > APPROVAL_INPUT_CHARS {
            return Err(HubError::invalid(format!(
                "input: over {APPROVAL_INPUT_CHARS} characters, more than the operator can \
                 be shown whole: the host's own dialog decides"
            )));
        }
        let approval = Approval {
            id: self.ids.next(),
            peer: name.clone(),
            tool: tool.to_string(),
            description,
            summary: summary_of(input),
            preview: raw,
            ts: now,
            expires: now + window,
            state: "pending",
            reason: None,
            wait_turn: 0,
        };
        let id = approval.id.clone();
        let shown: String = if approval.summary.is_empty() {
            &approval.preview
        } else {
            &approval.summary
        }
        .chars()
        .take(300)
        .collect();
        let text = format!(
            "approval {id}: {name} asks to run {tool}: {}",
            lines::one_line(&shown)
        );
        self.approvals.push(approval);
        self.approvals_changed();
        self.record(
            text.clone(),
            json!({"approval": id, "peer": name, "tool": tool}),
        );
        self.notify(
            "approval",
            format!("{name} asks to run {tool}"),
            json!({"id": id, "peer": name, "tool": tool}),
        );
        Ok(json!({"id": id, "state": "pending", "expires_in": window}))
    }

    /// A wait of this token begins: a `/gate` wait (`approval` `None`)
    /// takes the token's one gate-waiting place; a wait on an approval
    /// takes that approval's one place (a host may ask about several tool
    /// calls at once, each bounded by the approvals cap). An older wait in
    /// the same place is woken to learn it was replaced. Returns the name
    /// and the wait's turn.
    pub fn begin_wait(
        &mut self,
        token: &str,
        approval: Option<&str>,
    ) -> Result<(String, u64), HubError> {
        let name = self.authenticate(token)?;
        let turn = match approval {
            None => {
                let peer = self.peer_mut(&name)?;
                peer.wait_turn += 1;
                peer.wait_turn
            }
            Some(id) => {
                let a = self
                    .approvals
                    .iter_mut()
                    .find(|a| a.id == id && a.peer == name)
                    .ok_or_else(|| HubError::NotFound(format!("no approval {id:?} of yours")))?;
                a.wait_turn += 1;
                a.wait_turn
            }
        };
        self.peer_mut(&name)?.wake.notify_all();
        Ok((name, turn))
    }

    /// Whether a newer wait in the same place took this one's.
    pub fn wait_replaced(&self, name: &str, approval: Option<&str>, turn: u64) -> bool {
        match approval {
            None => self.peers.get(name).is_none_or(|p| p.wait_turn != turn),
            Some(id) => self
                .approvals
                .iter()
                .find(|a| a.id == id)
                .is_none_or(|a| a.wait_turn != turn),
        }
    }

    /// `GET /approval?id=`: the agent's view of its own request; `None`
    /// while it is pending (the handler waits), with the wake to wait on.
    pub fn approval_verdict(
        &mut self,
        token: &str,
        id: &str,
    ) -> Result<(Option<Value>, Arc<Condvar>), HubError> {
        let name = self.authenticate(token)?;
        self.expire_approvals(now_unix());
        let wake = Arc::clone(&self.peer_mut(&name)?.wake);
        let a = self
            .approvals
            .iter()
            .find(|a| a.id == id && a.peer == name)
            .ok_or_else(|| HubError::NotFound(format!("no approval {id:?} of yours")))?;
        if a.state == "pending" {
            return Ok((None, wake));
        }
        Ok((
            Some(json!({"id": a.id, "state": a.state, "reason": a.reason})),
            wake,
        ))
    }

    /// `POST /control` `approve` / `deny`.
    pub fn decide_approval(
        &mut self,
        id: &str,
        allow: bool,
        reason: Option<&str>,
    ) -> Result<Value, HubError> {
        if let Some(r) = reason {
            check_len("reason", r, 0, MAX_REASON_CHARS)?;
        }
        self.expire_approvals(now_unix());
        let a = self
            .approvals
            .iter_mut()
            .find(|a| a.id == id)
            .ok_or_else(|| HubError::NotFound(format!("no approval {id:?}")))?;
        if a.state != "pending" {
            return Err(HubError::Settled(format!(
                "approval {id:?} is already settled: {}",
                a.state
            )));
        }
        a.state = if allow { "allow" } else { "deny" };
        a.reason = reason.filter(|r| !r.is_empty()).map(str::to_string);
        let (peer, tool, state) = (a.peer.clone(), a.tool.clone(), a.state);
        if let Some(p) = self.peers.get(&peer) {
            p.wake.notify_all();
        }
        self.approvals_changed();
        let verdict = if allow { "allowed" } else { "denied" };
        self.record(
            format!("approval {id}: the operator {verdict} {peer}'s {tool}"),
            json!({"approval": id, "peer": peer, "tool": tool, "state": state}),
        );
        Ok(json!({"id": id, "state": state, "peer": peer, "tool": tool}))
    }

    /// Pending approvals past their window, or of an agent no longer in
    /// the room (left, kicked, forgotten), give the decision back to the
    /// host's own dialog; settled ones beyond `SETTLED_KEPT` are forgotten.
    pub(super) fn expire_approvals(&mut self, now: f64) {
        let mut expired = Vec::new();
        for a in &mut self.approvals {
            let gone = !self.peers.contains_key(&a.peer);
            if a.state == "pending" && (now > a.expires || gone) {
                a.state = "expired";
                expired.push((a.id.clone(), a.peer.clone(), a.tool.clone(), gone));
                if let Some(p) = self.peers.get(&a.peer) {
                    p.wake.notify_all();
                }
            }
        }
        let settled = self
            .approvals
            .iter()
            .filter(|a| a.state != "pending")
            .count();
        if settled > SETTLED_KEPT {
            let mut drop = settled - SETTLED_KEPT;
            self.approvals.retain(|a| {
                let gone = drop > 0 && a.state != "pending";
                drop -= usize::from(gone);
                !gone
            });
        }
        if expired.is_empty() {
            return;
        }
        self.approvals_changed();
        for (id, peer, tool, gone) in expired {
            let why = if gone {
                format!("{peer} left the room")
            } else {
                "no answer in time".to_string()
            };
            self.record(
                format!("approval {id}: {why}; {peer}'s host decides {tool}"),
                json!({"approval": id, "peer": peer, "tool": tool, "state": "expired"}),
            );
        }
    }

    /// Pending approvals, oldest first, with their age.
    pub fn approvals(&self) -> Vec<PendingApproval> {
        let now = now_unix();
        self.approvals
            .iter()
            .filter(|a| a.state == "pending")
            .map(|a| PendingApproval {
                id: a.id.clone(),
                peer: a.peer.clone(),
                tool: a.tool.clone(),
                description: a.description.clone(),
                summary: a.summary.clone(),
                preview: a.preview.clone(),
                age: age(now - a.ts),
                expires_in: age(a.expires - now),
            })
            .collect()
    }

    fn approvals_changed(&mut self) {
        if self.feed.is_empty() {
            self.feed.touch();
        } else {
            let event = json!({"type": "approvals", "approvals": self.approvals()});
            self.feed.publish(event.to_string());
        }
    }

    /// A hub notice that the transcript keeps too, with `meta`.
    fn record(&mut self, text: String, meta: Value) {
        log::info!("{text}");
        let mut msg = self.message("hub", BROADCAST, text, Kind::System);
        msg.meta = Some(meta);
        let routed = Routed::new(msg, &self.held);
        self.jot(|| json!({"t": "note", "m": routed.msg}));
        self.remember(&routed);
        self.write_transcript(&routed, &[]);
    }
}
