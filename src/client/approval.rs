//! Putting a tool call before the operator: `POST /approvals`, then
//! `GET /approval` until the chair answers or the wait runs out. Used by
//! the hosts' permission hooks and by the channel server's relay.

use std::time::Duration;

use serde_json::{Value, json};

use super::{CallError, HubClient};

/// The operator's answer to a tool call put before them.
pub enum Verdict {
    Allow,
    /// Denied, with the operator's reason if they gave one.
    Deny(Option<String>),
}

/// Puts a tool call before the operator (`POST /approvals`) and waits up
/// to `wait` seconds for the verdict. `Err` says why there is none (no
/// answer in time, a refusal, no hub): the host's own dialog decides then.
pub fn ask_operator(
    hub: &HubClient,
    token: &str,
    tool: &str,
    description: &str,
    input: &Value,
    wait: f64,
) -> Result<Verdict, String> {
    let body = json!({"token": token, "tool": tool, "description": description,
                      "input": input, "window": wait});
    let id = match hub.request_approval(&body) {
        Ok(asked) => asked.id,
        Err(e @ CallError::Unreachable(_)) => return Err(e.to_string()),
        Err(e) => return Err(format!("the approval request was not taken: {e}")),
    };
    eprintln!("caucus: {tool} waits for the operator's answer (approval {id})");
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(wait);
    // Each round waits up to 25 s on the hub; the deadline bounds the loop.
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("no answer from the operator in time".into());
        }
        let now = hub
            .approval(token, &id, left.as_secs_f64().min(25.0))
            .map_err(|e| format!("approval {id}: {e}"))?;
        match now.state.as_str() {
            "allow" => return Ok(Verdict::Allow),
            "deny" => return Ok(Verdict::Deny(now.reason)),
            "pending" => {}
            _ => return Err("no answer from the operator in time".into()),
        }
    }
}
