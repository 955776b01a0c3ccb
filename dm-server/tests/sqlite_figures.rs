//! Figures of the SQLite store: what a registered device costs on disk, and
//! how many transactions a session takes.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::Arc;

use dm_test_support::server as common;

use common::{TestServer, finish_session, open_session, options, queue_get, register_two};
use dm_server::sql::{Access, Backend as _, BoxFuture, Connection, Work};
use dm_server::{DeviceRegistration, SessionSummary, SessionToken, SqliteStore, Store};
use dm_session::Initiator;
use dm_types::{DevId, Miid, Moid, MosEntry};

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

#[tokio::test]
async fn transactions_per_session() {
    let dir = scratch("transactions");
    let store = Arc::new(
        SqliteStore::open_file(dir.join("dm.sqlite"))
            .await
            .expect("created"),
    );
    let server = TestServer::start_on(options().build().expect("options"), store.clone()).await;
    register_two(&server.admin()).await;
    queue_get(&server.admin(), "Man").await;
    let before = store.transactions();
    let (uri, _) = open_session(&server).await;
    finish_session(&uri, &[200, 200]).await;
    let session = store.transactions() - before;
    eprintln!("SQLite: {session} transactions for a session of one command (P1, P3)");
    assert!(session < 40, "{session} transactions");
    server.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
