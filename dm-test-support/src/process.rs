//! Running a built binary of the workspace the way its tests do.

use std::ffi::OsStr;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs `program` with `args`, feeding `stdin`, and waits for it; its exit
/// status, standard output and standard error. A test passes the path Cargo
/// gives it (`env!("CARGO_BIN_EXE_<name>")`).
///
/// ```
/// # #[cfg(unix)]
/// # {
/// let output = dm_test_support::process::run("cat", &[], b"hello");
/// assert!(output.status.success());
/// assert_eq!(output.stdout, b"hello");
/// # }
/// ```
pub fn run(program: impl AsRef<OsStr>, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    if let Some(mut input) = child.stdin.take() {
        // The process may exit before reading everything; that is its answer.
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("the program finishes")
}
