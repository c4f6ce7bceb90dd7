//! The room on disk: what the journal's records say, and how a room is
//! rebuilt from them.
//!
//! Four kinds of record follow the room's changes:
//!
//! - `meta`: everything but the messages (peers with their tokens and
//!   channels, topics, floors, forms, the mode and the stop, the counters),
//!   written whole whenever any of it changed, before the next record and
//!   at the end of the operation; it is small, and rarely written;
//! - `msg`: a routed message and the peers whose queue it went to;
//! - `note`: a line of the log no queue holds (hub notices, the stop);
//! - `take`, `ack`, `clear`: a poll moved a peer's queue to its unacked
//!   list, an acknowledgement dropped what it covers, a client that never
//!   acknowledges took what it was handed.
//!
//! A snapshot is the `meta` of the moment plus every message still queued
//! or unacknowledged (each once, by seq), each peer's lists of seqs, and
//! the log.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Floor, Life, Peer, Room, Routed};
use crate::hub::journal::{Journal, Loaded};
use crate::shared::wire::{Form, Message, Mode};

#[derive(Serialize, Deserialize)]
struct PeerState {
    name: String,
    token: String,
    id: u64,
    acks: bool,
    channels: BTreeSet<String>,
    status: Option<String>,
    status_at: Option<f64>,
    paused: bool,
    /// When it was reaped (wall clock), if it was.
    reaped: Option<f64>,
    msg_count: u64,
    /// The operator's interrupt, until both doors handed it over.
    #[serde(default)]
    interrupt: Option<super::chair::Interrupt>,
}

#[derive(Serialize, Deserialize)]
struct MetaState {
    seq: u64,
    next_peer_id: u64,
    mode: Mode,
    stop: Option<Message>,
    peers: Vec<PeerState>,
    topics: BTreeMap<String, String>,
    floors: BTreeMap<String, Floor>,
    forms: Vec<Form>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    meta: MetaState,
    /// Every message some peer still has queued or unacknowledged.
    messages: Vec<Message>,
    queues: BTreeMap<String, Vec<u64>>,
    unacked: BTreeMap<String, Vec<u64>>,
    log: Vec<Message>,
}

fn bad(what: &str, e: impl std::fmt::Display) -> String {
    format!("the data directory holds a {what} this hub cannot read: {e}")
}

impl Room {
    /// Marks the room's `meta` as changed: it is written before the next
    /// record, or at the end of the operation.
    pub(super) fn changed(&mut self) {
        self.meta_changed = self.journal.is_some();
    }

    /// Adds a record to the journal, if there is one.
    pub(super) fn jot(&mut self, record: impl FnOnce() -> Value) {
        if self.journal.is_none() {
            return;
        }
        self.write_meta_if_changed();
        let record = record();
        if let Some(j) = &mut self.journal {
            j.push(&record);
        }
    }

    /// Writes what the operation just done changed; compacts when due.
    pub fn flush_journal(&mut self) {
        self.write_meta_if_changed();
        let Some(j) = &mut self.journal else {
            return;
        };
        j.flush();
        if j.wants_compaction() {
            self.compact();
        }
    }

    /// An operation that panicked midway: nothing of it reaches the file
    /// (its request was answered 500, so nobody was told it happened), and
    /// no I/O runs while the thread unwinds.
    pub fn abandon_journal(&mut self) {
        if let Some(j) = &mut self.journal {
            j.discard();
        }
    }

    fn write_meta_if_changed(&mut self) {
        if !self.meta_changed {
            return;
        }
        self.meta_changed = false;
        let meta = json!({"t": "meta", "m": self.meta_state()});
        if let Some(j) = &mut self.journal {
            j.push(&meta);
        }
    }

    fn compact(&mut self) {
        let state = match serde_json::to_value(self.snapshot()) {
            Ok(v) => v,
            Err(e) => {
                log::error!("journal: cannot encode a snapshot: {e}");
                return;
            }
        };
        if let Some(j) = &mut self.journal {
            match j.compact(state) {
                Ok(()) => log::info!("journal: compacted into a new snapshot"),
                Err(e) => log::error!("journal: compaction failed, journal kept: {e}"),
            }
        }
    }

    fn meta_state(&self) -> MetaState {
        MetaState {
            seq: self.seq,
            next_peer_id: self.next_peer_id,
            mode: self.mode,
            stop: self.stop.as_ref().map(|s| s.msg.clone()),
            peers: self
                .peers
                .values()
                .map(|p| PeerState {
                    name: p.name.clone(),
                    token: p.token.clone(),
                    id: p.id,
                    acks: p.acks,
                    channels: p.channels.clone(),
                    status: p.status.clone(),
                    status_at: p.status_at,
                    paused: p.paused,
                    reaped: match p.life {
                        Life::Live => None,
                        Life::Reaped { wall, .. } => Some(wall),
                    },
                    msg_count: p.msg_count,
                    interrupt: p.interrupt.clone(),
                })
                .collect(),
            topics: self.topics.clone(),
            floors: self.floors.clone(),
            forms: self.forms.clone(),
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut messages = BTreeMap::new();
        let mut queues = BTreeMap::new();
        let mut unacked = BTreeMap::new();
        for p in self.peers.values() {
            for m in p.queue.iter().chain(&p.unacked) {
                messages.entry(m.msg.seq).or_insert_with(|| m.msg.clone());
            }
            queues.insert(p.name.clone(), p.queue.iter().map(|m| m.msg.seq).collect());
            unacked.insert(
                p.name.clone(),
                p.unacked.iter().map(|m| m.msg.seq).collect(),
            );
        }
        Snapshot {
            meta: self.meta_state(),
            messages: messages.into_values().collect(),
            queues,
            unacked,
            log: self.log.messages(),
        }
    }

    /// Makes the room what `meta` says, keeping the queues of peers that
    /// stay (same name, same record id).
    fn apply_meta(&mut self, meta: MetaState) {
        let now = Instant::now();
        self.seq = self.seq.max(meta.seq);
        self.next_peer_id = self.next_peer_id.max(meta.next_peer_id);
        self.mode = meta.mode;
        self.stop = meta.stop.map(|m| Routed::new(m, &self.held));
        let mut old = std::mem::take(&mut self.peers);
        self.tokens.clear();
        for s in meta.peers {
            let kept = old.remove(&s.name).filter(|p| p.id == s.id);
            let (queue, unacked) = kept.map_or_else(
                || (VecDeque::new(), VecDeque::new()),
                |p| (p.queue, p.unacked),
            );
            let life = match s.reaped {
                // Its grace runs from the restart: it could not come back
                // while the hub was down.
                Some(w) => Life::Reaped {
                    since: now,
                    wall: w,
                },
                None => Life::Live,
            };
            self.tokens.insert(s.token.clone(), s.name.clone());
            // Seen now: a live peer gets a whole TTL to come back after a
            // restart.
            let mut peer = Peer::new(s.id, &s.name, &s.token, self.config.send_bucket, now);
            peer.life = life;
            peer.queue = queue;
            peer.unacked = unacked;
            peer.acks = s.acks;
            peer.channels = s.channels;
            peer.status = s.status;
            peer.status_at = s.status_at;
            peer.msg_count = s.msg_count;
            peer.paused = s.paused;
            peer.interrupt = s.interrupt;
            self.peers.insert(s.name, peer);
        }
        self.topics = meta.topics;
        self.floors = meta.floors;
        self.forms = meta.forms;
    }

    fn log_line(&mut self, routed: Arc<Routed>) {
        self.log.push(&routed.json);
    }

    fn apply_record(&mut self, r: Value) -> Result<(), String> {
        let name = |r: &Value| r["p"].as_str().unwrap_or_default().to_string();
        match r["t"].as_str() {
            Some("meta") => {
                let meta =
                    serde_json::from_value(r["m"].clone()).map_err(|e| bad("meta record", e))?;
                self.apply_meta(meta);
            }
            Some("msg") => {
                let msg: Message =
                    serde_json::from_value(r["m"].clone()).map_err(|e| bad("message record", e))?;
                self.seq = self.seq.max(msg.seq);
                if let Some(sender) = self.peers.get_mut(&msg.sender) {
                    sender.msg_count += 1;
                }
                let routed = Routed::new(msg, &self.held);
                for to in r["to"].as_array().into_iter().flatten() {
                    if let Some(p) = to.as_str().and_then(|n| self.peers.get_mut(n)) {
                        p.queue.push_back(Arc::clone(&routed));
                    }
                }
                self.log_line(routed);
            }
            Some("note") => {
                let msg: Message =
                    serde_json::from_value(r["m"].clone()).map_err(|e| bad("note record", e))?;
                self.log_line(Routed::new(msg, &self.held));
            }
            Some("take") => {
                if let Some(p) = self.peers.get_mut(&name(&r)) {
                    // `n` messages from the front (a batch is capped in
                    // bytes); an older record without it took them all.
                    let n = r["n"]
                        .as_u64()
                        .map_or(p.queue.len(), |n| (n as usize).min(p.queue.len()));
                    let drained: Vec<_> = p.queue.drain(..n).collect();
                    p.unacked.extend(drained);
                }
            }
            Some("ack") => {
                let seq = r["s"].as_u64().ok_or_else(|| bad("ack record", "no seq"))?;
                if let Some(p) = self.peers.get_mut(&name(&r)) {
                    p.acks = true;
                    p.unacked.retain(|m| m.msg.seq > seq);
                }
            }
            Some("clear") => {
                if let Some(p) = self.peers.get_mut(&name(&r)) {
                    p.unacked.clear();
                }
            }
            other => return Err(bad("record", format!("unknown kind {other:?}"))),
        }
        Ok(())
    }

    /// Rebuilds the room from what the journal held, then keeps the journal
    /// for every change from now on. The rebuilt room is written at once as
    /// a fresh snapshot, so the next start replays nothing twice.
    pub fn restore(&mut self, journal: Journal, loaded: Loaded) -> Result<(), String> {
        let replayed = loaded.records.len();
        if let Some(s) = loaded.snapshot {
            let s: Snapshot = serde_json::from_value(s).map_err(|e| bad("snapshot", e))?;
            self.apply_meta(s.meta);
            let by_seq: HashMap<u64, Arc<Routed>> = s
                .messages
                .into_iter()
                .map(|m| (m.seq, Routed::new(m, &self.held)))
                .collect();
            let lists = |map: &BTreeMap<String, Vec<u64>>, name: &str| -> VecDeque<Arc<Routed>> {
                map.get(name)
                    .into_iter()
                    .flatten()
                    .filter_map(|seq| by_seq.get(seq).cloned())
                    .collect()
            };
            for p in self.peers.values_mut() {
                p.queue = lists(&s.queues, &p.name);
                p.unacked = lists(&s.unacked, &p.name);
            }
            for m in s.log {
                self.seq = self.seq.max(m.seq);
                self.log_line(Routed::new(m, &self.held));
            }
        }
        for r in loaded.records {
            self.apply_record(r)?;
        }
        self.journal = Some(journal);
        let live = self.peers.values().filter(|p| p.is_live()).count();
        let waiting: usize = self.peers.values().map(Peer::waiting).sum();
        log::info!(
            "restored the room: {} peer record(s) ({live} live), {waiting} message(s) waiting, \
             {} in the log, mode {} ({replayed} journal record(s) replayed)",
            self.peers.len(),
            self.log.len(),
            self.mode.as_str()
        );
        self.compact();
        Ok(())
    }
}
