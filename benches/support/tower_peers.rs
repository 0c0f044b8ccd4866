//! What the benches that set bursar beside tower share: the settings every row uses, the
//! operation, tower's retry policy with bursar's attempts, and the loop that drives a readied
//! service.

use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};

use tower::{Service, ServiceExt};

/// Workers (permits) on every row: bursar's default.
pub(crate) const WORKERS: usize = 10;
/// Attempts per call on every row that retries: bursar's default.
pub(crate) const ATTEMPTS: u32 = 3;
/// The timeout of the tower stacks: bursar's default max task duration.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(1800);

/// The operation every row runs: succeeds at once.
pub(crate) async fn operation(value: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(value))
}

/// tower's retry policy: up to [`ATTEMPTS`] attempts, retrying every error at once. The rows
/// never fail, so a backoff would never be reached.
#[derive(Clone, Copy)]
pub(crate) struct Attempts(pub(crate) u32);

impl<Res, E> tower::retry::Policy<u64, Res, E> for Attempts {
    type Future = Ready<()>;

    fn retry(&mut self, _request: &mut u64, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

/// Times `iterations` requests through `service`, each after its readiness.
pub(crate) async fn drive<S>(mut service: S, iterations: u64) -> Duration
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let started = Instant::now();
    for _ in 0..iterations {
        let ready = service.ready().await.expect("ready");
        black_box(ready.call(black_box(1)).await.expect("the request succeeds"));
    }
    started.elapsed()
}
