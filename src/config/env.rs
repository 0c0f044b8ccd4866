//! Overlaying environment variables on a [`GovernorConfig`] (feature `toml`); the overlay
//! itself is in `overlay`.

use super::GovernorConfig;
use super::overlay::Overlay;
use super::sources::ConfigError;

#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
impl GovernorConfig {
    /// The defaults overlaid with the environment: see [`with_env`](Self::with_env).
    ///
    /// # Errors
    ///
    /// As [`with_env`](Self::with_env).
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        GovernorConfig::default().with_env(prefix)
    }

    /// Overlays every environment variable that starts with `{prefix}_`:
    /// `{PREFIX}_{SECTION}__{FIELD}` (nested sections joined by `__`, e.g.
    /// `BURSAR_RETRY__BUDGET__TTL=20s`), or the short `{PREFIX}_{FIELD}` when the field's name
    /// is unique (`BURSAR_MAX_WORKERS=20`). Values are TOML scalars: numbers, `true`/`false`,
    /// or text such as `30s`; integers may be as large as `u64::MAX`. Without such variables
    /// the configuration is returned as it is.
    ///
    /// # Errors
    ///
    /// - [`ConfigError::Env`] naming the variable that matches no key, matches several (use the
    ///   long form), or holds a value of the wrong type.
    /// - [`ConfigError::NotFinite`] naming the key of a number that is not finite, which the
    ///   overlay cannot carry (no configuration with one passes `build()` either).
    ///
    /// # Examples
    ///
    /// ```
    /// let vars = [("APP_MAX_WORKERS", "20"), ("APP_HEALTH__INTERVAL", "1m")];
    /// let config = bursar::GovernorConfig::default().with_vars("APP", vars)?;
    /// assert_eq!(config.workers.max_workers, 20);
    /// assert_eq!(config.health.interval.as_secs(), 60);
    /// # Ok::<(), bursar::ConfigError>(())
    /// ```
    pub fn with_env(self, prefix: &str) -> Result<Self, ConfigError> {
        let start = format!("{prefix}_");
        let mut vars = Vec::new();
        // `vars_os`: a variable of someone else's that is not Unicode must not panic here.
        for (var, value) in std::env::vars_os() {
            let Some(var) = var.to_str().filter(|var| var.starts_with(&start)) else { continue };
            let value = value.into_string().map_err(|_| ConfigError::Env {
                var: var.to_owned(),
                message: "the value is not valid Unicode".to_owned(),
            })?;
            vars.push((var.to_owned(), value));
        }
        self.with_vars(prefix, vars)
    }

    /// [`with_env`](Self::with_env) over the given variables instead of the process's.
    ///
    /// # Errors
    ///
    /// As [`with_env`](Self::with_env).
    pub fn with_vars<K, V>(
        self,
        prefix: &str,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let start = format!("{prefix}_");
        let mut overlay = None;
        let mut config = self;
        for (var, value) in vars {
            let var = var.as_ref();
            let Some(name) = var.strip_prefix(&start) else { continue };
            let overlay = match &mut overlay {
                Some(overlay) => overlay,
                None => overlay.insert(Overlay::of(&config)?),
            };
            config = overlay.set(var, name, value.as_ref())?;
        }
        Ok(config)
    }
}
