//! Parse throughput over the whole DDF corpus (`conformance/ddf`):
//! the typed parser (`MoDefinition::parse`) against a bare pass of the XML
//! crate over the same bytes (UTF-8 check, `roxmltree` parse, walk over
//! every node: `roxmltree` has no event API below its tree).
//!
//! After the group it prints both throughputs, measured in the same run,
//! and `ratio typed/bare = X.XX (target >= 0.5)`.

use std::cell::Cell;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dm_ddf::MoDefinition;

/// The well-formed files of the corpus, as listed in its MANIFEST.tsv.
fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/ddf");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .expect("the DDF corpus (conformance/ddf/MANIFEST.tsv) is missing");
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .filter(|file| !file.is_empty())
        .map(|file| std::fs::read(dir.join(file)).expect("a corpus file listed in MANIFEST.tsv"))
        .collect()
}

fn bare(bytes: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return 0;
    };
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options).map_or(0, |doc| {
        doc.descendants()
            .filter(roxmltree::Node::is_element)
            .count()
    })
}

fn typed(bytes: &[u8]) -> usize {
    MoDefinition::parse(bytes).map_or(0, |def| def.node_count())
}

/// Total bytes parsed and time spent by one function over the run.
#[derive(Default)]
struct Totals {
    bytes: Cell<u64>,
    time: Cell<Duration>,
}

impl Totals {
    fn megabytes_per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // a throughput figure
        let bytes = self.bytes.get() as f64;
        bytes / 1e6 / self.time.get().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

fn measure(files: &[Vec<u8>], parse: fn(&[u8]) -> usize, totals: &Totals, iters: u64) -> Duration {
    let size: u64 = files.iter().map(|f| f.len() as u64).sum();
    let start = Instant::now();
    for _ in 0..iters {
        for file in files {
            black_box(parse(black_box(file)));
        }
    }
    let elapsed = start.elapsed();
    totals.bytes.set(totals.bytes.get() + size * iters);
    totals.time.set(totals.time.get() + elapsed);
    elapsed
}

fn main() {
    let files = corpus();
    assert!(
        files.iter().all(|f| MoDefinition::parse(f).is_ok()),
        "every corpus file parses"
    );
    let size: u64 = files.iter().map(|f| f.len() as u64).sum();
    let (bare_totals, typed_totals) = (Totals::default(), Totals::default());

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("ddf_corpus");
    group.throughput(Throughput::Bytes(size));
    group.bench_function("bare_roxmltree", |b| {
        b.iter_custom(|iters| measure(&files, bare, &bare_totals, iters));
    });
    group.bench_function("typed_parse", |b| {
        b.iter_custom(|iters| measure(&files, typed, &typed_totals, iters));
    });
    group.finish();
    criterion.final_summary();

    let (bare_rate, typed_rate) = (
        bare_totals.megabytes_per_second(),
        typed_totals.megabytes_per_second(),
    );
    println!(
        "corpus: {} files, {size} bytes; bare roxmltree {bare_rate:.1} MB/s, typed parse {typed_rate:.1} MB/s",
        files.len()
    );
    println!(
        "ratio typed/bare = {:.2} (target >= 0.5)",
        typed_rate / bare_rate
    );
}
