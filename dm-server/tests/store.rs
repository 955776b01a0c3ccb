//! MemoryStore: persistence round trip, atomic claims, idempotent results,
//! session versions, retention, ownership.

use dm_test_support::server as common;

use common::{dev, get};
use dm_server::{
    AlertRecord, CommandId, CommandRecord, DeviceRegistration, Error, MemoryStore, ObjectOwner,
    RepositoryObject, Retention, SessionEnd, SessionOutcome, SessionRecord, SessionSummary,
    SessionToken, Store,
};
use dm_session::{Initiator, SessionPhase, SessionState};
use dm_types::{Alert, DevId, Moid, MosEntry, Status, StatusCode};

/// A store file `name` in a temporary directory, removed first, and the
/// empty store opened on it.
fn new_store_file(name: &str) -> (std::path::PathBuf, MemoryStore) {
    let dir = std::env::temp_dir().join(format!("dm-server-store-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("store.json");
    let _ = std::fs::remove_file(&path);
    let store = MemoryStore::open(&path).expect("new store");
    (path, store)
}

/// Registers `dev_id` without credentials at `now_ms`.
async fn register(store: &MemoryStore, dev_id: &DevId, now_ms: u64) {
    store
        .register_device(DeviceRegistration::new(dev_id.clone()), false, now_ms)
        .await
        .expect("registered");
}

/// The command `id`, which the store must still keep.
async fn kept_command(store: &MemoryStore, id: CommandId) -> CommandRecord {
    store.command(id).await.expect("read").expect("kept")
}

/// Whether a device has the user name `username`.
async fn has_user(store: &MemoryStore, username: &str) -> bool {
    let credentials = store.credentials_by_username(username).await;
    credentials.expect("read").is_some()
}

#[tokio::test]
async fn persistence_round_trip() {
    let (path, store) = new_store_file("round-trip");
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    store
        .register_device(
            DeviceRegistration::new(d1.clone())
                .with_password("u1", "p1", "r")
                .with_certificate_sha256([7; 32])
                .with_notification_secret(vec![1, 2], vec![3])
                .with_notification_address("udp://127.0.0.1:9"),
            false,
            10,
        )
        .await
        .expect("registered");
    register(&store, &d2, 11).await;
    let key = store.server_key().await.expect("key");
    assert_eq!(store.next_notification_id(&d1).await.expect("id"), 1);
    let done = store
        .enqueue_command(&d1, get("Man"), 20)
        .await
        .expect("queued");
    let sent = store
        .enqueue_command(&d1, get("Mod"), 21)
        .await
        .expect("queued");
    let queued = store
        .enqueue_command(&d1, get("Lang"), 22)
        .await
        .expect("queued");
    let token = SessionToken::from_bytes([9; 16]);
    let mos = vec![MosEntry {
        ddf: None,
        moid: Moid::new("urn:oma:mo:oma-dm-devinfo:1.0").expect("moid"),
        miids: vec![dm_types::Miid::new("devinfo").expect("miid")],
    }];
    store
        .begin_session(
            &d1,
            SessionSummary::new(token, Initiator::Server(Some(4)), 30),
            Some(mos),
            30,
        )
        .await
        .expect("begun");
    let claimed = store
        .claim_commands(&d1, token, 2, 31)
        .await
        .expect("claimed");
    assert_eq!(
        claimed.iter().map(|c| c.0).collect::<Vec<_>>(),
        [done, sent]
    );
    let mut status = Status::new(StatusCode::OK);
    status.uris.push(
        "urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Man"
            .parse()
            .expect("uri"),
    );
    store
        .record_result(done, token, status.clone(), 32)
        .await
        .expect("recorded");
    let mut record = SessionRecord::new(token, 30, SessionState::new(d1.clone(), 30));
    record.state.deadline_ms = 1_000;
    record.state.cont_sent = true;
    record.state.packages_sent = 1;
    record.state.phase = SessionPhase::AwaitingStatuses {
        sent: vec![(Some(sent), get("Mod"))],
    };
    store
        .open_session(record.clone(), usize::MAX)
        .await
        .expect("saved");
    let alert = Alert::exec_complete(&"urn:x:y//Reboot".parse().expect("uri"), StatusCode::OK);
    store
        .record_alerts(&d1, vec![AlertRecord::new(alert.clone(), Some(token), 33)])
        .await
        .expect("alerts");
    store
        .put_object(
            "uploads/1",
            RepositoryObject::new(
                r#"[{"ClientURI":"urn:x:y//","MOData":{"A":1}}]"#.into(),
                ObjectOwner::Device(d1.clone()),
                34,
            ),
        )
        .await
        .expect("stored");
    store.flush().await.expect("written");

    let reopened = MemoryStore::open(&path).expect("read back");
    assert_eq!(
        reopened.device(&d1).await.expect("read"),
        store.device(&d1).await.expect("read")
    );
    assert_eq!(
        reopened.device(&d2).await.expect("read"),
        store.device(&d2).await.expect("read")
    );
    assert_eq!(
        reopened.commands(&d1).await.expect("read"),
        store.commands(&d1).await.expect("read")
    );
    assert_eq!(reopened.session(token).await.expect("read"), Some(record));
    assert_eq!(reopened.alerts(&d1).await.expect("read")[0].alert, alert);
    assert_eq!(
        reopened.object("uploads/1").await.expect("read"),
        store.object("uploads/1").await.expect("read")
    );
    assert_eq!(reopened.server_key().await.expect("key"), key);
    assert_eq!(reopened.next_notification_id(&d1).await.expect("id"), 2);
    assert_eq!(
        reopened
            .credentials_by_username("u1")
            .await
            .expect("read")
            .map(|c| c.0),
        Some(d1.clone())
    );
    assert_eq!(
        reopened
            .device_by_certificate(&[7; 32])
            .await
            .expect("read"),
        Some(d1.clone())
    );
    let next = reopened
        .enqueue_command(&d2, get("Man"), 40)
        .await
        .expect("queued");
    assert!(next > queued, "ids keep increasing after a reload");
    let record = kept_command(&reopened, done).await;
    assert_eq!(record.result, Some(status));

    // A flush with nothing new leaves the file alone; a corrupt file is an
    // error, never an empty store.
    let before = std::fs::metadata(&path)
        .expect("file")
        .modified()
        .expect("time");
    store.flush().await.expect("nothing to write");
    assert_eq!(
        std::fs::metadata(&path)
            .expect("file")
            .modified()
            .expect("time"),
        before
    );
    std::fs::write(&path, b"{\"format\":1,").expect("corrupt");
    assert!(matches!(MemoryStore::open(&path), Err(Error::Store { .. })));
    std::fs::write(&path, br#"{"format":3,"key":null,"next_command":0,"devices":[],"commands":[],"sessions":[],"repository":[]}"#).expect("future format");
    assert!(MemoryStore::open(&path).is_err());
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

#[tokio::test]
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
    let (path, store) = new_store_file("nonce-counts");
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
    // Counts are not persisted: a reopened store refuses every nonce
    // issued before it was opened.
    store.flush().await.expect("written");
    // The reopened store's floor is the millisecond it is opened in: make
    // sure that is after `now`.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let reopened = MemoryStore::open(&path).expect("read back");
    assert!(
        !reopened
            .use_digest_nonce(&d2, "n0", now, 3)
            .await
            .expect("store")
    );
    assert!(
        !reopened
            .use_digest_nonce(&d2, "unused", now, 1)
            .await
            .expect("store")
    );
    let later = now_ms() + 1;
    assert!(
        reopened
            .use_digest_nonce(&d2, "fresh", later, 1)
            .await
            .expect("store")
    );
    let _ = std::fs::remove_file(&path);
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

/// A device's open sessions are all kept, oldest first, the newest being
/// `open_session`; ending one leaves the others; they survive a reload,
/// also from a file that names only `open_session` (written before
/// `open_sessions` existed): a device's open sessions are the sessions of
/// the file that are its own.
#[tokio::test]
async fn every_open_session_of_a_device_is_kept() {
    let (path, store) = new_store_file("open-sessions");
    let d1 = dev("IMEI:1");
    register(&store, &d1, 1).await;
    let tokens = [1u8, 2, 3].map(|b| SessionToken::from_bytes([b; 16]));
    for (i, token) in (0u64..).zip(tokens) {
        store
            .open_session(
                SessionRecord::new(token, 10 + i, SessionState::new(d1.clone(), 10 + i)),
                100,
            )
            .await
            .expect("opened");
    }
    let device = store.device(&d1).await.expect("read").expect("device");
    assert_eq!(device.open_sessions, tokens);
    assert_eq!(device.open_session, Some(tokens[2]));
    let end = SessionEnd::new(SessionOutcome::Completed, 1, 20);
    store
        .end_session(tokens[2], &d1, end.clone())
        .await
        .expect("ended");
    let device = store.device(&d1).await.expect("read").expect("device");
    assert_eq!(device.open_sessions, tokens[..2]);
    assert_eq!(
        device.open_session,
        Some(tokens[1]),
        "the newest still open"
    );
    store.flush().await.expect("written");
    let reopened = MemoryStore::open(&path).expect("read back");
    assert_eq!(
        reopened.device(&d1).await.expect("read"),
        Some(device.clone())
    );

    // The older format: `open_session` only.
    let text = std::fs::read_to_string(&path).expect("read the file");
    let mut file: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let record = &mut file["devices"][0]["record"];
    record
        .as_object_mut()
        .expect("a device record")
        .remove("open_sessions")
        .expect("written");
    std::fs::write(&path, file.to_string()).expect("written");
    let old = MemoryStore::open(&path).expect("read back");
    let device = old.device(&d1).await.expect("read").expect("device");
    assert_eq!(device.open_sessions, tokens[..2], "from the sessions kept");
    assert_eq!(device.open_session, Some(tokens[1]));
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

#[cfg(unix)]
#[tokio::test]
async fn the_store_file_is_owner_only_and_a_shared_one_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let (path, store) = new_store_file("modes");
    register(&store, &dev("IMEI:1"), 0).await;
    store.server_key().await.expect("the nonce key");
    store.flush().await.expect("written");
    // It holds H(A1) values and the nonce key: owner-only from creation.
    assert_eq!(mode(&path), 0o600);
    for shared in [0o644, 0o640, 0o604, 0o660, 0o606] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(shared)).expect("chmod");
        let err = MemoryStore::open(&path).unwrap_err();
        assert!(
            matches!(&err, Error::FilePermissions { path: p, mode } if *p == path && *mode == shared),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string())
                && message.contains(&format!("{shared:04o}"))
                && message.contains("chmod 600"),
            "{message}"
        );
    }
    // Told to, it opens; what it writes is owner-only again.
    let store = MemoryStore::open_allowing_shared_permissions(&path).expect("allowed");
    register(&store, &dev("IMEI:2"), 0).await;
    store.flush().await.expect("written");
    assert_eq!(mode(&path), 0o600);
    assert!(MemoryStore::open(&path).is_ok());
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

#[tokio::test]
async fn stale_temporary_files_of_the_store_file_are_removed_at_open() {
    let (path, store) = new_store_file("stale");
    register(&store, &dev("IMEI:1"), 0).await;
    store.flush().await.expect("written");
    drop(store);
    let dir = path.parent().expect("dir").to_owned();
    let stale = [
        ".store.json.4242-0.tmp",
        ".store.json.7-12.tmp",
        "store.json.tmp",
    ];
    let kept = [
        ".store.json.tmp",
        ".store.json.x-1.tmp",
        ".other.json.4242-0.tmp",
        "store.json.tmp.bak",
        ".store.json.1-2.3-4.tmp",
    ];
    for name in stale.iter().chain(&kept) {
        std::fs::write(dir.join(name), b"half a store").expect("planted");
    }
    let store = MemoryStore::open(&path).expect("opened");
    assert!(store.device(&dev("IMEI:1")).await.expect("read").is_some());
    for name in stale {
        assert!(!dir.join(name).exists(), "{name} removed");
    }
    for name in kept {
        assert!(dir.join(name).exists(), "{name} kept");
    }
    let _ = std::fs::remove_dir_all(dir);
}
