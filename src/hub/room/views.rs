//! What the console and `/export` see of the room: the log, the roster,
//! the health figures, and the feed (events published once per operation,
//! the snapshot a new console starts from).

use super::*;

impl Room {
    /// The log, oldest first.
    pub fn log(&self) -> Vec<Message> {
        self.log.messages()
    }

    /// The console's roster: live peers by name, then reaped ones.
    pub fn peer_infos(&self) -> Vec<Value> {
        let now = Instant::now();
        let wall = now_unix();
        let info = |p: &Peer| {
            let mut v = json!({
                "name": p.name,
                "state": if p.is_live() { "live" } else { "reaped" },
                "paused": p.paused,
                "status": p.status,
                "status_age": p.status_at.map(|t| age(wall - t)),
                "last_seen_age": age(now.saturating_duration_since(p.last_seen).as_secs_f64()),
                "uptime": age(now.saturating_duration_since(p.joined).as_secs_f64()),
                "msg_count": p.msg_count,
                "backlog_alarm": p.alarmed,
                "interrupt": p.interrupt.is_some(),
            });
            if let (Value::Object(a), Value::Object(h)) = (&mut v, p.hearing(now, wall)) {
                a.extend(h);
            }
            v
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

    /// At the console cap, drops the stalest console for the operator's
    /// (see `Feed::make_room`).
    pub fn make_console_room(&mut self) -> bool {
        self.feed.make_room()
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
             \"floors\":{},\"forms\":{},\"approvals\":{},\"rate_limit\":{},\"health\":{},\"log\":[{}]}}",
            self.mode.as_str(),
            Value::Array(self.peer_infos()),
            self.channels(),
            self.floors(),
            serde_json::to_string(&self.forms).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&self.approvals()).unwrap_or_else(|_| "[]".into()),
            self.rate_limit(),
            serde_json::to_string(&health).unwrap_or_else(|_| "{}".into()),
            log.join(","),
        );
        self.feed.subscribe(Arc::from(snapshot))
    }
}
