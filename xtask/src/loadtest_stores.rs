//! `cargo xtask loadtest --store URL`: the figures of the stores.
//!
//! - `sessions`: complete sessions per second (Package#1, a GET of DevInfo,
//!   END) on each store, with the ratio to `MemoryStore` measured in the
//!   same process, and the database round trips (transactions) per complete
//!   session of a SQL store.
//! - `registered`: a durable store filled with N devices through the bulk
//!   path (`Store::register_devices`, batches of 10,000): devices per
//!   second, bytes per device in the database, and the time of a device
//!   list page of 100 in the middle of the list.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dm_server::sql::{Access, Backend as _, BoxFuture, Connection, Row, Value, Work};
use dm_server::{DeviceQuery, DeviceRegistration, MemoryStore, SqliteStore, Store, StoreLocation};
use dm_store_postgres::PostgresStore;
use dm_test_support::postgres::{TestDatabase, fresh_database};
use dm_types::DevId;

use crate::loadtest::{per_second, percentile, sessions, start_server_on};

/// The environment variable the runner passes the stores of a phase in
/// (one per line): a URL may hold a password, which the command line of a
/// process would show to every user of the machine.
pub(crate) const STORES_VARIABLE: &str = "DM_LOADTEST_STORES";

/// The store of `--stores` that is a fresh PostgreSQL database, created
/// (and dropped) by the phase on the server `DM_TEST_POSTGRES` names.
pub(crate) const FRESH_POSTGRES: &str = "postgres:fresh";

/// The store of `--stores` that is a SQLite file in a scratch directory,
/// removed by the phase.
pub(crate) const SCRATCH_SQLITE: &str = "sqlite:scratch";

/// Devices per `Store::register_devices` call.
const BATCH: usize = 10_000;

/// Runs of the device-page figure.
const PAGE_RUNS: usize = 50;

/// A store a phase measures.
pub(crate) enum Opened {
    Memory(Arc<MemoryStore>),
    Sqlite(Arc<SqliteStore>, PathBuf),
    Postgres(Arc<PostgresStore>),
}

/// What a phase opened a store from, and what it removes when done.
pub(crate) struct Target {
    /// The name in the FIGURE lines: `memory`, `sqlite`, `postgres`.
    pub(crate) name: &'static str,
    /// Where, as said to the reader (a URL's password hidden).
    pub(crate) shown: String,
    pub(crate) location: StoreLocation,
    /// A fresh database, dropped with this.
    _database: Option<TestDatabase>,
    /// A scratch directory, removed with this.
    scratch: Option<PathBuf>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The stores a phase was given (see [`STORES_VARIABLE`]).
pub(crate) fn stores_of_environment() -> Vec<String> {
    std::env::var(STORES_VARIABLE)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks a `--store` value (parsed as `dm serve --store` does).
pub(crate) fn check_store(text: &str) -> Result<(), String> {
    text.parse::<StoreLocation>()
        .map(drop)
        .map_err(|e| format!("--store: {e}"))
}

pub(crate) async fn target(text: &str, purpose: &str) -> Result<Target, String> {
    if text == FRESH_POSTGRES {
        let database = fresh_database().await.ok_or_else(|| {
            format!(
                "PostgreSQL is unreachable at {} (set DM_TEST_POSTGRES to a server where the \
                 user may create databases)",
                dm_test_support::postgres::server()
                    .parse::<StoreLocation>()
                    .map_or_else(|_| "DM_TEST_POSTGRES".to_owned(), |l| l.to_string())
            )
        })?;
        let location = database
            .url()
            .parse::<StoreLocation>()
            .map_err(|e| e.to_string())?;
        return Ok(Target {
            name: "postgres",
            shown: format!("fresh database {}", database.name()),
            location,
            _database: Some(database),
            scratch: None,
        });
    }
    if text == SCRATCH_SQLITE {
        let dir =
            std::env::temp_dir().join(format!("dm-loadtest-{}-{purpose}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("store.db");
        return Ok(Target {
            name: "sqlite",
            shown: format!("scratch file {}", path.display()),
            location: StoreLocation::Sqlite(path),
            _database: None,
            scratch: Some(dir),
        });
    }
    let location = text
        .parse::<StoreLocation>()
        .map_err(|e| format!("--store: {e}"))?;
    let name = match location {
        StoreLocation::Memory => "memory",
        StoreLocation::Sqlite(_) => "sqlite",
        StoreLocation::Postgres(_) => "postgres",
    };
    Ok(Target {
        name,
        shown: location.to_string(),
        location,
        _database: None,
        scratch: None,
    })
}

pub(crate) async fn open(target: &Target) -> Result<Opened, String> {
    let failed = |e: dm_server::Error| format!("cannot open the store {}: {e}", target.shown);
    Ok(match &target.location {
        StoreLocation::Memory => Opened::Memory(Arc::new(MemoryStore::new())),
        StoreLocation::Sqlite(path) => Opened::Sqlite(
            Arc::new(SqliteStore::open_file(path).await.map_err(failed)?),
            path.clone(),
        ),
        StoreLocation::Postgres(url) => Opened::Postgres(Arc::new(
            dm_store_postgres::connect(url).await.map_err(failed)?,
        )),
    })
}

// ---------------------------------------------------------------------------
// sessions

/// What one store's sessions gave.
struct Measured {
    rate: f64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: usize,
    /// Transactions per complete session (SQL stores).
    round_trips: Option<f64>,
}

async fn measure<S: Store>(
    store: Arc<S>,
    transactions: impl Fn() -> Option<u64>,
    count: usize,
    concurrency: usize,
) -> Result<Measured, String> {
    let (uri, _server, serving) = start_server_on(store, count, true).await?;
    let before = transactions();
    let (elapsed, latencies, failures) = sessions(uri, count, concurrency).await?;
    let after = transactions();
    serving.abort();
    let completed = count.saturating_sub(failures);
    #[allow(clippy::cast_precision_loss)]
    let round_trips = before
        .zip(after)
        .map(|(b, a)| a.saturating_sub(b) as f64 / completed.max(1) as f64);
    Ok(Measured {
        rate: per_second(completed, elapsed),
        elapsed,
        latencies,
        failures,
        round_trips,
    })
}

async fn measure_opened(
    opened: Opened,
    count: usize,
    concurrency: usize,
) -> Result<Measured, String> {
    match opened {
        Opened::Memory(store) => measure(store, || None, count, concurrency).await,
        Opened::Sqlite(store, _) => {
            let counter = store.clone();
            measure(
                store,
                move || Some(counter.transactions()),
                count,
                concurrency,
            )
            .await
        }
        Opened::Postgres(store) => {
            let counter = store.clone();
            measure(
                store,
                move || Some(counter.transactions()),
                count,
                concurrency,
            )
            .await
        }
    }
}

/// Sessions per second on `MemoryStore`, then on each of `stores`, each
/// with its ratio to `MemoryStore`; round trips per session of each SQL
/// store (target: at most 4).
pub(crate) async fn store_sessions(
    count: usize,
    concurrency: usize,
    stores: &[String],
) -> Result<bool, String> {
    // Every store is opened first: one out of reach fails the phase at once.
    let mut opened = Vec::new();
    for text in stores {
        let target = target(text, "sessions").await?;
        if target.name != "memory" {
            let store = open(&target).await?;
            opened.push((target, store));
        }
    }
    let memory = measure_opened(
        Opened::Memory(Arc::new(MemoryStore::new())),
        count,
        concurrency,
    )
    .await?;
    report("memory", "MemoryStore", count, &memory);
    let mut ok = memory.failures == 0;
    for (target, store) in opened {
        let measured = measure_opened(store, count, concurrency).await?;
        report(target.name, &target.shown, count, &measured);
        println!(
            "FIGURE store_sessions_per_second[{}]: {:.0} complete sessions/s over {count} sessions (concurrency {concurrency}), memory {:.0}; ratio {:.2}x, p50 {:.2} ms, p99 {:.2} ms, {} failed",
            target.name,
            measured.rate,
            memory.rate,
            measured.rate / memory.rate.max(1e-9),
            percentile(&measured.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&measured.latencies, 0.99).as_secs_f64() * 1e3,
            measured.failures,
        );
        if let Some(trips) = measured.round_trips {
            // A process reads a few things once (the server key), which
            // the sessions measured share: at most 0.01 per session.
            let meets = trips < 4.01;
            println!(
                "FIGURE store_round_trips_per_session[{}]: {trips:.3} transactions per complete session, one-off reads of the process included ({} target <= 4)",
                target.name,
                if meets { "meets" } else { "MISSES" }
            );
            ok &= meets;
        }
        ok &= measured.failures == 0;
    }
    Ok(ok)
}

fn report(name: &str, shown: &str, count: usize, m: &Measured) {
    println!(
        "{name:<9} {count} sessions in {:.2} s: {:.0} sessions/s, p50 {:.2} ms, p99 {:.2} ms, {} failed ({shown})",
        m.elapsed.as_secs_f64(),
        m.rate,
        percentile(&m.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&m.latencies, 0.99).as_secs_f64() * 1e3,
        m.failures
    );
}

// ---------------------------------------------------------------------------
// registered

/// The DevID of registered device `n` (apart from the sessions' devices;
/// in DevID order as in numeric order).
fn registered_id(n: usize) -> Result<DevId, String> {
    DevId::new(format!("IMEI:{:015}", 500_000_000_000_000 + n))
        .map_err(|e| format!("no DevID for device {n}: {e}"))
}

/// Registers `count` devices with Digest credentials through
/// `Store::register_devices`; returns the time the store took.
async fn fill<S: Store>(store: &S, count: usize) -> Result<Duration, String> {
    let mut spent = Duration::ZERO;
    let mut next = 0;
    while next < count {
        let end = (next + BATCH).min(count);
        let batch = (next..end)
            .map(|n| {
                Ok(DeviceRegistration::new(registered_id(n)?).with_password(
                    &format!("device-{n}"),
                    "a password of some length",
                    "dm",
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let started = Instant::now();
        store
            .register_devices(batch, 0)
            .await
            .map_err(|e| format!("registering devices {next}..{end}: {e} (use a fresh store)"))?;
        spent += started.elapsed();
        next = end;
        if next % 100_000 == 0 {
            eprintln!("registered {next} of {count}");
        }
    }
    Ok(spent)
}

/// The median time of a page of 100 devices after the one at `count / 2`.
async fn page_time<S: Store>(store: &S, count: usize) -> Result<Duration, String> {
    let after = registered_id(count / 2)?;
    let mut times = Vec::with_capacity(PAGE_RUNS);
    for _ in 0..PAGE_RUNS {
        let started = Instant::now();
        let page = store
            .devices(&DeviceQuery::new(100).with_after(after.clone()))
            .await
            .map_err(|e| e.to_string())?
            .devices;
        times.push(started.elapsed());
        if page.len() != 100.min(count - count / 2 - 1) {
            return Err(format!("a page of {} devices", page.len()));
        }
    }
    times.sort_unstable();
    Ok(percentile(&times, 0.5))
}

/// The bytes of a SQLite database with its WAL.
fn sqlite_bytes(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

/// `pg_database_size(current_database())`.
async fn postgres_bytes(store: &PostgresStore) -> Result<u64, String> {
    let work: Work<i64> = Box::new(|c: &mut dyn Connection| -> BoxFuture<'_, _> {
        Box::pin(async move {
            let rows: Vec<Row> = c
                .query("SELECT pg_database_size(current_database())", &[])
                .await?;
            match rows.first().and_then(|r| r.0.first()) {
                Some(Value::Integer(v)) => Ok(*v),
                other => Err(dm_server::Error::Store {
                    operation: "read the database size".into(),
                    problem: format!("{other:?}"),
                }),
            }
        })
    });
    let bytes = store
        .backend()
        .transaction(Access::Read, work)
        .await
        .map_err(|e| e.to_string())?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

fn print_registered(
    name: &str,
    count: usize,
    spent: Duration,
    bytes: u64,
    how: &str,
    page: Duration,
) -> bool {
    println!(
        "FIGURE store_bulk_registration[{name}]: {count} devices (Digest credentials) in {:.1} s through Store::register_devices in batches of {BATCH}: {:.0} devices/s",
        spent.as_secs_f64(),
        per_second(count, spent)
    );
    let per = bytes / count.max(1) as u64;
    println!(
        "FIGURE store_bytes_per_device[{name}]: {per} B per registered device over {count} devices ({how}) ({} target <= 1 KiB)",
        if per <= 1024 { "meets" } else { "MISSES" }
    );
    let page_ms = page.as_secs_f64() * 1e3;
    println!(
        "FIGURE store_device_page[{name}]: a page of 100 devices after position {} of {count}: {page_ms:.2} ms, median of {PAGE_RUNS} ({} target < 5 ms)",
        count / 2,
        if page_ms < 5.0 { "meets" } else { "MISSES" }
    );
    per <= 1024 && page_ms < 5.0
}

/// Fills a durable store with `count` devices through the bulk path; prints
/// the registration rate, the bytes per device in the database and the
/// time of a page of the device list in its middle.
pub(crate) async fn registered(count: usize, store: &str) -> Result<bool, String> {
    let target = target(store, "registered").await?;
    println!("registered: {count} devices on {}", target.shown);
    match open(&target).await? {
        Opened::Memory(_) => {
            println!("registered: memory skipped (not durable; see the store phase)");
            Ok(true)
        }
        Opened::Sqlite(store, path) => {
            // Closing the store checkpoints its WAL into the file.
            drop(store);
            let before = sqlite_bytes(&path);
            let store = SqliteStore::open_file(&path)
                .await
                .map_err(|e| e.to_string())?;
            let spent = fill(&store, count).await?;
            let page = page_time(&store, count).await?;
            drop(store);
            let after = sqlite_bytes(&path);
            Ok(print_registered(
                target.name,
                count,
                spent,
                after.saturating_sub(before),
                "growth of the file and its WAL, the store closed",
                page,
            ))
        }
        Opened::Postgres(store) => {
            let before = postgres_bytes(&store).await?;
            let spent = fill(&*store, count).await?;
            let page = page_time(&*store, count).await?;
            let after = postgres_bytes(&store).await?;
            Ok(print_registered(
                target.name,
                count,
                spent,
                after.saturating_sub(before),
                "growth of pg_database_size",
                page,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn the_store_phases_run_small_on_sqlite() {
        let runtime = runtime();
        // Figures of a debug build miss their targets; the phases must run.
        runtime
            .block_on(store_sessions(40, 8, &[SCRATCH_SQLITE.to_owned()]))
            .expect("sessions");
        runtime
            .block_on(registered(1200, SCRATCH_SQLITE))
            .expect("registered");
    }

    #[test]
    fn a_store_that_names_none_is_refused() {
        assert!(check_store("mysql://x").is_err());
        assert!(check_store("sqlite:/tmp/x.db").is_ok());
        let unreachable = "postgres://nobody:secret@127.0.0.1:1/none".to_owned();
        for message in [
            runtime().block_on(registered(10, &unreachable)),
            runtime().block_on(store_sessions(10, 1, std::slice::from_ref(&unreachable))),
        ]
        .map(|r| r.expect_err("unreachable"))
        {
            assert!(message.contains("cannot open the store"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }
}
