//! An idle connection is checked before reuse; one that fails is destroyed and replaced
//! within the same `get`.

use super::support::{Behaviour, FakeError, Step, config, pool, settle};
use crate::pool::PoolError;

#[tokio::test(start_paused = true)]
async fn a_connection_that_passes_its_check_is_reused() {
    let (pool, probe) = pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    let again = pool.get(1).await.unwrap();
    assert_eq!(again.id, 1);
    assert_eq!(probe.calls(), (1, 1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_replaces_the_connection_within_the_same_get() {
    let (pool, probe) = pool(config(1, 1)); // full: the new one must take the broken one's place
    drop(pool.get(1).await.unwrap());
    probe.once(Step::Check, Behaviour::Error);

    let replaced = pool.get(1).await.expect("a failed check is not an error of the get");
    assert_eq!(replaced.id, 2);
    settle().await;
    assert_eq!(probe.calls(), (2, 2, 1, 1));
    assert_eq!(probe.destroyed_ids(), [1]);
    let stats = pool.stats();
    assert_eq!((stats.check_failed, stats.created, stats.destroyed, stats.connections), (1, 2, 1, 1));
    assert_eq!(probe.live().max_total, 1, "the replacement was created only once the broken one was gone");
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_then_a_failed_create_returns_the_managers_error() {
    let (pool, probe) = pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    probe.once(Step::Check, Behaviour::Error);
    probe.once(Step::Create, Behaviour::Error);

    let error = pool.get(1).await.unwrap_err();
    assert!(matches!(error, PoolError::Manager(FakeError(Step::Create))), "{error:?}");
    settle().await;
    assert_eq!(probe.calls(), (2, 1, 1, 1));
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.sessions, stats.idle), (0, 0, 0));
}
