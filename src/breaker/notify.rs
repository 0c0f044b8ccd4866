//! Delivers transitions to the user's callback in the order they happened, but outside the
//! breaker's lock: a callback may read the breaker or even cause another transition without
//! deadlocking, and a slow callback never holds up admission.
//!
//! Transitions are queued under the breaker's lock, so the queue is in order. After the lock
//! is released, whichever thread gets the delivery lock delivers everything queued — its own
//! transition and any queued meanwhile; the others leave theirs to it.
//!
//! The callback is user code: it runs contained. A panic in it is an `ERROR` event and counted;
//! the transition stands and the next one is still delivered. On a thread that is unwinding
//! nothing is delivered (a second panic would abort): what is queued waits for the next
//! delivery.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::transition::Transition;
use crate::contain::{Containment, Fault, UserCode};
use crate::sync::AtomicU64;

pub(crate) type Callback = Box<dyn Fn(&Transition) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Notifier {
    callback: Option<Callback>,
    containment: Arc<Containment>,
    /// Panics of this breaker's callbacks.
    panics: AtomicU64,
    pending: Mutex<VecDeque<Transition>>,
    delivering: Mutex<()>,
}

impl Notifier {
    pub(crate) fn new(callback: Callback, containment: Arc<Containment>) -> Self {
        Notifier { callback: Some(callback), containment, ..Notifier::default() }
    }

    /// Counts this notifier's panics into `containment` as well (the governor's).
    pub(crate) fn contained_by(&mut self, containment: Arc<Containment>) {
        self.containment = containment;
    }

    /// Where the callback's panics are counted.
    pub(crate) fn containment(&self) -> Arc<Containment> {
        Arc::clone(&self.containment)
    }

    /// Runs one of the breaker's callbacks contained: a panic is logged and counted, here
    /// and in the containment.
    pub(crate) fn contain<R>(&self, kind: UserCode, code: impl FnOnce() -> R) -> Result<R, Fault> {
        let result = self.containment.call(kind, code);
        if result.is_err() {
            // Relaxed: a statistic.
            self.panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    /// Panics of the breaker's callbacks caught so far.
    pub(crate) fn panics(&self) -> u64 {
        // Relaxed: a statistic.
        self.panics.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queues a transition for the callback. Call under the breaker's lock.
    pub(crate) fn queue(&self, transition: Transition) {
        if self.callback.is_some() {
            self.pending.lock().push_back(transition);
        }
    }

    /// Delivers what is queued, unless another thread is delivering (it delivers this too).
    /// Call after releasing the breaker's lock.
    pub(crate) fn deliver(&self) {
        let Some(callback) = &self.callback else { return };
        if std::thread::panicking() {
            return;
        }
        loop {
            {
                let Some(_delivering) = self.delivering.try_lock() else { return };
                while let Some(transition) = self.next() {
                    let _ = self.contain(UserCode::Transition, || callback(&transition));
                }
            }
            // Something queued after our last look, while the delivery lock was still ours,
            // would be left for the next transition: look again now that it is free.
            if self.pending.lock().is_empty() {
                return;
            }
        }
    }

    fn next(&self) -> Option<Transition> {
        self.pending.lock().pop_front()
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("callback", &self.callback.as_ref().map(|_| "Fn(&Transition)"))
            .field("pending", &self.pending.lock().len())
            .finish()
    }
}
