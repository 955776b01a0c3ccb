//! The device list, the device page and its paged lists over HTTP
//! (`GET /admin/devices?prefix=&after=&limit=`, `GET /admin/devices/{DevID}`,
//! `.../commands?limit=&before=`, `.../alerts?limit=`,
//! `.../sessions?limit=&before=`), on a running server.

use std::collections::BTreeSet;
use std::sync::Arc;

use dm_server::{AlertRecord, MemoryStore, Store};
use dm_test_support::seed::{seed_devices, seeded_dev_id};
use dm_test_support::server as common;

use common::*;
use dm_types::{Alert, AlertType};
use reqwest::Method;
use serde_json::{Value, json};

/// A server over a memory store holding devices 1 and 2 and `seeded`
/// seeded devices.
async fn server_with(seeded: usize) -> (TestServer<Arc<MemoryStore>>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    seed_devices(&*store, seeded).await.expect("seeded");
    let server = TestServer::start_on(options().build().expect("options"), store.clone()).await;
    register_two(&server.admin()).await;
    (server, store)
}

fn listed(page: &Value) -> Vec<String> {
    page["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["dev_id"].as_str().expect("dev_id").to_owned())
        .collect()
}

/// Follows `next` from `first` (a query without `after`), checking each
/// page's size and `total`; returns every DevID listed.
async fn all_pages(admin: &AdminClient, first: &str, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut path = first.to_owned();
    loop {
        let (status, page) = admin.get(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        let ids = listed(&page);
        assert!(ids.len() <= limit, "{path}: {} over {limit}", ids.len());
        if path.contains("after=") || path.contains("prefix=") {
            assert_eq!(
                page["total"],
                Value::Null,
                "{path}: total only on the first page"
            );
        }
        all.extend(ids);
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), all.last().map(String::as_str));
                path = format!("{first}&after={}", segment(next));
            }
            None => return all,
        }
    }
}

#[tokio::test]
async fn paging_through_all_devices_returns_each_exactly_once() {
    let (server, _store) = server_with(2_500).await;
    let admin = AdminClient::new(&server.base);
    let (status, first) = admin.get("/admin/devices?limit=1000").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["total"], 2_502, "total on the first unfiltered page");
    let all = all_pages(&admin, "/admin/devices?limit=1000", 1000).await;
    let mut expected: Vec<String> = (0..2_500).map(|i| seeded_dev_id(i).to_string()).collect();
    expected.extend([DEV1.to_owned(), DEV2.to_owned()]);
    expected.sort();
    assert_eq!(all, expected, "each once, in DevID order");
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 2_502);
    // Another limit pages the same devices.
    assert_eq!(
        all_pages(&admin, "/admin/devices?limit=333", 333).await,
        expected
    );
    // The default page is 100.
    let (_, default) = admin.get("/admin/devices").await;
    assert_eq!(listed(&default).len(), 100);
    assert_eq!(default["next"], seeded_dev_id(99).as_str());
}

#[tokio::test]
async fn a_prefix_selects_the_devices_whose_dev_id_starts_with_it() {
    let (server, _store) = server_with(1_200).await;
    let admin = AdminClient::new(&server.base);
    // Devices 1100 to 1199.
    let prefix = segment("IMEI:0000000000011");
    let all = all_pages(
        &admin,
        &format!("/admin/devices?prefix={prefix}&limit=30"),
        30,
    )
    .await;
    let expected: Vec<String> = (1_100..1_200)
        .map(|i| seeded_dev_id(i).to_string())
        .collect();
    assert_eq!(all, expected);
    let (_, page) = admin
        .get(&format!("/admin/devices?prefix={prefix}&limit=100"))
        .await;
    assert_eq!(page["next"], Value::Null, "the last page says so");
    assert_eq!(page["total"], Value::Null, "no total with a prefix");
    // Devices 1 and 2 only.
    let (_, page) = admin
        .get(&format!(
            "/admin/devices?prefix={}",
            segment("IMEI:4930051")
        ))
        .await;
    assert_eq!(listed(&page), [DEV1, DEV2]);
    // Nothing matches; pattern characters are plain characters.
    for prefix in ["IMEI:9", "IMEI:%25", "IMEI:_", "MEID:"] {
        let (status, page) = admin.get(&format!("/admin/devices?prefix={prefix}")).await;
        assert_eq!((status, listed(&page).len()), (200, 0), "{prefix}");
        assert_eq!(page["next"], Value::Null);
    }
    // An empty prefix is no filter.
    let (_, page) = admin.get("/admin/devices?prefix=&limit=5").await;
    assert_eq!(page["total"], 1_202);
}

#[tokio::test]
async fn a_bad_prefix_limit_or_cursor_is_refused_with_its_reason() {
    let (server, _store) = server_with(10).await;
    let admin = AdminClient::new(&server.base);
    let long = "I".repeat(257);
    for (query, reason) in [
        ("limit=0", "limit \"0\" is not a number from 1 to 1000"),
        (
            "limit=1001",
            "limit \"1001\" is not a number from 1 to 1000",
        ),
        ("limit=-1", "limit \"-1\" is not a number from 1 to 1000"),
        ("limit=x", "limit \"x\" is not a number from 1 to 1000"),
        (
            "limit=99999999999999999999999",
            "is not a number from 1 to 1000",
        ),
        ("prefix=IMEI%3A%201", "prefix \"IMEI: 1\": "),
        ("prefix=IMEI%0A", "must be visible ASCII"),
        (&format!("prefix={long}"), "longer than 256 bytes"),
        ("after=bad%20id", "DevID \"bad id\""),
        ("after=", "DevID \"\""),
        ("colour=red", "query: "),
        ("limit=1&limit=2", "query: "),
    ] {
        let (status, answer) = admin.get(&format!("/admin/devices?{query}")).await;
        assert_eq!(status, 400, "{query}: {answer}");
        let error = answer["error"].as_str().expect("error");
        assert!(error.contains(reason), "{query}: {error}");
    }
    for path in [
        format!("/admin/devices/{}/commands?limit=0", segment(DEV1)),
        format!("/admin/devices/{}/commands?before=x", segment(DEV1)),
        format!("/admin/devices/{}/alerts?limit=1001", segment(DEV1)),
        format!("/admin/devices/{}/alerts?before=1", segment(DEV1)),
        format!("/admin/devices/{}/sessions?limit=x", segment(DEV1)),
        format!("/admin/devices/{}/sessions?before=zz", segment(DEV1)),
    ] {
        let (status, answer) = admin.get(&path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].is_string());
    }
    for path in ["commands", "alerts", "sessions"] {
        let (status, _) = admin.get(&format!("/admin/devices/IMEI%3A9/{path}")).await;
        assert_eq!(status, 404, "{path} of an unknown device");
    }
}

#[tokio::test]
async fn entries_show_tags_and_open_sessions() {
    let (server, _store) = server_with(0).await;
    let admin = AdminClient::new(&server.base);
    let (status, _) = admin
        .call(
            Method::PUT,
            &format!("/admin/devices/{}/tags", segment(DEV1)),
            Some(json!(["canary", "site:berlin"])),
        )
        .await;
    assert_eq!(status, 200);
    queue_get(&server.admin(), "Man").await;
    let (uri, _) = open_session(&server).await;
    let (_, page) = admin.get("/admin/devices").await;
    let one = &page["devices"][0];
    assert_eq!(one["dev_id"], DEV1);
    assert_eq!(one["tags"], json!(["canary", "site:berlin"]));
    assert_eq!(one["open_session"], true);
    let open = one["open_sessions"].as_array().expect("open sessions");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["id"], one["last_session"]["id"]);
    assert!(open[0]["deadline_ms"].is_u64());
    assert_eq!(page["devices"][1]["tags"], json!([]));
    assert_eq!(page["devices"][1]["open_sessions"], json!([]));
    finish_session(&uri, &[200, 200]).await;
    let (_, page) = admin.get("/admin/devices").await;
    assert_eq!(page["devices"][0]["open_sessions"], json!([]));
}

#[tokio::test]
async fn the_sessions_of_a_device_page_latest_first() {
    let (server, _store) = server_with(0).await;
    let admin = AdminClient::new(&server.base);
    let path = format!("/admin/devices/{}/sessions", segment(DEV1));
    let (status, none) = admin.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(none, json!({"sessions": [], "next": null}));
    // Three sessions; the second carries two commands.
    for commands in [0, 2, 0] {
        for _ in 0..commands {
            queue_get(&server.admin(), "Man").await;
        }
        if commands == 0 {
            // Nothing queued: the session ends in its first Package#2.
            let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
            assert_eq!(response.status(), 200);
        } else {
            let (uri, _) = open_session(&server).await;
            finish_session(&uri, &vec![200; commands + 1]).await;
        }
    }
    let (_, all) = admin.get(&path).await;
    let all = all["sessions"].as_array().expect("sessions").clone();
    assert_eq!(all.len(), 3);
    let started: Vec<u64> = all
        .iter()
        .map(|s| s["started_ms"].as_u64().expect("started"))
        .collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "latest first");
    let counts: Vec<u64> = all
        .iter()
        .map(|s| s["commands"].as_u64().expect("count"))
        .collect();
    assert_eq!(counts, [0, 2, 0]);
    assert!(all.iter().all(|s| s["outcome"] == "completed"));
    let (_, first) = admin.get(&format!("{path}?limit=2")).await;
    assert_eq!(first["sessions"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["next"], all[1]["id"]);
    let (_, second) = admin
        .get(&format!(
            "{path}?limit=2&before={}",
            all[1]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(second["sessions"], json!([all[2].clone()]));
    assert_eq!(second["next"], Value::Null);
    // A session the store no longer keeps: nothing older is kept either.
    let (status, gone) = admin.get(&format!("{path}?before=0123456789abcdef")).await;
    assert_eq!(status, 200);
    assert_eq!(gone["sessions"], json!([]));
}

#[tokio::test]
async fn the_device_page_shows_the_newest_100_of_each_list_with_totals() {
    let (server, store) = server_with(0).await;
    let admin = AdminClient::new(&server.base);
    let dev1 = dev(DEV1);
    let mut queued = Vec::new();
    for _ in 0..150 {
        queued.push(queue_get(&server.admin(), "Man").await);
    }
    let alerts = (0..120)
        .map(|i| {
            AlertRecord::new(
                Alert::new(AlertType::new("urn:x:test").expect("type")),
                None,
                i,
            )
        })
        .collect();
    store.record_alerts(&dev1, alerts).await.expect("recorded");

    let (status, device) = admin
        .get(&format!("/admin/devices/{}", segment(DEV1)))
        .await;
    assert_eq!(status, 200, "{device}");
    let pending = device["commands"]["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 100);
    assert_eq!(device["commands"]["pending_total"], 150);
    assert_eq!(device["commands"]["finished_total"], 0);
    assert_eq!(
        pending[0]["id"],
        queued[50].to_string(),
        "the newest, in queue order"
    );
    assert_eq!(pending[99]["id"], queued[149].to_string());
    assert_eq!(device["alerts"], 120);
    let recent = device["recent_alerts"].as_array().expect("recent alerts");
    assert_eq!(recent.len(), 100);
    assert_eq!(recent[0]["received_ms"], 20);
    assert_eq!(recent[99]["received_ms"], 119);
    assert!(device["sessions"].is_array() && device["devinfo"].is_object());

    // The commands, newest first, 60 at a time: each once.
    let path = format!("/admin/devices/{}/commands", segment(DEV1));
    let mut seen = Vec::new();
    let mut query = format!("{path}?limit=60");
    loop {
        let (status, page) = admin.get(&query).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 150);
        let ids = page["commands"].as_array().expect("commands");
        assert!(ids.len() <= 60);
        seen.extend(ids.iter().map(|c| c["id"].as_str().expect("id").to_owned()));
        match page["next"].as_str() {
            Some(next) => query = format!("{path}?limit=60&before={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = queued.iter().rev().map(ToString::to_string).collect();
    assert_eq!(seen, expected);
    let (_, default) = admin.get(&path).await;
    assert_eq!(default["commands"].as_array().map(Vec::len), Some(100));

    // The alerts: the newest `limit`, oldest first.
    let (_, page) = admin
        .get(&format!("/admin/devices/{}/alerts?limit=10", segment(DEV1)))
        .await;
    assert_eq!(page["total"], 120);
    let received: Vec<u64> = page["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| a["received_ms"].as_u64().expect("received"))
        .collect();
    assert_eq!(received, (110..120).collect::<Vec<_>>());
}
