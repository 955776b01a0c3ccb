//! The event stream (`GET /admin/events`) and webhooks on a real server:
//! each kind arrives, resuming by `Last-Event-ID` gives exactly the events
//! missed, filters, `events.lost` after pruning, a slow subscriber does
//! not hold the others back, webhooks get signed deliveries and retries.

use std::time::Duration;

use dm_server::{EventSettings, MemoryStore, ServerOptions, Store};
use dm_test_support::campaign::{create, fleet, spec};
use dm_test_support::events::{EventStream, WebhookReceiver};
use dm_test_support::server::{
    AdminClient, BASIC1, DEV1, TestServer, client, commands, cont_uri, dev, finish_session,
    open_session, options, post_package1, queue_get, register_two,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn fast_events() -> EventSettings {
    EventSettings::default()
        .with_flush_interval(Duration::from_millis(5))
        .with_poll_interval(Duration::from_millis(20))
        .with_webhook_backoff(Duration::from_millis(20))
        .with_keep_alive(Duration::from_millis(200))
}

fn fast_options() -> ServerOptions {
    options()
        .campaign_tick(Duration::from_millis(50))
        .events(fast_events())
        .build()
        .expect("options")
}

async fn server() -> TestServer {
    let server = TestServer::start_on(fast_options(), MemoryStore::new()).await;
    register_two(&server.admin()).await;
    server
}

/// A Package#1 with a generic alert besides the one opening the session.
const P1_ALERT: &str = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:ExecComplete","SourceURI":"urn:dm-sdk:mo:demo:1.0//Reboot","Data":{"sc":200}}]}"#;

/// Device 1 opens a session with [`P1_ALERT`]; the session URI.
async fn open_with_alert(server: &TestServer) -> String {
    let response = post_package1(&client(), server, DEV1, P1_ALERT, BASIC1).await;
    assert_eq!(response.status(), 200);
    cont_uri(&commands(&response.bytes().await.expect("body")))
}

/// Device 1 runs a session (with an alert) answering one queued GET with
/// 200: three events (alert, command, end).
async fn one_session(server: &TestServer) {
    queue_get(&server.admin(), "Man").await;
    let uri = open_with_alert(server).await;
    finish_session(&uri, &[200, 200]).await;
}

/// Waits until the store holds `n` events (appended by the server).
async fn stored(server: &TestServer, n: u64) -> u64 {
    for _ in 0..400 {
        let newest = server
            .server
            .store()
            .event_bounds()
            .await
            .expect("bounds")
            .newest;
        if newest >= n {
            return newest;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} events stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_arrives_with_its_members() {
    let server = TestServer::start_on(fast_options(), MemoryStore::new()).await;
    let mut stream = EventStream::open(&server.base, "", None).await;
    register_two(&server.admin()).await;
    let registered = stream.next_of("device.registered").await;
    assert_eq!(registered.data["dev_id"], DEV1);
    assert_eq!(registered.data["kind"], "device.registered");
    assert_eq!(registered.data["id"].as_u64(), registered.id);
    assert!(registered.data["at_ms"].as_u64().is_some());

    let id = queue_get(&server.admin(), "Man").await;
    let uri = open_with_alert(&server).await;
    let alert = stream.next_of("alert.received").await;
    assert_eq!(alert.data["dev_id"], DEV1);
    assert_eq!(alert.data["alert_type"], "urn:oma:at:dm:2.0:ExecComplete");
    finish_session(&uri, &[200, 200]).await;
    let finished = stream.next_of("command.finished").await;
    assert_eq!(
        finished.data,
        json!({
            "id": finished.id, "kind": "command.finished", "at_ms": finished.data["at_ms"],
            "dev_id": DEV1, "command_id": id.to_string(), "command": "GET",
            "state": "done", "status": 200,
        })
    );
    let ended = stream.next_of("session.ended").await;
    assert_eq!(ended.data["dev_id"], DEV1);
    assert_eq!(ended.data["outcome"], "completed");
    assert!(
        ended.data["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    // A campaign: its creation and its progress.
    let devices = fleet(&server, 1).await;
    let campaign = create(
        &AdminClient::new(&server.base),
        spec(json!([{"size": {"percent": 100}}]), json!({})),
    )
    .await;
    let progress = stream.next_of("campaign.progress").await;
    assert_eq!(progress.data["campaign_id"], campaign);
    assert_eq!(progress.data["state"], "running");
    assert_eq!(progress.data["stage"], 0);
    assert!(progress.data["counts"].is_object(), "{}", progress.data);
    drop(devices);
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_session_fails_its_commands_and_says_why() {
    let server = server().await;
    let mut stream =
        EventStream::open(&server.base, "kinds=command.finished,session.ended", None).await;
    let id = queue_get(&server.admin(), "Man").await;
    let (uri, _) = open_session(&server).await;
    // A Package#3 that is not JSON drops the session.
    let response = dm_test_support::server::post_package(
        &client(),
        &uri,
        "application/vnd.oma.dm.response+json",
        DEV1,
        "not json",
        BASIC1,
    )
    .await;
    assert_eq!(response.status(), 400);
    let finished = stream.next_of("command.finished").await;
    assert_eq!(finished.data["command_id"], id.to_string());
    assert_eq!(finished.data["state"], "failed");
    assert_eq!(finished.data["status"], serde_json::Value::Null);
    let ended = stream.next_of("session.ended").await;
    assert_eq!(ended.data["outcome"], "failed");
    assert!(ended.data["reason"].as_str().is_some_and(|r| !r.is_empty()));
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_gives_exactly_the_events_missed() {
    let server = server().await;
    let first = stored(&server, 2).await;
    let mut live = EventStream::open(&server.base, "", None).await;
    for _ in 0..3 {
        one_session(&server).await;
    }
    // Each session: alert, command, end.
    let newest = stored(&server, first + 9).await;
    let mut seen = Vec::new();
    while seen.len() < 9 {
        let event = live.next(WAIT).await.expect("a live event");
        seen.push(event.id.expect("an id"));
    }
    assert_eq!(seen, ((first + 1)..=newest).collect::<Vec<_>>());
    // Resume after the 4th: the header, then the query.
    let resume = seen[3];
    for (query, header) in [
        (String::new(), Some(resume)),
        (format!("since={resume}"), None),
    ] {
        let mut resumed = EventStream::open(&server.base, &query, header).await;
        let mut again = Vec::new();
        while let Some(event) = resumed.next(Duration::from_millis(500)).await {
            again.push(event.id.expect("an id"));
        }
        assert_eq!(again, seen[4..].to_vec(), "{query} {header:?}");
    }
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pass_only_their_kinds_and_device() {
    let server = server().await;
    let mut alerts = EventStream::open(&server.base, "kinds=alert.received", None).await;
    let mut other = EventStream::open(&server.base, "dev_id=IMEI%3A493005100592801", None).await;
    let mut mine = EventStream::open(
        &server.base,
        &format!(
            "kinds=session.ended,command.finished&dev_id={}",
            DEV1.replace(':', "%3A")
        ),
        None,
    )
    .await;
    one_session(&server).await;
    let alert = alerts.next(WAIT).await.expect("an alert");
    assert_eq!(alert.event, "alert.received");
    let mut kinds = Vec::new();
    while let Some(event) = mine.next(Duration::from_millis(500)).await {
        assert_eq!(event.data["dev_id"], DEV1);
        kinds.push(event.event);
    }
    assert_eq!(kinds, ["command.finished", "session.ended"]);
    assert_eq!(alerts.next(Duration::from_millis(300)).await, None);
    assert_eq!(
        other.next(Duration::from_millis(300)).await,
        None,
        "device 2 did nothing"
    );
    // Bad requests: a precise 400 each.
    let admin = AdminClient::new(&server.base);
    for query in [
        "kinds=nope",
        "dev_id=",
        "since=-1",
        "since=1&since=2",
        "other=1",
    ] {
        let (status, body) = admin.get(&format!("/admin/events?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    let (status, _) = EventStream::try_open(&server.base, "", None).await;
    assert_eq!(status, 200);
    // Without the token: 401.
    let response = client()
        .get(server.url("/admin/events"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_resume_point_says_events_lost_first() {
    let options = options()
        .events(
            fast_events()
                .with_keep_events(3)
                .with_prune_interval(Duration::from_millis(20)),
        )
        .build()
        .expect("options");
    let server = TestServer::start_on(options, MemoryStore::new()).await;
    register_two(&server.admin()).await;
    for _ in 0..3 {
        one_session(&server).await;
    }
    let newest = stored(&server, 11).await;
    for _ in 0..200 {
        if server
            .server
            .store()
            .event_bounds()
            .await
            .expect("bounds")
            .pruned_through
            >= newest - 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bounds = server.server.store().event_bounds().await.expect("bounds");
    assert!(bounds.pruned_through >= newest - 3, "{bounds:?}");
    let mut stream = EventStream::open(&server.base, "", Some(1)).await;
    let lost = stream.next(WAIT).await.expect("events.lost");
    assert_eq!(lost.event, "events.lost");
    assert_eq!(lost.id, None);
    assert_eq!(lost.data["after"], 1);
    let next = stream.next(WAIT).await.expect("the oldest kept");
    assert_eq!(next.id, Some(bounds.pruned_through + 1));
    // Resuming from a kept point loses nothing.
    let mut kept = EventStream::open(&server.base, "", Some(newest - 1)).await;
    assert_eq!(kept.next(WAIT).await.expect("the newest").id, Some(newest));
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_does_not_stall_the_others_and_catches_up() {
    let server = server().await;
    // Subscribed, and never read (until the end).
    let mut slow = EventStream::open(&server.base, "", None).await;
    let mut fast = EventStream::open(&server.base, "", None).await;
    let start = server
        .server
        .store()
        .event_bounds()
        .await
        .expect("bounds")
        .newest;
    // Many events, large enough to fill the slow one's socket buffers.
    let admin = server.admin();
    let mut registrations = Vec::new();
    for i in 0..20_000 {
        registrations.push(dm_server::DeviceRegistration::new(dev(&format!(
            "IMEI:7{i:014}"
        ))));
    }
    admin
        .register_devices(registrations)
        .await
        .expect("registered");
    let mut ids = Vec::new();
    while ids.len() < 20_000 {
        let event = fast.next(WAIT).await.expect("the fast one keeps receiving");
        ids.push(event.id.expect("id"));
    }
    assert_eq!(ids, ((start + 1)..=start + 20_000).collect::<Vec<_>>());
    // The slow one gets every event, in order, when it reads at last.
    let mut slow_ids = Vec::new();
    while slow_ids.len() < 20_000 {
        let event = slow.next(WAIT).await.expect("the slow one catches up");
        slow_ids.push(event.id.expect("id"));
    }
    assert_eq!(slow_ids, ids);
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_get_keep_alives_and_end_when_the_server_stops() {
    let server = server().await;
    let mut stream = EventStream::open(&server.base, "", None).await;
    assert_eq!(stream.next(Duration::from_millis(700)).await, None);
    assert!(stream.comments >= 2, "{} keep-alives", stream.comments);
    let stopping = tokio::spawn(server.stop());
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("stops at once, streams or not")
        .expect("joined")
        .expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_signed_deliveries_and_retries_after_500() {
    let server = server().await;
    let receiver = WebhookReceiver::start().await;
    let admin = AdminClient::new(&server.base);
    let secret = "a webhook secret";
    let (status, created) = admin
        .post(
            "/admin/webhooks",
            json!({"url": receiver.url, "secret": secret, "kinds": ["session.ended", "command.finished"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(!created.to_string().contains(secret), "{created}");
    let (status, listed) = admin.get("/admin/webhooks").await;
    assert_eq!(status, 200);
    assert_eq!(listed["webhooks"][0]["url"], receiver.url.as_str());
    assert!(!listed.to_string().contains(secret), "{listed}");
    // The first attempt of the first event fails twice.
    receiver.answer_next(500);
    receiver.answer_next(503);
    one_session(&server).await;
    let deliveries = receiver.wait_accepted(2).await;
    assert_eq!(deliveries.len(), 4, "{deliveries:?}");
    assert_eq!(
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
        [500, 503, 200, 200]
    );
    for delivery in &deliveries {
        assert!(delivery.signed_with(secret.as_bytes()), "{delivery:?}");
        assert!(!delivery.signed_with(b"another secret"));
        assert_eq!(delivery.json()["id"].to_string(), delivery.event_id);
    }
    assert_eq!(deliveries[2].json()["kind"], "command.finished");
    assert_eq!(deliveries[3].json()["kind"], "session.ended");
    // Removed: nothing more is delivered.
    let id = created["id"].as_u64().expect("id");
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!("/admin/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!("/admin/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    one_session(&server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.deliveries().len(), 4);
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_gives_up_after_its_attempts_and_moves_on() {
    let options = options()
        .events(fast_events().with_webhook_attempts(2))
        .build()
        .expect("options");
    let server = TestServer::start_on(options, MemoryStore::new()).await;
    let receiver = WebhookReceiver::start().await;
    let admin = AdminClient::new(&server.base);
    let (status, _) = admin
        .post(
            "/admin/webhooks",
            json!({"url": receiver.url, "secret": "s", "kinds": ["device.registered"]}),
        )
        .await;
    assert_eq!(status, 201);
    receiver.answer_next(500);
    receiver.answer_next(500);
    register_two(&server.admin()).await;
    let deliveries = receiver.wait_accepted(1).await;
    assert_eq!(
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert_eq!(deliveries[2].json()["dev_id"], "IMEI:493005100592801");
    server.stop().await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_refused_with_a_precise_400() {
    let server = server().await;
    let admin = AdminClient::new(&server.base);
    for body in [
        json!({"url": "ftp://example.com/", "secret": "s"}),
        json!({"url": "http://user:pw@example.com/", "secret": "s"}),
        json!({"url": "http://example.com/", "secret": ""}),
        json!({"url": "http://example.com/", "secret": "s", "kinds": ["nope"]}),
        json!({"url": "http://example.com/", "secret": "s", "extra": 1}),
        json!({"secret": "s"}),
        json!([1]),
    ] {
        let (status, answer) = admin.post("/admin/webhooks", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("webhook")),
            "{answer}"
        );
    }
    let (status, _) = admin
        .call(reqwest::Method::DELETE, "/admin/webhooks/x", None)
        .await;
    assert_eq!(status, 404);
    server.stop().await.expect("stopped");
}
