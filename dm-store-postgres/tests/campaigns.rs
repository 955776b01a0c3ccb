//! Campaigns on PostgreSQL: figures of a campaign of 10,000 devices.

use std::time::Duration;

use dm_test_support::postgres::fresh_database;

/// A campaign of 10,000 devices: created in one transaction, and each tick
/// of its driver (counts, due, stale and active rows) stays fast as the
/// devices are started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_of_10000_devices() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let store = db.store().await;
    let figures = dm_test_support::store::campaign_figures(&store, 10_000).await;
    eprintln!("PostgreSQL, 10,000 devices: {figures:?}");
    assert!(figures.create < Duration::from_secs(20), "{figures:?}");
    assert!(figures.tick < Duration::from_secs(1), "{figures:?}");
}
