//! A governor builder left without `build()` is an error: it would do nothing.
#![deny(unused_must_use)]

fn main() {
    bursar::Governor::builder().max_workers(4);
}
