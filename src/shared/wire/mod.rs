//! The JSON shapes of the hub's HTTP API, shared by the hub and its clients.
//!
//! Every type here mirrors a row of `docs/API.md`. Field names and
//! enum spellings are the wire contract with caucus-mcp 1.3.0: renaming one
//! breaks existing clients. This module knows nothing of HTTP or of the room's
//! rules; it only says what the bytes look like.

mod answers;

pub use answers::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The recipient that means "everyone but the sender".
pub const BROADCAST: &str = "all";

/// Longest peer name, channel name or recipient, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest message content, in characters.
pub const MAX_CONTENT_CHARS: usize = 8192;
/// Longest status line, in characters.
pub const MAX_STATUS_CHARS: usize = 280;
/// Longest channel topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 200;
/// Longest floor reason, in characters.
pub const MAX_REASON_CHARS: usize = 280;
/// Largest request body the hub reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Whether `name` addresses a channel: `#` followed by at least one character.
pub fn is_channel(name: &str) -> bool {
    name.len() > 1 && name.starts_with('#')
}

/// What a message is, as clients branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Chat from an agent or the operator.
    Message,
    /// The operator's stop (content `stop`).
    Control,
    /// A notice written by the hub.
    System,
    /// An operator form's answer or cancellation.
    Answer,
}

impl Kind {
    /// The kind as spelled on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Control => "control",
            Kind::System => "system",
            Kind::Answer => "answer",
        }
    }
}

/// Who wrote a message. Set by the hub only; clients trust it over `sender`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Agent,
    Operator,
    Hub,
}

/// The message object of the spec: what `/receive` returns, the feed shows
/// and `/export` writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub sender: String,
    pub recipient: String,
    pub content: String,
    pub kind: Kind,
    pub ts: f64,
    pub seq: u64,
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// The room's control mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Running,
    Paused,
    Stopped,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Running => "running",
            Mode::Paused => "paused",
            Mode::Stopped => "stopped",
        }
    }
}

fn broadcast() -> String {
    BROADCAST.to_string()
}

/// `POST /register`.
#[derive(Debug, Deserialize)]
pub struct RegisterRequest {
    pub project: String,
    #[serde(default)]
    pub protocol_version: Option<i64>,
    #[serde(default)]
    pub token: Option<String>,
}

/// Any body that carries only the caller's token (`/leave`).
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub token: String,
}

/// `POST /send`.
#[derive(Debug, Deserialize)]
pub struct SendRequest {
    pub token: String,
    #[serde(default = "broadcast")]
    pub to: String,
    pub content: String,
}

/// `POST /gate`: may the agent run a tool now? With `wait` (seconds, at
/// most 25), it waits for an interrupt or a stop instead.
#[derive(Debug, Deserialize)]
pub struct GateRequest {
    pub token: String,
    #[serde(default)]
    pub wait: Option<f64>,
}

/// `POST /approvals`: a host asks the operator to allow a tool call.
#[derive(Debug, Deserialize)]
pub struct ApprovalRequest {
    pub token: String,
    pub tool: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub input: Value,
    /// Seconds the request waits for the operator (5..600; default 120).
    #[serde(default)]
    pub window: Option<f64>,
}

/// `POST /ack`.
#[derive(Debug, Deserialize)]
pub struct AckRequest {
    pub token: String,
    pub seq: i64,
}

/// `POST /status`.
#[derive(Debug, Deserialize)]
pub struct StatusRequest {
    pub token: String,
    #[serde(default)]
    pub status: String,
}

/// `POST /channels/join` and `POST /channels/leave`.
#[derive(Debug, Deserialize)]
pub struct ChannelRequest {
    pub token: String,
    pub channel: String,
}

/// `POST /channels/topic`.
#[derive(Debug, Deserialize)]
pub struct TopicRequest {
    pub token: String,
    pub channel: String,
    #[serde(default)]
    pub topic: String,
}

/// `POST /floor`.
#[derive(Debug, Deserialize)]
pub struct FloorRequest {
    pub token: String,
    pub action: FloorVerb,
    #[serde(default = "broadcast")]
    pub scope: String,
    #[serde(default)]
    pub reason: String,
}

/// A verb of the talking stick. A word the hub does not know is kept, so
/// that the answer (400) can name it after the values are checked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum FloorVerb {
    Take,
    Raise,
    Lower,
    Pass,
    Drop,
    Unknown(String),
}

impl From<String> for FloorVerb {
    fn from(word: String) -> Self {
        match word.as_str() {
            "take" => FloorVerb::Take,
            "raise" => FloorVerb::Raise,
            "lower" => FloorVerb::Lower,
            "pass" => FloorVerb::Pass,
            "drop" => FloorVerb::Drop,
            _ => FloorVerb::Unknown(word),
        }
    }
}

/// The input shape of one form field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Radio,
    Checkbox,
    Text,
    Textarea,
}

/// One question of an operator form.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Field {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub allow_other: bool,
}

/// `POST /ask`.
#[derive(Debug, Deserialize)]
pub struct AskRequest {
    pub token: String,
    #[serde(default = "broadcast")]
    pub to: String,
    pub title: String,
    pub fields: Vec<Field>,
}

/// A form as `/forms`, the feed and the snapshot show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Form {
    pub id: String,
    pub title: String,
    pub asker: String,
    pub to: String,
    pub fields: Vec<Field>,
    pub status: String,
    pub answers: Option<Value>,
    pub ts: f64,
    pub seq: u64,
}

/// `POST /agents`: a seat for the chair's launcher to start, as a room
/// file's `[[seat]]` says it too.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    pub name: String,
    /// `claude`, `codex`, `gemini`, or `command` (any CLI, with `command`).
    pub runtime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// The seat's working folder (absolute); the hub's own by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The command line of a `command` seat, run with the system's shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// `POST /control`: the four room actions of caucus-mcp (`pause`,
/// `resume`, `reset`, `stop`) and the console's, one variant each with the
/// fields it takes; `action` names the variant on the wire.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Control {
    Pause,
    Resume,
    Reset,
    Stop,
    Kick {
        peer: String,
    },
    /// The operator speaks into the room.
    Say {
        content: String,
        #[serde(default = "broadcast")]
        to: String,
    },
    PausePeer {
        peer: String,
    },
    ResumePeer {
        peer: String,
    },
    Heartbeat {
        peer: String,
    },
    CloseChannel {
        channel: String,
    },
    ClearFloor {
        #[serde(default = "broadcast")]
        scope: String,
    },
    AnswerForm {
        id: String,
        #[serde(default)]
        answers: serde_json::Map<String, Value>,
    },
    CancelForm {
        id: String,
    },
    /// Stops the agent's turn, with the chair's words if given.
    Interrupt {
        peer: String,
        #[serde(default)]
        content: Option<String>,
    },
    /// An interrupt that also tells the agent to drop its context.
    ResetPeer {
        peer: String,
        #[serde(default)]
        content: Option<String>,
    },
    /// A tool request allowed; `reason` is shown to the agent.
    Approve {
        id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Deny {
        id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Each sender's bucket: on or off, its burst, its refill per second.
    SetRateLimit {
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default)]
        burst: Option<f64>,
        #[serde(default)]
        per_second: Option<f64>,
    },
}

impl Control {
    /// Every `action` the hub knows, as spelled on the wire.
    pub const ACTIONS: &[&str] = &[
        "pause",
        "resume",
        "reset",
        "stop",
        "kick",
        "say",
        "pause_peer",
        "resume_peer",
        "heartbeat",
        "close_channel",
        "clear_floor",
        "answer_form",
        "cancel_form",
        "interrupt",
        "reset_peer",
        "approve",
        "deny",
        "set_rate_limit",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_needs_a_name_after_the_hash() {
        assert!(is_channel("#a"));
        assert!(!is_channel("#"));
        assert!(!is_channel("all"));
        assert!(!is_channel("a#b"));
    }

    #[test]
    fn meta_is_left_out_when_unset() {
        let m = Message {
            id: "0123456789ab".into(),
            sender: "a".into(),
            recipient: "all".into(),
            content: "hi".into(),
            kind: Kind::Message,
            ts: 1.5,
            seq: 3,
            origin: Origin::Agent,
            meta: None,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(!text.contains("meta"));
        let back: Message = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
