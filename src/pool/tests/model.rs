//! Random sequences of gets, returns, discards, failed checks, failed creates and time
//! passing, checked after every step against a model of the leases held: the caps hold, the
//! gauges match, every live connection holds exactly its two ports, and a `get` fails only
//! when leases really fill its key's cap or the pool, or when the create it made was one the
//! test made fail.

use std::time::Duration;

use proptest::prelude::*;

use super::support::{Behaviour, Fake, Step, config, pool_with_ports, ports, settle};
use crate::pool::{Lease, PoolError};

const MAX_TOTAL: usize = 5;
const MAX_PER_KEY: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    Take(u32),
    Return(usize),
    Discard(usize),
    FailNextCheck,
    FailNextCreate,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4u32).prop_map(Op::Take),
        2 => any::<usize>().prop_map(Op::Return),
        1 => any::<usize>().prop_map(Op::Discard),
        1 => Just(Op::FailNextCheck),
        1 => Just(Op::FailNextCreate),
        1 => (0..400u64).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

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
    let (pool, probe, allocator) = pool_with_ports(config);
    let mut held: Vec<Lease<Fake>> = Vec::new();
    // The model: how many of the next `create`s are set to fail.
    let mut create_failures = 0;
    for op in ops {
        match op {
            Op::Take(key) => {
                let of_key = held.iter().filter(|lease| lease.key == key).count();
                let room = of_key < MAX_PER_KEY && held.len() < MAX_TOTAL;
                let creates_before = probe.calls().0;
                let result = pool.get(key).await;
                let failed_create = create_failures > 0 && probe.calls().0 > creates_before;
                match result {
                    Ok(lease) => {
                        assert!(!failed_create, "a get succeeded through a failed create");
                        held.push(lease);
                    }
                    Err(PoolError::Timeout { .. }) => assert!(!room, "a get timed out with room: {held:?}"),
                    Err(PoolError::Manager(_)) => {
                        assert!(failed_create, "a create failed that was not made to")
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
                create_failures -= usize::from(failed_create);
                assert!(room || held.len() <= MAX_TOTAL);
            }
            Op::FailNextCreate => {
                probe.once(Step::Create, Behaviour::Error);
                create_failures += 1;
            }
            Op::Return(index) if !held.is_empty() => drop(held.swap_remove(index % held.len())),
            Op::Discard(index) if !held.is_empty() => Lease::discard(held.swap_remove(index % held.len())),
            Op::FailNextCheck => probe.once(Step::Check, Behaviour::Error),
            Op::Advance(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            Op::Return(_) | Op::Discard(_) => {}
        }
        settle().await;
        let (stats, live) = (pool.status(), probe.live());
        assert_eq!(stats.active, held.len());
        assert_eq!(stats.connections, stats.active + stats.idle, "nothing is being created or destroyed");
        assert_eq!(live.total, stats.connections);
        assert!(live.max_total <= MAX_TOTAL && live.max_per_key <= MAX_PER_KEY, "{live:?}");
        assert_eq!(stats.created - stats.destroyed, stats.connections as u64);
        let (leased, _, _) = ports(&allocator);
        assert_eq!(leased, 2 * stats.connections, "each live connection holds one vnc and one ws port");
    }
    drop(held);
    pool.close().await;
    let (_, created, _, destroyed) = probe.calls();
    assert_eq!((created, probe.live().total), (destroyed, 0));
    assert_eq!(ports(&allocator).0, 0, "no port leased once the pool is closed");
}
