//! The chair's launcher: `POST /agents` starts a seat (a `caucus agent`
//! process) that joins and answers with what its CLI printed, `GET
//! /agents` shows it, `DELETE /agents/NAME` ends it and it leaves; only the
//! chair may, and only with an operator credential.

#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use common::Hub;
use serde_json::{Value, json};

fn as_chair(hub: &Hub, method: &str, path: &str, body: Value) -> common::Resp {
    let bearer = format!("Bearer {}", hub.operator().expect("the hub's token"));
    hub.request(
        method,
        path,
        &[("Authorization", &bearer)],
        body.to_string().as_bytes(),
    )
}

/// The seat named `name` once `pred` holds (within 30 s).
fn seat_when(hub: &Hub, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = as_chair(hub, "GET", "/agents", Value::Null).json();
        if let Some(seat) = list["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name))
            .filter(|s| pred(s))
        {
            return seat.clone();
        }
        assert!(Instant::now() < deadline, "seat {name}: {list}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_chair_launches_a_seat_that_answers_and_stops_it() {
    let (bin, folder) = common::standins("launch");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let hub = Hub::start_with_env(
        &[],
        &[
            ("PATH", &path),
            ("ANTHROPIC_API_KEY", "sk-passed-on"),
            ("SECRET_OF_THE_HUB", "kept-back"),
        ],
    );
    let bob = hub.join("bob");
    let started = as_chair(
        &hub,
        "POST",
        "/agents",
        json!({"name": "seat", "runtime": "claude", "cwd": folder, "model": "m-2",
               "mission": "Say hello\nthen wait"}),
    );
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.json()["state"], "running");
    hub.wait_for_peer("seat", |p| p["listening"] == true);
    // The mission's answer goes to all, then bob gets his answer.
    let opening = bob.chat(30.0);
    assert_eq!(opening[0]["content"], "reply 1 from claude", "{opening:?}");
    assert_eq!(bob.say("seat", "hello seat").status, 200);
    let answer = bob.chat(30.0);
    assert_eq!(answer[0]["content"], "reply 2 from claude");
    let seat = seat_when(&hub, "seat", |s| {
        s["output"].to_string().contains("joined as seat")
    });
    assert_eq!(seat["runtime"], "claude");
    assert_eq!(seat["model"], "m-2");
    assert!(seat["pid"].as_u64().unwrap() > 0);
    let cwd = std::fs::read_to_string(folder.join("claude.1.cwd")).unwrap();
    assert_eq!(
        std::path::Path::new(cwd.trim()),
        folder.canonicalize().unwrap()
    );
    let env = std::fs::read_to_string(folder.join("claude.1.env")).unwrap();
    assert!(env.contains("ANTHROPIC_API_KEY=sk-passed-on"), "{env}");
    assert!(
        !env.contains("kept-back"),
        "only the allowlist passes: {env}"
    );
    assert!(
        !env.contains(hub.operator().unwrap()),
        "never the chair's token"
    );
    let args = std::fs::read_to_string(folder.join("claude.1.args")).unwrap();
    assert!(args.lines().any(|a| a == "--model=m-2"), "{args}");
    assert!(
        std::fs::read_to_string(folder.join("claude.1.prompt"))
            .unwrap()
            .contains("Say hello\nthen wait")
    );

    let stopped = as_chair(&hub, "DELETE", "/agents/seat", Value::Null);
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    let seat = seat_when(&hub, "seat", |s| s["state"] == "stopped");
    let pid = seat["pid"].as_i64().unwrap() as i32;
    // SAFETY: signal 0 only asks whether the process exists.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "the process is gone");
    assert!(
        !hub.peers().contains(&"seat".to_string()),
        "it left the room"
    );
    let again = as_chair(&hub, "DELETE", "/agents/seat", Value::Null);
    assert_eq!(again.status, 404);
}

#[test]
fn only_the_chair_launches_and_bad_seats_change_nothing() {
    let hub = Hub::start(&["--agent-max", "1"]);
    let body = json!({"name": "x", "runtime": "command", "command": "cat"});
    let stranger = hub.request("POST", "/agents", &[], body.to_string().as_bytes());
    assert_eq!(stranger.status, 401);
    let agent = hub.join("member");
    let bearer = format!("Bearer {}", agent.token);
    let member = hub.request(
        "POST",
        "/agents",
        &[("Authorization", &bearer)],
        body.to_string().as_bytes(),
    );
    assert_eq!(member.status, 401, "an agent's token is not the chair's");
    for (bad, status) in [
        (json!({"name": "member", "runtime": "claude"}), 409),
        (json!({"name": "y", "runtime": "bash"}), 422),
        (json!({"name": "y", "runtime": "command"}), 422),
        (
            json!({"name": "y", "runtime": "claude", "cwd": "relative/dir"}),
            422,
        ),
        (json!({"name": "y", "runtime": "claude", "extra": 1}), 422),
        (json!({"name": "human", "runtime": "claude"}), 422),
    ] {
        let r = as_chair(&hub, "POST", "/agents", bad.clone());
        assert_eq!(r.status, status, "{bad}: {}", r.text);
    }
    assert_eq!(
        as_chair(&hub, "GET", "/agents", Value::Null).json()["agents"],
        json!([])
    );
    let first = as_chair(&hub, "POST", "/agents", body.clone());
    assert_eq!(first.status, 200, "{}", first.text);
    let second = as_chair(
        &hub,
        "POST",
        "/agents",
        json!({"name": "z", "runtime": "command", "command": "cat"}),
    );
    assert_eq!(second.status, 409, "--agent-max 1: {}", second.text);
    assert_eq!(
        as_chair(&hub, "DELETE", "/agents/x", Value::Null).status,
        200
    );
    drop(hub);

    let open = Hub::start(&["--no-auth"]);
    let r = open.post("/agents", body);
    assert_eq!(r.status, 403, "no launcher without an operator credential");
    assert!(r.text.contains("--no-auth"), "{}", r.text);
}
