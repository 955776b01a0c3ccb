//! `dm uri parse URI`.

use std::process::ExitCode;

use dm_types::ClientUri;

/// What to do with a ClientURI.
#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Parse a ClientURI and print its parts and canonical form as JSON.
    Parse {
        /// The ClientURI.
        uri: String,
    },
}

pub(crate) fn run(action: Action) -> ExitCode {
    match action {
        Action::Parse { uri } => match ClientUri::parse(&uri) {
            Ok(parsed) => crate::print_line(dm_codec::client_uri_to_json(&parsed)),
            Err(e) => crate::fail(e),
        },
    }
}
