//! The console's events, as the room hands them out: one subscriber per
//! watching console (`console.rs` serves them over `/ui`).
//!
//! **Invariant:** routing never waits for a browser, and a browser that
//! stops reading costs the hub little. The room hands each console its
//! events through a bounded channel with `try_send`; the events are shared
//! (`Arc<str>`), never copied per console, and so is the snapshot when
//! several consoles connect while the room is unchanged. A console that
//! falls [`BACKLOG_BYTES`] (or [`BACKLOG`] events) behind is dropped (its
//! page reconnects and gets a fresh snapshot) rather than buffered without
//! bound. Frames are written straight from the shared text, each within
//! the write deadline: a console that stops reading is let go within
//! the write deadline. At most [`MAX_CONSOLES`] watch at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Events a console may be behind before it is dropped.
pub const BACKLOG: usize = 4096;
/// Bytes of events (beyond its snapshot) a console may be behind.
pub const BACKLOG_BYTES: usize = 8 << 20;
/// Consoles watching at once; past it `/ui` answers 503.
pub const MAX_CONSOLES: usize = 32;

/// How often the health event goes out.
pub const HEALTH_EVERY: Duration = Duration::from_millis(1500);

/// One console, as the room sees it.
#[derive(Debug)]
struct Subscriber {
    tx: SyncSender<Arc<str>>,
    /// Bytes handed to it and not yet taken.
    behind: Arc<AtomicUsize>,
    /// How far behind it may fall: its snapshot plus [`BACKLOG_BYTES`].
    limit: usize,
}

/// Every browser that is watching, as the room sees them.
#[derive(Debug, Default)]
pub struct Feed {
    subscribers: Vec<Subscriber>,
    /// Counts the changes a snapshot shows, to know when one is stale.
    epoch: u64,
    /// The last snapshot, and the epoch it shows.
    snapshot: Option<(u64, Arc<str>)>,
}

/// A console's end of the feed.
pub struct Events {
    rx: Receiver<Arc<str>>,
    behind: Arc<AtomicUsize>,
}

impl Events {
    /// The next event, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> Result<Arc<str>, RecvTimeoutError> {
        let event = self.rx.recv_timeout(timeout)?;
        self.behind.fetch_sub(event.len(), Ordering::Relaxed);
        Ok(event)
    }
}

impl Feed {
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// Something a snapshot shows changed while nobody was told.
    pub fn touch(&mut self) {
        self.epoch += 1;
    }

    /// The last snapshot, if nothing changed since it was made.
    pub fn fresh_snapshot(&self) -> Option<Arc<str>> {
        match &self.snapshot {
            Some((epoch, text)) if *epoch == self.epoch => Some(Arc::clone(text)),
            _ => None,
        }
    }

    /// At the cap, drops one console so the operator's new one gets its
    /// place: the one furthest behind (it does not read), else the oldest
    /// (a tab left open). Only the operator's console asks (see
    /// `console::serve`), so a stranger's crowd of silent consoles cannot
    /// lock the chair out.
    pub fn make_room(&mut self) -> bool {
        if self.subscribers.len() < MAX_CONSOLES {
            return true;
        }
        let victim = self
            .subscribers
            .iter()
            .enumerate()
            .max_by_key(|(i, s)| (s.behind.load(Ordering::Relaxed), std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                log::warn!("the console limit is reached: dropped the stalest for the operator's");
                self.subscribers.remove(i);
                true
            }
            None => false,
        }
    }

    /// A new subscriber whose first event is `snapshot`; `None` when
    /// [`MAX_CONSOLES`] already watch.
    pub fn subscribe(&mut self, snapshot: Arc<str>) -> Option<Events> {
        if self.subscribers.len() >= MAX_CONSOLES {
            return None;
        }
        self.snapshot = Some((self.epoch, Arc::clone(&snapshot)));
        let (tx, rx) = sync_channel(BACKLOG);
        let behind = Arc::new(AtomicUsize::new(snapshot.len()));
        let limit = snapshot.len() + BACKLOG_BYTES;
        // The channel is new and empty: this send cannot fail.
        let _ = tx.try_send(snapshot);
        self.subscribers.push(Subscriber {
            tx,
            behind: Arc::clone(&behind),
            limit,
        });
        Some(Events { rx, behind })
    }

    /// Hands `event`, a change, to every subscriber without ever waiting.
    pub fn publish(&mut self, event: String) {
        self.epoch += 1;
        self.send(event);
    }

    /// Hands `event`, figures that change by themselves (the health
    /// tick), to every subscriber: a snapshot made before stays fresh.
    pub fn publish_tick(&mut self, event: String) {
        self.send(event);
    }

    fn send(&mut self, event: String) {
        if self.subscribers.is_empty() {
            return;
        }
        let event: Arc<str> = Arc::from(event);
        let len = event.len();
        self.subscribers.retain(|s| {
            if s.behind.load(Ordering::Relaxed) + len > s.limit {
                log::warn!(
                    "a console fell {BACKLOG_BYTES} bytes behind; dropping it (it will reconnect)"
                );
                return false;
            }
            match s.tx.try_send(Arc::clone(&event)) {
                Ok(()) => {
                    s.behind.fetch_add(len, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Full(_)) => {
                    log::warn!(
                        "a console fell {BACKLOG} events behind; dropping it (it will reconnect)"
                    );
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_that_falls_behind_is_dropped_not_buffered() {
        let mut feed = Feed::default();
        let slow = feed.subscribe("{}".into()).unwrap();
        let fast = feed.subscribe("{}".into()).unwrap();
        for i in 0..BACKLOG {
            feed.publish(format!("{i}"));
            let _ = fast.next(Duration::ZERO);
        }
        assert_eq!(feed.len(), 1, "the slow one is gone");
        drop(slow);
        drop(fast);
        feed.publish("x".into());
        assert!(feed.is_empty());
    }

    #[test]
    fn a_subscriber_is_dropped_past_its_backlog_in_bytes() {
        let mut feed = Feed::default();
        let slow = feed.subscribe("{}".into()).unwrap();
        let fast = feed.subscribe("{}".into()).unwrap();
        let big = "x".repeat(1 << 20);
        for _ in 0..BACKLOG_BYTES >> 20 {
            feed.publish(big.clone());
            let _ = fast.next(Duration::ZERO);
        }
        assert_eq!(feed.len(), 2, "exactly at the limit, both stay");
        feed.publish(big);
        assert_eq!(feed.len(), 1, "one byte more and the slow one goes");
        drop(slow);
    }

    #[test]
    fn the_snapshot_is_shared_until_something_changes() {
        let mut feed = Feed::default();
        assert!(feed.fresh_snapshot().is_none());
        let snap: Arc<str> = Arc::from("{\"type\":\"snapshot\"}");
        let _a = feed.subscribe(Arc::clone(&snap)).unwrap();
        assert!(Arc::ptr_eq(&feed.fresh_snapshot().unwrap(), &snap));
        feed.publish_tick("{}".into());
        assert!(
            feed.fresh_snapshot().is_some(),
            "a tick changes nothing shown"
        );
        feed.touch();
        assert!(feed.fresh_snapshot().is_none());
    }

    #[test]
    fn at_most_max_consoles_watch() {
        let mut feed = Feed::default();
        let held: Vec<_> = (0..MAX_CONSOLES)
            .map(|_| feed.subscribe("{}".into()).unwrap())
            .collect();
        assert!(feed.subscribe("{}".into()).is_none());
        drop(held);
    }
}
