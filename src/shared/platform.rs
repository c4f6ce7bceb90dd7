//! The few things each operating system does its own way: running a
//! command line through the system's shell, ending a command and every
//! process it started, and opening a URL in the user's browser.
//!
//! **Invariant:** nothing else in the crate names `/bin/sh`, `cmd`, a
//! process group or a browser opener.

use std::process::{Child, Command};

/// A command that runs `line` through the system's shell (`/bin/sh -c` on
/// Unix, `cmd /C` on Windows), in a process group of its own on Unix so
/// that [`end_tree`] reaches whatever it starts.
pub fn shell(line: &str) -> Command {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(line).process_group(0);
        cmd
    }
    #[cfg(windows)]
    {
        let mut cmd = Command::new("cmd");
        cmd.arg("/C").arg(line);
        cmd
    }
}

/// `program` run directly with `args` (no shell reads them), in a process
/// group of its own as [`shell`]'s commands are, so [`end_tree`] ends it
/// and all it started. On Windows the program is looked up on `PATH` with
/// `PATHEXT` (npm installs CLIs as `.cmd` shims, which std then runs with
/// its own safe quoting, or refuses).
pub fn direct(program: &str, args: &[String]) -> Command {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        cmd.args(args).process_group(0);
        cmd
    }
    #[cfg(windows)]
    {
        let mut cmd = Command::new(on_path(program).unwrap_or_else(|| program.into()));
        cmd.args(args);
        cmd
    }
}

/// `program` as found on `PATH` with one of `PATHEXT`'s extensions.
#[cfg(windows)]
fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let exts = std::env::var("PATHEXT").unwrap_or_else(|_| ".EXE;.CMD;.BAT".into());
    std::env::split_paths(&std::env::var_os("PATH")?).find_map(|dir| {
        exts.split(';')
            .filter(|e| !e.is_empty())
            .map(|e| dir.join(format!("{program}{}", e.to_ascii_lowercase())))
            .find(|p| p.is_file())
    })
}

/// Ends `child` and every process it started, then reaps it: on Unix the
/// whole process group [`shell`] gave it, on Windows the process tree
/// (`taskkill /T`). An agent CLI that outlived its shell would otherwise
/// keep running, and keep its output pipe open.
pub fn end_tree(child: &mut Child) {
    #[cfg(unix)]
    {
        if let Ok(group) = libc::pid_t::try_from(child.id()) {
            // SAFETY: killpg only sends a signal, to the group `shell`
            // created for this child (its id is the group's id).
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
    }
    #[cfg(windows)]
    {
        let _ = Command::new("taskkill")
            .args(["/T", "/F", "/PID", &child.id().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Asks the process group a [`direct`] or [`shell`] child leads to end
/// (`SIGTERM`), or with `force` ends it (`SIGKILL`); on Windows the
/// process tree, by its id (`taskkill /T`, with `/F` when forced).
pub fn signal_tree(pid: u32, force: bool) {
    #[cfg(unix)]
    {
        if let Ok(group) = libc::pid_t::try_from(pid) {
            let signal = if force { libc::SIGKILL } else { libc::SIGTERM };
            // SAFETY: killpg only sends a signal, to the group the child
            // was started in (its id is the group's id).
            unsafe {
                libc::killpg(group, signal);
            }
        }
    }
    #[cfg(windows)]
    {
        let mut cmd = Command::new("taskkill");
        cmd.args(["/T", "/PID", &pid.to_string()]);
        if force {
            cmd.arg("/F");
        }
        let _ = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Opens `url` in the user's browser, best effort: `open` on macOS, the
/// URL handler on Windows, `xdg-open` elsewhere.
pub fn open_url(url: &str) -> std::io::Result<Child> {
    let mut cmd = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(windows) {
        let mut c = Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        Command::new("xdg-open")
    };
    cmd.arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

/// Quotes a word for the agent's shell when it needs it: POSIX quoting on
/// Unix; on Windows double quotes, which cmd, PowerShell and Git Bash all
/// read the same for a path (a Windows path holds no `"`).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        s.to_string()
    } else if cfg!(windows) {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
