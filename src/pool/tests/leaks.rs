//! A lease held past the leak threshold is reported once, with where it was taken.

use std::time::Duration;

use tokio::time::sleep;

use super::support::{config, pool, settle};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_lease_held_past_the_threshold_is_reported_once_with_its_file_and_line() {
    let (pool, _probe) = pool(config(4, 4)); // threshold 10 min, reaper every 30 s
    let (line, leaked) = (line!(), pool.get(7).await.unwrap());
    let _returned_in_time = pool.get(8).await.unwrap();

    sleep(10 * MINUTE - Duration::from_secs(1)).await;
    settle().await;
    assert_eq!((pool.status().leaks_reported, pool.status().leaks.len()), (0, 0));

    sleep(Duration::from_secs(1)).await;
    settle().await;
    let stats = pool.status();
    assert_eq!(stats.leaks_reported, 2, "both are held past 10 min");
    let leak = stats.leaks.iter().find(|leak| leak.key == "7").expect("key 7 is reported");
    assert_eq!(leak.location, format!("{}:{line}", file!()));
    assert_eq!(leak.held_for, 10 * MINUTE);

    sleep(10 * MINUTE).await;
    settle().await;
    let stats = pool.status();
    assert_eq!(stats.leaks_reported, 2, "each lease is reported once");
    assert_eq!(stats.leaks.iter().map(|leak| leak.held_for).collect::<Vec<_>>(), [20 * MINUTE; 2]);

    drop(leaked);
    let leaks = pool.status().leaks;
    assert_eq!(leaks.iter().map(|leak| leak.key.as_str()).collect::<Vec<_>>(), ["8"]);
}

#[tokio::test(start_paused = true)]
async fn the_threshold_is_configurable() {
    let mut config = config(4, 4);
    (config.leak_threshold, config.reap_interval) = (Duration::from_secs(5), Duration::from_secs(1));
    let (pool, _probe) = pool(config);
    let _lease = pool.get(1).await.unwrap();
    sleep(Duration::from_secs(5)).await;
    settle().await;
    assert_eq!((pool.status().leaks_reported, pool.status().leaks[0].held_for), (1, Duration::from_secs(5)));
}
