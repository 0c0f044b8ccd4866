//! What a service plugs into the monitor: a sampler, custom checks, recovery callbacks per
//! error kind, and emergency actions for entering CRITICAL. Stored type-erased, as the
//! governor is not generic.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::sampler::DynSampler;
use super::{ErrorReport, HealthCheck};

pub(crate) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type CheckFn = Arc<dyn Fn() -> Boxed<HealthCheck> + Send + Sync>;
pub(crate) type RecoveryFn = Arc<dyn Fn(ErrorReport) -> Boxed<bool> + Send + Sync>;
pub(crate) type ActionFn = Arc<dyn Fn() -> Boxed<()> + Send + Sync>;

#[derive(Default)]
pub(crate) struct HealthHooks {
    pub(crate) sampler: Option<Box<dyn DynSampler>>,
    pub(crate) checks: Vec<(String, CheckFn)>,
    pub(crate) recoveries: HashMap<String, RecoveryFn>,
    pub(crate) emergency: Vec<ActionFn>,
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
    Fut: Future<Output = HealthCheck> + Send + 'static,
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
