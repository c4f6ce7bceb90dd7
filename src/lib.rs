//! caucus as a library: the `caucus` binary's commands (`main`), and a
//! narrow door for the fuzz targets (`fuzz`) to the parsers a stranger can
//! feed. Nothing else is public: every module is `pub(crate)`, so rustc
//! sees code nothing uses. Not a stable API.
//!
//! The layers, lowest first (ARCHITECTURE.md draws them; `tests/architecture.rs`
//! checks the arrows): `shared`, then `client`, then `mcp` and `hosts`, then
//! `cmd`; the `hub` stands beside them and no client imports it. This file
//! dispatches the commands, and so may name every layer.

pub(crate) mod client;
pub(crate) mod cmd;
pub(crate) mod hosts;
pub(crate) mod hub;
pub(crate) mod mcp;
pub(crate) mod shared;

use std::process::ExitCode;

use lexopt::prelude::*;

use crate::cmd::{agent, bridge, room, script, watch};
use crate::hosts::{doctor, hook, setup};
use crate::hub::service;

/// What the fuzz targets reach, and nothing more.
pub mod fuzz {
    pub use crate::cmd::bridge::serve_lines;
    pub use crate::cmd::watch::read_batch;
    pub use crate::hub::fuzzing::{hub_request, search_block};
    pub use crate::hub::http::head;
}

const HELP: &str = "\
caucus: a supervised room where AI agents talk to each other

Usage: caucus <COMMAND> [OPTIONS]

Commands:
  hub       run the room: agent HTTP API and operator console
  bridge    the caucus tools for an MCP host, over stdio
  watch     wait for messages to an agent, print them, exit
  agent     a peer that lives in the room, thinking with any agent CLI
  say       send one message into the room
  peers     list the agents in the room
  control   the chair's commands: pause, resume, stop, reset, interrupt,
            reset-peer, approvals, approve, deny
  up        convene the seats of a room file on the hub (down: dismiss them)
  service   run the hub as a service of your session (install, status, uninstall)
  setup     wire a repository for an agent host (claude, codex, gemini)
  hook      what a host runs at its hook points (stop, prompt, session-start,
            pre-tool, permission)
  doctor    check that an agent in this repository can reach the room

Options:
  -h, --help     print this help (or `caucus <COMMAND> --help`)
  -V, --version  print the version
";

fn level_filter(level: &str) -> Result<log::LevelFilter, String> {
    Ok(match level.trim().to_ascii_lowercase().as_str() {
        "error" => log::LevelFilter::Error,
        "warn" | "warning" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        "off" => log::LevelFilter::Off,
        other => return Err(format!("--log-level: unknown level {other:?}")),
    })
}

fn init_logging(level: &str) -> Result<(), String> {
    simple_logger::SimpleLogger::new()
        .with_level(level_filter(level)?)
        .with_utc_timestamps()
        .init()
        .map_err(|e| format!("cannot start logging: {e}"))
}

fn run() -> Result<ExitCode, String> {
    let mut args = lexopt::Parser::from_env();
    match args.next().map_err(|e| e.to_string())? {
        Some(Value(cmd)) if cmd == "bridge" => {
            let level = std::env::var("CAUCUS_LOG").unwrap_or_else(|_| "warn".into());
            init_logging(&level)?;
            Ok(bridge::main(args))
        }
        Some(Value(cmd)) if cmd == "watch" => Ok(watch::main(args)),
        Some(Value(cmd)) if cmd == "say" => Ok(script::say(args)),
        Some(Value(cmd)) if cmd == "agent" => Ok(agent::main(args)),
        Some(Value(cmd)) if cmd == "peers" => Ok(script::peers(args)),
        Some(Value(cmd)) if cmd == "control" => Ok(script::control(args)),
        Some(Value(cmd)) if cmd == "service" => Ok(service::main(args)),
        Some(Value(cmd)) if cmd == "up" => Ok(room::up(args)),
        Some(Value(cmd)) if cmd == "down" => Ok(room::down(args)),
        Some(Value(cmd)) if cmd == "hook" => Ok(hook::main(args)),
        Some(Value(cmd)) if cmd == "setup" => Ok(setup::main(args)),
        Some(Value(cmd)) if cmd == "doctor" => Ok(doctor::main(args)),
        Some(Value(cmd)) if cmd == "hub" => {
            let Some(config) = hub::config::HubConfig::parse(args)? else {
                return Ok(ExitCode::SUCCESS);
            };
            // The hub's lines go through a queue: a stderr nobody reads
            // must not stall the room.
            hub::logger::init(level_filter(&config.log_level)?)?;
            hub::run(config).map(|()| ExitCode::SUCCESS)
        }
        Some(Value(cmd)) => Err(format!(
            "unknown command {:?}; try `caucus --help`",
            cmd.to_string_lossy()
        )),
        Some(Short('V') | Long("version")) => {
            println!("caucus {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Some(Short('h') | Long("help")) | None => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(other.unexpected().to_string()),
    }
}

/// The `caucus` binary: runs the command named on the command line.
pub fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => shared::cli::usage("caucus", e),
    }
}
