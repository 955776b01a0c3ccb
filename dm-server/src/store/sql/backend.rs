//! The seam between the SQL store and a database driver: a [`Backend`]
//! runs one transaction on a [`Connection`], which executes statements
//! with [`Value`] parameters and returns [`Row`]s.
//!
//! The store's logic (every [`Store`](crate::Store) method as one
//! transaction, the schema and its migrations) is written once against this
//! seam; a driver only moves values in and out. dm-server ships the SQLite
//! backend; `dm-store-postgres` ships the PostgreSQL one.

use std::future::Future;
use std::pin::Pin;

use crate::Error;

/// A boxed future that can move between threads: what a [`Connection`]
/// returns, so that the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The SQL dialect of a backend: the few places where SQLite and PostgreSQL
/// disagree (column types live in each dialect's migrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite 3.35 or later (`RETURNING`, `ON CONFLICT ... DO UPDATE`).
    Sqlite,
    /// PostgreSQL 13 or later.
    Postgres,
}

impl Dialect {
    /// The row-lock clause appended to a `SELECT` that reads rows a
    /// transaction then writes: `FOR UPDATE` on PostgreSQL (its
    /// transactions run at READ COMMITTED), nothing on SQLite (a write
    /// transaction holds the database's only write lock from its start).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// [`Dialect::for_update`] for a queue: rows another transaction holds
    /// are skipped rather than waited for (`FOR UPDATE SKIP LOCKED`).
    pub fn for_update_skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A statement parameter or a column value. Integers are 64-bit (`INTEGER`
/// in SQLite, `BIGINT` in PostgreSQL; booleans are stored as 0 and 1),
/// text is UTF-8 (`TEXT`), bytes are `BLOB` / `BYTEA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// One row of a result, its columns in the order the query names them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row(pub Vec<Value>);

/// Whether a transaction only reads or also writes. A backend may run read
/// transactions on other connections than writes (SQLite in WAL mode lets
/// readers run beside the writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only `SELECT`s.
    Read,
    /// Reads and writes.
    Write,
}

/// The work of one transaction: called with the transaction's connection,
/// it runs its statements and returns its result. A backend may call it
/// again on a fresh transaction when the database aborted the first for a
/// serialization failure or a deadlock, so it has no effect outside the
/// connection.
pub type Work<T> =
    Box<dyn for<'c> FnMut(&'c mut dyn Connection) -> BoxFuture<'c, Result<T, Error>> + Send>;

/// A database connection inside a transaction.
///
/// Statements use `?` for their parameters, numbered in order (a backend
/// whose database wants `$1`, `$2`... rewrites them; no statement has a `?`
/// inside a literal).
pub trait Connection: Send {
    /// Runs a statement and returns its rows (a `SELECT`, or a statement
    /// with `RETURNING`).
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Row>, Error>>;

    /// Runs a statement and returns how many rows it changed.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, Result<u64, Error>>;

    /// Runs several statements without parameters, separated by `;` (a
    /// migration).
    fn batch<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<(), Error>>;
}

/// A database the SQL store runs on.
pub trait Backend: Send + Sync + 'static {
    /// The backend's SQL dialect.
    fn dialect(&self) -> Dialect;

    /// Runs `work` in one transaction: committed (durably) when it returns
    /// `Ok`, rolled back when it returns an error, which is returned. A
    /// database that cannot be reached is [`Error::StoreUnavailable`].
    fn transaction<T: Send + 'static>(
        &self,
        access: Access,
        work: Work<T>,
    ) -> impl Future<Output = Result<T, Error>> + Send;
}
