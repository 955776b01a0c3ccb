//! The bootstrap role over real TLS (docs/bootstrap.md): a bootstrap server
//! and a management server on loopback, devices with certificates from a
//! bootstrap CA, management credentials made and registered by the
//! bootstrap.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use reqwest::Method;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use dm_codec::notification::DigestCheck;
use dm_server::bootstrap::{BootstrapProfile, IssuingCa, RemoteManagement};
use dm_server::{
    BootstrapResult, BootstrapSettings, ClientCertificate, DeviceRegistration, MemoryStore, Store,
    TlsOptions, UdpChannel,
};
use dm_test_support::server::{
    ADMIN_TOKEN, Auth, INITIATION, MO_DATA, P1, RESPONSE, TestServer, client, client_with,
    commands, cont_uri, dev, get, options, post_package, post_package1,
};
use dm_tree::{DMACC_MOID, DmAcc, MoInstance};
use dm_types::{Miid, Moid};

const DEVICE: &str = "IMEI:356938035643809";

struct Pki {
    server_ca: CertificateDer<'static>,
    server_pem: String,
    server_key_pem: String,
    bootstrap_ca_pem: String,
    bootstrap: Issuer<'static, KeyPair>,
    other: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    let certificate = params.self_signed(&key).expect("CA");
    (certificate, Issuer::new(params, key))
}

fn pki() -> Pki {
    let (server_ca, server_issuer) = ca("server CA");
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params")
        .signed_by(&server_key, &server_issuer)
        .expect("server certificate");
    let (bootstrap_ca, bootstrap) = ca("bootstrap CA");
    let (_, other) = ca("another CA");
    Pki {
        server_ca: server_ca.der().clone(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        bootstrap_ca_pem: bootstrap_ca.pem(),
        bootstrap,
        other,
    }
}

/// A device's bootstrap certificate with this CN and its key.
fn identity(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let certificate = params.signed_by(&key, issuer).expect("certificate");
    (
        vec![certificate.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn device_client(pki: &Pki, issuer: &Issuer<'static, KeyPair>, cn: &str) -> reqwest::Client {
    client_with(
        std::slice::from_ref(&pki.server_ca),
        Some(identity(issuer, cn)),
    )
}

fn issuing_ca() -> IssuingCa {
    let (_, issuer) = ca("issuing CA");
    IssuingCa::from_issuer(issuer)
}

fn profile(name: &str, matches: &str, register: &str) -> BootstrapProfile {
    BootstrapProfile::from_json(
        format!(
            r#"{{"name":"{name}","match":{matches},"accounts":[{{"server_id":"dm.test","server_uri":"https://dm.test/dm","name":"Test DM","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{{"notification_secret":true,"http_password":true,"client_certificate":true}},"register":{register}}}]}}"#
        )
        .as_bytes(),
    )
    .expect("profile")
}

type Shared = Arc<MemoryStore>;

async fn bootstrap_server(
    pki: &Pki,
    store: Shared,
    settings: BootstrapSettings,
) -> TestServer<Shared, UdpChannel> {
    let tls = TlsOptions::from_pem(pki.server_pem.as_bytes(), pki.server_key_pem.as_bytes())
        .with_client_ca_pem(pki.bootstrap_ca_pem.as_bytes());
    let options = options()
        .server_id("bootstrap.test")
        .tls(tls)
        .bootstrap(settings.with_issuing_ca(issuing_ca()))
        .build()
        .expect("options");
    TestServer::start_on(options, store).await
}

/// Package#1 of `dev_id`; the answer.
async fn package1(client: &reqwest::Client, server_url: &str, dev_id: &str) -> reqwest::Response {
    post_package(client, server_url, INITIATION, dev_id, P1, Auth::None).await
}

/// The device's GET of the DMAcc data.
async fn fetch(client: &reqwest::Client, url: &str, dev_id: &str) -> reqwest::Response {
    client
        .get(url)
        .header("Accept", MO_DATA)
        .header("OMADM-DevID", dev_id)
        .send()
        .await
        .expect("the server answers")
}

/// The DMAcc instances of an MO serialization body, read as the device
/// reads them.
fn accounts(body: &[u8]) -> Vec<DmAcc> {
    let items = dm_codec::decode_mo_serialization(body, &dm_codec::Limits::default())
        .expect("MO serialization");
    items
        .iter()
        .map(|item| {
            assert_eq!(item.client_uri.as_str(), "urn:oma:mo:oma-dm-dmacc:1.2//");
            let instance = MoInstance::new(
                Moid::new(DMACC_MOID).expect("MOID"),
                Miid::new("acc1").expect("MIID"),
                &item.data,
            );
            DmAcc::from_instance(&instance).expect("a DMAcc")
        })
        .collect()
}

/// Runs a bootstrap up to the HGET: the session's CONT URI and the
/// accounts the device read.
async fn up_to_hget(
    client: &reqwest::Client,
    server: &TestServer<Shared, UdpChannel>,
) -> (String, Vec<DmAcc>) {
    let response = package1(client, &server.url("/dm"), DEVICE).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    assert_eq!(package.len(), 2, "{package:?}");
    assert_eq!(package[1][0], "HGET");
    assert_eq!(package[1].len(), 2, "no target: each item creates");
    let data = fetch(client, &package[1][1], DEVICE).await;
    assert_eq!(data.status(), 200);
    assert_eq!(data.headers()["content-type"], MO_DATA);
    (
        cont_uri(&package),
        accounts(&data.bytes().await.expect("body")),
    )
}

async fn package3(client: &reqwest::Client, uri: &str, statuses: &str) -> Vec<Vec<String>> {
    let response = post_package(client, uri, RESPONSE, DEVICE, statuses, Auth::None).await;
    assert_eq!(response.status(), 200);
    commands(&response.bytes().await.expect("body"))
}

const PROVISIONED: &str =
    r#"{"Status":[{"sc":200},{"sc":200,"URI":["urn:oma:mo:oma-dm-dmacc:1.2/acc2/"]}]}"#;

#[tokio::test]
async fn a_bootstrap_provisions_the_device_and_registers_it_with_the_management_server() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    let management = TestServer::start_on(options().build().expect("options"), store.clone()).await;
    bootstrap
        .admin()
        .put_bootstrap_profile(profile(
            "fleet",
            r#"{"dev_id_pattern":"IMEI:35*"}"#,
            r#""local""#,
        ))
        .await
        .expect("profile");
    let device = device_client(&pki, &pki.bootstrap, DEVICE);

    let response = package1(&device, &bootstrap.url("/dm"), DEVICE).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    let data_uri = package[1][1].clone();
    assert!(
        data_uri.starts_with(&bootstrap.url("/bootstrap/accounts/")),
        "{data_uri}"
    );
    // Another device of the bootstrap CA cannot read the data.
    let other = device_client(&pki, &pki.bootstrap, "IMEI:356938035643810");
    assert_eq!(fetch(&other, &data_uri, DEVICE).await.status(), 404);
    // The device can, once.
    let data = fetch(&device, &data_uri, DEVICE).await;
    assert_eq!(data.status(), 200);
    assert_eq!(data.headers()["cache-control"], "no-store");
    let account = accounts(&data.bytes().await.expect("body")).remove(0);
    assert_eq!(fetch(&device, &data_uri, DEVICE).await.status(), 404);
    assert_eq!(account.server_id.as_str(), "dm.test");
    assert_eq!(account.name, "Test DM");
    assert_eq!(
        account.perm_moids[0].as_str(),
        "urn:oma:mo:oma-dm-devinfo:1.0"
    );

    // Nothing is registered before the device took the accounts.
    assert!(store.device(&dev(DEVICE)).await.expect("read").is_none());
    let end = package3(&device, &cont_uri(&package), PROVISIONED).await;
    assert_eq!(end, vec![vec!["END".to_owned()]]);

    // Registered: the password works with Digest at the management server,
    // the certificate is known, the notification secret is the device's.
    let http = account.http.expect("Ext/HTTPAuth");
    let password = String::from_utf8(http.secret).expect("text");
    let login = post_package1(
        &client(),
        &management,
        DEVICE,
        P1,
        Auth::Digest(&http.name, &password, "SHA-256"),
    )
    .await;
    assert_eq!(login.status(), 200);
    let wrong = post_package1(
        &client(),
        &management,
        DEVICE,
        P1,
        Auth::Digest(&http.name, "not the password", "SHA-256"),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let record = store
        .device(&dev(DEVICE))
        .await
        .expect("read")
        .expect("registered");
    let transport = account.transport.expect("Auth/Trsp");
    assert_eq!(
        record.certificate_sha256,
        Some(*ClientCertificate::from_der(&transport.data).sha256())
    );
    let noti = account.notification.expect("Auth/Noti");
    let secret = record.notification_secret.expect("secret");
    assert_eq!(Some(secret.secret), noti.secret);
    assert_eq!(secret.auth_data, noti.data);
    let outcomes = bootstrap
        .admin()
        .bootstrap_outcomes(&dev(DEVICE))
        .await
        .expect("outcomes");
    assert_eq!(
        outcomes[0].result,
        BootstrapResult::Provisioned {
            servers: vec!["dm.test".into()]
        }
    );
    management.stop().await.expect("stopped");
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn no_profile_or_no_bootstrap_certificate_is_refused_and_nothing_is_stored() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    let device = device_client(&pki, &pki.bootstrap, DEVICE);
    // No profile: 403.
    let response = package1(&device, &bootstrap.url("/dm"), DEVICE).await;
    assert_eq!(response.status(), 403);
    // A profile for other devices does not apply.
    bootstrap
        .admin()
        .put_bootstrap_profile(profile(
            "other",
            r#"{"dev_id_pattern":"MEID:*"}"#,
            r#""local""#,
        ))
        .await
        .expect("profile");
    assert_eq!(
        package1(&device, &bootstrap.url("/dm"), DEVICE)
            .await
            .status(),
        403
    );
    // A certificate naming another device does not bootstrap this one.
    bootstrap
        .admin()
        .put_bootstrap_profile(profile("all", r#"{"dev_id_pattern":"*"}"#, r#""local""#))
        .await
        .expect("profile");
    let borrowed = device_client(&pki, &pki.bootstrap, "IMEI:1");
    assert_eq!(
        package1(&borrowed, &bootstrap.url("/dm"), DEVICE)
            .await
            .status(),
        403
    );
    // No certificate, or one of another CA: no TLS, no session.
    let anonymous = client_with(std::slice::from_ref(&pki.server_ca), None);
    assert!(
        anonymous
            .post(bootstrap.url("/dm"))
            .body(P1)
            .send()
            .await
            .is_err()
    );
    let foreign = device_client(&pki, &pki.other, DEVICE);
    assert!(
        foreign
            .post(bootstrap.url("/dm"))
            .body(P1)
            .send()
            .await
            .is_err()
    );
    assert!(store.device(&dev(DEVICE)).await.expect("read").is_none());
    assert!(
        store
            .bootstrap_outcomes(&dev(DEVICE))
            .await
            .expect("outcomes")
            .is_empty()
    );
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn the_most_specific_profile_applies_and_an_identity_profile_needs_no_matching_cn() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    let admin = bootstrap.admin();
    let named = |name: &str, server_id: &str, matches: &str| {
        BootstrapProfile::from_json(format!(
            r#"{{"name":"{name}","match":{matches},"accounts":[{{"server_id":"{server_id}","server_uri":"https://dm.test/dm","credentials":{{"http_password":true}}}}]}}"#
        ).as_bytes()).expect("profile")
    };
    for profile in [
        named("all", "dm.all", r#"{"dev_id_pattern":"*"}"#),
        named("imei", "dm.imei", r#"{"dev_id_pattern":"IMEI:35*"}"#),
        named("exact", "dm.exact", &format!(r#"{{"dev_id":"{DEVICE}"}}"#)),
        named("factory", "dm.factory", r#"{"identity":"factory-line-7"}"#),
    ] {
        admin.put_bootstrap_profile(profile).await.expect("profile");
    }
    let served = async |client: &reqwest::Client, dev_id: &str| {
        let response = package1(client, &bootstrap.url("/dm"), dev_id).await;
        assert_eq!(response.status(), 200);
        let package = commands(&response.bytes().await.expect("body"));
        let data = fetch(client, &package[1][1], dev_id).await;
        accounts(&data.bytes().await.expect("body"))[0]
            .server_id
            .as_str()
            .to_owned()
    };
    let device = device_client(&pki, &pki.bootstrap, DEVICE);
    assert_eq!(served(&device, DEVICE).await, "dm.exact");
    let sibling = "IMEI:356938035643899";
    let client = device_client(&pki, &pki.bootstrap, sibling);
    assert_eq!(served(&client, sibling).await, "dm.imei");
    let client = device_client(&pki, &pki.bootstrap, "MEID:A1000000000001");
    assert_eq!(served(&client, "MEID:A1000000000001").await, "dm.all");
    // A certificate whose CN is a factory identity: only its profile.
    let factory = device_client(&pki, &pki.bootstrap, "factory-line-7");
    assert_eq!(served(&factory, DEVICE).await, "dm.factory");
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_refused_or_failed_hget_registers_nothing() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    bootstrap
        .admin()
        .put_bootstrap_profile(profile("fleet", r#"{"dev_id_pattern":"*"}"#, r#""local""#))
        .await
        .expect("profile");
    let device = device_client(&pki, &pki.bootstrap, DEVICE);
    for (statuses, expected) in [
        (
            r#"{"Status":[{"sc":200},{"sc":403}]}"#,
            BootstrapResult::Refused,
        ),
        (
            r#"{"Status":[{"sc":200},{"sc":502}]}"#,
            BootstrapResult::Failed { status: 502 },
        ),
    ] {
        let (uri, _) = up_to_hget(&device, &bootstrap).await;
        assert_eq!(
            package3(&device, &uri, statuses).await,
            vec![vec!["END".to_owned()]]
        );
        let outcomes = store
            .bootstrap_outcomes(&dev(DEVICE))
            .await
            .expect("outcomes");
        assert_eq!(outcomes[0].result, expected);
        // The session is over: a late Package#3 finds nothing.
        let late = post_package(&device, &uri, RESPONSE, DEVICE, PROVISIONED, Auth::None).await;
        assert_eq!(late.status(), 404);
    }
    assert!(store.device(&dev(DEVICE)).await.expect("read").is_none());
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn remote_registration_rekeys_the_device_and_keeps_its_history() {
    let pki = pki();
    // The management server: another process, another store.
    let management =
        TestServer::start_on(options().build().expect("options"), MemoryStore::new()).await;
    let admin = management.admin();
    let realm = admin.realm().to_owned();
    admin
        .register_device(
            DeviceRegistration::new(dev(DEVICE)).with_password("old", "old password", &realm),
            false,
        )
        .await
        .expect("registered");
    let queued = admin
        .enqueue(&dev(DEVICE), get("Man"))
        .await
        .expect("queued");
    let remote = RemoteManagement::new(&management.base, ADMIN_TOKEN).expect("remote");
    let settings = BootstrapSettings::new().with_remote("central", remote);
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), settings).await;
    bootstrap
        .admin()
        .put_bootstrap_profile(profile(
            "fleet",
            r#"{"dev_id_pattern":"*"}"#,
            r#"{"remote":"central"}"#,
        ))
        .await
        .expect("profile");
    let device = device_client(&pki, &pki.bootstrap, DEVICE);
    let (uri, accounts) = up_to_hget(&device, &bootstrap).await;
    assert_eq!(
        package3(&device, &uri, PROVISIONED).await,
        vec![vec!["END".to_owned()]]
    );

    let http = accounts[0].http.clone().expect("Ext/HTTPAuth");
    let password = String::from_utf8(http.secret).expect("text");
    let record = admin.device(&dev(DEVICE)).await.expect("device");
    let credentials = record.credentials.expect("credentials");
    assert_eq!(credentials.username, http.name);
    assert!(credentials.matches_password(&password, &realm));
    assert!(!credentials.matches_password("old password", &realm));
    // History kept: the command queued before the re-keying is still there.
    assert!(admin.command(&dev(DEVICE), queued).await.is_ok());
    // The bootstrap server's own store registered nothing.
    assert!(store.device(&dev(DEVICE)).await.expect("read").is_none());
    bootstrap.stop().await.expect("stopped");
    management.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_failed_registration_deletes_the_accounts_from_the_device_again() {
    let pki = pki();
    // A remote that does not answer.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = closed.local_addr().expect("address");
    drop(closed);
    let remote = RemoteManagement::new(&format!("http://{address}"), "token").expect("remote");
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(
        &pki,
        store.clone(),
        BootstrapSettings::new().with_remote("gone", remote),
    )
    .await;
    bootstrap
        .admin()
        .put_bootstrap_profile(profile(
            "fleet",
            r#"{"dev_id_pattern":"*"}"#,
            r#"{"remote":"gone"}"#,
        ))
        .await
        .expect("profile");
    let device = device_client(&pki, &pki.bootstrap, DEVICE);
    let (uri, _) = up_to_hget(&device, &bootstrap).await;
    let package = package3(&device, &uri, PROVISIONED).await;
    assert_eq!(
        package,
        vec![vec![
            "DELETE".to_owned(),
            "urn:oma:mo:oma-dm-dmacc:1.2/acc2/".to_owned()
        ]]
    );
    let end = package3(&device, &uri, r#"{"Status":[{"sc":200}]}"#).await;
    assert_eq!(end, vec![vec!["END".to_owned()]]);
    let outcomes = store
        .bootstrap_outcomes(&dev(DEVICE))
        .await
        .expect("outcomes");
    assert!(
        matches!(&outcomes[0].result, BootstrapResult::RegistrationFailed { server, .. } if server == "dm.test"),
        "{outcomes:?}"
    );
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn server_initiated_bootstrap_sends_a_package0_signed_with_the_bootstrap_secret() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("udp://{}", socket.local_addr().expect("address"));
    // Registered over the admin API; no answer shows a secret.
    let admin_api = client_with(std::slice::from_ref(&pki.server_ca), None);
    let body = format!(
        r#"{{"dev_id":"{DEVICE}","psk":{{"identity":"psk-7","key_hex":"000102030405060708090a0b0c0d0e0f"}},"notification":{{"address":"{address}","secret_hex":"5ec12e7a","data_hex":"da7a"}}}}"#
    );
    // Without a client certificate there is no TLS connection at all on the
    // bootstrap listener: the admin API is used in-process here, and over
    // HTTP with a bootstrap certificate below.
    assert!(
        admin_api
            .get(bootstrap.url("/admin/bootstrap/profiles"))
            .send()
            .await
            .is_err()
    );
    let operator = device_client(&pki, &pki.bootstrap, "operator");
    let registered = operator
        .post(bootstrap.url("/admin/bootstrap/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(registered.status(), 201);
    let shown = operator
        .get(bootstrap.url(&format!("/admin/bootstrap/devices/{DEVICE}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(shown.status(), 200);
    let text = shown.text().await.expect("body");
    assert!(text.contains("\"psk_identity\":\"psk-7\""), "{text}");
    assert!(
        !text.contains("5ec12e7a") && !text.contains("000102030405"),
        "{text}"
    );
    assert_eq!(
        bootstrap.admin().bootstrap_psk("psk-7").await.expect("psk"),
        Some((dev(DEVICE), (0u8..16).collect()))
    );

    let sent = operator
        .post(bootstrap.url(&format!("/admin/bootstrap/devices/{DEVICE}/notify")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(sent.status(), 200);
    let mut buffer = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buffer).await.expect("Package#0");
    let bytes = &buffer[..n];
    let notification = dm_codec::notification::decode(bytes).expect("Package#0");
    assert_eq!(notification.server_id.as_str(), "bootstrap.test");
    assert_eq!(
        dm_codec::notification::verify_digest(bytes, &[0x5e, 0xc1, 0x2e, 0x7a], &[0xda, 0x7a])
            .expect("decodes"),
        DigestCheck::Valid
    );
    assert_eq!(
        dm_codec::notification::verify_digest(bytes, b"another secret", &[0xda, 0x7a])
            .expect("decodes"),
        DigestCheck::Invalid
    );
    // An unknown device cannot be notified.
    let unknown = operator
        .post(bootstrap.url("/admin/bootstrap/devices/IMEI:1/notify"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(unknown.status(), 404);
    let device = store
        .bootstrap_device(&dev(DEVICE))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(device.last_notification_id, Some(1));
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn profiles_are_managed_over_the_admin_api() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    let operator = device_client(&pki, &pki.bootstrap, "operator");
    let body =
        String::from_utf8(profile("fleet", r#"{"dev_id_pattern":"*"}"#, r#""local""#).to_json())
            .expect("text");
    let send = async |method: Method, path: &str, body: Option<&str>| {
        let mut request = operator
            .request(method, bootstrap.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.expect("answer")
    };
    assert_eq!(
        send(Method::POST, "/admin/bootstrap/profiles", Some(&body))
            .await
            .status(),
        201
    );
    assert_eq!(
        send(Method::POST, "/admin/bootstrap/profiles", Some(&body))
            .await
            .status(),
        200
    );
    let bad = send(
        Method::POST,
        "/admin/bootstrap/profiles",
        Some(r#"{"name":"x"}"#),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        send(Method::PUT, "/admin/bootstrap/profiles/other", Some(&body))
            .await
            .status(),
        400
    );
    let listed = send(Method::GET, "/admin/bootstrap/profiles", None).await;
    let listed: serde_json::Value =
        serde_json::from_slice(&listed.bytes().await.expect("body")).expect("JSON");
    assert_eq!(listed["profiles"][0]["name"], "fleet");
    assert_eq!(
        send(Method::GET, "/admin/bootstrap/profiles/fleet", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        send(Method::DELETE, "/admin/bootstrap/profiles/fleet", None)
            .await
            .status(),
        204
    );
    assert_eq!(
        send(Method::DELETE, "/admin/bootstrap/profiles/fleet", None)
            .await
            .status(),
        404
    );
    // Without the admin token: refused.
    let anonymous = operator
        .get(bootstrap.url("/admin/bootstrap/profiles"))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 401);
    // The management admin API is not served by the bootstrap role.
    assert_eq!(
        send(Method::GET, "/admin/devices", None).await.status(),
        404
    );
    bootstrap.stop().await.expect("stopped");
}

/// A PSK-TLS layer of the embedding application (the contract of
/// `BootstrapCredential::Psk`): it puts the PSK identity its handshake
/// accepted in the request's extensions. Here the identity travels in a
/// header the test client sets, standing for that handshake.
async fn psk_router(pki: &Pki, store: Shared) -> (String, tokio::task::JoinHandle<()>) {
    let tls = TlsOptions::from_pem(pki.server_pem.as_bytes(), pki.server_key_pem.as_bytes())
        .with_client_ca_pem(pki.bootstrap_ca_pem.as_bytes());
    let options = options()
        .server_id("bootstrap.test")
        .tls(tls)
        .public_uri("https://bootstrap.test")
        .bootstrap(BootstrapSettings::new().with_issuing_ca(issuing_ca()))
        .build()
        .expect("options");
    let server = dm_server::DmServer::new(options, store, UdpChannel);
    let router = server.router().layer(axum::middleware::from_fn(
        |mut request: axum::extract::Request, next: axum::middleware::Next| async move {
            let identity = request
                .headers()
                .get("x-test-psk-identity")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Some(identity) = identity {
                request
                    .extensions_mut()
                    .insert(dm_server::bootstrap::BootstrapCredential::Psk { identity });
            }
            next.run(request).await
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, task)
}

#[tokio::test]
async fn a_psk_identity_identifies_the_device_it_was_registered_for() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let (base, task) = psk_router(&pki, store.clone()).await;
    let admin_store = store.clone();
    admin_store
        .put_bootstrap_profile(profile(
            "fleet",
            r#"{"dev_id_pattern":"IMEI:*"}"#,
            r#""local""#,
        ))
        .await
        .expect("profile");
    admin_store
        .put_bootstrap_device(
            dm_server::BootstrapDevice::new(dev(DEVICE)).with_psk("psk-device", vec![7; 16]),
        )
        .await
        .expect("device");
    let http = client();
    let post = async |identity: Option<&str>, dev_id: &str| {
        let mut request = http
            .post(format!("{base}/dm"))
            .header("Content-Type", INITIATION)
            .header("Accept", "application/vnd.oma.dm.request+json")
            .header("OMADM-DevID", dev_id)
            .body(P1);
        if let Some(identity) = identity {
            request = request.header("x-test-psk-identity", identity);
        }
        request.send().await.expect("answer")
    };
    // No bootstrap credential at all: 403, nothing stored.
    assert_eq!(post(None, DEVICE).await.status(), 403);
    // The PSK of another device, or an unknown one: no profile applies.
    assert_eq!(post(Some("psk-device"), "IMEI:1").await.status(), 403);
    assert_eq!(post(Some("unknown"), DEVICE).await.status(), 403);
    // The device's own PSK: the DevID profile applies; the data is bound to
    // that PSK identity.
    let response = post(Some("psk-device"), DEVICE).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    let path = package[1][1]
        .strip_prefix("https://bootstrap.test")
        .expect("on the public URI")
        .to_owned();
    let fetch = async |identity: &str| {
        http.get(format!("{base}{path}"))
            .header("x-test-psk-identity", identity)
            .header("OMADM-DevID", DEVICE)
            .send()
            .await
            .expect("answer")
    };
    assert_eq!(fetch("unknown").await.status(), 404);
    assert_eq!(fetch("psk-device").await.status(), 200);
    assert_eq!(fetch("psk-device").await.status(), 404);
    task.abort();
}

#[tokio::test]
async fn a_local_rekeying_keeps_the_device_history_and_drops_its_old_password() {
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let realm = dm_server::DEFAULT_REALM;
    store
        .register_device(
            DeviceRegistration::new(dev(DEVICE)).with_password("old", "old password", realm),
            false,
            0,
        )
        .await
        .expect("registered");
    let queued = store
        .enqueue_command(&dev(DEVICE), get("Man"), 0)
        .await
        .expect("queued");
    let bootstrap = bootstrap_server(&pki, store.clone(), BootstrapSettings::new()).await;
    bootstrap
        .admin()
        .put_bootstrap_profile(profile("fleet", r#"{"dev_id_pattern":"*"}"#, r#""local""#))
        .await
        .expect("profile");
    let device = device_client(&pki, &pki.bootstrap, DEVICE);
    let (uri, accounts) = up_to_hget(&device, &bootstrap).await;
    assert_eq!(
        package3(&device, &uri, PROVISIONED).await,
        vec![vec!["END".to_owned()]]
    );
    let http = accounts[0].http.clone().expect("Ext/HTTPAuth");
    let record = store
        .device(&dev(DEVICE))
        .await
        .expect("read")
        .expect("kept");
    let credentials = record.credentials.expect("credentials");
    assert_eq!(credentials.username, http.name);
    assert!(credentials.matches_password(&String::from_utf8(http.secret).expect("text"), realm));
    assert!(
        store
            .credentials_by_username("old")
            .await
            .expect("read")
            .is_none()
    );
    assert!(store.command(queued).await.expect("read").is_some());
    bootstrap.stop().await.expect("stopped");
}

#[tokio::test]
async fn the_bootstrap_role_serves_its_console_for_bootstrap_profiles() {
    // The console of the bootstrap role (docs/console.md) shows profiles:
    // its page names the role; reaching it takes what the listener takes,
    // a client certificate of the bootstrap CA.
    let pki = pki();
    let store: Shared = Arc::new(MemoryStore::new());
    let bootstrap = bootstrap_server(&pki, store, BootstrapSettings::new()).await;
    let operator = device_client(&pki, &pki.bootstrap, "operator workstation");
    let page = operator
        .get(bootstrap.url("/console/"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.expect("page");
    assert!(
        html.contains("<html lang=\"en\" data-role=\"bootstrap\">"),
        "{html}"
    );
    let script = operator
        .get(bootstrap.url("/console/bootstrap.js"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(script.status(), 200);
    bootstrap.stop().await.expect("stopped");
}
