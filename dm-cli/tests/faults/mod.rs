//! What the fault tests (`store_kill`, `cluster`, `database_outage`) share:
//! a scratch directory, the server configuration, a seeded random source,
//! and reading command states back through the admin API.

// Each test binary uses its part.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dm_test_support::admin_api::AdminApi;
use dm_test_support::fleet;
use serde_json::{Value, json};

/// The `dm` binary under test.
pub(crate) const DM: &str = env!("CARGO_BIN_EXE_dm");

/// The admin token of every server of these tests.
pub(crate) const TOKEN: &str = "faults-admin-token";

/// A scratch directory, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dm-faults-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `server.json` in `scratch`: the fleet's server id, [`TOKEN`],
/// `limits`, and the members of `extra`; its path.
pub(crate) fn write_config(scratch: &Scratch, limits: Value, extra: Value) -> String {
    let mut config = json!({
        "server_id": fleet::SERVER_ID,
        "admin_token": TOKEN,
    });
    config["limits"] = limits;
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    let path = scratch.path("server.json");
    std::fs::write(&path, config.to_string()).expect("configuration written");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// A small xorshift generator, seeded from the clock (the seed is printed,
/// so that a failing run can be told apart; the tests do not depend on the
/// values, only on the moments they pick).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_clock(test: &str) -> Rng {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::from(d.subsec_nanos()) | 1);
        eprintln!("{test}: seed {seed}");
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// The state of command `id` of `dev_id` (`queued`, `sent`, `done`,
/// `failed`) and its command words; panics unless the admin API knows it.
pub(crate) async fn command_state(admin: &AdminApi, dev_id: &str, id: u64) -> (String, Value) {
    let answer = admin
        .command(dev_id, &id.to_string())
        .await
        .unwrap_or_else(|e| panic!("command {id} of {dev_id}: {e}"));
    assert_eq!(
        answer.status, 200,
        "command {id} of {dev_id} is gone: {}",
        answer.body
    );
    let state = answer.body["state"].as_str().unwrap_or("?").to_owned();
    (state, answer.body["command"].clone())
}

/// Waits (at most `limit`) until `check` holds, polling every 200 ms;
/// whether it did.
pub(crate) async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A database of its own on the test PostgreSQL server, dropped when this
/// is dropped.
///
/// The same small helper as `dm_test_support::postgres::fresh_database`
/// (branch `postgres`), written here while that one is not merged.
#[cfg(feature = "postgres")]
pub(crate) struct FreshDatabase {
    /// `postgres://root@127.0.0.1:5432/dm_test_<hex>`.
    pub(crate) url: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) name: String,
}

#[cfg(feature = "postgres")]
const POSTGRES_HOST: &str = "127.0.0.1";
#[cfg(feature = "postgres")]
const POSTGRES_PORT: u16 = 5432;
#[cfg(feature = "postgres")]
const POSTGRES_USER: &str = "root";

/// Creates a fresh database (`synchronous_commit` off: these tests are
/// about the server, not the database's own durability), or, when the
/// server is out of reach, prints why the test is skipped and returns
/// `None` — outside CI only: in CI (`CI` set) it fails.
#[cfg(feature = "postgres")]
pub(crate) async fn fresh_database(test: &str) -> Option<FreshDatabase> {
    let admin =
        format!("host={POSTGRES_HOST} port={POSTGRES_PORT} user={POSTGRES_USER} dbname=test");
    let connected = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_postgres::connect(&admin, tokio_postgres::NoTls),
    )
    .await;
    let (client, connection) = match connected {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return skip(test, &e.to_string()),
        Err(_) => return skip(test, "no answer within 5 s"),
    };
    tokio::spawn(connection);
    let name = format!("dm_test_{:016x}", Rng::from_clock(test).next());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    client
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET synchronous_commit = off"
        ))
        .await
        .expect("ALTER DATABASE");
    Some(FreshDatabase {
        url: format!("postgres://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"),
        host: POSTGRES_HOST.to_owned(),
        port: POSTGRES_PORT,
        name,
    })
}

#[cfg(feature = "postgres")]
fn skip(test: &str, why: &str) -> Option<FreshDatabase> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} is out of reach in CI: {why}"
    );
    eprintln!(
        "{test}: SKIPPED: PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} is out of reach ({why})"
    );
    None
}

#[cfg(feature = "postgres")]
impl FreshDatabase {
    /// The database's URL on another address (a proxy in front of the
    /// server).
    pub(crate) fn url_via(&self, address: std::net::SocketAddr) -> String {
        format!("postgres://{POSTGRES_USER}@{address}/{}", self.name)
    }
}

#[cfg(feature = "postgres")]
impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // Dropping runs inside the test's runtime: drop the database from a
        // thread of its own.
        let name = self.name.clone();
        let admin = format!(
            "host={} port={} user={POSTGRES_USER} dbname=test",
            self.host, self.port
        );
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let (client, connection) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop the test database {}: {dropped:?}",
                self.name
            );
        }
    }
}
