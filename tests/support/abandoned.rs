//! Acting at the `tracing` event of a call counted out as abandoned, on this thread only.
//!
//! One global subscriber serves every test of a binary and consults the thread's action: a
//! subscriber set per thread (`set_default`) is not enough while other tests run, because
//! `tracing` caches each event's interest the first time any thread reaches it, asking the
//! thread that reached it — a thread with no subscriber caches "never" for every thread.
#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::sync::Once;

use tracing_subscriber::layer::{Context, SubscriberExt};

/// What the global subscriber does at this thread's abandoned call's event.
pub enum AtAbandoned {
    /// Panics, as a faulty subscriber would.
    Panic,
    /// Runs the closure (it must not panic itself).
    Run(Box<dyn FnMut()>),
}

thread_local! {
    static ACTION: RefCell<Option<AtAbandoned>> = const { RefCell::new(None) };
}

/// Sets this thread's action until the returned guard is dropped.
pub fn at_abandoned(action: AtAbandoned) -> Watching {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(OnThreadsAction);
        tracing::subscriber::set_global_default(subscriber)
            .expect("the only global subscriber of the binary");
    });
    ACTION.with(|slot| *slot.borrow_mut() = Some(action));
    Watching(())
}

/// Clears this thread's action when dropped.
pub struct Watching(());

impl Drop for Watching {
    fn drop(&mut self) {
        ACTION.with(|slot| slot.borrow_mut().take());
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

struct OnThreadsAction;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OnThreadsAction {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !is_abandoned_event(event) {
            return;
        }
        let panic = ACTION.with(|slot| match &mut *slot.borrow_mut() {
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
