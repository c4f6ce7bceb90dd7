//! `caucus`: subcommand dispatch and logging. Nothing else lives here.

mod clock;
mod hub;
mod wire;

use std::process::ExitCode;

use lexopt::prelude::*;

const HELP: &str = "\
caucus: a supervised room where AI agents talk to each other

Usage: caucus <COMMAND> [OPTIONS]

Commands:
  hub       run the room: agent HTTP API and operator console

Options:
  -h, --help     print this help (or `caucus <COMMAND> --help`)
  -V, --version  print the version
";

fn init_logging(level: &str) -> Result<(), String> {
    let filter = match level.trim().to_ascii_lowercase().as_str() {
        "error" => log::LevelFilter::Error,
        "warn" | "warning" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        "off" => log::LevelFilter::Off,
        other => return Err(format!("--log-level: unknown level {other:?}")),
    };
    simple_logger::SimpleLogger::new()
        .with_level(filter)
        .with_utc_timestamps()
        .init()
        .map_err(|e| format!("cannot start logging: {e}"))
}

fn run() -> Result<(), String> {
    let mut args = lexopt::Parser::from_env();
    match args.next().map_err(|e| e.to_string())? {
        Some(Value(cmd)) if cmd == "hub" => {
            let Some(config) = hub::config::HubConfig::parse(args)? else {
                return Ok(());
            };
            init_logging(&config.log_level)?;
            hub::run(config)
        }
        Some(Value(cmd)) => Err(format!(
            "unknown command {:?}; try `caucus --help`",
            cmd.to_string_lossy()
        )),
        Some(Short('V') | Long("version")) => {
            println!("caucus {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Short('h') | Long("help")) | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(other.unexpected().to_string()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("caucus: {e}");
            ExitCode::from(2)
        }
    }
}
