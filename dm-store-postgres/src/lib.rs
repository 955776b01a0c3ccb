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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            conflict_retries: 5,
        }
    }
}

impl PostgresOptions {
    /// Sets [`PostgresOptions::pool_size`] (at least 1).
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size.max(1);
        self
    }

    /// Sets [`PostgresOptions::connect_timeout`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`PostgresOptions::wait_timeout`].
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Sets [`PostgresOptions::conflict_retries`].
    pub fn with_conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }
}
