//! The hub's verbs, typed both ways: each takes what the request needs and
//! returns the answer as the wire's type (`shared::wire`), or a `CallError`
//! that says whether the hub could not be reached, refused (with its
//! status and what it said), or answered something that is not the answer.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Answer, HubClient};
use crate::shared::wire::{
    ApprovalState, Batch, GateAnswer, Peek, PeerList, ProtocolDoc, Refusal, Registered, Sent,
    VersionInfo,
};

/// Why a verb has no answer.
#[derive(Debug)]
pub enum CallError {
    /// The hub could not be reached, or the connection failed.
    Unreachable(String),
    /// The hub answered with an error status.
    Refused { status: u16, refusal: Box<Refusal> },
    /// A success status with a body that is not the answer (a foreign
    /// service on the port, or a field every client needs is missing).
    BadAnswer(String),
}

impl CallError {
    /// The refusal's status, if the hub refused.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the hub refused with `status` and said `word` (as `error`
    /// or `detail`).
    pub fn is(&self, status: u16, word: &str) -> bool {
        matches!(self, CallError::Refused { status: s, refusal } if *s == status && refusal.says(word))
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "the hub is unreachable ({e})"),
            CallError::Refused { status, refusal } => {
                let said = refusal
                    .note
                    .clone()
                    .or_else(|| {
                        refusal.detail.as_ref().map(|d| match d {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                    })
                    .or_else(|| refusal.error.clone())
                    .unwrap_or_default();
                write!(f, "the hub answered HTTP {status}: {said}")
            }
            CallError::BadAnswer(e) => write!(f, "the hub's answer is not one: {e}"),
        }
    }
}

/// Reads a typed answer off what came back.
pub fn read<T: DeserializeOwned>(got: Result<Answer, String>) -> Result<T, CallError> {
    let answer = got.map_err(CallError::Unreachable)?;
    if answer.status != 200 {
        return Err(CallError::Refused {
            status: answer.status,
            refusal: Box::new(serde_json::from_value(answer.body).unwrap_or_default()),
        });
    }
    serde_json::from_value(answer.body).map_err(|e| CallError::BadAnswer(e.to_string()))
}

/// A 200 whose body does not matter.
fn done(got: Result<Answer, String>) -> Result<(), CallError> {
    read::<Value>(got).map(drop)
}

impl HubClient {
    /// `POST /register`, presenting `token` when this name has one.
    pub fn register(
        &self,
        name: &str,
        token: Option<&str>,
        protocol_version: Option<i64>,
    ) -> Result<Registered, CallError> {
        let mut body = json!({"project": name});
        if let Some(v) = protocol_version {
            body["protocol_version"] = json!(v);
        }
        if let Some(t) = token {
            body["token"] = json!(t);
        }
        let reg: Registered = read(self.post("/register", &body))?;
        if reg.token.is_empty() {
            return Err(CallError::BadAnswer("/register issued no token".into()));
        }
        Ok(reg)
    }

    /// `POST /leave`.
    pub fn leave(&self, token: &str) -> Result<(), CallError> {
        done(self.post("/leave", &json!({"token": token})))
    }

    /// `POST /send`.
    pub fn send(&self, token: &str, to: &str, content: &str) -> Result<Sent, CallError> {
        read(self.post(
            "/send",
            &json!({"token": token, "to": to, "content": content}),
        ))
    }

    /// `GET /receive`: waits up to `timeout` seconds (the hub caps it at
    /// 25); `ack_seq` acknowledges first (0 says "I acknowledge").
    pub fn receive(
        &self,
        token: &str,
        timeout: f64,
        ack_seq: Option<u64>,
    ) -> Result<Batch, CallError> {
        let mut path = format!("/receive?timeout={timeout:.1}");
        if let Some(seq) = ack_seq {
            path.push_str(&format!("&ack_seq={seq}"));
        }
        let deadline = Duration::from_secs_f64(timeout.clamp(0.0, 25.0) + 15.0);
        read(self.get(&path, Some(token), Some(deadline)))
    }

    /// `POST /ack`.
    pub fn ack(&self, token: &str, seq: u64) -> Result<(), CallError> {
        done(self.post("/ack", &json!({"token": token, "seq": seq})))
    }

    /// `GET /peek` (with `detail=1` when asked).
    pub fn peek(&self, token: &str, detail: bool) -> Result<Peek, CallError> {
        let path = if detail { "/peek?detail=1" } else { "/peek" };
        read(self.get(path, Some(token), None))
    }

    /// `POST /gate`, waiting up to `wait` seconds when given.
    pub fn gate(&self, token: &str, wait: Option<f64>) -> Result<GateAnswer, CallError> {
        let mut body = json!({"token": token});
        match wait {
            Some(w) => {
                body["wait"] = json!(w);
                read(self.post_timeout(
                    "/gate",
                    &body,
                    Duration::from_secs_f64(w.clamp(0.0, 25.0) + 15.0),
                ))
            }
            // Asked before every tool call: a hub that is slow must not
            // hold the tool up long.
            None => read(self.post_timeout("/gate", &body, Duration::from_secs(5))),
        }
    }

    /// `POST /approvals`: puts a tool call before the operator.
    pub fn request_approval(&self, body: &Value) -> Result<ApprovalState, CallError> {
        let state: ApprovalState = read(self.post("/approvals", body))?;
        if state.id.is_empty() {
            return Err(CallError::BadAnswer("/approvals named no request".into()));
        }
        Ok(state)
    }

    /// `GET /approval`: the request's state, waiting up to `timeout` for a
    /// verdict.
    pub fn approval(
        &self,
        token: &str,
        id: &str,
        timeout: f64,
    ) -> Result<ApprovalState, CallError> {
        let path = format!("/approval?id={id}&timeout={timeout:.1}");
        read(self.get(
            &path,
            Some(token),
            Some(Duration::from_secs_f64(timeout + 10.0)),
        ))
    }

    /// `POST /channels/join`.
    pub fn join_channel(&self, token: &str, channel: &str) -> Result<(), CallError> {
        done(self.post(
            "/channels/join",
            &json!({"token": token, "channel": channel}),
        ))
    }

    /// `GET /version`, quickly.
    pub fn version(&self) -> Result<VersionInfo, CallError> {
        read(self.get("/version", None, Some(Duration::from_secs(3))))
    }

    /// `GET /protocol`.
    pub fn protocol(&self) -> Result<ProtocolDoc, CallError> {
        read(self.get("/protocol", None, None))
    }

    /// `GET /peers`: the names of the agents in the room.
    pub fn peers(&self) -> Result<Vec<String>, CallError> {
        read::<PeerList>(self.get("/peers", None, None)).map(|p| p.peers)
    }
}
