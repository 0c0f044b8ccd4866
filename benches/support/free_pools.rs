//! Pooled connections that cost nothing, for bursar's pool and deadpool's, so that what is
//! measured — by `benches/pool.rs` in time, by `examples/hot_paths.rs` in instructions — is the
//! pools themselves. Every check is free on both sides (bursar's `check`, deadpool's `recycle`).

use std::convert::Infallible;

use bursar::pool::Manager;
use bursar::ports::PortLease;

/// bursar's manager: a connection per key, the key as its value.
pub(crate) struct Free;

impl Manager for Free {
    type Key = u32;
    type Connection = u64;
    type Error = Infallible;

    async fn create(&self, key: &u32, _ports: &[PortLease]) -> Result<u64, Infallible> {
        Ok(u64::from(*key))
    }

    async fn check(&self, _connection: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    async fn destroy(&self, _connection: u64) {}
}

/// deadpool's managed pool over the same free connections.
pub(crate) struct FreeDeadpool;

impl deadpool::managed::Manager for FreeDeadpool {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(7)
    }

    async fn recycle(
        &self,
        _: &mut u64,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}
