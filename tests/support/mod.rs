//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub mod abandoned;
mod routed;

/// A builder with the health monitor off, so the machine's load cannot shrink limits or shed
/// work in tests that are not about health.
pub fn builder() -> bursar::GovernorBuilder {
    bursar::Governor::builder().health(bursar::health::HealthConfig::disabled())
}

/// The error type most tests use for their operations.
pub type Io = io::Error;

pub fn io_error(text: &str) -> Io {
    io::Error::other(text.to_owned())
}

/// Counts how many holders are inside at once and the most there ever were.
#[derive(Debug, Default)]
pub struct Gauge {
    current: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    pub fn enter(self: &Arc<Self>) -> GaugeGuard {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(Arc::clone(self))
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts drops, so a test can assert a value (an operation's future) was dropped exactly once.
#[derive(Debug, Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn token(&self) -> DropToken {
        DropToken(Arc::clone(&self.0))
    }

    pub fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An operation that records its drop through `token`, sleeps `secs` and succeeds.
pub async fn tracked_sleep(token: DropToken, secs: u64) -> Result<u64, Io> {
    let _token = token;
    sleep_secs(secs).await;
    Ok(secs)
}

/// Polls a future once with a no-op waker; `Some` if it finished.
pub fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Option<F::Output> {
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Lets spawned tasks run until `done` holds, yielding to the scheduler (at most 10,000 times).
pub async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never held");
}

/// Sleeps on tokio's clock (paused in most tests).
pub async fn sleep_secs(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// Captures `tracing` events (level and message fields) on this thread while the guard lives.
pub fn capture_events() -> (Capturing, Events) {
    let events = Events::default();
    routed::install();
    routed::CAPTURE.with(|sink| *sink.borrow_mut() = Some(events.clone()));
    (Capturing(()), events)
}

/// Ends this thread's capture when dropped.
pub struct Capturing(());

impl Drop for Capturing {
    fn drop(&mut self) {
        routed::CAPTURE.with(|sink| sink.borrow_mut().take());
    }
}

/// The text of captured events, one per line.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<u8>>>);

impl Events {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text().lines().filter(|line| line.contains(needle)).map(str::to_owned).collect()
    }
}

impl io::Write for Events {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The cancellation harness: for n = 0, 1, 2, … it makes a fresh future, polls it n times —
/// advancing the paused clock by `step` between polls so its timers fire — and drops it, then
/// lets other tasks run and calls `check(n, finished)`. It stops after the first n at which
/// the future finished, and returns that n: every await point was a drop point once.
pub async fn cancel_at_every_await<F, Fut>(
    mut make: F,
    step: Duration,
    mut check: impl FnMut(usize, bool),
) -> usize
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    for polls in 0..100_000 {
        let mut future = Box::pin(make());
        let mut finished = false;
        for _ in 0..polls {
            if poll_once(future.as_mut()).is_some() {
                finished = true;
                break;
            }
            tokio::time::advance(step).await;
        }
        drop(future);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        check(polls, finished);
        if finished {
            return polls;
        }
    }
    panic!("the future never finished");
}
