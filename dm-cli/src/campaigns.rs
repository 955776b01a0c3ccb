//! `dm campaign`: update campaigns of a management server through its
//! admin API (docs/admin-api.md, "Campaigns"; docs/updates.md).
//!
//! Prints the admin API's JSON answer as one line on stdout (`show --watch`
//! one line per poll, until the campaign is finished); a refusal exits 1
//! with `error: <status>: <message>` on stderr. The admin token comes from
//! `--token-file` or `DM_ADMIN_TOKEN`, as for `dm artifact`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::updates::{Call, Remote, client, encode, execute, run_call};

#[derive(clap::Args)]
pub(crate) struct CampaignArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    action: CampaignAction,
}

#[derive(clap::Subcommand)]
enum CampaignAction {
    /// Create a campaign from its JSON description (FILE, or standard
    /// input): artifact, group, stages, pacing, window, retry (see
    /// docs/admin-api.md).
    Create {
        /// The campaign's JSON.
        file: Option<PathBuf>,
    },
    /// List the campaigns.
    List,
    /// Show a campaign and its progress (rows per state, per stage).
    Show {
        /// The campaign id.
        id: u64,
        /// Print its progress every this many seconds until it is
        /// completed or cancelled.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
    },
    /// List a campaign's devices (rows), by DevID.
    Devices {
        /// The campaign id.
        id: u64,
        /// Only those in this state (pending, notified, in_session,
        /// downloading, installing, succeeded, failed, skipped).
        #[arg(long)]
        state: Option<String>,
        /// Start after this DevID.
        #[arg(long)]
        after: Option<String>,
        /// At most this many (default 100, at most 1000).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Pause: nothing new starts; devices under way finish.
    Pause {
        /// The campaign id.
        id: u64,
    },
    /// Resume a paused campaign.
    Resume {
        /// The campaign id.
        id: u64,
    },
    /// Start the next stage of a campaign waiting for approval (or paused
    /// at its error threshold).
    Approve {
        /// The campaign id.
        id: u64,
    },
    /// Cancel: devices not started yet are skipped.
    Cancel {
        /// The campaign id.
        id: u64,
    },
}

fn campaign_call(action: &CampaignAction) -> Result<Call, String> {
    let post = |id: &u64, what: &str| ("POST", format!("/admin/campaigns/{id}/{what}"), None);
    Ok(match action {
        CampaignAction::Create { file } => {
            let bytes = crate::input::read(file.as_deref())?;
            // Checked here first: a mistake is reported without a request.
            dm_server::parse_campaign_spec(&bytes).map_err(|e| e.to_string())?;
            (
                "POST",
                "/admin/campaigns".into(),
                Some(("application/json", bytes)),
            )
        }
        CampaignAction::List => ("GET", "/admin/campaigns".into(), None),
        CampaignAction::Show { id, .. } => ("GET", format!("/admin/campaigns/{id}"), None),
        CampaignAction::Devices {
            id,
            state,
            after,
            limit,
        } => {
            let mut query = Vec::new();
            if let Some(state) = state {
                query.push(format!("state={}", encode(state)));
            }
            if let Some(after) = after {
                query.push(format!("after={}", encode(after)));
            }
            if let Some(limit) = limit {
                query.push(format!("limit={limit}"));
            }
            let mut path = format!("/admin/campaigns/{id}/devices");
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            ("GET", path, None)
        }
        CampaignAction::Pause { id } => post(id, "pause"),
        CampaignAction::Resume { id } => post(id, "resume"),
        CampaignAction::Approve { id } => post(id, "approve"),
        CampaignAction::Cancel { id } => post(id, "cancel"),
    })
}

/// Whether a campaign's JSON says it is finished.
fn finished(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_owned))
        .is_some_and(|s| s == "completed" || s == "cancelled")
}

/// `dm campaign show --watch`: one line per poll until finished.
fn watch(remote: &Remote, id: u64, every: Duration) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return crate::fail(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let client = client(remote, std::env::var("DM_ADMIN_TOKEN").ok())?;
        loop {
            let line = execute(&client, ("GET", format!("/admin/campaigns/{id}"), None)).await?;
            println!("{line}");
            if finished(&line) {
                return Ok::<(), String>(());
            }
            tokio::time::sleep(every).await;
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(e),
    }
}

/// `dm campaign`.
pub(crate) fn run(args: &CampaignArgs) -> ExitCode {
    if let CampaignAction::Show {
        id,
        watch: Some(seconds),
    } = &args.action
    {
        return watch(&args.remote, *id, Duration::from_secs((*seconds).max(1)));
    }
    run_call(&args.remote, campaign_call(&args.action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_test_support::server::{ADMIN_TOKEN, DEV1, TestServer, options};

    #[tokio::test]
    async fn campaigns_through_the_admin_api() {
        let server = TestServer::start(options().build().expect("options")).await;
        let remote = Remote {
            admin: server.base.clone(),
            token_file: None,
            ca: None,
        };
        let client = client(&remote, Some(ADMIN_TOKEN.into())).expect("client");
        let dir = std::env::temp_dir().join(format!("dm-cli-campaigns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let firmware = dir.join("fw.bin");
        std::fs::write(&firmware, b"firmware").expect("written");
        execute(
            &client,
            (
                "PUT",
                "/admin/artifacts/fw-1?kind=firmware&name=fw&version=1.0".into(),
                Some(("application/octet-stream", b"firmware".to_vec())),
            ),
        )
        .await
        .expect("artifact");
        let group = format!(r#"{{"filter":{{"devices":["{DEV1}"]}}}}"#);
        execute(
            &client,
            (
                "PUT",
                "/admin/groups/all".into(),
                Some(("application/json", group.into_bytes())),
            ),
        )
        .await
        .expect("group");

        let spec = dir.join("campaign.json");
        std::fs::write(
            &spec,
            br#"{"artifact":"fw-1","group":"all","stages":[{"size":{"percent":100}}]}"#,
        )
        .expect("written");
        let create = CampaignAction::Create { file: Some(spec) };
        let line = execute(&client, campaign_call(&create).expect("call"))
            .await
            .expect("created");
        let created: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(created["status"], "running");
        let id = created["id"].as_u64().expect("id");
        assert!(!finished(&line));

        let list = execute(&client, campaign_call(&CampaignAction::List).expect("call"))
            .await
            .expect("listed");
        assert!(list.contains(r#""status":"running""#), "{list}");
        let devices = CampaignAction::Devices {
            id,
            state: None,
            after: None,
            limit: Some(10),
        };
        let line = execute(&client, campaign_call(&devices).expect("call"))
            .await
            .expect("devices");
        assert!(line.contains(DEV1), "{line}");
        let pause = CampaignAction::Pause { id };
        execute(&client, campaign_call(&pause).expect("call"))
            .await
            .expect("paused");
        let again = execute(&client, campaign_call(&pause).expect("call"))
            .await
            .expect_err("already paused");
        assert!(again.starts_with("409"), "{again}");
        let cancel = CampaignAction::Cancel { id };
        let line = execute(&client, campaign_call(&cancel).expect("call"))
            .await
            .expect("cancelled");
        assert!(finished(&line), "{line}");

        // A mistake in the description is reported before any request.
        let bad = dir.join("bad.json");
        std::fs::write(&bad, br#"{"artifact":"fw-1","group":"all","stages":[]}"#).expect("written");
        let refused =
            campaign_call(&CampaignAction::Create { file: Some(bad) }).expect_err("no stage");
        assert!(refused.contains("stage"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
        server.stop().await.expect("stopped");
    }
}
