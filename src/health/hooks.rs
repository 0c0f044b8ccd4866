//! What a service plugs into the monitor: a sampler, custom checks, recovery callbacks per
//! error kind, and emergency actions for entering CRITICAL. Stored type-erased, as the
//! governor is not generic.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::sampler::DynSampler;
use super::{CheckResult, ErrorReport};
use crate::BuildError;

pub(crate) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type CheckFn = Arc<dyn Fn() -> Boxed<CheckResult> + Send + Sync>;
pub(crate) type RecoveryFn = Arc<dyn Fn(ErrorReport) -> Boxed<bool> + Send + Sync>;
pub(crate) type ActionFn = Arc<dyn Fn() -> Boxed<()> + Send + Sync>;

#[derive(Default)]
pub(crate) struct HealthHooks {
    pub(crate) sampler: Option<Box<dyn DynSampler>>,
    pub(crate) checks: Vec<(String, CheckFn)>,
    pub(crate) recoveries: HashMap<String, RecoveryFn>,
    /// The first kind given a second recovery: kept for `build()` to reject, as the builder's
    /// setters cannot fail and keeping either recovery would silently drop the other.
    pub(crate) twice_recovered: Option<String>,
    pub(crate) emergency: Vec<ActionFn>,
}

impl HealthHooks {
    /// Adds the recovery of `kind`, unless `kind` has one already.
    pub(crate) fn add_recovery(&mut self, kind: String, recovery: RecoveryFn) {
        match self.recoveries.entry(kind) {
            Entry::Vacant(slot) => {
                slot.insert(recovery);
            }
            Entry::Occupied(slot) => {
                self.twice_recovered.get_or_insert_with(|| slot.key().clone());
            }
        }
    }

    /// Checks that no error kind was given two recoveries.
    ///
    /// # Errors
    ///
    /// [`BuildError::Invalid`] naming `on_error` and the first kind registered twice.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        match &self.twice_recovered {
            None => Ok(()),
            Some(kind) => {
                Err(BuildError::invalid_debug("on_error", "must be called once per error kind", kind))
            }
        }
    }
}

impl fmt::Debug for HealthHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checks: Vec<&str> = self.checks.iter().map(|(name, _)| name.as_str()).collect();
        let recoveries: Vec<&str> = self.recoveries.keys().map(String::as_str).collect();
        f.debug_struct("HealthHooks")
            .field("custom_sampler", &self.sampler.is_some())
            .field("checks", &checks)
            .field("recoveries", &recoveries)
            .field("emergency_actions", &self.emergency.len())
            .finish()
    }
}

pub(crate) fn boxed_check<F, Fut>(check: F) -> CheckFn
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckResult> + Send + 'static,
{
    Arc::new(move || Box::pin(check()))
}

pub(crate) fn boxed_recovery<F, Fut>(recovery: F) -> RecoveryFn
where
    F: Fn(ErrorReport) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    Arc::new(move |report| Box::pin(recovery(report)))
}

pub(crate) fn boxed_action<F, Fut>(action: F) -> ActionFn
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move || Box::pin(action()))
}
