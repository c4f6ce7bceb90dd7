//! The operator console: the `/ui` feed read by a real WebSocket client, the
//! ticket exchange, Host and Origin checks, and the page's files.

mod common;

use common::{Feed, Hub};
use serde_json::json;

#[test]
fn a_console_gets_auth_ok_then_the_snapshot() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    a.post("/channels/join", json!({"channel": "#ops"}));
    a.say("all", "before the console");
    let mut feed = Feed::open(&hub, "", None).unwrap();
    assert_eq!(
        feed.next(),
        json!({"type": "auth_ok", "role": "operator", "auth": true}),
        "auth is on from the first start"
    );
    let snap = feed.next();
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["mode"], "running");
    assert_eq!(snap["peers"][0]["name"], "alpha");
    assert_eq!(snap["peers"][0]["state"], "live");
    for key in [
        "listening",
        "paused",
        "status",
        "status_age",
        "last_seen_age",
        "uptime",
        "msg_count",
    ] {
        assert!(snap["peers"][0].get(key).is_some(), "PeerInfo lacks {key}");
    }
    assert_eq!(snap["channels"]["#ops"]["members"], json!(["alpha"]));
    assert_eq!(snap["floors"], json!({}));
    assert_eq!(snap["forms"], json!([]));
    assert!(
        snap["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "before the console")
    );
    for key in [
        "uptime",
        "peer_count",
        "msg_per_min",
        "queue_depth",
        "mem_rss_mb",
    ] {
        assert!(snap["health"].get(key).is_some(), "health lacks {key}");
    }
}

#[test]
fn sends_kicks_and_stops_reach_the_feed() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    hub.join("beta");
    let mut feed = Feed::open(&hub, "", None).unwrap();
    feed.until("snapshot", |_| true);

    a.say("beta", "watched");
    let ev = feed.until("message", |e| e["message"]["content"] == "watched");
    assert_eq!(ev["message"]["sender"], "alpha");
    assert_eq!(ev["message"]["recipient"], "beta");

    hub.control(json!({"action": "kick", "peer": "beta"}));
    feed.until("message", |e| {
        e["message"]["content"] == "beta kicked by operator"
    });
    let peers = feed.until("peers", |_| true);
    let names: Vec<&str> = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);

    hub.control(json!({"action": "stop"}));
    let stop = feed.until("message", |e| e["message"]["kind"] == "control");
    assert_eq!(stop["message"]["content"], "stop");
    assert_eq!(feed.until("mode", |_| true)["mode"], "stopped");
}

#[test]
fn every_operator_action_shows_in_the_feed() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    hub.join("beta");
    let mut feed = Feed::open(&hub, "", None).unwrap();
    feed.until("snapshot", |_| true);

    hub.control(json!({"action": "pause_peer", "peer": "beta"}));
    let ev = feed.until("peers", |e| {
        e["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["paused"] == true)
    });
    assert_eq!(ev["peers"][1]["name"], "beta");
    hub.control(json!({"action": "resume_peer", "peer": "beta"}));
    feed.until("peers", |e| {
        e["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["paused"] == false)
    });

    let hb = hub
        .control(json!({"action": "heartbeat", "peer": "alpha"}))
        .json();
    let ev = feed.until("heartbeat_result", |_| true);
    assert_eq!(ev["result"], hb["result"]);

    a.post("/channels/join", json!({"channel": "#ops"}));
    feed.until("channels", |e| {
        e["channels"]["#ops"]["members"] == json!(["alpha"])
    });
    a.floor("take", "#ops");
    feed.until("floor", |e| e["floors"]["#ops"]["holder"] == "alpha");
    hub.control(json!({"action": "clear_floor", "scope": "#ops"}));
    feed.until("floor", |e| e["floors"] == json!({}));
    hub.control(json!({"action": "close_channel", "channel": "#ops"}));
    feed.until("channels", |e| e["channels"] == json!({}));

    let asked = a.post(
        "/ask",
        json!({"title": "Go?", "fields": [{"key": "k", "label": "L", "type": "text"}]}),
    );
    let id = asked.json()["form_id"].clone();
    let ev = feed.until("form", |_| true);
    assert_eq!(ev["form"]["id"], id);
    assert_eq!(ev["form"]["asker"], "alpha");
    hub.control(json!({"action": "answer_form", "id": id, "answers": {"k": "yes"}}));
    let ev = feed.until("form_resolved", |_| true);
    assert_eq!(
        ev,
        json!({"type": "form_resolved", "id": id, "status": "answered", "answers": {"k": "yes"}})
    );

    hub.control(json!({"action": "say", "to": "alpha", "content": "from the chair"}));
    let ev = feed.until("message", |e| e["message"]["content"] == "from the chair");
    assert_eq!(ev["message"]["origin"], "operator");
    hub.control(json!({"action": "pause"}));
    assert_eq!(feed.until("mode", |_| true)["mode"], "paused");
}

#[test]
fn health_ticks_with_the_roster() {
    let hub = Hub::start(&[]);
    hub.join("alpha");
    let mut feed = Feed::open(&hub, "", None).unwrap();
    let ev = feed.until("health", |_| true);
    assert_eq!(ev["health"]["peer_count"], 1);
    assert!(ev["health"]["mem_rss_mb"].as_f64().unwrap() > 0.0);
    assert_eq!(ev["peers"][0]["name"], "alpha");
}

#[test]
fn with_auth_the_page_trades_its_token_for_a_single_use_ticket() {
    let hub = Hub::start(&[
        "--operator-token",
        "op-secret-0123456789abcdef",
        "--observer-token",
        "obs-secret-0123456789abcdef",
    ]);
    // No ticket: refused with auth_error and close code 1008.
    let mut bare = Feed::open(&hub, "", None).unwrap();
    assert_eq!(bare.next(), json!({"type": "auth_error"}));
    assert_eq!(bare.close_code(), Some(1008));

    assert_eq!(hub.post("/ui/ticket", json!({})).status, 401);
    let bad = hub.request(
        "POST",
        "/ui/ticket",
        &[("Authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(bad.status, 401);

    for (token, role) in [
        ("op-secret-0123456789abcdef", "operator"),
        ("obs-secret-0123456789abcdef", "observer"),
    ] {
        let r = hub.request(
            "POST",
            "/ui/ticket",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        );
        assert_eq!(r.status, 200);
        let t = r.json();
        assert_eq!(t["role"], role);
        assert!(t["expires_in"].as_u64().unwrap() > 0);
        let ticket = t["ticket"].as_str().unwrap().to_string();
        let mut feed = Feed::open(&hub, &format!("?ticket={ticket}"), None).unwrap();
        assert_eq!(
            feed.next(),
            json!({"type": "auth_ok", "role": role, "auth": true})
        );
        assert_eq!(feed.next()["type"], "snapshot");
        // Single use.
        let mut again = Feed::open(&hub, &format!("?ticket={ticket}"), None).unwrap();
        assert_eq!(again.next(), json!({"type": "auth_error"}));
    }
}

#[test]
fn with_auth_off_the_ticket_call_says_so() {
    let hub = Hub::start(&["--no-auth"]);
    let r = hub.post("/ui/ticket", json!({}));
    assert_eq!(
        r.json(),
        json!({"ticket": null, "role": "operator", "expires_in": 0, "auth": false})
    );
}

#[test]
fn a_cross_site_origin_is_refused_before_the_upgrade() {
    let hub = Hub::start(&[]);
    let err = Feed::open(&hub, "", Some("http://evil.example"))
        .err()
        .expect("refused");
    match err {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 403),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
    let port = hub.addr.rsplit(':').next().unwrap();
    let mut ok = Feed::open(&hub, "", Some(&format!("http://localhost:{port}"))).unwrap();
    assert_eq!(ok.next()["type"], "auth_ok");
}

#[test]
fn a_rebinding_host_name_is_refused_on_operator_paths() {
    let hub = Hub::start(&[]);
    for (method, path, body) in [
        ("POST", "/control", &br#"{"action":"stop"}"#[..]),
        ("POST", "/ui/ticket", &b""[..]),
        ("GET", "/export", &b""[..]),
        ("GET", "/ui", &b""[..]),
    ] {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: attacker.example:8765\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        req.extend_from_slice(body);
        let r = hub.raw(&req);
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["detail"], "host not allowed");
    }
    assert!(!hub.log().iter().any(|m| m["content"] == "control: stopped"));
    // Agents' endpoints check it too (tests/trust.rs); loopback names pass.
    let r = hub.raw(b"GET /version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn ui_without_an_upgrade_is_a_clear_error() {
    let hub = Hub::start(&[]);
    let r = hub.get("/ui");
    assert_eq!(r.status, 422);
    assert!(r.json()["detail"].as_str().unwrap().contains("WebSocket"));
}

#[test]
fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let hub = Hub::start(&[]);
    let page = hub.get("/");
    assert!(page.text.contains("/assets/app.js"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    for (file, kind) in [
        ("style.css", "text/css"),
        ("app.js", "text/javascript"),
        ("hub.js", "text/javascript"),
        ("state.js", "text/javascript"),
        ("health.js", "text/javascript"),
        ("flow.js", "text/javascript"),
        ("channels.js", "text/javascript"),
        ("forms.js", "text/javascript"),
    ] {
        let r = hub.get(&format!("/assets/{file}"));
        assert_eq!(r.status, 200, "{file}");
        assert!(
            r.header("content-type").unwrap().starts_with(kind),
            "{file}"
        );
        assert!(!r.text.is_empty());
    }
    assert_eq!(hub.get("/assets/../Cargo.toml").status, 404);
    assert_eq!(hub.get("/assets/nope.js").status, 404);
}

/// Opens `/ui` on a raw socket and never reads it: a stalled browser.
fn stalled_console(hub: &Hub) -> std::net::TcpStream {
    use std::io::Write;
    let ticket = hub.request("POST", "/ui/ticket", &[], b"").json();
    let mut s = std::net::TcpStream::connect(&hub.addr).unwrap();
    write!(
        s,
        "GET /ui?ticket={} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ticket["ticket"].as_str().unwrap_or_default(),
        hub.addr
    )
    .unwrap();
    s
}

#[test]
fn a_console_that_stops_reading_is_dropped_and_the_hub_goes_on() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let _stalled = stalled_console(&hub);
    let mut watcher = Feed::open(&hub, "", None).unwrap();
    let seen = watcher.until("health", |e| e["health"]["consoles"] == 2);
    assert_eq!(seen["health"]["consoles"], 2);
    drop(watcher);
    // Far more than the kernel's buffers and a console's 8 MiB backlog.
    let a = hub.join("alpha");
    let big = "y".repeat(8000);
    for _ in 0..3000 {
        assert_eq!(a.say("nobody", &big).status, 200);
    }
    // A console now finds itself alone: the stalled one was let go.
    let mut fresh = Feed::open(&hub, "", None).unwrap();
    let health = fresh.until("health", |_| true);
    assert_eq!(health["health"]["consoles"], 1, "{}", health["health"]);
    assert_eq!(a.say("nobody", "still serving").status, 200);
}

#[test]
fn at_most_32_consoles_watch_at_once() {
    let hub = Hub::start(&[]);
    let mut feeds: Vec<Feed> = (0..32)
        .map(|_| Feed::open(&hub, "", None).unwrap())
        .collect();
    for f in &mut feeds {
        f.until("snapshot", |_| true);
    }
    let r = hub.request(
        "GET",
        "/ui",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
        b"",
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.json()["detail"].as_str().unwrap().contains("consoles"));
    drop(feeds.pop());
    // Once one leaves (its socket closes; the hub notices on its next
    // write, at the latest the health tick) a newcomer gets in.
    let mut admitted = None;
    for _ in 0..200 {
        if let Ok(mut f) = Feed::open(&hub, "", None)
            && f.next()["type"] == "auth_ok"
        {
            admitted = Some(f);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(admitted.is_some(), "a place never freed up");
}

/// Silent consoles cannot lock the chair out: at the cap (32), the
/// operator's console takes the place of the stalest one.
#[test]
fn at_the_console_cap_the_operators_console_takes_a_silent_ones_place() {
    let hub = Hub::start(&[]);
    let silent: Vec<_> = (0..32).map(|_| stalled_console(&hub)).collect();
    let mut watcher = None;
    // The silent ones have upgraded once the health figures count them.
    for _ in 0..50 {
        let mut feed = Feed::open(&hub, "", None).unwrap();
        assert_eq!(
            feed.next()["type"],
            "auth_ok",
            "the operator's console is let in"
        );
        let snap = feed.next();
        assert_eq!(snap["type"], "snapshot");
        let seen = feed.until("health", |_| true);
        if seen["health"]["consoles"] == 32 {
            watcher = Some(feed);
            break;
        }
    }
    assert!(
        watcher.is_some(),
        "the operator's console was never let in at the cap"
    );
    drop(silent);
}
