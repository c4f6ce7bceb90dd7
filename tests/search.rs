//! `GET /search` over the real binary: one message found among a history
//! longer than the in-memory log, filters, bounds, auth, and a history that
//! outlives a restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Hub;
use serde_json::{Value, json};

fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("search-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn search(hub: &Hub, q: &str) -> Value {
    let r = hub.get(&format!("/search?q={}", encode(q)));
    assert_eq!(r.status, 200, "{q}: {}", r.text);
    r.json()
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn contents(found: &Value) -> Vec<String> {
    found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

/// Searches until `q` finds `n` messages: the history is written by a
/// thread of its own, a moment after the message is routed (bounded).
fn search_until(hub: &Hub, q: &str, n: usize) -> Value {
    for _ in 0..500 {
        let found = search(hub, q);
        if found["messages"].as_array().unwrap().len() >= n {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{q} never found {n} messages");
}

#[test]
fn one_message_is_found_among_a_history_longer_than_the_log_and_after_a_restart() {
    let dir = data_dir("history");
    let args = ["--data-dir", dir.to_str().unwrap(), "--no-rate-limit"];
    {
        let hub = Hub::start(&args);
        let alice = hub.join("alice");
        let bob = hub.join("bob");
        assert_eq!(bob.say("alice", "the Zebra protocol needs v2").status, 200);
        for i in 0..1200 {
            let who = if i % 2 == 0 { &alice } else { &bob };
            assert_eq!(who.say("all", &format!("filler line {i}")).status, 200);
        }
        let mut r = alice.post("/channels/join", json!({"channel": "#api"}));
        assert_eq!(r.status, 200);
        r = alice.say("#api", "ÉQUIPE décide: schema frozen");
        assert_eq!(r.status, 200);

        // Out of the 500-message log: found in the history, by any case.
        let found = search_until(&hub, "zebra", 1);
        assert_eq!(contents(&found), ["the Zebra protocol needs v2"]);
        assert_eq!(found["source"], "history");
        assert_eq!(found["messages"][0]["sender"], "bob");
        // Filters: sender, recipient, channel, phrase; newest first.
        let found = search(&hub, "from:bob to:alice protocol");
        assert_eq!(contents(&found), ["the Zebra protocol needs v2"]);
        assert_eq!(
            contents(&search(&hub, "#api équipe")),
            ["ÉQUIPE décide: schema frozen"]
        );
        assert_eq!(
            search(&hub, "\"line 1199\"")["messages"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let some = hub.get("/search?q=filler&limit=5").json();
        assert_eq!(contents(&some)[0], "filler line 1199");
        assert_eq!(some["messages"].as_array().unwrap().len(), 5);
        assert_eq!(some["more"], true);
        assert!(
            search(&hub, "nothing-says-this")["messages"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        // Bad input: a clear error, nothing searched.
        assert_eq!(hub.get("/search").status, 422);
        assert_eq!(hub.get("/search?q=%20").status, 422);
        assert_eq!(hub.get("/search?q=x&limit=0").status, 422);
        assert_eq!(hub.get("/search?q=x&limit=501").status, 422);
        assert_eq!(
            hub.get(&format!("/search?q={}", "x".repeat(300))).status,
            422
        );
        // The history file is private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("history"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }
    // A restart keeps the history.
    let hub = Hub::start(&args);
    assert_eq!(
        contents(&search(&hub, "zebra")),
        ["the Zebra protocol needs v2"]
    );
}

#[test]
fn without_a_data_dir_the_log_is_searched_and_auth_gates_it_like_export() {
    let hub = Hub::start(&[
        "--operator-token",
        "op-secret-0123456789abcdef",
        "--observer-token",
        "obs-secret-0123456789abcdef",
    ]);
    let a = hub.join("alpha");
    assert_eq!(a.say("all", "find me please").status, 200);
    assert_eq!(hub.get("/search?q=find").status, 401);
    for token in ["op-secret-0123456789abcdef", "obs-secret-0123456789abcdef"] {
        let r = hub.request(
            "GET",
            "/search?q=find",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        );
        assert_eq!(r.status, 200, "{token}");
        assert_eq!(contents(&r.json()), ["find me please"]);
        assert_eq!(r.json()["source"], "log");
    }
    let wrong = hub.request(
        "GET",
        "/search?q=find",
        &[("Authorization", "Bearer nope")],
        b"",
    );
    assert_eq!(wrong.status, 401);
}
