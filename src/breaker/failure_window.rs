//! The failure-rate window: the recent calls a breaker judges its failure rate on, counted by
//! number ([`CountWindow`]) or by time ([`TimeWindow`]). Both record with atomics only, so a
//! success in the closed state never takes a lock; each states below what is exact. The same
//! counts behind one mutex cost 17–45 % more per success (BENCHMARKS.md), so the atomics stay,
//! with loom models below for their races.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::trip_rules::RateWindow;
use crate::sync::{AtomicI32, AtomicU8, AtomicU64};

/// The calls in a window and how many of them failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowReading {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
}

impl WindowReading {
    /// Failures per call, 0 for an empty window.
    pub(crate) fn rate(self) -> f64 {
        if self.calls == 0 { 0.0 } else { f64::from(self.failures) / f64::from(self.calls) }
    }
}

#[derive(Debug)]
pub(crate) enum FailureWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl FailureWindow {
    pub(crate) fn new(window: RateWindow) -> Self {
        match window {
            RateWindow::Count(calls) => FailureWindow::Count(CountWindow::new(calls)),
            RateWindow::Time(span) => FailureWindow::Time(TimeWindow::new(span)),
        }
    }

    /// Records one outcome; `now` is read only by a time window.
    #[inline]
    pub(crate) fn record(&self, now: impl FnOnce() -> Instant, failed: bool) {
        match self {
            FailureWindow::Count(window) => window.record(failed),
            FailureWindow::Time(window) => window.record(now(), failed),
        }
    }

    pub(crate) fn reading(&self, now: Instant) -> WindowReading {
        match self {
            FailureWindow::Count(window) => window.reading(),
            FailureWindow::Time(window) => window.reading(now),
        }
    }

    pub(crate) fn clear(&self) {
        match self {
            FailureWindow::Count(window) => window.clear(),
            FailureWindow::Time(window) => window.clear(),
        }
    }
}

// ---- The count window -------------------------------------------------------------------

const EMPTY: u8 = 0;
const SUCCESS: u8 = 1;
const FAILURE: u8 = 2;

/// The last N calls, in a ring of outcomes written with atomics only.
///
/// Each record takes the next sequence number, swaps its outcome into slot `number % N` and
/// corrects two running totals by the difference between the outcome it put in and the one it
/// took out. The totals are therefore always the sum of the ring's contents once the records
/// in progress have finished — exact when nothing moves, and off by at most the records in
/// progress while calls end concurrently. What concurrency can blur is only *which* calls the
/// ring holds: two records N apart that race for the same slot may leave the older outcome
/// there. Single-threaded, the ring holds exactly the last N calls.
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    /// Signed so a total read between a slot swap and its correction can dip below zero
    /// for a moment instead of wrapping; readings clamp it.
    calls: AtomicI32,
    failures: AtomicI32,
}

impl CountWindow {
    /// A window of the last `size` calls; `size` is at least 1 (validated).
    pub(crate) fn new(size: u32) -> Self {
        CountWindow {
            slots: (0..size.max(1)).map(|_| AtomicU8::new(EMPTY)).collect(),
            next: AtomicU64::new(0),
            calls: AtomicI32::new(0),
            failures: AtomicI32::new(0),
        }
    }

    pub(crate) fn record(&self, failed: bool) {
        // Relaxed: the number only picks a slot; the slot's swap carries the outcome.
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        // The remainder is below the ring's length, so it fits in a usize.
        let slot = &self.slots[(number % self.slots.len() as u64) as usize];
        let outcome = if failed { FAILURE } else { SUCCESS };
        // Relaxed: the swap is the record; the totals are corrected from what it returns.
        let replaced = slot.swap(outcome, Ordering::Relaxed);
        self.correct(replaced, outcome);
    }

    pub(crate) fn reading(&self) -> WindowReading {
        // Relaxed: tallies; nothing else is read through them.
        let calls = self.calls.load(Ordering::Relaxed).clamp(0, self.slots.len() as i32);
        let failures = self.failures.load(Ordering::Relaxed).clamp(0, calls);
        WindowReading { calls: calls as u32, failures: failures as u32 }
    }

    /// Empties the ring. Records made while it runs may survive it.
    pub(crate) fn clear(&self) {
        for slot in self.slots.iter() {
            // Relaxed: as in `record`.
            let replaced = slot.swap(EMPTY, Ordering::Relaxed);
            self.correct(replaced, EMPTY);
        }
    }

    fn correct(&self, replaced: u8, outcome: u8) {
        let calls = i32::from(outcome != EMPTY) - i32::from(replaced != EMPTY);
        let failures = i32::from(outcome == FAILURE) - i32::from(replaced == FAILURE);
        // Relaxed: tallies; a success replacing a success touches neither.
        if calls != 0 {
            self.calls.fetch_add(calls, Ordering::Relaxed);
        }
        if failures != 0 {
            self.failures.fetch_add(failures, Ordering::Relaxed);
        }
    }
}

// ---- The time window --------------------------------------------------------------------

const SLOTS: u64 = 16;
const COUNT_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << 16) - 1;
/// A jump this long may wrap the tags onto the slots it passes, so they are emptied blindly.
const LONG_JUMP: u64 = TAG_MASK + 1 - SLOTS;

/// The calls of the last T, in 16 slots of T/16 written with atomics only.
///
/// Slot number `n` (counted in slot widths from the first `now` seen) lives at `n % 16`, in one
/// `AtomicU64` that packs the low 16 bits of `n` as a tag with 24-bit counts of calls and
/// failures. A record adds to its slot with a compare-and-swap; a record whose slot still holds
/// an older number starts it afresh. `newest` is the highest number seen; a record with an
/// earlier `now` counts in the newest slot. The record that raises `newest` empties the slots
/// the window moved past, so every slot holds one of the last 16 numbers and 16 tag bits
/// never mix two of them up.
///
/// Single-threaded the counts are exact. Concurrently, every record still lands exactly once,
/// except one that races the window's first move after more than 65 000 slots of silence. A
/// slot counts at most 16 777 215 calls; calls beyond that are not counted, so the rate stays
/// that of the calls counted.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    /// T/16 in nanoseconds: at least 62.5 ms, as T is at least a second (validated).
    slot_nanos: u64,
    origin: OnceLock<Instant>,
    newest: AtomicU64,
    slots: [AtomicU64; SLOTS as usize],
}

/// The window moved a whole width past the number a record was for.
struct Passed;

impl TimeWindow {
    pub(crate) fn new(span: Duration) -> Self {
        TimeWindow {
            slot_nanos: u64::try_from(span.as_nanos() / u128::from(SLOTS)).unwrap_or(u64::MAX).max(1),
            origin: OnceLock::new(),
            newest: AtomicU64::new(0),
            // Slot i starts as an empty slot number i.
            slots: std::array::from_fn(|index| AtomicU64::new(pack(index as u64, 0, 0))),
        }
    }

    pub(crate) fn record(&self, now: Instant, failed: bool) {
        let mut number = self.advance(self.number(now));
        while let Err(Passed) = self.claim(number, 1, u64::from(failed), true) {
            // Acquire: see `advance`.
            number = self.newest.load(Ordering::Acquire);
        }
    }

    pub(crate) fn reading(&self, now: Instant) -> WindowReading {
        // Acquire: see `advance`.
        let newest = self.newest.load(Ordering::Acquire);
        let number = self.number(now).max(newest);
        let mut reading = WindowReading::default();
        if number - newest >= SLOTS {
            return reading;
        }
        for slot in &self.slots {
            // Acquire: see `advance`.
            let word = slot.load(Ordering::Acquire);
            if number.wrapping_sub(tag(word)) & TAG_MASK < SLOTS {
                reading.calls += calls(word) as u32;
                reading.failures += failures(word) as u32;
            }
        }
        reading
    }

    /// Empties every slot. Records made while it runs may survive it.
    pub(crate) fn clear(&self) {
        for slot in &self.slots {
            // AcqRel: as in `claim`; the update keeps the tag.
            let _ =
                slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| Some(pack(tag(word), 0, 0)));
        }
    }

    fn number(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(*self.origin.get_or_init(|| now));
        // u64 nanoseconds last 584 years.
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX) / self.slot_nanos
    }

    /// Moves `newest` up to `number` and empties the slots passed over, `number`'s own
    /// included; returns the number to record in: `number`, or a higher one another record
    /// already moved to.
    fn advance(&self, number: u64) -> u64 {
        // Acquire: a slot claimed for a number is only seen with `newest` at that number or
        // later, because every record raises `newest` (AcqRel below) before it claims.
        let newest = self.newest.load(Ordering::Acquire);
        if number <= newest {
            return newest;
        }
        let previous = self.newest.fetch_max(number, Ordering::AcqRel);
        if previous >= number {
            return previous;
        }
        let trust_tags = number - previous < LONG_JUMP;
        for passed in (previous + 1).max(number.saturating_sub(SLOTS - 1))..=number {
            let _ = self.claim(passed, 0, 0, trust_tags);
        }
        number
    }

    /// Adds to slot `number`, first emptying it if it holds another number (or, unless
    /// `trust_tags`, whatever it holds).
    fn claim(
        &self,
        number: u64,
        calls_added: u64,
        failures_added: u64,
        trust_tags: bool,
    ) -> Result<(), Passed> {
        let slot = &self.slots[(number % SLOTS) as usize];
        // Acquire: see `advance`.
        let mut word = slot.load(Ordering::Acquire);
        let fresh = pack(number, calls_added, failures_added);
        loop {
            let next = if trust_tags && tag(word) == tag(fresh) {
                if calls(word) + calls_added > COUNT_MASK {
                    return Ok(()); // full: this call is not counted
                }
                word + (calls_added << COUNT_BITS) + failures_added
            } else if self.newest.load(Ordering::Acquire) >= number + SLOTS {
                return Err(Passed);
            } else {
                fresh
            };
            // AcqRel: publishes the slot to readers and records that loaded `newest` (see `advance`).
            match slot.compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => word = actual,
            }
        }
    }
}

fn pack(number: u64, calls: u64, failures: u64) -> u64 {
    (number & TAG_MASK) << (2 * COUNT_BITS) | calls << COUNT_BITS | failures
}

fn tag(word: u64) -> u64 {
    word >> (2 * COUNT_BITS)
}

fn calls(word: u64) -> u64 {
    (word >> COUNT_BITS) & COUNT_MASK
}

fn failures(word: u64) -> u64 {
    word & COUNT_MASK
}

#[cfg(test)]
mod count_tests {
    use super::*;

    fn reading(window: &CountWindow) -> (u32, u32) {
        let WindowReading { failures, calls } = window.reading();
        (failures, calls)
    }

    #[test]
    fn the_ring_holds_exactly_the_last_n_calls() {
        let window = CountWindow::new(4);
        for failed in [true, true, false, true] {
            window.record(failed);
        }
        assert_eq!(reading(&window), (3, 4));
        window.record(false); // pushes out the first failure
        window.record(false); // and the second
        assert_eq!(reading(&window), (1, 4));
        for _ in 0..4 {
            window.record(true);
        }
        assert_eq!(reading(&window), (4, 4));
        window.clear();
        assert_eq!(reading(&window), (0, 0));
        window.record(true);
        assert_eq!(reading(&window), (1, 1));
    }

    #[test]
    fn concurrent_records_leave_totals_equal_to_the_ring() {
        let window = CountWindow::new(7);
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let window = &window;
                scope.spawn(move || (0..10_000).for_each(|call| window.record((call + thread) % 3 == 0)));
            }
        });
        let failures_in_ring =
            window.slots.iter().filter(|slot| slot.load(Ordering::Relaxed) == FAILURE).count();
        assert_eq!(reading(&window), (failures_in_ring as u32, 7));
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn reading(window: &TimeWindow, now: Instant) -> (u32, u32) {
        let WindowReading { failures, calls } = window.reading(now);
        (failures, calls)
    }

    #[test]
    fn calls_leave_the_window_once_their_slot_does() {
        let window = TimeWindow::new(MINUTE);
        let start = Instant::now();
        window.record(start, true);
        window.record(start + Duration::from_secs(30), false);
        assert_eq!(reading(&window, start + Duration::from_nanos(59_999_999_999)), (1, 2));
        assert_eq!(reading(&window, start + MINUTE), (0, 1), "the first slot left the window");
        assert_eq!(reading(&window, start + Duration::from_secs(90)), (0, 0));
    }

    #[test]
    fn a_slot_reused_a_window_later_starts_empty() {
        let window = TimeWindow::new(MINUTE);
        let start = Instant::now();
        (0..5).for_each(|_| window.record(start, true));
        window.record(start + MINUTE, false);
        assert_eq!(reading(&window, start + MINUTE), (0, 1));
    }

    #[test]
    fn a_long_silence_empties_every_slot_even_when_tags_wrap() {
        let window = TimeWindow::new(Duration::from_secs(16)); // one slot per second
        let start = Instant::now();
        for second in 0..16 {
            window.record(start + Duration::from_secs(second), true);
        }
        assert_eq!(reading(&window, start + Duration::from_secs(15)), (16, 16));
        // 65 536 slots later every tag matches its old number again.
        let later = start + Duration::from_secs(65_536 + 15);
        window.record(later, false);
        assert_eq!(reading(&window, later), (0, 1));
    }

    #[test]
    fn an_earlier_now_counts_in_the_newest_slot() {
        let window = TimeWindow::new(MINUTE);
        let start = Instant::now();
        window.record(start + MINUTE, false);
        window.record(start, true);
        assert_eq!(reading(&window, start + Duration::from_secs(60 + 59)), (1, 2));
    }

    #[test]
    fn a_cleared_window_is_empty() {
        let window = TimeWindow::new(MINUTE);
        let start = Instant::now();
        window.record(start, true);
        window.clear();
        assert_eq!(reading(&window, start), (0, 0));
        window.record(start, true);
        assert_eq!(reading(&window, start), (1, 1));
    }

    #[test]
    fn concurrent_records_all_land_once() {
        let window = TimeWindow::new(Duration::from_secs(16));
        let start = Instant::now();
        std::thread::scope(|scope| {
            for thread in 0..8u64 {
                let window = &window;
                scope.spawn(move || {
                    for call in 0..4_000u64 {
                        let now = start + Duration::from_millis(call * 2 + thread);
                        window.record(now, call % 4 == 0);
                    }
                });
            }
        });
        // The last 16 s of an 8 s run: every call is still in the window.
        assert_eq!(reading(&window, start + Duration::from_secs(8)), (8_000, 32_000));
    }
}

/// Every interleaving of the windows' lock-free records, explored by loom.
#[cfg(all(test, bursar_loom))]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn failures_in_ring(window: &CountWindow) -> u32 {
        window.slots.iter().filter(|slot| slot.load(Ordering::Relaxed) == FAILURE).count() as u32
    }

    /// Two records racing for the one slot of a window of one call: whichever outcome stays,
    /// the totals are the ring's.
    #[test]
    fn loom_count_window_racing_records_leave_totals_equal_to_the_ring() {
        loom::model(|| {
            let window = Arc::new(CountWindow::new(1));
            let other = Arc::clone(&window);
            let racing = thread::spawn(move || other.record(true));
            window.record(false);
            racing.join().unwrap();
            let expected = WindowReading { calls: 1, failures: failures_in_ring(&window) };
            assert_eq!(window.reading(), expected);
        });
    }

    /// A record racing a clear may survive it or not, but the totals are the ring's.
    #[test]
    fn loom_count_window_a_record_racing_a_clear_leaves_totals_equal_to_the_ring() {
        loom::model(|| {
            let window = Arc::new(CountWindow::new(2));
            window.record(true);
            let other = Arc::clone(&window);
            let racing = thread::spawn(move || other.record(true));
            window.clear();
            racing.join().unwrap();
            let failures = failures_in_ring(&window);
            assert!(failures <= 1, "the record before the clear is gone: {failures}");
            assert_eq!(window.reading(), WindowReading { calls: failures, failures });
        });
    }

    /// Two records of one slot both count.
    #[test]
    fn loom_time_window_racing_records_in_one_slot_both_count() {
        loom::model(|| {
            let window = Arc::new(TimeWindow::new(16 * SECOND)); // one slot per second
            let start = Instant::now();
            window.record(start, false);
            let other = Arc::clone(&window);
            let racing = thread::spawn(move || other.record(start + SECOND, true));
            window.record(start + SECOND, false);
            racing.join().unwrap();
            assert_eq!(window.reading(start + SECOND), WindowReading { calls: 3, failures: 1 });
        });
    }

    /// A record that moves the window on, racing a record of a slot it passes over: the slot's
    /// record lands once, in its slot or in the newest, and neither is lost.
    #[test]
    fn loom_time_window_a_record_racing_the_window_s_move_lands_once() {
        loom::model(|| {
            let window = Arc::new(TimeWindow::new(16 * SECOND));
            let start = Instant::now();
            window.record(start, false);
            let other = Arc::clone(&window);
            let racing = thread::spawn(move || other.record(start + 3 * SECOND, true));
            window.record(start + 5 * SECOND, false);
            racing.join().unwrap();
            assert_eq!(window.reading(start + 5 * SECOND), WindowReading { calls: 3, failures: 1 });
        });
    }
}
