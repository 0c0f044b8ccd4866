//! What the crate's unit tests share.

/// Held by every unit test that starts a child process: some assert that this process has no
/// zombie child at all, which another test's child, ended and not yet waited for, would break.
pub(crate) static CHILD_PROCESSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
