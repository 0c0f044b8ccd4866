//! The dependency the workers share: a slow, flaky HTTP service, and its client.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Duration, sleep};

/// Starts the service on 127.0.0.1 (an ephemeral port); returns its address. Each request is
/// answered after 150 to 450 ms, and one in eight connections is dropped before the answer.
pub(crate) async fn start() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let rolls = AtomicU64::new(0x5eed);
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, roll(&rolls)));
        }
    });
    Ok(address)
}

/// A pseudo-random number from a shared xorshift state: the same run every time.
fn roll(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.store(x, Ordering::Relaxed);
    x
}

async fn serve(mut socket: TcpStream, roll: u64) {
    let mut request = [0_u8; 1024];
    if socket.read(&mut request).await.is_err() {
        return;
    }
    sleep(Duration::from_millis(150 + roll % 300)).await;
    if roll % 8 == 0 {
        return; // dropped mid-request, as a driver that lost its browser
    }
    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
}

/// Fetches job `job`'s page: `Ok` for a 200, an error for anything else.
pub(crate) async fn fetch(service: SocketAddr, job: u32) -> io::Result<()> {
    let mut socket = TcpStream::connect(service).await?;
    socket.write_all(format!("GET /job/{job} HTTP/1.1\r\nhost: service\r\n\r\n").as_bytes()).await?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await?;
    match answer.starts_with(b"HTTP/1.1 200") {
        true => Ok(()),
        false => Err(io::Error::new(io::ErrorKind::ConnectionReset, "the connection was dropped")),
    }
}
