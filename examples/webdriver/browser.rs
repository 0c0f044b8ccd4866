//! A `Manager` for headless Chromium sessions, and the run that the `webdriver` example and
//! `tests/webdriver.rs` share.
//!
//! `create` leases a port from the governor's `"webdriver"` range, starts
//! `chromedriver --port=<lease>`, waits until it answers, and opens a headless Chromium session;
//! `check` asks for the current URL (one cheap round trip, the pre-ping); `destroy` quits the
//! session and stops that chromedriver (and any Chromium it left behind). Uses Debian's
//! `chromium` and `chromium-driver`; nothing is downloaded.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bursar::health::HealthConfig;
use bursar::pool::{Lease, Manager, PoolError};
use bursar::ports::{PortLease, PortRange, PortsConfig};
use bursar::retry::ExponentialBackoff;
use bursar::{Governor, ShutdownReport};
use fantoccini::error::{CmdError, NewSessionError};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

/// Every process a run starts carries this variable (children inherit it), so the run can find
/// them all — Chromium's helpers included — whatever their parent is by then.
const MARKER: &str = "BURSAR_WEBDRIVER";
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Workers of the run's governor.
pub(crate) const WORKERS: usize = 3;

/// What a run did and what it left behind.
#[derive(Debug)]
pub(crate) struct RunReport {
    /// Each job's outcome: the page title it read, or its final error.
    pub(crate) titles: BTreeMap<u64, Result<String, String>>,
    /// How many chromedriver processes were killed under a job (0 or 1).
    pub(crate) killed: u32,
    /// The pool's counters before shutdown.
    pub(crate) stats: bursar::pool::PoolStatus,
    /// The governor's final status, after shutdown.
    pub(crate) status: bursar::Status,
    /// What shutdown did.
    pub(crate) shutdown: ShutdownReport,
    /// Sessions the manager still knew of after shutdown (port → chromedriver pid).
    pub(crate) sessions_left: BTreeMap<u16, u32>,
    /// Processes of this run (chromedriver, Chromium and its helpers) still running at the end.
    pub(crate) processes_left: Vec<u32>,
    /// Wall time of the run.
    pub(crate) elapsed: Duration,
}

/// Runs `jobs` page loads through a governor of [`WORKERS`] workers, each in a pooled browser
/// session keyed by one of three users. The first time job `victim` holds its session, that
/// session's chromedriver is killed, as a crash would: the next WebDriver call fails at the
/// connection level, which is transient, so the session is discarded and the retry gets a
/// fresh one. With `narrate`, each step is printed as it happens.
pub(crate) async fn run(
    label: &str,
    jobs: u64,
    victim: u64,
    narrate: bool,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let root = std::env::temp_dir().join(format!("bursar-webdriver-{label}-{}", std::process::id()));
    let pages = serve_pages().await?;
    let mut ports = PortsConfig::default();
    ports.ranges.push(PortRange::new("webdriver", 9515..=9534));
    let gov = Governor::builder()
        .max_workers(WORKERS)
        .ports(ports)
        .backoff(ExponentialBackoff::new().with_initial_delay(Duration::from_millis(200)))
        // Chromium's start-up saturates a small machine's CPU for a moment; this run is about
        // sessions, not load shedding.
        .health(HealthConfig::disabled())
        .build()?;
    let drivers = Arc::new(Mutex::new(BTreeMap::new()));
    let manager = Browsers { root: root.clone(), sessions: AtomicU64::new(0), drivers: Arc::clone(&drivers) };
    let mut config = gov.pool_config();
    config.ports = vec!["webdriver".into()];
    let browsers = gov.pool("browsers", manager).config(config).build()?;

    let killed = Arc::new(AtomicU32::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for job in 0..jobs {
        let (gov, browsers, drivers, killed) =
            (gov.clone(), browsers.clone(), Arc::clone(&drivers), Arc::clone(&killed));
        tasks.spawn(async move {
            let url = format!("http://{pages}/page/{job}");
            let title = gov
                .call(|| async {
                    let session =
                        browsers.get(format!("user-{}", job % 3)).await.map_err(|error| match error {
                            PoolError::Manager(error) => error,
                            other => BrowserError::Start(other.to_string()),
                        })?;
                    let port = session.port;
                    if job == victim
                        && killed.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                    {
                        if narrate {
                            println!("  job {job}: killing the chromedriver on port {port} under it");
                        }
                        kill_driver(&drivers, port).await?;
                    }
                    let result = async {
                        session.client.goto(&url).await?;
                        session.client.title().await
                    }
                    .await
                    .map_err(BrowserError::Command);
                    if narrate {
                        match &result {
                            Ok(title) => println!("  job {job}: \"{title}\" (chromedriver on port {port})"),
                            Err(error) => println!("  job {job}: {error}"),
                        }
                    }
                    if result.as_ref().is_err_and(BrowserError::is_transient) {
                        Lease::discard(session); // a dead session is not handed out again
                    }
                    result
                })
                .when(BrowserError::is_transient)
                .timeout(Duration::from_secs(30))
                .name("load-page")
                .await;
            (job, title.map_err(|error| error.to_string()))
        });
    }
    let mut titles = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (job, title) = joined?;
        titles.insert(job, title);
    }
    let stats = browsers.status();
    let shutdown = gov.shutdown(Duration::from_secs(10)).await;
    let processes_left = processes_marked(&root.display().to_string());
    let _ = std::fs::remove_dir_all(&root);
    let sessions_left = drivers.lock().clone();
    Ok(RunReport {
        titles,
        killed: killed.load(Ordering::SeqCst),
        stats,
        status: gov.status(),
        shutdown,
        sessions_left,
        processes_left,
        elapsed: started.elapsed(),
    })
}

/// Why a browser step failed.
#[derive(Debug)]
enum BrowserError {
    /// chromedriver could not be started or did not answer.
    Start(String),
    /// The WebDriver session could not be opened.
    NewSession(NewSessionError),
    /// A WebDriver command failed.
    Command(CmdError),
}

impl BrowserError {
    /// Connection-level failures — refused, closed, the session gone with its driver — are
    /// transient: a fresh session will do. Anything else (a bad page, a wrong selector) is not.
    fn is_transient(&self) -> bool {
        match self {
            BrowserError::Start(_) => true,
            BrowserError::NewSession(error) => matches!(
                error,
                NewSessionError::Failed(_) | NewSessionError::FailedC(_) | NewSessionError::Lost(_)
            ),
            BrowserError::Command(CmdError::Standard(error)) => {
                let message = error.to_string();
                ["invalid session id", "disconnected", "not reachable", "session deleted"]
                    .iter()
                    .any(|lost| message.contains(lost))
            }
            BrowserError::Command(error) => {
                matches!(
                    error,
                    CmdError::Lost(_) | CmdError::Failed(_) | CmdError::FailedC(_) | CmdError::NotJson(_)
                )
            }
        }
    }
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::Start(message) => write!(f, "chromedriver did not start: {message}"),
            BrowserError::NewSession(error) => write!(f, "no WebDriver session: {error}"),
            BrowserError::Command(error) => write!(f, "WebDriver command failed: {error}"),
        }
    }
}

/// A headless Chromium session driven through its own chromedriver.
struct Browser {
    client: fantoccini::Client,
    driver: Child,
    /// The chromedriver's port, leased from the `"webdriver"` range.
    port: u16,
    /// This session's value of [`MARKER`], carried by its chromedriver and Chromium processes.
    marker: String,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser").field("port", &self.port).field("pid", &self.driver.id()).finish()
    }
}

/// Starts, checks and ends browser sessions. `drivers` maps each live session's port to its
/// chromedriver's process id, so one can be killed.
struct Browsers {
    /// Profiles and markers live under this directory, unique to the run.
    root: PathBuf,
    sessions: AtomicU64,
    drivers: Arc<Mutex<BTreeMap<u16, u32>>>,
}

impl Manager for Browsers {
    type Key = String;
    type Connection = Browser;
    type Error = BrowserError;

    async fn create(&self, _user: &String, ports: &[PortLease]) -> Result<Browser, BrowserError> {
        let port = ports[0].port();
        let profile = self.root.join(format!("session-{}", self.sessions.fetch_add(1, Ordering::Relaxed)));
        let marker = profile.display().to_string();
        let mut driver = start_chromedriver(port, &marker)?;
        if let Err(error) = wait_until_ready(port, &mut driver).await {
            stop(driver, &marker).await;
            return Err(error);
        }
        let client = match open_session(port, &profile).await {
            Ok(client) => client,
            Err(error) => {
                stop(driver, &marker).await;
                return Err(error);
            }
        };
        let pid = driver.id().unwrap_or_default();
        self.drivers.lock().insert(port, pid);
        Ok(Browser { client, driver, port, marker })
    }

    /// The pre-ping: one cheap WebDriver round trip.
    async fn check(&self, browser: &mut Browser) -> Result<(), BrowserError> {
        browser.client.current_url().await.map(drop).map_err(BrowserError::Command)
    }

    /// Quits the session (if its driver still answers), stops chromedriver, and kills whatever
    /// of its Chromium is left (after a killed chromedriver, Chromium is orphaned).
    async fn destroy(&self, browser: Browser) {
        self.drivers.lock().remove(&browser.port);
        let _ = timeout(Duration::from_secs(5), browser.client.close()).await;
        stop(browser.driver, &browser.marker).await;
    }
}

/// Starts `chromedriver --port=<port>`; it is killed if its handle is dropped (a cancelled
/// `create` leaves nothing running).
fn start_chromedriver(port: u16, marker: &str) -> Result<Child, BrowserError> {
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .env(MARKER, marker)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| BrowserError::Start(format!("{CHROMEDRIVER}: {error}")))
}

/// Polls chromedriver's `/status` until it answers `ready`, for at most 10 s.
async fn wait_until_ready(port: u16, driver: &mut Child) -> Result<(), BrowserError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(exit)) = driver.try_wait() {
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

/// Opens a headless Chromium session on the chromedriver at `port`, with its own profile and
/// the flags this machine's closed network needs.
async fn open_session(port: u16, profile: &Path) -> Result<fantoccini::Client, BrowserError> {
    let args = [
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
    let mut args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
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

/// Stops a chromedriver and every process carrying its marker.
async fn stop(mut driver: Child, marker: &str) {
    let _ = driver.start_kill();
    let _ = timeout(Duration::from_secs(5), driver.wait()).await;
    let leftovers = processes_marked(marker);
    if !leftovers.is_empty() {
        let pids: Vec<String> = leftovers.iter().map(u32::to_string).collect();
        let _ = Command::new("kill").arg("-KILL").args(&pids).status().await;
    }
}

/// Running processes (zombies excluded) whose environment has [`MARKER`] starting with `prefix`.
fn processes_marked(prefix: &str) -> Vec<u32> {
    let wanted = format!("{MARKER}={prefix}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.split(|byte| *byte == 0).any(|var| var.starts_with(wanted.as_bytes()))
        })
        .filter(|pid| !is_zombie(*pid))
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')').is_none_or(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
}

/// A minimal HTTP/1.1 GET: the body, read to its `Content-Length` (chromedriver does not
/// close the connection at once, even when asked to).
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok());
            if read == 0 || length.is_some_and(|length| body.len() >= length) {
                return Ok(body.to_owned());
            }
        }
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Serves `/page/<n>` — a page titled `Page <n>` — from 127.0.0.1 until the test ends.
async fn serve_pages() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0; 4096];
                let Ok(read) = socket.read(&mut request).await else { return };
                let head = String::from_utf8_lossy(&request[..read]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/");
                let (status, body) = match path.strip_prefix("/page/") {
                    Some(page) => ("200 OK", format!("<html><head><title>Page {page}</title></head></html>")),
                    None => {
                        ("404 Not Found", "<html><head><title>Not found</title></head></html>".to_owned())
                    }
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

/// Kills the chromedriver of the session on `port` with SIGKILL, as a crash would.
async fn kill_driver(drivers: &Mutex<BTreeMap<u16, u32>>, port: u16) -> Result<(), BrowserError> {
    let pid = drivers.lock().get(&port).copied();
    let pid = pid.ok_or_else(|| BrowserError::Start(format!("no chromedriver registered on port {port}")))?;
    match Command::new("kill").arg("-KILL").arg(pid.to_string()).status().await {
        Ok(status) if status.success() => Ok(()),
        other => Err(BrowserError::Start(format!("kill -KILL {pid}: {other:?}"))),
    }
}
