//! Launch control in real headless Chromium: 40 sessions asked for at once, each for a key of
//! its own, each loading a page. With `max_concurrent_creates = 4` at most 4 chromedrivers and
//! Chromiums start together and the rest queue for a create slot (within the checkout
//! timeout): none fails. The same burst with the limit at 40 launches every browser together;
//! what that costs on the machine at hand is reported, not asserted (on a loaded 2-core machine
//! it can be launches that time out; on an idle or larger one, none).
//!
//! The browser `Manager` is the one of `examples/webdriver`. Needs Debian's `chromium` and
//! `chromium-driver`; nothing is downloaded. Run it with
//! `cargo test --features process --test webdriver_launches -- --ignored --nocapture`.

#[allow(dead_code, unused_imports, reason = "each Chromium test uses its part of the rig")]
#[path = "../examples/webdriver/browsers/mod.rs"]
mod browsers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use browsers::{BrowserError, Rig};
use tokio::time::Instant;

const SESSIONS: usize = 40;

/// What a burst of `SESSIONS` asks did.
struct Burst {
    /// How each ask ended: `Ok`, or the kind of its error.
    ended: BTreeMap<String, usize>,
    /// The most `create`s that ran at once.
    peak: usize,
    created: u64,
    elapsed: Duration,
    left: browsers::Leftovers,
}

/// `SESSIONS` asks at once, each for a session of its own key and a page loaded in it; the
/// sessions stay in the pool (idle) until the end.
async fn burst(label: &str, max_concurrent_creates: usize) -> Burst {
    let configure = |config: bursar::pool::PoolConfig| {
        config
            .max_concurrent_creates(max_concurrent_creates)
            .max_total(SESSIONS)
            .checkout_timeout(Duration::from_secs(180))
    };
    // 80 ports: one per session and room for those in quarantine after a failed launch.
    let rig = Arc::new(Rig::start(label, SESSIONS, 9535..=9614, configure).await.unwrap());
    let started = Instant::now();
    let mut asks = tokio::task::JoinSet::new();
    for ask in 0..SESSIONS {
        let rig = Arc::clone(&rig);
        asks.spawn(async move {
            let session = rig.browsers.get(format!("user-{ask}")).await?;
            session
                .client
                .goto(&format!("http://{}/page/{ask}", rig.pages))
                .await
                .map_err(BrowserError::Command)?;
            session.client.title().await.map_err(BrowserError::Command)
        });
    }
    let mut ended = BTreeMap::new();
    while let Some(asked) = asks.join_next().await {
        let how = match asked.unwrap() {
            Ok(_) => "Ok".to_owned(),
            Err(error) => format!("Err({}: {error})", error.kind()),
        };
        *ended.entry(how).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let (peak, created) = (rig.manager().launches.peak(), rig.browsers.status().created);
    let left = Arc::into_inner(rig).expect("every ask has ended").finish().await;
    Burst { ended, peak, created, elapsed, left }
}

fn report(label: &str, burst: &Burst) {
    let failed: usize = burst.ended.iter().filter(|(how, _)| *how != "Ok").map(|(_, count)| count).sum();
    println!(
        "{label}: {SESSIONS} asked at once, {failed} launch failures, {} created, at most {} launching \
         at once, all settled in {:.1} s; {:?}; left: {}",
        burst.created,
        burst.peak,
        burst.elapsed.as_secs_f32(),
        burst.ended,
        burst.left
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn forty_sessions_asked_at_once_launch_four_at_a_time_and_none_fails() {
    let _alone = browsers::one_run_at_a_time().await;
    let burst = burst("launch-limit", 4).await;
    report("max_concurrent_creates = 4", &burst);
    assert_eq!(burst.ended, BTreeMap::from([("Ok".to_owned(), SESSIONS)]), "no launch failed");
    assert_eq!((burst.created, burst.peak), (SESSIONS as u64, 4));
    assert!(burst.left.is_empty(), "left behind: {}: {:?}", burst.left, burst.left.census);
}

/// What the limit prevents, on this machine: the failures are printed, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn forty_sessions_asked_at_once_without_the_limit_is_reported() {
    let _alone = browsers::one_run_at_a_time().await;
    let burst = burst("launch-stampede", SESSIONS).await;
    report("max_concurrent_creates = 40", &burst);
    assert_eq!(burst.ended.values().sum::<usize>(), SESSIONS, "every ask ended, Ok or with a named error");
    assert!(burst.left.is_empty(), "left behind: {}: {:?}", burst.left, burst.left.census);
}
