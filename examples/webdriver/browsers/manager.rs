//! The `Manager`: a session is a supervised chromedriver, the Chromium it starts, and a
//! profile directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bursar::pool::Manager;
use bursar::ports::PortLease;
use bursar::process::Supervised;
use parking_lot::Mutex;
use tokio::time::{Instant, sleep, timeout};

use super::census::{self, Process};
use super::pages::http_get;
use super::processes::{Processes, Stops};
use super::{BrowserError, CHROMIUM};

/// Chromium's flags: headless, and what this machine's closed network needs.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A headless Chromium session driven through its own supervised chromedriver.
pub(crate) struct Browser {
    pub(crate) client: fantoccini::Client,
    /// The chromedriver's port, leased from the `"webdriver"` range.
    pub(crate) port: u16,
    processes: Processes,
}

impl Browser {
    /// The session's process group: its chromedriver's pid.
    pub(crate) fn group(&self) -> u32 {
        self.processes.driver.id()
    }

    /// Whether the session's chromedriver has exited (a crash: only `destroy` stops it).
    pub(crate) fn driver_exited(&self) -> bool {
        self.processes.driver.try_status().is_some()
    }

    /// Waits until chromedriver's exit has been seen, for at most `within`.
    pub(crate) async fn driver_exit_seen(&self, within: Duration) -> bool {
        timeout(within, self.processes.driver.exited()).await.is_ok()
    }

    /// The session's profile directory.
    pub(crate) fn profile(&self) -> &Path {
        &self.processes.profile.path
    }

    /// Chromium's browser process: chromedriver's child in its group.
    pub(crate) fn chromium(&self) -> Option<Process> {
        let group = census::group(self.group());
        group.into_iter().find(|process| process.parent == self.group() && process.command == "chromium")
    }
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser").field("port", &self.port).field("group", &self.group()).finish()
    }
}

/// Starts, checks and ends browser sessions.
pub(crate) struct Browsers {
    /// Profiles live under this directory, unique to the run.
    root: PathBuf,
    sessions: AtomicU64,
    /// The live sessions: port → process group, so that one can be killed.
    live: Mutex<BTreeMap<u16, u32>>,
    /// Every process group started, for the census.
    groups: Mutex<BTreeSet<u32>>,
    pub(crate) stops: Mutex<Stops>,
    /// `create`s running now, and the most there were at once.
    pub(crate) launches: Launches,
}

/// A gauge of the `create`s running, with its peak.
#[derive(Debug, Default)]
pub(crate) struct Launches {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Launches {
    /// The most `create`s that ran at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn enter(&self) -> Launching<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Launching(self)
    }
}

/// One `create` running; dropping it (however the `create` ends) counts it out.
struct Launching<'a>(&'a Launches);

impl Drop for Launching<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Browsers {
    pub(super) fn new(root: PathBuf) -> Self {
        Browsers {
            root,
            sessions: AtomicU64::new(0),
            live: Mutex::default(),
            groups: Mutex::default(),
            stops: Mutex::default(),
            launches: Launches::default(),
        }
    }

    /// The live sessions: port → process group.
    pub(crate) fn live(&self) -> BTreeMap<u16, u32> {
        self.live.lock().clone()
    }

    /// Every process group a session was started in.
    pub(crate) fn groups(&self) -> BTreeSet<u32> {
        self.groups.lock().clone()
    }
}

impl Manager for Browsers {
    type Key = String;
    type Connection = Browser;
    type Error = BrowserError;

    async fn create(&self, _key: &String, ports: &[PortLease]) -> Result<Browser, BrowserError> {
        let _launching = self.launches.enter();
        let port = ports[0].port();
        let session = self.sessions.fetch_add(1, Ordering::Relaxed);
        let mut processes = Processes::start(port, self.root.join(format!("session-{session}")))?;
        self.groups.lock().insert(processes.driver.id());
        let opened = async {
            wait_until_ready(port, &processes.driver).await?;
            open_session(port, &processes.profile.path).await
        };
        match opened.await {
            Ok(client) => {
                processes.strays.find(); // Chromium is up: its crash handlers have left the group
                self.live.lock().insert(port, processes.driver.id());
                Ok(Browser { client, port, processes })
            }
            Err(error) => {
                processes.stop(&self.stops).await;
                Err(error)
            }
        }
    }

    /// The pre-ping: one cheap WebDriver round trip.
    async fn check(&self, browser: &mut Browser) -> Result<(), BrowserError> {
        browser.client.current_url().await.map(drop).map_err(BrowserError::Command)
    }

    /// Quits the session if its chromedriver still runs, stops the group (chromedriver,
    /// Chromium and its helpers, and whatever of them a crash orphaned: they came back to this
    /// process, the subreaper, still in the group), then removes the profile.
    async fn destroy(&self, browser: Browser) {
        self.live.lock().remove(&browser.port);
        if !browser.driver_exited() {
            let _ = timeout(Duration::from_secs(5), browser.client.close()).await;
        }
        browser.processes.stop(&self.stops).await;
    }

    /// A session whose chromedriver has exited (crashed: only `destroy` stops it) is broken:
    /// the pool destroys it when it comes back or before it would check it, with no WebDriver
    /// call. A session whose Chromium died under a live chromedriver fails its check instead.
    fn is_broken(&self, browser: &Browser) -> bool {
        browser.driver_exited()
    }

    /// The session's group, whose resident memory the pool reads for `max_rss`: chromedriver,
    /// Chromium and every helper of it (the crash handlers, outside it, are small).
    fn process_group(&self, browser: &Browser) -> Option<u32> {
        Some(browser.group())
    }
}

/// Polls chromedriver's `/status` until it answers `ready`, for at most 10 s.
async fn wait_until_ready(port: u16, driver: &Supervised) -> Result<(), BrowserError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(exit) = driver.try_status() {
            return Err(BrowserError::Start(format!("chromedriver exited: {exit}")));
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let status = timeout(Duration::from_secs(1), http_get(addr, "/status")).await;
        if status.is_ok_and(|body| body.is_ok_and(|body| body.contains("\"ready\":true"))) {
            return Ok(());
        }
        sleep(Duration::from_millis(50)).await;
    }
    Err(BrowserError::Start(format!("no answer on port {port} within 10 s")))
}

/// Opens a headless Chromium session on the chromedriver at `port`, with its own profile.
async fn open_session(port: u16, profile: &Path) -> Result<fantoccini::Client, BrowserError> {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut capabilities = serde_json::Map::new();
    let options = serde_json::json!({ "binary": CHROMIUM, "args": args });
    capabilities.insert("goog:chromeOptions".to_owned(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(BrowserError::NewSession)
}
