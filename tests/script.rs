//! `caucus say`, `caucus peers` and `caucus control` as a shell user runs them.

mod common;

use std::process::Output;

use common::Hub;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    common::caucus()
        .args(args)
        .env_remove("CAUCUS_TOKEN")
        .env_remove("CAUCUS_HUB_URL")
        .env_remove("CAUCUS_OPERATOR_TOKEN")
        .output()
        .expect("run caucus")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn say_peers_and_control_drive_the_room() {
    let hub = Hub::start(&[]);
    let url = hub.url();
    let b = hub.join("bravo");
    let out = run(&[
        "say", "--hub", &url, "--as", "scripter", "--to", "bravo", "hello", "there",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "sent to bravo\n");
    assert_eq!(b.chat(1.0)[0]["content"], "hello there");
    // The same name again is the same peer: its token was kept.
    let out = run(&[
        "say", "--hub", &url, "--as", "scripter", "--to", "bravo", "again",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.chat(1.0)[0]["content"], "again");

    let out = run(&[
        "say", "--hub", &url, "--token", &b.token, "--json", "to all",
    ]);
    let answer: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["delivered_to"], serde_json::json!(["scripter"]));

    assert_eq!(stdout(&run(&["peers", "--hub", &url])), "bravo\nscripter\n");
    let json: Value =
        serde_json::from_str(stdout(&run(&["peers", "--hub", &url, "--json"])).trim()).unwrap();
    assert_eq!(json["peers"], serde_json::json!(["bravo", "scripter"]));

    let out = run(&["control", "pause", "--hub", &url]);
    assert_eq!(stdout(&out), "the room is paused\n");
    let out = run(&["control", "stop", "--hub", &url, "--json"]);
    assert_eq!(stdout(&out).trim(), r#"{"mode":"stopped"}"#);
    // A stopped room refuses the send: exit 1, the reason on stderr.
    let out = run(&["say", "--hub", &url, "--token", &b.token, "late"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("room stopped"));
}

#[test]
fn control_with_auth_needs_the_operator_token() {
    let hub = Hub::start(&["--operator-token", "op-secret-0123456789abcdef"]);
    let url = hub.url();
    assert_eq!(
        run(&["control", "stop", "--hub", &url]).status.code(),
        Some(1)
    );
    let out = run(&[
        "control",
        "stop",
        "--hub",
        &url,
        "--operator-token",
        "op-secret-0123456789abcdef",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn usage_errors_and_an_unreachable_hub_have_their_codes() {
    let hub = Hub::start(&[]);
    let url = hub.url();
    for args in [
        vec!["say", "--hub", url.as_str()],
        vec!["say", "--hub", url.as_str(), "no speaker"],
        vec!["control", "explode", "--hub", url.as_str()],
        vec!["control", "--hub", url.as_str()],
        vec!["peers", "--frob"],
    ] {
        assert_eq!(run(&args).status.code(), Some(2), "{args:?}");
    }
    let dead = common::dead_url();
    assert_eq!(run(&["peers", "--hub", &dead]).status.code(), Some(4));
}

#[test]
fn control_carries_the_chairs_hand_interrupt_reset_and_approvals() {
    let hub = Hub::start(&["--operator-token", "op-secret-0123456789abcdef"]);
    let url = hub.url();
    let a = hub.join("alpha");
    let op = [
        "--hub",
        url.as_str(),
        "--operator-token",
        "op-secret-0123456789abcdef",
    ];
    let ctl = |words: &[&str]| run(&[&["control"], words, &op[..]].concat());

    let out = ctl(&["interrupt", "alpha", "stop", "the", "build"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "alpha was interrupted\n");
    let got = a.receive(5.0);
    assert_eq!(got[0]["content"], "stop the build");
    assert_eq!(got[0]["meta"]["interrupt"], true);
    assert_eq!(stdout(&ctl(&["reset-peer", "alpha"])), "alpha was reset\n");

    assert_eq!(
        stdout(&ctl(&["approvals"])),
        "no tool call waits for approval\n"
    );
    let id = |r: common::Resp| r.json()["id"].as_str().unwrap().to_string();
    let first = id(a.post(
        "/approvals",
        serde_json::json!({"tool": "Bash", "input": {"command": "make\nrelease"}}),
    ));
    let listed = stdout(&ctl(&["approvals"]));
    assert!(
        listed.starts_with(&format!("{first}  alpha asks to run Bash: ")),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 1, "one line per approval: {listed}");
    assert_eq!(
        stdout(&ctl(&["approve", &first])),
        format!("approval {first}: allow\n")
    );
    assert_eq!(
        ctl(&["approve", &first]).status.code(),
        Some(1),
        "settled already"
    );
    let second = id(a.post("/approvals", serde_json::json!({"tool": "Write"})));
    let out = ctl(&["deny", &second, "--reason", "not today"]);
    assert_eq!(stdout(&out), format!("approval {second}: deny\n"));

    for words in [
        &["interrupt", "alpha"][..],
        &["reset-peer"],
        &["approve"],
        &["deny", "a", "b"],
        &["approvals", "x"],
        &["pause", "now"],
    ] {
        assert_eq!(ctl(words).status.code(), Some(2), "{words:?}");
    }
    // Without the operator token: refused, nothing changed.
    let out = run(&["control", "interrupt", "alpha", "x", "--hub", &url]);
    assert_eq!(out.status.code(), Some(1));
}
