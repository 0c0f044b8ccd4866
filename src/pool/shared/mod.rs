//! [`Shared`]: what every handle of one pool shares, and the moves made for guards that
//! cannot wait — a place given back, a waiter leaving, a lease returned, a reaper tick.
//!
//! Pool handles hold it strongly; leases, places and the reaper hold it weakly, so it lives
//! exactly as long as some [`Pool`](super::Pool) handle does. When the last handle goes, its
//! `Drop` stops the reaper and hands every idle connection to `destroy`; leases still out
//! then find the pool gone and destroy their connection when dropped.

use std::future::Future;
use std::sync::Arc;

use crate::pool::FromGovernor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::backend::Backend;
use super::cap_place::CapPlace;
use super::connection::Conn;
use super::creates::Creates;
use super::leaks::CheckoutId;
use super::memory::{MemoryWatch, ReadMemory};
use super::sessions::{PoolLimits, SessionId};
use super::state::{State, wake};
use super::{Manager, PoolConfig};
use crate::ports::{PortAllocator, PortError, PortLease};
use crate::retry::rng::SplitMix64;

mod retire;

/// The pool closed while [`Shared::unless_closed`] waited.
#[derive(Debug)]
pub(super) struct PoolClosed;

pub(super) struct Shared<M: Manager> {
    pub(super) state: Mutex<State<M>>,
    pub(super) backend: Arc<Backend<M>>,
    pub(super) config: PoolConfig,
    /// Set with `sessions.closed` by `close`, for a `get` to look at without the lock.
    closed: AtomicBool,
    /// Wakes, at `close`, the waits a create makes after its turn (memory, ports), which
    /// `creates` cannot end: they hold a turn already.
    closing: Notify,
    allocator: Option<Arc<PortAllocator>>,
    /// Taken once per connection; each value seeds that connection's lifetime jitter.
    lifetime_seed: AtomicU64,
    reaper: Mutex<Option<AbortHandle>>,
    /// Turns to run `Manager::create`, `max_concurrent_creates` at once.
    pub(super) creates: Creates,
    /// How `max_rss` reads memory, and the last reading.
    pub(super) memory: MemoryWatch,
    /// Wakes the reaper's task to warm keys up (see `warm.rs`).
    pub(super) warm_poke: Arc<Notify>,
    /// Set by a failed warm-up create: no more until the reaper's next tick.
    pub(super) warm_paused: AtomicBool,
    /// What a pool started by a governor takes from it (`create_cost`'s memory, shedding).
    pub(super) governor: Option<FromGovernor>,
}

impl<M: Manager> Shared<M> {
    pub(super) fn new(
        backend: Backend<M>,
        config: PoolConfig,
        allocator: Option<Arc<PortAllocator>>,
        lifetime_seed: u64,
        read_memory: ReadMemory,
        governor: Option<FromGovernor>,
    ) -> Self {
        let limits = PoolLimits {
            max_total: config.max_total,
            max_per_key: config.max_per_key,
            idle_timeout: config.idle_timeout,
            min_idle_per_key: config.min_idle_per_key,
            min_idle: config.min_idle,
        };
        let creates = Creates::new(config.max_concurrent_creates);
        Shared {
            state: Mutex::new(State::new(limits)),
            backend: Arc::new(backend),
            config,
            closed: AtomicBool::new(false),
            closing: Notify::new(),
            allocator,
            lifetime_seed: AtomicU64::new(lifetime_seed),
            reaper: Mutex::new(None),
            creates,
            memory: MemoryWatch::new(read_memory),
            warm_poke: Arc::new(Notify::new()),
            warm_paused: AtomicBool::new(false),
            governor,
        }
    }

    /// The largest connection's resident memory at the last reading, for the status.
    pub(super) fn largest_rss(&self) -> Option<u64> {
        self.memory.largest()
    }

    pub(super) fn track_reaper(&self, task: AbortHandle) {
        *self.reaper.lock() = Some(task);
    }

    pub(super) fn stop_reaper(&self) {
        if let Some(reaper) = self.reaper.lock().take() {
            reaper.abort();
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        // Relaxed: it orders nothing else. A close that happened before this read (through
        // whatever resumed the caller) is seen; one racing with it is as if it came after.
        self.closed.load(Ordering::Relaxed)
    }

    /// Marks the pool closed under `state`'s lock, which the caller holds.
    pub(super) fn mark_closed(&self, state: &mut State<M>) {
        state.sessions.closed = true;
        // Relaxed: see `is_closed`.
        self.closed.store(true, Ordering::Relaxed);
        self.creates.close();
        self.closing.notify_waiters();
    }

    /// Awaits `future` unless the pool is closed first, or closes meanwhile: then `future` is
    /// dropped and this returns [`PoolClosed`] (see [`crate::sync::unless_closed`]).
    pub(super) async fn unless_closed<F: Future>(&self, future: F) -> Result<F::Output, PoolClosed> {
        crate::sync::unless_closed(&self.closing, || self.is_closed(), future).await.ok_or(PoolClosed)
    }

    /// Ends a lease whose connection goes to `destroy` instead of back: a check that failed or
    /// was cut off.
    pub(super) fn end_lease(&self, checkout: CheckoutId, session: SessionId) {
        // Over `max_rss` or not, the connection is destroyed already.
        let _over_memory = self.state.lock().end_lease(checkout, session);
    }

    /// Gives a place back (a [`CapPlace`] was dropped) and wakes a waiter it helps.
    pub(super) fn release(&self, session: Option<SessionId>, total: bool) {
        let waiter = {
            let mut state = self.state.lock();
            // The key is read first: the session ends if this was its last place.
            let waiting = !state.waiters.is_empty();
            let key = session.filter(|_| waiting).and_then(|session| state.sessions.key_of(session));
            state.sessions.release(session, total);
            state.wake_next(key.as_ref())
        };
        wake(waiter);
        self.poke_warm_up();
    }

    /// Removes a waiting `get` that was dropped, passing its turn on if it had one.
    pub(super) fn leave_queue(&self, ticket: u64) {
        let waiter = self.state.lock().leave_queue(ticket);
        wake(waiter);
    }

    /// One lease from each range the configuration names, in order; none if one fails.
    pub(super) async fn try_lease_ports(&self) -> Result<Vec<PortLease>, PortError> {
        let Some(allocator) = &self.allocator else { return Ok(Vec::new()) };
        let mut ports = Vec::with_capacity(self.config.ports.len());
        for range in &self.config.ports {
            ports.push(allocator.lease(range).await?);
        }
        Ok(ports)
    }

    /// Wraps a connection `create` just returned for `key`'s `session`, with its jittered end
    /// of life.
    pub(super) fn connection(
        &self,
        key: M::Key,
        session: SessionId,
        connection: M::Connection,
        ports: Vec<PortLease>,
    ) -> Conn<M> {
        // Relaxed: each value only has to be taken once; it orders nothing.
        let seed = self.lifetime_seed.fetch_add(1, Ordering::Relaxed);
        let cut = self.config.lifetime_jitter * SplitMix64::new(seed).next_f64();
        let lifetime = self.config.max_lifetime.mul_f64(1.0 - cut);
        let ports = ports.into_boxed_slice();
        let group = match self.config.max_rss {
            Some(_) => self.backend.process_group(&connection),
            None => None,
        };
        let expires_at = Instant::now() + lifetime;
        Conn { connection, ports, key, session, expires_at, uses: 0, group }
    }
}

impl<M: Manager> Drop for Shared<M> {
    /// The last handle is gone: nothing can wait on the pool any more, but its idle
    /// connections must still be destroyed, and the reaper stopped.
    fn drop(&mut self) {
        self.stop_reaper();
        let sessions = &mut self.state.get_mut().sessions;
        sessions.closed = true;
        let idle = sessions.take_all_idle();
        if !idle.is_empty() {
            tracing::debug!(target: "bursar::pool", idle = idle.len(), "last pool handle dropped; idle connections destroyed");
        }
        for conn in idle {
            self.backend.destroy(conn, CapPlace::detached(), None);
        }
    }
}
