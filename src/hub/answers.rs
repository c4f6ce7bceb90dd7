//! The bytes of answers being written, bounded hub-wide.
//!
//! An answer is built whole and then held until the client has read it
//! (or the write deadline passes), so a client that asks and never reads
//! holds the answer's memory for up to 30 s. Without a bound, a hundred
//! such clients asking for a large answer (a long backlog, a search, the
//! export) hold gigabytes. Every answer larger than [`FREE_BYTES`] takes
//! its size from one budget (`--max-answer-mib`) until it is written; past
//! the budget the hub answers 503 at once and frees the answer. `/receive`
//! takes its share before it takes any message, so a refusal loses none.
//!
//! **Invariant:** a [`Permit`] gives its bytes back when dropped, and it
//! lives in the answer's `until_written`, so what is counted is exactly
//! what is held.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Answers up to this size are not counted: the connection cap bounds them.
pub const FREE_BYTES: usize = 64 * 1024;
/// The default budget.
pub const DEFAULT_BYTES: usize = 64 << 20;

/// The budget all large answers share.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub fn new(max: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes `bytes` if they fit, else `None`.
    pub fn try_take(self: &Arc<Self>, bytes: usize) -> Option<Permit> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes).filter(|n| *n <= self.max)?;
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Permit {
                        budget: Arc::clone(self),
                        bytes,
                    });
                }
                Err(now) => used = now,
            }
        }
    }

    /// Bytes held by answers now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Bytes taken from the budget, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Permit {
    /// Gives back what the answer did not need (it came out smaller).
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget
                .used
                .fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            self.bytes = bytes;
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// One of at most N answers of a kind being built or written at once
/// (`/export`, `/search`): counted until dropped, which the answer's
/// `until_written` does once it is written.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A slot of `counter`, if fewer than `max` are taken.
    pub fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        let slot = Slot(Arc::clone(counter));
        (counter.fetch_add(1, Ordering::AcqRel) < max).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_take_and_give_back() {
        let b = Budget::new(100);
        let mut a = b.try_take(60).unwrap();
        assert!(b.try_take(50).is_none());
        a.shrink_to(40);
        let c = b.try_take(50).unwrap();
        assert_eq!(b.used(), 90);
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0);
        assert!(b.try_take(101).is_none());
    }
}
