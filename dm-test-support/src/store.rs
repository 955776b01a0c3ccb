//! A conformance suite for [`Store`] implementations: the contract every
//! store keeps, whatever its backend. Each check takes a fresh, empty store;
//! [`run`] runs them all with stores from a factory.
//!
//! ```no_run
//! # async fn example() {
//! use dm_server::MemoryStore;
//!
//! dm_test_support::store::run(|retention| async move {
//!     MemoryStore::new().with_retention(retention)
//! })
//! .await;
//! # }
//! ```

#![allow(
    clippy::missing_panics_doc,
    reason = "a check panics, as a test does, when the store breaks the contract"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use std::sync::Arc;

mod api_keys;
mod campaigns;
mod events;
mod listing;
pub use api_keys::api_keys_are_kept_revoked_once_and_listed_in_id_order;
pub use campaigns::{
    CampaignFigures, artifacts_and_groups_in_use_are_kept, campaign_figures,
    campaign_leases_are_exclusive_until_they_expire, campaign_rows_change_by_compare_and_set,
    campaign_updates_expect_their_version, campaigns_created_at_once_never_share_a_device,
    campaigns_survive_reopening, campaigns_take_each_device_once_and_count_their_rows,
    due_and_stale_campaign_rows_are_found_in_order, skipping_takes_the_rows_not_yet_started,
};
pub use events::{
    concurrent_appends_never_commit_an_id_late, events_are_pruned_by_count_and_age,
    events_get_increasing_ids_and_are_read_by_filter,
    webhook_leases_are_exclusive_and_cursors_move_forward,
};
pub use listing::{
    devices_are_listed_by_prefix_and_cursor_each_once, seeded_devices_page_through_in_order,
};
use std::sync::atomic::{AtomicUsize, Ordering};

use dm_server::{
    ARTIFACT_CHUNK, AlertRecord, ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource,
    CommandId, CommandRecord, CommandState, CommandStatus, DeviceQuery, DeviceRegistration, Error,
    GroupFilter, GroupId, GroupRecord, ObjectOwner, PskCredentials, PskIdentity, RepositoryObject,
    Respond, Retention, SessionEnd, SessionOutcome, SessionRecord, SessionStep, SessionSummary,
    SessionToken, StepOutcome, StepPackage, Store, Tag,
};
use dm_session::{CachedInstance, Initiator, SessionPhase, SessionState};
use dm_types::{
    Alert, AlertType, CacheValidator, Command, DevId, Miid, MoItem, Moid, MosEntry, Status,
    StatusCode,
};

/// Runs every check of the suite, each on a store `new_store` makes (it
/// must be empty) with the [`Retention`] the check needs.
pub async fn run<S, F, Fut>(new_store: F)
where
    S: Store,
    F: Fn(Retention) -> Fut,
    Fut: Future<Output = S>,
{
    let default = Retention::default;
    claims_results_and_sessions_are_atomic_and_idempotent(new_store(default()).await).await;
    released_commands_return_to_their_place_and_an_ended_summary_says_cont(
        new_store(default()).await,
    )
    .await;
    command_ids_are_never_reused(new_store(default()).await).await;
    queued_commands_are_counted_until_claimed(new_store(default()).await).await;
    registrations_conflict_and_repository_objects_keep_their_owner(new_store(default()).await)
        .await;
    batch_registrations_are_all_or_nothing(new_store(default()).await).await;
    every_open_session_of_a_device_is_kept_newest_last(new_store(default()).await).await;
    digest_nonce_counts_are_used_once_per_device(new_store(default()).await).await;
    repository_budgets_refuse_a_write_and_change_nothing(new_store(REPOSITORY_RETENTION()).await)
        .await;
    alerts_are_kept_within_their_count_oldest_forgotten(new_store(default().with_alerts(3)).await)
        .await;
    let one = alert(0, None).encoded_len();
    alerts_are_kept_within_their_bytes_and_oversized_data_dropped(
        new_store(
            default()
                .with_alert_bytes(one * 2 + one / 2)
                .with_alert_data_bytes(one * 4),
        )
        .await,
        one,
    )
    .await;
    finished_commands_and_session_summaries_are_kept_within_the_retention(
        new_store(
            default()
                .with_finished_commands(2)
                .with_sessions(2)
                .with_mos_entries(2),
        )
        .await,
    )
    .await;
    expiry_ends_only_expired_sessions_and_fails_their_sent_commands(new_store(default()).await)
        .await;
    removing_a_device_removes_everything_of_it(new_store(default()).await).await;
    concurrent_claims_and_opens_never_overlap(new_store(default()).await).await;
    let one = instance("1", "v").item_len();
    cached_instances_are_kept_within_their_count_and_bytes(
        new_store(default().with_cached_instances(2).with_cache_bytes(one * 3)).await,
        one,
    )
    .await;
    session_steps_open_continue_and_end_sessions_all_or_nothing(new_store(default()).await).await;
    credentials_are_read_with_the_session(new_store(default()).await).await;
    psk_identities_name_one_device_and_go_with_it(new_store(default()).await).await;
    bootstrap_profiles_and_devices_are_kept(new_store(default()).await).await;
    bootstrap_sessions_serve_their_data_once_and_record_outcomes(new_store(default()).await).await;
    campaigns_take_each_device_once_and_count_their_rows(new_store(default()).await).await;
    campaigns_created_at_once_never_share_a_device(new_store(default()).await).await;
    campaign_updates_expect_their_version(new_store(default()).await).await;
    campaign_rows_change_by_compare_and_set(new_store(default()).await).await;
    due_and_stale_campaign_rows_are_found_in_order(new_store(default()).await).await;
    skipping_takes_the_rows_not_yet_started(new_store(default()).await).await;
    campaign_leases_are_exclusive_until_they_expire(new_store(default()).await).await;
    artifacts_keep_their_content_in_chunks_and_read_ranges(new_store(default()).await).await;
    groups_tags_and_devinfo_are_kept(new_store(default()).await).await;
    artifacts_and_groups_in_use_are_kept(new_store(default()).await).await;
    devices_are_listed_by_prefix_and_cursor_each_once(new_store(default()).await).await;
    seeded_devices_page_through_in_order(new_store(default()).await).await;
    api_keys_are_kept_revoked_once_and_listed_in_id_order(new_store(default()).await).await;
    events_get_increasing_ids_and_are_read_by_filter(new_store(default()).await).await;
    events_are_pruned_by_count_and_age(new_store(default()).await).await;
    concurrent_appends_never_commit_an_id_late(new_store(default()).await).await;
    webhook_leases_are_exclusive_and_cursors_move_forward(new_store(default()).await).await;
}

/// The retention of [`repository_budgets_refuse_a_write_and_change_nothing`]:
/// 2 objects, 10 bytes per device.
#[allow(non_snake_case, reason = "a constant that cannot be const")]
fn REPOSITORY_RETENTION() -> Retention {
    Retention::default()
        .with_objects_per_device(2)
        .with_repository_bytes(10)
}

fn dev(id: &str) -> DevId {
    DevId::new(id).expect("valid DevID")
}

fn get(node: &str) -> Command {
    Command::from_words(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//{node}")])
        .expect("valid GET")
}

/// Registers `dev_id` without credentials at `now_ms`.
async fn register<S: Store>(store: &S, dev_id: &DevId, now_ms: u64) {
    store
        .register_device(DeviceRegistration::new(dev_id.clone()), false, now_ms)
        .await
        .expect("registered");
}

/// The command `id`, which the store must still keep.
async fn kept_command<S: Store>(store: &S, id: CommandId) -> CommandRecord {
    store.command(id).await.expect("read").expect("kept")
}

/// A device registers once (unless replaced), a user name belongs to one
/// device, and a repository object may be replaced only by its owner or
/// the server.
pub async fn registrations_conflict_and_repository_objects_keep_their_owner<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    let with_user =
        |dev_id: &DevId| DeviceRegistration::new(dev_id.clone()).with_password("u", "p", "r");
    store
        .register_device(with_user(&d1), false, 0)
        .await
        .expect("registered");
    assert!(matches!(
        store.register_device(with_user(&d1), false, 1).await,
        Err(Error::DeviceExists(_))
    ));
    store
        .register_device(with_user(&d1), true, 1)
        .await
        .expect("replaced");
    assert!(matches!(
        store.register_device(with_user(&d2), false, 2).await,
        Err(Error::UsernameTaken { .. })
    ));
    assert!(store.device(&d2).await.expect("read").is_none());
    register(&store, &d2, 2).await;

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
    let kept = store.object("p").await.expect("read").expect("kept");
    assert_eq!(kept.owner, ObjectOwner::Device(d1.clone()));
    assert!(
        !store
            .put_object("p", object(ObjectOwner::Server))
            .await
            .expect("the server may")
    );
    assert!(store.delete_object("p").await.expect("deleted"));
    assert!(!store.delete_object("p").await.expect("gone"));
}

/// A batch of registrations ([`Store::register_devices`]) is registered
/// whole, or not at all with the error registering it one device at a time
/// would have stopped at; a batch larger than a SQL statement's share (500)
/// included.
pub async fn batch_registrations_are_all_or_nothing<S: Store>(store: S) {
    let numbered = |n: usize| dev(&format!("IMEI:{}", 100_000 + n));
    let named = |n: usize| {
        DeviceRegistration::new(numbered(n)).with_password(&format!("user-{n}"), "p", "r")
    };
    let batch: Vec<_> = (0..1200).map(named).collect();
    store.register_devices(batch, 5).await.expect("registered");
    assert_eq!(store.device_count().await.expect("count"), 1200);
    let last = store
        .device(&numbered(1199))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(last.registered_ms, 5);
    assert_eq!(
        last.credentials.as_ref().map(|c| c.username.as_str()),
        Some("user-1199")
    );
    let (owner, _) = store
        .credentials_by_username("user-700")
        .await
        .expect("read")
        .expect("indexed");
    assert_eq!(owner, numbered(700));
    store
        .register_devices(Vec::new(), 6)
        .await
        .expect("nothing to do");

    // Each conflict, late in a large batch, refuses all of it.
    let certified = DeviceRegistration::new(dev("IMEI:9")).with_certificate_sha256([9; 32]);
    store
        .register_devices(vec![certified], 6)
        .await
        .expect("registered");
    let fresh = |n: usize| DeviceRegistration::new(numbered(n));
    let with = |last: DeviceRegistration| {
        let mut batch: Vec<_> = (2000..3100).map(fresh).collect();
        batch.push(last);
        batch
    };
    let taken_name = DeviceRegistration::new(dev("IMEI:8")).with_password("user-3", "p", "r");
    match store.register_devices(with(taken_name), 7).await {
        Err(Error::UsernameTaken { username, owner }) => {
            assert_eq!((username.as_str(), owner), ("user-3", numbered(3)));
        }
        other => panic!("a taken user name: {other:?}"),
    }
    let taken_certificate = DeviceRegistration::new(dev("IMEI:8")).with_certificate_sha256([9; 32]);
    assert!(matches!(
        store.register_devices(with(taken_certificate), 7).await,
        Err(Error::CertificateTaken { owner }) if owner == dev("IMEI:9")
    ));
    assert!(matches!(
        store.register_devices(with(fresh(1000)), 7).await,
        Err(Error::DeviceExists(d)) if d == numbered(1000)
    ));
    // Twice the same device inside the batch: its second registration.
    assert!(matches!(
        store.register_devices(with(fresh(2500)), 7).await,
        Err(Error::DeviceExists(d)) if d == numbered(2500)
    ));
    // The same user name twice inside the batch.
    let twice = |n: usize| DeviceRegistration::new(numbered(n)).with_password("twice", "p", "r");
    match store
        .register_devices(vec![twice(4000), twice(4001)], 7)
        .await
    {
        Err(Error::UsernameTaken { owner, .. }) => assert_eq!(owner, numbered(4000)),
        other => panic!("a user name twice: {other:?}"),
    }
    assert_eq!(store.device_count().await.expect("count"), 1201);
    for n in [2000, 3099, 4000] {
        assert!(store.device(&numbered(n)).await.expect("read").is_none());
    }
    assert!(store.device(&dev("IMEI:8")).await.expect("read").is_none());
    assert!(
        store
            .credentials_by_username("twice")
            .await
            .expect("read")
            .is_none()
    );
}

/// Command ids are never reused, not even those of a removed device.
pub async fn command_ids_are_never_reused<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    let first = futures_ids(&store, &d1, 2).await;
    assert!(first[0] < first[1], "ids grow in queue order");
    assert!(store.remove_device(&d1).await.expect("removed"));
    register(&store, &d1, 1).await;
    let again = futures_ids(&store, &d1, 1).await;
    assert!(
        again[0] > first[1],
        "a new command takes a new id: {again:?} after {first:?}"
    );
}

/// The queue depth counts the commands queued on every device, and no
/// longer those claimed by a session or of a removed device.
pub async fn queued_commands_are_counted_until_claimed<S: Store>(store: S) {
    let (d1, d2) = (dev("IMEI:1"), dev("IMEI:2"));
    register(&store, &d1, 0).await;
    register(&store, &d2, 0).await;
    assert_eq!(store.queued_command_count().await.expect("counted"), 0);
    futures_ids(&store, &d1, 3).await;
    futures_ids(&store, &d2, 2).await;
    assert_eq!(store.queued_command_count().await.expect("counted"), 5);
    let session = SessionToken::from_bytes([7; 16]);
    let claimed = store
        .claim_commands(&d1, session, 2, 1)
        .await
        .expect("claimed");
    assert_eq!(claimed.len(), 2);
    assert_eq!(store.queued_command_count().await.expect("counted"), 3);
    assert!(store.remove_device(&d2).await.expect("removed"));
    assert_eq!(store.queued_command_count().await.expect("counted"), 1);
}

/// Queued commands are claimed in queue order and once; a result is
/// recorded once, and only from the session that sent the command; a
/// session is saved only at the version expected; the open sessions are
/// counted and inserted in one step; expiry and ends fail what is still
/// sent; unknown devices are refused.
pub async fn claims_results_and_sessions_are_atomic_and_idempotent<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    let ids: Vec<CommandId> = futures_ids(&store, &d1, 3).await;
    let a = SessionToken::from_bytes([1; 16]);
    let b = SessionToken::from_bytes([2; 16]);
    let first = store.claim_commands(&d1, a, 2, 1).await.expect("claimed");
    let second = store.claim_commands(&d1, b, 5, 1).await.expect("claimed");
    assert_eq!(first.iter().map(|c| c.0).collect::<Vec<_>>(), ids[..2]);
    assert_eq!(second.iter().map(|c| c.0).collect::<Vec<_>>(), ids[2..]);
    assert!(
        store
            .claim_commands(&d1, a, 5, 1)
            .await
            .expect("none left")
            .is_empty()
    );

    let ok = Status::new(StatusCode::OK);
    let not_found = Status::new(StatusCode::NOT_FOUND);
    store
        .record_result(ids[0], a, ok.clone(), 2)
        .await
        .expect("recorded");
    // Twice, or from the wrong session: no change.
    store
        .record_result(ids[0], a, not_found.clone(), 3)
        .await
        .expect("harmless");
    store
        .record_result(ids[1], b, not_found.clone(), 3)
        .await
        .expect("harmless");
    let record = kept_command(&store, ids[0]).await;
    assert_eq!(
        (record.state, record.result),
        (CommandState::Done, Some(ok))
    );
    assert_eq!(kept_command(&store, ids[1]).await.state, CommandState::Sent);

    // Versions.
    let mut record = SessionRecord::new(a, 0, SessionState::new(d1.clone(), 0));
    record.state.deadline_ms = 100;
    store.open_session(record.clone(), 1).await.expect("new");
    assert!(matches!(
        store.open_session(record.clone(), 2).await,
        Err(Error::SessionExists(_))
    ));
    // The limit is counted in the same step as the insertion.
    let mut third = SessionRecord::new(
        SessionToken::from_bytes([3; 16]),
        0,
        SessionState::new(d1.clone(), 0),
    );
    third.state.deadline_ms = 100;
    assert!(matches!(
        store.open_session(third.clone(), 1).await,
        Err(Error::Busy { .. })
    ));
    assert_eq!(store.open_sessions().await.expect("count"), 1);
    let mut next = record.clone();
    next.version = 1;
    next.state.cont_sent = true;
    store
        .save_session(next.clone(), 0)
        .await
        .expect("version 0 -> 1");
    assert!(matches!(
        store.save_session(next.clone(), 0).await,
        Err(Error::SessionVersion { .. })
    ));
    assert_eq!(
        store
            .device(&d1)
            .await
            .expect("read")
            .expect("device")
            .open_session,
        Some(a)
    );

    // Expiry fails what session `a` left unanswered, not `b`'s commands.
    assert!(
        store
            .expire_sessions(100)
            .await
            .expect("none yet")
            .is_empty()
    );
    let expired = store.expire_sessions(101).await.expect("expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(
        kept_command(&store, ids[1]).await.state,
        CommandState::Failed
    );
    assert_eq!(kept_command(&store, ids[2]).await.state, CommandState::Sent);
    assert_eq!(store.open_sessions().await.expect("count"), 0);
    assert!(matches!(
        store.save_session(next, 1).await,
        Err(Error::SessionNotFound(_))
    ));
    store
        .end_session(
            b,
            &d1,
            SessionEnd::new(SessionOutcome::Failed("test".into()), 1, 200),
        )
        .await
        .expect("ended");
    let failed = kept_command(&store, ids[2]).await;
    assert_eq!(failed.state, CommandState::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("failed: test"))
    );

    // Unknown devices.
    let ghost = dev("IMEI:404");
    assert!(matches!(
        store.enqueue_command(&ghost, get("Man"), 0).await,
        Err(Error::DeviceNotFound(_))
    ));
    assert!(matches!(
        store.commands(&ghost).await,
        Err(Error::DeviceNotFound(_))
    ));
}

/// Released commands go back to their place in the queue (others stay as
/// they are), and ending a session completes its summary (CONT included
/// from the saved state) and fails what is still sent.
pub async fn released_commands_return_to_their_place_and_an_ended_summary_says_cont<S: Store>(
    store: S,
) {
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    register(&store, &d1, 0).await;
    register(&store, &d2, 0).await;
    let ids = futures_ids(&store, &d1, 4).await;
    let a = SessionToken::from_bytes([1; 16]);
    let b = SessionToken::from_bytes([2; 16]);
    let mut record = SessionRecord::new(a, 0, SessionState::new(d1.clone(), 0));
    record.state.deadline_ms = 100;
    store
        .open_session(record.clone(), usize::MAX)
        .await
        .expect("open");
    store
        .begin_session(&d1, SessionSummary::new(a, Initiator::Client, 0), None, 0)
        .await
        .expect("begun");
    let claimed: Vec<CommandId> = store
        .claim_commands(&d1, a, 3, 1)
        .await
        .expect("claimed")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(claimed, ids[..3]);
    store
        .record_result(ids[0], a, Status::new(StatusCode::OK), 2)
        .await
        .expect("done");

    // A done command, a command of another session and one of another
    // device stay as they are; the others go back in queue order.
    let mut release = vec![ids[2], ids[0], ids[1]];
    let elsewhere = store
        .enqueue_command(&d2, get("Other"), 0)
        .await
        .expect("queued");
    store.claim_commands(&d2, b, 1, 1).await.expect("claimed");
    release.push(elsewhere);
    store
        .release_commands(&d1, a, release, 3)
        .await
        .expect("released");
    assert_eq!(kept_command(&store, ids[0]).await.state, CommandState::Done);
    for id in &ids[1..3] {
        let command = kept_command(&store, *id).await;
        assert_eq!(
            (command.state, command.session, command.updated_ms),
            (CommandState::Queued, None, 3)
        );
    }
    assert_eq!(
        kept_command(&store, elsewhere).await.state,
        CommandState::Sent
    );
    let again: Vec<CommandId> = store
        .claim_commands(&d1, a, 10, 4)
        .await
        .expect("claimed")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(again, ids[1..], "released commands keep their place");

    // Ending the session completes the summary, CONT included from the
    // record, and fails what is still sent.
    let mut next = record.clone();
    next.version = 1;
    next.state.cont_sent = true;
    next.state.packages_sent = 2;
    store.save_session(next, 0).await.expect("saved");
    store
        .end_session(a, &d1, SessionEnd::new(SessionOutcome::Completed, 2, 9))
        .await
        .expect("ended");
    let device = store.device(&d1).await.expect("read").expect("device");
    let summary = device.last_session().expect("summary");
    assert_eq!(
        (summary.cont_sent, summary.packages, summary.ended_ms),
        (true, 2, Some(9))
    );
    assert_eq!(device.open_session, None);
    for id in &ids[1..] {
        assert_eq!(kept_command(&store, *id).await.state, CommandState::Failed);
    }
}

async fn futures_ids<S: Store>(store: &S, dev_id: &DevId, n: usize) -> Vec<CommandId> {
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

/// A device's open sessions are all kept, oldest first, the newest being
/// its `open_session`; ending one leaves the others open.
pub async fn every_open_session_of_a_device_is_kept_newest_last<S: Store>(store: S) {
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
    assert_eq!(device.open_sessions, tokens, "oldest first");
    assert_eq!(device.open_session, Some(tokens[2]), "the newest");
    let end = SessionEnd::new(SessionOutcome::Completed, 1, 20);
    store.end_session(tokens[2], &d1, end).await.expect("ended");
    let device = store.device(&d1).await.expect("read").expect("device");
    assert_eq!(device.open_sessions, tokens[..2], "the others stay open");
    assert_eq!(
        device.open_session,
        Some(tokens[1]),
        "the newest still open"
    );
}

/// A Digest nonce count is accepted once per device and nonce, counts may
/// skip but never go back, devices do not share counts, and an unknown
/// device is an error (what a store forgets of old nonces is its own
/// choice, so it is not checked here).
pub async fn digest_nonce_counts_are_used_once_per_device<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    for d in [&d1, &d2] {
        register(&store, d, 1).await;
    }
    let now = 1_000_000;
    let used = |d: &DevId, nc: u32| {
        let store = &store;
        let d = d.clone();
        async move {
            store
                .use_digest_nonce(&d, "n0", now, nc)
                .await
                .expect("store")
        }
    };
    assert!(used(&d1, 1).await, "a first count");
    assert!(!used(&d1, 1).await, "the same count again");
    assert!(used(&d1, 5).await, "counts may skip");
    assert!(!used(&d1, 4).await, "but not go back");
    assert!(used(&d2, 1).await, "counts are per device");
    assert!(
        store
            .use_digest_nonce(&dev("IMEI:9"), "n0", now, 1)
            .await
            .is_err(),
        "an unknown device"
    );
}

/// A generic alert received at `received_ms`, with `data` as its `Data`.
fn alert(received_ms: u64, data: Option<&str>) -> AlertRecord {
    let mut alert = Alert::new(AlertType::new("urn:x:test").expect("type"));
    if let Some(data) = data {
        let mut object = dm_types::JsonObject::new();
        object.insert("payload".to_owned(), data.into());
        alert.data = Some(object);
    }
    AlertRecord::new(alert, None, received_ms)
}

/// A device's repository objects are bounded in number and bytes (the
/// object it replaces counting as free); a refused write changes nothing.
pub async fn repository_budgets_refuse_a_write_and_change_nothing<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    let mine = |body: &str| RepositoryObject::new(body.into(), ObjectOwner::Device(d1.clone()), 0);
    assert!(store.put_object("a", mine("12345")).await.expect("fits"));
    assert_eq!(
        store.repository_room(&d1, "b").await.expect("room"),
        Some(5)
    );
    assert_eq!(
        store.repository_room(&d1, "a").await.expect("room"),
        Some(10),
        "the object replaced counts as free"
    );
    assert!(matches!(
        store.put_object("b", mine("123456")).await,
        Err(Error::InsufficientStorage { .. })
    ));
    assert!(
        store.object("b").await.expect("read").is_none(),
        "nothing stored"
    );
    assert!(
        !store
            .put_object("a", mine("1234567890"))
            .await
            .expect("a replacement may use the room it frees")
    );
    assert!(matches!(
        store.put_object("a", mine("12345678901")).await,
        Err(Error::InsufficientStorage { .. })
    ));
    assert_eq!(
        store.object("a").await.expect("read").expect("kept").body,
        "1234567890",
        "the refused replacement changed nothing"
    );
    assert!(!store.put_object("a", mine("1")).await.expect("smaller"));
    assert!(store.put_object("b", mine("2")).await.expect("second"));
    assert!(matches!(
        store.put_object("c", mine("3")).await,
        Err(Error::TooManyObjects { .. })
    ));
    assert!(store.object("c").await.expect("read").is_none());
    assert!(store.delete_object("b").await.expect("deleted"));
    assert!(store.put_object("c", mine("3")).await.expect("room again"));
}

/// Beyond the retention's count, the oldest alerts are forgotten.
pub async fn alerts_are_kept_within_their_count_oldest_forgotten<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    store
        .record_alerts(&d1, (1..=2).map(|t| alert(t, None)).collect())
        .await
        .expect("recorded");
    store
        .record_alerts(&d1, (3..=5).map(|t| alert(t, None)).collect())
        .await
        .expect("recorded");
    let kept: Vec<u64> = store
        .alerts(&d1)
        .await
        .expect("read")
        .iter()
        .map(|a| a.received_ms)
        .collect();
    assert_eq!(kept, [3, 4, 5], "the newest, oldest first");
    assert!(matches!(
        store
            .record_alerts(&dev("IMEI:9"), vec![alert(1, None)])
            .await,
        Err(Error::DeviceNotFound(_))
    ));
}

/// Beyond the retention's bytes, the oldest alerts are forgotten; an alert
/// larger than `alert_data_bytes` is kept without its `Data`. `one` is the
/// encoded size of an alert without `Data`.
pub async fn alerts_are_kept_within_their_bytes_and_oversized_data_dropped<S: Store>(
    store: S,
    one: usize,
) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    store
        .record_alerts(&d1, (1..=3).map(|t| alert(t, None)).collect())
        .await
        .expect("recorded");
    let kept: Vec<u64> = store
        .alerts(&d1)
        .await
        .expect("read")
        .iter()
        .map(|a| a.received_ms)
        .collect();
    assert_eq!(kept, [2, 3], "two fit in the bytes");
    let big = "x".repeat(one * 8);
    store
        .record_alerts(&d1, vec![alert(4, Some(&big))])
        .await
        .expect("recorded");
    let alerts = store.alerts(&d1).await.expect("read");
    let last = alerts.last().expect("kept");
    assert_eq!(last.received_ms, 4);
    let data = last.alert.data.as_ref().expect("a marker");
    assert!(data.get("truncated").is_some(), "{data:?}");
    assert!(data.get("payload").is_none());
}

/// Finished commands beyond the retention are forgotten (oldest first),
/// the device keeps its latest session summaries (latest first) and the
/// first entries of its MO inventory.
pub async fn finished_commands_and_session_summaries_are_kept_within_the_retention<S: Store>(
    store: S,
) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    let ids = futures_ids(&store, &d1, 4).await;
    let a = SessionToken::from_bytes([1; 16]);
    store.claim_commands(&d1, a, 4, 1).await.expect("claimed");
    for id in &ids {
        store
            .record_result(*id, a, Status::new(StatusCode::OK), 2)
            .await
            .expect("done");
    }
    let kept: Vec<CommandId> = store
        .commands(&d1)
        .await
        .expect("read")
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(kept, ids[2..], "the two last finished");
    assert!(store.command(ids[0]).await.expect("read").is_none());

    let tokens = [1u8, 2, 3].map(|b| SessionToken::from_bytes([b; 16]));
    let entry = |name: &str| MosEntry {
        moid: Moid::new(format!("urn:oma:mo:x-{name}:1.0")).expect("moid"),
        miids: Vec::new(),
        ddf: None,
    };
    for (i, token) in (0u64..).zip(tokens) {
        store
            .begin_session(
                &d1,
                SessionSummary::new(token, Initiator::Client, i),
                Some(vec![entry("a"), entry("b"), entry("c")]),
                i,
            )
            .await
            .expect("begun");
    }
    let device = store.device(&d1).await.expect("read").expect("device");
    let summaries: Vec<SessionToken> = device.sessions.iter().map(|s| s.token).collect();
    assert_eq!(summaries, [tokens[2], tokens[1]], "latest first");
    let mos = device.mos.expect("inventory");
    assert_eq!(mos, [entry("a"), entry("b")], "its first entries");
}

/// Expiry ends the sessions past their deadline only, failing their `sent`
/// commands, and leaves the others open with theirs.
pub async fn expiry_ends_only_expired_sessions_and_fails_their_sent_commands<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    register(&store, &d1, 0).await;
    register(&store, &d2, 0).await;
    let a = SessionToken::from_bytes([1; 16]);
    let b = SessionToken::from_bytes([2; 16]);
    for (token, dev_id, deadline) in [(a, &d1, 100), (b, &d2, 1000)] {
        let mut record = SessionRecord::new(token, 0, SessionState::new(dev_id.clone(), 0));
        record.state.deadline_ms = deadline;
        store.open_session(record, 10).await.expect("open");
        store
            .begin_session(
                dev_id,
                SessionSummary::new(token, Initiator::Client, 0),
                None,
                0,
            )
            .await
            .expect("begun");
    }
    let one = futures_ids(&store, &d1, 1).await[0];
    let two = futures_ids(&store, &d2, 1).await[0];
    store.claim_commands(&d1, a, 1, 1).await.expect("claimed");
    store.claim_commands(&d2, b, 1, 1).await.expect("claimed");
    let expired = store.expire_sessions(500).await.expect("expired");
    assert_eq!(expired.iter().map(|s| s.token).collect::<Vec<_>>(), [a]);
    assert_eq!(kept_command(&store, one).await.state, CommandState::Failed);
    assert_eq!(kept_command(&store, two).await.state, CommandState::Sent);
    assert!(store.session(a).await.expect("read").is_none());
    assert!(store.session(b).await.expect("read").is_some());
    assert_eq!(store.open_sessions().await.expect("count"), 1);
    let device = store.device(&d1).await.expect("read").expect("device");
    let summary = device.last_session().expect("summary");
    assert_eq!(
        (summary.outcome.clone(), summary.ended_ms),
        (Some(SessionOutcome::Timeout), Some(500))
    );
    assert!(device.open_sessions.is_empty());
    assert_eq!(
        store
            .device(&d2)
            .await
            .expect("read")
            .expect("device")
            .open_sessions,
        [b]
    );
}

/// Removing a device removes its commands, alerts, sessions, objects and
/// credentials; its user name is free again.
pub async fn removing_a_device_removes_everything_of_it<S: Store>(store: S) {
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
    let id = futures_ids(&store, &d1, 1).await[0];
    store
        .record_alerts(&d1, vec![alert(1, None)])
        .await
        .expect("recorded");
    let a = SessionToken::from_bytes([1; 16]);
    store
        .open_session(
            SessionRecord::new(a, 0, SessionState::new(d1.clone(), 0)),
            10,
        )
        .await
        .expect("open");
    store
        .put_object(
            "o",
            RepositoryObject::new("[]".into(), ObjectOwner::Device(d1.clone()), 0),
        )
        .await
        .expect("stored");
    assert!(store.remove_device(&d1).await.expect("removed"));
    assert!(!store.remove_device(&d1).await.expect("gone"));
    assert!(store.device(&d1).await.expect("read").is_none());
    assert!(store.command(id).await.expect("read").is_none());
    assert!(store.session(a).await.expect("read").is_none());
    assert_eq!(store.open_sessions().await.expect("count"), 0);
    assert!(store.object("o").await.expect("read").is_none());
    assert!(
        store
            .credentials_by_username("u")
            .await
            .expect("read")
            .is_none()
    );
    store
        .register_device(
            DeviceRegistration::new(d2.clone()).with_password("u", "p", "r"),
            false,
            1,
        )
        .await
        .expect("the user name is free");
    register(&store, &d1, 2).await;
    assert!(store.alerts(&d1).await.expect("read").is_empty());
    assert!(store.commands(&d1).await.expect("read").is_empty());
}

/// PSK-TLS credentials `identity` with a key of 16 bytes `fill`.
fn psk(identity: &str, fill: u8) -> PskCredentials {
    PskCredentials::new(
        PskIdentity::new(identity).expect("identity"),
        vec![fill; 16],
    )
    .expect("credentials")
}

/// A PSK identity names one device ([`Store::psk_by_identity`] finds it
/// with its key; another device registering it, alone or in a batch, is
/// [`Error::PskIdentityTaken`]); replacing the registration replaces the
/// credentials, removing the device frees the identity.
pub async fn psk_identities_name_one_device_and_go_with_it<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    let d2 = dev("IMEI:2");
    let identity = |name: &str| PskIdentity::new(name).expect("identity");
    store
        .register_device(
            DeviceRegistration::new(d1.clone()).with_psk(psk("device-1", 1)),
            false,
            0,
        )
        .await
        .expect("registered");
    let (owner, found) = store
        .psk_by_identity(&identity("device-1"))
        .await
        .expect("read")
        .expect("registered");
    assert_eq!(owner, d1);
    assert_eq!(found.key(), [1; 16]);
    assert_eq!(found.identity, identity("device-1"));
    let record = store.device(&d1).await.expect("read").expect("kept");
    assert_eq!(
        record.psk.as_ref().map(PskCredentials::key),
        Some(&[1; 16][..])
    );
    assert!(
        store
            .psk_by_identity(&identity("device-2"))
            .await
            .expect("read")
            .is_none()
    );
    // Identities compare exactly (no case folding).
    assert!(
        store
            .psk_by_identity(&identity("DEVICE-1"))
            .await
            .expect("read")
            .is_none()
    );

    // Another device: refused (409), alone or in a batch, and not stored.
    let taken = || DeviceRegistration::new(d2.clone()).with_psk(psk("device-1", 2));
    match store.register_device(taken(), false, 1).await {
        Err(error @ Error::PskIdentityTaken { .. }) => {
            assert_eq!(error.status(), StatusCode::CONFLICT);
            assert!(matches!(error, Error::PskIdentityTaken { owner, .. } if owner == d1));
        }
        other => panic!("a taken PSK identity: {other:?}"),
    }
    assert!(matches!(
        store.register_devices(vec![taken()], 1).await,
        Err(Error::PskIdentityTaken { owner, .. }) if owner == d1
    ));
    assert!(store.device(&d2).await.expect("read").is_none());
    let twice = |n: &str| DeviceRegistration::new(dev(n)).with_psk(psk("twice", 3));
    assert!(matches!(
        store.register_devices(vec![twice("IMEI:3"), twice("IMEI:4")], 1).await,
        Err(Error::PskIdentityTaken { owner, .. }) if owner == dev("IMEI:3")
    ));
    assert!(
        store
            .psk_by_identity(&identity("twice"))
            .await
            .expect("read")
            .is_none()
    );
    // A batch registers PSK credentials like a single registration.
    store
        .register_devices(
            vec![DeviceRegistration::new(d2.clone()).with_psk(psk("device-2", 4))],
            1,
        )
        .await
        .expect("registered");
    let (owner, found) = store
        .psk_by_identity(&identity("device-2"))
        .await
        .expect("read")
        .expect("registered");
    assert_eq!((owner, found.key()), (d2.clone(), &[4; 16][..]));

    // Replacing: new credentials, the old identity is free.
    store
        .register_device(
            DeviceRegistration::new(d1.clone()).with_psk(psk("device-1b", 5)),
            true,
            2,
        )
        .await
        .expect("replaced");
    assert!(
        store
            .psk_by_identity(&identity("device-1"))
            .await
            .expect("read")
            .is_none()
    );
    let (_, found) = store
        .psk_by_identity(&identity("device-1b"))
        .await
        .expect("read")
        .expect("replaced");
    assert_eq!(found.key(), [5; 16]);
    // Replacing without PSK credentials drops them.
    store
        .register_device(DeviceRegistration::new(d1.clone()), true, 3)
        .await
        .expect("replaced");
    assert!(
        store
            .psk_by_identity(&identity("device-1b"))
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .device(&d1)
            .await
            .expect("read")
            .expect("kept")
            .psk
            .is_none()
    );

    // Removing the device frees its identity.
    assert!(store.remove_device(&d2).await.expect("removed"));
    assert!(
        store
            .psk_by_identity(&identity("device-2"))
            .await
            .expect("read")
            .is_none()
    );
    store
        .register_device(
            DeviceRegistration::new(d1.clone()).with_psk(psk("device-2", 6)),
            true,
            4,
        )
        .await
        .expect("the identity is free");
}

/// An instance root of a test MO, MIID `miid`, holding `value`.
fn instance(miid: &str, value: &str) -> CachedInstance {
    let moid = "urn:oma:mo:x-test:1.0";
    let json = format!(
        r#"[{{"ClientURI":"{moid}/{miid}/","CV":"cv","MOData":{{"R":{{"v":"{value}"}}}}}}]"#
    );
    let item: MoItem =
        dm_codec::decode_mo_serialization(json.as_bytes(), &dm_codec::Limits::default())
            .expect("MO data")
            .remove(0);
    CachedInstance {
        moid: Moid::new(moid).expect("moid"),
        miid: Miid::new(miid).expect("miid"),
        cache_validator: CacheValidator::new("cv").expect("cv"),
        item,
    }
}

trait ItemLen {
    /// The size of the instance's MO serialization (what a store counts).
    fn item_len(&self) -> usize;
}

impl ItemLen for CachedInstance {
    fn item_len(&self) -> usize {
        dm_codec::encode_mo_serialization(std::slice::from_ref(&self.item)).len()
    }
}

/// The value a store keeps for instance `miid`, if any.
async fn cached<S: Store>(store: &S, dev_id: &DevId, miid: &str) -> Option<String> {
    let kept = store
        .cached_instance(
            dev_id,
            &Moid::new("urn:oma:mo:x-test:1.0").expect("moid"),
            &Miid::new(miid).expect("miid"),
        )
        .await
        .expect("read")?;
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&[kept.item])).expect("utf-8");
    Some(json)
}

/// Cached instances are kept within their count and bytes, the least
/// recently received forgotten first; an instance larger than the budget
/// is not kept, and the older data it would replace is forgotten. `one` is
/// the size of a small instance.
pub async fn cached_instances_are_kept_within_their_count_and_bytes<S: Store>(
    store: S,
    one: usize,
) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    store
        .record_cached_instances(&d1, vec![instance("1", "a"), instance("2", "b")])
        .await
        .expect("kept");
    // "1" received again: the most recent now, so "2" goes first.
    store
        .record_cached_instances(&d1, vec![instance("1", "c"), instance("3", "d")])
        .await
        .expect("kept");
    assert!(cached(&store, &d1, "2").await.is_none(), "the least recent");
    assert!(
        cached(&store, &d1, "1")
            .await
            .is_some_and(|j| j.contains("\"c\""))
    );
    assert!(cached(&store, &d1, "3").await.is_some());
    let huge = "x".repeat(one * 4);
    store
        .record_cached_instances(&d1, vec![instance("3", &huge)])
        .await
        .expect("not kept");
    assert!(
        cached(&store, &d1, "3").await.is_none(),
        "older data forgotten"
    );
    assert!(cached(&store, &d1, "1").await.is_some(), "the others stay");
    assert!(matches!(
        store
            .record_cached_instances(&dev("IMEI:9"), vec![instance("1", "a")])
            .await,
        Err(Error::DeviceNotFound(_))
    ));
}

/// Claims running at once never hand out a command twice, and sessions
/// opened at once never pass `max_open`.
pub async fn concurrent_claims_and_opens_never_overlap<S: Store>(store: S) {
    let store = std::sync::Arc::new(store);
    let d1 = dev("IMEI:1");
    register(&*store, &d1, 0).await;
    let ids = futures_ids(&*store, &d1, 40).await;
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let (store, d1) = (store.clone(), d1.clone());
        tasks.push(tokio::spawn(async move {
            let token = SessionToken::from_bytes([i + 1; 16]);
            let mut claimed = Vec::new();
            loop {
                let batch = store
                    .claim_commands(&d1, token, 3, 1)
                    .await
                    .expect("claimed");
                if batch.is_empty() {
                    break claimed;
                }
                claimed.extend(batch.into_iter().map(|(id, _)| id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let claimed = task.await.expect("task");
        assert!(claimed.windows(2).all(|w| w[0] < w[1]), "in queue order");
        all.extend(claimed);
    }
    all.sort();
    assert_eq!(all, ids, "every command claimed exactly once");

    let mut tasks = Vec::new();
    for i in 0..12u8 {
        let (store, d1) = (store.clone(), d1.clone());
        tasks.push(tokio::spawn(async move {
            let token = SessionToken::from_bytes([100 + i; 16]);
            store
                .open_session(SessionRecord::new(token, 0, SessionState::new(d1, 0)), 5)
                .await
        }));
    }
    let mut opened = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(()) => opened += 1,
            Err(Error::Busy { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(opened, 5);
    assert_eq!(store.open_sessions().await.expect("count"), 5);
}

/// A [`Respond`] that sends the claimed commands (ending the session when
/// `end`), counting its calls in `calls`: the state it returns depends only
/// on what it captured and what it is given, as the server's does.
fn responder(state: SessionState<CommandId>, end: bool, calls: &Arc<AtomicUsize>) -> Respond {
    let calls = calls.clone();
    Box::new(move |claimed| {
        calls.fetch_add(1, Ordering::Relaxed);
        let mut next = state.clone();
        next.packages_sent += 1;
        next.phase = if end {
            SessionPhase::Ended
        } else {
            SessionPhase::AwaitingStatuses {
                sent: claimed.into_iter().map(|(id, c)| (Some(id), c)).collect(),
            }
        };
        Ok(next)
    })
}

/// The ids of the commands `state` awaits statuses for.
fn awaited(record: &SessionRecord) -> Vec<CommandId> {
    record
        .state
        .sent()
        .iter()
        .filter_map(|(id, _)| *id)
        .collect()
}

/// What a failed step must have left as it was: the commands' states, the
/// alerts, the open sessions.
async fn unchanged<S: Store>(
    store: &S,
    dev_id: &DevId,
) -> (Vec<(CommandId, CommandState)>, usize, usize) {
    let commands = store.commands(dev_id).await.expect("commands");
    (
        commands.iter().map(|c| (c.id, c.state)).collect(),
        store.alerts(dev_id).await.expect("alerts").len(),
        store.open_sessions().await.expect("count"),
    )
}

/// [`Store::step_session`]: a Package#1 step opens (within `max_open`, a
/// token once), begins, records and claims; a Package#3 step at a stale
/// version or of a session that is gone writes nothing (no status
/// recorded, no command claimed); statuses are recorded once (a command no
/// longer sent is left alone); a step whose Package#2 holds END completes
/// the session and fails the commands still sent in it.
pub async fn session_steps_open_continue_and_end_sessions_all_or_nothing<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    register(&store, &d1, 0).await;
    let ids = futures_ids(&store, &d1, 3).await;
    let a = SessionToken::from_bytes([1; 16]);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut state = SessionState::new(d1.clone(), 1_000);
    state.packages_sent = 0;
    let record = SessionRecord::new(a, 10, state.clone());
    let opening = |max_open| StepPackage::Package1 {
        summary: SessionSummary::new(a, Initiator::Client, 10),
        mos: Some(vec![MosEntry {
            ddf: None,
            moid: Moid::new("urn:oma:mo:oma-dm-devinfo:1.0").expect("MOID"),
            miids: vec![Miid::new("devinfo").expect("MIID")],
        }]),
        max_open,
    };
    let package1 = |max_open| {
        let mut step = SessionStep::new(record.clone(), opening(max_open), 10);
        step.claim = 2;
        step.alerts = vec![alert(1, None)];
        step.notification_address = Some("http://192.0.2.1:9000/dm".into());
        step
    };

    // Over `max_open`: nothing is written.
    let other = SessionToken::from_bytes([9; 16]);
    store
        .open_session(
            SessionRecord::new(other, 0, SessionState::new(d1.clone(), 0)),
            1,
        )
        .await
        .expect("opened");
    let before = unchanged(&store, &d1).await;
    assert!(matches!(
        store
            .step_session(package1(1), responder(state.clone(), false, &calls))
            .await,
        Err(Error::Busy { .. })
    ));
    assert_eq!(unchanged(&store, &d1).await, before);
    let device = store.device(&d1).await.expect("read").expect("device");
    assert!(device.last_session().is_none(), "no summary");
    let end = SessionEnd::new(SessionOutcome::Completed, 0, 5);
    store.end_session(other, &d1, end).await.expect("ended");

    // Opened, begun, recorded, claimed and saved at version 1.
    let outcome = store
        .step_session(package1(2), responder(state.clone(), false, &calls))
        .await
        .expect("stepped");
    assert_eq!(outcome, StepOutcome::Saved { version: 1 });
    assert!(calls.load(Ordering::Relaxed) >= 1);
    let saved = store.session(a).await.expect("read").expect("open");
    assert_eq!((saved.version, saved.started_ms), (1, 10));
    assert_eq!(awaited(&saved), ids[..2]);
    assert_eq!(saved.state.packages_sent, 1);
    for (id, expected) in
        ids.iter()
            .zip([CommandState::Sent, CommandState::Sent, CommandState::Queued])
    {
        let command = kept_command(&store, *id).await;
        assert_eq!(command.state, expected);
        if expected == CommandState::Sent {
            assert_eq!(command.session, Some(a));
        }
    }
    let device = store.device(&d1).await.expect("read").expect("device");
    assert_eq!(device.open_session, Some(a));
    assert_eq!(device.last_session().map(|s| s.token), Some(a));
    assert_eq!(device.mos.map(|m| m.len()), Some(1), "the MO inventory");
    assert_eq!(
        device.notification_address.as_deref(),
        Some("http://192.0.2.1:9000/dm")
    );
    assert_eq!(store.alerts(&d1).await.expect("alerts").len(), 1);
    assert_eq!(store.open_sessions().await.expect("count"), 1);

    // The same token again: SessionExists, nothing written.
    let before = unchanged(&store, &d1).await;
    assert!(matches!(
        store
            .step_session(package1(10), responder(state.clone(), false, &calls))
            .await,
        Err(Error::SessionExists(_))
    ));
    assert_eq!(unchanged(&store, &d1).await, before);

    // A Package#3 step at a stale version, or of a session that is gone:
    // no status recorded, no command claimed, no alert.
    let package3 = |record: &SessionRecord, statuses: Vec<CommandStatus>, claim| {
        let mut step = SessionStep::new(record.clone(), StepPackage::Package3, 20);
        step.statuses = statuses;
        step.claim = claim;
        step.alerts = vec![alert(2, None)];
        step
    };
    let ok = Status::new(StatusCode::OK);
    let not_found = Status::new(StatusCode::NOT_FOUND);
    let stale = SessionRecord::new(a, 10, saved.state.clone());
    let gone = SessionRecord::new(other, 0, saved.state.clone());
    for (record, conflict) in [(&stale, true), (&gone, false)] {
        let step = package3(record, vec![CommandStatus::new(ids[0], ok.clone())], 5);
        let result = store
            .step_session(step, responder(saved.state.clone(), false, &calls))
            .await;
        match result {
            Err(Error::SessionVersion { .. }) if conflict => {}
            Err(Error::SessionNotFound(_)) if !conflict => {}
            other => panic!("not refused: {other:?}"),
        }
        assert_eq!(unchanged(&store, &d1).await, before, "nothing written");
        assert_eq!(kept_command(&store, ids[0]).await.result, None);
    }

    // At the stored version: statuses recorded (a second status of the
    // same command changes nothing), one from the cache, the next command
    // claimed, saved at version 2.
    let step = package3(
        &saved,
        vec![
            CommandStatus::new(ids[0], ok.clone()),
            CommandStatus::new(ids[0], not_found.clone()),
            CommandStatus::from_cache(ids[1], ok.clone()),
        ],
        5,
    );
    let outcome = store
        .step_session(step, responder(saved.state.clone(), false, &calls))
        .await
        .expect("stepped");
    assert_eq!(outcome, StepOutcome::Saved { version: 2 });
    let first = kept_command(&store, ids[0]).await;
    assert_eq!(
        (first.state, first.result, first.from_cache),
        (CommandState::Done, Some(ok.clone()), false)
    );
    let second = kept_command(&store, ids[1]).await;
    assert_eq!(
        (second.state, second.from_cache),
        (CommandState::Done, true)
    );
    let saved = store.session(a).await.expect("read").expect("open");
    assert_eq!(saved.version, 2);
    assert_eq!(awaited(&saved), ids[2..]);
    assert_eq!(store.alerts(&d1).await.expect("alerts").len(), 2);

    // A Package#2 with END: the session is completed, what it left sent
    // fails, a status of a command already done changes nothing.
    let step = package3(&saved, vec![CommandStatus::new(ids[0], not_found)], 5);
    let outcome = store
        .step_session(step, responder(saved.state.clone(), true, &calls))
        .await
        .expect("stepped");
    assert_eq!(outcome, StepOutcome::Completed);
    assert!(store.session(a).await.expect("read").is_none());
    assert_eq!(store.open_sessions().await.expect("count"), 0);
    assert_eq!(kept_command(&store, ids[0]).await.result, Some(ok));
    let left = kept_command(&store, ids[2]).await;
    assert_eq!(left.state, CommandState::Failed);
    let device = store.device(&d1).await.expect("read").expect("device");
    assert_eq!(device.open_session, None);
    let summary = device.last_session().expect("summary");
    assert_eq!(
        (summary.token, summary.packages, summary.outcome.clone()),
        (a, 3, Some(SessionOutcome::Completed))
    );
}

/// [`Store::credentials_and_session`],
/// [`Store::certificate_and_session`] and [`Store::device_and_session`]
/// read what the single look-ups read.
pub async fn credentials_are_read_with_the_session<S: Store>(store: S) {
    let d1 = dev("IMEI:1");
    let fingerprint = [7; 32];
    store
        .register_device(
            DeviceRegistration::new(d1.clone())
                .with_password("user-1", "secret", "oma-dm")
                .with_certificate_sha256(fingerprint),
            false,
            0,
        )
        .await
        .expect("registered");
    let a = SessionToken::from_bytes([1; 16]);
    let b = SessionToken::from_bytes([2; 16]);
    let record = SessionRecord::new(a, 0, SessionState::new(d1.clone(), 0));
    store
        .open_session(record.clone(), 10)
        .await
        .expect("opened");
    let (credentials, session) = store
        .credentials_and_session("user-1", a)
        .await
        .expect("read");
    let (dev_id, credentials) = credentials.expect("registered");
    assert_eq!(dev_id, d1);
    assert!(credentials.matches_password("secret", "oma-dm"));
    assert_eq!(session, Some(record.clone()));
    let (credentials, session) = store
        .credentials_and_session("nobody", b)
        .await
        .expect("read");
    assert!(credentials.is_none() && session.is_none());
    assert_eq!(
        store
            .certificate_and_session(&fingerprint, a)
            .await
            .expect("read"),
        (Some(d1.clone()), Some(record.clone()))
    );
    assert_eq!(
        store
            .certificate_and_session(&[8; 32], b)
            .await
            .expect("read"),
        (None, None)
    );
    let (device, session) = store.device_and_session(&d1, a).await.expect("read");
    assert_eq!(device, store.device(&d1).await.expect("read"));
    assert_eq!(session, Some(record));
    assert_eq!(
        store
            .device_and_session(&dev("IMEI:2"), b)
            .await
            .expect("read"),
        (None, None)
    );
}

fn bootstrap_profile(name: &str, server_id: &str) -> dm_server::bootstrap::BootstrapProfile {
    dm_server::bootstrap::BootstrapProfile::from_json(
        format!(
            r#"{{"name":"{name}","match":{{"dev_id_pattern":"IMEI:*"}},"accounts":[{{"server_id":"{server_id}","server_uri":"https://dm.example/dm","credentials":{{"http_password":true}}}}]}}"#
        )
        .as_bytes(),
    )
    .expect("profile")
}

/// Bootstrap profiles are kept by name (replaced, listed in name order,
/// removed); bootstrap devices by DevID and PSK identity (a PSK identity
/// belongs to one device; a replaced device keeps its last NOTIFICATION-ID
/// and address).
pub async fn bootstrap_profiles_and_devices_are_kept<S: Store>(store: S) {
    assert!(
        store
            .bootstrap_profiles()
            .await
            .expect("profiles")
            .is_empty()
    );
    assert!(
        !store
            .put_bootstrap_profile(bootstrap_profile("b", "dm1"))
            .await
            .expect("put")
    );
    assert!(
        !store
            .put_bootstrap_profile(bootstrap_profile("a", "dm1"))
            .await
            .expect("put")
    );
    assert!(
        store
            .put_bootstrap_profile(bootstrap_profile("b", "dm2"))
            .await
            .expect("replace")
    );
    let profiles = store.bootstrap_profiles().await.expect("profiles");
    assert_eq!(
        profiles,
        vec![bootstrap_profile("a", "dm1"), bootstrap_profile("b", "dm2")]
    );
    assert!(store.remove_bootstrap_profile("a").await.expect("remove"));
    assert!(
        !store
            .remove_bootstrap_profile("a")
            .await
            .expect("remove again")
    );
    assert_eq!(store.bootstrap_profiles().await.expect("profiles").len(), 1);

    let (one, two) = (dev("IMEI:1"), dev("IMEI:2"));
    let device = dm_server::BootstrapDevice::new(one.clone())
        .with_psk("psk-1", b"key one".to_vec())
        .with_notification_secret(b"secret".to_vec(), b"data".to_vec());
    store
        .put_bootstrap_device(device.clone())
        .await
        .expect("device");
    assert_eq!(
        store.bootstrap_device(&one).await.expect("read"),
        Some(device.clone())
    );
    assert_eq!(
        store
            .bootstrap_device_by_psk_identity("psk-1")
            .await
            .expect("by psk"),
        Some(device.clone())
    );
    assert_eq!(
        store
            .bootstrap_device_by_psk_identity("psk-2")
            .await
            .expect("none"),
        None
    );
    let taken = store
        .put_bootstrap_device(
            dm_server::BootstrapDevice::new(two.clone()).with_psk("psk-1", vec![1]),
        )
        .await
        .expect_err("identity taken");
    assert!(
        matches!(&taken, Error::PskIdentityTaken { owner, .. } if *owner == one),
        "{taken}"
    );
    assert_eq!(store.bootstrap_device(&two).await.expect("read"), None);
    assert_eq!(
        store
            .next_bootstrap_notification_id(&one)
            .await
            .expect("id"),
        1
    );
    assert_eq!(
        store
            .next_bootstrap_notification_id(&one)
            .await
            .expect("id"),
        2
    );
    assert!(matches!(
        store.next_bootstrap_notification_id(&two).await,
        Err(Error::DeviceNotFound(_))
    ));
    assert!(
        store
            .set_bootstrap_notification_address(&one, "udp://127.0.0.1:9")
            .await
            .expect("address")
    );
    assert!(
        !store
            .set_bootstrap_notification_address(&two, "udp://127.0.0.1:9")
            .await
            .expect("unknown")
    );
    // Replaced: new secret, the address and the NOTIFICATION-ID kept.
    store
        .put_bootstrap_device(
            dm_server::BootstrapDevice::new(one.clone())
                .with_notification_secret(b"new".to_vec(), Vec::new()),
        )
        .await
        .expect("replace");
    let replaced = store
        .bootstrap_device(&one)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        replaced.notification_address.as_deref(),
        Some("udp://127.0.0.1:9")
    );
    assert_eq!(replaced.last_notification_id, Some(2));
    assert_eq!(replaced.psk, None);
    assert_eq!(
        store
            .bootstrap_device_by_psk_identity("psk-1")
            .await
            .expect("gone"),
        None
    );
    assert!(store.remove_bootstrap_device(&one).await.expect("remove"));
    assert!(
        !store
            .remove_bootstrap_device(&one)
            .await
            .expect("remove again")
    );
}

fn bootstrap_session(
    dev_id: &DevId,
    binding: &str,
    expires_ms: u64,
) -> dm_server::BootstrapSessionRecord {
    let mut session = dm_server::BootstrapSessionRecord::new(
        SessionToken::random().expect("token"),
        dev_id.clone(),
        binding.to_owned(),
        SessionToken::random().expect("token"),
        SessionState::new(dev_id.clone(), expires_ms),
        expires_ms,
    );
    session.profile = "p".into();
    session.account_data = Some("[DMAcc data]".into());
    session
}

/// A bootstrap session's DMAcc data is served once, only to its credential
/// and before it expires; ending a session records its outcome (the newest
/// kept) and removes it; expiry ends the expired sessions only.
pub async fn bootstrap_sessions_serve_their_data_once_and_record_outcomes<S: Store>(store: S) {
    use dm_server::{BootstrapOutcomeRecord, BootstrapResult};
    let dev_id = dev("IMEI:1");
    let session = bootstrap_session(&dev_id, "cert-sha256:aa", 1_000);
    store
        .save_bootstrap_session(session.clone())
        .await
        .expect("save");
    assert_eq!(
        store.bootstrap_session(session.token).await.expect("read"),
        Some(session.clone())
    );
    let take = |binding: &'static str, now_ms| {
        store.take_bootstrap_account_data(session.data_token, binding, now_ms)
    };
    assert_eq!(
        take("cert-sha256:bb", 10).await.expect("other credential"),
        None
    );
    assert_eq!(take("cert-sha256:aa", 1_001).await.expect("expired"), None);
    let unknown = store
        .take_bootstrap_account_data(session.token, "cert-sha256:aa", 10)
        .await
        .expect("session token is not the data token");
    assert_eq!(unknown, None);
    assert_eq!(
        take("cert-sha256:aa", 10).await.expect("served"),
        Some((dev_id.clone(), "[DMAcc data]".to_owned()))
    );
    assert_eq!(take("cert-sha256:aa", 11).await.expect("once"), None);
    let kept = store
        .bootstrap_session(session.token)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(kept.account_data, None);

    let outcome = |result| BootstrapOutcomeRecord::of_session(&session, result, 20);
    assert!(
        store
            .end_bootstrap_session(session.token, outcome(BootstrapResult::Refused))
            .await
            .expect("end")
    );
    assert!(
        !store
            .end_bootstrap_session(session.token, outcome(BootstrapResult::Refused))
            .await
            .expect("end again")
    );
    assert_eq!(
        store.bootstrap_session(session.token).await.expect("read"),
        None
    );
    let outcomes = store.bootstrap_outcomes(&dev_id).await.expect("outcomes");
    assert_eq!(outcomes, vec![outcome(BootstrapResult::Refused)]);

    // The newest outcomes are kept.
    for status in 0..u16::try_from(dm_server::BOOTSTRAP_OUTCOMES_PER_DEVICE).expect("small") + 2 {
        let session = bootstrap_session(&dev_id, "psk:x", 1_000);
        store
            .save_bootstrap_session(session.clone())
            .await
            .expect("save");
        let result = BootstrapResult::Failed { status };
        let record = BootstrapOutcomeRecord::of_session(&session, result, 30);
        store
            .end_bootstrap_session(session.token, record)
            .await
            .expect("end");
    }
    let outcomes = store.bootstrap_outcomes(&dev_id).await.expect("outcomes");
    assert_eq!(outcomes.len(), dm_server::BOOTSTRAP_OUTCOMES_PER_DEVICE);
    let last = u16::try_from(dm_server::BOOTSTRAP_OUTCOMES_PER_DEVICE).expect("small") + 1;
    assert_eq!(outcomes[0].result, BootstrapResult::Failed { status: last });

    // Expiry ends the expired sessions only, as abandoned.
    let old = bootstrap_session(&dev("IMEI:2"), "psk:x", 100);
    let fresh = bootstrap_session(&dev("IMEI:2"), "psk:x", 10_000);
    store
        .save_bootstrap_session(old.clone())
        .await
        .expect("save");
    store
        .save_bootstrap_session(fresh.clone())
        .await
        .expect("save");
    let expired = store
        .expire_bootstrap_sessions(5_000)
        .await
        .expect("expire");
    assert_eq!(
        expired.iter().map(|s| s.token).collect::<Vec<_>>(),
        vec![old.token]
    );
    assert!(
        store
            .bootstrap_session(fresh.token)
            .await
            .expect("read")
            .is_some()
    );
    let outcomes = store
        .bootstrap_outcomes(&dev("IMEI:2"))
        .await
        .expect("outcomes");
    assert!(matches!(
        outcomes[0].result,
        BootstrapResult::Abandoned { .. }
    ));
}

/// Content of `len` bytes, each byte depending on its offset (so that a
/// range read from the wrong place shows).
#[must_use]
pub fn artifact_content(len: usize) -> bytes::Bytes {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap_or(0))
        .collect::<Vec<u8>>()
        .into()
}

/// A stored artifact record of `content`.
#[must_use]
pub fn stored_artifact(id: &str, content: &[u8]) -> ArtifactRecord {
    use sha2::Digest as _;
    let mut record = ArtifactRecord::new(
        ArtifactId::new(id).expect("valid artifact id"),
        ArtifactKind::Firmware,
        "acme-fw",
        "2.0",
        u64::try_from(content.len()).expect("size"),
        sha2::Sha256::digest(content).into(),
        ArtifactSource::Stored,
    );
    record.metadata.insert("channel".into(), "beta".into());
    record.created_ms = 17;
    record
}

/// Artifacts: stored content kept in chunks and read back by ranges
/// (across chunk boundaries, cut at the end), replaced whole, listed in id
/// order, removed with their content; content that does not match its
/// record refused, changing nothing.
pub async fn artifacts_keep_their_content_in_chunks_and_read_ranges<S: Store>(store: S) {
    let chunk = ARTIFACT_CHUNK as u64;
    let len = ARTIFACT_CHUNK * 2 + 100;
    let content = artifact_content(len);
    let record = stored_artifact("fw-2.0", &content);
    let id = record.id.clone();
    assert!(store.artifact(&id).await.expect("read").is_none());
    assert!(
        store
            .artifact_range(&id, 0, 1)
            .await
            .expect("read")
            .is_none(),
        "no artifact, no range"
    );
    let replaced = store
        .put_artifact(record.clone(), Some(content.clone()))
        .await
        .expect("stored");
    assert!(!replaced);
    assert_eq!(
        store.artifact(&id).await.expect("read"),
        Some(record.clone())
    );
    let range = |start: u64, end: u64| {
        let store = &store;
        let id = id.clone();
        async move {
            store
                .artifact_range(&id, start, end)
                .await
                .expect("read")
                .expect("stored content")
        }
    };
    let slice = |start: u64, end: u64| {
        content
            .slice(usize::try_from(start).expect("offset")..usize::try_from(end).expect("offset"))
    };
    for (start, end) in [
        (0, 10),
        (chunk - 5, chunk + 5),
        (chunk, chunk * 2),
        (chunk * 2 - 1, chunk * 2 + 1),
        (chunk / 2, chunk / 2 + chunk),
        (chunk * 2 + 90, chunk * 2 + 100),
    ] {
        assert_eq!(range(start, end).await, slice(start, end), "{start}..{end}");
    }
    assert_eq!(
        range(chunk * 2 + 90, chunk * 3).await,
        slice(chunk * 2 + 90, chunk * 2 + 100),
        "cut at the end"
    );
    assert!(
        range(chunk * 2 + 100, chunk * 3).await.is_empty(),
        "past the end"
    );
    assert!(range(5, 5).await.is_empty());

    // Content of another length than declared: refused, nothing changes.
    let mut short = record.clone();
    short.version = "2.1".into();
    let refused = store
        .put_artifact(short.clone(), Some(content.slice(..10)))
        .await
        .expect_err("shorter than declared");
    assert!(
        matches!(refused, Error::ArtifactMismatch { .. }),
        "{refused:?}"
    );
    assert!(
        matches!(
            store.put_artifact(short.clone(), None).await,
            Err(Error::ArtifactMismatch { .. })
        ),
        "a stored artifact without content"
    );
    assert_eq!(
        store.artifact(&id).await.expect("read"),
        Some(record.clone())
    );

    // Replaced by smaller content: the old chunks are gone.
    let small = artifact_content(10).slice(3..);
    let smaller = stored_artifact("fw-2.0", &small);
    assert!(
        store
            .put_artifact(smaller.clone(), Some(small.clone()))
            .await
            .expect("replaced")
    );
    assert_eq!(store.artifact(&id).await.expect("read"), Some(smaller));
    assert_eq!(range(0, chunk).await, small);
    assert!(range(chunk, chunk * 2).await.is_empty());

    // An artifact at a URL has no content; content for it is refused.
    let mut external = ArtifactRecord::new(
        ArtifactId::new("app-1.0").expect("id"),
        ArtifactKind::Software,
        "app",
        "1.0",
        1234,
        [7; 32],
        ArtifactSource::Url("https://cdn.example/app-1.0.pkg".into()),
    );
    external.created_ms = 5;
    assert!(matches!(
        store
            .put_artifact(external.clone(), Some(content.slice(..1234)))
            .await,
        Err(Error::ArtifactMismatch { .. })
    ));
    assert!(
        !store
            .put_artifact(external.clone(), None)
            .await
            .expect("stored")
    );
    assert!(
        store
            .artifact_range(&external.id, 0, 10)
            .await
            .expect("read")
            .is_none(),
        "no stored content"
    );
    let listed = store.artifacts().await.expect("listed");
    let ids: Vec<&str> = listed.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["app-1.0", "fw-2.0"], "id order");
    assert_eq!(listed[0], external);

    assert!(store.remove_artifact(&id).await.expect("removed"));
    assert!(!store.remove_artifact(&id).await.expect("removed"));
    assert!(store.artifact(&id).await.expect("read").is_none());
    assert!(
        store
            .artifact_range(&id, 0, 1)
            .await
            .expect("read")
            .is_none()
    );
    // A new artifact of the same id starts without the old content.
    let fresh = artifact_content(3);
    store
        .put_artifact(stored_artifact("fw-2.0", &fresh), Some(fresh.clone()))
        .await
        .expect("stored again");
    assert_eq!(range(0, 10).await, fresh);
    // Empty content is content.
    let empty = stored_artifact("empty", &[]);
    store
        .put_artifact(empty.clone(), Some(bytes::Bytes::new()))
        .await
        .expect("stored");
    assert_eq!(
        store.artifact_range(&empty.id, 0, 10).await.expect("read"),
        Some(bytes::Bytes::new())
    );
    // ArtifactInUse (an unfinished campaign uses it) is checked by the
    // campaign checks: campaigns live in the store of another step.
}

fn tag(text: &str) -> Tag {
    Tag::new(text).expect("valid tag")
}

/// Groups are kept, replaced, listed in id order and removed; device tags
/// are replaced whole and DevInfo values merged, both shown in the
/// device's record and gone with it; an unknown device is DeviceNotFound.
pub async fn groups_tags_and_devinfo_are_kept<S: Store>(store: S) {
    let gid = GroupId::new("canary").expect("group id");
    assert!(store.group(&gid).await.expect("read").is_none());
    let mut filter = GroupFilter::default();
    filter.devices.insert(dev("IMEI:1"));
    filter.tags.insert(tag("site:berlin"));
    filter.devinfo.insert("Mod".into(), "X1".into());
    filter
        .mos
        .insert(Moid::new("urn:oma:mo:oma-fumo:1.0").expect("moid"));
    filter.last_session_after_ms = Some(10);
    filter.last_session_before_ms = Some(20);
    let mut group = GroupRecord::new(gid.clone(), filter);
    group.description = "the first devices".into();
    group.updated_ms = 3;
    assert!(!store.put_group(group.clone()).await.expect("stored"));
    assert_eq!(store.group(&gid).await.expect("read"), Some(group.clone()));
    let mut replacement = GroupRecord::new(gid.clone(), GroupFilter::default());
    replacement.updated_ms = 4;
    assert!(
        store
            .put_group(replacement.clone())
            .await
            .expect("replaced")
    );
    assert_eq!(
        store.group(&gid).await.expect("read"),
        Some(replacement.clone())
    );
    let other = GroupRecord::new(GroupId::new("all").expect("id"), GroupFilter::default());
    store.put_group(other.clone()).await.expect("stored");
    assert_eq!(
        store.groups().await.expect("listed"),
        [other.clone(), replacement],
        "id order"
    );
    assert!(store.remove_group(&gid).await.expect("removed"));
    assert!(!store.remove_group(&gid).await.expect("removed"));
    assert_eq!(store.groups().await.expect("listed"), [other]);

    let d1 = dev("IMEI:1");
    let unknown = dev("IMEI:404");
    register(&store, &d1, 1).await;
    let fresh = store.device(&d1).await.expect("read").expect("registered");
    assert!(fresh.tags.is_empty() && fresh.devinfo.is_empty());
    store
        .set_device_tags(&d1, [tag("a"), tag("site:berlin")].into())
        .await
        .expect("tagged");
    store
        .set_device_tags(&d1, [tag("b"), tag("site:berlin")].into())
        .await
        .expect("tagged");
    assert!(matches!(
        store.set_device_tags(&unknown, [tag("a")].into()).await,
        Err(Error::DeviceNotFound(_))
    ));
    let values = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    store
        .record_devinfo(&d1, values(&[("Mod", "X1"), ("FwV", "1.0")]))
        .await
        .expect("recorded");
    store
        .record_devinfo(&d1, values(&[("FwV", "1.1"), ("Lang", "en")]))
        .await
        .expect("recorded");
    store
        .record_devinfo(&d1, BTreeMap::new())
        .await
        .expect("nothing");
    assert!(matches!(
        store
            .record_devinfo(&unknown, values(&[("Mod", "X")]))
            .await,
        Err(Error::DeviceNotFound(_))
    ));
    let device = store.device(&d1).await.expect("read").expect("registered");
    let tags: BTreeSet<Tag> = [tag("b"), tag("site:berlin")].into();
    assert_eq!(device.tags, tags, "replaced whole");
    assert_eq!(
        device.devinfo,
        values(&[("FwV", "1.1"), ("Lang", "en"), ("Mod", "X1")]),
        "merged"
    );
    let listed = store
        .devices(&DeviceQuery::new(10))
        .await
        .expect("listed")
        .devices;
    assert_eq!(
        (&listed[0].tags, &listed[0].devinfo),
        (&device.tags, &device.devinfo)
    );
    // Re-registering keeps them; an empty set clears the tags.
    store
        .register_device(DeviceRegistration::new(d1.clone()), true, 2)
        .await
        .expect("replaced");
    let device = store.device(&d1).await.expect("read").expect("registered");
    assert_eq!(device.tags, tags);
    store
        .set_device_tags(&d1, BTreeSet::new())
        .await
        .expect("untagged");
    let device = store.device(&d1).await.expect("read").expect("registered");
    assert!(device.tags.is_empty());
    assert_eq!(device.devinfo.len(), 3);
    // Removed with the device.
    store.remove_device(&d1).await.expect("removed");
    register(&store, &d1, 3).await;
    let device = store.device(&d1).await.expect("read").expect("registered");
    assert!(device.tags.is_empty() && device.devinfo.is_empty());
}
