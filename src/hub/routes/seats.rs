//! The launcher's endpoints (`src/hub/seats.rs`): `POST /agents` starts a
//! seat, `GET /agents` lists them, `DELETE /agents/NAME` stops one. The
//! chair's alone, and never on a hub without an operator credential: a
//! seat runs as the hub's user.

use super::*;
use crate::hub::seats::Launch;

/// The launcher is open to this caller: the operator, on a hub that has an
/// operator credential, bound to loopback unless the chair opted in.
fn chair_may_launch(hub: &Hub, call: &Call) -> Result<(), HubError> {
    if !hub.access.enabled() {
        return Err(HubError::Forbidden(
            "the launcher needs an operator credential: start the hub without --no-auth",
        ));
    }
    match hub.access.role_for(call.bearer) {
        Some(Role::Operator) => {}
        Some(_) => return Err(HubError::Forbidden("observers may watch but not act")),
        None => return Err(HubError::Unauthorized("operator token required")),
    }
    if !super::super::auth::is_loopback_name(&hub.access.host) && !hub.launch_beyond_loopback {
        return Err(HubError::Forbidden(
            "this hub is bound beyond loopback: start it with --allow-remote-launch to launch \
             agents",
        ));
    }
    Ok(())
}

/// `POST /agents`.
pub(super) fn launch_seat(hub: &Hub, call: &Call) -> Answer {
    chair_may_launch(hub, call)?;
    let l: Launch = body(call)?;
    if hub.room().peers().contains(&l.name) {
        return Err(HubError::Conflict(format!(
            "{:?} is in the room already: choose another name",
            l.name
        )));
    }
    let seat = hub
        .seats
        .launch(l, &hub.self_url(), hub.access.agent_key.as_deref())?;
    Ok(Reply::json(&seat))
}

/// `GET /agents`: the chair's or an observer's.
pub(super) fn list_seats(hub: &Hub, call: &Call) -> Answer {
    if hub.access.enabled() && hub.access.role_for(call.bearer).is_none() {
        return Err(HubError::Unauthorized("operator/observer token required"));
    }
    Ok(Reply::json(&json!({"agents": hub.seats.list()})))
}

/// `DELETE /agents/NAME`: the seat is asked to end (then ended with all it
/// started), and leaves the room.
pub(super) fn stop_seat(hub: &Hub, call: &Call, name: &str) -> Answer {
    chair_may_launch(hub, call)?;
    let name = super::super::reply::path_segment(name)?;
    if !hub.seats.stop(&name) {
        return Err(HubError::NotFound(format!(
            "no running seat named {name:?}"
        )));
    }
    hub.room()
        .dismiss(&name, "left: the operator stopped its seat");
    Ok(Reply::json(&json!({"stopped": name})))
}
