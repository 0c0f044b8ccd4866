//! The service itself killed with SIGKILL, in real headless Chromium: no Chromium or
//! chromedriver process may outlive it.
//!
//! The test runs its own binary again as the service (the `BURSAR_WEBDRIVER_SERVICE` variable
//! selects the role, as `tests/containment.rs` does): it opens three sessions through the
//! example's `Manager`, loads a page in each, says `ready` with their process groups, and
//! waits. The test notes every process of the service's tree from `/proc` (its descendants,
//! and whatever carries the run's marker or names its directory), sends the service SIGKILL,
//! and looks for them again.
//!
//! SIGKILL runs no code of the service: only something outside it can end its groups, here
//! bursar's process guardian (a `/bin/sh` child of the service, counted in its tree), which
//! sends SIGKILL to every supervised group once the service is gone. Chromium's crash handlers,
//! outside the groups, end with their Chromium. Should anything survive, the test names it, then
//! kills it itself so that nothing outlives the test.
//!
//! The browser `Manager` is the one of `examples/webdriver`. Needs Debian's `chromium` and
//! `chromium-driver`; nothing is downloaded. Run it with
//! `cargo test --features process --test webdriver_service_killed -- --ignored --nocapture`.

#[allow(dead_code, unused_imports, reason = "each Chromium test uses its part of the rig")]
#[path = "../examples/webdriver/browsers/mod.rs"]
mod browsers;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browsers::census::{self, Process, Scope};
use browsers::{MARKER, Rig};

/// Selects the service's role in the re-executed test binary.
const ROLE: &str = "BURSAR_WEBDRIVER_SERVICE";
const SESSIONS: usize = 3;
/// How long the service may take to open its sessions.
const READY_WITHIN: Duration = Duration::from_secs(120);
const TEST: &str = "a_service_killed_with_sigkill_leaves_no_chromium_or_chromedriver_running";

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_service_killed_with_sigkill_leaves_no_chromium_or_chromedriver_running() {
    if std::env::var_os(ROLE).is_some() {
        return serve();
    }
    let mut service = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--ignored", "--nocapture", "--test-threads=1"])
        .env(ROLE, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(ready) = ready_line(service.stdout.take().unwrap()) else {
        let _ = service.kill();
        panic!("the service did not say ready within {READY_WITHIN:?}");
    };
    let groups: BTreeSet<u32> = ready.split(' ').map(|group| group.parse().unwrap()).collect();
    let root = std::env::temp_dir().join(format!("bursar-webdriver-service-{}", service.id()));
    let root_text = root.display().to_string();
    let scope = Scope { marker: format!("{MARKER}={root_text}"), dir: root_text, groups, descendants: true };
    let tree: Vec<Process> =
        census::take(&scope).running.into_iter().filter(|process| process.pid != service.id()).collect();

    service.kill().unwrap(); // SIGKILL
    service.wait().unwrap();
    let killed = Instant::now();
    let mut survivors = tree.clone();
    while !survivors.is_empty() && killed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
        survivors = survivors.iter().filter_map(still_running).collect();
    }
    let waited = killed.elapsed();
    let profiles = std::fs::read_dir(&root).map(Iterator::count).unwrap_or(0);
    println!(
        "the service (pid {}) held {SESSIONS} sessions: {} processes ({}); {} ms after its SIGKILL: {} \
         still running ({}); {profiles} profile directories left (nothing of the service runs to remove them)",
        service.id(),
        tree.len(),
        by_command(&tree),
        waited.as_millis(),
        survivors.len(),
        by_command(&survivors),
    );
    for survivor in &survivors {
        println!("  still running: {survivor}");
    }
    clean_up(&survivors, &root);
    assert_eq!(survivors, [], "no chromedriver or Chromium outlives the service");
}

/// The groups the service lists once it is ready: after libtest's `test <name> ... ` on the
/// same line. `None` if it has not within [`READY_WITHIN`] (or has ended).
fn ready_line(stdout: std::process::ChildStdout) -> Option<String> {
    let (sender, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let groups =
            lines.filter_map(|line| line.split_once("ready ").map(|(_, groups)| groups.to_owned())).next();
        let _ = sender.send(groups);
    });
    ready.recv_timeout(READY_WITHIN).ok().flatten()
}

/// The service: three sessions, a page loaded in each, then `ready` with their groups and a
/// wait for the end.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let rig = Rig::start("service", SESSIONS, 9535..=9554, |config| config).await.unwrap();
        let mut held = Vec::new();
        for user in 0..SESSIONS {
            let session = rig.browsers.get(format!("user-{user}")).await.unwrap();
            session.client.goto(&format!("http://{}/page/{user}", rig.pages)).await.unwrap();
            held.push(session);
        }
        let groups: Vec<String> = held.iter().map(|session| session.group().to_string()).collect();
        println!("ready {}", groups.join(" "));
        std::future::pending::<()>().await;
    });
}

/// `process` as it is now, if it still runs as the same program (its pid not reused).
fn still_running(process: &Process) -> Option<Process> {
    Process::read(process.pid).filter(|now| !now.is_zombie() && now.command == process.command)
}

fn by_command(processes: &[Process]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for process in processes {
        *counts.entry(process.command.as_str()).or_default() += 1;
    }
    let counts: Vec<String> =
        counts.into_iter().map(|(command, count)| format!("{count} {command}")).collect();
    counts.join(", ")
}

/// Kills what outlived the service, so that nothing outlives the test, and removes its
/// directory.
fn clean_up(survivors: &[Process], root: &std::path::Path) {
    for survivor in survivors {
        let _ = Command::new("kill").args(["-KILL", &survivor.pid.to_string()]).status();
    }
    let _ = std::fs::remove_dir_all(root);
}
