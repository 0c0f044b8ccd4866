//! Governed database work against a real PostgreSQL whose `max_connections` is deliberately
//! small (`.ci/run` starts one on 127.0.0.1 with 20).
//!
//! 1. Without bursar: 500 concurrent tasks each open a connection of their own and run a short
//!    query. The server turns the ones beyond its limit away with "sorry, too many clients
//!    already" (SQLSTATE 53300) — the incident's exhausted database, in miniature.
//! 2. With bursar: the same 500 queries as governed calls through a pool of 10 connections,
//!    checked with a pre-ping before reuse. All succeed, the server never sees more than 10 of
//!    them, and after `shutdown` its count of client connections is back to where it was.
//! 3. The same, and when half are done the server restarts (`pg_ctl restart -m fast`): the
//!    queries in flight fail, the breaker opens, callers wait as it says, the pre-ping finds
//!    the dead connections before anyone is given one, retries with backoff find the server
//!    back, and all 500 still succeed with nothing leaked.
//!
//! The figures are printed as a table (`--nocapture`). Real sleeps against a real server make
//! timings vary; nothing here asserts on time.
//!
//! Needs `POSTGRES_TEST_URL` (a connection string for `tokio_postgres`, e.g.
//! `host=127.0.0.1 port=55439 user=postgres dbname=postgres`) and `POSTGRES_TEST_RESTART` (a shell
//! command that restarts that server and waits until it accepts connections again). Run it with
//! `cargo test --all-features --test postgres -- --ignored --nocapture`.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bursar::breaker::{BreakerConfig, BreakerState};
use bursar::health::HealthConfig;
use bursar::pool::{Manager, Pool, PoolError};
use bursar::ports::PortLease;
use bursar::retry::{ExponentialBackoff, Jitter};
use bursar::{Error, Governor, Rejection};
use parking_lot::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, timeout};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

/// Queries per phase.
const QUERIES: u64 = 500;
/// The short query each of them runs.
const QUERY: &str = "SELECT pg_sleep(0.05)";
/// Pooled connections and workers in the governed phases: well below the server's limit.
const POOL_SIZE: usize = 10;
/// A query turned away by the breaker (or whose retries the breaker cut short) comes back
/// for at most this long before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(60);
/// The shortest wait before coming back, so callers never spin while the single half-open
/// probe is out (the breaker then says "retry after 0 s").
const COME_BACK: Duration = Duration::from_millis(100);
/// How long the server may take to notice connections that were closed.
const SETTLE: Duration = Duration::from_secs(10);

/// The server's client connections, not counting the one asking.
const CLIENT_BACKENDS: &str =
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

type PgError = tokio_postgres::Error;

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// The server under test, from the environment `.ci/run` sets up.
struct Server {
    config: Config,
    restart: String,
}

impl Server {
    fn from_env() -> Server {
        let url =
            std::env::var("POSTGRES_TEST_URL").expect("POSTGRES_TEST_URL names the server (.ci/run sets it)");
        let restart = std::env::var("POSTGRES_TEST_RESTART")
            .expect("POSTGRES_TEST_RESTART restarts it (.ci/run sets it)");
        let mut config =
            Config::from_str(&url).expect("POSTGRES_TEST_URL is a tokio-postgres connection string");
        config.connect_timeout(Duration::from_secs(10));
        Server { config, restart }
    }

    /// One short-lived connection for a question of our own.
    async fn ask(&self, sql: &str) -> Result<String, PgError> {
        let (client, connection) = self.config.connect(NoTls).await?;
        let connection = tokio::spawn(connection);
        let answer = client.simple_query(sql).await;
        drop(client);
        let _ = connection.await;
        let row = answer?.into_iter().find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        Ok(row.unwrap_or_default())
    }

    /// Client connections the server has now, not counting the one asking.
    async fn client_backends(&self) -> i64 {
        let count = self.ask(CLIENT_BACKENDS).await.expect("the server answers between phases");
        count.parse().expect("count(*) is a number")
    }

    /// The client connections once those just closed are gone: waits up to [`SETTLE`] for the
    /// count to come down to `baseline` (a backend ends a moment after its client leaves).
    async fn settled_backends(&self, baseline: i64) -> i64 {
        let deadline = Instant::now() + SETTLE;
        loop {
            let count = self.client_backends().await;
            if count <= baseline || Instant::now() >= deadline {
                return count;
            }
            sleep(Duration::from_millis(100)).await;
        }
    }
}

/// "sorry, too many clients already", and the same refusal for the last reserved slots.
fn is_too_many_clients(error: &PgError) -> bool {
    error.code() == Some(&SqlState::TOO_MANY_CONNECTIONS)
}

/// Trouble with the connection rather than with the query: refused, reset or closed, the
/// server shutting down or starting up, or full. A fresh connection later may well work.
fn is_connection_trouble(error: &PgError) -> bool {
    let shutting_down_or_full = [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
    ];
    match error.code() {
        // Class 08: connection exceptions.
        Some(code) => shutting_down_or_full.contains(code) || code.code().starts_with("08"),
        None => {
            let io = std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>());
            error.is_closed() || io
        }
    }
}

/// What a phase did.
#[derive(Debug, Default)]
struct Figures {
    succeeded: u64,
    too_many_clients: u64,
    other_errors: u64,
    /// The server's words for the first "too many clients" refusal.
    too_many_said: Option<String>,
    /// The first few errors that were not "too many clients", for the log.
    samples: Vec<String>,
    retries: Option<u64>,
    turned_away: Option<u64>,
    cut_short: Option<u64>,
    attempts_while_open: Option<u64>,
    breaker: Option<Vec<String>>,
    created: Option<u64>,
    destroyed: Option<u64>,
    check_failed: Option<u64>,
    peak_server_connections: Option<i64>,
    restart: Option<Duration>,
    leaked: i64,
    elapsed: Duration,
}

impl Figures {
    fn record_error(&mut self, error: &dyn std::fmt::Display, too_many: bool) {
        match too_many {
            true => {
                self.too_many_clients += 1;
                self.too_many_said.get_or_insert_with(|| error.to_string());
            }
            false => {
                self.other_errors += 1;
                if self.samples.len() < 5 {
                    self.samples.push(error.to_string());
                }
            }
        }
    }

    fn failed(&self) -> u64 {
        self.too_many_clients + self.other_errors
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: every task opens its own connection
// ---------------------------------------------------------------------------------------------

/// One query on a connection of its own, as code without a pool does it.
async fn unpooled_query(config: Config) -> Result<(), PgError> {
    let (client, connection) = config.connect(NoTls).await?;
    let connection = tokio::spawn(connection);
    let result = client.query_one(QUERY, &[]).await.map(drop);
    drop(client);
    let _ = connection.await;
    result
}

async fn without_bursar(server: &Server, baseline: i64) -> Figures {
    let started = Instant::now();
    let mut figures = Figures::default();
    let mut tasks = JoinSet::new();
    for _ in 0..QUERIES {
        tasks.spawn(unpooled_query(server.config.clone()));
    }
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("a query task does not panic") {
            Ok(()) => figures.succeeded += 1,
            Err(error) => figures.record_error(&DbErrorText(&error), is_too_many_clients(&error)),
        }
    }
    figures.elapsed = started.elapsed();
    figures.leaked = server.settled_backends(baseline).await - baseline;
    figures
}

/// A `tokio_postgres::Error` with the server's own message, which its `Display` leaves out.
struct DbErrorText<'a>(&'a PgError);

impl std::fmt::Display for DbErrorText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0.as_db_error(), std::error::Error::source(self.0)) {
            (Some(db), _) => write!(f, "{}: {} ({})", db.severity(), db.message(), db.code().code()),
            (None, Some(source)) => write!(f, "{}: {source}", self.0),
            (None, None) => write!(f, "{}", self.0),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Phases 2 and 3: governed queries through a pool
// ---------------------------------------------------------------------------------------------

/// Opens connections to the server, pre-pings them before reuse, closes them.
struct Postgres {
    config: Config,
}

/// A pooled connection: the client, and the task that drives its socket.
struct PgConnection {
    client: tokio_postgres::Client,
    driver: JoinHandle<()>,
}

impl Manager for Postgres {
    type Key = ();
    type Connection = PgConnection;
    type Error = PgError;

    async fn create(&self, _database: &(), _ports: &[PortLease]) -> Result<PgConnection, PgError> {
        let (client, connection) = self.config.connect(NoTls).await?;
        // The socket's I/O runs on a task of its own; it ends when the client is dropped (it
        // then says goodbye and closes the socket) or when the server goes away.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(PgConnection { client, driver })
    }

    /// `pool_pre_ping`: one round trip. A connection the restart killed fails it at once.
    async fn check(&self, connection: &mut PgConnection) -> Result<(), PgError> {
        connection.client.simple_query("SELECT 1").await.map(drop)
    }

    async fn destroy(&self, connection: PgConnection) {
        let PgConnection { client, mut driver } = connection;
        drop(client);
        // Closed for good once the driver has returned; a server that never answers the
        // goodbye loses the socket anyway.
        if timeout(Duration::from_secs(5), &mut driver).await.is_err() {
            driver.abort();
        }
    }
}

/// Why a governed query failed.
#[derive(Debug)]
enum QueryError {
    Checkout(PoolError<PgError>),
    Query(PgError),
}

impl QueryError {
    /// Worth another attempt: connection trouble, or no connection within the checkout timeout.
    fn is_transient(&self) -> bool {
        match self {
            QueryError::Checkout(PoolError::Timeout { .. }) => true,
            QueryError::Checkout(PoolError::Manager(error)) | QueryError::Query(error) => {
                is_connection_trouble(error)
            }
            QueryError::Checkout(_) => false,
        }
    }

    fn is_too_many_clients(&self) -> bool {
        match self {
            QueryError::Checkout(PoolError::Manager(error)) | QueryError::Query(error) => {
                is_too_many_clients(error)
            }
            QueryError::Checkout(_) => false,
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Checkout(PoolError::Manager(error)) => {
                write!(f, "no connection: {}", DbErrorText(error))
            }
            QueryError::Checkout(error) => write!(f, "no connection: {error}"),
            QueryError::Query(error) => write!(f, "query failed: {}", DbErrorText(error)),
        }
    }
}

/// One governed attempt: a pooled connection, one query. A connection that breaks under the
/// query goes back to the pool like any other; the pre-ping finds it dead before anyone is
/// given it again.
async fn query(pool: &Pool<Postgres>) -> Result<(), QueryError> {
    let connection = pool.get(()).await.map_err(QueryError::Checkout)?;
    connection.client.query_one(QUERY, &[]).await.map(drop).map_err(QueryError::Query)
}

/// One query as a governed call with retries. Turned away by the open breaker, or with its
/// retries ended because the breaker opened, it waits as the breaker says and comes back, for
/// at most [`PATIENCE`]: a job is not dropped because its database restarted.
async fn governed_query(
    gov: Governor,
    pool: Pool<Postgres>,
    tally: Arc<Tally>,
) -> Result<(), Error<QueryError>> {
    let arrived = Instant::now();
    loop {
        let result = gov
            .call(|| {
                if gov.breaker().state() == BreakerState::Open {
                    tally.attempts_while_open.fetch_add(1, Ordering::SeqCst);
                }
                query(&pool)
            })
            .when(QueryError::is_transient)
            .timeout(Duration::from_secs(10))
            .name("query")
            .await;
        let (counter, wait) = match &result {
            Ok(()) => {
                tally.succeeded.fetch_add(1, Ordering::SeqCst);
                return result;
            }
            _ if arrived.elapsed() >= PATIENCE => return result,
            Err(Error::Rejected(Rejection::CircuitOpen { retry_after })) => {
                (&tally.turned_away, (*retry_after).max(COME_BACK))
            }
            Err(Error::Operation(error)) if error.is_transient() => (&tally.cut_short, COME_BACK),
            Err(_) => return result,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        sleep(wait).await;
    }
}

/// What the queries of a governed phase tell the watchers.
#[derive(Debug, Default)]
struct Tally {
    succeeded: AtomicU64,
    /// Calls the open breaker turned away (each came back after its `retry_after`).
    turned_away: AtomicU64,
    /// Calls that ended with a transient error because the breaker had opened meanwhile, which
    /// ends their retries (each came back).
    cut_short: AtomicU64,
    /// Attempts that began while the breaker was open: calls the breaker admitted while still
    /// closed, that waited in the worker queue meanwhile.
    attempts_while_open: AtomicU64,
    /// Every query has ended.
    finished: AtomicBool,
}

/// Opens after 5 failures in a row; probes after 1 s, then 2 s, at most 4 s apart.
fn breaker() -> BreakerConfig {
    let mut breaker = BreakerConfig::default();
    breaker.open_wait = Duration::from_secs(1);
    breaker.open_wait_multiplier = 2.0;
    breaker.max_open_wait = Duration::from_secs(4);
    breaker
}

async fn with_bursar(server: &Server, baseline: i64, restart_midway: bool) -> Figures {
    let started = Instant::now();
    let transitions = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&transitions);
    let gov = Governor::builder()
        .max_workers(POOL_SIZE)
        .queue_limit(QUERIES as usize)
        .max_attempts(6)
        .backoff(
            ExponentialBackoff::new()
                .with_initial_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1))
                .with_jitter(Jitter::Full),
        )
        .breaker(breaker())
        .on_breaker_transition(move |_, transition| {
            let at = started.elapsed().as_secs_f32();
            log.lock().push(format!("{at:.1}s {} -> {}", transition.from, transition.to));
        })
        // This test is about connections; the machine's CPU (other jobs share it) must not
        // shrink the worker limit or shed calls and so change the figures.
        .health(HealthConfig::disabled())
        .build()
        .expect("a valid governor");
    let mut config = gov.pool_config();
    (config.max_total, config.max_per_key) = (POOL_SIZE, POOL_SIZE);
    config.checkout_timeout = Duration::from_secs(10);
    let pool =
        gov.pool("postgres", Postgres { config: server.config.clone() }).config(config).build().unwrap();

    let tally = Arc::new(Tally::default());
    let restart = restart_midway
        .then(|| tokio::spawn(restart_when_half_done(server.restart.clone(), Arc::clone(&tally))));
    let peak = (!restart_midway)
        .then(|| tokio::spawn(peak_connections(server.config.clone(), baseline, Arc::clone(&tally))));
    let mut queries = JoinSet::new();
    for _ in 0..QUERIES {
        queries.spawn(governed_query(gov.clone(), pool.clone(), Arc::clone(&tally)));
    }
    let mut figures = Figures::default();
    while let Some(joined) = queries.join_next().await {
        match joined.expect("a query task does not panic") {
            Ok(()) => figures.succeeded += 1,
            Err(error) => {
                let too_many = matches!(&error, Error::Operation(error) if error.is_too_many_clients());
                figures.record_error(&error, too_many);
            }
        }
    }
    tally.finished.store(true, Ordering::SeqCst);
    if let Some(restart) = restart {
        figures.restart = restart.await.expect("the restart does not panic");
    }
    if let Some(peak) = peak {
        figures.peak_server_connections = Some(peak.await.expect("the watcher does not panic"));
    }
    let report = gov.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.pool_connections_still_leased, 0, "{report:?}");
    let (stats, status) = (pool.status(), gov.status());
    figures.elapsed = started.elapsed();
    figures.retries = Some(status.workers.retries);
    figures.turned_away = Some(tally.turned_away.load(Ordering::SeqCst));
    figures.cut_short = Some(tally.cut_short.load(Ordering::SeqCst));
    figures.attempts_while_open = Some(tally.attempts_while_open.load(Ordering::SeqCst));
    figures.breaker = Some(transitions.lock().clone());
    (figures.created, figures.destroyed) = (Some(stats.created), Some(stats.destroyed));
    figures.check_failed = Some(stats.check_failed);
    figures.leaked = server.settled_backends(baseline).await - baseline;
    figures
}

/// Restarts the server once half the queries have succeeded; how long the restart took (none
/// if the queries ended first).
async fn restart_when_half_done(command: String, tally: Arc<Tally>) -> Option<Duration> {
    while tally.succeeded.load(Ordering::SeqCst) < QUERIES / 2 {
        if tally.finished.load(Ordering::SeqCst) {
            return None;
        }
        sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .await
        .expect("the restart command runs");
    let said =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "`{command}` failed: {said}");
    Some(started.elapsed())
}

/// Counts the server's client connections every 20 ms until the queries are done; returns
/// the most seen at once above `baseline`, not counting its own.
async fn peak_connections(config: Config, baseline: i64, tally: Arc<Tally>) -> i64 {
    let (client, connection) = config.connect(NoTls).await.expect("the watcher connects");
    let connection = tokio::spawn(connection);
    let mut peak = 0;
    while !tally.finished.load(Ordering::SeqCst) {
        let count: i64 = client.query_one(CLIENT_BACKENDS, &[]).await.expect("the watcher's query").get(0);
        peak = peak.max(count - baseline);
        sleep(Duration::from_millis(20)).await;
    }
    drop(client);
    let _ = connection.await;
    peak
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server; .ci/run starts one"]
async fn five_hundred_queries_exhaust_the_server_without_bursar_and_all_succeed_with_it() {
    let server = Server::from_env();
    let version = server.ask("SHOW server_version").await.expect("the server answers");
    let max_connections: u64 = server.ask("SHOW max_connections").await.unwrap().parse().unwrap();
    assert!(
        (POOL_SIZE as u64) + 2 < max_connections && max_connections < QUERIES,
        "the server's limit ({max_connections}) must lie between the pool (and this test's own \
         connections) and the number of queries"
    );
    let baseline = server.client_backends().await;

    let unpooled = without_bursar(&server, baseline).await;
    let pooled = with_bursar(&server, baseline, false).await;
    let restarted = with_bursar(&server, baseline, true).await;

    println!("{}", table(&version, max_connections, baseline, [&unpooled, &pooled, &restarted]));

    assert!(unpooled.too_many_clients > 0, "without bursar the server runs out of connections");
    assert_eq!(unpooled.succeeded + unpooled.failed(), QUERIES);
    assert_eq!(unpooled.leaked, 0, "each unpooled task closed its own connection");
    for (phase, figures) in [("bursar", &pooled), ("bursar + restart", &restarted)] {
        assert_eq!((figures.succeeded, figures.failed()), (QUERIES, 0), "{phase}: {:?}", figures.samples);
        assert_eq!(figures.leaked, 0, "{phase}: the server has connections the pool never closed");
        assert_eq!(figures.created, figures.destroyed, "{phase}: one destroy per create");
    }
    assert!(pooled.created.unwrap() <= POOL_SIZE as u64, "a quiet server: no connection replaced");
    assert!(
        pooled.peak_server_connections.unwrap() <= POOL_SIZE as i64,
        "the pool's cap holds on the server"
    );
    let quiet = (
        pooled.retries,
        pooled.check_failed,
        pooled.turned_away,
        pooled.cut_short,
        pooled.attempts_while_open,
    );
    assert_eq!(
        quiet,
        (Some(0), Some(0), Some(0), Some(0), Some(0)),
        "a quiet server: no retry, no dead connection, no breaker"
    );
    assert!(restarted.restart.is_some(), "the server was restarted midway");
    // A retry counts only when it runs: one whose backoff ends with the breaker open does not
    // run (the call comes back when the breaker says).
    assert!(
        restarted.retries.unwrap() + restarted.cut_short.unwrap() > 0,
        "the queries the restart cut off were retried, or the open breaker ended their retries"
    );
    assert!(restarted.check_failed.unwrap() > 0, "the pre-ping found connections the restart killed");
    assert!(restarted.created.unwrap() > POOL_SIZE as u64, "dead connections were replaced");
    assert!(
        restarted.turned_away.unwrap() > 0,
        "the open breaker turned calls away instead of letting them through"
    );
    let breaker = restarted.breaker.as_ref().unwrap();
    assert!(breaker.first().is_some_and(|first| first.ends_with("closed -> open")), "{breaker:?}");
    assert!(breaker.last().is_some_and(|last| last.ends_with("half_open -> closed")), "{breaker:?}");
}

/// The figures side by side.
fn table(version: &str, max_connections: u64, baseline: i64, phases: [&Figures; 3]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nPostgreSQL {version}, max_connections = {max_connections}; {QUERIES} concurrent `{QUERY}` \
         per phase; bursar: pool of {POOL_SIZE}, {POOL_SIZE} workers; baseline {baseline} client connections\n"
    );
    let _ =
        writeln!(out, "  {:<46} {:>14} {:>10} {:>18}", "", "without bursar", "bursar", "bursar + restart");
    let count = |value: Option<u64>| value.map_or("-".to_owned(), |value| value.to_string());
    let rows: [(&str, [String; 3]); 14] = [
        ("queries succeeded", phases.map(|f| f.succeeded.to_string())),
        ("queries failed", phases.map(|f| f.failed().to_string())),
        ("  of which \"too many clients\" (53300)", phases.map(|f| f.too_many_clients.to_string())),
        ("  of which other errors", phases.map(|f| f.other_errors.to_string())),
        ("retries (governor)", phases.map(|f| count(f.retries))),
        ("rejections by the open breaker (came back)", phases.map(|f| count(f.turned_away))),
        ("calls whose retries it ended (came back)", phases.map(|f| count(f.cut_short))),
        ("attempts begun while the breaker was open", phases.map(|f| count(f.attempts_while_open))),
        ("connections created", phases.map(|f| count(f.created))),
        ("connections destroyed", phases.map(|f| count(f.destroyed))),
        ("pre-ping failures", phases.map(|f| count(f.check_failed))),
        (
            "peak server connections of the pool",
            phases.map(|f| count(f.peak_server_connections.map(|p| p as u64))),
        ),
        ("leaked connections (server count - baseline)", phases.map(|f| f.leaked.to_string())),
        ("elapsed", phases.map(|f| format!("{:.1} s", f.elapsed.as_secs_f32()))),
    ];
    for (label, [a, b, c]) in rows {
        let _ = writeln!(out, "  {label:<46} {a:>14} {b:>10} {c:>18}");
    }
    if let Some(restart) = phases[2].restart {
        let _ = writeln!(out, "\n  restart (pg_ctl restart -m fast) took {:.1} s", restart.as_secs_f32());
    }
    for (name, figures) in ["bursar", "bursar + restart"].iter().zip(&phases[1..]) {
        let breaker = figures.breaker.as_deref().unwrap_or_default();
        let shown = if breaker.is_empty() { "no transitions".to_owned() } else { breaker.join(", ") };
        let _ = writeln!(out, "  breaker ({name}): {shown}");
    }
    for (name, figures) in ["without bursar", "bursar", "bursar + restart"].iter().zip(phases) {
        if let Some(said) = &figures.too_many_said {
            let _ = writeln!(out, "  {name}: the server said \"{said}\"");
        }
        for sample in &figures.samples {
            let _ = writeln!(out, "  {name}: other error: {sample}");
        }
    }
    out
}
