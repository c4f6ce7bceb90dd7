//! The talking stick: one floor per scope, its raised hands, and the
//! never-freeze rule (a peer that can no longer hold it hands it on).

use super::*;
use crate::shared::wire::FloorVerb;

impl Room {
    fn scope_label(scope: &str) -> &str {
        if scope == BROADCAST {
            "the whole room"
        } else {
            scope
        }
    }

    /// `GET /floor`: `{scope: {"scope", "holder", "reason", "hands", "since"}}`.
    pub fn floors(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .floors
            .iter()
            .map(|(scope, f)| {
                (
                    scope.clone(),
                    json!({
                        "scope": scope,
                        "holder": f.holder,
                        "reason": (!f.reason.is_empty()).then_some(&f.reason),
                        "hands": f.hands,
                        "since": f.since,
                    }),
                )
            })
            .collect();
        Value::Object(map)
    }

    /// `POST /floor`: one verb of the talking stick.
    pub fn floor(
        &mut self,
        token: &str,
        action: &FloorVerb,
        scope: &str,
        reason: &str,
    ) -> Result<Value, HubError> {
        if scope != BROADCAST {
            check_channel("scope", scope)
                .map_err(|_| HubError::invalid("scope: must be \"all\" or a #channel"))?;
        }
        check_len("reason", reason, 0, MAX_REASON_CHARS)?;
        if let FloorVerb::Unknown(word) = action {
            return Err(HubError::UnknownAction(word.clone()));
        }
        let name = self.authenticate(token)?;
        // Every verb may change a floor; the record is written once, after.
        self.changed();
        self.dirty.floors = true;
        match action {
            FloorVerb::Take => self.take_floor(&name, scope, reason),
            FloorVerb::Raise => self.raise_hand(&name, scope),
            FloorVerb::Lower => Ok(self.lower_hand(&name, scope)),
            FloorVerb::Pass => Ok(self.pass_floor(&name, scope)),
            FloorVerb::Drop | FloorVerb::Unknown(_) => Ok(self.drop_floor(&name, scope)),
        }
    }

    fn add_hand(floor: &mut Floor, name: &str) -> Result<usize, HubError> {
        if let Some(i) = floor.hands.iter().position(|h| h == name) {
            return Ok(i + 1);
        }
        if floor.hands.len() >= MAX_HANDS {
            return Err(HubError::Limit("hand-queue limit reached"));
        }
        floor.hands.push(name.to_string());
        Ok(floor.hands.len())
    }

    pub(super) fn take_floor(
        &mut self,
        name: &str,
        scope: &str,
        reason: &str,
    ) -> Result<Value, HubError> {
        if is_channel(scope) && !self.peer_mut(name)?.channels.contains(scope) {
            return Ok(json!({"ok": false, "error": "not_a_member", "scope": scope}));
        }
        let reason = reason.trim();
        if let Some(floor) = self.floors.get_mut(scope) {
            if floor.holder != name {
                let position = Self::add_hand(floor, name)?;
                return Ok(json!({
                    "ok": false,
                    "error": "floor_held",
                    "scope": scope,
                    "held_by": floor.holder,
                    "reason": (!floor.reason.is_empty()).then_some(&floor.reason),
                    "position": position,
                }));
            }
            if !reason.is_empty() {
                floor.reason = reason.to_string();
            }
            return Ok(json!({
                "ok": true,
                "scope": scope,
                "holder": floor.holder,
                "reason": (!floor.reason.is_empty()).then_some(&floor.reason),
            }));
        }
        self.floors.insert(
            scope.to_string(),
            Floor {
                holder: name.to_string(),
                reason: reason.to_string(),
                hands: Vec::new(),
                since: now_unix(),
            },
        );
        let detail = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        self.announce(
            scope,
            format!(
                "{name} took the talking stick for {}{detail}. Only {name} speaks \
                 there until it is passed; raise_hand to be next.",
                Self::scope_label(scope)
            ),
        );
        Ok(json!({
            "ok": true,
            "scope": scope,
            "holder": name,
            "reason": (!reason.is_empty()).then_some(reason),
        }))
    }

    fn raise_hand(&mut self, name: &str, scope: &str) -> Result<Value, HubError> {
        let Some(floor) = self.floors.get_mut(scope) else {
            return Ok(json!({"ok": false, "error": "no_floor", "scope": scope}));
        };
        let position = if floor.holder == name {
            0
        } else {
            Self::add_hand(floor, name)?
        };
        Ok(json!({"ok": true, "scope": scope, "position": position}))
    }

    fn lower_hand(&mut self, name: &str, scope: &str) -> Value {
        let Some(floor) = self.floors.get_mut(scope) else {
            return json!({"ok": false, "error": "no_floor", "scope": scope});
        };
        floor.hands.retain(|h| h != name);
        json!({"ok": true, "scope": scope})
    }

    /// The refusal for a caller who does not hold `scope`'s stick, if any.
    fn not_holder(&self, name: &str, scope: &str) -> Option<Value> {
        match self.floors.get(scope) {
            None => Some(json!({"ok": false, "error": "no_floor", "scope": scope})),
            Some(f) if f.holder != name => Some(json!({
                "ok": false, "error": "not_holder", "scope": scope, "held_by": f.holder,
            })),
            Some(_) => None,
        }
    }

    fn pass_floor(&mut self, name: &str, scope: &str) -> Value {
        if let Some(refusal) = self.not_holder(name, scope) {
            return refusal;
        }
        match self.advance_floor(scope) {
            Some(next) => json!({"ok": true, "scope": scope, "passed_to": next}),
            None => json!({"ok": true, "scope": scope, "released": true}),
        }
    }

    fn drop_floor(&mut self, name: &str, scope: &str) -> Value {
        if let Some(refusal) = self.not_holder(name, scope) {
            return refusal;
        }
        self.release_floor(scope, name, "done");
        json!({"ok": true, "scope": scope, "released": true})
    }

    /// Operator: releases a stick whoever holds it.
    pub fn clear_floor(&mut self, scope: &str) -> Result<(), HubError> {
        if !self.floors.contains_key(scope) {
            return Err(HubError::NotFound(format!("no talking stick on {scope:?}")));
        }
        self.release_floor(scope, "operator", "cleared by operator");
        Ok(())
    }

    /// Hands `scope`'s stick to the next raised hand, or releases it.
    fn advance_floor(&mut self, scope: &str) -> Option<String> {
        let floor = self.floors.get_mut(scope)?;
        if floor.hands.is_empty() {
            let holder = floor.holder.clone();
            self.release_floor(scope, &holder, "no hands raised");
            return None;
        }
        let previous = std::mem::replace(&mut floor.holder, floor.hands.remove(0));
        floor.since = now_unix();
        let next = floor.holder.clone();
        self.changed();
        self.dirty.floors = true;
        self.announce(
            scope,
            format!(
                "The talking stick for {} passed from {previous} to {next}; only \
                 {next} speaks there now.",
                Self::scope_label(scope)
            ),
        );
        Some(next)
    }

    pub(super) fn release_floor(&mut self, scope: &str, by: &str, why: &str) {
        if self.floors.remove(scope).is_some() {
            self.changed();
            self.dirty.floors = true;
            self.announce(
                scope,
                format!(
                    "{by} put the talking stick for {} away ({why}); it is open again.",
                    Self::scope_label(scope)
                ),
            );
        }
    }

    /// The never-freeze rule for one scope: a peer that can no longer hold
    /// the stick hands it on, and its raised hand goes down.
    pub(super) fn relinquish_floor(&mut self, scope: &str, name: &str) {
        let Some(floor) = self.floors.get_mut(scope) else {
            return;
        };
        if floor.holder == name {
            self.advance_floor(scope);
        } else if floor.hands.iter().any(|h| h == name) {
            floor.hands.retain(|h| h != name);
            self.changed();
            self.dirty.floors = true;
        }
    }

    pub(super) fn relinquish_floors(&mut self, name: &str) {
        let scopes: Vec<String> = self.floors.keys().cloned().collect();
        for scope in scopes {
            self.relinquish_floor(&scope, name);
        }
    }
}
