//! `HubError`: every way a hub request can fail, with its status and body.
//!
//! The room returns these; `routes.rs` renders them. Status codes and body
//! shapes are those of `docs/API.md`, which caucus-mcp clients
//! branch on, so each variant documents the status it carries.

use serde_json::{Value, json};

use crate::shared::wire::MAX_BODY_BYTES;

#[derive(Clone, Debug, PartialEq)]
pub enum HubError {
    /// 422: the request is well-formed HTTP but its values break a rule.
    Invalid(String),
    /// 413: the body is over the limit.
    BodyTooLarge,
    /// 408: the body stopped short of its `Content-Length` (the client went
    /// quiet past the read deadline, or hung up).
    BodyIncomplete,
    /// 401: the token names no peer (never issued, left, kicked or expired).
    UnknownToken,
    /// 401 on operator paths: no or wrong operator/observer token.
    Unauthorized(&'static str),
    /// 403: a disallowed browser origin, or an observer trying to act.
    Forbidden(&'static str),
    /// 403: topic change by a non-member.
    NotMember,
    /// 409: the operator stopped the room.
    Stopped,
    /// 409: a name held by a live listener, registered without its token.
    /// `listening`: whether the name's owner has a poll open right now.
    NameInUse { project: String, listening: bool },
    /// 409: another `/receive` took this token's listening slot.
    AlreadyListening,
    /// 409: a newer `/gate` or `/approval` wait of this token took this
    /// one's place.
    Replaced,
    /// 409: a resource cap of the room (records, channels, forms, hands).
    Limit(&'static str),
    /// 409: an approval already answered, withdrawn or expired.
    Settled(String),
    /// 409: what the request would make exists already (a running seat).
    Conflict(String),
    /// 423: a talking stick is up for the scope and the caller is not holding it.
    FloorHeld {
        scope: String,
        held_by: String,
        reason: Option<String>,
    },
    /// 429: the caller's bucket is empty; retry after this many seconds.
    RateLimited(f64),
    /// 400: `action` names nothing this endpoint does.
    UnknownAction(String),
    /// 404: a peer, channel, form or path that does not exist.
    NotFound(String),
    /// 405: a known path with the wrong method.
    MethodNotAllowed,
    /// 503: large answers not yet read hold the whole `--max-answer-mib`.
    AnswersFull,
    /// 503: the OS's random generator failed, so no token, ticket or
    /// session id can be made (logged where it happened).
    NoRandomness,
}

impl HubError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        HubError::Invalid(detail.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            HubError::Invalid(_) => 422,
            HubError::BodyTooLarge => 413,
            HubError::BodyIncomplete => 408,
            HubError::UnknownToken | HubError::Unauthorized(_) => 401,
            HubError::Forbidden(_) | HubError::NotMember => 403,
            HubError::Stopped
            | HubError::NameInUse { .. }
            | HubError::Limit(_)
            | HubError::AlreadyListening
            | HubError::Replaced
            | HubError::Settled(_)
            | HubError::Conflict(_) => 409,
            HubError::FloorHeld { .. } => 423,
            HubError::RateLimited(_) => 429,
            HubError::UnknownAction(_) => 400,
            HubError::NotFound(_) => 404,
            HubError::MethodNotAllowed => 405,
            HubError::AnswersFull | HubError::NoRandomness => 503,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            HubError::Invalid(detail) => json!({ "detail": detail }),
            HubError::BodyIncomplete => {
                json!({ "detail": "request body incomplete: not received before the read deadline" })
            }
            HubError::BodyTooLarge => {
                json!({ "detail": "request body too large", "max_bytes": MAX_BODY_BYTES })
            }
            HubError::UnknownToken => json!({ "detail": "unknown token" }),
            HubError::Unauthorized(detail) | HubError::Forbidden(detail) => {
                json!({ "detail": detail })
            }
            HubError::NotMember => json!({ "detail": "not a channel member" }),
            HubError::Stopped => json!({ "detail": "room stopped" }),
            HubError::NameInUse { project, listening } => json!({
                "error": "name_in_use",
                "project": project,
                "note": if *listening {
                    "an existing identity already owns this name and is listening now; \
                     you look like a duplicate session. Join under another name, or \
                     rejoin with the token you were given."
                } else {
                    "an existing identity already owns this name (between its polls, or \
                     away within its grace); present its token or join under another name."
                },
            }),
            HubError::Limit(detail) => json!({ "detail": detail }),
            HubError::Replaced => json!({
                "detail": "replaced",
                "hint": "a newer wait with this token took this one's place: one wait per token",
            }),
            HubError::AlreadyListening => json!({
                "detail": "already_listening",
                "hint": "a newer /receive with this token took its listening slot: stop polling here",
            }),
            HubError::FloorHeld {
                scope,
                held_by,
                reason,
            } => json!({
                "error": "floor_held",
                "scope": scope,
                "held_by": held_by,
                "reason": reason,
                "hint": format!(
                    "{held_by} holds the talking stick for {scope}; raise_hand to \
                     be queued for the next turn."
                ),
            }),
            HubError::RateLimited(retry_after) => {
                json!({ "detail": "rate limited", "retry_after": retry_after })
            }
            HubError::UnknownAction(action) => {
                json!({ "detail": format!("unknown action {action:?}") })
            }
            HubError::NotFound(detail) | HubError::Settled(detail) | HubError::Conflict(detail) => {
                json!({ "detail": detail })
            }
            HubError::MethodNotAllowed => json!({ "detail": "Method Not Allowed" }),
            HubError::NoRandomness => json!({
                "detail": "the hub cannot read the OS random generator, so it cannot make a \
                           token now: see its log"
            }),
            HubError::AnswersFull => json!({
                "detail": "the hub holds too many large answers that are not read yet \
                           (--max-answer-mib): retry shortly"
            }),
        }
    }
}
