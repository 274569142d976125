//! The async side of the task integrations: one tokio runtime and one HTTP/1.1 client (hyper,
//! plain `http://` only) with a keep-alive connection pool per host, shared by the HTTP Task
//! and Lambda handlers.
//!
//! Worker threads never wait here: a handler spawns the request onto the runtime and returns;
//! the runtime's thread sends the result back through the execution's completion channel.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::json::{Map, Value};

/// Largest response body read; a longer one fails the task (the payload limit is 256 KiB).
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The runtime and client the IO-bound handlers share.
pub struct IoRuntime {
    runtime: tokio::runtime::Runtime,
    client: HttpClient,
}

/// A cheap handle on the shared HTTP client, for spawned work.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

/// An HTTP request to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: Method,
    pub uri: Uri,
    /// Header names and values, in the order given.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Adds a header value to a `{name: [values]}` map, the shape AWS gives response headers in;
/// says whether it is the first value of that name.
pub fn append_header(headers: &mut Map, name: &str, value: &str) -> bool {
    match headers.get_mut(name) {
        Some(Value::Array(values)) => {
            let mut list = std::mem::take(values).into_vec();
            list.push(Value::from(value));
            *values = list.into_iter().collect();
            false
        }
        _ => {
            headers.insert(
                name,
                Value::Array([Value::from(value)].into_iter().collect()),
            );
            true
        }
    }
}

/// An HTTP response as received.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub status: u16,
    /// The reason phrase of the status code (`OK`, `Not Found`).
    pub reason: String,
    /// Header names (lower case, as HTTP/1.1 treats them) and values, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Inbound {
    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Why no response came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The connection could not be made (refused, unreachable, name not resolved).
    Connect(String),
    /// No complete response within the time allowed.
    Timeout,
    /// The response body is longer than [`MAX_RESPONSE_BYTES`].
    TooLarge,
    /// The connection failed after it was made (reset, closed early, malformed response).
    Transfer(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(message) => write!(f, "cannot connect: {message}"),
            SendError::Timeout => f.write_str("no response within the time allowed"),
            SendError::TooLarge => write!(
                f,
                "the response body is longer than {MAX_RESPONSE_BYTES} bytes"
            ),
            SendError::Transfer(message) => write!(f, "the connection failed: {message}"),
        }
    }
}

impl IoRuntime {
    /// Starts the runtime's threads (`threads`, at least 1).
    pub fn start(threads: usize) -> std::io::Result<Arc<IoRuntime>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("stepstream-io")
            .enable_io()
            .enable_time()
            .build()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Arc::new(IoRuntime {
            runtime,
            client: HttpClient { inner },
        }))
    }

    /// Runs `work` on the runtime.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(work);
    }

    pub fn client(&self) -> HttpClient {
        self.client.clone()
    }
}

impl HttpClient {
    /// Sends a request and reads the whole response, within `timeout`.
    pub async fn send(&self, outbound: Outbound, timeout: Duration) -> Result<Inbound, SendError> {
        match tokio::time::timeout(timeout, self.exchange(outbound)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Timeout),
        }
    }

    async fn exchange(&self, outbound: Outbound) -> Result<Inbound, SendError> {
        let mut builder = Request::builder().method(outbound.method).uri(outbound.uri);
        for (name, value) in &outbound.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(outbound.body)))
            .map_err(|err| SendError::Transfer(format!("invalid request: {err}")))?;
        let response = self.inner.request(request).await.map_err(|err| {
            let detail = error_chain(&err);
            if err.is_connect() {
                SendError::Connect(detail)
            } else {
                SendError::Transfer(detail)
            }
        })?;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|err| {
                if err
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    SendError::TooLarge
                } else {
                    SendError::Transfer(error_chain(err.as_ref()))
                }
            })?
            .to_bytes();
        Ok(Inbound {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body: body.to_vec(),
        })
    }
}

/// An error with its sources, innermost last: `connection error: Connection refused`.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

/// Which hosts outbound calls may reach.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// `host` (any port) or `host:port` entries, lower case; `*` allows every host.
    entries: Vec<String>,
}

impl AllowList {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(entries: I) -> AllowList {
        AllowList {
            entries: entries
                .into_iter()
                .map(|entry| entry.as_ref().trim().to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
        }
    }

    /// Whether `host` on `port` may be called.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        self.entries
            .iter()
            .any(|entry| entry == "*" || *entry == host || *entry == with_port)
    }
}

/// Percent-encodes `text` for a query string or form body: everything but RFC 3986's
/// unreserved characters is escaped.
pub fn percent_encode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => {
                out.push('%');
                out.push(HEX[(byte >> 4) as usize] as char);
                out.push(HEX[(byte & 15) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_host_or_host_and_port() {
        let list = AllowList::new(["127.0.0.1:8080", "API.example.com", " "]);
        assert!(list.allows("127.0.0.1", 8080));
        assert!(!list.allows("127.0.0.1", 8081));
        assert!(list.allows("api.example.com", 80));
        assert!(list.allows("api.EXAMPLE.com", 8443));
        assert!(!list.allows("example.com", 80));
        assert!(!AllowList::default().allows("127.0.0.1", 80));
        assert!(AllowList::new(["*"]).allows("anything", 1));
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        let mut out = String::new();
        percent_encode("a b&c=d/é~[0]", &mut out);
        assert_eq!(out, "a%20b%26c%3Dd%2F%C3%A9~%5B0%5D");
    }
}
