//! `caucus service`: the unit it writes, and what it refuses to touch.
//! Run with `--no-start`/`--no-stop`: the service managers themselves are
//! not asked here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn home(name: &str) -> PathBuf {
    let dir = common::state_dir().with_extension(format!("svc-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn service(home: &Path, args: &[&str]) -> Output {
    common::caucus()
        .arg("service")
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .current_dir(home)
        .output()
        .unwrap()
}

fn unit(home: &Path) -> PathBuf {
    home.join(".config/systemd/user/caucus-hub.service")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[cfg(target_os = "linux")]
#[test]
fn install_writes_a_user_unit_with_the_hubs_flags_and_uninstall_removes_it() {
    let h = home("install");
    let out = service(
        &h,
        &[
            "install",
            "--no-start",
            "--port",
            "9100",
            "--data-dir",
            "my room",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let text = std::fs::read_to_string(unit(&h)).unwrap();
    let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    let data = h.join("my room");
    assert!(
        exec.contains(" hub --no-browser --port 9100 --data-dir "),
        "{exec}"
    );
    assert!(
        exec.ends_with(&format!("\"{}\"", data.display())),
        "a quoted absolute path: {exec}"
    );
    let exe = exec
        .trim_start_matches("ExecStart=")
        .split(' ')
        .next()
        .unwrap();
    assert!(Path::new(exe).is_absolute(), "{exe}");
    assert!(text.contains("Restart=on-failure") && text.contains("WantedBy=default.target"));

    let status = service(&h, &["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("installed"));
    // Its own file is replaced by a new install.
    let again = service(&h, &["install", "--no-start", "--port", "9200"]);
    assert_eq!(again.status.code(), Some(0), "{}", err(&again));
    assert!(
        std::fs::read_to_string(unit(&h))
            .unwrap()
            .contains("--port 9200")
    );

    let gone = service(&h, &["uninstall", "--no-stop"]);
    assert_eq!(gone.status.code(), Some(0), "{}", err(&gone));
    assert!(!unit(&h).exists());
    let status = service(&h, &["status"]);
    assert_eq!(status.status.code(), Some(1));
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_caucus_did_not_write_or_a_link_is_left_alone() {
    let h = home("foreign");
    std::fs::create_dir_all(unit(&h).parent().unwrap()).unwrap();
    std::fs::write(unit(&h), "[Service]\nExecStart=/bin/true\n").unwrap();
    let out = service(&h, &["install", "--no-start"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).contains("not written by caucus"), "{}", err(&out));
    let out = service(&h, &["uninstall", "--no-stop"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(unit(&h)).unwrap(),
        "[Service]\nExecStart=/bin/true\n"
    );
    // --force is the asking.
    let out = service(&h, &["install", "--force", "--no-start"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert!(
        std::fs::read_to_string(unit(&h))
            .unwrap()
            .contains("caucus service install")
    );
    std::fs::remove_file(unit(&h)).unwrap();

    // A link at the unit's path is never written through.
    let target = h.join("elsewhere");
    std::fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, unit(&h)).unwrap();
    let out = service(&h, &["install", "--no-start", "--force"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).contains("symbolic link"), "{}", err(&out));
    let out = service(&h, &["uninstall", "--no-stop", "--force"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(unit(&h))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn flags_the_hub_would_refuse_write_nothing() {
    let h = home("bad");
    let out = service(&h, &["install", "--no-start", "--port", "eighty"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("--port"), "{}", err(&out));
    assert!(!unit(&h).exists());
    assert_eq!(service(&h, &["restart"]).status.code(), Some(2));
}

#[cfg(target_os = "linux")]
#[test]
fn install_keeps_secrets_out_of_the_command_line_and_refuses_a_line_break() {
    use std::os::unix::fs::PermissionsExt;
    let h = home("secrets");
    let token = "op-secret-0123456789abcdef";
    let out = service(
        &h,
        &[
            "install",
            "--no-start",
            "--operator-token",
            token,
            "--port",
            "9101",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let text = std::fs::read_to_string(unit(&h)).unwrap();
    let exec = text.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        !exec.contains(token),
        "the token is not in the command line: {exec}"
    );
    assert!(
        text.contains(&format!("Environment=\"CAUCUS_OPERATOR_TOKEN={token}\"")),
        "{text}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(token),
        "nor printed"
    );
    let mode = std::fs::metadata(unit(&h)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the unit is private");
    // A line break in a value would add a directive: refused, nothing written.
    let h = home("inject");
    let out = service(
        &h,
        &[
            "install",
            "--no-start",
            "--allowed-origins",
            "https://a.example\nExecStartPre=/bin/sh -c id",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(!unit(&h).exists());
}
