//! The guardian: a service's death, SIGKILL included, takes its supervised groups with it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

use super::super::group::Group;
use super::super::guardian::inspect;
use super::super::{Supervised, live_supervised};
use super::{GRACE, SERIAL, members, processes, spawn_with_sleeps, zombie_children};
use crate::test_events::Capture;

/// Set in the child process that plays the service.
const SERVICE: &str = "BURSAR_GUARDIAN_TEST_SERVICE";

/// A stand-in for a browser, once it said it is ready: its two sleeps have started.
async fn ready_browser(name: &str) -> Supervised {
    let mut command = Command::new("sh");
    command.args(["-c", "sleep 300 & sleep 300 & echo ready; wait"]).stdout(Stdio::piped());
    let mut browser = Supervised::spawn(name, command).expect("sh starts");
    let stdout = tokio::io::BufReader::new(browser.take_stdout().expect("piped"));
    assert_eq!(stdout.lines().next_line().await.unwrap().as_deref(), Some("ready"));
    browser
}

/// The service: two supervised browsers, their groups and its guardian's printed, then it waits
/// to be killed.
fn serve() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (first, second) = (ready_browser("first").await, ready_browser("second").await);
        println!("groups {} {} {}", first.id(), second.id(), inspect::pid().expect("started"));
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

#[test]
fn a_service_killed_with_sigkill_takes_its_supervised_groups_with_it() {
    if std::env::var_os(SERVICE).is_some() {
        return serve();
    }
    let _serial = SERIAL.blocking_lock();
    // The killed service's orphans come back here, to be reaped, not left as zombies of PID 1.
    super::super::set_child_subreaper().unwrap();
    let test = "process::tests::guardian::a_service_killed_with_sigkill_takes_its_supervised_groups_with_it";
    let mut service = StdCommand::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(SERVICE, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = BufReader::new(service.stdout.take().unwrap()).lines().map(Result::unwrap);
    // The harness prints `test <name> ... ` first, on the same line.
    let groups = printed.into_iter().find_map(|line| Some(line.split_once("groups ")?.1.to_owned()));
    let groups: Vec<u32> =
        groups.expect("the service's groups").split(' ').map(|id| id.parse().unwrap()).collect();
    let sizes: Vec<usize> = groups.iter().map(|group| members(*group)).collect();
    assert_eq!(sizes, [3, 3, 1], "two browsers of three processes, the guardian");

    service.kill().unwrap(); // SIGKILL: the service runs no code of its own
    assert_eq!(service.wait().unwrap().signal(), Some(9));
    let left = || {
        let reaped_then_counted = |group: &u32| {
            Group::of(*group).reap();
            members(*group)
        };
        groups.iter().map(reaped_then_counted).sum::<usize>()
    };
    let started = Instant::now();
    while left() != 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "{} processes left", left());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(zombie_children(), 0);
}

/// The script's bookkeeping, with `echo` for `kill`: what it would kill, exactly.
#[test]
fn the_guardian_kills_what_is_registered_at_the_end_and_refuses_groups_0_and_1() {
    let input = "+300\n+301\n+302\n-301\n+303\n-303\n+303\n-999\n\
                 +1\n+0\n+-1\n+01\n+12a\n+\n+ 5\n304\n+305";
    // `+305` has no newline: not a whole line, not read.
    assert_eq!(inspect::dry_run(input), "-- -300\n-- -302\n-- -303\n");
    assert_eq!(inspect::dry_run(""), "");
}

/// The real guardian's SIGKILL, to real groups.
#[test]
fn the_guardian_kills_the_groups_registered_when_its_input_ends_and_no_other() {
    let _serial = SERIAL.blocking_lock();
    let sleeper = || StdCommand::new("sleep").arg("300").process_group(0).spawn().unwrap();
    let (mut released, mut registered, mut again) = (sleeper(), sleeper(), sleeper());
    let (mut guardian, mut input) = inspect::spawn();
    let (released_id, registered_id, again_id) = (released.id(), registered.id(), again.id());
    let lines = [("+", released_id), ("+", registered_id), ("+", again_id), ("-", released_id)];
    for (sign, group) in lines.into_iter().chain([("-", again_id), ("+", again_id)]) {
        writeln!(input, "{sign}{group}").unwrap();
    }
    drop(input);
    assert_eq!(guardian.wait().unwrap().code(), Some(0));
    assert_eq!(signal_within_a_second(&mut registered), Some(9));
    assert_eq!(signal_within_a_second(&mut again), Some(9), "registered again after its release");
    assert_eq!(released.try_wait().unwrap(), None, "released before the end");
    released.kill().unwrap();
    released.wait().unwrap();
}

/// The signal that ended `child`, waited for a second at most: a guardian that does not kill
/// fails the test rather than hang it for the sleep's 300 s.
fn signal_within_a_second(child: &mut std::process::Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.signal();
        }
        if started.elapsed() > Duration::from_secs(1) {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn a_group_is_registered_and_its_leader_counted_from_its_spawn_until_reaped() {
    let _serial = SERIAL.lock().await;
    let now = || (inspect::registered(), live_supervised());
    assert_eq!(now(), (vec![], 0));
    let first = spawn_with_sleeps("first", "sleep 300 & sleep 300 & wait").await;
    let second = spawn_with_sleeps("second", "trap '' TERM; sleep 300 & sleep 300 & wait").await;
    let mut both = vec![first.id(), second.id()];
    both.sort_unstable();
    assert_eq!(now(), (both, 2));
    first.stop(GRACE).await.unwrap();
    assert_eq!(now(), (vec![second.id()], 1));

    // A leader that exits alone ends its group: released before its exit is published.
    let mut command = Command::new("sh");
    command.args(["-c", "exit 3"]);
    let exits = Supervised::spawn("exits", command).unwrap();
    assert_eq!(exits.exited().await.code(), Some(3));
    assert_eq!(now(), (vec![second.id()], 1));

    drop(second); // SIGKILL, reaped in the background
    let started = Instant::now();
    while now() != (vec![], 0) {
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", now());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    exits.stop(GRACE).await.unwrap();
    assert_eq!((now(), zombie_children()), ((vec![], 0), 0));
}

#[tokio::test]
async fn a_dead_guardian_is_replaced_at_the_next_spawn_with_every_live_group() {
    let _serial = SERIAL.lock().await;
    let first = spawn_with_sleeps("first", "sleep 300 & sleep 300 & wait").await;
    let dead = inspect::pid().expect("the first spawn started it");
    assert!(StdCommand::new("kill").args(["-9", &dead.to_string()]).status().unwrap().success());
    let started = Instant::now();
    while !processes().iter().any(|process| process.0 == dead && process.1 == 'Z') {
        assert!(started.elapsed() < Duration::from_secs(1), "the guardian dies");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let events = Capture::start();
    let second = spawn_with_sleeps("second", "sleep 300 & sleep 300 & wait").await;
    let warnings = events.starting("WARN ");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("the process guardian exited; starting another"), "{warnings:?}");
    assert!(warnings[0].contains("status=signal: 9 (SIGKILL) groups=2"), "{warnings:?}");
    let replacement = inspect::pid().expect("started again");
    assert_ne!(replacement, dead);
    assert!(!processes().iter().any(|process| process.0 == dead), "the dead guardian was reaped");

    // The service's death as the new guardian sees it: both groups are killed.
    assert_eq!(inspect::close().code(), Some(0));
    for browser in [first, second] {
        let exited = tokio::time::timeout(Duration::from_secs(1), browser.exited()).await;
        assert_eq!(exited.map(|status| status.signal()), Ok(Some(9)));
        let group = browser.id();
        let stopped = browser.stop(GRACE).await.unwrap();
        assert_eq!((stopped.descendants_reaped, members(group)), (2, 0), "the sleeps were killed too");
    }
    assert_eq!(zombie_children(), 0);
}

/// What each descriptor of `pid` is: `pipe:[<inode>]`, `/dev/null`, …; one closed since the
/// listing (this process's other tests open and close files) is left out.
fn descriptors(pid: u32) -> BTreeMap<String, String> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten();
    let target =
        |entry: &std::fs::DirEntry| Some(std::fs::read_link(entry.path()).ok()?.display().to_string());
    entries.filter_map(|entry| Some((entry.file_name().into_string().unwrap(), target(&entry)?))).collect()
}

/// The descriptors this test process hands down to every child: those it inherited without
/// close-on-exec (a shell's script descriptor, say); Rust opens none that way. A descriptor
/// closed since the listing (the listing's own) has no `fdinfo` left.
fn inheritable() -> BTreeSet<String> {
    let inherited = |fd: &String| {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
        let flags = info.lines().find_map(|line| line.strip_prefix("flags:"))?;
        Some(u32::from_str_radix(flags.trim(), 8).unwrap() & 0o2_000_000 == 0)
    };
    descriptors(std::process::id()).into_keys().filter(|fd| inherited(fd) == Some(true)).collect()
}

/// std opens the guardian's pipe close-on-exec: a child started after the guardian holds only
/// the descriptors its command gave it (and what this process hands down to every child), and
/// so does the guardian.
#[tokio::test]
async fn no_supervised_child_inherits_the_guardians_input() {
    let _serial = SERIAL.lock().await;
    let sleeper = || {
        let mut command = Command::new("sleep");
        command.arg("300").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        Supervised::spawn("sleeper", command).unwrap()
    };
    let before = sleeper();
    let guardian = inspect::pid().expect("started by the first spawn");
    let after = sleeper();
    // Asleep: past its start-up, where it opens and closes locale files of its own.
    let started = Instant::now();
    while !processes().iter().any(|process| process.0 == after.id() && process.1 == 'S') {
        assert!(started.elapsed() < Duration::from_secs(1), "the sleep falls asleep");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (guardians, sleepers) = (descriptors(guardian), descriptors(after.id()));
    let input = &guardians["0"];
    assert!(input.starts_with("pipe:["), "{input}");
    assert!(!sleepers.values().any(|target| target == input), "{sleepers:?} holds {input}");
    let expected: BTreeSet<String> =
        ["0", "1", "2"].map(String::from).into_iter().chain(inheritable()).collect();
    let fds = |descriptors: &BTreeMap<String, String>| descriptors.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!((fds(&sleepers), fds(&guardians)), (expected.clone(), expected));
    assert_eq!([&sleepers["0"], &sleepers["1"], &guardians["1"]], ["/dev/null"; 3]);
    before.stop(GRACE).await.unwrap();
    after.stop(GRACE).await.unwrap();
}
