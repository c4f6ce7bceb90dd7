//! Putting a tool call before the operator: `POST /approvals`, then
//! `GET /approval` until the chair answers or the wait runs out. Used by
//! the hosts' permission hooks and by the channel server's relay.

use std::time::Duration;

use serde_json::{Value, json};

use super::HubClient;

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
    let id = match hub.post("/approvals", &body) {
        Ok(a) if a.status == 200 => match a.body["id"].as_str() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => return Err(format!("the hub's answer names no approval: {}", a.body)),
        },
        Ok(a) => {
            return Err(format!(
                "the hub refused the approval request (HTTP {}: {})",
                a.status, a.body
            ));
        }
        Err(e) => return Err(format!("the hub is unreachable ({e})")),
    };
    eprintln!("caucus: {tool} waits for the operator's answer (approval {id})");
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(wait);
    // Each round waits up to 25 s on the hub; the deadline bounds the loop.
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("no answer from the operator in time".into());
        }
        let secs = left.as_secs_f64().min(25.0);
        let path = format!("/approval?id={id}&timeout={secs:.1}");
        let a = hub
            .get(
                &path,
                Some(token),
                Some(Duration::from_secs_f64(secs + 10.0)),
            )
            .map_err(|e| format!("the hub is unreachable ({e})"))?;
        if a.status != 200 {
            return Err(format!(
                "the hub answered HTTP {} for approval {id}",
                a.status
            ));
        }
        match a.body["state"].as_str() {
            Some("allow") => return Ok(Verdict::Allow),
            Some("deny") => {
                return Ok(Verdict::Deny(a.body["reason"].as_str().map(str::to_string)));
            }
            Some("pending") => {}
            _ => return Err("no answer from the operator in time".into()),
        }
    }
}
