//! A breaker permit dropped unused is an error: the call's outcome would never be reported.
#![deny(unused_must_use)]

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _enter = runtime.enter();
    let breaker = bursar::breaker::CircuitBreaker::new(&bursar::breaker::BreakerConfig::default()).unwrap();
    breaker.try_acquire().unwrap();
}
