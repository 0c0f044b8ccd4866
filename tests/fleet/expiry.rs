//! Every key the Redis backend writes, but the fence counter, expires once nothing in it can
//! count any more, so the keys of a resource, a host or a breaker that is gone leave the
//! server on their own: asked directly, then read back with `PTTL`. Each window's lower bound
//! only rules out the wrong expiry (a shorter lease's, none at all), so a slow machine between
//! a script and its `PTTL` does not fail the test.

use std::time::Duration;

use bursar::fleet::{
    BreakerKey, BreakerVote, FleetBackend, FleetBreakerState, LeaseRequest, PortClaim, ProbeOutcome,
};

use crate::{backend, redis_url, unique};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Milliseconds `key` has left: -1 if it never expires, -2 if it is gone.
async fn ttl(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(connection).await.expect("redis answers")
}

#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn every_key_but_the_fence_expires_with_what_it_holds() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let redis = backend();
        let client = redis::Client::open(redis_url()).expect("a redis URL");
        let mut raw = client.get_multiplexed_async_connection().await.expect("redis answers");
        let resource = unique("expiry");
        let key = |name: &str| format!("bursar:{{{resource}}}:{name}");
        let (leases, instances, fence, plan) =
            (key("leases"), key("instances"), key("fence"), key("ports:host-a"));

        // Leases: the key lives as long as its latest lease; a shorter lease never shortens it.
        let lease = |id, ttl| LeaseRequest::new(&resource, id, "a", 10, Duration::from_secs(ttl));
        redis.acquire(lease("a:1", 60)).await.expect("granted");
        let after_long = ttl(&mut raw, &leases).await;
        assert!((30_000..=60_000).contains(&after_long), "{after_long}");
        redis.acquire(lease("a:2", 2)).await.expect("granted");
        assert!(ttl(&mut raw, &leases).await > 30_000, "a short lease kept the long one's life");
        redis.renew(lease("a:1", 600)).await.expect("renewed");
        let renewed = ttl(&mut raw, &leases).await;
        assert!((300_000..=600_000).contains(&renewed), "a renewal extends the key: {renewed}");
        assert_eq!(ttl(&mut raw, &fence).await, -1, "the fence never expires: tokens only grow");

        // Instances live as long as the latest instance; a port plan a day longer than the
        // latest instance that claimed on it, so that its claims outlast an outage.
        assert_eq!(redis.heartbeat(&resource, "a", Duration::from_secs(60)).await.expect("beat"), 1);
        let beat = ttl(&mut raw, &instances).await;
        assert!((30_000..=60_000).contains(&beat), "{beat}");
        let mut claim = PortClaim::new(&resource, "host-a", "b", "b:1", &[9000, 9001]);
        claim.instance_ttl = Duration::from_secs(3);
        assert_eq!(redis.claim_port(claim).await.expect("claimed"), Some(0));
        let claimed = ttl(&mut raw, &plan).await;
        assert!((DAY_MS - 30_000..=DAY_MS + 3_000).contains(&claimed), "{claimed}");
        assert!(ttl(&mut raw, &instances).await > 30_000, "a claim never shortens the instances' life");
        redis.heartbeat(&resource, "b", Duration::from_secs(600)).await.expect("beat");
        let kept = ttl(&mut raw, &plan).await;
        assert!(
            (DAY_MS + 300_000..=DAY_MS + 600_000).contains(&kept),
            "the heartbeat keeps the plan it claimed on: {kept}"
        );
        let other = unique("expiry-other");
        redis.heartbeat(&other, "b", Duration::from_secs(3_600)).await.expect("beat");
        assert!(
            ttl(&mut raw, &plan).await <= DAY_MS + 600_000,
            "another resource's heartbeat keeps only its own"
        );

        // A breaker: its votes for their window, its state while open and an hour after.
        let grid = BreakerKey::new(&resource, "grid", "a");
        let opened = redis
            .breaker_vote(BreakerVote::new(grid, Duration::from_secs(60), 1, Duration::from_secs(600)))
            .await
            .expect("voted");
        assert_eq!(opened.state, FleetBreakerState::Open);
        let voted = ttl(&mut raw, &key("breaker:grid:votes")).await;
        assert!((30_000..=60_000).contains(&voted), "{voted}");
        let open = ttl(&mut raw, &key("breaker:grid:state")).await;
        assert!((HOUR_MS + 300_000..=HOUR_MS + 600_000).contains(&open), "open time and an hour: {open}");

        // A probe lease longer than the hour keeps the state for the lease and an hour; a close
        // keeps it an hour.
        let mesh = BreakerKey::new(&resource, "mesh", "a");
        let short = Duration::from_millis(300);
        redis.breaker_vote(BreakerVote::new(mesh, Duration::from_secs(60), 1, short)).await.expect("voted");
        // Redis keeps the time: the open time passes on its clock, not on a paused one.
        tokio::time::sleep(short).await;
        let probe = redis.breaker_sync(mesh, Duration::from_secs(2 * 3_600)).await.expect("synced");
        assert!(probe.probe_is_mine, "{probe:?}");
        let probing = ttl(&mut raw, &key("breaker:mesh:state")).await;
        assert!((3 * HOUR_MS - 30_000..=3 * HOUR_MS).contains(&probing), "the lease and an hour: {probing}");
        let closed = redis
            .breaker_probe_ended(ProbeOutcome::new(mesh, probe.epoch, true, short))
            .await
            .expect("ended");
        assert_eq!(closed.state, FleetBreakerState::Closed);
        let after_close = ttl(&mut raw, &key("breaker:mesh:state")).await;
        assert!((HOUR_MS - 30_000..=HOUR_MS).contains(&after_close), "an hour from the close: {after_close}");
        assert_eq!(ttl(&mut raw, &key("breaker:mesh:votes")).await, -2, "a close clears the votes");

        // And nothing else was left without an end.
        let written: Vec<String> = redis::cmd("KEYS")
            .arg(format!("bursar:{{{resource}}}:*"))
            .query_async(&mut raw)
            .await
            .expect("redis answers");
        let mut forever = Vec::new();
        for written in &written {
            if ttl(&mut raw, written).await == -1 {
                forever.push(written.clone());
            }
        }
        assert_eq!(forever, [fence], "of {written:?}");
    });
}
