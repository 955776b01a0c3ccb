//! `cargo xtask conformance`: runs the `dm` binary over every conformance
//! vector and the DDF corpus, checking each outcome, and prints a transcript
//! and a summary table. Exits non-zero if any case misbehaves.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde_json::Value;

/// Outcome counts of one vector file.
struct Tally {
    file: &'static str,
    cases: usize,
    failed: Vec<String>,
}

/// One run of `dm`.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_dm(dm: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let child = Command::new(dm)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            return Run {
                code: -1,
                stdout: String::new(),
                stderr: format!("cannot start {}: {e}", dm.display()),
            };
        }
    };
    if let Some(mut input) = child.stdin.take() {
        // A closed pipe only means `dm` stopped reading; its exit code says why.
        let _ = input.write_all(stdin);
    }
    match child.wait_with_output() {
        Ok(out) => Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
        },
        Err(e) => Run {
            code: -1,
            stdout: String::new(),
            stderr: e.to_string(),
        },
    }
}

fn hex(text: &str) -> Vec<u8> {
    dm_codec::hex::decode(text).unwrap_or_default()
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn line(name: &str, ok: bool, detail: &str) {
    let mark = if ok { "ok  " } else { "FAIL" };
    println!(
        "  {mark} {name}{}{detail}",
        if detail.is_empty() { "" } else { " — " }
    );
}

fn packages(dm: &Path, vectors: &Path) -> Result<Tally, String> {
    let cases = read_json(&vectors.join("packages.json"))?;
    let mut tally = Tally {
        file: "packages.json",
        cases: 0,
        failed: Vec::new(),
    };
    println!("packages.json: dm decode <kind>");
    for case in cases.as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or("?");
        let kind = case["kind"].as_str().unwrap_or("?");
        let bytes = if let Some(text) = case["input_text"].as_str() {
            text.as_bytes().to_vec()
        } else if let Some(h) = case["input_hex"].as_str() {
            hex(h)
        } else {
            serde_json::to_vec(&case["input"]).unwrap_or_default()
        };
        let run = run_dm(dm, &["decode", kind], &bytes);
        let expected = if case["canonical"].is_null() {
            &case["input"]
        } else {
            &case["canonical"]
        };
        let (ok, detail) = match case["valid"].as_bool() {
            Some(true) => {
                let got: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
                (run.code == 0 && &got == expected, run.stdout.clone())
            }
            Some(false) => (run.code == 1 && run.stdout.is_empty(), run.stderr.clone()),
            None => (run.code == 0 || run.code == 1, run.stderr.clone()),
        };
        line(name, ok, &detail);
        tally.cases += 1;
        if !ok {
            tally.failed.push(name.to_owned());
        }
    }
    Ok(tally)
}

fn notifications(dm: &Path, vectors: &Path) -> Result<Tally, String> {
    let cases = read_json(&vectors.join("notifications.json"))?;
    let mut tally = Tally {
        file: "notifications.json",
        cases: 0,
        failed: Vec::new(),
    };
    println!("notifications.json: dm notification decode --hex");
    for case in cases.as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or("?");
        let mut args = vec!["notification", "decode", "--hex"];
        if let Some(secret) = case["secret_hex"].as_str() {
            args.extend(["--secret-hex", secret]);
            if let Some(auth) = case["auth_data_hex"].as_str() {
                args.extend(["--auth-data-hex", auth]);
            }
        }
        let run = run_dm(dm, &args, case["hex"].as_str().unwrap_or("").as_bytes());
        let valid = case["valid"].as_bool() == Some(true);
        let expected_code = match (valid, case["digest_ok"].as_bool()) {
            (false, _) => 1,
            (true, Some(false)) => 3,
            (true, _) => 0,
        };
        let mut ok = run.code == expected_code;
        if ok && !case["decoded"].is_null() {
            let got: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
            ok = got == case["decoded"];
        }
        let detail = if run.stdout.is_empty() {
            run.stderr
        } else {
            run.stdout
        };
        line(name, ok, &format!("exit {} {detail}", run.code));
        tally.cases += 1;
        if !ok {
            tally.failed.push(name.to_owned());
        }
    }
    Ok(tally)
}

fn client_uris(dm: &Path, vectors: &Path) -> Result<Tally, String> {
    let cases = read_json(&vectors.join("clienturi.json"))?;
    let mut tally = Tally {
        file: "clienturi.json",
        cases: 0,
        failed: Vec::new(),
    };
    println!("clienturi.json: dm uri parse");
    for case in cases.as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or("?");
        let uri = case["uri"].as_str().unwrap_or("");
        let run = run_dm(dm, &["uri", "parse", uri], b"");
        let ok = if case["valid"].as_bool() == Some(true) {
            let got: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
            let canonical = case["canonical"].as_str().unwrap_or(uri);
            run.code == 0 && got["canonical"] == canonical && {
                let mut parsed = got.clone();
                parsed.as_object_mut().map(|o| o.remove("canonical"));
                parsed == case["parsed"]
            }
        } else {
            run.code == 1 && run.stdout.is_empty()
        };
        let detail = if run.stdout.is_empty() {
            run.stderr
        } else {
            run.stdout
        };
        line(name, ok, &detail);
        tally.cases += 1;
        if !ok {
            tally.failed.push(name.to_owned());
        }
    }
    Ok(tally)
}

fn ddf_corpus(dm: &Path, corpus: &Path) -> Result<Tally, String> {
    let mut tally = Tally {
        file: "corpus/ddf",
        cases: 0,
        failed: Vec::new(),
    };
    println!("corpus/ddf: dm ddf FILE");
    for (manifest, malformed) in [("MANIFEST.tsv", false), ("malformed/MANIFEST.tsv", true)] {
        let path = corpus.join(manifest);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(corpus);
        for row in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let columns: Vec<&str> = row.split('\t').collect();
            let [file, _, nodes, depth, ..] = columns.as_slice() else {
                continue;
            };
            let file_path = base.join(file);
            let run = run_dm(dm, &["ddf", &file_path.to_string_lossy()], b"");
            let ok = if malformed {
                run.code == 1 && run.stdout.is_empty()
            } else {
                let got: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
                run.code == 0
                    && got["nodes"].as_u64().map(|n| n.to_string()).as_deref() == Some(*nodes)
                    && got["max_depth"].as_u64().map(|n| n.to_string()).as_deref() == Some(*depth)
            };
            let detail = if ok && !malformed {
                format!("{nodes} nodes, depth {depth}")
            } else {
                run.stderr
            };
            line(file, ok, &detail);
            tally.cases += 1;
            if !ok {
                tally.failed.push((*file).to_owned());
            }
        }
    }
    Ok(tally)
}

/// Builds `dm` and returns its path.
pub(crate) fn build_dm(root: &Path) -> Result<PathBuf, String> {
    build_dm_with(root, &[])
}

/// [`build_dm`] with these cargo features of dm-cli.
pub(crate) fn build_dm_with(root: &Path, features: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "-p", "dm-cli"])
        .args(if features.is_empty() {
            Vec::new()
        } else {
            vec!["--features".to_owned(), features.join(",")]
        })
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building dm failed".into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let dm = target
        .join("debug")
        .join(format!("dm{}", std::env::consts::EXE_SUFFIX));
    if dm.is_file() {
        Ok(dm)
    } else {
        Err(format!("{} not found after the build", dm.display()))
    }
}

pub(crate) fn run(root: &Path, conformance: &Path) -> ExitCode {
    let dm = match build_dm(root) {
        Ok(dm) => dm,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let vectors = conformance.join("vectors");
    let results = [
        packages(&dm, &vectors),
        notifications(&dm, &vectors),
        client_uris(&dm, &vectors),
        ddf_corpus(&dm, &conformance.join("ddf")),
    ];
    println!();
    println!("{:<20} {:>6} {:>6} {:>6}", "file", "cases", "ok", "failed");
    let mut all_ok = true;
    for result in results {
        match result {
            Ok(tally) => {
                let failed = tally.failed.len();
                all_ok &= failed == 0 && tally.cases > 0;
                println!(
                    "{:<20} {:>6} {:>6} {:>6}",
                    tally.file,
                    tally.cases,
                    tally.cases - failed,
                    failed
                );
                for name in &tally.failed {
                    println!("    failed: {name}");
                }
            }
            Err(e) => {
                all_ok = false;
                println!("error: {e}");
            }
        }
    }
    if all_ok {
        println!("demo: every case behaved as the vectors say");
        ExitCode::SUCCESS
    } else {
        println!("demo: some cases misbehaved");
        ExitCode::FAILURE
    }
}
