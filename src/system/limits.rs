//! The two limits a service of browsers runs into first: open files (`RLIMIT_NOFILE`) and
//! processes (`RLIMIT_NPROC`), each with what is used of it.

use super::proc_files::{ProcRoot, first_number, soft_limit, status_field};

/// What is used of a limit, and the limit (`None`: no limit in force).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) used: u64,
    pub(crate) limit: Option<u64>,
}

impl Usage {
    /// `used` as a percentage of the limit; `None` without a limit (or a limit of 0, which
    /// nothing can be measured against).
    pub(crate) fn percent(self) -> Option<f64> {
        let limit = self.limit.filter(|limit| *limit > 0)?;
        Some(self.used as f64 * 100.0 / limit as f64)
    }
}

/// This process's open file descriptors (the entries of `/proc/self/fd`, less the one the count
/// itself opens) and its soft `RLIMIT_NOFILE` (`Max open files` of `/proc/self/limits`), the
/// limit `open`, `socket` and `pipe` fail at with `EMFILE`.
///
/// # Cost
///
/// A directory listing of this process's descriptors and one small read. `None` off Linux.
pub(crate) fn open_files() -> Option<Usage> {
    open_files_in(ProcRoot::system()?)
}

pub(super) fn open_files_in(proc: ProcRoot<'_>) -> Option<Usage> {
    let listing = std::fs::read_dir(proc.path("self/fd")).ok()?;
    let used = listing.count().checked_sub(1)? as u64;
    let limit = soft_limit(&proc.read("self/limits")?, "Max open files")?;
    Some(Usage { used, limit })
}

/// The processes and threads of this process's real user (what `RLIMIT_NPROC` counts: `fork`
/// and thread creation fail with `EAGAIN` at the limit) and that soft limit (`Max processes`).
///
/// The limit is `None` where the kernel does not enforce it: for `unlimited`, for the kernel's
/// user 0 (root, unless a user namespace maps it to another user), and for a process holding
/// `CAP_SYS_ADMIN` or `CAP_SYS_RESOURCE` in the initial user namespace.
///
/// The kernel counts every thread of the user; `/proc` shows those of this pid namespace, so in
/// a container that shares its user with processes outside, the count is of this container's.
///
/// # Cost
///
/// One scan of `/proc`: a read of `/proc/<pid>/status` for every process. On the sampler's
/// cadence only.
pub(crate) fn user_tasks() -> Option<Usage> {
    user_tasks_in(ProcRoot::system()?)
}

pub(super) fn user_tasks_in(proc: ProcRoot<'_>) -> Option<Usage> {
    let own = proc.read("self/status")?;
    let user = first_number(&own, "Uid")?;
    let limit = soft_limit(&proc.read("self/limits")?, "Max processes")?;
    let exempt = is_exempt(&own, user, proc.read("self/uid_map").as_deref());
    let tasks_of = |pid: u32| {
        let status = proc.read(&format!("{pid}/status"))?;
        (first_number(&status, "Uid")? == user).then(|| first_number(&status, "Threads"))?
    };
    let used = proc.pids().filter_map(tasks_of).sum();
    Some(Usage { used, limit: limit.filter(|_| !exempt) })
}

/// `CAP_SYS_ADMIN` and `CAP_SYS_RESOURCE`, bits 21 and 24 of a capability set.
const EXEMPTING_CAPABILITIES: u64 = 1 << 21 | 1 << 24;

/// Whether `RLIMIT_NPROC` does not bind this process: its real user is the kernel's user 0, or
/// it holds an exempting capability in the initial user namespace (the kernel's check at `fork`).
/// Without a readable `uid_map` the namespace is taken as the initial one.
fn is_exempt(status: &str, user: u64, uid_map: Option<&str>) -> bool {
    let map = UidMap(uid_map.unwrap_or(UidMap::INITIAL));
    let capabilities = status_field(status, "CapEff").and_then(|hex| u64::from_str_radix(hex, 16).ok());
    let capable = capabilities.is_some_and(|set| set & EXEMPTING_CAPABILITIES != 0);
    map.kernel_id(user) == Some(0) || (capable && map.is_initial())
}

/// A `/proc/<pid>/uid_map`: lines of `inside outside count`.
struct UidMap<'a>(&'a str);

impl UidMap<'_> {
    /// The initial user namespace's map: every id is itself.
    const INITIAL: &'static str = "0 0 4294967295";

    fn ranges(&self) -> impl Iterator<Item = [u64; 3]> {
        self.0.lines().filter_map(|line| {
            let mut numbers = line.split_whitespace().map(|number| number.parse().ok());
            Some([numbers.next()??, numbers.next()??, numbers.next()??])
        })
    }

    fn kernel_id(&self, id: u64) -> Option<u64> {
        let mut ranges = self.ranges();
        ranges.find_map(|[inside, outside, count]| {
            (inside..inside + count).contains(&id).then(|| outside + id - inside)
        })
    }

    fn is_initial(&self) -> bool {
        self.ranges().eq([[0, 0, 4_294_967_295]])
    }
}
