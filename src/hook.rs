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

Usage: caucus hook <stop|prompt|session-start|pre-tool> [--hub URL] [--name NAME] [--wait SECS]

Reads the host's event JSON on stdin; prints the host's answer on stdout.
  stop           blocks the stop and hands waiting messages over (decision/reason:
                 Claude Code's and Codex's Stop, Gemini CLI's AfterAgent),
                 waiting up to --wait seconds for one
  prompt         adds the room's state and waiting messages as context
                 (UserPromptSubmit; Gemini CLI's BeforeAgent)
  session-start  the same, when a session starts
  pre-tool       denies a tool call while the room or this agent is paused or
                 stopped (PreToolUse; Gemini CLI's BeforeTool); the caucus
                 tools stay allowed

Options:
  --hub URL      [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --name NAME    the agent's name [env: CAUCUS_PROJECT] [default: the name of
                 the directory the host runs the hook in]
  --wait SECS    how long `stop` waits for a message [default: 20]

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
    let mut wait = 20.0;
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if event.is_none() => event = Some(v.to_string_lossy().into_owned()),
            Long("hub") => hub = Some(text(args.value())?),
            Long("name") => name = Some(text(args.value())?),
            Long("wait") => wait = seconds(&text(args.value())?, "--wait", false)?,
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let event = event.ok_or("which event? stop, prompt or session-start")?;
    Ok(Some(Config {
        event,
        hub: hub_url(hub)?,
        name,
        wait: wait.min(55.0),
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
        other => pass(&format!(
            "unknown event {other:?}: stop, prompt, session-start or pre-tool"
        )),
    }
}

/// Before each tool call (`PreToolUse`; Gemini CLI's `BeforeTool`): while
/// the room, or this agent, is paused or stopped, the call is denied with
/// the operator's word as the reason. The caucus tools stay allowed, so the
/// agent can listen for the resume. Fails open: with no answer from the
/// hub, the tool runs.
fn pre_tool(hub: &HubClient, token: &str, event: &Value) -> ExitCode {
    let tool = event["tool_name"].as_str().unwrap_or_default();
    if tool.starts_with("mcp__caucus__") {
        return ExitCode::SUCCESS;
    }
    let peek = match hub.get("/peek", Some(token), Some(Duration::from_secs(5))) {
        Ok(a) if a.status == 200 => a.body,
        Ok(a) => {
            return pass(&format!(
                "the hub answered HTTP {} to peek: the tool runs",
                a.status
            ));
        }
        Err(e) => return pass(&format!("the hub is unreachable ({e}): the tool runs")),
    };
    let reason = match (peek["mode"].as_str(), peek["paused"] == json!(true)) {
        (Some("stopped"), _) => {
            "The operator stopped the caucus room: stop working, say nothing more, and finish."
        }
        (Some("paused"), _) => {
            "The operator paused the caucus room: no tool runs until it resumes. Wait: call \
             the caucus listen tool to hear when it does."
        }
        (_, true) => {
            "The operator paused you in the caucus room: no tool runs until you are resumed. \
             Wait: call the caucus listen tool to hear when it happens."
        }
        _ => return ExitCode::SUCCESS,
    };
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
