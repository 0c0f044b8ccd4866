//! The leak detector's ledger: every lease out, with where and when it was taken.
//!
//! A lease that is never dropped holds a connection, its ports and a place in the caps
//! forever, and the pool cannot take it back. What it can do is say where it was taken:
//! `get` is `#[track_caller]`, so the ledger records the caller's file and line, and the
//! reaper reports each lease held past the threshold once, as a warning.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(super) struct Checkouts<K> {
    out: HashMap<u64, Checkout<K>, BuildHasherDefault<IdHasher>>,
    next_id: u64,
}

#[derive(Debug)]
struct Checkout<K> {
    key: K,
    location: &'static Location<'static>,
    since: Instant,
    reported: bool,
}

impl<K: Debug> Checkouts<K> {
    pub(super) fn new() -> Self {
        Checkouts { out: HashMap::default(), next_id: 0 }
    }

    /// Records a lease taken at `location`; returns its id.
    pub(super) fn open(&mut self, key: K, location: &'static Location<'static>, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.out.insert(id, Checkout { key, location, since: now, reported: false });
        id
    }

    pub(super) fn close(&mut self, id: u64) {
        self.out.remove(&id);
    }

    /// Leases held at least `threshold` and not reported before, now marked reported.
    pub(super) fn newly_overdue(&mut self, now: Instant, threshold: Duration) -> Vec<LeakReport> {
        let mut leaks = Vec::new();
        for checkout in self.out.values_mut() {
            if !checkout.reported && checkout.held(now) >= threshold {
                checkout.reported = true;
                leaks.push(checkout.report(now));
            }
        }
        longest_first(leaks)
    }

    /// Every lease held at least `threshold`, longest held first.
    pub(super) fn overdue(&self, now: Instant, threshold: Duration) -> Vec<LeakReport> {
        let overdue = self.out.values().filter(|checkout| checkout.held(now) >= threshold);
        longest_first(overdue.map(|checkout| checkout.report(now)).collect())
    }
}

/// Hashes the ledger's ids, which the ledger itself hands out one after another (so no caller
/// can choose them to collide): one multiplication by 2^64 / φ spreads consecutive ids over the
/// high bits the map probes with, where the default SipHash costs more than the rest of a
/// checkout's bookkeeping.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Sorted so that reports do not follow the hash map's order.
fn longest_first(mut leaks: Vec<LeakReport>) -> Vec<LeakReport> {
    leaks.sort_by(|a, b| b.held_for.cmp(&a.held_for).then_with(|| a.location.cmp(&b.location)));
    leaks
}

impl<K: Debug> Checkout<K> {
    fn held(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }

    fn report(&self, now: Instant) -> LeakReport {
        LeakReport {
            key: format!("{:?}", self.key),
            location: format!("{}:{}", self.location.file(), self.location.line()),
            held_for: self.held(now),
        }
    }
}

/// A lease held past the leak threshold: whose it is and where it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct LeakReport {
    /// The lease's key, as `Debug` prints it.
    pub key: String,
    /// The `file:line` of the `get` that took it.
    pub location: String,
    /// How long it has been held.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration_text::required"))]
    pub held_for: Duration,
}
