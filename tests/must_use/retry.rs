//! A retry that is never awaited is an error: it would do nothing.
#![deny(unused_must_use)]

use bursar::retry::{ExponentialBackoff, RetryExt};

fn main() {
    (|| async { Ok::<_, std::io::Error>(()) }).retry(ExponentialBackoff::new());
}
