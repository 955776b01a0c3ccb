//! The campaign part of the store contract: creation (a device in one
//! campaign at a time), versioned updates, counts, due and stale rows,
//! compare-and-set of a device's row, skipping on cancel, leases, and what a
//! reopened store keeps.

use std::future::Future;
use std::sync::Arc;

use dm_server::{
    Advance, ArtifactId, CampaignDevice, CampaignId, CampaignRetry, CampaignSpec, CampaignStatus,
    CommandId, DeviceRegistration, Error, GroupId, Pacing, PauseReason, Stage, StageCounts,
    StageSize, Store, UpdateState,
};
use dm_types::DevId;

fn dev(n: usize) -> DevId {
    DevId::new(format!("IMEI:{n:06}")).expect("valid DevID")
}

/// A campaign of two stages (50 %, then the rest).
fn spec(name: &str) -> CampaignSpec {
    let stage = |percent| Stage {
        size: StageSize::Percent(percent),
        success_threshold_percent: 90,
        advance: Advance::Auto,
        error_threshold_percent: 10,
    };
    CampaignSpec {
        name: name.to_owned(),
        artifact: ArtifactId::new("fw-2.0").expect("artifact id"),
        group: GroupId::new("all").expect("group id"),
        stages: vec![stage(50), stage(100)],
        pacing: Pacing {
            max_in_flight: 100,
            notifications_per_second: 10,
        },
        window: None,
        retry: CampaignRetry {
            max_attempts: 3,
            initial_backoff_ms: 1000,
            max_backoff_ms: 60_000,
        },
        device_timeout_ms: 3_600_000,
    }
}

/// The row of `dev_id` in `id`, which must exist.
async fn row<S: Store>(store: &S, id: CampaignId, dev_id: &DevId) -> CampaignDevice {
    store
        .campaign_device(id, dev_id)
        .await
        .expect("read")
        .expect("a row")
}

/// Moves a row from where it stands to `state` (`attempts` attempts,
/// next attempt at `next_ms`), which must succeed.
async fn set<S: Store>(
    store: &S,
    id: CampaignId,
    dev_id: &DevId,
    state: UpdateState,
    attempts: u32,
    next_ms: u64,
    now_ms: u64,
) {
    let old = row(store, id, dev_id).await;
    let mut new = old.clone();
    new.state = state;
    new.attempts = attempts;
    new.next_attempt_ms = next_ms;
    assert!(
        store
            .advance_campaign_device(&new, (old.state, old.attempts), now_ms)
            .await
            .expect("advanced"),
        "{dev_id} moves to {state:?}"
    );
}

/// `(stage, [(state, count)])` of a campaign's counts.
fn counted(counts: &[StageCounts]) -> Vec<(u32, Vec<(UpdateState, u64)>)> {
    counts
        .iter()
        .map(|c| (c.stage, c.counts.iter().map(|(s, n)| (*s, *n)).collect()))
        .collect()
}

/// A campaign is created running at stage 0, version 1, with one pending
/// row per member (the first of duplicates kept; members need not be
/// registered); a member with a row not final in another unfinished
/// campaign gets a skipped row instead, until that row is final or that
/// campaign finished. Ids grow; campaigns are listed in id order.
pub async fn campaigns_take_each_device_once_and_count_their_rows<S: Store>(store: S) {
    // A registered member and unregistered ones.
    store
        .register_device(DeviceRegistration::new(dev(0)), false, 1)
        .await
        .expect("registered");
    assert!(store.campaigns().await.expect("read").is_empty());
    assert!(store.campaign(CampaignId(1)).await.expect("read").is_none());
    assert!(
        store
            .active_campaign_device(&dev(0))
            .await
            .expect("read")
            .is_none()
    );
    // 2500 members (more than a statement's share), in stages 0 and 1,
    // with a duplicate.
    let mut members: Vec<(DevId, u32)> =
        (0..2500).map(|n| (dev(n), u32::from(n >= 1000))).collect();
    members.push((dev(1), 1));
    let a = store
        .create_campaign(spec("a"), members, 10)
        .await
        .expect("created");
    assert_eq!(a.spec, spec("a"));
    assert_eq!(
        (a.status, a.stage, a.version, a.created_ms, a.updated_ms),
        (CampaignStatus::Running, 0, 1, 10, 10)
    );
    assert_eq!(store.campaign(a.id).await.expect("read"), Some(a.clone()));
    assert_eq!(
        counted(&store.campaign_counts(a.id).await.expect("counts")),
        [
            (0, vec![(UpdateState::Pending, 1000)]),
            (1, vec![(UpdateState::Pending, 1500)])
        ]
    );
    let first = row(&store, a.id, &dev(1)).await;
    assert_eq!(
        (first.stage, first.state, first.result, first.attempts),
        (0, UpdateState::Pending, None, 0),
        "a duplicate keeps its first stage"
    );
    assert_eq!(
        (
            first.next_attempt_ms,
            first.updated_ms,
            first.commands.len()
        ),
        (0, 10, 0)
    );
    assert_eq!(
        store.active_campaign_device(&dev(5)).await.expect("read"),
        Some(row(&store, a.id, &dev(5)).await)
    );

    // Device 0 succeeds, device 1 fails, device 2 is in flight; 3 stays
    // pending. A second campaign takes 0 and 1 (final in a), skips 2, 3
    // and the members of a beyond them, and takes the new ones.
    set(&store, a.id, &dev(0), UpdateState::Succeeded, 1, 0, 11).await;
    set(&store, a.id, &dev(1), UpdateState::Failed, 1, 0, 11).await;
    set(&store, a.id, &dev(2), UpdateState::Downloading, 1, 0, 11).await;
    let members: Vec<(DevId, u32)> = (0..5).chain(2500..2503).map(|n| (dev(n), 0)).collect();
    let b = store
        .create_campaign(spec("b"), members, 20)
        .await
        .expect("created");
    assert!(b.id > a.id, "ids grow");
    let states: Vec<(DevId, UpdateState)> = store
        .campaign_devices(b.id, None, None, 100)
        .await
        .expect("rows")
        .into_iter()
        .map(|r| (r.dev_id, r.state))
        .collect();
    let expected: Vec<(DevId, UpdateState)> = [
        (0, UpdateState::Pending),
        (1, UpdateState::Pending),
        (2, UpdateState::Skipped),
        (3, UpdateState::Skipped),
        (4, UpdateState::Skipped),
        (2500, UpdateState::Pending),
        (2501, UpdateState::Pending),
        (2502, UpdateState::Pending),
    ]
    .into_iter()
    .map(|(n, s)| (dev(n), s))
    .collect();
    assert_eq!(states, expected);
    assert_eq!(
        counted(&store.campaign_counts(b.id).await.expect("counts")),
        [(
            0,
            vec![(UpdateState::Pending, 5), (UpdateState::Skipped, 3)]
        )]
    );
    assert_eq!(
        counted(&store.campaign_counts(a.id).await.expect("counts")),
        [
            (
                0,
                vec![
                    (UpdateState::Pending, 997),
                    (UpdateState::Downloading, 1),
                    (UpdateState::Succeeded, 1),
                    (UpdateState::Failed, 1)
                ]
            ),
            (1, vec![(UpdateState::Pending, 1500)])
        ]
    );
    let active = |n| {
        let store = &store;
        async move {
            store
                .active_campaign_device(&dev(n))
                .await
                .expect("read")
                .map(|r| (r.campaign, r.state))
        }
    };
    assert_eq!(active(0).await, Some((b.id, UpdateState::Pending)));
    assert_eq!(active(2).await, Some((a.id, UpdateState::Downloading)));
    assert_eq!(active(3).await, Some((a.id, UpdateState::Pending)));
    assert_eq!(active(9999).await, None);

    // Once a is finished, its rows no longer hold their devices.
    store
        .update_campaign(a.id, 1, CampaignStatus::Completed, 1, 30)
        .await
        .expect("completed");
    assert_eq!(active(2).await, None);
    let c = store
        .create_campaign(spec("c"), vec![(dev(2), 0), (dev(0), 0)], 40)
        .await
        .expect("created");
    assert_eq!(row(&store, c.id, &dev(2)).await.state, UpdateState::Pending);
    assert_eq!(row(&store, c.id, &dev(0)).await.state, UpdateState::Skipped);
    let ids: Vec<CampaignId> = store
        .campaigns()
        .await
        .expect("read")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [a.id, b.id, c.id]);
    // A removed device's rows stay.
    assert!(store.remove_device(&dev(0)).await.expect("removed"));
    assert_eq!(
        row(&store, a.id, &dev(0)).await.state,
        UpdateState::Succeeded
    );
    // Unknown campaigns have no rows.
    let unknown = CampaignId(c.id.0 + 100);
    assert!(
        store
            .campaign_counts(unknown)
            .await
            .expect("counts")
            .is_empty()
    );
    assert!(
        store
            .campaign_devices(unknown, None, None, 10)
            .await
            .expect("rows")
            .is_empty()
    );
    assert!(
        store
            .campaign_device(unknown, &dev(2))
            .await
            .expect("row")
            .is_none()
    );
}

/// Two campaigns created at once over the same devices never both take
/// one of them.
pub async fn campaigns_created_at_once_never_share_a_device<S: Store>(store: S) {
    let store = Arc::new(store);
    let members: Vec<(DevId, u32)> = (0..300).map(|n| (dev(n), 0)).collect();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (store, members) = (store.clone(), members.clone());
            tokio::spawn(async move {
                store
                    .create_campaign(spec(&format!("c{i}")), members, 1)
                    .await
                    .expect("created")
                    .id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task"));
    }
    let mut pending = 0;
    for id in ids {
        for counts in store.campaign_counts(id).await.expect("counts") {
            pending += counts.count(UpdateState::Pending);
            assert_eq!(counts.total(), 300);
        }
    }
    assert_eq!(pending, 300, "each device pending in exactly one campaign");
}

/// A campaign's status and stage change only from the version expected
/// (which is bumped); an unknown campaign is `CampaignNotFound`.
pub async fn campaign_updates_expect_their_version<S: Store>(store: S) {
    let a = store
        .create_campaign(spec("a"), vec![(dev(1), 0)], 5)
        .await
        .expect("created");
    let paused = CampaignStatus::Paused(PauseReason::ErrorThreshold { stage: 1 });
    let updated = store
        .update_campaign(a.id, 1, paused, 1, 9)
        .await
        .expect("updated");
    assert_eq!(
        (
            updated.status,
            updated.stage,
            updated.version,
            updated.created_ms,
            updated.updated_ms
        ),
        (paused, 1, 2, 5, 9)
    );
    assert_eq!(updated.spec, a.spec);
    assert_eq!(store.campaign(a.id).await.expect("read"), Some(updated));
    assert!(matches!(
        store
            .update_campaign(a.id, 1, CampaignStatus::Running, 0, 10)
            .await,
        Err(Error::CampaignVersion { campaign, expected: 1 }) if campaign == a.id
    ));
    let kept = store.campaign(a.id).await.expect("read").expect("kept");
    assert_eq!((kept.status, kept.version), (paused, 2), "nothing changed");
    assert!(matches!(
        store
            .update_campaign(CampaignId(a.id.0 + 1), 1, CampaignStatus::Running, 0, 10)
            .await,
        Err(Error::CampaignNotFound(_))
    ));
    // Two updates expecting the same version: one wins.
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..6u32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .update_campaign(a.id, 2, CampaignStatus::WaitingApproval, i, 11)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(record) => {
                won += 1;
                assert_eq!(record.version, 3);
            }
            Err(Error::CampaignVersion { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1);
}

/// A row changes only from the state and attempts expected: what is
/// written (state, result, attempts, next attempt, commands; not the
/// stage) is read back with `updated_ms` = now; a stale expectation, an
/// unknown row or campaign change nothing; of concurrent changes expecting
/// the same, exactly one wins.
pub async fn campaign_rows_change_by_compare_and_set<S: Store>(store: S) {
    let a = store
        .create_campaign(spec("a"), vec![(dev(1), 1), (dev(2), 0)], 5)
        .await
        .expect("created");
    let old = row(&store, a.id, &dev(1)).await;
    let mut new = old.clone();
    new.state = UpdateState::Notified;
    new.attempts = 1;
    new.result = Some(503);
    new.next_attempt_ms = 77;
    new.commands = vec![CommandId(7), CommandId(8)];
    new.stage = 9;
    assert!(
        store
            .advance_campaign_device(&new, (UpdateState::Pending, 0), 20)
            .await
            .expect("advanced")
    );
    let read = row(&store, a.id, &dev(1)).await;
    assert_eq!(read.state, UpdateState::Notified);
    assert_eq!(read.result, Some(503));
    assert_eq!(read.attempts, 1);
    assert_eq!(read.next_attempt_ms, 77);
    assert_eq!(read.commands, [CommandId(7), CommandId(8)]);
    assert_eq!(read.updated_ms, 20);
    assert_eq!(read.stage, 1, "the stage is not written");
    // Expecting what it was before: lost.
    assert!(
        !store
            .advance_campaign_device(&new, (UpdateState::Pending, 0), 21)
            .await
            .expect("read")
    );
    assert!(
        !store
            .advance_campaign_device(&new, (UpdateState::Notified, 0), 21)
            .await
            .expect("read"),
        "the attempts are compared too"
    );
    assert_eq!(row(&store, a.id, &dev(1)).await, read, "nothing changed");
    let mut elsewhere = new.clone();
    elsewhere.campaign = CampaignId(a.id.0 + 1);
    assert!(
        !store
            .advance_campaign_device(&elsewhere, (UpdateState::Notified, 1), 22)
            .await
            .expect("no campaign")
    );
    let mut stranger = CampaignDevice::pending(a.id, dev(3), 0);
    stranger.state = UpdateState::Notified;
    assert!(
        !store
            .advance_campaign_device(&stranger, (UpdateState::Pending, 0), 22)
            .await
            .expect("no row")
    );
    assert!(
        store
            .campaign_device(a.id, &dev(3))
            .await
            .expect("read")
            .is_none()
    );
    // The result can be cleared again.
    let mut cleared = read.clone();
    cleared.result = None;
    cleared.commands = Vec::new();
    assert!(
        store
            .advance_campaign_device(&cleared, (UpdateState::Notified, 1), 23)
            .await
            .expect("advanced")
    );
    let read = row(&store, a.id, &dev(1)).await;
    assert_eq!((read.result, read.commands.len()), (None, 0));

    // Concurrent changes from the same expected state: one wins.
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8u16)
        .map(|i| {
            let (store, mut next) = (store.clone(), read.clone());
            tokio::spawn(async move {
                next.state = UpdateState::InSession;
                next.result = Some(200 + i);
                let won = store
                    .advance_campaign_device(&next, (UpdateState::Notified, 1), 30)
                    .await
                    .expect("compared");
                won.then_some(200 + i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.expect("task"));
    }
    assert_eq!(winners.len(), 1, "exactly one wins: {winners:?}");
    let read = row(&store, a.id, &dev(1)).await;
    assert_eq!(
        (read.state, read.result),
        (UpdateState::InSession, winners.first().copied())
    );
}

/// Due rows are the pending ones of the stages up to the one given whose
/// next attempt has come, by stage, next attempt, then DevID; stale rows
/// are those in flight unchanged since before the time given, oldest change
/// first; the state filter and paging of `campaign_devices`.
pub async fn due_and_stale_campaign_rows_are_found_in_order<S: Store>(store: S) {
    // Devices 0..6 in stage 0, 6..9 in stage 1, 9 in stage 2.
    let members: Vec<(DevId, u32)> = (0..10)
        .rev()
        .map(|n| (dev(n), [0, 0, 0, 0, 0, 0, 1, 1, 1, 2][n]))
        .collect();
    let a = store
        .create_campaign(spec("a"), members, 1)
        .await
        .expect("created");
    // 0: retry at 500; 1: retry at 100; 2: in flight since 10; 3: in
    // flight since 20; 4: succeeded at 5; 7: retry at 1000.
    set(&store, a.id, &dev(0), UpdateState::Pending, 1, 500, 2).await;
    set(&store, a.id, &dev(1), UpdateState::Pending, 1, 100, 2).await;
    set(&store, a.id, &dev(2), UpdateState::Notified, 1, 0, 10).await;
    set(&store, a.id, &dev(3), UpdateState::Installing, 1, 0, 20).await;
    set(&store, a.id, &dev(4), UpdateState::Succeeded, 1, 0, 5).await;
    set(&store, a.id, &dev(7), UpdateState::Pending, 1, 1000, 2).await;
    let due = |max_stage, now, limit| {
        let store = &store;
        async move {
            store
                .due_campaign_devices(a.id, max_stage, now, limit)
                .await
                .expect("due")
                .into_iter()
                .map(|r| r.dev_id)
                .collect::<Vec<_>>()
        }
    };
    let devs = |ns: &[usize]| ns.iter().map(|n| dev(*n)).collect::<Vec<_>>();
    assert_eq!(due(0, 50, 100).await, devs(&[5]));
    assert_eq!(due(0, 100, 100).await, devs(&[5, 1]));
    assert_eq!(due(0, 500, 100).await, devs(&[5, 1, 0]));
    assert_eq!(due(1, 500, 100).await, devs(&[5, 1, 0, 6, 8]));
    assert_eq!(due(2, 5000, 100).await, devs(&[5, 1, 0, 6, 8, 7, 9]));
    assert_eq!(due(2, 5000, 4).await, devs(&[5, 1, 0, 6]));
    assert!(
        store
            .due_campaign_devices(CampaignId(a.id.0 + 1), 9, 5000, 10)
            .await
            .expect("due")
            .is_empty()
    );

    let stale = |before, limit| {
        let store = &store;
        async move {
            store
                .stale_campaign_devices(a.id, before, limit)
                .await
                .expect("stale")
                .into_iter()
                .map(|r| r.dev_id)
                .collect::<Vec<_>>()
        }
    };
    assert!(stale(10, 10).await.is_empty(), "unchanged since before 10");
    assert_eq!(stale(11, 10).await, devs(&[2]));
    assert_eq!(
        stale(100, 10).await,
        devs(&[2, 3]),
        "finals and pending never"
    );
    assert_eq!(stale(100, 1).await, devs(&[2]));

    let by_state = store
        .campaign_devices(a.id, Some(UpdateState::Pending), None, 100)
        .await
        .expect("rows");
    assert_eq!(
        by_state
            .iter()
            .map(|r| r.dev_id.clone())
            .collect::<Vec<_>>(),
        devs(&[0, 1, 5, 6, 7, 8, 9])
    );
    let page = store
        .campaign_devices(a.id, Some(UpdateState::Pending), Some(&dev(1)), 2)
        .await
        .expect("rows");
    assert_eq!(
        page.iter().map(|r| r.dev_id.clone()).collect::<Vec<_>>(),
        devs(&[5, 6])
    );
    let page = store
        .campaign_devices(a.id, None, Some(&dev(7)), 100)
        .await
        .expect("rows");
    assert_eq!(
        page.iter().map(|r| r.dev_id.clone()).collect::<Vec<_>>(),
        devs(&[8, 9])
    );
}

/// Cancelling skips the pending and notified rows of the campaign (and
/// says how many), leaves the others and other campaigns alone.
pub async fn skipping_takes_the_rows_not_yet_started<S: Store>(store: S) {
    let a = store
        .create_campaign(spec("a"), (0..6).map(|n| (dev(n), 0)).collect(), 1)
        .await
        .expect("created");
    let b = store
        .create_campaign(spec("b"), vec![(dev(10), 0)], 1)
        .await
        .expect("created");
    set(&store, a.id, &dev(1), UpdateState::Notified, 1, 0, 2).await;
    set(&store, a.id, &dev(2), UpdateState::Downloading, 1, 0, 2).await;
    set(&store, a.id, &dev(3), UpdateState::Failed, 1, 0, 2).await;
    assert_eq!(
        store
            .skip_pending_campaign_devices(a.id, 50)
            .await
            .expect("skipped"),
        4
    );
    let states: Vec<(UpdateState, u64)> = store
        .campaign_devices(a.id, None, None, 10)
        .await
        .expect("rows")
        .into_iter()
        .map(|r| (r.state, r.updated_ms))
        .collect();
    assert_eq!(
        states,
        [
            (UpdateState::Skipped, 50),
            (UpdateState::Skipped, 50),
            (UpdateState::Downloading, 2),
            (UpdateState::Failed, 2),
            (UpdateState::Skipped, 50),
            (UpdateState::Skipped, 50)
        ]
    );
    assert_eq!(
        row(&store, b.id, &dev(10)).await.state,
        UpdateState::Pending
    );
    assert_eq!(
        store
            .skip_pending_campaign_devices(a.id, 60)
            .await
            .expect("none left"),
        0
    );
    assert_eq!(
        store
            .skip_pending_campaign_devices(CampaignId(b.id.0 + 1), 60)
            .await
            .expect("unknown"),
        0
    );
}

/// A campaign's lease is one node's until it expires (renewed by that
/// node); of nodes asking at once, one gets it.
pub async fn campaign_leases_are_exclusive_until_they_expire<S: Store>(store: S) {
    let a = store
        .create_campaign(spec("a"), vec![(dev(1), 0)], 1)
        .await
        .expect("created");
    let b = store
        .create_campaign(spec("b"), vec![(dev(2), 0)], 1)
        .await
        .expect("created");
    let lease = |id, node: &'static str, now, until| {
        let store = &store;
        async move {
            store
                .lease_campaign(id, node, now, until)
                .await
                .expect("lease")
        }
    };
    assert!(lease(a.id, "n1", 100, 200).await, "free");
    assert!(!lease(a.id, "n2", 150, 250).await, "n1's until 200");
    assert!(lease(b.id, "n2", 150, 250).await, "per campaign");
    assert!(lease(a.id, "n1", 190, 300).await, "renewed");
    assert!(!lease(a.id, "n2", 250, 350).await, "renewed until 300");
    assert!(lease(a.id, "n2", 300, 400).await, "expired");
    assert!(!lease(a.id, "n1", 301, 500).await, "n2's now");
    assert!(matches!(
        store
            .lease_campaign(CampaignId(b.id.0 + 1), "n1", 1, 2)
            .await,
        Err(Error::CampaignNotFound(_))
    ));
    // The lease does not change the campaign's version.
    assert_eq!(
        store
            .campaign(a.id)
            .await
            .expect("read")
            .expect("kept")
            .version,
        1
    );

    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let node = format!("node-{i}");
                store
                    .lease_campaign(a.id, &node, 1000, 2000)
                    .await
                    .expect("lease")
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.expect("task"));
    }
    assert_eq!(granted, 1, "one node of those asking at once");
}

/// Writes campaigns to `store`, has `reopen` drop it and open the same
/// storage again, and checks that the reopened store keeps them (records,
/// rows, counts, leases) and assigns new ids after them.
pub async fn campaigns_survive_reopening<S, T, F, Fut>(store: S, reopen: F)
where
    S: Store,
    T: Store,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = T>,
{
    let a = store
        .create_campaign(
            spec("a"),
            (0..20).map(|n| (dev(n), u32::from(n >= 10))).collect(),
            1,
        )
        .await
        .expect("created");
    set(&store, a.id, &dev(3), UpdateState::Downloading, 2, 0, 5).await;
    let a = store
        .update_campaign(a.id, 1, CampaignStatus::WaitingApproval, 1, 6)
        .await
        .expect("updated");
    assert!(
        store
            .lease_campaign(a.id, "n1", 7, 1000)
            .await
            .expect("lease")
    );
    let counts = store.campaign_counts(a.id).await.expect("counts");
    let rows = store
        .campaign_devices(a.id, None, None, 100)
        .await
        .expect("rows");

    let store = reopen(store).await;
    assert_eq!(store.campaign(a.id).await.expect("read"), Some(a.clone()));
    assert_eq!(store.campaign_counts(a.id).await.expect("counts"), counts);
    assert_eq!(
        store
            .campaign_devices(a.id, None, None, 100)
            .await
            .expect("rows"),
        rows
    );
    assert_eq!(
        store
            .active_campaign_device(&dev(3))
            .await
            .expect("read")
            .map(|r| (r.state, r.attempts)),
        Some((UpdateState::Downloading, 2))
    );
    assert!(
        !store
            .lease_campaign(a.id, "n2", 8, 2000)
            .await
            .expect("lease"),
        "the lease is kept"
    );
    let b = store
        .create_campaign(spec("b"), vec![(dev(3), 0), (dev(30), 0)], 9)
        .await
        .expect("created");
    assert!(b.id > a.id, "ids are not reused");
    assert_eq!(row(&store, b.id, &dev(3)).await.state, UpdateState::Skipped);
}

/// What [`campaign_figures`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CampaignFigures {
    /// Creating the campaign with its rows.
    pub create: std::time::Duration,
    /// One tick of a campaign driver, the slowest of several: the counts,
    /// 100 due rows, the stale rows, the active campaign of a device, with
    /// thousands of rows started.
    pub tick: std::time::Duration,
    /// One [`Store::advance_campaign_device`], on average.
    pub advance: std::time::Duration,
}

/// Creates a campaign of `devices` devices (over a campaign of the same
/// size created before, half its devices still busy), starts half of them
/// 100 at a time as a driver would (due rows, then a compare-and-set each),
/// and measures it; checks what it reads on the way.
pub async fn campaign_figures<S: Store>(store: &S, devices: usize) -> CampaignFigures {
    use std::time::{Duration, Instant};

    let old: Vec<(DevId, u32)> = (0..devices).map(|n| (dev(n + devices / 2), 0)).collect();
    let old = store
        .create_campaign(spec("old"), old, 1)
        .await
        .expect("created");
    let members: Vec<(DevId, u32)> = (0..devices)
        .map(|n| (dev(n), u32::try_from(n * 4 / devices).expect("stage")))
        .collect();
    let started = Instant::now();
    let a = store
        .create_campaign(spec("a"), members, 2)
        .await
        .expect("created");
    let create = started.elapsed();
    let total: u64 = store
        .campaign_counts(a.id)
        .await
        .expect("counts")
        .iter()
        .map(StageCounts::total)
        .sum();
    assert_eq!(total, devices as u64);
    let skipped = store
        .campaign_devices(a.id, Some(UpdateState::Skipped), None, devices)
        .await
        .expect("rows")
        .len();
    assert_eq!(skipped, devices / 2, "those in the old campaign");

    let mut tick = Duration::ZERO;
    let mut advance = Duration::ZERO;
    let mut advanced = 0u32;
    let mut now = 10;
    loop {
        now += 1;
        let started = Instant::now();
        store.campaign_counts(a.id).await.expect("counts");
        let due = store
            .due_campaign_devices(a.id, 3, now, 100)
            .await
            .expect("due");
        store
            .stale_campaign_devices(a.id, 5, 100)
            .await
            .expect("stale");
        store
            .active_campaign_device(&dev(devices - 1))
            .await
            .expect("active");
        tick = tick.max(started.elapsed());
        if due.is_empty() {
            break;
        }
        assert!(
            due.windows(2).all(|w| w[0].stage <= w[1].stage),
            "stage order"
        );
        let started = Instant::now();
        for row in due {
            let mut next = row.clone();
            next.state = UpdateState::Notified;
            next.attempts = 1;
            assert!(
                store
                    .advance_campaign_device(&next, (UpdateState::Pending, 0), now)
                    .await
                    .expect("advanced")
            );
            advanced += 1;
        }
        advance += started.elapsed();
    }
    assert_eq!(advanced as usize, devices - devices / 2);
    assert!(
        store
            .active_campaign_device(&dev(devices - 1))
            .await
            .expect("read")
            .is_some_and(|r| r.campaign == old.id)
    );
    CampaignFigures {
        create,
        tick,
        advance: advance / advanced.max(1),
    }
}

/// An artifact or group an unfinished campaign uses (as its artifact, its
/// target group or a stage's group) cannot be replaced or removed
/// (`ArtifactInUse`, `GroupInUse`, nothing changed); once the campaign is
/// finished it can.
pub async fn artifacts_and_groups_in_use_are_kept<S: Store>(store: S) {
    use dm_server::{GroupFilter, GroupRecord};

    let content = super::artifact_content(10);
    let artifact = super::stored_artifact("fw-2.0", &content);
    store
        .put_artifact(artifact.clone(), Some(content.clone()))
        .await
        .expect("artifact stored");
    let all = GroupId::new("all").expect("group id");
    let canary = GroupId::new("canary").expect("group id");
    for id in [&all, &canary] {
        store
            .put_group(GroupRecord::new(id.clone(), GroupFilter::default()))
            .await
            .expect("group stored");
    }
    let mut spec = spec("in use");
    spec.stages[0].size = StageSize::Group(canary.clone());
    let campaign = store
        .create_campaign(spec, vec![(dev(1), 0)], 1)
        .await
        .expect("created");
    let in_use = |e: &Error| matches!(e, Error::ArtifactInUse(_) | Error::GroupInUse(_));
    let refused = store
        .put_artifact(artifact.clone(), Some(content.clone()))
        .await
        .expect_err("replacing an artifact in use");
    assert!(in_use(&refused), "{refused}");
    let refused = store
        .remove_artifact(&artifact.id)
        .await
        .expect_err("removing an artifact in use");
    assert!(matches!(refused, Error::ArtifactInUse(_)), "{refused}");
    for id in [&all, &canary] {
        let refused = store
            .remove_group(id)
            .await
            .expect_err("removing a group in use");
        assert!(matches!(refused, Error::GroupInUse(_)), "{id}: {refused}");
    }
    assert!(store.artifact(&artifact.id).await.expect("read").is_some());
    assert_eq!(store.groups().await.expect("read").len(), 2);

    store
        .update_campaign(
            campaign.id,
            campaign.version,
            CampaignStatus::Cancelled,
            0,
            2,
        )
        .await
        .expect("cancelled");
    assert!(store.remove_group(&canary).await.expect("removed"));
    assert!(store.remove_artifact(&artifact.id).await.expect("removed"));
}
