//! Figures of the SQLite store: what a registered device costs on disk, and
//! how many transactions a session takes.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dm_test_support::server as common;

use common::{
    Auth, BASIC1, DEV1, DIGEST1, P1, RESPONSE, TestServer, client, client_with, commands, cont_uri,
    options, p3, post_package, post_package1, queue_get, register_two,
};
use dm_server::sql::{Access, Backend as _, BoxFuture, Connection, Work};
use dm_server::{
    ClientCertificate, DeviceRegistration, SessionSettings, SessionSummary, SessionToken,
    SqliteStore, Store, TlsOptions,
};
use dm_session::Initiator;
use dm_types::{DevId, Miid, Moid, MosEntry};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn dev_id(i: usize) -> DevId {
    DevId::new(format!("IMEI:{}", 350_000_000_000_000 + i)).expect("valid DevID")
}

/// The bytes of the database's pages.
async fn database_bytes(store: &SqliteStore) -> i64 {
    let work: Work<i64> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move {
            let pages = c.query("PRAGMA page_count", &[]).await?;
            let size = c.query("PRAGMA page_size", &[]).await?;
            let int = |rows: &[dm_server::sql::Row]| match rows[0].0[0] {
                dm_server::sql::Value::Integer(v) => v,
                _ => 0,
            };
            Ok(int(&pages) * int(&size))
        })
    });
    store
        .backend()
        .transaction(Access::Read, work)
        .await
        .expect("size")
}

fn inventory() -> Vec<MosEntry> {
    [
        ("urn:oma:mo:oma-dm-devinfo:1.0", "devinfo"),
        ("urn:oma:mo:oma-dm-dmacc:1.2", "acc1"),
        ("urn:oma:mo:oma-sessioninfomo:1.0", "sessioninfo"),
    ]
    .into_iter()
    .map(|(moid, miid)| MosEntry {
        ddf: None,
        moid: Moid::new(moid).expect("moid"),
        miids: vec![Miid::new(miid).expect("miid")],
    })
    .collect()
}

#[tokio::test]
async fn a_registered_device_costs_under_1_kib_on_disk() {
    const DEVICES: usize = 1_000;
    let dir = scratch("figures");
    let store = SqliteStore::open_file(dir.join("dm.sqlite"))
        .await
        .expect("created");
    let empty = database_bytes(&store).await;
    for i in 0..DEVICES {
        // Distinct certificate fingerprints.
        let mut sha256 = [0u8; 32];
        sha256[..8].copy_from_slice(&u64::try_from(i).expect("index").to_be_bytes());
        let registration = DeviceRegistration::new(dev_id(i))
            .with_password(&format!("device-{i}"), "a password", "oma-dm")
            .with_certificate_sha256(sha256)
            .with_notification_secret(b"a notification secret".to_vec(), b"auth".to_vec());
        store
            .register_device(registration, false, 1_700_000_000_000)
            .await
            .expect("registered");
    }
    let registered = database_bytes(&store).await;
    let per_device = (registered - empty) / i64::try_from(DEVICES).expect("count");
    eprintln!("SQLite: {per_device} B per registered device");
    assert!(per_device <= 1024, "{per_device} B per registered device");

    for i in 0..DEVICES {
        for s in 0..4u8 {
            let mut token = [s; 16];
            token[..8].copy_from_slice(&u64::try_from(i).expect("index").to_be_bytes());
            store
                .begin_session(
                    &dev_id(i),
                    SessionSummary::new(
                        SessionToken::from_bytes(token),
                        Initiator::Client,
                        1_700_000_000_000,
                    ),
                    (s == 0).then(inventory),
                    1_700_000_000_000,
                )
                .await
                .expect("begun");
        }
    }
    let active = database_bytes(&store).await;
    let per_device = (active - empty) / i64::try_from(DEVICES).expect("count");
    eprintln!(
        "SQLite: {per_device} B per device with four session summaries and a three-entry MO inventory"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// How the device of a measured session authenticates.
enum Credentials {
    /// A password, over plain HTTP.
    Password(Auth<'static>),
    /// A TLS client certificate the server's client CA issued.
    Certificate,
}

/// A CA, a server certificate for 127.0.0.1 and a device's client
/// certificate, all fresh: the server's TLS options, the device's client
/// and its certificate's fingerprint.
fn tls() -> (TlsOptions, reqwest::Client, [u8; 32]) {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("key");
    let ca = params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(params, ca_key);
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["127.0.0.1".into()])
        .expect("params")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let device_key = KeyPair::generate().expect("key");
    let device = CertificateParams::new(vec!["device".into()])
        .expect("params")
        .signed_by(&device_key, &issuer)
        .expect("client certificate");
    let options = TlsOptions::from_pem(
        server.pem().as_bytes(),
        server_key.serialize_pem().as_bytes(),
    )
    .with_client_ca_pem(ca.pem().as_bytes());
    let fingerprint = *ClientCertificate::from_der(device.der()).sha256();
    let identity = (
        vec![device.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(device_key.serialize_der())),
    );
    let client = client_with(std::slice::from_ref(ca.der()), Some(identity));
    (options, client, fingerprint)
}

/// The transactions of a session of one GET (Package#1, Package#2 with
/// the GET, Package#3 with its status, Package#2 with END) of a device
/// authenticating with `credentials`.
async fn session_transactions(name: &str, credentials: Credentials) -> u64 {
    let dir = scratch(name);
    let store = Arc::new(
        SqliteStore::open_file(dir.join("dm.sqlite"))
            .await
            .expect("created"),
    );
    // No expiry sweep within the measure (the first runs at start).
    let settings = SessionSettings::default().with_expiry_interval(Duration::from_secs(3600));
    let mut options = options().session(settings);
    let (http, auth, fingerprint) = match credentials {
        Credentials::Password(auth) => (client(), auth, None),
        Credentials::Certificate => {
            let (tls, http, fingerprint) = tls();
            options = options.tls(tls);
            (http, Auth::None, Some(fingerprint))
        }
    };
    let server = TestServer::start_on(options.build().expect("options"), store.clone()).await;
    let admin = server.admin();
    register_two(&admin).await;
    if let Some(fingerprint) = fingerprint {
        let registration = DeviceRegistration::new(DevId::new(DEV1).expect("DevID"))
            .with_certificate_sha256(fingerprint);
        admin
            .register_device(registration, true)
            .await
            .expect("registered");
    }
    queue_get(&admin, "Man").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = store.transactions();
    let response = post_package1(&http, &server, DEV1, P1, auth).await;
    assert_eq!(response.status(), 200);
    let uri = cont_uri(&commands(&response.bytes().await.expect("body")));
    let response = post_package(&http, &uri, RESPONSE, DEV1, &p3(&[200, 200]), auth).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    let session = store.transactions() - before;
    server.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
    session
}

/// Package#1 and Package#3 each cost the read of the device's
/// credentials (with the session, for a Package#3) and one step.
#[tokio::test]
async fn a_session_of_one_command_takes_4_transactions() {
    let basic = session_transactions("basic", Credentials::Password(BASIC1)).await;
    eprintln!("SQLite: {basic} transactions for a session of one command (P1, P3), Basic");
    assert_eq!(basic, 4);
    let certificate = session_transactions("certificate", Credentials::Certificate).await;
    eprintln!(
        "SQLite: {certificate} transactions for a session of one command (P1, P3), client certificate"
    );
    assert_eq!(certificate, 4);
    // Digest also records the nonce count of each request, and reads the
    // server's key once per process (for the first challenge).
    let digest = session_transactions("digest", Credentials::Password(DIGEST1)).await;
    eprintln!("SQLite: {digest} transactions for a session of one command (P1, P3), Digest");
    assert_eq!(digest, 4 + 2 + 1);
}

/// A campaign of 10,000 devices on SQLite: created in one transaction,
/// and each tick of its driver (counts, due, stale and active rows) stays
/// fast as the devices are started.
#[tokio::test]
async fn a_campaign_of_10000_devices() {
    let dir = scratch("campaign-figures");
    let store = SqliteStore::open_file(&dir.join("dm.sqlite"))
        .await
        .expect("created");
    let figures = dm_test_support::store::campaign_figures(&store, 10_000).await;
    eprintln!("SQLite, 10,000 devices: {figures:?}");
    assert!(figures.create < Duration::from_secs(20), "{figures:?}");
    assert!(figures.tick < Duration::from_secs(1), "{figures:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
