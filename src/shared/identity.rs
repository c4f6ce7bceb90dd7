//! Where a client keeps the token of the name it joined under, per hub.
//!
//! The hub hands a name only to a request that presents its token, so a
//! bridge or agent that restarts must still have the token to get its name
//! back. It is kept in a private file (0600 in a 0700 folder on Unix; the
//! per-user local data folder on Windows), one per hub and name:
//!
//! ```text
//! <state>/tokens/<hub>/<name>.token   the token, nothing else
//! <state>/tokens/<hub>/<name>.lock    locked while a process uses the name
//! ```
//!
//! `<state>` is `CAUCUS_STATE_DIR`, else `$XDG_STATE_HOME/caucus`, else
//! `~/.local/state/caucus` (`~/Library/Application Support/caucus` on
//! macOS, `%LOCALAPPDATA%\caucus` on Windows).
//!
//! The lock is what keeps two agents started in one directory from
//! silently speaking as one: the second finds the name's lock held and is
//! refused with a way forward, instead of presenting the first one's token.
//! The operating system drops the lock when its holder dies, however it
//! dies, so a crashed bridge never leaves its name locked.
//!
//! **Invariant:** this module knows nothing of HTTP or MCP; it only keeps
//! files. A token is never written anywhere but the token file.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The folder every client keeps its state in.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAUCUS_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    if cfg!(windows) {
        if let Some(local) = std::env::var_os("LOCALAPPDATA") {
            return PathBuf::from(local).join("caucus");
        }
    } else if cfg!(target_os = "macos") {
        if let Some(h) = home() {
            return h.join("Library/Application Support/caucus");
        }
    } else if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(state).join("caucus");
    } else if let Some(h) = home() {
        return h.join(".local/state/caucus");
    }
    std::env::temp_dir().join("caucus-state")
}

/// A file-name-safe spelling of `s` that stays readable and tells apart
/// strings that fold to the same letters (FNV-1a of the exact bytes).
pub fn file_key(s: &str) -> String {
    let readable: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let hash = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{readable}-{:08x}", hash as u32)
}

/// Makes `dir` and its parents, private to this user.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

fn kept_path(hub: &str, name: &str, ext: &str) -> PathBuf {
    state_dir()
        .join("tokens")
        .join(file_key(hub))
        .join(format!("{}.{ext}", file_key(name)))
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Writes `text` whole, private to this user.
fn keep(path: &Path, text: &str) -> std::io::Result<()> {
    crate::shared::files::write_whole(path, text.as_bytes(), crate::shared::files::Access::Private)
}

/// Whether `path` is a plain file of this user that nobody else may read
/// or write: a token planted by someone else (a shared fallback folder
/// with no HOME) is never trusted.
fn private_and_ours(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.file_type().is_file() && m.uid() == me && m.mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
    }
}

/// The token kept for `name` on `hub`, read without claiming the name:
/// for the host's hooks, which act for the agent a bridge joined as.
pub fn kept_token(hub: &str, name: &str) -> Option<String> {
    let path = kept_path(hub, name, "token");
    private_and_ours(&path).then(|| read_trimmed(&path))?
}

/// The operator token kept for a hub on `port` of this machine, if the
/// file is this user's own and private.
pub fn kept_operator_token(port: u16) -> Option<String> {
    kept_hub_secret(port, "token")
}

/// Keeps the operator token of a hub on `port`, private to this user.
pub fn keep_operator_token(port: u16, token: &str) -> std::io::Result<PathBuf> {
    keep_hub_secret(port, "token", token)
}

/// The local key kept for a hub on `port`: the secret its own clients
/// (bridge, watcher, hooks, `caucus agent`, scripts) present at
/// `/register`, so that a flood of keyless registrations from loopback
/// cannot hold them off.
pub fn kept_local_key(port: u16) -> Option<String> {
    kept_hub_secret(port, "local")
}

/// Keeps the local key of a hub on `port`, private to this user.
pub fn keep_local_key(port: u16, key: &str) -> std::io::Result<PathBuf> {
    keep_hub_secret(port, "local", key)
}

fn hub_secret_path(port: u16, kind: &str) -> PathBuf {
    state_dir().join("operator").join(format!("{port}.{kind}"))
}

fn kept_hub_secret(port: u16, kind: &str) -> Option<String> {
    let path = hub_secret_path(port, kind);
    private_and_ours(&path).then(|| read_trimmed(&path))?
}

fn keep_hub_secret(port: u16, kind: &str, secret: &str) -> std::io::Result<PathBuf> {
    let path = hub_secret_path(port, kind);
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    keep(&path, secret)?;
    Ok(path)
}

/// The run of the hub (its `instance`) the kept token was issued by.
pub fn kept_instance(hub: &str, name: &str) -> Option<String> {
    read_trimmed(&kept_path(hub, name, "instance"))
}

/// Keeps a token a hook got by joining again for the bridge's agent after
/// the hub restarted and forgot it; the bridge reads it at its next join.
pub fn rekeep(hub: &str, name: &str, token: &str, instance: &str) -> std::io::Result<()> {
    keep(&kept_path(hub, name, "instance"), instance)?;
    keep(&kept_path(hub, name, "token"), token)
}

/// Why a name could not be claimed.
#[derive(Debug)]
pub enum ClaimError {
    /// Another process on this machine holds the name for this hub.
    Held,
    /// The state folder or the lock could not be used.
    Io(std::io::Error),
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimError::Held => write!(f, "another process on this machine holds the name"),
            ClaimError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A name claimed for one hub by this process: its lock is held until the
/// slot is dropped or released.
#[derive(Debug)]
pub struct Slot {
    token_path: PathBuf,
    _lock: File,
}

impl Slot {
    /// Claims `name` on `hub` for this process.
    pub fn claim(hub: &str, name: &str) -> Result<Slot, ClaimError> {
        Slot::claim_in(&state_dir(), hub, name)
    }

    fn claim_in(state: &Path, hub: &str, name: &str) -> Result<Slot, ClaimError> {
        let dir = state.join("tokens").join(file_key(hub));
        private_dir(&dir).map_err(ClaimError::Io)?;
        let key = file_key(name);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        let lock = options
            .open(dir.join(format!("{key}.lock")))
            .map_err(ClaimError::Io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(ClaimError::Held),
            Err(TryLockError::Error(e)) => return Err(ClaimError::Io(e)),
        }
        Ok(Slot {
            token_path: dir.join(format!("{key}.token")),
            _lock: lock,
        })
    }

    /// Whether `name` on `hub` is free to claim on this machine right now.
    pub fn is_free(hub: &str, name: &str) -> bool {
        Slot::claim(hub, name).is_ok()
    }

    /// The token kept for this name, if any.
    pub fn token(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.token_path).ok()?;
        let token = text.trim();
        (!token.is_empty()).then(|| token.to_string())
    }

    /// Keeps `token`: written to a private temporary file, then renamed
    /// over the token file, so a reader never sees half a token.
    pub fn save(&self, token: &str) -> std::io::Result<()> {
        keep(&self.token_path, token)
    }

    /// Keeps the run of the hub that issued the token, so a hook can tell
    /// a restarted hub (join again) from a kick (stay out).
    pub fn save_instance(&self, instance: &str) -> std::io::Result<()> {
        keep(&self.token_path.with_extension("instance"), instance)
    }

    /// The token file, for `caucus watch --token-file`.
    pub fn token_path(&self) -> &Path {
        &self.token_path
    }

    /// The name is given up for good (it left the room): the token file
    /// goes, and the lock with the slot.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.token_path);
        let _ = std::fs::remove_file(self.token_path.with_extension("instance"));
        let _ = std::fs::remove_file(self.channel_path());
    }

    /// The marker a bridge in channel mode keeps while the host confirmed
    /// it sees pushes: the hooks then leave delivery to it.
    pub fn channel_path(&self) -> PathBuf {
        self.token_path.with_extension("channel")
    }
}

/// Whether a live bridge on this machine pushes `name`'s messages into its
/// host (channel mode, confirmed): its marker is there and its slot held.
/// A marker left by a bridge that died is ignored.
pub fn pushes_to_channel(hub: &str, name: &str) -> bool {
    let marker = state_dir()
        .join("tokens")
        .join(file_key(hub))
        .join(format!("{}.channel", file_key(name)));
    marker.exists() && !Slot::is_free(hub, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_state(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("caucus-identity-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_claimed_name_keeps_its_token_and_refuses_a_second_claim() {
        let state = temp_state("claim");
        let hub = "http://127.0.0.1:8765";
        let slot = Slot::claim_in(&state, hub, "alpha").unwrap();
        assert_eq!(slot.token(), None);
        slot.save("t0k3n").unwrap();
        assert_eq!(slot.token().as_deref(), Some("t0k3n"));
        assert!(matches!(
            Slot::claim_in(&state, hub, "alpha"),
            Err(ClaimError::Held)
        ));
        // Another hub, or another name, is another slot.
        assert!(Slot::claim_in(&state, "http://127.0.0.1:9999", "alpha").is_ok());
        assert!(Slot::claim_in(&state, hub, "beta").is_ok());
        drop(slot);
        let again = Slot::claim_in(&state, hub, "alpha").unwrap();
        assert_eq!(
            again.token().as_deref(),
            Some("t0k3n"),
            "kept across claims"
        );
        again.release();
        let last = Slot::claim_in(&state, hub, "alpha").unwrap();
        assert_eq!(last.token(), None, "released means forgotten");
        let _ = std::fs::remove_dir_all(&state);
    }

    #[cfg(unix)]
    #[test]
    fn token_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let state = temp_state("private");
        let slot = Slot::claim_in(&state, "http://h", "alpha").unwrap();
        slot.save("secret").unwrap();
        let mode = std::fs::metadata(slot.token_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir = slot.token_path().parent().unwrap();
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let _ = std::fs::remove_dir_all(&state);
    }

    #[test]
    fn keys_are_safe_and_distinct() {
        assert_ne!(file_key("a/b"), file_key("a_b"));
        assert!(!file_key("../../etc").contains('/'));
        assert!(file_key("データ").len() < 64);
    }
}
