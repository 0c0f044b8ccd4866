//! `contrib/`: the Grafana dashboard is valid JSON, and it and the Prometheus alert rules name
//! only metrics bursar records (the `bursar::metrics` table), so neither drifts from the code.

use std::collections::BTreeSet;
use std::path::Path;

use bursar::metrics::*;
use serde_json::Value;

/// Every metric `bursar::metrics` documents.
const METRICS: [&str; 43] = [
    CALLS_TOTAL,
    REJECTIONS_TOTAL,
    RETRIES_TOTAL,
    RETRY_BUDGET_EXHAUSTED_TOTAL,
    QUEUE_WAIT_SECONDS,
    WORKERS_MAX,
    WORKERS_EFFECTIVE_LIMIT,
    WORKERS_ACTIVE,
    WORKERS_QUEUED,
    WORKERS_QUEUE_LIMIT,
    WORKERS_RETRYING,
    BLOCKING_MAX,
    BLOCKING_ACTIVE,
    BLOCKING_QUEUED,
    BREAKER_STATE,
    POOL_CONNECTIONS,
    POOL_WAITING,
    POOL_MAX_TOTAL,
    POOL_LEAKS,
    PORTS_LEASED,
    PORTS_FREE,
    PORTS_QUARANTINED,
    HEALTH_LEVEL,
    HEALTH_CPU_PERCENT,
    HEALTH_MEMORY_PERCENT,
    HEALTH_THREADS,
    HEALTH_FDS_PERCENT,
    HEALTH_NPROC_PERCENT,
    HEALTH_SUPERVISED_PROCESSES,
    HEALTH_ERROR_RATE,
    HEALTH_ERRORS_TOTAL,
    HEALTH_RECOVERIES_TOTAL,
    MEMORY_RESERVED_BYTES,
    MEMORY_WAITING,
    MEMORY_AVAILABLE_BYTES,
    MEMORY_FLOOR_BYTES,
    FLEET_BACKEND_UP,
    FLEET_LEASES_HELD,
    FLEET_LIVE_INSTANCES,
    FLEET_LEASES_LOST_TOTAL,
    FLEET_FALLBACKS_TOTAL,
    FLEET_REFUSED_TOTAL,
    FLEET_BACKEND_ERRORS_TOTAL,
];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The `bursar_*` names in `text`, a histogram's `_bucket` series read as the histogram.
fn metric_names(text: &str) -> BTreeSet<String> {
    let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("bursar_") {
        let name: String = text[start..].chars().take_while(|c| is_name(*c)).collect();
        names.insert(name.strip_suffix("_bucket").unwrap_or(&name).to_owned());
    }
    names
}

fn unknown(names: &BTreeSet<String>) -> Vec<&String> {
    names.iter().filter(|name| !METRICS.contains(&name.as_str())).collect()
}

/// Every query of the dashboard's panels.
fn queries(dashboard: &Value) -> Vec<String> {
    let panels = dashboard["panels"].as_array().unwrap();
    let targets = panels.iter().filter_map(|panel| panel["targets"].as_array()).flatten();
    targets.map(|target| target["expr"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_dashboard_is_json_over_bursars_own_metrics() {
    let dashboard: Value = serde_json::from_str(&read("contrib/grafana/bursar.json")).unwrap();
    assert_eq!((dashboard["uid"].as_str(), dashboard["title"].as_str()), (Some("bursar"), Some("bursar")));
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 20, "{titles:?}");
    let queries = queries(&dashboard);
    let names = metric_names(&queries.join("\n"));
    assert_eq!(unknown(&names), Vec::<&String>::new());
    let missing: Vec<&&str> = METRICS.iter().filter(|metric| !names.contains(**metric)).collect();
    assert_eq!(missing, [&HEALTH_THREADS], "every metric but the thread count has a panel");
}

#[test]
fn the_alert_rules_name_only_bursars_metrics() {
    let rules = read("contrib/prometheus/alerts.yml");
    let expressions: Vec<&str> = rules.lines().filter_map(|line| line.trim().strip_prefix("expr:")).collect();
    assert_eq!(expressions.len(), 11);
    let names = metric_names(&expressions.join("\n"));
    assert_eq!(unknown(&names), Vec::<&String>::new());
    assert_eq!(names.len(), 12, "{names:?}");
}
