//! [`Governor::record_metrics`]: the gauges of [`bursar::metrics`](crate::metrics), set from a
//! fresh status — by the caller before a scrape, and by the health monitor after each sample.

use std::sync::{Arc, Weak};

use super::{Governor, Inner};

#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
impl Governor {
    /// Sets every gauge of [`bursar::metrics`](crate::metrics) — workers, breakers, pools,
    /// ports, health, memory-aware admission and the fleet resource — and the health and
    /// fleet totals, from a fresh [`status`](Governor::status) (feature `metrics`).
    ///
    /// The health monitor calls it after each sample, so with the monitor on the gauges are
    /// at most one interval old; call it before rendering a scrape to have them exact. The
    /// counters and the queue-wait histogram need no call: they are recorded as things happen.
    /// Without a recorder installed it only takes the snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use metrics_exporter_prometheus::PrometheusBuilder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let recorder = PrometheusBuilder::new().build_recorder();
    /// let prometheus = recorder.handle();
    /// let _local = metrics::set_default_local_recorder(&recorder);
    ///
    /// let gov = bursar::Governor::builder().max_workers(4).build()?;
    /// gov.breaker().force_open();
    /// let _vnc = gov.ports().allocate("vnc")?;
    /// gov.record_metrics();
    ///
    /// let text = prometheus.render();
    /// assert!(text.contains("bursar_workers_max 4"));
    /// assert!(text.contains("bursar_breaker_state{key=\"default\"} 3"), "forced open");
    /// assert!(text.contains("bursar_ports_leased{range=\"vnc\"} 1"));
    /// # Ok(()) }
    /// ```
    pub fn record_metrics(&self) {
        crate::metrics::gauges::publish(&self.status());
    }
}

/// What the health monitor calls after each sample. It holds the governor weakly: the
/// monitor must not keep alive the governor whose last handle stops it.
pub(super) fn publisher(inner: &Arc<Inner>) -> impl Fn() + Send + Sync + 'static {
    let inner: Weak<Inner> = Arc::downgrade(inner);
    move || {
        if let Some(inner) = inner.upgrade() {
            Governor { inner }.record_metrics();
        }
    }
}
