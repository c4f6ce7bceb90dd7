//! The room's bounded records: the log of the last messages, kept as their
//! JSON text in one buffer, and the per-second count of routed messages.

use super::*;

/// The log: the last `LOG_CAPACITY` messages as their JSON text, kept in
/// one buffer rather than one allocation per message. Long-lived small
/// allocations made during a busy spell end up scattered over the heap and
/// keep every page they sit on resident after the spell; one buffer keeps
/// the log in a single place.
#[derive(Debug, Default)]
pub(super) struct LogRing {
    text: String,
    /// Where each entry is in `text`, oldest first.
    spans: VecDeque<(usize, usize)>,
}

impl LogRing {
    pub(super) fn push(&mut self, json: &str) {
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

    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans
            .iter()
            .map(|&(at, len)| self.text.get(at..at + len).unwrap_or_default())
    }

    /// The entries as messages (for exports and snapshots).
    pub(super) fn messages(&self) -> Vec<Message> {
        self.iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect()
    }
}

/// Messages routed in each of the last 60 seconds: the console's rate, in
/// constant memory however busy the room gets.
#[derive(Debug)]
pub(super) struct RouteRate {
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
    pub(super) fn add(&mut self, now_unix: f64) {
        let second = now_unix as u64;
        let i = (second % 60) as usize;
        if self.seconds[i] != second {
            self.seconds[i] = second;
            self.counts[i] = 0;
        }
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Messages routed in the minute up to `now_unix`.
    pub(super) fn last_minute(&self, now_unix: f64) -> usize {
        let now = now_unix as u64;
        (0..60)
            .filter(|&i| self.seconds[i] <= now && now - self.seconds[i] < 60)
            .map(|i| self.counts[i] as usize)
            .sum()
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
}
