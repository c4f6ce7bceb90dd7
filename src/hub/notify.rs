//! `--notify-cmd CMD`: the hub tells the operator of what needs them when
//! they are away from the console (a new question, a backlog alarm, a
//! tripped loop guard) by running CMD through the system's shell with the
//! event as one line of JSON on its stdin (`ntfy`, `notify-send`, a mail
//! script…).
//!
//! It never holds the room up: events go through a bounded queue to one
//! thread that runs the command, one event at a time, each given at most
//! [`DEADLINE`] before it is ended with all it started. Under a flood the
//! queue coalesces: an event of a kind (and peer) already waiting replaces
//! the older one, so the newest of each kind is told; past the bound the
//! oldest waiting event gives way, never the newest.

use std::collections::VecDeque;
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::shared::platform;

/// How long one run of the command may take.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// Events waiting for the command, at most.
const QUEUE: usize = 64;

/// The sending side; the thread ends when the hub does.
#[derive(Clone, Debug)]
pub struct Notifier {
    queue: Arc<(Mutex<VecDeque<Value>>, Condvar)>,
}

/// What makes two events the same news: the kind, and the peer or form.
fn news_key(event: &Value) -> (Value, Value) {
    let who = [&event["peer"], &event["form"]["id"], &event["id"]]
        .into_iter()
        .find(|v| !v.is_null())
        .cloned()
        .unwrap_or(Value::Null);
    (event["type"].clone(), who)
}

impl Notifier {
    pub fn start(command: String) -> std::io::Result<Notifier> {
        let queue: Arc<(Mutex<VecDeque<Value>>, Condvar)> = Arc::default();
        let worker = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                loop {
                    let event = {
                        let (lock, wake) = &*worker;
                        let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
                        loop {
                            if let Some(e) = q.pop_front() {
                                break e;
                            }
                            q = wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                        }
                    };
                    run(&command, &event);
                }
            })?;
        Ok(Notifier { queue })
    }

    /// Queues `event`; never waits. The same news already waiting is
    /// replaced by this newer one; past the bound the oldest gives way.
    pub fn send(&self, event: Value) {
        let (lock, wake) = &*self.queue;
        let mut q = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let key = news_key(&event);
        if let Some(slot) = q.iter_mut().find(|e| news_key(e) == key) {
            *slot = event;
        } else {
            if q.len() >= QUEUE
                && let Some(old) = q.pop_front()
            {
                log::warn!(
                    "--notify-cmd is behind: the oldest event ({}) gave way",
                    old["type"]
                );
            }
            q.push_back(event);
        }
        wake.notify_one();
    }

    #[cfg(all(test, unix))]
    fn waiting(&self) -> Vec<Value> {
        let (lock, _) = &*self.queue;
        lock.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flood_coalesces_per_kind_and_keeps_the_newest() {
        // A command still busy with the first event holds the queue.
        let n = Notifier::start("sleep 2".into()).unwrap();
        n.send(json!({"type": "loop_guard", "count": 1}));
        for i in 0..500 {
            n.send(json!({"type": "backlog_alarm", "peer": "bob", "waiting": i}));
        }
        n.send(json!({"type": "backlog_alarm", "peer": "eve", "waiting": 1}));
        n.send(json!({"type": "form", "form": {"id": "f1"}}));
        let waiting = n.waiting();
        let bob: Vec<&Value> = waiting.iter().filter(|e| e["peer"] == "bob").collect();
        assert!(bob.len() <= 1, "one bob alarm at most: {waiting:?}");
        if let Some(b) = bob.first() {
            assert_eq!(b["waiting"], 499, "the newest is kept");
        }
        assert!(waiting.iter().any(|e| e["peer"] == "eve"));
        assert!(
            waiting.iter().any(|e| e["type"] == "form"),
            "the question is not dropped"
        );
    }
}
