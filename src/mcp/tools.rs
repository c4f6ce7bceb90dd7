//! The tools: their names, schemas and handlers (the session they share is
//! `session.rs`).
//!
//! Every tool answers one JSON object (`docs/CONNECTORS.md` lists them).
//! Hub refusals become results the model can act on (`rate_limited`,
//! `floor_held`, `stopped`…), never protocol errors. Descriptions and schemas
//! are read by every agent in every session: each word must earn its place.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::session::{
    Joined, Session, call_refusal, heal, join, leave, lock, refusal, setup, unreachable,
};
use crate::client::{Answer, CallError, HubClient, Listener};
use crate::shared::lines;
use crate::shared::platform::shell_quote;
use crate::shared::wire::{Message, Mode, Refusal};

/// One tool: name, description, parameters (JSON Schema properties and
/// required names), and whether it only reads.
struct Tool {
    name: &'static str,
    description: &'static str,
    properties: &'static str,
    required: &'static [&'static str],
    read_only: bool,
}

const SCOPE: &str = r#""scope":{"type":"string","default":"all"}"#;

/// The tool table, in the order `tools/list` gives it.
const TOOLS: &[Tool] = &[
    Tool {
        name: "setup",
        description: "Call first: the room's protocol; enables the other tools.",
        properties: "",
        required: &[],
        read_only: true,
    },
    Tool {
        name: "join",
        description: "Enter the room. Then run watch_command's command in the background.",
        properties: r#""project":{"type":"string","description":"name to use; default: this project's"}"#,
        required: &[],
        read_only: false,
    },
    Tool {
        name: "leave",
        description: "Leave the room for good.",
        properties: "",
        required: &[],
        read_only: false,
    },
    Tool {
        name: "whoami",
        description: "Your name, hub, and whether setup and join are done.",
        properties: r#""probe":{"type":"string"}"#,
        required: &[],
        read_only: true,
    },
    Tool {
        name: "list_peers",
        description: "Names of the agents in the room.",
        properties: "",
        required: &[],
        read_only: true,
    },
    Tool {
        name: "say",
        description: "Send a message. Sending to a #channel joins it.",
        properties: r#""content":{"type":"string"},"to":{"type":"string","description":"a peer, \"all\" or a #channel","default":"all"}"#,
        required: &["content"],
        read_only: false,
    },
    Tool {
        name: "listen",
        description: "Wait for messages (fallback when no watcher runs).",
        properties: r#""timeout":{"type":"number","description":"seconds, at most 25","default":30}"#,
        required: &[],
        read_only: false,
    },
    Tool {
        name: "peek",
        description: "How many messages wait, with a preview; takes none.",
        properties: "",
        required: &[],
        read_only: true,
    },
    Tool {
        name: "watch_command",
        description: "A command to run in the background: it exits when messages arrive. Relaunch it after each exit, not after STOP.",
        properties: "",
        required: &[],
        read_only: false,
    },
    Tool {
        name: "ping",
        description: "Is a peer live, listening, and its status line.",
        properties: r#""peer":{"type":"string"}"#,
        required: &["peer"],
        read_only: true,
    },
    Tool {
        name: "set_status",
        description: "One line on what you are doing now; empty clears.",
        properties: r#""status":{"type":"string","default":""}"#,
        required: &[],
        read_only: false,
    },
    Tool {
        name: "join_channel",
        description: "Subscribe to a #channel.",
        properties: r#""channel":{"type":"string"}"#,
        required: &["channel"],
        read_only: false,
    },
    Tool {
        name: "leave_channel",
        description: "Unsubscribe from a #channel.",
        properties: r#""channel":{"type":"string"}"#,
        required: &["channel"],
        read_only: false,
    },
    Tool {
        name: "list_channels",
        description: "Channels with topics and members.",
        properties: "",
        required: &[],
        read_only: true,
    },
    Tool {
        name: "set_channel_topic",
        description: "A channel's one-line topic (members only); empty clears.",
        properties: r#""channel":{"type":"string"},"topic":{"type":"string","default":""}"#,
        required: &["channel"],
        read_only: false,
    },
    Tool {
        name: "take_floor",
        description: "Urgent only: only you speak in the scope until you pass or drop it.",
        properties: concat!(
            r#""reason":{"type":"string"},"#,
            r#""scope":{"type":"string","default":"all"}"#
        ),
        required: &["reason"],
        read_only: false,
    },
    Tool {
        name: "raise_hand",
        description: "Queue for the talking stick.",
        properties: SCOPE,
        required: &[],
        read_only: false,
    },
    Tool {
        name: "pass_floor",
        description: "Hand the stick to the next raised hand.",
        properties: SCOPE,
        required: &[],
        read_only: false,
    },
    Tool {
        name: "drop_floor",
        description: "Put the stick away.",
        properties: SCOPE,
        required: &[],
        read_only: false,
    },
    Tool {
        name: "floor_status",
        description: "Sticks held, by scope, with raised hands.",
        properties: "",
        required: &[],
        read_only: true,
    },
    Tool {
        name: "ask_operator",
        description: "Ask the human what the room cannot settle; the answer comes as kind answer.",
        properties: concat!(
            r#""title":{"type":"string"},"#,
            r#""fields":{"type":"array","items":{"type":"object","properties":{"#,
            r#""key":{"type":"string"},"label":{"type":"string"},"#,
            r#""type":{"enum":["radio","checkbox","text","textarea"]},"#,
            r#""options":{"type":"array","items":{"type":"string"}},"#,
            r#""required":{"type":"boolean"}},"required":["key","label","type"]}},"#,
            r#""to":{"type":"string","default":"all"}"#
        ),
        required: &["title", "fields"],
        read_only: false,
    },
    Tool {
        name: "protocol_section",
        description: "A part of the protocol, when you need it: channels, floor or operator.",
        properties: r#""name":{"type":"string"}"#,
        required: &["name"],
        read_only: true,
    },
    Tool {
        name: "list_forms",
        description: "Questions waiting for the operator.",
        properties: "",
        required: &[],
        read_only: true,
    },
];

/// The `tools/list` array.
pub fn list() -> Vec<Value> {
    TOOLS
        .iter()
        .map(|t| {
            // The table's fragments are constants, checked by a unit test.
            let properties: Value =
                serde_json::from_str(&format!("{{{}}}", t.properties)).unwrap_or(json!({}));
            let mut schema = json!({"type": "object", "properties": properties});
            if !t.required.is_empty() {
                schema["required"] = json!(t.required);
            }
            let mut tool = json!({
                "name": t.name,
                "description": t.description,
                "inputSchema": schema,
            });
            if t.read_only {
                tool["annotations"] = json!({"readOnlyHint": true});
            }
            tool
        })
        .collect()
}

/// A parsed `tools/call`.
pub struct ToolCall {
    name: String,
    args: Map<String, Value>,
}

impl ToolCall {
    pub fn parse(params: &Value) -> Result<ToolCall, String> {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or("tools/call needs a \"name\" string")?;
        if !TOOLS.iter().any(|t| t.name == name) {
            return Err(format!("unknown tool: {name}"));
        }
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("\"arguments\" must be an object".into()),
        };
        Ok(ToolCall {
            name: name.to_string(),
            args,
        })
    }

    pub fn is_listen(&self) -> bool {
        self.name == "listen"
    }

    /// Runs the tool; `None` when it was cancelled (no response is sent).
    pub fn run(&self, session: &Arc<Mutex<Session>>, cancel: &Receiver<()>) -> Option<Value> {
        let value = match self.dispatch(session, cancel) {
            Ok(v) => v,
            Err(Cancelled) => return None,
        };
        let failed = value.get("error").is_some()
            || (value.get("stopped") == Some(&json!(true)) && self.name != "listen");
        // What the model reads: messages as compact lines; everything else
        // (and any error) as its JSON. The JSON is in structuredContent too.
        let text = match serde_json::from_value::<Heard>(value.clone()) {
            Ok(heard) if self.name == "listen" && !failed => heard_text(&heard),
            _ => value.to_string(),
        };
        Some(json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": value,
            "isError": failed,
        }))
    }

    fn dispatch(
        &self,
        session: &Arc<Mutex<Session>>,
        cancel: &Receiver<()>,
    ) -> Result<Value, Cancelled> {
        let name = self.name.as_str();
        if name == "whoami" {
            let s = lock(session);
            let mut answer = whoami(&s);
            if let Some(channel) = &s.channel {
                if let Some(code) = self.args.get("probe").and_then(Value::as_str) {
                    answer["probe_matched"] = json!(channel.confirm(code));
                }
                answer["channel"] = json!(channel.status());
            }
            return Ok(answer);
        }
        if name != "setup" && !lock(session).setup_done {
            return Ok(json!({"error": "setup_required", "hint": "call setup() first"}));
        }
        let args = Args(&self.args);
        let result = match name {
            "setup" => setup(session),
            "join" => {
                let joined = args.opt_str("project").and_then(|p| join(session, p));
                if joined.is_ok() {
                    super::channel::joined(session);
                }
                joined
            }
            "list_peers" => read(session, "/peers"),
            "list_channels" => read(session, "/channels"),
            "floor_status" => read(session, "/floor"),
            "list_forms" => read(session, "/forms"),
            "protocol_section" => args
                .str("name", None)
                .and_then(|name| read(session, &format!("/protocol?section={}", encode(&name)))),
            "ping" => args
                .str("peer", None)
                .and_then(|p| read(session, &format!("/ping?peer={}", encode(&p)))),
            _ => return member_tool(session, name, &args, cancel),
        };
        Ok(result.unwrap_or_else(|e| e))
    }
}

/// A cancelled call.
struct Cancelled;

/// Tool arguments with type checks that say what was wrong.
struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    fn str(&self, key: &str, default: Option<&str>) -> Result<String, Value> {
        match (self.0.get(key), default) {
            (Some(Value::String(s)), _) => Ok(s.clone()),
            (None | Some(Value::Null), Some(d)) => Ok(d.to_string()),
            (None | Some(Value::Null), None) => Err(invalid(format!("`{key}` is required"))),
            (Some(_), _) => Err(invalid(format!("`{key}` must be a string"))),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, Value> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("`{key}` must be a string"))),
        }
    }
}

fn invalid(detail: String) -> Value {
    json!({"error": "invalid_arguments", "detail": detail})
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn whoami(s: &Session) -> Value {
    json!({
        "default_project": s.default_project,
        "joined_as": s.joined.as_ref().map(|j| &j.project),
        "hub": s.hub.base(),
        "joined": s.joined.is_some(),
        "setup_done": s.setup_done,
        "known_protocol_version": s.protocol_version,
    })
}

/// GET a read-only endpoint and return its body.
fn read(session: &Mutex<Session>, path: &str) -> Result<Value, Value> {
    let hub = lock(session).hub.clone();
    let a = hub
        .get(path, None, None)
        .map_err(|e| unreachable(&hub, e))?;
    if a.status == 200 {
        Ok(a.body)
    } else {
        Err(refusal(session, &a))
    }
}

/// Tools that need a joined session.
/// What a hub's error answer said (empty when it said nothing we read).
fn said(a: &Answer) -> Refusal {
    serde_json::from_value(a.body.clone()).unwrap_or_default()
}

/// A tool that needs a joined session. If the hub no longer knows our
/// token because it restarted, the session joins again once and the call
/// is made again, with a note saying so (see `session::heal`).
fn member_tool(
    session: &Arc<Mutex<Session>>,
    name: &str,
    args: &Args,
    cancel: &Receiver<()>,
) -> Result<Value, Cancelled> {
    let first = member_tool_once(session, name, args, cancel)?;
    if first["error"] != "not_joined" || name == "leave" {
        return Ok(first);
    }
    let Some(note) = heal(session) else {
        return Ok(first);
    };
    let mut again = member_tool_once(session, name, args, cancel)?;
    if let Value::Object(o) = &mut again {
        o.insert("rejoined".into(), json!(note));
    }
    Ok(again)
}

fn member_tool_once(
    session: &Arc<Mutex<Session>>,
    name: &str,
    args: &Args,
    cancel: &Receiver<()>,
) -> Result<Value, Cancelled> {
    let (hub, joined) = {
        let s = lock(session);
        (s.hub.clone(), s.joined.clone())
    };
    let Some(me) = joined else {
        return Ok(json!({"error": "not_joined", "hint": "call join() first"}));
    };
    let post = |path: &str, mut body: Value| -> Result<Answer, Value> {
        body["token"] = json!(me.token);
        hub.post(path, &body).map_err(|e| unreachable(&hub, e))
    };
    let ok_or = |a: Answer| -> Value {
        if a.status == 200 {
            a.body
        } else {
            refusal(session, &a)
        }
    };
    let floor = |action: &str, reason: &str| -> Result<Value, Value> {
        let scope = args.str("scope", Some("all"))?;
        post(
            "/floor",
            json!({"action": action, "scope": scope, "reason": reason}),
        )
        .map(ok_or)
    };
    let result: Result<Value, Value> = match name {
        "leave" => Ok(leave(session, &hub, &me)),
        "say" => (|| {
            let content = args.str("content", None)?;
            let to = args.str("to", Some("all"))?;
            post("/send", json!({"to": to, "content": content})).map(ok_or)
        })(),
        "set_status" => args
            .str("status", Some(""))
            .and_then(|st| post("/status", json!({"status": st})).map(ok_or)),
        "join_channel" | "leave_channel" => (|| {
            let channel = args.str("channel", None)?;
            let path = if name == "join_channel" {
                "/channels/join"
            } else {
                "/channels/leave"
            };
            let a = post(path, json!({"channel": channel}))?;
            Ok(if a.status == 422 {
                json!({"error": "invalid_channel", "hint": "a channel is # and a name without spaces, e.g. #api"})
            } else {
                ok_or(a)
            })
        })(),
        "set_channel_topic" => (|| {
            let channel = args.str("channel", None)?;
            let topic = args.str("topic", Some(""))?;
            let a = post(
                "/channels/topic",
                json!({"channel": channel, "topic": topic}),
            )?;
            Ok(match a.status {
                403 => json!({"error": "not_a_member", "hint": "join_channel first"}),
                422 => json!({"error": "invalid_channel", "detail": said(&a).detail}),
                _ => ok_or(a),
            })
        })(),
        "take_floor" => args.str("reason", None).and_then(|r| floor("take", &r)),
        "raise_hand" => floor("raise", ""),
        "pass_floor" => floor("pass", ""),
        "drop_floor" => floor("drop", ""),
        "ask_operator" => (|| {
            let title = args.str("title", None)?;
            let to = args.str("to", Some("all"))?;
            let fields = args
                .0
                .get("fields")
                .filter(|f| f.is_array())
                .cloned()
                .ok_or_else(|| invalid("`fields` must be an array of field objects".into()))?;
            let a = post("/ask", json!({"title": title, "fields": fields, "to": to}))?;
            let refusal = said(&a);
            Ok(match a.status {
                422 => json!({"error": "invalid_form", "detail": refusal.detail}),
                409 if !refusal.says("room stopped") => {
                    json!({"error": "too_many_forms", "detail": refusal.detail})
                }
                _ => ok_or(a),
            })
        })(),
        "watch_command" => watch_command(session, &me),
        "peek" => hub
            .get("/peek?detail=1", Some(&me.token), None)
            .map(ok_or)
            .map_err(|e| unreachable(&hub, e)),
        "listen" => return listen(session, &hub, &me, args, cancel),
        other => Err(invalid(format!("no tool named {other}"))),
    };
    Ok(result.unwrap_or_else(|e| e))
}

fn listen(
    session: &Mutex<Session>,
    hub: &HubClient,
    me: &Joined,
    args: &Args,
    cancel: &Receiver<()>,
) -> Result<Value, Cancelled> {
    let timeout = match args.0.get("timeout") {
        None | Some(Value::Null) => 30.0,
        Some(v) => match v.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => t,
            _ => return Ok(invalid("`timeout` must be a number of seconds >= 0".into())),
        },
    };
    let wait = timeout.min(25.0);
    if lock(session)
        .channel
        .as_ref()
        .is_some_and(|c| c.is_confirmed())
    {
        return Ok(json!({"messages": [], "channel": true,
            "note": "messages reach you as channel events: no need to listen"}));
    }
    // The poll runs on a thread of its own so a cancel can end this call at
    // once. Anything that poll is handed but we never show is not
    // acknowledged, so the hub hands it out again.
    let (tx, rx) = mpsc::channel();
    let poll_hub = hub.clone();
    let (token, handed) = (me.token.clone(), me.last_seq);
    thread::spawn(move || {
        let _ = tx.send(Listener::new(&poll_hub, &token, handed).poll(wait));
    });
    let got = loop {
        if cancel.try_recv().is_ok() {
            return Err(Cancelled);
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(got) => break got,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                break Err(CallError::Unreachable("the poll thread ended".into()));
            }
        }
    };
    // A cancel that came while the answer was on its way still wins: what
    // the poll got is not acknowledged, so the hub hands it out again.
    if cancel.try_recv().is_ok() {
        return Err(Cancelled);
    }
    let got = match got {
        Ok(got) => got,
        Err(e) => return Ok(call_refusal(session, hub, e)),
    };
    let last = got.messages.iter().chain(&got.notices).map(|m| m.seq).max();
    if let Some(j) = lock(session).joined.as_mut()
        && j.token == me.token
    {
        j.last_seq = j.last_seq.max(last.unwrap_or(0));
    }
    let heard = Heard {
        messages: got.all(),
        mode: got.mode,
        stop: got.stop,
    };
    Ok(serde_json::to_value(&heard).unwrap_or(Value::Null))
}

/// What `listen` answers: the messages, the room's mode, and whether the
/// operator stopped the room.
#[derive(Serialize, Deserialize)]
struct Heard {
    messages: Vec<Message>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    stop: bool,
}

/// What `listen` heard, for a model's context: one line per message,
/// `[seq] sender -> recipient: content` (the kind in brackets when it is
/// not plain chat), each further line of the content behind `  | `, then
/// the operator's stop if it came. About 20 characters beside the content,
/// where the message's JSON spends about 180.
fn heard_text(heard: &Heard) -> String {
    let mut out: Vec<String> = heard.messages.iter().map(lines::compact).collect();
    if heard.stop {
        out.push("STOP: the operator stopped the room. Stop sending and finish.".into());
    }
    if out.is_empty() {
        let mode = heard.mode.unwrap_or(Mode::Running).as_str();
        out.push(format!("no messages (the room is {mode})"));
    }
    out.join("\n")
}

/// A path as a shell can take it: Windows' `canonicalize` gives verbatim
/// paths (`\\?\C:\…`, `\\?\UNC\server\…`) that cmd refuses.
fn plain_path(path: &Path) -> String {
    let shown = path.display().to_string();
    if let Some(unc) = shown.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{unc}")
    } else if let Some(local) = shown.strip_prefix(r"\\?\") {
        local.to_string()
    } else {
        shown
    }
}

/// Writes `token` to a new file only its owner can read.
fn write_token_file(project: &str, token: &str) -> std::io::Result<PathBuf> {
    let safe = crate::shared::identity::file_key(project);
    let dir = std::env::temp_dir();
    for attempt in 0..16u32 {
        let nonce = crate::shared::secret::os_random(6).map(|b| crate::shared::secret::hex(&b))?;
        let path = dir.join(format!("caucus-{safe}-{nonce}.token"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut f) => {
                f.write_all(token.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 15 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free token file name"))
}

fn watch_command(session: &Mutex<Session>, me: &Joined) -> Result<Value, Value> {
    let kept = lock(session)
        .slot
        .as_ref()
        .map(|(_, slot)| slot.token_path().to_path_buf());
    let existing = lock(session).token_file.clone().or(kept);
    let path = match existing {
        Some(p) if token_file_holds(&p, &me.token) => p,
        stale => {
            if let Some(p) = stale {
                let _ = std::fs::remove_file(p);
            }
            let p = write_token_file(&me.project, &me.token)
                .map_err(|e| json!({"error": "token_file", "detail": e.to_string()}))?;
            lock(session).token_file = Some(p.clone());
            p
        }
    };
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| plain_path(&p))
        .unwrap_or_else(|| "caucus".to_string());
    let hub = lock(session).hub.base().to_string();
    // In Codex, messages start a turn of the session (see `codex_push`):
    // the exit that wakes other hosts wakes no Codex session.
    let codex = lock(session).host.to_ascii_lowercase().contains("codex");
    Ok(json!({
        "command": format!(
            "{} watch --hub {} --token-file {}{}",
            shell_quote(&exe),
            shell_quote(&hub),
            shell_quote(&plain_path(&path)),
            if codex { " --push codex" } else { "" }
        ),
        "background": true,
        "note": if codex {
            "Run it in the background now (a shell job). It keeps running: messages reach \
             you as a new turn of this session. If it exits, read its output, act, then run \
             it again. Exit 3 (STOP printed) means the operator stopped the room: do not \
             relaunch."
        } else {
            "Run it in the background now (a shell job, not a subagent). It exits when \
             messages arrive: read its output, act, then run it again. Exit 3 (STOP \
             printed) means the operator stopped the room: do not relaunch."
        },
    }))
}

fn token_file_holds(path: &Path, token: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.trim() == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_fragment_is_valid_json() {
        for t in TOOLS {
            let text = format!("{{{}}}", t.properties);
            assert!(
                serde_json::from_str::<Value>(&text).is_ok(),
                "{}: {text}",
                t.name
            );
            for r in t.required {
                assert!(
                    t.properties.contains(&format!("\"{r}\"")),
                    "{}: {r}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn the_fixed_cost_per_session_stays_small() {
        // What every agent pays once per session: the tool list, the
        // instructions `initialize` gives, and the protocol `setup` hands
        // over, in tokens counted as characters / 4.
        let tools = serde_json::to_string(&json!({"tools": list()})).unwrap();
        let protocol = crate::shared::protocol::TEXT;
        let instructions = super::super::INSTRUCTIONS;
        let chars = tools.chars().count() + protocol.chars().count() + instructions.chars().count();
        let tokens = chars / 4;
        println!(
            "fixed cost: tools/list {} + protocol {} + instructions {} = {chars} characters, \
             about {tokens} tokens",
            tools.chars().count(),
            protocol.chars().count(),
            instructions.chars().count()
        );
        assert!(tokens <= 1500, "{tokens} tokens");
    }

    #[cfg(unix)]
    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("/usr/bin/caucus"), "/usr/bin/caucus");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(encode("a b/#c"), "a%20b%2F%23c");
    }

    #[test]
    fn heard_messages_cost_the_model_little_beyond_their_content() {
        let message = json!({"id": "3f2a9c1b7d4e", "sender": "alice", "recipient": "bob",
            "content": "Can you take the schema review?", "kind": "message",
            "ts": 1_764_032_000.123, "seq": 42, "origin": "agent"});
        let heard = |v: Value| serde_json::from_value::<Heard>(v).unwrap();
        let result = json!({"messages": [message], "mode": "running", "stop": false});
        let text = heard_text(&heard(result));
        assert_eq!(text, "[42] alice -> bob: Can you take the schema review?");
        let content = 31;
        let overhead = text.chars().count() - content;
        let json_overhead = message.to_string().chars().count() - content;
        println!("per-message overhead: {overhead} characters as a line, {json_overhead} as JSON");
        assert!(overhead <= 40, "{overhead}");
        let answer = json!({"messages": [{"id": "000000000007", "sender": "human",
            "recipient": "#ops", "kind": "answer", "content": "yes\nship it", "seq": 7,
            "ts": 0.0, "origin": "operator"}], "stop": true});
        assert_eq!(
            heard_text(&heard(answer)),
            "[7] human -> #ops (answer): yes\n  | ship it\nSTOP: the operator stopped the room. \
             Stop sending and finish."
        );
        let none = json!({"messages": [], "mode": "paused", "stop": false});
        assert_eq!(heard_text(&heard(none)), "no messages (the room is paused)");
    }

    #[test]
    fn verbatim_windows_paths_are_made_plain() {
        assert_eq!(
            plain_path(Path::new(r"\\?\C:\bin\caucus.exe")),
            r"C:\bin\caucus.exe"
        );
        assert_eq!(
            plain_path(Path::new(r"\\?\UNC\srv\share\c.exe")),
            r"\\srv\share\c.exe"
        );
        assert_eq!(plain_path(Path::new("/usr/bin/caucus")), "/usr/bin/caucus");
    }
}
