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

/// A fresh database on the test PostgreSQL server
/// ([`dm_test_support::postgres::fresh_database`]: `None` when the server
/// is out of reach outside CI, a failure in CI), with `synchronous_commit`
/// off: these tests are about the server, not the database's own
/// durability.
#[cfg(feature = "postgres")]
pub(crate) async fn fresh_database(test: &str) -> Option<TestDatabase> {
    let database = dm_test_support::postgres::fresh_database().await;
    if database.is_none() {
        eprintln!("{test}: skipped");
    }
    let database = database?;
    database
        .execute(&format!(
            "ALTER DATABASE \"{}\" SET synchronous_commit = off",
            database.name()
        ))
        .await;
    Some(database)
}

#[cfg(feature = "postgres")]
pub(crate) use dm_test_support::postgres::TestDatabase;

/// The `host:port` of a `postgres://` URL (5432 when it names none).
#[cfg(feature = "postgres")]
pub(crate) fn postgres_address(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| panic!("no address in {url}"))
}

/// `url` with its `host:port` replaced by `address` (a proxy in front of
/// the database server).
#[cfg(feature = "postgres")]
pub(crate) fn postgres_url_via(url: &str, address: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(user, _)| format!("{user}@"));
    format!("{scheme}://{user}{address}{tail}")
}
