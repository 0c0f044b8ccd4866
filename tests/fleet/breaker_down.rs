//! A fleet-wide breaker whose Redis stops answering falls back to its local breaker within one
//! sync and a time limit, and is shared again once Redis answers. Redis is cut off by a TCP
//! relay in this process, so the server itself never stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use bursar::breaker::BreakerState;
use bursar::fleet::{FleetBackend, FleetBreakerConfig, FleetBreakerStatus, FleetConfig, RedisBackend};
use bursar::{Governor, GovernorBuilder};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::{ms, redis_url, unique};

const SYNC: Duration = Duration::from_millis(250);
const BACKEND_TIMEOUT: Duration = Duration::from_millis(100);

/// Relays connections to Redis while up; cut, it drops them all and refuses new ones.
struct Relay {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(redis: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("bound");
        let (up, links) = (Arc::new(AtomicBool::new(true)), Arc::new(Mutex::new(Vec::new())));
        let (relaying, linked) = (Arc::clone(&up), Arc::clone(&links));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !relaying.load(SeqCst) {
                    continue; // dropped: refused
                }
                let link = tokio::spawn(async move {
                    let mut server = TcpStream::connect(redis).await.expect("redis listens");
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                linked.lock().push(link.abort_handle());
            }
        });
        Relay { address, up, links }
    }

    fn cut(&self) {
        self.up.store(false, SeqCst);
        self.links.lock().drain(..).for_each(|link| link.abort());
    }

    fn restore(&self) {
        self.up.store(true, SeqCst);
    }
}

fn redis_address() -> SocketAddr {
    let url = redis_url();
    let host_port = url.trim_start_matches("redis://").split('/').next().expect("host:port").to_owned();
    host_port.parse().expect("REDIS_URL is redis://<ip>:<port>")
}

fn governor(resource: String, redis: &str) -> Governor {
    let shared =
        FleetBreakerConfig::new(["default"]).quorum(1).sync_every(SYNC).probe_ttl(Duration::from_secs(2));
    let fleet = FleetConfig::new(resource, 10).backend_timeout(BACKEND_TIMEOUT).breaker(shared);
    GovernorBuilder::default()
        .health(bursar::health::HealthConfig::disabled())
        .max_attempts(1)
        .failure_threshold(1)
        .open_wait(Duration::from_secs(60))
        .fleet(fleet.on_backend_down(bursar::fleet::OnBackendDown::FailOpen))
        .fleet_backend(Arc::new(RedisBackend::open(redis).expect("a redis URL")) as Arc<dyn FleetBackend>)
        .build()
        .expect("a valid governor")
}

fn shared(gov: &Governor) -> FleetBreakerStatus {
    gov.status().fleet.expect("a fleet section").breakers.remove(0)
}

/// Waits until `reached` holds, up to 5 s; how long it took.
async fn until(reached: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !reached() {
        assert!(started.elapsed() < Duration::from_secs(5), "never reached");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    started.elapsed()
}

#[test]
#[ignore = "needs redis-server (REDIS_URL)"]
fn without_redis_the_breaker_is_local_and_shared_again_when_it_answers() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let relay = Relay::start(redis_address()).await;
        let gov = governor(unique("breaker-down"), &format!("redis://{}", relay.address));
        let failed = gov.run(|| async { Err::<(), _>(std::io::Error::other("the dependency failed")) }).await;
        assert!(matches!(failed, Err(bursar::Error::Operation(_))));
        let opened = until(|| shared(&gov).epoch > 0).await;
        assert_eq!(gov.status().breakers["default"].state, BreakerState::Open);

        relay.cut();
        let fell_back = until(|| shared(&gov).local_only).await;
        relay.restore();
        let shared_again = until(|| !shared(&gov).local_only).await;
        let back = shared(&gov);
        println!(
            "fleet breaker without Redis: opened {:.0} ms after the vote; local only {:.0} ms after Redis \
             was cut (sync {} ms, time limit {} ms); shared again {:.0} ms after it was restored",
            ms(opened),
            ms(fell_back),
            SYNC.as_millis(),
            BACKEND_TIMEOUT.as_millis(),
            ms(shared_again)
        );
        assert!(fell_back <= SYNC + BACKEND_TIMEOUT + Duration::from_millis(50), "{fell_back:?}");
        assert!(shared_again <= Duration::from_secs(2), "{shared_again:?}");
        assert_eq!((back.votes, back.epoch > 0), (1, true), "the fleet's state, read again: {back:?}");
    });
}
