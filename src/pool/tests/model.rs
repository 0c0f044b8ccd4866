//! Random sequences of gets, returns, discards, failed checks and time passing, checked
//! after every step: the caps hold, the gauges match the leases held, and a `get` fails only
//! when leases really fill its key's cap or the pool.

use std::time::Duration;

use proptest::prelude::*;

use super::support::{Behaviour, Fake, Step, config, pool, settle};
use crate::pool::{Lease, PoolError};

const MAX_TOTAL: usize = 5;
const MAX_PER_KEY: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    Take(u32),
    Return(usize),
    Discard(usize),
    FailNextCheck,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4u32).prop_map(Op::Take),
        2 => any::<usize>().prop_map(Op::Return),
        1 => any::<usize>().prop_map(Op::Discard),
        1 => Just(Op::FailNextCheck),
        1 => (0..400u64).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn counts_stay_exact_and_gets_fail_only_when_leases_fill_the_caps(ops in prop::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(run(ops));
    }
}

async fn run(ops: Vec<Op>) {
    let mut config = config(MAX_TOTAL, MAX_PER_KEY);
    config.checkout_timeout = Duration::from_secs(1);
    (config.idle_timeout, config.max_lifetime, config.reap_interval) =
        (Duration::from_secs(60), Duration::from_secs(300), Duration::from_secs(10));
    let (pool, probe) = pool(config);
    let mut held: Vec<Lease<Fake>> = Vec::new();
    for op in ops {
        match op {
            Op::Take(key) => {
                let of_key = held.iter().filter(|lease| lease.key == key).count();
                let room = of_key < MAX_PER_KEY && held.len() < MAX_TOTAL;
                match pool.get(key).await {
                    Ok(lease) => held.push(lease),
                    Err(PoolError::Timeout { .. }) => assert!(!room, "a get timed out with room: {held:?}"),
                    Err(other) => panic!("unexpected {other:?}"),
                }
                assert!(room || held.len() <= MAX_TOTAL);
            }
            Op::Return(index) if !held.is_empty() => drop(held.swap_remove(index % held.len())),
            Op::Discard(index) if !held.is_empty() => Lease::discard(held.swap_remove(index % held.len())),
            Op::FailNextCheck => probe.once(Step::Check, Behaviour::Error),
            Op::Advance(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            Op::Return(_) | Op::Discard(_) => {}
        }
        settle().await;
        let (stats, live) = (pool.stats(), probe.live());
        assert_eq!(stats.active, held.len());
        assert_eq!(stats.connections, stats.active + stats.idle, "nothing is being created or destroyed");
        assert_eq!(live.total, stats.connections);
        assert!(live.max_total <= MAX_TOTAL && live.max_per_key <= MAX_PER_KEY, "{live:?}");
        assert_eq!(stats.created - stats.destroyed, stats.connections as u64);
    }
    drop(held);
    pool.close().await;
    let (_, created, _, destroyed) = probe.calls();
    assert_eq!((created, probe.live().total), (destroyed, 0));
}
