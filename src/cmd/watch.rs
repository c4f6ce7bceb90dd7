//! `caucus watch`: long-poll the hub with an agent's token, print what arrives,
//! acknowledge it, and exit. The exit is what wakes a turn-based agent, so the
//! stdout lines and the exit codes are a contract scripts depend on.
//!
//! It never registers: it polls with the token the bridge was given.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use serde_json::Value;

use crate::client::{CallError, HubClient, Listener, Received, hub_url};
use crate::shared::cli::{self, seconds, text};
use crate::shared::lines;
use crate::shared::wire::{self, Message};

/// Printed one or more messages.
pub const EXIT_MESSAGE: u8 = 0;
/// The hub rejected the token (left, kicked, or expired): re-join.
pub const EXIT_TOKEN: u8 = 1;
// 2 (`cli::EXIT_USAGE`): bad arguments, no token, unreadable token file,
// bad hub URL.
/// The operator stopped the room: do not relaunch.
pub const EXIT_STOP: u8 = 3;
/// The hub stayed unreachable for `--give-up` seconds.
pub const EXIT_UNREACHABLE: u8 = 4;
/// Another listener took the agent's one listening slot.
pub const EXIT_REPLACED: u8 = 5;

/// The line printed for the operator's stop, byte for byte as caucus-mcp.
pub const STOP_LINE: &str = "[caucus] STOP -- operator stopped the room; watcher exiting.";

pub const HELP: &str = "\
caucus watch: wait for messages to this agent, print them, and exit

Usage: caucus watch [--hub URL] [--token T | --token-file PATH] [OPTIONS]

Options:
  --hub URL           hub to poll [env: CAUCUS_HUB_URL] [default: http://127.0.0.1:8765]
  --token T           the agent's token (visible in `ps`; prefer --token-file)
  --token-file PATH   read the token from this file
                      (precedence: --token, --token-file, then env CAUCUS_TOKEN)
  --timeout SECONDS   one long-poll's length; the hub caps it at 25 [default: 25]
  --give-up SECONDS   exit 4 after the hub is unreachable this long [default: 600]
  --json              print each message as one JSON object per line
  --push codex        run inside Codex: start a turn in this session for each
                      batch (through Codex's app-server) and keep watching,
                      instead of printing and exiting; a busy session's batch
                      waits for its turn to end. Falls back to printing and
                      exiting when there is no session or app-server
                      [env: CAUCUS_CODEX_PUSH=1]
  -h, --help          print this help

Output: one line per message,
  [caucus] msg <sender> -> <recipient>: <content>
each further line of a message's content on a line of its own that begins
with \"  | \" (only the first line of a message begins with [caucus]),
and on the operator's stop
  [caucus] STOP -- operator stopped the room; watcher exiting.

Exit codes:
  0  printed one or more messages (they are acknowledged)
  1  the hub rejected the token: join again for a new one
  2  usage error: bad flag, no token, unreadable token file, bad hub URL
  3  the operator stopped the room: do not relaunch
  4  the hub stayed unreachable for --give-up seconds
  5  another listener took this agent's slot (a newer watcher, or the
     agent's listen): this one steps aside; relaunch only if that is wrong

Plain http to a host other than loopback is refused unless
CAUCUS_ALLOW_REMOTE_HUB=1: the token would cross the network in clear.
";

struct Config {
    hub: String,
    token: String,
    timeout: f64,
    give_up: Duration,
    json: bool,
    /// `--push codex`, where Codex runs it.
    push: Option<crate::hosts::codex_push::Target>,
}

fn parse(mut args: lexopt::Parser) -> Result<Option<Config>, String> {
    let mut hub = None;
    let mut token = None;
    let mut token_file: Option<PathBuf> = None;
    let mut timeout = 25.0;
    let mut give_up = 600.0;
    let mut json = false;
    let mut push = crate::client::env_flag("CAUCUS_CODEX_PUSH");
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            Long("hub") => hub = Some(text(args.value())?),
            Long("token") => token = Some(text(args.value())?),
            Long("token-file") => token_file = Some(PathBuf::from(text(args.value())?)),
            Long("timeout") => timeout = seconds(&text(args.value())?, "--timeout", true)?,
            Long("give-up") => give_up = seconds(&text(args.value())?, "--give-up", true)?,
            Long("json") => json = true,
            Long("push") => match text(args.value())?.as_str() {
                "codex" => push = true,
                other => return Err(format!("--push: {other:?} is not a host (codex)")),
            },
            Short('h') | Long("help") => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let hub = hub_url(hub)?;
    let token = match (token, token_file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?,
        (None, None) => std::env::var("CAUCUS_TOKEN").unwrap_or_default(),
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err("no token: give --token, --token-file or CAUCUS_TOKEN".into());
    }
    let push = if push {
        let target = crate::hosts::codex_push::Target::from_env();
        if target.is_none() {
            eprintln!(
                "caucus watch: --push codex outside a Codex session (no CODEX_THREAD_ID): printing and exiting as usual"
            );
        }
        target
    } else {
        None
    };
    Ok(Some(Config {
        hub,
        token,
        timeout,
        give_up: Duration::from_secs_f64(give_up),
        json,
        push,
    }))
}

/// The text for one message: one line that begins with `[caucus]`, then a
/// continuation line for each further line of its content (see `lines`),
/// so no sender can print a line that passes for the watcher's own.
pub fn render(msg: &Message) -> String {
    let head = format!(
        "[caucus] msg {} -> {}: ",
        lines::one_line(&msg.sender),
        lines::one_line(&msg.recipient),
    );
    lines::with_content(&head, &msg.content)
}

/// Writes a line and flushes; a closed stdout ends the watcher quietly.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(i32::from(EXIT_MESSAGE));
    }
}

pub fn main(args: lexopt::Parser) -> ExitCode {
    let config = match parse(args) {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => return cli::usage("caucus watch", e),
    };
    ExitCode::from(watch(&config))
}

fn watch(config: &Config) -> u8 {
    let client = HubClient::new(&config.hub);
    let mut backoff = Duration::from_secs(1);
    let mut failing_since: Option<Instant> = None;
    // The first poll says `ack_seq=0`: it acknowledges nothing, but tells the
    // hub this client acknowledges, so what it hands out and we never print
    // (killed mid-poll) comes back on the next run.
    let mut listener = Listener::new(&client, &config.token, 0);
    loop {
        let problem = match listener.poll(config.timeout) {
            Err(CallError::Unreachable(e)) => format!("hub unreachable at {}: {e}", config.hub),
            Err(e) if e.status() == Some(401) => {
                eprintln!("caucus watch: the hub rejected the token; join again for a fresh one");
                return EXIT_TOKEN;
            }
            Err(e) if e.is(409, "already_listening") => {
                eprintln!(
                    "caucus watch: another listener took this agent's slot (one listener \
                     per agent); stepping aside"
                );
                return EXIT_REPLACED;
            }
            Err(e) => e.to_string(),
            Ok(got) => {
                let batch = Batch::of(&got, config.json);
                if let Some(code) = deliver(&mut listener, config, &batch) {
                    return code;
                }
                backoff = Duration::from_secs(1);
                failing_since = None;
                continue;
            }
        };
        let since = *failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= config.give_up {
            eprintln!(
                "caucus watch: {problem}; giving up after {:.0} s",
                config.give_up.as_secs_f64()
            );
            return EXIT_UNREACHABLE;
        }
        eprintln!(
            "caucus watch: {problem}; retrying in {} s",
            backoff.as_secs()
        );
        thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(15));
    }
}

/// What one `/receive` answer means for the watcher: the lines to print,
/// whether the operator stopped the room, and the seq to acknowledge.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub lines: Vec<String>,
    pub stop: bool,
    pub max_seq: u64,
    /// Whether any line is a message from an agent or the operator (not
    /// only the stop or the hub's notices).
    pub messages: bool,
}

impl Batch {
    /// The lines for what one poll brought (the hub's notices ride along
    /// with a real message; alone they are acknowledged and waited past,
    /// never a wake, a model turn).
    pub fn of(got: &Received, json: bool) -> Batch {
        let mut batch = Batch {
            stop: got.stop,
            max_seq: got.max_seq,
            messages: !got.messages.is_empty(),
            ..Batch::default()
        };
        let line = |m: &Message| {
            if json {
                serde_json::to_string(m).unwrap_or_default()
            } else {
                render(m)
            }
        };
        batch.lines = got.all().iter().map(line).collect();
        match &got.stop_message {
            Some(stop) if json => batch.lines.push(line(stop)),
            Some(_) => batch.lines.push(STOP_LINE.to_string()),
            None => {}
        }
        batch
    }
}

/// Reads a hub answer (any JSON at all: it comes off the network). `None`
/// when it is not a `/receive` answer.
pub fn read_batch(answer: &Value, json: bool) -> Option<Batch> {
    let answer: wire::Batch = serde_json::from_value(answer.clone()).ok()?;
    let got = Received::sort(answer.messages, answer.mode, 0);
    Some(Batch::of(&got, json))
}

/// Prints a batch, acknowledges it, and says how to exit (`None`: poll again).
/// In push mode a batch of messages becomes a turn of the Codex session and
/// the watcher goes on; the stop, and a batch it cannot push, are printed.
fn deliver(listener: &mut Listener, config: &Config, batch: &Batch) -> Option<u8> {
    let pushed = match &config.push {
        Some(target) if batch.messages && !batch.stop => {
            let text = format!(
                "{}\n{}",
                crate::hosts::codex_push::TRIGGER,
                batch.lines.join("\n")
            );
            match crate::hosts::codex_push::push(target, &text, crate::hosts::codex_push::HOLD) {
                Ok(()) => true,
                Err(why) => {
                    eprintln!(
                        "caucus watch: cannot push into the Codex session ({why}); printing instead"
                    );
                    false
                }
            }
        }
        _ => false,
    };
    if !pushed && (batch.messages || batch.stop) {
        for line in &batch.lines {
            emit(line);
        }
    }
    listener.handed_over(batch.max_seq);
    if let Err(e) = listener.ack() {
        // The hub will hand these out again; that is the safe side.
        eprintln!("caucus watch: could not acknowledge ({e})");
    }
    if batch.stop {
        return Some(EXIT_STOP);
    }
    (batch.messages && !pushed).then_some(EXIT_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(sender: &str, to: &str, content: &str, kind: &str, seq: u64) -> Value {
        json!({"id": format!("{seq:012x}"), "sender": sender, "recipient": to,
               "content": content, "kind": kind, "ts": 0.0, "seq": seq,
               "origin": if sender == "hub" { "hub" } else { "agent" }})
    }

    #[test]
    fn a_batch_prints_messages_then_the_stop_and_acks_the_highest_seq() {
        let answer = json!({"messages": [
            message("a", "b", "x", "message", 7),
            message("hub", "all", "stop", "control", 0),
        ], "mode": "stopped"});
        let b = read_batch(&answer, false).unwrap();
        assert_eq!(b.lines, ["[caucus] msg a -> b: x", STOP_LINE]);
        assert!(b.stop && b.messages);
        assert_eq!(b.max_seq, 7);
        let raw = read_batch(&answer, true).unwrap();
        assert_eq!(raw.lines.len(), 2);
        assert_eq!(
            serde_json::from_str::<Value>(&raw.lines[1]).unwrap()["kind"],
            "control"
        );
        assert_eq!(read_batch(&json!({"messages": 3}), false), None);
        assert_eq!(read_batch(&json!([1]), true), None);
    }

    #[test]
    fn notices_alone_are_no_wake() {
        let answer = json!({"messages": [message("hub", "all", "bob joined", "system", 3)],
                            "mode": "running"});
        let b = read_batch(&answer, false).unwrap();
        assert!(!b.messages && !b.stop);
        assert_eq!(b.max_seq, 3);
    }

    #[test]
    fn renders_the_upstream_line() {
        let m: Message =
            serde_json::from_value(message("a", "#ops", "hi there", "message", 1)).unwrap();
        assert_eq!(render(&m), "[caucus] msg a -> #ops: hi there");
    }
}
