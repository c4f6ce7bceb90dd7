//! `caucus setup claude|codex|gemini`: wires a repository for an agent
//! host in one command: the `caucus` MCP server in the host's project
//! configuration, and the hooks that keep the agent hearing the room.
//!
//! - claude: `.mcp.json`, hooks in `.claude/settings.json` (`Stop`,
//!   `UserPromptSubmit`, `SessionStart`, `PreToolUse`; timeouts in seconds);
//! - codex: `[mcp_servers.caucus]` in `.codex/config.toml`, hooks in
//!   `.codex/hooks.json` (the same events and shapes);
//! - gemini: `.gemini/settings.json`, both the server and the hooks
//!   (`AfterAgent`, `BeforeAgent`, `SessionStart`, `BeforeTool`; ms).
//!
//! It merges: every entry it did not write stays as it was; its own
//! entries (the `caucus` server, hook commands running `caucus hook`) are
//! replaced, so running it twice changes nothing. It never writes through
//! a symbolic link, and a file it cannot read as what it should be is left
//! alone with an error, before anything is written. Files are written
//! whole through a temporary file renamed into place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lexopt::prelude::*;
use serde_json::{Map, Value, json};

use super::codex_toml::{self, CodexConfig};
use crate::client::hub_url;
use crate::shared::cli::{self, text};
use crate::shared::files;
use crate::shared::platform::shell_quote;

/// How this command signs what it prints on stderr.
const COMMAND: &str = "caucus setup";

pub const HELP: &str = "\
caucus setup: wire a repository for an agent host

Usage: caucus setup <claude|codex|gemini> [--hub URL] [--name NAME] [--dir DIR]
                    [--channel] [--trust]

claude  .mcp.json (the caucus server: this binary's bridge); Stop,
        UserPromptSubmit, SessionStart, PreToolUse and PermissionRequest
        hooks and `mcp__caucus` in permissions.allow (the room's own tools
        run without a prompt) in .claude/settings.json
codex   [mcp_servers.caucus] with default_tools_approval_mode = \"approve\" in
        .codex/config.toml and the same hooks in .codex/hooks.json
gemini  the caucus server and AfterAgent, BeforeAgent, SessionStart and
        BeforeTool hooks in .gemini/settings.json
Each hook is a `caucus hook` command; entries it did not write stay.

Options:
  --hub URL    the hub [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --name NAME  the agent's name [default: the directory's name]
  --dir DIR    the repository [default: the current directory]
  --channel    claude only: the bridge also pushes messages into the live
               session (Claude Code channels, a research preview: start
               Claude Code with --dangerously-load-development-channels
               server:caucus)
  --trust      gemini only: mark the caucus server trusted (\"trust\": true),
               so Gemini CLI calls every caucus tool without asking, and
               `gemini -p` (which cannot ask) can use them at all. It trusts
               only this server's tools, not the shell or other servers.

Exit codes: 0 done (or nothing to change), 1 refused (the reason on stderr), 2 usage.
";

/// How long the host lets the Stop hook run, and how long it waits.
const STOP_TIMEOUT: u64 = 60;
const STOP_WAIT: u64 = 45;
/// How long the host lets the PermissionRequest hook run, and how long the
/// request waits for the operator before the host's own dialog decides.
const PERMISSION_TIMEOUT: u64 = 120;
const PERMISSION_WAIT: u64 = 100;

/// The options `setup` and `doctor` share: the hub, the agent's name and
/// the repository.
#[derive(Default)]
pub struct Repo {
    pub hub: Option<String>,
    pub name: Option<String>,
    pub dir: Option<PathBuf>,
}

impl Repo {
    /// Takes the value of `--hub`, `--name` or `--dir` (`flag`, without
    /// dashes) from `args`; `None` for any other flag.
    pub fn take(&mut self, flag: &str, args: &mut lexopt::Parser) -> Option<Result<(), String>> {
        let slot = match flag {
            "hub" => &mut self.hub,
            "name" => &mut self.name,
            "dir" => {
                return Some(text(args.value()).map(|v| self.dir = Some(PathBuf::from(v))));
            }
            _ => return None,
        };
        Some(text(args.value()).map(|v| *slot = Some(v)))
    }

    /// The repository: `--dir`, else the working directory.
    pub fn dir(&mut self) -> Result<PathBuf, String> {
        self.dir
            .take()
            .map_or_else(std::env::current_dir, Ok)
            .map_err(|e| format!("no working directory: {e}"))
    }
}

pub fn main(mut args: lexopt::Parser) -> ExitCode {
    let mut host = None;
    let mut repo = Repo::default();
    let mut channel = false;
    let mut trust = false;
    loop {
        let arg = match args.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => return cli::usage(COMMAND, e),
        };
        let parsed: Result<(), String> = match arg {
            Value(v) if host.is_none() => {
                host = Some(v.to_string_lossy().into_owned());
                Ok(())
            }
            Long("channel") => {
                channel = true;
                Ok(())
            }
            Long("trust") => {
                trust = true;
                Ok(())
            }
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
    let host = match host.as_deref() {
        Some(word) => match Host::parse(word) {
            Some(h) => h,
            None => {
                return cli::usage(
                    COMMAND,
                    format!("no setup for {word:?}: claude, codex or gemini"),
                );
            }
        },
        None => {
            print!("{HELP}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    if channel && host != Host::Claude {
        return cli::usage(COMMAND, "--channel is for claude (Claude Code channels)");
    }
    if trust && host != Host::Gemini {
        return cli::usage(
            COMMAND,
            "--trust is for gemini (Claude Code and Codex get the room's tools allowed anyway)",
        );
    }
    let hub = match hub_url(repo.hub.take()) {
        Ok(h) => h,
        Err(e) => return cli::usage(COMMAND, e),
    };
    let dir = match repo.dir() {
        Ok(d) => d,
        Err(e) => return cli::fail(COMMAND, e),
    };
    let exe = match invoked_path() {
        Ok(p) => p.display().to_string(),
        Err(e) => return cli::fail(COMMAND, format!("cannot find this program's path: {e}")),
    };
    // The name is written down, so the hooks find the agent the bridge
    // joined as whatever folder the agent's shell is in.
    let name = match repo.name.take() {
        Some(n) => n,
        None => match dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|f| f.to_string_lossy().into_owned()))
        {
            Some(n) => n,
            None => {
                return cli::fail(
                    COMMAND,
                    format!("{} has no folder name: give --name", dir.display()),
                );
            }
        },
    };
    let wiring = Wiring {
        exe: &exe,
        hub: &hub,
        name: &name,
        channel,
        trust,
    };
    match wire(host, &dir, &wiring) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fail(COMMAND, e),
    }
}

/// This program as the user ran it: a package manager's link (a versioned
/// path behind it) stays a link, so an upgrade does not break the wiring.
/// `argv[0]` made absolute, or found on `PATH`; else the running binary.
fn invoked_path() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let Some(arg0) = std::env::args_os().next().map(PathBuf::from) else {
        return Ok(exe);
    };
    let same = |p: &Path| {
        p.canonicalize()
            .ok()
            .zip(exe.canonicalize().ok())
            .is_some_and(|(a, b)| a == b)
    };
    let found = if arg0.components().count() > 1 {
        std::env::current_dir().ok().map(|cwd| cwd.join(&arg0))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(&arg0))
                .find(|p| p.is_file())
        })
    };
    Ok(found.filter(|p| same(p)).unwrap_or(exe))
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

/// Whether a hook entry's command is one of ours.
fn ours(command: &str) -> bool {
    command.contains("caucus") && command.contains(" hook ")
}

/// A host `caucus setup` wires, and where its files are (shared with
/// `caucus doctor`, which checks what setup wrote).
#[derive(Clone, Copy, PartialEq)]
pub enum Host {
    Claude,
    Codex,
    Gemini,
}

impl Host {
    pub const ALL: [Host; 3] = [Host::Claude, Host::Codex, Host::Gemini];

    pub fn parse(word: &str) -> Option<Host> {
        Host::ALL.into_iter().find(|h| h.word() == word)
    }

    pub fn word(self) -> &'static str {
        match self {
            Host::Claude => "claude",
            Host::Codex => "codex",
            Host::Gemini => "gemini",
        }
    }

    /// Where its `caucus` server entry lives.
    pub fn server_file(self, dir: &Path) -> PathBuf {
        match self {
            Host::Claude => dir.join(".mcp.json"),
            Host::Codex => dir.join(".codex").join("config.toml"),
            Host::Gemini => dir.join(".gemini").join("settings.json"),
        }
    }

    /// Where its hooks live, and each host event with the `caucus hook`
    /// event that answers it.
    /// Gemini CLI has no hook that answers a permission prompt.
    pub fn hooks(self, dir: &Path) -> (PathBuf, Vec<(&'static str, &'static str)>) {
        let claude_like = vec![
            ("Stop", "stop"),
            ("UserPromptSubmit", "prompt"),
            ("SessionStart", "session-start"),
            ("PreToolUse", "pre-tool"),
            ("PermissionRequest", "permission"),
        ];
        match self {
            Host::Claude => (dir.join(".claude").join("settings.json"), claude_like),
            Host::Codex => (dir.join(".codex").join("hooks.json"), claude_like),
            Host::Gemini => (
                dir.join(".gemini").join("settings.json"),
                vec![
                    ("AfterAgent", "stop"),
                    ("BeforeAgent", "prompt"),
                    ("SessionStart", "session-start"),
                    ("BeforeTool", "pre-tool"),
                ],
            ),
        }
    }

    /// A hook's timeout in the host's unit (Gemini CLI counts in ms).
    fn timeout(self, seconds: u64) -> Value {
        if self == Host::Gemini {
            json!(seconds * 1000)
        } else {
            json!(seconds)
        }
    }
}

/// What every host's entries are made of.
struct Wiring<'a> {
    exe: &'a str,
    hub: &'a str,
    name: &'a str,
    channel: bool,
    trust: bool,
}

impl Wiring<'_> {
    fn env(&self) -> Value {
        json!({"CAUCUS_HUB_URL": self.hub, "CAUCUS_PROJECT": self.name})
    }

    fn args(&self) -> Vec<&'static str> {
        if self.channel {
            vec!["bridge", "--channel"]
        } else {
            vec!["bridge"]
        }
    }

    /// The hook command for `event` (`stop`, `prompt`, `session-start`).
    fn hook(&self, event: &str) -> String {
        let mut command = format!(
            "{} hook {event} --hub {}",
            shell_quote(self.exe),
            shell_quote(self.hub)
        );
        command.push_str(&format!(" --name {}", shell_quote(self.name)));
        match event {
            "stop" => command.push_str(&format!(" --wait {STOP_WAIT}")),
            "permission" => command.push_str(&format!(" --wait {PERMISSION_WAIT}")),
            _ => {}
        }
        command
    }
}

/// Replaces our entries under `hooks.EVENT` with one group each.
fn merge_hooks(
    settings: &mut Map<String, Value>,
    path: &Path,
    wanted: &[(&str, String, Value)],
) -> Result<(), String> {
    let hooks = settings.entry("hooks").or_insert_with(|| json!({}));
    let Value::Object(hooks) = hooks else {
        return Err(format!("{}: hooks is not an object", path.display()));
    };
    for (event, command, timeout) in wanted {
        let groups = hooks.entry(*event).or_insert_with(|| json!([]));
        let Value::Array(groups) = groups else {
            return Err(format!("{}: hooks.{event} is not a list", path.display()));
        };
        // Our earlier entries go; everything else stays.
        for group in groups.iter_mut() {
            if let Some(Value::Array(list)) = group.get_mut("hooks") {
                list.retain(|h| !h["command"].as_str().is_some_and(ours));
            }
        }
        groups.retain(|g| !g["hooks"].as_array().is_some_and(Vec::is_empty));
        groups.push(json!({"hooks": [{"type": "command", "command": command,
                                      "timeout": timeout}]}));
    }
    Ok(())
}

/// Puts the `caucus` server under `mcpServers`.
fn merge_server(config: &mut Map<String, Value>, path: &Path, w: &Wiring) -> Result<(), String> {
    let servers = config.entry("mcpServers").or_insert_with(|| json!({}));
    if !servers.is_object() {
        return Err(format!("{}: mcpServers is not an object", path.display()));
    }
    servers["caucus"] = json!({"command": w.exe, "args": w.args(), "env": w.env()});
    if w.trust {
        servers["caucus"]["trust"] = json!(true);
    }
    Ok(())
}

/// The room's own tools run without a prompt in Claude Code: `mcp__caucus`
/// (every tool of the caucus server) in `permissions.allow`.
fn allow_room_tools(settings: &mut Map<String, Value>, path: &Path) -> Result<(), String> {
    let permissions = settings.entry("permissions").or_insert_with(|| json!({}));
    let Value::Object(permissions) = permissions else {
        return Err(format!("{}: permissions is not an object", path.display()));
    };
    let allow = permissions.entry("allow").or_insert_with(|| json!([]));
    let Value::Array(allow) = allow else {
        return Err(format!(
            "{}: permissions.allow is not a list",
            path.display()
        ));
    };
    if !allow.iter().any(|r| r == "mcp__caucus") {
        allow.push(json!("mcp__caucus"));
    }
    Ok(())
}

/// Refuses a symbolic link anywhere between the repository and `path`
/// (a `.claude` or `.codex` folder linked to the user's global one would
/// have setup write into the user's own configuration).
fn no_link_below(dir: &Path, path: &Path) -> Result<(), String> {
    let Ok(rest) = path.strip_prefix(dir) else {
        return Ok(());
    };
    let mut at = dir.to_path_buf();
    for part in rest.components() {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "{} is a symbolic link: caucus does not write through links; nothing was \
                 written",
                at.display()
            ));
        }
    }
    Ok(())
}

/// Reads a text file for merging, or "" if there is none; refuses a link.
fn read_text(path: &Path) -> Result<String, String> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(String::new()),
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link: caucus does not write through links",
            path.display()
        )),
        Ok(_) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display())),
    }
}

/// Writes `text` whole (see `files`); `Ok(false)` when it was already so.
fn write_text(path: &Path, text: &str) -> Result<bool, String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    files::write_whole(path, text.as_bytes(), files::Access::AsBefore)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

fn pretty(value: &Map<String, Value>) -> Result<String, String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

fn wire(host: Host, dir: &Path, w: &Wiring) -> Result<(), String> {
    let server_path = host.server_file(dir);
    let (hooks_path, events) = host.hooks(dir);
    let wanted: Vec<(&str, String, Value)> = events
        .iter()
        .map(|(event, word)| {
            let seconds = match *word {
                "stop" => STOP_TIMEOUT,
                "permission" => PERMISSION_TIMEOUT,
                _ => 10,
            };
            (*event, w.hook(word), host.timeout(seconds))
        })
        .collect();
    // Everything is read and merged before anything is written: a refusal
    // changes nothing.
    for path in [&server_path, &hooks_path] {
        no_link_below(dir, path)?;
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut settings = read_object(&hooks_path)?;
    if server_path == hooks_path {
        // Gemini CLI: one file holds the server and the hooks.
        merge_server(&mut settings, &server_path, w)?;
    } else if host == Host::Codex {
        let what = server_path.display().to_string();
        let mut config = CodexConfig::parse(&read_text(&server_path)?, &what)?;
        let env: Vec<(String, String)> = w
            .env()
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let server = codex_toml::Server {
            command: w.exe,
            args: &w.args(),
            env: &env,
        };
        config.set_server(&server, &what)?;
        files.push((server_path, config.text()));
    } else {
        let mut mcp = read_object(&server_path)?;
        merge_server(&mut mcp, &server_path, w)?;
        files.push((server_path, pretty(&mcp)?));
    }
    merge_hooks(&mut settings, &hooks_path, &wanted)?;
    if host == Host::Claude {
        allow_room_tools(&mut settings, &hooks_path)?;
    }
    files.push((hooks_path, pretty(&settings)?));
    for (path, text) in &files {
        let wrote = write_text(path, text)?;
        println!(
            "{} {}",
            if wrote { "wrote" } else { "unchanged" },
            path.display()
        );
    }
    println!("the agent joins {} as {}", w.hub, w.name);
    match host {
        Host::Claude if w.channel => {
            println!(
                "start it here with: claude --dangerously-load-development-channels server:caucus"
            );
            println!(
                "Channels are a Claude Code research preview (v2.1.80 or later, claude.ai \
                 login). After join the agent is asked to confirm it sees pushes; until it \
                 does, the hooks and the watcher deliver. If Claude Code says \"channels \
                 feature is not currently available\", Anthropic has not enabled the preview \
                 for your account: nothing to fix here, the hooks deliver."
            );
        }
        Host::Claude => println!("start it here with: claude"),
        Host::Codex => println!("start it here with: codex"),
        Host::Gemini => println!("start it here with: gemini"),
    }
    println!(
        "{}",
        match host {
            Host::Claude =>
                "On its first start here Claude Code asks you to trust this folder (accept: \
                 until then it ignores the project's permissions.allow and asks before every \
                 caucus tool) and whether to use the project's MCP server \"caucus\" from \
                 .mcp.json (approve it, or the caucus tools do not appear). `caucus doctor` \
                 checks both. Then ask the agent to join the room.",
            Host::Codex =>
                "Codex reads .codex/ only in a project you trust, and runs hooks only once \
                 reviewed and trusted: accept the project, then review the caucus hooks with \
                 /hooks, or they are skipped without a word (`caucus doctor` checks both). The \
                 caucus tools are approved in the config (default_tools_approval_mode), so \
                 `codex exec` can use them. Then ask the agent to join the room.",
            Host::Gemini if w.trust =>
                "Gemini CLI reads .gemini/settings.json in a trusted folder: trust this one \
                 when asked. The caucus server is marked trusted: its tools run without a \
                 prompt (the shell and other tools still ask). Then ask the agent to join.",
            Host::Gemini =>
                "Gemini CLI reads .gemini/settings.json in a trusted folder: trust this one \
                 when asked. It asks before each caucus tool, and `gemini -p` cannot ask: \
                 run setup again with --trust to let the room's tools run. Then ask the agent \
                 to join the room.",
        }
    );
    Ok(())
}
