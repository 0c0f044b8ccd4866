//! The fleet's unit tests, on a fake backend kept in memory and tokio's paused clock.

mod config;
mod fake;
mod instances;
mod leases;
mod modes;
