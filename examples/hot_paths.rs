//! bursar's hot paths, one at a time, for counting their instructions under callgrind.
//!
//! `scripts/callgrind-guard` runs `hot_paths <path> <iterations>` under
//! `valgrind --tool=callgrind` at two iteration counts and divides the difference of the two
//! instruction counts by the difference of the iterations, which cancels everything the process
//! does once (start-up, building the runtime and the governor, the first call's allocations).
//! The per-iteration counts are compared with `benches/callgrind-baseline.json`.
//!
//! Every path runs on a current-thread runtime, through the public API only, as a user calls
//! it, with the health monitor off (`HealthConfig::disabled()`) so no sample lands between the
//! calls; every other setting is bursar's default. No iteration draws a random number or
//! waits for a timer, so the count per iteration is the same from run to run, but for the
//! `spawn` path's two clock reads an iteration, whose cost varies by a few instructions. The
//! one background task of a default governor, the retry budget's settler, ticks once a second
//! of wall time: the guard's runs take well under a second each under callgrind, and a run 50
//! times longer, with several ticks, counted 0.1 % more per iteration.
//!
//! | path | one iteration |
//! |---|---|
//! | `gov_run` | `gov.run(\|\| async { Ok(black_box(i)) })` |
//! | `adaptive_run` | the same, on a governor with an adaptive limit (`LimitKind::Gradient`, defaults) |
//! | `keyed_call` | `gov.call(op).key("api.example.com").run()`, the same op (the key of `benches/governed_call.rs`) |
//! | `keyed_breaker` | `gov.call(op).breaker(&site).run()`, with `site = gov.breaker_for("site")` kept |
//! | `breaker` | a standalone `CircuitBreaker`'s closed path: `try_acquire()`, then `success()` |
//! | `pool` | `Pool::get` of the connection idle on one key, and dropping the lease |
//! | `deadpool_pool` | the same on deadpool's managed pool (its `recycle` free too), the peer of `pool` |
//! | `spawn` | `gov.spawn(async { Ok(black_box(i)) })`, then awaiting its handle |
//! | `tower` | `ready().call(i)` on a `GovernorLayer` around a `tower::service_fn` |
//! | `tower_peer` | the same on tower's `concurrency_limit(20)` + `timeout(300 s)`, the peer of `tower` |
//!
//! Usage (the `tower` path needs the `tower` feature, so the example does):
//!
//! ```sh
//! cargo run --release --features tower --example hot_paths -- gov_run 4000
//! cargo run --release --features tower --example hot_paths -- --list
//! cargo run --features tower --example hot_paths   # every path 1,000 times, timed
//! ```
//!
//! Without arguments it runs every path 1,000 times and prints the time each took: a quick
//! check that every path works (`.ci/run` runs every example that way), not a benchmark.

use std::error::Error;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use bursar::breaker::CircuitBreaker;
use bursar::health::HealthConfig;
use bursar::pool::Pool;
use bursar::tower::GovernorLayer;
use bursar::{Governor, LimitKind};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[path = "../benches/support/free_pools.rs"]
mod free_pools;
use free_pools::{Free, FreeDeadpool};

/// Whatever a path fails with.
type Failure = Box<dyn Error + Send + Sync>;

/// Every path's name and what one iteration does (`--list` prints the names).
const PATHS: [(&str, &str); 10] = [
    ("gov_run", "gov.run(|| async { Ok(i) })"),
    ("adaptive_run", "gov.run(|| async { Ok(i) }), limit = \"gradient\""),
    ("keyed_call", "gov.call(op).key(\"api.example.com\").run()"),
    ("keyed_breaker", "gov.call(op).breaker(&site).run(), site = gov.breaker_for(\"site\")"),
    ("breaker", "CircuitBreaker: try_acquire(), success()"),
    ("pool", "Pool::get of an idle connection, one key, lease dropped"),
    ("deadpool_pool", "deadpool::managed::Pool::get of an idle object, dropped"),
    ("spawn", "gov.spawn(async { Ok(i) }), handle awaited"),
    ("tower", "GovernorLayer around a service_fn: ready().call(i)"),
    ("tower_peer", "tower concurrency_limit + timeout around a service_fn: ready().call(i)"),
];

/// Iterations of each path when the example runs without arguments.
const SMOKE_ITERATIONS: u64 = 1_000;

/// The operation of the governed paths: succeeds at once with its input.
async fn operation(i: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(i))
}

/// `gov.run` of an operation that succeeds at once: the governed call's hot path.
async fn gov_run(gov: &Governor, iterations: u64) -> Result<(), Failure> {
    for i in 0..iterations {
        black_box(gov.run(|| operation(i)).await?);
    }
    Ok(())
}

/// The same call through the builder with a breaker key: the keyed registry's lookup on top
/// of the hot path.
async fn keyed_call(gov: &Governor, iterations: u64) -> Result<(), Failure> {
    for i in 0..iterations {
        black_box(gov.call(|| operation(i)).key("api.example.com").run().await?);
    }
    Ok(())
}

/// The same keyed call with the key's breaker looked up once and kept.
async fn keyed_breaker(gov: &Governor, iterations: u64) -> Result<(), Failure> {
    let site = gov.breaker_for("site");
    for i in 0..iterations {
        black_box(gov.call(|| operation(i)).breaker(&site).run().await?);
    }
    Ok(())
}

/// A standalone breaker's closed path, as a user calls it around their own work.
fn breaker(iterations: u64) -> Result<(), Failure> {
    let breaker = CircuitBreaker::default();
    for _ in 0..iterations {
        let permit = black_box(&breaker).try_acquire()?;
        permit.success();
    }
    Ok(())
}

/// A warm pool checkout and return on one key.
async fn pool(iterations: u64) -> Result<(), Failure> {
    let pool = Pool::builder(Free).build()?;
    drop(pool.get(7).await?); // one idle connection on the key; every iteration reuses it
    for _ in 0..iterations {
        black_box(*pool.get(7).await?);
    }
    Ok(())
}

/// The `pool` path on deadpool, its peer, so the two counts compare in one run.
async fn deadpool_pool(iterations: u64) -> Result<(), Failure> {
    let pool: deadpool::managed::Pool<FreeDeadpool> =
        deadpool::managed::Pool::builder(FreeDeadpool).build()?;
    drop(pool.get().await.map_err(|error| format!("{error:?}"))?); // one idle object
    for _ in 0..iterations {
        black_box(*pool.get().await.map_err(|error| format!("{error:?}"))?);
    }
    Ok(())
}

/// A spawned task under the worker pool, its handle awaited.
async fn spawn(gov: &Governor, iterations: u64) -> Result<(), Failure> {
    for i in 0..iterations {
        let handle = gov.spawn(operation(i))?;
        black_box(handle.await?);
    }
    Ok(())
}

/// A tower service behind the governor's call path, called as a server calls its stack.
async fn tower(gov: &Governor, iterations: u64) -> Result<(), Failure> {
    let mut service = ServiceBuilder::new().layer(GovernorLayer::new(gov)).service(service_fn(operation));
    for i in 0..iterations {
        black_box(service.ready().await?.call(i).await?);
    }
    Ok(())
}

/// The `tower` path on tower's own `concurrency_limit` + `timeout`, its peer.
async fn tower_peer(iterations: u64) -> Result<(), Failure> {
    let mut service = ServiceBuilder::new()
        .concurrency_limit(20)
        .timeout(std::time::Duration::from_secs(300))
        .service(service_fn(operation));
    for i in 0..iterations {
        black_box(service.ready().await?.call(i).await?);
    }
    Ok(())
}

/// Runs `iterations` of the path `name` on a runtime of its own. Each path is driven by a
/// `block_on` of its own, so its loop is compiled apart from the others': a change to one
/// path cannot move another's instruction count through the code they would share.
fn run(name: &str, iterations: u64) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let governor = |limit| {
        runtime.block_on(async { Governor::builder().health(HealthConfig::disabled()).limit(limit).build() })
    };
    let gov = governor(LimitKind::Fixed)?;
    match name {
        "gov_run" => runtime.block_on(gov_run(&gov, iterations)),
        "adaptive_run" => runtime.block_on(gov_run(&governor(LimitKind::Gradient)?, iterations)),
        "keyed_call" => runtime.block_on(keyed_call(&gov, iterations)),
        "keyed_breaker" => runtime.block_on(keyed_breaker(&gov, iterations)),
        "breaker" => breaker(iterations),
        "pool" => runtime.block_on(pool(iterations)),
        "deadpool_pool" => runtime.block_on(deadpool_pool(iterations)),
        "spawn" => runtime.block_on(spawn(&gov, iterations)),
        "tower" => runtime.block_on(tower(&gov, iterations)),
        "tower_peer" => runtime.block_on(tower_peer(iterations)),
        _ => Err(format!("no hot path is named {name:?}; `--list` names them").into()),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: hot_paths [<path> <iterations> | --list]");
    eprintln!("paths:");
    for (name, what) in PATHS {
        eprintln!("  {name:<13} {what}");
    }
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => PATHS.iter().try_for_each(|(name, what)| {
            let started = Instant::now();
            run(name, SMOKE_ITERATIONS)?;
            let each = started.elapsed() / u32::try_from(SMOKE_ITERATIONS)?;
            println!("{name:<13} {SMOKE_ITERATIONS} iterations, {each:>10.1?} each (with set-up): {what}");
            Ok(())
        }),
        [list] if list == "--list" => {
            PATHS.iter().for_each(|(name, _)| println!("{name}"));
            Ok(())
        }
        [name, iterations] => match iterations.parse() {
            Ok(iterations) => run(name, iterations),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hot_paths: {error}");
            ExitCode::FAILURE
        }
    }
}
