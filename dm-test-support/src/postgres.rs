//! A fresh PostgreSQL database per test, on the server `DM_TEST_POSTGRES`
//! names (default `postgres://root@127.0.0.1:5432/test`), dropped when the
//! test is done.
//!
//! Without a server the tests skip (they print how to run them), except in
//! CI (`CI` set), where PostgreSQL is required and its absence fails them.
//!
//! ```no_run
//! # async fn example() {
//! let Some(db) = dm_test_support::postgres::fresh_database().await else {
//!     return; // no PostgreSQL here: skipped
//! };
//! let store = db.store().await;
//! # let _ = store;
//! # }
//! ```

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dm_store_postgres::PostgresStore;

/// The server tests run on when `DM_TEST_POSTGRES` is not set.
pub const DEFAULT_SERVER: &str = "postgres://root@127.0.0.1:5432/test";

/// A database created for one test; dropped (`WITH (FORCE)`, closing the
/// connections still open to it) when this is.
#[derive(Debug)]
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// The URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (`dm_test_<hex>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A store on the database (its schema migrated).
    pub async fn store(&self) -> PostgresStore {
        dm_store_postgres::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("store on {}: {e}", self.name))
    }

    /// Runs `sql` (statements separated by `;`) on the database, outside
    /// the store: to set up what a test needs.
    pub async fn execute(&self, sql: &str) {
        let client = connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on {}: {e:?}", self.name));
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort, on a thread of its own: the test's runtime may be
        // gone or busy, and a drop cannot wait on it.
        let server = self.server.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let client = connect(&server).await.ok()?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: the test database {} was not dropped", self.name);
        }
    }
}

/// The server tests use: `DM_TEST_POSTGRES`, else [`DEFAULT_SERVER`].
pub fn server() -> String {
    std::env::var("DM_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
}

/// Creates a database `dm_test_<random hex>` on the test server and gives
/// it; `None` (with a note on stderr saying how to run the tests) when the
/// server cannot be reached, except in CI (`CI` set), where that panics.
pub async fn fresh_database() -> Option<TestDatabase> {
    let server = server();
    let client = match connect(&server).await {
        Ok(client) => client,
        Err(e) => {
            let e = with_causes(&e);
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL is required in CI: cannot connect to the test server \
                 (DM_TEST_POSTGRES or {DEFAULT_SERVER}): {e}"
            );
            eprintln!(
                "skipped: no PostgreSQL for this test ({e}). To run it, start PostgreSQL \
                 (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
                 or set DM_TEST_POSTGRES to the URL of a server where the user may create \
                 databases (default {DEFAULT_SERVER})."
            );
            return None;
        }
    };
    let name = format!("dm_test_{:016x}", random());
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
    let url = with_database(&server, &name);
    Some(TestDatabase { server, name, url })
}

/// `url` (a `postgres://` URL) naming the database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A connection to `url`, its driver task spawned, within 3 s.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// `e` and its causes, in words.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A random number (for names: not a secret).
fn random() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((nanos, std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://root@127.0.0.1:5432/test", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
