//! [`FleetBreakers`]: a governor's fleet-wide breakers — their keys, the last view of each,
//! and what the local breakers' transitions tell the fleet. The task that talks to the
//! backend is `sync.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::{FleetBreakerConfig, FleetBreakerStatus, FleetBreakerView};
use crate::breaker::{BreakerState, CircuitBreaker, Transition, TransitionReason};
use crate::fleet::engine::Asker;

/// Finds a governor's local breaker by key (`"default"` the unkeyed one); `None` once the
/// governor is gone.
pub(crate) type LocalBreakers = Box<dyn Fn(&str) -> Option<Arc<CircuitBreaker>> + Send + Sync>;

/// What a local breaker's transition tells the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// The local breaker opened on its own failures: a vote, and the wait it opened for.
    Vote { key: usize, open_for: Duration },
    /// The fleet's probe, run by this instance, ended.
    ProbeEnded { key: usize, epoch: u64, succeeded: bool, open_for: Duration },
}

/// One shared key: the backend's last answer and this instance's probe.
#[derive(Debug)]
pub(super) struct SharedKey {
    pub(super) key: String,
    pub(super) view: Mutex<Option<FleetBreakerView>>,
    /// The last probe epoch the local breaker was released for: each epoch is probed once
    /// while the backend answers. 0 for none, as after the breaker was let go.
    pub(super) released_epoch: AtomicU64,
    /// Whether the local breaker is half-open for the fleet's probe now.
    pub(super) in_probe: AtomicBool,
}

/// The fleet-wide breakers of one governor. Every atomic is `Relaxed`: each is read on its
/// own, and the local breaker's lock orders what it steers.
pub(crate) struct FleetBreakers {
    pub(super) config: FleetBreakerConfig,
    pub(super) resource: String,
    pub(super) instance: String,
    /// How they ask the backend, as the resource does.
    pub(super) asker: Asker,
    pub(super) keys: Vec<SharedKey>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) receiver: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
    pub(super) local: OnceLock<LocalBreakers>,
    /// Whether the last backend operation failed: every breaker follows its own rules.
    pub(super) local_only: AtomicBool,
}

impl std::fmt::Debug for FleetBreakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBreakers")
            .field("resource", &self.resource)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl FleetBreakers {
    pub(crate) fn new(config: FleetBreakerConfig, resource: &str, instance: &str, asker: Asker) -> Self {
        let (events, receiver) = mpsc::unbounded_channel();
        let keys = config.keys.iter().map(|key| SharedKey::new(key)).collect();
        FleetBreakers {
            config,
            resource: resource.to_owned(),
            instance: instance.to_owned(),
            asker,
            keys,
            events,
            receiver: Mutex::new(Some(receiver)),
            local: OnceLock::new(),
            local_only: AtomicBool::new(false),
        }
    }

    /// Gives the sync task the governor's breakers.
    pub(crate) fn attach(&self, local: LocalBreakers) {
        let _ = self.local.set(local);
    }

    pub(super) fn local(&self, key: &str) -> Option<Arc<CircuitBreaker>> {
        self.local.get().and_then(|find| find(key))
    }

    /// Hears a transition of the local breaker `name`: its own opening is a vote, the end of
    /// the fleet's probe an outcome. The fleet's own steps are not news.
    pub(crate) fn local_transition(&self, name: &str, transition: &Transition) {
        let Some(key) = self.keys.iter().position(|shared| shared.key == name) else { return };
        let open_for = transition.open_wait.unwrap_or_default();
        let event = match transition.reason {
            TransitionReason::ConsecutiveFailures { .. } | TransitionReason::FailureRate { .. } => {
                Event::Vote { key, open_for }
            }
            TransitionReason::ProbesSucceeded | TransitionReason::ProbeFailed => {
                let succeeded = transition.to == BreakerState::Closed;
                let shared = &self.keys[key];
                if shared.in_probe.swap(false, Relaxed) {
                    let epoch = shared.released_epoch.load(Relaxed);
                    Event::ProbeEnded { key, epoch, succeeded, open_for }
                } else if succeeded {
                    return; // the local breaker's own probe: its own business
                } else {
                    Event::Vote { key, open_for }
                }
            }
            _ => return,
        };
        // The task is gone only when the governor is: nothing left to tell.
        let _ = self.events.send(event);
    }

    pub(crate) fn status(&self) -> Vec<FleetBreakerStatus> {
        let local_only = self.local_only.load(Relaxed);
        self.keys
            .iter()
            .map(|shared| FleetBreakerStatus::of(&shared.key, *shared.view.lock(), local_only))
            .collect()
    }
}

impl SharedKey {
    fn new(key: &str) -> Self {
        SharedKey {
            key: key.to_owned(),
            view: Mutex::new(None),
            released_epoch: AtomicU64::new(0),
            in_probe: AtomicBool::new(false),
        }
    }
}
