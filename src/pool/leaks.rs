//! The leak detector's ledger: every lease out, with where and when it was taken.
//!
//! A lease that is never dropped holds a connection, its ports and a place in the caps
//! forever, and the pool cannot take it back. What it can do is say where it was taken:
//! `get` is `#[track_caller]`, so the ledger records the caller's file and line, and the
//! reaper reports each lease held past the threshold once, as a warning.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::panic::Location;
use std::time::Duration;

use tokio::time::Instant;

use super::sessions::SessionId;

/// The entries sit at the index each lease was given, which the lease keeps: opening and
/// closing an entry is a slot written and a free index kept, with nothing hashed.
#[derive(Debug)]
pub(super) struct Checkouts {
    /// By [`CheckoutId`]; `None` where a lease came back, its index then in `vacant`.
    out: Vec<Option<LedgerEntry>>,
    vacant: Vec<usize>,
}

/// A lease's entry in the ledger, valid until the lease closes it (once: its connection is
/// given back once).
#[derive(Debug, Clone, Copy)]
pub(super) struct CheckoutId(usize);

#[derive(Debug)]
struct LedgerEntry {
    /// Its key's session, which the lease's place keeps alive.
    session: SessionId,
    /// The process group that runs the leased connection, for `max_rss`.
    group: Option<NonZeroU32>,
    /// Found over `max_rss` while out: the connection is destroyed when it comes back.
    over_memory: bool,
    location: &'static Location<'static>,
    since: Instant,
    reported: bool,
}

impl Checkouts {
    pub(super) fn new() -> Self {
        Checkouts { out: Vec::new(), vacant: Vec::new() }
    }

    /// Records a lease of `session` taken at `location`.
    #[inline]
    pub(super) fn open(
        &mut self,
        (session, group): (SessionId, Option<NonZeroU32>),
        location: &'static Location<'static>,
        now: Instant,
    ) -> CheckoutId {
        let (since, reported, over_memory) = (now, false, false);
        let checkout = Some(LedgerEntry { session, group, over_memory, location, since, reported });
        match self.vacant.pop() {
            Some(index) => {
                self.out[index] = checkout;
                CheckoutId(index)
            }
            None => {
                self.out.push(checkout);
                CheckoutId(self.out.len() - 1)
            }
        }
    }

    /// Closes a lease's entry; whether its connection was found over `max_rss` while out.
    #[inline]
    pub(super) fn close(&mut self, id: CheckoutId) -> bool {
        let Some(slot) = self.out.get_mut(id.0) else { return false };
        let Some(entry) = slot.take() else { return false };
        self.vacant.push(id.0);
        entry.over_memory
    }

    /// The process groups of the leased connections that have one.
    pub(super) fn groups(&self, into: &mut Vec<u32>) {
        into.extend(self.out.iter().flatten().filter_map(|entry| entry.group).map(NonZeroU32::get));
    }

    /// Marks the leases whose connection runs in one of `over` as over `max_rss`; returns the
    /// sessions of those newly marked.
    pub(super) fn mark_over_memory(&mut self, over: &HashSet<u32>) -> Vec<SessionId> {
        let out = self.out.iter_mut().flatten().filter(|entry| !entry.over_memory);
        let marked = out.filter(|entry| entry.group.is_some_and(|group| over.contains(&group.get())));
        marked
            .map(|entry| {
                entry.over_memory = true;
                entry.session
            })
            .collect()
    }

    /// Leases held at least `threshold` and not reported before, now marked reported;
    /// `key_of` prints each lease's key from its session.
    pub(super) fn newly_overdue(
        &mut self,
        now: Instant,
        threshold: Duration,
        key_of: impl Fn(SessionId) -> String,
    ) -> Vec<LeakReport> {
        let mut leaks = Vec::new();
        for checkout in self.out.iter_mut().flatten() {
            if !checkout.reported && checkout.held(now) >= threshold {
                checkout.reported = true;
                leaks.push(checkout.report(now, key_of(checkout.session)));
            }
        }
        longest_first(leaks)
    }

    /// Every lease held at least `threshold`, longest held first.
    pub(super) fn overdue(
        &self,
        now: Instant,
        threshold: Duration,
        key_of: impl Fn(SessionId) -> String,
    ) -> Vec<LeakReport> {
        let overdue = self.out.iter().flatten().filter(|checkout| checkout.held(now) >= threshold);
        longest_first(overdue.map(|checkout| checkout.report(now, key_of(checkout.session))).collect())
    }
}

/// Sorted so that reports do not follow the ledger's order.
fn longest_first(mut leaks: Vec<LeakReport>) -> Vec<LeakReport> {
    leaks.sort_by(|a, b| b.held_for.cmp(&a.held_for).then_with(|| a.location.cmp(&b.location)));
    leaks
}

impl LedgerEntry {
    fn held(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }

    fn report(&self, now: Instant, key: String) -> LeakReport {
        LeakReport {
            key,
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
