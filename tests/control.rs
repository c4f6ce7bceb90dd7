//! The operator's side: room control, the console actions over `POST
//! /control`, auth and origins, the reaper, and the transcript file.

mod common;

use std::thread;

use common::Hub;
use serde_json::{Value, json};

#[test]
fn pause_holds_delivery_and_resume_releases_it() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    assert_eq!(
        hub.control(json!({"action": "pause"})).json(),
        json!({"mode": "paused"})
    );
    // Sends are still accepted while paused.
    assert_eq!(a.say("beta", "held").status, 200);
    let held = b.receive_raw("timeout=0.3").json();
    assert_eq!(held["messages"], json!([]));
    assert_eq!(held["mode"], "paused");
    thread::scope(|s| {
        let poll = s.spawn(|| b.chat(20.0));
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        assert_eq!(
            hub.control(json!({"action": "resume"})).json(),
            json!({"mode": "running"})
        );
        assert_eq!(poll.join().unwrap()[0]["content"], "held");
    });
}

#[test]
fn stop_reaches_every_poll_and_reset_reopens() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    thread::scope(|s| {
        let poll = s.spawn(|| b.receive_raw("timeout=20").json());
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        assert_eq!(
            hub.control(json!({"action": "stop"})).json(),
            json!({"mode": "stopped"})
        );
        let got = poll.join().unwrap();
        assert_eq!(got["mode"], "stopped");
        let stop = &got["messages"][0];
        assert_eq!(stop["kind"], "control");
        assert_eq!(stop["content"], "stop");
        assert_eq!(stop["sender"], "hub");
        assert_eq!(stop["origin"], "hub");
        assert_eq!(stop["seq"], 0);
    });
    // Every later poll returns the stop at once, to everyone.
    assert_eq!(a.receive(20.0)[0]["content"], "stop");
    assert_eq!(a.say("beta", "x").status, 409);
    assert_eq!(
        hub.control(json!({"action": "reset"})).json(),
        json!({"mode": "running"})
    );
    assert_eq!(a.say("beta", "back").status, 200);
    // The stop is not replayed after the reset.
    let after = b.receive(1.0);
    assert!(after.iter().all(|m| m["kind"] != "control"), "{after:?}");
    assert_eq!(after.last().unwrap()["content"], "back");
}

#[test]
fn unknown_actions_and_targets_are_refused() {
    let hub = Hub::start(&[]);
    let r = hub.control(json!({"action": "explode"}));
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("explode"));
    assert_eq!(hub.control(json!({})).status, 422);
    // A known action without the field it needs, or with a wrong type.
    for body in [
        json!({"action": "kick"}),
        json!({"action": "say", "to": "all"}),
        json!({"action": "approve", "id": 7}),
        json!({"action": "set_rate_limit", "burst": "many"}),
    ] {
        let r = hub.control(body.clone());
        assert_eq!(r.status, 422, "{body}: {}", r.text);
    }
    for body in [
        json!({"action": "kick", "peer": "ghost"}),
        json!({"action": "pause_peer", "peer": "ghost"}),
        json!({"action": "heartbeat", "peer": "ghost"}),
        json!({"action": "say", "to": "ghost", "content": "hi"}),
        json!({"action": "close_channel", "channel": "#none"}),
        json!({"action": "clear_floor", "scope": "all"}),
        json!({"action": "cancel_form", "id": "000000000000"}),
    ] {
        let r = hub.control(body.clone());
        assert_eq!(r.status, 404, "{body}: {}", r.text);
        assert!(r.json()["detail"].is_string());
    }
    assert_eq!(hub.control(json!({"action": "kick"})).status, 422);
}

#[test]
fn kick_is_final_and_ends_the_peers_poll() {
    let hub = Hub::start(&[]);
    let b = hub.join("beta");
    thread::scope(|s| {
        let poll = s.spawn(|| b.receive_raw("timeout=20"));
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        assert_eq!(
            hub.control(json!({"action": "kick", "peer": "beta"}))
                .json(),
            json!({"kicked": "beta"})
        );
        assert_eq!(poll.join().unwrap().status, 401);
    });
    assert_eq!(hub.ping("beta")["state"], "absent");
    assert_eq!(b.say("all", "back?").status, 401);
    assert!(
        hub.log()
            .iter()
            .any(|m| m["content"] == "beta kicked by operator")
    );
}

#[test]
fn the_operator_speaks_to_all_a_peer_or_a_channel_through_any_floor() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    a.floor("take", "all");
    b.post("/channels/join", json!({"channel": "#ops"}));
    let r = hub.control(json!({"action": "say", "content": "hello room"}));
    assert_eq!(r.json()["delivered_to"], json!(["alpha", "beta"]));
    hub.control(json!({"action": "say", "to": "beta", "content": "just you"}));
    hub.control(json!({"action": "say", "to": "#ops", "content": "ops"}));
    let got: Vec<Value> = b.chat(1.0);
    let contents: Vec<&str> = got.iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["hello room", "just you", "ops"]);
    assert!(
        got.iter()
            .all(|m| m["sender"] == "human" && m["origin"] == "operator")
    );
    assert_eq!(
        hub.control(json!({"action": "say", "content": ""})).status,
        422
    );
}

#[test]
fn one_peer_can_be_paused_while_the_room_runs() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let c = hub.join("gamma");
    assert_eq!(
        hub.control(json!({"action": "pause_peer", "peer": "beta"}))
            .json(),
        json!({"peer": "beta", "paused": true})
    );
    a.say("all", "news");
    assert_eq!(c.chat(1.0).len(), 1);
    assert!(b.receive(0.3).is_empty());
    thread::scope(|s| {
        let poll = s.spawn(|| b.chat(20.0));
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        hub.control(json!({"action": "resume_peer", "peer": "beta"}));
        assert_eq!(poll.join().unwrap()[0]["content"], "news");
    });
}

#[test]
fn heartbeat_close_channel_and_clear_floor() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let hb = hub
        .control(json!({"action": "heartbeat", "peer": "alpha"}))
        .json();
    assert_eq!(hb["result"]["state"], "live");
    a.post("/channels/join", json!({"channel": "#ops"}));
    a.floor("take", "#ops");
    assert_eq!(
        hub.control(json!({"action": "close_channel", "channel": "#ops"}))
            .json(),
        json!({"closed": "#ops"})
    );
    assert_eq!(hub.get("/channels").json(), json!({"channels": {}}));
    assert_eq!(hub.get("/floor").json(), json!({"floors": {}}));
    a.floor("take", "all");
    assert_eq!(
        hub.control(json!({"action": "clear_floor", "scope": "all"}))
            .json(),
        json!({"cleared": "all"})
    );
    assert_eq!(hub.get("/floor").json(), json!({"floors": {}}));
}

#[test]
fn with_an_operator_token_control_and_export_need_it() {
    let hub = Hub::start(&[
        "--operator-token",
        "op-secret-0123456789abcdef",
        "--observer-token",
        "obs-secret-0123456789abcdef",
    ]);
    let none = hub.control(json!({"action": "stop"}));
    assert_eq!(none.status, 401);
    let wrong = hub.request(
        "POST",
        "/control",
        &[("Authorization", "Bearer nope")],
        br#"{"action":"stop"}"#,
    );
    assert_eq!(wrong.status, 401);
    let observer = hub.request(
        "POST",
        "/control",
        &[("Authorization", "Bearer obs-secret-0123456789abcdef")],
        br#"{"action":"stop"}"#,
    );
    assert_eq!(observer.status, 403);
    let operator = hub.request(
        "POST",
        "/control",
        &[("Authorization", "Bearer op-secret-0123456789abcdef")],
        br#"{"action":"pause"}"#,
    );
    assert_eq!(operator.json(), json!({"mode": "paused"}));
    // The chair's other powers are the operator's alone too.
    hub.join("alpha");
    for body in [
        r#"{"action":"interrupt","peer":"alpha","content":"x"}"#,
        r#"{"action":"reset_peer","peer":"alpha"}"#,
        r#"{"action":"approve","id":"x"}"#,
        r#"{"action":"deny","id":"x"}"#,
    ] {
        let r = hub.request(
            "POST",
            "/control",
            &[("Authorization", "Bearer obs-secret-0123456789abcdef")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 403, "{body}");
    }
    assert_eq!(hub.get("/approvals").status, 401);
    let seen = hub.request(
        "GET",
        "/approvals",
        &[("Authorization", "Bearer obs-secret-0123456789abcdef")],
        b"",
    );
    assert_eq!(seen.json(), json!({"approvals": []}));

    assert_eq!(hub.get("/export").status, 401);
    let read = hub.request(
        "GET",
        "/export",
        &[("Authorization", "Bearer obs-secret-0123456789abcdef")],
        b"",
    );
    assert_eq!(read.status, 200);
    // Agents' endpoints stay open.
    assert_eq!(hub.get("/peers").status, 200);
}

#[test]
fn tokens_come_from_the_environment_too() {
    let hub = Hub::start_with_env(
        &[],
        &[("CAUCUS_OPERATOR_TOKEN", "env-secret-0123456789abcdef")],
    );
    assert_eq!(hub.control(json!({"action": "pause"})).status, 401);
    let ok = hub.request(
        "POST",
        "/control",
        &[("Authorization", "Bearer env-secret-0123456789abcdef")],
        br#"{"action":"pause"}"#,
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn a_cross_site_origin_cannot_drive_the_room() {
    let hub = Hub::start(&["--allowed-origin", "https://console.example"]);
    let evil = hub.request(
        "POST",
        "/control",
        &[("Origin", "http://evil.example")],
        br#"{"action":"stop"}"#,
    );
    assert_eq!(evil.status, 403);
    assert_eq!(evil.json()["detail"], "origin not allowed");
    let port = hub.addr.rsplit(':').next().unwrap();
    let ours = format!("http://localhost:{port}");
    for origin in [ours.as_str(), "https://console.example"] {
        let r = hub.request(
            "POST",
            "/control",
            &[("Origin", origin)],
            br#"{"action":"pause"}"#,
        );
        assert_eq!(r.status, 200, "{origin}");
    }
    assert_eq!(hub.get("/protocol").status, 200);
    let stopped = hub.log().iter().any(|m| m["content"] == "control: stopped");
    assert!(!stopped, "the refused stop changed the room");
}

#[test]
fn idle_peers_are_reaped_and_revived_with_their_mail() {
    let hub = Hub::start(&["--client-ttl", "0.3"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    b.ack(0);
    hub.wait_for_peer("beta", |p| p["state"] == "reaped");
    assert!(!hub.peers().contains(&"beta".to_string()));
    let reaped = hub.ping("beta");
    assert_eq!(reaped["present"], false);
    assert_eq!(reaped["listening"], false);
    assert!(reaped["reaped_age"].as_f64().unwrap() >= 0.0);
    // alpha was reaped too; its send revives it, and the mail still queues.
    let sent = a.say("beta", "while you were out").json();
    assert_eq!(sent["delivered_to"], json!(["beta"]));
    let got = b.receive(1.0);
    assert!(got.iter().any(|m| m["content"] == "while you were out"));
    assert!(got.iter().any(|m| {
        m["kind"] == "system"
            && m["content"]
                .as_str()
                .unwrap()
                .starts_with("beta reconnected after")
    }));
    assert_eq!(hub.ping("beta")["state"], "live");
}

#[test]
fn a_name_past_its_grace_goes_to_a_newcomer_and_the_old_token_dies() {
    let hub = Hub::start(&["--client-ttl", "0.2", "--reaped-grace", "0.2"]);
    let old = hub.join("alpha");
    hub.wait_for_peer("alpha", |p| p["state"] == "absent");
    let newcomer = hub.post("/register", json!({"project": "alpha"})).json();
    assert_ne!(newcomer["token"], old.token.as_str());
    assert_eq!(old.say("all", "me again").status, 401);
}

#[test]
fn the_reaped_grace_ends_in_forgetting() {
    let hub = Hub::start(&["--client-ttl", "0.2", "--reaped-grace", "0.2"]);
    let a = hub.join("alpha");
    hub.wait_for_peer("alpha", |p| p["state"] == "absent");
    assert_eq!(a.say("all", "too late").status, 401);
}

#[test]
fn the_transcript_gets_one_line_per_routed_message() {
    let dir = std::env::temp_dir().join(format!("caucus-transcript-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("room.jsonl");
    let hub = Hub::start(&["--log-file", path.to_str().unwrap()]);
    let a = hub.join("alpha");
    hub.join("beta");
    let id = a.say("beta", "on the record").json()["message_id"].clone();
    // The writer is a thread of its own: wait for the line, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let line = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("on the record")) {
            break l.to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no transcript line");
        thread::sleep(std::time::Duration::from_millis(10));
    };
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["sender"], "alpha");
    assert_eq!(v["recipient"], "beta");
    assert_eq!(v["kind"], "message");
    assert_eq!(v["meta"], json!({"id": id, "delivered_to": ["beta"]}));
    assert!(v["ts"].as_str().unwrap().ends_with("+00:00"));
    assert!(v["seq"].as_u64().unwrap() >= 1);
    drop(hub);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_queue_is_reported_to_the_sender() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    for _ in 0..1000 {
        assert_eq!(a.say("beta", "x").json()["delivered_to"], json!(["beta"]));
    }
    let over = a.say("beta", "overflow").json();
    assert_eq!(over["delivered_to"], json!([]));
    assert_eq!(over["queue_full"], json!(["beta"]));
    // Draining (a client that does not ack) makes room again.
    assert_eq!(b.receive(1.0).len(), 1000);
    assert!(b.receive(0.1).is_empty());
    assert_eq!(
        a.say("beta", "room again").json()["delivered_to"],
        json!(["beta"])
    );
}

#[test]
fn the_loop_guard_pauses_after_n_agent_messages_with_no_operator_word() {
    let hub = Hub::start(&["--loop-guard", "3"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    // Two agent messages, then the operator speaks: the count starts over.
    assert_eq!(a.say("beta", "one").status, 200);
    assert_eq!(b.say("alpha", "two").status, 200);
    let said = hub.control(json!({"action": "say", "to": "all", "content": "carry on"}));
    assert_eq!(said.status, 200);
    assert_eq!(a.say("beta", "three").status, 200);
    assert_eq!(b.say("alpha", "four").status, 200);
    let held = b.receive_raw("timeout=0").json();
    assert_eq!(held["mode"], "running", "{held}");
    // The third in a row trips it: the room pauses, and says why.
    assert_eq!(a.say("beta", "five").status, 200);
    let held = b.receive_raw("timeout=0").json();
    assert_eq!(held["mode"], "paused", "{held}");
    let log = hub.log();
    let why = log
        .iter()
        .find(|m| m["sender"] == "hub" && m["content"].as_str().unwrap().contains("loop guard"))
        .unwrap_or_else(|| panic!("no loop guard notice in {log:?}"));
    assert!(why["content"].as_str().unwrap().contains('3'), "{why}");
    // Resumed, the agents hear why, and the count starts over.
    assert_eq!(
        hub.control(json!({"action": "resume"})).json(),
        json!({"mode": "running"})
    );
    let is_notice = |m: &Value| {
        m["sender"] == "hub"
            && m["kind"] == "system"
            && m["content"]
                .as_str()
                .unwrap_or_default()
                .contains("loop guard")
    };
    let mut heard = Vec::new();
    for _ in 0..3 {
        let batch = a.receive(5.0);
        if let Some(seq) = batch.last().and_then(|m| m["seq"].as_u64()) {
            a.ack(seq);
        }
        heard.extend(batch);
        if heard.iter().any(is_notice) {
            break;
        }
    }
    assert!(heard.iter().any(is_notice), "{heard:?}");
    assert_eq!(b.say("alpha", "six").status, 200);
    assert_eq!(b.receive_raw("timeout=0").json()["mode"], "running");
}

#[test]
fn a_bad_loop_guard_is_refused_at_start() {
    let out = common::caucus()
        .args(["hub", "--port", "0", "--no-browser", "--loop-guard", "many"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--loop-guard"));
}

/// Waits, up to 30 s, until the file holds `n` lines, and returns them.
#[cfg(unix)]
fn lines_of(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} events never came: {text}"
        );
        thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(unix)]
#[test]
fn notify_cmd_tells_the_operator_of_questions_and_a_tripped_loop_guard() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&out);
    let command = format!("cat >> '{}'", out.display());
    let hub = Hub::start(&["--notify-cmd", &command, "--loop-guard", "2"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let asked = a.post(
        "/ask",
        json!({"title": "ship it?", "fields": [
            {"key": "ok", "type": "radio", "label": "ok?", "options": ["yes", "no"]}]}),
    );
    assert_eq!(asked.status, 200, "{}", asked.text);
    let events = lines_of(&out, 1);
    assert_eq!(events[0]["type"], "question");
    assert_eq!(events[0]["from"], "alpha");
    assert!(events[0]["text"].as_str().unwrap().contains("ship it?"));
    assert_eq!(a.say("beta", "one").status, 200);
    assert_eq!(b.say("alpha", "two").status, 200);
    let events = lines_of(&out, 2);
    assert_eq!(events[1]["type"], "loop_guard");
    assert_eq!(events[1]["count"], 2);
    assert!(events[1]["text"].as_str().unwrap().contains("paused"));
}

#[test]
fn the_rate_limit_changes_while_the_room_runs() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    hub.join("beta");
    // The default: 5 at once.
    for i in 0..5 {
        assert_eq!(a.say("beta", &format!("m{i}")).status, 200);
    }
    assert_eq!(a.say("beta", "over").status, 429);
    // Off: the same sender goes on.
    let off = hub.control(json!({"action": "set_rate_limit", "enabled": false}));
    assert_eq!(off.json()["rate_limit"]["enabled"], false, "{}", off.text);
    for i in 0..10 {
        assert_eq!(a.say("beta", &format!("free{i}")).status, 200);
    }
    // On again, 2 at once and next to no refill: a newcomer gets 2.
    let on = hub.control(json!({"action": "set_rate_limit", "enabled": true,
                                "burst": 2, "per_second": 0.001}));
    assert_eq!(
        on.json()["rate_limit"],
        json!({"enabled": true, "burst": 2.0, "per_second": 0.001})
    );
    let g = hub.join("gamma");
    assert_eq!(g.say("beta", "one").status, 200);
    assert_eq!(g.say("beta", "two").status, 200);
    assert_eq!(g.say("beta", "three").status, 429);
    // Bad values change nothing.
    for bad in [
        json!({"action": "set_rate_limit", "burst": 0}),
        json!({"action": "set_rate_limit", "per_second": -1}),
        json!({"action": "set_rate_limit"}),
    ] {
        assert_eq!(hub.control(bad.clone()).status, 422, "{bad}");
    }
    let d = hub.join("delta");
    assert_eq!(d.say("beta", "x").status, 200);
    assert_eq!(d.say("beta", "y").status, 200);
    assert_eq!(d.say("beta", "z").status, 429, "still 2 at once");
    let log = hub.log();
    assert!(log.iter().any(|m| {
        m["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rate limit on: 2 at once")
    }));
}

#[test]
fn an_interrupt_passes_a_pause_is_heard_once_and_a_reset_says_what_to_drop() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("bravo");
    assert_eq!(b.say("alpha", "held by the pause").status, 200);
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    let r = hub.control(json!({"action": "interrupt", "peer": "alpha", "content": "look up"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["peer"], "alpha");
    // Through the pause: only the interrupt, not what the pause holds.
    let got = a.receive(5.0);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["sender"], "human");
    assert_eq!(got[0]["origin"], "operator");
    assert_eq!(got[0]["content"], "look up");
    assert_eq!(got[0]["meta"]["interrupt"], true);
    assert_eq!(got[0]["seq"], 0, "outside the seq order: nothing to ack");
    // Once: the next poll is held again.
    assert!(a.receive(0.2).is_empty());
    // Bravo was not interrupted.
    assert!(b.receive(0.2).is_empty());
    assert_eq!(hub.control(json!({"action": "resume"})).status, 200);
    let got = a.receive(5.0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["content"], "held by the pause");

    // A reset with no words says what to drop.
    let mut feed = common::Feed::open(&hub, "", None).unwrap();
    let alpha_interrupted = |want: bool| {
        move |e: &Value| {
            e["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "alpha" && p["interrupt"] == want)
        }
    };
    let r = hub.control(json!({"action": "reset_peer", "peer": "alpha"}));
    assert_eq!(r.json()["reset"], true);
    let got = a.receive(5.0);
    assert_eq!(got[0]["meta"]["reset"], true);
    assert!(got[0]["content"].as_str().unwrap().contains("start afresh"));
    // The console's roster shows a waiting interrupt until the gate takes it.
    feed.until("peers", alpha_interrupted(true));
    let gate = a.post("/gate", json!({})).json();
    assert_eq!(gate["allow"], false);
    assert_eq!(gate["interrupt"]["reset"], true);
    assert_eq!(a.post("/gate", json!({})).json()["allow"], true);
    feed.until("peers", alpha_interrupted(false));

    // Bad input: a gate without a token, a bad wait, a kicked peer.
    assert_eq!(hub.post("/gate", json!({"token": "nope"})).status, 401);
    assert_eq!(a.post("/gate", json!({"wait": "soon"})).status, 422);
    assert_eq!(
        hub.control(json!({"action": "kick", "peer": "bravo"}))
            .status,
        200
    );
    let gone = hub.control(json!({"action": "interrupt", "peer": "bravo", "content": "x"}));
    assert_eq!(gone.status, 404);
}

#[test]
fn approvals_are_bounded_and_checked() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let ask = |tool: &str| a.post("/approvals", json!({"tool": tool, "input": {"x": 1}}));
    assert_eq!(ask("").status, 422);
    assert_eq!(ask("Bash\u{1b}[2J").status, 422);
    assert_eq!(
        a.post("/approvals", json!({"tool": "Bash", "window": "long"}))
            .status,
        422
    );
    // The operator sees the whole input, and what runs as the summary,
    // never the model's description of it.
    let big = "y".repeat(5000);
    let r = a.post(
        "/approvals",
        json!({"tool": "Write", "description": "a harmless note",
               "input": {"file_path": "/etc/passwd", "content": big}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = hub.get("/approvals").json();
    let card = &listed["approvals"][0];
    assert!(
        card["preview"].as_str().unwrap().contains(&big),
        "the whole input"
    );
    assert_eq!(card["summary"], "/etc/passwd");
    assert_eq!(card["description"], "a harmless note");
    // Longer than the operator can be shown whole: refused, nothing kept.
    let huge = "z".repeat(20_000);
    let r = a.post(
        "/approvals",
        json!({"tool": "Write", "input": {"content": huge}}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    for _ in 1..8 {
        assert_eq!(ask("Bash").status, 200);
    }
    assert_eq!(ask("Bash").status, 409, "8 per agent at most");
    assert_eq!(
        hub.get("/approvals").json()["approvals"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    // Another agent cannot read alpha's verdicts.
    let id = listed["approvals"][0]["id"].as_str().unwrap().to_string();
    let b = hub.join("bravo");
    let peek = hub.request(
        "GET",
        &format!("/approval?id={id}&timeout=0"),
        &[("Authorization", &format!("Bearer {}", b.token))],
        b"",
    );
    assert_eq!(peek.status, 404);
    let own = hub.request(
        "GET",
        &format!("/approval?id={id}&timeout=0"),
        &[("Authorization", &format!("Bearer {}", a.token))],
        b"",
    );
    assert_eq!(own.json()["state"], "pending");
    // An agent that leaves takes its requests with it: back to its host.
    assert_eq!(
        hub.control(json!({"action": "kick", "peer": "alpha"}))
            .status,
        200
    );
    assert_eq!(hub.get("/approvals").json(), json!({"approvals": []}));
    assert!(hub.log().iter().any(|m| {
        m["content"]
            .as_str()
            .unwrap_or_default()
            .contains("alpha left the room; alpha's host decides Bash")
    }));
}

#[test]
fn interrupts_and_every_approval_request_and_verdict_reach_the_transcript() {
    let dir = std::env::temp_dir().join(format!("caucus-chair-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("room.jsonl");
    let hub = Hub::start(&["--log-file", path.to_str().unwrap()]);
    let a = hub.join("alpha");
    let r = hub.control(json!({"action": "interrupt", "peer": "alpha", "content": "hold on"}));
    assert_eq!(r.status, 200);
    let id = a
        .post(
            "/approvals",
            json!({"tool": "Bash", "input": {"command": "ls"}}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        hub.control(json!({"action": "deny", "id": id, "reason": "no"}))
            .status,
        200
    );
    // The writer is a thread of its own: wait for the lines, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let lines: Vec<Value> = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines
            .iter()
            .filter(|l| l["meta"]["approval"] == id.as_str())
            .count()
            == 2
        {
            break lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no transcript lines: {text}"
        );
        thread::sleep(std::time::Duration::from_millis(10));
    };
    let interrupt = lines
        .iter()
        .find(|l| l["meta"]["interrupt"] == true)
        .unwrap();
    assert_eq!(interrupt["sender"], "human");
    assert_eq!(interrupt["content"], "hold on");
    assert_eq!(interrupt["meta"]["delivered_to"], json!(["alpha"]));
    let verdict = lines
        .iter()
        .find(|l| l["meta"]["approval"] == id.as_str() && l["meta"]["state"] == "deny")
        .unwrap();
    assert!(
        verdict["content"]
            .as_str()
            .unwrap()
            .contains("denied alpha's Bash")
    );
    drop(hub);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One wait per place: a newer `/approval` wait on the same request, or a
/// newer `/gate` wait of the same token, replaces the older one (409), so
/// a token cannot hold a crowd of connections waiting. Nothing else ends
/// either wait early, so the first answer to come back is the replaced one.
#[test]
fn a_newer_wait_replaces_the_older_one() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let asked = a.post(
        "/approvals",
        json!({"tool": "Bash", "input": {"command": "ls"}}),
    );
    let id = asked.json()["id"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {}", a.token);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (tx, hub, bearer, id) = (tx.clone(), &hub, bearer.clone(), id.clone());
            s.spawn(move || {
                let path = format!("/approval?id={id}&timeout=20");
                tx.send(hub.request("GET", &path, &[("Authorization", &bearer)], b""))
                    .unwrap();
            });
        }
        let first = rx.recv().unwrap();
        assert_eq!(first.status, 409, "{}", first.text);
        assert_eq!(first.json()["detail"], "replaced");
        assert_eq!(
            hub.control(json!({"action": "approve", "id": id})).status,
            200
        );
        assert_eq!(rx.recv().unwrap().json()["state"], "allow");
    });
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..2 {
            let (tx, hub, token) = (tx.clone(), &hub, a.token.clone());
            s.spawn(move || {
                tx.send(hub.post("/gate", json!({"token": token, "wait": 20})))
                    .unwrap();
            });
        }
        let first = rx.recv().unwrap();
        assert_eq!(first.status, 409, "{}", first.text);
        assert_eq!(hub.control(json!({"action": "stop"})).status, 200);
        let second = rx.recv().unwrap();
        assert_eq!(second.status, 200, "{}", second.text);
        assert_eq!(
            second.json()["allow"],
            false,
            "the stop reached the survivor"
        );
    });
}
