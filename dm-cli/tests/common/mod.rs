//! Running the built `dm` binary, shared by the CLI tests.

use std::process::Output;

/// Runs `dm` with `args`, feeding `stdin`, and waits for it
/// ([`dm_test_support::process::run`]).
pub(crate) fn dm(args: &[&str], stdin: &[u8]) -> Output {
    dm_test_support::process::run(env!("CARGO_BIN_EXE_dm"), args, stdin)
}
