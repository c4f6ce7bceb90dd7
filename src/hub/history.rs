//! The room's searchable history, with `--data-dir`: every message the log
//! shows (routed messages and the hub's notices), one JSON line each, in
//! `DIR/history`, appended by a thread of its own so routing never waits
//! for the disk.
//!
//! The journal cannot serve here: it is folded into a snapshot of what is
//! still waiting, so it forgets what was read. The history forgets only by
//! size: past `--history-mib` the file becomes `history.1` (replacing the
//! one before) and a new one starts, so at most twice that is kept. Both
//! files are private (0600) and opened only inside the data directory the
//! journal already checked is ours.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

/// Lines the writer may be behind before the room starts dropping them.
const BACKLOG: usize = 16_384;
/// The history's size before it is rotated, by default (`--history-mib`).
pub const HISTORY_BYTES: u64 = 256 << 20;

/// Where the history of the data directory `dir` lives: older file first.
pub fn files(dir: &Path) -> [PathBuf; 2] {
    [dir.join("history.1"), dir.join("history")]
}

/// Starts the writer; the room sends it each message's JSON through the
/// result.
pub fn start(dir: &Path, limit: u64) -> std::io::Result<SyncSender<String>> {
    let [old, path] = files(dir);
    let file = open_append(&path)?;
    let size = file.metadata()?.len();
    drop(file);
    let (tx, rx) = mpsc::sync_channel(BACKLOG);
    thread::Builder::new()
        .name("history".into())
        .spawn(move || write_lines(&path, &old, size, limit, &rx))?;
    Ok(tx)
}

fn write_lines(path: &Path, old: &Path, mut size: u64, limit: u64, rx: &Receiver<String>) {
    while let Ok(first) = rx.recv() {
        if size >= limit {
            match fs::rename(path, old) {
                Ok(()) => size = 0,
                Err(e) => log::error!("cannot rotate the history {}: {e}", path.display()),
            }
        }
        let result = open_append(path).and_then(|file| {
            let mut out = BufWriter::new(file);
            let mut wrote = 0u64;
            for line in std::iter::once(first).chain(rx.try_iter().take(BACKLOG)) {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
                wrote += line.len() as u64 + 1;
            }
            out.flush()?;
            Ok(wrote)
        });
        match result {
            Ok(wrote) => size += wrote,
            Err(e) => log::error!("cannot append to the history {}: {e}", path.display()),
        }
    }
}

/// Opens a history file for appending, private to this user: made so if
/// it was not (a file from before, or copied in at 0644), never through a
/// link.
fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_its_limit_the_history_rotates_and_keeps_one_older_file() {
        let dir = std::env::temp_dir().join(format!("caucus-history-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let [old, path] = files(&dir);
        // A history already past its 100-byte limit: the next batch goes
        // to a new file, and the full one becomes history.1.
        let full = "{\"n\":0}\n".repeat(20);
        fs::write(&path, &full).unwrap();
        let (tx, rx) = mpsc::sync_channel(BACKLOG);
        tx.send("{\"n\":1}".into()).unwrap();
        tx.send("{\"n\":2}".into()).unwrap();
        drop(tx);
        // The writer runs here, on this thread, until the channel closes.
        write_lines(&path, &old, full.len() as u64, 100, &rx);
        assert_eq!(fs::read_to_string(&old).unwrap(), full);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":1}\n{\"n\":2}\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_history_file_found_readable_by_others_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("caucus-history-mode-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history");
        fs::write(&path, "{}\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_append(&path).unwrap());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let _ = fs::remove_dir_all(&dir);
    }
}
