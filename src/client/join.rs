//! Joining the room under a name, the one way every client does it: claim
//! the name's slot on this machine (so a second process here cannot join
//! as the first), register presenting the token kept there, and keep the
//! token (and the hub's run) the hub issued.

use super::{CallError, HubClient};
use crate::shared::identity::{ClaimError, Slot};
use crate::shared::wire::Registered;

/// Why a name could not be claimed on this machine.
#[derive(Debug)]
pub struct Held(pub String);

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another caucus process on this machine is joined to this hub as {:?}",
            self.0
        )
    }
}

/// Claims `name`'s slot for the hub. `Ok(None)` when the slot cannot be
/// kept (the state folder is not writable): the client joins all the
/// same, without a token to come back with (said on stderr as `who`).
pub fn claim(hub: &HubClient, name: &str, who: &str) -> Result<Option<Slot>, Held> {
    match Slot::claim(hub.base(), name) {
        Ok(slot) => Ok(Some(slot)),
        Err(ClaimError::Held) => Err(Held(name.to_string())),
        Err(ClaimError::Io(e)) => {
            eprintln!("{who}: cannot keep the token for {name} on this machine: {e}");
            Ok(None)
        }
    }
}

/// Registers `name`, presenting the token kept in `slot` (else `known`, a
/// token the caller holds), and keeps what the hub issued in the slot.
pub fn register_kept(
    hub: &HubClient,
    name: &str,
    slot: Option<&Slot>,
    known: Option<&str>,
    protocol_version: Option<i64>,
    who: &str,
) -> Result<Registered, CallError> {
    let kept = slot.and_then(Slot::token);
    let reg = hub.register(name, kept.as_deref().or(known), protocol_version)?;
    if let Some(slot) = slot {
        keep(slot, name, &reg, who);
    }
    Ok(reg)
}

/// Keeps the token and the hub's run a registration issued in `slot`, for
/// the next process (or hook) that joins as `name` here.
pub fn keep(slot: &Slot, name: &str, reg: &Registered, who: &str) {
    let saved = if slot.token().as_deref() == Some(reg.token.as_str()) {
        Ok(())
    } else {
        slot.save(&reg.token)
    };
    let saved = saved.and_then(|()| match &reg.instance {
        Some(instance) => slot.save_instance(instance),
        None => Ok(()),
    });
    if let Err(e) = saved {
        eprintln!("{who}: cannot keep the token for {name} on this machine: {e}");
    }
}
