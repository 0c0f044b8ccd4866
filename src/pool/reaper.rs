//! The reaper: a background task that destroys idle connections past their idle timeout or
//! lifetime and reports leases held past the leak threshold.
//!
//! It holds the pool weakly, so it never keeps a pool alive, and ends on its own once the
//! pool is gone; `close` and the last handle's drop also abort it at once. `get` skips
//! expired connections itself, so between ticks nothing expired is handed out — the reaper
//! only frees what nobody asks for.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::Manager;
use super::shared::Shared;

/// Reaps once per `period`, on a fixed grid starting one `period` after it starts (a tick
/// missed under load is skipped, not made up).
pub(super) async fn run<M: Manager>(pool: Weak<Shared<M>>, period: Duration) {
    let mut ticks = interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        // The strong handle lives only for this tick, never across the await.
        let Some(shared) = pool.upgrade() else { return };
        shared.reap(Instant::now());
    }
}
