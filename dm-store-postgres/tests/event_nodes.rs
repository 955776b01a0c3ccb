//! Events on two server nodes sharing one PostgreSQL database
//! (docs/operations.md, "Events and webhooks"): an event produced on one
//! node reaches a subscriber of the other, and a webhook gets each event
//! once, from whichever node holds its lease.

use std::collections::BTreeMap;
use std::time::Duration;

use dm_server::{DeviceRegistration, EventSettings, ServerOptions, Store};
use dm_test_support::events::{EventStream, WebhookReceiver};
use dm_test_support::postgres::fresh_database;
use dm_test_support::server::{AdminClient, TestServer, dev, options};
use serde_json::json;

fn node_options() -> ServerOptions {
    options()
        .events(
            EventSettings::default()
                .with_flush_interval(Duration::from_millis(5))
                .with_poll_interval(Duration::from_millis(30))
                .with_webhook_backoff(Duration::from_millis(20)),
        )
        .build()
        .expect("options")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_of_one_node_reaches_the_other_and_webhooks_get_it_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let a = TestServer::start_on(node_options(), db.store().await).await;
    let b = TestServer::start_on(node_options(), db.store().await).await;
    let mut on_b = EventStream::open(&b.base, "kinds=device.registered", None).await;
    let receiver = WebhookReceiver::start().await;
    let (status, _) = AdminClient::new(&a.base)
        .post(
            "/admin/webhooks",
            json!({"url": receiver.url, "secret": "shared", "kinds": ["device.registered"]}),
        )
        .await;
    assert_eq!(status, 201);
    // Registered on A, seen on B.
    a.admin()
        .register_device(DeviceRegistration::new(dev("IMEI:100")), false)
        .await
        .expect("registered");
    let event = on_b.next_of("device.registered").await;
    assert_eq!(event.data["dev_id"], "IMEI:100");
    // Both nodes produce events at once; ids are one sequence.
    let (one, two) = tokio::join!(
        async {
            for i in 0..20 {
                a.admin()
                    .register_device(
                        DeviceRegistration::new(dev(&format!("IMEI:2{i:02}"))),
                        false,
                    )
                    .await
                    .expect("registered");
            }
        },
        async {
            for i in 0..20 {
                b.admin()
                    .register_device(
                        DeviceRegistration::new(dev(&format!("IMEI:3{i:02}"))),
                        false,
                    )
                    .await
                    .expect("registered");
            }
        }
    );
    let ((), ()) = (one, two);
    let mut ids = vec![event.id.expect("id")];
    while ids.len() < 41 {
        ids.push(
            on_b.next(Duration::from_secs(10))
                .await
                .expect("an event")
                .id
                .expect("id"),
        );
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // The webhook: every event once.
    receiver.wait_accepted(41).await;
    // Time for a second delivery, were there one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deliveries = receiver.deliveries().len();
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for delivery in receiver.deliveries() {
        assert!(delivery.signed_with(b"shared"));
        *per_event.entry(delivery.event_id).or_default() += 1;
    }
    assert_eq!(per_event.len(), 41, "{per_event:?}");
    assert_eq!(deliveries, 41, "each event delivered once: {per_event:?}");
    assert_eq!(
        a.server
            .store()
            .event_bounds()
            .await
            .expect("bounds")
            .newest,
        b.server
            .store()
            .event_bounds()
            .await
            .expect("bounds")
            .newest
    );
    a.stop().await.expect("stopped");
    b.stop().await.expect("stopped");
}
