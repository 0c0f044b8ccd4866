//! Governed WebDriver sessions in real headless Chromium: 20 jobs through a governor of 3
//! workers, each taking a pooled browser session, loading a page served from 127.0.0.1 and
//! checking its title. Midway the test kills one session's `chromedriver`; the job's next
//! WebDriver call fails at the connection level, the session comes back with its chromedriver
//! exited and the pool destroys it as broken (`Manager::is_broken`), and the retry gets a fresh
//! one. Each session's processes are in its chromedriver's process group but for
//! Chromium's two crash handlers, which leave it by `setsid` and which the manager reaps by
//! pid. At the end no process of the test is left (running or zombie), no port is leased and
//! no profile directory is left.
//!
//! The browser `Manager` is the one of `examples/webdriver`. Needs Debian's `chromium` and
//! `chromium-driver` (`/usr/bin/chromium`, `/usr/bin/chromedriver`); nothing is downloaded.
//! Run it with `cargo test --features process --test webdriver -- --ignored`.

#[allow(dead_code, unused_imports, reason = "each Chromium test uses its part of the rig")]
#[path = "../examples/webdriver/browsers/mod.rs"]
mod browsers;

use browsers::{JobOutcome, Rig, SessionTree};

const JOBS: u64 = 20;
/// The job whose session loses its chromedriver halfway through.
const VICTIM_JOB: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn twenty_jobs_survive_a_killed_chromedriver_and_leave_nothing_behind() {
    let _alone = browsers::one_run_at_a_time().await;
    let report = browsers::run("test", JOBS, VICTIM_JOB, false).await.unwrap();
    let (stats, left) = (&report.stats, &report.left);
    println!(
        "{} jobs, {} sessions created, {} broken, {} destroyed at shutdown, {} groups stopped \
         ({} forced), {} crash handlers reaped outside the groups; left: {left}; {:.1} s",
        report.outcomes.len(),
        stats.created,
        stats.broken,
        left.shutdown.pool_connections_destroyed,
        left.stops.stopped,
        left.stops.forced,
        left.stops.strays_reaped,
        report.elapsed.as_secs_f32()
    );
    assert_eq!(report.outcomes.len() as u64, JOBS, "every job ended");
    for outcome in &report.outcomes {
        let job = outcome.job;
        assert_eq!(outcome.title.as_deref().ok(), Some(format!("Page {job}").as_str()), "job {job}");
    }
    let killed: Vec<u64> =
        report.outcomes.iter().filter(|outcome| outcome.killed.is_some()).map(|o| o.job).collect();
    assert_eq!(killed, [VICTIM_JOB], "one chromedriver was killed, under the victim");
    assert_eq!(stats.broken, 1, "exactly the killed session was destroyed as broken: {stats:?}");
    assert_eq!(stats.discarded, 0, "{stats:?}");
    assert_eq!(stats.check_failed, 0, "no live session failed its pre-ping: {stats:?}");
    // Every session ever created ended exactly once: broken, or destroyed at shutdown; and
    // each one's group was stopped once, with its two crash handlers reaped.
    let destroyed = stats.broken + left.shutdown.pool_connections_destroyed as u64;
    assert_eq!(stats.created, destroyed, "created = broken + destroyed at shutdown: {stats:?}");
    let refused: u64 = report.outcomes.iter().map(JobOutcome::sessions_refused).sum();
    assert_eq!(left.stops.stopped, stats.created + refused, "one stop per session and per refused one");
    assert_eq!(left.stops.failed, 0);
    // A refused session's Chromium may or may not have started its two crash handlers.
    let strays = left.stops.strays_reaped;
    assert!(
        (2 * stats.created..=2 * (stats.created + refused)).contains(&strays),
        "two crash handlers per Chromium"
    );
    // The victim's page still loaded: its retry ran on a session created after the kill.
    let workers = &left.status.workers;
    assert_eq!(workers.completed, JOBS);
    assert_eq!(workers.failed, 0);
    assert_eq!(workers.retries, 1, "only the victim job was retried, once");
    assert_eq!(left.shutdown.pool_connections_still_leased, 0);
    assert!(left.is_empty(), "left behind: {left}: {:?}", left.census);
}

/// The process groups as `/proc/<pid>/stat` has them: chromedriver leads its session's group,
/// Chromium is its child in that group, and so is every other Chromium process but the two
/// crash handlers, which lead groups (and sessions) of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn a_session_is_one_process_group_but_for_chromiums_crash_handlers() {
    let _alone = browsers::one_run_at_a_time().await;
    let rig = Rig::start("groups", 1, 9515..=9534, |config| config).await.unwrap();
    let session = rig.browsers.get("alice".to_owned()).await.unwrap();
    session.client.goto(&format!("http://{}/page/1", rig.pages)).await.unwrap();
    let tree = SessionTree::of(&session);
    print!("{tree}");
    let leader = tree.in_group.iter().find(|process| process.pid == tree.group).expect("the leader");
    assert_eq!(leader.command, "chromedriver");
    let chromium = session.chromium().expect("Chromium's browser process");
    assert_eq!((chromium.parent, chromium.group), (tree.group, tree.group), "{chromium}");
    let helpers = tree.in_group.iter().filter(|process| process.command == "chromium").count();
    assert!(helpers >= 4, "Chromium, its zygotes and at least a renderer are in the group: {tree}");
    assert_eq!(tree.outside.len(), 2, "the crash handlers: {tree}");
    for stray in &tree.outside {
        assert_eq!(stray.command, "chrome_crashpad");
        assert_eq!(stray.group, stray.session, "setsid: it leads a session of its own: {stray}");
        assert_ne!(stray.group, tree.group, "{stray}");
        assert_eq!(stray.parent, std::process::id(), "came back to the subreaper: {stray}");
    }
    drop(session);
    let left = rig.finish().await;
    assert!(left.is_empty(), "left behind: {left}: {:?}", left.census);
    assert_eq!((left.stops.stopped, left.stops.strays_reaped), (1, 2));
}

/// A `get` given up while its session is being created — chromedriver starting, Chromium
/// starting, the session opening — leaves nothing: the dropped `create` kills the group,
/// removes the profile and reaps Chromium's crash handlers on a task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn launches_given_up_midway_leave_nothing_behind() {
    let _alone = browsers::one_run_at_a_time().await;
    let rig = Rig::start("cancelled", 1, 9515..=9534, |config| config).await.unwrap();
    let mut given_up = 0;
    // Given up at every stage of a launch; how many a machine finishes in time depends on its
    // speed (a quiet 2-core machine finishes those given 500 ms or more), so the test needs only
    // the first ones cut off, and checks that nothing is left by any.
    for (attempt, after_ms) in [20, 50, 150, 300, 500, 700, 1200].into_iter().enumerate() {
        let get = rig.browsers.get(format!("user-{attempt}"));
        match tokio::time::timeout(std::time::Duration::from_millis(after_ms), get).await {
            Ok(session) => drop(session.unwrap()),
            Err(_) => given_up += 1,
        }
    }
    // The reaping of a dropped `create` runs on tasks: give them their grace.
    tokio::time::sleep(browsers::STOP_GRACE * 3).await;
    let stats = rig.browsers.status();
    let live: Vec<u32> = rig.manager().live().into_values().collect();
    let census = rig.census();
    let (crash_handlers, others): (Vec<_>, Vec<_>) =
        census.running.iter().partition(|process| process.command == "chrome_crashpad");
    let outside_live: Vec<_> = others.into_iter().filter(|process| !live.contains(&process.group)).collect();
    let left = rig.finish().await;
    println!(
        "{given_up} launches given up, {} created; then: {} processes outside the live sessions' \
         groups, {} crash handlers for {} live sessions, {} zombies; at the end: {left}",
        stats.created,
        outside_live.len(),
        crash_handlers.len(),
        live.len(),
        census.zombies.len()
    );
    assert!(given_up >= 2, "launches were given up midway: {given_up}");
    assert_eq!(outside_live, Vec::<&browsers::census::Process>::new(), "given-up launches left nothing");
    assert_eq!(census.zombies, [], "no zombie");
    assert_eq!(crash_handlers.len(), 2 * live.len(), "only the live sessions' crash handlers run");
    assert!(left.is_empty(), "left behind: {left}: {:?}", left.census);
}
