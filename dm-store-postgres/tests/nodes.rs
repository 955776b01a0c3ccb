//! Two nodes on one PostgreSQL database racing for the same rows: every
//! step stays one atomic step across nodes.

use std::collections::HashSet;
use std::sync::Arc;

use dm_server::{
    CommandId, CommandState, DeviceRegistration, Error, SessionRecord, SessionToken, Store,
};
use dm_session::SessionState;
use dm_store_postgres::PostgresStore;
use dm_test_support::postgres::{TestDatabase, fresh_database};
use dm_types::{Command, DevId, Status, StatusCode};

/// Two stores (two nodes) on one fresh database, a device registered.
async fn two_nodes() -> Option<(TestDatabase, Arc<PostgresStore>, Arc<PostgresStore>, DevId)> {
    let db = fresh_database().await?;
    let a = Arc::new(db.store().await);
    let b = Arc::new(db.store().await);
    let dev_id = DevId::new("IMEI:490154203237518").expect("DevID");
    a.register_device(DeviceRegistration::new(dev_id.clone()), false, 0)
        .await
        .expect("registered");
    Some((db, a, b, dev_id))
}

/// The open sessions the race of `open_session` may reach.
const MAX_OPEN: usize = 3;

fn get(i: usize) -> Command {
    Command::from_words(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//N{i}")]).expect("GET")
}

fn token(i: usize) -> SessionToken {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    SessionToken::from_bytes(bytes)
}

fn node(i: usize, a: &Arc<PostgresStore>, b: &Arc<PostgresStore>) -> Arc<PostgresStore> {
    Arc::clone(if i.is_multiple_of(2) { a } else { b })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_on_two_nodes_take_each_command_once() {
    let Some((_db, a, b, dev_id)) = two_nodes().await else {
        return;
    };
    let mut queued = Vec::new();
    for i in 0..100 {
        queued.push(a.enqueue_command(&dev_id, get(i), 1).await.expect("queued"));
    }
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let store = node(i, &a, &b);
            let dev_id = dev_id.clone();
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let got = store
                        .claim_commands(&dev_id, token(i), 7, 2)
                        .await
                        .expect("claimed");
                    if got.is_empty() {
                        return claimed;
                    }
                    claimed.extend(got.into_iter().map(|(id, _)| id));
                }
            })
        })
        .collect();
    let mut all: Vec<CommandId> = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("joined"));
    }
    assert_eq!(all.len(), 100, "every command claimed once");
    let unique: HashSet<CommandId> = all.iter().copied().collect();
    assert_eq!(unique, queued.into_iter().collect::<HashSet<_>>());
    let records = b.commands(&dev_id).await.expect("read");
    assert!(records.iter().all(|r| r.state == CommandState::Sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_nodes_saving_the_same_version_one_wins() {
    let Some((_db, a, b, dev_id)) = two_nodes().await else {
        return;
    };
    let mut record = SessionRecord::new(token(0), 0, SessionState::new(dev_id.clone(), 0));
    record.state.deadline_ms = u64::MAX / 2;
    a.open_session(record.clone(), 10).await.expect("opened");
    for version in 0..20u64 {
        let mut next = record.clone();
        next.version = version + 1;
        let saves: Vec<_> = [&a, &b]
            .into_iter()
            .map(|store| {
                let store = Arc::clone(store);
                let next = next.clone();
                tokio::spawn(async move { store.save_session(next, version).await })
            })
            .collect();
        let mut won = 0;
        for save in saves {
            match save.await.expect("joined") {
                Ok(()) => won += 1,
                Err(Error::SessionVersion { .. }) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(won, 1, "exactly one save of version {version} wins");
    }
    let kept = b.session(token(0)).await.expect("read").expect("open");
    assert_eq!(kept.version, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_result_recorded_by_two_nodes_at_once_is_recorded_once() {
    let Some((_db, a, b, dev_id)) = two_nodes().await else {
        return;
    };
    let session = token(0);
    for i in 0..20 {
        a.enqueue_command(&dev_id, get(i), 1).await.expect("queued");
    }
    let claimed = a
        .claim_commands(&dev_id, session, 20, 2)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 20);
    let ok = Status::new(StatusCode::OK);
    let not_found = Status::new(StatusCode::NOT_FOUND);
    for (id, _) in &claimed {
        let records: Vec<_> = [(&a, ok.clone()), (&b, not_found.clone())]
            .into_iter()
            .map(|(store, status)| {
                let store = Arc::clone(store);
                let id = *id;
                tokio::spawn(async move { store.record_result(id, session, status, 3).await })
            })
            .collect();
        for record in records {
            record.await.expect("joined").expect("recorded or harmless");
        }
    }
    let records = b.commands(&dev_id).await.expect("read");
    assert_eq!(records.len(), 20, "each command listed once");
    for record in records {
        assert_eq!(record.state, CommandState::Done);
        let result = record.result.expect("a result");
        assert!(result == ok || result == not_found, "{result:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_opening_sessions_at_once_never_pass_max_open() {
    let Some((_db, a, b, dev_id)) = two_nodes().await else {
        return;
    };
    let opens: Vec<_> = (0..16)
        .map(|i| {
            let store = node(i, &a, &b);
            let mut record = SessionRecord::new(token(i), 0, SessionState::new(dev_id.clone(), 0));
            record.state.deadline_ms = u64::MAX / 2;
            tokio::spawn(async move { store.open_session(record, MAX_OPEN).await })
        })
        .collect();
    let mut opened = 0;
    for open in opens {
        match open.await.expect("joined") {
            Ok(()) => opened += 1,
            Err(Error::Busy { .. }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(opened, MAX_OPEN);
    assert_eq!(a.open_sessions().await.expect("count"), MAX_OPEN);
    assert_eq!(b.open_sessions().await.expect("count"), MAX_OPEN);
}

/// Two nodes registering two devices under one user name at once: one
/// wins, the other gets the typed conflict (409), never a store failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_registering_one_user_name_at_once_conflict_cleanly() {
    let Some((_db, a, b, _)) = two_nodes().await else {
        return;
    };
    for round in 0..20 {
        let racers: Vec<_> = (0..2)
            .map(|i| {
                let store = node(i, &a, &b);
                tokio::spawn(async move {
                    let dev_id = DevId::new(format!("IMEI:{round}{i}")).expect("DevID");
                    let registration = DeviceRegistration::new(dev_id).with_password(
                        &format!("user{round}"),
                        "pw",
                        "r",
                    );
                    store.register_device(registration, false, 0).await
                })
            })
            .collect();
        let mut won = 0;
        for racer in racers {
            match racer.await.expect("joined") {
                Ok(()) => won += 1,
                Err(Error::UsernameTaken { .. }) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
}
