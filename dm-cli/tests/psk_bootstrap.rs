//! A PSK-TLS bootstrap (docs/protocol.md sections 11.1 and 12) between the
//! real client and the real server, both on OpenSSL: the device's
//! `Auth/Bootstrap` holds the PSK identity and key, the bootstrap server
//! finds the device by the identity its handshake read. Built with the
//! `openssl` feature (dm-client's and dm-server's).
#![cfg(feature = "openssl")]

use std::sync::Arc;

use dm_client::{DmClient, Transport};
use dm_server::bootstrap::BootstrapProfile;
use dm_server::{
    BootstrapDevice, BootstrapSettings, MemoryStore, Store as _, TlsBackend, TlsOptions,
};
use dm_test_support::device::{DEV_ID, devinfo, factory_file, signed_certificate, test_ca};
use dm_test_support::server::{TestServer, dev, options};
use dm_tree::{BootstrapAuth, DmAcc, SecMode};
use dm_types::{ServerId, ServerUri};

const KEY: [u8; 16] = [0x5a; 16];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_psk_bootstrap_over_openssl_provisions_the_management_account() {
    let store = Arc::new(MemoryStore::new());
    let (_, server_issuer) = test_ca("server CA");
    // The bootstrap role requires a client certificate of the X.509
    // suites; the PSK suites carry none.
    let (bootstrap_ca, _) = test_ca("bootstrap CA");
    let (server, server_key) = signed_certificate(&server_issuer, &["127.0.0.1"], None);
    let tls = TlsOptions::from_pem(
        server.pem().as_bytes(),
        server_key.serialize_pem().as_bytes(),
    )
    .with_client_ca_pem(bootstrap_ca.pem().as_bytes())
    .with_backend(TlsBackend::OpenSsl)
    .with_psk(true);
    let bootstrap = TestServer::start_on(
        options()
            .server_id("bootstrap.test")
            .tls(tls)
            .bootstrap(BootstrapSettings::new())
            .build()
            .expect("options"),
        store.clone(),
    )
    .await;
    let management = TestServer::start_on(
        options().server_id("dm.test").build().expect("options"),
        store.clone(),
    )
    .await;
    let profile = format!(
        r#"{{"name":"fleet","match":{{"dev_id_pattern":"IMEI:*"}},"accounts":[{{"server_id":"dm.test","server_uri":"{}","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{{"http_password":true}},"register":"local"}}]}}"#,
        management.url("/dm")
    );
    store
        .put_bootstrap_profile(BootstrapProfile::from_json(profile.as_bytes()).expect("profile"))
        .await
        .expect("profile stored");
    store
        .put_bootstrap_device(
            BootstrapDevice::new(dev(DEV_ID)).with_psk("psk-device", KEY.to_vec()),
        )
        .await
        .expect("device stored");

    let account = |key: &[u8]| {
        let uri = ServerUri::new(bootstrap.url("/dm")).expect("URI");
        let mut account = DmAcc::new(ServerId::new("bootstrap.test").expect("id"), uri.clone());
        let mut auth = BootstrapAuth::new(uri, SecMode::Psk);
        auth.client_public = b"psk-device".to_vec();
        auth.client_secret = key.to_vec();
        account.bootstrap = Some(auth);
        account
    };
    let transport = Transport::builder().build().expect("transport");
    let bootstrap_id = ServerId::new("bootstrap.test").expect("id");

    // A wrong key fails the handshake: nothing changes.
    let mut wrong = DmClient::builder(devinfo())
        .factory(factory_file(&[account(&[0x11; 16])]))
        .transport(transport.clone())
        .build()
        .expect("client");
    let report = wrong.bootstrap(&bootstrap_id).await.expect("bootstrap");
    assert!(!report.completed(), "{report}");
    assert_eq!(wrong.servers(), std::slice::from_ref(&bootstrap_id));

    let mut client = DmClient::builder(devinfo())
        .factory(factory_file(&[account(&KEY)]))
        .transport(transport)
        .build()
        .expect("client");
    let report = client.bootstrap(&bootstrap_id).await.expect("bootstrap");
    assert!(report.completed(), "{report}");
    assert_eq!(report.provisioned, [ServerId::new("dm.test").expect("id")]);
    assert_eq!(report.bootstrap_complete.len(), 1);
    assert!(report.bootstrap_complete[0].completed(), "{report:?}");
    assert!(client.pending_bootstrap_complete().is_empty());
    bootstrap.stop().await.expect("stopped");
    management.stop().await.expect("stopped");
}
