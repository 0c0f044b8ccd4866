//! Crashes on purpose: a session's chromedriver or Chromium killed under a job.

use std::fmt;
use std::time::Duration;

use tokio::process::Command;

use super::census::Process;
use super::{Browser, BrowserError};

/// A process killed with SIGKILL under a job, as a crash would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The session's chromedriver: the next WebDriver call is refused.
    Driver,
    /// The session's Chromium browser process: chromedriver answers that Chromium is gone.
    Chromium,
}

/// A process a [`Fault`] killed.
#[derive(Debug, Clone)]
pub(crate) struct Killed {
    pub(crate) fault: Fault,
    pub(crate) process: Process,
    /// The job's attempt it struck, from 1: the one whose error it caused.
    pub(crate) attempt: u32,
}

impl fmt::Display for Killed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.process)
    }
}

impl Fault {
    /// Kills the process of `browser` that this fault names, under the job's `attempt`. Once chromedriver is killed, this
    /// waits until its exit has been seen, so the session is known to be broken from here on.
    pub(super) async fn strike(self, browser: &Browser, attempt: u32) -> Result<Killed, BrowserError> {
        let victim = match self {
            Fault::Driver => Process::read(browser.group()),
            Fault::Chromium => browser.chromium(),
        };
        let process = victim.ok_or_else(|| BrowserError::Start(format!("no {self:?} process to kill")))?;
        match Command::new("kill").arg("-KILL").arg(process.pid.to_string()).status().await {
            Ok(status) if status.success() => {}
            other => return Err(BrowserError::Start(format!("kill -KILL {}: {other:?}", process.pid))),
        }
        if self == Fault::Driver && !browser.driver_exit_seen(Duration::from_secs(5)).await {
            return Err(BrowserError::Start(format!("chromedriver {} outlived SIGKILL", process.pid)));
        }
        Ok(Killed { fault: self, process, attempt })
    }
}
