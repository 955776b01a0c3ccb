//! `cargo xtask loadtest devices [--devices N]`: the admin API's device
//! list and device page with N devices (1,000,000 by default) in each store
//! (memory, SQLite, and PostgreSQL when `DM_TEST_POSTGRES` names a server),
//! over HTTP: the first page (with its `total`), a prefix page, a deep
//! page (`after=` at 90 %) and a device page, each the median of
//! [`RUNS`], with its ratio to the same request at [`BASELINE`] devices
//! measured in the same run on the same store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dm_server::{Store, StoreLocation};
use dm_store_postgres::PostgresOptions;
use dm_test_support::seed::{seed_device_range, seeded_dev_id};

use crate::loadtest::{percentile, start_server_on};
use crate::loadtest_stores::{Opened, open, target};

/// Devices of the baseline.
const BASELINE: usize = 10_000;

/// The transaction timeout of PostgreSQL while seeding.
const SEED_TIMEOUT: Duration = Duration::from_secs(120);

/// Requests per figure.
const RUNS: usize = 30;

/// The four requests of a figure, at `count` devices.
fn requests(count: usize) -> [(&'static str, String); 4] {
    let segment = |id: &str| id.replace(':', "%3A");
    let middle = seeded_dev_id(count / 2).to_string();
    // The DevIDs of 1000 devices around the middle.
    let prefix = &middle[..middle.len() - 3];
    [
        ("first page", "/admin/devices?limit=100".to_owned()),
        (
            "prefix page",
            format!("/admin/devices?prefix={}&limit=100", segment(prefix)),
        ),
        (
            "deep page",
            format!(
                "/admin/devices?after={}&limit=100",
                segment(seeded_dev_id(count / 10 * 9).as_str())
            ),
        ),
        (
            "device page",
            format!("/admin/devices/{}", segment(&middle)),
        ),
    ]
}

/// The median time of `RUNS` GETs of `path` (each must answer 200 with a
/// body).
async fn median(http: &reqwest::Client, base: &str, path: &str) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth("loadtest")
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        times.push(started.elapsed());
        if status != 200 || body.is_empty() {
            return Err(format!(
                "GET {path}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
    }
    times.sort_unstable();
    Ok(percentile(&times, 0.5))
}

async fn measure<S: Store>(store: Arc<S>, name: &str, count: usize) -> Result<(), String> {
    let (uri, _server, serving) = start_server_on(store.clone(), 0, false).await?;
    let base = uri
        .as_str()
        .strip_suffix("/dm")
        .ok_or("a session URI ending in /dm")?
        .to_owned();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let baseline = BASELINE.min(count);
    let started = Instant::now();
    seed_device_range(&*store, 0, baseline)
        .await
        .map_err(|e| format!("seeding {name}: {e} (use a fresh store)"))?;
    let mut base_times = Vec::new();
    for (_, path) in requests(baseline) {
        base_times.push(median(&http, &base, &path).await?);
    }
    seed_device_range(&*store, baseline, count)
        .await
        .map_err(|e| format!("seeding {name}: {e}"))?;
    let seeded = started.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 / seeded.as_secs_f64().max(1e-9);
    println!("{name}: seeded {count} devices in {seeded:.1?} ({rate:.0} devices/s)");
    for ((what, path), base_time) in requests(count).into_iter().zip(base_times) {
        let time = median(&http, &base, &path).await?;
        let ratio = time.as_secs_f64() / base_time.as_secs_f64().max(1e-9);
        println!(
            "FIGURE devices {name} {what}: {:.2} ms median at {count} devices, \
             {:.2} ms at {baseline}, ratio {ratio:.2}",
            time.as_secs_f64() * 1000.0,
            base_time.as_secs_f64() * 1000.0,
        );
    }
    serving.abort();
    Ok(())
}

/// The `devices` phase on each of `stores`.
pub(crate) async fn devices(count: usize, stores: &[String]) -> Result<bool, String> {
    for text in stores {
        let target = target(text, "devices").await?;
        println!("-- device listing on {} ({})", target.name, target.shown);
        // Seeding a million rows on a busy machine may stall a commit (a
        // checkpoint) past the default transaction timeout of 5 s: the
        // figures are of the reads, not of the seeding.
        if let StoreLocation::Postgres(url) = &target.location {
            let options = PostgresOptions::default().with_transaction_timeout(SEED_TIMEOUT);
            let store = dm_store_postgres::connect_with(url, options)
                .await
                .map_err(|e| format!("cannot open the store {}: {e}", target.shown))?;
            measure(Arc::new(store), target.name, count).await?;
            continue;
        }
        match open(&target).await? {
            Opened::Memory(store) => measure(store, target.name, count).await?,
            Opened::Sqlite(store, _) => measure(store, target.name, count).await?,
            Opened::Postgres(store) => measure(store, target.name, count).await?,
        }
    }
    Ok(true)
}
