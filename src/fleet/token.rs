//! [`FencingToken`]: the number each fleet lease carries, and the running lease's, task-local.

use std::fmt;

tokio::task_local! {
    /// The token of the fleet lease the operation being polled runs under.
    static CURRENT: FencingToken;
}

/// A fleet lease's fencing token: every lease granted on a resource gets a larger one than any
/// granted before it, also across a restart of the backend that lost its data (the Redis
/// backend derives the high bits from the server's clock).
///
/// A lease is an admission limit, not a proof of mutual exclusion: a holder paused past its
/// TTL (a GC pause, `SIGSTOP`, a slow disk) can wake up still running while its lease has gone
/// to another. A resource that must never be used by two holders at once checks tokens:
/// it remembers the largest token it has seen and refuses a write with a smaller one.
///
/// # Examples
///
/// The fencing pattern, on the resource's side:
///
/// ```
/// use bursar::fleet::FencingToken;
///
/// /// A store that refuses writes from a holder whose lease was superseded.
/// #[derive(Default)]
/// struct FencedStore { highest: u64, value: String }
///
/// impl FencedStore {
///     fn write(&mut self, token: FencingToken, value: &str) -> Result<(), &'static str> {
///         if token.get() < self.highest {
///             return Err("stale fencing token: a newer lease holder has written");
///         }
///         self.highest = token.get();
///         self.value = value.to_owned();
///         Ok(())
///     }
/// }
///
/// let mut store = FencedStore::default();
/// let (paused, newer) = (FencingToken::new(7), FencingToken::new(8));
/// store.write(newer, "from the new holder").unwrap();
/// assert!(store.write(paused, "from the holder that slept past its TTL").is_err());
/// assert_eq!(store.value, "from the new holder");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FencingToken(u64);

impl FencingToken {
    /// A token of the value `token` (what a [`FleetBackend`](super::FleetBackend) returns).
    pub const fn new(token: u64) -> Self {
        FencingToken(token)
    }

    /// The token's value: compare it with the largest the resource has seen.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The token of the fleet lease the current operation runs under: `Some` while a governed
    /// operation holding a fleet lease is polled, `None` elsewhere and for calls admitted
    /// without a lease (`on_backend_down = "fail_open"` or `"local_share"` while the backend is
    /// down). It is set for each poll of the operation's own future: read it there (before an
    /// `.await` or after, both work) and pass it on to tasks the operation spawns.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(bursar::fleet::FencingToken::current(), None, "not inside a leased operation");
    /// ```
    pub fn current() -> Option<FencingToken> {
        CURRENT.try_with(|token| *token).ok()
    }

    /// Runs `poll` with `token` as the current one.
    pub(crate) fn scope<R>(token: Option<FencingToken>, poll: impl FnOnce() -> R) -> R {
        match token {
            Some(token) => CURRENT.sync_scope(token, poll),
            None => poll(),
        }
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
