//! The environment overlay: the configuration is turned into a JSON value, each variable sets
//! one key of it, and the value is read back. JSON, not TOML: TOML's integers stop at
//! `i64::MAX`, and `retry.seed`, `breaker.max_keys` or `health.error_min_calls` may be larger.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::GovernorConfig;
use super::sources::ConfigError;

/// Every leaf key's name and its full paths, e.g. `max_workers` → `[["workers", "max_workers"]]`.
type Leaves = BTreeMap<String, Vec<Vec<String>>>;

/// The configuration as a JSON value, and where each key is in it.
pub(super) struct Overlay {
    tree: Map<String, Value>,
    leaves: Leaves,
}

impl Overlay {
    /// The overlay of `config`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NotFinite`] naming the first key whose number is NaN or infinite.
    pub(super) fn of(config: &GovernorConfig) -> Result<Self, ConfigError> {
        let tree = to_tree(config);
        let leaves = leaf_paths(&to_tree(&with_every_key(config)));
        if let Some(key) = lost_number(&tree, &leaves) {
            return Err(ConfigError::NotFinite { key });
        }
        Ok(Overlay { tree, leaves })
    }

    /// Sets the key `name` (of the variable `var`) stands for to `value`, and reads the
    /// configuration back.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] naming `var`: `name` names no key or several, or `value` does not
    /// fit the key (the message ends with the key's path).
    pub(super) fn set(&mut self, var: &str, name: &str, value: &str) -> Result<GovernorConfig, ConfigError> {
        let env_error = |message: String| ConfigError::Env { var: var.to_owned(), message };
        let path = key_path(name, &self.leaves).map_err(env_error)?;
        set(&mut self.tree, &path, scalar(value));
        serde_json::from_value(Value::Object(self.tree.clone()))
            .map_err(|error| env_error(format!("{error} ({})", path.join("."))))
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

fn to_tree(config: &GovernorConfig) -> Map<String, Value> {
    match serde_json::to_value(config) {
        Ok(Value::Object(tree)) => tree,
        // A struct of sections, with string keys only: always an object.
        other => unreachable!("a configuration is a JSON object, not {other:?}"),
    }
}

/// The first key whose number JSON lost: it has no NaN or infinity, and writes `null` instead.
fn lost_number(tree: &Map<String, Value>, leaves: &Leaves) -> Option<String> {
    let numbers = to_tree(&with_every_key(&GovernorConfig::default()));
    let (tree, numbers) = (Value::Object(tree.clone()), Value::Object(numbers));
    let pointer = |path: &[String]| format!("/{}", path.join("/"));
    let lost = |path: &&Vec<String>| {
        numbers.pointer(&pointer(path)).is_some_and(Value::is_f64)
            && tree.pointer(&pointer(path)).is_some_and(Value::is_null)
    };
    leaves.values().flatten().find(lost).map(|path| path.join("."))
}

fn leaf_paths(tree: &Map<String, Value>) -> Leaves {
    fn walk(tree: &Map<String, Value>, prefix: &[String], leaves: &mut Leaves) {
        for (key, value) in tree {
            let mut path = prefix.to_vec();
            path.push(key.clone());
            match value {
                Value::Object(inner) => walk(inner, &path, leaves),
                _ => leaves.entry(key.clone()).or_default().push(path),
            }
        }
    }
    let mut leaves = Leaves::new();
    walk(tree, &[], &mut leaves);
    leaves
}

/// The key path a variable's name stands for.
fn key_path(name: &str, leaves: &Leaves) -> Result<Vec<String>, String> {
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

/// The value as TOML reads it — an integer up to `u64::MAX` too — or else as text.
fn scalar(text: &str) -> Value {
    if let Ok(integer) = text.parse::<u64>() {
        return Value::from(integer);
    }
    let parsed =
        format!("value = {text}").parse::<toml::Table>().ok().and_then(|mut table| table.remove("value"));
    match parsed {
        // A table, a date or a number JSON cannot hold: the text, for the key to judge.
        None | Some(toml::Value::Table(_) | toml::Value::Datetime(_)) => Value::String(text.to_owned()),
        Some(toml::Value::Float(float)) if !float.is_finite() => Value::String(text.to_owned()),
        Some(value) => serde_json::to_value(value).unwrap_or_else(|_| Value::String(text.to_owned())),
    }
}

fn set(tree: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, sections)) = path.split_last() else { return };
    let mut tree = tree;
    for section in sections {
        let entry = tree.entry(section.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(inner) = entry else { return };
        tree = inner;
    }
    tree.insert(last.clone(), value);
}
