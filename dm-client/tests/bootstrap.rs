//! Bootstrap over the air (docs/protocol.md section 11): a real bootstrap
//! server (dm-server in the bootstrap role, TLS with a bootstrap CA) and a
//! real management server on loopback; the device bootstraps with its
//! `Auth/Bootstrap` material, then opens its `BootstrapComplete` session
//! with the credentials the bootstrap wrote into its tree.

use dm_test_support::device as common;

use std::sync::{Arc, Mutex};

use common::*;
use dm_client::{
    AccountChange, BootstrapApproval, ClientEnd, DmClient, DmClientBuilder, Error, Trigger,
};
use dm_server::bootstrap::{BootstrapProfile, IssuingCa};
use dm_server::{BootstrapSettings, MemoryStore, Store, TlsOptions, UdpChannel};
use dm_test_support::server::{TestServer, options};
use dm_tree::{BootstrapAuth, DmAcc, SecMode};
use dm_types::{ServerId, ServerUri};

type Shared = Arc<MemoryStore>;

const BOOTSTRAP_ID: &str = "bootstrap.test";
const MANAGEMENT_ID: &str = "dm.test";

/// The certificates of a bootstrap deployment: the servers' CA and
/// certificate, the bootstrap CA the server trusts for devices, and the
/// device's bootstrap certificate.
struct Pki {
    server_ca_der: Vec<u8>,
    server_ca_pem: String,
    server_pem: String,
    server_key_pem: String,
    bootstrap_ca_pem: String,
    device_certificate: Vec<u8>,
    device_key: Vec<u8>,
    /// A CA the device does not pin.
    other_ca_der: Vec<u8>,
    bootstrap_ca_der: Vec<u8>,
    server_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

fn pki() -> Pki {
    let (server_ca, server_issuer) = test_ca("server CA");
    let (server, server_key) =
        signed_certificate(&server_issuer, &["127.0.0.1", "localhost"], None);
    let (bootstrap_ca, bootstrap_issuer) = test_ca("bootstrap CA");
    let (device, device_key) = signed_certificate(&bootstrap_issuer, &[], Some(DEV_ID));
    let (other_ca, _) = test_ca("another CA");
    Pki {
        server_ca_der: server_ca.der().to_vec(),
        server_ca_pem: server_ca.pem(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        bootstrap_ca_pem: bootstrap_ca.pem(),
        device_certificate: device.der().to_vec(),
        device_key: device_key.serialize_der(),
        other_ca_der: other_ca.der().to_vec(),
        bootstrap_ca_der: bootstrap_ca.der().to_vec(),
        server_der: server.der().to_vec(),
        server_key_der: server_key.serialize_der(),
    }
}

/// The two servers sharing one store: the management server registers
/// what the bootstrap server provisions.
struct Deployment {
    store: Shared,
    bootstrap: TestServer<Shared, UdpChannel>,
    management: TestServer<Shared, UdpChannel>,
}

impl Deployment {
    async fn start(pki: &Pki) -> Deployment {
        Deployment::start_with(pki, None).await
    }

    /// `management_uri`: the SrvURI the profile gives (default: the
    /// management server's).
    async fn start_with(pki: &Pki, management_uri: Option<String>) -> Deployment {
        let store: Shared = Arc::new(MemoryStore::new());
        let tls = TlsOptions::from_pem(pki.server_pem.as_bytes(), pki.server_key_pem.as_bytes())
            .with_client_ca_pem(pki.bootstrap_ca_pem.as_bytes());
        let (_, issuer) = test_ca("issuing CA");
        let bootstrap = TestServer::start_on(
            options()
                .server_id(BOOTSTRAP_ID)
                .tls(tls)
                .bootstrap(BootstrapSettings::new().with_issuing_ca(IssuingCa::from_issuer(issuer)))
                .build()
                .expect("options"),
            store.clone(),
        )
        .await;
        let management = TestServer::start_on(
            options().server_id(MANAGEMENT_ID).build().expect("options"),
            store.clone(),
        )
        .await;
        let uri = management_uri.unwrap_or_else(|| management.url("/dm"));
        let profile = format!(
            r#"{{"name":"fleet","match":{{"dev_id_pattern":"IMEI:*"}},"accounts":[{{"server_id":"{MANAGEMENT_ID}","server_uri":"{uri}","name":"Test DM","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{{"notification_secret":true,"http_password":true,"client_certificate":true}},"register":"local"}}]}}"#
        );
        bootstrap
            .admin()
            .put_bootstrap_profile(
                BootstrapProfile::from_json(profile.as_bytes()).expect("profile"),
            )
            .await
            .expect("profile stored");
        Deployment {
            store,
            bootstrap,
            management,
        }
    }

    async fn registered(&self) -> bool {
        self.store
            .device(&dm_test_support::server::dev(DEV_ID))
            .await
            .expect("read")
            .is_some()
    }

    async fn stop(self) {
        self.bootstrap.stop().await.expect("stopped");
        self.management.stop().await.expect("stopped");
    }
}

/// The device's bootstrap account for the bootstrap server at `base`,
/// pinning `server_public` (X.509 mode).
fn bootstrap_account(pki: &Pki, base: &str, server_public: &[u8]) -> DmAcc {
    let uri = ServerUri::new(format!("{base}/dm")).expect("URI");
    let mut account = DmAcc::new(ServerId::new(BOOTSTRAP_ID).expect("id"), uri.clone());
    let mut auth = BootstrapAuth::new(uri, SecMode::X509);
    auth.client_public.clone_from(&pki.device_certificate);
    auth.client_secret.clone_from(&pki.device_key);
    auth.server_public = server_public.to_vec();
    account.bootstrap = Some(auth);
    account
}

fn device(factory: &[DmAcc]) -> DmClientBuilder {
    DmClient::builder(devinfo())
        .factory(factory_file(factory))
        .transport(transport())
}

fn bootstrap_id() -> ServerId {
    ServerId::new(BOOTSTRAP_ID).expect("id")
}

fn management_id() -> ServerId {
    ServerId::new(MANAGEMENT_ID).expect("id")
}

/// The device's accounts, as the device reads them (secrets included).
fn accounts_of(client: &DmClient) -> Vec<DmAcc> {
    client
        .tree()
        .dm_accs()
        .into_iter()
        .map(|account| account.expect("a valid account"))
        .collect()
}

/// A scratch state file path, removed first.
fn state_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "dm-client-bootstrap-{name}-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

#[tokio::test]
async fn an_x509_bootstrap_provisions_the_account_and_its_first_session_carries_bootstrap_complete()
{
    let pki = pki();
    let deployment = Deployment::start(&pki).await;
    let path = state_path("x509");
    let account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.server_ca_der);
    let mut client = device(&[account])
        .state_file(&path)
        .build()
        .expect("client");
    assert_eq!(client.bootstrap_servers(), [bootstrap_id()]);
    // A bootstrap account is owed no BootstrapComplete.
    assert!(client.pending_bootstrap_complete().is_empty());

    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(report.completed(), "{report}");
    assert_eq!(report.provisioned, [management_id()]);
    assert_eq!(
        report.to_string(),
        format!("{}: provisioned dm.test", report.session)
    );
    // The BootstrapComplete session ran with the credentials from the
    // tree (Ext/HTTPAuth answering the management server's challenge).
    assert_eq!(report.bootstrap_complete.len(), 1);
    assert_eq!(report.bootstrap_complete[0].end, ClientEnd::Completed);
    assert!(client.pending_bootstrap_complete().is_empty());
    assert!(deployment.registered().await);
    let provisioned = client
        .tree()
        .dm_acc(&management_id())
        .expect("tree")
        .expect("the management account");
    assert_eq!(
        provisioned.server_uri.as_str(),
        deployment.management.url("/dm")
    );
    assert!(provisioned.http.is_some(), "Ext/HTTPAuth");
    assert!(provisioned.transport.is_some(), "Auth/Trsp");
    assert!(provisioned.notification.is_some(), "Auth/Noti");

    // Later sessions are ordinary management sessions with the same
    // credentials, and the state file kept everything.
    let again = client
        .run_session(&management_id(), Trigger::Client)
        .await
        .expect("session");
    assert!(again.completed(), "{again}");
    drop(client);
    let restarted = device(&[]).state_file(&path).build().expect("restart");
    let mut servers = restarted.servers();
    servers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(servers, [bootstrap_id(), management_id()]);
    assert!(restarted.pending_bootstrap_complete().is_empty());
    let _ = std::fs::remove_file(&path);
    deployment.stop().await;
}

#[tokio::test]
async fn a_bootstrap_server_that_is_not_the_pinned_one_changes_nothing() {
    let pki = pki();
    let deployment = Deployment::start(&pki).await;
    let account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.other_ca_der);
    let mut client = device(&[account]).build().expect("client");
    let before = accounts_of(&client);
    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(!report.completed());
    assert!(
        matches!(report.session.end, ClientEnd::Aborted(_)),
        "{report}"
    );
    assert!(report.provisioned.is_empty() && report.bootstrap_complete.is_empty());
    assert!(accounts_of(&client) == before, "accounts unchanged");
    assert!(!deployment.registered().await);
    deployment.stop().await;
}

#[tokio::test]
async fn a_device_certificate_the_bootstrap_server_does_not_trust_changes_nothing() {
    let pki = pki();
    let deployment = Deployment::start(&pki).await;
    let mut account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.server_ca_der);
    let (other, _) = test_ca("not the bootstrap CA");
    let (_, other_issuer) = (other, test_ca("x").1);
    let (foreign, foreign_key) = signed_certificate(&other_issuer, &[], Some(DEV_ID));
    let auth = account.bootstrap.as_mut().expect("bootstrap");
    auth.client_public = foreign.der().to_vec();
    auth.client_secret = foreign_key.serialize_der();
    let mut client = device(&[account]).build().expect("client");
    let before = accounts_of(&client);
    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(!report.completed(), "{report}");
    assert!(accounts_of(&client) == before, "accounts unchanged");
    assert!(!deployment.registered().await);
    deployment.stop().await;
}

/// The user's answer, and the changes asked.
struct User {
    approves: bool,
    asked: Mutex<Vec<AccountChange>>,
}

impl BootstrapApproval for User {
    fn approve(&self, bootstrap_server: &ServerId, changes: &[AccountChange]) -> bool {
        assert_eq!(bootstrap_server.as_str(), BOOTSTRAP_ID);
        self.asked.lock().expect("lock").extend_from_slice(changes);
        self.approves
    }
}

#[tokio::test]
async fn a_user_who_refuses_the_bootstrap_keeps_the_tree_and_nothing_is_registered() {
    let pki = pki();
    let deployment = Deployment::start(&pki).await;
    let account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.server_ca_der);
    let user = Arc::new(User {
        approves: false,
        asked: Mutex::new(Vec::new()),
    });
    let mut client = device(&[account])
        .bootstrap_approval(user.clone())
        .build()
        .expect("client");
    let before = accounts_of(&client);
    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(report.provisioned.is_empty(), "{report}");
    assert!(report.bootstrap_complete.is_empty());
    let asked = user.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].server_id, management_id());
    assert!(accounts_of(&client) == before, "accounts unchanged");
    assert!(
        client
            .tree()
            .dm_acc(&management_id())
            .expect("tree")
            .is_none()
    );
    assert!(!deployment.registered().await);
    deployment.stop().await;
}

#[tokio::test]
async fn an_unreachable_management_server_keeps_bootstrap_complete_pending_across_restarts() {
    let pki = pki();
    // The profile names a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!("http://{}/dm", closed.local_addr().expect("address"));
    drop(closed);
    let deployment = Deployment::start_with(&pki, Some(uri)).await;
    let path = state_path("pending");
    let account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.server_ca_der);
    let mut client = device(&[account])
        .state_file(&path)
        .build()
        .expect("client");
    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(report.completed(), "{report}");
    assert_eq!(report.bootstrap_complete.len(), 1);
    assert!(!report.bootstrap_complete[0].completed());
    assert_eq!(client.pending_bootstrap_complete(), [management_id()]);
    drop(client);
    let restarted = device(&[]).state_file(&path).build().expect("restart");
    assert_eq!(restarted.pending_bootstrap_complete(), [management_id()]);
    let _ = std::fs::remove_file(&path);
    deployment.stop().await;
}

#[tokio::test]
async fn factory_management_accounts_owe_bootstrap_complete_and_a_bootstrap_of_one_is_refused() {
    let base = "http://127.0.0.1:9";
    let client = device(&[account(base)]).build().expect("client");
    assert_eq!(client.pending_bootstrap_complete(), [server_id()]);
    let mut client = client;
    let err = client.bootstrap(&server_id()).await.unwrap_err();
    assert!(matches!(err, Error::NotABootstrapAccount(_)), "{err}");
    // A factory file that is not one is a precise error.
    let err = DmClient::builder(devinfo())
        .factory(
            b"[{\"ClientURI\":\"urn:oma:mo:oma-dm-devinfo:1.0//\",\"MOData\":{\"DevInfo\":{}}}]"
                .to_vec(),
        )
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("factory item 0"), "{err}");
}

#[cfg(not(feature = "openssl"))]
#[tokio::test]
async fn a_psk_bootstrap_without_openssl_is_a_clear_error() {
    let uri = ServerUri::new("https://127.0.0.1:9/dm").expect("URI");
    let mut account = DmAcc::new(bootstrap_id(), uri.clone());
    let mut auth = BootstrapAuth::new(uri, SecMode::Psk);
    auth.client_public = b"IMEI:1".to_vec();
    auth.client_secret = vec![7; 16];
    account.bootstrap = Some(auth);
    let mut client = device(&[account]).build().expect("client");
    let err = client.bootstrap(&bootstrap_id()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                material: dm_client::TlsMaterial::Backend,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("openssl"), "{err}");
}

/// A management server reaching for the credentials the tree holds for it
/// (Ext/HTTPAuth, Auth/Trsp) and for a bootstrap account's, and trying to
/// write DMAcc or Auth/Bootstrap: every read of a secret is refused or
/// finds nothing, every write is refused, nothing leaks into Package#3 or
/// an upload, and the accounts are unchanged.
#[tokio::test]
async fn a_management_server_reads_no_credential_and_writes_no_account() {
    const DMACC: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
    const PASSWORD: &str = "the-http-password-from-the-tree";
    let pki = pki();
    let repository = serve(|seen: &Seen| {
        if seen.target.starts_with("/bootstrap") {
            Reply::mo_data(format!(
                r#"[{{"ClientURI":"{DMACC}/acc1/Auth/Bootstrap/ServerURI","MOData":{{"ServerURI":"https://evil.example/dm"}}}}]"#
            ))
        } else {
            Reply::mo_data(format!(
                r#"[{{"ClientURI":"{DMACC}/acc1/Ext/HTTPAuth/Secret","MOData":{{"Secret":"AAAA"}}}}]"#
            ))
        }
    })
    .await;
    let repo = repository.base.clone();
    let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let commands = vec![
        words(&["GET", &format!("{DMACC}/acc1/Ext/HTTPAuth/Secret")]),
        words(&["GET", &format!("{DMACC}/acc1/Auth/Trsp/Secret")]),
        words(&["GET", &format!("{DMACC}/acc1/")]),
        words(&[
            "GET",
            &format!("{DMACC}/acc2/Auth/Bootstrap/ClientSecretKey"),
        ]),
        words(&["HPUT", &format!("{repo}/upload"), &format!("{DMACC}/acc1/")]),
        words(&[
            "HGET",
            &format!("{repo}/secret"),
            &format!("{DMACC}/acc1/Ext/HTTPAuth/Secret"),
        ]),
        words(&["HGET", &format!("{repo}/bootstrap")]),
        words(&["DELETE", &format!("{DMACC}/acc2/")]),
    ];
    let server = serve(move |seen: &Seen| {
        first_then_end(seen, &serde_json::json!({ "CMD": commands }).to_string())
    })
    .await;
    let mut account = DmAcc::new(
        server_id(),
        ServerUri::new(format!("{}/dm", server.base)).expect("URI"),
    );
    account.perm_moids = vec![dm_types::Moid::new(DMACC).expect("MOID")];
    account.transport = Some(dm_tree::TransportAuth {
        data: pki.device_certificate.clone(),
        secret: pki.device_key.clone(),
    });
    let bootstrap = bootstrap_account(&pki, "https://127.0.0.1:9", &pki.server_ca_der);
    let mut client = DmClient::builder(devinfo())
        .account(
            dm_client::Account::new(account)
                .credentials(dm_client::Credentials::password("device-1", PASSWORD)),
        )
        .account(dm_client::Account::new(bootstrap))
        .transport(transport())
        .build()
        .expect("client");
    let before = accounts_of(&client);
    let report = client
        .run_session(&server_id(), Trigger::Client)
        .await
        .expect("session");
    assert!(report.completed(), "{report}");
    assert!(accounts_of(&client) == before, "accounts unchanged");
    let package3 = server.requests().pop().expect("Package#3");
    let codes = statuses(&package3);
    // Package#3 answers the 8 commands (after the Package#2 status).
    let answers = &codes[codes.len() - 8..];
    for (index, code) in answers.iter().enumerate() {
        if index == 2 || index == 4 {
            // The account itself may be read or uploaded, without secrets.
            continue;
        }
        assert!(
            [403, 404, 405].contains(code),
            "command {index} answered {code}: {codes:?}"
        );
    }
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let key = b64(&pki.device_key);
    for text in std::iter::once(package3.text()).chain(repository.requests().iter().map(Seen::text))
    {
        for leak in [
            PASSWORD.to_owned(),
            b64(PASSWORD.as_bytes()),
            key.clone(),
            "Secret\":".to_owned(),
        ] {
            assert!(!text.contains(&leak), "{leak} leaked: {text}");
        }
    }
}

/// Digest login of `name`/`password` at the management server: the HTTP
/// status of Package#1.
async fn management_login(deployment: &Deployment, name: &str, password: &str) -> u16 {
    use dm_test_support::server::{Auth, P1, client, post_package1};
    post_package1(
        &client(),
        &deployment.management,
        DEV_ID,
        P1,
        Auth::Digest(name, password, "SHA-256"),
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test]
async fn a_server_initiated_bootstrap_re_keys_the_management_account() {
    use dm_client::NotificationOutcome;
    let pki = pki();
    let deployment = Deployment::start(&pki).await;
    let secret = b"bootstrap-notification-secret".to_vec();
    let mut account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.server_ca_der);
    account.notification = Some(dm_tree::NotificationAuth::sha256(
        secret.clone(),
        Vec::new(),
    ));
    let mut client = device(&[account]).build().expect("client");
    let first = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(first.completed(), "{first}");
    let http = |client: &DmClient| {
        client
            .tree()
            .dm_acc(&management_id())
            .expect("tree")
            .and_then(|account| account.http)
            .expect("Ext/HTTPAuth")
    };
    let old = http(&client);
    let old_password = String::from_utf8(old.secret.clone()).expect("text");
    assert_eq!(
        management_login(&deployment, &old.name, &old_password).await,
        200
    );

    // The bootstrap server's notification: a server-initiated bootstrap.
    let now = std::time::SystemTime::now();
    let timestamp = now
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut notification =
        dm_types::Notification::new(bootstrap_id(), dm_types::ConnectionType::Wlan);
    notification.notification_id = Some(1);
    notification.timestamp = Some(timestamp);
    let bytes = dm_codec::notification::encode_signed(&notification, &secret, &[]).expect("signed");
    let outcome = client
        .handle_notification(&bytes, now)
        .await
        .expect("handled");
    let NotificationOutcome::Bootstrap(report) = outcome else {
        panic!("not a bootstrap: {outcome:?}");
    };
    assert!(report.completed(), "{report}");
    assert_eq!(report.provisioned, [management_id()]);
    assert_eq!(report.bootstrap_complete.len(), 1);
    assert!(
        report.bootstrap_complete[0].completed(),
        "new password used"
    );
    let new = http(&client);
    let new_password = String::from_utf8(new.secret.clone()).expect("text");
    assert_ne!(new_password, old_password, "re-keyed");
    assert_eq!(
        management_login(&deployment, &new.name, &new_password).await,
        200
    );
    assert_eq!(
        management_login(&deployment, &old.name, &old_password).await,
        401
    );
    // The same notification again is a replay: ignored.
    let again = client
        .handle_notification(&bytes, now)
        .await
        .expect("handled");
    assert!(
        matches!(again, NotificationOutcome::Ignored(_)),
        "{again:?}"
    );
    deployment.stop().await;
}

/// A scripted bootstrap server of the test's own over TLS (server
/// certificate of the server CA, client certificates of the bootstrap CA
/// required).
fn bootstrap_tls(pki: &Pki) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.bootstrap_ca_der.clone().into())
        .expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(pki.server_key_der.clone().into());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![pki.server_der.clone().into()], key)
            .expect("server config"),
    )
}

#[tokio::test]
async fn a_bootstrap_cut_halfway_changes_no_account_and_keeps_bootstrap_complete_pending() {
    const ACCOUNT: &str = r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"DMAcc":{"SrvID":"dm.new","SrvURI":"http://127.0.0.1:9/dm","Perm":{},"Auth":{}}}}]"#;
    let pki = pki();
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let own = base.clone();
    let server = serve_on(
        0,
        Some(bootstrap_tls(&pki)),
        Arc::new(move |seen: &Seen| {
            if seen.is_package1() {
                let base = own.get().expect("base");
                Reply::package(format!(r#"{{"CMD":[["HGET","{base}/accounts"]]}}"#))
            } else if seen.is_package() {
                // The connection is cut before the server's END.
                Reply::hang_up()
            } else {
                Reply::mo_data(ACCOUNT)
            }
        }),
    )
    .await;
    base.set(server.base.clone()).expect("set once");
    let path = state_path("cut");
    let management = account("http://127.0.0.1:9");
    let bootstrap = bootstrap_account(&pki, &server.base, &pki.server_ca_der);
    let mut client = device(&[management, bootstrap])
        .state_file(&path)
        .build()
        .expect("client");
    assert_eq!(client.pending_bootstrap_complete(), [server_id()]);
    let before = accounts_of(&client);
    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(!report.completed(), "{report}");
    assert!(report.provisioned.is_empty(), "{report:?}");
    // The account was fetched and written during the session, then put
    // back: nothing half-applied.
    assert_eq!(server.requests_to("/accounts").len(), 1);
    assert!(accounts_of(&client) == before, "accounts unchanged");
    assert_eq!(client.pending_bootstrap_complete(), [server_id()]);
    drop(client);
    let restarted = device(&[]).state_file(&path).build().expect("restart");
    assert!(
        accounts_of(&restarted) == before,
        "nothing half-applied on disk"
    );
    assert_eq!(restarted.pending_bootstrap_complete(), [server_id()]);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_bootstrap_server_gets_403_for_every_command_outside_its_role() {
    const DMACC: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
    let pki = pki();
    let server = serve_on(
        0,
        Some(bootstrap_tls(&pki)),
        Arc::new(|seen: &Seen| {
            first_then_end(
                seen,
                &format!(
                    r#"{{"CMD":[["GET","{DMACC}/acc1/"],["GET","{DMACC}/acc2/Auth/Bootstrap/ClientSecretKey"],["HGET","https://evil.example/accounts"],["EXEC","urn:oma:mo:oma-dm-devinfo:1.0//DevID"],["GET","urn:oma:mo:oma-dm-devinfo:1.0//DevID"]]}}"#
                ),
            )
        }),
    )
    .await;
    let bootstrap = bootstrap_account(&pki, &server.base, &pki.server_ca_der);
    let mut client = device(&[account("http://127.0.0.1:9"), bootstrap])
        .build()
        .expect("client");
    let before = accounts_of(&client);
    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(report.completed(), "{report}");
    let package3 = server.requests().pop().expect("Package#3");
    assert_eq!(statuses(&package3), [403, 403, 403, 403, 200]);
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&pki.device_key)
    };
    assert!(!package3.text().contains(&key), "{}", package3.text());
    assert!(accounts_of(&client) == before, "accounts unchanged");
}

/// A bootstrap server issuing client certificates (no HTTP password) and
/// a management server on HTTPS whose client CA is the issuing CA, sharing
/// one store.
async fn certificate_deployment(pki: &Pki) -> Deployment {
    let store: Shared = Arc::new(MemoryStore::new());
    let server_tls =
        || TlsOptions::from_pem(pki.server_pem.as_bytes(), pki.server_key_pem.as_bytes());
    let (issuing_ca, issuer) = test_ca("issuing CA");
    let bootstrap = TestServer::start_on(
        options()
            .server_id(BOOTSTRAP_ID)
            .tls(server_tls().with_client_ca_pem(pki.bootstrap_ca_pem.as_bytes()))
            .bootstrap(BootstrapSettings::new().with_issuing_ca(IssuingCa::from_issuer(issuer)))
            .build()
            .expect("options"),
        store.clone(),
    )
    .await;
    let management = TestServer::start_on(
        options()
            .server_id(MANAGEMENT_ID)
            .tls(server_tls().with_client_ca_pem(issuing_ca.pem().into_bytes()))
            .build()
            .expect("options"),
        store.clone(),
    )
    .await;
    let uri = management.url("/dm");
    assert!(uri.starts_with("https://"), "{uri}");
    let profile = format!(
        r#"{{"name":"fleet","match":{{"dev_id_pattern":"IMEI:*"}},"accounts":[{{"server_id":"{MANAGEMENT_ID}","server_uri":"{uri}","name":"Test DM","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{{"client_certificate":true,"notification_secret":true}},"register":"local"}}]}}"#
    );
    bootstrap
        .admin()
        .put_bootstrap_profile(BootstrapProfile::from_json(profile.as_bytes()).expect("profile"))
        .await
        .expect("profile stored");
    Deployment {
        store,
        bootstrap,
        management,
    }
}

/// The test transport, trusting the servers' CA (the management server's
/// certificate; the bootstrap server's is pinned by `Auth/Bootstrap`).
fn transport_trusting(pki: &Pki) -> dm_client::Transport {
    dm_client::Transport::builder()
        .backend(test_backend())
        .retry(fast_retry(1))
        .request_timeout(std::time::Duration::from_secs(5))
        .ca_pem(pki.server_ca_pem.as_bytes())
        .build()
        .expect("transport")
}

/// The device's sessions as the shared store records them.
async fn recorded_sessions(deployment: &Deployment) -> Vec<dm_server::SessionSummary> {
    deployment
        .store
        .device(&dm_test_support::server::dev(DEV_ID))
        .await
        .expect("read")
        .expect("registered")
        .sessions
}

#[tokio::test]
async fn a_bootstrapped_client_certificate_authenticates_the_management_sessions_over_https() {
    const DMACC: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
    let pki = pki();
    let deployment = certificate_deployment(&pki).await;
    let account = bootstrap_account(&pki, &deployment.bootstrap.url(""), &pki.server_ca_der);
    let mut client = DmClient::builder(devinfo())
        .factory(factory_file(&[account]))
        .transport(transport_trusting(&pki))
        .build()
        .expect("client");

    let report = client.bootstrap(&bootstrap_id()).await.expect("bootstrap");
    assert!(report.completed(), "{report}");
    assert_eq!(report.provisioned, [management_id()]);
    assert_eq!(report.bootstrap_complete.len(), 1);
    assert_eq!(
        report.bootstrap_complete[0].end,
        ClientEnd::Completed,
        "{report}"
    );
    assert!(client.pending_bootstrap_complete().is_empty());
    let provisioned = client
        .tree()
        .dm_acc(&management_id())
        .expect("tree")
        .expect("the management account");
    assert!(
        provisioned.http.is_none(),
        "no Ext/HTTPAuth: {provisioned:?}"
    );
    assert!(provisioned.notification.is_some(), "Auth/Noti");
    let trsp = provisioned.transport.clone().expect("Auth/Trsp");
    // The management server knows the device by that certificate only.
    let record = deployment
        .store
        .device(&dm_test_support::server::dev(DEV_ID))
        .await
        .expect("read")
        .expect("registered");
    assert!(record.credentials.is_none() && record.psk.is_none());
    assert_eq!(record.certificate_sha256, Some(sha256(&trsp.data)));

    // A further management session, authenticated by the certificate,
    // runs a queued GET.
    let admin = deployment.management.admin();
    let id = admin
        .enqueue(
            &dm_test_support::server::dev(DEV_ID),
            dm_test_support::server::get("Mod"),
        )
        .await
        .expect("queued");
    let session = client
        .run_session(&management_id(), Trigger::Client)
        .await
        .expect("session");
    assert!(session.completed(), "{session}");
    let command = admin
        .command(&dm_test_support::server::dev(DEV_ID), id)
        .await
        .expect("command");
    assert_eq!(command.state, dm_server::CommandState::Done);
    let result = command.result.expect("status");
    assert_eq!(result.code.as_u16(), 200);
    assert_eq!(result.data.len(), 1);
    let completed = recorded_sessions(&deployment).await;

    // The same device, its Auth/Trsp replaced (by the device, through the
    // tree) with a self-signed pair of no CA the server trusts.
    let (foreign, foreign_key) = self_signed_certificate(&[]);
    let mut replaced = provisioned.clone();
    replaced.transport = Some(dm_tree::TransportAuth {
        data: foreign.der().to_vec(),
        secret: foreign_key.serialize_der(),
    });
    let mut tree = client.tree().clone();
    let miid = tree
        .instances_of(DMACC)
        .find(|instance| {
            DmAcc::from_instance(instance).is_ok_and(|a| a.server_id == management_id())
        })
        .map(|instance| instance.miid().clone())
        .expect("the management instance");
    tree.remove(DMACC, miid.as_str()).expect("removed");
    tree.add_dm_acc(&replaced).expect("added");
    drop(client);
    let mut foreigner = DmClient::builder(devinfo())
        .tree(tree)
        .transport(transport_trusting(&pki))
        .build()
        .expect("client");
    assert_eq!(
        foreigner
            .tree()
            .dm_acc(&management_id())
            .expect("tree")
            .and_then(|a| a.transport),
        replaced.transport
    );
    let refused = foreigner
        .run_session(&management_id(), Trigger::Client)
        .await
        .expect("session");
    // The handshake fails (the server alerts an unknown CA): no HTTP
    // request reaches the server, no package is received, no retry.
    let ClientEnd::Aborted(dm_client::AbortReason::NoAnswer { kind, detail }) = &refused.end else {
        panic!("not a failed handshake: {refused}");
    };
    assert_eq!(*kind, dm_client::TransportFailure::Tls, "{detail}");
    assert!(detail.contains("UnknownCA"), "{detail}");
    assert_eq!(refused.packages, 0);
    assert_eq!(refused.stats.packages_received, 0);
    assert!(!refused.completed());
    // Nothing is recorded for it: the device's sessions are the ones
    // before, and the management server has no open session of it.
    assert_eq!(recorded_sessions(&deployment).await, completed);
    assert!(
        admin
            .open_sessions(&dm_test_support::server::dev(DEV_ID))
            .await
            .expect("sessions")
            .is_empty()
    );
    deployment.stop().await;
}
