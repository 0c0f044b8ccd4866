//! Every public handle, guard, value and future is `Send`, `Sync` and `Unpin` where promised,
//! and every error is a `std::error::Error` that crosses threads (checked at compile time).

use std::io;
use std::sync::Arc;

use bursar::breaker::{BreakerConfig, BreakerRegistry, BreakerStatus, CircuitBreaker, OwnedPermit, Permit};
use bursar::health::{CheckResult, ErrorReport, HealthConfig, Readings};
use bursar::pool::{
    AllPoolsStatus, LeakReport, Lease, Manager, Pool, PoolBuilder, PoolConfig, PoolError, PoolStatus,
};
use bursar::ports::{PortAllocator, PortError, PortLease, PortsConfig};
use bursar::{
    BuildError, CallbackStatus, Error, Governor, GovernorBuilder, GovernorConfig, Rejection, ShutdownReport,
    Status, TaskHandle,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}
fn unpin<T: Unpin>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

/// A manager for the pool's types; never run.
struct Sessions;

impl Manager for Sessions {
    type Key = String;
    type Connection = u32;
    type Error = io::Error;

    async fn create(&self, _: &String, _: &[PortLease]) -> Result<u32, io::Error> {
        Ok(1)
    }

    async fn check(&self, _: &mut u32) -> Result<(), io::Error> {
        Ok(())
    }

    async fn destroy(&self, _: u32) {}
}

#[test]
fn handles_values_and_errors_cross_threads() {
    send_sync::<Governor>();
    send_sync::<GovernorBuilder>();
    send_sync::<GovernorConfig>();
    send_sync::<Status>();
    send_sync::<CallbackStatus>();
    send_sync::<ShutdownReport>();
    send_sync::<TaskHandle<u32, io::Error>>();
    unpin::<TaskHandle<u32, io::Error>>();
    error::<Error<io::Error>>();
    error::<Rejection>();
    error::<BuildError>();
}

#[test]
fn the_parts_handles_and_guards_cross_threads() {
    send_sync::<CircuitBreaker>();
    send_sync::<BreakerRegistry<String>>();
    send_sync::<BreakerConfig>();
    send_sync::<BreakerStatus>();
    send_sync::<Permit<'static>>();
    send_sync::<OwnedPermit>();
    unpin::<OwnedPermit>();
    send_sync::<PortAllocator>();
    send_sync::<PortsConfig>();
    send_sync::<PortLease>();
    unpin::<PortLease>();
    error::<PortError>();
    send_sync::<Pool<Sessions>>();
    send_sync::<PoolBuilder<Sessions>>();
    send_sync::<PoolConfig>();
    send_sync::<PoolStatus>();
    send_sync::<AllPoolsStatus>();
    send_sync::<LeakReport>();
    send_sync::<Lease<Sessions>>();
    unpin::<Lease<Sessions>>();
    error::<PoolError<io::Error>>();
    send_sync::<HealthConfig>();
    send_sync::<CheckResult>();
    send_sync::<ErrorReport>();
    send_sync::<Readings>();
}

#[tokio::test]
async fn the_futures_are_send_when_the_operation_is() {
    let gov = Governor::builder().build().unwrap();
    let run = gov.run(|| async { Ok::<_, io::Error>(()) });
    send(&run);
    run.await.unwrap();
    let call = std::future::IntoFuture::into_future(gov.call(|| async { Ok::<_, io::Error>(()) }));
    send(&call);
    call.await.unwrap();
    let pool = Arc::new(Pool::builder(Sessions).build().unwrap());
    let get = pool.get("a".to_owned());
    send(&get);
    drop(get.await.unwrap());
    let shutdown = gov.shutdown(std::time::Duration::from_secs(1));
    send(&shutdown);
    shutdown.await;
}
