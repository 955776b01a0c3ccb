//! `dm notification decode|encode` (filled in by the notification work).

use std::process::ExitCode;

/// What to do with a notification.
#[derive(clap::Subcommand)]
pub(crate) enum Action {}

pub(crate) fn run(action: Action) -> ExitCode {
    match action {}
}
