//! The room's journal: `--data-dir`.
//!
//! Two files in the directory, both made of checksummed lines
//! (`crc32-hex SP json LF`):
//!
//! - `snapshot`: one line, the whole durable room at some moment, with the
//!   generation of the journal that continues it;
//! - `journal`: a `gen` line, then one record per change since that
//!   snapshot (what the records mean is `Room`'s business).
//!
//! Records are written by the request that made the change, before it is
//! answered, so a hub killed at any point has every change it confirmed in
//! the file (the kernel holds it even if the process dies). `--fsync`
//! decides when the file is forced to the disk, which is what survives a
//! power cut: `write` after every write, `group` every 5 ms, `off` when the
//! OS pleases.
//!
//! When the journal grows past `--journal-limit`, the room writes a new snapshot
//! (to a temporary file, synced, renamed over the old one) and the journal
//! starts again under the next generation. A crash between the two leaves a
//! journal of an older generation than the snapshot: it is ignored, its
//! records being in the snapshot already.
//!
//! Reading back: a last line that is cut short or fails its checksum is a
//! write the hub did not finish (a power cut mid-write): it is dropped with
//! a warning. Anything bad before the last line means the files were
//! damaged: the hub refuses to start rather than load half a room.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// A journal this large is folded into a new snapshot, by default.
pub const COMPACT_AT: u64 = 16 * 1024 * 1024;

/// How often the `group` policy forces the journal to disk.
pub const GROUP_EVERY: Duration = Duration::from_millis(5);

/// When the journal is forced to disk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fsync {
    /// After every write, before the request is answered.
    Write,
    /// Every `GROUP_EVERY`, by a thread of its own.
    Group,
    /// Never by us; the OS writes back in its own time.
    Off,
}

impl Fsync {
    pub fn parse(s: &str) -> Result<Fsync, String> {
        match s.trim() {
            "write" => Ok(Fsync::Write),
            "group" => Ok(Fsync::Group),
            "off" => Ok(Fsync::Off),
            other => Err(format!(
                "--fsync: {other:?} is not a policy (write, group or off)"
            )),
        }
    }
}

/// What was on disk at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Option<Value>,
    pub records: Vec<Value>,
}

/// The open journal. Owned by the room, so it is written under the room's
/// lock, in the order the changes were made.
pub struct Journal {
    dir: PathBuf,
    file: File,
    size: u64,
    /// Past this size, the journal is folded into a snapshot.
    limit: u64,
    generation: u64,
    policy: Fsync,
    /// Records of the operation in progress, written by `flush`.
    pending: Vec<u8>,
    /// For the `group` policy: something was written since the last sync.
    unsynced: Arc<AtomicBool>,
    /// A write failed: said once, loudly, until one succeeds again.
    failing: bool,
    /// Held for the hub's life: one hub per directory.
    _lock: File,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("size", &self.size)
            .field("generation", &self.generation)
            .finish()
    }
}

// ---- checksums --------------------------------------------------------

/// CRC-32 (IEEE, reflected), the checksum of each line.
pub fn crc32(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn line(record: &Value) -> Vec<u8> {
    let json = record.to_string();
    let mut out = format!("{:08x} ", crc32(json.as_bytes())).into_bytes();
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
    out
}

/// One line's record, if its checksum and JSON hold.
fn parse_line(text: &[u8]) -> Option<Value> {
    let (crc, json) = (text.get(..8)?, text.get(9..)?);
    if text.get(8) != Some(&b' ') {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    (crc == crc32(json)).then_some(())?;
    serde_json::from_slice(json).ok()
}

/// The records of a file, and the byte length of its intact part. A bad
/// last line is reported by a length short of the file's.
fn read_records(path: &Path, bytes: &[u8]) -> Result<(Vec<Value>, usize), String> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let end = bytes[at..].iter().position(|b| *b == b'\n').map(|n| at + n);
        let record = end.and_then(|end| parse_line(&bytes[at..end]));
        match (record, end) {
            (Some(r), Some(end)) => {
                records.push(r);
                at = end + 1;
            }
            // (A record without its newline cannot happen: `record` is
            // only parsed up to a newline.)
            (_, end) => {
                let rest = end.map_or(bytes.len(), |e| e + 1);
                if rest < bytes.len() {
                    return Err(format!(
                        "{}: record {} is damaged and more follow: refusing to load a room \
                         with a hole in it (move the directory aside to start empty)",
                        path.display(),
                        records.len() + 1
                    ));
                }
                return Ok((records, at));
            }
        }
    }
    Ok((records, at))
}

// ---- files ----------------------------------------------------------------

/// Makes (or checks) the data directory and returns its real path. A
/// symbolic link is followed to the folder it names, which must then be a
/// folder of this user's: the hub makes it private (0700), and never does
/// that to someone else's folder a link happens to point at.
#[cfg(unix)]
fn private_dir(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let real = dir.canonicalize()?;
    let meta = std::fs::metadata(&real)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "{} belongs to another user (uid {}): refusing to use it",
            real.display(),
            meta.uid()
        )));
    }
    // Tokens are in these files: nobody else may read them.
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700))?;
    Ok(real)
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    dir.canonicalize()
}

fn open_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A link planted in the folder is not followed.
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Takes the directory's lock file: a second hub on the same directory would
/// interleave its records with ours.
fn lock(dir: &Path) -> Result<File, String> {
    let path = dir.join("lock");
    let file = open_private(&path, false).map_err(|e| format!("{}: {e}", path.display()))?;
    // std's file lock: flock on Unix, LockFileEx on Windows; the OS drops
    // it when the process ends, however it ends.
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "{}: another hub is using this data directory",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("{}: {e}", path.display())),
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and reads what it holds.
    pub fn open(dir: &Path, policy: Fsync, limit: u64) -> Result<(Journal, Loaded), String> {
        let real = private_dir(dir).map_err(|e| format!("--data-dir {}: {e}", dir.display()))?;
        let dir = real.as_path();
        let lock = lock(dir)?;

        let snapshot_path = dir.join("snapshot");
        let mut snapshot = None;
        let mut generation = 0;
        if snapshot_path.exists() {
            let bytes = std::fs::read(&snapshot_path)
                .map_err(|e| format!("{}: {e}", snapshot_path.display()))?;
            let (records, intact) = read_records(&snapshot_path, &bytes)?;
            if intact != bytes.len() || records.len() != 1 {
                // A snapshot is renamed into place only once complete.
                return Err(format!(
                    "{}: damaged (checksum or length): refusing to start from it",
                    snapshot_path.display()
                ));
            }
            let s = records.into_iter().next().unwrap_or_default();
            generation = s["gen"]
                .as_u64()
                .ok_or_else(|| format!("{}: no generation", snapshot_path.display()))?;
            snapshot = Some(s);
        }

        let journal_path = dir.join("journal");
        let mut file = open_private(&journal_path, false)
            .map_err(|e| format!("{}: {e}", journal_path.display()))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("{}: {e}", journal_path.display()))?;
        let (mut records, intact) = read_records(&journal_path, &bytes)?;
        if intact < bytes.len() {
            log::warn!(
                "{}: the last record was cut short ({} bytes, a write the hub did not \
                 finish): dropped",
                journal_path.display(),
                bytes.len() - intact
            );
        }
        let header = if records.is_empty() {
            None
        } else {
            Some(records.remove(0))
        };
        let journal_gen = match &header {
            Some(h) if h["t"] == "gen" => h["g"].as_u64(),
            Some(_) => {
                return Err(format!(
                    "{}: does not start with its generation: not a caucus journal",
                    journal_path.display()
                ));
            }
            None => None,
        };
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            file,
            size: intact as u64,
            limit,
            generation,
            policy,
            pending: Vec::new(),
            unsynced: Arc::new(AtomicBool::new(false)),
            failing: false,
            _lock: lock,
        };
        match journal_gen {
            Some(g) if g == generation => {
                // Cut the torn tail off, so appends follow the last good line.
                journal
                    .file
                    .set_len(intact as u64)
                    .map_err(|e| format!("{}: {e}", journal_path.display()))?;
            }
            Some(g) if g > generation => {
                return Err(format!(
                    "{}: generation {g} is newer than the snapshot's {generation}: \
                     the snapshot is missing or old",
                    journal_path.display()
                ));
            }
            // No journal yet, or one the snapshot already holds.
            _ => {
                records.clear();
                journal
                    .restart()
                    .map_err(|e| format!("{}: {e}", journal_path.display()))?;
            }
        }
        use std::io::Seek;
        journal
            .file
            .seek(std::io::SeekFrom::End(0))
            .map_err(|e| format!("{}: {e}", journal_path.display()))?;
        if policy == Fsync::Group {
            journal.start_syncer()?;
        }
        Ok((journal, Loaded { snapshot, records }))
    }

    /// Empties the journal and writes its generation line.
    fn restart(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.file.set_len(0)?;
        self.file.seek(std::io::SeekFrom::Start(0))?;
        let header = line(&json!({"t": "gen", "g": self.generation}));
        self.file.write_all(&header)?;
        self.file.sync_data()?;
        self.size = header.len() as u64;
        Ok(())
    }

    fn start_syncer(&self) -> Result<(), String> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| format!("cannot share the journal with its syncer: {e}"))?;
        let unsynced = Arc::clone(&self.unsynced);
        std::thread::Builder::new()
            .name("journal-sync".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    std::thread::sleep(GROUP_EVERY);
                    if unsynced.swap(false, Ordering::AcqRel)
                        && let Err(e) = file.sync_data()
                    {
                        log::error!("journal: sync failed: {e}");
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the journal syncer: {e}"))
    }

    /// Adds a record to the operation in progress.
    /// The data directory, links resolved.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn push(&mut self, record: &Value) {
        self.pending.extend_from_slice(&line(record));
    }

    /// Forgets the operation's records unwritten: the operation did not
    /// finish (a panic), and its answer was an error, not a confirmation.
    pub fn discard(&mut self) {
        self.pending.clear();
    }

    /// Writes the operation's records (one write), and syncs per the policy.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let result = self.file.write_all(&self.pending).and_then(|()| {
            if self.policy == Fsync::Write {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                self.size += self.pending.len() as u64;
                if self.failing {
                    log::warn!("journal: writing again");
                    self.failing = false;
                }
                if self.policy == Fsync::Group {
                    self.unsynced.store(true, Ordering::Release);
                }
            }
            Err(e) => {
                // Cut off whatever part of the records did get written: a
                // half line followed by later good ones would read as
                // damage at the next start.
                use std::io::Seek;
                let _ = self.file.set_len(self.size);
                let _ = self.file.seek(std::io::SeekFrom::Start(self.size));
                if !self.failing {
                    log::error!(
                        "journal {}: write failed ({e}): changes are not durable until it \
                         works again",
                        self.dir.display()
                    );
                }
                self.failing = true;
            }
        }
        self.pending.clear();
        if self.pending.capacity() > 64 * 1024 {
            // A large `meta` (hundreds of peers) passed through: give the
            // buffer back rather than keep it for good.
            self.pending = Vec::new();
        }
    }

    pub fn wants_compaction(&self) -> bool {
        self.size > self.limit
    }

    /// Replaces the snapshot with `state` and empties the journal.
    pub fn compact(&mut self, mut state: Value) -> Result<(), String> {
        let next = self.generation + 1;
        state["gen"] = json!(next);
        let path = self.dir.join("snapshot");
        crate::shared::files::write_whole(
            &path,
            &line(&state),
            crate::shared::files::Access::Private,
        )
        .map_err(|e| format!("snapshot {}: {e}", path.display()))?;
        self.generation = next;
        self.restart()
            .map_err(|e| format!("journal {}: {e}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn lines_round_trip_and_damage_is_caught() {
        let rec = json!({"t": "ack", "p": "alpha", "s": 3});
        let l = line(&rec);
        assert_eq!(parse_line(&l[..l.len() - 1]), Some(rec));
        let mut bad = l.clone();
        bad[12] ^= 1;
        assert_eq!(parse_line(&bad[..bad.len() - 1]), None);
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_a_hole_is_refused() {
        let p = Path::new("j");
        let a = line(&json!({"n": 1}));
        let b = line(&json!({"n": 2}));
        let mut torn = [a.clone(), b.clone()].concat();
        torn.truncate(torn.len() - 3);
        let (records, intact) = read_records(p, &torn).unwrap();
        assert_eq!(records, vec![json!({"n": 1})]);
        assert_eq!(intact, a.len());

        let mut holed = [a.clone(), b.clone(), a.clone()].concat();
        holed[a.len() + 10] ^= 1;
        let err = read_records(p, &holed).unwrap_err();
        assert!(err.contains("record 2 is damaged"), "{err}");
    }
}
