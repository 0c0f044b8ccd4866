//! The port allocator's tests: each file one property, every count asserted exactly.

mod concurrency;
mod config;
mod exhaustion;
mod host_check;
mod large_range;
mod model;
mod quarantine;
mod support;
