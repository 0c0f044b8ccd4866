//! Governed database work on an embedded SQLite: no server, no set-up.
//!
//! A shop's database is one SQLite file in a temporary directory, in WAL mode so several
//! connections share it (readers never wait for the writer). A bursar pool owns its
//! connections: the `Manager` opens one in `create`, pings it before every reuse in `check`
//! (SQLAlchemy's `pool_pre_ping`, from the incident where the database pool ran dry), and
//! closes it in `destroy`. Then:
//!
//! 1. 400 orders arrive at once; each is a governed call that takes a pooled connection and
//!    writes the order and the customer's running total in one transaction. Four workers and
//!    four connections serve them all; nothing opens a connection of its own.
//! 2. A count checks that every order is there exactly once and the totals agree.
//! 3. A job begins a transaction by hand and fails before its `COMMIT`, and its connection goes
//!    back to the pool still inside that transaction, holding SQLite's write lock — the
//!    incident's "sessions not closed in error paths". The next `get`'s pre-ping finds it, the
//!    pool destroys it (closing it rolls the half-written order back) and hands out a healthy
//!    connection instead.
//! 4. A summary, the pool's part of `status()` as JSON, and the shutdown report: every
//!    connection opened was closed — the manager counts them, and SQLite agrees: one last
//!    connection opened and closed afterwards finds itself the only one and removes the WAL
//!    files, which it does only when no other connection is open.
//!
//! Run it with `cargo run --example database` (well under a second once built).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bursar::health::HealthConfig;
use bursar::pool::{Manager, Pool, PoolError};
use bursar::ports::PortLease;
use bursar::retry::{ExponentialBackoff, Jitter};
use bursar::{Error, Governor};
use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};
use tokio::time::Instant;

/// Orders placed at once.
const ORDERS: u64 = 400;
/// Customers the orders are spread over.
const CUSTOMERS: u64 = 8;
/// Pooled connections, and the governor's workers: a running call never waits for a connection.
const CONNECTIONS: usize = 4;
/// How long a connection waits for another one's write lock before SQLite says "database is
/// locked" (`SQLITE_BUSY`, which the calls retry).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The manager: open, pre-ping, close
// ---------------------------------------------------------------------------------------------

/// Opens connections to one SQLite file, pings them before reuse and closes them, counting each.
///
/// rusqlite is blocking. Opening (a file, a lock for the WAL pragma) and closing (the last
/// close checkpoints the WAL into the database file and fsyncs it) do file I/O, so they run on
/// Tokio's blocking threads. The pre-ping runs inline: `SELECT 1` reads no table and starts no
/// transaction, so it takes no lock and cannot wait — microseconds, like any other poll.
#[derive(Debug)]
struct Sqlite {
    path: PathBuf,
    opened: AtomicU64,
    closed: AtomicU64,
    ping_failures: AtomicU64,
}

/// A pooled connection, numbered so the output can tell them apart.
#[derive(Debug)]
struct Db {
    conn: Connection,
    number: u64,
}

/// Why a connection could not be opened or failed its pre-ping.
#[derive(Debug)]
enum DbError {
    /// SQLite's own error.
    Sqlite(rusqlite::Error),
    /// The connection answered `SELECT 1` but is still inside a transaction someone began and
    /// never ended: it holds SQLite's write lock, and the next user's work would silently
    /// become part of that transaction.
    LeftInTransaction,
    /// The blocking thread that opened the connection did not finish: the runtime is shutting down.
    RuntimeGone,
}

impl Manager for Sqlite {
    type Key = ();
    type Connection = Db;
    type Error = DbError;

    async fn create(&self, _database: &(), _ports: &[PortLease]) -> Result<Db, DbError> {
        let path = self.path.clone();
        let conn = tokio::task::spawn_blocking(move || open(&path))
            .await
            .map_err(|_| DbError::RuntimeGone)?
            .map_err(DbError::Sqlite)?;
        // Relaxed: a number and a statistic; nothing else is ordered by it.
        let number = self.opened.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Db { conn, number })
    }

    async fn check(&self, db: &mut Db) -> Result<(), DbError> {
        let pinged = ping(db);
        if let Err(error) = &pinged {
            // Relaxed: a statistic read after the work is done.
            self.ping_failures.fetch_add(1, Ordering::Relaxed);
            println!("   pre-ping of connection #{}: {error}; the pool destroys it", db.number);
        }
        pinged
    }

    async fn destroy(&self, db: Db) {
        let number = db.number;
        // A close that fails hands the connection back; dropping it there closes it anyway.
        let closed = tokio::task::spawn_blocking(move || db.conn.close().map_err(|(_, error)| error)).await;
        if let Ok(Err(error)) = closed {
            eprintln!("connection #{number} did not close cleanly: {error}");
        }
        // Relaxed: a statistic read after the pool has closed.
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Opens a connection: WAL mode, so readers and the one writer never block each other, and a
/// busy timeout, so a writer waits for another's lock instead of failing at once.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    debug_assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// The pre-ping: a round trip through SQLite, and the connection must not be inside a
/// transaction.
fn ping(db: &Db) -> Result<(), DbError> {
    let one: i64 = db.conn.query_row("SELECT 1", [], |row| row.get(0)).map_err(DbError::Sqlite)?;
    match (one, db.conn.is_autocommit()) {
        (1, true) => Ok(()),
        _ => Err(DbError::LeftInTransaction),
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(error) => write!(f, "SQLite: {error}"),
            DbError::LeftInTransaction => f.write_str("still inside a transaction that was never ended"),
            DbError::RuntimeGone => f.write_str("the runtime shut down while the connection opened"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The work
// ---------------------------------------------------------------------------------------------

/// Why a job failed.
#[derive(Debug)]
enum JobError {
    /// No connection: the pool timed out, was closed, or could not open one.
    Checkout(PoolError<DbError>),
    /// A statement failed.
    Sqlite(rusqlite::Error),
    /// The payment was declined (permanent: not retried).
    PaymentDeclined { order: u64, connection: u64 },
    /// The blocking thread did not run: the runtime is shutting down.
    RuntimeGone,
}

impl JobError {
    /// "database is locked" (another connection kept the write lock past the busy timeout) and a
    /// checkout timeout are worth another attempt; anything else is not.
    fn is_transient(&self) -> bool {
        let busy = |error: &rusqlite::Error| {
            matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
        };
        match self {
            JobError::Checkout(PoolError::Timeout { .. }) => true,
            JobError::Checkout(PoolError::Manager(DbError::Sqlite(error))) | JobError::Sqlite(error) => {
                busy(error)
            }
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for JobError {
    fn from(error: rusqlite::Error) -> Self {
        JobError::Sqlite(error)
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Checkout(PoolError::Manager(error)) => write!(f, "no connection: {error}"),
            JobError::Checkout(error) => write!(f, "no connection: {error}"),
            JobError::Sqlite(error) => write!(f, "SQLite: {error}"),
            JobError::PaymentDeclined { order, connection } => {
                write!(f, "order {order}: payment declined (on connection #{connection})")
            }
            JobError::RuntimeGone => f.write_str("the runtime shut down before the statement ran"),
        }
    }
}

impl std::error::Error for JobError {}

/// Takes a pooled connection and runs `work` on it on one of Tokio's blocking threads.
///
/// Why a blocking thread: a write waits for SQLite's write lock (up to the busy timeout) and a
/// commit may fsync; either would stall a runtime thread that every other task shares. The
/// lease itself moves to the thread, so the connection is used by one thread at a time
/// (rusqlite's `Connection` is `Send` but not `Sync`) and goes back to the pool when the
/// closure drops it — even if the governed call was cancelled meanwhile: the pool's cap still
/// counts it until then, so nothing is ever over-committed.
async fn with_connection<T, F>(pool: &Pool<Arc<Sqlite>>, work: F) -> Result<T, JobError>
where
    T: Send + 'static,
    F: FnOnce(&mut Db) -> Result<T, JobError> + Send + 'static,
{
    let mut lease = pool.get(()).await.map_err(JobError::Checkout)?;
    let thread = tokio::task::spawn_blocking(move || work(&mut lease));
    match thread.await {
        Ok(result) => result,
        // Re-raised here, so the governor reports it as `Error::Panicked`.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(JobError::RuntimeGone),
    }
}

fn create_schema(db: &mut Db) -> Result<(), JobError> {
    db.conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS orders (
             id       INTEGER PRIMARY KEY,
             customer INTEGER NOT NULL,
             cents    INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS totals (
             customer INTEGER PRIMARY KEY,
             orders   INTEGER NOT NULL,
             cents    INTEGER NOT NULL
         );",
    )?;
    Ok(())
}

/// What order `order` costs: 1.00 to 9.99, spread out.
fn price(order: u64) -> u64 {
    100 + (order * 337) % 900
}

/// One order and its customer's running total, in one transaction. `IMMEDIATE` takes the write
/// lock at `BEGIN`, so a busy database makes the transaction wait (up to the busy timeout)
/// instead of failing halfway when a read would have to become a write.
fn place_order(db: &mut Db, order: u64) -> Result<(), JobError> {
    let (customer, cents) = (order % CUSTOMERS, price(order));
    let tx = db.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO orders (id, customer, cents) VALUES (?1, ?2, ?3)",
        params![order, customer, cents],
    )?;
    tx.execute(
        "INSERT INTO totals (customer, orders, cents) VALUES (?1, 1, ?2)
         ON CONFLICT (customer) DO UPDATE SET orders = orders + 1, cents = cents + excluded.cents",
        params![customer, cents],
    )?;
    tx.commit()?;
    Ok(())
}

/// What the database holds: orders and their sum, as counted from both tables.
#[derive(Debug, PartialEq, Eq)]
struct Books {
    orders: u64,
    cents: u64,
    totals_orders: u64,
    totals_cents: u64,
    /// The connection that answered.
    connection: u64,
}

/// The books after `orders` orders worth `cents` in all.
fn books_of(orders: u64, cents: u64) -> Books {
    Books { orders, cents, totals_orders: orders, totals_cents: cents, connection: 0 }
}

fn count(db: &mut Db) -> Result<Books, JobError> {
    let (orders, cents) =
        db.conn.query_row("SELECT count(*), coalesce(sum(cents), 0) FROM orders", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let (totals_orders, totals_cents) = db.conn.query_row(
        "SELECT coalesce(sum(orders), 0), coalesce(sum(cents), 0) FROM totals",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(Books { orders, cents, totals_orders, totals_cents, connection: db.number })
}

/// A job with a bug: it begins a transaction by hand, writes, and returns early when the
/// payment is declined — before `COMMIT` or `ROLLBACK`. (rusqlite's `Transaction` guard rolls
/// back on drop; hand-written `BEGIN`s, like sessions closed only on the happy path, do not.)
fn place_order_and_forget_the_transaction(db: &mut Db, order: u64) -> Result<(), JobError> {
    db.conn.execute_batch("BEGIN IMMEDIATE")?;
    db.conn.execute(
        "INSERT INTO orders (id, customer, cents) VALUES (?1, ?2, ?3)",
        params![order, order % CUSTOMERS, price(order)],
    )?;
    Err(JobError::PaymentDeclined { order, connection: db.number })
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).with_ansi(colour).init();
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("bursar-database-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manager = Arc::new(Sqlite {
        path: dir.join("shop.db"),
        opened: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        ping_failures: AtomicU64::new(0),
    });

    let gov = Governor::builder()
        .max_workers(CONNECTIONS)
        .backoff(
            ExponentialBackoff::new().with_initial_delay(Duration::from_millis(50)).with_jitter(Jitter::Full),
        )
        .health(calm_health())
        .build()?;
    let mut config = gov.pool_config();
    (config.max_total, config.max_per_key) = (CONNECTIONS, CONNECTIONS);
    let pool = gov.pool("shop", Arc::clone(&manager)).config(config).build()?;
    println!(
        "bursar database example: SQLite (WAL) at {}, {CONNECTIONS} pooled connections, {CONNECTIONS} workers\n",
        manager.path.display()
    );

    gov.run(|| with_connection(&pool, create_schema)).await?;

    // 1. Every order at once.
    let mut jobs = tokio::task::JoinSet::new();
    for order in 1..=ORDERS {
        let (gov, pool) = (gov.clone(), pool.clone());
        jobs.spawn(async move {
            gov.call(|| with_connection(&pool, move |db| place_order(db, order)))
                .when(JobError::is_transient)
                .name("place-order")
                .await
        });
    }
    let (mut placed, wave) = (0, Instant::now());
    while let Some(joined) = jobs.join_next().await {
        match joined? {
            Ok(()) => placed += 1,
            Err(error) => println!("  an order failed: {error}"),
        }
    }
    let wave = wave.elapsed();
    let stats = pool.status();
    println!(
        "1. {placed} of {ORDERS} orders placed at once in {:.0} ms, through {} connections ({} opened)",
        wave.as_secs_f64() * 1000.0,
        stats.connections,
        stats.created
    );

    // 2. The books balance.
    let expected_cents: u64 = (1..=ORDERS).map(price).sum();
    let books = gov.run(|| with_connection(&pool, count)).await?;
    println!(
        "2. count on connection #{}: {} orders worth {:.2}; the totals table agrees: {} orders worth {:.2}",
        books.connection,
        books.orders,
        books.cents as f64 / 100.0,
        books.totals_orders,
        books.totals_cents as f64 / 100.0
    );
    let balanced = books == Books { connection: books.connection, ..books_of(ORDERS, expected_cents) };

    // 3. A connection goes back inside a transaction; the pre-ping catches it.
    let declined = ORDERS + 1;
    let job = gov
        .call(|| with_connection(&pool, move |db| place_order_and_forget_the_transaction(db, declined)))
        .when(JobError::is_transient)
        .name("buggy-order")
        .await;
    match &job {
        Err(Error::Operation(error)) => {
            println!(
                "3. a buggy job: {error}; it returned before COMMIT, its connection went back mid-transaction"
            )
        }
        other => return Err(format!("the buggy job should fail with its own error, not {other:?}").into()),
    }
    let after = gov.run(|| with_connection(&pool, count)).await?;
    println!(
        "   the next query got connection #{} instead: {} orders, order {declined} is not among them",
        after.connection, after.orders
    );
    // Had the broken connection lived on, it would still hold the write lock and this write
    // would wait out the busy timeout and fail with "database is locked".
    gov.call(|| with_connection(&pool, move |db| place_order(db, declined)))
        .when(JobError::is_transient)
        .name("place-order")
        .await?;
    let last = gov.run(|| with_connection(&pool, count)).await?;
    println!(
        "   order {declined} placed again, properly: closing the broken connection freed the write lock; now {} orders worth {:.2}, totals agree: {}",
        last.orders,
        last.cents as f64 / 100.0,
        (last.totals_orders, last.totals_cents) == (last.orders, last.cents)
    );
    let expected_cents = expected_cents + price(declined);
    let caught = pool.status().check_failed == 1
        && after.orders == ORDERS
        && last == Books { connection: last.connection, ..books_of(ORDERS + 1, expected_cents) };

    // 4. Summary, status, shutdown.
    let stats = pool.status();
    let workers = gov.status().workers;
    println!("\nsummary");
    let rows = [
        ("governed calls completed", workers.completed),
        ("governed calls failed (the buggy job)", workers.failed),
        ("retries (database is locked)", workers.retries),
        ("connections opened by the manager", manager.opened.load(Ordering::Relaxed)),
        ("pre-ping failures (destroyed, replaced)", stats.check_failed),
        ("connections destroyed before shutdown", stats.destroyed),
        ("connections idle in the pool", stats.idle as u64),
    ];
    for (label, value) in rows {
        println!("  {label:<42} {value:>4}");
    }
    let status = serde_json::to_value(gov.status())?;
    println!(
        "\nstatus() excerpt:\n{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "pool": status["pool"],
            "pools": { "shop": {
                "created": status["pools"]["shop"]["created"],
                "destroyed": status["pools"]["shop"]["destroyed"],
                "check_failed": status["pools"]["shop"]["check_failed"],
                "utilisation": status["pools"]["shop"]["utilisation"],
            } },
            "workers": { "completed": status["workers"]["completed"], "failed": status["workers"]["failed"] },
        }))?
    );

    let report = gov.shutdown(Duration::from_secs(5)).await;
    let (opened, closed) = (manager.opened.load(Ordering::Relaxed), manager.closed.load(Ordering::Relaxed));
    // The leak check SQLite itself offers: the last connection to a WAL database to close
    // checkpoints it and removes its `-wal` and `-shm` files — unless another connection is
    // still open. (The pool's connections closed at the same moment, each seeing the others,
    // so they may have left them.) One more connection, which reads the database (a connection
    // that never read has not opened the WAL) and closes, must find itself the last.
    let last = Connection::open(&manager.path)?;
    let stored: u64 = last.query_row("SELECT count(*) FROM orders", [], |row| row.get(0))?;
    last.close().map_err(|(_, error)| error)?;
    let left = files_in(&dir)?;
    println!(
        "\nshutdown in {:?}: {} pool closed, {} idle connections destroyed, {} still leased",
        report.elapsed,
        report.pools_closed,
        report.pool_connections_destroyed,
        report.pool_connections_still_leased
    );
    println!("connections opened {opened}, closed {closed}");
    println!(
        "one last connection of our own: {stored} orders stored; after it closed, files left: {}",
        left.join(", ")
    );
    println!("wall time: {} ms", started.elapsed().as_millis());
    std::fs::remove_dir_all(&dir)?;

    if placed != ORDERS
        || !balanced
        || !caught
        || opened != closed
        || stored != ORDERS + 1
        || left != ["shop.db"]
    {
        return Err("an order was lost, the books do not balance, or a connection was left open".into());
    }
    Ok(())
}

/// The health monitor as it comes, except that it never sheds this demo's calls: the CPU it
/// reads is the whole machine's, and another build on it is no reason to refuse a database
/// write here. Degraded health still narrows the worker limit.
fn calm_health() -> HealthConfig {
    let mut health = HealthConfig::default();
    health.shed_when_critical = false;
    health
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}
