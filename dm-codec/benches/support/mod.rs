//! Measuring a pair — our code and a baseline doing comparable work on the
//! same input — inside one criterion run, and printing their ratio.

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

/// Benchmarks `ours` and `baseline` as `<group>/ours` and `<group>/baseline`,
/// then prints `baseline time / our time` (higher is better) against
/// `target`, plus the throughput when `bytes` is given.
pub(crate) fn compare(
    c: &mut Criterion,
    group: &str,
    bytes: Option<usize>,
    target: f64,
    mut ours: impl FnMut(),
    mut baseline: impl FnMut(),
) {
    let mut g = c.benchmark_group(group);
    if let Some(bytes) = bytes {
        g.throughput(criterion::Throughput::Bytes(bytes as u64));
    }
    for (name, f) in [
        ("ours", &mut ours as &mut dyn FnMut()),
        ("baseline", &mut baseline),
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
    let (Some(ours), Some(baseline)) = (
        mean(&format!("{group}/ours")),
        mean(&format!("{group}/baseline")),
    ) else {
        return;
    };
    let ratio = baseline.as_secs_f64() / ours.as_secs_f64();
    let verdict = if ratio >= target { "meets" } else { "MISSES" };
    let throughput = bytes.map_or(String::new(), |bytes| {
        #[allow(clippy::cast_precision_loss)] // a figure for people
        let mb = bytes as f64 / 1e6;
        format!(", {:.0} MB/s", mb / ours.as_secs_f64())
    });
    println!(
        "FIGURE {group}: ours {ours:?}, baseline {baseline:?}{throughput}; ratio {ratio:.2}x ({verdict} target >= {target:.1}x)"
    );
}
