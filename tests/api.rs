//! The public types are `Send`, `Sync` and `Unpin` where promised (checked at compile time).

use std::io;

use bursar::{
    BuildError, Error, Governor, GovernorBuilder, GovernorConfig, Rejection, ShutdownReport, Status,
    TaskHandle,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}
fn unpin<T: Unpin>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn handles_values_and_errors_cross_threads() {
    send_sync::<Governor>();
    send_sync::<GovernorBuilder>();
    send_sync::<GovernorConfig>();
    send_sync::<Status>();
    send_sync::<ShutdownReport>();
    send_sync::<TaskHandle<u32, io::Error>>();
    unpin::<TaskHandle<u32, io::Error>>();
    error::<Error<io::Error>>();
    error::<Rejection>();
    error::<BuildError>();
}

#[tokio::test]
async fn the_futures_are_send_when_the_operation_is() {
    let gov = Governor::builder().build().unwrap();
    let run = gov.run(|| async { Ok::<_, io::Error>(()) });
    send(&run);
    run.await.unwrap();
    let shutdown = gov.shutdown(std::time::Duration::from_secs(1));
    send(&shutdown);
    shutdown.await;
}
