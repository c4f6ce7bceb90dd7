//! The chair's endpoints: `/control`, `/approval`, `/export`, and the
//! console's way in (`/ui/ticket`, `/ui/launch`).

use super::*;

/// `POST /ui/ticket`: trades an operator or observer token for a single-use
/// ticket to open `/ui`. With auth off there is nothing to trade.
pub(super) fn ticket(hub: &Hub, call: &Call) -> Answer {
    if !hub.access.enabled() {
        return Ok(Reply::json(
            &json!({"ticket": null, "role": "operator", "expires_in": 0, "auth": false}),
        ));
    }
    let role = hub
        .access
        .role_for(call.bearer)
        .ok_or(HubError::Unauthorized(
            "operator or observer token required",
        ))?;
    let ticket = hub.tickets.mint(role).map_err(|e| {
        log::error!("cannot mint a ticket: {e}");
        HubError::Busy
    })?;
    Ok(Reply::json(&json!({
        "ticket": ticket,
        "role": role.as_str(),
        "expires_in": super::super::auth::TICKET_TTL.as_secs(),
        "auth": true,
    })))
}

/// `POST /ui/launch` `{"ticket"}`: the console URL the hub printed at
/// start carries a single-use ticket; the page trades it here for the
/// operator token, kept in the tab's session storage. The token itself is
/// never in a URL, a log or a Referer.
pub(super) fn launch(hub: &Hub, call: &Call) -> Answer {
    let r: Value = body(call)?;
    let ticket = r["ticket"].as_str().unwrap_or_default();
    let Some(token) = &hub.access.operator_token else {
        return Ok(Reply::json(
            &json!({"token": null, "role": "operator", "auth": false}),
        ));
    };
    match hub.tickets.redeem(ticket) {
        Some(super::super::auth::Role::Operator) => Ok(Reply::json(
            &json!({"token": token, "role": "operator", "auth": true}),
        )),
        _ => Err(HubError::Unauthorized(
            "that console link was used already or has expired: run `caucus control token` \
             for the operator token, or restart the hub for a fresh link",
        )),
    }
}

/// The caller's role on an operator path (`dispatch` checked Host and Origin).
fn operator_role(hub: &Hub, call: &Call) -> Result<Role, HubError> {
    hub.access
        .role_for(call.bearer)
        .ok_or(HubError::Unauthorized("operator token required"))
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, HubError> {
    value
        .as_deref()
        .ok_or_else(|| HubError::invalid(format!("{field}: required for this action")))
}

pub(super) fn control(hub: &Hub, call: &Call) -> Answer {
    if operator_role(hub, call)? != Role::Operator {
        return Err(HubError::Forbidden("observers may watch but not act"));
    }
    let r: ControlRequest = body(call)?;
    let mut room = hub.room();
    let result = match r.action.as_str() {
        "pause" | "resume" | "reset" | "stop" => {
            let mode = match r.action.as_str() {
                "pause" => Mode::Paused,
                "stop" => Mode::Stopped,
                _ => Mode::Running,
            };
            room.set_mode(mode);
            if mode == Mode::Stopped {
                log::warn!("operator: stop (room is stopped)");
            } else {
                log::info!("operator: {} (room is {})", r.action, mode.as_str());
            }
            json!({"mode": mode})
        }
        "kick" => {
            let peer = required(&r.peer, "peer")?;
            room.kick(peer)?;
            json!({"kicked": peer})
        }
        "say" => {
            let content = required(&r.content, "content")?;
            let to = r.to.as_deref().unwrap_or(BROADCAST);
            let s = room.operator_say(to, content)?;
            json!({"message_id": s.message_id, "delivered_to": s.delivered_to,
                   "queue_full": s.queue_full, "unheard": s.unheard})
        }
        "pause_peer" | "resume_peer" => {
            let peer = required(&r.peer, "peer")?;
            let paused = r.action == "pause_peer";
            room.set_peer_paused(peer, paused)?;
            json!({"peer": peer, "paused": paused})
        }
        "heartbeat" => {
            let peer = required(&r.peer, "peer")?;
            json!({"result": room.heartbeat(peer)?})
        }
        "close_channel" => {
            let channel = required(&r.channel, "channel")?;
            room.close_channel(channel)?;
            json!({"closed": channel})
        }
        "clear_floor" => {
            let scope = r.scope.as_deref().unwrap_or(BROADCAST);
            room.clear_floor(scope)?;
            json!({"cleared": scope})
        }
        "answer_form" => {
            let id = required(&r.id, "id")?;
            let answers = r.answers.clone().unwrap_or_default();
            let answers = room.answer_form(id, answers)?;
            json!({"answered": id, "answers": answers})
        }
        "cancel_form" => {
            let id = required(&r.id, "id")?;
            room.cancel_form(id)?;
            json!({"cancelled": id})
        }
        "interrupt" | "reset_peer" => {
            let peer = required(&r.peer, "peer")?;
            let content = r.content.as_deref().filter(|c| !c.trim().is_empty());
            room.interrupt(peer, content, r.action == "reset_peer")?
        }
        "approve" | "deny" => {
            let id = required(&r.id, "id")?;
            room.decide_approval(id, r.action == "approve", r.reason.as_deref())?
        }
        "set_rate_limit" => {
            json!({"rate_limit": room.set_rate_limit(r.enabled, r.burst, r.per_second)?})
        }
        other => return Err(HubError::UnknownAction(other.to_string())),
    };
    drop(room);
    Ok(Reply::json(&result))
}

/// `GET /approval?id=&timeout=`: the asking agent's wait for its verdict.
pub(super) fn approval(hub: &Hub, call: &Call, query: &str) -> Answer {
    let id = query_param(query, "id")?.ok_or_else(|| HubError::invalid("id: required"))?;
    let timeout = match query_param(query, "timeout")? {
        None => None,
        Some(t) => Some(
            t.trim()
                .parse::<f64>()
                .map_err(|_| HubError::invalid("timeout: must be a number of seconds"))?,
        ),
    };
    let timeout = chair::wait_of(timeout, "timeout")?;
    let token = token_of(call, query)?;
    Ok(Reply::json(&chair::approval(hub, &token, &id, timeout)?))
}

/// `/export` answers built or being written at once; each may be tens of
/// MiB (500 messages of up to 8,192 characters, escaped), so past this a
/// request waits its turn (409) rather than adding another copy.
const MAX_EXPORTS: usize = 2;

/// Counts an export from when it is built until its answer is written.
pub(super) fn export(hub: &Hub, call: &Call, query: &str) -> Answer {
    if hub.access.enabled() && hub.access.role_for(call.bearer).is_none() {
        return Err(HubError::Unauthorized("operator/observer token required"));
    }
    let permit = answers::Slot::take(&hub.exports, MAX_EXPORTS)
        .ok_or(HubError::Limit("too many exports at once: retry shortly"))?;
    let format = query_param(query, "format")?.unwrap_or_else(|| "json".into());
    let log = hub.room().log();
    let messages: Vec<_> = log.iter().collect();
    let e = export::render(&messages, &format);
    Ok(Reply {
        status: 200,
        body: e.body.into_bytes(),
        content_type: e.media_type,
        attachment: Some(e.filename),
        mcp_session: None,
        until_written: Some(Box::new(permit)),
        counted: false,
    })
}
