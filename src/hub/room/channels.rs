//! Channels: membership, topics, and the operator's close.

use super::*;

impl Room {
    /// Channels with live members: `{"#name": {"topic", "members"}}`.
    pub fn channels(&self) -> Value {
        let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for peer in self.peers.values().filter(|p| p.is_live()) {
            for ch in &peer.channels {
                members.entry(ch).or_default().push(&peer.name);
            }
        }
        let map: serde_json::Map<String, Value> = members
            .into_iter()
            .map(|(ch, names)| {
                (
                    ch.to_string(),
                    json!({"topic": self.topics.get(ch), "members": names}),
                )
            })
            .collect();
        Value::Object(map)
    }

    fn has_members(&self, channel: &str) -> bool {
        self.peers.values().any(|p| p.channels.contains(channel))
    }

    pub(super) fn prune_topics(&mut self) {
        let live: BTreeSet<String> = self
            .peers
            .values()
            .flat_map(|p| p.channels.iter().cloned())
            .collect();
        self.topics.retain(|ch, _| live.contains(ch));
    }

    pub(super) fn subscribe(&mut self, name: &str, channel: &str) -> Result<(), HubError> {
        self.changed();
        let peer = self.peer_mut(name)?;
        if peer.channels.contains(channel) {
            return Ok(());
        }
        if peer.channels.len() >= MAX_CHANNELS_PER_PEER {
            return Err(HubError::Limit("channel subscription limit reached"));
        }
        peer.channels.insert(channel.to_string());
        self.dirty.channels = true;
        self.notice(format!("{name} joined {channel}"));
        Ok(())
    }

    /// `POST /channels/join`.
    pub fn join_channel(&mut self, token: &str, channel: &str) -> Result<(), HubError> {
        check_channel("channel", channel)?;
        let name = self.authenticate(token)?;
        self.spend(&name)?;
        self.subscribe(&name, channel)
    }

    /// `POST /channels/leave`.
    pub fn leave_channel(&mut self, token: &str, channel: &str) -> Result<(), HubError> {
        check_channel("channel", channel)?;
        let name = self.authenticate(token)?;
        self.spend(&name)?;
        let peer = self.peer_mut(&name)?;
        if peer.channels.remove(channel) {
            self.prune_topics();
            self.changed();
            self.dirty.channels = true;
            self.notice(format!("{name} left {channel}"));
            self.relinquish_floor(channel, &name);
        }
        Ok(())
    }

    /// `POST /channels/topic`: members only; empty clears.
    pub fn set_topic(
        &mut self,
        token: &str,
        channel: &str,
        topic: &str,
    ) -> Result<Option<String>, HubError> {
        check_channel("channel", channel)?;
        check_len("topic", topic, 0, MAX_TOPIC_CHARS)?;
        let name = self.authenticate(token)?;
        self.spend(&name)?;
        if !self.peer_mut(&name)?.channels.contains(channel) {
            return Err(HubError::NotMember);
        }
        let cleaned = topic.trim();
        self.changed();
        self.dirty.channels = true;
        if cleaned.is_empty() {
            self.topics.remove(channel);
            self.notice(format!("topic for {channel} cleared"));
            Ok(None)
        } else {
            self.topics.insert(channel.to_string(), cleaned.to_string());
            self.notice(format!("topic for {channel}: {cleaned}"));
            Ok(Some(cleaned.to_string()))
        }
    }

    /// Operator: unsubscribes every member; the channel may form again.
    pub fn close_channel(&mut self, channel: &str) -> Result<(), HubError> {
        check_channel("channel", channel)?;
        if !self.has_members(channel) {
            return Err(HubError::NotFound(format!("no channel named {channel:?}")));
        }
        for peer in self.peers.values_mut() {
            peer.channels.remove(channel);
        }
        self.changed();
        self.dirty.channels = true;
        self.prune_topics();
        if self.floors.contains_key(channel) {
            self.release_floor(channel, "operator", "channel closed");
        }
        self.notice(format!("channel {channel} closed by operator"));
        Ok(())
    }
}
