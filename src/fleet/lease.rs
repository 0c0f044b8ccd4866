//! The task that holds one call's fleet lease: acquires it (waiting while the cap is reached),
//! renews it every third of its TTL, and releases it when the call's attempt ends — however it
//! ends, since the attempt only drops its end of a channel; a release the backend does not
//! answer is sent again by the heartbeat. No user code runs here.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::engine::{Fallback, Fleet};
use super::{Acquire, FencingToken, FleetError, OnBackendDown, Renewal};

/// What the task tells the attempt when it may start.
#[derive(Debug)]
pub(crate) enum Grant {
    /// Holding a lease with this token.
    Leased(FencingToken),
    /// The backend is down and `on_backend_down` lets the call run without a lease.
    Unleased,
    /// The backend is down and `on_backend_down` refuses the call.
    Refused,
}

/// The attempt's ends of the lease task's channels. Dropping it ends the lease.
#[derive(Debug)]
pub(crate) struct LeaseHandle {
    pub(crate) granted: oneshot::Receiver<Grant>,
    /// Sent when a renewal found the lease gone, or (`fail_closed`) none was confirmed within
    /// the TTL.
    pub(crate) lost: oneshot::Receiver<()>,
    /// Never sent: its drop tells the task that the attempt ended.
    _ended: oneshot::Sender<()>,
}

impl Fleet {
    /// Starts the task that holds a lease for one attempt.
    pub(crate) fn start_lease(self: &Arc<Self>) -> LeaseHandle {
        let (granted_tx, granted) = oneshot::channel();
        let (lost_tx, lost) = oneshot::channel();
        let (_ended, ended) = oneshot::channel();
        self.runtime.spawn(Arc::clone(self).hold(granted_tx, lost_tx, ended));
        LeaseHandle { granted, lost, _ended }
    }

    async fn hold(
        self: Arc<Self>,
        granted: oneshot::Sender<Grant>,
        lost: oneshot::Sender<()>,
        mut ended: oneshot::Receiver<()>,
    ) {
        let lease_id = self.lease_id();
        let Some((grant, maybe_granted, sent)) = self.acquire(&lease_id, &mut ended).await else {
            return;
        };
        match grant {
            Grant::Leased(token) => {
                self.held.fetch_add(1, Relaxed);
                if granted.send(Grant::Leased(token)).is_ok() {
                    self.keep(&lease_id, token, sent, lost, &mut ended).await;
                } else {
                    self.release(&lease_id).await;
                }
                self.held.fetch_sub(1, Relaxed);
            }
            fallback => {
                if maybe_granted {
                    self.runtime.spawn(Arc::clone(&self).give_back(lease_id));
                }
                let unleased = matches!(fallback, Grant::Unleased);
                let _ = granted.send(fallback);
                if unleased {
                    let _ = ended.await;
                    self.unleased_ended();
                }
            }
        }
    }

    /// Gives back the grant a failed acquire may still have made — the script may have run
    /// before the connection dropped, the answer was too slow, or the backend's code panicked
    /// after granting — so the fleet does not count a lease nobody holds until its TTL, besides
    /// the call that runs without one. Sent on the same connection, the release runs after a
    /// slow acquire; if the backend does not answer it, the heartbeat sends it again.
    async fn give_back(self: Arc<Self>, lease_id: String) {
        self.release(&lease_id).await;
    }

    /// Asks for the lease until it is granted or the backend is down, whether the last
    /// acquire may have granted it all the same (any failure but one that proves nothing was
    /// asked), and when the last acquire was sent; `None` if the attempt ended first.
    async fn acquire(
        &self,
        lease_id: &str,
        ended: &mut oneshot::Receiver<()>,
    ) -> Option<(Grant, bool, Instant)> {
        loop {
            let sent = Instant::now();
            match self.ask("acquire", |backend| backend.acquire(self.request(lease_id))).await {
                Ok(Acquire::Granted { token, live_instances }) => {
                    self.saw_instances(live_instances);
                    self.acquired.fetch_add(1, Relaxed);
                    return Some((Grant::Leased(token), false, sent));
                }
                Ok(Acquire::Full { retry_in, live_instances }) => {
                    self.saw_instances(live_instances);
                    let pause = tokio::time::sleep(Fleet::full_pause(retry_in));
                    until_ended(pause, ended).await?;
                }
                Err(error) => {
                    let grant = match self.fallback() {
                        Fallback::Unleased => Grant::Unleased,
                        Fallback::Refused => Grant::Refused,
                    };
                    let maybe_granted = !matches!(error, FleetError::Unsupported { .. });
                    return Some((grant, maybe_granted, sent));
                }
            }
        }
    }

    /// Renews the lease every third of its TTL until the attempt ends, then releases it. A
    /// renewal that finds the lease gone is a `WARN`, counted, and tells the attempt; so is,
    /// under `fail_closed`, a lease whose renewals all failed for one TTL.
    async fn keep(
        &self,
        lease_id: &str,
        token: FencingToken,
        acquire_sent: Instant,
        lost: oneshot::Sender<()>,
        ended: &mut oneshot::Receiver<()>,
    ) {
        let (every, ttl) = (self.config.renew_every(), self.config.lease_ttl);
        // The backend set the lease's expiry on receiving the last confirmed acquire or renewal,
        // so it lives at least until that one's send and a TTL. Past that, another process may
        // hold the slot: `fail_closed` promises the cap, so the call must not outlive it.
        let bounded = self.config.on_backend_down == OnBackendDown::FailClosed;
        let mut lives_until = acquire_sent + ttl;
        loop {
            let renewal = async {
                tokio::time::sleep(every).await;
                let sent = Instant::now();
                (sent, self.ask("renew", |backend| backend.renew(self.request(lease_id))).await)
            };
            let renewal = until_expired(renewal, bounded.then_some(lives_until));
            let Some(renewal) = until_ended(renewal, ended).await else { break };
            match renewal {
                Some((sent, Ok(Renewal::Renewed { live_instances }))) => {
                    self.saw_instances(live_instances);
                    lives_until = sent + ttl;
                }
                Some((_, Ok(Renewal::Lost))) => {
                    self.lost.fetch_add(1, Relaxed);
                    let resource = &self.config.resource;
                    tracing::warn!(target: "bursar::fleet", %resource, %token, "fleet lease lost at renewal; the call is cancelled");
                    let _ = lost.send(());
                    return;
                }
                // Logged by `ask`; the next renewal tries again while the lease may live.
                Some((_, Err(_))) => {}
                None => {
                    self.lost.fetch_add(1, Relaxed);
                    let resource = &self.config.resource;
                    tracing::warn!(target: "bursar::fleet", %resource, %token, ?ttl, "no fleet lease renewal confirmed within the lease TTL (`fail_closed`); the call is cancelled");
                    let _ = lost.send(());
                    // The backend may still hold it, if a renewal landed unanswered.
                    break;
                }
            }
        }
        self.release(lease_id).await;
    }

    /// Releases the lease, or keeps its id for the next heartbeat if the backend did not
    /// answer.
    async fn release(&self, lease_id: &str) {
        if !self.released(lease_id).await {
            self.unreleased.lock().push((lease_id.to_owned(), Instant::now()));
        }
    }

    /// Asks the backend to release the lease; `false` if it did not answer (`ask` logged it).
    async fn released(&self, lease_id: &str) -> bool {
        let answer = self.ask("release", |backend| backend.release(&self.config.resource, lease_id)).await;
        matches!(answer, Ok(_) | Err(FleetError::Unsupported { .. }))
    }

    /// Sends again (from the heartbeat) the releases the backend did not answer, until one
    /// fails: the rest wait for the next heartbeat, so a backend that is down again holds the
    /// heartbeat up for one time limit at most. A lease one TTL past its failed release has
    /// expired in the backend: it is dropped, which keeps the list bounded through an outage.
    pub(super) async fn retry_lease_releases(&self) {
        let now = Instant::now();
        let ttl = self.config.lease_ttl;
        let mut kept = std::mem::take(&mut *self.unreleased.lock())
            .into_iter()
            .filter(|(_, failed)| now < *failed + ttl);
        while let Some((lease_id, failed)) = kept.next() {
            if !self.released(&lease_id).await {
                let mut unreleased = self.unreleased.lock();
                unreleased.push((lease_id, failed));
                unreleased.extend(kept);
                return;
            }
        }
    }
}

/// Runs `work` unless `deadline` comes first (`None` then); without a deadline, `work`.
async fn until_expired<F: Future>(work: F, deadline: Option<Instant>) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work).await.ok(),
        None => Some(work.await),
    }
}

/// Runs `work` unless the attempt ends first (its handle dropped): `None` then.
async fn until_ended<F: Future>(work: F, ended: &mut oneshot::Receiver<()>) -> Option<F::Output> {
    let mut work = pin!(work);
    poll_fn(|cx| {
        if std::pin::Pin::new(&mut *ended).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        work.as_mut().poll(cx).map(Some)
    })
    .await
}
