//! Building the fuzz targets and running them, several at a time.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fuzz_options::FuzzOptions;
use crate::paths::Paths;

/// `cargo fuzz ...` in `fuzz/`, with the fuzz build's own target directory.
fn cargo_fuzz(paths: &Paths) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&paths.fuzz)
        .env_remove("CARGO_TARGET_DIR")
        .arg("fuzz");
    command
}

pub(crate) fn build(paths: &Paths) -> Result<(), String> {
    println!("building fuzz targets (cargo fuzz build --sanitizer none)...");
    let status = cargo_fuzz(paths)
        .args(["build", "--sanitizer", "none"])
        .status()
        .map_err(|e| {
            format!("cannot run `cargo fuzz` (install it with `cargo install cargo-fuzz`): {e}")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the fuzz targets failed ({status})"))
    }
}

/// The dictionary file for a target, when one exists in `fuzz/dict/`.
fn dictionary(paths: &Paths, target: &str) -> Option<PathBuf> {
    let name = match target {
        "package1" | "package2" | "package3" | "mo_serialization" | "alert" | "factory_file" => {
            "json"
        }
        "client_uri" | "server_uri" | "accept" => target,
        "tree" => "client_uri",
        "ddf" => "xml",
        _ => return None,
    };
    Some(paths.fuzz.join("dict").join(format!("{name}.dict"))).filter(|p| p.is_file())
}

struct Running {
    target: &'static str,
    child: Child,
    log: PathBuf,
    started: Instant,
}

fn start(paths: &Paths, target: &'static str, options: &FuzzOptions) -> Result<Running, String> {
    let logs = paths.fuzz.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let log = logs.join(format!("{target}.log"));
    let file =
        fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = file
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    let mut command = cargo_fuzz(paths);
    command.args(["run", target, "--sanitizer", "none", "--"]);
    if options.check {
        command.arg("-runs=0");
    } else {
        command.arg(format!("-max_total_time={}", options.seconds));
        command.args(["-rss_limit_mb=2048", "-timeout=30"]);
        if let Some(dict) = dictionary(paths, target) {
            command.arg(format!("-dict={}", dict.display()));
        }
    }
    command.arg("-print_final_stats=1");
    let child = command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start `cargo fuzz run {target}`: {e}"))?;
    Ok(Running {
        target,
        child,
        log,
        started: Instant::now(),
    })
}

/// What one run gave.
pub(crate) struct Outcome {
    /// The target.
    pub(crate) target: &'static str,
    /// Executions reached, when the log tells.
    pub(crate) executions: Option<u64>,
    /// How long it ran.
    pub(crate) seconds: u64,
    /// `None`: clean; otherwise what went wrong (crash, timeout, run failure).
    pub(crate) finding: Option<String>,
    /// Its log file.
    pub(crate) log: PathBuf,
}

/// Executions reached: libFuzzer's final stats, else `Done N runs`, else the
/// last `#N` status line.
fn executions(log: &str) -> Option<u64> {
    let number = |s: &str| s.trim().parse::<u64>().ok();
    log.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("stat::number_of_executed_units:")
                .and_then(number)
        })
        .or_else(|| {
            log.lines().rev().find_map(|l| {
                l.strip_prefix("Done ")
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(number)
            })
        })
        .or_else(|| {
            log.lines().rev().find_map(|l| {
                l.strip_prefix('#')
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(number)
            })
        })
}

/// A short description of a finding from the log: the panic message with its
/// location, the libFuzzer error line and the crash input's path.
fn describe_finding(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut parts = Vec::new();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let message: Vec<&str> = lines[i..]
            .iter()
            .take(8)
            .take_while(|l| {
                !(l.is_empty()
                    || l.starts_with("note:")
                    || l.starts_with("stack backtrace")
                    || l.starts_with("=="))
            })
            .copied()
            .collect();
        parts.push(message.join("\n    "));
    }
    if let Some(line) = lines
        .iter()
        .find(|l| l.starts_with("==") && l.contains("ERROR"))
    {
        parts.push((*line).to_owned());
    }
    if let Some(line) = lines.iter().find(|l| l.contains("Test unit written to")) {
        parts.push((*line).to_owned());
    }
    if parts.is_empty() {
        let tail: Vec<&str> = lines.iter().rev().take(5).rev().copied().collect();
        parts.push(tail.join("\n    "));
    }
    parts.join("\n    ")
}

fn finish(run: Running, status: std::process::ExitStatus) -> Outcome {
    let log = fs::read_to_string(&run.log).unwrap_or_default();
    let finding = if status.success() {
        None
    } else if log.contains("Running `") {
        Some(describe_finding(&log))
    } else {
        Some(format!(
            "`cargo fuzz run` failed before fuzzing ({status}): {}",
            describe_finding(&log)
        ))
    };
    Outcome {
        target: run.target,
        executions: executions(&log),
        seconds: run.started.elapsed().as_secs(),
        finding,
        log: run.log,
    }
}

/// Runs the targets, at most `jobs` at a time, and returns their outcomes in
/// target order.
pub(crate) fn run_all(paths: &Paths, options: &FuzzOptions) -> Result<Vec<Outcome>, String> {
    let mut queue = options.targets.iter().copied();
    let mut running: Vec<Running> = Vec::new();
    let mut outcomes = Vec::new();
    loop {
        while running.len() < options.jobs {
            let Some(target) = queue.next() else { break };
            println!("running {target}...");
            running.push(start(paths, target, options)?);
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut i = 0;
        while i < running.len() {
            match running[i].child.try_wait() {
                Ok(Some(status)) => {
                    let outcome = finish(running.swap_remove(i), status);
                    println!(
                        "  {} done: {} executions, {}",
                        outcome.target,
                        outcome
                            .executions
                            .map_or_else(|| "?".to_owned(), |n| n.to_string()),
                        if outcome.finding.is_some() {
                            "FINDING"
                        } else {
                            "clean"
                        }
                    );
                    outcomes.push(outcome);
                }
                Ok(None) => i += 1,
                Err(e) => return Err(format!("waiting for {}: {e}", running[i].target)),
            }
        }
    }
    outcomes.sort_by_key(|o| options.targets.iter().position(|t| *t == o.target));
    Ok(outcomes)
}
