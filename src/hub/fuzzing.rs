//! The fuzz targets' way into the hub (see `fuzz/`): any request a
//! stranger can send, answered by the real endpoint table against a live
//! room, and the search over a history block. Only `lib.rs`'s `fuzz` door
//! names this module.
//!
//! A request's input: first byte picks the endpoint, then the query up to
//! the first NUL, then the body. `$TOKEN` in either is replaced by a
//! registered peer's token, so the fuzzer also gets past authentication.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, OnceLock};

use super::Hub;
use super::auth::Access;
use super::http::Method;
use super::room::{Room, RoomConfig};
use super::routes::{Call, dispatch};
use super::search::{Query, in_block};

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/register"),
    ("POST", "/leave"),
    ("POST", "/send"),
    ("GET", "/receive"),
    ("POST", "/ack"),
    ("GET", "/peers"),
    ("GET", "/ping"),
    ("POST", "/status"),
    ("GET", "/channels"),
    ("POST", "/channels/join"),
    ("POST", "/channels/leave"),
    ("POST", "/channels/topic"),
    ("GET", "/floor"),
    ("POST", "/floor"),
    ("POST", "/ask"),
    ("GET", "/forms"),
    ("POST", "/control"),
    ("GET", "/export"),
    ("POST", "/ui/ticket"),
    ("GET", "/assets/app.js"),
    ("POST", "/mcp"),
    ("GET", "/peek"),
    ("POST", "/gate"),
    ("POST", "/approvals"),
    ("GET", "/approvals"),
    ("GET", "/approval"),
    ("GET", "/search"),
];

/// The room, and the fuzzer's current token (a new one after a leave).
fn hub() -> &'static (Hub, Mutex<String>) {
    static HUB: OnceLock<(Hub, Mutex<String>)> = OnceLock::new();
    HUB.get_or_init(|| {
        let config = RoomConfig {
            rate_limit: false,
            ..RoomConfig::default()
        };
        let hub = Hub::new(Room::new(config), Access::default());
        let token = hub
            .room()
            .register("fuzzer", None, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            // The harness's own setup, never a request path: a room that
            // refuses its first registration is a broken harness.
            .expect("register the fuzzer")
            .token;
        (hub, Mutex::new(token))
    })
}

/// One request, as described above.
pub fn hub_request(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (method, path) = ENDPOINTS[usize::from(pick) % ENDPOINTS.len()];
    let (hub, held) = hub();
    let token = held
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let query = String::from_utf8_lossy(&rest[..split]).replace("$TOKEN", &token);
    let body = rest.get(split + 1..).unwrap_or_default();
    let body = String::from_utf8_lossy(body)
        .replace("$TOKEN", &token)
        .into_bytes();
    // A long-poll must not wait: our timeout comes first, and the first
    // value of a key is the one read.
    let query = if path == "/receive" || path == "/approval" {
        format!("timeout=0&{query}")
    } else {
        query
    };
    // The gate's wait is a long-poll too: the fuzzer's key never reaches it.
    let body = if path == "/gate" {
        String::from_utf8_lossy(&body)
            .replace("\"wait\"", "\"_\"")
            .into_bytes()
    } else {
        body
    };
    let method = if method == "GET" {
        Method::Get
    } else {
        Method::Post
    };
    let call = Call {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        bearer: Some(token.as_str()),
        origin: None,
        host: Some("127.0.0.1:8765"),
        mcp_session: None,
        internal: None,
        fetch_site: None,
        body: Ok(body),
    };
    let _ = dispatch(hub, &call, &method, path, &query);
    // Join again if the fuzzer left or was kicked, so later inputs get in.
    let mut room = hub.room();
    if !room.peers().iter().any(|p| p == "fuzzer")
        && let Ok(r) = room.register(
            "fuzzer",
            Some(&token),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        )
    {
        *held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = r.token;
    }
}

/// The history search over a block: the first line is the query, the rest
/// the history; whatever it finds matches the query, at most the limit.
pub fn search_block(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(q) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(query) = Query::parse(q) else {
        return;
    };
    let history = data.get(split + 1..).unwrap_or_default();
    let found = in_block(&query, history, 50);
    assert!(found.messages.len() <= 50);
    for m in &found.messages {
        assert!(query.matches(m));
    }
}
