//! `caucus hub`'s configuration: flags, then environment, then defaults.

use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::shared::cli::text;

/// Everything `caucus hub` can be told.
#[derive(Clone, Debug)]
pub struct HubConfig {
    pub host: String,
    pub port: u16,
    pub log_level: String,
    pub client_ttl: Duration,
    /// A waiting message this old, with nothing listening, raises an alarm.
    pub backlog_alarm: Duration,
    /// Pause after this many agent messages with no operator word; 0: off.
    pub loop_guard: u32,
    /// Run this for what needs the operator (`--notify-cmd`).
    pub notify_cmd: Option<String>,
    pub reaped_grace: Duration,
    pub open_browser: bool,
    pub operator_token: Option<String>,
    /// `--no-auth`: no operator credential at all (loopback only).
    pub no_auth: bool,
    /// `--agent-key`: what agents present to /register and /mcp.
    pub agent_key: Option<String>,
    pub observer_token: Option<String>,
    pub log_file: Option<PathBuf>,
    pub log_retention: Duration,
    pub allowed_origins: Vec<String>,
    pub rate_limit: bool,
    pub max_connections: usize,
    pub read_deadline: Duration,
    pub data_dir: Option<PathBuf>,
    pub fsync: super::journal::Fsync,
    pub journal_limit: u64,
    /// `--history-mib`: the searchable history's size before it rotates.
    pub history_bytes: u64,
    pub max_peers: usize,
    pub send_bucket: (f64, f64),
    pub register_bucket: (f64, f64),
    /// Bytes all waiting messages may take, together.
    pub max_queued_bytes: usize,
    /// Bytes large answers being written may hold together.
    pub max_answer_bytes: usize,
    /// `--agent-max`: seats the launcher runs at once.
    pub agent_max: usize,
    /// `--allow-remote-launch`: the launcher on a hub bound beyond loopback.
    pub allow_remote_launch: bool,
}

pub const HELP: &str = "\
caucus hub: run the room (agent HTTP API and operator console)

Usage: caucus hub [OPTIONS]

Options:
  --host HOST                 address to bind [default: 127.0.0.1]
  --port PORT                 port to bind; 0 picks a free one [default: 8765]
  --log-level LEVEL           error, warn, info, debug or trace
                              [env: CAUCUS_LOG] [default: INFO]
  --client-ttl SECONDS        reap peers idle this long [default: 300]
  --reaped-grace SECONDS      a reaped peer may come back this long [default: 1800]
  --backlog-alarm SECONDS     flag a peer whose oldest waiting message is this old
                              while nothing listens for it [default: 120]
  --notify-cmd CMD            run CMD (through the shell) with a JSON event on stdin
                              for a new question, a backlog alarm or a tripped loop
                              guard [env: CAUCUS_NOTIFY_CMD] [default: none]
  --loop-guard N              pause the room after N agent messages with no word
                              from the operator in between; 0 is off
                              [env: CAUCUS_LOOP_GUARD] [default: 0]
  --no-browser                do not open the console in a browser
  --operator-token TOKEN      the chair's credential: this token may act
                              [env: CAUCUS_OPERATOR_TOKEN] [default: one the hub
                              makes, kept private in the state folder for the
                              local tools (caucus control), the console signed
                              in through the URL it prints]
  --no-auth                   no operator credential: anyone who reaches the port
                              is the chair (loopback only; not for shared machines)
  --observer-token TOKEN      this token may watch but not act
                              [env: CAUCUS_OBSERVER_TOKEN] [default: none]
  --agent-key KEY             agents must present it (Authorization: Bearer) to
                              /register and /mcp, as caucus-mcp 5.x; required on
                              a hub bound beyond loopback [env: CAUCUS_AGENT_KEY]
  --log-file PATH             append every routed message to this JSONL file
                              [env: CAUCUS_LOG_FILE] [default: none]
  --log-retention-hours H     prune transcript lines older than this
                              [env: CAUCUS_LOG_RETENTION_HOURS] [default: 24]
  --allowed-origin ORIGIN     also trust this browser origin (repeatable)
                              [env: CAUCUS_ALLOWED_ORIGINS, comma-separated]
                              [default: loopback origins on the served port]
  --no-rate-limit             lift the per-sender and per-address limits
                              (trusted rooms, benchmarks)
  --send-rate R/B             each sender's bucket: R calls per second,
                              bursts of B [default: 0.5/5]
  --register-rate R/B         each address's /register bucket [default: 1/20]
  --max-connections N         open connections; past it the longest idle is
                              closed, or a newcomer gets 503 [default: 4096]
  --max-queued-mib MIB        memory all waiting messages may take together;
                              past it /send answers 409 [env: CAUCUS_MAX_QUEUED_MIB]
                              [default: 256]
  --max-answer-mib MIB        memory large answers not yet read by their client
                              may hold together; past it they get 503 at once
                              (at least 2) [default: 64]
  --data-dir DIR              keep the room in DIR (journal and snapshot) so a
                              restart loses nothing [env: CAUCUS_DATA_DIR]
                              [default: none, memory only]
  --fsync POLICY              when the journal is forced to disk: write (every
                              write), group (every 5 ms) or off (the OS decides)
                              [env: CAUCUS_FSYNC] [default: group]
  --journal-limit MIB         fold the journal into a snapshot past this size
                              [default: 16]
  --history-mib MIB           with --data-dir, the searchable history of every
                              message: past this size it starts a new file and
                              keeps one older [default: 256]
  --read-deadline SECONDS     close a connection that sends no complete request
                              head, or body, for this long [default: 20]
  --max-peers N               peer records (live and reaped) before /register
                              answers 409 [default: 512]
  --agent-max N               agents the chair's launcher (POST /agents) runs at
                              once [default: 8]
  --allow-remote-launch       let the chair launch agents on a hub bound beyond
                              loopback (off: only a loopback hub launches)
  -h, --help                  print this help

Environment variables give a value when its flag is absent.
";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `R/B`: a bucket refilled at R per second, holding B; as (capacity, refill).
fn bucket(value: &str, flag: &str) -> Result<(f64, f64), String> {
    value
        .split_once('/')
        .and_then(|(r, b)| {
            let (r, b) = (r.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
            (r > 0.0 && b >= 1.0 && r.is_finite() && b.is_finite()).then_some((b, r))
        })
        .ok_or(format!("{flag}: {value:?} is not RATE/BURST, e.g. 0.5/5"))
}

fn count(value: &str, flag: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("{flag}: {value:?} is not a positive count"))
}

/// A positive size in MiB, as bytes.
fn mebibytes(value: &str, flag: &str) -> Result<usize, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|m| m.is_finite() && *m > 0.0 && *m < 1e9)
        .map(|m| (m * 1024.0 * 1024.0) as usize)
        .ok_or(format!("{flag}: {value:?} is not a positive size in MiB"))
}

fn seconds(value: &str, what: &str) -> Result<Duration, String> {
    crate::shared::cli::seconds(value, what, false).map(Duration::from_secs_f64)
}

impl HubConfig {
    /// Reads the arguments after `hub`. `Ok(None)` means `--help` was printed.
    pub fn parse(mut args: lexopt::Parser) -> Result<Option<HubConfig>, String> {
        let mut host = None;
        let mut port = None;
        let mut log_level = None;
        let mut client_ttl = None;
        let mut backlog_alarm = None;
        let mut loop_guard = None;
        let mut notify_cmd = None;
        let mut reaped_grace = None;
        let mut open_browser = true;
        let mut operator_token = None;
        let mut no_auth = false;
        let mut agent_key = None;
        let mut observer_token = None;
        let mut log_file = None;
        let mut retention = None;
        let mut origins = Vec::new();
        let mut rate_limit = true;
        let mut max_connections = None;
        let mut max_peers = None;
        let mut read_deadline = None;
        let mut data_dir = None;
        let mut fsync = None;
        let mut journal_limit = None;
        let mut history_bytes = None;
        let mut max_queued = None;
        let mut max_answer = None;
        let mut agent_max = super::seats::DEFAULT_MAX;
        let mut allow_remote_launch = false;
        let mut send_bucket = super::room::SEND_BUCKET;
        let mut register_bucket = super::room::REGISTER_BUCKET;
        while let Some(arg) = args.next().map_err(|e| e.to_string())? {
            match arg {
                Long("host") => host = Some(text(args.value())?),
                Long("port") => {
                    let v = text(args.value())?;
                    port = Some(
                        v.parse::<u16>()
                            .map_err(|_| format!("--port: {v:?} is not a port number"))?,
                    );
                }
                Long("log-level") => log_level = Some(text(args.value())?),
                Long("client-ttl") => {
                    client_ttl = Some(seconds(&text(args.value())?, "--client-ttl")?)
                }
                Long("loop-guard") => loop_guard = Some(text(args.value())?),
                Long("notify-cmd") => notify_cmd = Some(text(args.value())?),
                Long("backlog-alarm") => {
                    backlog_alarm = Some(seconds(&text(args.value())?, "--backlog-alarm")?)
                }
                Long("reaped-grace") => {
                    reaped_grace = Some(seconds(&text(args.value())?, "--reaped-grace")?)
                }
                Long("no-browser") => open_browser = false,
                Long("operator-token") => operator_token = Some(text(args.value())?),
                Long("no-auth") => no_auth = true,
                Long("agent-key") => agent_key = Some(text(args.value())?),
                Long("observer-token") => observer_token = Some(text(args.value())?),
                Long("log-file") => log_file = Some(PathBuf::from(text(args.value())?)),
                Long("log-retention-hours") => retention = Some(text(args.value())?),
                Long("allowed-origin") => origins.push(text(args.value())?),
                Long("no-rate-limit") => rate_limit = false,
                Long("max-connections") => {
                    max_connections = Some(count(&text(args.value())?, "--max-connections")?)
                }
                Long("data-dir") => data_dir = Some(PathBuf::from(text(args.value())?)),
                Long("fsync") => fsync = Some(text(args.value())?),
                Long("journal-limit") => {
                    let bytes = mebibytes(&text(args.value())?, "--journal-limit")?;
                    journal_limit = Some(bytes as u64);
                }
                Long("history-mib") => {
                    let bytes = mebibytes(&text(args.value())?, "--history-mib")?;
                    history_bytes = Some(bytes as u64);
                }
                Long("max-queued-mib") => max_queued = Some(text(args.value())?),
                Long("max-answer-mib") => max_answer = Some(text(args.value())?),
                Long("read-deadline") => {
                    read_deadline = Some(seconds(&text(args.value())?, "--read-deadline")?)
                }
                Long("max-peers") => max_peers = Some(count(&text(args.value())?, "--max-peers")?),
                Long("agent-max") => agent_max = count(&text(args.value())?, "--agent-max")?,
                Long("allow-remote-launch") => allow_remote_launch = true,
                Long("send-rate") => send_bucket = bucket(&text(args.value())?, "--send-rate")?,
                Long("register-rate") => {
                    register_bucket = bucket(&text(args.value())?, "--register-rate")?
                }
                Short('h') | Long("help") => {
                    print!("{HELP}");
                    return Ok(None);
                }
                other => return Err(other.unexpected().to_string()),
            }
        }
        if origins.is_empty()
            && let Some(list) = env("CAUCUS_ALLOWED_ORIGINS")
        {
            origins = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        let retention = match retention.or_else(|| env("CAUCUS_LOG_RETENTION_HOURS")) {
            Some(h) => {
                let hours = seconds(&h, "--log-retention-hours")?;
                hours * 3600
            }
            None => Duration::from_secs(24 * 3600),
        };
        let operator_token = operator_token.or_else(|| env("CAUCUS_OPERATOR_TOKEN"));
        let observer_token = observer_token.or_else(|| env("CAUCUS_OBSERVER_TOKEN"));
        let agent_key = agent_key.or_else(|| env("CAUCUS_AGENT_KEY"));
        for (flag, secret) in [
            ("--operator-token", &operator_token),
            ("--observer-token", &observer_token),
            ("--agent-key", &agent_key),
        ] {
            if secret
                .as_ref()
                .is_some_and(|s| s.chars().count() < 16 || s.chars().any(char::is_control))
            {
                return Err(format!(
                    "{flag}: at least 16 characters and no control characters"
                ));
            }
        }
        if no_auth && operator_token.is_some() {
            return Err("--no-auth and --operator-token contradict each other".into());
        }
        let bound = host.as_deref().unwrap_or("127.0.0.1");
        if !super::auth::is_loopback_name(bound) {
            if no_auth {
                return Err(format!(
                    "--no-auth is for a hub on loopback only: bound to {bound}, anyone on the \
                     network would be the chair"
                ));
            }
            if agent_key.is_none() {
                return Err(format!(
                    "a hub bound to {bound} needs --agent-key (or CAUCUS_AGENT_KEY): without \
                     it every machine that reaches the port could join the room"
                ));
            }
        }
        if observer_token.is_some() && no_auth {
            return Err(
                "--observer-token needs an operator credential: with --no-auth everyone is \
                 operator"
                    .into(),
            );
        }
        let fsync = match fsync.or_else(|| env("CAUCUS_FSYNC")) {
            Some(policy) => super::journal::Fsync::parse(&policy)?,
            None => super::journal::Fsync::Group,
        };
        let max_queued_bytes = match max_queued.or_else(|| env("CAUCUS_MAX_QUEUED_MIB")) {
            Some(v) => mebibytes(&v, "--max-queued-mib")?,
            None => super::room::MAX_QUEUED_BYTES,
        };
        let max_answer_bytes = match max_answer {
            Some(v) => mebibytes(&v, "--max-answer-mib")?,
            None => super::answers::DEFAULT_BYTES,
        };
        if max_answer_bytes < 2 << 20 {
            return Err("--max-answer-mib: at least 2 (one /receive batch is 1 MiB)".into());
        }
        let loop_guard = match loop_guard.or_else(|| env("CAUCUS_LOOP_GUARD")) {
            None => 0,
            Some(v) => v.trim().parse::<u32>().map_err(|_| {
                format!("--loop-guard: {v:?} is not a count of messages (0 is off)")
            })?,
        };
        Ok(Some(HubConfig {
            host: host.unwrap_or_else(|| "127.0.0.1".into()),
            port: port.unwrap_or(8765),
            log_level: log_level
                .or_else(|| env("CAUCUS_LOG"))
                .unwrap_or_else(|| "INFO".into()),
            client_ttl: client_ttl.unwrap_or(Duration::from_secs(300)),
            backlog_alarm: backlog_alarm.unwrap_or(Duration::from_secs(120)),
            loop_guard,
            notify_cmd: notify_cmd
                .or_else(|| env("CAUCUS_NOTIFY_CMD"))
                .filter(|c| !c.trim().is_empty()),
            reaped_grace: reaped_grace.unwrap_or(Duration::from_secs(1800)),
            open_browser,
            operator_token,
            no_auth,
            agent_key,
            observer_token,
            log_file: log_file.or_else(|| env("CAUCUS_LOG_FILE").map(PathBuf::from)),
            log_retention: retention,
            allowed_origins: origins,
            agent_max,
            allow_remote_launch,
            rate_limit,
            max_connections: max_connections.unwrap_or(4096),
            read_deadline: read_deadline.unwrap_or(Duration::from_secs(20)),
            data_dir: data_dir.or_else(|| env("CAUCUS_DATA_DIR").map(PathBuf::from)),
            fsync,
            journal_limit: journal_limit.unwrap_or(super::journal::COMPACT_AT),
            history_bytes: history_bytes.unwrap_or(super::history::HISTORY_BYTES),
            max_peers: max_peers.unwrap_or(super::room::MAX_RECORDS),
            send_bucket,
            register_bucket,
            max_queued_bytes,
            max_answer_bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<HubConfig>, String> {
        HubConfig::parse(lexopt::Parser::from_args(args.iter().copied()))
    }

    #[test]
    fn flags_override_defaults() {
        let c = parse(&["--port", "0", "--client-ttl", "1.5", "--no-rate-limit"])
            .unwrap()
            .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.client_ttl, Duration::from_millis(1500));
        assert!(!c.rate_limit);
        assert_eq!(c.host, "127.0.0.1");
        let c = parse(&[
            "--data-dir",
            "/tmp/room",
            "--fsync",
            "write",
            "--journal-limit",
            "0.5",
            "--read-deadline",
            "7",
            "--max-queued-mib",
            "2",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c.data_dir.as_deref(),
            Some(std::path::Path::new("/tmp/room"))
        );
        assert_eq!(c.fsync, super::super::journal::Fsync::Write);
        assert_eq!(c.journal_limit, 512 * 1024);
        assert_eq!(c.read_deadline, Duration::from_secs(7));
        assert_eq!(c.max_queued_bytes, 2 << 20);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let err = parse(&["--port", "eighty"]).unwrap_err();
        assert!(err.contains("--port"), "{err}");
        let err = parse(&["--client-ttl", "-3"]).unwrap_err();
        assert!(err.contains("--client-ttl"), "{err}");
        assert!(parse(&["--frobnicate"]).is_err());
        for (flag, value) in [
            ("--fsync", "sometimes"),
            ("--journal-limit", "0"),
            ("--read-deadline", "soon"),
            ("--max-queued-mib", "0"),
            ("--max-queued-mib", "lots"),
        ] {
            let err = parse(&[flag, value]).unwrap_err();
            assert!(err.contains(flag), "{err}");
        }
    }
}
