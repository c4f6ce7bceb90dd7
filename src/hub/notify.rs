//! `--notify-cmd CMD`: the hub tells the operator of what needs them when
//! they are away from the console (a new question, a backlog alarm, a
//! tripped loop guard) by running CMD through the system's shell with the
//! event as one line of JSON on its stdin (`ntfy`, `notify-send`, a mail
//! script…).
//!
//! It never holds the room up: events go through a bounded queue to one
//! thread that runs the command, one event at a time, each given at most
//! [`DEADLINE`] before it is ended with all it started. When the queue is
//! full the event is dropped with a warning.

use std::io::Write;
use std::process::Stdio;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::platform;

/// How long one run of the command may take.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// Events waiting for the command, at most.
const QUEUE: usize = 64;

/// The sending side; the thread ends when the hub does.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: SyncSender<Value>,
}

impl Notifier {
    pub fn start(command: String) -> std::io::Result<Notifier> {
        let (tx, rx) = sync_channel::<Value>(QUEUE);
        std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                for event in rx {
                    run(&command, &event);
                }
            })?;
        Ok(Notifier { tx })
    }

    /// Queues `event`; never waits.
    pub fn send(&self, event: Value) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(e)) => {
                log::warn!("--notify-cmd is behind: event {} dropped", e["type"]);
            }
            Err(TrySendError::Disconnected(_)) => log::warn!("--notify-cmd thread ended"),
        }
    }
}

fn run(command: &str, event: &Value) {
    let child = platform::shell(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            log::warn!("--notify-cmd could not start: {e}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{event}");
    }
    let deadline = Instant::now() + DEADLINE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    log::warn!("--notify-cmd exited with {status}");
                }
                return;
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                log::warn!("--notify-cmd ran past {} s: ended", DEADLINE.as_secs());
                platform::end_tree(&mut child);
                return;
            }
            Err(e) => {
                log::warn!("--notify-cmd: {e}");
                return;
            }
        }
    }
}
