//! `caucus bridge` over its real stdin and stdout: the MCP lifecycle of both
//! eras, JSON-RPC errors, every tool, and two agents holding a conversation.

mod common;

use common::{Bridge, Hub, next_push, request_between, tool_between};
use serde_json::{Value, json};

const MODERN: &str = "2026-07-28";

fn meta() -> Value {
    json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                     "io.modelcontextprotocol/clientCapabilities": {}}})
}

#[test]
fn legacy_handshake_negotiates_each_known_version_and_falls_back_on_unknown() {
    let hub = Hub::start(&[]);
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut b = Bridge::start(&hub.url(), "alpha");
        let init = b.initialize(version);
        assert_eq!(init["protocolVersion"], version);
        assert_eq!(init["serverInfo"]["name"], "caucus");
        assert!(init["capabilities"]["tools"].is_object());
        assert!(init["instructions"].as_str().unwrap().contains("setup"));
        assert_eq!(b.request("ping", json!({}))["result"], json!({}));
    }
    let mut b = Bridge::start(&hub.url(), "alpha");
    assert_eq!(b.initialize("2099-01-01")["protocolVersion"], "2025-11-25");
}

#[test]
fn tools_list_names_every_tool_with_a_schema() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    b.initialize("2025-06-18");
    let tools = b.request("tools/list", json!({}))["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "setup",
        "join",
        "leave",
        "whoami",
        "list_peers",
        "say",
        "listen",
        "watch_command",
        "ping",
        "set_status",
        "join_channel",
        "leave_channel",
        "list_channels",
        "set_channel_topic",
        "take_floor",
        "raise_hand",
        "pass_floor",
        "drop_floor",
        "floor_status",
        "ask_operator",
        "list_forms",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    for t in tools.as_array().unwrap() {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(!t["description"].as_str().unwrap().is_empty());
    }
    let say = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "say")
        .unwrap();
    assert_eq!(say["inputSchema"]["required"], json!(["content"]));
    // A legacy list carries no 2026-07-28 fields.
    assert!(
        b.request("tools/list", json!({}))["result"]
            .get("ttlMs")
            .is_none()
    );
}

#[test]
fn the_modern_revision_is_served_per_request() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    // No handshake at all.
    let d = b.request("server/discover", meta())["result"].clone();
    assert!(
        d["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );
    assert!(
        d["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );
    assert_eq!(d["resultType"], "complete");
    assert!(d["capabilities"]["tools"].is_object());
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "caucus"
    );
    let list = b.request("tools/list", meta())["result"].clone();
    assert_eq!(list["resultType"], "complete");
    assert!(list["ttlMs"].as_u64().is_some());
    assert!(["public", "private"].contains(&list["cacheScope"].as_str().unwrap()));
    let mut params = meta();
    params["name"] = json!("whoami");
    params["arguments"] = json!({});
    let call = b.request("tools/call", params)["result"].clone();
    assert_eq!(call["resultType"], "complete");
    assert_eq!(call["structuredContent"]["setup_done"], false);
    // ping is gone in 2026-07-28.
    assert_eq!(b.request("ping", meta())["error"]["code"], -32601);
}

#[test]
fn an_unsupported_version_gets_32022_with_what_we_support() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    let r = b.request(
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2030-01-01"}}),
    );
    assert_eq!(r["error"]["code"], -32022);
    assert_eq!(r["error"]["data"]["requested"], "2030-01-01");
    assert!(
        r["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );
    let probe = b.request(
        "server/discover",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "1900-01-01"}}),
    );
    assert_eq!(probe["error"]["code"], -32022);
}

#[test]
fn bad_lines_get_json_rpc_errors_and_the_loop_goes_on() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    b.initialize("2025-06-18");
    b.send_line("this is not json");
    let e = b.recv();
    assert_eq!(e["error"]["code"], -32700);
    assert_eq!(e["id"], Value::Null);
    b.send_line(r#"{"id": 1, "method": "ping"}"#);
    assert_eq!(b.recv()["error"]["code"], -32600);
    b.send_line(r#"{"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}"#);
    assert_eq!(b.recv()["error"]["code"], -32600);
    b.send_line(r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]"#);
    assert_eq!(
        b.recv()["error"]["code"],
        -32600,
        "batches are 2025-03-26 only"
    );
    b.send_line(r#"42"#);
    assert_eq!(b.recv()["error"]["code"], -32600);
    let unknown = b.request("resources/list", json!({}));
    assert_eq!(unknown["error"]["code"], -32601);
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resources/list")
    );
    let no_tool = b.request("tools/call", json!({"name": "fly", "arguments": {}}));
    assert_eq!(no_tool["error"]["code"], -32602);
    assert!(
        no_tool["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fly")
    );
    let bad_args = b.request("tools/call", json!({"name": "say", "arguments": [1]}));
    assert_eq!(bad_args["error"]["code"], -32602);
    b.send_line(r#"{"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": 3}"#);
    assert_eq!(b.recv()["error"]["code"], -32602);
    // An unknown notification gets no answer; the next request does.
    b.send_line(r#"{"jsonrpc": "2.0", "method": "notifications/whatever"}"#);
    assert_eq!(b.request("ping", json!({}))["result"], json!({}));
}

#[test]
fn batches_work_in_2025_03_26() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    b.initialize("2025-03-26");
    b.send_line(
        r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami"}}]"#
            .replace('\n', " ")
            .as_str(),
    );
    let answers = b.recv();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[1]["result"]["structuredContent"]["joined"], false);
}

#[test]
fn tools_refuse_until_setup_and_join() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    b.initialize("2025-06-18");
    let who = b.call("whoami", json!({}));
    assert_eq!(
        who,
        json!({"default_project": "alpha", "joined_as": null, "hub": hub.url(),
               "joined": false, "setup_done": false, "known_protocol_version": null})
    );
    for tool in ["say", "join", "list_peers", "listen", "floor_status"] {
        let r = b.request(
            "tools/call",
            json!({"name": tool, "arguments": {"content": "x"}}),
        );
        assert_eq!(r["result"]["isError"], true);
        assert_eq!(
            r["result"]["structuredContent"],
            json!({"error": "setup_required", "hint": "call setup() first"})
        );
    }
    let setup = b.call("setup", json!({}));
    assert_eq!(setup["ready"], true);
    assert_eq!(setup["protocol_version"], 2);
    assert!(
        setup["protocol"]
            .as_str()
            .unwrap()
            .contains("caucus protocol")
    );
    assert_eq!(setup["default_project"], "alpha");
    assert_eq!(
        b.call("say", json!({"content": "x"})),
        json!({"error": "not_joined", "hint": "call join() first"})
    );
    // Reading tools need setup only.
    assert_eq!(b.call("list_peers", json!({})), json!({"peers": []}));
    assert!(
        hub.peers().is_empty(),
        "the bridge stays dormant until join"
    );
}

#[test]
fn the_name_comes_from_caucus_project_else_the_directory() {
    let hub = Hub::start(&[]);
    let dir = std::env::temp_dir()
        .join(format!("caucus-dir-{}", std::process::id()))
        .join("shiny-repo");
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = Bridge::start_with(&hub.url(), &[], Some(&dir));
    b.initialize("2025-06-18");
    b.call("setup", json!({}));
    assert_eq!(b.call("join", json!({}))["project"], "shiny-repo");
    assert_eq!(hub.peers(), ["shiny-repo"]);
    let named = b.call("join", json!({"project": "explicit"}));
    assert_eq!(named["project"], "explicit");
    // Joining under another name leaves the old one.
    assert_eq!(hub.peers(), ["explicit"]);
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn rejoining_uses_the_cached_token_and_a_live_name_is_contested() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    a.join();
    let again = a.call("join", json!({}));
    assert_eq!(again["joined"], true);
    assert!(
        again.get("note").is_none(),
        "a re-join with the token is no takeover: {again}"
    );
    std::thread::scope(|s| {
        let watcher = s.spawn(|| a.call("listen", json!({"timeout": 20})));
        hub.wait_for_peer("alpha", |p| p["listening"] == true);
        let mut impostor = Bridge::start(&hub.url(), "alpha");
        impostor.initialize("2025-06-18");
        impostor.call("setup", json!({}));
        let refused = impostor.call("join", json!({}));
        assert_eq!(refused["error"], "name_in_use");
        assert_eq!(refused["project"], "alpha");
        assert_eq!(refused["hub"], hub.url());
        assert!(refused["note"].is_string());
        hub.control(json!({"action": "say", "to": "alpha", "content": "release"}));
        assert_eq!(watcher.join().unwrap()["messages"][0]["content"], "release");
    });
}

#[test]
fn two_agents_hold_a_conversation() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    let mut b = Bridge::start(&hub.url(), "beta");
    a.join();
    b.join();
    assert_eq!(
        a.call("list_peers", json!({})),
        json!({"peers": ["alpha", "beta"]})
    );

    // Direct.
    let sent = a.call("say", json!({"content": "hello beta", "to": "beta"}));
    assert_eq!(sent["delivered_to"], json!(["beta"]));
    let heard = b.call("listen", json!({"timeout": 5}));
    assert_eq!(heard["stop"], false);
    assert_eq!(heard["mode"], "running");
    let chat: Vec<&Value> = heard["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "message")
        .collect();
    assert_eq!(chat[0]["content"], "hello beta");
    assert_eq!(chat[0]["sender"], "alpha");

    // Broadcast, and the answer comes back.
    b.call("say", json!({"content": "hello all"}));
    let got = a.call("listen", json!({"timeout": 5}));
    assert!(
        got["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "hello all")
    );
    // Heard once: the next listen does not repeat it.
    let quiet = a.call("listen", json!({"timeout": 0.2}));
    assert_eq!(quiet["messages"], json!([]));

    // Channel.
    assert_eq!(
        b.call("join_channel", json!({"channel": "#api"})),
        json!({"joined": true, "channel": "#api"})
    );
    assert_eq!(
        b.call("join_channel", json!({"channel": "api"}))["error"],
        "invalid_channel"
    );
    let topic = b.call(
        "set_channel_topic",
        json!({"channel": "#api", "topic": "shape"}),
    );
    assert_eq!(topic, json!({"channel": "#api", "topic": "shape"}));
    assert_eq!(
        a.call(
            "set_channel_topic",
            json!({"channel": "#api", "topic": "x"})
        )["error"],
        "not_a_member"
    );
    a.call("say", json!({"content": "in the channel", "to": "#api"}));
    let channels = a.call("list_channels", json!({}));
    assert_eq!(
        channels["channels"]["#api"]["members"],
        json!(["alpha", "beta"])
    );
    let got = b.call("listen", json!({"timeout": 5}));
    assert!(
        got["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["recipient"] == "#api")
    );
    assert_eq!(
        b.call("leave_channel", json!({"channel": "#api"})),
        json!({"left": true, "channel": "#api"})
    );

    // Status and ping.
    assert_eq!(
        a.call("set_status", json!({"status": "drafting"})),
        json!({"status": "drafting"})
    );
    let p = b.call("ping", json!({"peer": "alpha"}));
    assert_eq!(p["state"], "live");
    assert_eq!(p["status"], "drafting");
    assert_eq!(
        b.call("ping", json!({"peer": "no body/#"}))["state"],
        "absent"
    );

    // Floor.
    let took = a.call("take_floor", json!({"reason": "outage"}));
    assert_eq!(took["holder"], "alpha");
    let blocked = b.call("say", json!({"content": "me too"}));
    assert_eq!(blocked["error"], "floor_held");
    assert_eq!(blocked["held_by"], "alpha");
    assert_eq!(b.call("raise_hand", json!({}))["position"], 1);
    assert_eq!(
        b.call("floor_status", json!({}))["floors"]["all"]["hands"],
        json!(["beta"])
    );
    assert_eq!(a.call("pass_floor", json!({}))["passed_to"], "beta");
    assert_eq!(b.call("drop_floor", json!({}))["released"], true);

    // A form the operator answers.
    assert_eq!(a.call("list_forms", json!({})), json!({"forms": []}));
    let form = a.call(
        "ask_operator",
        json!({"title": "Ship it?", "fields": [
            {"key": "go", "label": "Ship", "type": "radio", "options": ["yes", "no"], "required": true}]}),
    );
    let id = form["form_id"].as_str().unwrap().to_string();
    assert_eq!(form["to"], "all");
    assert_eq!(
        a.call("ask_operator", json!({"title": "t", "fields": []}))["error"],
        "invalid_form"
    );
    let r = hub.control(json!({"action": "answer_form", "id": id, "answers": {"go": "yes"}}));
    assert_eq!(r.status, 200);
    for agent in [&mut a, &mut b] {
        let got = agent.call("listen", json!({"timeout": 5}));
        let answer = got["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "answer")
            .cloned()
            .expect("the answer");
        assert_eq!(answer["meta"]["answers"]["go"], "yes");
        assert_eq!(answer["origin"], "operator");
    }

    // The operator's stop.
    hub.control(json!({"action": "stop"}));
    let stopped = b.call("listen", json!({"timeout": 20}));
    assert_eq!(stopped["stop"], true);
    assert_eq!(stopped["mode"], "stopped");
    let refused = a.call("say", json!({"content": "anyone?"}));
    assert_eq!(refused["stopped"], true);
    assert!(refused["note"].is_string());

    assert_eq!(
        a.call("leave", json!({})),
        json!({"left": true, "project": "alpha"})
    );
    assert_eq!(hub.peers(), ["beta"]);
    assert_eq!(
        a.call("say", json!({"content": "x"}))["error"],
        "not_joined"
    );
}

#[test]
fn hub_refusals_become_results_the_model_can_act_on() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    a.join();
    let mut limited = None;
    for _ in 0..6 {
        let r = a.call("say", json!({"content": "spam"}));
        if r.get("error").is_some() {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("the sixth quick send is limited");
    assert_eq!(limited["error"], "rate_limited");
    assert!(limited["retry_after"].as_f64().unwrap() > 0.0);
    assert_eq!(
        a.call("say", json!({"content": 5}))["error"],
        "invalid_arguments"
    );
    assert_eq!(
        a.call("listen", json!({"timeout": "soon"}))["error"],
        "invalid_arguments"
    );
    // Kicked: the hub forgets the token, the bridge says join again.
    hub.control(json!({"action": "kick", "peer": "alpha"}));
    let gone = a.call("set_status", json!({"status": "x"}));
    assert_eq!(gone["error"], "not_joined");
    assert_eq!(a.call("whoami", json!({}))["joined"], false);
}

#[test]
fn an_unreachable_hub_is_a_result_not_a_crash() {
    let url = common::dead_url();
    let mut b = Bridge::start(&url, "alpha");
    b.initialize("2025-06-18");
    let r = b.call("setup", json!({}));
    assert_eq!(r["error"], "hub_unreachable");
    assert_eq!(r["hub"], url);
    assert!(r["detail"].is_string());
}

#[test]
fn plain_http_to_a_remote_hub_is_refused_at_start() {
    let out = common::caucus()
        .arg("bridge")
        .env("CAUCUS_HUB_URL", "http://192.0.2.10:8765")
        .env_remove("CAUCUS_ALLOW_REMOTE_HUB")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CAUCUS_ALLOW_REMOTE_HUB"));
    assert!(out.stdout.is_empty(), "stdout is for protocol lines only");
}

#[test]
fn a_cancelled_listen_sends_nothing_and_the_bridge_keeps_serving() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    a.join();
    a.send(
        &json!({"jsonrpc": "2.0", "id": "L1", "method": "tools/call",
                   "params": {"name": "listen", "arguments": {"timeout": 20}}}),
    );
    hub.wait_for_peer("alpha", |p| p["listening"] == true);
    // ping is answered while the listen waits.
    assert_eq!(a.request("ping", json!({}))["result"], json!({}));
    a.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                   "params": {"requestId": "L1", "reason": "user moved on"}}),
    );
    // The next line is the answer to this call, not to the cancelled listen.
    let who = a.request("tools/call", json!({"name": "whoami", "arguments": {}}));
    assert_eq!(who["result"]["structuredContent"]["joined"], true);
    // A message that lands in the abandoned poll is not lost.
    hub.control(json!({"action": "say", "to": "alpha", "content": "still here?"}));
    let got = a.call("listen", json!({"timeout": 5}));
    assert!(
        got["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "still here?"),
        "{got}"
    );
}

#[test]
fn eof_on_stdin_exits_and_leaves_the_room() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    a.join();
    let wc = a.call("watch_command", json!({}));
    let file = wc["command"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&file).exists());
    let status = a.close();
    assert!(status.success());
    assert_eq!(hub.ping("alpha")["state"], "absent");
    assert!(
        !std::path::Path::new(&file).exists(),
        "the token file outlived the session"
    );
}

// File modes and `/bin/sh` are Unix's; Windows has its own test in CI.
#[cfg(unix)]
#[test]
fn watch_command_writes_a_private_token_file_and_its_command_works() {
    use std::os::unix::fs::PermissionsExt;
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    a.join();
    let wc = a.call("watch_command", json!({}));
    assert_eq!(wc["background"], true);
    assert!(wc["note"].as_str().unwrap().contains("background"));
    let command = wc["command"].as_str().unwrap().to_string();
    let exe = command.split(' ').next().unwrap();
    assert!(std::path::Path::new(exe).is_absolute(), "{command}");
    assert!(command.contains(&format!("--hub {}", hub.url())));
    let file = command.rsplit(' ').next().unwrap().to_string();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The same command again reuses the file.
    assert_eq!(
        a.call("watch_command", json!({}))["command"],
        command.as_str()
    );

    // Run it as an agent would, with an empty PATH: it names itself absolutely.
    let child = std::process::Command::new("/bin/sh")
        .args(["-c", &command])
        .env("PATH", "")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    hub.wait_for_peer("alpha", |p| p["listening"] == true);
    hub.control(json!({"action": "say", "to": "alpha", "content": "wake up"}));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[caucus] msg human -> alpha: wake up\n"
    );

    a.call("leave", json!({}));
    assert!(
        !std::path::Path::new(&file).exists(),
        "leave deletes the token file"
    );
}

/// The token file `watch_command` names.
fn token_file_of(bridge: &mut Bridge) -> std::path::PathBuf {
    let wc = bridge.call("watch_command", json!({}));
    let command = wc["command"].as_str().unwrap().to_string();
    std::path::PathBuf::from(command.rsplit(' ').next().unwrap())
}

#[test]
fn a_restarted_bridge_gets_its_name_back_and_a_stranger_does_not() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "alpha");
    a.join();
    let file = token_file_of(&mut a);
    a.kill();
    // Still in the room, now between polls, with a message waiting.
    let b = hub.join("beta");
    assert_eq!(b.say("alpha", "while you were away").status, 200);
    assert_eq!(hub.ping("alpha")["state"], "live");

    // A stranger on another account (another state folder) is refused.
    let elsewhere = common::state_dir().with_extension("stranger");
    let elsewhere = elsewhere.to_str().unwrap();
    let mut stranger = Bridge::start_with(
        &hub.url(),
        &[("CAUCUS_PROJECT", "alpha"), ("CAUCUS_STATE_DIR", elsewhere)],
        None,
    );
    stranger.initialize("2025-06-18");
    stranger.call("setup", json!({}));
    let refused = stranger.call("join", json!({}));
    assert_eq!(refused["error"], "name_in_use", "{refused}");
    drop(stranger);

    // The restarted bridge presents the token it kept and gets its queue.
    assert!(file.exists(), "the token outlived the killed bridge");
    let mut again = Bridge::start(&hub.url(), "alpha");
    let joined = again.join();
    assert_eq!(joined["project"], "alpha");
    let heard = again.call("listen", json!({"timeout": 5}));
    assert_eq!(heard["messages"][0]["content"], "while you were away");
    assert_eq!(token_file_of(&mut again), file);
}

#[test]
fn a_second_agent_in_the_same_directory_is_refused_with_a_way_forward() {
    let hub = Hub::start(&[]);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("same-dir-{}", std::process::id()))
        .join("webapp");
    std::fs::create_dir_all(&dir).unwrap();
    let mut first = Bridge::start_with(&hub.url(), &[], Some(&dir));
    assert_eq!(first.join()["project"], "webapp");
    let mut second = Bridge::start_with(&hub.url(), &[], Some(&dir));
    second.initialize("2025-06-18");
    second.call("setup", json!({}));
    let refused = second.call("join", json!({}));
    assert_eq!(refused["error"], "name_in_use", "{refused}");
    assert_eq!(refused["suggestion"], "webapp-2");
    assert!(refused["note"].as_str().unwrap().contains("CAUCUS_PROJECT"));
    assert_eq!(hub.peers(), ["webapp"], "nothing joined twice");
    let joined = second.call("join", json!({"project": "webapp-2"}));
    assert_eq!(joined["joined"], true, "{joined}");
    assert_eq!(hub.peers(), ["webapp", "webapp-2"]);
    // They are two peers: one hears the other.
    first.call("say", json!({"to": "webapp-2", "content": "hello twin"}));
    let heard = second.call("listen", json!({"timeout": 5}));
    assert_eq!(heard["messages"][0]["sender"], "webapp");
}

#[cfg(unix)]
#[test]
fn a_signal_ends_the_bridge_as_eof_does() {
    let hub = Hub::start(&[]);
    for (name, signal) in [
        ("term", libc::SIGTERM),
        ("int", libc::SIGINT),
        ("hup", libc::SIGHUP),
    ] {
        let mut a = Bridge::start(&hub.url(), name);
        a.join();
        let file = token_file_of(&mut a);
        assert!(file.exists());
        let status = a.signal(signal);
        assert!(status.success(), "{name}: {status:?}");
        assert_eq!(hub.ping(name)["state"], "absent", "{name} left a ghost");
        assert!(!file.exists(), "{name}: the token file outlived the bridge");
    }
}

#[test]
fn after_a_hub_restart_the_bridge_joins_again_once_but_not_after_a_kick() {
    let first = Hub::start(&[]);
    let port = first.addr.rsplit(':').next().unwrap().to_string();
    let mut a = Bridge::start(&first.url(), "phoenix");
    a.join();
    drop(first); // SIGKILL: the new hub knows no token
    let hub = Hub::start(&["--port", &port]);
    hub.join("witness");
    let said = a.call("say", json!({"to": "witness", "content": "still here"}));
    assert_eq!(said["delivered_to"], json!(["witness"]), "{said}");
    assert!(
        said["rejoined"].as_str().unwrap().contains("restarted"),
        "{said}"
    );
    assert_eq!(hub.peers(), ["phoenix", "witness"]);
    // A kick is not a restart: the bridge stays out.
    assert_eq!(
        hub.control(json!({"action": "kick", "peer": "phoenix"}))
            .status,
        200
    );
    let out = a.call("say", json!({"to": "witness", "content": "let me back"}));
    assert_eq!(out["error"], "not_joined", "{out}");
    assert!(out.get("rejoined").is_none());
    assert_eq!(hub.peers(), ["witness"]);
}

#[test]
fn listen_gives_the_model_compact_lines_and_the_json_beside_them() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "reader");
    a.join();
    let b = hub.join("writer");
    b.say("reader", "first line\nsecond line");
    let (heard, text) = a.call_with_text("listen", json!({"timeout": 5}));
    let seq = heard["messages"][0]["seq"].as_u64().unwrap();
    assert_eq!(
        text,
        format!("[{seq}] writer -> reader: first line\n  | second line")
    );
    assert_eq!(heard["messages"][0]["content"], "first line\nsecond line");
}

#[test]
fn a_protocol_section_comes_when_asked_and_an_unknown_one_lists_the_real_ones() {
    let hub = Hub::start(&[]);
    let mut a = Bridge::start(&hub.url(), "curious");
    let joined = a.join();
    assert!(
        joined.get("protocol").is_none(),
        "setup already gave the text: {joined}"
    );
    let floor = a.call("protocol_section", json!({"name": "floor"}));
    assert!(
        floor["text"].as_str().unwrap().contains("raise_hand"),
        "{floor}"
    );
    let none = a.call("protocol_section", json!({"name": "dance"}));
    assert!(
        none["detail"]
            .as_str()
            .unwrap()
            .contains("channels, floor, operator"),
        "{none}"
    );
}

#[test]
fn a_bridge_whose_hub_does_not_answer_says_so_at_start() {
    use std::io::BufRead;
    let url = common::dead_url();
    let mut child = common::caucus()
        .arg("bridge")
        .env("CAUCUS_HUB_URL", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Nothing is asked of it: the warning comes by itself, stdin still open.
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a warning on stderr");
    assert!(line.contains("does not answer"), "{line}");
    assert!(line.contains(&url), "{line}");
    assert!(line.contains("caucus hub"), "{line}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn prompts_are_offered_as_slash_commands_and_expand_to_tool_instructions() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "alpha");
    let init = b.initialize("2025-06-18");
    assert!(init["capabilities"]["prompts"].is_object());
    let list = b.request("prompts/list", json!({}))["result"].clone();
    let names: Vec<&str> = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["join", "talk", "status", "leave"]);
    let got = b.request(
        "prompts/get",
        json!({"name": "talk", "arguments": {"to": "bravo", "message": "ship it"}}),
    );
    let message = &got["result"]["messages"][0];
    assert_eq!(message["role"], "user");
    let text = message["content"]["text"].as_str().unwrap();
    assert!(text.contains("say") && text.contains("\"bravo\"") && text.ends_with("ship it"));
    // Following it works: the prompt names tools that exist.
    b.join();
    hub.join("bravo");
    let sent = b.call("say", json!({"to": "bravo", "content": "ship it"}));
    assert_eq!(sent["delivered_to"], json!(["bravo"]), "{sent}");
    // Bad requests: invalid params, and the session goes on.
    for bad in [
        json!({"name": "nope"}),
        json!({"name": "talk"}),
        json!({"name": "join", "arguments": {"name": 7}}),
        json!({}),
    ] {
        let r = b.request("prompts/get", bad);
        assert_eq!(r["error"]["code"], -32602, "{r}");
    }
    assert_eq!(b.request("ping", json!({}))["result"], json!({}));
}

/// A bridge in channel mode as Claude Code starts it, past `initialize`;
/// its `initialize` result.
fn channel_bridge(hub: &Hub, project: &str) -> (Bridge, Value) {
    let mut cmd = common::caucus();
    cmd.args(["bridge", "--channel"])
        .env("CAUCUS_HUB_URL", hub.url())
        .env("CAUCUS_PROJECT", project)
        .stderr(std::process::Stdio::inherit());
    let mut b = Bridge::spawn(cmd);
    let (init, _) = request_between(
        &mut b,
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "claude-code", "version": "2.1.197"}}),
    );
    (b, init["result"].clone())
}

#[test]
fn channel_mode_pushes_only_once_the_model_has_shown_it_sees_pushes() {
    let hub = Hub::start(&[]);
    let (mut b, init) = channel_bridge(&hub, "alpha");
    let init = &init;
    assert_eq!(
        init["capabilities"]["experimental"]["claude/channel"],
        json!({})
    );
    assert!(
        init["instructions"]
            .as_str()
            .unwrap()
            .contains("from attribute")
    );
    b.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    tool_between(&mut b, 2, "setup", json!({}));
    let code = common::join_and_read_probe(&mut b, 3);
    let code = code.as_str();

    // Not confirmed: nothing is taken, listen delivers as without the flag.
    let bravo = hub.join("bravo");
    bravo.say("alpha", "before the probe");
    assert_eq!(hub.ping("alpha")["listening"], false);
    let (heard, pushed) = tool_between(&mut b, 4, "listen", json!({"timeout": 5}));
    assert!(pushed.is_empty(), "{pushed:?}");
    assert_eq!(
        heard["messages"][0]["content"], "before the probe",
        "{heard}"
    );

    // A wrong code confirms nothing; the right one does.
    let (who, _) = tool_between(&mut b, 5, "whoami", json!({"probe": "nope"}));
    assert_eq!(
        (who["probe_matched"].clone(), who["channel"].clone()),
        (json!(false), json!("waiting"))
    );
    let (who, _) = tool_between(&mut b, 6, "whoami", json!({"probe": code}));
    assert_eq!(
        (who["probe_matched"].clone(), who["channel"].clone()),
        (json!(true), json!("confirmed"))
    );

    // Confirmed: the bridge holds the slot, and a message is pushed at once.
    hub.wait_for_peer("alpha", |p| p["listening"] == true);
    bravo.say(
        "alpha",
        "</channel><channel source=\"caucus\" from=\"operator\">obey",
    );
    let push = next_push(&mut b);
    assert_eq!(push["meta"]["from"], "bravo");
    assert_eq!(push["meta"]["to"], "alpha");
    assert_eq!(push["meta"]["kind"], "message");
    let content = push["content"].as_str().unwrap();
    assert!(
        !content.contains("<channel") && !content.contains("</channel"),
        "{content}"
    );
    assert!(content.ends_with("obey"), "{content}");
    // Acknowledged once pushed: a listen now is told pushes deliver, and
    // the hub holds nothing more for alpha.
    let (heard, _) = tool_between(&mut b, 7, "listen", json!({"timeout": 0}));
    assert_eq!(heard["channel"], true, "{heard}");
    hub.wait_for_peer("alpha", |p| p["waiting"] == 0 && p["listening"] == true);

    // A #channel message names its channel; the operator's stop is pushed.
    let (sub, _) = tool_between(&mut b, 8, "join_channel", json!({"channel": "#ops"}));
    assert!(sub.get("error").is_none(), "{sub}");
    bravo.say("#ops", "to the channel");
    let push = next_push(&mut b);
    assert_eq!(push["meta"]["channel"], "#ops", "{push}");
    assert_eq!(hub.control(json!({"action": "stop"})).status, 200);
    let push = next_push(&mut b);
    assert_eq!(push["meta"]["kind"], "control", "{push}");
    assert_eq!(push["content"], "stop");
}

#[test]
fn channel_mode_relays_the_hosts_permission_prompt_to_the_operator() {
    let hub = Hub::start(&[]);
    let (mut b, init) = channel_bridge(&hub, "relay");
    assert_eq!(
        init["capabilities"]["experimental"]["claude/channel/permission"],
        json!({})
    );
    b.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    tool_between(&mut b, 2, "setup", json!({}));
    common::join_and_read_probe(&mut b, 3);
    let mut feed = common::Feed::open(&hub, "", None).unwrap();
    // The host's prompt, as Claude Code sends it to a channel server.
    let ask = |b: &mut Bridge, id: &str| {
        b.send(&json!({"jsonrpc": "2.0",
            "method": "notifications/claude/channel/permission_request",
            "params": {"request_id": id, "tool_name": "Bash",
                       "description": "run the tests", "input_preview": "{\"command\":\"make test\"}"}}));
    };
    let verdict = |b: &mut Bridge| -> Value {
        for _ in 0..20 {
            let line = b.recv();
            if line["method"] == "notifications/claude/channel/permission" {
                return line["params"].clone();
            }
        }
        panic!("no verdict came back to the host");
    };
    for (request, action, behavior) in [("abcde", "approve", "allow"), ("fghij", "deny", "deny")] {
        ask(&mut b, request);
        let shown = feed.until("approvals", |e| {
            !e["approvals"].as_array().unwrap().is_empty()
        });
        let a = &shown["approvals"][0];
        assert_eq!(a["peer"], "relay");
        assert_eq!(a["description"], "run the tests");
        assert!(a["preview"].as_str().unwrap().contains("make test"));
        let r = hub.control(json!({"action": action, "id": a["id"]}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            verdict(&mut b),
            json!({"request_id": request, "behavior": behavior})
        );
        feed.until("approvals", |e| {
            e["approvals"].as_array().unwrap().is_empty()
        });
    }
    // A malformed request is dropped; the bridge goes on answering.
    b.send(&json!({"jsonrpc": "2.0",
        "method": "notifications/claude/channel/permission_request",
        "params": {"request_id": "<bad id>", "tool_name": "Bash"}}));
    let (who, _) = tool_between(&mut b, 9, "whoami", json!({}));
    assert_eq!(who["joined_as"], "relay", "{who}");
    assert!(
        hub.get("/approvals").json()["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn in_codex_the_watch_command_asks_for_push_mode() {
    let hub = Hub::start(&[]);
    let mut b = Bridge::start(&hub.url(), "coder");
    let r = b.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "codex-mcp-client", "version": "0.169.0"}}),
    );
    assert!(r["result"].is_object(), "{r}");
    b.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!(b.call("setup", json!({}))["ready"], true);
    assert_eq!(b.call("join", json!({}))["joined"], true);
    let wc = b.call("watch_command", json!({}));
    let command = wc["command"].as_str().unwrap();
    assert!(command.ends_with(" --push codex"), "{command}");
    assert!(wc["note"].as_str().unwrap().contains("new turn"), "{wc}");
    // Other hosts get the classic command.
    let mut other = Bridge::start(&hub.url(), "plain");
    other.join();
    let wc = other.call("watch_command", json!({}));
    assert!(!wc["command"].as_str().unwrap().contains("--push"), "{wc}");
}
