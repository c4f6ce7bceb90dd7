//! Delivery truth: a sender learns who will hear its message, and an agent
//! can see what waits for it without taking it.

mod common;

use common::Hub;
use serde_json::json;

#[test]
fn send_names_who_was_missed_and_who_is_not_listening() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    // To a name that is not in the room: nobody will hear it.
    let r = a.say("ghost", "anyone?").json();
    assert_eq!(r["delivered_to"], json!([]));
    assert_eq!(r["missed"], json!(["ghost"]));
    assert!(r.get("warning").is_none(), "{r}");
    // To a peer in the room that is not polling: queued, but unheard.
    let r = a.say("beta", "when you are back").json();
    assert_eq!(r["delivered_to"], json!(["beta"]));
    assert_eq!(r["missed"], json!([]));
    assert_eq!(r["unheard"][0]["peer"], "beta");
    assert_eq!(r["unheard"][0]["waiting"], 1);
    assert!(r["unheard"][0]["oldest_age"].as_f64().unwrap() >= 0.0);
    // While beta listens, the same send is heard: no unheard list.
    std::thread::scope(|s| {
        let poll = s.spawn(|| b.receive_raw("timeout=20&ack_seq=0"));
        let got = poll.join().unwrap().json();
        assert_eq!(got["messages"][0]["content"], "when you are back");
        let seen = got["messages"][0]["seq"].as_u64().unwrap();
        let query = format!("timeout=20&ack_seq={seen}");
        let b = &b;
        let poll = s.spawn(move || b.receive_raw(&query));
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        let r = a.say("beta", "now").json();
        assert!(r.get("unheard").is_none(), "{r}");
        assert_eq!(poll.join().unwrap().json()["messages"][0]["content"], "now");
    });
}

#[test]
fn a_broadcast_or_channel_message_that_reaches_nobody_says_so() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alone");
    for to in ["all", "#empty"] {
        let r = a.say(to, "hello?").json();
        assert_eq!(r["delivered_to"], json!([]), "{to}");
        assert_eq!(r["warning"], "no_recipients", "{to}");
        assert!(r["hint"].as_str().unwrap().contains("no one"), "{to}: {r}");
    }
    hub.join("company");
    let r = a.say("all", "hello!").json();
    assert!(r.get("warning").is_none(), "{r}");
}

#[test]
fn peek_counts_and_previews_without_taking() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let empty = b.receive_raw("timeout=0");
    assert_eq!(empty.status, 200);
    let peek = |agent: &common::Agent, path: &str| {
        hub.request(
            "GET",
            path,
            &[("Authorization", &format!("Bearer {}", agent.token))],
            b"",
        )
    };
    // caucus-mcp 5.x's shape, exactly; ours behind detail=1.
    let nothing = peek(&b, "/peek").json();
    assert_eq!(nothing, json!({"pending": 0, "last": null}));
    a.say("beta", "short one");
    a.say("beta", &"long ".repeat(100));
    let plain = peek(&b, "/peek").json();
    assert_eq!(plain.as_object().unwrap().len(), 2, "{plain}");
    assert_eq!(plain["pending"], 2);
    let p = peek(&b, "/peek?detail=1").json();
    assert_eq!(p["mode"], "running");
    assert_eq!(p["pending"], 2);
    assert_eq!(p["messages"][0]["excerpt"], "short one");
    assert_eq!(p["messages"][0]["excerpt_cut"], false);
    let cut = p["messages"][1]["excerpt"].as_str().unwrap();
    assert!(cut.ends_with(" [+380 chars]"), "{cut}");
    assert_eq!(p["messages"][1]["content_chars"], 500);
    assert_eq!(p["last"]["sender"], "alpha");
    assert_eq!(p["last"]["preview_truncated"], true);
    // Nothing was taken: the next poll has both.
    assert_eq!(b.chat(0.0).len(), 2);
    let bad = hub.request("GET", "/peek", &[("Authorization", "Bearer nope")], b"");
    assert_eq!(bad.status, 401);
}

#[test]
fn presence_says_who_listens_and_what_waits() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let fresh = hub.ping("beta");
    assert_eq!(fresh["listening"], false);
    assert_eq!(fresh["last_listened_age"], json!(null), "never polled");
    assert_eq!(fresh["waiting"], 0);
    assert_eq!(fresh["oldest_age"], json!(null));
    a.say("beta", "one");
    a.say("beta", "two");
    let p = hub.ping("beta");
    assert_eq!(p["waiting"], 2);
    assert!(p["oldest_age"].as_f64().unwrap() >= 0.0);
    std::thread::scope(|s| {
        let poll = s.spawn(|| b.receive_raw("timeout=0"));
        poll.join().unwrap();
    });
    let after = hub.ping("beta");
    assert!(after["last_listened_age"].as_f64().is_some(), "{after}");
    let detail = hub.get("/peers?detail=1").json();
    let peers = detail["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[1]["peer"], "beta");
    assert!(peers[1].get("waiting").is_some() && peers[1].get("listening").is_some());
    // The plain form is caucus-mcp's list of names.
    assert_eq!(hub.get("/peers").json()["peers"], json!(["alpha", "beta"]));
}

#[test]
fn a_backlog_nobody_hears_raises_an_alarm_and_clears_when_heard() {
    let hub = Hub::start(&["--backlog-alarm", "0.2"]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let mut feed = common::Feed::open(&hub, "", None).unwrap();
    assert_eq!(a.say("beta", "are you there?").status, 200);
    let alarm = feed.until("backlog_alarm", |e| e["peer"] == "beta");
    assert_eq!(alarm["waiting"], 1);
    assert!(alarm["oldest_age"].as_f64().unwrap() > 0.2);
    let roster = feed.until("peers", |e| {
        e["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "beta" && p["backlog_alarm"] == true)
    });
    assert!(roster["peers"].is_array());
    // beta listens, takes and acknowledges: the alarm goes down.
    let got = b.receive_raw("timeout=0&ack_seq=0").json();
    let seq = got["messages"][0]["seq"].as_u64().unwrap();
    assert_eq!(b.ack(seq).status, 200);
    let clear = feed.until("backlog_clear", |e| e["peer"] == "beta");
    assert_eq!(clear["peer"], "beta");
}

#[test]
fn the_protocol_is_a_short_core_with_sections_on_demand() {
    let hub = Hub::start(&[]);
    let core = hub.get("/protocol").json();
    assert_eq!(core["version"], 2);
    assert_eq!(core["sections"], json!(["channels", "floor", "operator"]));
    assert!(core["text"].as_str().unwrap().contains("protocol_section"));
    let floor = hub.get("/protocol?section=floor").json();
    assert_eq!(floor["section"], "floor");
    assert!(floor["text"].as_str().unwrap().contains("raise_hand"));
    let unknown = hub.get("/protocol?section=dance");
    assert_eq!(unknown.status, 404);
    let detail = unknown.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("channels, floor, operator"), "{detail}");
    // A join with the current revision is not handed the text again.
    let r = hub.post(
        "/register",
        json!({"project": "reader", "protocol_version": 2}),
    );
    assert_eq!(r.json()["protocol_stale"], false);
    assert_eq!(r.json()["protocol_text"], json!(null));
}

#[test]
fn a_taken_name_says_truly_whether_its_owner_listens_and_5x_section_names_are_aliases() {
    let hub = Hub::start(&[]);
    let owner = hub.join("owned");
    // Between polls: nobody listens, and the note does not say one does.
    let gap = hub.post("/register", json!({"project": "owned"}));
    assert_eq!(gap.status, 409);
    let note = gap.json()["note"].as_str().unwrap().to_string();
    assert!(note.contains("existing identity"), "{note}");
    assert!(!note.contains("listening now"), "{note}");
    // With a poll open, it says so.
    let polling = std::thread::scope(|s| {
        let poll = s.spawn(|| owner.receive_raw("timeout=5&ack_seq=0"));
        hub.wait_for_peer("owned", |p| p["listening"] == true);
        let taken = hub.post("/register", json!({"project": "owned"}));
        assert_eq!(owner.say("owned", "wake").status, 200);
        assert_eq!(poll.join().unwrap().status, 200);
        taken
    });
    assert_eq!(polling.status, 409);
    let note = polling.json()["note"].as_str().unwrap().to_string();
    assert!(note.contains("listening now"), "{note}");

    // caucus-mcp 5.1's section names reach ours.
    let alias = hub.get("/protocol?section=talking-stick").json();
    assert_eq!(alias["section"], "talking-stick");
    assert_eq!(
        alias["text"],
        hub.get("/protocol?section=floor").json()["text"]
    );
    let unknown = hub.get("/protocol?section=nope");
    assert_eq!(unknown.status, 404);
    let names = unknown.json()["sections"].clone();
    assert!(
        names.as_array().unwrap().contains(&json!("operator-forms")),
        "{names}"
    );
}
