//! The fleet-wide breaker's three Redis scripts, asked directly: distinct votes, the quorum,
//! one probe lease at a time with a new epoch each, and outcomes of other epochs refused.

use std::time::Duration;

use bursar::fleet::{
    BreakerKey, BreakerVote, FleetBackend, FleetBreakerState, FleetBreakerView, ProbeOutcome,
};

use crate::{backend, unique};

const OPEN_FOR: Duration = Duration::from_millis(300);
const PROBE_TTL: Duration = Duration::from_millis(1_000);

#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn votes_probes_and_epochs_follow_the_rules() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let redis = backend();
        let resource = unique("breaker-scripts");
        let key = |instance| BreakerKey::new(&resource, "grid", instance);
        let vote = |instance| {
            redis.breaker_vote(BreakerVote::new(key(instance), Duration::from_secs(30), 2, OPEN_FOR))
        };
        let sync = |instance| redis.breaker_sync(key(instance), PROBE_TTL);
        let ended = |instance, epoch, succeeded| {
            redis.breaker_probe_ended(ProbeOutcome::new(key(instance), epoch, succeeded, OPEN_FOR))
        };
        let answered = |view: Result<FleetBreakerView, _>| view.expect("redis answers");

        assert_eq!(answered(vote("a").await), FleetBreakerView::closed(1, 0));
        assert_eq!(answered(vote("a").await), FleetBreakerView::closed(1, 0), "one vote per instance");
        let opened = answered(vote("b").await);
        assert_eq!((opened.votes, opened.state), (2, FleetBreakerState::Open));
        assert!(opened.open_for > Duration::ZERO && opened.open_for <= OPEN_FOR, "{opened:?}");
        // Epochs start from the server's time in ms x 1024: far above any count.
        assert!(opened.epoch > 1 << 50, "{}", opened.epoch);
        let early = answered(sync("c").await);
        assert_eq!(
            (early.state, early.probe_is_mine, early.epoch),
            (FleetBreakerState::Open, false, opened.epoch)
        );

        tokio::time::sleep(OPEN_FOR).await;
        let granted = answered(sync("c").await);
        assert_eq!((granted.state, granted.probe_is_mine), (FleetBreakerState::Probing, true));
        assert!(granted.epoch > opened.epoch, "each probe lease a new epoch");
        let other = answered(sync("a").await);
        assert_eq!(
            (other.state, other.probe_is_mine, other.epoch),
            (FleetBreakerState::Probing, false, granted.epoch)
        );

        tokio::time::sleep(PROBE_TTL).await;
        let next = answered(sync("a").await);
        assert!(next.probe_is_mine && next.epoch > granted.epoch, "the lease expired: a's turn, {next:?}");
        let stale = answered(ended("c", granted.epoch, true).await);
        assert_eq!(
            (stale.state, stale.epoch),
            (FleetBreakerState::Probing, next.epoch),
            "an old epoch cannot close"
        );

        let reopened = answered(ended("a", next.epoch, false).await);
        assert_eq!(reopened.state, FleetBreakerState::Open, "a failed probe reopens");
        assert!(reopened.epoch > next.epoch);
        tokio::time::sleep(OPEN_FOR).await;
        let last = answered(sync("b").await);
        assert!(last.probe_is_mine);
        let closed = answered(ended("b", last.epoch, true).await);
        assert_eq!(closed, FleetBreakerView::closed(0, last.epoch), "closed, its votes cleared");
    });
}
