//! Loading a [`GovernorConfig`] from a TOML file and from environment variables (feature
//! `toml`). Loading only parses; every rule is still checked once, by `build()`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

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
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|path| format!(" in {}", path.display())).unwrap_or_default()
}

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
    /// or text such as `30s`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] naming the variable that matches no key, matches several (use the
    /// long form), or holds a value of the wrong type.
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
        let mut table = to_table(&self)?;
        let leaves = leaf_paths(&to_table(&with_every_key(&self))?);
        let mut config = self;
        for (var, value) in vars {
            let var = var.as_ref();
            let Some(name) = var.strip_prefix(&start) else { continue };
            let env_error = |message: String| ConfigError::Env { var: var.to_owned(), message };
            let path = key_path(name, &leaves).map_err(env_error)?;
            set(&mut table, &path, scalar(value.as_ref()));
            config = Value::Table(table.clone()).try_into().map_err(|error: toml::de::Error| {
                env_error(format!("{} ({})", error.message(), path.join(".")))
            })?;
        }
        Ok(config)
    }
}

/// `config` with every optional value present, so that each key has a leaf to find by its
/// short name even where the configuration leaves it out (`queue_timeout`, `deadline`, …).
fn with_every_key(config: &GovernorConfig) -> GovernorConfig {
    let mut full = config.clone();
    let any = std::time::Duration::from_secs(1);
    full.workers.queue_timeout.get_or_insert(any);
    full.retry.seed.get_or_insert(0);
    full.retry.deadline.get_or_insert(any);
    full.health.dwell.get_or_insert(any);
    full.breaker.failure_rate.get_or_insert_with(Default::default);
    full.breaker.slow_call.get_or_insert_with(Default::default);
    full
}

fn to_table(config: &GovernorConfig) -> Result<Table, ConfigError> {
    match Value::try_from(config) {
        Ok(Value::Table(table)) => Ok(table),
        other => Err(ConfigError::Toml {
            path: None,
            message: format!("cannot represent the configuration: {other:?}"),
        }),
    }
}

/// Every leaf key's name and its full path, e.g. `max_workers` → `["workers", "max_workers"]`.
fn leaf_paths(table: &Table) -> BTreeMap<String, Vec<Vec<String>>> {
    fn walk(table: &Table, prefix: &[String], leaves: &mut BTreeMap<String, Vec<Vec<String>>>) {
        for (key, value) in table {
            let mut path = prefix.to_vec();
            path.push(key.clone());
            match value {
                Value::Table(inner) => walk(inner, &path, leaves),
                _ => leaves.entry(key.clone()).or_default().push(path),
            }
        }
    }
    let mut leaves = BTreeMap::new();
    walk(table, &[], &mut leaves);
    leaves
}

/// The key path a variable's name stands for.
fn key_path(name: &str, leaves: &BTreeMap<String, Vec<Vec<String>>>) -> Result<Vec<String>, String> {
    let name = name.to_ascii_lowercase();
    if name.contains("__") {
        return Ok(name.split("__").map(str::to_owned).collect());
    }
    match leaves.get(&name).map(Vec::as_slice) {
        Some([path]) => Ok(path.clone()),
        Some(paths) => {
            let keys: Vec<String> = paths.iter().map(|path| path.join(".")).collect();
            Err(format!("`{name}` is ambiguous ({}); name the section with `__`", keys.join(", ")))
        }
        None => Err(format!("no configuration key is called `{name}`")),
    }
}

/// The value as TOML reads it, or else as text.
fn scalar(text: &str) -> Value {
    format!("value = {text}")
        .parse::<Table>()
        .ok()
        .and_then(|mut table| table.remove("value"))
        .filter(|value| !matches!(value, Value::Table(_)))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn set(table: &mut Table, path: &[String], value: Value) {
    let Some((last, sections)) = path.split_last() else { return };
    let mut table = table;
    for section in sections {
        let entry = table.entry(section.clone()).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(inner) = entry else { return };
        table = inner;
    }
    table.insert(last.clone(), value);
}
