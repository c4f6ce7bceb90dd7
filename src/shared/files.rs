//! Writing a file whole: the one way caucus replaces a file it owns (kept
//! tokens, a service unit, a host's project files, the journal's snapshot).
//!
//! The text goes to a temporary file beside the target, made new (never an
//! existing file or a link planted at its name: `create_new`, and on Unix
//! `O_NOFOLLOW`), synced, then renamed over the target, and the folder
//! synced: a reader sees the old file or the new one, never half of either,
//! and a crash leaves at worst a stray temporary file. The rename replaces a
//! link at the target itself rather than writing through it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who may read the file written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// This user only (0600): it holds a secret.
    Private,
    /// As the file it replaces was, else as the user's umask makes a new
    /// file (a host's project configuration).
    AsBefore,
}

/// Writes `bytes` as the whole of `path`.
pub fn write_whole(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let temp = temp_beside(path);
    if std::fs::symlink_metadata(&temp).is_ok() {
        std::fs::remove_file(&temp)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mode = match access {
            Access::Private => 0o600,
            Access::AsBefore => 0o666,
        };
        options.mode(mode).custom_flags(libc::O_NOFOLLOW);
    }
    let written = (|| {
        let mut f = options.open(&temp)?;
        f.write_all(bytes)?;
        if access == Access::AsBefore
            && let Ok(before) = std::fs::metadata(path)
        {
            f.set_permissions(before.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        // Best effort: not every OS lets a folder be synced.
        let _ = d.sync_all();
    }
    Ok(())
}

/// `.NAME.caucus-PID.tmp` beside `path`: a name no other process writing
/// the same file at once would pick.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.caucus-{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("caucus-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let d = dir("whole");
        let path = d.join("a.toml");
        write_whole(&path, b"one", Access::AsBefore).unwrap();
        write_whole(&path, b"two", Access::AsBefore).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn private_is_0600_as_before_keeps_the_mode_and_a_link_is_replaced_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("modes");
        let secret = d.join("t.token");
        write_whole(&secret, b"s", Access::Private).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secret), 0o600);
        let config = d.join("c.json");
        std::fs::write(&config, "{}").unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_whole(&config, b"{\"a\":1}", Access::AsBefore).unwrap();
        assert_eq!(mode(&config), 0o640);
        // A link at the target: replaced by the file, its target untouched.
        let elsewhere = d.join("elsewhere");
        std::fs::write(&elsewhere, "mine").unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        write_whole(&link, b"new", Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "mine");
        assert!(
            !std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A link planted at the temporary name is not written through.
        let planted = temp_beside(&secret);
        std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
        write_whole(&secret, b"s2", Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "mine");
        let _ = std::fs::remove_dir_all(&d);
    }
}
