//! The launcher: agents the chair starts from the hub (`POST /agents`),
//! each a seat: a `caucus agent` process of this same binary, run with the
//! runtime, mission and working folder the chair gave, watched until it
//! ends, and stopped on the chair's word (`DELETE /agents/NAME`).
//!
//! A seat is a process of the hub's user, so only the chair may start one
//! (the operator credential; a hub bound beyond loopback also needs
//! `--allow-remote-launch`). What reaches it is chosen here: an argv we
//! build (no shell; every value the value of its own flag), its working
//! folder, and an allowlisted environment: the system's basics and the
//! model providers' variables, never the hub's own secrets (the agent key
//! alone, which a seat needs to join and which `caucus agent` keeps from
//! the CLI it runs). Its stderr is kept in a bounded ring.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::error::HubError;
use crate::shared::clock::now_unix;
use crate::shared::platform;
pub use crate::shared::wire::{Launch, SeatView};

/// Seats running at once (`--agent-max`).
pub const DEFAULT_MAX: usize = 8;
/// Seats kept in the list once ended, oldest dropped first.
const KEPT_ENDED: usize = 32;
/// Lines of a seat's stderr kept, and the longest line kept whole.
const RING_LINES: usize = 200;
const LINE_CHARS: usize = 1000;
/// Longest mission, in characters (caucus-mcp 5.x's bound).
pub const MAX_MISSION_CHARS: usize = 4000;
/// How long a stopped seat has to leave before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Variables a seat gets from the hub's environment, by name.
const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SHELL",
    "TERM",
    "SYSTEMROOT",
    "SystemRoot",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
    "HOMEDRIVE",
    "HOMEPATH",
    "PROGRAMDATA",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "CAUCUS_STATE_DIR",
    "CODEX_HOME",
    "CLAUDE_CONFIG_DIR",
];
/// And by prefix: the locale, and the model providers' keys and settings.
const PASSED_PREFIXES: &[&str] = &[
    "LC_",
    "ANTHROPIC_",
    "OPENAI_",
    "GEMINI_",
    "GOOGLE_",
    "CLAUDE_CODE_",
    "DISABLE_",
];

struct Seat {
    view: SeatView,
    stderr: VecDeque<String>,
}

/// The hub's seats.
pub struct Seats {
    seats: Arc<Mutex<Vec<Seat>>>,
    max: usize,
    exe: PathBuf,
}

impl Seats {
    /// Seats of `exe` (this binary), at most `max` running at once.
    pub fn new(exe: PathBuf, max: usize) -> Seats {
        Seats {
            seats: Arc::default(),
            max,
            exe,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Seat>> {
        self.seats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every seat, running ones first.
    pub fn list(&self) -> Vec<SeatView> {
        let seats = self.lock();
        let mut out: Vec<SeatView> = seats
            .iter()
            .map(|s| {
                let mut v = s.view.clone();
                v.output = s.stderr.iter().cloned().collect();
                v
            })
            .collect();
        out.sort_by_key(|v| v.state != "running");
        out
    }

    /// Starts a seat that joins the hub at `hub_url` (with `agent_key`,
    /// the hub's, when it has one).
    pub fn launch(
        &self,
        l: Launch,
        hub_url: &str,
        agent_key: Option<&str>,
    ) -> Result<SeatView, HubError> {
        let args = seat_args(&l, hub_url)?;
        let cwd = match &l.cwd {
            Some(dir) => checked_dir(dir)?,
            None => std::env::current_dir().map_err(|e| {
                HubError::invalid(format!("cwd: the hub has no working folder: {e}"))
            })?,
        };
        let mut seats = self.lock();
        if seats
            .iter()
            .any(|s| s.view.name == l.name && s.view.state != "exited" && s.view.state != "stopped")
        {
            return Err(HubError::Conflict(format!(
                "a seat named {:?} runs: stop it first",
                l.name
            )));
        }
        if seats.iter().filter(|s| s.view.state == "running").count() >= self.max {
            return Err(HubError::Limit(
                "seats: --agent-max reached; stop one first",
            ));
        }
        let mut cmd = platform::direct(&self.exe.to_string_lossy(), &args);
        cmd.current_dir(&cwd)
            .env_clear()
            .envs(allowed_env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(key) = agent_key {
            cmd.env("CAUCUS_AGENT_KEY", key);
        }
        let mut child = cmd.spawn().map_err(|e| {
            log::error!("cannot start a seat: {e}");
            HubError::invalid(format!("the seat could not start: {e}"))
        })?;
        let view = SeatView {
            name: l.name.clone(),
            runtime: l.runtime.clone(),
            state: "running".into(),
            pid: child.id(),
            cwd: cwd.display().to_string(),
            started: now_unix(),
            ended: None,
            exit_code: None,
            mission: l.mission.clone(),
            model: l.model.clone(),
            output: Vec::new(),
        };
        seats.retain(|s| s.view.name != l.name);
        seats.push(Seat {
            view: view.clone(),
            stderr: VecDeque::new(),
        });
        let ended = seats.iter().filter(|s| s.view.state != "running").count();
        if ended > KEPT_ENDED
            && let Some(oldest) = seats.iter().position(|s| s.view.state != "running")
        {
            seats.remove(oldest);
        }
        drop(seats);
        self.watch(l.name, child.stderr.take(), child);
        log::info!(
            "seat {} started ({} in {})",
            view.name,
            view.runtime,
            view.cwd
        );
        Ok(view)
    }

    /// Reads a seat's stderr into its ring, and records its end.
    fn watch(&self, name: String, stderr: Option<std::process::ChildStderr>, mut child: Child) {
        let seats = Arc::clone(&self.seats);
        let pid = child.id();
        let spawned = std::thread::Builder::new()
            .name(format!("seat {name}"))
            .spawn(move || {
                if let Some(err) = stderr {
                    for line in BufReader::new(err).lines() {
                        let Ok(line) = line else { break };
                        let line: String = line.chars().take(LINE_CHARS).collect();
                        let mut all = seats.lock().unwrap_or_else(PoisonError::into_inner);
                        if let Some(s) = all.iter_mut().find(|s| s.view.pid == pid) {
                            if s.stderr.len() == RING_LINES {
                                s.stderr.pop_front();
                            }
                            s.stderr.push_back(line);
                        }
                    }
                }
                let code = child.wait().ok().and_then(|s| s.code());
                let mut all = seats.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(s) = all.iter_mut().find(|s| s.view.pid == pid) {
                    s.view.state = if s.view.state == "stopping" {
                        "stopped".into()
                    } else {
                        "exited".into()
                    };
                    s.view.exit_code = code;
                    s.view.ended = Some(now_unix());
                    log::info!("seat {} ended (exit code {code:?})", s.view.name);
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot watch seat {pid}: {e}");
        }
    }

    /// Stops a running seat: asked to end, then ended with all it started
    /// after a grace. `Ok(false)` when no seat of that name runs.
    pub fn stop(&self, name: &str) -> bool {
        let pid = {
            let mut seats = self.lock();
            let Some(s) = seats
                .iter_mut()
                .find(|s| s.view.name == name && s.view.state == "running")
            else {
                return false;
            };
            s.view.state = "stopping".into();
            s.view.pid
        };
        platform::signal_tree(pid, false);
        let seats = Arc::clone(&self.seats);
        let _ = std::thread::Builder::new()
            .name("seat stop".into())
            .spawn(move || {
                std::thread::sleep(STOP_GRACE);
                let still = seats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .any(|s| s.view.pid == pid && s.view.state == "stopping");
                if still {
                    platform::signal_tree(pid, true);
                }
            });
        true
    }
}

/// The argv of `caucus agent` for a seat, every value checked and passed
/// as the value of its own flag.
fn seat_args(l: &Launch, hub_url: &str) -> Result<Vec<String>, HubError> {
    super::room::check_name(&l.name).map_err(|_| {
        HubError::invalid(format!(
            "name: {:?} is not a name the room takes (letters, digits, spaces, - _ . + @ ')",
            l.name
        ))
    })?;
    // A mission may run over lines; a model or a command line may not.
    let text = |field: &str, v: &Option<String>, max: usize, lines: bool| {
        let Some(s) = v else { return Ok(()) };
        let controls = s
            .chars()
            .any(|c| c.is_control() && !(lines && matches!(c, '\n' | '\t')));
        if s.chars().count() > max || controls {
            return Err(HubError::invalid(format!(
                "{field}: at most {max} characters{}",
                if lines {
                    ", no control characters but line breaks and tabs"
                } else {
                    ", no control characters"
                }
            )));
        }
        Ok(())
    };
    text("mission", &l.mission, MAX_MISSION_CHARS, true)?;
    text("model", &l.model, 128, false)?;
    text("command", &l.command, 4096, false)?;
    let mut args = vec![
        "agent".to_string(),
        format!("--hub={hub_url}"),
        format!("--name={}", l.name),
    ];
    match (l.runtime.as_str(), &l.command) {
        ("claude" | "codex" | "gemini", None) => args.push(format!("--runtime={}", l.runtime)),
        ("command", Some(c)) if !c.trim().is_empty() => {
            if l.model.is_some() {
                return Err(HubError::invalid(
                    "model: a command seat takes its model in its command",
                ));
            }
            args.push(format!("--exec={c}"));
        }
        ("command", _) => return Err(HubError::invalid("command: required for a command seat")),
        ("claude" | "codex" | "gemini", Some(_)) => {
            return Err(HubError::invalid("command: only for the command runtime"));
        }
        (other, _) => {
            return Err(HubError::invalid(format!(
                "runtime: {other:?} is not one: claude, codex, gemini or command"
            )));
        }
    }
    if let Some(m) = &l.model {
        args.push(format!("--model={m}"));
    }
    if let Some(m) = l.mission.as_ref().filter(|m| !m.trim().is_empty()) {
        args.push(format!("--mission={m}"));
    }
    Ok(args)
}

/// The seat's working folder: an absolute path to a folder that exists.
fn checked_dir(dir: &str) -> Result<PathBuf, HubError> {
    let path = Path::new(dir);
    if !path.is_absolute() {
        return Err(HubError::invalid("cwd: an absolute path is required"));
    }
    path.canonicalize()
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| HubError::invalid(format!("cwd: {dir:?} is not a folder")))
}

/// The hub's environment, less everything a seat has no business with.
fn allowed_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            PASSED.contains(&k.as_str()) || PASSED_PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(runtime: &str) -> Launch {
        Launch {
            name: "planner".into(),
            runtime: runtime.into(),
            mission: Some("--rm -rf".into()),
            cwd: None,
            model: None,
            command: None,
        }
    }

    #[test]
    fn every_value_is_the_value_of_its_own_flag() {
        let args = seat_args(&launch("claude"), "http://127.0.0.1:1").unwrap();
        assert_eq!(
            args,
            [
                "agent",
                "--hub=http://127.0.0.1:1",
                "--name=planner",
                "--runtime=claude",
                "--mission=--rm -rf"
            ]
        );
        let mut c = launch("command");
        c.command = Some("tail -n 3".into());
        assert!(
            seat_args(&c, "u")
                .unwrap()
                .contains(&"--exec=tail -n 3".to_string())
        );
    }

    #[test]
    fn bad_seats_are_refused_with_the_field() {
        let cases: Vec<(Launch, &str)> = vec![
            (
                Launch {
                    name: "human".into(),
                    ..launch("claude")
                },
                "name",
            ),
            (launch("bash"), "runtime"),
            (launch("command"), "command"),
            (
                Launch {
                    command: Some("x".into()),
                    ..launch("codex")
                },
                "command",
            ),
            (
                Launch {
                    model: Some("a\nb".into()),
                    ..launch("codex")
                },
                "model",
            ),
            (
                Launch {
                    mission: Some("m".repeat(4001)),
                    ..launch("codex")
                },
                "mission",
            ),
        ];
        for (l, field) in cases {
            let err = seat_args(&l, "u").unwrap_err();
            let body = err.body().to_string();
            assert!(body.contains(field), "{field}: {body}");
        }
        assert!(checked_dir("relative").is_err());
        assert!(checked_dir("/no/such/folder/here").is_err());
    }

    #[test]
    fn the_environment_passes_providers_and_never_the_hubs_secrets() {
        let pass =
            |k: &str| PASSED.contains(&k) || PASSED_PREFIXES.iter().any(|p| k.starts_with(p));
        for k in [
            "PATH",
            "HOME",
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "LC_ALL",
        ] {
            assert!(pass(k), "{k}");
        }
        for k in [
            "CAUCUS_OPERATOR_TOKEN",
            "CAUCUS_AGENT_KEY",
            "CAUCUS_OBSERVER_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "LD_PRELOAD",
        ] {
            assert!(!pass(k), "{k}");
        }
    }
}
