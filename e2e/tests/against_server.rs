//! End to end: a real `DmClient` against a real in-process `DmServer`
//! (`MemoryStore`, `UdpChannel`) on loopback HTTP and HTTPS. Commands are
//! queued through the server's admin interface and their results read back
//! there; authentication, refusals, notifications and a session spread over
//! two server nodes sharing one store.

use dm_test_support::device as common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::middleware::Next;
use axum::response::Response;
use common::{
    DEV_ID, MO_DATA, PACKAGE2, SERVER_ID, builder, client_initiated, client_over, notified,
    scratch, sha256, signed_certificate, test_ca, tree_of,
};
use dm_client::{
    ClientEnd, ClientEvent, Configuration, Credentials, Ignored, NotificationOutcome, Observer,
    SessionReport, Transport,
};
use dm_codec::notification::Replay;
use dm_server::{
    CommandId, CommandRecord, CommandState, DeviceRegistration, DmServer, MemoryStore, ObjectOwner,
    ServerOptions, ServerOptionsBuilder, SessionOutcome, SessionSettings, Store, TlsOptions,
    UdpChannel,
};
use dm_session::Initiator;
use dm_tree::{ExecOutcome, MoTree, NodeHandler, NotificationAuth, Principal, ReadOutcome};
use dm_types::{ClientUri, Command, DevId, LeafValue, Moid, ServerId, StatusCode};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const USER: &str = "device-1";
const PASSWORD: &str = "correct horse";
const OTHER_DEV_ID: &str = "IMEI:493005100592801";
const OTHER_USER: &str = "device-2";
const OTHER_PASSWORD: &str = "battery staple";
const ADMIN_TOKEN: &str = "e2e-admin-token";
const INITIATION: &str = "application/vnd.oma.dm.initiation+json";
const RESPONSE: &str = "application/vnd.oma.dm.response+json";
const PACKAGE1: &str = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;
const DEMO_MOID: &str = "urn:x:demo:1.0";

fn dev_id() -> DevId {
    DevId::new(DEV_ID).expect("DevID")
}

fn command(words: &[&str]) -> Command {
    Command::from_words(words).expect("a valid command")
}

/// Server options with the client's server id and the admin token.
fn options() -> ServerOptionsBuilder {
    ServerOptions::builder()
        .server_id(SERVER_ID)
        .admin_token(ADMIN_TOKEN)
}

/// One request as the recording layer saw it, with the answer's status.
#[derive(Debug, Clone)]
struct Logged {
    method: String,
    path: String,
    dev_id: Option<String>,
    authorization: Option<String>,
    status: u16,
}

#[derive(Clone, Default)]
struct Recorder {
    log: Arc<Mutex<Vec<Logged>>>,
    /// Drop the Digest SHA-256 challenges from 401 answers (a server that
    /// offers MD5 only).
    without_sha256: bool,
}

impl Recorder {
    /// A recorder for a server that offers Digest MD5 only.
    fn md5_only() -> Self {
        Recorder {
            without_sha256: true,
            ..Recorder::default()
        }
    }
}

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut logged = Logged {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        dev_id: text("omadm-devid"),
        authorization: text(AUTHORIZATION.as_str()),
        status: 0,
    };
    let mut response = next.run(request).await;
    logged.status = response.status().as_u16();
    if recorder.without_sha256 && logged.status == 401 {
        let kept: Vec<_> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter(|v| !v.to_str().unwrap_or("").contains("SHA-256"))
            .cloned()
            .collect();
        response.headers_mut().remove(WWW_AUTHENTICATE);
        for value in kept {
            response.headers_mut().append(WWW_AUTHENTICATE, value);
        }
    }
    recorder.log.lock().expect("lock").push(logged);
    response
}

/// A server on a loopback port, stopped when dropped.
struct Node<S: Store = MemoryStore> {
    server: DmServer<S, UdpChannel>,
    base: String,
    recorder: Recorder,
    task: JoinHandle<()>,
}

impl<S: Store> Drop for Node<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Store> Node<S> {
    /// `DmServer::serve` (HTTP or HTTPS, as the options say).
    async fn serve(options: ServerOptions, store: S) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve_on(listener, options, store)
    }

    fn serve_on(listener: TcpListener, options: ServerOptions, store: S) -> Self {
        let address = listener.local_addr().expect("address");
        let scheme = if options.is_tls() { "https" } else { "http" };
        let server = DmServer::new(options, store, UdpChannel);
        let serving = server.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, std::future::pending())
                .await
                .expect("serves");
        });
        Node {
            server,
            base: format!("{scheme}://{address}"),
            recorder: Recorder::default(),
            task,
        }
    }

    /// The server's routes behind a layer that records every request:
    /// plain HTTP, or HTTPS with `tls` (the options must have TLS too, so
    /// that session URIs are `https`).
    async fn recorded(
        options: ServerOptions,
        store: S,
        recorder: Recorder,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::recorded_on(listener, options, store, recorder, tls)
    }

    fn recorded_on(
        listener: TcpListener,
        options: ServerOptions,
        store: S,
        recorder: Recorder,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        assert_eq!(
            options.is_tls(),
            tls.is_some(),
            "the options and the listener agree on TLS"
        );
        let address = listener.local_addr().expect("address");
        let server = DmServer::new(options, store, UdpChannel);
        let router = server.router().layer(axum::middleware::from_fn_with_state(
            recorder.clone(),
            record,
        ));
        let (scheme, task) = match tls {
            None => (
                "http",
                tokio::spawn(async move {
                    axum::serve(listener, router).await.expect("serves");
                }),
            ),
            Some(config) => ("https", tokio::spawn(serve_tls(listener, config, router))),
        };
        Node {
            server,
            base: format!("{scheme}://{address}"),
            recorder,
            task,
        }
    }

    fn log(&self) -> Vec<Logged> {
        self.recorder.log.lock().expect("lock").clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn register(&self, registration: DeviceRegistration) {
        self.server
            .admin()
            .register_device(registration, false)
            .await
            .expect("registered");
    }

    /// The test device's registration with its password in this server's
    /// realm.
    fn with_password(&self) -> DeviceRegistration {
        let realm = self.server.admin().realm().to_owned();
        DeviceRegistration::new(dev_id()).with_password(USER, PASSWORD, &realm)
    }

    /// Registers the test device with its password and the other device.
    async fn register_both(&self) {
        let realm = self.server.admin().realm().to_owned();
        self.register(self.with_password()).await;
        self.register(
            DeviceRegistration::new(DevId::new(OTHER_DEV_ID).expect("DevID")).with_password(
                OTHER_USER,
                OTHER_PASSWORD,
                &realm,
            ),
        )
        .await;
    }

    async fn enqueue(&self, words: &[&str]) -> CommandId {
        self.server
            .admin()
            .enqueue(&dev_id(), command(words))
            .await
            .expect("queued")
    }

    async fn result(&self, id: CommandId) -> CommandRecord {
        self.server
            .admin()
            .command(&dev_id(), id)
            .await
            .expect("the command exists")
    }

    /// The status code of a command, asserting it is done.
    async fn status(&self, id: CommandId) -> u16 {
        let record = self.result(id).await;
        assert_eq!(record.state, CommandState::Done, "{record:?}");
        record.result.expect("a status").code.as_u16()
    }
}

/// Serves `router` over TLS on `listener`: the TLS side of what
/// `DmServer::serve` does (without its limits and client certificates), for
/// routes behind a recording layer. The connections end with the task.
async fn serve_tls(listener: TcpListener, config: Arc<rustls::ServerConfig>, router: axum::Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Node {
    /// `Node::recorded` on a new store, with both devices registered.
    async fn recording(
        options: ServerOptions,
        recorder: Recorder,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let node = Self::recorded(options, MemoryStore::new(), recorder, tls).await;
        node.register_both().await;
        node
    }

    /// `Node::serve` on a new store, with both devices registered.
    async fn serving(options: ServerOptions) -> Self {
        let node = Self::serve(options, MemoryStore::new()).await;
        node.register_both().await;
        node
    }
}

/// The demo MO: `Reboot` (asynchronous EXEC), `Ping` (synchronous EXEC),
/// `Status`; the server holds Read and Exec on it.
fn demo_tree() -> MoTree {
    let document = format!(
        r#"[{{"ClientURI":"{DEMO_MOID}/demo/","MOData":{{"Demo":{{"Reboot":"","Ping":"","Status":"idle"}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/d1/","MOData":{{"DACMO":{{"MOID":"{DEMO_MOID}","MIID":"demo",
              "ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Exec"}}}}}}}}}}]"#
    );
    tree_of(&document)
}

/// `Reboot` starts and reports its end at once through the completion
/// handle; `Ping` finishes synchronously.
struct DemoHandler {
    completion: dm_client::ExecCompletion,
}

impl NodeHandler for DemoHandler {
    fn exec(
        &self,
        node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        if node.as_str().ends_with("/Reboot") {
            self.completion.finished(node.clone(), StatusCode::OK);
            ExecOutcome::Started
        } else {
            ExecOutcome::Done(StatusCode::OK)
        }
    }
}

fn demo_client(base: &str, credentials: Credentials) -> dm_client::DmClient {
    demo_client_over(base, credentials, common::transport())
}

/// `demo_client` over `transport`.
fn demo_client_over(
    base: &str,
    credentials: Credentials,
    transport: Transport,
) -> dm_client::DmClient {
    let mut client = builder(base, credentials, None)
        .transport(transport)
        .tree(demo_tree())
        .build()
        .expect("client");
    let completion = client.exec_completion();
    client.set_handler(
        Moid::new(DEMO_MOID).expect("MOID"),
        Arc::new(DemoHandler { completion }),
    );
    client
}

/// The MO serialization of what the device reads at `uri` in `tree`.
fn read(tree: &MoTree, uri: &str) -> String {
    let uri = ClientUri::parse(uri).expect("ClientURI");
    match tree.read(&Principal::Device, &[uri]) {
        Ok(ReadOutcome::Data(items)) => {
            String::from_utf8(dm_codec::encode_mo_serialization(&items)).expect("UTF-8")
        }
        other => panic!("not readable: {other:?}"),
    }
}

fn completed(report: &SessionReport) {
    assert!(report.completed(), "{report}");
}

/// The scheme a scenario runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// What a scenario needs to run over its scheme. Over HTTPS: a test PKI
/// generated now (rcgen), the server certificate in the server's
/// `TlsOptions` (for 127.0.0.1), and client transports and raw HTTP clients
/// that trust the test CA.
struct Wire {
    scheme: Scheme,
    pki: Option<Pki>,
}

impl Wire {
    fn new(scheme: Scheme) -> Wire {
        Wire {
            scheme,
            pki: (scheme == Scheme::Https).then(pki),
        }
    }

    /// `options()`, with the server certificate over HTTPS.
    fn options(&self) -> ServerOptionsBuilder {
        match &self.pki {
            None => options(),
            Some(pki) => options().tls(TlsOptions::from_pem(
                pki.server_pem.clone(),
                pki.server_key_pem.clone(),
            )),
        }
    }

    /// The rustls configuration of a recorded node over HTTPS: what
    /// `TlsOptions` builds (ring, safe protocol versions, HTTP/1.1 by ALPN)
    /// with the same certificate.
    fn server_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        let pki = self.pki.as_ref()?;
        let chain = CertificateDer::pem_slice_iter(pki.server_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate chain");
        let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(Arc::new(config))
    }

    /// Asserts `node` speaks this scheme.
    fn check(&self, node: &Node) {
        let prefix = match self.scheme {
            Scheme::Http => "http://127.0.0.1:",
            Scheme::Https => "https://127.0.0.1:",
        };
        assert!(node.base.starts_with(prefix), "{}", node.base);
    }

    /// `Node::serving` (`DmServer::serve`, HTTP or HTTPS).
    async fn serving(&self, options: ServerOptions) -> Node {
        let node = Node::serving(options).await;
        self.check(&node);
        node
    }

    /// `Node::recording` (the routes behind the recording layer, HTTP or
    /// HTTPS).
    async fn recording(&self, options: ServerOptions, recorder: Recorder) -> Node {
        let node = Node::recording(options, recorder, self.server_config()).await;
        self.check(&node);
        node
    }

    /// `common::transport()`, trusting the test CA over HTTPS.
    fn transport(&self) -> Transport {
        let mut builder = Transport::builder()
            .retry(common::fast_retry(3))
            .request_timeout(Duration::from_secs(5));
        if let Some(pki) = &self.pki {
            builder = builder.ca_pem(pki.ca_pem.as_bytes());
        }
        builder.build().expect("transport")
    }

    /// `demo_client` over this scheme's transport.
    fn client(&self, base: &str, credentials: Credentials) -> dm_client::DmClient {
        demo_client_over(base, credentials, self.transport())
    }

    /// A raw HTTP client, trusting the test CA over HTTPS.
    fn http(&self) -> reqwest::Client {
        http_trusting(self.pki.as_ref().map(|pki| pki.ca_pem.as_str()))
    }
}

/// One `#[tokio::test]` per scenario in module `http` and one in module
/// `https`, each calling the scenario with its scheme.
macro_rules! over_http_and_https {
    ($($scenario:ident),+ $(,)?) => {
        mod http {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Scheme::Http).await;
                }
            )+
        }

        mod https {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Scheme::Https).await;
                }
            )+
        }
    };
}

over_http_and_https!(
    get_hget_hput_hpost_delete_cont_and_end,
    exec_synchronous_and_asynchronous_and_show,
    default_sub_change_report_and_unsub,
    basic_authentication,
    digest_sha256_with_the_nonce_reused,
    digest_md5_when_the_server_offers_no_sha256,
    refusals_reach_the_client_precisely,
    a_package3_over_the_servers_limit_ends_the_session_with_413,
);

async fn get_hget_hput_hpost_delete_cont_and_end(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let settings = SessionSettings::default().with_commands_per_package(2);
    let options = wire.options().session(settings).build().expect("options");
    let node = wire.recording(options, Recorder::default()).await;
    let admin = node.server.admin();
    let created = admin
        .put_repository(
            "config/wlan",
            br#"[{"ClientURI":"urn:x:wlan:1.0//","MOData":{"WLAN":{"SSID":"office","Hidden":false}}}]"#,
        )
        .await
        .expect("stored");
    assert!(created);
    let repo = |path: &str| node.url(&format!("/repo/{path}"));
    let get = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    let hget = node.enqueue(&["HGET", &repo("config/wlan")]).await;
    let hput = node
        .enqueue(&[
            "HPUT",
            &repo("uploads/devinfo"),
            "urn:oma:mo:oma-dm-devinfo:1.0//",
        ])
        .await;
    let hpost = node
        .enqueue(&["HPOST", &repo("uploads/status"), "urn:x:demo:1.0//Status"])
        .await;
    let missing = node.enqueue(&["HGET", &repo("config/missing")]).await;

    let mut client = wire.client(&node.base, Credentials::password(USER, PASSWORD));
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(report.commands, 6, "five queued and CONT");
    assert_eq!(report.packages, 4, "three Package#2 of commands, one END");

    // GET: the data came back to the server.
    assert_eq!(node.status(get).await, 200);
    let data = &node.result(get).await.result.expect("status").data;
    let text = String::from_utf8(dm_codec::encode_mo_serialization(data)).expect("UTF-8");
    assert!(text.contains(DEV_ID), "{text}");
    // HGET: a new instance, with the MIID the client chose.
    assert_eq!(node.status(hget).await, 200);
    let written = node.result(hget).await.result.expect("status").uris;
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].as_str().starts_with("urn:x:wlan:1.0/"));
    assert!(read(client.tree(), "urn:x:wlan:1.0//SSID").contains("office"));
    // HPUT and HPOST: the objects are in the repository, owned by the device.
    assert_eq!(node.status(hput).await, 200);
    let uploaded = admin
        .repository("uploads/devinfo")
        .await
        .expect("store")
        .expect("uploaded");
    assert_eq!(uploaded.owner, ObjectOwner::Device(dev_id()));
    assert!(uploaded.body.contains(DEV_ID), "{}", uploaded.body);
    assert_eq!(node.status(hpost).await, 200);
    let posted = admin
        .repository("uploads/status")
        .await
        .expect("store")
        .expect("posted");
    assert!(
        posted.body.contains(r#""Status":"idle""#),
        "{}",
        posted.body
    );
    // A repository object that does not exist: 502 for the command.
    assert_eq!(node.status(missing).await, 502);

    // CONT: Package#1 went to /dm, every Package#3 to the session URI.
    let device = admin.device(&dev_id()).await.expect("device");
    let session = device.last_session().expect("a session").clone();
    assert!(session.cont_sent);
    assert_eq!(session.outcome, Some(SessionOutcome::Completed), "END");
    assert_eq!(session.packages, 4);
    let packages: Vec<Logged> = node
        .log()
        .into_iter()
        .filter(|l| l.method == "POST" && l.path.starts_with("/dm") && l.status == 200)
        .collect();
    assert_eq!(packages.len(), 4);
    assert_eq!(packages[0].path, "/dm");
    let session_path = format!("/dm/s/{}", session.token);
    assert!(packages[1..].iter().all(|l| l.path == session_path));
    let repository: Vec<Logged> = node
        .log()
        .into_iter()
        .filter(|l| l.path.starts_with("/repo/"))
        .collect();
    assert!(
        repository
            .iter()
            .all(|l| l.dev_id.as_deref() == Some(DEV_ID)),
        "{repository:?}"
    );

    // DELETE in a second session removes the instance HGET created.
    let delete = node.enqueue(&["DELETE", "urn:x:wlan:1.0//"]).await;
    let devinfo = node
        .enqueue(&["DELETE", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])
        .await;
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(node.status(delete).await, 200);
    assert_eq!(
        client.tree().resolve_str("urn:x:wlan:1.0//SSID").0.as_u16(),
        404
    );
    assert_eq!(node.status(devinfo).await, 403, "DevInfo is read only");
    assert_eq!(
        client
            .tree()
            .resolve_str("urn:oma:mo:oma-dm-devinfo:1.0//Man")
            .0
            .as_u16(),
        200
    );
    // A session with nothing queued ends in its first Package#2: no CONT.
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!((report.packages, report.commands), (1, 0));
    let device = admin.device(&dev_id()).await.expect("device");
    assert!(!device.last_session().expect("session").cont_sent);
}

#[tokio::test]
async fn a_cont_to_another_origin_is_followed_with_the_session_credentials() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    // The server calls itself `localhost`; the device knows it as 127.0.0.1.
    let node = Node::recorded_on(
        listener,
        options()
            .public_uri(format!("http://localhost:{port}"))
            .build()
            .expect("options"),
        MemoryStore::new(),
        Recorder::default(),
        None,
    );
    node.register_both().await;
    let get = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    let mut client = demo_client(&node.base, Credentials::password(USER, PASSWORD));
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(node.status(get).await, 200);
    // The Package#3 went to the CONT URI (another origin: `localhost`
    // instead of 127.0.0.1), with the credentials: the server accepted it
    // without a new challenge (docs/protocol.md section 2.1).
    let packages: Vec<(String, u16)> = node.log().into_iter().map(|l| (l.path, l.status)).collect();
    assert_eq!(packages.len(), 3, "{packages:?}");
    assert_eq!(packages[0], ("/dm".to_owned(), 401));
    assert_eq!(packages[1], ("/dm".to_owned(), 200));
    assert!(
        packages[2].0.starts_with("/dm/s/") && packages[2].1 == 200,
        "Package#3 followed CONT: {packages:?}"
    );
}

async fn exec_synchronous_and_asynchronous_and_show(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let node = wire.serving(wire.options().build().expect("options")).await;
    let ping = node.enqueue(&["EXEC", "urn:x:demo:1.0//Ping"]).await;
    let reboot = node
        .enqueue(&["EXEC", "urn:x:demo:1.0//Reboot", &node.url("/dm")])
        .await;
    let page = node.url("/ui/consent?session=42");
    let show = node.enqueue(&["SHOW", &page]).await;
    let mut client = wire.client(&node.base, Credentials::password(USER, PASSWORD));
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(node.status(ping).await, 200);
    assert_eq!(node.status(reboot).await, 202);
    // The demo device has no browser component: SHOW cannot launch (500).
    assert_eq!(node.status(show).await, 500);
    assert!(
        !report
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::LaunchBrowser(_))),
        "{:?}",
        report.events
    );
    assert!(
        report
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::ExecStarted { node, .. } if node.as_str() == "urn:x:demo:1.0//Reboot"))
    );
    let admin = node.server.admin();
    assert!(
        admin.alerts(&dev_id()).await.expect("alerts").is_empty(),
        "no result yet"
    );

    // The result goes in a new session, to the ServerURI the EXEC named.
    // The handler reported the end during the session, which recorded it.
    assert_eq!(client.take_exec_completions().expect("taken"), 0);
    assert_eq!(client.pending_reports(), 1);
    let reports = client.deliver_pending_reports().await.expect("delivered");
    assert_eq!(reports.len(), 1);
    completed(&reports[0]);
    assert_eq!(reports[0].alerts_delivered, 1);
    assert_eq!(client.pending_reports(), 0);
    let alerts = admin.alerts(&dev_id()).await.expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0].alert;
    assert_eq!(alert.alert_type.as_str(), "urn:oma:at:dm:2.0:ExecComplete");
    assert_eq!(alert.source_uri.as_deref(), Some("urn:x:demo:1.0//Reboot"));
    assert_eq!(
        alert.data.as_ref().and_then(|d| d.get("sc")),
        Some(&serde_json::json!(200))
    );
    let device = admin.device(&dev_id()).await.expect("device");
    assert_eq!(device.sessions.len(), 2, "the result came in a new session");
    assert_eq!(alerts[0].session, Some(device.sessions[0].token));
}

async fn default_sub_change_report_and_unsub(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let node = wire.serving(wire.options().build().expect("options")).await;
    let admin = node.server.admin();
    admin
        .put_repository(
            "config/vpn",
            br#"[{"ClientURI":"urn:x:vpn:1.0//","MOData":{"VPN":{"Gateway":"vpn.example","Port":443}}}]"#,
        )
        .await
        .expect("stored");
    let vpn_uri = node.url("/repo/config/vpn");
    let default = node.enqueue(&["DEFAULT", "urn:x:vpn:1.0", &vpn_uri]).await;
    let reports_uri = node.url("/repo/reports/status");
    let sub = node
        .enqueue(&["SUB", "urn:x:demo:1.0//Status", &reports_uri])
        .await;
    let mut client = wire.client(&node.base, Credentials::password(USER, PASSWORD));
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(node.status(default).await, 200);
    assert_eq!(node.status(sub).await, 200);

    // DEFAULT: the configuration is fetched when the device needs it.
    let vpn = Moid::new("urn:x:vpn:1.0").expect("MOID");
    assert_eq!(
        client.default_uri(&vpn).map(|u| u.as_str().to_owned()),
        Some(vpn_uri)
    );
    let fetched = client.ensure_configuration(&vpn).await.expect("fetched");
    assert!(
        matches!(fetched, Configuration::Fetched(ref at) if at.len() == 1),
        "{fetched:?}"
    );
    assert!(read(client.tree(), "urn:x:vpn:1.0//Gateway").contains("vpn.example"));
    assert_eq!(
        client.ensure_configuration(&vpn).await.expect("present"),
        Configuration::Present
    );

    // SUB: a local change is reported into the repository.
    let status = ClientUri::parse("urn:x:demo:1.0/demo/Status").expect("ClientURI");
    let delivered = client
        .set_local(&status, LeafValue::from("rebooting"))
        .await
        .expect("changed");
    assert_eq!(delivered, 1);
    let stored = admin
        .repository("reports/status")
        .await
        .expect("store")
        .expect("the change report");
    assert_eq!(stored.owner, ObjectOwner::Device(dev_id()));
    assert!(
        stored.body.contains(r#""Status":"rebooting""#),
        "{}",
        stored.body
    );

    // UNSUB: the same ClientURI cancels it; an unknown one is 404.
    let unsub = node.enqueue(&["UNSUB", "urn:x:demo:1.0//Status"]).await;
    let unknown = node.enqueue(&["UNSUB", "urn:x:demo:1.0//Ping"]).await;
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(node.status(unsub).await, 200);
    assert_eq!(node.status(unknown).await, 404);
    let delivered = client
        .set_local(&status, LeafValue::from("running"))
        .await
        .expect("changed");
    assert_eq!(delivered, 0, "no subscription left");
    let stored = admin
        .repository("reports/status")
        .await
        .expect("store")
        .expect("the old report");
    assert!(stored.body.contains("rebooting"), "unchanged");
}

/// One GET queued, one session with `credentials`; the report and the
/// command's state.
async fn one_session(
    wire: &Wire,
    node: &Node,
    credentials: Credentials,
) -> (SessionReport, CommandRecord, Vec<Logged>) {
    let id = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    let mut client = wire.client(&node.base, credentials);
    let report = client_initiated(&mut client).await;
    (report, node.result(id).await, node.log())
}

fn authorizations(log: &[Logged]) -> Vec<String> {
    log.iter().filter_map(|l| l.authorization.clone()).collect()
}

/// The `Authorization` values in `log`, asserting there are two (Package#1
/// again and Package#3), both Digest answers of `algorithm`.
fn digest_answers(log: &[Logged], algorithm: &str) -> Vec<String> {
    let answers = authorizations(log);
    assert_eq!(answers.len(), 2, "{log:?}");
    let algorithm = format!("algorithm={algorithm}");
    assert!(
        answers
            .iter()
            .all(|a| a.starts_with("Digest ") && a.contains(&algorithm)),
        "{answers:?}"
    );
    answers
}

async fn basic_authentication(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let options = wire.options().build().expect("options");
    let node = wire.recording(options, Recorder::default()).await;
    let basic = Credentials::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let (report, record, log) = one_session(&wire, &node, basic).await;
    completed(&report);
    assert_eq!(record.state, CommandState::Done);
    assert_eq!(log[0].status, 401, "challenged first");
    let answers = authorizations(&log);
    assert_eq!(answers.len(), 2, "Package#1 again and Package#3: {log:?}");
    assert!(answers.iter().all(|a| a.starts_with("Basic ")));
    assert_eq!(log.iter().filter(|l| l.status == 401).count(), 1);
}

async fn digest_sha256_with_the_nonce_reused(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let options = wire.options().build().expect("options");
    let node = wire.recording(options, Recorder::default()).await;
    let credentials = Credentials::password(USER, PASSWORD);
    let (report, record, log) = one_session(&wire, &node, credentials).await;
    completed(&report);
    assert_eq!(record.state, CommandState::Done);
    let answers = digest_answers(&log, "SHA-256");
    assert!(answers[0].contains("nc=00000001") && answers[1].contains("nc=00000002"));
    assert_eq!(log.iter().filter(|l| l.status == 401).count(), 1);
}

/// EXEC of anything takes this long, then succeeds.
struct SlowExec(Duration);

impl NodeHandler for SlowExec {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        std::thread::sleep(self.0);
        ExecOutcome::Done(StatusCode::OK)
    }
}

#[tokio::test]
async fn a_nonce_gone_stale_in_the_middle_of_a_session_is_answered_again() {
    // Nonces live 1 s and the device spends 1.5 s on an EXEC: its
    // Package#3 carries a stale nonce, which the server refuses with a
    // fresh challenge, and the client answers that one. (The lifetime
    // leaves a loaded machine time to answer each challenge.)
    let settings = SessionSettings::default().with_nonce_lifetime(Duration::from_secs(1));
    let options = options().session(settings).build().expect("options");
    let node = Node::recording(options, Recorder::default(), None).await;
    let ping = node.enqueue(&["EXEC", "urn:x:demo:1.0//Ping"]).await;
    let mut client = demo_client(&node.base, Credentials::password(USER, PASSWORD));
    client.set_handler(
        Moid::new(DEMO_MOID).expect("MOID"),
        Arc::new(SlowExec(Duration::from_millis(1500))),
    );
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(node.result(ping).await.state, CommandState::Done);
    let log = node.log();
    let statuses: Vec<u16> = log.iter().map(|l| l.status).collect();
    assert_eq!(statuses, [401, 200, 401, 200], "{log:?}");
    let answers = authorizations(&log);
    assert_eq!(answers.len(), 3, "{answers:?}");
    let nonce = |answer: &str| {
        answer
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a nonce")
            .to_owned()
    };
    // The stale one was the session's nonce with the next count; the
    // answer to the new challenge starts a new count.
    assert_eq!(nonce(&answers[0]), nonce(&answers[1]));
    assert!(answers[1].contains("nc=00000002"), "{answers:?}");
    assert_ne!(nonce(&answers[1]), nonce(&answers[2]));
    assert!(answers[2].contains("nc=00000001"), "{answers:?}");
}

async fn digest_md5_when_the_server_offers_no_sha256(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let options_md5 = wire.options().basic_auth(false).build().expect("options");
    let node = wire.recording(options_md5, Recorder::md5_only()).await;
    let credentials = Credentials::password(USER, PASSWORD);
    let (report, record, log) = one_session(&wire, &node, credentials).await;
    completed(&report);
    assert_eq!(record.state, CommandState::Done);
    digest_answers(&log, "MD5");

    // Without MD5 either, nothing the client can answer: aborted.
    let options_none = wire
        .options()
        .basic_auth(false)
        .digest_md5(false)
        .build()
        .expect("options");
    let node = wire.recording(options_none, Recorder::md5_only()).await;
    let credentials = Credentials::password(USER, PASSWORD);
    let (report, record, log) = one_session(&wire, &node, credentials).await;
    assert_eq!(report.end, ClientEnd::Refused(401), "{report}");
    assert_eq!(record.state, CommandState::Queued);
    assert_eq!(log.len(), 1, "{log:?}");
}

struct Pki {
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
    device_pem: String,
    device_der: Vec<u8>,
    device_key_pem: String,
    stranger_pem: String,
    stranger_key_pem: String,
}

fn pki() -> Pki {
    let (ca, issuer) = test_ca("e2e test CA");
    let (server, server_key) = signed_certificate(&issuer, &["127.0.0.1"], None);
    let (device, device_key) = signed_certificate(&issuer, &[], Some(DEV_ID));
    let (stranger, stranger_key) = signed_certificate(&issuer, &[], Some("stranger"));
    Pki {
        ca_pem: ca.pem(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        device_pem: device.pem(),
        device_der: device.der().to_vec(),
        device_key_pem: device_key.serialize_pem(),
        stranger_pem: stranger.pem(),
        stranger_key_pem: stranger_key.serialize_pem(),
    }
}

#[tokio::test]
async fn x509_client_certificate_over_https() {
    let pki = pki();
    let tls = TlsOptions::from_pem(pki.server_pem.clone(), pki.server_key_pem.clone())
        .with_client_ca_pem(pki.ca_pem.clone());
    let node = Node::serve(
        options().tls(tls).build().expect("options"),
        MemoryStore::new(),
    )
    .await;
    assert!(node.base.starts_with("https://127.0.0.1:"));
    node.register(
        DeviceRegistration::new(dev_id()).with_certificate_sha256(sha256(&pki.device_der)),
    )
    .await;
    let transport = |identity: Option<(&str, &str)>| {
        let mut builder = Transport::builder()
            .ca_pem(pki.ca_pem.as_bytes())
            .retry(common::fast_retry(1));
        if let Some((certificate, key)) = identity {
            builder = builder.client_identity_pem(certificate.as_bytes(), key.as_bytes());
        }
        builder.build().expect("transport")
    };
    let session = |transport: Transport| {
        let base = node.base.clone();
        async move {
            let mut client = client_over(&base, Credentials::None, transport);
            client_initiated(&mut client).await
        }
    };

    let get = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    // A certificate from the same CA that no device registered: refused.
    let report = session(transport(Some((&pki.stranger_pem, &pki.stranger_key_pem)))).await;
    assert!(report.end == ClientEnd::Refused(401), "{report}");
    // No certificate and no credentials: refused.
    let report = session(transport(None)).await;
    assert!(report.end == ClientEnd::Refused(401), "{report}");
    assert_eq!(node.result(get).await.state, CommandState::Queued);
    // The registered certificate identifies the device, over CONT too.
    let report = session(transport(Some((&pki.device_pem, &pki.device_key_pem)))).await;
    completed(&report);
    assert_eq!(node.status(get).await, 200);
    let device = node.server.admin().device(&dev_id()).await.expect("device");
    assert!(device.last_session().expect("session").cont_sent);
}

fn http() -> reqwest::Client {
    http_trusting(None)
}

/// A raw HTTP client trusting the CA certificate `ca_pem`, if any.
fn http_trusting(ca_pem: Option<&str>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(certificate.expect("CA PEM")).expect("CA");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

#[tokio::test]
async fn the_admin_api_wants_its_bearer_token() {
    let node = Node::serving(options().build().expect("options")).await;
    let http = http();
    let commands = node.url("/admin/devices/IMEI%3A493005100592800/commands");
    let queue = serde_json::json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"]});
    // Queues the GET with this bearer token, if any.
    let post = |token: Option<&str>| {
        let mut request = http
            .post(&commands)
            .header("Content-Type", "application/json")
            .body(queue.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let without = post(None).await.expect("answer");
    assert_eq!(without.status(), 401);
    let challenge = without
        .headers()
        .get(WWW_AUTHENTICATE.as_str())
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let wrong = post(Some("not the token")).await.expect("answer");
    assert_eq!(wrong.status(), 401);
    assert!(
        node.server
            .admin()
            .commands(&dev_id())
            .await
            .expect("commands")
            .is_empty(),
        "nothing queued"
    );

    let queued = post(Some(ADMIN_TOKEN)).await.expect("answer");
    assert_eq!(queued.status(), 201);
    let queued: serde_json::Value =
        serde_json::from_slice(&queued.bytes().await.expect("body")).expect("JSON");
    let id = queued["id"].as_str().expect("an id").to_owned();
    let mut client = demo_client(&node.base, Credentials::password(USER, PASSWORD));
    completed(&client_initiated(&mut client).await);
    let result = http
        .get(format!("{commands}/{id}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(result.status(), 200);
    let result: serde_json::Value =
        serde_json::from_slice(&result.bytes().await.expect("body")).expect("JSON");
    assert_eq!(result["state"], "done", "{result}");
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(
        result["data"][0]["MOData"]["Mod"], "X1",
        "the GET result: {result}"
    );

    // Without a configured token the admin API is off.
    let closed = Node::serve(
        ServerOptions::builder()
            .server_id(SERVER_ID)
            .build()
            .expect("options"),
        MemoryStore::new(),
    )
    .await;
    let refused = http
        .get(closed.url("/admin/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 403);
}

/// A Package#1 the way a device sends it, with Basic credentials.
async fn post(
    http: &reqwest::Client,
    url: &str,
    content_type: &str,
    dev_id: &str,
    user: (&str, &str),
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    http.post(url)
        .header("Content-Type", content_type)
        .header("Accept", PACKAGE2)
        .header("OMADM-DevID", dev_id)
        .basic_auth(user.0, Some(user.1))
        .body(body)
        .send()
        .await
        .expect("the server answers")
}

async fn refusals_reach_the_client_precisely(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let limits = dm_server::ServerLimits::default().with_package_bytes(4096);
    let options = wire.options().limits(limits).build().expect("options");
    let node = wire.serving(options).await;
    let get = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;

    // A wrong password: the one answer to the challenge is refused too.
    let mut client = wire.client(&node.base, Credentials::password(USER, "wrong"));
    let report = client_initiated(&mut client).await;
    assert!(report.end == ClientEnd::Refused(401), "{report}");
    assert_eq!(report.packages, 0);
    assert_eq!(node.result(get).await.state, CommandState::Queued);
    let http = wire.http();
    let dm = node.url("/dm");
    let wrong = post(&http, &dm, INITIATION, DEV_ID, (USER, "wrong"), PACKAGE1).await;
    assert_eq!(wrong.status(), 401);
    let challenges: Vec<String> = wrong
        .headers()
        .get_all(WWW_AUTHENTICATE.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    assert!(
        challenges.iter().any(|c| c.contains("algorithm=SHA-256"))
            && challenges.iter().any(|c| c.contains("algorithm=MD5"))
            && challenges.iter().any(|c| c.starts_with("Basic")),
        "{challenges:?}"
    );

    // Authenticated as the other device, claiming to be this one: 403,
    // from the real client and from reqwest.
    let mut impostor = wire.client(
        &node.base,
        Credentials::password(OTHER_USER, OTHER_PASSWORD),
    );
    let report = client_initiated(&mut impostor).await;
    assert!(report.end == ClientEnd::Refused(403), "{report}");
    assert_eq!(node.result(get).await.state, CommandState::Queued);
    let claimed = post(
        &http,
        &dm,
        INITIATION,
        DEV_ID,
        (OTHER_USER, OTHER_PASSWORD),
        PACKAGE1,
    )
    .await;
    assert_eq!(claimed.status(), 403);
    let repository = http
        .get(node.url("/repo/anything"))
        .header("Accept", MO_DATA)
        .header("OMADM-DevID", DEV_ID)
        .basic_auth(OTHER_USER, Some(OTHER_PASSWORD))
        .send()
        .await
        .expect("answer");
    assert_eq!(repository.status(), 403);

    // Too large.
    let large = format!(
        r#"{{"Alert":[{{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","Data":{{"x":"{}"}}}}]}}"#,
        "a".repeat(8192)
    );
    let oversized = post(&http, &dm, INITIATION, DEV_ID, (USER, PASSWORD), large).await;
    assert_eq!(oversized.status(), 413);
    // Wrong Content-Type.
    let text = post(&http, &dm, "text/plain", DEV_ID, (USER, PASSWORD), PACKAGE1).await;
    assert_eq!(text.status(), 415);
    // A Package#3 to a session URI that does not exist.
    let unknown = post(
        &http,
        &node.url(&format!("/dm/s/{}", "0".repeat(32))),
        RESPONSE,
        DEV_ID,
        (USER, PASSWORD),
        r#"{"Status":[{"sc":200}]}"#,
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(node.result(get).await.state, CommandState::Queued);

    // The right device still gets its command.
    let mut client = wire.client(&node.base, Credentials::password(USER, PASSWORD));
    completed(&client_initiated(&mut client).await);
    assert_eq!(node.status(get).await, 200);
}

/// The real client's own Package#3 is over the server's body limit: the
/// server refuses it with 413 and drops the session, the client ends the
/// session with that status (sent once, not retried) and the command fails.
async fn a_package3_over_the_servers_limit_ends_the_session_with_413(scheme: Scheme) {
    let wire = Wire::new(scheme);
    let limits = dm_server::ServerLimits::default().with_package_bytes(4096);
    let options = wire.options().limits(limits).build().expect("options");
    let node = wire.recording(options, Recorder::default()).await;
    let get = node.enqueue(&["GET", "urn:x:demo:1.0//Status"]).await;
    let mut client = wire.client(&node.base, Credentials::password(USER, PASSWORD));
    // The value the GET reads is twice the server's package limit, so the
    // Package#3 carrying it is over the limit (Package#1 is well within).
    let status = ClientUri::parse("urn:x:demo:1.0/demo/Status").expect("ClientURI");
    client
        .set_local(&status, LeafValue::from("x".repeat(8192)))
        .await
        .expect("changed");

    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Refused(413), "{report}");
    assert_eq!(
        (report.packages, report.commands),
        (1, 2),
        "GET and CONT: {report}"
    );

    // The server dropped the session; the GET failed, with no result.
    let record = node.result(get).await;
    assert_eq!(record.state, CommandState::Failed, "{record:?}");
    assert_ne!(record.state, CommandState::Done);
    assert!(record.result.is_none(), "{record:?}");
    assert!(record.error.is_some(), "{record:?}");
    let device = node.server.admin().device(&dev_id()).await.expect("device");
    let session = device.last_session().expect("a session").clone();
    assert!(
        matches!(&session.outcome, Some(SessionOutcome::Failed(reason)) if reason.contains("4096")),
        "the refusal names the limit: {session:?}"
    );
    // One Package#3, refused once: the client did not send it again.
    let requests: Vec<(String, u16)> = node.log().into_iter().map(|l| (l.path, l.status)).collect();
    assert_eq!(
        requests,
        [
            ("/dm".to_owned(), 401),
            ("/dm".to_owned(), 200),
            (format!("/dm/s/{}", session.token), 413)
        ]
    );

    // A small answer goes through in the next session.
    client
        .set_local(&status, LeafValue::from("idle"))
        .await
        .expect("changed");
    let again = node.enqueue(&["GET", "urn:x:demo:1.0//Status"]).await;
    completed(&client_initiated(&mut client).await);
    assert_eq!(node.status(again).await, 200);
    assert_eq!(node.result(get).await.state, CommandState::Failed);
}

/// What the client's observer saw.
#[derive(Default)]
struct Seen {
    accepted: Mutex<Vec<Option<u16>>>,
    ignored: Mutex<Vec<Ignored>>,
    sessions: Mutex<Vec<SessionReport>>,
}

impl Observer for Seen {
    fn session_ended(&self, report: &SessionReport) {
        self.sessions.lock().expect("lock").push(report.clone());
    }

    fn notification_accepted(&self, _server: &ServerId, notification_id: Option<u16>) {
        self.accepted.lock().expect("lock").push(notification_id);
    }

    fn notification_ignored(&self, reason: &Ignored) {
        self.ignored.lock().expect("lock").push(reason.clone());
    }
}

/// Polls `check` every 10 ms until it holds or 5 s have passed.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_notification_over_udp_starts_a_session_and_its_replay_is_ignored() {
    let node = Node::serve(options().build().expect("options"), MemoryStore::new()).await;
    let secret = (b"noti-secret".to_vec(), b"noti-data".to_vec());
    node.register(
        node.with_password()
            .with_notification_secret(secret.0, secret.1),
    )
    .await;
    let admin = node.server.admin();
    // No address known so far.
    assert!(matches!(
        admin.notify(&dev_id()).await,
        Err(dm_server::Error::NoNotificationAddress(_))
    ));

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address: SocketAddr = socket.local_addr().expect("address");
    let seen = Arc::new(Seen::default());
    let dir = scratch("e2e-notify");
    let noti = NotificationAuth::sha256(b"noti-secret".to_vec(), b"noti-data".to_vec());
    let mut client = builder(
        &node.base,
        Credentials::password(USER, PASSWORD),
        Some(noti),
    )
    .state_file(dir.join("device.json"))
    .notification_address(format!("udp://{address}"))
    .observer(seen.clone())
    .build()
    .expect("client");
    // Package#1 announces the address.
    completed(&client_initiated(&mut client).await);
    let device = admin.device(&dev_id()).await.expect("device");
    assert_eq!(
        device.notification_address.as_deref(),
        Some(format!("udp://{address}").as_str())
    );

    let get = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listening = tokio::spawn(async move {
        client
            .listen_udp(&socket, async {
                let _ = stopped.await;
            })
            .await
            .expect("listens");
        client
    });
    let sent = admin.notify(&dev_id()).await.expect("sent");
    assert_eq!(sent.address, format!("udp://{address}"));
    let sessions = || seen.sessions.lock().expect("lock").len();
    eventually("the notified session", || sessions() == 2).await;
    assert_eq!(
        *seen.accepted.lock().expect("lock"),
        [Some(sent.notification_id)]
    );
    completed(&seen.sessions.lock().expect("lock")[1]);
    assert_eq!(node.status(get).await, 200);
    let device = admin.device(&dev_id()).await.expect("device");
    let last = device.last_session().expect("session");
    assert_eq!(
        last.initiator,
        Initiator::Server(Some(sent.notification_id))
    );

    // The same Package#0 again (a replay): ignored, no session.
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sender.send_to(&sent.bytes, address).expect("sent");
    eventually("the ignored replay", || {
        !seen.ignored.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(
        seen.ignored.lock().expect("lock")[0],
        Ignored::Replay(Replay::Duplicate {
            id: sent.notification_id
        })
    );
    // A new notification still works.
    let again = admin.notify(&dev_id()).await.expect("sent");
    assert_ne!(again.notification_id, sent.notification_id);
    eventually("the second notified session", || sessions() == 3).await;
    let _ = stop.send(());
    let client = listening.await.expect("joined");
    let device = admin.device(&dev_id()).await.expect("device");
    assert_eq!(device.sessions.len(), 3, "the replay opened no session");
    drop(client);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn handle_notification_with_the_servers_bytes() {
    let node = Node::serve(options().build().expect("options"), MemoryStore::new()).await;
    let registration = node
        .with_password()
        .with_notification_address("udp://127.0.0.1:9")
        .with_notification_secret(b"k".to_vec(), Vec::new());
    node.register(registration).await;
    let get = node
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    let admin = node.server.admin();
    let sent = admin.notify(&dev_id()).await.expect("sent");
    let mut client = builder(
        &node.base,
        Credentials::password(USER, PASSWORD),
        Some(NotificationAuth::sha256(b"k".to_vec(), Vec::new())),
    )
    .build()
    .expect("client");
    let outcome = notified(&mut client, &sent.bytes, SystemTime::now()).await;
    let NotificationOutcome::Session(report) = outcome else {
        panic!("a session: {outcome:?}");
    };
    completed(&report);
    assert_eq!(node.status(get).await, 200);
    let outcome = notified(&mut client, &sent.bytes, SystemTime::now()).await;
    assert!(
        matches!(outcome, NotificationOutcome::Ignored(Ignored::Replay(_))),
        "{outcome:?}"
    );
    assert_eq!(
        admin
            .device(&dev_id())
            .await
            .expect("device")
            .sessions
            .len(),
        1
    );
}

/// A TCP load balancer in front of server nodes: connection `n` goes to
/// `backends[n % len]`.
struct Balancer {
    base: String,
    task: JoinHandle<()>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Balancer {
    fn start(listener: TcpListener, backends: Vec<SocketAddr>) -> Balancer {
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let mut next = 0;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let backend = backends[next % backends.len()];
                next += 1;
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Balancer { base, task }
    }
}

#[tokio::test]
async fn a_session_continues_on_a_second_node_sharing_the_store() {
    let store = Arc::new(MemoryStore::new());
    let balancer = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let public = format!("http://{}", balancer.local_addr().expect("address"));
    // Both nodes name the balancer in CONT, so the session URI has the
    // origin of SrvURI.
    let node_options = || {
        options()
            .public_uri(public.clone())
            .session(SessionSettings::default().with_commands_per_package(1))
            .build()
            .expect("options")
    };
    let node_a = Node::recorded(node_options(), store.clone(), Recorder::default(), None).await;
    let node_b = Node::recorded(node_options(), store.clone(), Recorder::default(), None).await;
    node_a.register_both().await;
    let address = |node: &Node<Arc<MemoryStore>>| {
        node.base
            .strip_prefix("http://")
            .expect("http")
            .parse::<SocketAddr>()
            .expect("address")
    };
    // The first connection (the unauthenticated Package#1) reaches B, the
    // next (Package#1 with Digest) A, then B, then A.
    let balancer = Balancer::start(balancer, vec![address(&node_b), address(&node_a)]);
    assert_eq!(balancer.base, public);
    let first = node_a
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])
        .await;
    let second = node_b
        .enqueue(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])
        .await;
    // A new connection for every request.
    let transport = Transport::builder()
        .idle_connections_per_host(0)
        .retry(common::fast_retry(1))
        .build()
        .expect("transport");
    let mut client = client_over(&public, Credentials::password(USER, PASSWORD), transport);
    let report = client_initiated(&mut client).await;
    completed(&report);
    assert_eq!(report.packages, 3);
    // Both results, read on either node.
    assert_eq!(node_b.status(first).await, 200);
    assert_eq!(node_a.status(second).await, 200);
    let device = node_b
        .server
        .admin()
        .device(&dev_id())
        .await
        .expect("device");
    let session = device.last_session().expect("session");
    assert_eq!(session.outcome, Some(SessionOutcome::Completed));
    assert!(session.cont_sent);
    let session_path = format!("/dm/s/{}", session.token);
    let summary = |log: Vec<Logged>| -> Vec<(String, u16)> {
        log.into_iter().map(|l| (l.path, l.status)).collect()
    };
    assert_eq!(
        summary(node_b.log()),
        [("/dm".to_owned(), 401), (session_path.clone(), 200)],
        "B challenged Package#1 and took the first Package#3"
    );
    assert_eq!(
        summary(node_a.log()),
        [("/dm".to_owned(), 200), (session_path, 200)],
        "A took Package#1 (answering B's nonce) and the last Package#3"
    );
}
