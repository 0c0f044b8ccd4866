//! The unit tests' one global `tracing` subscriber: each event goes to the capture of the thread
//! that emits it, if that thread has one.
//!
//! A subscriber set per thread (`set_default`) is not enough while other tests run: `tracing`
//! caches each event's interest when a thread first reaches it, so a test thread's subscriber
//! may never see an event that another thread reached first with none.
//!
//! Only the capturing thread's events are seen: a test that asserts an event's absence must
//! run the code that would emit it on its own thread (a current-thread runtime).

use std::cell::RefCell;
use std::sync::{Arc, Once};

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

type Lines = Arc<Mutex<Vec<String>>>;

thread_local! {
    /// Where this thread's events go, if anywhere.
    static CAPTURE: RefCell<Option<Lines>> = const { RefCell::new(None) };
}

/// This thread's events from [`Capture::start`] until it is dropped, each as
/// `LEVEL target: message name=value …` (values as `Debug` shows them).
pub(crate) struct Capture {
    lines: Lines,
    /// The capture this one hides, back when this one is dropped.
    outer: Option<Lines>,
}

impl Capture {
    /// Captures this thread's events from now on.
    pub(crate) fn start() -> Self {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(ToThisThreads);
            tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        });
        let lines = Lines::default();
        let outer = CAPTURE.with(|capture| capture.borrow_mut().replace(Arc::clone(&lines)));
        Capture { lines, outer }
    }

    /// The events captured so far that start with `start` (`"WARN "`, `"INFO bursar::pool: "`).
    pub(crate) fn starting(&self, start: &str) -> Vec<String> {
        self.lines.lock().iter().filter(|line| line.starts_with(start)).cloned().collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let outer = self.outer.take();
        let _ = CAPTURE.try_with(|capture| *capture.borrow_mut() = outer);
    }
}

struct ToThisThreads;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ToThisThreads {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        // `try_with`: an event while the thread's locals are torn down has nowhere to go.
        let Ok(Some(lines)) = CAPTURE.try_with(|capture| capture.borrow().clone()) else { return };
        let metadata = event.metadata();
        let mut line = Line { message: String::new(), fields: String::new() };
        event.record(&mut line);
        lines.lock().push(format!(
            "{} {}: {}{}",
            metadata.level(),
            metadata.target(),
            line.message,
            line.fields
        ));
    }
}

struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => self.fields.push_str(&format!(" {name}={value:?}")),
        }
    }
}
