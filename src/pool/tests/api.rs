//! The public types cross threads, and the futures are `Send`.

use std::io;

use super::support::{Fake, config, pool};
use crate::pool::{
    AllPoolsStatus, CloseReport, LeakReport, Lease, Pool, PoolBuilder, PoolConfig, PoolError, PoolStatus,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn handles_values_and_errors_cross_threads() {
    send_sync::<Pool<Fake>>();
    send_sync::<PoolBuilder<Fake>>();
    send_sync::<Lease<Fake>>();
    send_sync::<PoolConfig>();
    send_sync::<PoolStatus>();
    send_sync::<AllPoolsStatus>();
    send_sync::<LeakReport>();
    send_sync::<CloseReport>();
    error::<PoolError<io::Error>>();
}

#[tokio::test]
async fn the_futures_are_send() {
    let (pool, _probe) = pool(config(2, 2));
    let get = pool.get(1);
    send(&get);
    drop(get.await.unwrap());
    let close = pool.close();
    send(&close);
    close.await;
}
