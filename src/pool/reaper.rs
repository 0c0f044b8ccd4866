//! The reaper: a background task that destroys idle connections past their idle timeout or
//! lifetime, retires those over `max_rss`, reports leases held past the leak threshold, and
//! keeps warm keys warm.
//!
//! It holds the pool weakly, so it never keeps a pool alive, and ends on its own once the
//! pool is gone; `close` and the last handle's drop also abort it at once. `get` skips
//! expired connections itself, so between ticks nothing expired is handed out — the reaper
//! only frees what nobody asks for.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::Manager;
use super::shared::Shared;

/// Reaps once per `period`, on a fixed grid starting one `period` after it starts (a tick
/// missed under load is skipped, not made up), and keeps warm keys warm at each tick and
/// whenever `poke` is notified.
pub(super) async fn run<M: Manager>(pool: Weak<Shared<M>>, period: Duration, poke: Arc<Notify>) {
    let mut ticks = interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let ticked = {
            let (mut tick, mut poked) = (pin!(ticks.tick()), pin!(poke.notified()));
            poll_fn(|cx| match tick.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(true),
                Poll::Pending => poked.as_mut().poll(cx).map(|()| false),
            })
            .await
        };
        // The strong handle lives only for this round, never across the await.
        let Some(shared) = pool.upgrade() else { return };
        if ticked {
            shared.reap(Instant::now());
            shared.watch_memory();
        }
        shared.warm_up(ticked);
    }
}
