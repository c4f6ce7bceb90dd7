//! Channel mode (`caucus bridge --channel`): the bridge pushes what the room
//! sends into a live Claude Code session as `notifications/claude/channel`
//! (Claude Code's channels reference: the server declares the experimental
//! `claude/channel` capability; each event is `content` plus `meta`, whose
//! keys must be identifiers or the host drops them).
//!
//! A push the host ignores would be a message nobody hears, so nothing is
//! trusted until the model shows it sees pushes: after `join` the bridge
//! pushes one probe carrying a code, and only once the model calls `whoami`
//! with that code does the bridge take the agent's listening slot. Until
//! then the watcher, `listen` and the hooks deliver as without the flag.
//! Once confirmed, each poll's messages are pushed at once (a burst that
//! arrived together is one push, so the host is not flooded) and
//! acknowledged only after the push was written; the operator's stop is
//! pushed and ends the pushing. While it pushes, the bridge keeps a marker
//! beside its token so the Stop hook leaves delivery to it.
//!
//! The permission relay (`claude/channel/permission`): the host sends its
//! permission prompt as `notifications/claude/channel/permission_request`;
//! the bridge puts it before the operator (`POST /approvals`) and sends
//! the verdict back as `notifications/claude/channel/permission`. With no
//! verdict in time nothing is sent, and the host's own dialog decides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::push::Channel;
use super::session::{Session, lock};
use crate::client::Listener;
use crate::shared::lines;
use crate::shared::wire::Message;

/// The host's permission prompt, and our verdict on it.
pub(super) const PERMISSION_REQUEST: &str = "notifications/claude/channel/permission_request";
const PERMISSION_VERDICT: &str = "notifications/claude/channel/permission";
/// How long a relayed prompt waits for the operator.
const RELAY_WAIT: f64 = 100.0;
/// Relayed prompts waiting at once (the hub allows 8 per agent).
const MAX_RELAYS: usize = 8;
static RELAYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How long one poll of the hub waits for a message.
const POLL_SECONDS: u64 = 20;
/// How long the pusher waits before trying again after a refusal.
const BACKOFF: Duration = Duration::from_secs(5);

/// After a join: starts the pusher, once per session.
pub(super) fn joined(session: &Arc<Mutex<Session>>) {
    let Some(channel) = lock(session).channel.clone() else {
        return;
    };
    if !channel.claim_pusher() {
        return;
    }
    let session = Arc::clone(session);
    let spawned = std::thread::Builder::new().name("channel".into()).spawn({
        let channel = Arc::clone(&channel);
        move || {
            run(&session, &channel);
            channel.pusher_done();
        }
    });
    if let Err(e) = spawned {
        log::warn!("channel mode: cannot start the pusher: {e}");
        channel.pusher_done();
    }
}

/// Text a host reads inside its channel tag: no tag of its own can close
/// or open one.
fn defused(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let t = tail.trim_start_matches('/');
        let is_tag = t
            .get(..7)
            .is_some_and(|w| w.eq_ignore_ascii_case("channel"));
        out.push(if is_tag { '‹' } else { '<' });
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// The push for what one poll brought: one message with its own meta, or a
/// burst as lines under one push.
fn event(messages: &[Message]) -> (String, Map<String, Value>) {
    let mut meta = Map::new();
    if let [m] = messages {
        meta.insert("from".into(), json!(m.sender));
        if m.recipient.starts_with('#') {
            meta.insert("channel".into(), json!(m.recipient));
        } else {
            meta.insert("to".into(), json!(m.recipient));
        }
        meta.insert("seq".into(), json!(m.seq.to_string()));
        meta.insert("kind".into(), json!(m.kind.as_str()));
        return (defused(&m.content), meta);
    }
    let seqs = messages.iter().map(|m| m.seq);
    meta.insert("kind".into(), json!("burst"));
    meta.insert("count".into(), json!(messages.len().to_string()));
    meta.insert(
        "first_seq".into(),
        json!(seqs.clone().min().unwrap_or(0).to_string()),
    );
    meta.insert(
        "last_seq".into(),
        json!(seqs.max().unwrap_or(0).to_string()),
    );
    let body: Vec<String> = messages.iter().map(lines::compact).collect();
    (defused(&body.join("\n")), meta)
}

/// A permission prompt relayed by the host: put before the operator on a
/// thread of its own; the verdict, if one comes, goes back to the host.
pub(super) fn relay_permission(session: &Arc<Mutex<Session>>, params: &Value) {
    let s = lock(session);
    let (Some(channel), Some(me)) = (s.channel.clone(), s.joined.clone()) else {
        log::info!("permission relay: not joined to a room: the host's dialog decides");
        return;
    };
    let hub = s.hub.clone();
    drop(s);
    let id = params["request_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let tool = params["tool_name"].as_str().unwrap_or_default().to_string();
    let well_formed = |t: &str| {
        (1..=64).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    };
    if !well_formed(&id) || tool.is_empty() {
        log::warn!("permission relay: a request without a usable request_id or tool_name");
        return;
    }
    use std::sync::atomic::Ordering;
    if RELAYS.fetch_add(1, Ordering::Relaxed) >= MAX_RELAYS {
        RELAYS.fetch_sub(1, Ordering::Relaxed);
        log::warn!(
            "permission relay: {MAX_RELAYS} prompts already wait: the host's dialog decides"
        );
        return;
    }
    let description = params["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let input = params["input_preview"].clone();
    std::thread::spawn(move || {
        let verdict = crate::client::approval::ask_operator(
            &hub,
            &me.token,
            &tool,
            &description,
            &input,
            RELAY_WAIT,
        );
        RELAYS.fetch_sub(1, Ordering::Relaxed);
        let behavior = match verdict {
            Ok(crate::client::approval::Verdict::Allow) => "allow",
            Ok(crate::client::approval::Verdict::Deny(_)) => "deny",
            Err(why) => {
                log::info!("permission relay: {why}: the host's dialog decides");
                return;
            }
        };
        channel.send(&json!({
            "jsonrpc": "2.0",
            "method": PERMISSION_VERDICT,
            "params": {"request_id": id, "behavior": behavior},
        }));
    });
}

fn run(session: &Mutex<Session>, channel: &Channel) {
    let mut marked: Option<std::path::PathBuf> = None;
    loop {
        if channel.is_ended() {
            break;
        }
        let (hub, me, marker) = {
            let s = lock(session);
            let marker = s.slot.as_ref().map(|(_, slot)| slot.channel_path());
            (s.hub.clone(), s.joined.clone(), marker)
        };
        let Some(me) = me else { break };
        if !channel.is_confirmed() {
            if let Some(code) = channel.new_probe(&me.token) {
                let mut meta = Map::new();
                meta.insert("kind".into(), json!("probe"));
                channel.push(
                    &format!(
                        "caucus: room messages can reach this session as channel events. To \
                         switch that on, call the whoami tool with probe=\"{code}\". Until \
                         then, listen or the watcher delivers them."
                    ),
                    meta,
                );
            }
            channel.pause(Duration::from_secs(30));
            continue;
        }
        if marked.is_none()
            && let Some(path) = marker
        {
            if let Err(e) = std::fs::write(&path, b"pushing\n") {
                log::warn!("channel mode: cannot write {}: {e}", path.display());
            }
            marked = Some(path);
        }
        // What `listen` handed the model before is acknowledged here.
        let mut listener = Listener::new(&hub, &me.token, me.last_seq);
        let got = match listener.poll(POLL_SECONDS as f64) {
            Ok(got) => got,
            Err(e) => {
                log::info!("channel mode: a poll failed: {e}");
                channel.pause(BACKOFF);
                continue;
            }
        };
        // A burst that arrived together is one push; the stop rides last.
        let mut messages = got.all();
        messages.extend(got.stop_message.clone());
        if messages.is_empty() {
            continue;
        }
        let (content, meta) = event(&messages);
        channel.push(&content, meta);
        listener.handed_over(got.max_seq);
        if let Err(e) = listener.ack() {
            log::warn!("channel mode: could not acknowledge ({e}); they may come again");
        }
        if got.stop {
            break;
        }
    }
    if let Some(path) = marked {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_message_can_open_or_close_the_hosts_channel_tag() {
        assert_eq!(defused("a </channel> b"), "a ‹/channel> b");
        assert_eq!(defused("<CHANNEL source=x>"), "‹CHANNEL source=x>");
        assert_eq!(defused("x < y <b>"), "x < y <b>");
        assert_eq!(defused("<"), "<");
    }

    #[test]
    fn meta_keys_are_identifiers_and_values_strings() {
        let one: Message = serde_json::from_value(json!({"id": "000000000007", "sender": "bravo",
            "recipient": "#ops", "seq": 7, "kind": "message", "content": "hi", "ts": 0.0,
            "origin": "agent"}))
        .unwrap();
        let (text, meta) = event(std::slice::from_ref(&one));
        assert_eq!(text, "hi");
        assert_eq!(meta["channel"], "#ops");
        let (_, burst) = event(&[one.clone(), one]);
        for m in [meta, burst] {
            for (k, v) in &m {
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{k}"
                );
                assert!(v.is_string(), "{k}");
            }
        }
    }
}
