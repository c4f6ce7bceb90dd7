//! `caucus up ROOM.toml` and `caucus down ROOM.toml`: a room file convenes
//! every seat it names on the hub's launcher (`POST /agents`), starting a
//! local hub first when none answers, and dismisses them again.
//!
//! The file is TOML: an optional `hub` URL, an optional `[defaults]` table,
//! and one `[[seat]]` table per seat with the keys of `POST /agents`
//! (`name`, `runtime`, `mission`, `cwd`, `model`, `command`). A relative
//! `cwd` is the room file's own folder's.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use lexopt::prelude::*;
use toml_edit::{DocumentMut, Item, Table};

use crate::client::{CallError, HubClient, loopback_port, verbs};
use crate::shared::cli::{self, text};
use crate::shared::wire::{Launch, SeatView};

pub const HELP: &str = "\
caucus up / caucus down: convene the seats of a room file, or dismiss them

Usage: caucus up ROOM.toml [--hub URL]
       caucus down ROOM.toml [--hub URL]

up starts every [[seat]] of the file on the hub's launcher (POST /agents);
with no hub answering on loopback, it starts one first (its log in the state
folder) and prints the console's link. down stops the file's seats. The
hub is --hub, else the file's `hub`, else CAUCUS_HUB_URL, else
http://127.0.0.1:8765; the operator token is CAUCUS_OPERATOR_TOKEN, else
the one a hub on this machine keeps.

ROOM.toml:
  hub = \"http://127.0.0.1:8765\"   # optional
  [defaults]                       # optional: any seat key
  runtime = \"claude\"
  [[seat]]
  name = \"planner\"
  mission = \"Agree the plan with critic, then tell everyone\"
  cwd = \".\"                        # relative to this file

Seat keys: name, runtime (claude, codex, gemini, command), mission, cwd,
model, command (for runtime command).

Exit codes: 0 every seat done, 1 the hub refused one, 2 usage, 4 no hub.
";

const COMMAND: &str = "caucus";
const REFUSED: u8 = 1;
const UNREACHABLE: u8 = 4;

/// What a room file holds.
#[derive(Debug)]
pub struct RoomFile {
    pub hub: Option<String>,
    pub seats: Vec<Launch>,
}

const SEAT_KEYS: &[&str] = &["name", "runtime", "mission", "cwd", "model", "command"];

/// Reads a room file's text; `dir` is its folder (for relative `cwd`).
pub fn parse(text: &str, dir: &Path) -> Result<RoomFile, String> {
    let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let first = e.to_string();
        format!(
            "not valid TOML: {}",
            first
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
        )
    })?;
    for (key, _) in doc.iter() {
        if !matches!(key, "hub" | "defaults" | "seat") {
            return Err(format!(
                "unknown key {key:?}: hub, [defaults] and [[seat]] only"
            ));
        }
    }
    let hub = match doc.get("hub") {
        None => None,
        Some(item) => Some(item.as_str().ok_or("hub: a URL in quotes")?.to_string()),
    };
    let empty = Table::new();
    let defaults = match doc.get("defaults") {
        None => &empty,
        Some(item) => item.as_table().ok_or("[defaults] must be a table")?,
    };
    let tables = match doc.get("seat") {
        Some(Item::ArrayOfTables(seats)) => seats.iter().collect::<Vec<_>>(),
        Some(_) => return Err("seat: write each seat as a [[seat]] table".into()),
        None => Vec::new(),
    };
    if tables.is_empty() {
        return Err("no [[seat]]: nothing to convene".into());
    }
    let mut seats: Vec<Launch> = Vec::new();
    for (i, table) in tables.into_iter().enumerate() {
        let what = format!("seat {}", i + 1);
        let value = |key: &str| -> Result<Option<String>, String> {
            match table.get(key).or_else(|| defaults.get(key)) {
                None => Ok(None),
                Some(item) => item
                    .as_str()
                    .map(|s| Some(s.to_string()))
                    .ok_or(format!("{what}: {key} must be a string in quotes")),
            }
        };
        for (key, _) in table.iter().chain(defaults.iter()) {
            if !SEAT_KEYS.contains(&key) {
                return Err(format!(
                    "{what}: unknown key {key:?} (the keys: {})",
                    SEAT_KEYS.join(", ")
                ));
            }
        }
        let name = value("name")?.ok_or(format!("{what}: name is required"))?;
        if seats.iter().any(|s| s.name == name) {
            return Err(format!(
                "{what}: the name {name:?} is taken by another seat"
            ));
        }
        let cwd = match value("cwd")? {
            None => None,
            Some(c) => {
                let path = dir.join(&c);
                let real = path
                    .canonicalize()
                    .map_err(|e| format!("{what}: cwd {c:?}: {e}"))?;
                Some(real.display().to_string())
            }
        };
        seats.push(Launch {
            runtime: value("runtime")?.ok_or(format!("{what} ({name}): runtime is required"))?,
            name,
            mission: value("mission")?,
            cwd,
            model: value("model")?,
            command: value("command")?,
        });
    }
    Ok(RoomFile { hub, seats })
}

/// `caucus up`.
pub fn up(args: lexopt::Parser) -> ExitCode {
    run(args, true)
}

/// `caucus down`.
pub fn down(args: lexopt::Parser) -> ExitCode {
    run(args, false)
}

fn run(mut args: lexopt::Parser, up: bool) -> ExitCode {
    let mut file: Option<PathBuf> = None;
    let mut hub_flag = None;
    loop {
        match args.next() {
            Ok(None) => break,
            Ok(Some(Long("hub"))) => match text(args.value()) {
                Ok(v) => hub_flag = Some(v),
                Err(e) => return cli::usage(COMMAND, e),
            },
            Ok(Some(Short('h') | Long("help"))) => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            Ok(Some(Value(v))) if file.is_none() => file = Some(PathBuf::from(v)),
            Ok(Some(other)) => return cli::usage(COMMAND, other.unexpected()),
            Err(e) => return cli::usage(COMMAND, e),
        }
    }
    let Some(file) = file else {
        return cli::usage(COMMAND, "which room file? caucus up ROOM.toml");
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return cli::usage(COMMAND, format!("{}: {e}", file.display())),
    };
    let dir = file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let room = match parse(&text, &dir) {
        Ok(r) => r,
        Err(e) => return cli::usage(COMMAND, format!("{}: {e}", file.display())),
    };
    let url = match crate::client::hub_url(hub_flag.or(room.hub.clone())) {
        Ok(u) => u,
        Err(e) => return cli::usage(COMMAND, e),
    };
    let hub = HubClient::new(&url);
    if let Err(e) = hub.version() {
        if !up || loopback_port(&url).is_none() {
            eprintln!("caucus: no hub answers at {url} ({e})");
            return ExitCode::from(UNREACHABLE);
        }
        if let Err(e) = start_hub(&url) {
            eprintln!("caucus: no hub answers at {url}, and one could not be started: {e}");
            return ExitCode::from(UNREACHABLE);
        }
    }
    let token = std::env::var("CAUCUS_OPERATOR_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| super::script::local_operator_token(Some(url.clone())));
    let mut refused = false;
    for seat in &room.seats {
        let said = if up {
            let body = serde_json::to_value(seat).unwrap_or_default();
            verbs::read::<SeatView>(hub.post_as("/agents", &body, token.as_deref())).map(|s| {
                format!(
                    "{}: started ({}, pid {}, in {})",
                    s.name, s.runtime, s.pid, s.cwd
                )
            })
        } else {
            let path = format!("/agents/{}", escape(&seat.name));
            verbs::read::<serde_json::Value>(hub.delete_as(&path, token.as_deref()))
                .map(|_| format!("{}: stopped", seat.name))
        };
        match said {
            Ok(line) => println!("{line}"),
            Err(CallError::Unreachable(e)) => {
                eprintln!("caucus: the hub stopped answering ({e})");
                return ExitCode::from(UNREACHABLE);
            }
            Err(e) => {
                refused = true;
                eprintln!("{}: {e}", seat.name);
            }
        }
    }
    if refused {
        ExitCode::from(REFUSED)
    } else {
        ExitCode::SUCCESS
    }
}

/// A name as a path segment: its bytes percent-escaped but for the plain
/// ones.
fn escape(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts a hub on the loopback port of `url`, left running after this
/// command ends (its log in the state folder), and prints its console link.
fn start_hub(url: &str) -> Result<(), String> {
    let port = loopback_port(url).ok_or("not a loopback URL")?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log_path = crate::shared::identity::state_dir().join(format!("hub-{port}.log"));
    if let Some(dir) = log_path.parent() {
        crate::shared::identity::private_dir(dir).map_err(|e| e.to_string())?;
    }
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = crate::shared::platform::direct(
        &exe.to_string_lossy(),
        &[
            "hub".into(),
            "--host=127.0.0.1".into(),
            format!("--port={port}"),
            "--no-browser".into(),
        ],
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no output from the hub")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    // The hub prints these two lines once it listens (or exits, on a
    // refusal: then they never come).
    let listening = lines.next().and_then(Result::ok);
    if listening.is_none() {
        let _ = child.wait();
        return Err(format!("the hub exited; see {}", log_path.display()));
    }
    println!(
        "started a hub on {url} (pid {}, its log: {})",
        child.id(),
        log_path.display()
    );
    if let Some(Ok(console)) = lines.next() {
        println!("{console}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_file_gives_every_seat_its_keys_and_the_defaults() {
        let dir = std::env::temp_dir();
        let room = parse(
            r#"
hub = "http://127.0.0.1:9"
[defaults]
runtime = "claude"
model = "m"
[[seat]]
name = "planner"
mission = """Plan,
then say."""
[[seat]]
name = "critic"
runtime = "codex"
cwd = "."
"#,
            &dir,
        )
        .unwrap();
        assert_eq!(room.hub.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(room.seats.len(), 2);
        assert_eq!(room.seats[0].runtime, "claude");
        assert_eq!(room.seats[0].mission.as_deref(), Some("Plan,\nthen say."));
        assert_eq!(room.seats[1].runtime, "codex");
        assert_eq!(room.seats[1].model.as_deref(), Some("m"));
        let cwd = PathBuf::from(room.seats[1].cwd.clone().unwrap());
        assert_eq!(cwd, dir.canonicalize().unwrap());
    }

    #[test]
    fn the_example_room_reads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let text = std::fs::read_to_string(dir.join("deliberation.toml")).unwrap();
        let room = parse(&text, &dir).unwrap();
        let names: Vec<&str> = room.seats.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["planner", "critic", "summariser"]);
        let runtimes: Vec<&str> = room.seats.iter().map(|s| s.runtime.as_str()).collect();
        assert_eq!(runtimes, ["claude", "codex", "gemini"]);
    }

    #[test]
    fn what_a_room_file_gets_wrong_is_said_with_where() {
        let dir = std::env::temp_dir();
        for (text, why) in [
            ("[[seat]\n", "not valid TOML"),
            ("", "no [[seat]]"),
            (
                "[[seat]]\nruntime = \"claude\"\n",
                "seat 1: name is required",
            ),
            ("[[seat]]\nname = \"a\"\n", "runtime is required"),
            (
                "[[seat]]\nname = \"a\"\nruntime = \"claude\"\ncolour = \"red\"\n",
                "unknown key \"colour\"",
            ),
            (
                "[[seat]]\nname = \"a\"\nruntime = 3\n",
                "runtime must be a string",
            ),
            (
                "[[seat]]\nname = \"a\"\nruntime = \"x\"\n[[seat]]\nname = \"a\"\nruntime = \"x\"\n",
                "taken",
            ),
            (
                "[[seat]]\nname = \"a\"\nruntime = \"x\"\ncwd = \"no/such/dir\"\n",
                "cwd",
            ),
            ("seat = 1\n", "[[seat]] table"),
            ("room = \"x\"\n", "unknown key \"room\""),
        ] {
            let err = parse(text, &dir).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
        assert_eq!(escape("a b+c"), "a%20b%2Bc");
    }
}
