//! Running the built `dm` binary, shared by the CLI tests.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs `dm` with `args`, feeding `stdin`, and waits for it.
pub(crate) fn dm(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dm"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dm binary starts");
    if let Some(mut input) = child.stdin.take() {
        // The process may exit before reading everything; that is its answer.
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("dm finishes")
}
