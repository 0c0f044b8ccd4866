//! Waiting gets are served oldest first, a turn given to a get that is dropped before it runs
//! passes on to the next, and a change looks only at the waiters it can help.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::support::{config, pool, settle};

#[tokio::test(start_paused = true)]
async fn waiting_gets_are_served_in_arrival_order() {
    let (pool, _probe) = pool(config(1, 1));
    let held = pool.get(1).await.unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let waiters: Vec<_> = (0..3)
        .map(|index| {
            let (pool, served) = (pool.clone(), served.clone());
            tokio::spawn(async move {
                let lease = pool.get(1).await.unwrap();
                served.lock().push(index);
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(lease);
            })
        })
        .collect();
    settle().await;
    assert_eq!(pool.status().waiting, 3);

    drop(held);
    for waiter in waiters {
        waiter.await.unwrap();
    }
    assert_eq!(*served.lock(), [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_turn_given_to_a_get_dropped_before_it_runs_passes_on() {
    let mut config = config(1, 1);
    config.checkout_timeout = Duration::from_secs(5);
    let (pool, _probe) = pool(config);
    let held = pool.get(1).await.unwrap();
    let spawn_get = || {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get(1).await.map(|lease| lease.id) })
    };
    let (first, second) = (spawn_get(), spawn_get());
    settle().await;

    drop(held); // wakes `first` …
    first.abort(); // … which is dropped before it ever runs
    let started = tokio::time::Instant::now();
    assert_eq!(second.await.unwrap().unwrap(), 1);
    assert_eq!(started.elapsed(), Duration::ZERO, "served at once, not at its timeout");
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!((pool.status().waiting, pool.status().timeouts), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_freed_place_wakes_a_waiter_of_another_key() {
    let (pool, _probe) = pool(config(2, 2));
    let (one, _two) = (pool.get(1).await.unwrap(), pool.get(1).await.unwrap());
    let other = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get(2).await.map(|lease| lease.key) }
    });
    settle().await;
    assert_eq!(pool.status().waiting, 1);

    crate::pool::Lease::discard(one); // frees a place in the total once destroyed
    assert_eq!(other.await.unwrap().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn returns_of_one_key_look_at_no_waiter_of_another_however_many_wait() {
    const WAITERS: usize = 10_000;
    let (pool, _probe) = pool(config(3, 1));
    let held = pool.get(1).await.unwrap();
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let _kept = pool.get(1).await;
                std::future::pending::<()>().await
            })
        })
        .collect();
    for _ in 0..WAITERS {
        if pool.status().waiting == WAITERS {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(pool.status().waiting, WAITERS);
    let examined = || pool.shared.state.lock().waiters.examined();
    assert_eq!(examined(), 0);

    for _ in 0..2_000 {
        drop(pool.get(2).await.unwrap()); // a return of key 2, and a waiter count above zero
    }
    assert_eq!(examined(), 0, "key 1's waiters wait for key 1 only");
    drop(pool.get(3).await.unwrap()); // a new key, created and returned
    assert_eq!(examined(), 0);

    drop(held);
    settle().await;
    // The return looks at key 1's oldest waiter, who takes the connection and passes its turn
    // to the next, who cannot progress yet: two looks, one served.
    assert_eq!((examined(), pool.status().waiting), (2, WAITERS - 1));
    assert_eq!(pool.status().active, 1);
    for waiter in waiters {
        waiter.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_below_its_cap_waits_for_room_and_gets_the_first_freed_place() {
    let (pool, _probe) = pool(config(2, 2));
    let (one, two) = (pool.get(1).await.unwrap(), pool.get(2).await.unwrap());
    let spawn_get = |key| {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get(key).await.map(|lease| lease.key) })
    };
    let (first, second) = (spawn_get(3), spawn_get(4));
    settle().await;
    assert_eq!(pool.status().waiting, 2);

    crate::pool::Lease::discard(one); // its place in the total is freed once destroyed
    assert_eq!(first.await.unwrap().unwrap(), 3, "the oldest waiter for room");
    drop(two); // idle now: key 4 evicts it
    assert_eq!(second.await.unwrap().unwrap(), 4);
    assert_eq!((pool.status().waiting, pool.status().evicted), (0, 1));
}
