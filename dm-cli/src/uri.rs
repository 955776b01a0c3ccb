//! `dm uri parse URI`.

use std::process::ExitCode;

use dm_tree::MoTree;
use dm_types::ClientUri;

/// What to do with a ClientURI.
#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Parse a ClientURI and print its parts and canonical form as JSON.
    Parse {
        /// The ClientURI.
        uri: String,
    },
    /// Resolve a ClientURI against a tree and print `{"sc":N,"nodes":[...]}`
    /// (nodes as sorted absolute ClientURIs; a malformed ClientURI gives
    /// `{"sc":400,"nodes":[]}`). Exits 1 only when the tree file cannot be
    /// read or is not a valid MO serialization naming concrete MIIDs.
    Resolve {
        /// An MO serialization array whose ClientURIs name concrete MIIDs.
        #[arg(long)]
        tree: std::path::PathBuf,
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
        Action::Resolve { tree, uri } => {
            let bytes = match crate::input::read(Some(&tree)) {
                Ok(bytes) => bytes,
                Err(e) => return crate::fail(e),
            };
            let tree = match dm_codec::decode_mo_serialization(&bytes, &dm_codec::Limits::default())
                .map_err(|e| e.to_string())
                .and_then(|items| MoTree::from_mo_serialization(&items).map_err(|e| e.to_string()))
            {
                Ok(tree) => tree,
                Err(e) => return crate::fail(format_args!("{}: {e}", tree.display())),
            };
            let (status, nodes) = tree.resolve_str(&uri);
            let nodes: Vec<&str> = nodes.iter().map(ClientUri::as_str).collect();
            crate::print_line(serde_json::json!({"sc": status.as_u16(), "nodes": nodes}))
        }
    }
}
