//! Development automation for the workspace: `cargo xtask <task>` (the alias
//! lives in `.cargo/config.toml`).
//!
//! Tasks:
//!
//! - `demo [--keep]` — the README's main job: a real server and three real
//!   devices on loopback, driven through every command (see `demo.rs`);
//!   `--keep` leaves them up for the web console until Ctrl-C.
//! - `conformance` — runs the `dm` tool over every conformance vector and the
//!   DDF corpus, checking each outcome (see `conformance.rs`).
//! - `deny` — checks the dependency graph against `deny.toml`: licenses,
//!   banned crates, duplicate versions and sources (see `deny.rs`).
//! - `standalone` — fails when a tracked file refers to data outside the
//!   repository (see `standalone.rs`).
//! - `circles` — fails on an import circle between the modules of a crate
//!   (see `circles.rs`).
//! - `loadtest [--devices N] [--concurrency C] [--idle-sessions S]
//!   [--fleet M] [--store-devices K] [--campaign-devices N]` — builds itself in release mode and
//!   runs, each in its own process: full sessions per second (Package#1, a
//!   GET of DevInfo, END) against dm-server and against a bare hyper server
//!   answering fixed bytes through the same client stack, with p50/p99
//!   latency and the ratio; server memory per idle open session; memory per
//!   idle simulated device (a task holding a `DmClient`); memory per device
//!   registered in the embedded store (see `loadtest.rs`); then the
//!   overhead and the campaign phases (below; `--campaign-devices 0` skips
//!   the campaign).
//! - `loadtest campaign [--campaign-devices N]` — only the campaign phase:
//!   a `DmServer` (MemoryStore, 50 ms campaign tick) and N simulated
//!   devices (default 10,000; real `DmClient`s with the FUMO driver and a
//!   failure-injecting `SimulatedFirmware`) in one process, Package#0
//!   handed to each device's task in-process, sessions and 64 KiB
//!   downloads over loopback HTTP. A 3-stage campaign with 1% permanent and
//!   2% transient failures: time to complete, devices/s, peak memory,
//!   retries, final states; then 20% permanent failures in stage 1 must
//!   pause the campaign at its error threshold with no later device
//!   started (see `loadtest_campaign.rs`).
//! - `loadtest devices [--devices N]` — only the device-listing figures:
//!   N devices (default 1,000,000) seeded into the memory store, a scratch
//!   SQLite file and (when `DM_TEST_POSTGRES` is set) a fresh PostgreSQL
//!   database; over HTTP, the median latency of the first page of
//!   `GET /admin/devices`, a prefix page, a deep page (`after=`) and a
//!   device page, each with its ratio to the same request at 10,000
//!   devices in the same run (see `loadtest_devices.rs`).
//! - `loadtest overhead [--devices N] [--concurrency C] [--rounds R]
//!   [--subscribers S]` — only the cost of watching a server (also run by
//!   the full `loadtest`): sessions/s with `/metrics` scraped every 250 ms,
//!   with S subscribers (default 100) of every event of `GET /admin/events`
//!   (connected over HTTP from a process of their own at the lowest CPU
//!   priority), with S subscribers of one device each, and with `/metrics`
//!   and the events together (the [`VARIANTS`](loadtest_overhead::VARIANTS)),
//!   each as a ratio to the plain server in R interleaved rounds of fresh
//!   servers (goal 0.95), beside the CPU time per session of the server's
//!   process and the CPU time of the subscribers' (see
//!   `loadtest_overhead.rs`, `loadtest_subscribers.rs`).
//! - `loadtest --store URL... | --stores [--sessions N] [--registered N]
//!   [--concurrency C]` — only the store figures, each phase in its own
//!   process: complete sessions per second on each store (`memory`,
//!   `sqlite:PATH`, `postgres://...`; `--stores`: all three, on a scratch
//!   SQLite file and a fresh database on the server `DM_TEST_POSTGRES`
//!   names, removed after) with the ratio to `MemoryStore` in the same run
//!   and the transactions per complete session (target at most 4); then N
//!   devices (default 1,000,000) registered in each durable store through
//!   `Store::register_devices`: devices per second, bytes per device in the
//!   database (target at most 1 KiB), and the median time of a page of 100
//!   devices in the middle of the list (target under 5 ms). A store given
//!   by URL is written to: use a fresh file or database (see
//!   `loadtest_stores.rs`).
//! - `fuzz [--seconds N] [--jobs J] [TARGET...]` — seeds the corpora of the
//!   cargo-fuzz targets in `fuzz/` from `conformance/vectors` (and the DDF
//!   target from `conformance/ddf/**/*.xml`), builds the targets, runs
//!   each for N seconds (default 60), at most J at a time (default 1), and
//!   prints per target the executions reached and whether a crash was found.
//!   Exits non-zero on any finding. Logs go to `fuzz/logs/<target>.log`,
//!   crash inputs to `fuzz/artifacts/<target>/`.
//! - `fuzz --check [TARGET...]` — seeds, builds, and replays each seed corpus
//!   once (`-runs=0`): a quick regression check suitable for CI.
//! - `fuzz-seed [TARGET...]` — only writes the seed corpora.
//! - `api-fuzz [--requests N] [--seed S]` — fuzzes the admin API of a real
//!   server on loopback from its OpenAPI document: N requests (default
//!   20,000) generated from it, valid, boundary and mutated; non-zero exit
//!   when an answer breaks the document (see `api_fuzz.rs`).
//! - `help` — this list.
//!
//! The fuzz build uses the stable toolchain with `--sanitizer none` and its
//! own target directory (`fuzz/target`; `CARGO_TARGET_DIR` is not passed on,
//! since the instrumented build shares nothing with normal builds).

mod api_fuzz;
mod circles;
mod conformance;
mod demo;
mod demo_bootstrap;
mod demo_campaign;
mod demo_process;
mod deny;
mod fuzz;
mod fuzz_options;
mod fuzz_run;
mod fuzz_seed;
mod help;
mod loadtest;
mod loadtest_campaign;
mod loadtest_devices;
mod loadtest_overhead;
mod loadtest_stores;
mod loadtest_subscribers;
mod paths;
mod standalone;

use std::process::ExitCode;

use paths::Paths;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => {
            let paths = match Paths::new() {
                Ok(paths) => paths,
                Err(message) => {
                    eprintln!("xtask: {message}");
                    return ExitCode::FAILURE;
                }
            };
            let keep = match &args[1..] {
                [] => false,
                [flag] if flag == "--keep" => true,
                other => {
                    eprintln!("xtask demo: unknown arguments {other:?} (only --keep)");
                    return ExitCode::FAILURE;
                }
            };
            return demo::run(&paths.root, keep);
        }
        Some("conformance") => {
            let paths = match Paths::new() {
                Ok(paths) => paths,
                Err(message) => {
                    eprintln!("xtask: {message}");
                    return ExitCode::FAILURE;
                }
            };
            return conformance::run(&paths.root, &paths.conformance);
        }
        Some("deny") => Paths::new().and_then(|paths| deny::run(&paths.root)),
        Some("standalone") => Paths::new().and_then(|paths| standalone::run(&paths.root)),
        Some("circles") => Paths::new().and_then(|paths| circles::run(&paths.root)),
        Some("loadtest") => loadtest::parse(&args[1..])
            .and_then(|options| loadtest::run(&Paths::new()?.root, &options)),
        Some("loadtest-phase") => loadtest::phase(&args[1..]),
        Some("api-fuzz") => {
            api_fuzz::parse(&args[1..]).and_then(|(requests, seed)| api_fuzz::run(requests, seed))
        }
        Some("fuzz") => fuzz_options::parse(&args[1..]).and_then(|options| fuzz::run(&options)),
        Some("fuzz-seed") => fuzz_options::parse(&args[1..])
            .and_then(|options| fuzz_seed::seed(&Paths::new()?, &options.targets)),
        None | Some("help" | "--help" | "-h") => {
            help::print();
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?} (try `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
