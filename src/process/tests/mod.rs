//! Real processes: a shell script with `sleep` grandchildren stands in for a browser.

use std::os::unix::process::ExitStatusExt;

use std::time::{Duration, Instant};

use tokio::process::Command;

use super::Supervised;
use crate::test_events::Capture;

mod guardian;

/// One test at a time: each asserts that this process has no zombie child at all.
use crate::testing::CHILD_PROCESSES as SERIAL;

const GRACE: Duration = Duration::from_millis(200);

/// `(pid, state, ppid, pgid)` of every process, from `/proc/<pid>/stat`.
fn processes() -> Vec<(u32, char, u32, u32)> {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    let stats = entries.flatten().filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok());
    stats.filter_map(|stat| parse_stat(&stat)).collect()
}

fn parse_stat(stat: &str) -> Option<(u32, char, u32, u32)> {
    let (pid, rest) = stat.split_once(" (")?;
    let mut fields = rest.rsplit_once(") ")?.1.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((pid.parse().ok()?, state, ppid, pgid))
}

fn members(group: u32) -> usize {
    processes().iter().filter(|process| process.3 == group).count()
}

fn zombie_children() -> usize {
    let me = std::process::id();
    processes().iter().filter(|process| process.2 == me && process.1 == 'Z').count()
}

async fn spawn_with_sleeps(name: &str, script: &str) -> Supervised {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    let shell = Supervised::spawn(name, command).expect("sh starts");
    let started = Instant::now();
    while members(shell.id()) != 3 {
        assert!(started.elapsed() < Duration::from_secs(1), "the shell and its two sleeps");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shell
}

/// Stops `shell` with the test grace; asserts no process of its group and no zombie is left.
async fn stop_leaving_nothing(shell: Supervised) -> (super::Stopped, Duration) {
    let group = shell.id();
    let started = Instant::now();
    let stopped = shell.stop(GRACE).await.expect("stops");
    let took = started.elapsed();
    assert_eq!((members(group), zombie_children()), (0, 0), "processes of the group, zombies");
    (stopped, took)
}

#[tokio::test]
async fn stop_terminates_and_reaps_the_whole_group() {
    let _serial = SERIAL.lock().await;
    let shell = spawn_with_sleeps("shell", "sleep 300 & sleep 300 & wait").await;
    let (stopped, took) = stop_leaving_nothing(shell).await;
    assert_eq!((stopped.status.signal(), stopped.forced, stopped.descendants_reaped), (Some(15), false, 2));
    assert!(took < GRACE, "SIGTERM was enough, no grace waited: {took:?}");
}

#[tokio::test]
async fn a_group_ignoring_sigterm_is_killed_after_the_grace() {
    let _serial = SERIAL.lock().await;
    let shell = spawn_with_sleeps("stubborn", "trap '' TERM; sleep 300 & sleep 300 & wait").await;
    let (stopped, took) = stop_leaving_nothing(shell).await;
    assert_eq!((stopped.status.signal(), stopped.forced, stopped.descendants_reaped), (Some(9), true, 2));
    assert!(GRACE <= took && took < GRACE * 3, "{took:?}");
}

#[tokio::test]
async fn a_dropped_handle_kills_and_reaps_the_group() {
    let _serial = SERIAL.lock().await;
    let shell = spawn_with_sleeps("dropped", "trap '' TERM; sleep 300 & sleep 300 & wait").await;
    let group = shell.id();
    drop(shell);
    let started = Instant::now();
    while members(group) != 0 {
        assert!(started.elapsed() < Duration::from_secs(1), "{} left", members(group));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(zombie_children(), 0);
}

/// Spawns `sleep 300` under supervision as the process (and group) `pid`, by telling the
/// kernel the last pid it gave (`/proc/sys/kernel/ns_last_pid`, root only); `None` if other
/// processes kept taking it first.
async fn spawn_at(pid: u32) -> Option<Supervised> {
    for _ in 0..20 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("writing /proc/sys/kernel/ns_last_pid needs root");
        let mut command = Command::new("sleep");
        command.arg("300");
        let sleeper = Supervised::spawn("sleeper", command).expect("sleep starts");
        if sleeper.id() == pid {
            return Some(sleeper);
        }
        sleeper.stop(GRACE).await.expect("stops");
    }
    None
}

/// A handle kept after its process and group ended — stopped, or dropped — sends nothing to
/// the group the kernel gave the same id since (on a busy host, pids come round in minutes).
#[tokio::test]
#[ignore = "writes /proc/sys/kernel/ns_last_pid, which needs root; .ci/run runs it"]
async fn a_handle_kept_past_its_groups_end_never_signals_the_group_that_took_its_id() {
    let _serial = SERIAL.lock().await;
    for stops in [true, false] {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 0"]);
        let ended = Supervised::spawn("ended", command).expect("sh starts");
        assert_eq!(ended.exited().await.code(), Some(0));
        let sleeper = spawn_at(ended.id()).await.expect("the kernel gave the ended group's id again");
        if stops {
            let stopped = ended.stop(GRACE).await.expect("nothing left to stop");
            assert_eq!(
                (stopped.status.code(), stopped.forced, stopped.descendants_reaped),
                (Some(0), false, 0)
            );
        } else {
            drop(ended);
        }
        let signalled = tokio::time::timeout(GRACE, sleeper.exited()).await;
        assert!(
            signalled.is_err(),
            "the new group was signalled (the old handle stopped: {stops}): {signalled:?}"
        );
        let (stopped, _) = stop_leaving_nothing(sleeper).await;
        assert_eq!(stopped.status.signal(), Some(15), "the sleeper ended by its own stop");
    }
}

#[tokio::test]
async fn a_crash_is_seen_at_once_and_logged() {
    let _serial = SERIAL.lock().await;
    let events = Capture::start();
    let shell = spawn_with_sleeps("browser", "sleep 300 & sleep 300 & wait").await;
    assert_eq!(shell.try_status(), None);
    let killed = std::process::Command::new("kill").args(["-9", &shell.id().to_string()]).status();
    assert!(killed.expect("kill runs").success());
    let status = tokio::time::timeout(Duration::from_secs(1), shell.exited()).await.expect("seen");
    assert_eq!((status.signal(), shell.try_status()), (Some(9), Some(status)));
    let warnings = events.starting("WARN ");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let expected = format!("process=browser pid={} status=signal: 9 (SIGKILL)", shell.id());
    assert!(warnings[0].contains(&expected), "{warnings:?}");
    // The sleeps outlived their shell: stopping reaps them and logs no second warning.
    let group = shell.id();
    let stopped = shell.stop(GRACE).await.expect("stops");
    assert_eq!((stopped.status.signal(), stopped.descendants_reaped), (Some(9), 2));
    assert_eq!((members(group), zombie_children(), events.starting("WARN ").len()), (0, 0, 1));
}

#[tokio::test]
async fn an_exit_code_is_reported() {
    let _serial = SERIAL.lock().await;
    let events = Capture::start();
    let mut command = Command::new("sh");
    command.args(["-c", "exit 3"]);
    let shell = Supervised::spawn("exits", command).expect("sh starts");
    assert_eq!(shell.exited().await.code(), Some(3));
    assert!(events.starting("WARN ")[0].contains("process=exits"));
    assert_eq!(shell.stop(GRACE).await.expect("stops").descendants_reaped, 0);
    assert_eq!(zombie_children(), 0);
}

#[tokio::test]
async fn a_missing_program_is_an_error() {
    let error = Supervised::spawn("nothing", Command::new("/nonexistent/bursar")).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn the_handle_is_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Supervised>();
    send_sync::<super::StopError>();
}
