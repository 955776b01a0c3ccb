//! `dm ddf [--outline] FILE` (filled in by the dm-ddf work).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `dm ddf`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print an indented human outline instead of JSON.
    #[arg(long)]
    outline: bool,
    /// The DDF file.
    file: PathBuf,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let _ = (args.outline, &args.file);
    crate::fail("DDF support is not built yet")
}
