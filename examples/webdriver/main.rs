//! Governed WebDriver sessions in real headless Chromium, their processes supervised.
//!
//! A pool of browser sessions (see `browsers/`: each session leases a port from the governor's
//! `"webdriver"` range, gets a profile directory of its own, and runs its own
//! `chromedriver --port=<lease>` through `bursar::process::Supervised`, in a process group of
//! its own that the headless Chromium it starts shares) serves ten page loads through a governor
//! of 3 workers. First the example shows one session's processes with their process groups, as
//! `/proc` has them. Job 5 has its chromedriver killed under it: the WebDriver call fails at
//! the connection level, which is transient, so the job is retried; the session comes back with
//! its chromedriver exited, so the pool destroys it as broken (`Manager::is_broken`) and the
//! retry gets a fresh one. The orphaned Chromium came back to this process (the child
//! subreaper) in the same group, and the broken session's stop ends and reaps it. At the end no
//! browser process, zombie, port or profile directory is left.
//!
//! Uses Debian's `chromium` and `chromium-driver`; nothing is downloaded. Without them it says
//! so and exits successfully. Run it with `cargo run --features process --example webdriver`.

#[allow(dead_code, unused_imports, reason = "shared with the Chromium tests, which use the rest")]
mod browsers;

use std::path::Path;

const JOBS: u64 = 10;
/// The job whose session loses its chromedriver halfway through.
const VICTIM_JOB: u64 = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).with_ansi(colour).init();
    let programs = [browsers::CHROMIUM, browsers::CHROMEDRIVER];
    if let Some(missing) = programs.into_iter().find(|path| !Path::new(path).exists()) {
        println!("{missing} is not installed; this example needs Debian's chromium and chromium-driver:");
        println!("    apt-get install -y chromium chromium-driver");
        return Ok(());
    }
    println!(
        "{JOBS} page loads through {} workers, each in a pooled headless Chromium session\n",
        browsers::WORKERS
    );
    let report = browsers::run("example", JOBS, VICTIM_JOB, true).await?;

    let loaded = report.outcomes.iter().filter(|outcome| outcome.title.is_ok()).count();
    for outcome in &report.outcomes {
        if let Err(error) = &outcome.title {
            println!("  job {} failed for good: {error}", outcome.job);
        }
    }
    let (stats, left) = (&report.stats, &report.left);
    let killed = report.outcomes.iter().filter(|outcome| outcome.killed.is_some()).count();
    println!(
        "\n{loaded} of {JOBS} pages loaded in {:.1} s; sessions: {} created, {} broken, {} destroyed at shutdown",
        report.elapsed.as_secs_f32(),
        stats.created,
        stats.broken,
        left.shutdown.pool_connections_destroyed
    );
    println!(
        "process groups stopped: {} ({} needed SIGKILL after the {:?} grace; {} orphaned processes reaped); chromedrivers killed: {killed}",
        left.stops.stopped,
        left.stops.forced,
        browsers::STOP_GRACE,
        left.stops.descendants_reaped
    );
    println!(
        "outside the groups: {} crash handlers (chrome_crashpad_handler leaves its group by setsid), reaped by the example ({} needed SIGKILL)",
        left.stops.strays_reaped, left.stops.strays_killed
    );
    println!("left behind: {left}");
    if loaded as u64 != JOBS || !left.is_empty() || left.stops.failed != 0 {
        return Err("a page did not load or something was left behind".into());
    }
    Ok(())
}
