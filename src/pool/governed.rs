//! How a pool reports to the governor that started it: through a type-erased view, held
//! weakly, so the governor can list, reap and close its pools without knowing their managers
//! and without keeping a dropped pool alive.

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

use tokio::time::Instant;

use super::shared::Shared;
use super::{CloseReport, Manager, Pool, PoolStatus};

/// What the governor asks of a live pool.
pub(crate) trait PoolView: Send + Sync {
    fn status(&self) -> PoolStatus;
    /// Whether the pool was closed (it gives its name up).
    fn is_closed(&self) -> bool;
    /// Destroys every idle connection now; how many.
    fn reap_all_idle(&self) -> usize;
    /// Closes the pool, waiting for its destroys until `deadline` (forever if `None`).
    fn close_until(
        &self,
        deadline: Option<Instant>,
    ) -> Pin<Box<dyn Future<Output = CloseReport> + Send + '_>>;
}

impl<M: Manager> PoolView for Pool<M> {
    fn status(&self) -> PoolStatus {
        Pool::status(self)
    }

    fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    fn reap_all_idle(&self) -> usize {
        self.shared.reap_all_idle()
    }

    fn close_until(
        &self,
        deadline: Option<Instant>,
    ) -> Pin<Box<dyn Future<Output = CloseReport> + Send + '_>> {
        Box::pin(Pool::close_until(self, deadline))
    }
}

/// A pool the governor knows of, which may have been dropped since.
pub(crate) trait RegisteredPool: Send + Sync {
    fn upgrade(&self) -> Option<Box<dyn PoolView>>;
}

/// A pool held weakly, made by [`Pool::registration`].
pub(super) struct WeakPool<M: Manager>(pub(super) Weak<Shared<M>>);

impl<M: Manager> RegisteredPool for WeakPool<M> {
    fn upgrade(&self) -> Option<Box<dyn PoolView>> {
        self.0.upgrade().map(|shared| Box::new(Pool { shared }) as Box<dyn PoolView>)
    }
}
