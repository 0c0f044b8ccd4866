//! A real Prometheus evaluates `contrib/prometheus/alerts.yml` against the status server
//! example while it drives an outage, and its HTTP API shows the breaker alert fire and
//! resolve — no mock of Prometheus.
//!
//! `.ci/run` builds the example, then runs this with Debian's `prometheus`:
//!
//! ```text
//! cargo build --all-features --example status_server
//! PROMETHEUS=/usr/bin/prometheus STATUS_SERVER=target/debug/examples/status_server \
//!     cargo test --all-features --test prometheus -- --ignored --nocapture
//! ```
//!
//! The example (`--outage 5:12`) takes the `search` service down 5 s after it starts, for 12 s.
//! Prometheus scrapes it every second and evaluates the production rules every second, each
//! `for:` shortened to 2 s (the only change to the file), so the test takes about 20 s: the
//! alert fires about 8 s in and resolves about 19 s in. Every wait polls and is bounded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Each `for:` of the production rules becomes this, so the test is quick.
const CI_FOR: &str = "2s";
/// The most any one wait of the test lasts.
const PATIENCE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temporary directory removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on now (the kernel's pick of an ephemeral one).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` from `port` on 127.0.0.1: the status code and the body, or `None` if nothing
/// answers yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// Polls `probe` until it gives a value, at most [`PATIENCE`]; panics naming `what` otherwise.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "no {what} within {PATIENCE:?}");
        std::thread::sleep(POLL);
    }
}

/// The production rules with every `for:` set to [`CI_FOR`].
fn ci_rules(production: &str) -> String {
    let shorten = |line: &str| match line.trim_start().strip_prefix("for:") {
        Some(_) => format!("{}for: {CI_FOR}", &line[..line.len() - line.trim_start().len()]),
        None => line.to_owned(),
    };
    production.lines().map(shorten).collect::<Vec<_>>().join("\n")
}

/// Prometheus's active alerts named `name` with the label `key`: their states.
fn alert_states(prometheus: u16, name: &str, key: &str) -> Option<Vec<String>> {
    let (code, body) = get(prometheus, "/api/v1/alerts")?;
    assert_eq!(code, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let alerts = answer["data"]["alerts"].as_array()?;
    let ours =
        alerts.iter().filter(|alert| alert["labels"]["alertname"] == name && alert["labels"]["key"] == key);
    Some(ours.map(|alert| alert["state"].as_str().unwrap_or_default().to_owned()).collect())
}

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

#[test]
#[ignore = "needs prometheus; run by .ci/run"]
fn the_breaker_alert_fires_during_the_outage_and_resolves_after_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prometheus_bin = binary("PROMETHEUS", "prometheus");
    let server_bin =
        binary("STATUS_SERVER", &root.join("target/debug/examples/status_server").to_string_lossy());
    let dir = TempDir(std::env::temp_dir().join(format!("bursar-prometheus-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let started = Instant::now();

    let server_port = free_port();
    let server = Command::new(&server_bin)
        .args([format!("127.0.0.1:{server_port}"), "--outage".to_owned(), "5:12".to_owned()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", server_bin.display()));
    let _server = Running(server);
    wait_for("answer from the status server", || get(server_port, "/metrics"));

    let production = std::fs::read_to_string(root.join("contrib/prometheus/alerts.yml")).unwrap();
    std::fs::write(dir.0.join("alerts.yml"), ci_rules(&production)).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\n\
         scrape_configs:\n  - job_name: bursar\n    static_configs:\n      - targets: ['127.0.0.1:{server_port}']\n"
    );
    std::fs::write(dir.0.join("prometheus.yml"), config).unwrap();
    let prometheus_port = free_port();
    let prometheus = Command::new(&prometheus_bin)
        .arg(format!("--config.file={}", dir.0.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", prometheus_bin.display()));
    let _prometheus = Running(prometheus);
    wait_for("ready Prometheus", || get(prometheus_port, "/-/ready").filter(|(code, _)| *code == 200));
    eprintln!("prometheus on 127.0.0.1:{prometheus_port} scraping 127.0.0.1:{server_port}");

    let states = || alert_states(prometheus_port, "BursarBreakerOpen", "search");
    wait_for("breaker alert firing", || states().filter(|states| states == &["firing"]));
    let fired = started.elapsed();
    eprintln!("BursarBreakerOpen{{key=\"search\"}} firing after {fired:?}");
    assert!(fired >= Duration::from_secs(5), "not before the outage began: {fired:?}");

    wait_for("breaker alert resolved", || states().filter(Vec::is_empty));
    let resolved = started.elapsed();
    eprintln!("BursarBreakerOpen{{key=\"search\"}} resolved after {resolved:?}");
    assert!(resolved >= Duration::from_secs(17), "not before the outage ended: {resolved:?}");

    let (_, body) =
        get(prometheus_port, "/api/v1/query?query=bursar_breaker_state%7Bkey%3D%22search%22%7D").unwrap();
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["data"]["result"][0]["value"][1], "0", "closed again: {body}");
    let checkout = alert_states(prometheus_port, "BursarBreakerOpen", "checkout").unwrap();
    assert_eq!(checkout, Vec::<String>::new(), "the checkout breaker never opened");
}
