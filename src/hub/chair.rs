//! The chair's endpoints: the tool gate a host's `PreToolUse` hook asks,
//! and the tool approvals a `PermissionRequest` hook puts before the
//! operator (see `room::chair` for the rules).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::error::HubError;
use super::room::Gate;
use super::state::Hub;
use crate::shared::wire::{ApprovalRequest, GateAnswer, GateRequest};

/// The longest a request here waits, as `/receive` does.
const MAX_WAIT: Duration = Duration::from_secs(25);

type Answer = Result<Value, HubError>;

/// A wait in seconds as a request gives it: capped, and a number.
pub fn wait_of(secs: Option<f64>, field: &str) -> Result<Duration, HubError> {
    match secs {
        None => Ok(MAX_WAIT),
        Some(w) if w.is_finite() => Ok(Duration::from_secs_f64(
            w.clamp(0.0, MAX_WAIT.as_secs_f64()),
        )),
        Some(_) => Err(HubError::invalid(format!(
            "{field}: must be a number of seconds"
        ))),
    }
}

/// `POST /gate`: the tool gate a host's `PreToolUse` hook asks (see
/// `room::chair`). With `wait`, a `caucus agent` watching its running
/// command waits for an interrupt or a stop.
pub fn gate(hub: &Hub, r: GateRequest) -> Result<GateAnswer, HubError> {
    let wait = match r.wait {
        None => Duration::ZERO,
        w => wait_of(w, "wait")?,
    };
    let urgent_only = !wait.is_zero();
    let deadline = Instant::now() + wait;
    let mut room = hub.lock();
    let turn = if urgent_only {
        Some(room.begin_wait(&r.token, None)?)
    } else {
        None
    };
    let gate = loop {
        let (gate, wake) = room.gate(&r.token, urgent_only)?;
        if let Some(g) = gate {
            break Some(g);
        }
        if let Some((name, turn)) = &turn
            && room.wait_replaced(name, None, *turn)
        {
            return Err(HubError::Replaced);
        }
        let now = Instant::now();
        if now >= deadline {
            break None;
        }
        room = match wake.wait_timeout(room, deadline - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    };
    let mode = room.mode();
    drop(room);
    Ok(match gate {
        Some(Gate::Deny { reason, interrupt }) => GateAnswer {
            allow: false,
            reason: Some(reason),
            interrupt,
            mode,
        },
        Some(Gate::Allow) | None => GateAnswer {
            allow: true,
            reason: None,
            interrupt: None,
            mode,
        },
    })
}

/// `POST /approvals`: a host's permission prompt, put before the operator.
pub fn request_approval(hub: &Hub, r: ApprovalRequest) -> Answer {
    hub.room()
        .request_approval(&r.token, &r.tool, &r.description, &r.input, r.window)
}

/// `GET /approvals`: what waits for the operator (operator or observer).
pub fn approvals(hub: &Hub, bearer: Option<&str>) -> Answer {
    if hub.access.enabled() && hub.access.role_for(bearer).is_none() {
        return Err(HubError::Unauthorized("operator/observer token required"));
    }
    Ok(json!({"approvals": hub.room().approvals()}))
}

/// `GET /approval?id=&timeout=`: the asking agent waits for the verdict
/// on its own request (its token in `Authorization`).
pub fn approval(hub: &Hub, token: &str, id: &str, timeout: Duration) -> Answer {
    let deadline = Instant::now() + timeout;
    let mut room = hub.lock();
    let turn = if timeout.is_zero() {
        None
    } else {
        Some(room.begin_wait(token, Some(id))?)
    };
    let verdict = loop {
        let (verdict, wake) = room.approval_verdict(token, id)?;
        if let Some(v) = verdict {
            break v;
        }
        if let Some((name, turn)) = &turn
            && room.wait_replaced(name, Some(id), *turn)
        {
            return Err(HubError::Replaced);
        }
        let now = Instant::now();
        if now >= deadline {
            break json!({"id": id, "state": "pending"});
        }
        room = match wake.wait_timeout(room, deadline - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    };
    drop(room);
    Ok(verdict)
}
