//! Governed WebDriver sessions in real headless Chromium.
//!
//! A pool of browser sessions (see `browser.rs`: each session leases a port from the governor's
//! `"webdriver"` range, runs its own `chromedriver --port=<lease>` and a headless Chromium) serves
//! ten page loads through a governor of 3 workers. Job 5 has its chromedriver killed under it:
//! the WebDriver call fails at the connection level, which is transient, so the session is
//! discarded and the retry gets a fresh one. At the end no browser process and no port is left.
//!
//! Uses Debian's `chromium` and `chromium-driver`; nothing is downloaded. Without them it says
//! so and exits successfully. Run it with `cargo run --example webdriver`.

mod browser;

use std::path::Path;

const JOBS: u64 = 10;
/// The job whose session loses its chromedriver halfway through.
const VICTIM_JOB: u64 = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).with_ansi(colour).init();
    let browsers = [browser::CHROMIUM, browser::CHROMEDRIVER];
    if let Some(missing) = browsers.into_iter().find(|path| !Path::new(path).exists()) {
        println!("{missing} is not installed; this example needs Debian's chromium and chromium-driver:");
        println!("    apt-get install -y chromium chromium-driver");
        return Ok(());
    }
    println!(
        "{JOBS} page loads through {} workers, each in a pooled headless Chromium session\n",
        browser::WORKERS
    );
    let report = browser::run("example", JOBS, VICTIM_JOB, true).await?;

    let loaded = report.titles.values().filter(|title| title.is_ok()).count();
    for (job, title) in &report.titles {
        if let Err(error) = title {
            println!("  job {job} failed for good: {error}");
        }
    }
    let leased: usize = report.status.ports.values().map(|range| range.leased).sum();
    println!(
        "\n{loaded} of {JOBS} pages loaded in {:.1} s; sessions: {} created, {} discarded, {} destroyed at shutdown",
        report.elapsed.as_secs_f32(),
        report.stats.created,
        report.stats.discarded,
        report.shutdown.pool_connections_destroyed
    );
    println!(
        "chromedrivers killed: {}; left behind: {} sessions, {} browser processes, {leased} leased ports",
        report.killed,
        report.sessions_left.len(),
        report.processes_left.len()
    );
    if loaded as u64 != JOBS
        || !report.sessions_left.is_empty()
        || !report.processes_left.is_empty()
        || leased != 0
    {
        return Err("a page did not load or something was left behind".into());
    }
    Ok(())
}
