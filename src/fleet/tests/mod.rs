//! The fleet's unit tests, on a fake backend kept in memory and tokio's paused clock.

mod breakers;
mod config;
mod fake;
mod fake_breakers;
mod instances;
mod leases;
mod modes;
mod ports;
