//! The pages the sessions load, served from 127.0.0.1, and a minimal HTTP client.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A minimal HTTP/1.1 GET: the body, read to its `Content-Length` (chromedriver does not
/// close the connection at once, even when asked to).
pub(super) async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok());
            if read == 0 || length.is_some_and(|length| body.len() >= length) {
                return Ok(body.to_owned());
            }
        }
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Serves, from 127.0.0.1 until the run ends, `/page/<n>` (a page titled `Page <n>`) and
/// `/allocate/<megabytes>/after/<ms>` (a page whose script, `ms` after the page has loaded,
/// fills and keeps that many megabytes of typed arrays, then takes the title
/// `Allocated <megabytes> MB`).
pub(super) async fn serve_pages() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0; 4096];
                let Ok(read) = socket.read(&mut request).await else { return };
                let head = String::from_utf8_lossy(&request[..read]).into_owned();
                let (status, body) = page(head.split(' ').nth(1).unwrap_or("/"));
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

/// The status and body for `path`.
fn page(path: &str) -> (&'static str, String) {
    let titled = |title: &str| format!("<html><head><title>{title}</title></head></html>");
    if let Some(page) = path.strip_prefix("/page/") {
        return ("200 OK", titled(&format!("Page {page}")));
    }
    let allocation = path.strip_prefix("/allocate/").and_then(|rest| rest.split_once("/after/"));
    match allocation
        .and_then(|(megabytes, ms)| Some((megabytes.parse::<u32>().ok()?, ms.parse::<u32>().ok()?)))
    {
        // Filled with ones, so that every page of it is resident, not a shared zero page.
        Some((megabytes, ms)) => (
            "200 OK",
            format!(
                "<html><head><title>Loaded</title></head><body><script>\
                 window.kept = [];\
                 setTimeout(() => {{\
                   for (let i = 0; i < {megabytes}; i++) {{ window.kept.push(new Uint8Array(1 << 20).fill(1)); }}\
                   document.title = 'Allocated {megabytes} MB';\
                 }}, {ms});\
                 </script></body></html>"
            ),
        ),
        None => ("404 Not Found", titled("Not found")),
    }
}
