//! `caucus setup claude`: wires a repository for Claude Code in one
//! command: the `caucus` MCP server in `.mcp.json`, and the hooks that keep
//! the agent hearing the room in `.claude/settings.json`.
//!
//! It merges: every entry it did not write stays as it was; its own
//! entries (the `caucus` server, hook commands running `caucus hook`) are
//! replaced, so running it twice changes nothing. It never writes through
//! a symbolic link, and a file that is not a JSON object is left alone with
//! an error. Files are written whole through a temporary file renamed into
//! place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lexopt::prelude::*;
use serde_json::{Map, Value, json};

use crate::cli::text;
use crate::client::hub_url;
use crate::platform::shell_quote;

pub const HELP: &str = "\
caucus setup: wire a repository for an agent host

Usage: caucus setup claude [--hub URL] [--name NAME] [--dir DIR] [--channel]

claude  writes or merges .mcp.json (the caucus server: this binary's bridge)
        and .claude/settings.json (Stop, UserPromptSubmit and SessionStart
        hooks, each a `caucus hook` command), in DIR [default: here]

Options:
  --hub URL    the hub [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --name NAME  the agent's name [default: the directory's name]
  --dir DIR    the repository [default: the current directory]
  --channel    the bridge also pushes messages into the live session
               (Claude Code channels, a research preview: start Claude Code
               with --dangerously-load-development-channels server:caucus)

Exit codes: 0 done (or nothing to change), 1 refused (the reason on stderr), 2 usage.
";

/// How long the host lets the Stop hook run, and how long it waits.
const STOP_TIMEOUT: u64 = 60;
const STOP_WAIT: u64 = 45;

fn usage(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("caucus setup: {e}");
    ExitCode::from(2)
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("caucus setup: {e}");
    ExitCode::from(1)
}

pub fn main(mut args: lexopt::Parser) -> ExitCode {
    let mut host = None;
    let mut hub = None;
    let mut name = None;
    let mut dir = None;
    let mut channel = false;
    loop {
        let arg = match args.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => return usage(e),
        };
        let parsed: Result<(), String> = match arg {
            Value(v) if host.is_none() => {
                host = Some(v.to_string_lossy().into_owned());
                Ok(())
            }
            Long("hub") => text(args.value()).map(|v| hub = Some(v)),
            Long("name") => text(args.value()).map(|v| name = Some(v)),
            Long("dir") => text(args.value()).map(|v| dir = Some(PathBuf::from(v))),
            Long("channel") => {
                channel = true;
                Ok(())
            }
            Short('h') | Long("help") => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => Err(other.unexpected().to_string()),
        };
        if let Err(e) = parsed {
            return usage(e);
        }
    }
    match host.as_deref() {
        Some("claude") => {}
        Some(other) => return usage(format!("no setup for {other:?} yet: claude")),
        None => {
            print!("{HELP}");
            return ExitCode::from(2);
        }
    }
    let hub = match hub_url(hub) {
        Ok(h) => h,
        Err(e) => return usage(e),
    };
    let dir = match dir.map_or_else(std::env::current_dir, Ok) {
        Ok(d) => d,
        Err(e) => return fail(format!("no working directory: {e}")),
    };
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p.display().to_string(),
        Err(e) => return fail(format!("cannot find this program's path: {e}")),
    };
    match claude(&dir, &exe, &hub, name.as_deref(), channel) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Reads a JSON object file, or `{}` if there is none; refuses a link, or
/// a file that is not an object.
fn read_object(path: &Path) -> Result<Map<String, Value>, String> {
    match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(Map::new()),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!(
                "{} is a symbolic link: caucus does not write through links",
                path.display()
            ));
        }
        Ok(_) => {}
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(format!(
            "{} is not a JSON object: left as it is; fix or move it, then run again",
            path.display()
        )),
    }
}

/// Writes `value` at `path` (pretty, newline-terminated) through a
/// temporary file renamed into place. `Ok(false)` when it was already so.
fn write_object(path: &Path, value: &Map<String, Value>) -> Result<bool, String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let temp = path.with_extension("caucus-new");
    let _ = std::fs::remove_file(&temp);
    std::fs::write(&temp, &text).map_err(|e| format!("{}: {e}", temp.display()))?;
    std::fs::rename(&temp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

/// Whether a hook entry's command is one of ours.
fn ours(command: &str) -> bool {
    command.contains("caucus") && command.contains(" hook ")
}

fn claude(
    dir: &Path,
    exe: &str,
    hub: &str,
    name: Option<&str>,
    channel: bool,
) -> Result<(), String> {
    let mcp_path = dir.join(".mcp.json");
    let settings_path = dir.join(".claude").join("settings.json");
    // Read both before writing either: a refusal changes nothing.
    let mut mcp = read_object(&mcp_path)?;
    let mut settings = read_object(&settings_path)?;

    let mut env = json!({"CAUCUS_HUB_URL": hub});
    if let Some(n) = name {
        env["CAUCUS_PROJECT"] = json!(n);
    }
    let servers = mcp.entry("mcpServers").or_insert_with(|| json!({}));
    if !servers.is_object() {
        return Err(format!(
            "{}: mcpServers is not an object",
            mcp_path.display()
        ));
    }
    let args = if channel {
        json!(["bridge", "--channel"])
    } else {
        json!(["bridge"])
    };
    servers["caucus"] = json!({"command": exe, "args": args, "env": env});

    let mut tail = format!("--hub {}", shell_quote(hub));
    if let Some(n) = name {
        tail.push_str(&format!(" --name {}", shell_quote(n)));
    }
    let quoted = shell_quote(exe);
    let wanted = [
        (
            "Stop",
            format!("{quoted} hook stop {tail} --wait {STOP_WAIT}"),
            STOP_TIMEOUT,
        ),
        (
            "UserPromptSubmit",
            format!("{quoted} hook prompt {tail}"),
            10,
        ),
        (
            "SessionStart",
            format!("{quoted} hook session-start {tail}"),
            10,
        ),
    ];
    let hooks = settings.entry("hooks").or_insert_with(|| json!({}));
    let Value::Object(hooks) = hooks else {
        return Err(format!(
            "{}: hooks is not an object",
            settings_path.display()
        ));
    };
    for (event, command, timeout) in wanted {
        let groups = hooks.entry(event).or_insert_with(|| json!([]));
        let Value::Array(groups) = groups else {
            return Err(format!(
                "{}: hooks.{event} is not a list",
                settings_path.display()
            ));
        };
        // Our earlier entries go; everything else stays.
        for group in groups.iter_mut() {
            if let Some(Value::Array(list)) = group.get_mut("hooks") {
                list.retain(|h| !h["command"].as_str().is_some_and(ours));
            }
        }
        groups.retain(|g| !g["hooks"].as_array().is_some_and(Vec::is_empty));
        groups
            .push(json!({"hooks": [{"type": "command", "command": command, "timeout": timeout}]}));
    }

    let wrote_mcp = write_object(&mcp_path, &mcp)?;
    let wrote_settings = write_object(&settings_path, &settings)?;
    for (path, wrote) in [(&mcp_path, wrote_mcp), (&settings_path, wrote_settings)] {
        println!(
            "{} {}",
            if wrote { "wrote" } else { "unchanged" },
            path.display()
        );
    }
    println!(
        "the agent joins {hub} as {}",
        name.unwrap_or("the directory's name")
    );
    if channel {
        println!(
            "start it here with: claude --dangerously-load-development-channels server:caucus"
        );
        println!(
            "Channels are a Claude Code research preview (v2.1.80 or later, claude.ai login). \
             After join the agent is asked to confirm it sees pushes; until it does, the \
             hooks and the watcher deliver."
        );
    } else {
        println!("start it here with: claude");
    }
    println!(
        "On its first start Claude Code asks whether to use the project's MCP server \
         \"caucus\" from .mcp.json: approve it, or the caucus tools do not appear. Then \
         ask the agent to join the room."
    );
    Ok(())
}
