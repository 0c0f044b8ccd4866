//! The table in `Status`'s docs that maps the resource manager's status JSON to bursar's: every
//! bursar field it names is in the serialised `status()`, with the value it claims.
#![cfg(feature = "serde")]

mod support;

use bursar::pool::Manager;
use bursar::ports::PortLease;
use serde_json::{Value, json};

struct Sockets;

impl Manager for Sockets {
    type Key = u32;
    type Connection = ();
    type Error = std::io::Error;
    async fn create(&self, _: &u32, _: &[PortLease]) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn check(&self, _: &mut ()) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn destroy(&self, _: ()) {}
}

#[tokio::test(start_paused = true)]
async fn every_field_the_mapping_table_names_is_in_the_status_json() {
    let gov = support::builder().build().unwrap();
    let pool = gov.pool("sockets", Sockets).build().unwrap();
    let _held = pool.get(1).await.unwrap();
    gov.run(|| async { Ok::<_, support::Io>(()) }).await.unwrap();
    let status = serde_json::to_value(gov.status()).unwrap();
    let expected = [
        ("/workers/max_workers", json!(10)),
        ("/workers/effective_limit", json!(10)),
        ("/workers/active", json!(0)),
        ("/workers/completed", json!(1)),
        ("/workers/failed", json!(0)),
        ("/breakers/default/state", json!("closed")),
        ("/pool/total_sessions", json!(1)),
        ("/pool/total_active_connections", json!(1)),
        ("/pool/available_capacity", json!(19)),
        ("/health/status", json!("unknown")),
        ("/health/cpu_percent", Value::Null),
        ("/health/memory_percent", Value::Null),
        ("/health/active_threads", Value::Null),
        ("/health/error_rate", Value::Null),
        ("/health/total_errors", json!(0)),
        ("/health/total_recoveries", json!(0)),
        ("/health/live", json!(true)),
    ];
    for (pointer, value) in expected {
        assert_eq!(status.pointer(pointer), Some(&value), "{pointer}");
    }
}
