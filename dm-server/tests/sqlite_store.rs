//! The SQLite store: the store contract on a fresh file per check, what a
//! reopened file keeps, and the file's permissions.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dm_server::sql::{Access, Backend, BoxFuture, Connection, Dialect, Row, Value, Work};
use dm_server::{
    CommandId, CommandState, DeviceRegistration, Error, ObjectOwner, RepositoryObject, Respond,
    SessionRecord, SessionStep, SessionSummary, SessionToken, SqlStore, SqliteBackend, SqliteStore,
    StepOutcome, StepPackage, Store,
};
use dm_session::{Initiator, SessionPhase, SessionState};
use dm_types::{Command, DevId};

/// How many SQLite migrations the server ships (the newest schema
/// version).
fn migrations() -> i64 {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/sql/migrations/sqlite"
    );
    let files = std::fs::read_dir(dir).expect("migrations").count();
    i64::try_from(files).expect("few")
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
        let content = dm_test_support::store::artifact_content(dm_server::ARTIFACT_CHUNK + 3);
        let artifact = dm_test_support::store::stored_artifact("fw", &content);
        store
            .put_artifact(artifact, Some(content))
            .await
            .expect("artifact stored");
        let group = dm_server::GroupRecord::new(
            dm_server::GroupId::new("g").expect("id"),
            dm_server::GroupFilter::default(),
        );
        store.put_group(group).await.expect("group stored");
        store
            .set_device_tags(&d1, [dm_server::Tag::new("t").expect("tag")].into())
            .await
            .expect("tagged");
        store
            .record_devinfo(&d1, [("Mod".to_owned(), "X1".to_owned())].into())
            .await
            .expect("recorded");
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
    let fw = dm_server::ArtifactId::new("fw").expect("id");
    let content = dm_test_support::store::artifact_content(dm_server::ARTIFACT_CHUNK + 3);
    assert_eq!(
        store
            .artifact_range(&fw, 0, dm_server::ARTIFACT_CHUNK as u64)
            .await
            .expect("read")
            .as_deref(),
        content.get(..dm_server::ARTIFACT_CHUNK),
        "artifact content survives"
    );
    assert_eq!(store.groups().await.expect("groups").len(), 1);
    assert_eq!(device.tags.len(), 1);
    assert_eq!(device.devinfo.get("Mod").map(String::as_str), Some("X1"));
    assert!(
        !store.use_digest_nonce(&d1, "n", 1, 1).await.expect("used"),
        "nonce counts survive a restart"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Campaigns, their rows and leases survive closing and reopening the
/// file.
#[tokio::test]
async fn a_reopened_file_keeps_its_campaigns() {
    let dir = scratch("reopen-campaigns");
    let path = dir.join("dm.sqlite");
    let store = SqliteStore::open_file(&path).await.expect("created");
    dm_test_support::store::campaigns_survive_reopening(store, |store| {
        drop(store);
        async { SqliteStore::open_file(&path).await.expect("reopened") }
    })
    .await;
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
    // Every migration this program ships, none newer.
    assert!(matches!(
        SqliteStore::open(backend.clone()).await,
        Err(Error::SchemaTooNew {
            found: 99,
            supported: 1..99
        })
    ));
    let get: Work<Vec<Row>> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move { c.query("SELECT version FROM dm_schema", &[]).await })
    });
    let rows = backend.transaction(Access::Read, get).await.expect("read");
    assert_eq!(rows, [Row(vec![Value::Integer(99)])], "left as it was");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file of schema version 1 (before PSK credentials) is migrated to
/// version 2 on opening: its devices are kept, without PSK, and PSK
/// credentials can be registered.
#[tokio::test]
async fn a_version_1_file_is_migrated_and_keeps_its_devices() {
    let dir = scratch("migrate-psk");
    let path = dir.join("dm.sqlite");
    let backend = SqliteBackend::open(&path).expect("opened");
    let version_1: Work<()> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move {
            c.batch(include_str!(
                "../src/store/sql/migrations/sqlite/0001_init.sql"
            ))
            .await?;
            c.batch(
                "CREATE TABLE dm_schema (version BIGINT NOT NULL); \
                 INSERT INTO dm_schema (version) VALUES (1); \
                 INSERT INTO devices (dev_id, registered_ms, username) \
                 VALUES ('IMEI:1', 7, 'device-1');",
            )
            .await
        })
    });
    backend
        .transaction(Access::Write, version_1)
        .await
        .expect("a version 1 file");
    let store = SqliteStore::open(backend.clone()).await.expect("migrated");
    let kept = store
        .device(&DevId::new("IMEI:1").expect("DevID"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.registered_ms, 7);
    assert!(kept.psk.is_none());
    let psk = dm_server::PskCredentials::from_hex("device-2", "00112233445566778899aabbccddeeff")
        .expect("credentials");
    store
        .register_device(
            DeviceRegistration::new(DevId::new("IMEI:2").expect("DevID")).with_psk(psk.clone()),
            false,
            8,
        )
        .await
        .expect("registered");
    let (owner, found) = store
        .psk_by_identity(&psk.identity)
        .await
        .expect("read")
        .expect("found");
    assert_eq!((owner.as_str(), found), ("IMEI:2", psk));
    let get: Work<Vec<Row>> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move { c.query("SELECT version FROM dm_schema", &[]).await })
    });
    let rows = backend.transaction(Access::Read, get).await.expect("read");
    // Migrated to the newest version (PSK credentials, the bootstrap
    // role's tables, then what came after): one per migration shipped.
    assert_eq!(rows, [Row(vec![Value::Integer(migrations())])]);
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

/// SQLite that runs every write transaction twice, as a database does
/// after a serialization failure: the first run is rolled back, the second
/// commits.
struct Retrying(SqliteBackend);

/// The error that rolls the first run back.
fn rolled_back() -> Error {
    Error::Store {
        operation: "a first run".into(),
        problem: "rolled back to run again".into(),
    }
}

impl Backend for Retrying {
    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }

    async fn transaction<T: Send + 'static>(
        &self,
        access: Access,
        work: Work<T>,
    ) -> Result<T, Error> {
        if access == Access::Read {
            return self.0.transaction(access, work).await;
        }
        let work = Arc::new(Mutex::new(work));
        let run = |then_fail: bool| -> Work<T> {
            let work = work.clone();
            Box::new(
                move |c: &mut dyn Connection| -> BoxFuture<'_, Result<T, Error>> {
                    let future = (*work.lock().unwrap_or_else(PoisonError::into_inner))(c);
                    Box::pin(async move {
                        let value = future.await?;
                        if then_fail {
                            Err(rolled_back())
                        } else {
                            Ok(value)
                        }
                    })
                },
            )
        };
        match self.0.transaction(access, run(true)).await {
            Err(Error::Store { problem, .. }) if problem == "rolled back to run again" => {}
            Err(other) => return Err(other),
            Ok(_) => unreachable!("the first run always fails"),
        }
        self.0.transaction(access, run(false)).await
    }
}

async fn retrying_store(path: &std::path::Path) -> SqlStore<Retrying> {
    let backend = SqliteBackend::open(path).expect("opened");
    SqlStore::open(Retrying(backend)).await.expect("migrated")
}

/// Every write runs twice, the first rolled back: the contract holds (the
/// step's Package#2 closure among the rest is run again safely).
#[tokio::test]
async fn the_store_contract_holds_when_every_write_runs_again() {
    let dir = scratch("retrying");
    let n = AtomicUsize::new(0);
    dm_test_support::store::run(|retention| {
        let path = dir.join(format!(
            "check-{}.sqlite",
            n.fetch_add(1, Ordering::Relaxed)
        ));
        async move { retrying_store(&path).await.with_retention(retention) }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A retried step calls its Package#2 closure again with the same claimed
/// commands, and what the second run returns is saved, once.
#[tokio::test]
async fn a_retried_step_builds_its_package2_again_from_the_same_claim() {
    let dir = scratch("retried-step");
    let store = retrying_store(&dir.join("dm.sqlite")).await;
    let d1 = DevId::new("IMEI:1").expect("dev id");
    store
        .register_device(DeviceRegistration::new(d1.clone()), false, 0)
        .await
        .expect("registered");
    let command =
        Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]).expect("command");
    let id = store
        .enqueue_command(&d1, command, 1)
        .await
        .expect("queued");
    let token = SessionToken::from_bytes([3; 16]);
    let state = SessionState::new(d1.clone(), 1_000);
    let opening = StepPackage::Package1 {
        summary: SessionSummary::new(token, Initiator::Client, 2),
        mos: None,
        max_open: 10,
    };
    let mut step = SessionStep::new(SessionRecord::new(token, 2, state.clone()), opening, 2);
    step.claim = 5;
    let calls: Arc<Mutex<Vec<Vec<CommandId>>>> = Arc::default();
    let seen = calls.clone();
    let respond: Respond = Box::new(move |claimed| {
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.push(claimed.iter().map(|(id, _)| *id).collect());
        let mut next = state.clone();
        next.packages_sent = seen.len();
        next.phase = SessionPhase::AwaitingStatuses {
            sent: claimed.into_iter().map(|(id, c)| (Some(id), c)).collect(),
        };
        Ok(next)
    });
    let outcome = store.step_session(step, respond).await.expect("stepped");
    assert_eq!(outcome, StepOutcome::Saved { version: 1 });
    assert_eq!(
        *calls.lock().unwrap_or_else(PoisonError::into_inner),
        vec![vec![id], vec![id]],
        "run twice, each with the same claim"
    );
    let saved = store.session(token).await.expect("read").expect("open");
    assert_eq!(saved.state.packages_sent, 2, "the second run's state");
    assert_eq!(store.open_sessions().await.expect("count"), 1);
    let command = store.command(id).await.expect("read").expect("kept");
    assert_eq!(
        (command.state, command.session),
        (CommandState::Sent, Some(token))
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
