//! The JSONL transcript (`--log-file`): one line per routed message, appended
//! by a thread of its own so routing never waits for the disk, and pruned of
//! lines older than the retention every hour.
//!
//! The room hands lines over a bounded channel; if the writer falls that far
//! behind, the room counts and reports what it could not hand over.
//!
//! The file holds every message: it is private (0600, and made so again if
//! it was not). Pruning streams the kept lines into a new private file
//! beside it and renames that over the old one, so it never holds the
//! file in memory, and never writes through a link someone planted at the
//! new file's path.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use crate::shared::clock::{iso8601, now_unix};

/// Lines the writer may be behind before the room starts dropping them.
const BACKLOG: usize = 16_384;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the writer thread; the room sends it lines through the result.
pub fn start(path: PathBuf, retention: Duration) -> std::io::Result<SyncSender<String>> {
    // Open once up front so a bad path fails at start, not on the first line.
    open_append(&path)?;
    prune(&path, retention)?;
    let (tx, rx) = mpsc::sync_channel(BACKLOG);
    thread::Builder::new()
        .name("transcript".into())
        .spawn(move || write_lines(&path, retention, &rx))?;
    Ok(tx)
}

fn write_lines(path: &Path, retention: Duration, rx: &Receiver<String>) {
    let mut next_prune = Instant::now() + PRUNE_EVERY;
    loop {
        let wait = next_prune.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(first) => {
                let result = open_append(path).and_then(|file| {
                    let mut out = BufWriter::new(file);
                    writeln!(out, "{first}")?;
                    // Write whatever else is already waiting in one go.
                    for line in rx.try_iter().take(BACKLOG) {
                        writeln!(out, "{line}")?;
                    }
                    out.flush()
                });
                if let Err(e) = result {
                    log::error!("cannot append to the transcript {}: {e}", path.display());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if Instant::now() >= next_prune {
            if let Err(e) = prune(path, retention) {
                log::error!("cannot prune the transcript {}: {e}", path.display());
            }
            next_prune = Instant::now() + PRUNE_EVERY;
        }
    }
}

/// Opens the transcript for appending, private to this user.
fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    make_private(&file)?;
    Ok(file)
}

#[cfg(unix)]
fn make_private(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_file: &File) -> std::io::Result<()> {
    Ok(())
}

/// A new private file at `path`. Whatever is there (a link, a file a
/// crash left) is removed first, never written through.
fn create_fresh(path: &Path) -> std::io::Result<File> {
    if fs::symlink_metadata(path).is_ok() {
        fs::remove_file(path)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Rewrites the file without lines older than `retention`, a line at a
/// time. Lines whose time cannot be read are kept: better a stray line
/// than a lost one.
pub fn prune(path: &Path, retention: Duration) -> std::io::Result<usize> {
    let cutoff = iso8601(now_unix() - retention.as_secs_f64());
    let file = File::open(path)?;
    let tmp = path.with_extension("pruning");
    let mut out = BufWriter::new(create_fresh(&tmp)?);
    let mut dropped = 0;
    let copied = (|| -> std::io::Result<()> {
        for line in BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let old = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v.get("ts")?.as_str().map(|ts| ts < cutoff.as_str()))
                .unwrap_or(false);
            if old {
                dropped += 1;
            } else {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
        out.get_ref().sync_all()
    })();
    if copied.is_err() || dropped == 0 {
        let _ = fs::remove_file(&tmp);
        return copied.map(|()| 0);
    }
    fs::rename(&tmp, path)?;
    log::info!("pruned {dropped} old line(s) from the transcript");
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_recent_and_unreadable_lines() {
        let dir = std::env::temp_dir().join(format!("caucus-prune-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        let old = iso8601(now_unix() - 7200.0);
        let new = iso8601(now_unix());
        fs::write(
            &path,
            format!("{{\"ts\":\"{old}\",\"seq\":1}}\nnot json\n{{\"ts\":\"{new}\",\"seq\":2}}\n"),
        )
        .unwrap();
        assert_eq!(prune(&path, Duration::from_secs(3600)).unwrap(), 1);
        let left = fs::read_to_string(&path).unwrap();
        assert!(!left.contains("\"seq\":1"));
        assert!(left.contains("not json") && left.contains("\"seq\":2"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
