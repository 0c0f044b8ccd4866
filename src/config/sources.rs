//! Loading a [`GovernorConfig`] from a TOML file (feature `toml`); the environment is overlaid
//! in `env`. Loading only parses; every rule is still checked once, by `build()`.

use std::path::{Path, PathBuf};

use super::GovernorConfig;

/// A configuration that could not be read; it names the file, key or variable at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or a key is unknown or of the wrong type; the message names the
    /// key and the line.
    #[error("invalid configuration{}: {message}", in_file(.path))]
    Toml {
        /// The file, if the TOML came from one.
        path: Option<PathBuf>,
        /// What is wrong, and where.
        message: String,
    },
    /// An environment variable names no configuration key, names one ambiguously, or holds a
    /// value of the wrong type.
    #[error("invalid environment variable {var}: {message}")]
    Env {
        /// The variable, e.g. `BURSAR_MAX_WORKERS`.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration environment variables were to be overlaid on holds a number that is
    /// not finite (NaN or infinite), which the overlay cannot carry.
    #[error("cannot overlay the environment: `{key}` is not a finite number")]
    NotFinite {
        /// The key, e.g. `retry.multiplier`.
        key: String,
    },
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|path| format!(" in {}", path.display())).unwrap_or_default()
}

#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
impl GovernorConfig {
    /// Parses a configuration from TOML; missing keys take their defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Toml`] naming the key and line of a malformed, unknown or mistyped value.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = bursar::GovernorConfig::from_toml(r#"
    ///     [workers]
    ///     max_workers = 20
    ///     max_task_duration = "10m"
    /// "#)?;
    /// assert_eq!(config.workers.max_workers, 20);
    /// assert_eq!(config.workers.max_task_duration.as_secs(), 600);
    /// # Ok::<(), bursar::ConfigError>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Toml { path: None, message: error.to_string() })
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] if the file cannot be read, [`ConfigError::Toml`] as
    /// [`from_toml`](Self::from_toml).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::from_toml(&text).map_err(|error| match error {
            ConfigError::Toml { message, .. } => ConfigError::Toml { path: Some(path.into()), message },
            other => other,
        })
    }
}
