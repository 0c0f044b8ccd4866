//! How much randomness to mix into each backoff delay.
//!
//! Clients that fail together and back off by the same schedule retry together: every wave of
//! retries lands on the recovering dependency at the same instant. Jitter spreads each wave
//! out. The kinds are those of Marc Brooker's "Exponential Backoff and Jitter" (AWS
//! Architecture Blog, 2015), which measured that full and decorrelated jitter do the least
//! total work.

use std::time::Duration;

use super::rng::SplitMix64;

/// How a backoff schedule randomises each delay.
///
/// `t` is the un-jittered delay of an attempt (already capped at the schedule's maximum, so it
/// cannot overflow). The schedule applies its cap again *after* the jitter, so no delay ever
/// exceeds the maximum.
///
/// | kind | delay |
/// |---|---|
/// | [`None`](Jitter::None) | exactly `t` |
/// | [`Full`](Jitter::Full) | uniform in `[0, t]` |
/// | [`Equal`](Jitter::Equal) | `t/2` plus uniform in `[0, t/2]`: between half of `t` and `t` |
/// | [`Decorrelated`](Jitter::Decorrelated) | uniform in `[initial, 3 × previous delay]`, where the first "previous delay" is the initial delay; ignores `t` and the multiplier |
///
/// With the `serde` feature, the kinds are written `"none"`, `"full"`, `"equal"` and
/// `"decorrelated"`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use bursar::retry::{ExponentialBackoff, Jitter};
///
/// let schedule = ExponentialBackoff::new().with_jitter(Jitter::Equal).with_seed(7);
/// let unjittered = [2, 4, 8, 16, 30].map(Duration::from_secs);
/// for (delay, t) in schedule.into_iter().zip(unjittered) {
///     assert!(t / 2 <= delay && delay <= t);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: every delay is the schedule's own. The default.
    #[default]
    None,
    /// Uniform between zero and the schedule's delay: the widest spread.
    Full,
    /// Half the schedule's delay plus up to half again: spread, but never much shorter.
    Equal,
    /// Uniform between the initial delay and three times the previous delay, so each delay
    /// grows from the last one actually slept rather than from the attempt number.
    Decorrelated,
}

impl Jitter {
    /// The delay of one attempt before the schedule's cap: `t` is the un-jittered delay;
    /// `initial` and `previous` (the last delay returned, after its cap) feed
    /// [`Jitter::Decorrelated`]. [`Jitter::None`] draws no random number.
    pub(crate) fn apply(
        self,
        t: Duration,
        initial: Duration,
        previous: Duration,
        rng: &mut SplitMix64,
    ) -> Duration {
        match self {
            Jitter::None => t,
            Jitter::Full => rng.between(Duration::ZERO, t),
            Jitter::Equal => {
                let half = t / 2;
                // `t - half`, not `half`, so that an odd number of nanoseconds can still reach `t`.
                half + rng.between(Duration::ZERO, t - half)
            }
            Jitter::Decorrelated => rng.between(initial, previous.saturating_mul(3)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(800);
    const INITIAL: Duration = Duration::from_millis(100);
    const PREVIOUS: Duration = Duration::from_millis(500);

    fn draws(jitter: Jitter) -> Vec<Duration> {
        let mut rng = SplitMix64::new(11);
        (0..2_000).map(|_| jitter.apply(T, INITIAL, PREVIOUS, &mut rng)).collect()
    }

    #[test]
    fn the_default_is_none() {
        assert_eq!(Jitter::default(), Jitter::None);
    }

    #[test]
    fn none_returns_t_and_draws_nothing() {
        let mut rng = SplitMix64::new(11);
        assert_eq!(Jitter::None.apply(T, INITIAL, PREVIOUS, &mut rng), T);
        assert_eq!(rng, SplitMix64::new(11));
    }

    #[test]
    fn full_spreads_over_zero_to_t() {
        let delays = draws(Jitter::Full);
        assert!(delays.iter().all(|&d| d <= T));
        assert!(delays.iter().any(|&d| d < T / 10));
        assert!(delays.iter().any(|&d| d > T * 9 / 10));
    }

    #[test]
    fn equal_spreads_over_half_t_to_t() {
        let delays = draws(Jitter::Equal);
        assert!(delays.iter().all(|&d| T / 2 <= d && d <= T));
        assert!(delays.iter().any(|&d| d < T * 11 / 20));
        assert!(delays.iter().any(|&d| d > T * 19 / 20));
    }

    #[test]
    fn equal_can_reach_an_odd_t() {
        let mut rng = SplitMix64::new(5);
        let t = Duration::from_nanos(3);
        let delays: Vec<_> = (0..200).map(|_| Jitter::Equal.apply(t, t, t, &mut rng)).collect();
        assert!(delays.iter().all(|&d| Duration::from_nanos(1) <= d && d <= t));
        assert!(delays.contains(&t));
    }

    #[test]
    fn decorrelated_spreads_over_initial_to_three_times_previous() {
        let delays = draws(Jitter::Decorrelated);
        let high = PREVIOUS * 3;
        assert!(delays.iter().all(|&d| INITIAL <= d && d <= high));
        assert!(delays.iter().any(|&d| d < INITIAL + (high - INITIAL) / 10));
        assert!(delays.iter().any(|&d| d > high - (high - INITIAL) / 10));
    }

    #[test]
    fn decorrelated_never_overflows() {
        let mut rng = SplitMix64::new(5);
        let delay = Jitter::Decorrelated.apply(Duration::MAX, Duration::MAX, Duration::MAX, &mut rng);
        assert_eq!(delay, Duration::MAX);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_writes_snake_case_names() {
        let kinds = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated];
        let text = serde_json::to_string(&kinds).unwrap();
        assert_eq!(text, r#"["none","full","equal","decorrelated"]"#);
        assert_eq!(serde_json::from_str::<Vec<Jitter>>(&text).unwrap(), kinds);
    }
}
