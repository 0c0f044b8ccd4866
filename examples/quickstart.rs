//! The main job: 100 jobs through one governor of 10 workers, against a live, flaky service.
//!
//! The example starts a small HTTP/1.1 service on 127.0.0.1 (an ephemeral port) that behaves
//! like a real dependency on a bad day: it sometimes drops the connection in the middle of a
//! response, sometimes stalls, often answers slowly, and for a few seconds in the middle of the
//! run it is down completely — every connection is reset. Each job takes a pooled keep-alive
//! session (keyed by user, holding a leased VNC and websocket port, like a browser session) and
//! fetches its page with a minimal hand-written HTTP client:
//!
//! - a dropped connection is transient: the session is discarded and the attempt retried with
//!   backoff on a fresh one; a stall is cut off by the per-attempt timeout and retried;
//! - a missing page (404) is permanent: not retried; two pages crash the "driver" (a panic,
//!   contained by the governor);
//! - during the outage the circuit breaker opens, jobs stop hammering the service and wait for
//!   it, a probe finds it back, and the breaker closes again.
//!
//! A live progress line, breaker transitions and health changes are printed while it runs,
//! then a summary table and the final `status()` as JSON. Every job is accounted for.
//!
//! Run it with `cargo run --example quickstart` (about 15 s).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bursar::breaker::BreakerConfig;
use bursar::health::HealthConfig;
use bursar::pool::{Lease, Manager, Pool};
use bursar::ports::PortLease;
use bursar::retry::{ExponentialBackoff, Jitter};
use bursar::{Error, Governor, Rejection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const JOBS: u64 = 100;
/// A new job arrives this often, so the run lasts long enough to live through the outage.
const ARRIVAL: Duration = Duration::from_millis(100);
/// The service is down from 3.5 s to 8 s after it starts.
const OUTAGE: (Duration, Duration) = (Duration::from_millis(3500), Duration::from_millis(8000));
/// A job turned away by an open breaker waits for it and comes back, for at most this long.
const PATIENCE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The flaky service
// ---------------------------------------------------------------------------------------------

/// Starts the flaky service; returns its address.
async fn start_service(started: Instant) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let rolls = Arc::new(Rolls::new(0x5eed_cafe));
        while let Ok((socket, _)) = listener.accept().await {
            if is_down(started) {
                drop(socket); // down: every connection is closed at once
                continue;
            }
            tokio::spawn(serve_connection(socket, started, Arc::clone(&rolls)));
        }
    });
    Ok(addr)
}

fn is_down(started: Instant) -> bool {
    let since = started.elapsed();
    OUTAGE.0 <= since && since < OUTAGE.1
}

/// Serves keep-alive requests on one connection until the client leaves, the connection idles
/// for a second, or the service misbehaves.
async fn serve_connection(socket: TcpStream, started: Instant, rolls: Arc<Rolls>) {
    let mut socket = BufReader::new(socket);
    loop {
        let idle = tokio::time::timeout(Duration::from_secs(1), read_request_head(&mut socket)).await;
        let Ok(Ok(Some(request_line))) = idle else { return };
        if is_down(started) {
            return; // the outage began while this connection was open
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let page = path.rsplit('/').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        let (status, body) = match page % 8 == 6 {
            true => ("404 Not Found", format!("no page {path}\n")),
            false if page % 45 == 20 => ("200 OK", format!("<p>job {page}</p><script>crash()</script>\n")),
            false => ("200 OK", format!("<p>job {page}: here is your page</p>\n")),
        };
        let response = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let roll = rolls.next() % 100;
        let writer = socket.get_mut();
        match roll {
            0..6 => {
                // Drops the connection in the middle of the response.
                let _ = writer.write_all(&response.as_bytes()[..response.len() - body.len() / 2]).await;
                return;
            }
            6..10 => {
                tokio::time::sleep(Duration::from_secs(20)).await; // stalls
                return;
            }
            10..35 => tokio::time::sleep(Duration::from_millis(400 + roll * 20)).await, // slow
            _ => tokio::time::sleep(Duration::from_millis(50 + roll * 2)).await,
        }
        if writer.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads a request or response head; returns its first line, or `None` at a clean end of stream.
async fn read_request_head(socket: &mut BufReader<TcpStream>) -> io::Result<Option<String>> {
    let mut first = String::new();
    if socket.read_line(&mut first).await? == 0 {
        return Ok(None);
    }
    let mut line = String::new();
    while socket.read_line(&mut line).await? > 2 {
        line.clear();
    }
    Ok(Some(first.trim_end().to_owned()))
}

/// The service's dice, shared by its connections: deterministic, so runs tell similar stories.
#[derive(Debug)]
struct Rolls(AtomicU64);

impl Rolls {
    fn new(seed: u64) -> Self {
        Rolls(AtomicU64::new(seed))
    }

    /// The next roll: a xorshift step (Relaxed: only the value matters, no other memory).
    fn next(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^ (x << 17)
        };
        let previous = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)));
        step(previous.unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------------------------
// The client: pooled keep-alive sessions and a minimal HTTP/1.1 GET
// ---------------------------------------------------------------------------------------------

/// Why fetching a page failed.
#[derive(Debug)]
enum FetchError {
    /// The connection was refused, reset or closed mid-response: transient.
    Connection(io::Error),
    /// The page does not exist: permanent, trying again changes nothing.
    NotFound,
}

impl FetchError {
    fn is_transient(&self) -> bool {
        matches!(self, FetchError::Connection(_))
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Connection(error) => write!(f, "connection failed: {error}"),
            FetchError::NotFound => f.write_str("404: the page is gone"),
        }
    }
}

/// A keep-alive connection to the service, on its own VNC and websocket ports (as a browser
/// session would be).
#[derive(Debug)]
struct Session {
    socket: BufReader<TcpStream>,
    vnc: u16,
    ws: u16,
    /// Set while a request is out: a session given back mid-request (its attempt timed out) is
    /// not reused, or the next job would read the old answer.
    in_request: bool,
}

impl Session {
    /// `GET path` on the session's connection: the status code and body.
    async fn get(&mut self, path: &str) -> io::Result<(u16, String)> {
        self.in_request = true;
        let request = format!("GET {path} HTTP/1.1\r\nHost: service\r\nConnection: keep-alive\r\n\r\n");
        self.socket.get_mut().write_all(request.as_bytes()).await?;
        let closed = || io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the response");
        let status_line = read_response_head(&mut self.socket).await?.ok_or_else(closed)?;
        let (status, length) = status_line;
        let mut body = vec![0; length];
        self.socket.read_exact(&mut body).await.map_err(|_| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of the response")
        })?;
        self.in_request = false;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Reads a response head: its status code and `Content-Length`.
async fn read_response_head(socket: &mut BufReader<TcpStream>) -> io::Result<Option<(u16, usize)>> {
    let mut line = String::new();
    if socket.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {what}"));
    let status = line.split(' ').nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| invalid(&line))?;
    let mut length = 0;
    loop {
        line.clear();
        if socket.read_line(&mut line).await? <= 2 {
            return Ok(Some((status, length)));
        }
        let header = line.split_once(':');
        if let Some((_, value)) = header.filter(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
            length = value.trim().parse().map_err(|_| invalid(&line))?;
        }
    }
}

/// Opens, checks and closes sessions to the service.
struct Sessions {
    service: SocketAddr,
}

impl Manager for Sessions {
    type Key = String;
    type Connection = Session;
    type Error = io::Error;

    async fn create(&self, _user: &String, ports: &[PortLease]) -> Result<Session, io::Error> {
        let socket = TcpStream::connect(self.service).await?;
        let (vnc, ws) = (ports[0].port(), ports[1].port());
        Ok(Session { socket: BufReader::new(socket), vnc, ws, in_request: false })
    }

    /// The pre-ping: no request left half-done, and the service has not closed the idle
    /// connection (its keep-alive timeout is 1 s). Looks at the socket without waiting.
    async fn check(&self, session: &mut Session) -> Result<(), io::Error> {
        if session.in_request || !session.socket.buffer().is_empty() {
            return Err(io::Error::other("a request was left half-done"));
        }
        let mut byte = [0; 1];
        match tokio::time::timeout(Duration::ZERO, session.socket.get_ref().peek(&mut byte)).await {
            Err(_still_open) => Ok(()),
            Ok(Ok(0)) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the service")),
            Ok(Ok(_)) => Err(io::Error::other("unexpected data on an idle connection")),
            Ok(Err(error)) => Err(error),
        }
    }

    async fn destroy(&self, _session: Session) {} // dropping the socket closes it
}

/// One attempt of a job: a pooled session for the user, then the page.
async fn fetch_page(pool: &Pool<Sessions>, job: u64) -> Result<String, FetchError> {
    let user = format!("user-{}", job % 12);
    let mut session = pool.get(user).await.map_err(|error| match error.into_manager() {
        Some(error) => FetchError::Connection(error),
        None => FetchError::Connection(io::Error::other("no session available")),
    })?;
    let (vnc, ws) = (session.vnc, session.ws);
    let (status, body) = match session.get(&format!("/jobs/{job}")).await {
        Ok(response) => response,
        Err(error) => {
            Lease::discard(session); // a broken session is not given to the next job
            return Err(FetchError::Connection(error));
        }
    };
    if body.contains("crash()") {
        panic!("job {job}: the page script crashed the driver");
    }
    match status {
        404 => Err(FetchError::NotFound),
        _ => Ok(format!("job {job}: {} bytes (session on vnc {vnc}, ws {ws})", body.len())),
    }
}

/// One job: a governed call with retries; turned away by an open breaker or by a critical
/// health level (load shedding), it waits and comes back, for at most [`PATIENCE`].
async fn run_job(gov: Governor, pool: Pool<Sessions>, tally: Arc<Tally>, job: u64) {
    let arrived = Instant::now();
    let result = loop {
        let result = gov
            .call(|| fetch_page(&pool, job))
            .when(FetchError::is_transient)
            .timeout(Duration::from_millis(1500))
            .name("fetch-page")
            .await;
        match result {
            Err(Error::Rejected(rejection)) if arrived.elapsed() < PATIENCE => {
                let wait = match rejection {
                    Rejection::CircuitOpen { retry_after } => retry_after.max(Duration::from_millis(200)),
                    Rejection::Overloaded { .. } => Duration::from_millis(500),
                    _ => break Err(Error::Rejected(rejection)),
                };
                tally.resubmitted.fetch_add(1, Ordering::Relaxed);
                tally.waiting.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                tally.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            result => break result,
        }
    };
    tally.record(&result);
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).with_ansi(colour).init();
    std::panic::set_hook(Box::new(|_| {})); // bursar reports the two panics; keep the output readable

    let started = Instant::now();
    let service = start_service(started).await?;
    let gov = Governor::builder()
        .max_workers(10)
        .queue_limit(200)
        .max_task_duration(Duration::from_secs(10))
        .backoff(
            ExponentialBackoff::new()
                .with_initial_delay(Duration::from_millis(300))
                .with_jitter(Jitter::Full)
                .with_seed(7),
        )
        .breaker(quick_breaker())
        .on_breaker_transition(move |name, transition| {
            let at = started.elapsed().as_secs_f32();
            println!(
                "  >> {at:>5.1}s breaker {name}: {} -> {} ({:?})",
                transition.from, transition.to, transition.reason
            );
        })
        .health(quick_health())
        .build()?;
    println!(
        "bursar quickstart: {JOBS} jobs through {} workers against a flaky service on {service}",
        gov.status().workers.max_workers
    );
    println!(
        "the service drops, stalls and slows down now and then, and is down from {:?} to {:?}\n",
        OUTAGE.0, OUTAGE.1
    );

    let mut pool_config = gov.pool_config();
    pool_config.ports = vec!["vnc".into(), "ws".into()];
    let sessions = gov.pool("sessions", Sessions { service }).config(pool_config).build()?;
    let tally = Arc::new(Tally::default());
    let progress = tokio::spawn(print_progress(gov.clone(), Arc::clone(&tally), started));
    let health = tokio::spawn(print_health_changes(gov.clone(), started));
    let mut jobs = tokio::task::JoinSet::new();
    let mut arrivals = tokio::time::interval(ARRIVAL);
    for job in 0..JOBS {
        arrivals.tick().await;
        jobs.spawn(run_job(gov.clone(), sessions.clone(), Arc::clone(&tally), job));
    }
    while jobs.join_next().await.is_some() {}
    progress.abort();
    health.abort();
    print_progress_line(&gov, &tally, started);
    let pool_stats = sessions.status();

    let report = gov.shutdown(Duration::from_secs(5)).await;
    println!("\n{}", tally.summary());
    println!(
        "sessions: {} created, {} discarded after a broken connection, {} failed their check",
        pool_stats.created, pool_stats.discarded, pool_stats.check_failed
    );
    println!(
        "shutdown: {} finished, {} cancelled in {:?}",
        report.finished, report.cancelled, report.elapsed
    );
    println!("wall time: {:.1} s\n", started.elapsed().as_secs_f32());
    println!("status:\n{}", serde_json::to_string_pretty(&gov.status())?);

    let status = gov.status().workers;
    let resubmitted = tally.resubmitted.load(Ordering::Relaxed);
    assert_eq!(tally.done(), JOBS, "every job ends as succeeded or as a reported failure");
    assert_eq!(
        status.completed + status.failed + status.rejected,
        JOBS + resubmitted,
        "every governed call is accounted for: one per job, plus one per return after a rejection"
    );
    assert_eq!(status.completed, tally.ok.load(Ordering::Relaxed), "every success is counted once");
    Ok(())
}

/// The breaker, sped up for a short demo: opens after 5 failures in a row, probes after 1 s,
/// then 1.5 s, then every 2 s while probes fail.
fn quick_breaker() -> BreakerConfig {
    let mut breaker = BreakerConfig::default();
    breaker.open_wait = Duration::from_secs(1);
    breaker.open_wait_multiplier = 1.5;
    breaker.max_open_wait = Duration::from_secs(2);
    breaker
}

/// The health monitor, sped up for a short demo: a sample every second, the error rate over
/// the last 3 s. The outage pushes the error rate past 10 %: the level turns `degraded` (or
/// worse) and the worker limit shrinks until it recovers.
fn quick_health() -> HealthConfig {
    let mut health = HealthConfig::default();
    health.interval = Duration::from_secs(1);
    health.error_window = Duration::from_secs(3);
    health.error_min_calls = 10;
    health
}

/// Prints a line whenever the health level changes.
async fn print_health_changes(gov: Governor, started: Instant) {
    let mut level = gov.watch_health();
    while level.changed().await.is_ok() {
        let now = *level.borrow_and_update();
        let workers = gov.status().workers;
        let at = started.elapsed().as_secs_f32();
        println!(
            "  >> {at:>5.1}s health is now {now}: worker limit {} of {}",
            workers.effective_limit, workers.max_workers
        );
    }
}

/// Prints one progress line every half second.
async fn print_progress(gov: Governor, tally: Arc<Tally>, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        print_progress_line(&gov, &tally, started);
    }
}

fn print_progress_line(gov: &Governor, tally: &Tally, started: Instant) {
    let status = gov.status();
    let workers = &status.workers;
    let breaker = status.breakers.get("default").map_or("?", |breaker| breaker.state.as_str());
    let service = if is_down(started) { "DOWN" } else { "up" };
    let ok = tally.ok.load(Ordering::Relaxed);
    println!(
        "{:>5.1}s [{:>3}/{JOBS}] ok {ok:>3} failed {:>2} | active {:>2}/{:<2} queued {:>2} retrying {:>2} retries {:>3} \
         | breaker {breaker:<9} waiting {:>2} | sessions {:>2} | health {} | service {service}",
        started.elapsed().as_secs_f32(),
        tally.done(),
        tally.done() - ok,
        workers.active,
        workers.effective_limit,
        workers.queued,
        workers.retrying,
        workers.retries,
        tally.waiting.load(Ordering::Relaxed),
        status.pool.total_active_connections,
        status.health.status,
    );
}

/// How each job ended, and the jobs waiting for the breaker now.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    connection_failed: AtomicU64,
    stalled: AtomicU64,
    missing_pages: AtomicU64,
    panics: AtomicU64,
    circuit_open: AtomicU64,
    shed: AtomicU64,
    other_rejections: AtomicU64,
    resubmitted: AtomicU64,
    waiting: AtomicU32,
}

impl Tally {
    fn record(&self, result: &Result<String, Error<FetchError>>) {
        let counter = match result {
            Ok(_) => &self.ok,
            Err(Error::Operation(FetchError::Connection(_))) => &self.connection_failed,
            Err(Error::Operation(FetchError::NotFound)) => &self.missing_pages,
            Err(Error::Timeout { .. } | Error::AttemptTimeout { .. }) => &self.stalled,
            Err(Error::Panicked { .. }) => &self.panics,
            Err(Error::Rejected(Rejection::CircuitOpen { .. })) => &self.circuit_open,
            Err(Error::Rejected(Rejection::Overloaded { .. })) => &self.shed,
            Err(error) => {
                println!("  !! a job failed: {error}");
                &self.other_rejections
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn outcomes(&self) -> [(&'static str, u64); 8] {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            ("succeeded", get(&self.ok)),
            ("failed: connection dropped or reset", get(&self.connection_failed)),
            ("failed: stalled, timed out", get(&self.stalled)),
            ("failed: page gone (404, not retried)", get(&self.missing_pages)),
            ("failed: panicked (contained)", get(&self.panics)),
            ("failed: breaker stayed open", get(&self.circuit_open)),
            ("failed: shed while health was critical", get(&self.shed)),
            ("failed: other rejection", get(&self.other_rejections)),
        ]
    }

    fn done(&self) -> u64 {
        self.outcomes().iter().map(|(_, count)| count).sum()
    }

    fn summary(&self) -> String {
        let mut table = String::from("summary\n");
        for (outcome, count) in self.outcomes() {
            table.push_str(&format!("  {outcome:<38} {count:>3}\n"));
        }
        let resubmitted = self.resubmitted.load(Ordering::Relaxed);
        table.push_str(&format!("  {:<38} {:>3}\n", "total", self.done()));
        table.push_str(&format!("  {:<38} {resubmitted:>3}", "(came back after a rejection)"));
        table
    }
}
