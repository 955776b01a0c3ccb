//! `cargo xtask loadtest overhead`: what watching a server costs. The same
//! sessions (Package#1, GET of DevInfo, END) run against a fresh server per
//! run, once plain (the baseline) and once per [`VARIANTS`] entry with its
//! watchers attached (a Prometheus scraping `/metrics`, subscribers of
//! `GET /admin/events`, both); the variants are interleaved over several
//! rounds so that drift of the machine falls on all of them alike, and each
//! prints its sessions/s and its ratio to the baseline of the same run
//! (goal ≥ 0.95).
//!
//! The subscribers read over real HTTP from a process of their own at the
//! lowest CPU priority (`loadtest_subscribers.rs`), and each must have
//! received every event of its run. Beside each figure stand the CPU time
//! this process (server and simulated devices) spent per session, as a
//! ratio to the baseline's, and the CPU time the subscribers' process
//! spent reading: on a machine with few cores the readers compete with
//! the server for them, and these say how much of a missed goal is theirs.

use std::time::Duration;

use dm_server::MemoryStore;
use tokio::sync::watch;

use crate::loadtest::{cpu_of, per_second, sessions, start_server_on};
use crate::loadtest_subscribers::spawn_subscribers;

/// The admin token of the load-test server.
const TOKEN: &str = "loadtest";

/// The ratio a watched server keeps of the baseline's sessions/s.
const GOAL: f64 = 0.95;

/// Which events the subscribers of a variant ask for.
#[derive(Clone, Copy)]
pub(crate) enum Subscribe {
    /// Every event (`GET /admin/events`).
    Every,
    /// Subscriber `n` the events of load-test device `n` only
    /// (`?dev_id=`).
    OneDevice,
}

/// One way of watching the server.
pub(crate) struct Variant {
    /// Its name in the figures.
    pub(crate) name: &'static str,
    /// What it does, in words.
    pub(crate) what: &'static str,
    /// `GET /metrics` every 250 ms.
    pub(crate) metrics: bool,
    /// Subscribers of the event stream (as many as `--subscribers`).
    pub(crate) events: Option<Subscribe>,
}

/// The baseline first, then each watched variant.
pub(crate) const VARIANTS: &[Variant] = &[
    Variant {
        name: "baseline",
        what: "nobody watching",
        metrics: false,
        events: None,
    },
    Variant {
        name: "metrics",
        what: "GET /metrics every 250 ms",
        metrics: true,
        events: None,
    },
    Variant {
        name: "events",
        what: "subscribers of every event",
        metrics: false,
        events: Some(Subscribe::Every),
    },
    Variant {
        name: "events_one_device",
        what: "subscribers of one device's events each",
        metrics: false,
        events: Some(Subscribe::OneDevice),
    },
    Variant {
        name: "metrics_events",
        what: "GET /metrics every 250 ms and subscribers of every event together",
        metrics: true,
        events: Some(Subscribe::Every),
    },
];

/// Scrapes `/metrics` every 250 ms (a Prometheus at 60 times its usual
/// rate), checking each answer, until `done`; says how many.
fn scrape_metrics(
    base: String,
    mut done: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<String, String>> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut scrapes = 0_u64;
        let mut bytes = 0_usize;
        while !*done.borrow_and_update() {
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
            let _ = tokio::time::timeout(Duration::from_millis(250), done.changed()).await;
        }
        Ok(format!("{scrapes} scrapes of {bytes} bytes"))
    })
}

/// What the runs of one variant add up to.
#[derive(Default, Clone)]
struct Total {
    sessions: usize,
    elapsed: Duration,
    failed: usize,
    /// CPU time of this process (server and devices) during the sessions.
    cpu: Duration,
    /// CPU time of the subscribers' process during the sessions and the
    /// delivery of their last events.
    subscribers_cpu: Duration,
    /// The time over which it was measured.
    subscribers_wall: Duration,
    /// The fewest events a subscriber received in a run.
    fewest: Option<u64>,
    /// Bytes the subscribers received in all.
    bytes: u64,
    /// What the scraper said of its last run.
    scrapes: String,
}

/// One run of `variant` on a fresh server, added to `total`.
async fn run(
    variant: &Variant,
    devices: usize,
    concurrency: usize,
    subscribers: usize,
    total: &mut Total,
) -> Result<f64, String> {
    let (uri, _server, serving) = start_server_on(MemoryStore::new(), devices, true).await?;
    let base = uri
        .as_str()
        .strip_suffix("/dm")
        .ok_or("the session URI ends in /dm")?
        .to_owned();
    let readers = match variant.events {
        Some(subscribe) => {
            let url = format!("{base}/admin/events");
            let per_device = matches!(subscribe, Subscribe::OneDevice);
            let readers = tokio::task::spawn_blocking(move || {
                spawn_subscribers(&url, TOKEN, subscribers, per_device)
            })
            .await
            .map_err(|e| e.to_string())??;
            Some(readers)
        }
        None => None,
    };
    let (done, watching) = watch::channel(false);
    let scraper = variant
        .metrics
        .then(|| scrape_metrics(base.clone(), watching));
    // Let the watchers settle before the clock starts (every variant
    // alike).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let readers_cpu = readers
        .as_ref()
        .map(crate::loadtest_subscribers::Subscribers::cpu);
    let cpu = cpu_of("self");
    let (elapsed, _, failed) = sessions(uri, devices, concurrency).await?;
    total.cpu += cpu_of("self").saturating_sub(cpu);
    let _ = done.send(true);
    if let Some(scraper) = scraper {
        total.scrapes = scraper
            .await
            .map_err(|e| format!("{}: {e}", variant.name))?
            .map_err(|e| format!("{}: {e}", variant.name))?;
    }
    if let (Some(readers), Some(before)) = (readers, readers_cpu) {
        // The events still on their way (appended within 50 ms).
        let grace = Duration::from_millis(500);
        tokio::time::sleep(grace).await;
        total.subscribers_cpu += readers.cpu().saturating_sub(before);
        total.subscribers_wall += elapsed + grace;
        let (fewest, bytes) = tokio::task::spawn_blocking(move || readers.stop())
            .await
            .map_err(|e| e.to_string())??;
        // Each session: command.finished and session.ended.
        let expected = match variant.events {
            Some(Subscribe::OneDevice) => 2,
            _ => 2 * devices as u64,
        };
        if fewest < expected {
            return Err(format!(
                "{}: a subscriber received {fewest} of {expected} events",
                variant.name
            ));
        }
        total.fewest = Some(total.fewest.map_or(fewest, |f| f.min(fewest)));
        total.bytes += bytes;
    }
    serving.abort();
    total.sessions += devices;
    total.elapsed += elapsed;
    total.failed += failed;
    Ok(per_second(devices, elapsed))
}

/// Runs `rounds` rounds of every variant, `devices` sessions each at
/// `concurrency`, the event variants with `subscribers` subscribers; true
/// when every variant meets the goal and no session failed.
pub(crate) async fn overhead(
    devices: usize,
    concurrency: usize,
    rounds: usize,
    subscribers: usize,
) -> Result<bool, String> {
    // Subscribers of one device each: one per device at most.
    let subscribers = subscribers.clamp(1, devices.max(1));
    // Warm-up (connections, allocator), not counted.
    run(
        &VARIANTS[0],
        devices.min(1000),
        concurrency,
        subscribers,
        &mut Total::default(),
    )
    .await?;
    let mut totals = vec![Total::default(); VARIANTS.len()];
    for round in 0..rounds.max(1) {
        // Alternate the order so that no variant always runs first.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..VARIANTS.len()).collect()
        } else {
            (0..VARIANTS.len()).rev().collect()
        };
        for index in order {
            let variant = &VARIANTS[index];
            let rate = run(
                variant,
                devices,
                concurrency,
                subscribers,
                &mut totals[index],
            )
            .await?;
            println!(
                "overhead  round {round}: {}: {rate:.0} sessions/s",
                variant.name
            );
        }
    }
    let base = &totals[0];
    let base_rate = per_second(base.sessions, base.elapsed);
    let base_cpu = cpu_per_session(base);
    let mut ok = base.failed == 0;
    println!(
        "overhead  baseline ({}): {base_rate:.0} sessions/s over {} sessions, {} failed; this process {base_cpu:.0} µs CPU per session",
        VARIANTS[0].what, base.sessions, base.failed
    );
    for (variant, total) in VARIANTS.iter().zip(&totals).skip(1) {
        let rate = per_second(total.sessions, total.elapsed);
        let ratio = rate / base_rate.max(1e-9);
        let meets = ratio >= GOAL && total.failed == 0;
        ok &= meets;
        let cpu = cpu_per_session(total);
        let mut watchers = Vec::new();
        if variant.metrics {
            watchers.push(total.scrapes.clone());
        }
        if variant.events.is_some() {
            watchers.push(format!(
                "{subscribers} subscribers, each got >= {} events, {} MB in all; their process {:.2} s CPU, {:.0}% of a core",
                total.fewest.unwrap_or(0),
                total.bytes / 1_000_000,
                total.subscribers_cpu.as_secs_f64(),
                100.0 * total.subscribers_cpu.as_secs_f64() / total.subscribers_wall.as_secs_f64().max(1e-9),
            ));
        }
        println!(
            "FIGURE {}_overhead: {} ({}): {rate:.0} sessions/s, baseline {base_rate:.0}; ratio {ratio:.3}x ({} target >= {GOAL:.2}x), {} failed; this process {cpu:.0} µs CPU per session, {:.2}x the baseline's",
            variant.name,
            variant.what,
            watchers.join("; "),
            if meets { "meets" } else { "MISSES" },
            total.failed,
            cpu / base_cpu.max(1e-9),
        );
    }
    Ok(ok)
}

/// Microseconds of this process's CPU time per session of `total`.
#[allow(clippy::cast_precision_loss)]
fn cpu_per_session(total: &Total) -> f64 {
    total.cpu.as_secs_f64() * 1e6 / total.sessions.max(1) as f64
}
