//! Calls whose first worker is reserved before the call is made: what a `tower` service's
//! readiness needs. The reservation is an owned [`InFlight`] guard and an owned worker
//! [`WorkerPermit`] (or a place in the queue), so it can live in a service between `poll_ready` and
//! `call`, and dropping it at any point releases both.

use std::sync::Arc;

use super::Governor;
use super::breakers::BreakerRef;
use super::run::{CallPlan, Holds};
use crate::Rejection;
use crate::workers::{InFlight, Lane, WorkerPermit, WorkerTicket, Workers};

/// A governor and the plan of a tower service's calls: shared by the service and its response
/// futures, each of which holds them with one `Arc`.
#[derive(Debug)]
pub(crate) struct Planned {
    pub(crate) gov: Governor,
    pub(crate) plan: CallPlan,
}

impl Holds<'static> for Arc<Planned> {
    type Workers = Arc<Workers>;
    type Lane = Arc<Lane>;

    #[inline(always)]
    fn gov(&self) -> &Governor {
        &self.gov
    }

    #[inline(always)]
    fn plan(&self) -> &CallPlan {
        &self.plan
    }

    fn workers(&self) -> Self::Workers {
        Arc::clone(&self.gov.inner.workers)
    }

    fn lane(&self) -> Self::Lane {
        Arc::clone(&self.gov.inner.workers.tasks)
    }

    /// The default breaker too is shared: the future that holds it is `'static`.
    fn breaker(&self, key: Option<&str>) -> BreakerRef<'static> {
        match self.gov.inner.breakers.for_key(key) {
            BreakerRef::Default(_) => BreakerRef::Keyed(Arc::clone(&self.gov.inner.breakers.default)),
            BreakerRef::Keyed(keyed) => BreakerRef::Keyed(keyed),
        }
    }
}

/// An admitted call that holds its place: a worker, or a place in the queue.
pub(crate) type Admitted = InFlight<Arc<Workers>>;
/// A worker reserved for a call not made yet.
pub(crate) type ReservedWorker = WorkerPermit<Arc<Lane>>;

impl Governor {
    /// True if the breaker for `key` turns calls away now (open or forced open): a
    /// reservation should not take a queue place for a call the breaker will reject.
    pub(crate) fn circuit_is_open(&self, key: Option<&String>) -> bool {
        super::run::is_open(&self.inner.breakers.for_key(key.map(String::as_str)))
    }

    /// Admits one call and takes its first worker if one is free, or a queue place.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] (shutting down, shedding, queue full), already counted and logged.
    #[inline(always)]
    pub(crate) fn reserve(
        &self,
        name: &'static str,
    ) -> Result<(Admitted, WorkerTicket<Arc<Lane>>), Rejection> {
        let workers = Arc::clone(&self.inner.workers);
        let mut call = InFlight::enter(workers, name)?;
        match WorkerTicket::reserve(Arc::clone(&self.inner.workers.tasks)) {
            Ok(ticket) => Ok((call, ticket)),
            Err(rejection) => Err(call.reject(rejection)),
        }
    }
}
