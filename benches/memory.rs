//! Memory, measured as resident set size (RSS, from `/proc/self/statm`) before and after:
//!
//! - bytes per queued call: 100,000 calls waiting for the one worker of a governor whose
//!   worker is held — as bare `gov.run` futures (boxed, polled once), as Tokio tasks running
//!   `gov.run`, and as `gov.spawn` tasks — beside the same number of waiters on a bare
//!   `tokio::sync::Semaphore` with its one permit held;
//! - a governor's resident footprint with every part on (worker pool, retry, default and keyed
//!   breakers, ports with the host check, the health monitor with the default `sysinfo`
//!   sampler, a custom check and recovery hooks), once it has served a call, a keyed call, a
//!   spawn, a blocking task and two port leases and has taken its first health sample.
//!
//! Not a timed benchmark: a plain `main` (`harness = false`). Each scenario runs in a child
//! process of its own (this binary, re-run with `--scenario NAME`), so memory freed by one
//! scenario cannot be reused by the next and hide its cost. Results are printed as a table
//! and written to `target/criterion/memory/memory.json` for `scripts/bench-ratios`.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bursar::Governor;
use bursar::health::{CheckResult, HealthConfig, HealthLevel};
use tokio::sync::Semaphore;

/// Calls waiting in each queue scenario.
const WAITING: usize = 100_000;
/// Governors built after the first one, to average the cost of one more.
const MORE_GOVERNORS: usize = 20;

/// Resident set size of this process, in bytes.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm is readable");
    let pages: usize =
        statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("a resident field");
    pages * page_size()
}

/// The kernel's page size, as `/proc/self/smaps` reports it for this process's first mapping
/// (4 KiB on every machine this has run on).
fn page_size() -> usize {
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|smaps| {
            let line = smaps.lines().find_map(|line| line.strip_prefix("KernelPageSize:"))?;
            line.trim().trim_end_matches("kB").trim().parse::<usize>().ok()
        })
        .map_or(4096, |kib| kib * 1024)
}

/// A governor with one worker and room for every waiter; health off so nothing else allocates.
fn one_worker_governor() -> Governor {
    Governor::builder()
        .max_workers(1)
        .queue_limit(WAITING + 1)
        .health(HealthConfig::disabled())
        .build()
        .expect("a valid governor")
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

type Boxed<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Holds `WAITING` futures made by `make`, each polled once, and returns
/// (bytes per future, size of one future's state).
fn queued_futures<'a>(make: impl Fn() -> Boxed<'a>, check: impl FnOnce()) -> (f64, usize) {
    // The slots are written before the first reading so their pages are already resident.
    let mut waiting: Vec<Option<Boxed<'a>>> = std::iter::repeat_with(|| None).take(WAITING).collect();
    let before = resident_bytes();
    let mut size = 0;
    for slot in &mut waiting {
        let mut future = make();
        size = std::mem::size_of_val(&*future);
        assert!(poll_once(future.as_mut()).is_pending(), "the worker is held, so every call waits");
        *slot = Some(future);
    }
    let after = resident_bytes();
    check();
    black_box(&waiting);
    ((after - before) as f64 / WAITING as f64, size)
}

fn run_futures() -> (f64, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let _context = runtime.enter();
    let gov = one_worker_governor();
    let mut holder: Boxed<'_> = Box::pin(async {
        let _ = gov.run(std::future::pending::<Result<(), std::io::Error>>).await;
    });
    assert!(poll_once(holder.as_mut()).is_pending());
    queued_futures(
        || {
            Box::pin(async {
                let _ = black_box(gov.run(|| async { Ok::<_, std::io::Error>(1u64) }).await);
            })
        },
        || assert_eq!(gov.status().workers.queued, WAITING),
    )
}

fn semaphore_futures() -> (f64, usize) {
    let semaphore = Semaphore::new(1);
    let _held = semaphore.try_acquire().expect("a free permit");
    queued_futures(
        || {
            Box::pin(async {
                let _permit = semaphore.acquire().await.expect("open");
                black_box(Ok::<_, std::io::Error>(1u64)).ok();
            })
        },
        || {},
    )
}

/// Spawns `WAITING` tasks with `spawn` on a current-thread runtime, lets each run until it
/// waits, checks with `queued` that they all wait, and returns bytes per task.
fn queued_tasks(runtime: &tokio::runtime::Runtime, spawn: impl Fn(), queued: impl Fn() -> usize) -> f64 {
    runtime.block_on(async {
        let before = resident_bytes();
        for _ in 0..WAITING {
            spawn();
        }
        // The scheduler runs its tasks in the order they were spawned: once this last one has
        // run, every task above has been polled and is waiting.
        let (ran, all_polled) = tokio::sync::oneshot::channel();
        drop(tokio::spawn(async move { ran.send(()).expect("the receiver waits") }));
        all_polled.await.expect("the marker task ran");
        let after = resident_bytes();
        assert_eq!(queued(), WAITING, "every task waits for the held worker");
        (after - before) as f64 / WAITING as f64
    })
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

fn run_tasks() -> f64 {
    let runtime = current_thread();
    let gov = runtime.block_on(async { one_worker_governor() });
    let holder = gov.clone();
    runtime.spawn(async move { holder.run(std::future::pending::<Result<(), std::io::Error>>).await });
    runtime.block_on(async {
        while gov.status().workers.active == 0 {
            tokio::task::yield_now().await;
        }
    });
    let queued = || gov.status().workers.queued;
    let spawn = || {
        let gov = gov.clone();
        drop(tokio::spawn(
            async move { black_box(gov.run(|| async { Ok::<_, std::io::Error>(1u64) }).await) },
        ));
    };
    queued_tasks(&runtime, spawn, queued)
}

fn spawn_tasks() -> f64 {
    let runtime = current_thread();
    let gov = runtime.block_on(async { one_worker_governor() });
    let _holder = runtime.block_on(async { gov.spawn(std::future::pending::<Result<(), std::io::Error>>()) });
    let queued = || gov.status().workers.queued;
    let spawn = || drop(gov.spawn(async { Ok::<_, std::io::Error>(black_box(1u64)) }).expect("admitted"));
    queued_tasks(&runtime, spawn, queued)
}

fn semaphore_tasks() -> f64 {
    let runtime = current_thread();
    let semaphore = Arc::new(Semaphore::new(1));
    let _held = Arc::clone(&semaphore).try_acquire_owned().expect("a free permit");
    let spawn = || {
        let semaphore = Arc::clone(&semaphore);
        drop(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("open");
            black_box(Ok::<_, std::io::Error>(1u64)).ok();
        }));
    };
    // The semaphore does not count its waiters; the marker task of `queued_tasks` has
    // already made sure every task was polled.
    queued_tasks(&runtime, spawn, || WAITING)
}

/// Builds a governor with every part on and makes it use each part once.
async fn busy_governor() -> (Governor, Vec<bursar::ports::PortLease>) {
    let gov = Governor::builder()
        .health_check("database", || async { CheckResult::healthy() })
        .on_error("webdriver", |_report| async { true })
        .on_critical(|| async {})
        .on_breaker_transition(|_name, _transition| {})
        .build()
        .expect("a valid governor");
    gov.run(|| async { Ok::<_, std::io::Error>(1u64) }).await.expect("a call");
    gov.call(|| async { Ok::<_, std::io::Error>(1u64) }).key("site").await.expect("a keyed call");
    gov.spawn(async { Ok::<_, std::io::Error>(1u64) }).expect("admitted").await.expect("a task");
    gov.spawn_blocking(|| Ok::<_, std::io::Error>(1u64)).expect("admitted").await.expect("a thread");
    let leases =
        vec![gov.ports().allocate("vnc").expect("a port"), gov.ports().allocate("ws").expect("a port")];
    while gov.health_level() == HealthLevel::Unknown {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    black_box(gov.status());
    (gov, leases)
}

/// (bytes for the first governor, mean bytes for each of `MORE_GOVERNORS` more).
fn governor_footprint() -> (f64, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let before = resident_bytes();
        let first = busy_governor().await;
        let after_first = resident_bytes();
        let mut more = Vec::with_capacity(MORE_GOVERNORS);
        for _ in 0..MORE_GOVERNORS {
            more.push(busy_governor().await);
        }
        let after_more = resident_bytes();
        black_box((&first, &more));
        ((after_first - before) as f64, (after_more - after_first) as f64 / MORE_GOVERNORS as f64)
    })
}

/// Runs one scenario in this process and prints its result as one line.
fn scenario(name: &str) {
    match name {
        "run-futures" => {
            let (bytes, size) = run_futures();
            println!("{bytes:.1} {size}");
        }
        "semaphore-futures" => {
            let (bytes, size) = semaphore_futures();
            println!("{bytes:.1} {size}");
        }
        "run-tasks" => println!("{:.1}", run_tasks()),
        "spawn" => println!("{:.1}", spawn_tasks()),
        "semaphore-tasks" => println!("{:.1}", semaphore_tasks()),
        "governor" => {
            let (first, more) = governor_footprint();
            println!("{first:.0} {more:.0}");
        }
        other => panic!("no scenario {other}"),
    }
}

/// Runs `name` in a child process and returns the numbers it printed.
fn in_child(name: &str) -> Vec<f64> {
    let exe = std::env::current_exe().expect("this binary");
    let output = Command::new(exe).args(["--scenario", name]).output().expect("the scenario runs");
    assert!(output.status.success(), "scenario {name} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|field| field.parse().expect("a number"))
        .collect()
}

/// Where criterion keeps its results: `<target>/criterion`, found from this binary's path
/// (`<target>/release/deps/memory-…`).
fn criterion_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("this binary");
    let target = exe.ancestors().nth(3).expect("the binary lives in <target>/<profile>/deps");
    target.join("criterion")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--scenario") {
        scenario(&args[at + 1]);
        return;
    }
    if args.iter().any(|arg| arg == "--list") {
        println!("memory: bench");
        return;
    }
    let run_futures = in_child("run-futures");
    let semaphore_futures = in_child("semaphore-futures");
    let run_tasks = in_child("run-tasks")[0];
    let spawn = in_child("spawn")[0];
    let semaphore_tasks = in_child("semaphore-tasks")[0];
    let governor = in_child("governor");
    println!("memory: bytes per queued call ({WAITING} waiting behind a held worker), RSS delta");
    println!(
        "  bursar gov.run future, boxed     {:>8.1} B  (future state {} B)",
        run_futures[0], run_futures[1]
    );
    println!(
        "  semaphore acquire future, boxed  {:>8.1} B  (future state {} B)",
        semaphore_futures[0], semaphore_futures[1]
    );
    println!("  tokio task running gov.run       {run_tasks:>8.1} B");
    println!("  bursar gov.spawn task            {spawn:>8.1} B");
    println!("  tokio task + semaphore acquire   {semaphore_tasks:>8.1} B");
    println!("memory: governor with every part on, RSS delta");
    println!("  first governor                   {:>8.0} B", governor[0]);
    println!("  each of {MORE_GOVERNORS} more                   {:>8.0} B", governor[1]);
    let json = format!(
        concat!(
            "{{\"waiting\": {}, \"run_future\": {}, \"run_future_state\": {}, \"semaphore_future\": {}, ",
            "\"semaphore_future_state\": {}, \"run_task\": {}, \"spawn_task\": {}, \"semaphore_task\": {}, ",
            "\"governor_first\": {}, \"governor_more\": {}, \"more_governors\": {}}}\n"
        ),
        WAITING,
        run_futures[0],
        run_futures[1],
        semaphore_futures[0],
        semaphore_futures[1],
        run_tasks,
        spawn,
        semaphore_tasks,
        governor[0],
        governor[1],
        MORE_GOVERNORS,
    );
    let dir = criterion_dir().join("memory");
    std::fs::create_dir_all(&dir).expect("the criterion folder is writable");
    std::fs::write(dir.join("memory.json"), json).expect("memory.json is writable");
}
