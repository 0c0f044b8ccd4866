//! The last N calls, in a ring of outcomes written with atomics only.
//!
//! Each record takes the next sequence number, swaps its outcome into slot `number % N` and
//! corrects two running totals by the difference between the outcome it put in and the one it
//! took out. The totals are therefore always the sum of the ring's contents once the records
//! in progress have finished — exact when nothing moves, and off by at most the records in
//! progress while calls end concurrently. What concurrency can blur is only *which* calls the
//! ring holds: two records N apart that race for the same slot may leave the older outcome
//! there. Single-threaded, the ring holds exactly the last N calls.

use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU64, Ordering};

use super::window::WindowReading;

const EMPTY: u8 = 0;
const SUCCESS: u8 = 1;
const FAILURE: u8 = 2;

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

#[cfg(test)]
mod tests {
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
