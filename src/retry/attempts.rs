//! Counting attempts against the limit, the schedule and the deadline: the decision every
//! retry loop of this crate makes after a failure.

use std::time::Duration;

use tokio::time::Instant;

/// The most attempts a call may make, the first included: the configuration's rule and the clamp
/// of both retry front-ends (`gov.call(op).attempts(n)` and `RetryExt`'s `attempts(n)`).
pub(crate) const MAX_ATTEMPTS: u32 = 1000;

/// `requested` attempts as both front-ends take them: 0 as 1, more than [`MAX_ATTEMPTS`] as that.
pub(crate) fn clamp_attempts(requested: u32) -> u32 {
    requested.clamp(1, MAX_ATTEMPTS)
}

/// Why a retry loop stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `max_attempts` were made.
    Attempts,
    /// The schedule ran out of delays.
    Schedule,
    /// The next attempt would end after the deadline.
    Deadline,
}

/// The attempts of one call. A fresh value per call, so there is no state to reset.
#[derive(Debug)]
pub(crate) struct Attempts<I> {
    delays: I,
    made: u32,
    max: u32,
    deadline: Option<Instant>,
}

impl<I: Iterator<Item = Duration>> Attempts<I> {
    /// After the first attempt: `made` is 1.
    pub(crate) fn new(delays: I, max: u32, deadline: Option<Instant>) -> Self {
        Attempts { delays, made: 1, max, deadline }
    }

    /// Attempts made so far, the first call included.
    pub(crate) fn made(&self) -> u32 {
        self.made
    }

    /// After a failed attempt: the delay before the next one (as `adjust` changes it), or why
    /// there is none. `next_attempt` is how long the next attempt may run, which must also
    /// fit before the deadline.
    pub(crate) fn next_delay(
        &mut self,
        adjust: impl FnOnce(Duration) -> Duration,
        next_attempt: Duration,
    ) -> Result<Duration, Stop> {
        if self.made >= self.max {
            return Err(Stop::Attempts);
        }
        let delay = adjust(self.delays.next().ok_or(Stop::Schedule)?);
        if let Some(deadline) = self.deadline {
            let ends = Instant::now().checked_add(delay).and_then(|start| start.checked_add(next_attempt));
            if ends.is_none_or(|ends| ends > deadline) {
                return Err(Stop::Deadline);
            }
        }
        self.made += 1;
        Ok(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn three_attempts_take_two_delays() {
        let mut attempts = Attempts::new([secs(2), secs(4), secs(8)].into_iter(), 3, None);
        assert_eq!(attempts.next_delay(|d| d, Duration::ZERO), Ok(secs(2)));
        assert_eq!(attempts.next_delay(|d| d, Duration::ZERO), Ok(secs(4)));
        assert_eq!(attempts.next_delay(|d| d, Duration::ZERO), Err(Stop::Attempts));
        assert_eq!(attempts.made(), 3);
    }

    #[test]
    fn a_short_schedule_stops_early_and_adjust_replaces_the_delay() {
        let mut attempts = Attempts::new([secs(1)].into_iter(), 10, None);
        assert_eq!(attempts.next_delay(|_| secs(120), Duration::ZERO), Ok(secs(120)));
        assert_eq!(attempts.next_delay(|d| d, Duration::ZERO), Err(Stop::Schedule));
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_starts_that_would_end_past_the_deadline() {
        let deadline = Instant::now() + secs(10);
        let mut attempts = Attempts::new(std::iter::repeat(secs(4)), 10, Some(deadline));
        assert_eq!(attempts.next_delay(|d| d, secs(3)), Ok(secs(4)), "ends at 7 s");
        tokio::time::advance(secs(7)).await;
        assert_eq!(attempts.next_delay(|d| d, Duration::ZERO), Err(Stop::Deadline), "would start at 11 s");
        assert_eq!(attempts.made(), 2);
    }
}
