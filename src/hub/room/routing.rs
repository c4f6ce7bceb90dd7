//! Messages: how one is made, numbered, logged, queued for its recipients
//! and handed out by the long-poll, and how an acknowledgement releases it.

use super::*;
use crate::shared::wire::{Peek, PeekLast, PeekMessage};

impl Room {
    pub(super) fn message(
        &mut self,
        sender: &str,
        recipient: &str,
        content: String,
        kind: Kind,
    ) -> Message {
        let origin = match sender {
            "human" => Origin::Operator,
            "hub" => Origin::Hub,
            _ => Origin::Agent,
        };
        Message {
            id: self.ids.next(),
            sender: sender.to_string(),
            recipient: recipient.to_string(),
            content,
            kind,
            ts: now_unix(),
            seq: 0,
            origin,
            meta: None,
        }
    }

    pub(super) fn remember(&mut self, routed: &Arc<Routed>) {
        self.log.push(&routed.json);
        if let Some(h) = &self.history
            && h.try_send(routed.json.clone()).is_err()
        {
            self.history_dropped += 1;
            if self.history_dropped.is_power_of_two() {
                log::warn!(
                    "history writer is behind: {} message(s) not kept for search",
                    self.history_dropped
                );
            }
        }
        if self.feed.is_empty() {
            self.feed.touch();
        } else {
            self.feed.publish(format!(
                "{{\"type\":\"message\",\"message\":{}}}",
                routed.json
            ));
        }
    }

    /// A notice for the log and the console only: no seq, nobody's queue.
    pub(super) fn notice(&mut self, text: String) {
        log::info!("{text}");
        let msg = self.message("hub", BROADCAST, text, Kind::System);
        let routed = Routed::new(msg, &self.held);
        self.jot(|| json!({"t": "note", "m": routed.msg}));
        self.remember(&routed);
    }

    /// One more agent message with no word from the operator: past
    /// `--loop-guard` of them the room pauses, and the console, the
    /// transcript and (once resumed) the agents are told why.
    fn count_for_loop_guard(&mut self) {
        let limit = self.config.loop_guard;
        if limit == 0 || self.mode != Mode::Running {
            return;
        }
        self.since_human += 1;
        if self.since_human < limit {
            return;
        }
        self.set_mode(Mode::Paused);
        self.since_human = 0;
        let why = format!(
            "loop guard: {limit} agent messages with no word from the operator; the room is \
             paused until the operator resumes it"
        );
        self.feed
            .publish(json!({"type": "loop_guard", "count": limit}).to_string());
        self.notify("loop_guard", why.clone(), json!({"count": limit}));
        let msg = self.message("hub", BROADCAST, why.clone(), Kind::System);
        self.route(msg);
        self.notice(why);
    }

    /// Gives `msg` the next seq, logs it, and queues it for its recipients
    /// (see "Routing" in the spec). Returns the routed message, who got it,
    /// and whose queue was full.
    pub(super) fn route(&mut self, mut msg: Message) -> (Arc<Routed>, Vec<String>, Vec<String>) {
        self.seq += 1;
        msg.seq = self.seq;
        let routed = Routed::new(msg, &self.held);
        let (sender, to) = (routed.msg.sender.as_str(), routed.msg.recipient.as_str());
        let mut delivered = Vec::new();
        let mut full = Vec::new();
        let mut offer = |peer: &mut Peer| {
            if peer.waiting() >= MAX_QUEUE {
                if !peer.full {
                    // Once per episode: a peer that never polls must not
                    // flood the log with one line per message.
                    log::warn!(
                        "queue of {} is full ({MAX_QUEUE}); new messages to it are refused until it polls",
                        peer.name
                    );
                    peer.full = true;
                }
                full.push(peer.name.clone());
                return;
            }
            peer.full = false;
            peer.queue.push_back(Arc::clone(&routed));
            peer.wake.notify_all();
            delivered.push(peer.name.clone());
        };
        if to == BROADCAST {
            self.peers
                .values_mut()
                .filter(|p| p.name != sender)
                .for_each(&mut offer);
        } else if is_channel(to) {
            self.peers
                .values_mut()
                .filter(|p| p.name != sender && p.channels.contains(to))
                .for_each(&mut offer);
        } else if let Some(peer) = self.peers.get_mut(to) {
            offer(peer);
        }
        if let Some(sender) = self.peers.get_mut(&routed.msg.sender) {
            sender.msg_count += 1;
        }
        self.jot(|| json!({"t": "msg", "m": routed.msg, "to": delivered}));
        self.remember(&routed);
        self.recent_routes.add(routed.msg.ts);
        self.write_transcript(&routed, &delivered);
        (routed, delivered, full)
    }

    pub(super) fn write_transcript(&mut self, routed: &Routed, delivered: &[String]) {
        let Some(sink) = &self.transcript else {
            return;
        };
        let m = &routed.msg;
        // The message's own meta (an answer's answers, an interrupt, an
        // approval) rides along; `id` and `delivered_to` are the spec's.
        let mut meta = match &m.meta {
            Some(Value::Object(o)) => o.clone(),
            _ => serde_json::Map::new(),
        };
        meta.insert("id".into(), json!(m.id));
        meta.insert("delivered_to".into(), json!(delivered));
        let line = json!({
            "ts": crate::shared::clock::iso8601(m.ts),
            "seq": m.seq,
            "sender": m.sender,
            "recipient": m.recipient,
            "kind": m.kind,
            "content": m.content,
            "meta": meta,
        })
        .to_string();
        if sink.try_send(line).is_err() {
            self.transcript_dropped += 1;
            if self.transcript_dropped.is_power_of_two() {
                log::warn!(
                    "transcript writer is behind: {} line(s) not written",
                    self.transcript_dropped
                );
            }
        }
    }

    /// A hub notice routed to `scope` so the peers concerned wake up to it.
    pub(super) fn announce(&mut self, scope: &str, text: String) {
        let msg = self.message("hub", scope, text, Kind::System);
        self.route(msg);
    }

    /// `POST /send`. Checks, in the spec's order: values, token, stopped,
    /// floor, bucket.
    pub fn send(&mut self, token: &str, to: &str, content: &str) -> Result<Sent, HubError> {
        check_recipient(to)?;
        check_len("content", content, 1, MAX_CONTENT_CHARS)?;
        let name = self.authenticate(token)?;
        if self.mode == Mode::Stopped {
            return Err(HubError::Stopped);
        }
        if let Some(floor) = self.floors.get(to)
            && floor.holder != name
        {
            return Err(HubError::FloorHeld {
                scope: to.to_string(),
                held_by: floor.holder.clone(),
                reason: (!floor.reason.is_empty()).then(|| floor.reason.clone()),
            });
        }
        self.spend(&name)?;
        // The hub-wide budget: refused with a reason, never trimmed.
        let cost = cost_of(content.len() + name.len() + to.len() + 200);
        if self.held.bytes() + cost > self.config.max_queued_bytes {
            log::warn!("the waiting messages fill --max-queued-mib: a send was refused");
            return Err(HubError::Limit(
                "the hub's memory for waiting messages (--max-queued-mib) is full: \
                 retry once peers have read theirs",
            ));
        }
        if is_channel(to) {
            self.subscribe(&name, to)?;
        }
        let msg = self.message(&name, to, content.to_string(), Kind::Message);
        let (routed, delivered_to, queue_full) = self.route(msg);
        log::debug!("message {} from {name} to {to}", routed.msg.id);
        self.count_for_loop_guard();
        let direct = to != BROADCAST && !is_channel(to);
        let missed = if direct && !self.peers.contains_key(to) {
            vec![to.to_string()]
        } else {
            Vec::new()
        };
        let unheard = self.unheard(&delivered_to);
        Ok(Sent {
            message_id: routed.msg.id.clone(),
            delivered_to,
            queue_full,
            missed,
            unheard,
            ..Sent::default()
        })
    }

    /// Of `names`, those in the room that nothing listens for right now,
    /// with what waits for them.
    fn unheard(&self, names: &[String]) -> Vec<Unheard> {
        let now = now_unix();
        names
            .iter()
            .filter_map(|n| self.peers.get(n))
            .filter(|p| p.polls == 0)
            .map(|p| Unheard {
                peer: p.name.clone(),
                waiting: p.waiting(),
                oldest_age: age(p.oldest_waiting().map_or(0.0, |t| now - t)),
            })
            .collect()
    }

    /// Operator: a message from `human`, never blocked by a floor or a stop.
    pub fn operator_say(&mut self, to: &str, content: &str) -> Result<Sent, HubError> {
        self.since_human = 0;
        check_recipient(to)?;
        check_len("content", content, 1, MAX_CONTENT_CHARS)?;
        if to != BROADCAST && !is_channel(to) && !self.peers.contains_key(to) {
            return Err(HubError::NotFound(format!("no peer named {to:?}")));
        }
        let msg = self.message("human", to, content.to_string(), Kind::Message);
        let (routed, delivered_to, queue_full) = self.route(msg);
        let unheard = self.unheard(&delivered_to);
        Ok(Sent {
            message_id: routed.msg.id.clone(),
            delivered_to,
            queue_full,
            unheard,
            ..Sent::default()
        })
    }

    /// Acknowledges everything up to `seq` for `name`.
    fn apply_ack(&mut self, name: &str, seq: u64) -> Result<(), HubError> {
        let peer = self.peer_mut(name)?;
        peer.acks = true;
        peer.unacked.retain(|m| m.msg.seq > seq);
        self.jot(|| json!({"t": "ack", "p": name, "s": seq}));
        Ok(())
    }

    /// `POST /ack`.
    pub fn ack(&mut self, token: &str, seq: i64) -> Result<(), HubError> {
        let seq = u64::try_from(seq).map_err(|_| HubError::invalid("seq: must be >= 0"))?;
        let name = self.authenticate(token)?;
        self.apply_ack(&name, seq)
    }

    /// Opens a `/receive`: authenticates, applies `ack_seq`, takes the
    /// token's one listening slot, marks the peer as listening. Every
    /// `begin_receive` that succeeds is paired with an `end_receive`.
    ///
    /// One consumer per token: the newest poll takes the slot and the one
    /// it displaces is answered at once (`already_listening`), so one token
    /// cannot hold many connections, and two processes cannot split a
    /// queue. A poll with no `lease` is a lease of its own, so it always
    /// takes the slot; a lease that was displaced is refused.
    pub fn begin_receive(
        &mut self,
        token: &str,
        ack_seq: Option<u64>,
        lease: Option<&str>,
    ) -> Result<Poll, HubError> {
        let name = self.authenticate(token)?;
        if let Some(seq) = ack_seq {
            self.apply_ack(&name, seq)?;
        }
        let peer = self.peer_mut(&name)?;
        if let Some(l) = lease
            && peer.revoked.iter().any(|r| r == l)
        {
            return Err(HubError::AlreadyListening);
        }
        // A poll with no lease is a lease of its own: it always takes the
        // slot. A named lease that already holds it keeps it.
        if lease.is_none() || peer.lease.as_deref() != lease {
            // The slot changes hands: a poll of the old lease still in
            // flight wakes to find it gone, and a named old lease that
            // comes back is refused.
            if let Some(old) = std::mem::replace(&mut peer.lease, lease.map(str::to_string)) {
                if peer.revoked.len() == REVOKED_LEASES {
                    peer.revoked.pop_front();
                }
                peer.revoked.push_back(old);
            }
            peer.lease_turn += 1;
            peer.wake.notify_all();
        }
        let cleared = !peer.acks && !peer.unacked.is_empty();
        if cleared {
            // A client that never acknowledges took what it was handed.
            peer.unacked.clear();
        }
        peer.polls += 1;
        peer.last_listened = Some(Instant::now());
        let poll = Poll {
            name,
            peer_id: peer.id,
            turn: peer.lease_turn,
            wake: Arc::clone(&peer.wake),
        };
        if cleared {
            self.jot(|| json!({"t": "clear", "p": poll.name}));
        }
        Ok(poll)
    }

    /// The bytes of messages [`Room::take`] would hand this poll now (at
    /// most `max_bytes`, at least one message), without taking them: what
    /// its answer reserves from the budget before anything is taken.
    pub fn batch_bytes(&self, poll: &Poll, max_bytes: usize) -> usize {
        let Some(peer) = self.peers.get(&poll.name) else {
            return 0;
        };
        let replayed = if peer.acks { peer.unacked.len() } else { 0 };
        let mut size = 0usize;
        for (i, m) in peer
            .unacked
            .iter()
            .take(replayed)
            .chain(&peer.queue)
            .enumerate()
        {
            if i > 0 && size + m.json.len() > max_bytes {
                break;
            }
            size += m.json.len();
        }
        size
    }

    /// What the poll returns now, or `None` to keep waiting. A batch holds
    /// at most `max_bytes` of encoded messages (always at least one): the
    /// rest stays in order for the next poll, so no answer grows with a
    /// backlog.
    pub fn take(&mut self, poll: &Poll, max_bytes: usize) -> Result<Option<Batch>, HubError> {
        let mode = self.mode;
        if let (Mode::Stopped, Some(stop)) = (mode, &self.stop) {
            return Ok(Some(Batch {
                messages: vec![Arc::clone(stop)],
                mode,
            }));
        }
        let peer = match self.peers.get_mut(&poll.name) {
            Some(p) if p.id == poll.peer_id => p,
            _ => return Err(HubError::UnknownToken),
        };
        if peer.lease_turn != poll.turn {
            return Err(HubError::AlreadyListening);
        }
        let held = mode == Mode::Paused || peer.paused;
        let redeliver = peer.acks && !peer.unacked.is_empty();
        let nothing = held || (!redeliver && peer.queue.is_empty());
        // The operator's interrupt comes first, and through a pause.
        let urgent = self.take_interrupt(&poll.name);
        if nothing {
            return Ok(urgent.map(|u| Batch {
                messages: vec![u],
                mode,
            }));
        }
        let Some(peer) = self.peers.get_mut(&poll.name) else {
            return Err(HubError::UnknownToken);
        };
        let mut messages: Vec<Arc<Routed>> = urgent.into_iter().collect();
        let mut size: usize = messages.iter().map(|m| m.json.len()).sum();
        let fits = |size: usize, m: &Routed, any: bool| !any || size + m.json.len() <= max_bytes;
        let mut full = false;
        if peer.acks {
            for m in &peer.unacked {
                if !fits(size, m, !messages.is_empty()) {
                    full = true;
                    break;
                }
                size += m.json.len();
                messages.push(Arc::clone(m));
            }
        }
        let mut took = 0usize;
        while !full && let Some(m) = peer.queue.front() {
            if !fits(size, m, !messages.is_empty()) {
                break;
            }
            size += m.json.len();
            let Some(m) = peer.queue.pop_front() else {
                break;
            };
            messages.push(Arc::clone(&m));
            peer.unacked.push_back(m);
            took += 1;
        }
        if took > 0 {
            self.jot(|| json!({"t": "take", "p": poll.name, "n": took}));
        }
        Ok(Some(Batch { messages, mode }))
    }

    /// Closes a `/receive` opened by `begin_receive`.
    pub fn end_receive(&mut self, poll: &Poll) {
        if let Some(peer) = self.peers.get_mut(&poll.name)
            && peer.id == poll.peer_id
        {
            peer.polls = peer.polls.saturating_sub(1);
            peer.touch(Instant::now());
            peer.last_listened = Some(Instant::now());
        }
    }

    /// `GET /peek`: what the next poll would hand out, without taking it:
    /// how many, and an excerpt of each (caucus-mcp 5.x's `pending` and
    /// `last`, and ours, `messages`).
    pub fn peek(&mut self, token: &str) -> Result<Peek, HubError> {
        let name = self.authenticate(token)?;
        let peer = self.peer_mut(&name)?;
        let paused = peer.paused;
        let replayed = if peer.acks { peer.unacked.len() } else { 0 };
        let waiting: Vec<&Message> = peer
            .unacked
            .iter()
            .take(replayed)
            .chain(peer.queue.iter())
            .map(|m| &m.msg)
            .collect();
        let excerpt = |m: &Message| {
            let chars = m.content.chars().count();
            let mut text: String = m.content.chars().take(PEEK_CHARS).collect();
            let cut = chars > PEEK_CHARS;
            if cut {
                text.push_str(&format!(" [+{} chars]", chars - PEEK_CHARS));
            }
            (text, cut, chars)
        };
        let last = waiting.last().map(|m| {
            let (preview, preview_truncated, content_chars) = excerpt(m);
            PeekLast {
                sender: m.sender.clone(),
                preview,
                preview_truncated,
                content_chars,
            }
        });
        let messages: Vec<PeekMessage> = waiting
            .iter()
            .map(|m| {
                let (excerpt, excerpt_cut, content_chars) = excerpt(m);
                PeekMessage {
                    seq: m.seq,
                    sender: m.sender.clone(),
                    recipient: m.recipient.clone(),
                    kind: m.kind,
                    excerpt,
                    excerpt_cut,
                    content_chars,
                }
            })
            .collect();
        Ok(Peek {
            pending: waiting.len(),
            last,
            messages: Some(messages),
            mode: Some(self.mode),
            paused: Some(paused),
        })
    }
}
