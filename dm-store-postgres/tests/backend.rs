//! The PostgreSQL backend on a real database: values in and out, `?`
//! numbering, transactions committed or rolled back, conflicts run again,
//! an address where nothing listens.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dm_server::Error;
use dm_server::sql::{Access, Backend, Dialect, Row, Value, Work};
use dm_store_postgres::{PostgresBackend, PostgresOptions};
use dm_test_support::postgres::fresh_database;

async fn backend(url: &str) -> PostgresBackend {
    PostgresBackend::connect(url, PostgresOptions::default())
        .await
        .expect("connected")
}

/// A transaction running one statement with `params`, returning its rows.
fn query(sql: &'static str, params: Vec<Value>) -> Work<Vec<Row>> {
    Box::new(move |c| {
        let params = params.clone();
        Box::pin(async move { c.query(sql, &params).await })
    })
}

fn batch(sql: &'static str) -> Work<()> {
    Box::new(move |c| Box::pin(async move { c.batch(sql).await }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_kind_goes_in_and_comes_out_as_it_was() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let backend = backend(db.url()).await;
    assert_eq!(backend.dialect(), Dialect::Postgres);
    backend
        .transaction(
            Access::Write,
            batch("CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT, s TEXT, b BYTEA)"),
        )
        .await
        .expect("created");
    let rows = vec![
        vec![
            Value::Integer(1),
            Value::Integer(i64::MIN),
            Value::Text("é ' ? \"".into()),
            Value::Blob(vec![0, 255, 1]),
        ],
        vec![
            Value::Integer(2),
            Value::Integer(i64::MAX),
            Value::Text(String::new()),
            Value::Blob(Vec::new()),
        ],
        vec![Value::Integer(3), Value::Null, Value::Null, Value::Null],
    ];
    for row in &rows {
        let row = row.clone();
        let changed = backend
            .transaction(
                Access::Write,
                Box::new(move |c| {
                    let row = row.clone();
                    Box::pin(async move {
                        c.execute("INSERT INTO t (id, n, s, b) VALUES (?, ?, ?, ?)", &row)
                            .await
                    })
                }),
            )
            .await
            .expect("inserted");
        assert_eq!(changed, 1);
    }
    let read = backend
        .transaction(
            Access::Read,
            query(
                "SELECT id, n, s, b FROM t WHERE id >= ? ORDER BY id",
                vec![Value::Integer(1)],
            ),
        )
        .await
        .expect("read");
    let read: Vec<Vec<Value>> = read.into_iter().map(|r| r.0).collect();
    assert_eq!(read, rows);

    // `?` inside a literal is not a parameter; NULL fits any parameter type.
    let read = backend
        .transaction(
            Access::Read,
            query(
                "SELECT '?' || ?, ? + 1, ?::BYTEA, CAST(? AS BIGINT), 7::INT4, 3::INT2, TRUE",
                vec![
                    Value::Text("x".into()),
                    Value::Integer(41),
                    Value::Blob(b"ab".to_vec()),
                    Value::Null,
                ],
            ),
        )
        .await
        .expect("read");
    assert_eq!(
        read[0].0,
        vec![
            Value::Text("?x".into()),
            Value::Integer(42),
            Value::Blob(b"ab".to_vec()),
            Value::Null,
            Value::Integer(7),
            Value::Integer(3),
            Value::Integer(1),
        ]
    );

    // A column of another type is an error naming the type.
    let e = backend
        .transaction(Access::Read, query("SELECT 1.5::NUMERIC AS x", vec![]))
        .await
        .expect_err("numeric is not read");
    assert!(
        matches!(&e, Error::Store { problem, .. } if problem.contains("numeric")),
        "{e}"
    );
    // A value of the wrong kind for its parameter is an error, not a crash.
    let e = backend
        .transaction(
            Access::Read,
            query(
                "SELECT id FROM t WHERE id = ?",
                vec![Value::Text("1".into())],
            ),
        )
        .await
        .expect_err("text is not a bigint");
    assert!(matches!(e, Error::Store { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_is_rolled_back_and_a_read_one_cannot_write() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let backend = backend(db.url()).await;
    backend
        .transaction(
            Access::Write,
            batch("CREATE TABLE t (id BIGINT PRIMARY KEY)"),
        )
        .await
        .expect("created");
    let e = backend
        .transaction(
            Access::Write,
            Box::new(|c| {
                Box::pin(async move {
                    c.execute("INSERT INTO t (id) VALUES (?)", &[Value::Integer(1)])
                        .await?;
                    c.execute("INSERT INTO t (id) VALUES (?)", &[Value::Integer(1)])
                        .await
                })
            }),
        )
        .await
        .expect_err("duplicate key");
    assert!(
        matches!(&e, Error::Store { problem, .. } if problem.contains("23505")),
        "{e}"
    );
    let rows = backend
        .transaction(Access::Read, query("SELECT COUNT(*) FROM t", vec![]))
        .await
        .expect("read");
    assert_eq!(rows[0].0, vec![Value::Integer(0)]);
    let e = backend
        .transaction(
            Access::Read,
            Box::new(|c| {
                Box::pin(async move {
                    c.execute("INSERT INTO t (id) VALUES (?)", &[Value::Integer(2)])
                        .await
                })
            }),
        )
        .await
        .expect_err("read only");
    assert!(matches!(e, Error::Store { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_aborted_by_a_deadlock_runs_again() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let backend = Arc::new(backend(db.url()).await);
    backend
        .transaction(
            Access::Write,
            batch("CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO t VALUES (1, 0), (2, 0)"),
        )
        .await
        .expect("created");
    // Two transactions lock the rows in opposite orders: PostgreSQL aborts
    // one of them (40P01), which runs again and succeeds.
    let runs = Arc::new(AtomicU32::new(0));
    let swap = |first: i64, second: i64| {
        let backend = Arc::clone(&backend);
        let runs = Arc::clone(&runs);
        tokio::spawn(async move {
            backend
                .transaction(
                    Access::Write,
                    Box::new(move |c| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Box::pin(async move {
                            c.execute(
                                "UPDATE t SET n = n + 1 WHERE id = ?",
                                &[Value::Integer(first)],
                            )
                            .await?;
                            c.execute("SELECT pg_sleep(0.3)", &[]).await?;
                            c.execute(
                                "UPDATE t SET n = n + 1 WHERE id = ?",
                                &[Value::Integer(second)],
                            )
                            .await
                        })
                    }),
                )
                .await
        })
    };
    let (a, b) = (swap(1, 2), swap(2, 1));
    a.await.expect("joined").expect("committed");
    b.await.expect("joined").expect("committed");
    assert!(runs.load(Ordering::SeqCst) >= 3, "one of them ran again");
    let rows = backend
        .transaction(Access::Read, query("SELECT n FROM t ORDER BY id", vec![]))
        .await
        .expect("read");
    assert_eq!(
        rows,
        vec![Row(vec![Value::Integer(2)]), Row(vec![Value::Integer(2)])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_deadlock_is_a_store_failure() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let backend = Arc::new(
        PostgresBackend::connect(
            db.url(),
            PostgresOptions::default().with_conflict_retries(0),
        )
        .await
        .expect("connected"),
    );
    backend
        .transaction(
            Access::Write,
            batch("CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO t VALUES (1, 0), (2, 0)"),
        )
        .await
        .expect("created");
    let swap = |first: i64, second: i64| {
        let backend = Arc::clone(&backend);
        tokio::spawn(async move {
            backend
                .transaction(
                    Access::Write,
                    Box::new(move |c| {
                        Box::pin(async move {
                            c.execute(
                                "UPDATE t SET n = n + 1 WHERE id = ?",
                                &[Value::Integer(first)],
                            )
                            .await?;
                            c.execute("SELECT pg_sleep(0.3)", &[]).await?;
                            c.execute(
                                "UPDATE t SET n = n + 1 WHERE id = ?",
                                &[Value::Integer(second)],
                            )
                            .await
                        })
                    }),
                )
                .await
        })
    };
    let (a, b) = (swap(1, 2), swap(2, 1));
    let results = [a.await.expect("joined"), b.await.expect("joined")];
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert!(
        matches!(failed[0], Error::Store { problem, .. } if problem.contains("40P01")),
        "{}",
        failed[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_where_nothing_listens_is_unavailable_at_once() {
    let started = Instant::now();
    let e = PostgresBackend::connect(
        "postgres://someone:secret@127.0.0.1:1/dm",
        PostgresOptions::default().with_connect_timeout(Duration::from_secs(2)),
    )
    .await
    .expect_err("nothing listens");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    match &e {
        Error::StoreUnavailable { database, problem } => {
            assert_eq!(database, "127.0.0.1:1/dm");
            assert!(!problem.is_empty());
        }
        other => panic!("{other}"),
    }
    let text = e.to_string();
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(
        !text.contains("secret") && !text.contains("someone"),
        "{text}"
    );
    assert_eq!(e.status(), dm_types::StatusCode::SERVICE_UNAVAILABLE);

    // The store's own constructor says the same.
    let e = dm_store_postgres::connect("postgresql://127.0.0.1:1/dm")
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, Error::StoreUnavailable { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_unavailable_and_the_pool_recovers() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let backend = backend(db.url()).await;
    let one = || query("SELECT 1::BIGINT", vec![]);
    backend
        .transaction(Access::Read, one())
        .await
        .expect("read");
    // The server ends every connection of the database (as a restart does).
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name()
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The pool drops the dead connection and opens a new one.
    let rows = backend
        .transaction(Access::Read, one())
        .await
        .expect("read again");
    assert_eq!(rows[0].0, vec![Value::Integer(1)]);

    // Killed inside a transaction: 503, then fine again.
    let name = db.name().to_owned();
    let e = backend
        .transaction(
            Access::Write,
            Box::new(move |c| {
                let kill = format!(
                    "SELECT pg_terminate_backend(pg_backend_pid()) FROM pg_database WHERE datname = '{name}'"
                );
                Box::pin(async move { c.batch(&kill).await })
            }),
        )
        .await
        .expect_err("connection ended");
    assert!(matches!(e, Error::StoreUnavailable { .. }), "{e}");
    let rows = backend
        .transaction(Access::Read, one())
        .await
        .expect("read again");
    assert_eq!(rows[0].0, vec![Value::Integer(1)]);
}

/// A transaction the database does not answer within the transaction
/// timeout (here a statement that sleeps) is abandoned: 503-class
/// `StoreUnavailable` at the timeout, nothing it wrote is kept, and the
/// pool goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_without_an_answer_is_abandoned_at_its_timeout() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let backend = PostgresBackend::connect(
        db.url(),
        PostgresOptions::default().with_transaction_timeout(Duration::from_millis(300)),
    )
    .await
    .expect("connected");
    backend
        .transaction(Access::Write, batch("CREATE TABLE t (n BIGINT NOT NULL)"))
        .await
        .expect("created");
    let started = Instant::now();
    let e = backend
        .transaction(
            Access::Write,
            batch("INSERT INTO t VALUES (1); SELECT pg_sleep(5)"),
        )
        .await
        .expect_err("abandoned");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(
        matches!(&e, Error::StoreUnavailable { problem, .. } if problem.contains("300 ms")),
        "{e}"
    );
    let rows = backend
        .transaction(Access::Read, query("SELECT COUNT(*) FROM t", vec![]))
        .await
        .expect("the pool serves again");
    assert_eq!(rows[0].0, vec![Value::Integer(0)], "nothing was kept");
}
