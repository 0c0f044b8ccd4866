//! [`Waiters`]: the `get`s waiting for a connection, queued per key, each woken on its own —
//! and a change that can help some of them finds them without looking at the others.
//!
//! A keyed pool cannot wake "the next waiter": a connection returned for key A helps only
//! waiters for A (or one that may evict it), and a freed place helps only waiters whose own
//! key is below its cap. Waking everyone on every change would cost O(waiters) task wake-ups,
//! and scanning for the oldest waiter that can progress O(waiters) under the pool's lock, on
//! every return of any key.
//!
//! Every waiter of one key waits for the same thing, so each key has its own queue, oldest
//! first. What its waiters wait for depends on whether the key is at its `max_per_key`:
//!
//! - At its cap, only a change of that key helps: one of its connections returned, or one of
//!   its places given back. Such a change looks at that key's queue alone.
//! - Below its cap, they wait for room in `max_total` — a freed place, or an idle connection
//!   of another key to evict — which is the same for every such key. Those keys are listed by
//!   their oldest waiter, and any change looks at the first of them.
//!
//! So a change looks at two waiters at most, plus any listed key it finds back at its cap
//! (taken by a `get` that did not wait): such a key is unlisted for good, until one of its places
//! is given back and lists it again, so each costs once per listing. Whoever changes the state
//! wakes the oldest of what it found that can now make progress, and a woken waiter that
//! finishes — whether it got a connection, found it gone, or was dropped — passes the turn on
//! the same way. So every change that can help someone wakes someone, and no change wakes more
//! than it can help.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug)]
pub(super) struct Waiters<K> {
    /// Every waiter, by ticket: tickets are handed out in arrival order.
    waiters: HashMap<u64, Waiter<K>, foldhash::fast::RandomState>,
    /// Per key, its waiters not yet woken. A key with none has no entry. Hashed with foldhash,
    /// as the sessions are: while any `get` waits, every return looks its key up here under
    /// the lock, and should cost about what a return without waiters does.
    queues: HashMap<K, Queue, foldhash::fast::RandomState>,
    /// Keys below their cap with waiters not yet woken, by the ticket of the oldest of those.
    for_room: BTreeMap<u64, K>,
    next_ticket: u64,
    /// Waiters looked at to decide whom to wake, in all: what a wake costs, for the tests.
    examined: u64,
}

#[derive(Debug)]
struct Waiter<K> {
    key: K,
    wake: Arc<Notify>,
    /// Woken and not yet back: out of its key's queue, so the next wake goes to someone else.
    woken: bool,
}

#[derive(Debug, Default)]
struct Queue {
    /// Tickets of the key's waiters not yet woken, oldest first.
    unwoken: BTreeSet<u64>,
    /// The ticket the key is listed under in `for_room`, if it is.
    listed: Option<u64>,
}

/// What the pool's state answers about a waiting key.
pub(super) trait KeyState<K> {
    /// Whether a `get` for `key` would not wait now.
    fn can_progress(&self, key: &K) -> bool;
    /// Whether `key` holds `max_per_key` places.
    fn at_cap(&self, key: &K) -> bool;
}

impl<K: Hash + Eq + Clone> Waiters<K> {
    pub(super) fn new() -> Self {
        let (waiters, queues, for_room) = (HashMap::default(), HashMap::default(), BTreeMap::new());
        Waiters { waiters, queues, for_room, next_ticket: 0, examined: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.waiters.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Waiters looked at by wakes so far.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn examined(&self) -> u64 {
        self.examined
    }

    /// Queues a waiter for `key`, which is `at_cap` or waits for room in the total;
    /// `notify_one` on the returned handle wakes it (a wake sent before it waits is kept).
    pub(super) fn join(&mut self, key: K, at_cap: bool) -> (u64, Arc<Notify>) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let wake = Arc::new(Notify::new());
        self.waiters.insert(ticket, Waiter { key: key.clone(), wake: Arc::clone(&wake), woken: false });
        self.enqueue(key, ticket, at_cap);
        (ticket, wake)
    }

    /// A woken waiter that found nothing waits again, keeping its place in the queue.
    /// Returns its wake handle and whether it had been woken.
    pub(super) fn rewait(&mut self, ticket: u64, at_cap: bool) -> Option<(Arc<Notify>, bool)> {
        let waiter = self.waiters.get_mut(&ticket)?;
        let (wake, was_woken) = (Arc::clone(&waiter.wake), std::mem::take(&mut waiter.woken));
        let key = waiter.key.clone();
        self.enqueue(key, ticket, at_cap);
        Some((wake, was_woken))
    }

    /// Removes a waiter; returns its key if it had been woken (so its turn must pass on).
    pub(super) fn leave(&mut self, ticket: u64) -> Option<K> {
        let waiter = self.waiters.remove(&ticket)?;
        if waiter.woken {
            return Some(waiter.key);
        }
        self.dequeue(&waiter.key, ticket);
        None
    }

    /// Wakes the oldest waiter that can progress, of the key a change concerned (`changed`) or
    /// of the first key waiting for room; returns its handle. A `changed` key found below its cap
    /// whose waiters still cannot progress is listed as waiting for room.
    pub(super) fn wake_first(
        &mut self,
        changed: Option<&K>,
        state: &impl KeyState<K>,
    ) -> Option<Arc<Notify>> {
        let own = changed.and_then(|key| self.first_of(key, state));
        let room = self.first_for_room(state);
        let ticket = match (own, room) {
            (Some(own), Some(room)) => own.min(room),
            (own, room) => own.or(room)?,
        };
        Some(self.mark_woken(ticket))
    }

    /// Marks every waiter woken (the pool closed) and returns their handles.
    pub(super) fn wake_all(&mut self) -> Vec<Arc<Notify>> {
        self.queues.clear();
        self.for_room.clear();
        let waiters = self.waiters.values_mut().filter_map(|waiter| {
            let already = std::mem::replace(&mut waiter.woken, true);
            (!already).then(|| Arc::clone(&waiter.wake))
        });
        waiters.collect()
    }

    /// The oldest unwoken waiter of `key` if it can progress; lists the key if it is below its
    /// cap and cannot.
    fn first_of(&mut self, key: &K, state: &impl KeyState<K>) -> Option<u64> {
        let first = *self.queues.get(key)?.unwoken.first()?;
        self.examined += 1;
        if state.can_progress(key) {
            return Some(first);
        }
        if !state.at_cap(key) {
            self.list(key);
        }
        None
    }

    /// The oldest unwoken waiter of the first key listed as waiting for room, if it can
    /// progress; keys found back at their cap are unlisted on the way.
    fn first_for_room(&mut self, state: &impl KeyState<K>) -> Option<u64> {
        loop {
            let (&ticket, key) = self.for_room.first_key_value()?;
            self.examined += 1;
            if state.can_progress(key) {
                return Some(ticket);
            }
            if !state.at_cap(key) {
                return None; // no room: the same for every listed key
            }
            let key = key.clone();
            self.unlist(&key);
        }
    }

    fn mark_woken(&mut self, ticket: u64) -> Arc<Notify> {
        let waiter = self.waiters.get_mut(&ticket).expect("a queued ticket has a waiter");
        waiter.woken = true;
        let (key, wake) = (waiter.key.clone(), Arc::clone(&waiter.wake));
        self.dequeue(&key, ticket);
        wake
    }

    fn enqueue(&mut self, key: K, ticket: u64, at_cap: bool) {
        let queue = self.queues.entry(key.clone()).or_default();
        queue.unwoken.insert(ticket);
        match at_cap {
            true => self.relist(&key),
            false => self.list(&key),
        }
    }

    fn dequeue(&mut self, key: &K, ticket: u64) {
        let Some(queue) = self.queues.get_mut(key) else { return };
        queue.unwoken.remove(&ticket);
        self.relist(key);
        if self.queues.get(key).is_some_and(|queue| queue.unwoken.is_empty()) {
            self.queues.remove(key);
        }
    }

    /// Lists `key` as waiting for room, under its oldest unwoken waiter.
    fn list(&mut self, key: &K) {
        let Some(queue) = self.queues.get_mut(key) else { return };
        if queue.listed.is_none() {
            queue.listed = queue.unwoken.first().copied();
            if let Some(first) = queue.listed {
                self.for_room.insert(first, key.clone());
            }
        }
    }

    /// Moves a listed key to its oldest unwoken waiter's ticket (or off the list if none).
    fn relist(&mut self, key: &K) {
        if let Some(listed) = self.queues.get_mut(key).and_then(|queue| queue.listed.take()) {
            self.for_room.remove(&listed);
            self.list(key);
        }
    }

    fn unlist(&mut self, key: &K) {
        if let Some(listed) = self.queues.get_mut(key).and_then(|queue| queue.listed.take()) {
            self.for_room.remove(&listed);
        }
    }
}
