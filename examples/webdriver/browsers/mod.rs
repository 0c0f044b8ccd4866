//! A `Manager` for headless Chromium sessions under bursar's process supervision, and the rig
//! that the `webdriver` example and the Chromium tests share.
//!
//! `create` leases a port from the governor's `"webdriver"` range, makes the session a profile
//! directory, starts `chromedriver --port=<lease>` through [`Supervised::spawn`] (the leader of
//! a process group of its own; the Chromium it starts, and Chromium's helpers, stay in that
//! group), waits until it answers, and opens a headless Chromium session on that profile.
//! `check` asks for the current URL (one cheap round trip, the pre-ping). `destroy` quits the
//! session if its driver still runs, stops the group (SIGTERM, SIGKILL after a short grace, and
//! every process of it reaped) and then removes the profile. A cancelled `create` drops what it
//! started: the group is killed and the profile removed. Uses Debian's `chromium` and
//! `chromium-driver`; nothing is downloaded.

pub(crate) mod census;
mod error;
mod faults;
mod manager;
mod pages;
mod processes;
mod rig;
mod strays;
mod tree;

pub(crate) use error::BrowserError;
pub(crate) use faults::{Fault, Killed};
pub(crate) use manager::{Browser, Browsers};
pub(crate) use processes::{STOP_GRACE, Stops};
pub(crate) use rig::{JobOutcome, Leftovers, Rig, RunReport, WORKERS, one_run_at_a_time, run};
pub(crate) use tree::SessionTree;

/// Every process a run starts carries this variable (children inherit it), so the run can find
/// them whatever their parent is by then.
pub(crate) const MARKER: &str = "BURSAR_WEBDRIVER";
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
