//! One named range: every port not leased waits in a single queue, ordered by the time it may
//! next be leased.
//!
//! A released port joins the back, due at `now + quarantine`. The quarantine is the same for
//! every port, so the back is always the latest due time and the queue stays sorted; the front
//! is the port that has rested longest. Leasing pops the front if it is due: no scan and no
//! loop, O(1) whatever the range's size. Releasing is one push, O(1). Splitting the queue into
//! free and quarantined ports is a binary search, O(log n), and only status needs it.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::{PortRange, RangeStatus};

/// A port waiting to be leased.
#[derive(Debug, Clone, Copy)]
pub(super) struct Waiting {
    pub(super) port: u16,
    /// `None` for a port never leased, free from the start whatever any clock says.
    due: Option<Instant>,
}

impl Waiting {
    fn is_due(&self, now: Instant) -> bool {
        self.due.is_none_or(|due| due <= now)
    }

    /// How long until it is due: zero if it is.
    fn due_in(&self, now: Instant) -> Duration {
        self.due.map_or(Duration::ZERO, |due| due.saturating_duration_since(now))
    }
}

/// The state of one range. Each port is in the queue or held by exactly one lease (or by the
/// one `allocate` call probing it), never both, so it is never leased twice at once.
pub(crate) struct Range {
    name: String,
    size: usize,
    quarantine: Duration,
    waiting: Mutex<VecDeque<Waiting>>,
}

impl Range {
    /// A range with every port free, in ascending order. `range` must be valid.
    pub(crate) fn new(range: &PortRange, quarantine: Duration) -> Self {
        let waiting = (range.first..=range.last).map(|port| Waiting { port, due: None }).collect();
        Range { name: range.name.clone(), size: range.size(), quarantine, waiting: Mutex::new(waiting) }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Takes the port that has rested longest if it is due at `now`. O(1).
    ///
    /// Otherwise returns how long until the first quarantined port is due, or `None` if every
    /// port is leased.
    #[inline]
    pub(crate) fn take(&self, now: Instant) -> Result<u16, Option<Duration>> {
        let mut waiting = self.waiting.lock();
        let next = *waiting.front().ok_or(None)?;
        if !next.is_due(now) {
            return Err(Some(next.due_in(now)));
        }
        waiting.pop_front();
        Ok(next.port)
    }

    /// Takes up to `most` ports that are due at `now`, the one that rested longest first.
    /// O(most).
    ///
    /// Otherwise, as [`take`](Self::take), how long until the first quarantined port is due.
    pub(super) fn take_due(&self, now: Instant, most: usize) -> Result<Vec<Waiting>, Option<Duration>> {
        let mut waiting = self.waiting.lock();
        let next = *waiting.front().ok_or(None)?;
        if !next.is_due(now) {
            return Err(Some(next.due_in(now)));
        }
        let due = waiting.iter().take(most).take_while(|port| port.is_due(now)).count();
        Ok(waiting.drain(..due).collect())
    }

    /// How long until the next port in the queue is due (zero if one is due now); `None` if
    /// every port is leased.
    pub(super) fn next_due(&self, now: Instant) -> Option<Duration> {
        Some(self.waiting.lock().front()?.due_in(now))
    }

    /// Puts ports taken but not leased back at the front, in their order and with their due
    /// times: they were due, so the queue stays sorted by due and free ports come first. O(n).
    pub(super) fn put_front(&self, ports: &[Waiting]) {
        let mut waiting = self.waiting.lock();
        for port in ports.iter().rev() {
            waiting.push_front(*port);
        }
    }

    /// Puts `port` back at the end of the queue, due after the quarantine. O(1).
    pub(crate) fn put_back(&self, port: u16, now: Instant) {
        // Unreachable in practice (the quarantine is at most an hour): no clock is that close
        // to its end. Reusing the port at once is the harmless fallback.
        let rested = now.checked_add(self.quarantine).unwrap_or(now);
        let mut waiting = self.waiting.lock();
        // A release that read the clock just before another one may lock just after it: the
        // later due time keeps the queue sorted, and costs that port nanoseconds.
        let due = waiting.back().and_then(|last| last.due).map_or(rested, |last| last.max(rested));
        waiting.push_back(Waiting { port, due: Some(due) });
    }

    /// How many ports are leased now (or taken out for a claim). O(1).
    pub(crate) fn leased(&self) -> usize {
        self.size.saturating_sub(self.waiting.lock().len())
    }

    /// How many ports are leased, free and quarantined at `now`. O(log n).
    pub(crate) fn status(&self, now: Instant) -> RangeStatus {
        let waiting = self.waiting.lock();
        let free = waiting.partition_point(|port| port.is_due(now));
        RangeStatus {
            leased: self.size.saturating_sub(waiting.len()),
            free,
            quarantined: waiting.len() - free,
        }
    }
}

/// Leaves the queue out: it holds up to 65,535 entries.
impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Range")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("quarantine", &self.quarantine)
            .finish_non_exhaustive()
    }
}
