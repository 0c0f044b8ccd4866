//! Crashes under load in real headless Chromium: 200 jobs, each in a session of its own
//! (`max_uses = 1`), through a governor of 4 workers, with 20 `kill -9`s of a session's
//! chromedriver or Chromium in the middle of a job — which jobs and which process chosen by a
//! seeded generator. Every job still loads its page (its retry gets a working session), the
//! pool destroys each session whose chromedriver died as broken, and afterwards `/proc` shows
//! no process of the test's tree and no zombie, no port is leased and no profile directory is
//! left.
//!
//! The browser `Manager` is the one of `examples/webdriver`. Needs Debian's `chromium` and
//! `chromium-driver`; nothing is downloaded. Run it with
//! `cargo test --features process --test webdriver_crashes -- --ignored --nocapture`.

#[allow(dead_code, unused_imports, reason = "each Chromium test uses its part of the rig")]
#[path = "../examples/webdriver/browsers/mod.rs"]
mod browsers;

use std::collections::BTreeMap;
use std::sync::Arc;

use browsers::{Fault, Rig};

const JOBS: u64 = 200;
const KILLS: usize = 20;
const WORKERS: usize = 4;
/// Chooses the jobs that meet a kill and what each kills.
const SEED: u64 = 23;

/// SplitMix64 (Steele, Lea and Flood, 2014): a seeded generator, so every run kills the same.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `KILLS` distinct jobs (a partial Fisher–Yates shuffle of all of them), each with the
/// process it kills: chromedriver or Chromium, one or the other by the generator.
fn faults(seed: u64) -> BTreeMap<u64, Fault> {
    let mut rng = SplitMix64(seed);
    let mut jobs: Vec<u64> = (0..JOBS).collect();
    let mut chosen = BTreeMap::new();
    for place in 0..KILLS {
        let pick = place + (rng.next() % (jobs.len() - place) as u64) as usize;
        jobs.swap(place, pick);
        let fault = if rng.next() % 2 == 0 { Fault::Driver } else { Fault::Chromium };
        chosen.insert(jobs[place], fault);
    }
    chosen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn two_hundred_jobs_through_twenty_kills_leave_no_process_zombie_port_or_profile() {
    let _alone = browsers::one_run_at_a_time().await;
    let started = tokio::time::Instant::now();
    let faults = faults(SEED);
    let drivers = faults.values().filter(|fault| **fault == Fault::Driver).count() as u64;
    let chromiums = KILLS as u64 - drivers;
    // 60 ports: each rests 5 s in quarantine after its session, and sessions come and go fast.
    let rig = Rig::start("crashes", WORKERS, 9535..=9594, |config| config.max_uses(1)).await.unwrap();
    let rig = Arc::new(rig);
    let mut tasks = tokio::task::JoinSet::new();
    for job in 0..JOBS {
        let (rig, fault) = (Arc::clone(&rig), faults.get(&job).copied());
        tasks.spawn(async move { rig.job(format!("job-{job}"), job, fault, false).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.unwrap());
    }
    outcomes.sort_by_key(|outcome| outcome.job);
    let stats = rig.browsers.status();
    let left = Arc::into_inner(rig).expect("every job has ended").finish().await;
    let elapsed = started.elapsed();

    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in &outcomes {
        let how = match &outcome.title {
            Ok(_) => "Ok".to_owned(),
            Err(bursar::Error::Operation(error)) => format!("Err({})", error.kind()),
            Err(error) => format!("Err({error})"),
        };
        *ended.entry(how).or_default() += 1;
    }
    let killed: Vec<(u64, Fault)> =
        outcomes.iter().filter_map(|outcome| Some((outcome.job, outcome.killed.as_ref()?.fault))).collect();
    println!(
        "{JOBS} jobs through {WORKERS} workers in {:.1} s: {ended:?}; kills: {drivers} chromedriver, \
         {chromiums} Chromium; sessions: {} created, {} recycled, {} broken, {} failed their check; \
         retries: {}; groups stopped: {} ({} forced, {} orphans reaped); crash handlers reaped \
         outside the groups: {} ({} killed); left: {left}",
        elapsed.as_secs_f32(),
        stats.created,
        stats.recycled,
        stats.broken,
        stats.check_failed,
        left.status.workers.retries,
        left.stops.stopped,
        left.stops.forced,
        left.stops.descendants_reaped,
        left.stops.strays_reaped,
        left.stops.strays_killed,
    );
    for outcome in &outcomes {
        let expected = usize::from(outcome.killed.is_some());
        if outcome.title.is_err() || outcome.retried.len() != expected {
            println!("  job {}: {:?}, retried after {:?}", outcome.job, outcome.title, outcome.retried);
        }
    }
    for process in left.census.running.iter().chain(&left.census.zombies) {
        println!("  left: {process}");
    }

    assert_eq!(outcomes.len() as u64, JOBS, "every job ended");
    for outcome in &outcomes {
        let job = outcome.job;
        assert_eq!(outcome.title.as_deref().ok(), Some(format!("Page {job}").as_str()), "job {job}");
    }
    assert_eq!(killed, faults.into_iter().collect::<Vec<_>>(), "each chosen job killed its process");
    // Each kill cost its job one attempt and one session; the retry's session was fresh. On a
    // loaded machine two more things happen, each costing its job one more attempt, and each
    // counted exactly: chromedriver may fail to answer a new session's request (that attempt
    // made no session; its chromedriver is stopped), or a command on a live session may fail
    // to reach its chromedriver (the session comes back broken if its chromedriver has exited,
    // else it has served its one use; the retry's session is a new one). Nothing else is
    // retried.
    let unanswered =
        |error: &&String| error.starts_with("no WebDriver session") && error.contains("did not respond");
    let unreachable = |error: &&String| {
        error.starts_with("WebDriver command failed") && error.contains("could not be reached")
    };
    let (mut beyond_kills, mut refused, mut lost) = (0, 0, 0);
    for outcome in &outcomes {
        let (job, retried) = (outcome.job, &outcome.retried);
        // The kill strikes the first attempt that gets to it and causes that attempt's error;
        // every other retried error is the machine's.
        let kill = outcome.killed.as_ref().map(|killed| killed.attempt as usize - 1);
        if let Some(kill) = kill {
            assert!(kill < retried.len(), "job {job} was killed and not retried: {retried:?}");
        }
        let beyond: Vec<&String> = retried
            .iter()
            .enumerate()
            .filter(|(attempt, _)| Some(*attempt) != kill)
            .map(|(_, error)| error)
            .collect();
        assert!(beyond.iter().all(|error| unanswered(error) || unreachable(error)), "job {job}: {retried:?}");
        beyond_kills += beyond.len() as u64;
        refused += outcome.sessions_refused();
        lost += beyond.iter().filter(|error| unreachable(error)).count() as u64;
    }
    if lost > 0 {
        println!("  {lost} command(s) could not reach a live session's chromedriver");
    }
    let workers = &left.status.workers;
    let retries = KILLS as u64 + beyond_kills;
    assert_eq!((workers.completed, workers.failed, workers.retries), (JOBS, 0, retries));
    assert_eq!(stats.created, JOBS + KILLS as u64 + lost, "{stats:?}");
    // Every session either broke (its chromedriver died: each killed one, perhaps a lost one)
    // or served its one use.
    assert_eq!(stats.broken + stats.recycled, drivers + JOBS + chromiums + lost, "{stats:?}");
    assert!(stats.broken >= drivers, "a session whose chromedriver was killed is broken: {stats:?}");
    assert!(stats.recycled >= JOBS + chromiums, "every other session served its one use: {stats:?}");
    assert_eq!((stats.check_failed, stats.discarded, stats.evicted), (0, 0, 0), "{stats:?}");
    assert_eq!(
        (left.stops.stopped, left.stops.failed),
        (stats.created + refused, 0),
        "one stop per session and per unanswered new session"
    );
    assert!(left.is_empty(), "left behind: {left}: {:?}", left.census);
}
