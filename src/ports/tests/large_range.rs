//! A 60,000-port range: allocation is a pop from the front of the queue, so the last free port
//! is found without looking at the 59,999 leased ones (there is no loop over the range on
//! this path; speed itself is measured by the benchmarks, never timed here).

use std::time::Duration;

use super::support::{allocator, counts};
use crate::ports::PortError;

#[test]
fn the_last_free_port_of_a_huge_range_is_one_pop_away() {
    let allocator = allocator(&[("huge", 2000..=61_999)], Duration::ZERO);
    let mut leases: Vec<_> = (0..59_999).map(|_| allocator.allocate("huge").expect("a free port")).collect();
    assert_eq!(counts(&allocator, "huge"), (59_999, 1, 0));

    let last = allocator.allocate("huge").expect("one port is left");
    assert_eq!(last.port(), 61_999);
    let error = allocator.allocate("huge").unwrap_err();
    assert_eq!(error, PortError::Exhausted { range: "huge".to_owned(), size: 60_000, retry_after: None });

    drop(leases.swap_remove(0));
    assert_eq!(allocator.allocate("huge").expect("2000 is free again").port(), 2000);

    drop(last);
    leases.clear();
    assert_eq!(counts(&allocator, "huge"), (0, 60_000, 0));
}
