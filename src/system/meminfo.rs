//! The machine's memory from `/proc/meminfo`, for memory-aware admission without `sysinfo`.

use super::proc_files::{ProcRoot, first_number};

/// The machine's available and total memory in bytes: `MemAvailable` and `MemTotal`, which the
/// kernel gives in kB. `None` for either it cannot read, and off Linux.
///
/// # Cost
///
/// One read of one small file.
#[cfg_attr(feature = "sysinfo", allow(dead_code, reason = "`sysinfo` reads memory itself"))]
pub(crate) fn machine_memory() -> (Option<u64>, Option<u64>) {
    ProcRoot::system().map_or((None, None), memory_in)
}

pub(super) fn memory_in(proc: ProcRoot<'_>) -> (Option<u64>, Option<u64>) {
    let meminfo = proc.read("meminfo").unwrap_or_default();
    let bytes = |name| first_number(&meminfo, name).map(|kilobytes| kilobytes * 1024);
    (bytes("MemAvailable"), bytes("MemTotal"))
}
