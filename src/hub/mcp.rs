//! MCP over streamable HTTP at `/mcp`: the bridge's tools, served by the hub
//! itself, so hosts that speak MCP over HTTP need no bridge process.
//!
//! Each request carries one JSON-RPC message and gets one JSON answer
//! (no server-sent events: nothing here needs a stream). The agent's name
//! comes from the URL (`/mcp?project=NAME`). A legacy client opens a session
//! with `initialize` and gets an `Mcp-Session-Id`; a 2026-07-28 client is
//! stateless and is known by its name and its `clientInfo`. Either way the
//! hub token lives here, in the session's bridge, and never reaches the
//! model. The tools reach the room through the hub's own HTTP API on
//! loopback, exactly as a bridge process would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde_json::{Value, json};

use super::Hub;
use super::auth::new_token;
use super::error::HubError;
use super::room::check_name;
use crate::bridge::{Answer, Bridge};

/// Sessions kept at most; past it the least recently used is dropped.
const MAX_SESSIONS: usize = 256;

/// One session's bridge, shared by its concurrent requests.
type Shared = Arc<Mutex<Bridge>>;

/// The open MCP sessions, by key, with when each was last used.
#[derive(Default)]
pub struct McpSessions(Mutex<HashMap<String, (Shared, Instant)>>);

/// What `/mcp` answers.
pub struct McpReply {
    pub status: u16,
    pub body: Option<Value>,
    pub session: Option<String>,
}

impl McpSessions {
    fn get(&self, key: &str) -> Option<Shared> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get_mut(key)?;
        entry.1 = Instant::now();
        Some(Arc::clone(&entry.0))
    }

    fn insert(&self, key: String, bridge: Bridge) -> Shared {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let bridge = Arc::new(Mutex::new(bridge));
        map.insert(key, (Arc::clone(&bridge), Instant::now()));
        bridge
    }

    fn remove(&self, key: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
            .is_some()
    }
}

fn rpc_error(code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}})
}

/// `DELETE /mcp`: a legacy client ends its session.
pub fn end(hub: &Hub, session: Option<&str>) -> Result<McpReply, HubError> {
    let id =
        session.ok_or_else(|| HubError::invalid("Mcp-Session-Id: required to end a session"))?;
    if hub.mcp.remove(&format!("session:{id}")) {
        Ok(McpReply {
            status: 200,
            body: None,
            session: None,
        })
    } else {
        Err(HubError::NotFound("no such MCP session".into()))
    }
}

/// `POST /mcp`: one JSON-RPC message in, its answer out.
pub fn post(
    hub: &Hub,
    project: Option<&str>,
    session: Option<&str>,
    body: &[u8],
) -> Result<McpReply, HubError> {
    let project = project.unwrap_or("unknown");
    check_name(project)?;
    let msg: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Ok(McpReply {
                status: 400,
                body: Some(rpc_error(-32700, &format!("parse error: {e}"))),
                session: None,
            });
        }
    };
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (bridge, new_session) = match session {
        Some(id) => {
            let bridge = hub.mcp.get(&format!("session:{id}")).ok_or_else(|| {
                HubError::NotFound("no such MCP session: initialize again".into())
            })?;
            (bridge, None)
        }
        None if method == "initialize" => {
            let id = new_token().map_err(|_| HubError::Busy)?;
            let bridge = hub.mcp.insert(
                format!("session:{id}"),
                Bridge::for_http(&hub.self_url(), project),
            );
            (bridge, Some(id))
        }
        None => {
            // Stateless: the agent is its name and the client it runs in.
            let client = msg
                .pointer("/params/_meta/io.modelcontextprotocol~1clientInfo/name")
                .and_then(Value::as_str)
                .unwrap_or("client");
            let key = format!("stateless:{project}:{client}");
            let bridge = match hub.mcp.get(&key) {
                Some(b) => b,
                None => hub
                    .mcp
                    .insert(key, Bridge::for_http(&hub.self_url(), project)),
            };
            (bridge, None)
        }
    };
    // The session's lock covers the bridge's bookkeeping only; a tool call
    // (a listen may wait 25 s) runs after it is released.
    let answer = bridge
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .answer(msg);
    let body = match answer {
        Answer::Now(v) => v,
        Answer::Later(call) => call.run(),
    };
    Ok(McpReply {
        status: if body.is_some() { 200 } else { 202 },
        body,
        session: new_session,
    })
}
