//! MemoryStore: the store contract, atomic claims, idempotent results,
//! session versions, retention, ownership.

use dm_test_support::server as common;

use common::{dev, get};
use dm_test_support::store_defaults::Defaults;

use dm_server::{
    AlertRecord, CommandId, DeviceRegistration, Error, MemoryStore, ObjectOwner, RepositoryObject,
    Retention, SessionToken, Store,
};
use dm_types::{Alert, DevId, Status, StatusCode};

/// Registers `dev_id` without credentials at `now_ms`.
async fn register(store: &MemoryStore, dev_id: &DevId, now_ms: u64) {
    store
        .register_device(DeviceRegistration::new(dev_id.clone()), false, now_ms)
        .await
        .expect("registered");
}

/// Whether a device has the user name `username`.
async fn has_user(store: &MemoryStore, username: &str) -> bool {
    let credentials = store.credentials_by_username(username).await;
    credentials.expect("read").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_keeps_the_store_contract() {
    dm_test_support::store::run(
        |retention| async move { MemoryStore::new().with_retention(retention) },
    )
    .await;
}

/// Queues `n` GETs for `dev_id`.
async fn futures_ids(store: &MemoryStore, dev_id: &DevId, n: usize) -> Vec<CommandId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            store
                .enqueue_command(dev_id, get(&format!("N{i}")), 0)
                .await
                .expect("queued"),
        );
    }
    ids
}

#[tokio::test]
async fn retention_registration_and_ownership() {
    let store = MemoryStore::new().with_retention(
        Retention::default()
            .with_finished_commands(2)
            .with_alerts(3),
    );
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    store
        .register_device(
            DeviceRegistration::new(d1.clone()).with_password("u", "p", "r"),
            false,
            0,
        )
        .await
        .expect("registered");
    // Same user name for another device: conflict; replacing keeps history.
    assert!(matches!(
        store
            .register_device(
                DeviceRegistration::new(d2.clone()).with_password("u", "q", "r"),
                false,
                0
            )
            .await,
        Err(Error::UsernameTaken { .. })
    ));
    let token = SessionToken::from_bytes([3; 16]);
    let ids = futures_ids(&store, &d1, 4).await;
    store
        .claim_commands(&d1, token, 4, 0)
        .await
        .expect("claimed");
    for id in &ids {
        store
            .record_result(*id, token, Status::new(StatusCode::OK), 1)
            .await
            .expect("recorded");
    }
    let kept: Vec<CommandId> = store
        .commands(&d1)
        .await
        .expect("read")
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        kept,
        ids[2..],
        "only the last two finished commands are kept"
    );
    assert!(store.command(ids[0]).await.expect("read").is_none());
    let alerts: Vec<AlertRecord> = (0..5)
        .map(|i| {
            AlertRecord::new(
                Alert::new(dm_types::AlertType::new(format!("urn:x:{i}")).expect("type")),
                None,
                i,
            )
        })
        .collect();
    store.record_alerts(&d1, alerts).await.expect("recorded");
    let kept: Vec<u64> = store
        .alerts(&d1)
        .await
        .expect("read")
        .iter()
        .map(|a| a.received_ms)
        .collect();
    assert_eq!(kept, [2, 3, 4]);

    store
        .register_device(
            DeviceRegistration::new(d1.clone()).with_password("v", "p", "r"),
            true,
            5,
        )
        .await
        .expect("replaced");
    assert!(!has_user(&store, "u").await);
    assert!(has_user(&store, "v").await);
    assert_eq!(
        store.commands(&d1).await.expect("read").len(),
        2,
        "history kept"
    );

    // Repository ownership.
    register(&store, &d2, 0).await;
    let object = |owner| RepositoryObject::new("[]".into(), owner, 0);
    assert!(
        store
            .put_object("p", object(ObjectOwner::Device(d1.clone())))
            .await
            .expect("new")
    );
    assert!(matches!(
        store
            .put_object("p", object(ObjectOwner::Device(d2.clone())))
            .await,
        Err(Error::ObjectOwned { .. })
    ));
    assert!(
        !store
            .put_object("p", object(ObjectOwner::Server))
            .await
            .expect("the server may")
    );
    assert!(matches!(
        store
            .put_object("p", object(ObjectOwner::Device(d1.clone())))
            .await,
        Err(Error::ObjectOwned { .. })
    ));
    assert!(store.delete_object("p").await.expect("deleted"));
    assert!(!store.delete_object("p").await.expect("gone"));

    // Removing a device removes its commands and index entries.
    assert!(store.remove_device(&d1).await.expect("removed"));
    assert!(store.command(ids[3]).await.expect("read").is_none());
    assert!(!has_user(&store, "v").await);
    assert!(!store.remove_device(&d1).await.expect("gone"));

    // A device owns a bounded number of objects.
    let store = MemoryStore::new().with_retention(Retention::default().with_objects_per_device(2));
    register(&store, &d1, 0).await;
    let mine = || object(ObjectOwner::Device(d1.clone()));
    assert!(store.put_object("a", mine()).await.expect("first"));
    assert!(store.put_object("b", mine()).await.expect("second"));
    assert!(
        !store
            .put_object("b", mine())
            .await
            .expect("replacing is free")
    );
    assert!(matches!(
        store.put_object("c", mine()).await,
        Err(Error::TooManyObjects { .. })
    ));
    assert!(store.delete_object("a").await.expect("deleted"));
    assert!(store.put_object("c", mine()).await.expect("room again"));
    // The server taking a path over frees the device's slot.
    assert!(
        !store
            .put_object("c", object(ObjectOwner::Server))
            .await
            .expect("taken over")
    );
    assert!(store.put_object("d", mine()).await.expect("room again"));
    assert!(store.remove_device(&d1).await.expect("removed"));
    assert!(
        store.object("b").await.expect("read").is_none(),
        "its uploads go with it"
    );
    assert!(
        store.object("c").await.expect("read").is_some(),
        "the server's stay"
    );
}

#[tokio::test]
async fn digest_nonce_counts_are_used_once_and_forgotten_nonces_refused() {
    let store = MemoryStore::new();
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    for d in [&d1, &d2] {
        register(&store, d, 1).await;
    }
    let now = now_ms();
    let used = |d: &DevId, nonce: &str, issued: u64, nc: u32| {
        let store = &store;
        let d = d.clone();
        let nonce = nonce.to_owned();
        async move {
            store
                .use_digest_nonce(&d, &nonce, issued, nc)
                .await
                .expect("store")
        }
    };
    assert!(used(&d1, "n0", now, 1).await);
    assert!(!used(&d1, "n0", now, 1).await, "the same count again");
    assert!(used(&d1, "n0", now, 5).await, "counts may skip");
    assert!(!used(&d1, "n0", now, 4).await, "but not go back");
    // Counts are per device.
    assert!(used(&d2, "n0", now, 1).await);
    // Sixteen newer nonces push n0 out; it is refused from then on, as is
    // any unused nonce issued no later than it.
    for i in 1..=16 {
        assert!(used(&d1, &format!("n{i}"), now + i, 1).await);
    }
    assert!(!used(&d1, "n0", now, 6).await, "forgotten");
    assert!(!used(&d1, "older", now, 1).await, "issued no later");
    assert!(used(&d1, "newer", now + 100, 1).await);
    assert!(
        used(&d2, "n0", now, 2).await,
        "the other device is unaffected"
    );
    assert!(
        store
            .use_digest_nonce(&dev("IMEI:9"), "n0", now, 1)
            .await
            .is_err(),
        "an unknown device"
    );
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("ms fit")
}

/// The trait's defaults (batch registration, session steps, compound
/// reads) keep the contract too (checked one request at a time: they are
/// not atomic).
#[tokio::test]
async fn the_trait_defaults_keep_the_store_contract() {
    dm_test_support::store::run(|retention| async move {
        Defaults(MemoryStore::new().with_retention(retention))
    })
    .await;
}
