//! The fluent form of every `#[non_exhaustive]` configuration struct, and the builder's
//! shortcuts for the breaker and the health monitor: each gives exactly the configuration that
//! assigning the fields gives, and `build()` checks it just the same.

mod support;

use std::time::Duration;

use bursar::breaker::{BreakerConfig, FailureRate, RateWindow, SlowCall};
use bursar::health::{HealthConfig, HealthLevel, Readings, Sampler, Thresholds};
use bursar::pool::PoolConfig;
use bursar::ports::{PortRange, PortsConfig};
use bursar::retry::Jitter;
use bursar::{BudgetConfig, Error, Governor, GovernorBuilder, GovernorConfig, Rejection};
use bursar::{RetryConfig, WorkerConfig};
use support::Io;

const fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn the_pool_config_written_fluently_equals_it_assigned() {
    let fluent = PoolConfig::default()
        .max_total(40)
        .max_per_key(8)
        .checkout_timeout(secs(10))
        .idle_timeout(secs(120))
        .max_lifetime(secs(1800))
        .lifetime_jitter(0.2)
        .reap_interval(secs(5))
        .leak_threshold(secs(300))
        .ports(["vnc", "ws"]);
    let mut assigned = PoolConfig::default();
    assigned.max_total = 40;
    assigned.max_per_key = 8;
    assigned.checkout_timeout = secs(10);
    assigned.idle_timeout = secs(120);
    assigned.max_lifetime = secs(1800);
    assigned.lifetime_jitter = 0.2;
    assigned.reap_interval = secs(5);
    assigned.leak_threshold = secs(300);
    assigned.ports = vec!["vnc".to_owned(), "ws".to_owned()];
    assert_eq!(fluent, assigned);
    assert_ne!(fluent, PoolConfig::default());
}

#[test]
fn the_worker_and_retry_configs_written_fluently_equal_them_assigned() {
    let fluent = WorkerConfig::default()
        .max_workers(4)
        .queue_limit(50)
        .queue_timeout(secs(5))
        .max_task_duration(secs(60))
        .blocking_threads(2)
        .blocking_queue_limit(20);
    let mut assigned = WorkerConfig::default();
    (assigned.max_workers, assigned.queue_limit, assigned.queue_timeout) = (4, 50, Some(secs(5)));
    (assigned.max_task_duration, assigned.blocking_threads, assigned.blocking_queue_limit) =
        (secs(60), 2, 20);
    assert_eq!(fluent, assigned);
    assert_eq!(fluent.clone().queue_timeout(None).queue_timeout, None);

    let budget = BudgetConfig::default().enabled(false).ttl(secs(20)).min_per_sec(3).retry_ratio(0.5);
    let mut assigned_budget = BudgetConfig::default();
    (assigned_budget.enabled, assigned_budget.ttl) = (false, secs(20));
    (assigned_budget.min_per_sec, assigned_budget.retry_ratio) = (3, 0.5);
    assert_eq!(budget, assigned_budget);

    let fluent = RetryConfig::default()
        .max_attempts(5)
        .initial_delay(Duration::from_millis(100))
        .multiplier(3.0)
        .max_delay(secs(10))
        .jitter(Jitter::Full)
        .seed(7)
        .deadline(secs(60))
        .budget(budget.clone());
    let mut assigned = RetryConfig::default();
    (assigned.max_attempts, assigned.initial_delay) = (5, Duration::from_millis(100));
    (assigned.multiplier, assigned.max_delay, assigned.jitter) = (3.0, secs(10), Jitter::Full);
    (assigned.seed, assigned.deadline, assigned.budget) = (Some(7), Some(secs(60)), budget);
    assert_eq!(fluent, assigned);
}

#[test]
fn the_breaker_health_and_ports_configs_written_fluently_equal_them_assigned() {
    let rate = FailureRate::default().threshold(0.25).window(RateWindow::Count(50)).min_calls(10);
    assert_eq!(rate, FailureRate::new(0.25, RateWindow::Count(50), 10));
    assert_eq!(SlowCall::default().threshold(secs(20)), SlowCall::new(secs(20)));
    let fluent = BreakerConfig::default()
        .failure_threshold(3)
        .failure_rate(rate.clone())
        .slow_call(SlowCall::new(secs(20)))
        .open_wait(secs(30))
        .open_wait_multiplier(2.0)
        .max_open_wait(secs(600))
        .half_open_probes(2)
        .probes_to_close(2)
        .max_keys(100);
    let mut assigned = BreakerConfig::default();
    (assigned.failure_threshold, assigned.failure_rate) = (3, Some(rate));
    (assigned.slow_call, assigned.open_wait) = (Some(SlowCall::new(secs(20))), secs(30));
    (assigned.open_wait_multiplier, assigned.max_open_wait) = (2.0, secs(600));
    (assigned.half_open_probes, assigned.probes_to_close, assigned.max_keys) = (2, 2, 100);
    assert_eq!(fluent, assigned);

    let cpu = Thresholds { warn: 70.0, critical: 90.0 };
    let fluent = HealthConfig::default()
        .enabled(false)
        .interval(secs(5))
        .dwell(secs(20))
        .cpu_percent(cpu)
        .memory_percent(cpu)
        .fds_percent(Thresholds { warn: 50.0, critical: 60.0 })
        .nproc_percent(Thresholds { warn: 70.0, critical: 75.0 })
        .supervised_processes(Thresholds { warn: 10.0, critical: 20.0 })
        .error_rate(Thresholds { warn: 0.2, critical: 0.6 })
        .error_window(secs(60))
        .error_min_calls(5)
        .degraded_worker_ratio(0.8)
        .unhealthy_worker_ratio(0.4)
        .shed_when_critical(false)
        .recovery_cooldown(secs(30));
    let mut assigned = HealthConfig::default();
    (assigned.enabled, assigned.interval, assigned.dwell) = (false, secs(5), Some(secs(20)));
    (assigned.cpu_percent, assigned.memory_percent) = (cpu, cpu);
    assigned.fds_percent = Thresholds { warn: 50.0, critical: 60.0 };
    assigned.nproc_percent = Thresholds { warn: 70.0, critical: 75.0 };
    assigned.supervised_processes = Some(Thresholds { warn: 10.0, critical: 20.0 });
    assigned.error_rate = Thresholds { warn: 0.2, critical: 0.6 };
    (assigned.error_window, assigned.error_min_calls) = (secs(60), 5);
    (assigned.degraded_worker_ratio, assigned.unhealthy_worker_ratio) = (0.8, 0.4);
    (assigned.shed_when_critical, assigned.recovery_cooldown) = (false, secs(30));
    assert_eq!(fluent, assigned);

    let devtools = PortRange::new("vnc", 1..=2).name("devtools").first(9222).last(9299);
    assert_eq!(devtools, PortRange::new("devtools", 9222..=9299));
    let fluent = PortsConfig::default().ranges(vec![devtools.clone()]).quarantine(secs(60)).host_check(false);
    let mut assigned = PortsConfig::default();
    (assigned.ranges, assigned.quarantine, assigned.host_check) = (vec![devtools], secs(60), false);
    assert_eq!(fluent, assigned);
}

#[test]
fn the_whole_config_written_fluently_equals_it_assigned() {
    let fluent = GovernorConfig::default()
        .workers(WorkerConfig::default().max_workers(20))
        .retry(RetryConfig::default().max_attempts(1))
        .health(HealthConfig::disabled())
        .ports(PortsConfig::default().host_check(false))
        .breaker(BreakerConfig::default().failure_threshold(10))
        .pool(PoolConfig::default().max_total(20).max_per_key(5).ports(["vnc", "ws"]));
    let mut assigned = GovernorConfig::default();
    assigned.workers.max_workers = 20;
    assigned.retry.max_attempts = 1;
    assigned.health.enabled = false;
    assigned.ports.host_check = false;
    assigned.breaker.failure_threshold = 10;
    assigned.pool.ports = vec!["vnc".to_owned(), "ws".to_owned()];
    assert_eq!(fluent, assigned);
    assert_eq!(fluent.validate(), Ok(()));
}

#[test]
fn build_checks_what_the_fluent_forms_and_the_shortcuts_set() {
    let from = |config: GovernorConfig| GovernorBuilder::from_config(config);
    let cases: Vec<(GovernorBuilder, &str, &str)> = vec![
        (
            Governor::builder().pool_config(PoolConfig::default().max_total(0)),
            "pool.max_total",
            "must be at least 1 (got 0)",
        ),
        (
            from(GovernorConfig::default().pool(PoolConfig::default().ports(["rdp"]))),
            "pool.ports",
            "must each name a range of `ports.ranges` (got [0] \"rdp\")",
        ),
        (
            from(GovernorConfig::default().breaker(BreakerConfig::default().half_open_probes(0))),
            "breaker.half_open_probes",
            "must be from 1 to 1000 (got 0)",
        ),
        (
            Governor::builder().failure_threshold(0),
            "breaker.failure_threshold",
            "must be from 1 to 1000 (got 0)",
        ),
        (
            Governor::builder().open_wait(secs(3600)),
            "breaker.max_open_wait",
            "must be at least `breaker.open_wait` (got 1800s)",
        ),
        (
            Governor::builder().health_interval(Duration::from_micros(500)),
            "health.interval",
            "must be at least 1 ms, tokio's timer resolution (got 500µs)",
        ),
        (
            Governor::builder().cpu_percent(Thresholds { warn: 90.0, critical: 80.0 }),
            "health.cpu_percent",
            "must have 0 <= warn <= critical <= 100 (got warn 90, critical 80)",
        ),
        (
            Governor::builder().memory_percent(Thresholds { warn: 85.0, critical: 101.0 }),
            "health.memory_percent",
            "must have 0 <= warn <= critical <= 100 (got warn 85, critical 101)",
        ),
        (
            Governor::builder().error_rate(Thresholds { warn: 0.1, critical: 5.0 }),
            "health.error_rate",
            "must have 0 <= warn <= critical <= 1 (got warn 0.1, critical 5)",
        ),
    ];
    for (builder, field, rule) in cases {
        let error = builder.build().unwrap_err();
        assert_eq!(error.field(), Some(field));
        assert_eq!(error.to_string(), format!("invalid configuration: `{field}` {rule}"));
    }
}

#[tokio::test(start_paused = true)]
async fn the_breaker_shortcuts_set_the_seeds_failure_threshold_and_open_wait() {
    let gov = support::builder().max_attempts(1).failure_threshold(2).open_wait(secs(30)).build().unwrap();
    for _ in 0..2 {
        let failed = gov.run(|| async { Err::<(), _>(support::io_error("connection reset")) }).await;
        assert!(matches!(failed, Err(Error::Operation(_))), "{failed:?}");
    }
    let rejected = gov.run(|| async { Ok::<_, Io>(()) }).await.unwrap_err();
    assert_eq!(rejected.rejection(), Some(Rejection::CircuitOpen { retry_after: secs(30) }));
}

/// CPU readings the monitor samples: always `cpu` percent.
struct Cpu(f64);

impl Sampler for Cpu {
    async fn sample(&mut self) -> Readings {
        Readings::new(self.0, 10.0, 12)
    }
}

#[tokio::test(start_paused = true)]
async fn the_health_shortcuts_set_the_seeds_interval_and_thresholds() {
    let gov = Governor::builder()
        .health_interval(secs(5))
        .cpu_percent(Thresholds { warn: 50.0, critical: 90.0 })
        .memory_percent(Thresholds { warn: 5.0, critical: 90.0 })
        .sampler(Cpu(60.0))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(gov.health_level(), HealthLevel::Unhealthy, "CPU 60 over 50, memory 10 over 5");
    let reasons = gov.status().health.reasons;
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(gov.liveness().passed());
    tokio::time::sleep(secs(14)).await;
    assert!(gov.liveness().passed(), "sampled every 5 s: three intervals are 15 s");
}
