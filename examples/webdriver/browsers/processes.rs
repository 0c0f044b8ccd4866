//! A session's processes and profile directory, and how they are stopped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bursar::process::{Stopped, Supervised};
use parking_lot::Mutex;
use tokio::process::Command;

use super::strays::{Reaped, Strays};
use super::{BrowserError, CHROMEDRIVER, MARKER};

/// How long `destroy` gives a session's group to end on SIGTERM before SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(1);

/// A session's chromedriver under supervision, the processes of the session outside its group
/// (see [`Strays`]), and the profile directory its Chromium uses. Dropped without
/// [`stop`](Self::stop) (a cancelled `create`), the fields drop in order: the strays running
/// are found, the group is sent SIGKILL, the directory is removed, and the strays are reaped on
/// a task.
pub(super) struct Processes {
    pub(super) strays: Strays,
    pub(super) driver: Supervised,
    pub(super) profile: Profile,
}

impl Processes {
    /// Makes the profile directory and starts `chromedriver --port=<port>` in a group of its
    /// own.
    pub(super) fn start(port: u16, profile: PathBuf) -> Result<Self, BrowserError> {
        let profile = Profile::create(profile)?;
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .env(MARKER, &profile.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let driver = Supervised::spawn(format!("chromedriver on port {port}"), command)
            .map_err(|error| BrowserError::Start(format!("{CHROMEDRIVER}: {error}")))?;
        Ok(Processes { strays: Strays::of(&profile.path, driver.id()), driver, profile })
    }

    /// Stops the group (SIGTERM, SIGKILL after [`STOP_GRACE`], every process reaped), reaps
    /// the strays, then removes the profile, and counts what the stop did.
    pub(super) async fn stop(self, stops: &Mutex<Stops>) {
        let Processes { mut strays, driver, profile } = self;
        strays.find();
        let name = driver.name().to_owned();
        let stopped = driver.stop(STOP_GRACE).await.inspect_err(|error| {
            tracing::error!(process = %name, %error, "stopping a browser's group failed");
        });
        let strays = strays.reap(STOP_GRACE).await;
        stops.lock().count(stopped.ok(), strays);
        profile.remove().await;
    }
}

/// A session's profile directory (`--user-data-dir`), removed when dropped.
pub(super) struct Profile {
    pub(super) path: PathBuf,
}

impl Profile {
    fn create(path: PathBuf) -> Result<Self, BrowserError> {
        match std::fs::create_dir_all(&path) {
            Ok(()) => Ok(Profile { path }),
            Err(error) => Err(BrowserError::Start(format!("profile {}: {error}", path.display()))),
        }
    }

    async fn remove(mut self) {
        let path = std::mem::take(&mut self.path);
        if let Err(error) = tokio::fs::remove_dir_all(&path).await {
            tracing::warn!(profile = %path.display(), %error, "removing a browser profile failed");
        }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What the stops of sessions' groups did, added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stops {
    /// Groups stopped.
    pub(crate) stopped: u64,
    /// Of them, groups that outlived the grace and were sent SIGKILL.
    pub(crate) forced: u64,
    /// Processes of the groups that came back to this process and were reaped by it.
    pub(crate) descendants_reaped: u64,
    /// Stops that failed (a signal refused, a group still there after SIGKILL).
    pub(crate) failed: u64,
    /// Processes of the sessions outside their groups (Chromium's crash handlers), reaped.
    pub(crate) strays_reaped: u64,
    /// Of them, strays still running after the grace and sent SIGKILL.
    pub(crate) strays_killed: u64,
}

impl Stops {
    /// Counts a stop: what the group's stop did (`None` if it failed) and the strays' reaping.
    fn count(&mut self, stopped: Option<Stopped>, strays: Reaped) {
        match stopped {
            Some(stopped) => {
                self.stopped += 1;
                self.forced += u64::from(stopped.forced);
                self.descendants_reaped += stopped.descendants_reaped as u64;
            }
            None => self.failed += 1,
        }
        self.strays_reaped += strays.reaped as u64;
        self.strays_killed += strays.killed as u64;
    }
}
