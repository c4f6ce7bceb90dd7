//! The hub's answers, as the clients read them (`Deserialize`) and, where
//! the hub builds them from these types, as it writes them (`Serialize`):
//! one definition, so the two sides cannot drift apart. `docs/API.md`
//! describes each. Fields a client may meet from an older or a foreign hub
//! (caucus-mcp) are optional; a field every client relies on, such as the
//! token `/register` issues, is required, so an answer without it is an
//! error rather than an empty string carried on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Message, Mode};

/// `POST /register`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registered {
    pub token: String,
    pub project: String,
    pub protocol_version: i64,
    #[serde(default)]
    pub protocol_stale: bool,
    #[serde(default)]
    pub protocol_text: Option<String>,
    #[serde(default)]
    pub channels: Value,
    #[serde(default)]
    pub note: Option<String>,
    /// This run of the hub (ours; caucus-mcp sends none).
    #[serde(default)]
    pub instance: Option<String>,
}

/// A recipient in the room with nothing listening when a message came.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Unheard {
    pub peer: String,
    /// Messages waiting for it, this one included.
    pub waiting: usize,
    /// Seconds since its oldest waiting message was sent.
    pub oldest_age: f64,
}

/// `POST /send`'s answer (and the operator's `say`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sent {
    pub message_id: String,
    pub delivered_to: Vec<String>,
    /// caucus-mcp 5.x: a direct message's recipient not in the room.
    #[serde(default)]
    pub missed: Vec<String>,
    /// Ours: recipients whose queue was full (not queued for them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_full: Vec<String>,
    /// Ours: recipients in the room that are not listening.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unheard: Vec<Unheard>,
    /// caucus-mcp 5.x: `no_recipients` when a broadcast reached nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// `GET /receive`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Batch {
    pub messages: Vec<Message>,
    pub mode: Mode,
}

/// The newest waiting message, as `/peek` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeekLast {
    pub sender: String,
    pub preview: String,
    #[serde(default)]
    pub preview_truncated: bool,
    #[serde(default)]
    pub content_chars: usize,
}

/// One waiting message, as `/peek?detail=1` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeekMessage {
    pub seq: u64,
    pub sender: String,
    pub recipient: String,
    pub kind: super::Kind,
    pub excerpt: String,
    #[serde(default)]
    pub excerpt_cut: bool,
    #[serde(default)]
    pub content_chars: usize,
}

/// `GET /peek`'s answer; `messages`, `mode` and `paused` with `detail=1`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Peek {
    pub pending: usize,
    pub last: Option<PeekLast>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<PeekMessage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// `POST /gate`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GateAnswer {
    pub allow: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The operator's interrupt, handed out once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt: Option<Interruption>,
    pub mode: Mode,
}

/// The operator's interrupt as the tool gate hands it out: the message's
/// id, the chair's words, and whether the agent is to drop its context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    pub id: String,
    pub content: String,
    #[serde(default)]
    pub reset: bool,
}

/// `POST /approvals` and `GET /approval`: a tool request and its state
/// (`pending`, `allow`, `deny`, `expired`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApprovalState {
    pub id: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<f64>,
}

/// A tool request waiting for the chair, as `GET /approvals` and the
/// console show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingApproval {
    pub id: String,
    pub peer: String,
    pub tool: String,
    /// The model's own words about the call.
    #[serde(default)]
    pub description: String,
    /// What runs, read from the input: the command, else the file or URL.
    #[serde(default)]
    pub summary: String,
    /// The whole input as JSON.
    #[serde(default)]
    pub preview: String,
    /// Seconds since it was asked.
    #[serde(default)]
    pub age: f64,
    #[serde(default)]
    pub expires_in: f64,
}

/// `GET /approvals`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Approvals {
    pub approvals: Vec<PendingApproval>,
}

/// A seat of the chair's launcher, as `POST /agents` and `GET /agents`
/// show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeatView {
    pub name: String,
    pub runtime: String,
    /// `running`, `stopping`, `exited` or `stopped`.
    pub state: String,
    pub pid: u32,
    pub cwd: String,
    pub started: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The last lines it wrote on stderr.
    #[serde(default)]
    pub output: Vec<String>,
}

/// `GET /version`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    /// This run of the hub (ours).
    #[serde(default)]
    pub instance: Option<String>,
}

/// `GET /protocol`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProtocolDoc {
    pub version: i64,
    pub text: String,
    #[serde(default)]
    pub sections: Vec<String>,
}

/// `GET /peers`'s answer (without `detail`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerList {
    pub peers: Vec<String>,
}

/// What an error answer may carry: `detail` (a string, or a list from a
/// validation), or an `error` word and the fields that go with it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Refusal {
    #[serde(default)]
    pub detail: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default)]
    pub retry_after: Option<f64>,
    #[serde(default)]
    pub held_by: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl Refusal {
    /// The `detail` as text, when it is one.
    pub fn detail_text(&self) -> Option<&str> {
        self.detail.as_ref().and_then(Value::as_str)
    }

    /// Whether the hub said this word, as `error` or as the `detail`.
    pub fn says(&self, word: &str) -> bool {
        self.error.as_deref() == Some(word) || self.detail_text() == Some(word)
    }
}
