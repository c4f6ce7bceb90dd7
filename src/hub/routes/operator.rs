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
        HubError::NoRandomness
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

/// `POST /control`: an action the hub does not know is 400 (as
/// caucus-mcp), a known one missing a field it needs 422.
fn control_body(call: &Call) -> Result<Control, HubError> {
    let value: Value = body(call)?;
    let Some(action) = value.get("action").and_then(Value::as_str) else {
        return Err(HubError::invalid("body: action: a string is required"));
    };
    if !Control::ACTIONS.contains(&action) {
        return Err(HubError::UnknownAction(action.to_string()));
    }
    serde_json::from_value(value).map_err(|e| HubError::invalid(format!("body: {e}")))
}

pub(super) fn control(hub: &Hub, call: &Call) -> Answer {
    if operator_role(hub, call)? != Role::Operator {
        return Err(HubError::Forbidden("observers may watch but not act"));
    }
    let action = control_body(call)?;
    let mut room = hub.room();
    let result = match &action {
        Control::Pause | Control::Resume | Control::Reset | Control::Stop => {
            let (word, mode) = match &action {
                Control::Pause => ("pause", Mode::Paused),
                Control::Stop => ("stop", Mode::Stopped),
                Control::Resume => ("resume", Mode::Running),
                _ => ("reset", Mode::Running),
            };
            room.set_mode(mode);
            if mode == Mode::Stopped {
                log::warn!("operator: stop (room is stopped)");
            } else {
                log::info!("operator: {word} (room is {})", mode.as_str());
            }
            json!({"mode": mode})
        }
        Control::Kick { peer } => {
            room.kick(peer)?;
            json!({"kicked": peer})
        }
        Control::Say { content, to } => {
            let s = room.operator_say(to, content)?;
            json!({"message_id": s.message_id, "delivered_to": s.delivered_to,
                   "queue_full": s.queue_full, "unheard": s.unheard})
        }
        Control::PausePeer { peer } | Control::ResumePeer { peer } => {
            let paused = matches!(action, Control::PausePeer { .. });
            room.set_peer_paused(peer, paused)?;
            json!({"peer": peer, "paused": paused})
        }
        Control::Heartbeat { peer } => json!({"result": room.heartbeat(peer)?}),
        Control::CloseChannel { channel } => {
            room.close_channel(channel)?;
            json!({"closed": channel})
        }
        Control::ClearFloor { scope } => {
            room.clear_floor(scope)?;
            json!({"cleared": scope})
        }
        Control::AnswerForm { id, answers } => {
            let answers = room.answer_form(id, answers.clone())?;
            json!({"answered": id, "answers": answers})
        }
        Control::CancelForm { id } => {
            room.cancel_form(id)?;
            json!({"cancelled": id})
        }
        Control::Interrupt { peer, content } | Control::ResetPeer { peer, content } => {
            let reset = matches!(action, Control::ResetPeer { .. });
            let content = content.as_deref().filter(|c| !c.trim().is_empty());
            room.interrupt(peer, content, reset)?
        }
        Control::Approve { id, reason } | Control::Deny { id, reason } => {
            let allow = matches!(action, Control::Approve { .. });
            room.decide_approval(id, allow, reason.as_deref())?
        }
        Control::SetRateLimit {
            enabled,
            burst,
            per_second,
        } => json!({"rate_limit": room.set_rate_limit(*enabled, *burst, *per_second)?}),
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
