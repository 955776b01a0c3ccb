//! Measuring a pair — our code and a baseline doing comparable work on the
//! same input — inside one criterion run, and printing their ratio.
//!
//! Shared by the benches of dm-codec, dm-tree and dm-session (included with
//! `#[path]`); each uses a subset.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Total time and iterations recorded per benchmark id.
static TOTALS: Mutex<Option<HashMap<String, (Duration, u64)>>> = Mutex::new(None);

fn record(id: &str, elapsed: Duration, iterations: u64) {
    let mut totals = TOTALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = totals
        .get_or_insert_with(HashMap::new)
        .entry(id.to_owned())
        .or_default();
    entry.0 += elapsed;
    entry.1 += iterations;
}

fn mean(id: &str) -> Option<Duration> {
    let totals = TOTALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (elapsed, iterations) = *totals.as_ref()?.get(id)?;
    (iterations > 0).then(|| elapsed / u32::try_from(iterations).unwrap_or(u32::MAX))
}

/// Benchmarks `first` and `second` as `<group>/<names.0>` and
/// `<group>/<names.1>` and returns their mean times per iteration.
pub(crate) fn measure_pair(
    c: &mut Criterion,
    group: &str,
    names: (&str, &str),
    bytes: Option<usize>,
    mut first: impl FnMut(),
    mut second: impl FnMut(),
) -> Option<(Duration, Duration)> {
    let mut g = c.benchmark_group(group);
    if let Some(bytes) = bytes {
        g.throughput(criterion::Throughput::Bytes(bytes as u64));
    }
    for (name, f) in [
        (names.0, &mut first as &mut dyn FnMut()),
        (names.1, &mut second),
    ] {
        let id = format!("{group}/{name}");
        g.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let start = Instant::now();
                for _ in 0..iterations {
                    f();
                }
                let elapsed = start.elapsed();
                record(&id, elapsed, iterations);
                elapsed
            });
        });
    }
    g.finish();
    Some((
        mean(&format!("{group}/{}", names.0))?,
        mean(&format!("{group}/{}", names.1))?,
    ))
}

/// "meets" or "MISSES".
pub(crate) fn verdict(meets: bool) -> &'static str {
    if meets { "meets" } else { "MISSES" }
}

/// Benchmarks `ours` and `baseline` as `<group>/ours` and `<group>/baseline`,
/// then prints `baseline time / our time` (higher is better) against
/// `target`, plus the throughput when `bytes` is given.
pub(crate) fn compare(
    c: &mut Criterion,
    group: &str,
    bytes: Option<usize>,
    target: f64,
    ours: impl FnMut(),
    baseline: impl FnMut(),
) {
    let Some((ours, baseline)) =
        measure_pair(c, group, ("ours", "baseline"), bytes, ours, baseline)
    else {
        return;
    };
    let ratio = baseline.as_secs_f64() / ours.as_secs_f64();
    let verdict = verdict(ratio >= target);
    let throughput = bytes.map_or(String::new(), |bytes| {
        #[allow(clippy::cast_precision_loss)] // a figure for people
        let mb = bytes as f64 / 1e6;
        format!(", {:.0} MB/s", mb / ours.as_secs_f64())
    });
    println!(
        "FIGURE {group}: ours {ours:?}, baseline {baseline:?}{throughput}; ratio {ratio:.2}x ({verdict} target >= {target:.1}x)"
    );
}

/// Like [`compare`] for work that yields `items` results per iteration
/// (matched nodes, say): prints the cost per item of both and the ratio.
pub(crate) fn compare_per_item(
    c: &mut Criterion,
    group: &str,
    items: usize,
    unit: &str,
    target: f64,
    ours: impl FnMut(),
    baseline: impl FnMut(),
) {
    let Some((ours, baseline)) = measure_pair(c, group, ("ours", "baseline"), None, ours, baseline)
    else {
        return;
    };
    #[allow(clippy::cast_precision_loss)] // a figure for people
    let per_item = |d: Duration| d.as_secs_f64() * 1e9 / items.max(1) as f64;
    let ratio = baseline.as_secs_f64() / ours.as_secs_f64();
    println!(
        "FIGURE {group}: ours {ours:?} = {:.1} ns per {unit}, baseline {baseline:?} = {:.1} ns per {unit} ({items} per iteration); ratio {ratio:.2}x ({} target >= {target:.1}x)",
        per_item(ours),
        per_item(baseline),
        verdict(ratio >= target)
    );
}

/// The process's resident set size in bytes (`VmRSS` of
/// `/proc/self/status`); `None` where that file is unavailable.
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
