//! The Redis the workers share: `REDIS_URL`'s, or a private `redis-server` for the run.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A Redis to use, and the private server to stop, if the example started one.
pub(crate) struct Redis {
    url: String,
    /// Killed on drop (`kill_on_drop`): a private server ends with the example.
    _private: Option<Child>,
}

impl Redis {
    /// `REDIS_URL`'s server if it is set; else a private `redis-server` on a free loopback
    /// port, without persistence, once it answers.
    pub(crate) async fn from_env_or_start() -> Result<Self, Box<dyn std::error::Error>> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Ok(Redis { url, _private: None });
        }
        // A port the kernel just gave and took back: free unless something takes it meanwhile.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir();
        let server = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                format!(
                    "no REDIS_URL, and redis-server could not be started ({error}): install it \
                     (Debian: apt-get install redis-server) or set REDIS_URL=redis://host:port"
                )
            })?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(Redis { url: format!("redis://127.0.0.1:{port}"), _private: Some(server) });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("the private redis-server did not answer on port {port} within 5 s").into())
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}
