//! A tool session: the state the tools share for the life of a bridge (or
//! of an `/mcp` session), and its lifecycle: setup, join (claiming the
//! name's slot on this machine and presenting the kept token), leave, and
//! the end of the session. Hub refusals become results the model can act
//! on, never protocol errors.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Answer, CallError, HubClient, join};
use crate::shared::identity::{ClaimError, Slot};
use crate::shared::wire::Refusal;

/// What the tools share for the life of the bridge.
pub struct Session {
    pub(super) hub: HubClient,
    pub(super) default_project: String,
    pub(super) setup_done: bool,
    pub(super) protocol_version: Option<i64>,
    pub(super) joined: Option<Joined>,
    /// Tokens issued so far, by name: a re-join presents the cached one.
    pub(super) tokens: HashMap<String, String>,
    /// Whether the joined name and its token are kept on this machine (a
    /// bridge process does; a session of the hub's `/mcp` does not).
    pub(super) keep: bool,
    /// The joined name's slot on this machine: its lock and token file.
    pub(super) slot: Option<(String, Slot)>,
    /// The token file `watch_command` wrote, when nothing keeps one.
    pub(super) token_file: Option<PathBuf>,
    /// The hub's instance when we joined, if it says (ours does).
    pub(super) instance: Option<String>,
    /// The name the hub stopped knowing us by (a 401), for `heal`.
    pub(super) lost: Option<String>,
    /// Channel mode (`caucus bridge --channel`), if on.
    pub(super) channel: Option<std::sync::Arc<super::push::Channel>>,
    /// The host's name from `initialize` (`clientInfo.name`).
    pub(super) host: String,
}

#[derive(Clone)]
pub(super) struct Joined {
    pub(super) project: String,
    pub(super) token: String,
    /// Highest seq handed to the model: acknowledged on the next listen.
    pub(super) last_seq: u64,
}

pub(super) fn default_project() -> String {
    if let Ok(p) = std::env::var("CAUCUS_PROJECT")
        && !p.trim().is_empty()
    {
        return p.trim().to_string();
    }
    std::env::current_dir()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_string())
}

impl Session {
    /// A bridge process's session: it keeps its name's token on this
    /// machine (see `identity`).
    pub fn new(hub: HubClient) -> Self {
        let mut s = Session::with_project(hub, &default_project());
        s.keep = true;
        s
    }

    /// A session whose default name is `project` (MCP over HTTP names the
    /// agent in the URL).
    pub fn with_project(hub: HubClient, project: &str) -> Self {
        Session {
            hub,
            default_project: project.to_string(),
            setup_done: false,
            protocol_version: None,
            joined: None,
            tokens: HashMap::new(),
            keep: false,
            slot: None,
            token_file: None,
            instance: None,
            lost: None,
            channel: None,
            host: String::new(),
        }
    }
}

impl Session {
    /// The name was given up: its token file and slot go.
    pub(super) fn forget_token(&mut self) {
        if let Some((_, slot)) = self.slot.take() {
            slot.release();
        }
        if let Some(path) = self.token_file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub(super) fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the session has joined the room.
pub fn is_joined(session: &Mutex<Session>) -> bool {
    lock(session).joined.is_some()
}

/// The session ends (EOF on stdin, a signal, or the end of an `/mcp`
/// session): leave the room (briefly, best effort) and forget the token.
pub fn shutdown(session: &Mutex<Session>) {
    let (hub, joined) = {
        let mut s = lock(session);
        if let Some(c) = &s.channel {
            c.end();
        }
        s.forget_token();
        (s.hub.clone(), s.joined.take())
    };
    if let Some(j) = joined {
        // A hub that is down must not hold the exit up: give it two seconds.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(hub.post("/leave", &json!({"token": j.token})));
        });
        let _ = rx.recv_timeout(Duration::from_secs(2));
    }
}

pub(super) fn unreachable(hub: &HubClient, detail: String) -> Value {
    json!({"error": "hub_unreachable", "detail": detail, "hub": hub.base()})
}

/// The result for a hub status a tool has no special meaning for.
pub(super) fn refusal(session: &Mutex<Session>, a: &Answer) -> Value {
    let said: Refusal = serde_json::from_value(a.body.clone()).unwrap_or_default();
    refused(session, a.status, &said)
}

/// The result for a verb that has no answer.
pub(super) fn call_refusal(session: &Mutex<Session>, hub: &HubClient, e: CallError) -> Value {
    match e {
        CallError::Unreachable(detail) => unreachable(hub, detail),
        CallError::Refused { status, refusal } => refused(session, status, &refusal),
        CallError::BadAnswer(detail) => json!({"error": "hub_error", "detail": detail}),
    }
}

fn refused(session: &Mutex<Session>, status: u16, said: &Refusal) -> Value {
    let detail = said.detail.clone().unwrap_or(Value::Null);
    match status {
        401 => {
            let mut s = lock(session);
            if let Some(j) = s.joined.take() {
                s.tokens.remove(&j.project);
                s.lost = Some(j.project);
            }
            json!({"error": "not_joined", "hint": "the hub no longer knows you (left, kicked or expired); call join() again"})
        }
        409 if said.says("already_listening") => json!({
            "error": "already_listening",
            "hint": "another listener (a watcher you started?) holds your one listening slot \
                     and got what arrived; call listen again to take the slot back",
        }),
        409 if said.says("room stopped") => json!({
            "stopped": true,
            "note": "the operator stopped the room: stop sending and finish",
        }),
        423 => json!({
            "error": "floor_held",
            "held_by": said.held_by,
            "scope": said.scope,
            "reason": said.reason,
            "hint": said.hint,
        }),
        429 => json!({"error": "rate_limited", "retry_after": said.retry_after}),
        422 => json!({"error": "invalid", "detail": detail}),
        status => json!({"error": "hub_error", "status": status, "detail": detail}),
    }
}

pub(super) fn setup(session: &Mutex<Session>) -> Result<Value, Value> {
    let hub = lock(session).hub.clone();
    let doc = hub.protocol().map_err(|e| call_refusal(session, &hub, e))?;
    let mut s = lock(session);
    s.setup_done = true;
    s.protocol_version = Some(doc.version);
    Ok(json!({
        "ready": true,
        "protocol_version": doc.version,
        "protocol": doc.text,
        "default_project": s.default_project,
        "hub": s.hub.base(),
    }))
}

/// The answer when another process on this machine holds `project` on
/// this hub: most likely a second session started in the same directory.
fn held_here(hub: &HubClient, project: &str) -> Value {
    let free = (2..10)
        .map(|i| format!("{project}-{i}"))
        .find(|name| Slot::is_free(hub.base(), name))
        .unwrap_or_else(|| format!("{project}-x"));
    json!({
        "error": "name_in_use",
        "project": project,
        "note": format!(
            "another agent on this machine is already joined to this hub as {project:?} \
             (a second session in the same directory?). Join under another name, e.g. \
             join(project={free:?}), or set CAUCUS_PROJECT for this session."
        ),
        "suggestion": free,
        "hub": hub.base(),
    })
}

pub(super) fn join(session: &Mutex<Session>, project: Option<String>) -> Result<Value, Value> {
    let (hub, project, version, keep, previous) = {
        let s = lock(session);
        let project = project.unwrap_or_else(|| s.default_project.clone());
        let previous = s.joined.clone().filter(|j| j.project != project);
        (s.hub.clone(), project, s.protocol_version, s.keep, previous)
    };
    if let Some(old) = previous {
        // Joining under another name: the old one leaves.
        let _ = hub.post("/leave", &json!({"token": old.token}));
        let mut s = lock(session);
        s.joined = None;
        s.tokens.remove(&old.project);
        s.forget_token();
    }
    // A process keeps its name on this machine: claim the name's slot (one
    // process per name and hub) and present the token kept there.
    let claimed = {
        let s = lock(session);
        let have = s.slot.as_ref().is_some_and(|(name, _)| *name == project);
        keep && !have
    };
    let new_slot = if claimed {
        match Slot::claim(hub.base(), &project) {
            Ok(slot) => Some(slot),
            Err(ClaimError::Held) => return Err(held_here(&hub, &project)),
            Err(ClaimError::Io(e)) => {
                log::warn!("cannot keep the token for {project} on this machine: {e}");
                None
            }
        }
    } else {
        None
    };
    // The kept file first: after a hub restart a hook may have joined
    // again for this agent and kept the new token there.
    let cached = {
        let s = lock(session);
        let kept = s
            .slot
            .as_ref()
            .filter(|(name, _)| *name == project)
            .map(|(_, slot)| slot);
        new_slot
            .as_ref()
            .or(kept)
            .and_then(Slot::token)
            .or_else(|| s.tokens.get(&project).cloned())
    };
    let reg = match hub.register(&project, cached.as_deref(), version) {
        Ok(reg) => reg,
        Err(CallError::Refused {
            status: 409,
            refusal,
        }) if refusal.says("name_in_use") => {
            return Err(json!({
                "error": "name_in_use",
                "project": project,
                "note": refusal.note,
                "hub": hub.base(),
            }));
        }
        Err(CallError::Refused {
            status: 409,
            refusal,
        }) => {
            return Err(json!({"error": "hub_full", "detail": refusal.detail}));
        }
        Err(CallError::Refused {
            status: 422,
            refusal,
        }) => {
            return Err(json!({"error": "invalid_name", "detail": refusal.detail}));
        }
        Err(e) => return Err(call_refusal(session, &hub, e)),
    };
    let token = reg.token.clone();
    let stale = reg.protocol_stale;
    let mut s = lock(session);
    if let Some(slot) = new_slot {
        s.slot = Some((project.clone(), slot));
    }
    if let Some((_, slot)) = &s.slot {
        join::keep(slot, &project, &reg, "caucus bridge");
    }
    let same = cached.as_deref() == Some(token.as_str());
    let last_seq = match &s.joined {
        Some(j) if same && j.project == project => j.last_seq,
        _ => 0,
    };
    s.tokens.insert(project.clone(), token.clone());
    s.instance = reg.instance.clone();
    s.lost = None;
    s.joined = Some(Joined {
        project: project.clone(),
        token,
        last_seq,
    });
    if stale {
        s.protocol_version = Some(reg.protocol_version);
    }
    let mut out = json!({
        "joined": true,
        "project": project,
        "hub": s.hub.base(),
        "protocol_version": reg.protocol_version,
        "protocol_stale": stale,
        "channels": reg.channels,
    });
    if stale {
        out["protocol"] = json!(reg.protocol_text);
        out["note"] = json!("the protocol changed since you last read it: read it now");
    } else if let Some(note) = &reg.note {
        out["note"] = json!(note);
    }
    Ok(out)
}

pub(super) fn leave(session: &Mutex<Session>, hub: &HubClient, me: &Joined) -> Value {
    // Best effort: we forget the token whatever the hub says.
    let _ = hub.post("/leave", &json!({"token": me.token}));
    let mut s = lock(session);
    s.joined = None;
    s.tokens.remove(&me.project);
    s.forget_token();
    json!({"left": true, "project": me.project})
}

/// After the hub refused our token: if it is another run of the hub (it
/// restarted without `--data-dir` and forgot every token), join again once
/// under the same name and say so; if it is the same run, we were kicked,
/// left or expired, and stay out. `None` when nothing was healed.
pub(super) fn heal(session: &Mutex<Session>) -> Option<String> {
    let (hub, lost, instance) = {
        let s = lock(session);
        (s.hub.clone(), s.lost.clone()?, s.instance.clone()?)
    };
    let current = hub.version().ok()?.instance?;
    if current == instance {
        return None;
    }
    join(session, Some(lost.clone())).ok()?;
    Some(format!(
        "the hub restarted and had forgotten you: joined again as {lost}; messages sent \
         while it was down are lost"
    ))
}
