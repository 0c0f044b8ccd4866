//! A pool lease dropped unused is an error: the connection would go back at once.
#![deny(unused_must_use)]

use bursar::pool::{Manager, Pool};
use bursar::ports::PortLease;

struct Sessions;

impl Manager for Sessions {
    type Key = String;
    type Connection = ();
    type Error = std::io::Error;

    async fn create(&self, _key: &String, _ports: &[PortLease]) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn check(&self, _connection: &mut ()) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn destroy(&self, _connection: ()) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pool = Pool::builder(Sessions).build().unwrap();
    pool.get("alice".to_owned()).await.unwrap();
}
