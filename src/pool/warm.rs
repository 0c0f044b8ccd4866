//! Warm pools: idle connections created in the background, before any `get` asks, for the keys
//! named by [`Pool::warm`](super::Pool::warm).
//!
//! The reaper's task keeps them: at each tick, and whenever a warm key's idle connection is
//! lent or a place in the caps is given back, it reserves a place for each connection missing
//! from `min_idle_per_key` (each warm key) and `min_idle` (all warm keys together, the key
//! with the fewest first) and creates them on tasks of their own, through the same turns to
//! create as `get`s (`max_concurrent_creates`) and within the checkout timeout. A warm-up never
//! evicts: a full pool or a key at its cap is left as it is, and an exhausted port range fails
//! the warm-up. After a failed warm-up create, the next waits for the reaper's next tick, so a
//! dependency that is down is not hammered; so does the warm-up after the health monitor's
//! emergency recovery closed every idle connection, so it does not undo it at once. A pool
//! started by a governor makes no warm-up while the governor sheds new work (health critical),
//! and warms its keys again at the first tick after.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::cap_place::CapPlace;
use super::checkout::deadline::Deadline;
use super::checkout::ports::Eviction;
use super::connection::{Handles, Kept};
use super::sessions::{SessionId, WarmTargets};
use super::shared::Shared;
use super::state::wake;
use super::{Manager, PoolError};

impl<M: Manager> Shared<M> {
    /// Whether any connection is kept warm.
    pub(super) fn warms(&self) -> bool {
        self.config.min_idle > 0 || self.config.min_idle_per_key > 0
    }

    /// Names `key` as warm and asks the reaper's task to warm it.
    pub(super) fn warm(&self, key: M::Key) {
        let mut state = self.state.lock();
        if !state.warm_keys.contains(&key) {
            state.warm_keys.push(key);
        }
        drop(state);
        self.poke_warm_up();
    }

    /// Asks the reaper's task to look at the warm keys now.
    pub(super) fn poke_warm_up(&self) {
        if self.warms() {
            self.warm_poke.notify_one();
        }
    }

    /// Starts the creates the warm keys lack. After a failed one, or an emergency reap, only a
    /// tick (`ticked`) starts more.
    pub(super) fn warm_up(self: &Arc<Self>, ticked: bool) {
        if !self.warms() {
            return;
        }
        // Relaxed: a hint that orders nothing; a missed or extra warm-up is made up next time.
        if ticked {
            self.warm_paused.store(false, Ordering::Relaxed);
        } else if self.warm_paused.load(Ordering::Relaxed) {
            return;
        }
        // A governor that sheds new work (health critical) sheds warm-ups too: the next tick
        // after it stops warms the keys again.
        if self.governor.as_ref().is_some_and(|governor| (governor.shedding)()) {
            return;
        }
        let targets = WarmTargets { per_key: self.config.min_idle_per_key, total: self.config.min_idle };
        let planned = {
            let state = &mut *self.state.lock();
            let planned = state.sessions.plan_warm(&state.warm_keys, targets);
            planned
                .into_iter()
                .filter_map(|session| Some((state.sessions.key_of(session)?, session)))
                .collect::<Vec<_>>()
        };
        for (key, session) in planned {
            let place = CapPlace::counted(Arc::downgrade(self), Some(session), true);
            let shared = Arc::clone(self);
            self.backend.spawn_counted(async move { shared.create_idle(key, session, place).await });
        }
    }

    /// Creates one warm connection for `key` in `place` and puts it to rest idle.
    async fn create_idle(self: Arc<Self>, key: M::Key, session: SessionId, place: CapPlace<M>) {
        let mut timer = pin!(None);
        let mut deadline = Deadline { limit: self.config.checkout_timeout, timer: timer.as_mut() };
        let made = self.make(&key, session, Eviction::Never, &mut deadline).await;
        self.state.lock().sessions.warmed(session);
        let conn = match made {
            Ok(conn) => conn,
            // Closing ends the wait for a turn: nothing failed.
            Err(PoolError::Closed) => return,
            Err(error) => {
                // Relaxed: see `warm_up`.
                self.warm_paused.store(true, Ordering::Relaxed);
                tracing::warn!(target: "bursar::pool", ?key, %error, "warm-up create failed; the next waits for the reaper's tick");
                return; // the place goes back as `place` drops
            }
        };
        let kept = Kept::boxed(conn, Handles { pool: place.keep(), backend: Arc::clone(&self.backend) });
        let (refused, waiter) = {
            let mut state = self.state.lock();
            if state.sessions.closed {
                (Some(kept), None)
            } else {
                let refused = state.sessions.put_idle(kept, Instant::now()).err();
                (refused, state.wake_next(Some(&key)))
            }
        };
        wake(waiter);
        match refused {
            None => tracing::trace!(target: "bursar::pool", ?key, "warm connection ready"),
            Some(kept) => {
                let (conn, place, backend) = kept.into_guards();
                tracing::debug!(target: "bursar::pool", ?key, "pool closed during a warm-up; connection destroyed");
                backend.destroy(conn, place, None);
            }
        }
    }
}
