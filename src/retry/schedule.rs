//! Backoff schedules: copyable configurations that each make a fresh, infinite iterator of
//! delays per call.
//!
//! Configuration and per-call state are separate types, so a schedule is never "reset" and
//! never shared between calls: [`ExponentialBackoff`] is the configuration,
//! [`ExponentialDelays`] the state of one call. A schedule is any
//! `IntoIterator<Item = Duration>` — a `Vec<Duration>` or another crate's builder works as
//! well as these — so there is no schedule trait.

use std::iter::FusedIterator;
use std::time::Duration;

use super::Jitter;
use super::rng::SplitMix64;
use crate::BuildError;

/// Delays that grow by a constant factor up to a cap, optionally jittered.
///
/// Iterating yields an infinite sequence of delays: attempt `n` (counting from 0) waits
/// `initial_delay × multiplierⁿ`, capped at `max_delay`, then [jittered](Jitter), then capped
/// at `max_delay` again, so no delay ever exceeds `max_delay`. Limit the number of attempts
/// with [`Iterator::take`] or the retry policy.
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | initial delay | 2 s |
/// | multiplier | 2.0 |
/// | max delay | 30 s |
/// | jitter | [`Jitter::None`] |
/// | seed | none: each iterator is seeded from entropy |
///
/// # Out-of-range values
///
/// Iterating never panics, whatever the settings; [`validate`](Self::validate) reports the
/// values that make no sense. Iterating treats them so:
///
/// - a multiplier that is NaN, infinite or below 1 is used as 1.0: the delays do not grow;
/// - a zero initial delay gives zero delays (decorrelated jitter included);
/// - a `max_delay` below the initial delay caps every delay at `max_delay`;
/// - growth is computed step by step in `f64`, rounded to the nanosecond, and saturates at
///   `max_delay`, so huge values cannot overflow.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::retry::ExponentialBackoff;
///
/// let delays: Vec<_> = ExponentialBackoff::new().into_iter().take(6).collect();
/// let secs: Vec<_> = delays.iter().map(Duration::as_secs).collect();
/// assert_eq!(secs, [2, 4, 8, 16, 30, 30]);
///
/// let fast = ExponentialBackoff::new()
///     .with_initial_delay(Duration::from_millis(100))
///     .with_multiplier(3.0)
///     .with_max_delay(Duration::from_secs(1));
/// let millis: Vec<_> = fast.into_iter().take(4).map(|d| d.as_millis()).collect();
/// assert_eq!(millis, [100, 300, 900, 1000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    initial_delay: Duration,
    multiplier: f64,
    max_delay: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl ExponentialBackoff {
    /// The default schedule: 2 s, doubling, capped at 30 s, without jitter.
    #[must_use]
    pub const fn new() -> Self {
        ExponentialBackoff {
            initial_delay: Duration::from_secs(2),
            multiplier: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: Jitter::None,
            seed: None,
        }
    }

    /// Sets the delay before the first retry.
    #[must_use]
    pub const fn with_initial_delay(mut self, initial_delay: Duration) -> Self {
        self.initial_delay = initial_delay;
        self
    }

    /// Sets the factor by which each delay exceeds the one before.
    #[must_use]
    pub const fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the longest delay, applied after the jitter.
    #[must_use]
    pub const fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets how each delay is randomised.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter, so every iterator made from this schedule yields the same delays.
    /// Meant for tests; in production, leave it unset so that clients spread out.
    #[must_use]
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The delay before the first retry.
    pub const fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The factor by which each delay exceeds the one before.
    pub const fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The longest delay.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// How each delay is randomised.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The jitter's seed, if one was set.
    pub const fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Checks that the settings make sense.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the first field that breaks its rule:
    ///
    /// - `retry.initial_delay` must be longer than zero;
    /// - `retry.multiplier` must be a finite number of at least 1;
    /// - `retry.max_delay` must be at least `retry.initial_delay`.
    ///
    /// # Examples
    ///
    /// ```
    /// use bursar::retry::ExponentialBackoff;
    ///
    /// assert!(ExponentialBackoff::new().validate().is_ok());
    /// let error = ExponentialBackoff::new().with_multiplier(0.5).validate().unwrap_err();
    /// assert_eq!(error.field(), Some("retry.multiplier"));
    /// ```
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.initial_delay.is_zero() {
            return Err(BuildError::invalid_debug(
                "retry.initial_delay",
                "must be longer than zero",
                self.initial_delay,
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            let rule = "must be a finite number of at least 1";
            return Err(BuildError::invalid("retry.multiplier", rule, self.multiplier));
        }
        if self.max_delay < self.initial_delay {
            return Err(BuildError::invalid_debug(
                "retry.max_delay",
                "must be at least retry.initial_delay",
                self.max_delay,
            ));
        }
        Ok(())
    }
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        ExponentialBackoff::new()
    }
}

impl IntoIterator for ExponentialBackoff {
    type Item = Duration;
    type IntoIter = ExponentialDelays;

    fn into_iter(self) -> ExponentialDelays {
        let growth =
            if self.multiplier.is_finite() && self.multiplier >= 1.0 { self.multiplier } else { 1.0 };
        ExponentialDelays {
            unjittered: self.initial_delay.min(self.max_delay),
            growth,
            previous: self.initial_delay,
            rng: self.seed.map_or_else(SplitMix64::from_entropy, SplitMix64::new),
            backoff: self,
        }
    }
}

/// The delays of one call under an [`ExponentialBackoff`]: an infinite iterator.
#[derive(Debug, Clone)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct ExponentialDelays {
    backoff: ExponentialBackoff,
    /// The multiplier as used: at least 1 and finite.
    growth: f64,
    /// The next attempt's delay before jitter, already capped.
    unjittered: Duration,
    /// The last delay returned, for decorrelated jitter.
    previous: Duration,
    rng: SplitMix64,
}

impl ExponentialDelays {
    /// `delay × growth`, saturating at `max`; `delay` is at most `max`.
    fn grow(&self, delay: Duration) -> Duration {
        let max = self.backoff.max_delay;
        if delay == max || self.growth == 1.0 {
            return delay;
        }
        let secs = delay.as_secs_f64() * self.growth;
        Duration::try_from_secs_f64(secs).map_or(max, |grown| grown.min(max))
    }
}

impl Iterator for ExponentialDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ExponentialBackoff { initial_delay, max_delay, jitter, .. } = self.backoff;
        let unjittered = self.unjittered;
        self.unjittered = self.grow(unjittered);
        let delay = jitter.apply(unjittered, initial_delay, self.previous, &mut self.rng);
        self.previous = delay.min(max_delay);
        Some(self.previous)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl FusedIterator for ExponentialDelays {}

/// The same delay before every retry, optionally jittered.
///
/// The delay is also the cap: [`Jitter::Full`] and [`Jitter::Equal`] spread the delays below
/// it, and [`Jitter::Decorrelated`], which can only grow, yields the delay itself.
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | delay | none: given to [`new`](Self::new) |
/// | jitter | [`Jitter::None`] |
/// | seed | none: each iterator is seeded from entropy |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::retry::{ConstantBackoff, Jitter};
///
/// let second = Duration::from_secs(1);
/// let delays: Vec<_> = ConstantBackoff::new(second).into_iter().take(3).collect();
/// assert_eq!(delays, [second; 3]);
///
/// let jittered = ConstantBackoff::new(second).with_jitter(Jitter::Full);
/// assert!(jittered.into_iter().take(100).all(|delay| delay <= second));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstantBackoff {
    delay: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl ConstantBackoff {
    /// Waits `delay` before every retry.
    #[must_use]
    pub const fn new(delay: Duration) -> Self {
        ConstantBackoff { delay, jitter: Jitter::None, seed: None }
    }

    /// Sets how each delay is randomised.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter, so every iterator made from this schedule yields the same delays.
    #[must_use]
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The delay before every retry, and the longest delay.
    pub const fn delay(&self) -> Duration {
        self.delay
    }

    /// How each delay is randomised.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The jitter's seed, if one was set.
    pub const fn seed(&self) -> Option<u64> {
        self.seed
    }
}

impl IntoIterator for ConstantBackoff {
    type Item = Duration;
    type IntoIter = ConstantDelays;

    fn into_iter(self) -> ConstantDelays {
        // A constant schedule is an exponential one that starts at its cap.
        let mut exponential = ExponentialBackoff::new()
            .with_initial_delay(self.delay)
            .with_multiplier(1.0)
            .with_max_delay(self.delay)
            .with_jitter(self.jitter);
        exponential.seed = self.seed;
        ConstantDelays(exponential.into_iter())
    }
}

/// The delays of one call under a [`ConstantBackoff`]: an infinite iterator.
#[derive(Debug, Clone)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct ConstantDelays(ExponentialDelays);

impl Iterator for ConstantDelays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl FusedIterator for ConstantDelays {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SEED: u64 = 42;

    fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn first_five(jitter: Jitter) -> Vec<Duration> {
        ExponentialBackoff::new().with_jitter(jitter).with_seed(SEED).into_iter().take(5).collect()
    }

    /// The un-jittered default delays, written out independently of the code.
    const DEFAULT_UNJITTERED: [u64; 5] = [2, 4, 8, 16, 30];

    /// The first five default delays under each jitter with seed 42, in nanoseconds, recomputed
    /// independently once (a short Python SplitMix64) when they were pinned.
    const PINNED_FULL: [u64; 5] = [1_483_129_758, 639_641_571, 2_228_809_042, 5_507_051_464, 1_140_905_056];
    const PINNED_EQUAL: [u64; 5] =
        [1_741_564_879, 2_319_820_785, 5_114_404_521, 10_753_525_732, 15_570_452_528];
    const PINNED_DECORRELATED: [u64; 5] =
        [4_966_259_515, 4_062_648_744, 4_838_373_335, 6_307_588_122, 2_643_575_581];

    #[test]
    fn the_default_schedule_doubles_from_two_seconds_up_to_thirty() {
        let delays: Vec<_> = ExponentialBackoff::default().into_iter().take(8).collect();
        assert_eq!(delays, [2, 4, 8, 16, 30, 30, 30, 30].map(secs));
    }

    #[test]
    fn new_and_default_hold_the_documented_defaults() {
        let backoff = ExponentialBackoff::new();
        assert_eq!(backoff, ExponentialBackoff::default());
        assert_eq!(backoff.initial_delay(), secs(2));
        assert_eq!(backoff.multiplier(), 2.0);
        assert_eq!(backoff.max_delay(), secs(30));
        assert_eq!(backoff.jitter(), Jitter::None);
        assert_eq!(backoff.seed(), None);
    }

    #[test]
    fn setters_set_what_getters_read() {
        let backoff = ExponentialBackoff::new()
            .with_initial_delay(secs(1))
            .with_multiplier(1.5)
            .with_max_delay(secs(9))
            .with_jitter(Jitter::Equal)
            .with_seed(3);
        assert_eq!(backoff.initial_delay(), secs(1));
        assert_eq!(backoff.multiplier(), 1.5);
        assert_eq!(backoff.max_delay(), secs(9));
        assert_eq!(backoff.jitter(), Jitter::Equal);
        assert_eq!(backoff.seed(), Some(3));
    }

    #[test]
    fn no_jitter_with_a_seed_is_still_the_plain_schedule() {
        assert_eq!(first_five(Jitter::None), DEFAULT_UNJITTERED.map(secs));
    }

    #[test]
    fn full_jitter_with_seed_42_is_pinned_and_within_zero_to_t() {
        let delays = first_five(Jitter::Full);
        for (delay, t) in delays.iter().zip(DEFAULT_UNJITTERED.map(secs)) {
            assert!(*delay <= t, "{delay:?} > {t:?}");
        }
        assert_eq!(delays, PINNED_FULL.map(Duration::from_nanos));
    }

    #[test]
    fn equal_jitter_with_seed_42_is_pinned_and_within_half_t_to_t() {
        let delays = first_five(Jitter::Equal);
        for (delay, t) in delays.iter().zip(DEFAULT_UNJITTERED.map(secs)) {
            assert!(t / 2 <= *delay && *delay <= t, "{delay:?} outside {t:?}");
        }
        assert_eq!(delays, PINNED_EQUAL.map(Duration::from_nanos));
    }

    #[test]
    fn decorrelated_jitter_with_seed_42_is_pinned_and_within_initial_to_three_previous() {
        let delays = first_five(Jitter::Decorrelated);
        let mut previous = secs(2);
        for delay in &delays {
            let high = (previous * 3).min(secs(30));
            assert!(secs(2) <= *delay && *delay <= high, "{delay:?} outside 2 s..={high:?}");
            previous = *delay;
        }
        assert_eq!(delays, PINNED_DECORRELATED.map(Duration::from_nanos));
    }

    #[test]
    fn a_seeded_schedule_replays_and_an_unseeded_one_does_not() {
        let seeded = ExponentialBackoff::new().with_jitter(Jitter::Full).with_seed(9);
        let first: Vec<_> = seeded.into_iter().take(20).collect();
        let second: Vec<_> = seeded.into_iter().take(20).collect();
        assert_eq!(first, second);
        let unseeded = ExponentialBackoff::new().with_jitter(Jitter::Full);
        let third: Vec<_> = unseeded.into_iter().take(20).collect();
        let fourth: Vec<_> = unseeded.into_iter().take(20).collect();
        assert_ne!(third, fourth);
    }

    #[test]
    fn a_multiplier_that_is_not_a_finite_number_of_at_least_one_does_not_grow() {
        for multiplier in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5, 0.0, -2.0] {
            let backoff = ExponentialBackoff::new().with_multiplier(multiplier);
            let delays: Vec<_> = backoff.into_iter().take(4).collect();
            assert_eq!(delays, [secs(2); 4], "multiplier {multiplier}");
        }
    }

    #[test]
    fn a_huge_multiplier_jumps_to_the_cap() {
        let backoff = ExponentialBackoff::new().with_multiplier(f64::MAX);
        let delays: Vec<_> = backoff.into_iter().take(3).collect();
        assert_eq!(delays, [secs(2), secs(30), secs(30)]);
    }

    #[test]
    fn a_max_delay_below_the_initial_delay_caps_every_delay() {
        for jitter in [Jitter::None, Jitter::Decorrelated] {
            let backoff = ExponentialBackoff::new().with_max_delay(secs(1)).with_jitter(jitter);
            let delays: Vec<_> = backoff.into_iter().take(3).collect();
            assert_eq!(delays, [secs(1); 3], "{jitter:?}");
        }
    }

    #[test]
    fn a_zero_initial_delay_gives_zero_delays() {
        for jitter in [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let backoff = ExponentialBackoff::new().with_initial_delay(Duration::ZERO).with_jitter(jitter);
            let delays: Vec<_> = backoff.into_iter().take(3).collect();
            assert_eq!(delays, [Duration::ZERO; 3], "{jitter:?}");
        }
    }

    #[test]
    fn the_largest_durations_saturate_at_the_cap() {
        let backoff =
            ExponentialBackoff::new().with_initial_delay(Duration::MAX / 2).with_max_delay(Duration::MAX);
        let delays: Vec<_> = backoff.into_iter().take(3).collect();
        assert_eq!(delays, [Duration::MAX / 2, Duration::MAX, Duration::MAX]);
    }

    #[test]
    fn the_iterators_say_they_are_infinite() {
        assert_eq!(ExponentialBackoff::new().into_iter().size_hint(), (usize::MAX, None));
        assert_eq!(ConstantBackoff::new(secs(1)).into_iter().size_hint(), (usize::MAX, None));
    }

    #[test]
    fn validate_accepts_the_defaults_and_names_each_broken_field() {
        assert_eq!(ExponentialBackoff::new().validate(), Ok(()));
        let cases = [
            (ExponentialBackoff::new().with_initial_delay(Duration::ZERO), "retry.initial_delay", "0ns"),
            (ExponentialBackoff::new().with_multiplier(0.99), "retry.multiplier", "0.99"),
            (ExponentialBackoff::new().with_multiplier(f64::NAN), "retry.multiplier", "NaN"),
            (ExponentialBackoff::new().with_multiplier(f64::INFINITY), "retry.multiplier", "inf"),
            (ExponentialBackoff::new().with_max_delay(secs(1)), "retry.max_delay", "1s"),
        ];
        for (backoff, field, value) in cases {
            let error = backoff.validate().unwrap_err();
            assert_eq!(error.field(), Some(field));
            assert!(error.to_string().ends_with(&format!("(got {value})")), "{error}");
        }
        let error = ExponentialBackoff::new().with_max_delay(secs(1)).validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: `retry.max_delay` must be at least retry.initial_delay (got 1s)"
        );
    }

    #[test]
    fn constant_backoff_repeats_its_delay() {
        let backoff = ConstantBackoff::new(Duration::from_millis(250));
        let delays: Vec<_> = backoff.into_iter().take(4).collect();
        assert_eq!(delays, [Duration::from_millis(250); 4]);
        assert_eq!(backoff.delay(), Duration::from_millis(250));
        assert_eq!(backoff.jitter(), Jitter::None);
        assert_eq!(backoff.seed(), None);
    }

    #[test]
    fn constant_backoff_jitters_below_its_delay() {
        let second = secs(1);
        let full = ConstantBackoff::new(second).with_jitter(Jitter::Full).with_seed(SEED);
        assert!(full.into_iter().take(1_000).all(|delay| delay <= second));
        assert!(full.into_iter().take(1_000).any(|delay| delay < second / 10));
        let equal = ConstantBackoff::new(second).with_jitter(Jitter::Equal).with_seed(SEED);
        assert!(equal.into_iter().take(1_000).all(|delay| second / 2 <= delay && delay <= second));
        let decorrelated = ConstantBackoff::new(second).with_jitter(Jitter::Decorrelated);
        assert!(decorrelated.into_iter().take(100).all(|delay| delay == second));
    }

    #[test]
    fn constant_backoff_with_a_seed_replays() {
        let backoff = ConstantBackoff::new(secs(1)).with_jitter(Jitter::Full).with_seed(4);
        assert_eq!(backoff.seed(), Some(4));
        let first: Vec<_> = backoff.into_iter().take(10).collect();
        assert_eq!(first, backoff.into_iter().take(10).collect::<Vec<_>>());
    }

    fn any_duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::ZERO),
            Just(Duration::MAX),
            (0u64..100_000, 0u32..1_000_000_000).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
            any::<u64>().prop_map(Duration::from_nanos),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
        ]
    }

    fn any_multiplier() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MAX),
            Just(0.0),
            Just(1.0),
            0.0..10.0,
            any::<f64>(),
        ]
    }

    fn any_jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated),]
    }

    /// `min(initial × multiplierⁿ, max)` in seconds, by the closed formula rather than the
    /// iterator's step-by-step growth.
    fn unjittered_secs(backoff: &ExponentialBackoff, attempt: i32) -> f64 {
        let multiplier = backoff.multiplier();
        let growth = if multiplier.is_finite() && multiplier >= 1.0 { multiplier } else { 1.0 };
        let initial = backoff.initial_delay().as_secs_f64();
        let ideal = if initial == 0.0 { 0.0 } else { initial * growth.powi(attempt) };
        ideal.min(backoff.max_delay().as_secs_f64())
    }

    proptest! {
        #[test]
        fn every_delay_lies_within_its_jitter_bounds_and_the_cap(
            initial in any_duration(),
            multiplier in any_multiplier(),
            max in any_duration(),
            jitter in any_jitter(),
            seed in any::<u64>(),
        ) {
            let backoff = ExponentialBackoff::new()
                .with_initial_delay(initial)
                .with_multiplier(multiplier)
                .with_max_delay(max)
                .with_jitter(jitter)
                .with_seed(seed);
            let mut previous = initial;
            for (attempt, delay) in (0..50).zip(backoff) {
                prop_assert!(delay <= max);
                let t = unjittered_secs(&backoff, attempt);
                // Step-by-step growth rounds to the nanosecond at each step.
                let slack = t * 1e-12 * f64::from(attempt + 1) + 1e-9 * f64::from(attempt + 1);
                let d = delay.as_secs_f64();
                match jitter {
                    Jitter::None => prop_assert!((d - t).abs() <= slack, "{d} vs {t}"),
                    Jitter::Full => prop_assert!(d <= t + slack, "{d} vs {t}"),
                    Jitter::Equal => prop_assert!(t / 2.0 - slack <= d && d <= t + slack, "{d} vs {t}"),
                    Jitter::Decorrelated => {
                        let high = previous.saturating_mul(3).max(initial).min(max);
                        prop_assert!(initial.min(max) <= delay && delay <= high, "{delay:?}");
                    }
                }
                previous = delay;
            }
        }

        #[test]
        fn constant_delays_never_exceed_the_delay(
            delay in any_duration(),
            jitter in any_jitter(),
            seed in any::<u64>(),
        ) {
            let backoff = ConstantBackoff::new(delay).with_jitter(jitter).with_seed(seed);
            for value in backoff.into_iter().take(50) {
                prop_assert!(value <= delay);
            }
        }
    }
}
