//! The endpoint table: parse the request, call the room, render the answer.
//!
//! **Boundary:** the HTTP API of `docs/API.md`. Every endpoint is
//! one arm of the `match` in [`dispatch`]; each handler reads its inputs,
//! makes one call on the room under its lock, and renders outside it.
//!
//! **Invariant:** no handler mutates room state itself, and none holds the
//! room's lock while reading a body or writing a response.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::answers;
use super::auth::Role;
use super::chair;
use super::error::HubError;
use super::export;
use super::http::{BodyError, Method, Outcome, Request, Response};
use super::reply::{error_response, query_param};
use super::room::{Batch, Sent};
use super::state::Hub;
use crate::shared::protocol;
use crate::shared::wire::{
    AckRequest, AskRequest, BROADCAST, ChannelRequest, Control, FloorRequest, Mode,
    RegisterRequest, SendRequest, StatusRequest, TokenRequest, TopicRequest,
};
use crate::shared::wire::{PeerList, ProtocolDoc, Registered, VersionInfo};

/// The most bytes of messages one `/receive` answer carries (always at
/// least one message): the rest comes with the next poll.
const BATCH_BYTES: usize = 1 << 20;

/// The longest a `/receive` may wait, whatever the client asks.
pub const MAX_POLL: Duration = Duration::from_secs(25);

/// A successful answer.
pub struct Reply {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    attachment: Option<&'static str>,
    /// `Mcp-Session-Id` for a new MCP session.
    mcp_session: Option<String>,
    /// Dropped once the answer is written.
    until_written: Option<Box<dyn Send>>,
    /// Whether its bytes were already taken from the answer budget.
    counted: bool,
}

impl Reply {
    /// An answer of JSON: a `Value`, or one of the wire's answer types.
    fn json(value: &impl serde::Serialize) -> Reply {
        // Serializing our own types and `Value`s cannot fail (string keys,
        // finite numbers); were it to, the client gets an explicit null.
        Reply::raw_json(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
    }

    fn raw_json(text: String) -> Reply {
        Reply {
            status: 200,
            body: text.into_bytes(),
            content_type: "application/json",
            attachment: None,
            mcp_session: None,
            until_written: None,
            counted: false,
        }
    }
}

type Answer = Result<Reply, HubError>;

/// Every path the hub serves, for telling 405 from 404.
const PATHS: &[&str] = &[
    "/",
    "/ui",
    "/ui/ticket",
    "/ui/launch",
    "/version",
    "/protocol",
    "/register",
    "/leave",
    "/send",
    "/receive",
    "/peek",
    "/ack",
    "/peers",
    "/ping",
    "/status",
    "/channels",
    "/channels/join",
    "/channels/leave",
    "/channels/topic",
    "/floor",
    "/ask",
    "/forms",
    "/control",
    "/gate",
    "/approvals",
    "/approval",
    "/export",
    "/search",
    "/mcp",
    "/agents",
];

/// Answers one request read by the HTTP server.
pub fn handle(hub: &Arc<Hub>, mut req: Request) -> Outcome {
    let (path, query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    let method = req.method;
    log::trace!("{method} {path}");
    if method == Method::Get && path == "/ui" {
        // The feed takes the connection over: it answers with an upgrade.
        return super::console::serve(hub, &req, query);
    }
    let body = match std::mem::replace(&mut req.body, Ok(Vec::new())) {
        Ok(b) if method == Method::Post => Ok(b),
        Ok(_) => Ok(Vec::new()),
        Err(BodyError::TooLarge) => Err(HubError::BodyTooLarge),
        Err(BodyError::Incomplete) => Err(HubError::BodyIncomplete),
    };
    let call = Call {
        ip: client_ip(&req),
        bearer: bearer(&req),
        origin: req.header("Origin"),
        host: req.header("Host"),
        mcp_session: req.header("Mcp-Session-Id"),
        internal: req.header("X-Caucus-Internal"),
        fetch_site: req.header("Sec-Fetch-Site"),
        body,
    };
    let answer = match &call.body {
        // Nothing can be trusted of a request whose body was cut short.
        Err(e) => Err(e.clone()),
        Ok(_) => dispatch(hub, &call, &method, path, query),
    };
    // A large answer takes its size from the hub-wide budget until it is
    // written; past the budget it is dropped now, and the client told to
    // retry (`/receive` took its share before taking any message).
    let answer = answer.and_then(|mut reply| {
        if reply.body.len() > answers::FREE_BYTES && !reply.counted {
            let permit = hub
                .answers
                .try_take(reply.body.len())
                .ok_or(HubError::AnswersFull)?;
            reply.until_written = Some(Box::new((reply.until_written.take(), permit)));
        }
        Ok(reply)
    });
    let response = match answer {
        Ok(reply) => {
            let mut r = Response::new(reply.status, reply.body);
            r.until_written = reply.until_written;
            let mut r = r
                .with_header("Content-Type", reply.content_type)
                .with_header("Cache-Control", "no-store");
            if reply.content_type.starts_with("text/html") {
                r = r
                    .with_header("Content-Security-Policy", CSP)
                    .with_header("X-Frame-Options", "DENY");
            }
            if let Some(id) = reply.mcp_session {
                r = r.with_header("Mcp-Session-Id", id);
            }
            if let Some(name) = reply.attachment {
                r = r.with_header(
                    "Content-Disposition",
                    format!("attachment; filename=\"{name}\""),
                );
            }
            r
        }
        Err(e) => {
            if e.status() >= 500 {
                log::warn!("{method} {path}: {}", e.status());
            } else {
                log::debug!("{method} {path}: {}", e.status());
            }
            error_response(&e)
        }
    };
    log::trace!("{method} {path}: answered");
    Outcome::Respond(response)
}

/// What a handler may know of a request besides its method, path and query.
pub struct Call<'a> {
    pub ip: IpAddr,
    /// The token of `Authorization: Bearer`, if any.
    pub bearer: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub host: Option<&'a str>,
    /// `Mcp-Session-Id`, on `/mcp`.
    pub mcp_session: Option<&'a str>,
    /// `X-Caucus-Internal`: the hub's own `/mcp` tools calling it back.
    pub internal: Option<&'a str>,
    /// `Sec-Fetch-Site`, which browsers send: `cross-site` is refused.
    pub fetch_site: Option<&'a str>,
    /// The body as read (POST only), or why it could not be.
    pub body: Result<Vec<u8>, HubError>,
}

/// Answers one request. Pure of sockets, so the fuzz target drives it too
/// (everything but `/ui`, which takes the connection over).
pub fn dispatch(hub: &Hub, call: &Call, method: &Method, path: &str, query: &str) -> Answer {
    use Method::{Get, Post};
    // Every path, agent and operator alike: a DNS-rebinding page (a Host
    // that is not ours) and a cross-site page (a foreign Origin, even on a
    // "simple" POST the browser sends without asking) are refused before
    // anything runs or any bucket is spent. Clients that are not browsers
    // send no Origin and are unaffected.
    hub.check_browser(call.host, call.origin)?;
    // A page on another site reaches nothing, a "no-cors" GET included
    // (browsers send no Origin on those, but do say cross-site).
    if call
        .fetch_site
        .is_some_and(|s| s.eq_ignore_ascii_case("cross-site"))
    {
        return Err(HubError::Forbidden("cross-site requests are refused"));
    }
    match (method, path) {
        (Get, "/") => Ok(index()),
        (Get, p) if p.starts_with("/assets/") => asset(&p["/assets/".len()..]),
        (Post, "/ui/ticket") => ticket(hub, call),
        (Post, "/ui/launch") => launch(hub, call),
        (Get, "/version") => Ok(Reply::json(&VersionInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            instance: Some(hub.instance.clone()),
        })),
        (Get, "/protocol") => protocol_text(query),
        (Post, "/register") => register(hub, call),
        (Post, "/leave") => leave(hub, call),
        (Post, "/send") => send(hub, call),
        (Get, "/receive") => receive(hub, call, query),
        (Get, "/peek") => peek(hub, call, query),
        (Post, "/ack") => ack(hub, call),
        (Get, "/peers") => peers(hub, query),
        (Get, "/ping") => ping(hub, query),
        (Post, "/status") => status(hub, call),
        (Get, "/channels") => Ok(Reply::json(&json!({"channels": hub.room().channels()}))),
        (Post, "/channels/join") => channel_join(hub, call),
        (Post, "/channels/leave") => channel_leave(hub, call),
        (Post, "/channels/topic") => channel_topic(hub, call),
        (Get, "/floor") => Ok(Reply::json(&json!({"floors": hub.room().floors()}))),
        (Post, "/floor") => floor(hub, call),
        (Post, "/ask") => ask(hub, call),
        (Get, "/forms") => Ok(Reply::json(&json!({"forms": hub.room().forms()}))),
        (Post, "/control") => control(hub, call),
        (Post, "/gate") => Ok(Reply::json(&chair::gate(hub, body(call)?)?)),
        (Post, "/approvals") => Ok(Reply::json(&chair::request_approval(hub, body(call)?)?)),
        (Get, "/approvals") => Ok(Reply::json(&chair::approvals(hub, call.bearer)?)),
        (Get, "/approval") => approval(hub, call, query),
        (Get, "/export") => export(hub, call, query),
        (Get, "/search") => {
            let (found, slot) = super::search::handle(
                hub,
                call.bearer,
                query_param(query, "q")?.as_deref(),
                query_param(query, "limit")?.as_deref(),
            )?;
            let mut reply = Reply::json(&found);
            reply.until_written = Some(Box::new(slot));
            Ok(reply)
        }
        (Post, "/mcp") => mcp_post(hub, call, query),
        (Method::Delete, "/mcp") => mcp_reply(super::mcp::end_session(&hub.mcp, call.mcp_session)?),
        (Post, "/agents") => seats::launch_seat(hub, call),
        (Get, "/agents") => seats::list_seats(hub, call),
        (Method::Delete, p) if p.starts_with("/agents/") => {
            seats::stop_seat(hub, call, &p["/agents/".len()..])
        }
        (_, p) if PATHS.contains(&p) => Err(HubError::MethodNotAllowed),
        _ => Err(HubError::NotFound("Not Found".into())),
    }
}

// ---- request plumbing ---------------------------------------------------

/// Parses the call's body as JSON of type `T`.
fn body<T: DeserializeOwned>(call: &Call) -> Result<T, HubError> {
    let buf = call.body.as_ref().map_err(Clone::clone)?;
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Err(HubError::invalid("body: a JSON object is required"));
    }
    serde_json::from_slice(buf).map_err(|e| HubError::invalid(format!("body: {e}")))
}

/// The token of `Authorization: Bearer <token>`, if well-formed.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.header("Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn client_ip(req: &Request) -> IpAddr {
    req.remote
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

// ---- agent endpoints ------------------------------------------------------

/// The console page's policy: everything from this origin, nothing else.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

fn index() -> Reply {
    Reply {
        status: 200,
        body: include_bytes!("../../../ui/index.html").to_vec(),
        content_type: "text/html; charset=utf-8",
        attachment: None,
        mcp_session: None,
        until_written: None,
        counted: false,
    }
}

fn asset(name: &str) -> Answer {
    let (content_type, text) =
        super::assets::find(name).ok_or_else(|| HubError::NotFound("Not Found".into()))?;
    Ok(Reply {
        status: 200,
        body: text.as_bytes().to_vec(),
        content_type,
        attachment: None,
        mcp_session: None,
        until_written: None,
        counted: false,
    })
}

/// `GET /protocol`: the core and the names of the sections; with
/// `section=NAME`, that section (an unknown name: 404 with the real list).
fn protocol_text(query: &str) -> Answer {
    let sections = protocol::section_names();
    match query_param(query, "section")? {
        None => Ok(Reply::json(&ProtocolDoc {
            version: protocol::VERSION,
            text: protocol::TEXT.into(),
            sections: sections.iter().map(|s| s.to_string()).collect(),
        })),
        Some(name) => match protocol::section(&name) {
            Some(text) => Ok(Reply::json(&json!({
                "version": protocol::VERSION,
                "section": name,
                "text": text,
            }))),
            // caucus-mcp 5.x's shape, with a readable detail beside it.
            None => Ok(Reply {
                status: 404,
                ..Reply::json(&json!({
                    "error": "unknown_section",
                    "section": name,
                    "sections": protocol::accepted_names(),
                    "detail": format!(
                        "no protocol section {name:?}; the sections are: {} (caucus-mcp \
                         5.x's names are accepted too)",
                        sections.join(", ")
                    ),
                }))
            }),
        },
    }
}

/// caucus-mcp 5.x's words for a missing or wrong agent key.
const AGENT_KEY_REQUIRED: &str =
    "agent key required: set CAUCUS_AGENT_KEY (or --agent-key) on this client to match the hub";

fn register(hub: &Hub, call: &Call) -> Answer {
    if !hub.access.agent_ok(call.bearer) {
        return Err(HubError::Unauthorized(AGENT_KEY_REQUIRED));
    }
    let r: RegisterRequest = body(call)?;
    let ip = call.ip;
    let (reg, channels) = {
        let mut room = hub.room();
        let own = call
            .internal
            .is_some_and(|k| super::auth::same_secret(k, &hub.internal_key));
        let reg = room.register(&r.project, r.token.as_deref(), (!own).then_some(ip))?;
        (reg, room.channels())
    };
    let stale = r.protocol_version.is_none_or(|v| v < protocol::VERSION);
    log::info!("registered {}", reg.project);
    Ok(Reply::json(&Registered {
        token: reg.token,
        project: reg.project,
        protocol_version: protocol::VERSION,
        protocol_stale: stale,
        protocol_text: stale.then(|| protocol::TEXT.to_string()),
        channels,
        note: None,
        instance: Some(hub.instance.clone()),
    }))
}

fn leave(hub: &Hub, call: &Call) -> Answer {
    let r: TokenRequest = body(call)?;
    let name = hub.room().leave(&r.token)?;
    Ok(Reply::json(&json!({"left": true, "project": name})))
}

/// `/send`'s answer: caucus-mcp's fields (`message_id`, `delivered_to`, and
/// 5.x's `missed`, `warning`, `hint`), and ours: who was full, and who is in
/// the room but not listening.
fn sent(mut s: Sent, to: &str) -> Reply {
    let direct = to != BROADCAST && !to.starts_with('#');
    if s.delivered_to.is_empty() && s.queue_full.is_empty() && !direct {
        s.warning = Some("no_recipients".into());
        s.hint = Some(format!(
            "nobody is in {}: the message reached no one and no later joiner will see \
             it; check list_peers or list_channels before saying it again",
            if to == BROADCAST { "the room" } else { to }
        ));
    }
    Reply::json(&s)
}

fn send(hub: &Hub, call: &Call) -> Answer {
    let r: SendRequest = body(call)?;
    let s = hub.room().send(&r.token, &r.to, &r.content)?;
    Ok(sent(s, &r.to))
}

fn receive(hub: &Hub, call: &Call, query: &str) -> Answer {
    let timeout = match query_param(query, "timeout")? {
        None => MAX_POLL,
        Some(t) => match t.trim().parse::<f64>() {
            Ok(secs) if !secs.is_nan() => {
                Duration::from_secs_f64(secs.clamp(0.0, MAX_POLL.as_secs_f64()))
            }
            _ => return Err(HubError::invalid("timeout: must be a number of seconds")),
        },
    };
    let ack_seq = match query_param(query, "ack_seq")? {
        None => None,
        Some(s) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| HubError::invalid("ack_seq: must be an integer >= 0"))?,
        ),
    };
    let lease = query_param(query, "lease")?;
    if lease
        .as_ref()
        .is_some_and(|l| l.is_empty() || l.chars().count() > super::room::MAX_LEASE_CHARS)
    {
        return Err(HubError::invalid("lease: must be 1..64 characters"));
    }
    let token = token_of(call, query)?;
    let deadline = Instant::now() + timeout;
    let mut room = hub.lock();
    let poll = room.begin_receive(&token, ack_seq, lease.as_deref());
    // A revival shows in the console; publish before waiting.
    room.flush_events();
    let poll = poll?;
    let outcome = loop {
        // A large answer's share of the budget is taken, under the same
        // lock, before any message is, so a refusal loses nothing; a small
        // one needs none.
        let size = room.batch_bytes(&poll, BATCH_BYTES);
        let permit = if size > answers::FREE_BYTES {
            match hub.answers.try_take(size) {
                Some(p) => Some(p),
                None => break Err(HubError::AnswersFull),
            }
        } else {
            None
        };
        match room.take(&poll, BATCH_BYTES) {
            Ok(Some(batch)) => break Ok((batch, permit)),
            Err(e) => break Err(e),
            Ok(None) => drop(permit),
        }
        let now = Instant::now();
        if now >= deadline {
            let empty = Batch {
                messages: Vec::new(),
                mode: room.mode(),
            };
            break Ok((empty, None));
        }
        room = match poll.wake.wait_timeout(room, deadline - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    };
    room.end_receive(&poll);
    room.flush_events();
    drop(room);
    let (batch, permit) = outcome?;
    // The messages were encoded once when routed; this only joins them.
    let mut text = String::with_capacity(
        40 + batch
            .messages
            .iter()
            .map(|m| m.json.len() + 1)
            .sum::<usize>(),
    );
    text.push_str("{\"messages\":[");
    for (i, m) in batch.messages.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&m.json);
    }
    text.push_str("],\"mode\":\"");
    text.push_str(batch.mode.as_str());
    text.push_str("\"}");
    let mut reply = Reply::raw_json(text);
    if let Some(mut permit) = permit {
        permit.shrink_to(reply.body.len());
        reply.until_written = Some(Box::new(permit));
    }
    reply.counted = true;
    Ok(reply)
}

/// The token of a read that takes it in a header (or, deprecated, the
/// query), as `/receive` does.
fn token_of(call: &Call, query: &str) -> Result<String, HubError> {
    match call.bearer {
        Some(t) => Ok(t.to_string()),
        None => query_param(query, "token")?.ok_or(HubError::UnknownToken),
    }
}

/// `GET /peek`: caucus-mcp 5.x's `{pending, last}`; with `detail=1` also
/// ours: each waiting message's excerpt, the room's mode and the agent's
/// pause (as `/peers?detail=1` keeps its extras behind the same switch).
fn peek(hub: &Hub, call: &Call, query: &str) -> Answer {
    let token = token_of(call, query)?;
    let detail = query_param(query, "detail")?.is_some_and(|d| d != "0" && d != "false");
    let mut answer = hub.room().peek(&token)?;
    if !detail {
        answer.messages = None;
        answer.mode = None;
        answer.paused = None;
    }
    Ok(Reply::json(&answer))
}

fn ack(hub: &Hub, call: &Call) -> Answer {
    let r: AckRequest = body(call)?;
    hub.room().ack(&r.token, r.seq)?;
    Ok(Reply::json(&json!({"acked": true, "seq": r.seq})))
}

/// `GET /peers`: sorted names (caucus-mcp's shape), or with `detail=1`
/// every live peer with whether it listens and what waits for it.
fn peers(hub: &Hub, query: &str) -> Answer {
    let detail = query_param(query, "detail")?.is_some_and(|d| d != "0" && d != "false");
    if detail {
        Ok(Reply::json(&json!({"peers": hub.room().peer_details()})))
    } else {
        Ok(Reply::json(&PeerList {
            peers: hub.room().peers(),
        }))
    }
}

fn ping(hub: &Hub, query: &str) -> Answer {
    let peer = query_param(query, "peer")?.unwrap_or_default();
    let n = peer.chars().count();
    if n == 0 || n > 64 {
        return Err(HubError::invalid("peer: must be 1..64 characters"));
    }
    Ok(Reply::json(&hub.room().ping(&peer)))
}

fn status(hub: &Hub, call: &Call) -> Answer {
    let r: StatusRequest = body(call)?;
    let status = hub.room().set_status(&r.token, &r.status)?;
    Ok(Reply::json(&json!({"status": status})))
}

fn channel_join(hub: &Hub, call: &Call) -> Answer {
    let r: ChannelRequest = body(call)?;
    hub.room().join_channel(&r.token, &r.channel)?;
    Ok(Reply::json(&json!({"joined": true, "channel": r.channel})))
}

fn channel_leave(hub: &Hub, call: &Call) -> Answer {
    let r: ChannelRequest = body(call)?;
    hub.room().leave_channel(&r.token, &r.channel)?;
    Ok(Reply::json(&json!({"left": true, "channel": r.channel})))
}

fn channel_topic(hub: &Hub, call: &Call) -> Answer {
    let r: TopicRequest = body(call)?;
    let topic = hub.room().set_topic(&r.token, &r.channel, &r.topic)?;
    Ok(Reply::json(&json!({"channel": r.channel, "topic": topic})))
}

fn floor(hub: &Hub, call: &Call) -> Answer {
    let r: FloorRequest = body(call)?;
    let result = hub.room().floor(&r.token, &r.action, &r.scope, &r.reason)?;
    Ok(Reply::json(&result))
}

fn ask(hub: &Hub, call: &Call) -> Answer {
    let r: AskRequest = body(call)?;
    let (form_id, to) = hub.room().ask(&r.token, &r.to, &r.title, r.fields)?;
    Ok(Reply::json(&json!({"form_id": form_id, "to": to})))
}

// ---- MCP over HTTP --------------------------------------------------------

fn mcp_post(hub: &Hub, call: &Call, query: &str) -> Answer {
    // With an agent key, the bearer is the key (caucus-mcp 5.x), and a
    // stateless client names its session with `key=`.
    if !hub.access.agent_ok(call.bearer) {
        return Err(HubError::Unauthorized(AGENT_KEY_REQUIRED));
    }
    let project = query_param(query, "project")?;
    let key = query_param(query, "key")?;
    let secret = match hub.access.agent_key {
        Some(_) => key.as_deref(),
        None => call.bearer.or(key.as_deref()),
    };
    let body = call.body.as_ref().map_err(Clone::clone)?;
    let client = crate::client::HubClient::for_hub_itself(&hub.self_url(), &hub.internal_key)
        .with_agent_key(hub.access.agent_key.as_deref());
    mcp_reply(super::mcp::post(
        &hub.mcp,
        &client,
        project.as_deref(),
        call.mcp_session,
        secret,
        body,
    )?)
}

fn mcp_reply(r: super::mcp::McpReply) -> Answer {
    Ok(Reply {
        status: r.status,
        body: r
            .body
            .map(|v| v.to_string().into_bytes())
            .unwrap_or_default(),
        content_type: "application/json",
        attachment: None,
        mcp_session: r.session,
        until_written: None,
        counted: false,
    })
}

mod operator;
use operator::{approval, control, export, launch, ticket};

mod seats;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_is_short() {
        assert!(
            protocol::TEXT.len() < 3000,
            "{} chars",
            protocol::TEXT.len()
        );
    }
}
