//! The manager's `create`, `check` and `destroy` run contained: a panic is counted, handled as
//! the documented failure, and leaves the pool exact and serving; a hang is cut off by the
//! checkout timeout with nothing left behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::support::{Behaviour, Step, config, pool_with_ports, ports, settle};
use crate::pool::{Lease, Manager, Pool, PoolConfig, PoolError};
use crate::ports::PortLease;

#[tokio::test(start_paused = true)]
async fn a_create_that_panics_is_a_failed_create_that_gives_its_place_and_ports_back() {
    let (pool, probe, allocator) = pool_with_ports(config(2, 2));
    probe.once(Step::Create, Behaviour::Panic);

    let error = pool.get(1).await.unwrap_err();
    let PoolError::ManagerPanicked { message } = &error else { panic!("expected a panic, got {error:?}") };
    assert_eq!(message, "Create panicked");
    assert_eq!(error.to_string(), "the manager's create panicked: Create panicked");
    let stats = pool.status();
    assert_eq!((stats.connections, stats.active, stats.idle, stats.sessions), (0, 0, 0, 0));
    assert_eq!((stats.created, stats.callback_panics), (0, 1));
    assert_eq!(ports(&allocator), (0, 198, 2), "both ports given back, resting");

    let lease = pool.get(1).await.unwrap();
    assert_eq!((lease.id, pool.status().connections, pool.status().active), (1, 1, 1));
    assert_eq!(ports(&allocator), (2, 196, 2));
}

#[tokio::test(start_paused = true)]
async fn a_check_that_panics_finds_the_connection_broken_and_the_get_creates_another() {
    let (pool, probe, allocator) = pool_with_ports(config(2, 2));
    drop(pool.get(1).await.unwrap());
    probe.once(Step::Check, Behaviour::Panic);

    let lease = pool.get(1).await.unwrap();
    assert_eq!(lease.id, 2, "a new connection, made in the same get");
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.connections, stats.active, stats.idle), (1, 1, 0));
    assert_eq!((stats.created, stats.destroyed, stats.check_failed, stats.callback_panics), (2, 1, 1, 1));
    assert_eq!(probe.destroyed_ids(), [1]);
    assert_eq!(ports(&allocator), (2, 196, 2), "the broken connection's ports freed");

    drop(lease);
    assert_eq!(pool.get(1).await.unwrap().id, 2, "still serving");
}

#[tokio::test(start_paused = true)]
async fn a_destroy_that_panics_is_counted_and_its_ports_and_place_are_freed() {
    let (pool, probe, allocator) = pool_with_ports(config(1, 1));
    probe.once(Step::Destroy, Behaviour::Panic);
    Lease::discard(pool.get(1).await.unwrap());
    settle().await;

    let stats = pool.status();
    assert_eq!((stats.connections, stats.active, stats.idle), (0, 0, 0));
    assert_eq!((stats.created, stats.destroyed, stats.discarded, stats.callback_panics), (1, 1, 1, 1));
    assert_eq!(ports(&allocator), (0, 198, 2));

    assert_eq!(pool.get(2).await.unwrap().id, 2, "the place is free again (max_total 1)");
}

#[tokio::test(start_paused = true)]
async fn a_create_that_hangs_is_cut_off_at_the_checkout_timeout_leaving_nothing() {
    let mut config = config(1, 1);
    config.checkout_timeout = Duration::from_secs(3);
    let (pool, probe, allocator) = pool_with_ports(config);
    probe.once(Step::Create, Behaviour::Never);

    let started = tokio::time::Instant::now();
    let error = pool.get(1).await.unwrap_err();
    assert!(matches!(error, PoolError::Timeout { waited } if waited == Duration::from_secs(3)));
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    let stats = pool.status();
    assert_eq!((stats.connections, stats.active, stats.timeouts, stats.callback_panics), (0, 0, 1, 0));
    assert_eq!(ports(&allocator), (0, 198, 2));
    assert_eq!(pool.get(1).await.unwrap().id, 1);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_hangs_is_cut_off_at_the_checkout_timeout_and_the_connection_destroyed() {
    let mut config = config(1, 1);
    config.checkout_timeout = Duration::from_secs(3);
    let (pool, probe, allocator) = pool_with_ports(config);
    drop(pool.get(1).await.unwrap());
    probe.once(Step::Check, Behaviour::Never);

    let error = pool.get(1).await.unwrap_err();
    assert!(matches!(error, PoolError::Timeout { .. }), "got {error:?}");
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.connections, stats.active, stats.idle), (0, 0, 0));
    assert_eq!((stats.destroyed, stats.timeouts, stats.callback_panics), (1, 1, 0));
    assert_eq!(ports(&allocator), (0, 198, 2));
    assert_eq!(pool.get(1).await.unwrap().id, 2);
}

/// A manager whose methods, when told to, panic before they make their futures: code that
/// runs when the method is called, not when its future is polled.
#[derive(Debug, Default)]
struct PanicsEarly {
    create_panics: AtomicBool,
    check_panics: AtomicBool,
    /// `check` never finishes, and its future panics when dropped.
    check_hangs: AtomicBool,
    /// `create` never finishes, and its future panics when dropped.
    create_hangs: AtomicBool,
    destroy_panics: AtomicBool,
    created: AtomicUsize,
    destroyed: AtomicUsize,
}

impl Manager for PanicsEarly {
    type Key = u32;
    type Connection = usize;
    type Error = std::io::Error;

    fn create(
        &self,
        _key: &u32,
        _ports: &[PortLease],
    ) -> impl Future<Output = Result<usize, std::io::Error>> + Send {
        assert!(!self.create_panics.load(Ordering::SeqCst), "sync create");
        let hangs = self.create_hangs.load(Ordering::SeqCst).then(|| PanicsOnDrop("create dropped"));
        let id = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if let Some(_hangs) = hangs {
                std::future::pending::<()>().await;
            }
            Ok(id)
        }
    }

    fn check(&self, _connection: &mut usize) -> impl Future<Output = Result<(), std::io::Error>> + Send {
        assert!(!self.check_panics.load(Ordering::SeqCst), "sync check");
        let hangs = self.check_hangs.load(Ordering::SeqCst).then(|| PanicsOnDrop("check dropped"));
        async move {
            if let Some(_hangs) = hangs {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    }

    fn destroy(&self, _connection: usize) -> impl Future<Output = ()> + Send {
        assert!(!self.destroy_panics.load(Ordering::SeqCst), "sync destroy");
        self.destroyed.fetch_add(1, Ordering::SeqCst);
        async {}
    }
}

struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

fn panics_early() -> (Arc<Pool<Arc<PanicsEarly>>>, Arc<PanicsEarly>) {
    let manager = Arc::new(PanicsEarly::default());
    let pool = Pool::builder(Arc::clone(&manager)).config(config(2, 2)).build().unwrap();
    (Arc::new(pool), manager)
}

#[tokio::test(start_paused = true)]
async fn a_create_that_panics_before_its_future_is_a_contained_failed_create() {
    let (pool, manager) = panics_early();
    manager.create_panics.store(true, Ordering::SeqCst);
    let get = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.get(1).await.map(drop) }
    });
    let Ok(Err(PoolError::ManagerPanicked { message })) = get.await else {
        panic!("expected a contained panic")
    };
    assert_eq!(message, "sync create");
    let stats = pool.status();
    assert_eq!((stats.created, stats.callback_panics, stats.connections, stats.sessions), (0, 1, 0, 0));

    manager.create_panics.store(false, Ordering::SeqCst);
    assert_eq!(*pool.get(1).await.unwrap(), 1, "still serving");
}

#[tokio::test(start_paused = true)]
async fn a_check_that_panics_before_its_future_finds_the_connection_broken() {
    let (pool, manager) = panics_early();
    drop(pool.get(1).await.unwrap());
    manager.check_panics.store(true, Ordering::SeqCst);
    let get = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.get(1).await.map(|lease| *lease) }
    });
    assert_eq!(get.await.unwrap().unwrap(), 2, "a new connection, made in the same get");
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.created, stats.destroyed, stats.check_failed, stats.callback_panics), (2, 1, 1, 1));
    assert_eq!((stats.connections, stats.idle), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_destroy_that_panics_before_its_future_is_counted_and_frees_the_place() {
    let (pool, manager) = panics_early();
    manager.destroy_panics.store(true, Ordering::SeqCst);
    Lease::discard(pool.get(1).await.unwrap());
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.destroyed, stats.callback_panics, stats.discarded), (1, 1, 1));
    assert_eq!((stats.connections, manager.destroyed.load(Ordering::SeqCst)), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_get_dropped_during_its_check_drops_the_check_contained() {
    let (pool, manager) = panics_early();
    drop(pool.get(1).await.unwrap());
    manager.check_hangs.store(true, Ordering::SeqCst);
    let get = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.get(1).await.map(drop) }
    });
    settle().await;
    get.abort();
    assert!(get.await.unwrap_err().is_cancelled(), "the check's panic did not escape the drop");
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.destroyed, stats.connections, stats.active), (1, 0, 0), "the connection mid-check");
    assert_eq!(stats.callback_panics, 1, "the check's drop");
}

/// A `get` dropped while its caller's thread unwinds from the caller's own panic drops no
/// manager code then (no user code runs in a drop while unwinding), and counts no panic of the
/// manager's: the panic was the caller's.
#[tokio::test(start_paused = true)]
async fn a_get_dropped_by_a_panicking_caller_counts_no_manager_panic() {
    let (pool, probe) = super::support::pool(config(2, 2));
    drop(pool.get(1).await.unwrap());
    probe.set(Step::Check, Behaviour::Never);
    let mut get = Box::pin(pool.get(1));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(get.as_mut().poll(&mut cx).is_pending(), "the get waits in its check");
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _get = get;
        panic!("the caller's own bug");
    }));
    assert!(unwound.is_err());
    assert_eq!(pool.status().callback_panics, 0, "the caller's panic is not the manager's");
}

#[tokio::test(start_paused = true)]
async fn a_check_cut_off_whose_future_panics_on_drop_is_counted() {
    let manager = Arc::new(PanicsEarly::default());
    let config = PoolConfig { checkout_timeout: Duration::from_secs(3), ..config(2, 2) };
    let pool = Pool::builder(Arc::clone(&manager)).config(config).build().unwrap();
    drop(pool.get(1).await.unwrap());
    manager.check_hangs.store(true, Ordering::SeqCst);

    assert!(matches!(pool.get(1).await, Err(PoolError::Timeout { .. })));
    settle().await;
    let stats = pool.status();
    assert_eq!((stats.timeouts, stats.destroyed, stats.callback_panics), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_create_cut_off_whose_future_panics_on_drop_is_counted() {
    let manager = Arc::new(PanicsEarly::default());
    let config = PoolConfig { checkout_timeout: Duration::from_secs(3), ..config(2, 2) };
    let pool = Pool::builder(Arc::clone(&manager)).config(config).build().unwrap();
    manager.create_hangs.store(true, Ordering::SeqCst);

    assert!(matches!(pool.get(1).await, Err(PoolError::Timeout { .. })));
    let stats = pool.status();
    assert_eq!((stats.timeouts, stats.created, stats.connections, stats.callback_panics), (1, 0, 0, 1));
}
