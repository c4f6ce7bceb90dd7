//! The room: every peer, queue, channel, floor, form, the log and the control
//! mode, and every rule that changes them.
//!
//! `Room` lives behind one `Mutex` in the hub. Each change is a method named
//! for what it does in the room (`register`, `send`, `take_floor`); HTTP
//! handlers parse, call one of these, and render what comes back.
//!
//! **Invariant:** only this module mutates room state. It does no I/O of its
//! own: the transcript gets lines through a bounded channel, and long-polls
//! sleep on a per-peer `Condvar` outside of it (see `Poll`).
//!
//! **Invariant:** every change the console shows reaches the feed: messages,
//! mode and forms are published as they happen; roster, channel and floor
//! changes mark the room dirty and `flush_events` publishes them once per
//! locked operation (the hub's lock guard calls it on release).
//!
//! **Invariant:** a message accepted by `send` is either queued for each of its
//! recipients or named in `Sent::queue_full`; it is never dropped in silence.
//! A queued message leaves a peer's record only when the peer acknowledges it
//! (`ack`), or, for a client that has never acknowledged anything, when it
//! polls again after receiving it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod durable;
mod names;

pub use names::{check_channel, check_name};

use super::auth::{new_token, os_random, same_secret};
use super::error::HubError;
use super::feed::{Events, Feed};
use crate::clock::now_unix;
use crate::wire::{
    BROADCAST, Field, FieldType, Form, Kind, MAX_CONTENT_CHARS, MAX_NAME_CHARS, MAX_REASON_CHARS,
    MAX_STATUS_CHARS, MAX_TOPIC_CHARS, Message, Mode, Origin, is_channel,
};

/// Messages kept for the console snapshot and `/export`.
pub const LOG_CAPACITY: usize = 500;
/// Peer records (live and reaped) the room holds at most, by default.
pub const MAX_RECORDS: usize = 512;
/// Channels one peer may belong to at once.
pub const MAX_CHANNELS_PER_PEER: usize = 64;
/// Pending operator forms at once.
pub const MAX_FORMS: usize = 256;
/// Raised hands queued behind one floor.
pub const MAX_HANDS: usize = 128;
/// Messages one peer may have waiting: queued plus handed out but unacknowledged.
pub const MAX_QUEUE: usize = 1000;

/// The per-sender bucket of the spec: 5 calls, refilled at 0.5 per second.
pub const SEND_BUCKET: (f64, f64) = (5.0, 0.5);
/// The per-address `/register` bucket: 20 registrations, refilled at 1 per second.
pub const REGISTER_BUCKET: (f64, f64) = (20.0, 1.0);

/// Settings the room's rules depend on.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// A peer idle this long is reaped.
    pub client_ttl: Duration,
    /// A reaped peer may be revived for this long.
    pub reaped_grace: Duration,
    /// Per-sender and per-address rate limits; off for trusted rooms and benchmarks.
    pub rate_limit: bool,
    /// Bytes all waiting messages may take together (`--max-queued-mib`).
    pub max_queued_bytes: usize,
    /// Peer records (live and reaped) at most.
    pub max_peers: usize,
    /// The per-sender bucket: capacity and refill per second.
    pub send_bucket: (f64, f64),
    /// The per-address `/register` bucket: capacity and refill per second.
    pub register_bucket: (f64, f64),
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            client_ttl: Duration::from_secs(300),
            reaped_grace: Duration::from_secs(1800),
            rate_limit: true,
            max_queued_bytes: MAX_QUEUED_BYTES,
            max_peers: MAX_RECORDS,
            send_bucket: SEND_BUCKET,
            register_bucket: REGISTER_BUCKET,
        }
    }
}

/// The memory all waiting messages may take together, by default.
pub const MAX_QUEUED_BYTES: usize = 256 << 20;

/// The bytes held by routed messages still alive, whoever holds them (a
/// queue, an unacknowledged list, a poll's answer being written). Each
/// message adds its cost when routed and gives it back when the last
/// holder lets go (`Drop`), so the count is exact however many queues
/// share one message.
#[derive(Clone, Debug, Default)]
pub struct Held(Arc<AtomicUsize>);

impl Held {
    pub fn bytes(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A routed message with its JSON encoded once, however many queues hold it.
#[derive(Debug)]
pub struct Routed {
    pub msg: Message,
    pub json: String,
    cost: usize,
    held: Held,
}

impl Drop for Routed {
    fn drop(&mut self) {
        self.held.0.fetch_sub(self.cost, Ordering::Relaxed);
    }
}

/// What a message of `json_len` bytes costs in memory: its JSON, the
/// parsed fields beside it (about as large), and the record itself.
fn cost_of(json_len: usize) -> usize {
    2 * json_len + 256
}

impl Routed {
    fn new(msg: Message, held: &Held) -> Arc<Routed> {
        // Serialising a `Message` cannot fail: every field is a string, a
        // number, an enum or a JSON value, and no map has non-string keys.
        let mut json = serde_json::to_string(&msg).unwrap_or_default();
        // The encoder grows its buffer by doubling: up to half of it would
        // be spare, for as long as any queue holds the message.
        json.shrink_to_fit();
        let cost = cost_of(json.len());
        held.0.fetch_add(cost, Ordering::Relaxed);
        Arc::new(Routed {
            msg,
            json,
            cost,
            held: held.clone(),
        })
    }
}

/// The log: the last `LOG_CAPACITY` messages as their JSON text, kept in
/// one buffer rather than one allocation per message. Long-lived small
/// allocations made during a busy spell end up scattered over the heap and
/// keep every page they sit on resident after the spell; one buffer keeps
/// the log in a single place.
#[derive(Debug, Default)]
struct LogRing {
    text: String,
    /// Where each entry is in `text`, oldest first.
    spans: VecDeque<(usize, usize)>,
}

impl LogRing {
    fn push(&mut self, json: &str) {
        if self.spans.len() == LOG_CAPACITY {
            self.spans.pop_front();
        }
        let first = self.spans.front().map_or(self.text.len(), |s| s.0);
        if first > 0 && first >= self.text.len() / 2 {
            // Most of the buffer is entries that left: copy the rest down.
            let mut text = String::with_capacity((self.text.len() - first + json.len()) * 2);
            text.push_str(&self.text[first..]);
            for span in &mut self.spans {
                span.0 -= first;
            }
            self.text = text;
        }
        self.spans.push_back((self.text.len(), json.len()));
        self.text.push_str(json);
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans
            .iter()
            .map(|&(at, len)| self.text.get(at..at + len).unwrap_or_default())
    }

    /// The entries as messages (for exports and snapshots).
    fn messages(&self) -> Vec<Message> {
        self.iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect()
    }
}

/// Messages routed in each of the last 60 seconds: the console's rate, in
/// constant memory however busy the room gets.
#[derive(Debug)]
struct RouteRate {
    counts: [u32; 60],
    /// The Unix second each slot counts.
    seconds: [u64; 60],
}

impl Default for RouteRate {
    fn default() -> Self {
        RouteRate {
            counts: [0; 60],
            seconds: [0; 60],
        }
    }
}

impl RouteRate {
    fn add(&mut self, now_unix: f64) {
        let second = now_unix as u64;
        let i = (second % 60) as usize;
        if self.seconds[i] != second {
            self.seconds[i] = second;
            self.counts[i] = 0;
        }
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Messages routed in the minute up to `now_unix`.
    fn last_minute(&self, now_unix: f64) -> usize {
        let now = now_unix as u64;
        (0..60)
            .filter(|&i| self.seconds[i] <= now && now - self.seconds[i] < 60)
            .map(|i| self.counts[i] as usize)
            .sum()
    }
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    refill: f64,
    updated: Instant,
}

impl Bucket {
    fn new((capacity, refill): (f64, f64), now: Instant) -> Self {
        Bucket {
            tokens: capacity,
            capacity,
            refill,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.refill).min(self.capacity);
        self.updated = now;
    }

    /// Spends one token, or says how long to wait (seconds, 2 decimals).
    fn spend(&mut self, now: Instant) -> Result<(), f64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.refill;
            Err((wait * 100.0).ceil() / 100.0)
        }
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// Whether a peer is on the roster or waiting in the revival graveyard.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Life {
    Live,
    Reaped { since: Instant, wall: f64 },
}

/// One agent's record.
#[derive(Debug)]
struct Peer {
    /// Distinguishes this record from a later one under the same name.
    id: u64,
    name: String,
    token: String,
    life: Life,
    queue: VecDeque<Arc<Routed>>,
    /// Handed out by `/receive`, not yet acknowledged; oldest first.
    unacked: VecDeque<Arc<Routed>>,
    /// Set once the client acknowledges anything: from then on it gets
    /// unacknowledged messages again on every poll until it acks them.
    acks: bool,
    channels: BTreeSet<String>,
    bucket: Bucket,
    status: Option<String>,
    status_at: Option<f64>,
    last_seen: Instant,
    last_seen_wall: f64,
    joined: Instant,
    msg_count: u64,
    paused: bool,
    /// `/receive` calls in flight.
    polls: u32,
    /// Who holds the one listening slot of this token: the named lease of
    /// the newest `/receive` (`None` for a poll that named none), and a
    /// count that moves each time the slot changes hands, so a displaced
    /// poll knows it was displaced.
    lease: Option<String>,
    lease_turn: u64,
    /// Leases displaced lately, refused if they come back (as caucus-mcp
    /// 5.x does: a displaced consumer must stop, not take the slot back).
    revoked: VecDeque<String>,
    /// Its queue was found full (reported once until it drains).
    full: bool,
    wake: Arc<Condvar>,
}

impl Peer {
    fn is_live(&self) -> bool {
        self.life == Life::Live
    }

    fn waiting(&self) -> usize {
        self.queue.len() + self.unacked.len()
    }

    fn touch(&mut self, now: Instant) {
        self.last_seen = now;
        self.last_seen_wall = now_unix();
    }
}

/// A talking stick on one scope.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Floor {
    holder: String,
    reason: String,
    hands: Vec<String>,
    since: f64,
}

/// Message ids: 12 hex characters from a generator seeded by the OS.
#[derive(Debug)]
struct Ids(u64);

impl Ids {
    fn new() -> Self {
        let seed = os_random(8)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or_else(|| now_unix().to_bits());
        Ids(seed | 1)
    }

    /// xorshift64*: ids need to be unique and unguessable enough to not
    /// collide, not secret.
    fn next(&mut self) -> String {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        format!("{:012x}", x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 16)
    }
}

/// What `register` hands back.
#[derive(Debug)]
pub struct Registered {
    pub token: String,
    pub project: String,
}

/// What `send` hands back.
#[derive(Debug)]
pub struct Sent {
    pub message_id: String,
    pub delivered_to: Vec<String>,
    /// Recipients whose queue was full: the message was not queued for them.
    pub queue_full: Vec<String>,
}

/// Displaced leases a peer remembers, and refuses.
const REVOKED_LEASES: usize = 16;
/// The longest lease id a client may choose.
pub const MAX_LEASE_CHARS: usize = 64;

/// A `/receive` in flight. The handler waits on `wake` with the room's mutex
/// and asks `Room::take` again each time it wakes.
#[derive(Debug)]
pub struct Poll {
    name: String,
    peer_id: u64,
    /// The peer's `lease_turn` when this poll took the slot.
    turn: u64,
    pub wake: Arc<Condvar>,
}

/// What a poll returns.
#[derive(Debug)]
pub struct Batch {
    pub messages: Vec<Arc<Routed>>,
    pub mode: Mode,
}

/// Every piece of the room's state. See the module docs.
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    /// Live and reaped peers, by name: a name has at most one record.
    peers: BTreeMap<String, Peer>,
    /// Token to name, for every record in `peers`.
    tokens: HashMap<String, String>,
    next_peer_id: u64,
    mode: Mode,
    /// The stop control every poll returns while the room is stopped.
    stop: Option<Arc<Routed>>,
    seq: u64,
    ids: Ids,
    log: LogRing,
    topics: BTreeMap<String, String>,
    floors: BTreeMap<String, Floor>,
    forms: Vec<Form>,
    register_buckets: HashMap<IpAddr, Bucket>,
    /// Wall times of messages routed in the last minute.
    recent_routes: RouteRate,
    transcript: Option<SyncSender<String>>,
    transcript_dropped: u64,
    feed: Feed,
    dirty: Dirty,
    started: Instant,
    /// What routed messages hold in memory now.
    held: Held,
    /// `--data-dir`: where every change is recorded (see `durable`).
    journal: Option<super::journal::Journal>,
    /// Something in the journal's `meta` changed since it was last written.
    meta_changed: bool,
}

/// What changed since the feed last heard, to publish once.
#[derive(Debug, Default)]
struct Dirty {
    peers: bool,
    channels: bool,
    floors: bool,
}

/// Room figures for the console's health panel.
#[derive(Debug, serde::Serialize)]
pub struct Health {
    pub uptime: f64,
    pub peer_count: usize,
    pub msg_per_min: usize,
    pub queue_depth: usize,
    pub mem_rss_mb: f64,
    /// Memory held by waiting messages, MiB (against `--max-queued-mib`).
    pub queued_mib: f64,
    /// Consoles watching.
    pub consoles: usize,
}

/// Resident memory of this process in MiB, from `/proc/self/statm`.
pub fn resident_mib() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (pages * 4096.0 / (1024.0 * 1024.0) * 10.0).round() / 10.0
}

/// Seconds rounded to one decimal, as `/ping` reports ages.
fn age(secs: f64) -> f64 {
    (secs.max(0.0) * 10.0).round() / 10.0
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Checks a recipient: `all`, a channel, or something that could be a peer name.
fn check_recipient(to: &str) -> Result<(), HubError> {
    if to == BROADCAST {
        return Ok(());
    }
    if to.starts_with('#') {
        return check_channel("to", to);
    }
    let n = chars(to);
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(HubError::invalid(format!(
            "to: must be 1..{MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), HubError> {
    let n = chars(value);
    if n < min || n > max {
        return Err(HubError::invalid(format!(
            "{field}: must be {min}..{max} characters"
        )));
    }
    Ok(())
}

fn check_fields(fields: &[Field]) -> Result<(), HubError> {
    if fields.is_empty() || fields.len() > 20 {
        return Err(HubError::invalid("fields: a form has 1..20 fields"));
    }
    let mut keys = BTreeSet::new();
    for (i, f) in fields.iter().enumerate() {
        check_len(&format!("fields[{i}].key"), &f.key, 1, 64)?;
        check_len(&format!("fields[{i}].label"), &f.label, 1, 200)?;
        if !keys.insert(f.key.as_str()) {
            return Err(HubError::invalid(format!(
                "fields[{i}].key: {:?} is used twice",
                f.key
            )));
        }
        if f.options.len() > 32 {
            return Err(HubError::invalid(format!(
                "fields[{i}].options: at most 32"
            )));
        }
        for opt in &f.options {
            check_len(&format!("fields[{i}].options"), opt, 0, 200)?;
        }
        let choice = matches!(f.kind, FieldType::Radio | FieldType::Checkbox);
        if choice && f.options.is_empty() {
            return Err(HubError::invalid(format!(
                "fields[{i}].options: a choice field needs at least one option"
            )));
        }
        if !choice && !f.options.is_empty() {
            return Err(HubError::invalid(format!(
                "fields[{i}].options: a text field takes no options"
            )));
        }
    }
    Ok(())
}

impl Room {
    pub fn new(config: RoomConfig) -> Self {
        Room {
            config,
            peers: BTreeMap::new(),
            tokens: HashMap::new(),
            next_peer_id: 1,
            mode: Mode::Running,
            stop: None,
            seq: 0,
            ids: Ids::new(),
            log: LogRing::default(),
            topics: BTreeMap::new(),
            floors: BTreeMap::new(),
            forms: Vec::new(),
            register_buckets: HashMap::new(),
            recent_routes: RouteRate::default(),
            transcript: None,
            transcript_dropped: 0,
            feed: Feed::default(),
            dirty: Dirty::default(),
            started: Instant::now(),
            journal: None,
            meta_changed: false,
            held: Held::default(),
        }
    }

    /// Sends every routed message, as a JSONL transcript line, to `sink`.
    pub fn set_transcript(&mut self, sink: SyncSender<String>) {
        self.transcript = Some(sink);
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    // ---- messages ------------------------------------------------------

    fn message(&mut self, sender: &str, recipient: &str, content: String, kind: Kind) -> Message {
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

    fn remember(&mut self, routed: &Arc<Routed>) {
        self.log.push(&routed.json);
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
    fn notice(&mut self, text: String) {
        log::info!("{text}");
        let msg = self.message("hub", BROADCAST, text, Kind::System);
        let routed = Routed::new(msg, &self.held);
        self.jot(|| json!({"t": "note", "m": routed.msg}));
        self.remember(&routed);
    }

    /// Gives `msg` the next seq, logs it, and queues it for its recipients
    /// (see "Routing" in the spec). Returns the routed message, who got it,
    /// and whose queue was full.
    fn route(&mut self, mut msg: Message) -> (Arc<Routed>, Vec<String>, Vec<String>) {
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

    fn write_transcript(&mut self, routed: &Routed, delivered: &[String]) {
        let Some(sink) = &self.transcript else {
            return;
        };
        let m = &routed.msg;
        let line = json!({
            "ts": crate::clock::iso8601(m.ts),
            "seq": m.seq,
            "sender": m.sender,
            "recipient": m.recipient,
            "kind": m.kind,
            "content": m.content,
            "meta": {"id": m.id, "delivered_to": delivered},
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
    fn announce(&mut self, scope: &str, text: String) {
        let msg = self.message("hub", scope, text, Kind::System);
        self.route(msg);
    }

    // ---- peers ---------------------------------------------------------

    /// The name behind `token`, reviving a reaped record. Refreshes `last_seen`.
    fn authenticate(&mut self, token: &str) -> Result<String, HubError> {
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

    fn peer_mut(&mut self, name: &str) -> Result<&mut Peer, HubError> {
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
        from: IpAddr,
    ) -> Result<Registered, HubError> {
        check_name(project)?;
        let now = Instant::now();
        if let Some(peer) = self.peers.get_mut(project) {
            if !token.is_some_and(|t| same_secret(t, &peer.token)) {
                if peer.polls > 0 {
                    self.notice(format!(
                        "{project} tried to join again while its listener is live: refused"
                    ));
                } else {
                    log::info!("registration as {project} without its token: refused");
                }
                return Err(HubError::NameInUse {
                    project: project.to_string(),
                });
            }
            peer.touch(now);
            if !peer.is_live() {
                self.revive(project, now);
            }
            return Ok(self.registered(project));
        }
        if self.config.rate_limit {
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
            HubError::Limit("the hub cannot mint tokens right now")
        })?;
        let id = self.next_peer_id;
        self.next_peer_id += 1;
        let wall = now_unix();
        let peer = Peer {
            id,
            name: project.to_string(),
            token: token.clone(),
            life: Life::Live,
            queue: VecDeque::new(),
            unacked: VecDeque::new(),
            acks: false,
            channels: BTreeSet::new(),
            bucket: Bucket::new(self.config.send_bucket, now),
            status: None,
            status_at: None,
            last_seen: now,
            last_seen_wall: wall,
            joined: now,
            msg_count: 0,
            paused: false,
            polls: 0,
            lease: None,
            lease_turn: 0,
            revoked: VecDeque::new(),
            full: false,
            wake: Arc::new(Condvar::new()),
        };
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
    fn forget(&mut self, name: &str) -> Option<Peer> {
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
        match peer.life {
            Life::Live => json!({
                "peer": name,
                "state": "live",
                "present": true,
                "last_seen_age": seen,
                "listening": peer.polls > 0,
                "status": peer.status,
                "status_age": status_age,
            }),
            Life::Reaped { since, .. } => json!({
                "peer": name,
                "state": "reaped",
                "present": false,
                "last_seen_age": seen,
                "reaped_age": age(now.saturating_duration_since(since).as_secs_f64()),
                "listening": false,
                "status": peer.status,
                "status_age": status_age,
            }),
        }
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
    fn spend(&mut self, name: &str) -> Result<(), HubError> {
        if !self.config.rate_limit {
            return Ok(());
        }
        let peer = self.peer_mut(name)?;
        peer.bucket
            .spend(Instant::now())
            .map_err(HubError::RateLimited)
    }

    // ---- sending and receiving -----------------------------------------

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
        Ok(Sent {
            message_id: routed.msg.id.clone(),
            delivered_to,
            queue_full,
        })
    }

    /// Operator: a message from `human`, never blocked by a floor or a stop.
    pub fn operator_say(&mut self, to: &str, content: &str) -> Result<Sent, HubError> {
        check_recipient(to)?;
        check_len("content", content, 1, MAX_CONTENT_CHARS)?;
        if to != BROADCAST && !is_channel(to) && !self.peers.contains_key(to) {
            return Err(HubError::NotFound(format!("no peer named {to:?}")));
        }
        let msg = self.message("human", to, content.to_string(), Kind::Message);
        let (routed, delivered_to, queue_full) = self.route(msg);
        Ok(Sent {
            message_id: routed.msg.id.clone(),
            delivered_to,
            queue_full,
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

    /// What the poll returns now, or `None` to keep waiting.
    pub fn take(&mut self, poll: &Poll) -> Result<Option<Batch>, HubError> {
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
        if mode == Mode::Paused || peer.paused {
            return Ok(None);
        }
        let redeliver = peer.acks && !peer.unacked.is_empty();
        if !redeliver && peer.queue.is_empty() {
            return Ok(None);
        }
        let mut messages: Vec<Arc<Routed>> = if peer.acks {
            peer.unacked.iter().cloned().collect()
        } else {
            Vec::new()
        };
        messages.reserve(peer.queue.len());
        let took = !peer.queue.is_empty();
        for m in peer.queue.drain(..) {
            messages.push(Arc::clone(&m));
            peer.unacked.push_back(m);
        }
        if took {
            self.jot(|| json!({"t": "take", "p": poll.name}));
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
        }
    }

    // ---- channels ------------------------------------------------------

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

    fn prune_topics(&mut self) {
        let live: BTreeSet<String> = self
            .peers
            .values()
            .flat_map(|p| p.channels.iter().cloned())
            .collect();
        self.topics.retain(|ch, _| live.contains(ch));
    }

    fn subscribe(&mut self, name: &str, channel: &str) -> Result<(), HubError> {
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

    // ---- floors --------------------------------------------------------

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
        action: &str,
        scope: &str,
        reason: &str,
    ) -> Result<Value, HubError> {
        if scope != BROADCAST {
            check_channel("scope", scope)
                .map_err(|_| HubError::invalid("scope: must be \"all\" or a #channel"))?;
        }
        check_len("reason", reason, 0, MAX_REASON_CHARS)?;
        if !matches!(action, "take" | "raise" | "lower" | "pass" | "drop") {
            return Err(HubError::UnknownAction(action.to_string()));
        }
        let name = self.authenticate(token)?;
        // Every verb may change a floor; the record is written once, after.
        self.changed();
        self.dirty.floors = true;
        match action {
            "take" => self.take_floor(&name, scope, reason),
            "raise" => self.raise_hand(&name, scope),
            "lower" => Ok(self.lower_hand(&name, scope)),
            "pass" => Ok(self.pass_floor(&name, scope)),
            _ => Ok(self.drop_floor(&name, scope)),
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

    fn take_floor(&mut self, name: &str, scope: &str, reason: &str) -> Result<Value, HubError> {
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

    fn release_floor(&mut self, scope: &str, by: &str, why: &str) {
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
    fn relinquish_floor(&mut self, scope: &str, name: &str) {
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

    fn relinquish_floors(&mut self, name: &str) {
        let scopes: Vec<String> = self.floors.keys().cloned().collect();
        for scope in scopes {
            self.relinquish_floor(&scope, name);
        }
    }

    // ---- forms ---------------------------------------------------------

    /// `POST /ask`. Checks values, token, stopped, bucket, target, in that order.
    pub fn ask(
        &mut self,
        token: &str,
        to: &str,
        title: &str,
        fields: Vec<Field>,
    ) -> Result<(String, String), HubError> {
        check_len("title", title, 1, 200)?;
        check_fields(&fields)?;
        check_len("to", to, 1, MAX_NAME_CHARS)?;
        let name = self.authenticate(token)?;
        if self.mode == Mode::Stopped {
            return Err(HubError::Stopped);
        }
        self.spend(&name)?;
        if to != BROADCAST {
            check_channel("to", to)
                .map_err(|_| HubError::invalid("form target must be 'all' or a #channel"))?;
        }
        if self.forms.len() >= MAX_FORMS {
            return Err(HubError::Limit("pending form limit reached"));
        }
        if is_channel(to) {
            self.subscribe(&name, to)?;
        }
        let form = Form {
            id: self.ids.next(),
            title: title.to_string(),
            asker: name.clone(),
            to: to.to_string(),
            fields,
            status: "pending".to_string(),
            answers: None,
            ts: now_unix(),
            seq: 0,
        };
        let id = form.id.clone();
        self.feed
            .publish(json!({"type": "form", "form": form}).to_string());
        self.forms.push(form);
        // After the change: the notice's record carries a meta that has it.
        self.changed();
        self.notice(format!("{name} asks the operator: \"{title}\" (for {to})"));
        Ok((id, to.to_string()))
    }

    /// `GET /forms`: pending forms, oldest first.
    pub fn forms(&self) -> &[Form] {
        &self.forms
    }

    fn take_form(&mut self, id: &str) -> Result<Form, HubError> {
        let i = self
            .forms
            .iter()
            .position(|f| f.id == id)
            .ok_or_else(|| HubError::NotFound(format!("no pending form {id:?}")))?;
        Ok(self.forms.remove(i))
    }

    /// Operator: answers a pending form; the answer goes to its audience.
    pub fn answer_form(
        &mut self,
        id: &str,
        answers: serde_json::Map<String, Value>,
    ) -> Result<Value, HubError> {
        self.changed();
        let form = self
            .forms
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| HubError::NotFound(format!("no pending form {id:?}")))?;
        for key in answers.keys() {
            if !form.fields.iter().any(|f| &f.key == key) {
                return Err(HubError::invalid(format!("answers: no field {key:?}")));
            }
        }
        let mut recap = format!("The operator answered \"{}\":", form.title);
        for field in &form.fields {
            let value = answers.get(&field.key);
            let shown = match value {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(other) => other.to_string(),
            };
            if field.required && shown.trim().is_empty() {
                return Err(HubError::invalid(format!(
                    "answers: {:?} is required",
                    field.key
                )));
            }
            let shown = if shown.is_empty() {
                "(no answer)"
            } else {
                &shown
            };
            recap.push_str(&format!("\n- {}: {shown}", field.label));
        }
        let form = self.take_form(id)?;
        let answers = Value::Object(answers);
        self.resolve_form(&form, recap, "answered", answers.clone());
        Ok(answers)
    }

    /// Operator: cancels a pending form and tells its audience.
    pub fn cancel_form(&mut self, id: &str) -> Result<(), HubError> {
        self.changed();
        let form = self.take_form(id)?;
        let text = format!("The operator cancelled the form \"{}\".", form.title);
        self.resolve_form(&form, text, "cancelled", Value::Null);
        Ok(())
    }

    fn resolve_form(&mut self, form: &Form, content: String, status: &str, answers: Value) {
        let mut msg = self.message("human", &form.to, content, Kind::Answer);
        msg.meta = Some(json!({
            "form_id": form.id,
            "title": form.title,
            "status": status,
            "answers": answers.clone(),
        }));
        self.route(msg);
        let mut event = json!({"type": "form_resolved", "id": form.id, "status": status});
        if status == "answered" {
            event["answers"] = answers;
        }
        self.feed.publish(event.to_string());
    }

    // ---- control -------------------------------------------------------

    /// `POST /control` pause, resume, stop, reset.
    pub fn set_mode(&mut self, mode: Mode) {
        self.changed();
        self.mode = mode;
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

    // ---- upkeep and views ----------------------------------------------

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

    /// The log, oldest first.
    pub fn log(&self) -> Vec<Message> {
        self.log.messages()
    }

    /// The console's roster: live peers by name, then reaped ones.
    pub fn peer_infos(&self) -> Vec<Value> {
        let now = Instant::now();
        let wall = now_unix();
        let info = |p: &Peer| {
            json!({
                "name": p.name,
                "state": if p.is_live() { "live" } else { "reaped" },
                "listening": p.polls > 0,
                "paused": p.paused,
                "status": p.status,
                "status_age": p.status_at.map(|t| age(wall - t)),
                "last_seen_age": age(now.saturating_duration_since(p.last_seen).as_secs_f64()),
                "uptime": age(now.saturating_duration_since(p.joined).as_secs_f64()),
                "msg_count": p.msg_count,
            })
        };
        let live = self.peers.values().filter(|p| p.is_live()).map(info);
        let reaped = self.peers.values().filter(|p| !p.is_live()).map(info);
        live.chain(reaped).collect()
    }

    /// Health figures; `rss_mib` is read by the caller, outside the lock.
    pub fn health(&mut self, rss_mib: f64) -> Health {
        Health {
            uptime: age(self.started.elapsed().as_secs_f64()),
            peer_count: self.peers.values().filter(|p| p.is_live()).count(),
            msg_per_min: self.recent_routes.last_minute(now_unix()),
            queue_depth: self.peers.values().map(|p| p.queue.len()).sum(),
            mem_rss_mb: rss_mib,
            queued_mib: (self.held.bytes() as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            consoles: self.feed.len(),
        }
    }

    /// Whether any console is watching.
    pub fn watched(&self) -> bool {
        !self.feed.is_empty()
    }

    /// The health tick: figures and a fresh roster, to every console.
    pub fn publish_health(&mut self, rss_mib: f64) {
        if self.feed.is_empty() {
            return;
        }
        let health = self.health(rss_mib);
        let event = json!({"type": "health", "health": health, "peers": self.peer_infos()});
        self.feed.publish_tick(event.to_string());
    }

    /// Publishes the roster, channels and floors if they changed.
    pub fn flush_events(&mut self) {
        self.flush_journal();
        let dirty = std::mem::take(&mut self.dirty);
        if self.feed.is_empty() {
            if dirty.peers || dirty.channels || dirty.floors {
                self.feed.touch();
            }
            return;
        }
        if dirty.peers {
            let event = json!({"type": "peers", "peers": self.peer_infos()});
            self.feed.publish(event.to_string());
        }
        if dirty.channels {
            let event = json!({"type": "channels", "channels": self.channels()});
            self.feed.publish(event.to_string());
        }
        if dirty.floors {
            let event = json!({"type": "floor", "floors": self.floors()});
            self.feed.publish(event.to_string());
        }
    }

    /// Consoles watching now.
    pub fn consoles(&self) -> usize {
        self.feed.len()
    }

    /// A new console: pending changes go out first, then it gets the
    /// snapshot and every event after it, in order. Consoles that connect
    /// while nothing changed share one snapshot. `None` past the cap.
    pub fn watch(&mut self, rss_mib: f64) -> Option<Events> {
        self.flush_events();
        if let Some(snapshot) = self.feed.fresh_snapshot() {
            return self.feed.subscribe(snapshot);
        }
        let health = self.health(rss_mib);
        let log: Vec<&str> = self.log.iter().collect();
        let snapshot = format!(
            "{{\"type\":\"snapshot\",\"mode\":\"{}\",\"peers\":{},\"channels\":{},\
             \"floors\":{},\"forms\":{},\"health\":{},\"log\":[{}]}}",
            self.mode.as_str(),
            Value::Array(self.peer_infos()),
            self.channels(),
            self.floors(),
            serde_json::to_string(&self.forms).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&health).unwrap_or_else(|_| "{}".into()),
            log.join(","),
        );
        self.feed.subscribe(Arc::from(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_ring_keeps_the_last_entries_in_a_bounded_buffer() {
        let mut log = LogRing::default();
        for i in 0..LOG_CAPACITY * 7 {
            log.push(&format!("{{\"n\":{i}}}"));
            assert!(log.text.len() <= 2 * 16 * LOG_CAPACITY + 64, "bounded");
        }
        assert_eq!(log.len(), LOG_CAPACITY);
        let kept: Vec<&str> = log.iter().collect();
        assert_eq!(
            kept.first().copied(),
            Some(&*format!("{{\"n\":{}}}", LOG_CAPACITY * 6))
        );
        assert_eq!(
            kept.last().copied(),
            Some(&*format!("{{\"n\":{}}}", LOG_CAPACITY * 7 - 1))
        );
    }

    #[test]
    fn the_route_rate_counts_the_last_minute_only() {
        let mut rate = RouteRate::default();
        let t = 1_000_000.0;
        for k in 0..3 {
            rate.add(t + f64::from(k));
        }
        rate.add(t + 30.5);
        assert_eq!(rate.last_minute(t + 31.0), 4);
        assert_eq!(
            rate.last_minute(t + 61.0),
            2,
            "the first two seconds aged out"
        );
        // A slot is reused a minute later, its old count dropped.
        rate.add(t + 60.0);
        assert_eq!(rate.last_minute(t + 60.0), 4);
        assert_eq!(rate.last_minute(t + 500.0), 0);
    }
    use std::net::Ipv4Addr;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn room() -> Room {
        Room::new(RoomConfig::default())
    }

    fn join(room: &mut Room, name: &str) -> String {
        room.register(name, None, HOME).unwrap().token
    }

    fn poll(room: &mut Room, token: &str, ack: Option<u64>) -> Vec<u64> {
        let p = room.begin_receive(token, ack, None).unwrap();
        let got = room.take(&p).unwrap();
        room.end_receive(&p);
        got.map(|b| b.messages.iter().map(|m| m.msg.seq).collect())
            .unwrap_or_default()
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("project-a").is_ok());
        for bad in [
            "",
            "Human",
            " hub ",
            "all",
            "#x",
            "a\nb",
            " pad",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_client_that_acknowledges_gets_unacked_messages_again() {
        let mut r = room();
        let a = join(&mut r, "a");
        let b = join(&mut r, "b");
        r.send(&a, "b", "one").unwrap();
        let first = poll(&mut r, &b, Some(0));
        assert_eq!(first.len(), 1);
        // Polled again without acknowledging: the same message comes back.
        assert_eq!(poll(&mut r, &b, None), first);
        // Acknowledged: nothing is left.
        assert!(poll(&mut r, &b, Some(first[0])).is_empty());
    }

    #[test]
    fn a_client_that_never_acknowledges_sees_no_duplicates() {
        let mut r = room();
        let a = join(&mut r, "a");
        let b = join(&mut r, "b");
        r.send(&a, "b", "one").unwrap();
        assert_eq!(poll(&mut r, &b, None).len(), 1);
        assert!(poll(&mut r, &b, None).is_empty());
    }

    #[test]
    fn a_full_queue_is_reported_not_trimmed() {
        let mut r = Room::new(RoomConfig {
            rate_limit: false,
            ..RoomConfig::default()
        });
        let a = join(&mut r, "a");
        join(&mut r, "b");
        for _ in 0..MAX_QUEUE {
            assert_eq!(r.send(&a, "b", "x").unwrap().delivered_to, ["b"]);
        }
        let sent = r.send(&a, "b", "one too many").unwrap();
        assert!(sent.delivered_to.is_empty());
        assert_eq!(sent.queue_full, ["b"]);
    }

    #[test]
    fn the_bucket_refuses_the_sixth_quick_send() {
        let mut r = room();
        let a = join(&mut r, "a");
        for _ in 0..5 {
            r.send(&a, "all", "x").unwrap();
        }
        match r.send(&a, "all", "x") {
            Err(HubError::RateLimited(wait)) => assert!(wait > 0.0 && wait <= 2.0),
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }

    #[test]
    fn a_reaped_peer_keeps_its_mail_and_revives_with_its_token() {
        let mut r = Room::new(RoomConfig {
            client_ttl: Duration::ZERO,
            ..RoomConfig::default()
        });
        let a = join(&mut r, "a");
        let b = join(&mut r, "b");
        r.reap(Instant::now() + Duration::from_millis(5));
        assert!(r.peers().is_empty());
        assert_eq!(r.ping("b")["state"], "reaped");
        // Direct mail to a reaped peer still queues; any call revives.
        let sent = r.send(&a, "b", "while you were away").unwrap();
        assert_eq!(sent.delivered_to, ["b"]);
        let got = poll(&mut r, &b, None);
        assert!(!got.is_empty());
        assert_eq!(r.ping("b")["state"], "live");
    }

    #[test]
    fn a_departing_holder_hands_the_stick_on() {
        let mut r = room();
        let a = join(&mut r, "a");
        let b = join(&mut r, "b");
        assert_eq!(r.floor(&a, "take", "all", "fire").unwrap()["ok"], true);
        let queued = r.floor(&b, "take", "all", "").unwrap();
        assert_eq!(queued["error"], "floor_held");
        assert_eq!(queued["position"], 1);
        r.leave(&a).unwrap();
        assert_eq!(r.floors()["all"]["holder"], "b");
    }
}
