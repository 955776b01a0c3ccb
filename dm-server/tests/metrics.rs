//! `GET /metrics` on a real server: the counters move exactly with the
//! sessions, commands, notifications and refusals that happen; no DevID
//! ever appears; the endpoint needs the admin token and can be turned off.

use dm_test_support::prometheus::Exposition;
use dm_test_support::server as common;

use common::*;
use dm_server::{DeviceRegistration, MemoryStore, NotificationChannel, Store, UdpChannel};

/// `GET /metrics` with the admin token.
async fn get_metrics<S: Store, C: NotificationChannel>(
    server: &TestServer<S, C>,
) -> reqwest::Response {
    client()
        .get(server.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answered")
}

/// A scrape that must succeed, parsed, and its text.
async fn scrape<S: Store, C: NotificationChannel>(
    server: &TestServer<S, C>,
) -> (Exposition, String) {
    let response = get_metrics(server).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.expect("text");
    let parsed = Exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (parsed, text)
}

/// A counter or gauge of the scrape (0 when absent).
fn value(parsed: &Exposition, name: &str, labels: &[(&str, &str)]) -> u64 {
    let value = parsed.value(name, labels).unwrap_or(0.0);
    assert!(value >= 0.0 && value.fract() == 0.0, "{name}: {value}");
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = value as u64;
    whole
}

#[tokio::test]
async fn counters_follow_what_happens() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let (before, _) = scrape(&server).await;
    assert_eq!(value(&before, "dm_sessions_started_total", &[]), 0);
    assert_eq!(value(&before, "dm_queued_commands", &[]), 0);

    queue_get(&admin, "Man").await;
    queue_get(&admin, "Mod").await;
    let (queued, _) = scrape(&server).await;
    assert_eq!(value(&queued, "dm_queued_commands", &[]), 2);

    // One session: two GETs answered 200 and 404, then END.
    let (uri, _) = open_session(&server).await;
    let (open, _) = scrape(&server).await;
    assert_eq!(value(&open, "dm_sessions_started_total", &[]), 1);
    assert_eq!(value(&open, "dm_open_sessions", &[]), 1);
    assert_eq!(value(&open, "dm_queued_commands", &[]), 0);
    finish_session(&uri, &[200, 200, 404]).await;

    // A wrong password (Basic) and a request without credentials.
    let wrong = post_package1(&client(), &server, DEV1, P1, Auth::Basic(USER1, "wrong")).await;
    assert_eq!(wrong.status(), 401);
    let none = post_package1(&client(), &server, DEV1, P1, Auth::None).await;
    assert_eq!(none.status(), 401);

    // A notification delivered, one that fails (no such scheme).
    let realm = admin.realm().to_owned();
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for (id, address) in [
        (
            "IMEI:1",
            format!("udp://{}", listener.local_addr().expect("addr")),
        ),
        ("IMEI:2", "sms://+4912345".to_owned()),
    ] {
        admin
            .register_device(
                DeviceRegistration::new(dev(id))
                    .with_password(id, "pw", &realm)
                    .with_notification_address(address)
                    .with_notification_secret(b"secret".to_vec(), b"data".to_vec()),
                false,
            )
            .await
            .expect("registered");
    }
    admin.notify(&dev("IMEI:1")).await.expect("sent");
    admin
        .notify(&dev("IMEI:2"))
        .await
        .expect_err("no such scheme");

    // A wrong admin token.
    let refused = client()
        .get(server.url("/admin/devices"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 401);

    let (after, text) = scrape(&server).await;
    assert_eq!(value(&after, "dm_sessions_started_total", &[]), 1);
    assert_eq!(
        value(
            &after,
            "dm_sessions_ended_total",
            &[("outcome", "completed")]
        ),
        1
    );
    assert_eq!(
        value(&after, "dm_sessions_ended_total", &[("outcome", "failed")]),
        0
    );
    assert_eq!(value(&after, "dm_session_duration_seconds_count", &[]), 1);
    assert_eq!(value(&after, "dm_open_sessions", &[]), 0);
    assert_eq!(
        value(
            &after,
            "dm_command_results_total",
            &[("command", "GET"), ("code", "200")]
        ),
        1
    );
    assert_eq!(
        value(
            &after,
            "dm_command_results_total",
            &[("command", "GET"), ("code", "404")]
        ),
        1
    );
    assert_eq!(
        value(&after, "dm_auth_failures_total", &[("method", "basic")]),
        1
    );
    assert_eq!(
        value(&after, "dm_auth_failures_total", &[("method", "none")]),
        1
    );
    assert_eq!(
        value(&after, "dm_auth_failures_total", &[("method", "admin")]),
        1
    );
    assert_eq!(
        value(&after, "dm_notifications_total", &[("result", "sent")]),
        1
    );
    assert_eq!(
        value(&after, "dm_notifications_total", &[("result", "failed")]),
        1
    );
    // Low cardinality: no DevID, user name or address in any label.
    for secret in [DEV1, DEV2, "IMEI:1", "IMEI:2", USER1, "sms://", "udp://"] {
        assert!(!text.contains(secret), "{secret} in the scrape:\n{text}");
    }
    // The memory store measures no transactions.
    assert_eq!(after.family("dm_store_transaction_seconds").count(), 0);
}

#[tokio::test]
async fn a_failed_package3_counts_a_failed_session() {
    let server = TestServer::start(options().build().expect("options")).await;
    queue_get(&server.admin(), "Man").await;
    let (uri, _) = open_session(&server).await;
    let response = post_package(&client(), &uri, RESPONSE, DEV1, "{not json", BASIC1).await;
    assert_eq!(response.status(), 400);
    let (after, _) = scrape(&server).await;
    assert_eq!(
        value(&after, "dm_sessions_ended_total", &[("outcome", "failed")]),
        1
    );
    assert_eq!(value(&after, "dm_session_duration_seconds_count", &[]), 1);
}

#[tokio::test]
async fn a_sql_store_reports_its_transaction_latency() {
    let dir = std::env::temp_dir().join(format!("dm-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let store = dm_server::SqliteStore::open_file(dir.join("dm.sqlite3"))
        .await
        .expect("store");
    let server = TestServer::start_on(options().build().expect("options"), store).await;
    register_two(&server.admin()).await;
    queue_get(&server.admin(), "Man").await;
    let (uri, _) = open_session(&server).await;
    finish_session(&uri, &[200, 200]).await;
    let (parsed, text) = scrape(&server).await;
    for access in ["read", "write"] {
        let count = parsed
            .value("dm_store_transaction_seconds_count", &[("access", access)])
            .unwrap_or_else(|| panic!("no {access} latency:\n{text}"));
        assert!(count >= 1.0, "{access}: {count}");
    }
    server.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_endpoint_needs_the_token_and_can_be_turned_off() {
    let server = TestServer::start(options().build().expect("options")).await;
    let anonymous = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("answered");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let off = TestServer::start_with(
        options().metrics(false).build().expect("options"),
        MemoryStore::new(),
        UdpChannel,
    )
    .await;
    assert_eq!(get_metrics(&off).await.status(), 404);
}
