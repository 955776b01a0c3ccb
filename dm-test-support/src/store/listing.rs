//! The device-listing part of the store contract
//! ([`Store::devices`](dm_server::Store::devices)): DevID order (bytes),
//! prefixes as ranges (no pattern characters), cursors, limits, the open
//! sessions of the page, and every device exactly once when paging.

use std::collections::BTreeSet;

use dm_server::{
    DevicePage, DeviceQuery, DeviceRegistration, SessionEnd, SessionOutcome, SessionRecord,
    SessionToken, Store,
};
use dm_session::SessionState;
use dm_types::DevId;

use crate::seed::{seed_devices, seeded_dev_id};

fn dev(id: &str) -> DevId {
    DevId::new(id).expect("valid DevID")
}

async fn page<S: Store>(store: &S, query: &DeviceQuery) -> DevicePage {
    store.devices(query).await.expect("listed")
}

fn ids(page: &DevicePage) -> Vec<&str> {
    page.devices.iter().map(|d| d.dev_id.as_str()).collect()
}

/// Every page of `query` (with its limit), following `next`.
async fn all_pages<S: Store>(store: &S, query: DeviceQuery) -> Vec<String> {
    let mut listed = Vec::new();
    let mut query = query;
    loop {
        let page = page(store, &query).await;
        assert!(page.devices.len() <= query.limit, "within the limit");
        listed.extend(page.devices.iter().map(|d| d.dev_id.to_string()));
        match page.next {
            Some(next) => {
                assert_eq!(
                    Some(next.as_str()),
                    listed.last().map(String::as_str),
                    "next is the last of the page"
                );
                query.after = Some(next);
            }
            None => return listed,
        }
    }
}

/// Devices are listed in byte order of their DevIDs; a prefix selects
/// exactly the DevIDs that start with it (`%` and `_` are plain
/// characters); `after` and the prefix combine; `next` is `None` exactly
/// on the last page; the open sessions of a page come with it.
pub async fn devices_are_listed_by_prefix_and_cursor_each_once<S: Store>(store: S) {
    let names = [
        "IMEI:1", "IMEI:10", "IMEI:2", "IMEI:20", "IMEI", "IMEI;0", "IMEJ:0", "IMEI:%1", "IMEI_1",
        "IMEI:_", "MEID:1", "IMEI:~", "~", "~~",
    ];
    for name in names {
        store
            .register_device(DeviceRegistration::new(dev(name)), false, 1)
            .await
            .expect("registered");
    }
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_unstable();
    let everything = page(&store, &DeviceQuery::new(100)).await;
    assert_eq!(ids(&everything), sorted, "byte order");
    assert_eq!(everything.next, None, "one page");

    let imei: Vec<&str> = sorted
        .iter()
        .copied()
        .filter(|n| n.starts_with("IMEI:"))
        .collect();
    assert_eq!(
        imei,
        [
            "IMEI:%1", "IMEI:1", "IMEI:10", "IMEI:2", "IMEI:20", "IMEI:_", "IMEI:~"
        ]
    );
    let listed = page(&store, &DeviceQuery::new(100).with_prefix("IMEI:")).await;
    assert_eq!(ids(&listed), imei);
    for (prefix, expected) in [
        ("IMEI:1", vec!["IMEI:1", "IMEI:10"]),
        ("IMEI:%", vec!["IMEI:%1"]),
        ("IMEI_", vec!["IMEI_1"]),
        ("IMEI:_", vec!["IMEI:_"]),
        ("~", vec!["~", "~~"]),
        ("IMEI:10", vec!["IMEI:10"]),
        ("IMEI:100", vec![]),
        ("X", vec![]),
    ] {
        let listed = page(&store, &DeviceQuery::new(100).with_prefix(prefix)).await;
        assert_eq!(ids(&listed), expected, "prefix {prefix:?}");
    }
    assert_eq!(
        ids(&page(&store, &DeviceQuery::new(100).with_prefix("")).await),
        sorted,
        "an empty prefix is no filter"
    );

    // The cursor with and without a prefix, before, inside and after it.
    for (after, expected) in [
        ("IMEI:10", vec!["IMEI:2", "IMEI:20", "IMEI:_", "IMEI:~"]),
        ("A", imei.clone()),
        (
            "IMEI:1",
            vec!["IMEI:10", "IMEI:2", "IMEI:20", "IMEI:_", "IMEI:~"],
        ),
        ("IMEI:3", vec!["IMEI:_", "IMEI:~"]),
        ("IMEI:~", vec![]),
        ("Z", vec![]),
    ] {
        let query = DeviceQuery::new(100)
            .with_prefix("IMEI:")
            .with_after(dev(after));
        assert_eq!(
            ids(&page(&store, &query).await),
            expected,
            "after {after:?}"
        );
    }
    let after = page(&store, &DeviceQuery::new(100).with_after(dev("IMEI;0"))).await;
    assert_eq!(ids(&after), ["IMEI_1", "IMEJ:0", "MEID:1", "~", "~~"]);

    // Paging: every device once, with and without a prefix, whatever the
    // limit; `next` only when more follow.
    for limit in [1, 2, 3, 7, 14, 15] {
        assert_eq!(
            all_pages(&store, DeviceQuery::new(limit)).await,
            sorted,
            "limit {limit}"
        );
        assert_eq!(
            all_pages(&store, DeviceQuery::new(limit).with_prefix("IMEI:")).await,
            imei,
            "limit {limit}"
        );
    }
    let exact = page(&store, &DeviceQuery::new(imei.len()).with_prefix("IMEI:")).await;
    assert_eq!(exact.next, None, "a page that ends the list exactly");
    let short = page(&store, &DeviceQuery::new(2).with_prefix("IMEI:")).await;
    assert_eq!(short.next, Some(dev("IMEI:1")));

    // The open sessions of the page come with it, and only those.
    let d10 = dev("IMEI:10");
    let d2 = dev("IMEI:2");
    let tokens = [1u8, 2, 3].map(|b| SessionToken::from_bytes([b; 16]));
    for (token, dev_id) in tokens.iter().zip([&d10, &d10, &d2]) {
        store
            .open_session(
                SessionRecord::new(*token, 10, SessionState::new(dev_id.clone(), 1000)),
                100,
            )
            .await
            .expect("opened");
    }
    let first = page(&store, &DeviceQuery::new(3).with_prefix("IMEI:")).await;
    assert_eq!(ids(&first), ["IMEI:%1", "IMEI:1", "IMEI:10"]);
    assert_eq!(first.devices[2].open_sessions, tokens[..2], "oldest first");
    assert_eq!(first.devices[2].open_session, Some(tokens[1]));
    let open: BTreeSet<SessionToken> = first.open_sessions.iter().map(|s| s.token).collect();
    assert_eq!(open, tokens[..2].iter().copied().collect(), "not IMEI:2's");
    assert!(first.open_sessions.iter().all(|s| *s.dev_id() == d10));
    let second = page(
        &store,
        &DeviceQuery::new(3)
            .with_prefix("IMEI:")
            .with_after(d10.clone()),
    )
    .await;
    assert_eq!(second.devices[0].open_sessions, [tokens[2]]);
    assert_eq!(second.open_sessions.len(), 1);
    assert_eq!(second.open_sessions[0].token, tokens[2]);
    store
        .end_session(
            tokens[2],
            &d2,
            SessionEnd::new(SessionOutcome::Completed, 1, 20),
        )
        .await
        .expect("ended");
    let second = page(
        &store,
        &DeviceQuery::new(3).with_prefix("IMEI:").with_after(d10),
    )
    .await;
    assert!(second.open_sessions.is_empty(), "an ended session is gone");
    assert!(second.devices[0].open_sessions.is_empty());
}

/// Seeded devices ([`seed_devices`]) page through in order, each once,
/// and a prefix of their DevIDs selects a range of them.
pub async fn seeded_devices_page_through_in_order<S: Store>(store: S) {
    seed_devices(&store, 3_000).await.expect("seeded");
    assert_eq!(store.device_count().await.expect("counted"), 3_000);
    let listed = all_pages(&store, DeviceQuery::new(1000)).await;
    let expected: Vec<String> = (0..3_000).map(|i| seeded_dev_id(i).to_string()).collect();
    assert_eq!(listed, expected);
    // IMEI:000000000001 + three digits: devices 1000 to 1999.
    let thousand = page(
        &store,
        &DeviceQuery::new(1000).with_prefix("IMEI:000000000001"),
    )
    .await;
    assert_eq!(thousand.devices.len(), 1000);
    assert_eq!(thousand.devices[0].dev_id, seeded_dev_id(1000));
    assert_eq!(thousand.devices[999].dev_id, seeded_dev_id(1999));
    assert_eq!(thousand.next, None);
    let deep = page(
        &store,
        &DeviceQuery::new(5).with_after(seeded_dev_id(2_996)),
    )
    .await;
    assert_eq!(
        ids(&deep),
        [
            "IMEI:000000000002997",
            "IMEI:000000000002998",
            "IMEI:000000000002999"
        ]
    );
    assert_eq!(deep.next, None);
    // Seeding again names the same devices: refused.
    assert!(seed_devices(&store, 1).await.is_err());
}
