//! Peers: registration (a name belongs to its token), revival, leaving and
//! kicking, presence (`/ping`), status lines and the send bucket.

use super::*;

impl Room {
    /// The name behind `token`, reviving a reaped record. Refreshes `last_seen`.
    pub(super) fn authenticate(&mut self, token: &str) -> Result<String, HubError> {
        let name = self
            .tokens
            .get(token)
            .ok_or(HubError::UnknownToken)?
            .clone();
        let now = Instant::now();
        let peer = self.peers.get_mut(&name).ok_or(HubError::UnknownToken)?;
        if !same_secret(&peer.token, token) {
            return Err(HubError::UnknownToken);
        }
        peer.touch(now);
        if !peer.is_live() {
            self.revive(&name, now);
        }
        Ok(name)
    }

    pub(super) fn peer_mut(&mut self, name: &str) -> Result<&mut Peer, HubError> {
        self.peers.get_mut(name).ok_or(HubError::UnknownToken)
    }

    fn revive(&mut self, name: &str, now: Instant) {
        let Some(peer) = self.peers.get_mut(name) else {
            return;
        };
        let Life::Reaped { since, .. } = peer.life else {
            return;
        };
        peer.life = Life::Live;
        let cleared = !peer.acks && !peer.unacked.is_empty();
        if cleared {
            peer.unacked.clear();
        }
        self.changed();
        if cleared {
            self.jot(|| json!({"t": "clear", "p": name}));
        }
        let Some(peer) = self.peers.get(name) else {
            return;
        };
        self.dirty.peers = true;
        self.dirty.channels |= !peer.channels.is_empty();
        let replayed = peer.unacked.len();
        let away = now.saturating_duration_since(since).as_secs();
        let away = if away >= 60 {
            format!("{}m {}s", away / 60, away % 60)
        } else {
            format!("{away}s")
        };
        let mut text = format!("{name} reconnected after {away} away");
        if replayed > 0 {
            text.push_str(&format!(" ({replayed} message(s) replayed)"));
        }
        self.announce(BROADCAST, text);
    }

    /// `POST /register`. A name on record (live, or reaped and still within
    /// its grace) goes only to a request that presents its token: a
    /// stranger cannot take a peer's identity in the gap between its polls.
    /// A rejoin with the token never spends the address's bucket, so a
    /// crowd of strangers cannot keep a known agent out.
    pub fn register(
        &mut self,
        project: &str,
        token: Option<&str>,
        from: Option<IpAddr>,
    ) -> Result<Registered, HubError> {
        check_name(project)?;
        let now = Instant::now();
        if let Some(peer) = self.peers.get_mut(project) {
            if !token.is_some_and(|t| same_secret(t, &peer.token)) {
                let listening = peer.polls > 0;
                if listening {
                    self.notice(format!(
                        "{project} tried to join again while its listener is live: refused"
                    ));
                } else {
                    log::info!("registration as {project} without its token: refused");
                }
                return Err(HubError::NameInUse {
                    project: project.to_string(),
                    listening,
                });
            }
            peer.touch(now);
            if !peer.is_live() {
                self.revive(project, now);
            }
            return Ok(self.registered(project));
        }
        // `from` is `None` for the hub's own `/mcp` joins, which its MCP
        // session cap bounds: they never drain the loopback bucket that
        // local agents share.
        if self.config.rate_limit
            && let Some(from) = from
        {
            let bucket = self
                .register_buckets
                .entry(from)
                .or_insert_with(|| Bucket::new(self.config.register_bucket, now));
            bucket.spend(now).map_err(HubError::RateLimited)?;
        }
        if let Some(other) = self.lookalike(project) {
            return Err(HubError::invalid(format!(
                "project: {project:?} looks like {other:?}, already in the room; choose a \
                 name that cannot be mistaken for it"
            )));
        }
        if self.peers.len() >= self.config.max_peers {
            return Err(HubError::Limit("client limit reached"));
        }
        let token = new_token().map_err(|e| {
            log::error!("cannot read the OS random generator: {e}");
            HubError::NoRandomness
        })?;
        let id = self.next_peer_id;
        self.next_peer_id += 1;
        let peer = Peer::new(id, project, &token, self.config.send_bucket, now);
        self.peers.insert(project.to_string(), peer);
        self.tokens.insert(token.clone(), project.to_string());
        self.changed();
        self.dirty.peers = true;
        self.notice(format!("{project} joined"));
        Ok(Registered {
            token,
            project: project.to_string(),
        })
    }

    fn registered(&self, project: &str) -> Registered {
        let token = self
            .peers
            .get(project)
            .map(|p| p.token.clone())
            .unwrap_or_default();
        Registered {
            token,
            project: project.to_string(),
        }
    }

    /// A name on record that `name` could be mistaken for, if any.
    fn lookalike(&self, name: &str) -> Option<&str> {
        let skeleton = names::skeleton(name);
        self.peers
            .keys()
            .find(|other| *other != name && names::skeleton(other) == skeleton)
            .map(String::as_str)
    }

    /// Removes a record for good: its token dies, its polls wake to a 401.
    pub(super) fn forget(&mut self, name: &str) -> Option<Peer> {
        self.changed();
        let peer = self.peers.remove(name)?;
        self.tokens.remove(&peer.token);
        peer.wake.notify_all();
        self.dirty.peers = true;
        if !peer.channels.is_empty() {
            self.prune_topics();
            self.dirty.channels = true;
        }
        Some(peer)
    }

    /// Takes a peer off the roster: `reason` is "left", "kicked by operator".
    fn drop_peer(&mut self, name: &str, reason: &str) {
        if self.forget(name).is_some() {
            self.notice(format!("{name} {reason}"));
            self.relinquish_floors(name);
            // Its tool calls waiting for the operator go back to its host.
            self.expire_approvals(now_unix());
        }
    }

    /// `POST /leave`.
    pub fn leave(&mut self, token: &str) -> Result<String, HubError> {
        let name = self
            .tokens
            .get(token)
            .ok_or(HubError::UnknownToken)?
            .clone();
        let known = self
            .peers
            .get(&name)
            .is_some_and(|p| same_secret(&p.token, token));
        if !known {
            return Err(HubError::UnknownToken);
        }
        self.drop_peer(&name, "left");
        Ok(name)
    }

    /// Operator: removes a live peer for good.
    pub fn kick(&mut self, name: &str) -> Result<(), HubError> {
        if !self.peers.get(name).is_some_and(Peer::is_live) {
            return Err(HubError::NotFound(format!("no live peer named {name:?}")));
        }
        self.drop_peer(name, "kicked by operator");
        Ok(())
    }

    /// The operator ended `name`'s process (its seat): it leaves the room
    /// as by `leave`, said with `why`. Nothing when it is not in the room.
    pub fn dismiss(&mut self, name: &str, why: &str) {
        if self.peers.get(name).is_some_and(Peer::is_live) {
            self.drop_peer(name, why);
        }
    }

    /// Sorted names of live peers.
    pub fn peers(&self) -> Vec<String> {
        self.peers
            .values()
            .filter(|p| p.is_live())
            .map(|p| p.name.clone())
            .collect()
    }

    /// `GET /ping?peer=NAME`.
    pub fn ping(&self, name: &str) -> Value {
        let now = Instant::now();
        let wall = now_unix();
        let Some(peer) = self.peers.get(name) else {
            return json!({"peer": name, "state": "absent", "present": false});
        };
        let seen = age(now.saturating_duration_since(peer.last_seen).as_secs_f64());
        let status_age = peer.status_at.map(|t| age(wall - t));
        let mut answer = match peer.life {
            Life::Live => json!({
                "peer": name,
                "state": "live",
                "present": true,
                "last_seen_age": seen,
                "status": peer.status,
                "status_age": status_age,
            }),
            Life::Reaped { since, .. } => json!({
                "peer": name,
                "state": "reaped",
                "present": false,
                "last_seen_age": seen,
                "reaped_age": age(now.saturating_duration_since(since).as_secs_f64()),
                "status": peer.status,
                "status_age": status_age,
            }),
        };
        // Ours besides caucus-mcp's: who hears it, and what waits.
        if let (Value::Object(a), Value::Object(h)) = (&mut answer, peer.hearing(now, wall)) {
            a.extend(h);
        }
        answer
    }

    /// `GET /peers?detail=1`: every live peer with what `ping` says of it.
    pub fn peer_details(&self) -> Vec<Value> {
        self.peers
            .values()
            .filter(|p| p.is_live())
            .map(|p| self.ping(&p.name))
            .collect()
    }

    /// `POST /status`.
    pub fn set_status(&mut self, token: &str, status: &str) -> Result<Option<String>, HubError> {
        check_len("status", status, 0, MAX_STATUS_CHARS)?;
        let name = self.authenticate(token)?;
        self.spend(&name)?;
        self.changed();
        self.dirty.peers = true;
        let peer = self.peer_mut(&name)?;
        let cleaned = status.trim();
        if cleaned.is_empty() {
            peer.status = None;
            peer.status_at = None;
        } else {
            peer.status = Some(cleaned.to_string());
            peer.status_at = Some(now_unix());
        }
        Ok(peer.status.clone())
    }

    /// Spends one token of `name`'s send bucket.
    /// Operator: the per-sender rate limit, changed while the room runs
    /// (not kept across a restart: the flags are). `burst` 1 to 10,000,
    /// `per_second` above 0 up to 1,000; what is left out stays.
    pub fn set_rate_limit(
        &mut self,
        enabled: Option<bool>,
        burst: Option<f64>,
        per_second: Option<f64>,
    ) -> Result<Value, HubError> {
        if let Some(b) = burst
            && !(b.is_finite() && (1.0..=10_000.0).contains(&b))
        {
            return Err(HubError::invalid("burst: a number from 1 to 10000"));
        }
        if let Some(r) = per_second
            && !(r.is_finite() && r > 0.0 && r <= 1_000.0)
        {
            return Err(HubError::invalid(
                "per_second: a number above 0, at most 1000",
            ));
        }
        if enabled.is_none() && burst.is_none() && per_second.is_none() {
            return Err(HubError::invalid(
                "set_rate_limit needs enabled, burst or per_second",
            ));
        }
        if let Some(e) = enabled {
            self.config.rate_limit = e;
        }
        let (capacity, refill) = (
            burst.unwrap_or(self.config.send_bucket.0),
            per_second.unwrap_or(self.config.send_bucket.1),
        );
        self.config.send_bucket = (capacity, refill);
        let now = Instant::now();
        for peer in self.peers.values_mut() {
            peer.bucket.refill(now);
            peer.bucket.capacity = capacity;
            peer.bucket.refill = refill;
            peer.bucket.tokens = peer.bucket.tokens.min(capacity);
        }
        let answer = self.rate_limit();
        self.feed
            .publish(json!({"type": "rate_limit", "rate_limit": answer}).to_string());
        self.notice(format!(
            "rate limit {}: {capacity} at once, {refill} per second",
            if self.config.rate_limit { "on" } else { "off" }
        ));
        Ok(answer)
    }

    /// The per-sender limit now: on or off, burst and refill per second.
    pub fn rate_limit(&self) -> Value {
        let (burst, per_second) = self.config.send_bucket;
        json!({"enabled": self.config.rate_limit, "burst": burst, "per_second": per_second})
    }

    pub(super) fn spend(&mut self, name: &str) -> Result<(), HubError> {
        if !self.config.rate_limit {
            return Ok(());
        }
        let peer = self.peer_mut(name)?;
        peer.bucket
            .spend(Instant::now())
            .map_err(HubError::RateLimited)
    }
}
