//! A small real HTTP(S) server on loopback for the tests: every request is
//! recorded and answered by the test's own closure.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dm_client::{
    Account, Credentials, DmClient, RetryPolicy, SessionReport, TlsBackend, Transport, Trigger,
};
use dm_tree::{DevInfo, DmAcc, MoTree, NotificationAuth};
use dm_types::{DevId, ServerId, ServerUri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The DevID of the test device.
pub const DEV_ID: &str = "IMEI:493005100592800";
/// The ServerID of the test server (its DMAcc `SrvID`).
pub const SERVER_ID: &str = "dm.test";
/// The Content-Type of Package#2 and later packages of the server.
pub const PACKAGE2: &str = "application/vnd.oma.dm.request+json";
/// The Content-Type of MO data (a repository's answer).
pub const MO_DATA: &str = "application/dmmo+json";
/// A Package#2 that ends the session.
pub const END: &str = r#"{"CMD":[["END"]]}"#;
/// A Package#2 with one GET of DevInfo's `Man`.
pub const GET_MAN: &str = r#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}"#;
/// The `Authorization` of device-1 with the password "open sesame" (Basic).
pub const OPEN_SESAME: &str = "Basic ZGV2aWNlLTE6b3BlbiBzZXNhbWU=";

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// SHA-256 of the TLS client certificate, when one was presented.
    pub client_certificate: Option<[u8; 32]>,
    /// Which connection the request came on: the server numbers the
    /// connections it accepts from 0, so requests with the same number
    /// shared one keep-alive connection.
    pub connection: usize,
}

impl Seen {
    /// The first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether this is a Package#1 (by its Content-Type).
    pub fn is_package1(&self) -> bool {
        self.header("content-type") == Some("application/vnd.oma.dm.initiation+json")
    }

    /// Whether this is a DM package (a POST to `/dm...`).
    pub fn is_package(&self) -> bool {
        self.method == "POST" && self.target.starts_with("/dm")
    }
}

/// The answer to give.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The headers to send.
    pub headers: Vec<(String, String)>,
    /// The body to send.
    pub body: Vec<u8>,
    /// Close the connection without answering.
    pub hang_up: bool,
}

impl Reply {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            hang_up: false,
        }
    }

    /// A Package#2.
    pub fn package(body: impl Into<String>) -> Reply {
        Reply::status(200)
            .header("Content-Type", PACKAGE2)
            .body(body.into().into_bytes())
    }

    /// MO serialization.
    pub fn mo_data(body: impl Into<String>) -> Reply {
        Reply::status(200)
            .header("Content-Type", MO_DATA)
            .body(body.into().into_bytes())
    }

    /// Closes the connection without answering.
    pub fn hang_up() -> Reply {
        Reply {
            hang_up: true,
            ..Reply::status(0)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }
}

/// The test's closure answering each request.
pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Answers a Package#1 with the Package#2 `first`, anything else with END.
pub fn first_then_end(seen: &Seen, first: &str) -> Reply {
    if seen.is_package1() {
        Reply::package(first)
    } else {
        Reply::package(END)
    }
}

/// Answers 401 with a Basic challenge unless device-1's "open sesame"
/// credentials come; then `answer`.
pub fn with_basic(
    answer: impl Fn(&Seen) -> Reply + Send + Sync,
) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen: &Seen| {
        if seen.header("authorization") != Some(OPEN_SESAME) {
            return Reply::status(401).header("WWW-Authenticate", r#"Basic realm="dm""#);
        }
        answer(seen)
    }
}

/// A running server (also the raw one of `common/hostile.rs`), stopped
/// when dropped.
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// `http://ADDRESS` or `https://localhost:PORT`.
    pub base: String,
    /// Every request received so far.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The accept loop (aborted on drop).
    pub task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The requests whose target starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.target.starts_with(prefix))
            .collect()
    }

    /// The ServerURI of `path` on this server.
    pub fn uri(&self, path: &str) -> ServerUri {
        ServerUri::new(format!("{}{path}", self.base)).expect("valid URI")
    }
}

/// Plain HTTP on 127.0.0.1 (a free port, or `port`).
pub async fn serve(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
    serve_on(0, None, Arc::new(handler)).await
}

/// HTTP on 127.0.0.1 port `port` (0: a free one), or HTTPS with `tls`;
/// every request is answered by `handler`.
pub async fn serve_on(
    port: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
) -> TestServer {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://127.0.0.1:{}", address.port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let log = seen.clone();
    let task = tokio::spawn(async move {
        for number in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            let log = log.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => connection(TokioIo::new(stream), None, number, handler, log).await,
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let fingerprint = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|chain| chain.first())
                            .map(|der| sha256(der.as_ref()));
                        connection(TokioIo::new(stream), fingerprint, number, handler, log).await;
                    }
                }
            });
        }
    });
    TestServer {
        address,
        base,
        seen,
        task,
    }
}

/// HTTPS on 127.0.0.1 (a free port) over a TLS stack of the test's own:
/// `accept` makes each accepted TCP connection a TLS stream, with the
/// SHA-256 of the client certificate when one was presented, or `None` to
/// drop the connection (a failed handshake). Every request is answered by
/// `handler`, as with [`serve_on`].
pub async fn serve_tls_with<A, F, S>(accept: A, handler: Handler) -> TestServer
where
    A: Fn(tokio::net::TcpStream) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Option<(S, Option<[u8; 32]>)>> + Send + 'static,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let base = format!("https://127.0.0.1:{}", address.port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        for number in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            let log = log.clone();
            let handshake = accept(stream);
            tokio::spawn(async move {
                if let Some((stream, fingerprint)) = handshake.await {
                    connection(TokioIo::new(stream), fingerprint, number, handler, log).await;
                }
            });
        }
    });
    TestServer {
        address,
        base,
        seen,
        task,
    }
}

/// The TLS backend the suites run on: `DM_TEST_TLS_BACKEND=openssl` runs
/// them over the OpenSSL backend (`dm-client` built with its `openssl`
/// feature), anything else over rustls.
pub fn test_backend() -> TlsBackend {
    match std::env::var("DM_TEST_TLS_BACKEND") {
        Ok(name) if name.eq_ignore_ascii_case("openssl") => TlsBackend::OpenSsl,
        _ => TlsBackend::Rustls,
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

async fn connection<S>(
    io: TokioIo<S>,
    fingerprint: Option<[u8; 32]>,
    number: usize,
    handler: Handler,
    log: Arc<Mutex<Vec<Seen>>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let handler = handler.clone();
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                target: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), ToString::to_string),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: body.to_vec(),
                client_certificate: fingerprint,
                connection: number,
            };
            log.lock().expect("lock").push(seen.clone());
            let reply = handler(&seen);
            if reply.hang_up {
                return Err("hang up");
            }
            let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
            *response.status_mut() =
                hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::OK);
            for (name, value) in reply.headers {
                response.headers_mut().append(
                    hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                    hyper::header::HeaderValue::from_str(&value).expect("header value"),
                );
            }
            Ok::<_, &'static str>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// Fast retries for tests.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(100),
    }
}

/// A transport for the tests: three fast retries, 5 s per request, over
/// [`test_backend`].
pub fn transport() -> Transport {
    Transport::builder()
        .backend(test_backend())
        .retry(fast_retry(3))
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("transport")
}

/// [`SERVER_ID`] as a `ServerId`.
pub fn server_id() -> ServerId {
    ServerId::new(SERVER_ID).expect("id")
}

/// The test device's DevInfo ([`DEV_ID`], Acme X1).
pub fn devinfo() -> DevInfo {
    DevInfo::new(DevId::new(DEV_ID).expect("DevID"), "Acme", "X1")
}

/// The account of `SERVER_ID` at `<base>/dm`, allowed every MOID.
pub fn account(base: &str) -> DmAcc {
    DmAcc::new(
        server_id(),
        ServerUri::new(format!("{base}/dm")).expect("SrvURI"),
    )
}

/// A client for the server at `base`.
pub fn client(base: &str, credentials: Credentials) -> DmClient {
    builder(base, credentials, None).build().expect("client")
}

/// A client for the server at `base` over `transport`.
pub fn client_over(base: &str, credentials: Credentials, transport: Transport) -> DmClient {
    builder(base, credentials, None)
        .transport(transport)
        .build()
        .expect("client")
}

/// Hands the Package#0 `bytes`, received at `now`, to the client.
pub async fn notified(
    client: &mut DmClient,
    bytes: &[u8],
    now: std::time::SystemTime,
) -> dm_client::NotificationOutcome {
    client
        .handle_notification(bytes, now)
        .await
        .expect("handled")
}

/// Runs a client-initiated session with `SERVER_ID`.
pub async fn client_initiated(client: &mut DmClient) -> SessionReport {
    client
        .run_session(&server_id(), Trigger::Client)
        .await
        .expect("session")
}

/// A device builder with the account of [`SERVER_ID`] at `<base>/dm`
/// and the test transport.
pub fn builder(
    base: &str,
    credentials: Credentials,
    noti: Option<NotificationAuth>,
) -> dm_client::DmClientBuilder {
    let mut acc = account(base);
    acc.notification = noti;
    DmClient::builder(devinfo())
        .account(
            Account::new(acc)
                .credentials(credentials)
                .allow_every_moid(true),
        )
        .transport(transport())
}

/// A tree without instances.
pub fn empty_tree() -> MoTree {
    MoTree::new()
}

/// A tree holding the MO serialization `document`.
pub fn tree_of(document: &str) -> MoTree {
    let limits = dm_codec::Limits::default();
    let items = dm_codec::decode_mo_serialization(document.as_bytes(), &limits).expect("items");
    MoTree::from_mo_serialization(&items).expect("tree")
}

/// A self-signed test CA with this common name: its certificate and the
/// issuer of the certificates it signs.
pub fn test_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let certificate = params.self_signed(&key).expect("CA certificate");
    (certificate, rcgen::Issuer::new(params, key))
}

/// A certificate signed by `issuer` for these subject alternative names
/// (a server's) or, when given, this common name (a client's), and its key.
pub fn signed_certificate(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: &[&str],
    common_name: Option<&str>,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("params");
    if let Some(name) = common_name {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
    }
    let certificate = params.signed_by(&key, issuer).expect("certificate");
    (certificate, key)
}

/// A self-signed certificate (not a CA) for these subject alternative
/// names, and its key: a server's identity pinned by its clients.
pub fn self_signed_certificate(names: &[&str]) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let params = rcgen::CertificateParams::new(names).expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    (certificate, key)
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dm-client-test-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The statuses of a Package#3 body.
pub fn statuses(seen: &Seen) -> Vec<u64> {
    seen.json()["Status"]
        .as_array()
        .map(|list| list.iter().filter_map(|s| s["sc"].as_u64()).collect())
        .unwrap_or_default()
}

/// The alert types of a Package#1 body.
pub fn alert_types(seen: &Seen) -> Vec<String> {
    seen.json()["Alert"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| a["AlertType"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A factory file (docs/protocol.md section 11.2) holding `accounts`: an
/// MO serialization of DMAcc instances `acc1`, `acc2`, ...
pub fn factory_file(accounts: &[DmAcc]) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for (index, account) in accounts.iter().enumerate() {
        let miid = dm_types::Miid::new(format!("acc{}", index + 1)).expect("MIID");
        let item = account
            .to_instance(miid)
            .encode_mo_serialization(dm_tree::NodeId::ROOT);
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item[1..item.len() - 1]);
    }
    out.push(b']');
    out
}
