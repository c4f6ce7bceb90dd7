//! Every agent endpoint of the spec against the real binary: each success and
//! each documented error.

mod common;

use std::thread;

use common::Hub;
use serde_json::{Value, json};

#[test]
fn version_and_protocol_describe_the_hub() {
    let hub = Hub::start(&[]);
    let v = hub.get("/version").json();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let p = hub.get("/protocol").json();
    assert!(p["version"].as_i64().unwrap() >= 1);
    assert!(p["text"].as_str().unwrap().contains("caucus protocol"));
}

#[test]
fn the_root_serves_a_page_and_unknown_paths_are_404() {
    let hub = Hub::start(&[]);
    let page = hub.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let missing = hub.get("/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["detail"].is_string());
    assert_eq!(hub.get("/send").status, 405);
    assert_eq!(hub.post("/peers", json!({})).status, 405);
}

#[test]
fn register_outcomes_fresh_reaffirmed_refused() {
    let hub = Hub::start(&[]);
    let fresh = hub.post("/register", json!({"project": "alpha"}));
    assert_eq!(fresh.status, 200);
    let body = fresh.json();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["project"], "alpha");
    // No protocol_version sent: the caller is stale and gets the text.
    assert_eq!(body["protocol_stale"], true);
    assert!(body["protocol_text"].as_str().unwrap().len() > 100);
    assert_eq!(body["note"], Value::Null);
    assert_eq!(body["channels"], json!({}));

    let again = hub
        .post(
            "/register",
            json!({"project": "alpha", "token": token, "protocol_version": 2}),
        )
        .json();
    assert_eq!(again["token"], token.as_str());
    assert_eq!(again["protocol_stale"], false);
    assert_eq!(again["protocol_text"], Value::Null);

    // Without the token, even with nobody polling, the name is not handed over.
    let refused = hub.post("/register", json!({"project": "alpha"}));
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json()["error"], "name_in_use");
    assert!(refused.json().get("token").is_none());
    assert_eq!(hub.peers(), ["alpha"]);
}

#[test]
fn register_is_contested_while_the_name_has_a_listener() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    thread::scope(|s| {
        let poll = s.spawn(|| a.chat(20.0));
        hub.wait_for_peer("alpha", |p| p["listening"] == true);
        let r = hub.post("/register", json!({"project": "alpha"}));
        assert_eq!(r.status, 409);
        let body = r.json();
        assert_eq!(body["error"], "name_in_use");
        assert_eq!(body["project"], "alpha");
        assert!(body["note"].is_string());
        assert!(body.get("token").is_none());
        // Release the poll.
        b.say("alpha", "done");
        assert_eq!(poll.join().unwrap()[0]["content"], "done");
    });
}

#[test]
fn register_refuses_bad_and_reserved_names() {
    let hub = Hub::start(&[]);
    for name in [
        "",
        "human",
        " HUB ",
        "System",
        "all",
        "#chan",
        &"x".repeat(65),
    ] {
        let r = hub.post("/register", json!({"project": name}));
        assert_eq!(r.status, 422, "{name:?}: {}", r.text);
        assert!(r.json()["detail"].is_string());
    }
    assert_eq!(
        hub.post("/register", json!({"project": "x".repeat(64)}))
            .status,
        200
    );
    assert_eq!(hub.peers().len(), 1);
}

#[test]
fn register_is_rate_limited_per_address() {
    let hub = Hub::start(&[]);
    for i in 0..20 {
        assert_eq!(
            hub.post("/register", json!({"project": format!("p{i}")}))
                .status,
            200
        );
    }
    let r = hub.post("/register", json!({"project": "one-more"}));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["detail"], "rate limited");
    assert!(r.json()["retry_after"].as_f64().unwrap() > 0.0);
    assert!(!hub.peers().contains(&"one-more".to_string()));
}

#[test]
fn no_rate_limit_lifts_both_limits_and_the_record_cap_holds() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let mut tokens = Vec::new();
    for i in 0..512 {
        let r = hub.post("/register", json!({"project": format!("p{i}")}));
        assert_eq!(r.status, 200, "{i}: {}", r.text);
        tokens.push(r.json()["token"].clone());
    }
    let r = hub.post("/register", json!({"project": "p512"}));
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["detail"], "client limit reached");
    // A known name still re-registers at the cap, with its token.
    let again = json!({"project": "p7", "token": tokens[7]});
    assert_eq!(hub.post("/register", again).status, 200);
    let a = common::Agent {
        hub: &hub,
        name: "p0".into(),
        token: tokens[0].as_str().unwrap().into(),
    };
    for _ in 0..10 {
        assert_eq!(a.say("all", "no bucket").status, 200);
    }
}

#[test]
fn leave_is_final() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let r = a.post("/leave", json!({}));
    assert_eq!(r.json(), json!({"left": true, "project": "alpha"}));
    assert!(hub.peers().is_empty());
    let again = a.post("/leave", json!({}));
    assert_eq!(again.status, 401);
    assert_eq!(again.json()["detail"], "unknown token");
    assert_eq!(a.say("all", "ghost").status, 401);
    assert_eq!(hub.ping("alpha")["state"], "absent");
}

#[test]
fn send_routes_direct_broadcast_and_channel() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let c = hub.join("gamma");

    let direct = a.say("beta", "just you").json();
    assert_eq!(direct["delivered_to"], json!(["beta"]));
    assert_eq!(direct["message_id"].as_str().unwrap().len(), 12);

    let all = a.say("all", "everyone").json();
    assert_eq!(all["delivered_to"], json!(["beta", "gamma"]));

    assert_eq!(
        c.post("/channels/join", json!({"channel": "#ops"})).status,
        200
    );
    // Sending to a channel subscribes the sender.
    let ch = a.say("#ops", "ops only").json();
    assert_eq!(ch["delivered_to"], json!(["gamma"]));
    assert_eq!(
        hub.get("/channels").json()["channels"]["#ops"]["members"],
        json!(["alpha", "gamma"])
    );

    let nobody = a.say("nobody", "lost?").json();
    assert_eq!(nobody["delivered_to"], json!([]));

    let got_b: Vec<String> = b
        .chat(1.0)
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_b, ["just you", "everyone"]);
    let got_c = c.chat(1.0);
    assert_eq!(got_c.len(), 2);
    assert_eq!(got_c[1]["recipient"], "#ops");
    assert_eq!(got_c[1]["origin"], "agent");
    assert_eq!(got_c[1]["sender"], "alpha");
    assert!(got_c[0]["seq"].as_u64().unwrap() < got_c[1]["seq"].as_u64().unwrap());
    assert!(got_c[1]["ts"].as_f64().unwrap() > 1.7e9);
    assert!(got_c[1].get("meta").is_none());
}

#[test]
fn send_checks_token_then_stop_then_floor_then_bucket() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    assert_eq!(
        hub.post("/send", json!({"token": "nope", "content": "x"}))
            .status,
        401
    );

    assert_eq!(b.floor("take", "all")["ok"], true);
    let held = a.say("all", "blocked");
    assert_eq!(held.status, 423);
    let body = held.json();
    assert_eq!(body["error"], "floor_held");
    assert_eq!(body["held_by"], "beta");
    assert_eq!(body["scope"], "all");
    assert_eq!(body["reason"], "urgent");
    assert!(body["hint"].is_string());
    // The floor bars only its own scope.
    assert_eq!(a.say("beta", "direct still flows").status, 200);

    hub.control(json!({"action": "stop"}));
    assert_eq!(a.say("beta", "after stop").status, 409);
    assert_eq!(a.say("beta", "after stop").json()["detail"], "room stopped");
    hub.control(json!({"action": "reset"}));

    // Four more direct sends empty alpha's bucket of five.
    for _ in 0..4 {
        assert_eq!(a.say("beta", "x").status, 200);
    }
    let limited = a.say("beta", "x");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["detail"], "rate limited");
    let wait = limited.json()["retry_after"].as_f64().unwrap();
    assert!(wait > 0.0 && wait <= 2.0, "{wait}");
}

#[test]
fn receive_takes_the_token_from_header_or_query() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    a.say("beta", "one");
    let by_query = hub
        .get(&format!("/receive?timeout=1&token={}", b.token))
        .json();
    assert_eq!(by_query["mode"], "running");
    assert_eq!(by_query["messages"][0]["content"], "one");
    assert_eq!(hub.get("/receive?timeout=0").status, 401);
    assert_eq!(hub.get("/receive?timeout=0&token=bogus").status, 401);
    let bad = hub.request(
        "GET",
        "/receive?timeout=0",
        &[("Authorization", "Bearer bogus")],
        b"",
    );
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["detail"], "unknown token");
    // Nothing waiting: an empty list at the deadline.
    assert_eq!(b.receive(0.2), Vec::<Value>::new());
    assert_eq!(b.receive_raw("timeout=abc").status, 422);
    assert_eq!(b.receive_raw("ack_seq=-1").status, 422);
}

#[test]
fn a_waiting_receive_wakes_when_a_message_arrives() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    thread::scope(|s| {
        // A 20 s poll that returns the message proves it was woken by the
        // send: at its deadline it would return an empty list.
        let poll = s.spawn(|| b.receive(20.0));
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        a.say("beta", "wake up");
        let got = poll.join().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["content"], "wake up");
    });
    assert_eq!(hub.ping("beta")["listening"], false);
}

#[test]
fn ack_confirms_and_validates() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let r = a.ack(0);
    assert_eq!(r.json(), json!({"acked": true, "seq": 0}));
    assert_eq!(
        hub.post("/ack", json!({"token": "bogus", "seq": 1})).status,
        401
    );
    assert_eq!(
        hub.post("/ack", json!({"token": a.token, "seq": -1}))
            .status,
        422
    );
}

#[test]
fn an_acknowledging_client_gets_what_it_did_not_acknowledge_again() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    a.say("beta", "first");
    // ack_seq=0 declares b a client that acknowledges.
    let r = b.receive_raw("timeout=1&ack_seq=0").json();
    let seq = r["messages"][0]["seq"].as_u64().unwrap();
    // b "crashed" before acknowledging: its next poll gets the message again.
    let again = b.receive(1.0);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["seq"], seq);
    // Acknowledged with ack_seq, gone; a new message comes alone.
    a.say("beta", "second");
    let next = b.receive_raw(&format!("timeout=1&ack_seq={seq}")).json();
    let contents: Vec<&str> = next["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["second"]);
    let last = next["messages"][0]["seq"].as_u64().unwrap();
    b.ack(last);
    assert!(b.receive(0.2).is_empty());
}

#[test]
fn a_poll_cut_before_its_answer_is_read_loses_nothing() {
    use std::io::Write;
    use std::net::TcpStream;
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    b.ack(0);
    {
        let mut s = TcpStream::connect(&hub.addr).unwrap();
        write!(
            s,
            "GET /receive?timeout=20 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
            b.token
        )
        .unwrap();
        hub.wait_for_peer("beta", |p| p["listening"] == true);
        a.say("beta", "in flight");
        hub.wait_for_peer("beta", |p| p["listening"] == false);
        // Dropped without reading the answer.
    }
    let got = b.chat(1.0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["content"], "in flight");
}

#[test]
fn a_client_that_never_acknowledges_sees_each_message_once() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    a.say("beta", "once");
    assert_eq!(b.chat(1.0).len(), 1);
    assert!(b.receive(0.2).is_empty());
}

#[test]
fn peers_and_ping_report_liveness() {
    let hub = Hub::start(&[]);
    let _z = hub.join("zeta");
    let a = hub.join("alpha");
    assert_eq!(hub.peers(), ["alpha", "zeta"]);
    let live = hub.ping("alpha");
    assert_eq!(live["state"], "live");
    assert_eq!(live["present"], true);
    assert_eq!(live["listening"], false);
    assert_eq!(live["status"], Value::Null);
    assert_eq!(live["status_age"], Value::Null);
    assert!(live["last_seen_age"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        hub.ping("ghost"),
        json!({"peer": "ghost", "state": "absent", "present": false})
    );
    assert_eq!(hub.get("/ping").status, 422);
    assert_eq!(hub.get("/ping?peer=").status, 422);
    assert_eq!(
        hub.get(&format!("/ping?peer={}", "x".repeat(65))).status,
        422
    );

    let set = a.post("/status", json!({"status": "  reviewing the schema  "}));
    assert_eq!(set.json(), json!({"status": "reviewing the schema"}));
    let p = hub.ping("alpha");
    assert_eq!(p["status"], "reviewing the schema");
    assert!(p["status_age"].as_f64().unwrap() >= 0.0);
    let cleared = a.post("/status", json!({"status": ""}));
    assert_eq!(cleared.json(), json!({"status": null}));
    assert_eq!(
        a.post("/status", json!({"status": "x".repeat(281)})).status,
        422
    );
    assert_eq!(
        hub.post("/status", json!({"token": "bogus", "status": "x"}))
            .status,
        401
    );
}

#[test]
fn channels_join_leave_topic_and_their_errors() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let j = a.post("/channels/join", json!({"channel": "#api"}));
    assert_eq!(j.json(), json!({"joined": true, "channel": "#api"}));
    let t = a.post(
        "/channels/topic",
        json!({"channel": "#api", "topic": " the shape "}),
    );
    assert_eq!(t.json(), json!({"channel": "#api", "topic": "the shape"}));
    assert_eq!(
        hub.get("/channels").json(),
        json!({"channels": {"#api": {"topic": "the shape", "members": ["alpha"]}}})
    );
    let outsider = b.post(
        "/channels/topic",
        json!({"channel": "#api", "topic": "mine"}),
    );
    assert_eq!(outsider.status, 403);
    assert_eq!(outsider.json()["detail"], "not a channel member");
    for bad in ["api", "#", "#has space", &format!("#{}", "x".repeat(64))] {
        let r = a.post("/channels/join", json!({"channel": bad}));
        assert_eq!(r.status, 422, "{bad:?}");
    }
    assert_eq!(
        hub.post("/channels/join", json!({"token": "bogus", "channel": "#x"}))
            .status,
        401
    );
    let l = a.post("/channels/leave", json!({"channel": "#api"}));
    assert_eq!(l.json(), json!({"left": true, "channel": "#api"}));
    // An empty channel is gone, and so is its topic.
    assert_eq!(hub.get("/channels").json(), json!({"channels": {}}));
    a.post("/channels/join", json!({"channel": "#api"}));
    assert_eq!(
        hub.get("/channels").json()["channels"]["#api"]["topic"],
        Value::Null
    );
}

#[test]
fn a_peer_may_join_at_most_64_channels() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    for i in 0..64 {
        let r = a.post("/channels/join", json!({"channel": format!("#c{i}")}));
        assert_eq!(r.status, 200);
    }
    let r = a.post("/channels/join", json!({"channel": "#c64"}));
    assert_eq!(r.status, 409);
    assert!(r.json()["detail"].as_str().unwrap().contains("limit"));
    assert_eq!(a.say("#c65", "auto-join refused").status, 409);
}

#[test]
fn the_talking_stick_take_raise_lower_pass_drop() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let c = hub.join("gamma");
    assert_eq!(hub.get("/floor").json(), json!({"floors": {}}));
    assert_eq!(b.floor("raise", "all")["error"], "no_floor");

    let took = a.floor("take", "all");
    assert_eq!(
        took,
        json!({"ok": true, "scope": "all", "holder": "alpha", "reason": "urgent"})
    );
    // Everyone else hears about it.
    let notice = b.receive(1.0);
    assert_eq!(notice[0]["kind"], "system");
    assert_eq!(notice[0]["origin"], "hub");
    assert!(
        notice[0]["content"]
            .as_str()
            .unwrap()
            .contains("talking stick")
    );

    let queued = b.floor("take", "all");
    assert_eq!(queued["ok"], false);
    assert_eq!(queued["error"], "floor_held");
    assert_eq!(queued["position"], 1);
    assert_eq!(
        c.floor("raise", "all"),
        json!({"ok": true, "scope": "all", "position": 2})
    );
    assert_eq!(a.floor("raise", "all")["position"], 0);
    assert_eq!(c.floor("lower", "all"), json!({"ok": true, "scope": "all"}));
    let floors = hub.get("/floor").json();
    assert_eq!(floors["floors"]["all"]["hands"], json!(["beta"]));
    assert_eq!(floors["floors"]["all"]["holder"], "alpha");
    assert!(floors["floors"]["all"]["since"].as_f64().unwrap() > 1.7e9);

    let refused = c.floor("pass", "all");
    assert_eq!(
        refused,
        json!({"ok": false, "error": "not_holder", "scope": "all", "held_by": "alpha"})
    );
    assert_eq!(
        a.floor("pass", "all"),
        json!({"ok": true, "scope": "all", "passed_to": "beta"})
    );
    assert_eq!(
        b.floor("drop", "all"),
        json!({"ok": true, "scope": "all", "released": true})
    );
    assert_eq!(hub.get("/floor").json(), json!({"floors": {}}));

    // Channel scopes need membership.
    assert_eq!(a.floor("take", "#ops")["error"], "not_a_member");
    let bad = a.post("/floor", json!({"action": "take", "scope": "beta"}));
    assert_eq!(bad.status, 422);
    let unknown = a.post("/floor", json!({"action": "grab"}));
    assert_eq!(unknown.status, 400);
    assert_eq!(
        hub.post("/floor", json!({"token": "bogus", "action": "take"}))
            .status,
        401
    );
}

#[test]
fn a_pass_with_no_hands_releases_and_a_leaving_holder_hands_on() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    a.floor("take", "all");
    assert_eq!(
        a.floor("pass", "all"),
        json!({"ok": true, "scope": "all", "released": true})
    );
    a.floor("take", "all");
    b.floor("raise", "all");
    a.post("/leave", json!({}));
    assert_eq!(hub.get("/floor").json()["floors"]["all"]["holder"], "beta");
    // Stop clears every stick.
    hub.control(json!({"action": "stop"}));
    assert_eq!(hub.get("/floor").json(), json!({"floors": {}}));
}

fn radio_form() -> Value {
    json!({
        "title": "Which schema?",
        "fields": [
            {"key": "choice", "label": "Schema", "type": "radio", "options": ["v1", "v2"], "required": true},
            {"key": "why", "label": "Why", "type": "textarea"}
        ]
    })
}

#[test]
fn ask_opens_a_form_the_operator_answers() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let asked = a.post("/ask", radio_form());
    assert_eq!(asked.status, 200, "{}", asked.text);
    let form_id = asked.json()["form_id"].as_str().unwrap().to_string();
    assert_eq!(asked.json()["to"], "all");
    let forms = hub.get("/forms").json()["forms"].clone();
    assert_eq!(forms[0]["id"], form_id.as_str());
    assert_eq!(forms[0]["asker"], "alpha");
    assert_eq!(forms[0]["status"], "pending");
    assert_eq!(forms[0]["answers"], Value::Null);
    assert_eq!(forms[0]["fields"][1]["options"], json!([]));

    let missing =
        hub.control(json!({"action": "answer_form", "id": form_id, "answers": {"why": "x"}}));
    assert_eq!(missing.status, 422, "a required field was left out");
    let answered = hub.control(json!({
        "action": "answer_form", "id": form_id,
        "answers": {"choice": "v2", "why": "simpler"}
    }));
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(hub.get("/forms").json(), json!({"forms": []}));
    for agent in [&a, &b] {
        let got: Vec<Value> = agent
            .receive(1.0)
            .into_iter()
            .filter(|m| m["kind"] == "answer")
            .collect();
        assert_eq!(got.len(), 1, "{} got no answer", agent.name);
        assert_eq!(got[0]["sender"], "human");
        assert_eq!(got[0]["origin"], "operator");
        assert_eq!(got[0]["meta"]["form_id"], form_id.as_str());
        assert_eq!(got[0]["meta"]["status"], "answered");
        assert_eq!(got[0]["meta"]["answers"]["choice"], "v2");
        assert!(got[0]["content"].as_str().unwrap().contains("Schema: v2"));
    }
    let again = hub.control(json!({"action": "answer_form", "id": form_id, "answers": {}}));
    assert_eq!(again.status, 404);
}

#[test]
fn a_cancelled_channel_form_reaches_the_channel() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let b = hub.join("beta");
    let mut form = radio_form();
    form["to"] = json!("#design");
    let id = a.post("/ask", form).json()["form_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Asking to a channel subscribed the asker.
    assert_eq!(
        hub.get("/channels").json()["channels"]["#design"]["members"],
        json!(["alpha"])
    );
    assert_eq!(
        hub.control(json!({"action": "cancel_form", "id": id}))
            .status,
        200
    );
    let got = a.receive(1.0);
    assert_eq!(got[0]["kind"], "answer");
    assert_eq!(got[0]["meta"]["status"], "cancelled");
    assert_eq!(got[0]["meta"]["answers"], Value::Null);
    assert!(b.receive(0.2).is_empty(), "beta is not in #design");
}

#[test]
fn ask_refuses_bad_forms_and_a_stopped_room() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    let field = |kind: &str, options: Value| json!({"key": "k", "label": "L", "type": kind, "options": options});
    let bad_forms = [
        json!({"title": "", "fields": [field("text", json!([]))]}),
        json!({"title": "t", "fields": []}),
        json!({"title": "t", "fields": [field("radio", json!([]))]}),
        json!({"title": "t", "fields": [field("text", json!(["a"]))]}),
        json!({"title": "t", "fields": [field("dropdown", json!([]))]}),
        json!({"title": "t", "to": "beta", "fields": [field("text", json!([]))]}),
        json!({"title": "t", "fields": [field("text", json!([])), field("text", json!([]))]}),
    ];
    for form in bad_forms {
        let r = a.post("/ask", form.clone());
        assert_eq!(r.status, 422, "{form}: {}", r.text);
    }
    assert_eq!(hub.get("/forms").json(), json!({"forms": []}));
    hub.control(json!({"action": "stop"}));
    assert_eq!(a.post("/ask", radio_form()).status, 409);
    assert_eq!(
        hub.post(
            "/ask",
            json!({"token": "bogus", "title": "t", "fields": [field("text", json!([]))]})
        )
        .status,
        401
    );
}

#[test]
fn export_renders_every_format() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    a.say("all", "hello\nworld");
    let json_export = hub.get("/export");
    assert_eq!(json_export.status, 200);
    assert_eq!(
        json_export.header("content-disposition"),
        Some("attachment; filename=\"caucus-chat.json\"")
    );
    let doc = json_export.json();
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["count"], doc["messages"].as_array().unwrap().len());
    assert!(
        doc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "hello\nworld")
    );

    for (format, file, needle) in [
        ("markdown", "caucus-chat.md", "> hello\n> world"),
        ("md", "caucus-chat.md", "**alpha** → all"),
        ("text", "caucus-chat.txt", "alpha -> all: hello\n  | world"),
        ("txt", "caucus-chat.txt", "(system): alpha joined"),
        ("plain", "caucus-chat.txt", "alpha -> all"),
        ("bogus", "caucus-chat.json", "\"count\""),
    ] {
        let r = hub.get(&format!("/export?format={format}"));
        assert_eq!(
            r.header("content-disposition"),
            Some(format!("attachment; filename=\"{file}\"").as_str())
        );
        assert!(r.text.contains(needle), "{format}: {}", r.text);
    }
}

#[test]
fn the_log_keeps_the_last_500_messages() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    for i in 0..520 {
        a.say("nobody", &format!("m{i}"));
    }
    let log = hub.log();
    assert_eq!(log.len(), 500);
    assert_eq!(log.last().unwrap()["content"], "m519");
}

#[test]
fn status_ask_and_channel_calls_spend_the_same_bucket() {
    let hub = Hub::start(&[]);
    let a = hub.join("alpha");
    let calls: [(&str, Value); 5] = [
        ("/status", json!({"status": "busy"})),
        ("/channels/join", json!({"channel": "#a"})),
        ("/channels/topic", json!({"channel": "#a", "topic": "t"})),
        ("/channels/leave", json!({"channel": "#a"})),
        ("/ask", radio_form()),
    ];
    for (path, body) in &calls {
        assert_eq!(a.post(path, body.clone()).status, 200, "{path}");
    }
    for (path, body) in &calls {
        let r = a.post(path, body.clone());
        assert_eq!(r.status, 429, "{path}: {}", r.text);
        assert!(r.json()["retry_after"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn at_most_128_hands_wait_behind_a_stick() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let holder = hub.join("holder");
    holder.floor("take", "all");
    let mut hands = Vec::new();
    for i in 0..128 {
        let p = hub.join(&format!("h{i}"));
        assert_eq!(p.floor("raise", "all")["position"], i + 1);
        hands.push(p);
    }
    let late = hub.join("late");
    let r = late.post("/floor", json!({"action": "raise", "scope": "all"}));
    assert_eq!(r.status, 409);
    assert!(r.json()["detail"].as_str().unwrap().contains("limit"));
    // Raising a hand already up is not counted twice.
    assert_eq!(hands[0].floor("raise", "all")["position"], 1);
}

#[test]
fn at_most_256_forms_wait_for_the_operator() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let a = hub.join("alpha");
    for _ in 0..256 {
        assert_eq!(a.post("/ask", radio_form()).status, 200);
    }
    let r = a.post("/ask", radio_form());
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["detail"], "pending form limit reached");
    assert_eq!(
        hub.get("/forms").json()["forms"].as_array().unwrap().len(),
        256
    );
}

#[test]
fn max_peers_moves_the_record_cap() {
    let hub = Hub::start(&["--no-rate-limit", "--max-peers", "3"]);
    for name in ["a", "b", "c"] {
        hub.join(name);
    }
    let r = hub.post("/register", json!({"project": "d"}));
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["detail"], "client limit reached");
}

#[test]
fn send_rate_sets_each_senders_bucket() {
    let hub = Hub::start(&["--send-rate", "1/2"]);
    let a = hub.join("alpha");
    assert_eq!(a.say("all", "1").status, 200);
    assert_eq!(a.say("all", "2").status, 200);
    assert_eq!(a.say("all", "3").status, 429, "a burst of two");
    let bad = common::caucus()
        .args(["hub", "--send-rate", "fast"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--send-rate"));
}
