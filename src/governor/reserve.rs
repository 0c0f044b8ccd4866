//! Calls whose first worker is reserved before the call is made: what a `tower` service's
//! readiness needs. The reservation is an [`Admitted`] record, which holds the worker (or a
//! place in the queue beside it), so it can live in a service between `poll_ready` and `call`;
//! the service counts it out with its own handle to the governor (releasing both) when it
//! gives the reservation back or is dropped, and the response future when the call ends.

use std::sync::Arc;

use super::Governor;
use super::breakers::BreakerRef;
use super::run::{CallPlan, Holds};
use crate::Rejection;
use crate::workers::{Admitted, Lane, Workers};

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

    /// Reached through this handle at each use: the future that holds it is `'static`.
    #[inline(always)]
    fn kept_default(&self) -> Option<BreakerRef<'static>> {
        None
    }
}

impl Governor {
    /// True if the breaker for `key` turns calls away now (open or forced open): a
    /// reservation should not take a queue place for a call the breaker will reject.
    #[inline(always)]
    pub(crate) fn circuit_is_open(&self, key: Option<&String>) -> bool {
        match key {
            // The default breaker's state word, read in place.
            None => super::run::is_open(&self.inner.breakers.default),
            Some(key) => self.keyed_circuit_is_open(key),
        }
    }

    fn keyed_circuit_is_open(&self, key: &str) -> bool {
        let breaker = self.inner.breakers.for_key(Some(key));
        let open = super::run::is_open(&breaker);
        breaker.done();
        open
    }

    /// Admits one call whose worker is reserved ahead: its record then takes the worker with
    /// `Admitted::take_worker`, from [`tasks_lane`](Self::tasks_lane).
    ///
    /// # Errors
    ///
    /// The [`Rejection`] (shutting down, shedding), already counted and logged.
    #[inline(always)]
    pub(crate) fn admit(&self, name: &'static str) -> Result<Admitted, Rejection> {
        Admitted::enter(self.workers(), name)
    }

    /// The workers a reserved call is admitted to: what counts it out.
    #[inline(always)]
    pub(crate) fn workers(&self) -> &Workers {
        &self.inner.workers
    }

    /// The lane a reserved call's worker comes from, for a call that has to queue.
    pub(crate) fn tasks_lane(&self) -> Arc<Lane> {
        Arc::clone(&self.inner.workers.tasks)
    }
}
