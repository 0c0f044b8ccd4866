//! Sessions recycled before they bloat, in real headless Chromium: by uses (`max_uses`) and by
//! the resident memory of a session's whole process group (`max_rss`, read from `/proc` on the
//! reaper's cadence through `Manager::process_group`).
//!
//! The browser `Manager` is the one of `examples/webdriver`. Needs Debian's `chromium` and
//! `chromium-driver`; nothing is downloaded. Run it with
//! `cargo test --features process --test webdriver_recycling -- --ignored --nocapture`.

#[allow(dead_code, unused_imports, reason = "each Chromium test uses its part of the rig")]
#[path = "../examples/webdriver/browsers/mod.rs"]
mod browsers;

use std::time::Duration;

use browsers::Rig;
use browsers::census;
use tokio::time::{Instant, sleep};

const MB: u64 = 1 << 20;

/// With `max_uses = 5`, 50 jobs in a row on one key are served by exactly 10 sessions, each
/// for 5 jobs in a row, each destroyed as it comes back from its fifth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn fifty_jobs_on_one_key_with_max_uses_five_create_exactly_ten_sessions() {
    let _alone = browsers::one_run_at_a_time().await;
    let started = Instant::now();
    let rig = Rig::start("uses", 1, 9515..=9534, |config| config.max_uses(5)).await.unwrap();
    let mut served_by = Vec::new();
    for job in 0..50 {
        let outcome = rig.job("alice".to_owned(), job, None, false).await;
        assert_eq!(outcome.title.as_deref().ok(), Some(format!("Page {job}").as_str()), "job {job}");
        assert_eq!(outcome.retried, Vec::<String>::new(), "job {job}");
        served_by.push(outcome.served_by.expect("a session served it"));
    }
    let stats = rig.browsers.status();
    let left = rig.finish().await;
    println!(
        "50 jobs on one key in {:.1} s: {} sessions created, {} recycled, {} idle at the end; groups \
         stopped: {}; left: {left}",
        started.elapsed().as_secs_f32(),
        stats.created,
        stats.recycled,
        stats.idle,
        left.stops.stopped
    );
    for (session, jobs) in served_by.chunks(5).enumerate() {
        assert!(jobs.iter().all(|group| *group == jobs[0]), "session {session} served 5 in a row: {jobs:?}");
        assert!(!served_by[..5 * session].contains(&jobs[0]), "session {session} was new: {served_by:?}");
    }
    assert_eq!((stats.created, stats.recycled, stats.idle), (10, 10, 0), "{stats:?}");
    assert_eq!((stats.broken, stats.check_failed, stats.retired_for_memory), (0, 0, 0), "{stats:?}");
    assert_eq!(left.stops.stopped, 10);
    assert!(left.is_empty(), "left behind: {left}: {:?}", left.census);
}

/// The resident memory of one session's group with a page loaded, to set the cap above.
async fn resident_bytes_of_a_session() -> u64 {
    let rig = Rig::start("rss-baseline", 1, 9515..=9534, |config| config).await.unwrap();
    let session = rig.browsers.get("probe".to_owned()).await.unwrap();
    session.client.goto(&format!("http://{}/page/0", rig.pages)).await.unwrap();
    sleep(Duration::from_millis(500)).await;
    let bytes = census::resident_bytes(session.group());
    drop(session);
    assert!(rig.finish().await.is_empty());
    bytes
}

/// A page that, once its session is back in the pool, fills 300 MB of typed arrays pushes that
/// idle session over `max_rss` (150 MB above a session's group with a plain page): the reaper
/// kills it within two of its periods of the group's going over the cap (read from `/proc` by
/// the test itself), and the two other sessions are untouched — the same sessions, still idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn an_idle_session_over_max_rss_is_killed_within_two_reaper_periods_and_the_others_stay() {
    let _alone = browsers::one_run_at_a_time().await;
    let baseline = resident_bytes_of_a_session().await;
    let (cap, reap) = (baseline + 150 * MB, Duration::from_secs(1));
    let rig =
        Rig::start("rss", 3, 9515..=9534, |config| config.max_rss(cap).reap_interval(reap)).await.unwrap();
    let mut groups = Vec::new();
    for (page, key) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let session = rig.browsers.get(key.to_owned()).await.unwrap();
        session.client.goto(&format!("http://{}/page/{page}", rig.pages)).await.unwrap();
        groups.push(session.group());
    }
    let bob = rig.browsers.get("bob".to_owned()).await.unwrap();
    bob.client.goto(&format!("http://{}/allocate/300/after/300", rig.pages)).await.unwrap();
    drop(bob); // idle before its page allocates
    let (mut bob_bytes, watching) = (0, Instant::now());
    while bob_bytes <= cap && watching.elapsed() < Duration::from_secs(10) {
        bob_bytes = census::resident_bytes(groups[1]);
        sleep(Duration::from_millis(10)).await;
    }
    let over = Instant::now();
    let idle_then = rig.browsers.status().idle;
    while rig.browsers.status().retired_for_memory == 0 && over.elapsed() < 3 * reap {
        sleep(Duration::from_millis(10)).await;
    }
    let retired_after = over.elapsed();
    let stats = rig.browsers.status();
    let others: Vec<u64> = [groups[0], groups[2]].into_iter().map(census::resident_bytes).collect();
    // The others are the same sessions: handed out again without a new `create`.
    for (key, group) in [("alice", groups[0]), ("carol", groups[2])] {
        let session = rig.browsers.get(key.to_owned()).await.unwrap();
        assert_eq!(session.group(), group, "{key} kept its session");
    }
    // Its `destroy` runs on a task of its own: it has stopped the group once it is counted.
    let retired = Instant::now();
    while rig.browsers.status().destroyed == 0 && retired.elapsed() < Duration::from_secs(10) {
        sleep(Duration::from_millis(20)).await;
    }
    let after = rig.browsers.status();
    let live = rig.manager().live();
    let left = rig.finish().await;
    println!(
        "max_rss {} MB (a session with a plain page: {} MB); bob, idle, went over it at {} MB and \
         was retired {} ms later (reap_interval {} ms); the others: {:?} MB; the reaper's largest \
         reading {:?} MB; {} created, {} retired for memory; left: {left}",
        cap / MB,
        baseline / MB,
        bob_bytes / MB,
        retired_after.as_millis(),
        reap.as_millis(),
        others.iter().map(|bytes| bytes / MB).collect::<Vec<_>>(),
        stats.largest_rss.map(|bytes| bytes / MB),
        after.created,
        after.retired_for_memory
    );
    assert!(bob_bytes > cap, "the page pushed bob's group over the cap: {bob_bytes} > {cap}");
    assert_eq!(idle_then, 3, "all three sessions were idle");
    assert!(others.iter().all(|bytes| *bytes < cap), "the others are under it: {others:?}");
    assert_eq!(stats.retired_for_memory, 1, "{stats:?}");
    assert!(retired_after <= 2 * reap, "retired {retired_after:?} after going over");
    assert_eq!((after.created, after.retired_for_memory, after.destroyed), (3, 1, 1), "{after:?}");
    assert_eq!(live.len(), 2, "{live:?}");
    assert!(!live.values().any(|group| *group == groups[1]), "bob's session is gone: {live:?}");
    assert!(census::group(groups[1]).is_empty(), "and so is its process group");
    assert!(left.is_empty(), "left behind: {left}: {:?}", left.census);
}
