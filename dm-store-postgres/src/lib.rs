//! A PostgreSQL store for `dm-server`: several server nodes share one
//! database, each request's store step one transaction.
//!
//! [`PostgresBackend`] is the SQL store's [`Backend`](dm_server::sql::Backend)
//! on a pool of PostgreSQL connections; the store's logic, schema and
//! migrations are dm-server's ([`dm_server::sql`]), the same as for the
//! embedded SQLite store.
//!
//! See the crate's README for what it is and is not for.

#![forbid(unsafe_code)]

mod backend;
mod config;
mod failure;
mod placeholders;
mod value;

use std::time::Duration;

pub use backend::PostgresBackend;

/// The SQL store on PostgreSQL.
pub type PostgresStore = dm_server::sql::SqlStore<PostgresBackend>;

/// Connects to the database `url` names (see [`PostgresBackend::connect`]
/// for the URL and the environment variables that complete it) with the
/// default [`PostgresOptions`], and opens the store: its schema is migrated
/// to the newest version (once, whatever the number of nodes starting
/// together).
///
/// A database out of reach is [`dm_server::Error::StoreUnavailable`]
/// naming `host:port/dbname` and the cause; a schema newer than this
/// program is [`dm_server::Error::SchemaTooNew`].
///
/// ```no_run
/// # async fn example() -> Result<(), dm_server::Error> {
/// let store = dm_store_postgres::connect("postgres://dm:secret@db.internal:5432/dm").await?;
/// let store = store.with_retention(dm_server::Retention::default().with_alerts(64));
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
pub async fn connect(url: &str) -> Result<PostgresStore, dm_server::Error> {
    connect_with(url, PostgresOptions::default()).await
}

/// [`connect`] with `options`.
pub async fn connect_with(
    url: &str,
    options: PostgresOptions,
) -> Result<PostgresStore, dm_server::Error> {
    let backend = PostgresBackend::connect(url, options).await?;
    dm_server::sql::SqlStore::open(backend).await
}

/// How the PostgreSQL backend connects and pools.
///
/// ```
/// use std::time::Duration;
/// use dm_store_postgres::PostgresOptions;
///
/// let options = PostgresOptions::default()
///     .with_pool_size(32)
///     .with_connect_timeout(Duration::from_secs(2));
/// assert_eq!(options.pool_size, 32);
/// assert_eq!(PostgresOptions::default().pool_size, 16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Connections the pool holds at most. Default 16.
    pub pool_size: usize,
    /// How long connecting to the server may take before the database is
    /// taken as out of reach ([`dm_server::Error::StoreUnavailable`]).
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// How long a transaction waits for a free connection when every one
    /// is busy before it fails with [`dm_server::Error::StoreUnavailable`].
    /// Default 5 s.
    pub wait_timeout: Duration,
    /// Times a transaction aborted by a serialization failure or a deadlock
    /// runs again. Default 5.
    pub conflict_retries: u32,
    /// How long one run of a transaction (from BEGIN to the end of COMMIT)
    /// may take before it is abandoned: its connection is closed (the
    /// server rolls back what it had not committed) and the transaction
    /// fails with [`dm_server::Error::StoreUnavailable`]. It bounds how long
    /// a request waits on a database that stopped answering without closing
    /// its connections. Default 5 s (a store transaction takes
    /// milliseconds; a bulk registration of 10,000 devices well under a
    /// second).
    pub transaction_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            conflict_retries: 5,
            transaction_timeout: Duration::from_secs(5),
        }
    }
}

impl PostgresOptions {
    /// Sets [`PostgresOptions::pool_size`] (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size.max(1);
        self
    }

    /// Sets [`PostgresOptions::connect_timeout`].
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`PostgresOptions::wait_timeout`].
    #[must_use]
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Sets [`PostgresOptions::conflict_retries`].
    #[must_use]
    pub fn with_conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    /// Sets [`PostgresOptions::transaction_timeout`] (at least 1 ms).
    #[must_use]
    pub fn with_transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
