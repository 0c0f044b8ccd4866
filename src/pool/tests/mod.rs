//! The pool's tests: each file one property, every count asserted exactly, on a paused clock.

mod api;
mod cancellation;
mod caps;
mod check;
mod close;
mod config;
mod contained;
mod eviction;
mod leaks;
mod model;
mod ports;
mod reaping;
mod recycling;
mod status;
mod support;
mod waiters;
