//! Device authentication (Basic, Digest SHA-256 and MD5, X.509 client
//! certificates), the DevID check, the admin bearer token and dev mode.

use dm_test_support::server as common;

use std::time::Duration;

use common::*;
use dm_server::{
    ClientCertificate, DeviceRegistration, MemoryStore, ServerOptions, SessionSettings, TlsOptions,
};
use dm_session::http_auth::Challenge;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::header::WWW_AUTHENTICATE;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .collect()
}

/// Posts Package#1 with this `Authorization` value.
async fn post_signed(http: &reqwest::Client, url: &str, authorization: &str) -> reqwest::Response {
    http.post(url)
        .header("Content-Type", INITIATION)
        .header("OMADM-DevID", DEV1)
        .header("Authorization", authorization)
        .body(P1)
        .send()
        .await
        .expect("answer")
}

/// A fresh SHA-256 challenge of the server.
async fn fresh_challenge(http: &reqwest::Client, url: &str) -> String {
    let first = post_package(http, url, INITIATION, DEV1, P1, Auth::None).await;
    digest_challenge(first.headers(), "SHA-256").expect("challenge")
}

#[tokio::test]
async fn no_credentials_get_every_enabled_challenge() {
    let server = TestServer::start(options().build().expect("options")).await;
    let response = post_package1(&client(), &server, DEV1, P1, Auth::None).await;
    assert_eq!(response.status(), 401);
    let values = challenges(&response);
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(
        values[0].starts_with(r#"Digest realm="oma-dm", qop="auth", algorithm=SHA-256, nonce=""#)
    );
    assert!(values[1].contains("algorithm=MD5"));
    assert!(values[2].starts_with(r#"Basic realm="oma-dm""#));

    let server = TestServer::start(
        options()
            .basic_auth(false)
            .digest_md5(false)
            .realm("fleet")
            .build()
            .expect("options"),
    )
    .await;
    let response = post_package1(&client(), &server, DEV1, P1, Auth::None).await;
    let values = challenges(&response);
    assert_eq!(values.len(), 1, "{values:?}");
    assert!(values[0].contains(r#"realm="fleet""#) && values[0].contains("SHA-256"));
    // Disabled schemes are refused even with the right password.
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 401);
    let response = post_package1(&client(), &server, DEV1, P1, DIGEST1).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn basic_and_digest_accept_the_right_password_only() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = client();
    let dm = server.url("/dm");
    for auth in [BASIC1, DIGEST1, Auth::Digest(USER1, PASS1, "MD5")] {
        let response = post_package(&http, &dm, INITIATION, DEV1, P1, auth).await;
        assert_eq!(response.status(), 200, "{auth:?}");
    }
    for auth in [
        Auth::Basic(USER1, "wrong"),
        Auth::Basic("nobody", PASS1),
        Auth::Digest(USER1, "wrong", "SHA-256"),
        Auth::Digest(USER1, "wrong", "MD5"),
        Auth::Digest("nobody", PASS1, "SHA-256"),
    ] {
        let response = post_package(&http, &dm, INITIATION, DEV1, P1, auth).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert!(
            !challenges(&response).is_empty(),
            "a new challenge comes with it"
        );
    }
    // Malformed credentials are a 401, never a crash.
    for value in [
        "Basic !!!",
        "Basic ZGV2aWNlLTE=",
        "Digest",
        r#"Digest username="device-1""#,
        r#"Digest username="device-1", realm="oma-dm", nonce="x", uri="/dm", response="00", qop=auth, nc=00000001, cnonce="c""#,
        "Bearer abc",
        "Negotiate xyz",
    ] {
        let response = post_signed(&http, &dm, value).await;
        assert_eq!(response.status(), 401, "{value}");
    }
}

#[tokio::test]
async fn digest_answers_are_bound_to_method_uri_and_nonce_age() {
    let settings = SessionSettings::default().with_nonce_lifetime(Duration::ZERO);
    let server = TestServer::start(options().session(settings).build().expect("options")).await;
    let http = client();
    let dm = server.url("/dm");
    let challenge = fresh_challenge(&http, &dm).await;
    // Signed for another URI.
    let answer = digest_answer(&challenge, USER1, PASS1, "POST", "/other", P1.as_bytes());
    let response = post_signed(&http, &dm, &answer).await;
    assert_eq!(response.status(), 401);
    // Signed for another method.
    let answer = digest_answer(&challenge, USER1, PASS1, "PUT", "/dm", P1.as_bytes());
    let response = post_signed(&http, &dm, &answer).await;
    assert_eq!(response.status(), 401);
    // Right, but the nonce (lifetime zero) has gone stale a moment later.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = digest_answer(&challenge, USER1, PASS1, "POST", "/dm", P1.as_bytes());
    let response = post_signed(&http, &dm, &answer).await;
    assert_eq!(response.status(), 401);
    assert!(
        challenges(&response)
            .iter()
            .any(|c| c.contains("stale=true")),
        "{:?}",
        challenges(&response)
    );
}

fn is_stale(response: &reqwest::Response) -> bool {
    response.status() == 401
        && challenges(response)
            .iter()
            .any(|c| c.contains("stale=true"))
}

#[tokio::test]
async fn each_digest_nonce_count_is_accepted_once() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = client();
    let dm = server.url("/dm");
    let challenge = fresh_challenge(&http, &dm).await;
    let mut prompt = match Challenge::parse(&challenge) {
        Ok(Some(Challenge::Digest(prompt))) => prompt,
        other => panic!("not a Digest challenge: {other:?}"),
    };
    let mut answer = || {
        prompt
            .answer(USER1, PASS1, "POST", "/dm", "0a4f113b")
            .expect("answerable")
            .to_string()
    };
    let first = answer();
    assert!(first.contains("nc=00000001"), "{first}");
    assert_eq!(post_signed(&http, &dm, &first).await.status(), 200);
    // The same request again, byte for byte: a replay.
    let replay = post_signed(&http, &dm, &first).await;
    assert!(is_stale(&replay), "{:?}", replay.status());
    // The next count of the same nonce is fine, and cannot be replayed
    // either; neither can a lower count.
    let second = answer();
    assert!(second.contains("nc=00000002"), "{second}");
    assert_eq!(post_signed(&http, &dm, &second).await.status(), 200);
    assert!(is_stale(&post_signed(&http, &dm, &second).await));
    assert!(is_stale(&post_signed(&http, &dm, &first).await));
    // A device that churns through nonces: the store keeps its 16 most
    // recent, and refuses the forgotten ones even with a new count.
    for _ in 0..16 {
        let challenge = fresh_challenge(&http, &dm).await;
        let fresh = digest_answer(&challenge, USER1, PASS1, "POST", "/dm", P1.as_bytes());
        assert_eq!(post_signed(&http, &dm, &fresh).await.status(), 200);
    }
    let third = answer();
    assert!(third.contains("nc=00000003"), "{third}");
    assert!(is_stale(&post_signed(&http, &dm, &third).await));
    // A refusal is only a fresh challenge: answering it works at once.
    let challenge = fresh_challenge(&http, &dm).await;
    let fresh = digest_answer(&challenge, USER1, PASS1, "POST", "/dm", P1.as_bytes());
    assert_eq!(post_signed(&http, &dm, &fresh).await.status(), 200);
}

#[tokio::test]
async fn omadm_devid_must_be_the_authenticated_device() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = client();
    let response = post_package1(&http, &server, DEV2, P1, BASIC1).await;
    assert_eq!(response.status(), 403);
    server
        .admin()
        .put_repository(
            "shared/config",
            br#"[{"ClientURI":"urn:x:y//","MOData":{"A":1}}]"#,
        )
        .await
        .expect("stored");
    for dev_id in [Some(DEV2), None] {
        let response = repo_get(&http, &server.url("/repo/shared/config"), dev_id, DIGEST1).await;
        assert_eq!(response.status(), 403, "{dev_id:?}");
    }
}

#[tokio::test]
async fn the_admin_api_needs_the_bearer_token() {
    let server = TestServer::start(options().build().expect("options")).await;
    let mut admin = AdminClient::new(&server.base);
    assert_eq!(admin.get("/admin/devices").await.0, 200);
    admin.token = Some("wrong".into());
    let (status, body) = admin.get("/admin/devices").await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("wrong")),
        "{body}"
    );
    admin.token = None;
    assert_eq!(admin.get("/admin/devices").await.0, 401);
    // Device credentials do not open the admin API.
    let response = client()
        .get(server.url("/admin/devices"))
        .basic_auth(USER1, Some(PASS1))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);

    // Without a configured token the admin API is disabled.
    let closed = TestServer::start_on(
        ServerOptions::builder().build().expect("options"),
        MemoryStore::new(),
    )
    .await;
    let mut admin = AdminClient::new(&closed.base);
    admin.token = None;
    assert_eq!(admin.get("/admin/devices").await.0, 403);
}

#[tokio::test]
async fn dev_mode_registers_devices_without_credentials() {
    let options = ServerOptions::builder()
        .dev_mode(true)
        .dev_notification(b"dev-secret".to_vec(), b"dev-data".to_vec())
        .build()
        .expect("options");
    let server = TestServer::start_on(options, MemoryStore::new()).await;
    let response = post_package1(&client(), &server, DEV1, P1, Auth::None).await;
    assert_eq!(response.status(), 200);
    let device = server.admin().device(&dev(DEV1)).await.expect("registered");
    assert_eq!(
        device.notification_secret.map(|s| s.secret),
        Some(b"dev-secret".to_vec())
    );
    // The admin API needs no token, and takes whatever token it is given.
    let mut admin = AdminClient::new(&server.base);
    admin.token = None;
    assert_eq!(admin.get("/admin/devices").await.0, 200);
    admin.token = Some("anything".into());
    assert_eq!(admin.get("/admin/devices").await.0, 200);
    // A device registered with credentials must use them, even here.
    let realm = ServerOptions::builder()
        .build()
        .expect("options")
        .realm()
        .to_owned();
    server
        .admin()
        .register_device(
            DeviceRegistration::new(dev(DEV2)).with_password(USER2, PASS2, &realm),
            false,
        )
        .await
        .expect("registered");
    let response = post_package1(&client(), &server, DEV2, P1, Auth::None).await;
    assert_eq!(response.status(), 401);
    assert!(!challenges(&response).is_empty(), "it is challenged");
    let response = post_package1(&client(), &server, DEV2, P1, BASIC2).await;
    assert_eq!(response.status(), 200);
    // A configured token still has to be right when one is given.
    let options = ServerOptions::builder()
        .dev_mode(true)
        .admin_token(ADMIN_TOKEN)
        .build()
        .expect("options");
    let with_token = TestServer::start_on(options, MemoryStore::new()).await;
    let mut admin = AdminClient::new(&with_token.base);
    assert_eq!(admin.get("/admin/devices").await.0, 200);
    admin.token = None;
    assert_eq!(admin.get("/admin/devices").await.0, 200);
    admin.token = Some("wrong".into());
    assert_eq!(admin.get("/admin/devices").await.0, 401);
    // A device without credentials still needs an OMADM-DevID.
    let response = send(
        &client(),
        reqwest::Method::POST,
        &server.url("/dm"),
        Some(INITIATION),
        None,
        P1.as_bytes(),
        Auth::None,
    )
    .await;
    assert_eq!(response.status(), 400);

    // Dev mode refuses a non-loopback listener.
    let options = ServerOptions::builder()
        .dev_mode(true)
        .build()
        .expect("options");
    let server = dm_server::DmServer::new(options, MemoryStore::new(), dm_server::UdpChannel);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let result = server.serve(listener, std::future::pending()).await;
    assert!(
        matches!(result, Err(dm_server::Error::Config { .. })),
        "{result:?}"
    );
}

struct Pki {
    ca: CertificateDer<'static>,
    ca_pem: String,
    server_pem: String,
    server_key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// The parameters of a test CA certificate.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

fn pki() -> Pki {
    let params = ca_params();
    let ca_key = KeyPair::generate().expect("key");
    let ca = params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(params, ca_key);
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    Pki {
        ca: ca.der().clone(),
        ca_pem: ca.pem(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        issuer,
    }
}

/// A client trusting the test CA and presenting `identity` when given.
fn tls_client(
    pki: &Pki,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> reqwest::Client {
    let identity = identity.map(|(certificate, key)| (vec![certificate], key));
    client_with(std::slice::from_ref(&pki.ca), identity)
}

fn device_identity(
    issuer: &Issuer<'static, KeyPair>,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().expect("key");
    let certificate = CertificateParams::new(vec!["device".into()])
        .expect("params")
        .signed_by(&key, issuer)
        .expect("client certificate");
    (
        certificate.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

#[tokio::test]
async fn client_certificates_over_tls_identify_devices() {
    let pki = pki();
    let tls = TlsOptions::from_pem(pki.server_pem.as_bytes(), pki.server_key_pem.as_bytes())
        .with_client_ca_pem(pki.ca_pem.as_bytes());
    let server = TestServer::start(options().tls(tls).build().expect("options")).await;
    assert!(server.base.starts_with("https://"));
    let (certificate, key) = device_identity(&pki.issuer);
    let fingerprint = *ClientCertificate::from_der(&certificate).sha256();
    server
        .admin()
        .register_device(
            DeviceRegistration::new(dev("IMEI:3")).with_certificate_sha256(fingerprint),
            false,
        )
        .await
        .expect("registered");

    let with_certificate = tls_client(&pki, Some((certificate, key)));
    let response = post_package1(&with_certificate, &server, "IMEI:3", P1, Auth::None).await;
    assert_eq!(response.status(), 200);
    // The certificate is device IMEI:3's, not device 1's.
    let response = post_package1(&with_certificate, &server, DEV1, P1, Auth::None).await;
    assert_eq!(response.status(), 403);

    // An unregistered certificate is not enough...
    let unregistered = tls_client(&pki, Some(device_identity(&pki.issuer)));
    let response = post_package1(&unregistered, &server, "IMEI:3", P1, Auth::None).await;
    assert_eq!(response.status(), 401);
    // ...and devices without a certificate use passwords over TLS.
    let plain = tls_client(&pki, None);
    let response = post_package1(&plain, &server, DEV1, P1, DIGEST1).await;
    assert_eq!(response.status(), 200);
    // A certificate from another CA fails the handshake.
    let stranger = pki_issuer_only();
    let foreign_client = tls_client(&pki, Some(device_identity(&stranger)));
    let result = foreign_client
        .post(server.url("/dm"))
        .header("Content-Type", INITIATION)
        .header("OMADM-DevID", "IMEI:3")
        .body(P1)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    server.stop().await.expect("clean stop");
}

fn pki_issuer_only() -> Issuer<'static, KeyPair> {
    Issuer::new(ca_params(), KeyPair::generate().expect("key"))
}
