//! A status server a person can curl: the health, the two probes, the whole `status()` and
//! Prometheus metrics of a governor that is busy with some demo work.
//!
//! ```text
//! cargo run --all-features --example status_server                 # serves 127.0.0.1:8080
//! cargo run --all-features --example status_server -- 0.0.0.0:9000 # another address
//! STATUS_SERVER_ADDR=127.0.0.1:9000 cargo run --all-features --example status_server
//! cargo run --all-features --example status_server -- --check      # ask each route once, exit
//! cargo run --all-features --example status_server -- --outage 10:30 # `search` down 10 s to 40 s
//! ```
//!
//! While it serves (Ctrl-C stops it), from another terminal:
//!
//! ```text
//! curl -i http://127.0.0.1:8080/health             # 200 or 503: the level, readings, totals
//! curl -i http://127.0.0.1:8080/health/live        # {"live":true}: the liveness probe
//! curl -i http://127.0.0.1:8080/health/ready       # {"ready":true,"status":"healthy"}
//! curl -s http://127.0.0.1:8080/api/system/status  # the whole status() snapshot as JSON
//! curl -s http://127.0.0.1:8080/metrics            # bursar_* metrics, Prometheus text format
//! ```
//!
//! # When `/health` is 503
//!
//! `/health` answers 200 exactly when the governor is both live ([`Governor::liveness`]: its
//! monitor gets readings) and ready ([`Governor::readiness`]: the level takes traffic and the
//! governor is not shutting down) — the answer an orchestrator's two probes would give together:
//!
//! | level | `/health` | `/health/ready` | `/health/live` |
//! |---|---|---|---|
//! | `healthy`, `degraded` | 200 | 200 | 200 |
//! | `unhealthy`, `critical` | 503 | 503 | 200 |
//! | `unknown` (monitor on, no reading yet) | 503 | 503 | 200 |
//! | `unknown` (monitor off: nothing is gated) | 200 | 200 | 200 |
//! | any, while shutting down | 503 | 503 | 200 |
//! | any, monitor stuck for three intervals | 503 | as the level says | 503 |
//!
//! The routes themselves are in `routes.rs`; `tests/status_server.rs` serves the same router.
//!
//! # The demo work
//!
//! A job starts every 40 ms and runs a governed call of 20–250 ms under the breaker of its key
//! (`search`, or `checkout` for every third job, which also holds a VNC port while it runs — a
//! released port rests 5 s, so about 40 of the range's 100 are resting at any time). Every 20th
//! job loses its connection on the first attempt and is retried; every 50th fails for good (not
//! retried). The health monitor samples the real machine every second, and judges the error
//! rate over the last 10 s. An open breaker waits 3 s before its probe.
//!
//! With `--outage START:LENGTH` (seconds) the `search` service is down from `START` seconds
//! after the server starts, for `LENGTH` seconds: every `search` attempt fails with "connection
//! refused", the `search` breaker opens (`bursar_breaker_state{key="search"} 2`) and its probes
//! fail every 3 s, until the first probe after the outage closes it. `checkout` jobs go on.
//! The health monitor then leaves the machine's CPU and memory out (it judges the error rate
//! and the breakers), so the outage is the only trouble on a busy machine too.
//! `tests/prometheus.rs` drives this with a real Prometheus evaluating
//! `contrib/prometheus/alerts.yml`: the breaker alert fires, then resolves.
//!
//! With `--check` the server binds an ephemeral port instead, waits (at most 5 s) for the first
//! health reading and a few finished calls, asks each route once with a real HTTP client, prints
//! each status code and the first lines of each answer, and exits non-zero if an answer is wrong.

mod client;
mod routes;

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::http::StatusCode;
use bursar::Governor;
use bursar::health::{HealthConfig, HealthLevel, Readings, Sampler};
use bursar::retry::ExponentialBackoff;
use client::{Answer, StatusClient};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, timeout};

const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// The environment variable that overrides [`DEFAULT_ADDR`] (an argument overrides both).
const ADDR_VAR: &str = "STATUS_SERVER_ADDR";
const MAX_WORKERS: usize = 10;
/// A new demo job starts this often.
const ARRIVAL: Duration = Duration::from_millis(40);
/// How long `--check` waits for the first health reading and the first finished calls.
const SETTLE: Duration = Duration::from_secs(5);
/// Finished calls `--check` waits for, so the counters it shows have moved.
const SETTLE_CALLS: u64 = 3;
/// How many lines of each answer `--check` prints.
const PREVIEW_LINES: usize = 8;
/// The width `--check` cuts a one-line JSON answer to.
const PREVIEW_WIDTH: usize = 100;

/// Whatever stops the example: a bad argument, a port in use, a failed request.
type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Tells a right answer from a wrong one, saying what is wrong.
type Verdict = fn(&Answer) -> Result<(), String>;

/// Each route and how `--check` judges its answer.
const ROUTES: [(&str, Verdict); 5] = [
    ("/health", check_health),
    ("/health/live", check_live),
    ("/health/ready", check_ready),
    ("/api/system/status", check_status),
    ("/metrics", check_metrics),
];

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter("bursar=warn").with_target(false).init();
    match run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("status_server: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, AnyError> {
    let options = Options::from_args()?;
    let prometheus = routes::install_prometheus()?;
    let governor = demo_governor(options.outage)?;
    let demo = tokio::spawn(demo_work(governor.clone(), options.outage));
    let upkeep = tokio::spawn(upkeep(prometheus.clone()));
    let code = if options.check {
        check(&governor, prometheus).await?
    } else {
        serve(options.addr, &governor, prometheus).await?;
        ExitCode::SUCCESS
    };
    demo.abort();
    upkeep.abort();
    let report = governor.shutdown(Duration::from_secs(1)).await;
    println!("shut down: {} calls in flight finished, {} cancelled", report.finished, report.cancelled);
    Ok(code)
}

/// The command line: `[ADDR] [--check] [--outage START:LENGTH]`.
struct Options {
    check: bool,
    addr: SocketAddr,
    outage: Outage,
}

/// When the `search` service is down, counted from the server's start: `--outage START:LENGTH`.
#[derive(Debug, Clone, Copy)]
struct Outage {
    from: Instant,
    until: Instant,
}

impl Outage {
    /// No outage: an empty window.
    fn none() -> Outage {
        let now = Instant::now();
        Outage { from: now, until: now }
    }

    /// `START:LENGTH` in whole seconds from now.
    fn parse(text: &str) -> Result<Outage, String> {
        let seconds = |part: &str| part.parse::<u64>().map(Duration::from_secs).ok();
        let window =
            text.split_once(':').and_then(|(start, length)| Some((seconds(start)?, seconds(length)?)));
        let (start, length) =
            window.ok_or_else(|| format!("bad outage {text:?}: expected START:LENGTH in seconds"))?;
        let from = Instant::now() + start;
        Ok(Outage { from, until: from + length })
    }

    fn is_down(&self, now: Instant) -> bool {
        self.from <= now && now < self.until
    }
}

impl Options {
    fn from_args() -> Result<Options, String> {
        let mut check = false;
        let mut outage = Outage::none();
        let mut addr = std::env::var(ADDR_VAR).ok();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--check" => check = true,
                "--outage" => outage = Outage::parse(&args.next().unwrap_or_default())?,
                flag if flag.starts_with('-') => {
                    return Err(format!(
                        "unknown option {flag}; usage: status_server [ADDR] [--check] [--outage START:LENGTH]"
                    ));
                }
                _ => addr = Some(arg),
            }
        }
        let addr = addr.as_deref().unwrap_or(DEFAULT_ADDR);
        let addr = addr.parse().map_err(|error| format!("bad address {addr:?}: {error}"))?;
        Ok(Options { check, addr, outage })
    }
}

/// Ten workers, the real machine sampled every second (not during an outage demo), quick
/// retries, a 3 s open breaker.
fn demo_governor(outage: Outage) -> Result<Governor, bursar::BuildError> {
    let health =
        HealthConfig::default().interval(Duration::from_secs(1)).error_window(Duration::from_secs(10));
    let backoff = ExponentialBackoff::new()
        .with_initial_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(1));
    let builder = Governor::builder()
        .max_workers(MAX_WORKERS)
        .health(health)
        .backoff(backoff)
        .open_wait(Duration::from_secs(3));
    match outage.from == outage.until {
        true => builder.build(),
        false => builder.sampler(NoMachineReadings).build(),
    }
}

/// Reads neither CPU nor memory: health comes from the error rate and the checks alone.
struct NoMachineReadings;

impl Sampler for NoMachineReadings {
    async fn sample(&mut self) -> Readings {
        Readings::default()
    }
}

/// Starts a demo job every [`ARRIVAL`] until aborted.
async fn demo_work(governor: Governor, outage: Outage) {
    let mut ticks = tokio::time::interval(ARRIVAL);
    let mut reported = false;
    for job in 0_u64.. {
        ticks.tick().await;
        let down = outage.is_down(Instant::now());
        if down != reported {
            println!("the search service is {}", if down { "down" } else { "back" });
            reported = down;
        }
        tokio::spawn(demo_job(governor.clone(), job, outage));
    }
}

/// One job: a governed call of 20–250 ms under its key's breaker; a `checkout` job holds a VNC
/// port meanwhile. The outcome is counted by the governor (that is what the endpoints show), so
/// the job drops it.
async fn demo_job(governor: Governor, job: u64, outage: Outage) {
    let checkout = job % 3 == 0;
    let _vnc = if checkout {
        match governor.ports().allocate("vnc") {
            Ok(lease) => Some(lease),
            Err(error) => {
                eprintln!("job {job} skipped: {error}");
                return;
            }
        }
    } else {
        None
    };
    let key = if checkout { "checkout" } else { "search" };
    let mut attempt = 0_u32;
    let work = move || {
        attempt += 1;
        let first_attempt = attempt == 1;
        async move {
            sleep(Duration::from_millis(20 + job * 37 % 230)).await;
            match job {
                _ if !checkout && outage.is_down(Instant::now()) => {
                    Err(io::Error::from(io::ErrorKind::ConnectionRefused))
                }
                _ if job % 50 == 49 => Err(io::Error::new(io::ErrorKind::NotFound, "no such page")),
                _ if job % 20 == 9 && first_attempt => Err(io::Error::from(io::ErrorKind::ConnectionReset)),
                _ => Ok(()),
            }
        }
    };
    let permanent = |error: &io::Error| error.kind() == io::ErrorKind::NotFound;
    let _outcome = governor.call(work).when(|error| !permanent(error)).key(key).name("demo").await;
}

/// Drains the recorder's histograms now and then, as `install_recorder` leaves that to us.
async fn upkeep(prometheus: PrometheusHandle) {
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticks.tick().await;
        prometheus.run_upkeep();
    }
}

/// Serves on `addr` until Ctrl-C.
async fn serve(addr: SocketAddr, governor: &Governor, prometheus: PrometheusHandle) -> Result<(), AnyError> {
    let listener =
        TcpListener::bind(addr).await.map_err(|error| format!("cannot listen on {addr}: {error}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("bursar status server on {url} (Ctrl-C stops it); try:");
    for (route, _) in ROUTES {
        println!("    curl -i {url}{route}");
    }
    let app = routes::router(governor.clone(), prometheus);
    axum::serve(listener, app).with_graceful_shutdown(ctrl_c()).await?;
    println!("\nstopping");
    Ok(())
}

async fn ctrl_c() {
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("cannot listen for Ctrl-C ({error}); stop the process another way");
        std::future::pending::<()>().await;
    }
}

/// `--check`: serves on an ephemeral port, asks each route once, says whether each answer is right.
async fn check(governor: &Governor, prometheus: PrometheusHandle) -> Result<ExitCode, AnyError> {
    let started = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = routes::router(governor.clone(), prometheus);
    let stopped = async { stopped.await.unwrap_or_default() };
    let server = tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stopped).into_future());
    settle(governor).await;
    let status = governor.status();
    println!(
        "asking http://{addr} (health {}, {} calls finished)\n",
        status.health.status, status.workers.completed
    );
    let client = StatusClient::new(addr);
    let mut wrong = Vec::new();
    for (route, is_right) in ROUTES {
        let answer = client.get(route).await?;
        print_answer(route, &answer);
        if let Err(problem) = is_right(&answer) {
            wrong.push(format!("{route}: {problem}"));
        }
    }
    drop(client);
    let _ = stop.send(());
    server.await??;
    println!("{} routes asked in {:.1} s", ROUTES.len(), started.elapsed().as_secs_f32());
    for problem in &wrong {
        println!("WRONG {problem}");
    }
    Ok(if wrong.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Waits (at most [`SETTLE`]) for the first health reading and [`SETTLE_CALLS`] finished calls.
async fn settle(governor: &Governor) {
    let mut level = governor.watch_health();
    let settled = async {
        let _ = level.wait_for(|level| *level != HealthLevel::Unknown).await;
        while governor.status().workers.completed < SETTLE_CALLS {
            sleep(Duration::from_millis(20)).await;
        }
    };
    if timeout(SETTLE, settled).await.is_err() {
        println!("(not settled within {SETTLE:?}; asking anyway)");
    }
}

/// The status line and the first [`PREVIEW_LINES`] lines of the answer: the JSON as sent (in
/// the server's field order), cut into lines of [`PREVIEW_WIDTH`]; of `/metrics`, the samples
/// without their `# HELP` and `# TYPE` comments.
fn print_answer(route: &str, answer: &Answer) {
    println!("GET {route} -> {} ({})", answer.status, answer.content_type);
    let lines: Vec<String> = if answer.content_type == routes::PROMETHEUS_TEXT {
        let samples = answer.body.lines().filter(|line| !line.is_empty() && !line.starts_with('#'));
        samples.map(str::to_owned).collect()
    } else {
        let chars: Vec<char> = answer.body.chars().collect();
        chars.chunks(PREVIEW_WIDTH).map(String::from_iter).collect()
    };
    for line in lines.iter().take(PREVIEW_LINES) {
        println!("    {line}");
    }
    if lines.len() > PREVIEW_LINES {
        println!("    … {} more lines", lines.len() - PREVIEW_LINES);
    }
    println!();
}

fn check_health(answer: &Answer) -> Result<(), String> {
    let body = json_body(answer)?;
    let ready = ready_at_level(&body)?;
    expect_code(answer, flag(&body, "live")? && ready)
}

fn check_live(answer: &Answer) -> Result<(), String> {
    let body = json_body(answer)?;
    expect_code(answer, flag(&body, "live")?)
}

fn check_ready(answer: &Answer) -> Result<(), String> {
    let body = json_body(answer)?;
    let ready = ready_at_level(&body)?;
    expect_code(answer, ready)
}

fn check_status(answer: &Answer) -> Result<(), String> {
    let body = json_body(answer)?;
    expect_code(answer, true)?;
    match body["workers"]["max_workers"].as_u64() {
        Some(max) if max == MAX_WORKERS as u64 => Ok(()),
        other => Err(format!("workers.max_workers is {other:?}, not {MAX_WORKERS}")),
    }
}

fn check_metrics(answer: &Answer) -> Result<(), String> {
    expect_code(answer, true)?;
    if answer.content_type != routes::PROMETHEUS_TEXT {
        return Err(format!("content type {:?}, not {:?}", answer.content_type, routes::PROMETHEUS_TEXT));
    }
    let max_workers = format!("bursar_workers_max {MAX_WORKERS}");
    let expected = [max_workers.as_str(), "bursar_calls_total{outcome=\"ok\"} ", "bursar_health_level "];
    let missing = expected.iter().find(|start| !answer.body.lines().any(|line| line.starts_with(**start)));
    missing.map_or(Ok(()), |start| Err(format!("no line starting with {start:?}")))
}

/// The body as JSON, checking the content type says so.
fn json_body(answer: &Answer) -> Result<Value, String> {
    if answer.content_type != "application/json" {
        return Err(format!("content type {:?}, not application/json", answer.content_type));
    }
    answer.json().map_err(|error| format!("not JSON: {error}"))
}

/// The `ready` field, which must follow the `status` field's level: with the monitor on and no
/// shutdown begun (as during `--check`), ready exactly at `healthy` and `degraded`.
fn ready_at_level(body: &Value) -> Result<bool, String> {
    let level: HealthLevel = serde_json::from_value(body["status"].clone())
        .map_err(|error| format!("status is not a level: {error}"))?;
    let ready = flag(body, "ready")?;
    if ready == level.is_ready() { Ok(ready) } else { Err(format!("ready is {ready} at level {level}")) }
}

fn flag(body: &Value, name: &str) -> Result<bool, String> {
    body[name].as_bool().ok_or_else(|| format!("{name} is not a boolean"))
}

/// 200 when `ok`, 503 otherwise.
fn expect_code(answer: &Answer, ok: bool) -> Result<(), String> {
    let expected = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if answer.status == expected { Ok(()) } else { Err(format!("{}, expected {expected}", answer.status)) }
}
