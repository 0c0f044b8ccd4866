//! One process against the real server: renewal keeps a long call's lease, a lease removed
//! behind its holder's back cancels the call, and tokens grow across a restart of the server.

use std::time::{Duration, Instant};

use bursar::Error;
use bursar::fleet::{FencingToken, FleetBackend, FleetConfig};

use crate::{backend, governor, ms, redis_url, unique};

const TTL: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL)"]
async fn renewal_keeps_a_long_calls_lease() {
    let resource = unique("renewed");
    let gov = governor(FleetConfig::new(&resource, 1).lease_ttl(TTL), 1);
    let leases = backend();
    let seen = gov
        .run(|| async {
            // 3.5 TTLs: the lease lives only because it is renewed every 333 ms.
            tokio::time::sleep(TTL * 7 / 2).await;
            let live = leases.live_leases(&resource).await.expect("redis answers");
            Ok::<_, std::io::Error>((FencingToken::current().is_some(), live))
        })
        .await
        .expect("the lease was kept");
    assert_eq!(seen, (true, 1));
    let fleet = gov.status().fleet.expect("a fleet section");
    assert_eq!((fleet.acquired, fleet.lost, fleet.backend_errors), (1, 0, 0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(leases.live_leases(&resource).await.expect("redis answers"), 0, "released at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL)"]
async fn a_lost_lease_cancels_the_call() {
    let resource = unique("lost");
    let gov = governor(FleetConfig::new(&resource, 1).lease_ttl(TTL), 1);
    let client = redis::Client::open(redis_url()).expect("a redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis answers");
    let started = Instant::now();
    let call = gov.run(|| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, std::io::Error>(FencingToken::current())
    });
    let remove = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let removed: u32 = redis::cmd("DEL")
            .arg(format!("bursar:{{{resource}}}:leases"))
            .query_async(&mut connection)
            .await
            .expect("redis answers");
        (removed, Instant::now())
    };
    let (ended, (removed, removed_at)) = tokio::join!(call, remove);
    assert_eq!(removed, 1, "the lease's set was there");
    let cancelled_after = removed_at.elapsed();
    assert!(matches!(ended, Err(Error::LeaseLost)), "{ended:?}");
    println!(
        "fleet lost lease: the call was cancelled {:.0} ms after its lease was removed",
        ms(removed_at.elapsed())
    );
    assert!(
        cancelled_after <= TTL / 3 + Duration::from_millis(100),
        "within one renewal period: {cancelled_after:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(gov.status().fleet.expect("a fleet section").lost, 1);
}

/// Restarts the test's private server without its data (`REDIS_RESTART`).
fn restart_redis() {
    let restart = std::env::var("REDIS_RESTART").expect("REDIS_RESTART restarts the test's redis-server");
    let status = std::process::Command::new("sh").args(["-c", &restart]).status().expect("sh runs");
    assert!(status.success(), "{restart} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (REDIS_URL)"]
async fn tokens_strictly_increase_across_a_restart() {
    let resource = unique("tokens");
    let gov = governor(FleetConfig::new(&resource, 4).lease_ttl(TTL), 4);
    let token = || async {
        loop {
            match gov.run(|| async { Ok::<_, std::io::Error>(FencingToken::current()) }).await {
                Ok(token) => return token.expect("under a lease").get(),
                // The server is coming back: fail_closed refuses meanwhile.
                Err(Error::Rejected(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(other) => panic!("{other}"),
            }
        }
    };
    let mut tokens = Vec::new();
    for _ in 0..50 {
        tokens.push(token().await);
    }
    tokio::task::spawn_blocking(restart_redis).await.expect("restarted");
    let client = redis::Client::open(redis_url()).expect("a redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis answers");
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut connection).await.expect("redis answers");
    assert_eq!(keys, 0, "the restarted server lost every key, the token counter too");
    for _ in 0..50 {
        tokens.push(token().await);
    }
    let (before, after) = (tokens[49], tokens[50]);
    assert!(tokens.windows(2).all(|pair| pair[0] < pair[1]), "strictly increasing: {tokens:?}");
    println!(
        "fleet tokens: 100 leases, 50 before and 50 after a restart that lost the counter, strictly increasing \
         ({before} before, {after} after: +{})",
        after - before
    );
}
