//! [`Waiters`]: the `get`s waiting for a connection, oldest first, each woken on its own.
//!
//! A keyed pool cannot wake "the next waiter": a connection returned for key A helps only
//! waiters for A (or one that may evict it), and a freed place helps only waiters whose own
//! key is below its cap. Waking everyone on every change would be correct but costs
//! O(waiters) task wake-ups per change. Instead, whoever changes the state wakes the oldest
//! waiter that can now make progress, and a woken waiter that finishes — whether it got a
//! connection, found it gone, or was dropped — passes the turn on the same way. So every
//! change that can help someone wakes someone, and no change wakes more than it can help.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug)]
pub(super) struct Waiters<K> {
    /// By ticket: tickets are handed out in arrival order.
    queue: BTreeMap<u64, Waiter<K>>,
    next_ticket: u64,
}

#[derive(Debug)]
struct Waiter<K> {
    key: K,
    wake: Arc<Notify>,
    /// Woken and not yet back: the next wake goes to someone else.
    woken: bool,
}

impl<K> Waiters<K> {
    pub(super) fn new() -> Self {
        Waiters { queue: BTreeMap::new(), next_ticket: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a waiter for `key`; `notify_one` on the returned handle wakes it (a wake sent
    /// before it waits is kept).
    pub(super) fn join(&mut self, key: K) -> (u64, Arc<Notify>) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let wake = Arc::new(Notify::new());
        self.queue.insert(ticket, Waiter { key, wake: Arc::clone(&wake), woken: false });
        (ticket, wake)
    }

    /// A woken waiter that found nothing waits again, keeping its place in the queue.
    /// Returns its wake handle and whether it had been woken.
    pub(super) fn rewait(&mut self, ticket: u64) -> Option<(Arc<Notify>, bool)> {
        let waiter = self.queue.get_mut(&ticket)?;
        Some((Arc::clone(&waiter.wake), std::mem::take(&mut waiter.woken)))
    }

    /// Removes a waiter; returns whether it had been woken (so its turn must pass on).
    pub(super) fn leave(&mut self, ticket: u64) -> bool {
        self.queue.remove(&ticket).is_some_and(|waiter| waiter.woken)
    }

    /// Marks the oldest waiter not yet woken that `can_progress` and returns its handle.
    pub(super) fn wake_first(&mut self, can_progress: impl Fn(&K) -> bool) -> Option<Arc<Notify>> {
        let waiter = self.queue.values_mut().find(|waiter| !waiter.woken && can_progress(&waiter.key))?;
        waiter.woken = true;
        Some(Arc::clone(&waiter.wake))
    }

    /// Marks every waiter woken (the pool closed) and returns their handles.
    pub(super) fn wake_all(&mut self) -> Vec<Arc<Notify>> {
        let waiters = self.queue.values_mut().filter_map(|waiter| {
            let already = std::mem::replace(&mut waiter.woken, true);
            (!already).then(|| Arc::clone(&waiter.wake))
        });
        waiters.collect()
    }
}
