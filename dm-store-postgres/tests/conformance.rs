//! The store conformance suite on PostgreSQL: each check on a fresh
//! database.

use std::sync::{Arc, Mutex};

use dm_test_support::postgres::fresh_database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_keeps_the_store_contract() {
    // Without a server there is nothing to run (a note says how to).
    let Some(probe) = fresh_database().await else {
        return;
    };
    drop(probe);
    // Each check's database lives until the suite is done.
    let databases = Arc::new(Mutex::new(Vec::new()));
    dm_test_support::store::run(|retention| {
        let databases = Arc::clone(&databases);
        async move {
            let db = fresh_database().await.expect("the server went away");
            let store = db.store().await.with_retention(retention);
            databases.lock().unwrap().push(db);
            store
        }
    })
    .await;
}

/// Campaigns, their rows and leases are read back by a store on a new
/// connection pool (another node, or the same after a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_are_kept_for_a_new_connection_pool() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let store = db.store().await;
    let db = &db;
    dm_test_support::store::campaigns_survive_reopening(store, |store| {
        drop(store);
        db.store()
    })
    .await;
}
