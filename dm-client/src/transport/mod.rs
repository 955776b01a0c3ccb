//! HTTP(S) transport: one shareable client (reqwest over rustls, or hyper
//! over the system OpenSSL with the `openssl` feature), the retry policy,
//! and the per-session HTTP state (the answered authentication challenge
//! and the session's cookies).
//!
//! The request logic (headers, authentication, cookies, retries, body
//! limits) is written once in this module against [`exchange`]; the
//! backends only open connections and carry one exchange.

pub(crate) mod builder;
mod exchange;
pub(crate) mod fetch;
mod http_session;
mod material;
#[cfg(feature = "openssl")]
mod openssl;
mod rustls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dm_codec::mime;
use dm_session::{Failure, Method, Request, Response, TransportFailure};
use dm_types::ServerUri;
use reqwest::header::{self, HeaderMap, HeaderValue};

use crate::auth::Challenge;
use exchange::{Answer, Outgoing, SendFailure};

pub(crate) use http_session::HttpSession;
pub use material::TlsBackend;

/// How requests are retried after network failures (docs/protocol.md section
/// 2: never after an HTTP answer, whatever its status).
///
/// Exactly these failures are retried, up to `attempts` tries in all with
/// exponential backoff from `initial_backoff` to `max_backoff`:
///
/// - **connection failures** (refused, unreachable, DNS, connect timeout)
///   of **every** request, Package#1 and Package#3 included: nothing was
///   sent, so a new try cannot execute anything twice;
/// - failures after the request may have left (connection reset, timeout
///   waiting for the answer) of **GET and PUT only** — HGET and DEFAULT
///   fetches, HPUT uploads and SUB change reports, which are idempotent.
///
/// Never retried: a package POST (Package#1, Package#3) or an HPOST whose
/// delivery is uncertain — the server may have acted on it, so the session
/// is aborted instead (a new session can be started later); TLS failures
/// (a certificate problem does not go away by waiting); and any HTTP
/// status, `5xx` included.
///
/// ```
/// use std::time::Duration;
/// use dm_client::RetryPolicy;
///
/// let policy = RetryPolicy { attempts: 3, initial_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(1) };
/// assert_eq!(policy.backoff(1), Duration::from_millis(100));
/// assert_eq!(policy.backoff(2), Duration::from_millis(200));
/// assert_eq!(policy.backoff(9), Duration::from_secs(1));
/// assert_eq!(RetryPolicy::NONE.attempts, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1: no retry).
    pub attempts: u32,
    /// Wait before the second try.
    pub initial_backoff: Duration,
    /// Longest wait between tries.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// No retry at all.
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };

    /// The wait after failed try number `failed` (1-based).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    /// 4 tries, waiting 0.5 s, 1 s, 2 s.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// The HTTP(S) client of one device or of a whole fleet: cheap to clone
/// (an `Arc`), so many [`DmClient`](crate::DmClient)s can share one
/// connection pool and TLS configuration. Devices with their own TLS client
/// certificate or pre-shared key need a `Transport` of their own.
///
/// TLS is rustls with the ring provider by default, or the system OpenSSL
/// ([`TlsBackend`]; PSK-TLS needs it), TLS 1.2 and 1.3 only. Server
/// certificates are checked against the CAs given with
/// [`ca_pem`](crate::TransportBuilder::ca_pem), against one certificate
/// given with
/// [`server_certificate_der`](crate::TransportBuilder::server_certificate_der),
/// or against the platform's trust store when neither is given. Plain `http://` URIs are allowed.
/// Redirects are not followed (a `3xx` is an HTTP error for the session)
/// and no proxy is used. Both backends behave alike in all of this.
///
/// ```
/// use dm_client::Transport;
///
/// let transport = Transport::builder().build()?;
/// let shared = transport.clone(); // same pool, same TLS configuration
/// # let _ = shared;
/// # Ok::<(), dm_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Transport {
    inner: Arc<TransportInner>,
}

struct TransportInner {
    backend: Backend,
    retry: RetryPolicy,
    request_timeout: Duration,
    /// What a transport derived from this one keeps
    /// ([`Transport::derive`]).
    base: Base,
}

/// The settings a derived transport inherits: backend, CA roots, timeouts,
/// pool size (never a client identity, pinned certificate or PSK).
#[derive(Debug, Clone)]
struct Base {
    backend: TlsBackend,
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    connect_timeout: Duration,
    idle_connections_per_host: usize,
}

/// The HTTP client of a backend.
enum Backend {
    Rustls(reqwest::Client),
    #[cfg(feature = "openssl")]
    OpenSsl(openssl::Client),
}

impl Backend {
    fn kind(&self) -> TlsBackend {
        match self {
            Backend::Rustls(_) => TlsBackend::Rustls,
            #[cfg(feature = "openssl")]
            Backend::OpenSsl(_) => TlsBackend::OpenSsl,
        }
    }

    /// Sends once: the answer's head, or why none came.
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Answer, SendFailure> {
        match self {
            Backend::Rustls(client) => rustls::send(client, outgoing).await,
            #[cfg(feature = "openssl")]
            Backend::OpenSsl(client) => client.send(outgoing).await,
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("backend", &self.inner.backend.kind())
            .field("retry", &self.inner.retry)
            .field("request_timeout", &self.inner.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Whether `self` and `other` are the same transport (clones of one).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Transport) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// The TLS backend it connects with.
    ///
    /// ```
    /// use dm_client::{TlsBackend, Transport};
    ///
    /// assert_eq!(Transport::builder().build()?.backend(), TlsBackend::Rustls);
    /// # Ok::<(), dm_client::Error>(())
    /// ```
    pub fn backend(&self) -> TlsBackend {
        self.inner.backend.kind()
    }

    /// Performs `request` — one the session engine emitted, or one the
    /// client makes on its own (DEFAULT fetch, change report; what it is
    /// for is its [`RequestKind`](dm_session::RequestKind), never guessed
    /// from its media type): cookies, `Authorization` when a challenge was
    /// answered before (Digest nonce reused with the next `nc`), one answer
    /// to a `401` challenge, retries per the policy. The body of a `2xx`
    /// answer is read up to the request's `response_limit` (not at all
    /// without one): a longer body is [`Failure::BodyTooLarge`], and the
    /// client never holds more than the limit and one byte.
    pub(crate) async fn perform(
        &self,
        http: &mut HttpSession,
        request: &Request,
    ) -> Result<Response, Failure> {
        let body = Bytes::copy_from_slice(&request.body);
        let mut answered = false;
        loop {
            let authorization = if http.challenge.is_some() && http.credentials_apply(request) {
                let target = request_target(&request.uri);
                let credentials = http.credentials.clone();
                http.challenge.as_mut().and_then(|challenge| {
                    challenge.authorization(&credentials, method_name(request.method), &target)
                })
            } else {
                None
            };
            let answer = self.send(http, request, &body, authorization).await?;
            http.store_cookies(
                &request.uri,
                answer
                    .headers
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            if answer.status == 401 && !answered && http.credentials_apply(request) {
                let challenges: Vec<&str> = answer
                    .headers
                    .get_all(header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                if let Some(challenge) = Challenge::choose(challenges, &http.credentials) {
                    tracing::debug!(
                        uri = request.uri.as_str(),
                        "answering an authentication challenge"
                    );
                    http.challenge = Some(challenge);
                    answered = true;
                    discard(answer.body).await;
                    continue;
                }
            }
            return read_response(answer, request.response_limit).await;
        }
    }

    /// Sends once, then again per the retry policy.
    async fn send(
        &self,
        http: &HttpSession,
        request: &Request,
        body: &Bytes,
        authorization: Option<String>,
    ) -> Result<Answer, Failure> {
        let policy = self.inner.retry;
        let idempotent = matches!(request.method, Method::Get | Method::Put);
        let headers = request_headers(http, request, authorization.as_deref())?;
        let mut failed = 0;
        loop {
            let outgoing = Outgoing {
                method: http_method(request.method),
                uri: request.uri.as_str(),
                headers: headers.clone(),
                body: request.content_type.map(|_| body.clone()),
                timeout: self.inner.request_timeout,
            };
            let failure = match self.inner.backend.send(outgoing).await {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            failed += 1;
            let kind = failure.kind;
            let retriable = kind == TransportFailure::Connect
                || (idempotent
                    && (kind == TransportFailure::Timeout
                        || (kind == TransportFailure::Interrupted && failure.while_sending)));
            let reason = failure.reason;
            if !retriable || failed >= policy.attempts {
                tracing::warn!(
                    uri = request.uri.as_str(),
                    tries = failed,
                    "no answer: {reason}"
                );
                return Err(Failure::NoAnswer {
                    kind,
                    detail: format!(
                        "{} {}: {reason}",
                        method_name(request.method),
                        request.uri.as_str()
                    ),
                });
            }
            let wait = policy.backoff(failed);
            tracing::info!(
                uri = request.uri.as_str(),
                tries = failed,
                ?wait,
                "retrying after: {reason}"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// The headers of `request`: `OMADM-DevID`, `Accept`, `Content-Type` with
/// a body, the session's cookies and `authorization`. A value that cannot
/// be a header fails the request, which is not sent (nor retried).
fn request_headers(
    http: &HttpSession,
    request: &Request,
    authorization: Option<&str>,
) -> Result<HeaderMap, Failure> {
    let invalid = |name: &str| Failure::NoAnswer {
        kind: TransportFailure::Interrupted,
        detail: format!(
            "{} {}: the {name} header cannot be sent",
            method_name(request.method),
            request.uri.as_str()
        ),
    };
    let value = |name: &str, text: &str| HeaderValue::from_str(text).map_err(|_| invalid(name));
    let mut headers = HeaderMap::new();
    headers.insert(
        mime::OMADM_DEV_ID,
        value(mime::OMADM_DEV_ID, request.dev_id.as_str())?,
    );
    headers.insert(header::ACCEPT, value("Accept", request.accept)?);
    if let Some(content_type) = request.content_type {
        headers.insert(header::CONTENT_TYPE, value("Content-Type", content_type)?);
    }
    if let Some(cookies) = http.cookie_header(&request.uri) {
        headers.insert(header::COOKIE, value("Cookie", &cookies)?);
    }
    if let Some(authorization) = authorization {
        let mut authorization = value("Authorization", authorization)?;
        authorization.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, authorization);
    }
    Ok(headers)
}

/// The most bytes of an unwanted answer body (an error page, the answer to
/// an upload) read and dropped so that its connection can serve the next
/// request; a longer body is left unread and its connection closed.
const DISCARD_BYTES: usize = 64 * 1024;

/// Reads and drops what is left of a body, at most [`DISCARD_BYTES`], so
/// that a keep-alive connection goes back to the pool; a failure only
/// costs the connection.
async fn discard(mut body: exchange::AnswerBody) {
    let mut read = 0usize;
    while read <= DISCARD_BYTES {
        match body.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

/// Reads status, the headers the engine needs and, for a 2xx answer with a
/// `limit`, the body: [`Failure::BodyTooLarge`] past `limit` bytes. Any
/// other body is discarded (at most [`DISCARD_BYTES`] of it read).
async fn read_response(answer: Answer, limit: Option<usize>) -> Result<Response, Failure> {
    let Answer {
        status,
        headers,
        body: mut answer_body,
    } = answer;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(header::CONTENT_TYPE.as_str());
    let omadm_accept = header(mime::OMADM_ACCEPT);
    let mut body = Vec::new();
    let Some(limit) = limit.filter(|_| (200..300).contains(&status)) else {
        discard(answer_body).await;
        return Ok(Response {
            status,
            content_type,
            omadm_accept,
            body,
        });
    };
    loop {
        match answer_body.chunk().await {
            Ok(Some(chunk)) => {
                if chunk.len() > limit - body.len() {
                    return Err(Failure::BodyTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(Failure::NoAnswer {
                    kind: e.kind,
                    detail: format!("reading the answer: {}", e.reason),
                });
            }
        }
    }
    Ok(Response {
        status,
        content_type,
        omadm_accept,
        body,
    })
}

fn http_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Put => reqwest::Method::PUT,
        Method::Post => reqwest::Method::POST,
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Put => "PUT",
        Method::Post => "POST",
    }
}

/// The request-target of a URI (path and query; `/` when empty), as a
/// Digest `uri` parameter.
fn request_target(uri: &ServerUri) -> String {
    let target = uri.path_and_query();
    if target.is_empty() || target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> ServerUri {
        ServerUri::new(text).expect("valid URI")
    }

    #[test]
    fn request_targets_start_with_a_slash() {
        assert_eq!(request_target(&uri("http://a.example")), "/");
        assert_eq!(request_target(&uri("http://a.example?x=1")), "/?x=1");
        assert_eq!(
            request_target(&uri("http://a.example/dm/s/1?q")),
            "/dm/s/1?q"
        );
    }
}
