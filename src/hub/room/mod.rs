//! The room: every peer, queue, channel, floor, form, the log and the control
//! mode, and every rule that changes them.
//!
//! `Room` lives behind one `Mutex` in the hub. Each change is a method named
//! for what it does in the room (`register`, `send`, `take_floor`); HTTP
//! handlers parse, call one of these, and render what comes back.
//!
//! One `Room`, one owner of all its state; its `impl` is split by topic,
//! one file per family of rules: `peers.rs` (registration, presence,
//! status), `routing.rs` (messages, the long-poll, acknowledgements),
//! `channels.rs`, `floors.rs`, `forms.rs`, `control.rs` (the operator's
//! modes, the reaper), `views.rs` (what the console and exports see),
//! `durable.rs` (the journal), `names.rs` (the rules for names) and
//! `records.rs` (the bounded log and the message rate). This file holds
//! the state itself and the types the files share.
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

mod chair;
mod channels;
mod control;
mod durable;
mod floors;
mod forms;
mod names;
mod peers;
mod records;
mod routing;
mod views;

use records::{LogRing, RouteRate};

pub use chair::Gate;
pub use names::{check_channel, check_name};

use super::error::HubError;
use super::events::{Events, Feed};
use crate::shared::clock::now_unix;
use crate::shared::secret::{new_token, os_random, same_secret};
use crate::shared::wire::{
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
    /// A waiting message this old, with nothing listening, raises an alarm.
    pub backlog_alarm: Duration,
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
    /// Pause the room after this many agent messages with no word from the
    /// operator in between (`--loop-guard`); 0: off.
    pub loop_guard: u32,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            client_ttl: Duration::from_secs(300),
            backlog_alarm: Duration::from_secs(120),
            reaped_grace: Duration::from_secs(1800),
            rate_limit: true,
            max_queued_bytes: MAX_QUEUED_BYTES,
            max_peers: MAX_RECORDS,
            send_bucket: SEND_BUCKET,
            register_bucket: REGISTER_BUCKET,
            loop_guard: 0,
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
    /// Its backlog alarm is up (see `check_backlogs`).
    alarmed: bool,
    /// When a poll of its last began or ended; `None` if it never polled.
    last_listened: Option<Instant>,
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
    /// The operator's interrupt, until both doors handed it over.
    interrupt: Option<chair::Interrupt>,
    /// Moves each time a `/gate` or `/approval` wait of this token begins:
    /// one wait per token, the newest wins (as `/receive`).
    wait_turn: u64,
    wake: Arc<Condvar>,
}

impl Peer {
    /// A fresh record: live, seen now, nothing queued, no channels.
    fn new(id: u64, name: &str, token: &str, send_bucket: (f64, f64), now: Instant) -> Peer {
        Peer {
            id,
            name: name.to_string(),
            token: token.to_string(),
            life: Life::Live,
            queue: VecDeque::new(),
            unacked: VecDeque::new(),
            acks: false,
            channels: BTreeSet::new(),
            bucket: Bucket::new(send_bucket, now),
            status: None,
            status_at: None,
            last_seen: now,
            last_seen_wall: now_unix(),
            joined: now,
            msg_count: 0,
            paused: false,
            polls: 0,
            alarmed: false,
            last_listened: None,
            lease: None,
            lease_turn: 0,
            revoked: VecDeque::new(),
            full: false,
            interrupt: None,
            wait_turn: 0,
            wake: Arc::new(Condvar::new()),
        }
    }

    /// What a reader needs to know of who hears this peer: whether it
    /// listens now, since when it has not, what waits for it and how old
    /// the oldest is (ages in seconds, one decimal).
    fn hearing(&self, now: Instant, wall: f64) -> Value {
        json!({
            "listening": self.polls > 0,
            "last_listened_age": if self.polls > 0 {
                Some(0.0)
            } else {
                self.last_listened
                    .map(|t| age(now.saturating_duration_since(t).as_secs_f64()))
            },
            "waiting": self.waiting(),
            "oldest_age": self.oldest_waiting().map(|t| age(wall - t)),
        })
    }

    fn is_live(&self) -> bool {
        self.life == Life::Live
    }

    fn waiting(&self) -> usize {
        self.queue.len() + self.unacked.len()
    }

    /// When its oldest waiting message was sent (wall clock), if any wait.
    fn oldest_waiting(&self) -> Option<f64> {
        self.unacked
            .front()
            .or(self.queue.front())
            .map(|m| m.msg.ts)
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

/// What `send` hands back: the wire's answer, its `warning` and `hint`
/// left to the route.
pub use crate::shared::wire::{Sent, Unheard};

/// Characters of each message `/peek` shows.
pub const PEEK_CHARS: usize = 120;

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
    /// Agent messages since the operator last spoke or resumed (the loop
    /// guard's count; not kept across restarts).
    since_human: u32,
    /// `--notify-cmd`, if set: what needs the operator, told away from the
    /// console.
    notifier: Option<crate::hub::notify::Notifier>,
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
    /// Tool calls put before the operator, pending and lately settled.
    approvals: Vec<chair::Approval>,
    register_buckets: HashMap<IpAddr, Bucket>,
    /// Wall times of messages routed in the last minute.
    recent_routes: RouteRate,
    transcript: Option<SyncSender<String>>,
    transcript_dropped: u64,
    /// `--data-dir`'s searchable history: each message the log shows.
    history: Option<SyncSender<String>>,
    history_dropped: u64,
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

impl Room {
    pub fn new(config: RoomConfig) -> Self {
        Room {
            since_human: 0,
            notifier: None,
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
            approvals: Vec::new(),
            register_buckets: HashMap::new(),
            recent_routes: RouteRate::default(),
            transcript: None,
            transcript_dropped: 0,
            history: None,
            history_dropped: 0,
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

    /// Sends every message the log shows, as its JSON, to `sink`.
    pub fn set_history(&mut self, sink: SyncSender<String>) {
        self.history = Some(sink);
    }

    /// Runs `--notify-cmd` for what needs the operator.
    pub fn set_notifier(&mut self, notifier: crate::hub::notify::Notifier) {
        self.notifier = Some(notifier);
    }

    /// Tells the operator away from the console, if `--notify-cmd` is set:
    /// `kind`, a line a phone can show, and the details.
    pub(super) fn notify(&self, kind: &str, text: String, mut detail: Value) {
        if let Some(n) = &self.notifier {
            detail["type"] = json!(kind);
            detail["text"] = json!(text);
            detail["ts"] = json!(now_unix());
            n.send(detail);
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }
}

#[cfg(test)]
mod tests;
