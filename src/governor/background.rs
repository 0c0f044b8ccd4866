//! The governor's own background tasks: tracked, and stopped when the governor shuts down or
//! its last handle is dropped — never left running on their own.

use parking_lot::Mutex;
use tokio::task::AbortHandle;

#[derive(Debug, Default)]
pub(super) struct Background {
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Background {
    pub(super) fn track(&self, task: AbortHandle) {
        self.tasks.lock().push(task);
    }

    /// Stops every task; returns how many were still running.
    pub(super) fn stop(&self) -> usize {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        let running = tasks.iter().filter(|task| !task.is_finished()).count();
        tasks.iter().for_each(AbortHandle::abort);
        running
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let stopped = self.stop();
        if stopped > 0 {
            tracing::debug!(target: "bursar", stopped, "last governor handle dropped; background tasks stopped");
        }
    }
}
