//! This machine's host name, as the kernel tells it: the default name of a fleet's port plan.

/// The host name, with every character a Redis key's hash tag or a log line would trip on
/// (`{`, `}`, whitespace) replaced by `_`, at most 128 characters; `localhost` where the
/// kernel tells none (off Linux, or `/proc` not mounted), with a `WARN`.
pub(crate) fn host_name() -> String {
    let told =
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok().or_else(|| std::env::var("HOSTNAME").ok());
    match told.as_deref().map(str::trim).filter(|name| !name.is_empty()) {
        Some(name) => name
            .chars()
            .take(128)
            .map(|c| if c == '{' || c == '}' || c.is_whitespace() { '_' } else { c })
            .collect(),
        None => {
            tracing::warn!(target: "bursar::fleet", "no host name to read: the port plan is `localhost`'s");
            "localhost".to_owned()
        }
    }
}
