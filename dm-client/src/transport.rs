//! HTTP(S) transport: one shareable `reqwest::Client` configured with
//! rustls (ring provider, TLS 1.2 and 1.3), the retry policy, and the
//! per-session HTTP state (the answered authentication challenge and the
//! session's cookies).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dm_codec::mime;
use dm_session::{Failure, Method, Request, RequestKind, Response, TransportFailure};
use dm_types::ServerUri;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::{Challenge, Credentials};
use crate::error::{Error, TlsMaterial};

/// An [`Error::Tls`] about `material`.
fn tls(material: TlsMaterial, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        material,
        reason: reason.to_string(),
    }
}

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
/// certificate need a `Transport` of their own.
///
/// TLS is rustls with the ring provider, TLS 1.2 and 1.3 only. Server
/// certificates are checked against the CAs given with
/// [`TransportBuilder::ca_pem`], or against the platform's trust store
/// when none is given. Plain `http://` URIs are allowed. Redirects are not
/// followed (a `3xx` is an HTTP error for the session) and no proxy is
/// used.
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
    client: reqwest::Client,
    retry: RetryPolicy,
    request_timeout: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("retry", &self.inner.retry)
            .field("request_timeout", &self.inner.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Transport`].
#[derive(Debug)]
#[must_use]
pub struct TransportBuilder {
    roots: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    idle_connections_per_host: usize,
    error: Option<Error>,
}

impl Transport {
    /// A builder with the defaults: platform trust store, no client
    /// certificate, 10 s connect timeout, 120 s per request,
    /// [`RetryPolicy::default`], at most 32 idle connections per host.
    pub fn builder() -> TransportBuilder {
        TransportBuilder {
            roots: Vec::new(),
            identity: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            idle_connections_per_host: 32,
            error: None,
        }
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }
}

impl TransportBuilder {
    fn fail(&mut self, error: Error) {
        self.error.get_or_insert(error);
    }

    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE`
    /// blocks) for server certificates, instead of the platform's trust
    /// store. May be called several times.
    pub fn ca_pem(mut self, pem: &[u8]) -> TransportBuilder {
        match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
            Ok(certificates) if !certificates.is_empty() => self.roots.extend(certificates),
            Ok(_) => self.fail(tls(TlsMaterial::CaPem, "it holds no certificate")),
            Err(e) => self.fail(tls(TlsMaterial::CaPem, e)),
        }
        self
    }

    /// Presents this TLS client certificate (chain in `certificate_pem`,
    /// leaf first) with its private key (`key_pem`: PKCS#8, PKCS#1 or SEC1).
    pub fn client_identity_pem(
        mut self,
        certificate_pem: &[u8],
        key_pem: &[u8],
    ) -> TransportBuilder {
        let chain =
            match CertificateDer::pem_slice_iter(certificate_pem).collect::<Result<Vec<_>, _>>() {
                Ok(chain) if !chain.is_empty() => chain,
                Ok(_) => {
                    self.fail(tls(
                        TlsMaterial::ClientCertificatePem,
                        "it holds no certificate",
                    ));
                    return self;
                }
                Err(e) => {
                    self.fail(tls(TlsMaterial::ClientCertificatePem, e));
                    return self;
                }
            };
        match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(key) => self.identity = Some((chain, key)),
            Err(e) => self.fail(tls(TlsMaterial::ClientKeyPem, e)),
        }
        self
    }

    /// Longest wait for a connection (TCP and TLS).
    pub fn connect_timeout(mut self, timeout: Duration) -> TransportBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Longest wait for one request's answer, body included.
    pub fn request_timeout(mut self, timeout: Duration) -> TransportBuilder {
        self.request_timeout = timeout;
        self
    }

    /// The retry policy for network failures.
    pub fn retry(mut self, retry: RetryPolicy) -> TransportBuilder {
        self.retry = retry;
        self
    }

    /// Most idle connections kept per host (a fleet of simulated devices
    /// shares them).
    pub fn idle_connections_per_host(mut self, connections: usize) -> TransportBuilder {
        self.idle_connections_per_host = connections;
        self
    }

    /// Builds the transport. Errors: unusable PEM input or TLS settings
    /// ([`Error::Tls`], naming the [`TlsMaterial`]), or an HTTP client
    /// that cannot be built ([`Error::Http`]).
    pub fn build(self) -> Result<Transport, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls(TlsMaterial::ProtocolVersions, e))?;
        let builder = if self.roots.is_empty() {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| tls(TlsMaterial::PlatformTrustStore, e))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for root in self.roots {
                roots
                    .add(root)
                    .map_err(|e| tls(TlsMaterial::CaCertificate, e))?;
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls(TlsMaterial::ClientIdentity, e))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.idle_connections_per_host)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(Error::Http)?;
        Ok(Transport {
            inner: Arc::new(TransportInner {
                client,
                retry: self.retry,
                request_timeout: self.request_timeout,
            }),
        })
    }
}

/// Most cookies one session keeps.
const MAX_COOKIES: usize = 16;
/// Longest `name=value` pair kept.
const MAX_COOKIE_LEN: usize = 4096;

/// The HTTP state of one session: credentials (sent to the origin of
/// `SrvURI`, and with the packages of a session that CONT moved elsewhere),
/// the challenge answered, and cookies by origin.
#[derive(Debug)]
pub(crate) struct HttpSession {
    credentials: Credentials,
    origin: ServerUri,
    /// Whether the session's Package#1 went to the origin of `SrvURI`
    /// (`None` before it was posted): only such a session, opened with the
    /// account's server, may take its credentials elsewhere by CONT.
    started_home: Option<bool>,
    /// Where the session's packages go now, once CONT moved them away from
    /// `SrvURI` (docs/protocol.md section 2.1: credentials follow the
    /// session to the URI the authenticated server chose).
    session_uri: Option<ServerUri>,
    challenge: Option<Challenge>,
    cookies: Vec<(ServerUri, String)>,
}

impl HttpSession {
    pub(crate) fn new(credentials: Credentials, origin: ServerUri) -> HttpSession {
        HttpSession {
            credentials,
            origin,
            started_home: None,
            session_uri: None,
            challenge: None,
            cookies: Vec::new(),
        }
    }

    /// Records where the session engine posts a package: the first one
    /// opens the session (at `SrvURI`, or at an asynchronous report's
    /// ServerURI), the later ones go where CONT moved the session. The
    /// credentials follow a CONT only in a session opened at the origin of
    /// `SrvURI`, i.e. when the server that chose the URI is the one the
    /// credentials belong to.
    pub(crate) fn package_posted(&mut self, uri: &ServerUri) {
        match self.started_home {
            None => self.started_home = Some(uri.same_origin(&self.origin)),
            Some(true) => {
                self.session_uri = (!uri.same_origin(&self.origin)).then(|| uri.clone());
            }
            Some(false) => {}
        }
    }

    /// Whether the account's credentials go with `request`: to the origin
    /// of `SrvURI` always, and to the session's CONT origin for packages.
    fn credentials_apply(&self, request: &Request) -> bool {
        if matches!(self.credentials, Credentials::None) {
            return false;
        }
        request.uri.same_origin(&self.origin)
            || (request.kind == RequestKind::Package
                && self
                    .session_uri
                    .as_ref()
                    .is_some_and(|session| request.uri.same_origin(session)))
    }

    fn cookie_header(&self, uri: &ServerUri) -> Option<String> {
        let pairs: Vec<&str> = self
            .cookies
            .iter()
            .filter(|(origin, _)| origin.same_origin(uri))
            .map(|(_, pair)| pair.as_str())
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the `name=value` pair of each `Set-Cookie` (attributes are
    /// ignored: the jar lives for one session and is scoped to the origin
    /// that set it). An empty value or `Max-Age=0` removes the cookie.
    fn store_cookies<'a>(&mut self, uri: &ServerUri, headers: impl Iterator<Item = &'a str>) {
        for header in headers {
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || name.len() + value.len() + 1 > MAX_COOKIE_LEN {
                continue;
            }
            let expired = value.is_empty()
                || parts.any(|attribute| {
                    attribute
                        .trim()
                        .to_ascii_lowercase()
                        .replace(' ', "")
                        .starts_with("max-age=0")
                });
            self.cookies.retain(|(origin, pair)| {
                !(origin.same_origin(uri) && pair.split_once('=').is_some_and(|(n, _)| n == name))
            });
            if !expired && self.cookies.len() < MAX_COOKIES {
                self.cookies.push((uri.clone(), format!("{name}={value}")));
            }
        }
    }
}

impl Transport {
    /// Performs `request` — one the session engine emitted, or one the
    /// client makes on its own (DEFAULT fetch, change report; what it is
    /// for is its [`RequestKind`], never guessed from its media type):
    /// cookies, `Authorization` when a challenge was answered before (Digest
    /// nonce reused with the next `nc`), one answer to a `401` challenge,
    /// retries per the policy. The body of a `2xx` answer is read up to the
    /// request's `response_limit` (not at all without one): a longer body
    /// is [`Failure::BodyTooLarge`], and the client never holds more than
    /// the limit and one byte.
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
            let response = self.send(http, request, &body, authorization).await?;
            http.store_cookies(
                &request.uri,
                response
                    .headers()
                    .get_all(reqwest::header::SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            );
            let status = response.status().as_u16();
            if status == 401 && !answered && http.credentials_apply(request) {
                let challenges: Vec<&str> = response
                    .headers()
                    .get_all(reqwest::header::WWW_AUTHENTICATE)
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
                    discard(response).await;
                    continue;
                }
            }
            return read_response(response, request.response_limit).await;
        }
    }

    /// Sends once, then again per the retry policy.
    async fn send(
        &self,
        http: &HttpSession,
        request: &Request,
        body: &Bytes,
        authorization: Option<String>,
    ) -> Result<reqwest::Response, Failure> {
        let policy = self.inner.retry;
        let idempotent = matches!(request.method, Method::Get | Method::Put);
        let mut failed = 0;
        loop {
            let mut builder = self
                .inner
                .client
                .request(reqwest_method(request.method), request.uri.as_str())
                .timeout(self.inner.request_timeout)
                .header(mime::OMADM_DEV_ID, request.dev_id.as_str())
                .header(reqwest::header::ACCEPT, request.accept);
            if let Some(content_type) = request.content_type {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.clone());
            }
            if let Some(cookies) = http.cookie_header(&request.uri) {
                builder = builder.header(reqwest::header::COOKIE, cookies);
            }
            if let Some(value) = &authorization {
                builder = builder.header(reqwest::header::AUTHORIZATION, value.as_str());
            }
            let error = match builder.send().await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            failed += 1;
            let kind = failure_kind(&error);
            let retriable = kind == TransportFailure::Connect
                || (idempotent
                    && (kind == TransportFailure::Timeout
                        || (kind == TransportFailure::Interrupted && error.is_request())));
            let reason = describe(&error);
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

/// The kind of a failed send: TLS failures are never transient, connection
/// failures mean nothing was sent.
fn failure_kind(error: &reqwest::Error) -> TransportFailure {
    if is_tls_failure(error) {
        TransportFailure::Tls
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if error.is_timeout() {
        TransportFailure::Timeout
    } else {
        TransportFailure::Interrupted
    }
}

/// The most bytes of an unwanted answer body (an error page, the answer to
/// an upload) read and dropped so that its connection can serve the next
/// request; a longer body is left unread and its connection closed.
const DISCARD_BYTES: usize = 64 * 1024;

/// Reads and drops what is left of `response`'s body, at most
/// [`DISCARD_BYTES`], so that a keep-alive connection goes back to the
/// pool; a failure only costs the connection.
async fn discard(mut response: reqwest::Response) {
    let mut read = 0usize;
    while read <= DISCARD_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

/// Reads status, the headers the engine needs and, for a 2xx answer with a
/// `limit`, the body: [`Failure::BodyTooLarge`] past `limit` bytes. Any
/// other body is discarded (at most [`DISCARD_BYTES`] of it read).
async fn read_response(
    mut response: reqwest::Response,
    limit: Option<usize>,
) -> Result<Response, Failure> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let content_type = header(reqwest::header::CONTENT_TYPE.as_str());
    let omadm_accept = header(mime::OMADM_ACCEPT);
    let mut body = Vec::new();
    let Some(limit) = limit.filter(|_| response.status().is_success()) else {
        discard(response).await;
        return Ok(Response {
            status,
            content_type,
            omadm_accept,
            body,
        });
    };
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if chunk.len() > limit - body.len() {
                    return Err(Failure::BodyTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                let kind = if e.is_timeout() {
                    TransportFailure::Timeout
                } else {
                    TransportFailure::Interrupted
                };
                return Err(Failure::NoAnswer {
                    kind,
                    detail: format!("reading the answer: {}", describe(&e)),
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

/// The error and its causes on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a rustls error is among the causes (certificate or handshake
/// failure: not transient).
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        current = e.source();
    }
    false
}

fn reqwest_method(method: Method) -> reqwest::Method {
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
    use dm_types::DevId;

    fn uri(text: &str) -> ServerUri {
        ServerUri::new(text).expect("valid URI")
    }

    #[test]
    fn cookies_stay_with_their_origin_and_can_be_removed() {
        let mut http = HttpSession::new(Credentials::None, uri("https://dm.example/dm"));
        let here = uri("https://dm.example/dm");
        http.store_cookies(&here, ["sid=abc; Path=/; HttpOnly", "lang=en"].into_iter());
        assert_eq!(
            http.cookie_header(&uri("https://dm.example/dm/s/1")),
            Some("sid=abc; lang=en".into())
        );
        assert_eq!(http.cookie_header(&uri("https://repo.example/x")), None);
        http.store_cookies(&here, ["sid=def", "lang=; Max-Age=0"].into_iter());
        assert_eq!(http.cookie_header(&here), Some("sid=def".into()));
        http.store_cookies(&here, ["sid=x; Max-Age=0"].into_iter());
        assert_eq!(http.cookie_header(&here), None);
    }

    /// A request to `target`: a Package#3 or a repository read.
    fn outgoing(target: &ServerUri, dev_id: &DevId, package: bool) -> Request {
        let report = dm_tree::ChangeReport {
            server: dm_types::ServerId::new("dm").expect("id"),
            report_to: target.clone(),
            items: Vec::new(),
        };
        let mut request = Request::change_report(dev_id, &report);
        request.kind = if package {
            RequestKind::Package
        } else {
            RequestKind::RepositoryRead
        };
        request
    }

    #[test]
    fn credentials_go_to_the_server_origin_only() {
        let dev_id = DevId::new("IMEI:1").expect("id");
        let http = HttpSession::new(
            Credentials::password("u", "p"),
            uri("https://dm.example/dm"),
        );
        for package in [false, true] {
            let same = uri("https://DM.example:443/repo/x");
            assert!(http.credentials_apply(&outgoing(&same, &dev_id, package)));
            let plain = uri("http://dm.example/repo/x");
            assert!(!http.credentials_apply(&outgoing(&plain, &dev_id, package)));
            let other = uri("https://repo.example/x");
            assert!(!http.credentials_apply(&outgoing(&other, &dev_id, package)));
        }
    }

    #[test]
    fn credentials_follow_the_session_packages_to_the_cont_origin_only() {
        let dev_id = DevId::new("IMEI:1").expect("id");
        let mut http = HttpSession::new(
            Credentials::password("u", "p"),
            uri("https://dm.example/dm"),
        );
        http.package_posted(&uri("https://dm.example/dm"));
        let node = uri("https://node2.example/dm/s/1");
        http.package_posted(&node);
        assert!(http.credentials_apply(&outgoing(&node, &dev_id, true)));
        // A repository request at the CONT origin gets none (only SrvURI's
        // origin is trusted for repository access).
        let repo = uri("https://node2.example/repo/x");
        assert!(!http.credentials_apply(&outgoing(&repo, &dev_id, false)));
        // Packages elsewhere (an asynchronous report's ServerURI) get none.
        let elsewhere = uri("https://report.example/r");
        assert!(!http.credentials_apply(&outgoing(&elsewhere, &dev_id, true)));
        // Back home: the follow ends, SrvURI's origin still applies.
        http.package_posted(&uri("https://dm.example/dm/s/2"));
        assert!(!http.credentials_apply(&outgoing(&node, &dev_id, true)));
        let home = uri("https://dm.example/dm/s/2");
        assert!(http.credentials_apply(&outgoing(&home, &dev_id, true)));

        // A session opened elsewhere (an asynchronous report to another
        // origin) never takes the credentials anywhere by CONT.
        let mut report = HttpSession::new(
            Credentials::password("u", "p"),
            uri("https://dm.example/dm"),
        );
        report.package_posted(&uri("https://report.example/r"));
        report.package_posted(&node);
        assert!(!report.credentials_apply(&outgoing(&node, &dev_id, true)));
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

    #[test]
    fn bad_pem_is_reported_at_build() {
        let err = Transport::builder()
            .ca_pem(b"no pem here")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tls {
                    material: TlsMaterial::CaPem,
                    ..
                }
            ),
            "{err}"
        );
        let err = Transport::builder()
            .client_identity_pem(b"", b"")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tls {
                    material: TlsMaterial::ClientCertificatePem,
                    ..
                }
            ),
            "{err}"
        );
    }
}
