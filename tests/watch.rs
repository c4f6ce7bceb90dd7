//! `caucus watch` as a real process: its stdout lines, its acknowledgements
//! and each of its exit codes.

mod common;

use std::process::{Command, Output, Stdio};

use common::Hub;
use serde_json::{Value, json};

fn watch(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = common::caucus();
    cmd.arg("watch")
        .args(args)
        .env_remove("CAUCUS_TOKEN")
        .env_remove("CAUCUS_HUB_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts a watcher for `name`, waits until it polls, runs `act`, returns its output.
fn run_while(hub: &Hub, name: &str, mut cmd: Command, act: impl FnOnce()) -> Output {
    let child = cmd.spawn().expect("start caucus watch");
    hub.wait_for_peer(name, |p| p["listening"] == true);
    act();
    child.wait_with_output().expect("watcher output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn prints_each_message_acknowledges_and_exits_0() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let cmd = watch(&["--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "first line");
    });
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: first line\n");
    // What it printed was acknowledged: nothing comes back.
    assert!(b.receive(0.2).is_empty());
}

#[test]
fn the_operators_stop_prints_the_stop_line_and_exits_3() {
    let hub = Hub::start(&[]);
    let b = hub.join("beta");
    let cmd = watch(&["--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        hub.control(json!({"action": "stop"}));
    });
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stdout(&out),
        "[caucus] STOP -- operator stopped the room; watcher exiting.\n"
    );
}

#[test]
fn json_mode_prints_one_object_per_line() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let cmd = watch(&["--json", "--hub", &hub.url(), "--token", &b.token], &[]);
    let out = run_while(&hub, "beta", cmd, || {
        a.say("all", "multi\nline");
    });
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["content"], "multi\nline");
    assert_eq!(lines[0]["sender"], "alpha");
}

#[test]
fn a_rejected_token_exits_1() {
    let hub = Hub::start(&[]);
    let out = watch(&["--hub", &hub.url(), "--token", "bogus"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[test]
fn usage_errors_exit_2() {
    let hub = Hub::start(&[]);
    for args in [
        vec!["--hub", "nonsense", "--token", "t"],
        vec!["--hub", "http://192.0.2.10:8765", "--token", "t"],
        vec!["--hub", &hub.url()],
        vec!["--hub", &hub.url(), "--token-file", "/nonexistent/token"],
        vec!["--hub", &hub.url(), "--token", "t", "--timeout", "soon"],
        vec!["--frobnicate"],
    ] {
        let out = watch(&args, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} said nothing");
    }
}

#[test]
fn the_token_comes_from_flag_then_file_then_environment() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let path = std::env::temp_dir().join(format!("caucus-watch-token-{}", std::process::id()));
    std::fs::write(&path, format!("{}\n", b.token)).unwrap();
    let file = path.to_str().unwrap();
    // The file is used when no --token is given, and wins over the environment.
    let cmd = watch(
        &["--hub", &hub.url(), "--token-file", file],
        &[("CAUCUS_TOKEN", "bogus")],
    );
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "via file");
    });
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: via file\n");
    // --token wins over a bad file.
    std::fs::write(&path, "bogus").unwrap();
    let cmd = watch(
        &[
            "--hub",
            &hub.url(),
            "--token",
            &b.token,
            "--token-file",
            file,
        ],
        &[],
    );
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "via flag");
    });
    assert_eq!(out.status.code(), Some(0));
    // The environment, and CAUCUS_HUB_URL, when nothing else is given.
    let cmd = watch(
        &[],
        &[("CAUCUS_TOKEN", &b.token), ("CAUCUS_HUB_URL", &hub.url())],
    );
    let out = run_while(&hub, "beta", cmd, || {
        a.say("beta", "via env");
    });
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: via env\n");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn an_unreachable_hub_is_retried_then_given_up_with_exit_4() {
    let url = common::dead_url();
    let out = watch(&["--hub", &url, "--token", "t", "--give-up", "1"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "{err}");
    assert!(err.contains("giving up"), "{err}");
}

#[test]
fn a_watcher_killed_mid_poll_loses_nothing() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let mut first = watch(&["--hub", &hub.url(), "--token", &b.token], &[])
        .spawn()
        .unwrap();
    hub.wait_for_peer("beta", |p| p["listening"] == true);
    first.kill().unwrap();
    first.wait().unwrap();
    // The hub still holds the dead watcher's poll: this message goes to it.
    a.say("beta", "do not lose me");
    hub.wait_for_peer("beta", |p| p["listening"] == false);
    let out = watch(&["--hub", &hub.url(), "--token", &b.token], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "[caucus] msg alpha -> beta: do not lose me\n");
}
