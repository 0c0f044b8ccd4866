//! [`ErrorReport`]: an error the service saw outside a governed call, reported to the monitor.

/// An error reported with [`Governor::report_error`](crate::Governor::report_error). It
/// counts in the error rate and in `total_errors`, and runs the recovery callback registered
/// for its `kind`.
///
/// # Examples
///
/// ```
/// use bursar::health::ErrorReport;
///
/// let report = ErrorReport::new("webdriver", "connection closed while reading from the driver")
///     .session("job-42")
///     .recoverable(true);
/// assert_eq!(report.kind, "webdriver");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ErrorReport {
    /// What kind of error, e.g. `"webdriver"` or `"database"`; recovery callbacks are keyed by it.
    pub kind: String,
    /// What happened.
    pub message: String,
    /// The session it happened in, if any.
    pub session: Option<String>,
    /// Whether a recovery is worth trying (callbacks run only for recoverable errors).
    pub recoverable: bool,
}

impl ErrorReport {
    /// A recoverable error of `kind` with no session.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorReport { kind: kind.into(), message: message.into(), session: None, recoverable: true }
    }

    /// The session the error happened in.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Whether a recovery is worth trying.
    pub fn recoverable(mut self, recoverable: bool) -> Self {
        self.recoverable = recoverable;
        self
    }
}
