//! The governor's side of the fleet-wide breakers: their task gets the governor's breakers by
//! key, and their transitions reach the fleet before the user's callback.

use std::sync::Arc;

use tokio::task::AbortHandle;

use super::breakers::{Breakers, TransitionHook};
use crate::fleet::FleetBreakers;

/// The transition hook that tells `shared` of every transition, then calls the user's.
pub(super) fn hear_transitions(shared: &Arc<FleetBreakers>, user: Option<TransitionHook>) -> TransitionHook {
    let shared = Arc::clone(shared);
    TransitionHook(Arc::new(move |name, transition| {
        shared.local_transition(name, transition);
        if let Some(TransitionHook(user)) = &user {
            user(name, transition);
        }
    }))
}

/// Starts the task that keeps `shared` in step with the fleet, on the governor's breakers.
/// It holds them weakly: the breakers hold `shared` through their transition hook.
pub(super) fn start(
    shared: Arc<FleetBreakers>,
    breakers: &Arc<Breakers>,
    runtime: &tokio::runtime::Handle,
) -> AbortHandle {
    let breakers = Arc::downgrade(breakers);
    shared.attach(Box::new(move |key| breakers.upgrade().map(|breakers| breakers.shared(key))));
    runtime.spawn(shared.run()).abort_handle()
}
