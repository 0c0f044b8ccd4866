//! The circuit breaker's tests: each file one property, every state, wait and count asserted
//! exactly. Time is explicit `now` values (or tokio's paused clock): no test really sleeps.

mod call;
mod concurrency;
mod manual;
mod model;
mod opening;
mod rate;
mod registry;
mod support;
