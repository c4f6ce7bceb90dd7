//! MCP over streamable HTTP at `/mcp`: the bridge's tools, served by the hub
//! itself, so hosts that speak MCP over HTTP need no bridge process.
//!
//! Each request carries one JSON-RPC message and gets one JSON answer
//! (no server-sent events: nothing here needs a stream). The agent's name
//! comes from the URL (`/mcp?project=NAME`). Either way the hub token lives
//! here, in the session's bridge, and never reaches the model. The tools
//! reach the room through the hub's own HTTP API on loopback, exactly as a
//! bridge process would.
//!
//! **Invariant:** a session is bound to a secret only its client holds. A
//! legacy client opens one with `initialize` and gets a random
//! `Mcp-Session-Id`; a 2026-07-28 client is stateless and names its
//! session with a secret of its own choosing, `Authorization: Bearer
//! <secret>` (or `key=<secret>` in the URL for hosts that cannot set
//! headers). A name and a client name are public; a secret is not, so
//! nobody else reaches the session's messages or speaks as its agent.
//!
//! Sessions are bounded: at most [`MAX_SESSIONS`]. A session that joined
//! the room is never pushed out by a newcomer (an `initialize` flood from
//! strangers evicts only sessions that never joined, oldest first); when
//! every place is held by a joined session the newcomer gets 503. A
//! session unused for [`SESSION_IDLE`] ends. However a session ends
//! (`DELETE /mcp`, idleness, eviction) its agent leaves the room and its
//! token file goes, as a bridge process does at the end of its input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::auth::new_token;
use super::error::HubError;
use super::room::check_name;
use crate::mcp::{Answer, Server};

/// Sessions kept at most.
const MAX_SESSIONS: usize = 256;
/// A session unused this long ends (its agent leaves).
const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// The shortest secret a stateless client may name its session with.
const MIN_SECRET: usize = 16;

/// One session's bridge, shared by its concurrent requests.
type Shared = Arc<Mutex<Server>>;

/// The open MCP sessions, by key, with when each was last used.
#[derive(Default)]
pub struct McpSessions(Mutex<HashMap<String, (Shared, Instant)>>);

/// What `/mcp` answers.
pub struct McpReply {
    pub status: u16,
    pub body: Option<Value>,
    pub session: Option<String>,
}

fn joined(bridge: &Shared) -> bool {
    bridge
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_joined()
}

fn end(bridge: &Shared) {
    bridge.lock().unwrap_or_else(PoisonError::into_inner).end();
}

impl McpSessions {
    fn get(&self, key: &str) -> Option<Shared> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get_mut(key)?;
        entry.1 = Instant::now();
        Some(Arc::clone(&entry.0))
    }

    /// Adds a session, making room if it must; `None` when every place is
    /// held by a session that joined.
    fn insert(&self, key: String, bridge: Server) -> Option<Shared> {
        let mut ended = Vec::new();
        let shared = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let idle: Vec<String> = map
                .iter()
                .filter(|(_, (_, used))| now.saturating_duration_since(*used) > SESSION_IDLE)
                .map(|(k, _)| k.clone())
                .collect();
            for k in idle {
                ended.extend(map.remove(&k).map(|(b, _)| b));
            }
            if map.len() >= MAX_SESSIONS {
                let oldest = map
                    .iter()
                    .filter(|(_, (b, _))| !joined(b))
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => ended.extend(map.remove(&k).map(|(b, _)| b)),
                    None => {
                        drop(map);
                        ended.iter().for_each(end);
                        return None;
                    }
                }
            }
            let shared = Arc::new(Mutex::new(bridge));
            map.insert(key, (Arc::clone(&shared), now));
            shared
        };
        // Outside the map's lock: leaving the room is a request to the hub.
        ended.iter().for_each(end);
        Some(shared)
    }

    fn remove(&self, key: &str) -> Option<Shared> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
            .map(|(b, _)| b)
    }
}

fn rpc_error(code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}})
}

/// `DELETE /mcp`: a legacy client ends its session; its agent leaves.
pub fn end_session(sessions: &McpSessions, session: Option<&str>) -> Result<McpReply, HubError> {
    let id =
        session.ok_or_else(|| HubError::invalid("Mcp-Session-Id: required to end a session"))?;
    let bridge = sessions
        .remove(&format!("session:{id}"))
        .ok_or_else(|| HubError::NotFound("no such MCP session".into()))?;
    end(&bridge);
    Ok(McpReply {
        status: 200,
        body: None,
        session: None,
    })
}

/// `POST /mcp`: one JSON-RPC message in, its answer out. `secret` is the
/// stateless client's own (bearer token or `key=`).
/// `hub` is a client of the hub's own address (with its agent key): the
/// tools reach the room through it.
pub fn post(
    sessions: &McpSessions,
    hub: &crate::client::HubClient,
    project: Option<&str>,
    session: Option<&str>,
    secret: Option<&str>,
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
    let full = || HubError::Limit("too many MCP sessions: end one (DELETE /mcp) or retry later");
    let (bridge, new_session) = match session {
        Some(id) => {
            let bridge = sessions.get(&format!("session:{id}")).ok_or_else(|| {
                HubError::NotFound("no such MCP session: initialize again".into())
            })?;
            (bridge, None)
        }
        None if method == "initialize" => {
            let id = new_token().map_err(|e| {
                log::error!("cannot read the OS random generator: {e}");
                HubError::NoRandomness
            })?;
            let bridge = sessions
                .insert(
                    format!("session:{id}"),
                    Server::for_http(hub.clone(), project),
                )
                .ok_or_else(full)?;
            (bridge, Some(id))
        }
        // Discovery says what the server is; it needs no session.
        None if method == "server/discover" => (
            Arc::new(Mutex::new(Server::for_http(hub.clone(), project))),
            None,
        ),
        None => {
            // Stateless: the agent is its name and the secret its client holds.
            // Refused as a JSON-RPC error the host shows, not as a 401,
            // which hosts take as a cue to start an OAuth login.
            let Some(secret) = secret.filter(|s| s.chars().count() >= MIN_SECRET) else {
                return Ok(McpReply {
                    status: 400,
                    body: Some(rpc_error(
                        -32600,
                        "a stateless (2026-07-28) MCP client must name its session with a \
                         secret of its own of at least 16 characters: send \
                         `Authorization: Bearer <secret>`, or add `&key=<secret>` to the URL",
                    )),
                    session: None,
                });
            };
            let key = format!("stateless:{project}:{secret}");
            let bridge = match sessions.get(&key) {
                Some(b) => b,
                None => sessions
                    .insert(key, Server::for_http(hub.clone(), project))
                    .ok_or_else(full)?,
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
