//! Which attempts an adaptive limit times.
//!
//! Timing an attempt costs two clock reads and the algorithm's lock: at a few hundred
//! attempts a second nothing, at millions a second more than the rest of the call. So while
//! timed attempts end at most about once a millisecond every attempt is timed, and above that
//! only one in `every`, `every` doubling while they come faster and halving while they come
//! slower. An algorithm needs a window of samples, not every attempt: a thousand a second
//! fill its windows many times over at any limit a dependency serves.
//!
//! Overloads are never left out: an untimed attempt that timed out or was overloaded is still
//! fed to the algorithm (without a latency, which it does not use for them).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The most attempts one timed attempt stands for.
pub(crate) const MAX_EVERY: u32 = 1024;

/// Timed attempts per pace measurement.
const PACE_SAMPLES: u32 = 16;

/// Faster than this per timed attempt (over [`PACE_SAMPLES`]): time fewer.
const FAST: Duration = Duration::from_millis(1);

/// Slower than this per timed attempt: time more.
const SLOW: Duration = Duration::from_millis(4);

/// The attempts' side (which to time) and the algorithm's (how fast timed ones come).
///
/// Every field is an atomic read and written with `Relaxed` ordering: `due` is a hint whose
/// races only move a sample by an attempt, and `paced` runs under the algorithm's lock.
#[derive(Debug)]
pub(crate) struct Timing {
    /// Attempts still to pass untimed before the next timed one.
    countdown: AtomicU32,
    /// One attempt in `every` is timed: a power of two, 1 to [`MAX_EVERY`].
    every: AtomicU32,
    /// When the current pace measurement began (nanoseconds on the samples' clock).
    pace_started: AtomicU64,
    /// Timed attempts since then.
    paced: AtomicU32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            countdown: AtomicU32::new(0),
            every: AtomicU32::new(1),
            pace_started: AtomicU64::new(0),
            paced: AtomicU32::new(0),
        }
    }
}

impl Timing {
    /// Whether the attempt starting now is timed.
    #[inline]
    pub(crate) fn due(&self) -> bool {
        // A load and a store, not a read-modify-write: two calls racing may both take the same
        // count, which times one attempt more or fewer, never none for long.
        let left = self.countdown.load(Ordering::Relaxed);
        if left > 0 {
            self.countdown.store(left - 1, Ordering::Relaxed);
            return false;
        }
        self.countdown.store(self.every.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
        true
    }

    /// One attempt in how many is timed now.
    #[cfg(test)]
    pub(crate) fn every(&self) -> u32 {
        self.every.load(Ordering::Relaxed)
    }

    /// A timed attempt ended at `ended` (on the samples' clock): every [`PACE_SAMPLES`] of
    /// them, times fewer attempts if they came faster than one per [`FAST`], more if slower
    /// than one per [`SLOW`]. Called under the algorithm's lock.
    pub(crate) fn paced(&self, ended: Duration) {
        let ended = u64::try_from(ended.as_nanos()).unwrap_or(u64::MAX);
        let paced = self.paced.load(Ordering::Relaxed) + 1;
        if paced < PACE_SAMPLES {
            self.paced.store(paced, Ordering::Relaxed);
            return;
        }
        let took = Duration::from_nanos(ended.saturating_sub(self.pace_started.load(Ordering::Relaxed)));
        let every = self.every.load(Ordering::Relaxed);
        let every = if took < FAST * PACE_SAMPLES {
            (every * 2).min(MAX_EVERY)
        } else if took > SLOW * PACE_SAMPLES {
            (every / 2).max(1)
        } else {
            every
        };
        self.every.store(every, Ordering::Relaxed);
        self.pace_started.store(ended, Ordering::Relaxed);
        self.paced.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of `attempts` attempts in a row are timed, as 1s and 0s.
    fn pattern(timing: &Timing, attempts: usize) -> String {
        (0..attempts).map(|_| if timing.due() { '1' } else { '0' }).collect()
    }

    /// Feeds `count` timed ends `gap` apart after `*clock`.
    fn feed(timing: &Timing, count: u32, gap: Duration, clock: &mut Duration) {
        for _ in 0..count {
            *clock += gap;
            timing.paced(*clock);
        }
    }

    #[test]
    fn every_attempt_is_timed_until_they_come_fast() {
        let timing = Timing::default();
        assert_eq!(pattern(&timing, 4), "1111");
        let mut clock = Duration::ZERO;
        // Five a millisecond: the first measurement (from 0) halves nothing and doubles once.
        feed(&timing, PACE_SAMPLES, Duration::from_micros(200), &mut clock);
        assert_eq!(timing.every(), 2);
        assert_eq!(pattern(&timing, 6), "101010");
        feed(&timing, 3 * PACE_SAMPLES, Duration::from_micros(200), &mut clock);
        assert_eq!(timing.every(), 16);
        // One a millisecond and a half: within the band, unchanged.
        feed(&timing, 2 * PACE_SAMPLES, Duration::from_micros(1500), &mut clock);
        assert_eq!(timing.every(), 16);
        // One every 10 ms: halved once a measurement, back to every attempt.
        feed(&timing, 4 * PACE_SAMPLES, Duration::from_millis(10), &mut clock);
        assert_eq!(timing.every(), 1);
        feed(&timing, PACE_SAMPLES, Duration::from_millis(10), &mut clock);
        assert_eq!(timing.every(), 1, "never below every attempt");
    }

    #[test]
    fn at_most_one_in_max_every_is_left_out() {
        let timing = Timing::default();
        let mut clock = Duration::ZERO;
        feed(&timing, 20 * PACE_SAMPLES, Duration::from_nanos(100), &mut clock);
        assert_eq!(timing.every(), MAX_EVERY);
        timing.countdown.store(0, Ordering::Relaxed);
        let timed = pattern(&timing, 3 * MAX_EVERY as usize);
        assert_eq!(timed.matches('1').count(), 3);
        assert!(timed.starts_with('1') && timed[1..].starts_with(&"0".repeat(MAX_EVERY as usize - 1)));
    }
}
