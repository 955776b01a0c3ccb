//! The SQLite store: the store contract on a fresh file per check, what a
//! reopened file keeps, and the file's permissions.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use dm_server::sql::{Access, Backend as _, BoxFuture, Connection, Row, Value, Work};
use dm_server::{
    CommandState, DeviceRegistration, Error, ObjectOwner, RepositoryObject, SessionRecord,
    SessionToken, SqliteBackend, SqliteStore, Store,
};
use dm_session::SessionState;
use dm_types::{Command, DevId};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_store_contract() {
    let dir = scratch("contract");
    let n = AtomicUsize::new(0);
    dm_test_support::store::run(|retention| {
        let path = dir.join(format!(
            "check-{}.sqlite",
            n.fetch_add(1, Ordering::Relaxed)
        ));
        async move {
            SqliteStore::open_file(&path)
                .await
                .expect("opened")
                .with_retention(retention)
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reopened_file_keeps_everything() {
    let dir = scratch("reopen");
    let path = dir.join("dm.sqlite");
    let d1 = DevId::new("IMEI:1").expect("dev id");
    let token = SessionToken::from_bytes([5; 16]);
    let (id, key) = {
        let store = SqliteStore::open_file(&path).await.expect("created");
        store
            .register_device(
                DeviceRegistration::new(d1.clone()).with_password("u", "p", "r"),
                false,
                7,
            )
            .await
            .expect("registered");
        let command =
            Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]).expect("command");
        let id = store
            .enqueue_command(&d1, command, 8)
            .await
            .expect("queued");
        store
            .open_session(
                SessionRecord::new(token, 9, SessionState::new(d1.clone(), 9)),
                10,
            )
            .await
            .expect("open");
        store
            .claim_commands(&d1, token, 1, 10)
            .await
            .expect("claimed");
        store
            .put_object(
                "o",
                RepositoryObject::new("[]".into(), ObjectOwner::Device(d1.clone()), 11),
            )
            .await
            .expect("stored");
        assert!(store.use_digest_nonce(&d1, "n", 1, 1).await.expect("used"));
        let key = store.server_key().await.expect("key");
        assert!(store.transactions() > 7);
        (id, key)
    };
    let store = SqliteStore::open_file(&path).await.expect("reopened");
    let device = store.device(&d1).await.expect("read").expect("kept");
    assert_eq!(device.registered_ms, 7);
    assert_eq!(device.open_sessions, [token]);
    assert!(
        store
            .credentials_by_username("u")
            .await
            .expect("read")
            .is_some()
    );
    let command = store.command(id).await.expect("read").expect("kept");
    assert_eq!(
        (command.state, command.session),
        (CommandState::Sent, Some(token))
    );
    assert_eq!(
        store
            .session(token)
            .await
            .expect("read")
            .expect("kept")
            .started_ms,
        9
    );
    assert_eq!(store.open_sessions().await.expect("count"), 1);
    assert!(store.object("o").await.expect("read").is_some());
    assert_eq!(store.server_key().await.expect("key"), key, "created once");
    assert!(
        !store.use_digest_nonce(&d1, "n", 1, 1).await.expect("used"),
        "nonce counts survive a restart"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_is_owner_only_and_a_shared_one_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = scratch("permissions");
    let path = dir.join("dm.sqlite");
    drop(SqliteStore::open_file(&path).await.expect("created"));
    let mode = std::fs::metadata(&path).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(matches!(
        SqliteStore::open_file(&path).await,
        Err(Error::FilePermissions { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_schema_newer_than_the_program_is_refused_and_left_alone() {
    let dir = scratch("schema");
    let path = dir.join("dm.sqlite");
    drop(SqliteStore::open_file(&path).await.expect("created"));
    let backend = SqliteBackend::open(&path).expect("opened");
    let set: Work<u64> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move { c.execute("UPDATE dm_schema SET version = 99", &[]).await })
    });
    assert_eq!(
        backend.transaction(Access::Write, set).await.expect("set"),
        1
    );
    assert!(matches!(
        SqliteStore::open(backend.clone()).await,
        Err(Error::SchemaTooNew {
            found: 99,
            supported: 1
        })
    ));
    let get: Work<Vec<Row>> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move { c.query("SELECT version FROM dm_schema", &[]).await })
    });
    let rows = backend.transaction(Access::Read, get).await.expect("read");
    assert_eq!(rows, [Row(vec![Value::Integer(99)])], "left as it was");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_failed_transaction_is_rolled_back_and_a_waiting_one_is_an_error() {
    let dir = scratch("rollback");
    let store = SqliteStore::open_file(dir.join("dm.sqlite"))
        .await
        .expect("created");
    let failing: Work<()> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move {
            c.execute(
                "INSERT INTO secrets (name, value) VALUES ('x', ?)",
                &[Value::Blob(vec![1])],
            )
            .await?;
            Err(Error::InvalidCommandId("on purpose".into()))
        })
    });
    assert!(matches!(
        store.backend().transaction(Access::Write, failing).await,
        Err(Error::InvalidCommandId(_))
    ));
    let read: Work<Vec<Row>> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move {
            c.query("SELECT value FROM secrets WHERE name = 'x'", &[])
                .await
        })
    });
    let rows = store.backend().transaction(Access::Read, read).await;
    assert_eq!(rows.expect("read"), [], "rolled back");
    let waiting: Work<()> =
        Box::new(|_: &mut dyn Connection| -> BoxFuture<'_, _> { Box::pin(std::future::pending()) });
    assert!(matches!(
        store.backend().transaction(Access::Write, waiting).await,
        Err(Error::Store { .. })
    ));
    // The writer is usable afterwards.
    let key = store.server_key().await.expect("key");
    assert_eq!(store.server_key().await.expect("key"), key);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_directory_is_not_a_database() {
    let dir = scratch("unavailable");
    let result = SqliteStore::open_file(&dir).await;
    assert!(result.is_err(), "a directory cannot be opened");
    let _ = std::fs::remove_dir_all(&dir);
}
