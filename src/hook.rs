//! `caucus hook EVENT`: the commands a host runs at its hook points, so an
//! agent hears the room even when nothing else listens (Claude Code's hooks
//! reference: the event's JSON on stdin, an answer on stdout).
//!
//! - `stop` (Claude Code's `Stop`): if messages wait for the agent, or
//!   arrive within `--wait` seconds, the stop is blocked and they are handed
//!   over as compact lines in `reason` (and acknowledged: only what was
//!   handed over). With `stop_hook_active` (the session already continued
//!   once for a hook) it waits for nothing new, so it never spins. After
//!   the operator's stop, or when nothing came, the session may end.
//! - `prompt` (`UserPromptSubmit`) and `session-start` (`SessionStart`):
//!   the room's state and what waits (excerpts; nothing is taken) as
//!   additional context.
//! - `pre-tool` (`PreToolUse`; Gemini CLI's `BeforeTool`): asks the hub's
//!   tool gate; denies the call while the room or the agent is paused or
//!   stopped, and once with the operator's interrupt. Fails open.
//! - `permission` (`PermissionRequest`): puts the host's permission prompt
//!   before the operator and prints the verdict; no verdict within
//!   `--wait` leaves the decision to the host's own dialog.
//!
//! A hook finds its agent by itself: the hub (`--hub`, `CAUCUS_HUB_URL`),
//! the name (`--name`, `CAUCUS_PROJECT`, or the name of the directory the
//! host runs it in, as the bridge's default) and the token the bridge kept
//! for that name on this machine (`identity`). With no joined agent, bad
//! input, or no hub, it does nothing, at once, and says why on stderr: a
//! hook never blocks a session by mistake.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use lexopt::prelude::*;
use serde_json::{Value, json};

use crate::cli::{seconds, text};
use crate::client::{HubClient, hub_url};
use crate::identity::kept_token;
use crate::lines;

pub const HELP: &str = "\
caucus hook: what a host runs at its hook points (installed by `caucus setup`)

Usage: caucus hook <stop|prompt|session-start|pre-tool|permission> [--hub URL] [--name NAME]
                   [--wait SECS]

Reads the host's event JSON on stdin; prints the host's answer on stdout.
  stop           blocks the stop and hands waiting messages over (decision/reason:
                 Claude Code's and Codex's Stop, Gemini CLI's AfterAgent),
                 waiting up to --wait seconds for one
  prompt         adds the room's state and waiting messages as context
                 (UserPromptSubmit; Gemini CLI's BeforeAgent)
  session-start  the same, when a session starts
  pre-tool       denies a tool call while the room or this agent is paused or
                 stopped, and once with the operator's interrupt (PreToolUse;
                 Gemini CLI's BeforeTool); the caucus tools stay allowed
  permission     puts the host's permission prompt (PermissionRequest) before
                 the operator and prints the allow or deny; with no answer
                 within --wait seconds the host's own dialog decides

Options:
  --hub URL      [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --name NAME    the agent's name [env: CAUCUS_PROJECT] [default: the name of
                 the directory the host runs the hook in]
  --wait SECS    how long `stop` waits for a message [default: 20], and
                 `permission` for the operator [default: 100]

It always exits 0: a hook that cannot reach the hub, finds no joined agent
or reads bad input lets the session go on, and says why on stderr.
";

/// The most of stdin a hook reads: the host's event is small.
const MAX_INPUT: u64 = 1 << 20;

struct Config {
    event: String,
    hub: String,
    name: Option<String>,
    wait: f64,
}

fn parse(mut args: lexopt::Parser) -> Result<Option<Config>, String> {
    let mut event = None;
    let mut hub = None;
    let mut name = None;
    let mut wait = None;
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if event.is_none() => event = Some(v.to_string_lossy().into_owned()),
            Long("hub") => hub = Some(text(args.value())?),
            Long("name") => name = Some(text(args.value())?),
            Long("wait") => wait = Some(seconds(&text(args.value())?, "--wait", false)?),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let event = event.ok_or("which event? stop, prompt, session-start, pre-tool or permission")?;
    let wait = if event == "permission" {
        wait.unwrap_or(100.0).min(600.0)
    } else {
        wait.unwrap_or(20.0).min(55.0)
    };
    Ok(Some(Config {
        event,
        hub: hub_url(hub)?,
        name,
        wait,
    }))
}

/// Says why the hook does nothing, and lets the session go on.
fn pass(why: &str) -> ExitCode {
    eprintln!("caucus hook: {why}");
    ExitCode::SUCCESS
}

pub fn main(args: lexopt::Parser) -> ExitCode {
    let config = match parse(args) {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => return pass(&format!("{e} (see caucus hook --help)")),
    };
    let mut raw = String::new();
    if let Err(e) = std::io::stdin().take(MAX_INPUT).read_to_string(&mut raw) {
        return pass(&format!("cannot read the event on stdin: {e}"));
    }
    let event: Value = match serde_json::from_str(&raw) {
        Ok(v @ Value::Object(_)) => v,
        _ => return pass("the event on stdin is not a JSON object: nothing done"),
    };
    let name = config
        .name
        .clone()
        .or_else(|| {
            std::env::var("CAUCUS_PROJECT")
                .ok()
                .filter(|p| !p.trim().is_empty())
        })
        .or_else(|| {
            let cwd = event["cwd"]
                .as_str()
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::current_dir().ok())?;
            Some(cwd.file_name()?.to_string_lossy().into_owned())
        });
    let Some(name) = name else {
        return pass("no agent name (give --name): nothing done");
    };
    let Some(token) = kept_token(&config.hub, &name) else {
        return pass(&format!(
            "no agent joined as {name:?} on {} here: nothing done",
            config.hub
        ));
    };
    let hub = HubClient::new(&config.hub);
    if config.event == "stop" && crate::identity::pushes_to_channel(&config.hub, &name) {
        return pass("the bridge pushes this agent's messages into the session: nothing to do");
    }
    match config.event.as_str() {
        "stop" => stop(&hub, &token, &event, config.wait),
        "prompt" => context(&hub, &token, &name, host_event(&event, "UserPromptSubmit")),
        "session-start" => context(&hub, &token, &name, host_event(&event, "SessionStart")),
        "pre-tool" => pre_tool(&hub, &token, &event),
        "permission" => permission(&hub, &token, &event, config.wait),
        other => pass(&format!(
            "unknown event {other:?}: stop, prompt, session-start, pre-tool or permission"
        )),
    }
}

/// Before each tool call (`PreToolUse`; Gemini CLI's `BeforeTool`): the
/// hub's tool gate answers. While the room, or this agent, is paused or
/// stopped, the call is denied with the operator's word as the reason; an
/// interrupt denies one call with the operator's text. The caucus tools
/// stay allowed, so the agent can listen for the resume. Fails open: with
/// no answer from the hub, the tool runs.
fn pre_tool(hub: &HubClient, token: &str, event: &Value) -> ExitCode {
    let tool = event["tool_name"].as_str().unwrap_or_default();
    if tool.starts_with("mcp__caucus__") {
        return ExitCode::SUCCESS;
    }
    let gate = match hub.post_timeout("/gate", &json!({"token": token}), Duration::from_secs(5)) {
        Ok(a) if a.status == 200 => a.body,
        Ok(a) => {
            return pass(&format!(
                "the hub answered HTTP {} at the tool gate: the tool runs",
                a.status
            ));
        }
        Err(e) => return pass(&format!("the hub is unreachable ({e}): the tool runs")),
    };
    if gate["allow"] != json!(false) {
        return ExitCode::SUCCESS;
    }
    let reason = gate["reason"]
        .as_str()
        .unwrap_or("The operator holds the caucus room: wait.");
    let name = host_event(event, "PreToolUse");
    let answer = if name == "BeforeTool" {
        json!({"decision": "deny", "reason": reason})
    } else {
        json!({"hookSpecificOutput": {"hookEventName": name, "permissionDecision": "deny",
                                      "permissionDecisionReason": reason}})
    };
    println!("{answer}");
    ExitCode::SUCCESS
}

/// A host's permission prompt (`PermissionRequest`), put before the
/// operator: `POST /approvals`, then the verdict awaited for up to `wait`
/// seconds. Allow or deny is printed in the host's shape; with no verdict
/// (none in time, no hub, no agent) nothing is printed, and the host's own
/// dialog decides. The caucus tools are never put before the operator.
fn permission(hub: &HubClient, token: &str, event: &Value, wait: f64) -> ExitCode {
    let tool = event["tool_name"].as_str().unwrap_or_default();
    if tool.is_empty() {
        return pass("the event names no tool_name: the host's dialog decides");
    }
    if tool.starts_with("mcp__caucus__") {
        return ExitCode::SUCCESS;
    }
    let input = &event["tool_input"];
    let description = ["description", "command", "file_path", "url"]
        .iter()
        .find_map(|k| input[*k].as_str())
        .unwrap_or_default();
    let verdict = match ask_operator(hub, token, tool, description, input, wait) {
        Ok(v) => v,
        Err(why) => return pass(&format!("{why}: the host's dialog decides")),
    };
    let name = host_event(event, "PermissionRequest");
    let decision = match verdict {
        Verdict::Allow => json!({"behavior": "allow"}),
        Verdict::Deny(reason) => {
            let why = reason
                .map(|r| format!("The operator denied this tool call: {r}"))
                .unwrap_or_else(|| "The operator denied this tool call.".into());
            json!({"behavior": "deny", "message": why})
        }
    };
    println!(
        "{}",
        json!({"hookSpecificOutput": {"hookEventName": name, "decision": decision}})
    );
    ExitCode::SUCCESS
}

/// The operator's answer to a tool call put before them.
pub enum Verdict {
    Allow,
    /// Denied, with the operator's reason if they gave one.
    Deny(Option<String>),
}

/// Puts a tool call before the operator (`POST /approvals`) and waits up
/// to `wait` seconds for the verdict. `Err` says why there is none (no
/// answer in time, a refusal, no hub): the host's own dialog decides then.
pub fn ask_operator(
    hub: &HubClient,
    token: &str,
    tool: &str,
    description: &str,
    input: &Value,
    wait: f64,
) -> Result<Verdict, String> {
    let body = json!({"token": token, "tool": tool, "description": description,
                      "input": input, "window": wait});
    let id = match hub.post("/approvals", &body) {
        Ok(a) if a.status == 200 => a.body["id"].as_str().unwrap_or_default().to_string(),
        Ok(a) => {
            return Err(format!(
                "the hub refused the approval request (HTTP {}: {})",
                a.status, a.body
            ));
        }
        Err(e) => return Err(format!("the hub is unreachable ({e})")),
    };
    eprintln!("caucus: {tool} waits for the operator's answer (approval {id})");
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(wait);
    // Each round waits up to 25 s on the hub; the deadline bounds the loop.
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("no answer from the operator in time".into());
        }
        let secs = left.as_secs_f64().min(25.0);
        let path = format!("/approval?id={id}&timeout={secs:.1}");
        let a = hub
            .get(
                &path,
                Some(token),
                Some(Duration::from_secs_f64(secs + 10.0)),
            )
            .map_err(|e| format!("the hub is unreachable ({e})"))?;
        if a.status != 200 {
            return Err(format!(
                "the hub answered HTTP {} for approval {id}",
                a.status
            ));
        }
        match a.body["state"].as_str() {
            Some("allow") => return Ok(Verdict::Allow),
            Some("deny") => {
                return Ok(Verdict::Deny(a.body["reason"].as_str().map(str::to_string)));
            }
            Some("pending") => {}
            _ => return Err("no answer from the operator in time".into()),
        }
    }
}

/// The event's own name as the host sent it (Gemini CLI's `BeforeAgent`,
/// Codex's and Claude Code's `UserPromptSubmit`…), which the answer must
/// repeat; `default` when it sent none.
fn host_event<'a>(event: &'a Value, default: &'a str) -> &'a str {
    event["hook_event_name"]
        .as_str()
        .filter(|n| !n.is_empty() && n.len() <= 64)
        .unwrap_or(default)
}

/// Messages as the compact lines a model reads (see `lines::compact`).
fn message_lines(messages: &[Value]) -> String {
    messages
        .iter()
        .map(lines::compact)
        .collect::<Vec<_>>()
        .join("\n")
}

fn stop(hub: &HubClient, token: &str, event: &Value, wait: f64) -> ExitCode {
    // Already continued once for a hook: hand over only what waits now.
    let wait = if event["stop_hook_active"] == json!(true) {
        0.0
    } else {
        wait
    };
    let path = format!("/receive?timeout={wait}&ack_seq=0");
    let answer = match hub.get(
        &path,
        Some(token),
        Some(Duration::from_secs_f64(wait + 10.0)),
    ) {
        Ok(a) => a,
        Err(e) => {
            return pass(&format!(
                "the hub is unreachable ({e}): the session may stop"
            ));
        }
    };
    match answer.status {
        200 => {}
        401 => return pass("the hub no longer knows this agent: the session may stop"),
        409 => return pass("another listener holds this agent's slot: the session may stop"),
        s => return pass(&format!("the hub answered HTTP {s}: the session may stop")),
    }
    let all = answer.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if all
        .iter()
        .any(|m| m["kind"] == "control" && m["content"] == "stop")
    {
        return pass("the operator stopped the room: the session may stop");
    }
    let messages: Vec<Value> = all.into_iter().filter(|m| m["kind"] != "control").collect();
    if messages.is_empty() {
        return ExitCode::SUCCESS;
    }
    let reason = format!(
        "New messages in the caucus room:\n{}\nAnswer with the caucus tools (say), or \
         finish if nothing needs you.",
        message_lines(&messages)
    );
    println!("{}", json!({"decision": "block", "reason": reason}));
    // Acknowledged only now that they are handed over.
    if let Some(seq) = messages.iter().filter_map(|m| m["seq"].as_u64()).max()
        && let Err(e) = hub.post("/ack", &json!({"token": token, "seq": seq}))
    {
        eprintln!("caucus hook: could not acknowledge ({e}); the messages may come again");
    }
    ExitCode::SUCCESS
}

fn context(hub: &HubClient, token: &str, name: &str, event: &str) -> ExitCode {
    let peek = match hub.get("/peek", Some(token), None) {
        Ok(a) if a.status == 200 => a.body,
        Ok(a) => return pass(&format!("the hub answered HTTP {} to peek", a.status)),
        Err(e) => return pass(&format!("the hub is unreachable ({e})")),
    };
    let peers = hub
        .get("/peers", None, None)
        .ok()
        .map(|a| a.body["peers"].clone())
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default();
    let forms = hub
        .get("/forms", None, None)
        .ok()
        .and_then(|a| a.body["forms"].as_array().map(Vec::len))
        .unwrap_or(0);
    let others: Vec<&str> = peers
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| *p != name)
        .collect();
    let mut text = format!(
        "caucus: you are {name} in the room at {}; the room is {}. Here: {}.",
        hub.base(),
        peek["mode"].as_str().unwrap_or("running"),
        if others.is_empty() {
            "nobody else".to_string()
        } else {
            others.join(", ")
        }
    );
    if forms > 0 {
        text.push_str(&format!(" {forms} question(s) wait for the operator."));
    }
    let waiting: Vec<Value> = peek["messages"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    let mut m = m.clone();
                    m["content"] = m["excerpt"].clone();
                    m
                })
                .collect()
        })
        .unwrap_or_default();
    if !waiting.is_empty() {
        text.push_str(&format!(
            "\n{} message(s) wait for you (listen to read them):\n{}",
            waiting.len(),
            message_lines(&waiting)
        ));
    }
    println!(
        "{}",
        json!({"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}})
    );
    ExitCode::SUCCESS
}
