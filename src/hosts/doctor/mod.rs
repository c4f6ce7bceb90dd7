//! `caucus doctor`: from a repository, checks what an agent there needs and
//! prints each problem with its fix: the hub answers; each wired host's
//! server entry and hooks (Claude Code, Codex, Gemini CLI, as `caucus
//! setup` writes them) are in place and run this binary; the name the
//! bridge joins under resolves to a token the hub knows; the clients' state
//! folder (where the bridge and the watcher keep tokens) is writable; and
//! that each host will use what setup wrote: Claude Code's workspace trust
//! and MCP server approval (`~/.claude.json`), Codex's project trust and
//! hook trust (`~/.codex/config.toml`), Gemini CLI's folder trust
//! (`~/.gemini/trustedFolders.json`). A host ignores an untrusted
//! project's files without a word, so each is a finding with its step.
//!
//! It only reads, and asks the hub only `/version` and, with a kept token,
//! `/peek` (which takes nothing). Exit 0 when nothing needs fixing, 1 when
//! something does, 2 on a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lexopt::prelude::*;
use serde_json::Value;

use crate::client::{CallError, HubClient, hub_url};
use crate::hosts::codex_toml::CodexConfig;
use crate::hosts::setup::{Host, Repo};
use crate::shared::cli::{self, text};
use crate::shared::identity::{kept_token, private_dir, state_dir};

mod trust;

/// How this command signs what it prints on stderr.
const COMMAND: &str = "caucus doctor";

pub const HELP: &str = "\
caucus doctor: check that an agent in this repository can reach the room

Usage: caucus doctor [--host claude|codex|gemini] [--hub URL] [--name NAME] [--dir DIR]

Checks the hub answers; for each host wired here (or --host; Claude Code
when none is) that its project files name the caucus server and run this
binary, and that the hooks `caucus setup` installs are in place; that the
agent's name has a token the hub knows; and that the state folder is
writable. Prints `ok` or `fix` for each, the fix beside it.

Options:
  --host HOST  check only this host's files
  --hub URL    [default: the hub in the host's server entry, else
               CAUCUS_HUB_URL, else http://127.0.0.1:8765]
  --name NAME  [default: the entry's CAUCUS_PROJECT, else the directory's name]
  --dir DIR    the repository [default: here]

Exit codes: 0 all well, 1 something to fix, 2 usage.
";

/// What the checks found: `(true, what)` is fine, `(false, what)` needs
/// the fix written in `what`.
pub(crate) struct Report {
    lines: Vec<(bool, String)>,
}

impl Report {
    pub(crate) fn ok(&mut self, what: impl Into<String>) {
        self.lines.push((true, what.into()));
    }
    pub(crate) fn fix(&mut self, what: impl Into<String>) {
        self.lines.push((false, what.into()));
    }
}

pub fn main(mut args: lexopt::Parser) -> ExitCode {
    let mut repo = Repo::default();
    let mut host = None;
    loop {
        let arg = match args.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => return cli::usage(COMMAND, e),
        };
        let parsed: Result<(), String> = match arg {
            Long("host") => text(args.value()).map(|v| host = Some(v)),
            Short('h') | Long("help") => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            Long(flag) => {
                let flag = flag.to_string();
                repo.take(&flag, &mut args)
                    .unwrap_or_else(|| Err(format!("invalid option '--{flag}'")))
            }
            other => Err(other.unexpected().to_string()),
        };
        if let Err(e) = parsed {
            return cli::usage(COMMAND, e);
        }
    }
    let dir = match repo.dir() {
        Ok(d) => d,
        Err(e) => return cli::usage(COMMAND, e),
    };
    let mut report = Report { lines: Vec::new() };
    let hosts = match host.as_deref() {
        None => hosts_in(&dir),
        Some(word) => match Host::parse(word) {
            Some(h) => vec![h],
            None => {
                return cli::usage(
                    COMMAND,
                    format!("no host {word:?}: claude, codex or gemini"),
                );
            }
        },
    };
    let servers: Vec<Option<Value>> = hosts
        .iter()
        .map(|h| server_entry(*h, &dir, &mut report))
        .collect();
    // A server file that exists but cannot be read names no hub: checking
    // the default one instead would report a second, wrong hub.
    let unreadable = hosts
        .iter()
        .zip(&servers)
        .any(|(h, s)| s.is_none() && h.server_file(&dir).exists());
    let server = servers.into_iter().flatten().next();
    let env = |key: &str| {
        server
            .as_ref()
            .and_then(|s| s["env"][key].as_str())
            .map(str::to_string)
    };
    let guessed = repo.hub.is_none() && env("CAUCUS_HUB_URL").is_none() && unreadable;
    let hub = match hub_url(repo.hub.take().or_else(|| env("CAUCUS_HUB_URL"))) {
        Ok(h) => h,
        Err(e) => return cli::usage(COMMAND, e),
    };
    let name = repo
        .name
        .take()
        .or_else(|| env("CAUCUS_PROJECT"))
        .or_else(|| Some(dir.file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    let client = HubClient::new(&hub);
    let up = !guessed && hub_answers(&client, &mut report);
    for h in &hosts {
        hooks(*h, &dir, &mut report);
        trust::check(*h, &dir, &mut report);
    }
    if up {
        identity(&client, &name, &mut report);
    }
    state_folder(&mut report);

    let problems = report.lines.iter().filter(|(ok, _)| !ok).count();
    for (ok, what) in &report.lines {
        println!("{} {what}", if *ok { "ok " } else { "fix" });
    }
    if problems == 0 {
        println!("all well: an agent here joins {hub} as {name}");
        ExitCode::SUCCESS
    } else {
        println!("{problems} thing(s) to fix");
        ExitCode::from(1)
    }
}

/// This binary, as a host would name it, resolved.
fn this_binary() -> Option<PathBuf> {
    std::env::current_exe().ok()?.canonicalize().ok()
}

/// Whether `command` (a path, or a name looked up on `PATH`) is this binary.
fn runs_this_binary(command: &str) -> bool {
    let Some(me) = this_binary() else {
        return false;
    };
    let path = Path::new(command);
    let found = if path.components().count() > 1 {
        Some(path.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .flat_map(|p| [p.join(command), p.join(format!("{command}.exe"))])
                .find(|p| p.is_file())
        })
    };
    found
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| p == me)
}

fn read_json(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{} is not valid JSON ({e})", path.display())),
    }
}

/// The hosts wired in `dir` (any of their files there); Claude Code when
/// none is.
fn hosts_in(dir: &Path) -> Vec<Host> {
    let found: Vec<Host> = Host::ALL
        .into_iter()
        .filter(|h| h.server_file(dir).exists() || h.hooks(dir).0.exists())
        .collect();
    if found.is_empty() {
        vec![Host::Claude]
    } else {
        found
    }
}

/// A host's `caucus` server entry, checked.
fn server_entry(host: Host, dir: &Path, report: &mut Report) -> Option<Value> {
    let path = host.server_file(dir);
    let setup = format!("`caucus setup {}`", host.word());
    if !path.exists() {
        report.fix(format!(
            "no {}: run {setup} here (or add the caucus server to your host's MCP \
             configuration, see docs/CONNECTORS.md)",
            path.display()
        ));
        return None;
    }
    let server = if host == Host::Codex {
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|text| CodexConfig::parse(&text, &path.display().to_string()));
        match parsed {
            Ok(config) => config.server(),
            Err(e) => {
                report.fix(e);
                return None;
            }
        }
    } else {
        match read_json(&path) {
            Ok(c) => c
                .map(|c| c["mcpServers"]["caucus"].clone())
                .filter(Value::is_object),
            Err(e) => {
                report.fix(format!("{e}: fix it, then run {setup}"));
                return None;
            }
        }
    };
    let Some(server) = server else {
        report.fix(format!(
            "{} has no caucus server: run {setup}",
            path.display()
        ));
        return None;
    };
    let command = server["command"].as_str().unwrap_or_default();
    if !runs_this_binary(command) {
        report.fix(format!(
            "the caucus server in {} runs {command:?}, not this caucus ({}): run {setup} again",
            path.display(),
            this_binary().map_or_else(|| "?".into(), |p| p.display().to_string())
        ));
    } else if server["args"].get(0).and_then(Value::as_str) != Some("bridge") {
        report.fix(format!(
            "the caucus server in {} does not run `bridge`: run {setup} again",
            path.display()
        ));
    } else {
        report.ok(format!(
            "{}: the caucus server runs this binary's bridge",
            path.display()
        ));
        if server["args"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "--channel"))
        {
            report.ok(
                "channel mode: start Claude Code with --dangerously-load-development-channels \
                 server:caucus; if it says \"channels feature is not currently available\", \
                 Anthropic has not enabled the preview for this account and the hooks deliver",
            );
        }
    }
    Some(server)
}

/// The hooks `caucus setup` installs for `host`.
fn hooks(host: Host, dir: &Path, report: &mut Report) {
    let (path, events) = host.hooks(dir);
    let setup = format!("`caucus setup {}`", host.word());
    let settings = match read_json(&path) {
        Ok(Some(s)) => s,
        Ok(None) => {
            report.fix(format!(
                "no {}: without its hooks an agent does not hear the room between turns; run \
                 {setup}",
                path.display()
            ));
            return;
        }
        Err(e) => {
            report.fix(format!("{e}: fix it, then run {setup}"));
            return;
        }
    };
    let mut missing = Vec::new();
    for (event, word) in events {
        let commands: Vec<&str> = settings["hooks"][event]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["hooks"].as_array())
            .flatten()
            .filter_map(|h| h["command"].as_str())
            .collect();
        let ours = commands
            .iter()
            .find(|c| c.contains(&format!(" hook {word}")));
        match ours {
            Some(c) if runs_this_binary(&first_word(c)) => {}
            Some(_) => missing.push(format!("{event} (runs another caucus)")),
            None => missing.push(event.to_string()),
        }
    }
    if missing.is_empty() {
        report.ok(format!(
            "{}: the caucus hooks run this binary",
            path.display()
        ));
    } else {
        report.fix(format!(
            "{}: hooks missing or stale: {}; run {setup}",
            path.display(),
            missing.join(", ")
        ));
    }
}

fn hub_answers(client: &HubClient, report: &mut Report) -> bool {
    match client.version() {
        Ok(v) => {
            report.ok(format!(
                "the hub at {} answers (version {})",
                client.base(),
                v.version
            ));
            true
        }
        Err(CallError::Unreachable(e)) => {
            report.fix(format!(
                "the hub at {} does not answer ({e}): start it with `caucus hub` (or `caucus \
                 service install` to keep it running)",
                client.base()
            ));
            false
        }
        Err(e) => {
            report.fix(format!(
                "{} did not answer /version as a caucus hub ({e}): is it one? Check the URL",
                client.base(),
            ));
            false
        }
    }
}

/// The program of a shell command line as `caucus setup` writes it: a
/// plain word, or one in single or double quotes.
fn first_word(command: &str) -> String {
    let command = command.trim_start();
    for quote in ['\'', '"'] {
        if let Some(rest) = command.strip_prefix(quote) {
            return rest.split(quote).next().unwrap_or_default().to_string();
        }
    }
    command
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn identity(client: &HubClient, name: &str, report: &mut Report) {
    let Some(token) = kept_token(client.base(), name) else {
        report.ok(format!(
            "no agent has joined as {name:?} from this machine yet: the agent's `join` does it"
        ));
        return;
    };
    match client.peek(&token, false) {
        Ok(peek) => report.ok(format!(
            "{name:?} is joined; {} message(s) wait for it",
            peek.pending
        )),
        Err(e) if e.status() == Some(401) => report.fix(format!(
            "the token kept for {name:?} is one the hub does not know (it was reset, or the \
             agent left): the agent's next `join` takes the name again"
        )),
        Err(e @ CallError::Unreachable(_)) => {
            report.fix(format!("the hub stopped answering ({e})"))
        }
        Err(e) => report.fix(format!("{e}, for {name:?}")),
    }
}

fn state_folder(report: &mut Report) {
    let dir = state_dir();
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    let wrote = private_dir(&dir).and_then(|()| std::fs::write(&probe, b"x"));
    let _ = std::fs::remove_file(&probe);
    match wrote {
        Ok(()) => report.ok(format!(
            "{} is writable: the bridge and the watcher can keep tokens",
            dir.display()
        )),
        Err(e) => report.fix(format!(
            "{} is not writable ({e}): the bridge cannot keep its token nor the watcher run; \
             fix its permissions or set CAUCUS_STATE_DIR",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_of_a_hook_command_is_found() {
        assert_eq!(first_word("/usr/bin/caucus hook stop"), "/usr/bin/caucus");
        assert_eq!(first_word("'/tmp/a b/caucus' hook stop"), "/tmp/a b/caucus");
        assert_eq!(
            first_word("\"C:\\x y\\caucus.exe\" hook stop"),
            "C:\\x y\\caucus.exe"
        );
    }
}
