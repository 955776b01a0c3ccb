//! Shared helpers of the conformance tests: locating `conformance/` and
//! running every case of a vector file, reporting failures by case name.
#![allow(dead_code)] // each test binary uses a subset

use std::path::PathBuf;

/// The repository's `conformance/` folder. Panics with a clear message when
/// it is missing (a crate package has no test data): conformance tests never
/// pass silently.
pub(crate) fn conformance_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance"));
    assert!(
        dir.join("vectors").is_dir(),
        "conformance data not found at {} (run the tests from a clone of the repository)",
        dir.display()
    );
    dir
}

/// Reads and parses a vector file of `conformance/vectors`.
pub(crate) fn vectors(file: &str) -> serde_json::Value {
    let path = conformance_dir().join("vectors").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Runs `check` on every case (an array of objects with a `name`), collecting
/// failures, and panics at the end listing each failed case with its reason.
pub(crate) fn run_cases(
    file: &str,
    cases: &[serde_json::Value],
    mut check: impl FnMut(&serde_json::Value) -> Result<(), String>,
) {
    assert!(!cases.is_empty(), "{file}: no cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case)))
            .unwrap_or_else(|_| Err("panicked".to_owned()));
        if let Err(reason) = outcome {
            failures.push(format!("  {name}: {reason}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{file}: all {} cases passed", cases.len());
}

/// Decodes hex text (test data only).
pub(crate) fn hex(text: &str) -> Vec<u8> {
    dm_codec::hex::decode(text).expect("hex digits")
}
