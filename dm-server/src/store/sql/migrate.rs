//! The schema and its migrations: one list per dialect, applied in order by
//! [`migrate`], which records the version reached in `dm_schema`.

use super::rows::scalar;
use super::{BoxFuture, Connection, Dialect, Value, Work};
use crate::Error;

/// The migrations of SQLite, in order: migration `n` (from 1) brings the
/// schema to version `n`.
const SQLITE: &[&str] = &[
    include_str!("migrations/sqlite/0001_init.sql"),
    include_str!("migrations/sqlite/0002_psk.sql"),
    include_str!("migrations/sqlite/0003_bootstrap.sql"),
    include_str!("migrations/sqlite/0004_artifacts_groups.sql"),
    include_str!("migrations/sqlite/0005_campaigns.sql"),
    include_str!("migrations/sqlite/0006_api_keys.sql"),
    include_str!("migrations/sqlite/0007_metrics.sql"),
    include_str!("migrations/sqlite/0008_events.sql"),
];

/// The migrations of PostgreSQL, in the same order as [`SQLITE`].
const POSTGRES: &[&str] = &[
    include_str!("migrations/postgres/0001_init.sql"),
    include_str!("migrations/postgres/0002_psk.sql"),
    include_str!("migrations/postgres/0003_bootstrap.sql"),
    include_str!("migrations/postgres/0004_artifacts_groups.sql"),
    include_str!("migrations/postgres/0005_campaigns.sql"),
    include_str!("migrations/postgres/0006_api_keys.sql"),
    include_str!("migrations/postgres/0007_metrics.sql"),
    include_str!("migrations/postgres/0008_events.sql"),
];

/// The key of the PostgreSQL advisory lock migrations run under, so that
/// several nodes starting at once migrate one after the other ("dm-schm").
const MIGRATION_LOCK: i64 = 0x646d_2d73_6368_6d00;

/// The migrations of a dialect.
fn migrations(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    }
}

/// The newest schema version this program knows.
pub(crate) fn supported_version(dialect: Dialect) -> u32 {
    u32::try_from(migrations(dialect).len()).unwrap_or(u32::MAX)
}

/// The work of bringing the database's schema to the newest version: all
/// pending migrations in one write transaction (on PostgreSQL under an
/// advisory lock, so that nodes starting together do not race); it returns
/// the version the database had. A version newer than this program knows
/// is [`Error::SchemaTooNew`], and nothing changes.
pub(crate) fn migration(dialect: Dialect) -> Work<u32> {
    Box::new(move |c: &mut dyn Connection| -> BoxFuture<'_, _> { Box::pin(run(c, dialect)) })
}

async fn run(c: &mut dyn Connection, dialect: Dialect) -> Result<u32, Error> {
    if dialect == Dialect::Postgres {
        c.execute(
            "SELECT pg_advisory_xact_lock(?)",
            &[Value::Integer(MIGRATION_LOCK)],
        )
        .await?;
    }
    c.batch("CREATE TABLE IF NOT EXISTS dm_schema (version BIGINT NOT NULL)")
        .await?;
    let rows = c.query("SELECT MAX(version) FROM dm_schema", &[]).await?;
    let version = scalar(&rows, "the schema version")?;
    let found = u32::try_from(version)
        .map_err(|_| Error::store("read the schema version", format!("version {version}")))?;
    let all = migrations(dialect);
    let supported = supported_version(dialect);
    if found > supported {
        return Err(Error::SchemaTooNew { found, supported });
    }
    let pending = all
        .get(usize::try_from(found).unwrap_or(usize::MAX)..)
        .unwrap_or_default();
    if pending.is_empty() {
        return Ok(found);
    }
    for migration in pending {
        c.batch(migration).await?;
    }
    c.execute("DELETE FROM dm_schema", &[]).await?;
    c.execute(
        "INSERT INTO dm_schema (version) VALUES (?)",
        &[Value::Integer(i64::from(supported))],
    )
    .await?;
    if found > 0 {
        tracing::info!(from = found, to = supported, "store schema migrated");
    }
    Ok(found)
}
