//! Secure by default: the chair is the only operator out of the box. A hub
//! started with no flag makes an operator token, keeps it private for the
//! local tools, and signs the browser in through a single-use ticket in the
//! console URL it prints; `--no-auth` is an explicit choice, loopback only;
//! a hub beyond loopback needs an agent key.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::Hub;
use serde_json::json;

#[test]
fn out_of_the_box_only_the_chair_acts_and_the_local_tools_find_its_token() {
    let hub = Hub::start(&[]);
    let token = hub.operator().expect("the hub made a token").to_string();
    assert_eq!(token.len(), 64);
    // Nobody else: no bearer (raw, past the test client's own), an
    // agent's token, a wrong one.
    let body = json!({"action": "pause"}).to_string();
    let bare = hub.raw(
        format!(
            "POST /control HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: \
             application/json\r\nContent-Length: {}\r\n\r\n{body}",
            hub.addr,
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(bare.status, 401, "{}", bare.text);
    let agent = hub.join("alpha");
    for bearer in [Some(agent.token.as_str()), Some("nope")] {
        let headers: Vec<(&str, String)> = bearer
            .map(|b| vec![("Authorization", format!("Bearer {b}"))])
            .unwrap_or_default();
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = hub.request(
            "POST",
            "/control",
            &h,
            json!({"action": "pause"}).to_string().as_bytes(),
        );
        assert_eq!(r.status, 401, "{bearer:?}: {}", r.text);
        let approvals = hub.request("GET", "/approvals", &h, b"");
        assert_eq!(approvals.status, 401, "an agent cannot read the approvals");
    }
    // The kept file is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let port = hub.addr.rsplit(':').next().unwrap();
        let file = common::state_dir()
            .join("operator")
            .join(format!("{port}.token"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file:?}");
    }
    // caucus control finds it by itself.
    let out = common::caucus()
        .args(["control", "pause", "--hub", &hub.url()])
        .env_remove("CAUCUS_OPERATOR_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(hub.get("/version").status, 200);
    let printed = common::caucus()
        .args(["control", "token", "--hub", &hub.url()])
        .env_remove("CAUCUS_OPERATOR_TOKEN")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), token);
}

#[test]
fn the_printed_console_url_signs_one_browser_in_once() {
    let mut child = common::caucus()
        .args(["hub", "--port", "0", "--no-browser", "--log-level", "warn"])
        .env_remove("CAUCUS_OPERATOR_TOKEN")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("caucus hub listening on ")
        .unwrap()
        .to_string();
    let console = lines.next().unwrap().unwrap();
    let ticket = console
        .split("#ticket=")
        .nth(1)
        .unwrap_or_else(|| panic!("no ticket in {console:?}"))
        .to_string();
    assert!(
        !console.contains(&kept_token(&url)),
        "the token itself is never printed"
    );
    let post = |ticket: &str| {
        ureq_post(
            &format!("{url}ui/launch"),
            &json!({"ticket": ticket}).to_string(),
        )
    };
    let (status, body) = post(&ticket);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["token"], kept_token(&url));
    let (again, _) = post(&ticket);
    assert_eq!(again, 401, "single use");
    assert_eq!(post("0123").0, 401);
    let _ = child.kill();
    let _ = child.wait();
}

fn kept_token(url: &str) -> String {
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    std::fs::read_to_string(
        common::state_dir()
            .join("operator")
            .join(format!("{port}.token")),
    )
    .unwrap()
    .trim()
    .to_string()
}

/// A POST over a plain socket: (status, body).
fn ureq_post(url: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn no_auth_is_a_choice_on_loopback_only_and_beyond_it_an_agent_key_is_needed() {
    let hub = Hub::start(&["--no-auth"]);
    assert!(hub.operator().is_none());
    assert_eq!(hub.control(json!({"action": "pause"})).status, 200);
    drop(hub);
    for (flags, why) in [
        (vec!["--host", "0.0.0.0", "--no-auth"], "loopback only"),
        (vec!["--host", "0.0.0.0"], "--agent-key"),
        (
            vec!["--no-auth", "--operator-token", "0123456789abcdef0"],
            "contradict",
        ),
        (vec!["--operator-token", "short"], "16 characters"),
    ] {
        let out = common::caucus()
            .args(["hub", "--port", "0", "--no-browser"])
            .args(&flags)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{flags:?}: {err}");
        assert!(out.stdout.is_empty(), "{flags:?} never listened");
    }
}

#[test]
fn with_an_agent_key_only_agents_that_present_it_join() {
    let key = "agent-key-0123456789abcdef";
    let hub = Hub::start(&["--agent-key", key]);
    let refused = hub.post("/register", json!({"project": "stranger"}));
    assert_eq!(refused.status, 401);
    assert!(
        refused.text.contains("CAUCUS_AGENT_KEY"),
        "{}",
        refused.text
    );
    let ok = hub.request(
        "POST",
        "/register",
        &[("Authorization", &format!("Bearer {key}"))],
        json!({"project": "member"}).to_string().as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Our own clients present it from CAUCUS_AGENT_KEY.
    say_as_scripted(&hub, "member", &[("CAUCUS_AGENT_KEY", key)]);
    let mcp = hub.post(
        "/mcp?project=viamcp",
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "t", "version": "1"}}}),
    );
    assert_eq!(mcp.status, 401, "/mcp needs the key too");
    assert_eq!(hub.peers(), ["member", "scripted"]);
}

/// A local process that drains the loopback registration bucket holds off
/// only keyless clients: the hub's own clients present the local key it
/// keeps private beside the operator token, and still join.
#[test]
fn a_drained_loopback_bucket_does_not_hold_off_our_own_clients() {
    let hub = Hub::start(&[]);
    let port = hub.addr.rsplit(':').next().unwrap().to_string();
    let key = common::state_dir()
        .join("operator")
        .join(format!("{port}.local"));
    let kept = std::fs::metadata(&key).expect("the local key is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(kept.permissions().mode() & 0o777, 0o600);
    }
    assert!(kept.is_file());
    hub.drain_registrations();
    let mut bridge = common::Bridge::start(&hub.url(), "bridged");
    bridge.join();
    say_as_scripted(&hub, "bridged", &[]);
    // A keyless stranger is still held.
    assert_eq!(
        hub.post("/register", json!({"project": "stranger"})).status,
        429
    );
    bridge.close();
}

/// `caucus say --as scripted TO hi`, which must succeed.
fn say_as_scripted(hub: &Hub, to: &str, env: &[(&str, &str)]) {
    let out = common::caucus()
        .args(["say", "--hub", &hub.url(), "--as", "scripted", to, "hi"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
