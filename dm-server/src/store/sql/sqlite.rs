//! [`SqliteBackend`]: the SQL store on an embedded SQLite database file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::OpenFlags;
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Access, Backend, BoxFuture, Connection, Dialect, Row, SqlStore, Value, Work};
use crate::Error;

/// Reader connections beside the writer.
const READERS: usize = 2;

/// Prepared statements kept per connection: more than the store has.
const STATEMENTS: usize = 128;

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL store on SQLite: [`SqlStore`] over [`SqliteBackend`].
///
/// ```
/// use dm_server::{DeviceRegistration, SqliteStore, Store};
/// use dm_types::DevId;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let dir = std::env::temp_dir().join(format!("dm-sqlite-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("dm.sqlite");
/// # let _ = std::fs::remove_file(&path);
/// let store = SqliteStore::open_file(&path).await?;
/// let dev_id = DevId::new("IMEI:493005100592800")?;
/// store.register_device(DeviceRegistration::new(dev_id.clone()), false, 0).await?;
/// drop(store);
///
/// // Everything is still there when the file is opened again.
/// let store = SqliteStore::open_file(&path).await?;
/// assert!(store.device(&dev_id).await?.is_some());
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type SqliteStore = SqlStore<SqliteBackend>;

impl SqlStore<SqliteBackend> {
    /// The store in the SQLite database at `path`: created (owner-only,
    /// with its schema) when missing, migrated when older (see
    /// [`SqliteBackend::open`] and [`SqlStore::open`]).
    pub async fn open_file(path: impl AsRef<Path>) -> Result<SqliteStore, Error> {
        let path = path.as_ref().to_owned();
        let backend = tokio::task::spawn_blocking(move || SqliteBackend::open(&path))
            .await
            .map_err(|e| Error::store("open the SQLite database", e))??;
        SqlStore::open(backend).await
    }

    /// [`SqliteStore::open_file`] without the permission check on an
    /// existing file ([`SqliteBackend::open_allowing_shared_permissions`]).
    pub async fn open_file_allowing_shared_permissions(
        path: impl AsRef<Path>,
    ) -> Result<SqliteStore, Error> {
        let path = path.as_ref().to_owned();
        let backend = tokio::task::spawn_blocking(move || {
            SqliteBackend::open_allowing_shared_permissions(&path)
        })
        .await
        .map_err(|e| Error::store("open the SQLite database", e))??;
        SqlStore::open(backend).await
    }
}

/// A [`Backend`] on an SQLite database file: one writer connection behind a
/// mutex (`BEGIN IMMEDIATE`: write transactions run one at a time) and a few
/// reader connections beside it (WAL lets them read while the writer
/// writes). Each transaction runs on a blocking thread.
///
/// The database runs with `journal_mode=WAL`, `synchronous=FULL` (a
/// committed transaction survives a power loss) and `foreign_keys=ON`.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// Dropped before the writer, so that the writer closes last and
    /// checkpoints the WAL into the database file.
    readers: Vec<Mutex<rusqlite::Connection>>,
    writer: Mutex<rusqlite::Connection>,
    next_reader: AtomicUsize,
}

impl SqliteBackend {
    /// Opens the database file at `path` (blocking), creating it when
    /// missing.
    ///
    /// The file holds Digest H(A1) values, the nonce key and notification
    /// secrets: on Unix a new file is created owner-only (mode `0600`;
    /// SQLite gives its `-wal` and `-shm` files the same mode), and an
    /// existing file that group or others can read or write is refused with
    /// [`Error::FilePermissions`]. A file that cannot be opened as a
    /// database is [`Error::StoreUnavailable`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteBackend, Error> {
        let path = path.as_ref();
        create_owner_only(path)?;
        crate::util::check_owner_only(path)?;
        SqliteBackend::open_allowing_shared_permissions(path)
    }

    /// [`SqliteBackend::open`] without the permission check on an existing
    /// file: for file systems without Unix permissions. A new file is
    /// still created owner-only.
    pub fn open_allowing_shared_permissions(
        path: impl AsRef<Path>,
    ) -> Result<SqliteBackend, Error> {
        let path = path.as_ref().to_owned();
        create_owner_only(&path)?;
        let unavailable = |e: rusqlite::Error| Error::StoreUnavailable {
            database: path.display().to_string(),
            problem: e.to_string(),
        };
        let writer = open_connection(&path, false).map_err(unavailable)?;
        let readers = (0..READERS)
            .map(|_| open_connection(&path, true).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        Ok(SqliteBackend {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

/// Creates the file at `path`, owner-only, unless it exists.
fn create_owner_only(path: &Path) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::File {
            path: path.to_owned(),
            source,
        }),
    }
}

fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<rusqlite::Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let connection = rusqlite::Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Every statement of the store stays prepared.
    connection.set_prepared_statement_cache_capacity(STATEMENTS);
    if !read_only {
        connection.pragma_update(None, "journal_mode", "WAL")?;
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(connection)
}

impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn transaction<T: Send + 'static>(
        &self,
        access: Access,
        work: Work<T>,
    ) -> Result<T, Error> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.run(access, work))
            .await
            .map_err(|e| Error::store("run an SQLite transaction", e))?
    }
}

impl Inner {
    fn run<T>(&self, access: Access, work: Work<T>) -> Result<T, Error> {
        match access {
            Access::Write => {
                let mut connection = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
                transaction(&mut connection, "BEGIN IMMEDIATE", work)
            }
            Access::Read => {
                // A free reader, else wait for one in turn.
                for reader in &self.readers {
                    if let Ok(mut connection) = reader.try_lock() {
                        return transaction(&mut connection, "BEGIN", work);
                    }
                }
                let n = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
                let mut connection = self.readers[n]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                transaction(&mut connection, "BEGIN", work)
            }
        }
    }
}

/// Runs `work` between `begin` and `COMMIT`, rolling back on error.
fn transaction<T>(
    connection: &mut rusqlite::Connection,
    begin: &str,
    mut work: Work<T>,
) -> Result<T, Error> {
    if !connection.is_autocommit() {
        // A transaction a panicking thread left open.
        let _ = connection.execute_batch("ROLLBACK");
    }
    connection
        .execute_batch(begin)
        .map_err(|e| sqlite_error("begin a transaction", &e))?;
    let result = {
        let mut conn = SqliteConnection(connection);
        drive(work(&mut conn))
    };
    match result {
        Ok(value) => match connection.execute_batch("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = connection.execute_batch("ROLLBACK");
                Err(sqlite_error("commit", &e))
            }
        },
        Err(e) => {
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// Polls a transaction's future to its end: every statement of this
/// backend completes at once, so the future never waits.
fn drive<T>(mut future: BoxFuture<'_, Result<T, Error>>) -> Result<T, Error> {
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(result) = future.as_mut().poll(&mut context) {
            return result;
        }
    }
    Err(Error::store(
        "run an SQLite transaction",
        "the transaction's work waited for something other than the database",
    ))
}

fn sqlite_error(operation: &str, error: &rusqlite::Error) -> Error {
    Error::store(format!("SQLite: {operation}"), error)
}

/// The connection of a running SQLite transaction.
struct SqliteConnection<'a>(&'a mut rusqlite::Connection);

/// A parameter as SQLite takes it.
struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Integer(v) => ValueRef::Integer(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

impl SqliteConnection<'_> {
    fn query_now(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, Error> {
        let fail = |e: rusqlite::Error| sqlite_error(&format!("query {sql:?}"), &e);
        let mut statement = self.0.prepare_cached(sql).map_err(fail)?;
        let columns = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(fail)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Integer(v),
                    ValueRef::Text(v) => Value::Text(
                        String::from_utf8(v.to_vec())
                            .map_err(|e| Error::store(format!("query {sql:?}"), e))?,
                    ),
                    ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                    ValueRef::Real(v) => {
                        return Err(Error::store(
                            format!("query {sql:?}"),
                            format!("unexpected real value {v}"),
                        ));
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_now(&mut self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        let fail = |e: rusqlite::Error| sqlite_error(&format!("execute {sql:?}"), &e);
        let mut statement = self.0.prepare_cached(sql).map_err(fail)?;
        let changed = statement
            .execute(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(fail)?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }
}

impl Connection for SqliteConnection<'_> {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Row>, Error>> {
        let result = self.query_now(sql, params);
        Box::pin(std::future::ready(result))
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, Result<u64, Error>> {
        let result = self.execute_now(sql, params);
        Box::pin(std::future::ready(result))
    }

    fn batch<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        let result = self
            .0
            .execute_batch(sql)
            .map_err(|e| sqlite_error("run a batch of statements", &e));
        Box::pin(std::future::ready(result))
    }
}
