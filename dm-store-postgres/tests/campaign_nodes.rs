//! A campaign on two server nodes sharing one PostgreSQL database
//! (docs/updates.md, "Cluster"): exactly one node drives it (its lease),
//! devices' sessions reach either node, and when the driving node stops the
//! other takes the campaign over and completes it.

use dm_server::{Store, UpdateState};
use dm_test_support::campaign::{create, fast, fleet, run_update, spec, wait_state, wait_status};
use dm_test_support::postgres::fresh_database;
use dm_test_support::server::{AdminClient, TestServer, dev};
use serde_json::json;

/// The base URI of the node that queued a device's HGET.
async fn queued_by<S: Store>(server: &TestServer<S>, dev_id: &str) -> String {
    let commands = server
        .admin()
        .commands(&dev(dev_id))
        .await
        .expect("commands");
    let hget = commands
        .iter()
        .find(|c| c.command.name() == "HGET")
        .expect("an HGET queued");
    let source = hget.command.params().next().expect("source").to_owned();
    source
        .split("/repo/")
        .next()
        .expect("a repository URL")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_drives_a_campaign_and_the_other_takes_it_over() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let a = TestServer::start_on(fast(), db.store().await).await;
    let b = TestServer::start_on(fast(), db.store().await).await;
    let devices = fleet(&a, 4).await;
    let stages = json!([
        {"size": {"count": 2}, "success_threshold_percent": 100},
        {"size": {"percent": 100}}
    ]);
    let id = create(&AdminClient::new(&b.base), spec(stages, json!({}))).await;
    for device in &devices[..2] {
        wait_state(&a, id, device, UpdateState::Notified).await;
    }
    let driver = queued_by(&a, &devices[0].id).await;
    assert_eq!(
        queued_by(&b, &devices[1].id).await,
        driver,
        "one node drives"
    );
    // Sessions reach either node.
    run_update(&a, &devices[0]).await;
    let commands = b
        .admin()
        .commands(&dev(&devices[0].id))
        .await
        .expect("commands");
    // Each command queued once: HGET, EXEC Download, EXEC Update.
    assert_eq!(commands.len(), 3, "{commands:?}");
    // The driving node stops before the stage is done; the other takes
    // the campaign over once the lease expires, and starts the next stage.
    let (survivor, stopped) = if driver == a.base { (b, a) } else { (a, b) };
    stopped.stop().await.expect("stopped");
    run_update(&survivor, &devices[1]).await;
    for device in &devices[2..] {
        wait_state(&survivor, id, device, UpdateState::Notified).await;
        assert_eq!(queued_by(&survivor, &device.id).await, survivor.base);
        run_update(&survivor, device).await;
    }
    wait_status(&AdminClient::new(&survivor.base), id, "completed").await;
    survivor.stop().await.expect("stopped");
}
