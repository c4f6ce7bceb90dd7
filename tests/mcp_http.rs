//! MCP over streamable HTTP at the hub's `/mcp`: both eras, sessions, and
//! the refusals, with raw HTTP as a host would send it.

mod common;

use common::Hub;
use serde_json::{Value, json};

fn rpc(hub: &Hub, query: &str, session: Option<&str>, msg: &Value) -> common::Resp {
    rpc_as(hub, query, session, Some(SECRET), msg)
}

/// The secret a stateless client names its session with.
const SECRET: &str = "tests-own-secret-0123456789";

fn rpc_as(
    hub: &Hub,
    query: &str,
    session: Option<&str>,
    secret: Option<&str>,
    msg: &Value,
) -> common::Resp {
    let mut headers = vec![("Accept", "application/json, text/event-stream")];
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    let bearer = secret.map(|s| format!("Bearer {s}"));
    if let Some(b) = &bearer {
        headers.push(("Authorization", b));
    }
    hub.request(
        "POST",
        &format!("/mcp{query}"),
        &headers,
        msg.to_string().as_bytes(),
    )
}

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {},
           "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "1"}})
}

#[test]
fn a_legacy_client_gets_a_session_and_the_tools() {
    let hub = Hub::start(&[]);
    let init = rpc(
        &hub,
        "?project=webby",
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    assert_eq!(init.status, 200);
    assert_eq!(init.json()["result"]["protocolVersion"], "2025-06-18");
    let session = init
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let note = rpc(
        &hub,
        "?project=webby",
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(note.status, 202);
    assert!(note.text.is_empty());
    let list = rpc(
        &hub,
        "?project=webby",
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    );
    assert_eq!(list.json()["result"]["tools"].as_array().unwrap().len(), 23);
    assert!(init.json()["result"]["capabilities"]["prompts"].is_object());
    let prompt = rpc(
        &hub,
        "?project=webby",
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/get",
                "params": {"name": "join", "arguments": {"name": "webby"}}}),
    );
    let text = prompt.json()["result"]["messages"][0]["content"]["text"].clone();
    assert!(
        text.as_str().unwrap().contains("project=\"webby\""),
        "{text}"
    );
    let call = |id: u64, name: &str| {
        rpc(
            &hub,
            "?project=webby",
            Some(&session),
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": {}}}),
        )
        .json()["result"]["structuredContent"]
            .clone()
    };
    assert_eq!(call(3, "whoami")["default_project"], "webby");
    assert_eq!(call(4, "setup")["ready"], true);
    let joined = call(5, "join");
    assert_eq!(joined["project"], "webby");
    assert!(
        !joined.to_string().contains("token"),
        "the token stays on the hub"
    );
    assert_eq!(hub.peers(), ["webby"]);
    // Ending the session: its agent leaves, and the id is unknown.
    let end = hub.request("DELETE", "/mcp", &[("Mcp-Session-Id", &session)], b"");
    assert_eq!(end.status, 200);
    assert!(hub.peers().is_empty(), "the ended session left the room");
    let gone = rpc(
        &hub,
        "?project=webby",
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}),
    );
    assert_eq!(gone.status, 404);
}

#[test]
fn a_modern_client_is_served_statelessly_by_name_and_secret() {
    let hub = Hub::start(&[]);
    let d = rpc(
        &hub,
        "?project=modern",
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta()}}),
    );
    assert_eq!(d.status, 200);
    assert!(d.header("mcp-session-id").is_none());
    let result = d.json()["result"].clone();
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert_eq!(result["resultType"], "complete");
    let call = |id: u64, name: &str| {
        rpc(
            &hub,
            "?project=modern",
            None,
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": {}, "_meta": meta()}}),
        )
        .json()["result"]
            .clone()
    };
    assert_eq!(call(2, "setup")["structuredContent"]["ready"], true);
    // The next request finds the same session: setup is remembered.
    let joined = call(3, "join");
    assert_eq!(joined["resultType"], "complete");
    assert_eq!(joined["structuredContent"]["project"], "modern");
    assert_eq!(hub.peers(), ["modern"]);
}

#[test]
fn bad_requests_to_mcp_are_refused_clearly() {
    let hub = Hub::start(&[]);
    let bad = hub.request("POST", "/mcp?project=x", &[], b"{not json");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], -32700);
    assert_eq!(hub.get("/mcp").status, 405);
    let reserved = rpc(
        &hub,
        "?project=hub",
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    );
    assert_eq!(reserved.status, 422);
    let unknown = rpc(
        &hub,
        "?project=x",
        Some("nope"),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    );
    assert_eq!(unknown.status, 404);
    let cross = hub.request(
        "POST",
        "/mcp?project=x",
        &[("Origin", "http://evil.example")],
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert_eq!(cross.status, 403);
    let batch = rpc(
        &hub,
        "?project=x",
        None,
        &json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]),
    );
    assert_eq!(batch.json()["error"]["code"], -32600);
}

fn tool_call(id: u64, name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": args, "_meta": meta()}})
}

#[test]
fn a_stateless_session_needs_a_secret_and_the_public_pair_gets_nothing() {
    let hub = Hub::start(&[]);
    for secret in [None, Some("short")] {
        let r = rpc_as(
            &hub,
            "?project=victim",
            None,
            secret,
            &tool_call(1, "setup", json!({})),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("secret")
        );
    }
    // The victim's client joins; a message waits for it.
    let q = "?project=victim";
    rpc(&hub, q, None, &tool_call(2, "setup", json!({})));
    let joined = rpc(&hub, q, None, &tool_call(3, "join", json!({})));
    assert_eq!(joined.json()["result"]["structuredContent"]["joined"], true);
    let peer = hub.join("peer");
    assert_eq!(peer.say("victim", "for the victim only").status, 200);
    // Someone who knows the name and the client's name, not the secret.
    let other = Some("someone-elses-secret-000000");
    rpc_as(&hub, q, None, other, &tool_call(4, "setup", json!({})));
    let listen = rpc_as(
        &hub,
        q,
        None,
        other,
        &tool_call(5, "listen", json!({"timeout": 0})),
    );
    let listened = listen.json()["result"]["structuredContent"].clone();
    assert!(
        !listened.to_string().contains("for the victim only"),
        "{listened}"
    );
    let join = rpc_as(&hub, q, None, other, &tool_call(6, "join", json!({})));
    assert_eq!(
        join.json()["result"]["structuredContent"]["error"],
        "name_in_use"
    );
    // The key may come in the URL instead of a header, same session.
    let by_key = rpc_as(
        &hub,
        &format!("{q}&key={SECRET}"),
        None,
        None,
        &tool_call(7, "listen", json!({"timeout": 5})),
    );
    let heard = by_key.json()["result"]["structuredContent"].clone();
    assert_eq!(
        heard["messages"][0]["content"], "for the victim only",
        "{heard}"
    );
}

#[test]
fn an_initialize_flood_does_not_push_out_a_joined_session() {
    let hub = Hub::start(&["--no-rate-limit"]);
    let init = |project: &str| {
        rpc_as(
            &hub,
            &format!("?project={project}"),
            None,
            None,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}),
        )
    };
    let session = init("keeper").header("mcp-session-id").unwrap().to_string();
    let call = |id: u64, name: &str| {
        rpc_as(
            &hub,
            "?project=keeper",
            Some(&session),
            None,
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": {}}}),
        )
    };
    assert_eq!(call(2, "setup").status, 200);
    assert_eq!(
        call(3, "join").json()["result"]["structuredContent"]["joined"],
        true
    );
    for i in 0..300 {
        assert_eq!(init(&format!("flood{i}")).status, 200);
    }
    let who = call(4, "whoami");
    assert_eq!(who.status, 200, "{}", who.text);
    assert_eq!(
        who.json()["result"]["structuredContent"]["joined_as"],
        "keeper"
    );
}

/// The hub's own `/mcp` joins spend no address's registration bucket: a
/// local process that drained the loopback bucket does not lock out every
/// agent that joins over MCP.
#[test]
fn a_drained_loopback_bucket_does_not_lock_out_mcp_joins() {
    let hub = Hub::start(&[]);
    hub.drain_registrations();
    let call = |id: u64, name: &str| {
        rpc(
            &hub,
            "?project=viamcp",
            None,
            &tool_call(id, name, json!({})),
        )
        .json()["result"]
            .clone()
    };
    assert_eq!(call(1, "setup")["structuredContent"]["ready"], true);
    let joined = call(2, "join");
    assert_eq!(joined["structuredContent"]["project"], "viamcp", "{joined}");
}
