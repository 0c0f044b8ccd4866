//! The governor's circuit breakers: one for calls without a key, and a bounded registry of
//! breakers per key (per site, per session).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::time::Instant;

use crate::BuildError;
use crate::breaker::{
    BreakerConfig, BreakerRegistry, BreakerState, BreakerStatus, CircuitBreaker, Transition,
};
use crate::breaker::{NotPermitted, Outcome, Ticketed};
use crate::contain::Containment;

/// A callback for every breaker transition, told the breaker's name (`"default"` or its key).
#[derive(Clone)]
pub(crate) struct TransitionHook(pub(crate) Arc<TransitionFn>);

pub(crate) type TransitionFn = dyn Fn(&str, &Transition) + Send + Sync;

impl std::fmt::Debug for TransitionHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransitionHook")
    }
}

/// The name of the breaker for calls without a key, in `status().breakers`.
pub(crate) const DEFAULT_BREAKER: &str = "default";

#[derive(Debug)]
pub(crate) struct Breakers {
    pub(crate) default: Arc<CircuitBreaker>,
    pub(crate) keyed: BreakerRegistry<String>,
    /// The user's transition hook, which the keyed breakers reach through a `Weak`: a keyed
    /// breaker a thread or a caller keeps past the governor's drop keeps no user code alive.
    _hook: Option<TransitionHook>,
    /// This registry's number, for the threads' memory of their last key ([`LastKeyed`]).
    id: u64,
}

/// Numbers the governors' registries: an address could be reused by a later governor's.
static REGISTRY_IDS: AtomicU64 = AtomicU64::new(0);

/// The keyed breaker a thread's last keyed call used, so that a run of calls with one key on
/// one thread (a worker serving one site) skips the registry's lock, hash and list. Valid
/// while its registry has evicted nothing since.
struct LastKeyed {
    registry: u64,
    evictions: u64,
    key: String,
    breaker: Weak<CircuitBreaker>,
    /// A strong handle of `breaker`, lent to one call at a time and given back at its end
    /// ([`give_back`]): a run of calls moves it instead of counting it, which would write the
    /// breaker's shared count twice a call. The calls it is lent to meanwhile upgrade `breaker`.
    ///
    /// It may keep an evicted breaker, or one of a dropped governor, alive until the thread's
    /// next keyed call: that holds no user code, since the governor's breakers reach the
    /// user's transition hook through a `Weak` (see `Breakers::new`).
    spare: Option<Arc<CircuitBreaker>>,
}

thread_local! {
    static LAST_KEYED: RefCell<Option<LastKeyed>> = const { RefCell::new(None) };
}

/// The breaker a call uses: the default one or one its caller keeps, borrowed, or its key's,
/// shared.
pub(crate) enum BreakerRef<'a> {
    Default(&'a CircuitBreaker),
    Keyed(Arc<CircuitBreaker>),
}

impl BreakerRef<'_> {
    /// Done with: a key's breaker goes back to the thread's memory of its last key.
    #[inline]
    pub(crate) fn done(self) {
        if let BreakerRef::Keyed(breaker) = self {
            give_back(breaker);
        }
    }
}

impl Deref for BreakerRef<'_> {
    type Target = CircuitBreaker;

    #[inline]
    fn deref(&self) -> &CircuitBreaker {
        match self {
            BreakerRef::Default(breaker) => breaker,
            BreakerRef::Keyed(breaker) => breaker,
        }
    }
}

/// A call's breaker and the permit of its current attempt, asked again for each attempt.
///
/// The breaker is the one the call chose (a key's, one its caller keeps, or the default one
/// borrowed), or `None`: the governor's default one, which each method is given by the call
/// from its handle. So a call that owns its handle (the tower layer's) keeps no second handle
/// for its breaker, unless it is given a half-open probe's permit: then it keeps one, so that its
/// drop can give the probe's slot back.
pub(crate) struct CallBreaker<'a> {
    chosen: Option<BreakerRef<'a>>,
    permit: Ticketed,
}

impl<'a> CallBreaker<'a> {
    /// `chosen`, or the default one (`None`); no permit yet.
    pub(crate) fn unasked(chosen: Option<BreakerRef<'a>>) -> Self {
        CallBreaker { chosen, permit: Ticketed::default() }
    }

    /// The call's breaker, `default` if it chose none.
    #[inline(always)]
    pub(crate) fn breaker<'s>(&'s self, default: &'s CircuitBreaker) -> &'s CircuitBreaker {
        pick(&self.chosen, default)
    }

    /// Asks for a permit, reading the clock only if the breaker is not closed. A permit still
    /// held is given back first.
    #[inline(always)]
    pub(crate) fn ask(&mut self, default: &Arc<CircuitBreaker>) -> Result<(), NotPermitted> {
        let breaker = pick(&self.chosen, default);
        let asked = self.permit.ask(breaker);
        if self.chosen.is_none() && self.permit.is_probe() {
            self.chosen = Some(BreakerRef::Keyed(Arc::clone(default)));
        }
        asked
    }

    /// The attempt the permit is for starts now (see `Ticketed::start_timing`).
    #[inline(always)]
    pub(crate) fn start_timing(&mut self, default: &CircuitBreaker, always: bool) {
        let breaker = pick(&self.chosen, default);
        self.permit.start_timing(breaker, always);
    }

    /// When the attempt started, if it is timed.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.permit.started()
    }

    /// Reports the permit's outcome, once; at `now` if given.
    #[inline(always)]
    pub(crate) fn record(&mut self, default: &CircuitBreaker, outcome: Outcome, now: Option<Instant>) {
        let breaker = pick(&self.chosen, default);
        self.permit.record(breaker, outcome, now);
    }

    /// Gives a half-open probe's permit back; an ordinary permit is kept.
    pub(crate) fn give_back_probe(&mut self, default: &CircuitBreaker) {
        if self.permit.is_probe() {
            let breaker = pick(&self.chosen, default);
            self.permit.abandon(breaker);
        }
    }

    /// Whether there is no permit, or it went stale: the breaker moved on since it was given.
    pub(crate) fn must_ask_again(&self, default: &CircuitBreaker) -> bool {
        self.permit.must_ask_again(self.breaker(default))
    }
}

/// The breaker `chosen`, or else `default`.
#[inline(always)]
fn pick<'s>(chosen: &'s Option<BreakerRef<'_>>, default: &'s CircuitBreaker) -> &'s CircuitBreaker {
    match chosen {
        Some(chosen) => chosen,
        None => default,
    }
}

impl Drop for CallBreaker<'_> {
    /// A permit still held is given back unreported. Only a probe's needs it, and a call
    /// holding a probe's permit always keeps its breaker (see `ask`). A key's breaker goes
    /// back to the thread's memory of its last key.
    #[inline]
    fn drop(&mut self) {
        if let Some(chosen) = self.chosen.take() {
            self.permit.abandon(&chosen);
            chosen.done();
        }
    }
}

/// Gives `breaker` to this thread's memory of its last key as its spare, if it is that key's
/// breaker and the spare is out; else drops it.
#[inline]
fn give_back(breaker: Arc<CircuitBreaker>) {
    let _ = LAST_KEYED.try_with(move |last| {
        // `try_borrow_mut`, not `borrow_mut`: nothing run under the memory's borrow gives a
        // breaker back, but if something ever did, the breaker would only be dropped.
        let Ok(mut last) = last.try_borrow_mut() else { return };
        let Some(last) = last.as_mut() else { return };
        if last.spare.is_none() && std::ptr::eq(last.breaker.as_ptr(), Arc::as_ptr(&breaker)) {
            last.spare = Some(breaker);
        }
    });
}

/// `a == b`. A key of 8 to 16 bytes (a host name, say) is compared as two words, without the
/// call to `memcmp` that `==` makes: this runs at every keyed call.
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let length = a.len();
    if length != b.len() {
        return false;
    }
    if !(8..=16).contains(&length) {
        return a == b;
    }
    // The first eight bytes and the last eight, which overlap below 16.
    let word =
        |bytes: &[u8], at: usize| bytes.get(at..at + 8).and_then(|word| <[u8; 8]>::try_from(word).ok());
    word(a, 0) == word(b, 0) && word(a, length - 8) == word(b, length - 8)
}

impl Breakers {
    pub(crate) fn new(
        config: &BreakerConfig,
        hook: Option<TransitionHook>,
        containment: &Arc<Containment>,
    ) -> Result<Self, BuildError> {
        let mut default =
            CircuitBreaker::new(config)?.with_name(DEFAULT_BREAKER).contained_by(Arc::clone(containment));
        let mut keyed = BreakerRegistry::new(config)?.contained_by(Arc::clone(containment));
        if let Some(TransitionHook(hook)) = &hook {
            let for_default = Arc::clone(hook);
            default = default.with_on_transition(move |transition| for_default(DEFAULT_BREAKER, transition));
            let for_keyed = Arc::downgrade(hook);
            keyed = keyed.with_on_transition(move |key: &String, transition| {
                if let Some(hook) = for_keyed.upgrade() {
                    hook(key, transition);
                }
            });
        }
        let id = REGISTRY_IDS.fetch_add(1, Ordering::Relaxed);
        Ok(Breakers { default: Arc::new(default), keyed, _hook: hook, id })
    }

    /// The breaker of a call with `key`; `None` and `"default"` are the default one. The clock
    /// is read only if a new key has to evict one.
    pub(crate) fn for_key(&self, key: Option<&str>) -> BreakerRef<'_> {
        match key {
            None => BreakerRef::Default(&self.default),
            Some(DEFAULT_BREAKER) => BreakerRef::Default(&self.default),
            Some(key) => BreakerRef::Keyed(self.keyed_remembered(key)),
        }
    }

    /// The breaker of `key` in the registry: the one this thread's last keyed call used, if it
    /// had this key and nothing was evicted since, else the registry's, remembered.
    fn keyed_remembered(&self, key: &str) -> Arc<CircuitBreaker> {
        // Read before the registry is asked: an eviction after it makes the memory stale.
        let evictions = self.keyed.evictions();
        // `try_with`: a call made while the thread's locals are destroyed just goes without.
        let remembered = LAST_KEYED.try_with(|last| {
            let mut last = last.try_borrow_mut().ok()?;
            let last = last.as_mut()?;
            let same = last.registry == self.id && last.evictions == evictions && same_key(&last.key, key);
            if !same {
                return None;
            }
            last.spare.take().or_else(|| last.breaker.upgrade())
        });
        let remembered = remembered.ok().flatten();
        if let Some(breaker) = remembered {
            // The registry did not see this use: its eviction reads it here. Read first, so
            // that a run of calls does not write the breaker's line each time.
            if !breaker.used_unseen.load(Ordering::Relaxed) {
                breaker.used_unseen.store(true, Ordering::Relaxed);
            }
            return breaker;
        }
        let breaker = self.keyed.get(key);
        let (registry, remembered) = (self.id, Arc::downgrade(&breaker));
        let _ = LAST_KEYED.try_with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else { return };
            match &mut *last {
                Some(last) => {
                    (last.registry, last.evictions, last.breaker) = (registry, evictions, remembered);
                    last.spare = None;
                    // The key's buffer is reused: a thread alternating keys allocates nothing.
                    last.key.clear();
                    last.key.push_str(key);
                }
                last @ None => {
                    let key = key.to_owned();
                    *last = Some(LastKeyed { registry, evictions, key, breaker: remembered, spare: None });
                }
            }
        });
        breaker
    }

    /// The breaker of `key` as an `Arc`, created if needed; `"default"` is the unkeyed one.
    pub(crate) fn shared(&self, key: &str) -> Arc<CircuitBreaker> {
        if key == DEFAULT_BREAKER {
            return Arc::clone(&self.default);
        }
        self.keyed.get(key)
    }

    /// Every breaker's state, the default one under `"default"` and the others by key (no
    /// keyed breaker is named `"default"`: that key is the default breaker's).
    pub(crate) fn status(&self) -> BTreeMap<String, BreakerStatus> {
        let now = Instant::now();
        let mut all: BTreeMap<String, BreakerStatus> = self.keyed.status_at(now).into_iter().collect();
        all.insert(DEFAULT_BREAKER.to_owned(), self.default.status_at(now));
        all
    }

    /// How many breakers are open or forced open: a signal for the health monitor.
    pub(crate) fn open(&self) -> usize {
        let is_open = |state| matches!(state, BreakerState::Open | BreakerState::ForcedOpen);
        let keyed = self.keyed.status().into_iter().filter(|(_, snap)| is_open(snap.state)).count();
        keyed + usize::from(is_open(self.default.state()))
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;

    /// Every length class: the two words of 8 to 16 bytes (overlapping below 16), and `==`
    /// outside them; a difference in any one byte is found.
    #[test]
    fn same_key_finds_a_difference_in_any_byte_of_any_length() {
        for length in 0..=24_usize {
            let key: String = (0..length).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(same_key(&key, &key.clone()), "length {length}");
            for at in 0..length {
                let mut other = key.clone().into_bytes();
                other[at] = b'Z';
                let other = String::from_utf8(other).expect("ASCII");
                assert!(!same_key(&key, &other), "length {length}, byte {at}");
            }
            assert!(!same_key(&key, &format!("{key}a")), "length {length} against {}", length + 1);
        }
        assert!(same_key("api.example.com", "api.example.com"));
        assert!(!same_key("api.example.com", "api.example.org"));
        assert!(!same_key("api.example.com", "bpi.example.com"));
    }
}
