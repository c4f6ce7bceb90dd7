//! `caucus hook EVENT`: the commands a host runs at its hook points, so an
//! agent hears the room even when nothing else listens (Claude Code's hooks
//! reference: the event's JSON on stdin, an answer on stdout).
//!
//! - `stop` (Claude Code's `Stop`): if messages wait for the agent, or
//!   arrive within `--wait` seconds, the stop is blocked and they are handed
//!   over as compact lines in `reason` (and acknowledged: only what was
//!   handed over). Every stop waits the same window, so two hooked agents
//!   keep a conversation going; it blocks only for a real message (the
//!   hub's notices alone never cost a turn), and at most
//!   `--max-continuations` times in a row. While the room or the agent is
//!   paused, after the operator's stop, or when nothing came, the session
//!   may end.
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
//! the name (`--name`, `CAUCUS_PROJECT`, else the name of the project's
//! folder as the host names it to its hooks, `CLAUDE_PROJECT_DIR` or
//! `GEMINI_PROJECT_DIR`, else the folder the host runs it in: the bridge's
//! default), and the token the bridge kept for that name on this machine
//! (`identity`). The event's `cwd` is not the project: it follows the
//! agent's shell (`cd sub`). With no joined agent, bad input, or no hub, it
//! does nothing, at once: it prints `{}` (an answer that changes nothing;
//! Gemini CLI shows stderr to the user when stdout is empty) and says why
//! on stderr. A hook never blocks a session by mistake.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use lexopt::prelude::*;
use serde_json::{Value, json};

use crate::client::approval::{Verdict, ask_operator};
use crate::client::{HubClient, Listener, hub_url};
use crate::shared::cli::{seconds, text};
use crate::shared::identity::kept_token;
use crate::shared::lines;
use crate::shared::wire::{Kind, Message, Mode, Origin};

pub const HELP: &str = "\
caucus hook: what a host runs at its hook points (installed by `caucus setup`)

Usage: caucus hook <stop|prompt|session-start|pre-tool|permission> [--hub URL] [--name NAME]
                   [--wait SECS] [--max-continuations N]

Reads the host's event JSON on stdin; prints the host's answer on stdout.
  stop           blocks the stop and hands waiting messages over (decision/reason:
                 Claude Code's and Codex's Stop, Gemini CLI's AfterAgent),
                 waiting up to --wait seconds for one; the hub's notices
                 alone never block; not while the room is paused
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
                 the project folder (CLAUDE_PROJECT_DIR, GEMINI_PROJECT_DIR),
                 else of the directory the host runs the hook in]
  --wait SECS    how long `stop` waits for a message [default: 20], and
                 `permission` for the operator [default: 100]
  --max-continuations N
                 `stop` lets the session end after blocking N stops in a row
                 [default: 50]

It always exits 0: a hook that cannot reach the hub, finds no joined agent
or reads bad input lets the session go on: it prints {} and says why on
stderr.
";

/// The most of stdin a hook reads: the host's event is small.
const MAX_INPUT: u64 = 1 << 20;

struct Config {
    event: String,
    hub: String,
    name: Option<String>,
    wait: f64,
    max_continuations: u32,
}

fn parse(mut args: lexopt::Parser) -> Result<Option<Config>, String> {
    let mut event = None;
    let mut hub = None;
    let mut name = None;
    let mut wait = None;
    let mut max_continuations = 50;
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if event.is_none() => event = Some(v.to_string_lossy().into_owned()),
            Long("hub") => hub = Some(text(args.value())?),
            Long("name") => name = Some(text(args.value())?),
            Long("wait") => wait = Some(seconds(&text(args.value())?, "--wait", false)?),
            Long("max-continuations") => {
                max_continuations = text(args.value())?
                    .parse()
                    .map_err(|_| "--max-continuations takes a whole number")?;
            }
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
        max_continuations,
    }))
}

/// Says why the hook does nothing, and lets the session go on.
fn pass(why: &str) -> ExitCode {
    eprintln!("caucus hook: {why}");
    quiet()
}

/// An answer that changes nothing. Every host reads `{}` as "go on";
/// Gemini CLI shows stderr as a message when stdout is empty.
fn quiet() -> ExitCode {
    println!("{{}}");
    ExitCode::SUCCESS
}

/// The agent's name when no flag or `CAUCUS_PROJECT` gives it: the
/// project folder the host names to its hooks (Claude Code and Gemini CLI
/// set these for every hook), else the folder it runs the hook in. The
/// event's `cwd` follows the agent's shell, so it is the last resort.
fn default_name(event: &Value) -> Option<String> {
    let dir = ["CLAUDE_PROJECT_DIR", "GEMINI_PROJECT_DIR"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| event["cwd"].as_str().map(std::path::PathBuf::from))
        .or_else(|| std::env::current_dir().ok())?;
    Some(dir.file_name()?.to_string_lossy().into_owned())
}

/// Whether a tool call is one of the room's own tools, whatever the host
/// calls them: Claude Code and Codex `mcp__caucus__listen`, Gemini CLI
/// `mcp_caucus_listen` with `mcp_context.server_name`. A paused agent must
/// still be able to listen for the resume.
///
/// Claude Code's `ToolSearch` counts too: it runs nothing, it loads the
/// schemas of deferred tools (MCP tools are deferred), and without it a
/// paused agent could not load `listen` at all.
fn room_tool(event: &Value) -> bool {
    let tool = event["tool_name"].as_str().unwrap_or_default();
    tool == "ToolSearch"
        || event["mcp_context"]["server_name"] == "caucus"
        || ["mcp__caucus__", "mcp_caucus_", "caucus__"]
            .iter()
            .any(|prefix| tool.starts_with(prefix))
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
        .or_else(|| default_name(&event));
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
    if config.event == "stop" && crate::shared::identity::pushes_to_channel(&config.hub, &name) {
        return pass("the bridge pushes this agent's messages into the session: nothing to do");
    }
    match config.event.as_str() {
        "stop" => stop(
            &hub,
            &token,
            &name,
            &event,
            config.wait,
            config.max_continuations,
        ),
        "prompt" => context(&hub, &token, &name, host_event(&event, "UserPromptSubmit")),
        "session-start" => context(&hub, &token, &name, host_event(&event, "SessionStart")),
        "pre-tool" => pre_tool(&hub, &token, &name, &event),
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
fn pre_tool(hub: &HubClient, token: &str, name: &str, event: &Value) -> ExitCode {
    if room_tool(event) {
        return quiet();
    }
    let gate = match hub.gate(token, None) {
        Ok(gate) => gate,
        Err(e) if e.status() == Some(401) => match rejoin(hub, name) {
            Some(fresh) => return pre_tool(hub, &fresh, name, event),
            None => return pass("the hub no longer knows this agent: the tool runs"),
        },
        Err(e) => return pass(&format!("{e} at the tool gate: the tool runs")),
    };
    if gate.allow {
        return quiet();
    }
    let reason = gate
        .reason
        .as_deref()
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
    if room_tool(event) {
        return quiet();
    }
    let input = &event["tool_input"];
    // The model's own words about the call; the hub reads what runs (the
    // command, the file) from the input itself, and the operator sees both.
    let description = input["description"].as_str().unwrap_or_default();
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

/// The hub refused the kept token. If it is another run of the hub than
/// the one that issued it (it restarted without `--data-dir` and forgot
/// every agent), join again under the same name and keep the new token,
/// which the bridge takes up at its next call; after a kick or a leave
/// (the same run) nothing. Bounded: the kept run is then the current one.
fn rejoin(hub: &HubClient, name: &str) -> Option<String> {
    let kept = crate::shared::identity::kept_instance(hub.base(), name)?;
    let current = hub.version().ok()?.instance?;
    if current == kept {
        return None;
    }
    let joined = match hub.register(name, None, None) {
        Ok(joined) => joined,
        Err(e) => {
            eprintln!("caucus hook: the hub restarted; joining again as {name} failed: {e}");
            return None;
        }
    };
    let instance = joined.instance.as_deref().unwrap_or(&current);
    if let Err(e) = crate::shared::identity::rekeep(hub.base(), name, &joined.token, instance) {
        eprintln!("caucus hook: joined again as {name} but cannot keep the token: {e}");
        return None;
    }
    eprintln!("caucus hook: the hub restarted and had forgotten {name}: joined again");
    Some(joined.token)
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
fn message_lines(messages: &[Message]) -> String {
    messages
        .iter()
        .map(lines::compact)
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many stops in a row this session's Stop hook blocked, kept in the
/// state folder by session id (hosts say only `stop_hook_active`).
fn continuations_file(event: &Value) -> Option<std::path::PathBuf> {
    let session = event["session_id"].as_str().filter(|s| !s.is_empty())?;
    Some(
        crate::shared::identity::state_dir()
            .join("hooks")
            .join(crate::shared::identity::file_key(session)),
    )
}

fn continuations(event: &Value) -> u32 {
    if event["stop_hook_active"] != json!(true) {
        return 0;
    }
    continuations_file(event)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn set_continuations(event: &Value, n: u32) {
    let Some(path) = continuations_file(event) else {
        return;
    };
    if n == 0 {
        let _ = std::fs::remove_file(path);
    } else if let Some(dir) = path.parent()
        && crate::shared::identity::private_dir(dir).is_ok()
    {
        let _ = std::fs::write(path, n.to_string());
    }
}

/// `Stop` (Gemini CLI's `AfterAgent`): waits up to `wait` seconds for a
/// message, every time, and blocks the stop with what came. The hub's
/// notices alone are acknowledged and waited past; a paused room or
/// agent, the operator's stop, or `max` blocks in a row let it end.
fn stop(hub: &HubClient, token: &str, name: &str, event: &Value, wait: f64, max: u32) -> ExitCode {
    let continued = continuations(event);
    if continued >= max {
        set_continuations(event, 0);
        return pass(&format!(
            "the session continued {continued} times in a row for the room \
             (--max-continuations): it may stop now"
        ));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(wait);
    // The first look does not wait: a paused room lets the session end now.
    let mut first = true;
    let mut listener = Listener::new(hub, token, 0);
    // Bounded by the deadline; each round either waits on the hub or
    // acknowledges notices, and the count stops a hub that answers at once.
    for _ in 0..1000 {
        let left = if first {
            0.0
        } else {
            deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64()
        };
        let got = match listener.poll(left) {
            Ok(got) => got,
            Err(e) if e.status() == Some(401) => {
                return match rejoin(hub, name) {
                    Some(fresh) => stop(hub, &fresh, name, event, wait, max),
                    None => pass("the hub no longer knows this agent: the session may stop"),
                };
            }
            Err(e) if e.status() == Some(409) => {
                return pass("another listener holds this agent's slot: the session may stop");
            }
            Err(e) => return pass(&format!("{e}: the session may stop")),
        };
        if got.stop {
            return pass("the operator stopped the room: the session may stop");
        }
        listener.handed_over(got.max_seq);
        if !got.messages.is_empty() {
            let reason = format!(
                "New messages in the caucus room:\n{}\nAnswer with the caucus tools (say), or \
                 finish if nothing needs you.",
                message_lines(&got.all())
            );
            println!("{}", json!({"decision": "block", "reason": reason}));
            set_continuations(event, continued + 1);
            // Acknowledged only now that they are handed over.
            acknowledge(&listener);
            return ExitCode::SUCCESS;
        }
        if !got.notices.is_empty() {
            // Acknowledged by the next poll.
            continue;
        }
        if got.mode == Some(Mode::Paused) {
            acknowledge(&listener);
            set_continuations(event, 0);
            return pass("the operator holds the room: the session may stop");
        }
        if !first && left < 0.05 {
            break;
        }
        first = false;
    }
    acknowledge(&listener);
    set_continuations(event, 0);
    quiet()
}

fn acknowledge(listener: &Listener) {
    if let Err(e) = listener.ack() {
        eprintln!("caucus hook: could not acknowledge ({e}); the messages may come again");
    }
}

fn context(hub: &HubClient, token: &str, name: &str, event: &str) -> ExitCode {
    let peek = match hub.peek(token, true) {
        Ok(peek) => peek,
        Err(e) if e.status() == Some(401) => match rejoin(hub, name) {
            Some(fresh) => return context(hub, &fresh, name, event),
            None => return pass("the hub no longer knows this agent"),
        },
        Err(e) => return pass(&e.to_string()),
    };
    let peers = hub.peers().unwrap_or_default();
    // `/forms` is a list nobody but the console reads whole: its length.
    let forms = hub
        .get("/forms", None, None)
        .ok()
        .and_then(|a| a.body["forms"].as_array().map(Vec::len))
        .unwrap_or(0);
    let others: Vec<&str> = peers
        .iter()
        .map(String::as_str)
        .filter(|p| *p != name)
        .collect();
    let mut text = format!(
        "caucus: you are {name} in the room at {}; the room is {}. Here: {}.",
        hub.base(),
        peek.mode.unwrap_or(Mode::Running).as_str(),
        if others.is_empty() {
            "nobody else".to_string()
        } else {
            others.join(", ")
        }
    );
    if forms > 0 {
        text.push_str(&format!(" {forms} question(s) wait for the operator."));
    }
    let waiting: Vec<Message> = peek
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.kind != Kind::System)
        .map(|m| Message {
            id: String::new(),
            sender: m.sender,
            recipient: m.recipient,
            content: m.excerpt,
            kind: m.kind,
            ts: 0.0,
            seq: m.seq,
            origin: Origin::Agent,
            meta: None,
        })
        .collect();
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
