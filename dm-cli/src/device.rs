//! `dm device`: a simulated device.

use std::process::ExitCode;

/// Options of the subcommand.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> ExitCode {
    crate::fail("not available yet")
}
