//! `cargo xtask help`: the list of tasks.

use crate::fuzz_options::TARGETS;

/// The tasks, one per line, continuation lines indented under the
/// description column.
const TASKS: &str = "  demo [--keep]                              a real server and five devices on loopback, every command,
                                             and a firmware campaign over three of them; --keep leaves the
                                             server up and prints the web console's URL and a key (Ctrl-C ends)
  conformance                                run `dm` over every conformance vector and the DDF corpus
  deny                                       dependency policy of deny.toml (licenses, bans, duplicates, sources)
  standalone                                 no tracked file refers to data outside the repository
  circles                                    no import circle between the modules of a crate
  loadtest [--devices N] [--concurrency C] [--idle-sessions S] [--fleet M] [--store-devices K]
           [--campaign-devices N]
                                             sessions/s against a bare hyper baseline, memory figures,
                                             then the overhead and the campaign phases (below;
                                             --campaign-devices 0 skips the campaign)
  loadtest --store URL... | --stores [--sessions N] [--registered N] [--concurrency C]
                                             store figures: sessions/s and round trips per session on each
                                             store (URL: memory, sqlite:PATH, postgres://...; --stores: memory,
                                             a scratch SQLite file, a fresh database on DM_TEST_POSTGRES);
                                             N devices bulk-registered per durable store: devices/s, bytes per
                                             device, a device page in the middle (defaults 2000, 1000000)
  loadtest devices [--devices N]             only the device-listing figures: N devices (default 1000000)
                                             in memory, SQLite and PostgreSQL (DM_TEST_POSTGRES); first,
                                             prefix, deep page and device page latency, ratio to 10000 devices
  loadtest overhead [--devices N] [--concurrency C] [--rounds R] [--subscribers S]
                                             the cost of watching a server: sessions/s with /metrics scraped
                                             every 250 ms, with S subscribers (default 100) of every event of
                                             GET /admin/events, of one device each, and with /metrics and
                                             events together (VARIANTS of loadtest_overhead.rs), each a ratio
                                             to the plain server, R interleaved rounds of N sessions (defaults
                                             3, 10000; goal 0.95), with the CPU time of server and readers
  loadtest campaign [--campaign-devices N]   only the campaign phase: a server and N simulated FUMO devices
                                             (default 10000) in one process, notified in-process, downloading
                                             a 64 KiB artifact; 3 stages, 1% permanent + 2% transient failures:
                                             time, devices/s, peak memory, retries, final states; then 20%
                                             failures in stage 1 must pause the campaign with stages 2-3
                                             untouched (non-zero exit otherwise)
  fuzz [--seconds N] [--jobs J] [TARGET...]  seed, build and run the fuzz targets
  fuzz --check [TARGET...]                   seed, build and replay the seed corpora once
  fuzz-seed [TARGET...]                      only write the seed corpora
  api-fuzz [--requests N] [--seed S]         fuzz the admin API of a real server from its OpenAPI document
                                             (default 20000 requests): no 500, only documented answers
  help                                       this text";

/// Prints the tasks and the fuzz targets.
pub(crate) fn print() {
    println!(
        "cargo xtask <task>\n\nTasks:\n{TASKS}\n\nFuzz targets: {}",
        TARGETS.join(" ")
    );
}
