//! `caucus bridge`: the MCP server (`crate::mcp`) over stdio, one process
//! per agent session.
//!
//! This is the stdio transport and little else: one JSON-RPC message per
//! line in, whole lines out on stdout (logs go to stderr), lines over
//! 4 MiB refused unread. The session ends when the host closes stdin or
//! sends SIGTERM, SIGINT or SIGHUP: queued tool calls get a few seconds to
//! finish, then the agent leaves the room and its token file goes.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client::{HubClient, check_hub_url, env_flag};
use crate::mcp::session::{self, Session};
use crate::mcp::{Out, Server};
use crate::shared::cli;

/// How long EOF waits for queued tool calls before leaving anyway.
const DRAIN: Duration = Duration::from_secs(5);
/// A line longer than this is refused unread rather than buffered.
const MAX_LINE: usize = 4 << 20;

pub const HELP: &str = "\
caucus bridge: the caucus tools for an MCP host, over stdio

Usage: caucus bridge [--channel]

Start it from the host's MCP configuration, for example .mcp.json:
  {\"mcpServers\": {\"caucus\": {\"command\": \"caucus\", \"args\": [\"bridge\"],
    \"env\": {\"CAUCUS_HUB_URL\": \"http://127.0.0.1:8765\"}}}}

It stays dormant until the agent calls setup, then join.

  --channel  Claude Code channel mode: push room messages into the session
             as notifications/claude/channel once the model confirmed it
             sees them (start Claude Code with
             --dangerously-load-development-channels server:caucus)

Environment:
  CAUCUS_HUB_URL           hub to use [default: http://127.0.0.1:8765]
  CAUCUS_PROJECT           name to join under [default: the working directory's name]
  CAUCUS_ALLOW_REMOTE_HUB  1 allows plain http to a host that is not loopback
  CAUCUS_LOG               log level on stderr [default: warn]
";

pub fn main(mut args: lexopt::Parser) -> ExitCode {
    let mut channel = false;
    loop {
        match args.next() {
            Ok(None) => break,
            Ok(Some(lexopt::Arg::Long("channel"))) => channel = true,
            Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            Ok(Some(other)) => return cli::usage("caucus bridge", other.unexpected()),
            Err(e) => return cli::usage("caucus bridge", e),
        }
    }
    let url = std::env::var("CAUCUS_HUB_URL").unwrap_or_else(|_| "http://127.0.0.1:8765".into());
    let hub = match check_hub_url(&url, env_flag("CAUCUS_ALLOW_REMOTE_HUB")) {
        Ok(u) => u,
        Err(e) => return cli::usage("caucus bridge", e),
    };
    // Before any other thread starts, so that every thread inherits the mask.
    let signals = block_signals();
    warn_if_no_hub(&hub);
    let (mut server, drained) =
        Server::over_stdio(HubClient::new(&hub), Out::new(std::io::stdout()));
    if channel {
        server.enable_channel();
    }
    let shared = server.session();
    leave_on_signals(signals, Arc::clone(&shared));
    read_all(&mut server, &mut std::io::stdin().lock());
    // EOF: the host ended the session. Let the worker finish what it was
    // given, briefly, then leave the room.
    server.stop_taking_calls();
    let _ = drained.recv_timeout(DRAIN);
    session::shutdown(&shared);
    ExitCode::SUCCESS
}

/// Hosts show a dormant bridge as connected even when its hub is down:
/// say so on stderr (the host's MCP log) at once, without holding up the
/// handshake.
fn warn_if_no_hub(hub: &str) {
    let hub = hub.to_string();
    let spawned = std::thread::Builder::new()
        .name("hub-check".into())
        .spawn(move || {
            let client = HubClient::new(&hub);
            match client.get("/version", None, Some(Duration::from_secs(3))) {
                Ok(a) if a.status == 200 && a.body["version"].is_string() => {}
                Ok(a) => eprintln!(
                    "caucus bridge: {hub} answered HTTP {} to /version: is it a caucus hub?",
                    a.status
                ),
                Err(e) => eprintln!(
                    "caucus bridge: the hub at {hub} does not answer ({e}); start it with \
                     `caucus hub`, or set CAUCUS_HUB_URL. The tools say so until it answers."
                ),
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot check the hub: {e}");
    }
}

/// The signals that end a session, blocked in this thread (and so in every
/// thread started after it); `None` where that is not possible.
#[cfg(unix)]
fn block_signals() -> Option<libc::sigset_t> {
    // SAFETY: the set is initialised by sigemptyset before any other use,
    // and pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            log::warn!("cannot take over signals: a signal will end the bridge without leaving");
            return None;
        }
        Some(set)
    }
}

/// Hosts end a bridge by closing its stdin, or by a signal (Codex's app
/// server sends SIGTERM; a terminal sends SIGINT or SIGHUP). Either way the
/// agent leaves the room and its token file goes, so no ghost peer stays
/// behind to collect messages nobody reads. The signals are blocked in
/// every thread and taken by one thread that waits for them, so the leave
/// runs as ordinary code, not in a signal handler.
#[cfg(unix)]
fn leave_on_signals(blocked: Option<libc::sigset_t>, shared: Arc<Mutex<Session>>) {
    let Some(set) = blocked else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signal: libc::c_int = 0;
            // SAFETY: sigwait reads the set, initialised by block_signals,
            // and writes the signal number into our local.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                log::info!("signal {signal}: leaving the room");
                session::shutdown(&shared);
                std::process::exit(0);
            }
        });
    if let Err(e) = spawned {
        // Nobody would take them: let signals end the process as usual.
        // SAFETY: as in block_signals.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
        log::warn!("cannot start the signal thread: {e}");
    }
}

#[cfg(not(unix))]
fn block_signals() -> Option<()> {
    None
}

#[cfg(not(unix))]
fn leave_on_signals(_blocked: Option<()>, _shared: Arc<Mutex<Session>>) {}

/// Serves every line of `input`, writing answers to `out`, against the hub
/// at `hub_url`, with tool calls run inline. No threads and no exit: the
/// fuzz target drives the JSON-RPC loop through this.
pub fn serve_lines(input: &[u8], out: impl Write + Send + 'static, hub_url: &str) {
    let mut server = Server::inline(HubClient::new(hub_url), Out::new(out));
    read_all(&mut server, &mut std::io::BufReader::new(input));
}

/// The loop: one line, one message, until EOF or a read error.
fn read_all(server: &mut Server, reader: &mut impl BufRead) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_line(reader, &mut line) {
            Ok(0) => return,
            Ok(_) if line.len() > MAX_LINE => server.refuse_oversized(),
            Ok(_) => server.handle_line(&line),
            Err(e) => {
                log::error!("reading stdin: {e}");
                return;
            }
        }
    }
}

/// Reads up to a newline, keeping at most `MAX_LINE + 1` bytes of it.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if line.len() <= MAX_LINE {
            let room = MAX_LINE + 1 - line.len();
            line.extend_from_slice(&chunk[..n.min(room)]);
        }
        total += n;
        reader.consume(n);
        if done {
            return Ok(total);
        }
    }
}
