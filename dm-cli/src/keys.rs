//! `dm key`: the API keys of a server's admin API (docs/admin-api.md,
//! "Keys"; docs/operations.md, "API keys"): add one with a scope (its key
//! is printed once, in the JSON answer), list them, revoke one.
//!
//! Prints the admin API's JSON answer as one line on stdout; a refusal
//! exits 1 with `error: <status>: <message>` on stderr. The admin token
//! comes from `--token-file` or `DM_ADMIN_TOKEN`, as for `dm artifact`.

use std::process::ExitCode;

use crate::updates::{Call, Remote, encode, run_call};

#[derive(clap::Args)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: KeyAction,
}

#[derive(clap::Subcommand)]
enum KeyAction {
    /// Add an API key; the answer carries the key, shown this once.
    Add {
        /// What to call it (1 to 64 bytes).
        #[arg(long)]
        name: String,
        /// What it may do: read, operator or admin.
        #[arg(long)]
        scope: dm_server::Scope,
    },
    /// List the keys (never their secrets), revoked ones included.
    List,
    /// Revoke a key, on every node at once.
    Revoke {
        /// The key's id.
        id: String,
    },
}

fn key_call(action: &KeyAction) -> Result<Call, String> {
    Ok(match action {
        KeyAction::Add { name, scope } => {
            dm_server::check_api_key_name(name).map_err(|e| e.to_string())?;
            let body = serde_json::json!({ "name": name, "scope": scope });
            (
                "POST",
                "/admin/keys".into(),
                Some(("application/json", body.to_string().into_bytes())),
            )
        }
        KeyAction::List => ("GET", "/admin/keys".into(), None),
        KeyAction::Revoke { id } => ("DELETE", format!("/admin/keys/{}", encode(id)), None),
    })
}

/// `dm key`.
pub(crate) fn run(args: &KeyArgs) -> ExitCode {
    run_call(&args.remote, key_call(&args.action))
}
