//! [`SqlStore`]: the [`Store`](crate::Store) over a [`Backend`], each method
//! one transaction.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Access, Backend, Dialect, Work, migrate};
use crate::{Error, Retention};

/// The [`Store`](crate::Store) of a transactional database: every method
/// is one transaction of its [`Backend`], so that several server nodes can
/// share the database (on PostgreSQL) and an acknowledged write survives a
/// crash.
///
/// [`SqlStore::open`] brings the schema to the newest version this program
/// knows (all pending migrations in one transaction) and refuses a newer
/// one ([`Error::SchemaTooNew`]). It keeps what [`Retention`] allows per
/// device, as [`MemoryStore`](crate::MemoryStore) does, and behaves the same
/// way in every other respect.
///
/// The SQLite backend is [`SqliteBackend`](super::SqliteBackend) (the
/// `sqlite` feature, on by default; see [`SqliteStore`](super::SqliteStore)),
/// the PostgreSQL one lives in the `dm-store-postgres` crate.
#[derive(Debug)]
pub struct SqlStore<B: Backend> {
    pub(super) backend: B,
    pub(super) dialect: Dialect,
    pub(super) retention: Retention,
    transactions: AtomicU64,
}

impl<B: Backend> SqlStore<B> {
    /// A store on `backend`, its schema migrated to the newest version
    /// (created in an empty database). A database whose schema is newer
    /// than this program is [`Error::SchemaTooNew`]; one that cannot be
    /// reached is [`Error::StoreUnavailable`].
    pub async fn open(backend: B) -> Result<SqlStore<B>, Error> {
        let dialect = backend.dialect();
        let store = SqlStore {
            backend,
            dialect,
            retention: Retention::default(),
            transactions: AtomicU64::new(0),
        };
        store
            .run(Access::Write, migrate::migration(dialect))
            .await?;
        Ok(store)
    }

    /// Sets how much history is kept per device (applied as history grows).
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How much history the store keeps per device.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The SQL dialect of its backend.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The backend the store runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// How many transactions the store ran so far (the migration at
    /// [`SqlStore::open`] included): each [`Store`](crate::Store) method
    /// runs at most one, so this counts round trips of whole steps.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Runs `work` in one transaction.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        access: Access,
        work: Work<T>,
    ) -> Result<T, Error> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.backend.transaction(access, work).await
    }
}
