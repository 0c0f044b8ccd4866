//! Governed WebDriver sessions in real headless Chromium: 20 jobs through a governor of 3
//! workers, each taking a pooled browser session, loading a page served from 127.0.0.1 and
//! checking its title. Midway the test kills one session's `chromedriver`; the job's next
//! WebDriver call fails at the connection level, the session is discarded and the retry gets a
//! fresh one. At the end no chromedriver or Chromium process of the test is left and no port is
//! leased.
//!
//! The browser `Manager` is the one of `examples/webdriver`. Needs Debian's `chromium` and
//! `chromium-driver` (`/usr/bin/chromium`, `/usr/bin/chromedriver`); nothing is downloaded.
//! Run it with `cargo test --test webdriver -- --ignored`.

#[path = "../examples/webdriver/browser.rs"]
mod browser;

const JOBS: u64 = 20;
/// The job whose session loses its chromedriver halfway through.
const VICTIM_JOB: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver"]
async fn twenty_jobs_survive_a_killed_chromedriver_and_leave_nothing_behind() {
    let report = browser::run("test", JOBS, VICTIM_JOB, false).await.unwrap();
    let stats = &report.stats;
    println!(
        "{} jobs, {} sessions created, {} discarded, {} destroyed at shutdown, {} processes left, {:.1} s",
        report.titles.len(),
        stats.created,
        stats.discarded,
        report.shutdown.pool_connections_destroyed,
        report.processes_left.len(),
        report.elapsed.as_secs_f32()
    );
    assert_eq!(report.titles.len() as u64, JOBS, "every job ended");
    for (job, title) in &report.titles {
        assert_eq!(title.as_deref(), Ok(format!("Page {job}").as_str()), "job {job}");
    }
    assert_eq!(report.killed, 1, "one chromedriver was killed");
    assert_eq!(stats.discarded, 1, "exactly the killed session was discarded: {stats:?}");
    assert_eq!(stats.check_failed, 0, "no live session failed its pre-ping: {stats:?}");
    // Every session ever created ended exactly once: discarded, or destroyed at shutdown.
    assert_eq!(
        stats.created,
        stats.discarded + report.shutdown.pool_connections_destroyed as u64,
        "created = discarded + destroyed at shutdown: {stats:?} {:?}",
        report.shutdown
    );
    // The victim's session was discarded and the victim's page still loaded: its retry ran on
    // a session created after the kill.
    let workers = &report.status.workers;
    assert_eq!(workers.completed, JOBS);
    assert_eq!(workers.failed, 0);
    assert_eq!(workers.retries, 1, "only the victim job was retried, once");
    assert_eq!(report.shutdown.pool_connections_still_leased, 0);
    assert!(report.sessions_left.is_empty(), "every session was destroyed: {:?}", report.sessions_left);
    assert_eq!(
        report.processes_left,
        Vec::<u32>::new(),
        "no chromedriver or Chromium process is left running"
    );
    for (range, ports) in &report.status.ports {
        assert_eq!(ports.leased, 0, "range {range} still has leased ports");
    }
}
