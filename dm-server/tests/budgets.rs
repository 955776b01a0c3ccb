//! Byte budgets against a hostile device: what a device sends cannot make
//! the embedded store keep more than its per-device budgets of alerts,
//! repository objects and MO inventory.

use dm_test_support::server as common;

use common::{
    Auth, BASIC1, BASIC2, DEV1, DEV2, TestServer, client, dev, options, post_package1,
    register_two, repo_get, repo_put,
};
use dm_server::{MemoryStore, Retention};
use serde_json::{Value, json};

const REPORT: &str = "urn:dm-sdk:at:1.0:Report";

/// A Package#1 with the session-start alert, `alerts` and `mos`.
fn package1(alerts: Vec<Value>, mos: Option<Vec<Value>>) -> String {
    let mut all = vec![json!({"AlertType": "urn:oma:at:dm:2.0:ClientInitiatedMgmt"})];
    all.extend(alerts);
    let mut package = json!({ "Alert": all });
    if let Some(mos) = mos {
        package["MOS"] = Value::Array(mos);
    }
    package.to_string()
}

/// A generic alert numbered `n` whose `Data` holds about `bytes` bytes.
fn report(n: usize, bytes: usize) -> Value {
    json!({
        "AlertType": REPORT,
        "SourceURI": format!("urn:dm-sdk:mo:report:1.0//n{n}"),
        "Data": {"text": "x".repeat(bytes)},
    })
}

async fn start(retention: Retention) -> TestServer {
    let options = options().build().expect("options");
    let server = TestServer::start_on(options, MemoryStore::new().with_retention(retention)).await;
    register_two(&server.admin()).await;
    server
}

async fn open_session(server: &TestServer, body: &str, dev_id: &str, auth: Auth<'_>) {
    let response = post_package1(&client(), server, dev_id, body, auth).await;
    assert_eq!(response.status(), 200, "Package#1 accepted");
}

#[tokio::test]
async fn alerts_stay_within_the_byte_budget_and_the_newest_are_kept() {
    const BUDGET: usize = 32 * 1024;
    const PER_ALERT: usize = 8 * 1024;
    let server = start(
        Retention::default()
            .with_alert_bytes(BUDGET)
            .with_alert_data_bytes(PER_ALERT),
    )
    .await;
    // 5 packages of 6 alerts of about 5 KiB: about 150 KiB sent.
    let mut sent = 0;
    for _ in 0..5 {
        let alerts = (sent..sent + 6).map(|n| report(n, 5000)).collect();
        sent += 6;
        open_session(&server, &package1(alerts, None), DEV1, BASIC1).await;
    }
    let stored = server.admin().alerts(&dev(DEV1)).await.expect("alerts");
    let total: usize = stored.iter().map(dm_server::AlertRecord::encoded_len).sum();
    assert!(total <= BUDGET, "{total} bytes kept, budget {BUDGET}");
    assert!(
        stored.len() >= 5,
        "the budget is used, not emptied: {} kept",
        stored.len()
    );
    assert!(stored.len() < sent);
    // The newest are kept, in order, ending with the last one sent.
    let numbers: Vec<usize> = stored
        .iter()
        .map(|r| {
            let uri = r.alert.source_uri.as_deref().expect("SourceURI kept");
            uri.rsplit_once("//n")
                .and_then(|(_, n)| n.parse().ok())
                .expect("numbered")
        })
        .collect();
    let expected: Vec<usize> = (sent - stored.len()..sent).collect();
    assert_eq!(numbers, expected);
    // Their Data is intact (each is under the per-alert cap).
    assert_eq!(
        stored[0].alert.data.as_ref().expect("Data")["text"]
            .as_str()
            .map(str::len),
        Some(5000)
    );

    // The other device's alerts are its own.
    open_session(&server, &package1(vec![report(0, 10)], None), DEV2, BASIC2).await;
    assert_eq!(
        server
            .admin()
            .alerts(&dev(DEV2))
            .await
            .expect("alerts")
            .len(),
        1
    );
    assert_eq!(
        server.admin().alerts(&dev(DEV1)).await.expect("alerts"),
        stored
    );
}

#[tokio::test]
async fn an_oversized_alert_is_stored_with_its_data_truncated() {
    const PER_ALERT: usize = 4 * 1024;
    let server = start(Retention::default().with_alert_data_bytes(PER_ALERT)).await;
    // Many small members: cheap on the wire, costly as parsed JSON.
    let mut data = serde_json::Map::new();
    for i in 0..20_000 {
        data.insert(format!("m{i}"), Value::from(0));
    }
    let hostile = json!({"AlertType": REPORT, "SourceURI": "big", "Data": data});
    let hostile_size = dm_codec::encode_alert(
        &dm_codec::decode_alert(hostile.to_string().as_bytes(), &dm_codec::Limits::default())
            .expect("a valid alert"),
    )
    .len();
    // An alert too large even without its Data is not stored at all.
    let huge_uri = json!({"AlertType": REPORT, "SourceURI": "u".repeat(PER_ALERT * 2)});
    open_session(
        &server,
        &package1(
            vec![report(1, 100), hostile, huge_uri, report(2, 100)],
            None,
        ),
        DEV1,
        BASIC1,
    )
    .await;

    let stored = server.admin().alerts(&dev(DEV1)).await.expect("alerts");
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(stored.iter().all(|r| r.encoded_len() <= PER_ALERT));
    let truncated = &stored[1];
    assert_eq!(truncated.alert.source_uri.as_deref(), Some("big"));
    assert_eq!(
        truncated
            .alert
            .data
            .as_ref()
            .map(|d| Value::Object(d.clone())),
        Some(json!({"truncated": hostile_size}))
    );
    assert_eq!(
        stored[2].alert.source_uri.as_deref(),
        Some("urn:dm-sdk:mo:report:1.0//n2")
    );

    // The admin API shows the marker too.
    let admin = common::AdminClient::new(&server.base);
    let (status, body) = admin
        .get(&format!("/admin/devices/{}/alerts", common::segment(DEV1)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["alerts"][1]["alert"]["Data"],
        json!({"truncated": hostile_size})
    );
}

/// An MO serialization document of about `bytes` bytes.
fn document(text_bytes: usize, tag: &str) -> String {
    json!([{
        "ClientURI": "urn:dm-sdk:mo:wlan:1.0//",
        "MOData": {"WLAN": {"SSID": tag, "Note": "n".repeat(text_bytes)}},
    }])
    .to_string()
}

#[tokio::test]
async fn repository_writes_beyond_the_budget_are_refused() {
    const BUDGET: usize = 8 * 1024;
    let server = start(Retention::default().with_repository_bytes(BUDGET)).await;
    let http = client();
    let put = |path: &'static str, body: String| {
        let http = http.clone();
        let url = server.url(path);
        async move { repo_put(&http, &url, Some(DEV1), body.as_bytes(), BASIC1).await }
    };
    let a = document(3000, "a");
    let b = document(3000, "b");
    assert_eq!(put("/repo/up/a", a.clone()).await.status(), 201);
    assert_eq!(put("/repo/up/b", b.clone()).await.status(), 201);
    // Refused from its Content-Length, before its body is read.
    let refused = put("/repo/up/c", document(3000, "c")).await;
    assert_eq!(refused.status(), 413);
    assert!(
        refused
            .text()
            .await
            .expect("text")
            .contains("of repository storage the device has left")
    );
    // Replacing an object counts its new size instead of its old one.
    let a2 = document(3000, "A");
    assert_eq!(put("/repo/up/a", a2.clone()).await.status(), 204);
    // A replacement too large is refused and leaves the old object.
    assert_eq!(put("/repo/up/a", document(6000, "x")).await.status(), 413);
    let admin = server.admin();
    let stored_a = admin.repository("up/a").await.expect("read").expect("a");
    let stored_b = admin.repository("up/b").await.expect("read").expect("b");
    assert!(stored_a.body.contains("\"A\""));
    assert!(stored_b.body.contains("\"b\""));
    assert!(stored_a.body.len() + stored_b.body.len() <= BUDGET);
    assert!(admin.repository("up/c").await.expect("read").is_none());
    // The device reads its objects back intact.
    let read = repo_get(&http, &server.url("/repo/up/b"), Some(DEV1), BASIC1).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.text().await.expect("body"), stored_b.body);

    // Another device has its own budget; the server is not bounded.
    let other_c = document(3000, "c");
    let url = server.url("/repo/other/c");
    let other = repo_put(&http, &url, Some(DEV2), other_c.as_bytes(), BASIC2).await;
    assert_eq!(other.status(), 201);
    assert!(
        admin
            .put_repository("server/big", document(20_000, "s").as_bytes())
            .await
            .expect("the server stores beyond device budgets")
    );
    // Deleting frees the budget.
    assert!(admin.delete_repository("up/b").await.expect("delete"));
    assert_eq!(put("/repo/up/c", document(3000, "c")).await.status(), 201);
}

#[tokio::test]
async fn an_oversized_mo_inventory_is_capped() {
    const ENTRIES: usize = 100;
    const BYTES: usize = 16 * 1024;
    let server = start(
        Retention::default()
            .with_mos_entries(ENTRIES)
            .with_mos_bytes(BYTES),
    )
    .await;
    // Many small entries: capped by count.
    let mos = (0..150)
        .map(|i| json!({"MOID": format!("urn:dm-sdk:mo:m{i}:1.0"), "MIID": ["x"]}))
        .collect();
    open_session(&server, &package1(Vec::new(), Some(mos)), DEV1, BASIC1).await;
    let record = server.admin().device(&dev(DEV1)).await.expect("device");
    let kept = record.mos.expect("an inventory");
    assert_eq!(kept.len(), ENTRIES);
    assert_eq!(kept[0].moid.as_str(), "urn:dm-sdk:mo:m0:1.0");
    assert_eq!(kept[ENTRIES - 1].moid.as_str(), "urn:dm-sdk:mo:m99:1.0");

    // Few large entries: capped by bytes, keeping the first ones whole.
    let miids: Vec<String> = (0..40).map(|j| format!("{j:0>60}")).collect();
    let mos = (0..20)
        .map(|i| json!({"MOID": format!("urn:dm-sdk:mo:big{i}:1.0"), "MIID": miids}))
        .collect();
    open_session(&server, &package1(Vec::new(), Some(mos)), DEV2, BASIC2).await;
    let record = server.admin().device(&dev(DEV2)).await.expect("device");
    let kept = record.mos.expect("an inventory");
    // Each entry counts about 40 × (60 + 32) + 54 bytes.
    assert!(!kept.is_empty() && kept.len() < 20, "{} kept", kept.len());
    let counted: usize = kept
        .iter()
        .map(|e| {
            e.moid.as_str().len()
                + 32
                + e.miids.iter().map(|m| m.as_str().len() + 32).sum::<usize>()
        })
        .sum();
    assert!(counted <= BYTES, "{counted} bytes kept");
    assert!(counted + 40 * 92 > BYTES, "as many as fit are kept");
    for (i, entry) in kept.iter().enumerate() {
        assert_eq!(entry.moid.as_str(), format!("urn:dm-sdk:mo:big{i}:1.0"));
        assert_eq!(entry.miids.len(), 40);
    }
}
