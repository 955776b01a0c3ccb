//! `cargo xtask api-fuzz [--requests N] [--seed S]`: fuzzes the admin API
//! of a real server on loopback from its OpenAPI document
//! (`dm_test_support::api_fuzz`): a `DmServer` on a `MemoryStore`, seeded
//! with the fleet the document's examples name, then N generated requests
//! (valid, boundary, mutated). Prints the counts by status and by kind;
//! exits non-zero when an answer breaks the document (a 500, an
//! undocumented status, a refusal without `{"error"}`, a success whose body
//! breaks its schema, an invalid body accepted) or the server stops
//! answering.

use dm_server::{ServerRole, openapi_document};
use dm_test_support::api_fuzz::{fuzz, seed_management};
use dm_test_support::server::{ADMIN_TOKEN, TestServer, client, options};

/// The options: requests (default 20,000) and seed (default: the time).
pub(crate) fn parse(args: &[String]) -> Result<(usize, u64), String> {
    let mut requests = 20_000;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--requests" => {
                requests = value
                    .parse()
                    .map_err(|_| format!("--requests {value:?}: a number"))?;
            }
            "--seed" => {
                seed = value
                    .parse()
                    .map_err(|_| format!("--seed {value:?}: a number"))?;
            }
            other => return Err(format!("api-fuzz: unknown option {other:?}")),
        }
    }
    Ok((requests, seed))
}

/// Runs the fuzzing.
pub(crate) fn run(requests: usize, seed: u64) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let server = TestServer::start(
            options()
                .build()
                .map_err(|e| format!("server options: {e}"))?,
        )
        .await;
        seed_management(&server).await;
        let document = openapi_document(ServerRole::Management);
        let started = std::time::Instant::now();
        let report = fuzz(
            &server.base,
            &client(),
            ADMIN_TOKEN,
            &document,
            requests,
            seed,
        )
        .await;
        println!(
            "api-fuzz (seed {seed}, {:.1} s): {}",
            started.elapsed().as_secs_f64(),
            report.summary()
        );
        for failure in report.failures.iter().take(50) {
            println!("  {failure}");
        }
        if report.failures.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} answers broke the document (rerun with --seed {seed})",
                report.failures.len()
            ))
        }
    })
}
