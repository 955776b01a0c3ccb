//! [`PostgresBackend`]: the SQL store's seam on a pool of PostgreSQL
//! connections.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use dm_server::Error;
use dm_server::sql::{Access, Backend, BoxFuture, Connection, Dialect, Row, Value, Work};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls};

use crate::failure::{self, Kind};
use crate::placeholders::Numbered;
use crate::value::{self, Param};
use crate::{PostgresOptions, config};

/// Prepared statements kept per connection before its cache is emptied (the
/// store's statements are a fixed set far below it).
const PREPARED_KEPT: usize = 1024;

/// Times a transaction whose `BEGIN` met a connection the server had closed
/// is started again on another one (nothing of it ran yet).
const BEGIN_RETRIES: u32 = 2;

/// The SQL store's [`Backend`] on PostgreSQL: a pool of connections
/// (`deadpool-postgres`), each transaction on one of them.
///
/// - Statements are prepared once per connection; their `?` parameters
///   are numbered `$1`, `$2`... once per statement text.
/// - A [`Access::Write`] transaction runs at `READ COMMITTED` (the store
///   locks the rows it changes with `FOR UPDATE`); an [`Access::Read`] one
///   at `REPEATABLE READ READ ONLY`, so its queries see one snapshot.
/// - A transaction the server aborts for a serialization failure (SQLSTATE
///   `40001`), a deadlock (`40P01`) or a unique key committed meanwhile by
///   another transaction (`23505`; the store checks before it inserts, so
///   the run again meets the row and answers the typed conflict) runs
///   again, up to
///   [`PostgresOptions::with_conflict_retries`] times, after a short random
///   pause.
/// - A database out of reach (no connection within the timeouts, a lost
///   connection, the server shutting down) is
///   [`Error::StoreUnavailable`] naming `host:port/dbname`; a broken
///   connection leaves the pool, which connects again when the database is
///   back.
/// - A run of a transaction that takes longer than
///   [`PostgresOptions::transaction_timeout`] (a database that stopped
///   answering without closing the connection) is abandoned: its connection
///   is closed, and it is [`Error::StoreUnavailable`].
///
/// ```no_run
/// # async fn example() -> Result<(), dm_server::Error> {
/// use dm_server::sql::{Access, Backend, Value};
/// use dm_store_postgres::{PostgresBackend, PostgresOptions};
///
/// let backend =
///     PostgresBackend::connect("postgres://dm@db.internal/dm", PostgresOptions::default()).await?;
/// let answer = backend
///     .transaction(
///         Access::Read,
///         Box::new(|c| {
///             Box::pin(async move { c.query("SELECT ? + 1", &[Value::Integer(41)]).await })
///         }),
///     )
///     .await?;
/// assert_eq!(answer[0].0, vec![Value::Integer(42)]);
/// # Ok(())
/// # }
/// ```
pub struct PostgresBackend {
    pool: Pool,
    database: String,
    numbered: Numbered,
    conflict_retries: u32,
    transaction_timeout: Duration,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("database", &self.database)
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Opens a pool on the database `url` names (`postgres://user:password@host:port/dbname?...`
    /// or `postgresql://...`; what it lacks comes from `PGHOST`, `PGPORT`,
    /// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, then libpq's defaults; `""`
    /// takes everything from there) and connects once, so that a database
    /// out of reach is known at start: [`Error::StoreUnavailable`] naming
    /// `host:port/dbname` and the cause. A URL that does not parse is
    /// [`Error::Config`]. TLS is not supported (`sslmode=require` fails to
    /// connect).
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, Error> {
        let backend = Self::lazy(url, options)?;
        let client = backend.client().await?;
        drop(client);
        Ok(backend)
    }

    /// As [`PostgresBackend::connect`], without connecting: the first
    /// transaction does.
    pub fn lazy(url: &str, options: PostgresOptions) -> Result<Self, Error> {
        let mut pg = config::resolve(url, |name| std::env::var(name).ok())?;
        pg.connect_timeout(options.connect_timeout);
        pg.keepalives_idle(Duration::from_secs(30));
        if pg.get_application_name().is_none() {
            pg.application_name("dm-server");
        }
        let database = config::label(&pg);
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| Error::Config {
                setting: "PostgreSQL pool".to_owned(),
                problem: e.to_string(),
            })?;
        Ok(PostgresBackend {
            pool,
            database,
            numbered: Numbered::default(),
            conflict_retries: options.conflict_retries,
            transaction_timeout: options.transaction_timeout,
        })
    }

    /// The database as errors name it: `host:port/dbname` (never the user
    /// or the password).
    pub fn database(&self) -> &str {
        &self.database
    }

    async fn client(&self) -> Result<Object, Error> {
        self.pool
            .get()
            .await
            .map_err(|e| failure::pool_error(e, &self.database))
    }

    /// One run of `work` on a transaction of `client`.
    async fn attempt<T: Send>(
        &self,
        client: &mut Object,
        access: Access,
        work: &mut Work<T>,
    ) -> Attempt<T> {
        let builder = match access {
            Access::Write => client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted),
            Access::Read => client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true),
        };
        let tx = match builder.start().await {
            Ok(tx) => tx,
            Err(e) => {
                let error = failure::store_error(&e, &self.database, "PostgreSQL: BEGIN");
                return match failure::kind(&e) {
                    Kind::Unavailable => Attempt::LostAtBegin(error),
                    Kind::Conflict => Attempt::Conflict(error),
                    Kind::Other => Attempt::Failed(error, false),
                };
            }
        };
        let mut connection = PgConnection {
            tx,
            backend: self,
            conflict: false,
            lost: None,
        };
        let result = work(&mut connection).await;
        let PgConnection {
            tx, conflict, lost, ..
        } = connection;
        match result {
            Ok(value) => match tx.commit().await {
                Ok(()) => Attempt::Done(value),
                Err(e) => {
                    let mut error = failure::store_error(&e, &self.database, "PostgreSQL: COMMIT");
                    match failure::kind(&e) {
                        Kind::Conflict => Attempt::Conflict(error),
                        Kind::Unavailable => {
                            if let Error::StoreUnavailable { problem, .. } = &mut error {
                                problem.push_str(
                                    " (while committing: the transaction may or may not have been committed)",
                                );
                            }
                            Attempt::Failed(error, true)
                        }
                        Kind::Other => Attempt::Failed(error, false),
                    }
                }
            },
            Err(error) => {
                if lost.is_none() {
                    // A failed rollback leaves a connection the pool
                    // recycles only if it is still open.
                    let _ = tx.rollback().await;
                }
                match lost {
                    _ if conflict => Attempt::Conflict(error),
                    None => Attempt::Failed(error, false),
                    // The work's own error says more, unless it is a
                    // plain store failure: then the lost database is
                    // the cause (503, not 500).
                    Some(problem) if matches!(error, Error::Store { .. }) => Attempt::Failed(
                        Error::StoreUnavailable {
                            database: self.database.clone(),
                            problem,
                        },
                        true,
                    ),
                    Some(_) => Attempt::Failed(error, true),
                }
            }
        }
    }
}

/// How one run of a transaction ended.
enum Attempt<T> {
    /// Committed.
    Done(T),
    /// Aborted by a serialization failure or a deadlock: worth running
    /// again.
    Conflict(Error),
    /// The connection was found closed before anything ran: worth running
    /// on another one.
    LostAtBegin(Error),
    /// Failed; `true` when the connection is lost.
    Failed(Error, bool),
}

impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn transaction<T: Send + 'static>(
        &self,
        access: Access,
        mut work: Work<T>,
    ) -> Result<T, Error> {
        let mut conflicts = 0u32;
        let mut lost = 0u32;
        loop {
            let mut client = self.client().await?;
            if client.statement_cache.size() > PREPARED_KEPT {
                client.statement_cache.clear();
            }
            let attempt = tokio::time::timeout(
                self.transaction_timeout,
                self.attempt(&mut client, access, &mut work),
            )
            .await
            .unwrap_or_else(|_| {
                Attempt::Failed(
                    Error::StoreUnavailable {
                        database: self.database.clone(),
                        problem: format!(
                            "no answer within {} ms; the transaction was abandoned (if it was \
                             committing, it may or may not have been committed)",
                            self.transaction_timeout.as_millis()
                        ),
                    },
                    true,
                )
            });
            match attempt {
                Attempt::Done(value) => return Ok(value),
                Attempt::Conflict(error) => {
                    if conflicts >= self.conflict_retries {
                        return Err(error);
                    }
                    conflicts += 1;
                    drop(client);
                    tracing::debug!(
                        database = %self.database,
                        attempt = conflicts,
                        "PostgreSQL transaction aborted by a conflict; running it again: {error}"
                    );
                    tokio::time::sleep(backoff(conflicts)).await;
                }
                Attempt::LostAtBegin(error) => {
                    drop(Object::take(client));
                    if lost >= BEGIN_RETRIES {
                        return Err(error);
                    }
                    lost += 1;
                    tracing::warn!(
                        database = %self.database,
                        "PostgreSQL connection lost; trying another: {error}"
                    );
                }
                Attempt::Failed(error, connection_lost) => {
                    if connection_lost {
                        drop(Object::take(client));
                    }
                    return Err(error);
                }
            }
        }
    }
}

/// The pause before running a transaction again after its `attempt`th
/// conflict: 5 ms doubling, up to 80 ms, plus up to as much at random so
/// that the transactions that collided do not collide again.
fn backoff(attempt: u32) -> Duration {
    let base = 5u64 << attempt.clamp(1, 5).saturating_sub(1);
    let jitter = RandomState::new().hash_one(attempt) % (base + 1);
    Duration::from_millis(base + jitter)
}

/// A transaction on one pooled connection, as the store's logic sees it.
struct PgConnection<'t> {
    tx: deadpool_postgres::Transaction<'t>,
    backend: &'t PostgresBackend,
    /// A statement failed with a serialization failure or a deadlock.
    conflict: bool,
    /// The connection was lost: why.
    lost: Option<String>,
}

impl PgConnection<'_> {
    /// The store error for `e`, met running `sql`; notes a conflict or a
    /// lost connection for the transaction's end.
    fn failed(&mut self, e: &tokio_postgres::Error, sql: &str) -> Error {
        match failure::kind(e) {
            Kind::Conflict => self.conflict = true,
            Kind::Unavailable => {
                self.lost.get_or_insert_with(|| failure::problem(e));
            }
            Kind::Other => {}
        }
        failure::store_error(e, &self.backend.database, &failure::operation(sql))
    }

    /// `sql` prepared on this connection (once).
    async fn prepared(&mut self, sql: &str) -> Result<tokio_postgres::Statement, Error> {
        let text = self.backend.numbered.get(sql);
        match self.tx.prepare_cached(&text).await {
            Ok(statement) => Ok(statement),
            Err(e) => Err(self.failed(&e, sql)),
        }
    }
}

/// `params` as the driver takes them.
fn driver_params(params: &[Value]) -> Vec<Param<'_>> {
    params.iter().map(Param).collect()
}

fn refs<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Connection for PgConnection<'_> {
    fn query<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, Result<Vec<Row>, Error>> {
        Box::pin(async move {
            let statement = self.prepared(sql).await?;
            let params = driver_params(params);
            let rows = match self.tx.query(&statement, &refs(&params)).await {
                Ok(rows) => rows,
                Err(e) => return Err(self.failed(&e, sql)),
            };
            let operation = failure::operation(sql);
            rows.iter().map(|r| value::row(r, &operation)).collect()
        })
    }

    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: &'a [Value],
    ) -> BoxFuture<'a, Result<u64, Error>> {
        Box::pin(async move {
            let statement = self.prepared(sql).await?;
            let params = driver_params(params);
            match self.tx.execute(&statement, &refs(&params)).await {
                Ok(n) => Ok(n),
                Err(e) => Err(self.failed(&e, sql)),
            }
        })
    }

    fn batch<'a>(&'a mut self, sql: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match self.tx.batch_execute(sql).await {
                Ok(()) => Ok(()),
                Err(e) => Err(self.failed(&e, sql)),
            }
        })
    }
}
