//! Memory-aware admission: work that declares a cost in bytes — a call's
//! [`Call::cost`](crate::Call::cost), a pool's `create_cost` — waits while the machine's
//! available memory, less the cost of the admitted work still running, would fall below the
//! floor (`health.memory_floor`).
//!
//! Used by the call path and by the pool, so it lives below both. The health monitor writes the
//! last reading here after each sample ([`MemoryGate::observe`]); admission reads one atomic, so
//! no call reads the machine.
//!
//! # Why a reservation counts until the work ends
//!
//! The reading cannot tell which bytes a running piece of work already uses: a browser grows to
//! its size over seconds, so a sample taken meanwhile shows part of it. Counting the cost of
//! admitted work in full, whatever the reading already shows of it, errs towards waiting — work
//! admitted late rather than a machine out of memory.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;

use crate::Rejection;
use crate::sync::{AtomicU64, AtomicUsize, CountedWhileAlive};

/// No reading, or no floor: admission does not wait.
const UNLIMITED: u64 = u64::MAX;

/// The memory admitted work may still reserve, and what it has reserved.
#[derive(Debug)]
pub(crate) struct MemoryGate {
    /// `health.memory_floor`: a percentage of the machine's memory; `None` never waits.
    floor_percent: Option<f64>,
    /// Bytes the work in flight may reserve in all: available less the floor at the last
    /// reading, or [`UNLIMITED`].
    allowance: AtomicU64,
    /// The most any one piece of work can ever reserve: the machine's memory less the floor
    /// at the last reading, or [`UNLIMITED`].
    ceiling: AtomicU64,
    /// The last reading's available bytes and floor in bytes, for the status ([`UNLIMITED`]:
    /// none).
    available: AtomicU64,
    floor: AtomicU64,
    /// The cost of the admitted work that has not ended.
    reserved: AtomicU64,
    /// Work waiting for memory now.
    waiting: AtomicUsize,
    /// Wakes the waiting work when memory is released or a new reading arrives.
    changed: Notify,
}

/// The gate's figures for the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryFigures {
    pub(crate) reserved: u64,
    pub(crate) available: Option<u64>,
    pub(crate) floor: Option<u64>,
    pub(crate) waiting: usize,
}

impl MemoryGate {
    pub(crate) fn new(floor_percent: Option<f64>) -> Self {
        MemoryGate {
            floor_percent,
            allowance: AtomicU64::new(UNLIMITED),
            ceiling: AtomicU64::new(UNLIMITED),
            available: AtomicU64::new(UNLIMITED),
            floor: AtomicU64::new(UNLIMITED),
            reserved: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    /// Takes a sample's available and total memory in bytes; `None` (not read) lets every
    /// reservation through until a reading arrives.
    pub(crate) fn observe(&self, available: Option<u64>, total: Option<u64>) {
        let floor =
            self.floor_percent.zip(total).map(|(percent, total)| (total as f64 * percent / 100.0) as u64);
        let allowance = match (available, floor) {
            (Some(available), Some(floor)) => available.saturating_sub(floor),
            _ => UNLIMITED,
        };
        // A reading whose available memory exceeds its total (a custom sampler, or the two
        // read from different sources) must not refuse what it would admit.
        let most = total.map(|total| total.max(available.unwrap_or(0)));
        let ceiling = most.zip(floor).map_or(UNLIMITED, |(most, floor)| most.saturating_sub(floor));
        // Relaxed: each is a reading on its own; the waiters are woken through `changed`.
        self.available.store(available.unwrap_or(UNLIMITED), Ordering::Relaxed);
        self.floor.store(floor.unwrap_or(UNLIMITED), Ordering::Relaxed);
        self.allowance.store(allowance, Ordering::Relaxed);
        self.ceiling.store(ceiling, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    /// Reserves `cost` bytes if they fit in the allowance with what is reserved.
    pub(crate) fn try_reserve(&self, cost: u64) -> bool {
        // Relaxed: a count compared with a reading; nothing else is published through it.
        let allowance = self.allowance.load(Ordering::Relaxed);
        let mut reserved = self.reserved.load(Ordering::Relaxed);
        loop {
            let after = reserved.saturating_add(cost);
            if after > allowance {
                return false;
            }
            // Relaxed: see above; the compare-exchange alone keeps the count exact.
            match self.reserved.compare_exchange_weak(reserved, after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => reserved = now,
            }
        }
    }

    /// Reserves `cost` bytes, waiting for them at most `within` (`None`: as long as it takes);
    /// returns how long it waited, which the wait for a worker that follows deducts from the
    /// same queue timeout.
    ///
    /// # Errors
    ///
    /// [`Rejection::QueueTimeout`] once `within` has passed; [`Rejection::CostTooHigh`] at
    /// once if `cost` is more than the machine's memory less the floor (no wait could admit it).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the bytes are reserved in the poll that returns them, so a dropped wait
    /// has reserved nothing.
    pub(crate) async fn reserve(&self, cost: u64, within: Option<Duration>) -> Result<Duration, Rejection> {
        let started = tokio::time::Instant::now();
        let waited = match within {
            None => self.wait_for(cost).await,
            Some(waited) => tokio::time::timeout(waited, self.wait_for(cost)).await.map_err(|_elapsed| {
                tracing::warn!(target: "bursar::workers", cost, ?waited, figures = ?self.figures(), "no memory for the work within the queue timeout");
                Rejection::QueueTimeout { waited }
            })?,
        };
        waited.map_err(CostTooHigh::refuse_call)?;
        Ok(started.elapsed())
    }

    /// Whether `cost` could ever be admitted: not if it is more than the machine's memory less
    /// the floor at the last reading.
    ///
    /// # Errors
    ///
    /// [`CostTooHigh`] if it could not.
    pub(crate) fn check_ceiling(&self, cost: u64) -> Result<(), CostTooHigh> {
        // Relaxed: a reading, as the allowance.
        let most = self.ceiling.load(Ordering::Relaxed);
        if cost > most { Err(CostTooHigh { cost, most }) } else { Ok(()) }
    }

    /// Says that `what` (a call's name, or a pool's create) waits for `cost` bytes.
    #[cold]
    pub(crate) fn waits(&self, cost: u64, what: &'static str) {
        let figures = self.figures();
        tracing::info!(
            target: "bursar::workers",
            what,
            cost,
            reserved = figures.reserved,
            available = ?figures.available,
            floor = ?figures.floor,
            "admission waits for memory"
        );
    }

    /// Waits until `cost` fits, and reserves it; ends at once, at the first reading or at any
    /// later one, if `cost` is more than any wait could admit.
    async fn wait_for(&self, cost: u64) -> Result<(), CostTooHigh> {
        // Relaxed: a gauge for the status.
        let _waiting = CountedWhileAlive::enter(&self.waiting, Ordering::Relaxed);
        loop {
            let mut changed = pin!(self.changed.notified());
            // Listening before trying, so a release between the two wakes this wait.
            changed.as_mut().enable();
            if self.try_reserve(cost) {
                return Ok(());
            }
            self.check_ceiling(cost)?;
            changed.await;
        }
    }

    /// Gives back `cost` bytes reserved with [`try_reserve`](Self::try_reserve) or
    /// [`reserve`](Self::reserve), and wakes the work waiting for memory.
    pub(crate) fn release(&self, cost: u64) {
        // Relaxed: see `try_reserve`.
        self.reserved.fetch_sub(cost, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    pub(crate) fn figures(&self) -> MemoryFigures {
        let known = |value: u64| (value != UNLIMITED).then_some(value);
        // Relaxed: gauges for the status, read one after another.
        MemoryFigures {
            reserved: self.reserved.load(Ordering::Relaxed),
            available: known(self.available.load(Ordering::Relaxed)),
            floor: known(self.floor.load(Ordering::Relaxed)),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

/// A cost more than memory-aware admission ever admits: more than the machine's memory less
/// the floor, so no wait could admit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CostTooHigh {
    /// The work's cost, in bytes.
    pub(crate) cost: u64,
    /// The most any work can reserve: the machine's memory less the floor, in bytes.
    pub(crate) most: u64,
}

impl CostTooHigh {
    /// A call's rejection for it, with its `WARN` event.
    #[cold]
    pub(crate) fn refuse_call(self) -> Rejection {
        let CostTooHigh { cost, most } = self;
        tracing::warn!(target: "bursar::workers", cost, most, "the work costs more memory than the floor ever admits");
        Rejection::CostTooHigh { cost, most }
    }
}

/// Bytes reserved for a piece of work, given back when it is dropped.
#[derive(Debug)]
#[must_use = "the bytes are given back when the reservation is dropped"]
pub(crate) struct Reserved<'a> {
    gate: &'a MemoryGate,
    cost: u64,
}

impl<'a> Reserved<'a> {
    /// Reserves `cost` bytes of `gate`, waiting as long as it takes (a caller's deadline bounds
    /// it).
    ///
    /// # Errors
    ///
    /// [`CostTooHigh`] if no wait could admit `cost`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`MemoryGate::reserve`].
    pub(crate) async fn wait(
        gate: &'a MemoryGate,
        cost: u64,
        what: &'static str,
    ) -> Result<Self, CostTooHigh> {
        if !gate.try_reserve(cost) {
            gate.check_ceiling(cost)?;
            gate.waits(cost, what);
            gate.wait_for(cost).await?;
        }
        Ok(Reserved { gate, cost })
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.gate.release(self.cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1 << 30;

    #[test]
    fn without_a_reading_or_a_floor_every_reservation_fits() {
        let unread = MemoryGate::new(Some(10.0));
        assert!(unread.try_reserve(u64::MAX / 2));
        let no_floor = MemoryGate::new(None);
        no_floor.observe(Some(GB), Some(10 * GB));
        assert!(no_floor.try_reserve(5 * GB));
        assert_eq!(
            no_floor.figures(),
            MemoryFigures { reserved: 5 * GB, available: Some(GB), floor: None, waiting: 0 }
        );
    }

    #[test]
    fn reservations_fit_within_available_less_the_floor() {
        let gate = MemoryGate::new(Some(10.0));
        gate.observe(Some(3 * GB), Some(10 * GB)); // 2 GB above the 1 GB floor
        assert!(gate.try_reserve(GB));
        assert!(gate.try_reserve(GB));
        assert!(!gate.try_reserve(1), "the floor is reached");
        gate.release(GB);
        assert!(!gate.try_reserve(GB + 1));
        assert!(gate.try_reserve(GB));
        assert_eq!(
            gate.figures(),
            MemoryFigures { reserved: 2 * GB, available: Some(3 * GB), floor: Some(GB), waiting: 0 }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_at_a_release_and_a_dropped_wait_reserves_nothing() {
        let gate = MemoryGate::new(Some(10.0));
        gate.observe(Some(3 * GB), Some(10 * GB));
        let first = Reserved::wait(&gate, 2 * GB, "first").await.unwrap();
        let dropped =
            tokio::time::timeout(Duration::from_secs(1), Reserved::wait(&gate, GB, "dropped")).await;
        assert!(dropped.is_err(), "no memory until the first is released");
        assert_eq!(gate.figures().reserved, 2 * GB);
        let timed_out = gate.reserve(GB, Some(Duration::from_secs(2))).await.unwrap_err();
        assert_eq!(timed_out, Rejection::QueueTimeout { waited: Duration::from_secs(2) });
        let mut second = pin!(Reserved::wait(&gate, GB, "second"));
        assert!(futures_poll(second.as_mut()).is_none());
        assert_eq!(gate.figures().waiting, 1);
        drop(first);
        let second = futures_poll(second.as_mut()).expect("woken by the release").unwrap();
        assert_eq!(
            gate.figures(),
            MemoryFigures { reserved: GB, available: Some(3 * GB), floor: Some(GB), waiting: 0 }
        );
        drop(second);
        assert_eq!(gate.figures().reserved, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cost_above_the_memory_less_the_floor_ends_its_wait_at_the_reading_that_shows_it() {
        let gate = MemoryGate::new(Some(10.0));
        let unread = gate.reserve(20 * GB, None).await;
        assert_eq!(unread, Ok(Duration::ZERO), "without a reading every reservation fits");
        gate.release(20 * GB);
        gate.observe(Some(3 * GB), Some(100 * GB)); // at most 90 GB, 2 GB to spare now
        let mut waiting = pin!(gate.reserve(50 * GB, None));
        assert!(futures_poll(waiting.as_mut()).is_none());
        assert_eq!(gate.figures().waiting, 1);
        gate.observe(Some(3 * GB), Some(40 * GB)); // a smaller machine: at most 36 GB
        let refused = futures_poll(waiting.as_mut()).expect("woken by the reading");
        assert_eq!(refused, Err(Rejection::CostTooHigh { cost: 50 * GB, most: 36 * GB }));
        let at_once = gate.reserve(36 * GB + 1, Some(Duration::from_secs(5))).await;
        assert_eq!(at_once, Err(Rejection::CostTooHigh { cost: 36 * GB + 1, most: 36 * GB }));
        let at_once = Reserved::wait(&gate, 36 * GB + 1, "create").await.map(drop);
        assert_eq!(at_once, Err(CostTooHigh { cost: 36 * GB + 1, most: 36 * GB }));
        assert_eq!((gate.figures().reserved, gate.figures().waiting), (0, 0));
    }

    /// A reading whose available memory exceeds its total refuses nothing it would admit: the
    /// most is the larger of the two, less the floor.
    #[tokio::test(start_paused = true)]
    async fn available_above_total_raises_the_most_to_it() {
        let gate = MemoryGate::new(Some(10.0));
        gate.observe(Some(12 * GB), Some(10 * GB)); // floor 1 GB: 11 GB to spare, at most 11 GB
        assert!(gate.try_reserve(10 * GB));
        let mut waiting = pin!(gate.reserve(11 * GB, None));
        assert!(futures_poll(waiting.as_mut()).is_none(), "fits on the idle machine: waits");
        assert_eq!(gate.check_ceiling(11 * GB + 1), Err(CostTooHigh { cost: 11 * GB + 1, most: 11 * GB }));
        gate.release(10 * GB);
        assert!(futures_poll(waiting.as_mut()).expect("woken by the release").is_ok());
    }

    fn futures_poll<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.poll(&mut cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        }
    }
}
