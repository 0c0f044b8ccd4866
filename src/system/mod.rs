//! Readings of this process and its user from Linux's `/proc`, shared by the parts that need
//! them: the health monitor's file and process limits, the pool's memory of its connections'
//! process groups.
//!
//! Plain `std::fs` reads of text files, compiled on every platform. Off Linux, and wherever a
//! file cannot be read or parsed, a reading is `None` (or an empty map): the caller leaves it
//! out, as a sampler leaves out what it cannot read. Each reading costs what its docs say;
//! call them on a sampler's or a reaper's cadence, never per call.

mod groups;
mod host;
mod limits;
mod meminfo;
mod proc_files;
#[cfg(all(test, target_os = "linux"))]
mod tests;

pub(crate) use groups::group_resident_bytes;
pub(crate) use host::host_name;
pub(crate) use limits::{Usage, open_files, user_tasks};
#[cfg(any(test, not(feature = "sysinfo")))]
pub(crate) use meminfo::machine_memory;
