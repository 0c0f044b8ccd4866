//! The task that holds one call's fleet lease: acquires it (waiting while the cap is reached),
//! renews it every third of its TTL, and releases it when the call's attempt ends — however it
//! ends, since the attempt only drops its end of a channel; a release the backend does not
//! answer is sent again by the heartbeat. No user code runs here.

use std::collections::VecDeque;
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
        let Some((grant, give_back, sent)) = self.acquire(&lease_id, &mut ended).await else {
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
                match give_back {
                    GiveBack::Nothing => {}
                    GiveBack::Now => drop(self.runtime.spawn(Arc::clone(&self).give_back(lease_id))),
                    GiveBack::AtHeartbeat => self.keep_unreleased(lease_id),
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

    /// Asks for the lease until it is granted or the backend is down, how to give back what
    /// the last acquire may have granted all the same, and when the last acquire was sent;
    /// `None` if the attempt ended first.
    async fn acquire(
        &self,
        lease_id: &str,
        ended: &mut oneshot::Receiver<()>,
    ) -> Option<(Grant, GiveBack, Instant)> {
        loop {
            let (sent, was_down) = (Instant::now(), self.is_down());
            match self.ask("acquire", |backend| backend.acquire(self.request(lease_id))).await {
                Ok(Acquire::Granted { token, live_instances }) => {
                    self.saw_instances(live_instances);
                    self.acquired.fetch_add(1, Relaxed);
                    return Some((Grant::Leased(token), GiveBack::Nothing, sent));
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
                    // Any failure but a missing operation may hide a grant. Asked of a backend
                    // already down, the give-back waits for a heartbeat that lands: at once it
                    // would only fail too, one more error per call through an outage.
                    let give_back = match error {
                        FleetError::Unsupported { .. } => GiveBack::Nothing,
                        _ if was_down => GiveBack::AtHeartbeat,
                        _ => GiveBack::Now,
                    };
                    return Some((grant, give_back, sent));
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
            let expired = match renewal {
                Some((sent, Ok(Renewal::Renewed { live_instances }))) => {
                    self.saw_instances(live_instances);
                    lives_until = sent + ttl;
                    continue;
                }
                Some((_, Ok(Renewal::Lost))) => false,
                // Logged by `ask`; the next renewal tries again while the lease may live.
                Some((_, Err(_))) => continue,
                None => true,
            };
            self.lost.fetch_add(1, Relaxed);
            let resource = &self.config.resource;
            let why = if expired {
                "unconfirmed for one lease TTL (`fail_closed`)"
            } else {
                "a renewal found it gone"
            };
            tracing::warn!(target: "bursar::fleet", %resource, %token, why, "fleet lease lost; the call is cancelled");
            let _ = lost.send(());
            if !expired {
                return; // gone from the backend: nothing to release
            }
            // Expired here, the backend may still hold it if a renewal landed unanswered.
            break;
        }
        self.release(lease_id).await;
    }

    /// Releases the lease, or keeps its id for the next heartbeat if the backend did not
    /// answer.
    async fn release(&self, lease_id: &str) {
        if !self.released(lease_id).await {
            self.keep_unreleased(lease_id.to_owned());
        }
    }

    /// Asks the backend to release the lease; `false` if it did not answer (`ask` logged it).
    async fn released(&self, lease_id: &str) -> bool {
        let answer = self.ask("release", |backend| backend.release(&self.config.resource, lease_id)).await;
        matches!(answer, Ok(_) | Err(FleetError::Unsupported { .. }))
    }

    /// Keeps a lease id for the heartbeats to release. The list is oldest first, and a lease one
    /// TTL past its keeping has expired in the backend (no renewal followed), so the expired are
    /// dropped from the front as each is kept: through an outage the list holds at most the
    /// leases of one TTL.
    fn keep_unreleased(&self, lease_id: String) {
        let now = Instant::now();
        let mut unreleased = self.unreleased.lock();
        drop_expired(&mut unreleased, now, self.config.lease_ttl);
        unreleased.push_back((lease_id, now));
    }

    /// The lease ids kept to give back that may still live in the backend.
    pub(super) fn leases_to_release(&self) -> u64 {
        let mut unreleased = self.unreleased.lock();
        drop_expired(&mut unreleased, Instant::now(), self.config.lease_ttl);
        unreleased.len() as u64
    }

    /// Sends again (after a heartbeat landed) the releases the backend did not answer, oldest
    /// first, until one fails or `backend_timeout` has passed: the rest wait for the next
    /// heartbeat, so the heartbeats keep their pace however many are kept.
    pub(super) async fn retry_lease_releases(&self) {
        let (started, ttl) = (Instant::now(), self.config.lease_ttl);
        while started.elapsed() < self.config.backend_timeout {
            let next = {
                let mut unreleased = self.unreleased.lock();
                drop_expired(&mut unreleased, Instant::now(), ttl);
                unreleased.pop_front()
            };
            let Some((lease_id, kept)) = next else { return };
            if !self.released(&lease_id).await {
                // Back in front: it is older than any kept meanwhile.
                self.unreleased.lock().push_front((lease_id, kept));
                return;
            }
        }
    }
}

/// How a failed acquire's possible grant is given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveBack {
    /// Nothing was asked of the backend.
    Nothing,
    /// A release at once, on the same connection, so it runs after the slow acquire.
    Now,
    /// Kept for the heartbeats: the backend was down already.
    AtHeartbeat,
}

/// Drops the lease ids kept one TTL or more before `now` from the front of `unreleased`.
fn drop_expired(unreleased: &mut VecDeque<(String, Instant)>, now: Instant, ttl: std::time::Duration) {
    while unreleased.front().is_some_and(|(_, kept)| *kept + ttl <= now) {
        unreleased.pop_front();
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
