//! Opening the PostgreSQL store: the schema is migrated once however many
//! nodes start together, and a schema newer than this program is refused.

use dm_server::Error;
use dm_server::sql::Dialect;
use dm_test_support::postgres::fresh_database;

/// How many PostgreSQL migrations the server ships (the newest version).
fn migrations() -> i64 {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dm-server/src/store/sql/migrations/postgres"
    );
    let files = std::fs::read_dir(dir).expect("migrations").count();
    i64::try_from(files).expect("few")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_starting_at_once_migrate_the_schema_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let opening: Vec<_> = (0..10)
        .map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move { dm_store_postgres::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opening {
        stores.push(open.await.expect("joined").expect("opened"));
    }
    assert!(stores.iter().all(|s| s.dialect() == Dialect::Postgres));
    // The migration creates its tables without `IF NOT EXISTS`: a second
    // run would have failed. One version row, the newest.
    let check = db.url().to_owned();
    let rows = query(&check, "SELECT version FROM dm_schema").await;
    let newest = migrations();
    assert_eq!(rows, vec![newest]);
    // A node starting later finds the schema as it is.
    dm_store_postgres::connect(db.url())
        .await
        .expect("opened again");
    assert_eq!(
        query(&check, "SELECT version FROM dm_schema").await,
        vec![newest]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_newer_than_the_program_is_refused() {
    let Some(db) = fresh_database().await else {
        return;
    };
    drop(dm_store_postgres::connect(db.url()).await.expect("opened"));
    db.execute("UPDATE dm_schema SET version = 99").await;
    let e = dm_store_postgres::connect(db.url())
        .await
        .expect_err("too new");
    assert!(
        matches!(e, Error::SchemaTooNew { found: 99, supported } if supported < 99),
        "{e}"
    );
    // Nothing changed.
    assert_eq!(
        query(db.url(), "SELECT version FROM dm_schema").await,
        vec![99]
    );
}

/// The integers of the first column of `sql`'s rows.
async fn query(url: &str, sql: &str) -> Vec<i64> {
    use dm_server::sql::{Access, Backend, Value};
    let backend = dm_store_postgres::PostgresBackend::connect(
        url,
        dm_store_postgres::PostgresOptions::default(),
    )
    .await
    .expect("connected");
    let sql = sql.to_owned();
    let rows = backend
        .transaction(
            Access::Read,
            Box::new(move |c| {
                let sql = sql.clone();
                Box::pin(async move { c.query(&sql, &[]).await })
            }),
        )
        .await
        .expect("read");
    rows.into_iter()
        .map(|r| match r.0.first() {
            Some(Value::Integer(v)) => *v,
            other => panic!("{other:?}"),
        })
        .collect()
}
