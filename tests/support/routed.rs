//! One global `tracing` subscriber per test binary, acting for each thread as that thread's
//! test asked (`capture_events`, `abandoned::at_abandoned`).
//!
//! A subscriber set per thread (`set_default`) is not enough while other tests run: `tracing`
//! caches each event's interest when any thread first reaches it, and while one thread has a
//! subscriber of its own, it asks the thread that reached it — one with no subscriber caches
//! "never" for every thread.

use std::cell::RefCell;
use std::io;
use std::sync::Once;

use tracing_subscriber::layer::SubscriberExt;

use super::Events;
use super::abandoned::AtAbandoned;

thread_local! {
    /// Where this thread's events are written as text, if anywhere.
    pub static CAPTURE: RefCell<Option<Events>> = const { RefCell::new(None) };
    /// What this thread does at an abandoned call's event, if anything.
    pub static AT_ABANDONED: RefCell<Option<AtAbandoned>> = const { RefCell::new(None) };
}

/// Installs the binary's global subscriber, once.
pub fn install() {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        let text =
            tracing_subscriber::fmt::layer().with_ansi(false).without_time().with_writer(|| ThisThreads);
        let subscriber = tracing_subscriber::registry().with(text).with(super::abandoned::OnThreadsAction);
        tracing::subscriber::set_global_default(subscriber)
            .expect("the only global subscriber of the binary");
    });
}

/// Writes to this thread's capture, or nowhere.
struct ThisThreads;

impl io::Write for ThisThreads {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        CAPTURE.with(|sink| match &mut *sink.borrow_mut() {
            Some(events) => events.write(bytes),
            None => Ok(bytes.len()),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
