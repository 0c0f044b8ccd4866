//! Acting at the `tracing` event of a call counted out as abandoned, on this thread only
//! (through the binary's one subscriber, `routed.rs`).

use tracing_subscriber::layer::Context;

use super::routed::{AT_ABANDONED, install};

/// What the global subscriber does at this thread's abandoned call's event.
pub enum AtAbandoned {
    /// Panics, as a faulty subscriber would.
    Panic,
    /// Runs the closure (it must not panic itself).
    Run(Box<dyn FnMut()>),
}

/// Sets this thread's action until the returned guard is dropped.
pub fn at_abandoned(action: AtAbandoned) -> Watching {
    install();
    AT_ABANDONED.with(|slot| *slot.borrow_mut() = Some(action));
    Watching(())
}

/// Clears this thread's action when dropped.
pub struct Watching(());

impl Drop for Watching {
    fn drop(&mut self) {
        AT_ABANDONED.with(|slot| slot.borrow_mut().take());
    }
}

/// Whether `event` is the one of a call counted out as abandoned.
fn is_abandoned_event(event: &tracing::Event<'_>) -> bool {
    let mut abandoned = false;
    event.record(&mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
        abandoned |= field.name() == "message" && format!("{value:?}").contains("dropped by its caller");
    });
    abandoned
}

/// Runs this thread's action at its abandoned call's event.
pub(super) struct OnThreadsAction;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OnThreadsAction {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !is_abandoned_event(event) {
            return;
        }
        let panic = AT_ABANDONED.with(|slot| match &mut *slot.borrow_mut() {
            Some(AtAbandoned::Panic) => true,
            Some(AtAbandoned::Run(action)) => {
                action();
                false
            }
            None => false,
        });
        assert!(!panic, "a subscriber that panics at the abandoned call's event");
    }
}
