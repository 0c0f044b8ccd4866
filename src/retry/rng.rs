//! A tiny seedable random number generator for jitter.
//!
//! Jitter needs randomness that is cheap, never fails, and can be replayed: a test pins a seed
//! and asserts the exact delays. SplitMix64 (Steele, Lea and Flood, 2014) is one addition and
//! two multiply-xorshift rounds per number, passes BigCrush, and needs no dependency. It is not
//! cryptographic, which jitter does not need.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The SplitMix64 generator: a 64-bit state advanced by the golden-ratio increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator seeded from std's per-process random hash keys and a counter, so that two
    /// generators made at the same moment still differ.
    pub(crate) fn from_entropy() -> Self {
        static CREATED: AtomicU64 = AtomicU64::new(0);
        let mut hasher = RandomState::new().build_hasher();
        // Relaxed: the counter only has to differ between calls; it orders nothing.
        hasher.write_u64(CREATED.fetch_add(1, Ordering::Relaxed));
        SplitMix64::new(hasher.finish())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)` with 53 random bits, all an `f64` mantissa holds.
    pub(crate) fn next_f64(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 * SCALE
    }

    /// A uniform duration in `[low, high]` (to 53 bits of precision over the span), or `low`
    /// if `high < low`. Never panics, even for a span of [`Duration::MAX`].
    pub(crate) fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let Some(span) = high.checked_sub(low) else {
            return low;
        };
        let span_nanos = span.as_nanos();
        // `as` from f64 to an integer saturates, so the product cannot wrap; the `min` keeps
        // the one-in-span chance of rounding up inside the span.
        let offset = ((span_nanos + 1) as f64 * self.next_f64()) as u128;
        low.saturating_add(from_nanos(offset.min(span_nanos)))
    }
}

/// A duration of `nanos` nanoseconds; `nanos` is at most a duration's own `as_nanos()`, so the
/// seconds fit in a `u64`.
fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below one billion, so it fits in a u32.
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_reference_outputs_for_seed_zero() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn the_same_seed_replays_the_same_sequence() {
        let mut first = SplitMix64::new(7);
        let mut second = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
    }

    #[test]
    fn generators_from_entropy_differ() {
        let mut first = SplitMix64::from_entropy();
        let mut second = SplitMix64::from_entropy();
        assert_ne!(first.next_u64(), second.next_u64());
    }

    #[test]
    fn next_f64_is_the_top_53_bits_scaled_into_the_unit_interval() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_f64(), (0xE220_A839_7B1D_CDAF_u64 >> 11) as f64 / 2f64.powi(53));
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn between_stays_inside_its_bounds() {
        let mut rng = SplitMix64::new(1);
        let (low, high) = (Duration::from_millis(100), Duration::from_millis(300));
        for _ in 0..10_000 {
            let value = rng.between(low, high);
            assert!(low <= value && value <= high, "{value:?}");
        }
    }

    #[test]
    fn between_reaches_both_ends_of_a_tiny_span() {
        let mut rng = SplitMix64::new(3);
        let (low, high) = (Duration::from_nanos(10), Duration::from_nanos(12));
        let mut seen = [0u32; 3];
        for _ in 0..3_000 {
            seen[(rng.between(low, high) - low).as_nanos() as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
    }

    #[test]
    fn between_returns_low_for_an_inverted_or_empty_range() {
        let mut rng = SplitMix64::new(2);
        let (low, high) = (Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(rng.between(low, high), low);
        assert_eq!(rng.between(low, low), low);
    }

    #[test]
    fn between_never_panics_on_the_widest_span() {
        let mut rng = SplitMix64::new(u64::MAX);
        let half = Duration::MAX / 2;
        let above_half = (0..1_000).filter(|_| rng.between(Duration::ZERO, Duration::MAX) > half).count();
        assert!((400..=600).contains(&above_half), "{above_half}");
        assert_eq!(rng.between(Duration::MAX, Duration::MAX), Duration::MAX);
    }
}
