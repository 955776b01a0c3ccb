//! The conformance checks of the events and webhooks of a [`Store`].

use std::sync::Arc;

use dm_server::{EventFilter, EventKind, NewEvent, Store, WebhookId, WebhookSpec};
use dm_types::DevId;

fn dev(id: &str) -> DevId {
    DevId::new(id).expect("valid DevID")
}

fn event(kind: EventKind, at_ms: u64, dev_id: Option<&str>) -> NewEvent {
    NewEvent::new(kind, at_ms, dev_id.map(dev), format!(r#"{{"n":{at_ms}}}"#))
}

/// Appended events get increasing ids from 1, are read back after an id
/// in order, within a limit, and filtered by kind and device.
pub async fn events_get_increasing_ids_and_are_read_by_filter<S: Store>(store: S) {
    assert_eq!(store.event_bounds().await.expect("bounds").newest, 0);
    assert!(
        store
            .events_after(0, 10, &EventFilter::default())
            .await
            .expect("read")
            .is_empty()
    );
    store
        .append_events(Vec::new())
        .await
        .expect("nothing appended");
    store
        .append_events(vec![
            event(EventKind::DeviceRegistered, 1, Some("IMEI:1")),
            event(EventKind::AlertReceived, 2, Some("IMEI:2")),
            event(EventKind::CampaignProgress, 3, None),
        ])
        .await
        .expect("appended");
    store
        .append_events(vec![event(EventKind::AlertReceived, 4, Some("IMEI:1"))])
        .await
        .expect("appended");
    let all = store
        .events_after(0, 10, &EventFilter::default())
        .await
        .expect("read");
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(all[0].kind, EventKind::DeviceRegistered);
    assert_eq!(all[0].dev_id, Some(dev("IMEI:1")));
    assert_eq!(all[0].data, r#"{"n":1}"#);
    assert_eq!(all[2].dev_id, None);
    assert_eq!(all[3].at_ms, 4);
    let after = store
        .events_after(2, 1, &EventFilter::default())
        .await
        .expect("read");
    assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), [3]);
    let alerts = EventFilter::default().with_kinds(vec![EventKind::AlertReceived]);
    let read = store.events_after(0, 10, &alerts).await.expect("read");
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 4]);
    let one = EventFilter::default().with_dev_id(dev("IMEI:1"));
    let read = store.events_after(0, 10, &one).await.expect("read");
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 4]);
    let both = alerts.with_dev_id(dev("IMEI:1"));
    let read = store.events_after(1, 10, &both).await.expect("read");
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), [4]);
    let bounds = store.event_bounds().await.expect("bounds");
    assert_eq!((bounds.newest, bounds.pruned_through), (4, 0));
}

/// Pruning keeps the newest `keep` and those not older than the bound,
/// raises `pruned_through`, and never gives a pruned id again.
pub async fn events_are_pruned_by_count_and_age<S: Store>(store: S) {
    let events = (1..=10)
        .map(|n| event(EventKind::SessionEnded, n * 100, Some("IMEI:1")))
        .collect();
    store.append_events(events).await.expect("appended");
    assert_eq!(store.prune_events(100, 0).await.expect("pruned"), 0);
    // By count: 6 kept.
    assert_eq!(store.prune_events(6, 0).await.expect("pruned"), 4);
    let bounds = store.event_bounds().await.expect("bounds");
    assert_eq!((bounds.newest, bounds.pruned_through), (10, 4));
    assert!(bounds.lost_after(3) && !bounds.lost_after(4));
    // By age: those before 700 ms.
    assert_eq!(store.prune_events(100, 700).await.expect("pruned"), 2);
    let left = store
        .events_after(0, 100, &EventFilter::default())
        .await
        .expect("read");
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), [7, 8, 9, 10]);
    assert_eq!(
        store.event_bounds().await.expect("bounds").pruned_through,
        6
    );
    // Everything: ids go on after the newest.
    assert_eq!(store.prune_events(0, u64::MAX).await.expect("pruned"), 4);
    store
        .append_events(vec![event(EventKind::SessionEnded, 1, None)])
        .await
        .expect("appended");
    let left = store
        .events_after(0, 100, &EventFilter::default())
        .await
        .expect("read");
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), [11]);
    assert_eq!(
        store.event_bounds().await.expect("bounds"),
        dm_server::EventBounds::new(11, 10)
    );
}

/// Appends racing each other while a reader follows the newest id: the
/// reader, moving its cursor to the last id it read, still reads every
/// event exactly once (no id commits after a greater one was readable).
pub async fn concurrent_appends_never_commit_an_id_late<S: Store>(store: S) {
    let store = Arc::new(store);
    let (writers, batches, per_batch) = (8u64, 25u64, 4u64);
    let total = writers * batches * per_batch;
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            while (seen.len() as u64) < total {
                let read = store
                    .events_after(cursor, 50, &EventFilter::default())
                    .await
                    .expect("read");
                for event in read {
                    seen.push(event.id);
                    cursor = event.id;
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..batches {
                let events = (0..per_batch)
                    .map(|i| {
                        event(
                            EventKind::CommandFinished,
                            w * 1000 + b * 10 + i,
                            Some("IMEI:1"),
                        )
                    })
                    .collect();
                store.append_events(events).await.expect("appended");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("the reader reads every event")
        .expect("reader");
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
}

/// Webhooks get ids, start at the newest event, are listed and removed;
/// one node holds a lease until it expires, and only the holder moves the
/// cursor, forward only.
pub async fn webhook_leases_are_exclusive_and_cursors_move_forward<S: Store>(store: S) {
    store
        .append_events(vec![event(EventKind::DeviceRegistered, 1, Some("IMEI:1"))])
        .await
        .expect("appended");
    let spec = WebhookSpec::new("http://127.0.0.1:9/hook", "secret")
        .with_kinds(vec![EventKind::SessionEnded, EventKind::AlertReceived]);
    let a = store
        .create_webhook(spec.clone(), 5)
        .await
        .expect("created");
    let b = store
        .create_webhook(WebhookSpec::new("https://example.com/", "s2"), 6)
        .await
        .expect("created");
    assert!(b.id > a.id);
    assert_eq!(a.cursor, 1);
    assert_eq!(a.created_ms, 5);
    assert_eq!(a.spec, spec);
    let listed = store.webhooks().await.expect("listed");
    assert_eq!(listed, vec![a.clone(), b.clone()]);
    // Leases.
    let held = store
        .lease_webhook(a.id, "n1", 100, 200)
        .await
        .expect("lease");
    assert_eq!(held.map(|w| w.cursor), Some(1));
    assert!(
        store
            .lease_webhook(a.id, "n2", 150, 250)
            .await
            .expect("lease")
            .is_none()
    );
    assert!(
        store
            .lease_webhook(a.id, "n1", 150, 250)
            .await
            .expect("renewed")
            .is_some()
    );
    assert!(!store.advance_webhook(a.id, "n2", 5).await.expect("advance"));
    assert!(store.advance_webhook(a.id, "n1", 5).await.expect("advance"));
    assert!(
        store
            .advance_webhook(a.id, "n1", 3)
            .await
            .expect("never back")
    );
    // Expired: another node takes it, with the cursor.
    let taken = store
        .lease_webhook(a.id, "n2", 250, 400)
        .await
        .expect("lease");
    assert_eq!(taken.map(|w| w.cursor), Some(5));
    assert!(!store.advance_webhook(a.id, "n1", 9).await.expect("advance"));
    assert!(
        store
            .lease_webhook(WebhookId(b.id.0 + 100), "n1", 0, 1)
            .await
            .expect("lease")
            .is_none()
    );
    assert!(store.remove_webhook(a.id).await.expect("removed"));
    assert!(!store.remove_webhook(a.id).await.expect("removed"));
    assert!(
        store
            .lease_webhook(a.id, "n2", 250, 400)
            .await
            .expect("lease")
            .is_none()
    );
    assert_eq!(store.webhooks().await.expect("listed"), vec![b]);
}
