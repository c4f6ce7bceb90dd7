//! `caucus service`: run the hub as a service of the user's session, so it
//! starts at login and comes back if it dies.
//!
//! - Linux: a systemd user unit, `~/.config/systemd/user/caucus-hub.service`
//!   (`$XDG_CONFIG_HOME` if set), enabled with `systemctl --user`;
//! - macOS: a launchd agent, `~/Library/LaunchAgents/com.caucus.hub.plist`,
//!   loaded with `launchctl`;
//! - Windows: a logon task of the Task Scheduler, `caucus-hub`, made with
//!   `schtasks` (there is no file to write).
//!
//! The hub's flags given to `install` are checked as `caucus hub` would
//! check them before anything is written. A file written here carries a
//! marker line: `install` replaces and `uninstall` removes only a file that
//! has it (or with `--force` for one that has not), never follows a
//! symbolic link at that path, and writes through a temporary file renamed
//! into place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use lexopt::prelude::*;

use crate::shared::cli;

use crate::hub::config::HubConfig;

/// How this command signs what it prints on stderr.
const COMMAND: &str = "caucus service";

pub const HELP: &str = "\
caucus service: run the hub as a service of your user session

Usage: caucus service install [--force] [--no-start] [HUB FLAGS...]
       caucus service status
       caucus service uninstall [--force] [--no-stop]

install writes a systemd user unit (Linux), a launchd agent (macOS) or a
logon task (Windows) that runs `caucus hub --no-browser HUB FLAGS...`, and
starts it. HUB FLAGS are those of `caucus hub --help`, checked first.

Options:
  --force      replace (or remove) a file that caucus did not write
  --no-start   write the service, do not start it
  --no-stop    remove the service, do not stop it first
  -h, --help   print this help

Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 usage.
";

/// The line every file written here starts with.
const MARKER: &str = "Written by `caucus service install`";
const UNIT: &str = "caucus-hub.service";
const LABEL: &str = "com.caucus.hub";

pub fn main(mut args: lexopt::Parser) -> ExitCode {
    let verb = match args.next() {
        Ok(Some(Value(v))) => v.to_string_lossy().into_owned(),
        Ok(Some(Short('h') | Long("help"))) | Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Some(other)) => return cli::usage(COMMAND, other.unexpected()),
        Err(e) => return cli::usage(COMMAND, e),
    };
    let mut force = false;
    let mut start = true;
    let mut hub_flags: Vec<OsString> = Vec::new();
    // Our own flags come first; the rest belongs to the hub.
    let rest: Vec<OsString> = match args.raw_args() {
        Ok(raw) => raw.collect(),
        Err(e) => return cli::usage(COMMAND, e),
    };
    for arg in rest {
        match arg.to_str() {
            Some("--force") if hub_flags.is_empty() => force = true,
            Some("--no-start" | "--no-stop") if hub_flags.is_empty() => start = false,
            Some("-h" | "--help") if hub_flags.is_empty() => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            _ => hub_flags.push(arg),
        }
    }
    match verb.as_str() {
        "install" => install(&hub_flags, force, start),
        "status" if hub_flags.is_empty() => status(),
        "uninstall" if hub_flags.is_empty() => uninstall(force, start),
        "status" | "uninstall" => cli::usage(COMMAND, format!("{verb} takes no hub flags")),
        other => cli::usage(
            COMMAND,
            format!("unknown verb {other:?}: install, status or uninstall"),
        ),
    }
}

/// Where the service's file goes, on this OS; `None` on Windows.
fn service_file() -> Result<Option<PathBuf>, String> {
    if cfg!(windows) {
        return Ok(None);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or("HOME is not set")?;
    if cfg!(target_os = "macos") {
        return Ok(Some(
            home.join("Library/LaunchAgents")
                .join(format!("{LABEL}.plist")),
        ));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    Ok(Some(config.join("systemd/user").join(UNIT)))
}

/// What is at `path` now.
enum Existing {
    Nothing,
    Ours,
    Foreign,
    Link,
}

fn existing(path: &Path) -> Existing {
    match std::fs::symlink_metadata(path) {
        Err(_) => Existing::Nothing,
        Ok(m) if m.file_type().is_symlink() => Existing::Link,
        Ok(_) => match std::fs::read_to_string(path) {
            Ok(text) if text.contains(MARKER) => Existing::Ours,
            _ => Existing::Foreign,
        },
    }
}

/// A word for a systemd `ExecStart=` line, quoted when it needs it.
fn unit_word(s: &str) -> String {
    if !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || "\"'\\%$;".contains(c)) {
        s.to_string()
    } else {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
            .replace('$', "$$");
        format!("\"{escaped}\"")
    }
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The flags that carry secrets, and the variable each is given as
/// instead: a secret never sits in the service's command line (`ps`).
const SECRET_FLAGS: [(&str, &str); 3] = [
    ("--operator-token", "CAUCUS_OPERATOR_TOKEN"),
    ("--observer-token", "CAUCUS_OBSERVER_TOKEN"),
    ("--agent-key", "CAUCUS_AGENT_KEY"),
];

/// `flags` without the secret ones, and those as environment variables.
fn split_secrets(flags: &[String]) -> (Vec<String>, Vec<(&'static str, String)>) {
    let mut kept = Vec::new();
    let mut secrets = Vec::new();
    let mut iter = flags.iter();
    while let Some(flag) = iter.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        match SECRET_FLAGS.iter().find(|(f, _)| *f == name) {
            Some((_, var)) => {
                if let Some(value) = inline.or_else(|| iter.next().cloned()) {
                    secrets.push((*var, value));
                }
            }
            None => kept.push(flag.clone()),
        }
    }
    (kept, secrets)
}

/// The service file's text for `argv` (the binary, then its arguments),
/// with `secrets` as its environment; the file is private (0600).
fn file_text(argv: &[String], secrets: &[(&str, String)]) -> String {
    if cfg!(target_os = "macos") {
        let args: String = argv
            .iter()
            .map(|a| format!("    <string>{}</string>\n", xml_text(a)))
            .collect();
        let env: String = if secrets.is_empty() {
            String::new()
        } else {
            let pairs: String = secrets
                .iter()
                .map(|(k, v)| format!("    <key>{k}</key>\n    <string>{}</string>\n", xml_text(v)))
                .collect();
            format!("  <key>EnvironmentVariables</key>\n  <dict>\n{pairs}  </dict>\n")
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!-- {MARKER}; `caucus service uninstall` removes it. -->\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
             \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<dict>\n  <key>Label</key>\n  <string>{LABEL}</string>\n\
             \x20 <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n\
             \x20 <key>RunAtLoad</key>\n  <true/>\n  <key>KeepAlive</key>\n  <true/>\n\
             {env}</dict>\n</plist>\n"
        )
    } else {
        let exec: Vec<String> = argv.iter().map(|a| unit_word(a)).collect();
        let env: String = secrets
            .iter()
            .map(|(k, v)| {
                // In Environment= only specifiers (%), quotes and
                // backslashes are special; $ is not expanded there.
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('%', "%%");
                format!("Environment=\"{k}={v}\"\n")
            })
            .collect();
        format!(
            "# {MARKER}; `caucus service uninstall` removes it.\n\
             [Unit]\nDescription=caucus hub: a supervised room for AI agents\n\
             After=network.target\n\n\
             [Service]\n{env}ExecStart={}\nRestart=on-failure\nRestartSec=2\n\n\
             [Install]\nWantedBy=default.target\n",
            exec.join(" ")
        )
    }
}

/// Writes `text` whole at `path`, private (it may hold the hub's secrets).
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::shared::files::write_whole(path, text.as_bytes(), crate::shared::files::Access::Private)
}

/// The hub's flags with the paths it takes made absolute: a service does
/// not start in the folder `install` ran in.
fn absolute_paths(flags: &[OsString]) -> Vec<String> {
    const PATH_FLAGS: [&str; 2] = ["--data-dir", "--log-file"];
    let here = std::env::current_dir().unwrap_or_default();
    let absolute = |p: &str| here.join(p).display().to_string();
    let mut out = Vec::with_capacity(flags.len());
    let mut next_is_path = false;
    for flag in flags {
        let flag = flag.to_string_lossy().into_owned();
        if next_is_path {
            out.push(absolute(&flag));
            next_is_path = false;
            continue;
        }
        match flag.split_once('=') {
            Some((name, value)) if PATH_FLAGS.contains(&name) => {
                out.push(format!("{name}={}", absolute(value)));
            }
            _ => {
                next_is_path = PATH_FLAGS.contains(&flag.as_str());
                out.push(flag);
            }
        }
    }
    out
}

/// Runs a service manager's command; says what failed rather than failing.
fn run(program: &str, args: &[&str]) -> bool {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!(
                "caucus service: `{program} {}` exited with {s}",
                args.join(" ")
            );
            false
        }
        Err(e) => {
            eprintln!("caucus service: cannot run {program}: {e}");
            false
        }
    }
}

fn launchd_domain() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        format!("gui/{}", unsafe { libc::getuid() })
    }
    #[cfg(not(unix))]
    {
        String::new()
    }
}

fn install(hub_flags: &[OsString], force: bool, start: bool) -> ExitCode {
    let mut flags: Vec<OsString> = vec!["--no-browser".into()];
    flags.extend(hub_flags.iter().cloned());
    if let Err(e) = HubConfig::parse(lexopt::Parser::from_args(flags.clone())) {
        return cli::usage(COMMAND, format!("the hub would refuse these flags: {e}"));
    }
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p.display().to_string(),
        Err(e) => return cli::fail(COMMAND, format!("cannot find this program's path: {e}")),
    };
    if flags
        .iter()
        .any(|f| f.to_string_lossy().chars().any(char::is_control))
    {
        return cli::usage(
            COMMAND,
            "a flag value holds a control character (a line break would add a line to the \
             service file): refused",
        );
    }
    let (flags, secrets) = split_secrets(&absolute_paths(&flags));
    if !secrets.is_empty() && cfg!(windows) {
        return cli::usage(
            COMMAND,
            "secrets (--operator-token, --observer-token, --agent-key) would sit in the \
             logon task's command line: leave --operator-token out (the hub makes one and \
             keeps it private) or set the CAUCUS_* variables in your user environment",
        );
    }
    let mut argv = vec![exe, "hub".to_string()];
    argv.extend(flags);
    let file = match service_file() {
        Ok(f) => f,
        Err(e) => return cli::fail(COMMAND, e),
    };
    let Some(path) = file else {
        return install_windows(&argv, start);
    };
    match existing(&path) {
        Existing::Link => {
            return cli::fail(
                COMMAND,
                format!(
                    "{} is a symbolic link: caucus does not write through links; remove it first",
                    path.display()
                ),
            );
        }
        Existing::Foreign if !force => {
            return cli::fail(
                COMMAND,
                format!(
                    "{} exists and was not written by caucus: move it away, or pass --force to \
                 replace it",
                    path.display()
                ),
            );
        }
        _ => {}
    }
    if let Err(e) = write_file(&path, &file_text(&argv, &secrets)) {
        return cli::fail(COMMAND, format!("cannot write {}: {e}", path.display()));
    }
    println!("wrote {}", path.display());
    println!("it runs: {}", argv.join(" "));
    let (how, started) = if cfg!(target_os = "macos") {
        let domain = launchd_domain();
        let shown = path.display().to_string();
        let how = format!("launchctl bootstrap {domain} {shown}");
        let started = start && {
            // A loaded agent must be unloaded before it is loaded again.
            let _ = Command::new("launchctl")
                .args(["bootout", &domain, &shown])
                .stderr(Stdio::null())
                .status();
            run("launchctl", &["bootstrap", &domain, &shown])
        };
        (how, started)
    } else {
        let how = format!("systemctl --user daemon-reload && systemctl --user enable --now {UNIT}");
        let started = start
            && run("systemctl", &["--user", "daemon-reload"])
            && run("systemctl", &["--user", "enable", "--now", UNIT]);
        (how, started)
    };
    if started {
        println!("started; `caucus service status` shows it");
    } else {
        println!("not started; to start it: {how}");
    }
    ExitCode::SUCCESS
}

fn install_windows(argv: &[String], start: bool) -> ExitCode {
    let command: Vec<String> = argv
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        })
        .collect();
    let task = command.join(" ");
    if !run(
        "schtasks",
        &[
            "/Create",
            "/F",
            "/SC",
            "ONLOGON",
            "/TN",
            "caucus-hub",
            "/TR",
            &task,
        ],
    ) {
        return cli::fail(COMMAND, "the logon task could not be made");
    }
    println!("made the logon task caucus-hub: {task}");
    if start && run("schtasks", &["/Run", "/TN", "caucus-hub"]) {
        println!("started");
    }
    ExitCode::SUCCESS
}

fn status() -> ExitCode {
    let file = match service_file() {
        Ok(f) => f,
        Err(e) => return cli::fail(COMMAND, e),
    };
    let Some(path) = file else {
        return if run("schtasks", &["/Query", "/TN", "caucus-hub"]) {
            ExitCode::SUCCESS
        } else {
            cli::fail(COMMAND, "no logon task caucus-hub")
        };
    };
    match existing(&path) {
        Existing::Nothing => {
            println!("not installed ({} does not exist)", path.display());
            return ExitCode::from(1);
        }
        Existing::Ours => println!("installed: {}", path.display()),
        Existing::Foreign => println!("{} exists but caucus did not write it", path.display()),
        Existing::Link => println!("{} is a symbolic link", path.display()),
    }
    let running = if cfg!(target_os = "macos") {
        run(
            "launchctl",
            &["print", &format!("{}/{LABEL}", launchd_domain())],
        )
    } else {
        run("systemctl", &["--user", "is-active", "--quiet", UNIT])
    };
    println!("{}", if running { "running" } else { "not running" });
    ExitCode::SUCCESS
}

fn uninstall(force: bool, stop: bool) -> ExitCode {
    let file = match service_file() {
        Ok(f) => f,
        Err(e) => return cli::fail(COMMAND, e),
    };
    let Some(path) = file else {
        return if run("schtasks", &["/Delete", "/F", "/TN", "caucus-hub"]) {
            ExitCode::SUCCESS
        } else {
            cli::fail(COMMAND, "the logon task could not be removed")
        };
    };
    match existing(&path) {
        Existing::Nothing => {
            println!("not installed ({} does not exist)", path.display());
            return ExitCode::SUCCESS;
        }
        Existing::Link => {
            return cli::fail(
                COMMAND,
                format!(
                    "{} is a symbolic link caucus did not create: left alone",
                    path.display()
                ),
            );
        }
        Existing::Foreign if !force => {
            return cli::fail(
                COMMAND,
                format!(
                    "{} was not written by caucus: left alone (--force removes it)",
                    path.display()
                ),
            );
        }
        _ => {}
    }
    if stop {
        if cfg!(target_os = "macos") {
            run(
                "launchctl",
                &["bootout", &launchd_domain(), &path.display().to_string()],
            );
        } else {
            run("systemctl", &["--user", "disable", "--now", UNIT]);
        }
    }
    if let Err(e) = std::fs::remove_file(&path) {
        return cli::fail(COMMAND, format!("cannot remove {}: {e}", path.display()));
    }
    println!("removed {}", path.display());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_words_are_quoted_for_systemd() {
        assert_eq!(unit_word("/usr/bin/caucus"), "/usr/bin/caucus");
        assert_eq!(unit_word("/home/a b/data"), "\"/home/a b/data\"");
        assert_eq!(unit_word("50%"), "\"50%%\"");
        assert_eq!(unit_word("$HOME"), "\"$$HOME\"");
    }

    #[test]
    fn plist_text_is_escaped() {
        assert_eq!(xml_text("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
