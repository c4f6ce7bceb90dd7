//! The hub's log: lines go to stderr from a thread of their own.
//!
//! A log call formats its line and hands it to a bounded queue without
//! waiting; a writer thread empties the queue into stderr. So a stderr
//! that blocks (a pipe nobody reads, a terminal paused with Ctrl-S) stalls
//! only the writer, never a request, and never while the room's lock is
//! held. Past [`QUEUED_LINES`] waiting lines, new ones are dropped and
//! counted; the writer says how many once it can write again.
//!
//! The format is simple_logger's (which the other subcommands use):
//! `2026-11-26T01:50:14.014Z WARN  [caucus::hub::feed] message`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use crate::shared::clock::{iso8601, now_unix};

/// Lines that may wait for stderr before new ones are dropped.
pub const QUEUED_LINES: usize = 4096;

struct Logger {
    level: log::LevelFilter,
    tx: SyncSender<String>,
    dropped: AtomicU64,
}

/// `2026-11-26T01:50:14.014Z`: milliseconds, UTC.
fn stamp() -> String {
    let full = iso8601(now_unix());
    // "YYYY-MM-DDTHH:MM:SS.mmm" is the first 23 characters of the micros form.
    format!("{}Z", &full[..23])
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{} {:<5} [{}] {}\n",
            stamp(),
            record.level(),
            record.module_path().unwrap_or_else(|| record.target()),
            record.args()
        );
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn flush(&self) {}
}

fn write_lines(rx: Receiver<String>, logger: &'static Logger) {
    let mut err = std::io::stderr();
    for line in rx {
        let dropped = logger.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = format!(
                "{} WARN  [caucus::hub::logger] {dropped} log line(s) dropped: stderr was not being read\n",
                stamp()
            );
            let _ = err.write_all(note.as_bytes());
        }
        let _ = err.write_all(line.as_bytes());
    }
}

/// Installs the logger for the hub at `level`.
pub fn init(level: log::LevelFilter) -> Result<(), String> {
    let (tx, rx) = sync_channel(QUEUED_LINES);
    let logger: &'static Logger = Box::leak(Box::new(Logger {
        level,
        tx,
        dropped: AtomicU64::new(0),
    }));
    std::thread::Builder::new()
        .name("log".into())
        .spawn(move || write_lines(rx, logger))
        .map_err(|e| format!("cannot start the log writer: {e}"))?;
    log::set_logger(logger).map_err(|e| format!("cannot start logging: {e}"))?;
    log::set_max_level(level);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_have_milliseconds_and_a_zone() {
        let s = super::stamp();
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.');
    }
}
