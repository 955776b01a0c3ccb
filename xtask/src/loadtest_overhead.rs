//! `cargo xtask loadtest overhead`: what watching a server costs. The same
//! sessions (Package#1, GET of DevInfo, END) run against a fresh server per
//! run, once plain (the baseline) and once per [`VARIANTS`] entry with its
//! watcher attached (a Prometheus scraping `/metrics`, event subscribers);
//! the variants are interleaved over several rounds so that drift of the
//! machine falls on all of them alike, and each prints its sessions/s and
//! its ratio to the baseline of the same run (goal ≥ 0.95).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dm_server::MemoryStore;

use crate::loadtest::{per_second, sessions, start_server_on};

/// The admin token of the load-test server.
const TOKEN: &str = "loadtest";

/// The ratio a watched server keeps of the baseline's sessions/s.
const GOAL: f64 = 0.95;

/// A watcher started beside the sessions: given the server's base URI
/// (`http://ADDRESS`) and a flag raised when the sessions are done, it
/// runs until then and says what it did (e.g. `"120 scrapes"`).
type Start =
    fn(base: String, done: Arc<AtomicBool>) -> tokio::task::JoinHandle<Result<String, String>>;

/// One way of watching the server.
pub(crate) struct Variant {
    /// Its name in the figures.
    pub(crate) name: &'static str,
    /// What it does, in words.
    pub(crate) what: &'static str,
    /// Its watcher; `None` for the baseline.
    pub(crate) start: Option<Start>,
}

/// The baseline first, then each watched variant.
pub(crate) const VARIANTS: &[Variant] = &[
    Variant {
        name: "baseline",
        what: "nobody watching",
        start: None,
    },
    Variant {
        name: "metrics",
        what: "GET /metrics every 250 ms",
        start: Some(scrape_metrics),
    },
];

/// Scrapes `/metrics` every 250 ms (a Prometheus at 60 times its usual
/// rate), checking each answer.
fn scrape_metrics(
    base: String,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<String, String>> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut scrapes = 0_u64;
        let mut bytes = 0_usize;
        while !done.load(Ordering::Relaxed) {
            let response = client
                .get(format!("{base}/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .map_err(|e| format!("scrape: {e}"))?;
            if response.status() != 200 {
                return Err(format!("scrape: status {}", response.status()));
            }
            let text = response.text().await.map_err(|e| e.to_string())?;
            if !text.contains("dm_sessions_started_total") {
                return Err("scrape: no dm_sessions_started_total".into());
            }
            bytes = text.len();
            scrapes += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(format!("{scrapes} scrapes of {bytes} bytes"))
    })
}

/// Runs `rounds` rounds of every variant, `devices` sessions each at
/// `concurrency`; true when every variant meets the goal and no session
/// failed.
pub(crate) async fn overhead(
    devices: usize,
    concurrency: usize,
    rounds: usize,
) -> Result<bool, String> {
    // Sessions and seconds per variant, summed over the rounds.
    let mut totals = vec![(0_usize, Duration::ZERO, 0_usize); VARIANTS.len()];
    let mut notes = vec![String::new(); VARIANTS.len()];
    for round in 0..rounds.max(1) {
        // Alternate the order so that no variant always runs first.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..VARIANTS.len()).collect()
        } else {
            (0..VARIANTS.len()).rev().collect()
        };
        for index in order {
            let variant = &VARIANTS[index];
            let (uri, _server, serving) =
                start_server_on(MemoryStore::new(), devices, true).await?;
            let base = uri
                .as_str()
                .strip_suffix("/dm")
                .ok_or("the session URI ends in /dm")?
                .to_owned();
            let done = Arc::new(AtomicBool::new(false));
            let watcher = variant.start.map(|start| start(base, done.clone()));
            // Let the watcher connect before the clock starts.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let run = sessions(uri, devices, concurrency).await?;
            done.store(true, Ordering::Relaxed);
            if let Some(watcher) = watcher {
                notes[index] = watcher
                    .await
                    .map_err(|e| format!("{}: {e}", variant.name))?
                    .map_err(|e| format!("{}: {e}", variant.name))?;
            }
            serving.abort();
            let total = &mut totals[index];
            total.0 += devices;
            total.1 += run.0;
            total.2 += run.2;
        }
    }
    let base_rate = per_second(totals[0].0, totals[0].1);
    let mut ok = totals[0].2 == 0;
    println!(
        "overhead  baseline ({}): {base_rate:.0} sessions/s over {} sessions, {} failed",
        VARIANTS[0].what, totals[0].0, totals[0].2
    );
    for (index, variant) in VARIANTS.iter().enumerate().skip(1) {
        let (count, elapsed, failed) = totals[index];
        let rate = per_second(count, elapsed);
        let ratio = rate / base_rate.max(1e-9);
        let meets = ratio >= GOAL && failed == 0;
        ok &= meets;
        println!(
            "FIGURE {}_overhead: {} ({}): {rate:.0} sessions/s, baseline {base_rate:.0}; ratio {ratio:.3}x ({} target >= {GOAL:.2}x), {failed} failed",
            variant.name,
            variant.what,
            notes[index],
            if meets { "meets" } else { "MISSES" }
        );
    }
    Ok(ok)
}
