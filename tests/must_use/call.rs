//! A governed call that is never awaited is an error: it would do nothing.
#![deny(unused_must_use)]

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _enter = runtime.enter();
    let gov = bursar::Governor::builder().build().unwrap();
    gov.call(|| async { Ok::<_, std::io::Error>(()) });
}
