//! A retry budget: retries as a fraction of recent calls.
//!
//! Each call deposits into the budget and each retry withdraws; a retry the budget cannot
//! pay for is not made. The budget keeps its counts in ten time slots that together span the
//! time-to-live, so old calls and retries fall out of the window a slot at a time and the
//! memory never grows. One lock guards the slots: a budget is touched once per call and once
//! per retry, and a short critical section keeps the accounting exact.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::BuildError;

/// How many slots the window is divided into.
const SLOTS: usize = 10;
/// Credit is kept in millionths of a retry, so that ratios such as 0.2 are exact.
const ONE_RETRY: u128 = 1_000_000;

/// Limits retries to a fraction of recent calls, with a floor for quiet services.
///
/// In the spirit of Finagle's retry budget and tower's `TpsBudget`. Call
/// [`deposit`](Self::deposit) once for every call (first attempts, not retries) and
/// [`withdraw`](Self::withdraw) before every retry; a retry goes ahead only if `withdraw`
/// returns `true`. Share one budget between every call to the same dependency (behind an
/// [`Arc`](std::sync::Arc)).
///
/// # Accounting
///
/// The window is the last `ttl`, kept as ten slots of `ttl / 10` each. Within it,
/// `withdraw` succeeds — and counts a retry — while
///
/// ```text
/// retries + 1 ≤ retry_ratio × calls + min_per_sec × ttl
/// ```
///
/// where `calls` and `retries` are the deposits and successful withdrawals still in the
/// window and `retry_ratio` is rounded to the nearest millionth. So `N` calls permit
/// `⌊retry_ratio × N + min_per_sec × ttl⌋` retries per window, e.g. with the defaults 100 calls
/// permit ⌊0.2 × 100 + 10 × 10⌋ = 120. With no calls at all, `min_per_sec × ttl` retries are
/// allowed per window — all at once if they come at once: the floor is not spread over the
/// seconds.
///
/// A call or retry counts from the moment it is recorded until its slot leaves the window:
/// at least `0.9 × ttl` and at most `ttl` later. A retry may outlive the calls that paid for
/// it, in which case it is still counted against newer calls until it expires.
///
/// Time is whatever `now` the caller passes. The first `now` seen starts the slots; a `now`
/// earlier than one already seen counts in the newest slot.
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | `ttl` | 10 s |
/// | `min_per_sec` | 10 |
/// | `retry_ratio` | 0.2 |
///
/// (Finagle's and tower's defaults.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use bursar::retry::RetryBudget;
///
/// // Retries may add 20 % to the calls of the last 10 s, with no floor.
/// let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2)?;
/// let now = Instant::now();
/// for _ in 0..10 {
///     budget.deposit(now);
/// }
/// assert!(budget.withdraw(now));
/// assert!(budget.withdraw(now));
/// assert!(!budget.withdraw(now), "10 calls pay for 2 retries");
///
/// // Ten seconds later, all of them have left the window.
/// let later = now + Duration::from_secs(10);
/// budget.deposit(later);
/// assert_eq!(budget.balance(later), 0.2);
/// # Ok::<(), bursar::BuildError>(())
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    ttl: Duration,
    /// `ttl / 10`: never zero, as `ttl` is at least a second.
    slot_width: Duration,
    min_per_sec: u32,
    retry_ratio: f32,
    /// Credit per call, in millionths of a retry.
    per_call: u128,
    /// The floor's credit over one window, in millionths of a retry.
    reserve: u128,
    window: Mutex<Window>,
}

impl RetryBudget {
    /// A budget allowing `retry_ratio` retries per call over the last `ttl`, plus
    /// `min_per_sec` retries per second of `ttl`.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming the field that breaks its rule:
    ///
    /// - `retry.budget.ttl` must be between 1 s and 60 s;
    /// - `retry.budget.retry_ratio` must be a finite number between 0 and 1000.
    ///
    /// `retry.budget.min_per_sec` may be any number.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bursar::retry::RetryBudget;
    ///
    /// let error = RetryBudget::new(Duration::from_secs(90), 10, 0.2).unwrap_err();
    /// assert_eq!(error.field(), Some("retry.budget.ttl"));
    /// ```
    pub fn new(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Result<Self, BuildError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl) {
            return Err(BuildError::invalid_debug("retry.budget.ttl", "must be between 1s and 60s", ttl));
        }
        if !(retry_ratio.is_finite() && (0.0..=1000.0).contains(&retry_ratio)) {
            let rule = "must be a finite number between 0 and 1000";
            return Err(BuildError::invalid("retry.budget.retry_ratio", rule, retry_ratio));
        }
        Ok(RetryBudget::from_valid(ttl, min_per_sec, retry_ratio))
    }

    /// A budget from settings already checked by [`new`](Self::new).
    fn from_valid(ttl: Duration, min_per_sec: u32, retry_ratio: f32) -> Self {
        RetryBudget {
            ttl,
            slot_width: ttl / SLOTS as u32,
            min_per_sec,
            retry_ratio,
            // The ratio is at most 1000, so the rounded product fits easily.
            per_call: (f64::from(retry_ratio) * ONE_RETRY as f64).round() as u128,
            // retries/s × ns ÷ 1000 = millionths of a retry.
            reserve: u128::from(min_per_sec) * ttl.as_nanos() / 1_000,
            window: Mutex::new(Window::default()),
        }
    }

    /// Records a call: it adds `retry_ratio` to the retries allowed until it expires.
    pub fn deposit(&self, now: Instant) {
        self.deposit_many(now, 1);
    }

    /// Records `calls` calls at once, as if each were deposited at `now`.
    pub fn deposit_many(&self, now: Instant, calls: u64) {
        let mut window = self.window.lock();
        let slot = window.advance(now, self.slot_width);
        slot.calls = slot.calls.saturating_add(calls);
    }

    /// Takes one retry from the budget if it can pay for one: `true` means retry, and the
    /// retry is counted; `false` means give up, and nothing is counted.
    pub fn withdraw(&self, now: Instant) -> bool {
        let mut window = self.window.lock();
        window.advance(now, self.slot_width);
        if window.debit() + ONE_RETRY > window.credit(self.per_call, self.reserve) {
            return false;
        }
        let slot = window.newest();
        slot.retries = slot.retries.saturating_add(1);
        true
    }

    /// How many retries the budget could pay for at `now`, fractions included; never
    /// negative. [`withdraw`](Self::withdraw) succeeds exactly when this is at least 1.
    pub fn balance(&self, now: Instant) -> f64 {
        let mut window = self.window.lock();
        window.advance(now, self.slot_width);
        let surplus = window.credit(self.per_call, self.reserve).saturating_sub(window.debit());
        // Whole retries and the fraction apart, so a huge balance keeps its fraction.
        (surplus / ONE_RETRY) as f64 + (surplus % ONE_RETRY) as f64 / ONE_RETRY as f64
    }

    /// The width of one of the window's time slots: a tenth of the time-to-live.
    pub(crate) fn slot_width(&self) -> Duration {
        self.slot_width
    }

    /// How long a call or retry counts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The retries per second allowed without any calls.
    pub fn min_per_sec(&self) -> u32 {
        self.min_per_sec
    }

    /// The retries each call adds to the budget.
    pub fn retry_ratio(&self) -> f32 {
        self.retry_ratio
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::from_valid(Duration::from_secs(10), 10, 0.2)
    }
}

/// The counts of one slot of the window.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    calls: u64,
    retries: u64,
}

/// Ten slots in a ring; slot number `n` (counted from the first `now`) lives at `n % 10`.
#[derive(Debug, Default)]
struct Window {
    origin: Option<Instant>,
    newest: u64,
    slots: [Slot; SLOTS],
}

impl Window {
    /// Moves the window forward to `now`, emptying the slots it leaves behind, and returns
    /// the newest slot.
    fn advance(&mut self, now: Instant, slot_width: Duration) -> &mut Slot {
        let origin = *self.origin.get_or_insert(now);
        let elapsed = now.saturating_duration_since(origin);
        let current = u64::try_from(elapsed.as_nanos() / slot_width.as_nanos()).unwrap_or(u64::MAX);
        if current > self.newest {
            // After ten steps every slot has been emptied once.
            for step in 1..=(current - self.newest).min(SLOTS as u64) {
                self.slots[ring_index(self.newest.wrapping_add(step))] = Slot::default();
            }
            self.newest = current;
        }
        self.newest()
    }

    fn newest(&mut self) -> &mut Slot {
        &mut self.slots[ring_index(self.newest)]
    }

    /// Millionths of a retry earned by the calls in the window and the floor.
    fn credit(&self, per_call: u128, reserve: u128) -> u128 {
        let calls: u128 = self.slots.iter().map(|slot| u128::from(slot.calls)).sum();
        calls * per_call + reserve
    }

    /// Millionths of a retry spent by the retries in the window.
    fn debit(&self) -> u128 {
        let retries: u128 = self.slots.iter().map(|slot| u128::from(slot.retries)).sum();
        retries * ONE_RETRY
    }
}

fn ring_index(slot_number: u64) -> usize {
    // The remainder is below SLOTS, so it fits in a usize.
    (slot_number % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn budget(min_per_sec: u32, retry_ratio: f32) -> RetryBudget {
        RetryBudget::new(TTL, min_per_sec, retry_ratio).unwrap()
    }

    fn deposits(budget: &RetryBudget, now: Instant, count: usize) {
        (0..count).for_each(|_| budget.deposit(now));
    }

    /// Withdraws until refused; returns how many succeeded (at most 10 000).
    fn drain(budget: &RetryBudget, now: Instant) -> usize {
        (0..10_000).take_while(|_| budget.withdraw(now)).count()
    }

    #[test]
    fn a_hundred_calls_at_a_fifth_pay_for_exactly_twenty_retries() {
        let budget = budget(0, 0.2);
        let now = Instant::now();
        deposits(&budget, now, 100);
        assert_eq!(budget.balance(now), 20.0);
        assert_eq!(drain(&budget, now), 20);
        assert!(!budget.withdraw(now));
        assert_eq!(budget.balance(now), 0.0);
    }

    #[test]
    fn the_budget_recovers_once_the_window_has_passed() {
        let budget = budget(0, 0.2);
        let start = Instant::now();
        deposits(&budget, start, 100);
        assert_eq!(drain(&budget, start), 20);
        let later = start + TTL + Duration::from_millis(1);
        assert!(!budget.withdraw(later), "the calls expired with the retries");
        deposits(&budget, later, 100);
        assert_eq!(drain(&budget, later), 20);
    }

    #[test]
    fn retries_count_until_they_expire_even_after_their_calls() {
        let budget = budget(0, 0.2);
        let start = Instant::now();
        deposits(&budget, start, 100);
        assert_eq!(drain(&budget, start + Duration::from_secs(5)), 20);
        let calls_expired = start + TTL;
        deposits(&budget, calls_expired, 100);
        assert_eq!(budget.balance(calls_expired), 0.0);
        assert_eq!(drain(&budget, calls_expired), 0, "20 retries still in the window");
        let retries_expired = start + Duration::from_secs(15);
        assert_eq!(drain(&budget, retries_expired), 20);
    }

    #[test]
    fn an_entry_counts_until_its_slot_leaves_the_window() {
        let budget = budget(0, 1.0);
        let start = Instant::now();
        budget.deposit(start);
        // Slot 0 is [0 s, 1 s); a deposit at 0.95 s leaves the window at 10 s.
        budget.deposit(start + Duration::from_millis(950));
        assert_eq!(budget.balance(start + Duration::from_nanos(9_999_999_999)), 2.0);
        assert_eq!(budget.balance(start + TTL), 0.0);
    }

    #[test]
    fn the_floor_allows_min_per_sec_times_ttl_retries_per_window_without_calls() {
        let budget = budget(5, 0.2);
        let start = Instant::now();
        assert_eq!(budget.balance(start), 50.0);
        assert_eq!(drain(&budget, start), 50);
        assert_eq!(drain(&budget, start + Duration::from_secs(9)), 0);
        assert_eq!(drain(&budget, start + TTL), 50);
    }

    #[test]
    fn the_floor_and_the_calls_add_up_and_round_down() {
        let budget = budget(1, 0.5);
        let now = Instant::now();
        deposits(&budget, now, 3);
        assert_eq!(budget.balance(now), 11.5);
        assert_eq!(drain(&budget, now), 11);
        assert_eq!(budget.balance(now), 0.5);
    }

    #[test]
    fn a_fractional_ttl_gives_a_fractional_floor() {
        let budget = RetryBudget::new(Duration::from_millis(1_500), 1, 0.5).unwrap();
        let now = Instant::now();
        assert_eq!(budget.balance(now), 1.5);
        budget.deposit(now);
        assert_eq!(drain(&budget, now), 2);
    }

    #[test]
    fn ratios_above_one_allow_several_retries_per_call() {
        let budget = budget(0, 2.5);
        let now = Instant::now();
        deposits(&budget, now, 10);
        assert_eq!(drain(&budget, now), 25);
    }

    #[test]
    fn a_zero_ratio_leaves_only_the_floor() {
        let budget = budget(0, 0.0);
        let now = Instant::now();
        deposits(&budget, now, 1_000);
        assert_eq!(drain(&budget, now), 0);
    }

    #[test]
    fn a_ratio_just_below_a_decimal_in_f32_is_rounded_to_it() {
        // 0.7 as f32 is 0.699999988…; rounding to millionths makes 100 calls pay for 70.
        let budget = budget(0, 0.7);
        let now = Instant::now();
        deposits(&budget, now, 100);
        assert_eq!(drain(&budget, now), 70);
    }

    #[test]
    fn a_now_earlier_than_one_seen_counts_in_the_newest_slot() {
        let budget = budget(0, 1.0);
        let start = Instant::now();
        budget.deposit(start + Duration::from_secs(5));
        budget.deposit(start);
        assert_eq!(budget.balance(start + Duration::from_nanos(14_999_999_999)), 2.0);
        assert_eq!(budget.balance(start + Duration::from_secs(15)), 0.0);
    }

    #[test]
    fn the_largest_settings_do_not_overflow() {
        let budget = RetryBudget::new(Duration::from_secs(60), u32::MAX, 1000.0).unwrap();
        let now = Instant::now();
        deposits(&budget, now, 1_000);
        assert_eq!(budget.balance(now), 60.0 * f64::from(u32::MAX) + 1_000_000.0);
        assert!(budget.withdraw(now + Duration::from_secs(365 * 24 * 3600 * 1_000)));
    }

    #[test]
    fn new_names_each_broken_field() {
        let second = Duration::from_secs(1);
        let cases = [
            (Duration::from_millis(999), 0.2, "retry.budget.ttl", "999ms"),
            (Duration::from_secs(61), 0.2, "retry.budget.ttl", "61s"),
            (Duration::ZERO, 0.2, "retry.budget.ttl", "0ns"),
            (second, -0.1, "retry.budget.retry_ratio", "-0.1"),
            (second, 1000.5, "retry.budget.retry_ratio", "1000.5"),
            (second, f32::NAN, "retry.budget.retry_ratio", "NaN"),
            (second, f32::INFINITY, "retry.budget.retry_ratio", "inf"),
        ];
        for (ttl, ratio, field, value) in cases {
            let error = RetryBudget::new(ttl, 10, ratio).unwrap_err();
            assert_eq!(error.field(), Some(field));
            assert!(error.to_string().ends_with(&format!("(got {value})")), "{error}");
        }
    }

    #[test]
    fn new_accepts_the_edges_of_each_range() {
        for (ttl, min_per_sec, ratio) in [(1, 0, 0.0), (60, u32::MAX, 1000.0)] {
            let budget = RetryBudget::new(Duration::from_secs(ttl), min_per_sec, ratio).unwrap();
            assert_eq!(budget.ttl(), Duration::from_secs(ttl));
            assert_eq!(budget.min_per_sec(), min_per_sec);
            assert_eq!(budget.retry_ratio(), ratio);
        }
    }

    #[test]
    fn the_default_is_ten_seconds_ten_per_second_and_a_fifth() {
        let budget = RetryBudget::default();
        assert_eq!(budget.ttl(), TTL);
        assert_eq!(budget.min_per_sec(), 10);
        assert_eq!(budget.retry_ratio(), 0.2);
        let now = Instant::now();
        deposits(&budget, now, 100);
        assert_eq!(drain(&budget, now), 120);
    }

    #[test]
    fn a_budget_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RetryBudget>();
    }
}
