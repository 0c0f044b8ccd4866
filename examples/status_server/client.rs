//! A small HTTP/1.1 client (hyper-util's) that asks one endpoint and reads the whole answer.
//!
//! Shared by the example's `--check` run and `tests/status_server.rs`.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::http::{StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Anything that went wrong asking: connecting, the protocol, or a body that is not UTF-8.
pub(crate) type AskError = Box<dyn std::error::Error + Send + Sync>;

/// The answers are small; a bigger one is an error rather than a memory hog.
const MAX_BODY: usize = 1 << 20;

/// One answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: StatusCode,
    /// The `Content-Type` header, empty if there was none.
    pub(crate) content_type: String,
    /// The body as text.
    pub(crate) body: String,
}

impl Answer {
    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

/// Asks the server at one address; keeps its connection alive between questions.
#[derive(Debug)]
pub(crate) struct StatusClient {
    client: Client<HttpConnector, String>,
    addr: SocketAddr,
}

impl StatusClient {
    /// A client for the server listening on `addr`.
    pub(crate) fn new(addr: SocketAddr) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        StatusClient { client, addr }
    }

    /// `GET path` (e.g. `/health`), read to the end.
    pub(crate) async fn get(&self, path: &str) -> Result<Answer, AskError> {
        let uri: Uri = format!("http://{}{path}", self.addr).parse()?;
        let response = self.client.get(uri).await?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|value| value.to_str());
        let content_type = content_type.transpose()?.unwrap_or_default().to_owned();
        let bytes = to_bytes(Body::new(response.into_body()), MAX_BODY).await?;
        Ok(Answer { status, content_type, body: String::from_utf8(bytes.to_vec())? })
    }
}
