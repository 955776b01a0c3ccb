//! `cargo xtask help`: the list of tasks.

use crate::fuzz_options::TARGETS;

/// Prints the tasks and the fuzz targets.
pub(crate) fn print() {
    println!(
        "cargo xtask <task>\n\n\
         Tasks:\n  \
         demo                                       a real server and three devices on loopback, every command\n  \
         conformance                                run `dm` over every conformance vector and the DDF corpus\n  \
         deny                                       dependency policy of deny.toml (licenses, bans, duplicates, sources)\n  \
         standalone                                 no tracked file refers to data outside the repository\n  \
         circles                                    no import circle between the modules of a crate\n  \
         loadtest [--devices N] [--concurrency C] [--idle-sessions S] [--fleet M] [--store-devices K]\n  \
                  [--campaign-devices N]\n  \
                                                    sessions/s against a bare hyper baseline, memory figures, campaign\n  \
         loadtest --store URL... | --stores [--sessions N] [--registered N] [--concurrency C]\n  \
                                                    store figures: sessions/s and round trips per session on each\n  \
                                                    store (URL: memory, sqlite:PATH, postgres://...; --stores: memory,\n  \
                                                    a scratch SQLite file, a fresh database on DM_TEST_POSTGRES);\n  \
                                                    N devices bulk-registered per durable store: devices/s, bytes per\n  \
                                                    device, a device page in the middle (defaults 2000, 1000000)\n  \
         loadtest campaign [--campaign-devices N]   only the campaign phase (also the last phase of `loadtest`): a\n  \
                                                    server and N simulated FUMO devices (default 10000) in one\n  \
                                                    process, notified in-process, downloading a 64 KiB artifact;\n  \
                                                    3 stages, 1% permanent + 2% transient failures: time, devices/s,\n  \
                                                    peak memory, retries, states; then 20% failures in stage 1\n  \
                                                    must pause the campaign with stages 2-3 untouched\n  \
         fuzz [--seconds N] [--jobs J] [TARGET...]  seed, build and run the fuzz targets\n  \
         fuzz --check [TARGET...]                   seed, build and replay the seed corpora once\n  \
         fuzz-seed [TARGET...]                      only write the seed corpora\n  \
         help                                       this text\n\n\
         Fuzz targets: {}",
        TARGETS.join(" ")
    );
}
