//! A run: a governor, its pool of sessions and the page server; its jobs; what it left.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use bursar::health::HealthConfig;
use bursar::pool::{Pool, PoolConfig};
use bursar::ports::{PortRange, PortsConfig};
use bursar::retry::ExponentialBackoff;
use bursar::{Governor, ShutdownReport};
use parking_lot::Mutex;
use tokio::time::Instant;

use super::census::{self, Census, Scope};
use super::pages::serve_pages;
use super::processes::Stops;
use super::{BrowserError, Browsers, Fault, Killed, MARKER, SessionTree};

/// Workers of the example's governor.
pub(crate) const WORKERS: usize = 3;

/// Holds off every other run of this process until dropped: runs share `/proc` (the census
/// counts every descendant of this process) and the `"webdriver"` ports, so the tests of one
/// binary take turns.
pub(crate) async fn one_run_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static RUNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    RUNS.lock().await
}

/// A governor, its pool of browser sessions and the page server, for one run.
pub(crate) struct Rig {
    pub(crate) gov: Governor,
    pub(crate) browsers: Pool<Browsers>,
    /// Where `/page/<n>` and `/allocate/<megabytes>` are served.
    pub(crate) pages: SocketAddr,
    /// The run's directory: every session's profile is below it.
    pub(crate) root: PathBuf,
}

/// What a run left behind once its governor shut down.
#[derive(Debug)]
pub(crate) struct Leftovers {
    pub(crate) shutdown: ShutdownReport,
    /// The governor's status after shutdown.
    pub(crate) status: bursar::Status,
    /// Processes of the run, running or zombies.
    pub(crate) census: Census,
    /// Sessions the manager still knew of (port → group).
    pub(crate) sessions: BTreeMap<u16, u32>,
    /// Profile directories still under the run's directory.
    pub(crate) profiles: Vec<PathBuf>,
    /// Ports still leased, over every range.
    pub(crate) ports_leased: usize,
    /// What the stops of the sessions' groups did, over the whole run.
    pub(crate) stops: Stops,
}

impl Leftovers {
    /// Whether nothing at all was left.
    pub(crate) fn is_empty(&self) -> bool {
        self.census.running.is_empty()
            && self.census.zombies.is_empty()
            && self.sessions.is_empty()
            && self.profiles.is_empty()
            && self.ports_leased == 0
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} processes, {} zombies, {} sessions, {} profile directories, {} leased ports",
            self.census.running.len(),
            self.census.zombies.len(),
            self.sessions.len(),
            self.profiles.len(),
            self.ports_leased
        )
    }
}

impl Rig {
    /// A governor of `workers` workers with a `"webdriver"` port range of `ports`, and its pool
    /// `"browsers"`, configured by `configure` (the range already named). `label` names the
    /// run's directory.
    pub(crate) async fn start(
        label: &str,
        workers: usize,
        ports: RangeInclusive<u16>,
        configure: impl FnOnce(PoolConfig) -> PoolConfig,
    ) -> Result<Rig, Box<dyn std::error::Error>> {
        let root = std::env::temp_dir().join(format!("bursar-webdriver-{label}-{}", std::process::id()));
        let pages = serve_pages().await?;
        let mut ranges = PortsConfig::default();
        ranges.ranges.push(PortRange::new("webdriver", ports));
        let gov = Governor::builder()
            .max_workers(workers)
            .ports(ranges)
            .backoff(ExponentialBackoff::new().with_initial_delay(Duration::from_millis(200)))
            // Chromium's start-up saturates a small machine's CPU for a moment; these runs are
            // about sessions, not load shedding.
            .health(HealthConfig::disabled())
            .build()?;
        let config = configure(gov.pool_config().ports(["webdriver"]));
        let browsers = gov.pool("browsers", Browsers::new(root.clone())).config(config).build()?;
        Ok(Rig { gov, browsers, pages, root })
    }

    /// The manager: its live sessions, its groups, its stop counts.
    pub(crate) fn manager(&self) -> &Browsers {
        self.browsers.manager()
    }

    /// Every process of this run now: in a group it started, descending from this process,
    /// carrying its marker or naming its directory.
    pub(crate) fn census(&self) -> Census {
        let root = self.root.display().to_string();
        census::take(&Scope {
            marker: format!("{MARKER}={root}"),
            dir: root,
            groups: self.manager().groups(),
            descendants: true,
        })
    }

    /// Runs one job: a session of `key`, `/page/<job>` loaded and its title read, retried on a
    /// transient failure. `fault` strikes between the two WebDriver calls of the first attempt
    /// that gets there (an attempt the machine failed before it does not use it up).
    /// The job gives every session back as it is: the pool destroys one whose chromedriver has
    /// exited (`is_broken`) and checks the others before their next lease, so the retry gets a
    /// working one.
    pub(crate) async fn job(&self, key: String, job: u64, fault: Option<Fault>, narrate: bool) -> JobOutcome {
        let url = format!("http://{}/page/{job}", self.pages);
        let log = Mutex::new(JobLog::default());
        let mut retried = Vec::new();
        let title = self
            .gov
            .call(|| self.attempt(&key, &url, fault, &log, narrate.then_some(job)))
            .when(BrowserError::is_transient)
            .notify(|_, error, _| retried.push(error.to_string()))
            .timeout(Duration::from_secs(30))
            .name("load-page")
            .await;
        let JobLog { killed, served_by, .. } = log.into_inner();
        JobOutcome { job, title, killed, served_by, retried }
    }

    /// One attempt of a job; `narrate` is the job's number if each step is to be printed.
    async fn attempt(
        &self,
        key: &str,
        url: &str,
        fault: Option<Fault>,
        log: &Mutex<JobLog>,
        narrate: Option<u64>,
    ) -> Result<String, BrowserError> {
        // Counted before the session is asked for: an attempt that gets none is retried too.
        let attempt = {
            let mut log = log.lock();
            log.attempts += 1;
            log.attempts
        };
        let session = self.browsers.get(key.to_owned()).await?;
        log.lock().served_by = Some(session.group());
        session.client.goto(url).await.map_err(BrowserError::Command)?;
        if let Some(fault) = fault.filter(|_| log.lock().killed.is_none()) {
            let killed = fault.strike(&session, attempt).await?;
            if let Some(job) = narrate {
                println!("  job {job}: killed {killed} under it (port {})", session.port);
            }
            log.lock().killed = Some(killed);
        }
        let title = session.client.title().await.map_err(BrowserError::Command);
        match (narrate, &title) {
            (Some(job), Ok(title)) => {
                println!("  job {job}: \"{title}\" (chromedriver on port {})", session.port)
            }
            (Some(job), Err(error)) => println!("  job {job}: {error}"),
            (None, _) => {}
        }
        title
    }

    /// Shuts the governor down (its pool closes, destroying every session) and takes stock of
    /// what is left, then removes the run's directory.
    pub(crate) async fn finish(self) -> Leftovers {
        let shutdown = self.gov.shutdown(Duration::from_secs(30)).await;
        let status = self.gov.status();
        let census = self.census();
        let profiles = std::fs::read_dir(&self.root)
            .map(|entries| entries.filter_map(|entry| Some(entry.ok()?.path())).collect())
            .unwrap_or_default();
        let _ = std::fs::remove_dir_all(&self.root);
        let ports_leased = status.ports.values().map(|range| range.leased).sum();
        let (sessions, stops) = (self.manager().live(), *self.manager().stops.lock());
        Leftovers { shutdown, status, census, sessions, profiles, ports_leased, stops }
    }
}

/// What a job's attempts did, as they go.
#[derive(Debug, Default)]
struct JobLog {
    attempts: u32,
    killed: Option<Killed>,
    served_by: Option<u32>,
}

/// How one job ended.
#[derive(Debug)]
pub(crate) struct JobOutcome {
    pub(crate) job: u64,
    /// The page title, or the job's final error.
    pub(crate) title: Result<String, bursar::Error<BrowserError>>,
    /// The process its fault killed, if one did.
    pub(crate) killed: Option<Killed>,
    /// The process group of the session its last attempt ran on.
    pub(crate) served_by: Option<u32>,
    /// The errors of the attempts that were retried, in order.
    pub(crate) retried: Vec<String>,
}

impl JobOutcome {
    /// Retried attempts whose new session chromedriver did not give: each started a
    /// chromedriver whose group the manager stopped, with no session created.
    pub(crate) fn sessions_refused(&self) -> u64 {
        self.retried.iter().filter(|error| error.starts_with("no WebDriver session")).count() as u64
    }
}

/// What the example's run did and what it left behind.
#[derive(Debug)]
pub(crate) struct RunReport {
    pub(crate) outcomes: Vec<JobOutcome>,
    /// The pool's counters before shutdown.
    pub(crate) stats: bursar::pool::PoolStatus,
    pub(crate) left: Leftovers,
    pub(crate) elapsed: Duration,
}

/// Runs `jobs` page loads through a governor of [`WORKERS`] workers, each in a pooled browser
/// session keyed by one of three users. On its first attempt job `victim` has its session's
/// chromedriver killed, as a crash would: the next WebDriver call fails at the connection
/// level, which is transient; the session comes back broken (its chromedriver exited), the pool
/// destroys it, and the retry gets a fresh one.
/// With `narrate`, each step is printed as it happens, and the first session's processes with
/// their process groups.
pub(crate) async fn run(
    label: &str,
    jobs: u64,
    victim: u64,
    narrate: bool,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let started = Instant::now();
    // The recycling and launch settings a browser service runs with: a session is replaced
    // after 25 pages or once its processes hold 2 GiB, and at most 2 Chromiums launch at once.
    // (The runs here are too short to reach the first two; tests/webdriver_recycling.rs
    // shows each at work.)
    let configure = |config: PoolConfig| config.max_uses(25).max_rss(2 << 30).max_concurrent_creates(2);
    let rig = std::sync::Arc::new(Rig::start(label, WORKERS, 9515..=9534, configure).await?);
    if narrate {
        let session = rig.browsers.get("user-0".to_owned()).await.map_err(BrowserError::from)?;
        println!("{}", SessionTree::of(&session));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for job in 0..jobs {
        let rig = std::sync::Arc::clone(&rig);
        let fault = (job == victim).then_some(Fault::Driver);
        tasks.spawn(async move { rig.job(format!("user-{}", job % 3), job, fault, narrate).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined?);
    }
    outcomes.sort_by_key(|outcome| outcome.job);
    let stats = rig.browsers.status();
    let rig = std::sync::Arc::into_inner(rig).ok_or("every job has ended")?;
    let left = rig.finish().await;
    Ok(RunReport { outcomes, stats, left, elapsed: started.elapsed() })
}
