//! Why a browser step failed, and which failures a fresh session cures.

use std::fmt;

use bursar::pool::PoolError;
use fantoccini::error::{CmdError, NewSessionError};

/// Why a browser step failed.
#[derive(Debug)]
pub(crate) enum BrowserError {
    /// chromedriver could not be started or did not answer.
    Start(String),
    /// The WebDriver session could not be opened.
    NewSession(NewSessionError),
    /// A WebDriver command failed.
    Command(CmdError),
    /// No session could be had from the pool (its checkout timeout, its ports, closed).
    Pool(String),
}

impl BrowserError {
    /// Connection-level failures — refused, closed, the session gone with its driver or its
    /// browser — are transient: a fresh session will do. Anything else (a bad page, a wrong
    /// selector) is not.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            BrowserError::Start(_) | BrowserError::Pool(_) => true,
            BrowserError::NewSession(error) => matches!(
                error,
                NewSessionError::Failed(_) | NewSessionError::FailedC(_) | NewSessionError::Lost(_)
            ),
            BrowserError::Command(CmdError::Standard(error)) => {
                let message = error.to_string();
                ["invalid session id", "disconnected", "not reachable", "session deleted"]
                    .iter()
                    .any(|lost| message.contains(lost))
            }
            BrowserError::Command(error) => {
                matches!(
                    error,
                    CmdError::Lost(_) | CmdError::Failed(_) | CmdError::FailedC(_) | CmdError::NotJson(_)
                )
            }
        }
    }

    /// The variant's name, to count failures by kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            BrowserError::Start(_) => "Start",
            BrowserError::NewSession(_) => "NewSession",
            BrowserError::Command(_) => "Command",
            BrowserError::Pool(_) => "Pool",
        }
    }
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::Start(message) => write!(f, "chromedriver did not start: {message}"),
            BrowserError::NewSession(error) => write!(f, "no WebDriver session: {error}"),
            BrowserError::Command(error) => write!(f, "WebDriver command failed: {error}"),
            BrowserError::Pool(message) => write!(f, "no session from the pool: {message}"),
        }
    }
}

impl std::error::Error for BrowserError {}

impl From<PoolError<BrowserError>> for BrowserError {
    fn from(error: PoolError<BrowserError>) -> Self {
        match error {
            PoolError::Manager(error) => error,
            other => BrowserError::Pool(other.to_string()),
        }
    }
}
