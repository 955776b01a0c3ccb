//! Shared helpers of the dm-server integration tests: a server on a
//! loopback socket, HTTP clients, packages and authentication.

use std::sync::Arc;
use std::time::Duration;

use dm_server::{
    Admin, CommandId, CommandRecord, DeviceRegistration, DmServer, Error, MemoryStore,
    NotificationChannel, ServerOptions, Store, UdpChannel,
};
use dm_session::http_auth::Challenge;
use dm_types::{Command, DevId};
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Content-Type of Package#1.
pub const INITIATION: &str = "application/vnd.oma.dm.initiation+json";
/// The Content-Type of Package#3.
pub const RESPONSE: &str = "application/vnd.oma.dm.response+json";
/// The Content-Type of Package#2.
pub const REQUEST: &str = "application/vnd.oma.dm.request+json";
/// The Content-Type of MO data.
pub const MO_DATA: &str = "application/dmmo+json";
/// The bearer token of the admin interface.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Device 1's DevID.
pub const DEV1: &str = "IMEI:493005100592800";
/// Device 1's user name.
pub const USER1: &str = "device-1";
/// Device 1's password.
pub const PASS1: &str = "correct horse";
/// Device 2's DevID.
pub const DEV2: &str = "IMEI:493005100592801";
/// Device 2's user name.
pub const USER2: &str = "device-2";
/// Device 2's password.
pub const PASS2: &str = "battery staple";
/// Device 1's Basic credentials.
pub const BASIC1: Auth<'static> = Auth::Basic(USER1, PASS1);
/// Device 2's Basic credentials.
pub const BASIC2: Auth<'static> = Auth::Basic(USER2, PASS2);
/// Device 1 answering the Digest SHA-256 challenge.
pub const DIGEST1: Auth<'static> = Auth::Digest(USER1, PASS1, "SHA-256");

/// Package#1 of a client-initiated session with an MO list.
pub const P1: &str = r#"{"MOS":[{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;

/// Package#3 with these status codes.
pub fn p3(codes: &[u16]) -> String {
    let statuses: Vec<String> = codes.iter().map(|c| format!(r#"{{"sc":{c}}}"#)).collect();
    format!(r#"{{"Status":[{}]}}"#, statuses.join(","))
}

/// `id` as a DevId.
pub fn dev(id: &str) -> DevId {
    DevId::new(id).expect("valid DevID")
}

/// A GET of the DevInfo node `node`.
pub fn get(node: &str) -> Command {
    Command::from_words(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//{node}")])
        .expect("valid GET")
}

/// Queues a GET of the DevInfo node `node` for device 1.
pub async fn queue_get<S: Store, C: NotificationChannel>(
    admin: &Admin<S, C>,
    node: &str,
) -> CommandId {
    admin.enqueue(&dev(DEV1), get(node)).await.expect("queued")
}

/// Device 1's command `id` as the server holds it.
pub async fn command_of<S: Store, C: NotificationChannel>(
    admin: &Admin<S, C>,
    id: CommandId,
) -> CommandRecord {
    admin.command(&dev(DEV1), id).await.expect("command")
}

/// Resident set size of this process in bytes (Linux: `/proc/self/status`).
pub fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// A server serving on a loopback port until stopped.
pub struct TestServer<S: Store = MemoryStore, C: NotificationChannel = UdpChannel> {
    /// `http://ADDRESS` of the running server.
    pub base: String,
    /// The server.
    pub server: DmServer<S, C>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl<S: Store, C: NotificationChannel> TestServer<S, C> {
    /// Starts a server on a free loopback port with `options`, `store` and
    /// `channel`.
    pub async fn start_with(options: ServerOptions, store: S, channel: C) -> Self {
        let server = DmServer::new(options, store, channel);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("address");
        let scheme = if server.options().is_tls() {
            "https"
        } else {
            "http"
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = server.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        TestServer {
            base: format!("{scheme}://{address}"),
            server,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The server's admin interface.
    pub fn admin(&self) -> Admin<S, C> {
        self.server.admin()
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully and returns what `serve` returned.
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("stops in time")
            .expect("serve task did not panic")
    }
}

impl<S: Store> TestServer<S, UdpChannel> {
    /// Starts a server on a free loopback port with `options` and `store`
    /// (notifications over UDP).
    pub async fn start_on(options: ServerOptions, store: S) -> Self {
        Self::start_with(options, store, UdpChannel).await
    }
}

impl TestServer<MemoryStore, UdpChannel> {
    /// A server with an admin token and two devices with passwords.
    pub async fn start(options: ServerOptions) -> Self {
        let server = Self::start_with(options, MemoryStore::new(), UdpChannel).await;
        register_two(&server.admin()).await;
        server
    }
}

/// Registers devices 1 and 2 with their Basic credentials.
pub async fn register_two<S: Store, C: NotificationChannel>(admin: &Admin<S, C>) {
    let realm = admin.realm().to_owned();
    admin
        .register_device(
            DeviceRegistration::new(dev(DEV1)).with_password(USER1, PASS1, &realm),
            false,
        )
        .await
        .expect("register device 1");
    admin
        .register_device(
            DeviceRegistration::new(dev(DEV2)).with_password(USER2, PASS2, &realm),
            false,
        )
        .await
        .expect("register device 2");
}

/// Server options for the tests: ServerID `test-server`, [`ADMIN_TOKEN`].
pub fn options() -> dm_server::ServerOptionsBuilder {
    ServerOptions::builder()
        .server_id("test-server")
        .admin_token(ADMIN_TOKEN)
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTP(S) client trusting `roots` (none for plain HTTP) and presenting
/// `identity` (certificate chain and key, DER) when given.
pub fn client_with(
    roots: &[rustls_pki_types::CertificateDer<'static>],
    identity: Option<(
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    )>,
) -> reqwest::Client {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("valid root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(store);
    let config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("valid client identity"),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// An HTTP client for the tests (no proxy, 10 s per request).
pub fn client() -> reqwest::Client {
    client_with(&[], None)
}

/// How a test device authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// No credentials.
    None,
    /// Basic, with user name and password.
    Basic(&'a str, &'a str),
    /// Digest, answering the challenge of this algorithm (`SHA-256`, `MD5`).
    Digest(&'a str, &'a str, &'a str),
}

/// The `WWW-Authenticate` challenge for `algorithm` in a 401's headers.
pub fn digest_challenge(headers: &HeaderMap, algorithm: &str) -> Option<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Digest") && v.contains(&format!("algorithm={algorithm}")))
        .map(str::to_owned)
}

/// The Digest `Authorization` answering `challenge` for a request (the
/// first answer to its nonce). The body is not signed: `qop=auth`.
pub fn digest_answer(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    _body: &[u8],
) -> String {
    let mut prompt = match Challenge::parse(challenge) {
        Ok(Some(Challenge::Digest(prompt))) => prompt,
        other => panic!("not a Digest challenge: {other:?}"),
    };
    prompt
        .answer(user, password, method, uri, "0a4f113b")
        .expect("a challenge we can answer")
        .to_string()
}

/// Sends a request the way a device does: with `OMADM-DevID` and the given
/// content type, answering one 401 challenge for `auth`.
pub async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    content_type: Option<&str>,
    dev_id: Option<&str>,
    body: &[u8],
    auth: Auth<'_>,
) -> reqwest::Response {
    let build = |authorization: Option<String>| {
        let accept = if method == reqwest::Method::POST && content_type != Some(MO_DATA) {
            REQUEST
        } else {
            MO_DATA
        };
        let mut request = client
            .request(method.clone(), url)
            .header("Accept", accept)
            .body(body.to_vec());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if let Some(dev_id) = dev_id {
            request = request.header("OMADM-DevID", dev_id);
        }
        match (auth, authorization) {
            (_, Some(value)) => request.header("Authorization", value),
            (Auth::Basic(user, password), None) => request.basic_auth(user, Some(password)),
            _ => request,
        }
    };
    let response = build(None).send().await.expect("the server answers");
    let Auth::Digest(user, password, algorithm) = auth else {
        return response;
    };
    if response.status() != 401 {
        return response;
    }
    let challenge = digest_challenge(response.headers(), algorithm)
        .unwrap_or_else(|| panic!("no {algorithm} challenge in {:?}", response.headers()));
    let parsed = reqwest::Url::parse(url).expect("valid URL");
    let uri = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let answer = digest_answer(&challenge, user, password, method.as_str(), &uri, body);
    build(Some(answer))
        .send()
        .await
        .expect("the server answers")
}

/// Posts a package to `url`.
pub async fn post_package(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    dev_id: &str,
    body: &(impl AsRef<[u8]> + ?Sized),
    auth: Auth<'_>,
) -> reqwest::Response {
    send(
        client,
        reqwest::Method::POST,
        url,
        Some(content_type),
        Some(dev_id),
        body.as_ref(),
        auth,
    )
    .await
}

/// Posts the Package#1 `body` to the server's `/dm` as `dev_id`.
pub async fn post_package1<S: Store, C: NotificationChannel>(
    client: &reqwest::Client,
    server: &TestServer<S, C>,
    dev_id: &str,
    body: &(impl AsRef<[u8]> + ?Sized),
    auth: Auth<'_>,
) -> reqwest::Response {
    post_package(client, &server.url("/dm"), INITIATION, dev_id, body, auth).await
}

/// Posts device 1's Package#3 with these status codes to `url` (Basic).
pub async fn post_p3(client: &reqwest::Client, url: &str, codes: &[u16]) -> reqwest::Response {
    post_package(client, url, RESPONSE, DEV1, &p3(codes), BASIC1).await
}

/// The session URI of the CONT that starts a Package#2.
pub fn cont_uri(commands: &[Vec<String>]) -> String {
    assert_eq!(commands[0][0], "CONT", "{commands:?}");
    commands[0][1].clone()
}

/// Device 1 opens a session with `P1` (Basic); asserts the 200 and returns
/// the session URI of the CONT and the number of commands (CONT included)
/// of the Package#2.
pub async fn open_session<S: Store, C: NotificationChannel>(
    server: &TestServer<S, C>,
) -> (String, usize) {
    let response = post_package1(&client(), server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    (cont_uri(&package), package.len())
}

/// Device 1's Package#3 with these statuses finishes its session: a 200
/// with END.
pub async fn finish_session(uri: &str, codes: &[u16]) {
    let response = post_p3(&client(), uri, codes).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
}

/// Queues a GET for device 1, opens a session and answers its Package#2
/// with `body` as `content_type`; returns the answer's status, the session
/// URI and the queued command as the server then holds it.
pub async fn package3_in_new_session<S: Store, C: NotificationChannel>(
    server: &TestServer<S, C>,
    content_type: &str,
    body: &(impl AsRef<[u8]> + ?Sized),
) -> (reqwest::StatusCode, String, CommandRecord) {
    let admin = server.admin();
    let id = queue_get(&admin, "Man").await;
    let (uri, _) = open_session(server).await;
    let response = post_package(&client(), &uri, content_type, DEV1, body, BASIC1).await;
    (response.status(), uri, command_of(&admin, id).await)
}

/// A device's GET of the repository object at `url`, claiming `dev_id`.
pub async fn repo_get(
    client: &reqwest::Client,
    url: &str,
    dev_id: Option<&str>,
    auth: Auth<'_>,
) -> reqwest::Response {
    send(client, reqwest::Method::GET, url, None, dev_id, b"", auth).await
}

/// A device's PUT of the MO data `body` to `url`, claiming `dev_id`.
pub async fn repo_put(
    client: &reqwest::Client,
    url: &str,
    dev_id: Option<&str>,
    body: &[u8],
    auth: Auth<'_>,
) -> reqwest::Response {
    let method = reqwest::Method::PUT;
    send(client, method, url, Some(MO_DATA), dev_id, body, auth).await
}

/// The commands of a Package#2 body.
pub fn commands(body: &[u8]) -> Vec<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(body).expect("Package#2 is JSON");
    value["CMD"]
        .as_array()
        .expect("CMD array")
        .iter()
        .map(|c| {
            c.as_array()
                .expect("command array")
                .iter()
                .map(|w| w.as_str().expect("string").to_owned())
                .collect()
        })
        .collect()
}

/// The admin API client.
pub struct AdminClient {
    /// The HTTP client.
    pub client: reqwest::Client,
    /// The server's base URL.
    pub base: String,
    /// The bearer token sent, if any.
    pub token: Option<String>,
}

impl AdminClient {
    /// An admin client of the server at `base`, with [`ADMIN_TOKEN`].
    pub fn new(base: &str) -> Self {
        AdminClient {
            client: client(),
            base: base.to_owned(),
            token: Some(ADMIN_TOKEN.to_owned()),
        }
    }

    /// Sends one admin request; its status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            })
        };
        (status, value)
    }

    /// `GET path`; status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body; status and JSON body.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// A DevID as a path segment.
pub fn segment(dev_id: &str) -> String {
    dev_id.replace(':', "%3A")
}
