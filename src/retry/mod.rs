//! Retrying transient failures without making an outage worse.
//!
//! A browser session that drops its connection, a database that restarts, an embedding API
//! that answers 503 for a minute: most such failures pass if the call is simply tried again a
//! little later. Retrying is also how a brief outage becomes a long one, so this module gives
//! retries two limits.
//!
//! ## Exponential backoff with jitter
//!
//! Retrying at once into a dependency that is down only adds load to it. Waiting longer after
//! each failure ([`ExponentialBackoff`]: 2 s, 4 s, 8 s … up to 30 s by default) gives it time
//! to recover, while the first retry still comes quickly. But clients that failed together
//! and wait by the same schedule come back together, in waves that knock the dependency over
//! again as it rises. [`Jitter`] randomises each delay so the waves spread out; the schedule's
//! cap applies after the jitter, so no delay ever exceeds it. A schedule is any
//! `IntoIterator<Item = Duration>`: [`ConstantBackoff`], a `Vec<Duration>`, or another
//! crate's builder work too.
//!
//! ## A budget, not only a maximum number of attempts
//!
//! A maximum number of attempts bounds the cost of one call, not of the traffic. When a
//! dependency fails for everyone, every call makes all its attempts: with 3 attempts, a
//! service at 1000 calls per second sends the sick dependency 3000, exactly when it can least
//! take them — and a chain of services that each retry multiplies the load at each hop. A
//! [`RetryBudget`] bounds retries as a fraction of calls over a recent window (by default 20 %
//! more, plus 10 per second so a quiet service can still retry). While failures are rare the
//! budget never binds; in an outage it caps the extra load at that fraction, whatever the
//! attempts limit says. Use both: the attempts for the single call, the budget for the
//! service.
//!
//! ## Counting attempts
//!
//! Attempts count the first call: `max_attempts = 3` means one call and at most two retries,
//! and so at most two delays are taken from the schedule. A budget is charged only for the
//! retries.
//!
//! ```
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use bursar::retry::{ExponentialBackoff, Jitter, RetryBudget};
//!
//! let max_attempts = 3;
//! let schedule = ExponentialBackoff::new().with_jitter(Jitter::Full);
//! let delays: Vec<Duration> = schedule.into_iter().take(max_attempts - 1).collect();
//! assert_eq!(delays.len(), 2);
//! assert!(delays[0] <= Duration::from_secs(2) && delays[1] <= Duration::from_secs(4));
//!
//! let budget = RetryBudget::default();
//! let now = Instant::now();
//! budget.deposit(now); // the first attempt
//! assert!(budget.withdraw(now)); // a retry, paid for by the floor of 10 per second
//! ```

mod attempts;
mod budget;
mod ext;
mod hooks;
#[cfg(feature = "backoff")]
mod interop;
mod jitter;
mod policy;
pub(crate) mod rng;
mod schedule;

pub(crate) use attempts::{Attempts, MAX_ATTEMPTS, Stop, clamp_attempts};
pub(crate) use policy::RetryPolicy;

pub use ext::{Retry, RetryExt, hook_status};
pub use hooks::{AnyError, NoError, RetryAdjust, RetryNotify, RetryWhen};
#[cfg(feature = "backoff")]
#[cfg_attr(docsrs, doc(cfg(feature = "backoff")))]
pub use interop::FromBackoff;

pub use budget::RetryBudget;
pub use jitter::Jitter;
pub use schedule::{ConstantBackoff, ConstantDelays, ExponentialBackoff, ExponentialDelays};
