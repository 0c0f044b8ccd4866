//! The `/proc` readings: their parsing over trees of the same shape written here, exactly, and
//! their wiring over this machine's own processes.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::groups::resident_bytes_in;
use super::limits::{Usage, open_files_in, user_tasks_in};
use super::meminfo::memory_in;
use super::proc_files::{ProcRoot, group_in_stat, soft_limit, status_field};
use crate::testing::CHILD_PROCESSES;

const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max processes             96369                96369                processes \n\
Max open files            1024                 1048576              files     \n\
Max locked memory         unlimited            unlimited            bytes     \n";

fn status(user: u32, threads: u32, resident_kb: Option<u32>) -> String {
    let resident = resident_kb.map(|kb| format!("VmRSS:\t    {kb} kB\n")).unwrap_or_default();
    format!(
        "Name:\tchrome\nUid:\t{user}\t{user}\t{user}\t{user}\n{resident}Threads:\t{threads}\nCapEff:\t0000000000000000\n"
    )
}

/// A directory shaped as `/proc`, removed when dropped.
struct FakeProc(PathBuf);

impl FakeProc {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("bursar-proc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        FakeProc(root)
    }

    fn file(self, path: &str, text: &str) -> Self {
        let path = self.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn process(self, pid: u32, group: u32, status: &str) -> Self {
        let stat = format!("{pid} (a (b) c) S 1 {group} {group} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0");
        self.file(&format!("{pid}/stat"), &stat).file(&format!("{pid}/status"), status)
    }

    fn root(&self) -> ProcRoot<'_> {
        ProcRoot(&self.0)
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_group_is_the_fifth_stat_field_counted_past_the_command_name() {
    assert_eq!(group_in_stat("4242 (tokio (rt) x) S 1 4240 4240 0 -1"), Some(4240));
    assert_eq!(group_in_stat("4242 (sh) S 1"), None);
    assert_eq!(group_in_stat("no name"), None);
}

#[test]
fn status_fields_and_soft_limits_are_read_by_name() {
    let text = status(1000, 7, Some(2048));
    assert_eq!(status_field(&text, "Threads"), Some("7"));
    assert_eq!(status_field(&text, "Uid"), Some("1000\t1000\t1000\t1000"));
    assert_eq!(status_field(&text, "Thread"), None, "a whole name only");
    assert_eq!(soft_limit(LIMITS, "Max open files"), Some(Some(1024)));
    assert_eq!(soft_limit(LIMITS, "Max processes"), Some(Some(96369)));
    assert_eq!(soft_limit(LIMITS, "Max locked memory"), Some(None));
    assert_eq!(soft_limit(LIMITS, "Max nice priority"), None);
}

#[test]
fn a_usage_is_a_percentage_of_a_limit_only_when_there_is_one() {
    assert_eq!(Usage { used: 256, limit: Some(1024) }.percent(), Some(25.0));
    assert_eq!(Usage { used: 256, limit: None }.percent(), None);
    assert_eq!(Usage { used: 0, limit: Some(0) }.percent(), None);
}

#[test]
fn the_resident_bytes_of_each_asked_group_add_up_its_processes() {
    let proc = FakeProc::new("resident")
        .process(10, 10, &status(1000, 1, Some(100)))
        .process(11, 10, &status(1000, 3, Some(250)))
        .process(12, 10, &status(1000, 1, None)) // a zombie
        .process(20, 20, &status(1000, 1, Some(7)))
        .process(30, 30, &status(1000, 1, None))
        .process(40, 40, &status(1000, 1, Some(1)))
        .file("self/status", "not a process directory");
    let resident = resident_bytes_in(proc.root(), &[10, 20, 30, 50]);
    let expected = [(10, 350 * 1024), (20, 7 * 1024), (30, 0)].into_iter().collect();
    assert_eq!(resident, expected, "40 not asked for, 50 has no process");
}

#[test]
fn the_user_tasks_are_the_threads_of_every_process_of_the_real_user() {
    let tree = |own: String| {
        FakeProc::new("tasks")
            .process(1, 1, &status(0, 1, None))
            .process(100, 100, &status(1000, 12, Some(1)))
            .process(101, 100, &status(1000, 30, Some(1)))
            .process(102, 102, &status(1001, 50, Some(1)))
            .file("self/status", &own)
            .file("self/limits", LIMITS)
    };
    let proc = tree(status(1000, 12, None));
    assert_eq!(user_tasks_in(proc.root()), Some(Usage { used: 42, limit: Some(96369) }));
    drop(proc);
    let unlimited = LIMITS.replace("96369                96369", "unlimited            unlimited");
    let proc = tree(status(1000, 12, None)).file("self/limits", &unlimited);
    assert_eq!(user_tasks_in(proc.root()), Some(Usage { used: 42, limit: None }));
}

/// The kernel's exemptions from `RLIMIT_NPROC`: its user 0, and the two capabilities in the
/// initial user namespace only.
#[test]
fn the_process_limit_is_none_where_the_kernel_does_not_enforce_it() {
    let limit = |user: u32, capabilities: &str, uid_map: Option<&str>| {
        let own = status(user, 1, None).replace("0000000000000000", capabilities);
        let mut proc = FakeProc::new("exempt").file("self/status", &own).file("self/limits", LIMITS);
        if let Some(map) = uid_map {
            proc = proc.file("self/uid_map", map);
        }
        user_tasks_in(proc.root()).unwrap().limit
    };
    let initial = Some("         0          0 4294967295\n");
    let rootless = Some("         0       1000          1\n         1     100000      65536\n");
    let none = "0000000000000000";
    let sys_admin = "0000000000200000";
    let sys_resource = "0000000001000000";
    assert_eq!(limit(1000, none, initial), Some(96369));
    assert_eq!(limit(0, none, initial), None, "the kernel's root");
    assert_eq!(limit(0, none, None), None, "no map: the initial namespace");
    assert_eq!(limit(1000, sys_admin, initial), None);
    assert_eq!(limit(1000, sys_resource, initial), None);
    assert_eq!(limit(0, "000001fffeffffff", rootless), Some(96369), "root of a rootless container");
    assert_eq!(limit(5, none, rootless), Some(96369));
    let mapped_to_root = Some("1000 0 1\n");
    assert_eq!(limit(1000, none, mapped_to_root), None, "mapped to the kernel's root");
}

#[test]
fn open_files_count_the_descriptors_less_the_listings_own() {
    let mut proc = FakeProc::new("fds").file("self/limits", LIMITS);
    for fd in ["0", "1", "2", "3", "17"] {
        proc = proc.file(&format!("self/fd/{fd}"), "");
    }
    assert_eq!(open_files_in(proc.root()), Some(Usage { used: 4, limit: Some(1024) }));
}

// ---- This machine's own processes ---------------------------------------------------------

fn shell_output(script: &str) -> String {
    let output = Command::new("sh").args(["-c", script]).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Three `sleep`s in one group, each a child of this test (so it reaps each one).
fn sleeping_group() -> Vec<std::process::Child> {
    let sleep = |group: u32| Command::new("sleep").arg("300").process_group(group as i32).spawn().unwrap();
    let leader = sleep(0);
    let group = leader.id();
    vec![leader, sleep(group), sleep(group)]
}

#[test]
fn a_real_groups_resident_memory_is_what_the_kernel_counts_for_its_processes() {
    let _children = CHILD_PROCESSES.blocking_lock();
    let mut sleeps = sleeping_group();
    let group = sleeps[0].id();
    // Asleep (state `S`): past its start-up, which maps pages; its resident memory holds still.
    let asleep = |sleep: &std::process::Child| {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", sleep.id())).unwrap();
        stat.contains(") S ")
    };
    let started = Instant::now();
    while !sleeps.iter().all(asleep) {
        assert!(started.elapsed() < Duration::from_secs(2), "the sleeps fall asleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    let page: u64 = shell_output("getconf PAGESIZE").parse().unwrap();
    let statm_resident = |pid: u32| -> u64 {
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
        statm.split(' ').nth(1).unwrap().parse::<u64>().unwrap() * page
    };
    let expected: u64 = sleeps.iter().map(|sleep| statm_resident(sleep.id())).sum();
    let resident = super::group_resident_bytes(&[group, u32::MAX]);
    for sleep in &mut sleeps {
        sleep.kill().unwrap();
        sleep.wait().unwrap();
    }
    assert!(expected > 0);
    assert_eq!(resident.into_iter().collect::<Vec<_>>(), vec![(group, expected)]);
}

#[test]
fn the_limits_are_the_ones_a_child_shell_inherits() {
    let _children = CHILD_PROCESSES.blocking_lock();
    let files = super::open_files().unwrap();
    assert_eq!(files.limit.map(|limit| limit.to_string()), Some(shell_output("ulimit -n")));
    let tasks = super::user_tasks().unwrap();
    // dash names the process limit `-p`, bash `-u`.
    let nproc = shell_output("ulimit -p 2>/dev/null || ulimit -u");
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let root = status_field(&own, "Uid").unwrap().starts_with("0\t");
    let expected = (!root && nproc != "unlimited").then_some(nproc);
    assert_eq!(tasks.limit.map(|limit| limit.to_string()), expected);
    let own_threads: u64 = status_field(&own, "Threads").unwrap().parse().unwrap();
    assert!(tasks.used >= own_threads, "{} tasks, {own_threads} of them this process's", tasks.used);
}

/// Run alone in a child process, so that no other test opens or closes a descriptor meanwhile.
#[test]
fn opening_files_counts_each_exactly_in_this_process() {
    const ALONE: &str = "BURSAR_SYSTEM_FDS_ALONE";
    if std::env::var_os(ALONE).is_none() {
        let _children = CHILD_PROCESSES.blocking_lock();
        let test = "system::tests::opening_files_counts_each_exactly_in_this_process";
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && stdout.contains("1 passed"), "{stdout}");
        return;
    }
    let used = || super::open_files().unwrap().used;
    let before = used();
    let opened: Vec<_> =
        (0..10).map(|_| std::fs::File::open(Path::new("/proc/self/stat")).unwrap()).collect();
    assert_eq!(used(), before + 10);
    drop(opened);
    assert_eq!(used(), before);
}

#[test]
fn the_machine_memory_is_mem_available_and_mem_total_in_bytes() {
    let tree = FakeProc::new("meminfo").file(
        "meminfo",
        "MemTotal:       16302548 kB\nMemFree:          812344 kB\nMemAvailable:    9876543 kB\n",
    );
    assert_eq!(memory_in(tree.root()), (Some(9_876_543 * 1024), Some(16_302_548 * 1024)));
    let empty = FakeProc::new("meminfo-empty");
    assert_eq!(memory_in(empty.root()), (None, None));
    let (available, total) = super::machine_memory();
    let (available, total) = (available.expect("MemAvailable"), total.expect("MemTotal"));
    assert!(0 < available && available <= total, "{available} of {total}");
}
