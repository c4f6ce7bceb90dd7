//! The operator's control of the room (pause, resume, stop, reset, per-peer
//! pause) and the reaper's upkeep.

use super::*;

impl Room {
    /// `POST /control` pause, resume, stop, reset.
    pub fn set_mode(&mut self, mode: Mode) {
        self.changed();
        self.mode = mode;
        self.since_human = 0;
        match mode {
            Mode::Stopped => {
                let msg = self.message("hub", BROADCAST, "stop".to_string(), Kind::Control);
                let stop = Routed::new(msg, &self.held);
                self.stop = Some(Arc::clone(&stop));
                self.dirty.floors |= !self.floors.is_empty();
                self.floors.clear();
                self.changed();
                self.jot(|| json!({"t": "note", "m": stop.msg}));
                self.remember(&stop);
            }
            Mode::Running | Mode::Paused => self.stop = None,
        }
        // Pause needs no wake-up: waiters hold anyway. Resume and stop change
        // what every waiter would return.
        if mode != Mode::Paused {
            for peer in self.peers.values() {
                peer.wake.notify_all();
            }
        }
        if self.feed.is_empty() {
            self.feed.touch();
        } else {
            self.feed
                .publish(json!({"type": "mode", "mode": mode}).to_string());
        }
        self.notice(format!("control: {}", mode.as_str()));
    }

    /// Operator: holds (or releases) one live peer's queue.
    pub fn set_peer_paused(&mut self, name: &str, paused: bool) -> Result<(), HubError> {
        let peer = match self.peers.get_mut(name) {
            Some(p) if p.is_live() => p,
            _ => return Err(HubError::NotFound(format!("no live peer named {name:?}"))),
        };
        if peer.paused == paused {
            return Ok(());
        }
        peer.paused = paused;
        peer.wake.notify_all();
        self.changed();
        self.dirty.peers = true;
        let verb = if paused { "paused" } else { "resumed" };
        self.notice(format!("{name} {verb} by operator"));
        Ok(())
    }

    /// Operator: the `/ping` answer for a peer that exists.
    pub fn heartbeat(&mut self, name: &str) -> Result<Value, HubError> {
        if !self.peers.contains_key(name) {
            return Err(HubError::NotFound(format!("no peer named {name:?}")));
        }
        let result = self.ping(name);
        self.feed
            .publish(json!({"type": "heartbeat_result", "result": result}).to_string());
        Ok(result)
    }

    /// The reaper's sweep: idle live peers go to the graveyard, expired
    /// graveyard records are forgotten, idle register buckets are dropped.
    pub fn reap(&mut self, now: Instant) {
        let ttl = self.config.client_ttl;
        let idle: Vec<String> = self
            .peers
            .values()
            .filter(|p| {
                p.is_live() && p.polls == 0 && now.saturating_duration_since(p.last_seen) > ttl
            })
            .map(|p| p.name.clone())
            .collect();
        for name in idle {
            self.changed();
            if let Some(peer) = self.peers.get_mut(&name) {
                peer.life = Life::Reaped {
                    since: now,
                    wall: now_unix(),
                };
                self.dirty.peers = true;
                self.dirty.channels |= !peer.channels.is_empty();
            }
            self.notice(format!("{name} timed out"));
            self.relinquish_floors(&name);
        }
        let grace = self.config.reaped_grace;
        let expired: Vec<String> = self
            .peers
            .values()
            .filter(|p| match p.life {
                Life::Reaped { since, .. } => now.saturating_duration_since(since) > grace,
                Life::Live => false,
            })
            .map(|p| p.name.clone())
            .collect();
        for name in expired {
            log::info!("{name}'s revival window is over; its token is void");
            self.forget(&name);
        }
        self.register_buckets.retain(|_, b| !b.is_full(now));
        self.expire_approvals(now_unix());
        self.give_back_spare_capacity();
    }

    /// Collections keep the capacity their busiest moment gave them; after
    /// a burst, hand what is far beyond their contents back to the
    /// allocator, so a quiet room returns near its idle size.
    fn give_back_spare_capacity(&mut self) {
        fn spare(len: usize, capacity: usize) -> bool {
            capacity > 64 && capacity > len * 4
        }
        if spare(self.tokens.len(), self.tokens.capacity()) {
            self.tokens.shrink_to_fit();
        }
        if spare(
            self.register_buckets.len(),
            self.register_buckets.capacity(),
        ) {
            self.register_buckets.shrink_to_fit();
        }
        for peer in self.peers.values_mut() {
            if spare(peer.queue.len(), peer.queue.capacity()) {
                peer.queue.shrink_to_fit();
            }
            if spare(peer.unacked.len(), peer.unacked.capacity()) {
                peer.unacked.shrink_to_fit();
            }
        }
    }

    /// The backlog alarm: a live peer whose oldest waiting message is older
    /// than `--backlog-alarm` while nothing listens for it is flagged, and
    /// the feed says so once (`backlog_alarm`), and once more when it is
    /// heard again (`backlog_clear`), so a console or a script can act.
    pub fn check_backlogs(&mut self) {
        let wall = now_unix();
        let limit = self.config.backlog_alarm.as_secs_f64();
        let mut events = Vec::new();
        for peer in self.peers.values_mut() {
            let oldest = peer.oldest_waiting().map(|t| wall - t);
            let alarm = peer.is_live() && peer.polls == 0 && oldest.is_some_and(|a| a > limit);
            if alarm != peer.alarmed {
                peer.alarmed = alarm;
                events.push(if alarm {
                    log::warn!(
                        "{}: {} message(s) waiting, the oldest {:.0} s, and nothing listens",
                        peer.name,
                        peer.waiting(),
                        oldest.unwrap_or(0.0)
                    );
                    json!({"type": "backlog_alarm", "peer": peer.name, "waiting": peer.waiting(),
                           "oldest_age": oldest.map(age)})
                } else {
                    json!({"type": "backlog_clear", "peer": peer.name})
                });
            }
        }
        if !events.is_empty() {
            self.dirty.peers = true;
        }
        for event in events {
            if event["type"] == "backlog_alarm" {
                let text = format!(
                    "{} has {} message(s) waiting and nothing listens",
                    event["peer"].as_str().unwrap_or("?"),
                    event["waiting"]
                );
                self.notify("backlog_alarm", text, event.clone());
            }
            self.feed.publish(event.to_string());
        }
    }
}
