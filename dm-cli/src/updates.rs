//! `dm artifact` and `dm group`: the artifacts and device groups of a
//! management server through its admin API (docs/admin-api.md,
//! docs/updates.md).
//!
//! Prints the admin API's JSON answer as one line on stdout; a refusal
//! exits 1 with `error: <status>: <message>` on stderr. The admin token
//! comes from `--token-file` or the `DM_ADMIN_TOKEN` environment variable,
//! never from the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use dm_server::AdminClient;

/// How to reach the admin API.
#[derive(clap::Args)]
pub(crate) struct Remote {
    /// The server's admin base URI, e.g. https://dm.example:8443.
    #[arg(long, value_name = "URL")]
    pub(crate) admin: String,
    /// A file holding the admin token (else DM_ADMIN_TOKEN).
    #[arg(long, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate is checked against
    /// (https).
    #[arg(long, value_name = "PATH")]
    pub(crate) ca: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct ArtifactArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: ArtifactAction,
}

#[derive(clap::Subcommand)]
enum ArtifactAction {
    /// Add or replace an artifact: upload FILE, or describe one at --url.
    Add {
        /// The artifact id (1 to 64 of A-Z a-z 0-9 . _ -).
        id: String,
        /// firmware (FUMO) or software (SCOMO).
        #[arg(long)]
        kind: String,
        /// The package name written to devices.
        #[arg(long)]
        name: String,
        /// The version it installs.
        #[arg(long)]
        version: String,
        /// The SHA-256 (lowercase hex) the content must have (required
        /// with --url).
        #[arg(long)]
        sha256: Option<String>,
        /// Metadata, KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
        /// Where devices download it from, instead of uploading FILE.
        #[arg(long, requires = "size", requires = "sha256", conflicts_with = "file")]
        url: Option<String>,
        /// Its size in bytes (with --url).
        #[arg(long)]
        size: Option<u64>,
        /// The content to upload.
        #[arg(required_unless_present = "url")]
        file: Option<PathBuf>,
    },
    /// List the artifacts.
    List,
    /// Show an artifact.
    Show {
        /// The artifact id.
        id: String,
    },
    /// Remove an artifact and its content.
    Remove {
        /// The artifact id.
        id: String,
    },
}

#[derive(clap::Args)]
pub(crate) struct GroupArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: GroupAction,
}

#[derive(clap::Subcommand)]
enum GroupAction {
    /// Add or replace a group: {"description", "filter": {...}} (JSON,
    /// docs/admin-api.md) from a file or standard input.
    Put {
        /// The group id.
        id: String,
        /// The group file (standard input when absent).
        file: Option<PathBuf>,
    },
    /// List the groups.
    List,
    /// Show a group.
    Show {
        /// The group id.
        id: String,
    },
    /// The devices of a group now, a page at a time.
    Members {
        /// The group id.
        id: String,
        /// Start after this DevID.
        #[arg(long)]
        after: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Remove a group.
    Remove {
        /// The group id.
        id: String,
    },
    /// Replace a device's tags (none given: clear them).
    Tag {
        /// The device's DevID.
        dev_id: String,
        /// Its tags.
        tags: Vec<String>,
    },
}

/// Percent-encodes a path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The admin token: the first line of `token_file`, else `env` (the
/// `DM_ADMIN_TOKEN` environment variable); never empty.
pub(crate) fn admin_token(
    token_file: Option<&std::path::Path>,
    env: Option<String>,
) -> Result<String, String> {
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => env.unwrap_or_default(),
    };
    if token.is_empty() {
        return Err("no admin token: --token-file PATH or DM_ADMIN_TOKEN".into());
    }
    Ok(token)
}

pub(crate) fn client(remote: &Remote, env: Option<String>) -> Result<AdminClient, String> {
    let mut client = AdminClient::new(
        &remote.admin,
        admin_token(remote.token_file.as_deref(), env)?,
    )
    .map_err(|e| e.to_string())?
    .with_timeout(Duration::from_secs(600));
    if let Some(ca) = &remote.ca {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        client = client.with_ca_pem(&pem).map_err(|e| e.to_string())?;
    }
    Ok(client)
}

/// A request: method, path, and the body with its media type.
pub(crate) type Call = (&'static str, String, Option<(&'static str, Vec<u8>)>);

fn artifact_call(action: &ArtifactAction) -> Result<Call, String> {
    Ok(match action {
        ArtifactAction::Add {
            id,
            kind,
            name,
            version,
            sha256,
            metadata,
            url,
            size,
            file,
        } => {
            let mut meta = serde_json::Map::new();
            for entry in metadata {
                let (key, value) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("--meta {entry:?} is not KEY=VALUE"))?;
                meta.insert(key.to_owned(), value.into());
            }
            let path = format!("/admin/artifacts/{}", encode(id));
            if let Some(url) = url {
                let body = serde_json::json!({
                    "kind": kind, "name": name, "version": version, "url": url,
                    "size": size, "sha256": sha256, "metadata": meta,
                });
                (
                    "PUT",
                    path,
                    Some(("application/json", body.to_string().into_bytes())),
                )
            } else {
                let content = crate::input::read(file.as_deref())?;
                let mut query = format!(
                    "kind={}&name={}&version={}",
                    encode(kind),
                    encode(name),
                    encode(version)
                );
                if let Some(sha256) = sha256 {
                    query = format!("{query}&sha256={}", encode(sha256));
                }
                for (key, value) in &meta {
                    let value = value.as_str().unwrap_or_default();
                    query = format!("{query}&meta.{}={}", encode(key), encode(value));
                }
                (
                    "PUT",
                    format!("{path}?{query}"),
                    Some(("application/octet-stream", content)),
                )
            }
        }
        ArtifactAction::List => ("GET", "/admin/artifacts".into(), None),
        ArtifactAction::Show { id } => ("GET", format!("/admin/artifacts/{}", encode(id)), None),
        ArtifactAction::Remove { id } => {
            ("DELETE", format!("/admin/artifacts/{}", encode(id)), None)
        }
    })
}

fn group_call(action: &GroupAction) -> Result<Call, String> {
    Ok(match action {
        GroupAction::Put { id, file } => {
            let bytes = crate::input::read(file.as_deref())?;
            // Checked here first: a mistake is reported without a request.
            dm_server::parse_group_json(id, &bytes).map_err(|e| e.to_string())?;
            (
                "PUT",
                format!("/admin/groups/{}", encode(id)),
                Some(("application/json", bytes)),
            )
        }
        GroupAction::List => ("GET", "/admin/groups".into(), None),
        GroupAction::Show { id } => ("GET", format!("/admin/groups/{}", encode(id)), None),
        GroupAction::Members { id, after, limit } => {
            let mut path = format!("/admin/groups/{}/devices", encode(id));
            let mut query = Vec::new();
            if let Some(after) = after {
                query.push(format!("after={}", encode(after)));
            }
            if let Some(limit) = limit {
                query.push(format!("limit={limit}"));
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            ("GET", path, None)
        }
        GroupAction::Remove { id } => ("DELETE", format!("/admin/groups/{}", encode(id)), None),
        GroupAction::Tag { dev_id, tags } => (
            "PUT",
            format!("/admin/devices/{}/tags", encode(dev_id)),
            Some((
                "application/json",
                serde_json::Value::from(tags.clone())
                    .to_string()
                    .into_bytes(),
            )),
        ),
    })
}

pub(crate) async fn execute(client: &AdminClient, call: Call) -> Result<String, String> {
    let (method, path, body) = call;
    let answer = match body {
        Some((content_type, body)) => {
            client
                .request_with_type(method, &path, content_type, body)
                .await
        }
        None => client.request(method, &path, None).await,
    };
    let (status, answer) = answer.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer).trim().to_owned();
    if !(200..300).contains(&status) {
        return Err(format!("{status}: {text}"));
    }
    Ok(if text.is_empty() {
        serde_json::json!({ "status": status }).to_string()
    } else {
        text
    })
}

pub(crate) fn run_call(remote: &Remote, call: Result<Call, String>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return crate::fail(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let client = client(remote, std::env::var("DM_ADMIN_TOKEN").ok())?;
        execute(&client, call?).await
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => crate::fail(e),
    }
}

/// `dm artifact`.
pub(crate) fn run_artifact(args: &ArtifactArgs) -> ExitCode {
    run_call(&args.remote, artifact_call(&args.action))
}

/// `dm group`.
pub(crate) fn run_group(args: &GroupArgs) -> ExitCode {
    run_call(&args.remote, group_call(&args.action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_test_support::server::{ADMIN_TOKEN, DEV1, TestServer, options};

    fn remote(base: &str) -> Remote {
        Remote {
            admin: base.to_owned(),
            token_file: None,
            ca: None,
        }
    }

    #[tokio::test]
    async fn artifacts_and_groups_through_the_admin_api() {
        let server = TestServer::start(options().build().expect("options")).await;
        let client = client(&remote(&server.base), Some(ADMIN_TOKEN.into())).expect("client");
        let dir = std::env::temp_dir().join(format!("dm-cli-updates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("fw.bin");
        std::fs::write(&file, b"firmware").expect("written");
        let add = ArtifactAction::Add {
            id: "fw-1".into(),
            kind: "firmware".into(),
            name: "acme fw".into(),
            version: "1.0".into(),
            sha256: None,
            metadata: vec!["channel=beta".into()],
            url: None,
            size: None,
            file: Some(file),
        };
        let line = execute(&client, artifact_call(&add).expect("call"))
            .await
            .expect("added");
        let added: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(
            (added["size"].as_u64(), &added["name"]),
            (Some(8), &"acme fw".into())
        );
        assert_eq!(added["metadata"]["channel"], "beta");
        let line = execute(&client, artifact_call(&ArtifactAction::List).expect("call"))
            .await
            .expect("listed");
        assert!(line.contains("fw-1"), "{line}");
        let bad = ArtifactAction::Add {
            id: "fw-2".into(),
            kind: "os".into(),
            name: "x".into(),
            version: "1".into(),
            sha256: Some("ab".repeat(32)),
            metadata: Vec::new(),
            url: Some("https://cdn.example/x".into()),
            size: Some(1),
            file: None,
        };
        let refused = execute(&client, artifact_call(&bad).expect("call"))
            .await
            .expect_err("bad kind");
        assert!(refused.starts_with("400"), "{refused}");

        let tag = GroupAction::Tag {
            dev_id: DEV1.into(),
            tags: vec!["canary".into()],
        };
        execute(&client, group_call(&tag).expect("call"))
            .await
            .expect("tagged");
        let group = dir.join("group.json");
        std::fs::write(&group, br#"{"filter":{"tags":["canary"]}}"#).expect("written");
        let put = GroupAction::Put {
            id: "canary".into(),
            file: Some(group),
        };
        execute(&client, group_call(&put).expect("call"))
            .await
            .expect("stored");
        let members = GroupAction::Members {
            id: "canary".into(),
            after: None,
            limit: Some(10),
        };
        let line = execute(&client, group_call(&members).expect("call"))
            .await
            .expect("members");
        assert!(line.contains(DEV1), "{line}");
        let remove = GroupAction::Remove {
            id: "canary".into(),
        };
        assert_eq!(
            execute(&client, group_call(&remove).expect("call"))
                .await
                .expect("removed"),
            r#"{"status":204}"#
        );
        let _ = std::fs::remove_dir_all(&dir);
        server.stop().await.expect("stopped");
    }
}
