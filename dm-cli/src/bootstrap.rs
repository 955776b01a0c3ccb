//! `dm bootstrap`: bootstrap profiles and server-initiated bootstrap through
//! a bootstrap server's admin API (docs/bootstrap.md, docs/admin-api.md).
//!
//! Prints the admin API's JSON answer as one line on stdout; a refusal
//! exits 1 with `error: <status>: <message>` on stderr. The admin token
//! comes from `--token-file` or the `DM_ADMIN_TOKEN` environment variable,
//! never from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use dm_server::AdminClient;
use dm_server::bootstrap::BootstrapProfile;

#[derive(clap::Args)]
#[command(after_help = "\
The admin token is read from --token-file (its first line) or from the
DM_ADMIN_TOKEN environment variable, never from the command line, where every
local user could see it in the process list.")]
pub(crate) struct Args {
    /// The bootstrap server's admin base URI, e.g. https://bs.example:8444.
    #[arg(long, value_name = "URL")]
    admin: String,
    /// A file holding the admin token.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate is checked against
    /// (https).
    #[arg(long, value_name = "PATH")]
    ca: Option<PathBuf>,
    /// A client certificate chain (PEM) to present: the bootstrap listener
    /// requires one of its bootstrap CA on every connection.
    #[arg(long, value_name = "PATH", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PATH", requires = "cert")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Bootstrap profiles.
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// Devices registered with the bootstrap server (their bootstrap
    /// credential identity, PSK, notification secret and address).
    Device {
        #[command(subcommand)]
        action: DeviceAction,
    },
    /// Send a device its bootstrap notification (server-initiated
    /// bootstrap).
    Notify {
        /// The device's DevID.
        dev_id: String,
    },
}

#[derive(clap::Subcommand)]
enum DeviceAction {
    /// Register a device (JSON, docs/admin-api.md: `dev_id`, and optionally
    /// `identity`, `psk`, `notification`) from a file or standard input:
    /// its secrets travel in the file, never on the command line.
    Add {
        /// The device file (standard input when absent).
        file: Option<PathBuf>,
    },
    /// Show a device and the outcomes of its bootstraps (no secret).
    Show {
        /// The device's DevID.
        dev_id: String,
    },
    /// Remove a device.
    Remove {
        /// The device's DevID.
        dev_id: String,
    },
}

#[derive(clap::Subcommand)]
enum ProfileAction {
    /// Add or replace a profile (JSON, docs/admin-api.md) from a file or
    /// standard input.
    Add {
        /// The profile file (standard input when absent).
        file: Option<PathBuf>,
    },
    /// List the profiles.
    List,
    /// Remove a profile.
    Remove {
        /// The profile's name.
        name: String,
    },
}

pub(crate) fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return crate::fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(execute(args, std::env::var("DM_ADMIN_TOKEN").ok())) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => crate::fail(e),
    }
}

/// Runs the action; the answer's JSON on one line.
async fn execute(args: Args, env_token: Option<String>) -> Result<String, String> {
    let mut client = AdminClient::new(
        &args.admin,
        crate::updates::admin_token(args.token_file.as_deref(), env_token)?,
    )
    .map_err(|e| e.to_string())?;
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    if let Some(ca) = &args.ca {
        client = client.with_ca_pem(&read(ca)?).map_err(|e| e.to_string())?;
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        client = client
            .with_client_identity_pem(&read(cert)?, &read(key)?)
            .map_err(|e| e.to_string())?;
    }
    let (method, path, body) = match &args.action {
        Action::Profile {
            action: ProfileAction::Add { file },
        } => {
            let bytes = crate::input::read(file.as_deref())?;
            // Checked here first: a mistake is reported without a request.
            let profile = BootstrapProfile::from_json(&bytes).map_err(|e| e.to_string())?;
            (
                "POST",
                "/admin/bootstrap/profiles".to_owned(),
                Some(profile.to_json()),
            )
        }
        Action::Profile {
            action: ProfileAction::List,
        } => ("GET", "/admin/bootstrap/profiles".to_owned(), None),
        Action::Profile {
            action: ProfileAction::Remove { name },
        } => (
            "DELETE",
            format!("/admin/bootstrap/profiles/{}", crate::updates::encode(name)),
            None,
        ),
        Action::Device {
            action: DeviceAction::Add { file },
        } => {
            let bytes = crate::input::read(file.as_deref())?;
            // Checked here first: a mistake is reported without a request
            // (and without echoing any secret of the file).
            dm_server::bootstrap::parse_bootstrap_device(&bytes).map_err(|e| e.to_string())?;
            ("POST", "/admin/bootstrap/devices".to_owned(), Some(bytes))
        }
        Action::Device {
            action: DeviceAction::Show { dev_id },
        } => (
            "GET",
            format!(
                "/admin/bootstrap/devices/{}",
                crate::updates::encode(dev_id)
            ),
            None,
        ),
        Action::Device {
            action: DeviceAction::Remove { dev_id },
        } => (
            "DELETE",
            format!(
                "/admin/bootstrap/devices/{}",
                crate::updates::encode(dev_id)
            ),
            None,
        ),
        Action::Notify { dev_id } => (
            "POST",
            format!(
                "/admin/bootstrap/devices/{}/notify",
                crate::updates::encode(dev_id)
            ),
            None,
        ),
    };
    let (status, answer) = client
        .request(method, &path, body)
        .await
        .map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = params.self_signed(&key).expect("CA");
        (certificate, rcgen::Issuer::new(params, key))
    }

    fn signed(
        issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
        names: Vec<String>,
        common_name: &str,
    ) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let certificate = params.signed_by(&key, issuer).expect("certificate");
        (certificate.pem(), key.serialize_pem())
    }

    fn action_args(dir: &std::path::Path, admin: &str, action: Action) -> Args {
        Args {
            admin: admin.to_owned(),
            token_file: Some(dir.join("token")),
            ca: Some(dir.join("server-ca.pem")),
            cert: Some(dir.join("operator.pem")),
            key: Some(dir.join("operator.key")),
            action,
        }
    }

    #[tokio::test]
    async fn dm_serve_runs_a_bootstrap_listener_that_dm_bootstrap_manages() {
        let dir = std::env::temp_dir().join(format!("dm-bootstrap-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
        let (server_ca, server_issuer) = ca("server CA");
        let (bootstrap_ca, bootstrap_issuer) = ca("bootstrap CA");
        let (server_pem, server_key) = signed(&server_issuer, vec!["127.0.0.1".into()], "server");
        let (operator_pem, operator_key) = signed(&bootstrap_issuer, Vec::new(), "operator");
        write("server-ca.pem", &server_ca.pem());
        write("server.pem", &server_pem);
        write("server.key", &server_key);
        write("bootstrap-ca.pem", &bootstrap_ca.pem());
        write("operator.pem", &operator_pem);
        write("operator.key", &operator_key);
        write("token", "t\n");
        let profile = |name: &str| {
            format!(
                r#"{{"name":"{name}","match":{{"dev_id_pattern":"*"}},"accounts":[{{"server_id":"dm.test","server_uri":"https://dm.test/dm","credentials":{{"http_password":true}}}}]}}"#
            )
        };
        write("extra.json", &profile("extra"));
        write(
            "server.json",
            &format!(
                r#"{{"admin_token":"t","store":"memory","bootstrap":{{"listen":"127.0.0.1:0","server_id":"bs.test",
                    "tls":{{"cert":"server.pem","key":"server.key","client_ca":"bootstrap-ca.pem"}},
                    "profiles":[{}]}}}}"#,
                profile("fleet")
            ),
        );
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let said = lines.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(crate::serve::serve(
            crate::serve::Args::with_config(
                "127.0.0.1:0".parse().expect("address"),
                dir.join("server.json"),
            ),
            async {
                let _ = stopped.await;
            },
            move |line| said.lock().expect("lock").push(line.to_owned()),
        ));
        let admin = loop {
            let found = lines.lock().expect("lock").iter().find_map(|line| {
                line.strip_prefix("dm serve: bootstrap listening on ")
                    .map(str::to_owned)
            });
            if let Some(admin) = found {
                break admin;
            }
            assert!(
                !running.is_finished(),
                "dm serve stopped: {:?}",
                lines.lock().expect("lock")
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert!(admin.starts_with("https://127.0.0.1:"), "{admin}");
        let run = async |action| execute(action_args(&dir, &admin, action), None).await;
        let listed = run(Action::Profile {
            action: ProfileAction::List,
        })
        .await
        .expect("list");
        assert!(listed.contains(r#""name":"fleet""#), "{listed}");
        let added = run(Action::Profile {
            action: ProfileAction::Add {
                file: Some(dir.join("extra.json")),
            },
        })
        .await
        .expect("add");
        assert!(added.contains(r#""name":"extra""#), "{added}");
        let removed = run(Action::Profile {
            action: ProfileAction::Remove {
                name: "extra".into(),
            },
        })
        .await
        .expect("remove");
        assert_eq!(removed, r#"{"status":204}"#);
        let again = run(Action::Profile {
            action: ProfileAction::Remove {
                name: "extra".into(),
            },
        })
        .await
        .expect_err("gone");
        assert!(again.starts_with("404"), "{again}");
        let unknown = run(Action::Notify {
            dev_id: "IMEI:1".into(),
        })
        .await
        .expect_err("unknown");
        assert!(unknown.starts_with("404"), "{unknown}");
        // Devices: registered from a file, shown without their secrets,
        // removed; a malformed file is refused before any request.
        write(
            "device.json",
            r#"{"dev_id":"IMEI:1","psk":{"identity":"dev-1","key_hex":"00112233445566778899aabbccddeeff"},
                "notification":{"address":"udp://127.0.0.1:9","secret_hex":"5ec2e7","data_hex":"01"}}"#,
        );
        write(
            "broken.json",
            r#"{"dev_id":"IMEI:1","psk":{"identity":"x","key_hex":"zz"}}"#,
        );
        let device = |action| Action::Device { action };
        let added = run(device(DeviceAction::Add {
            file: Some(dir.join("device.json")),
        }))
        .await
        .expect("device added");
        assert!(added.contains("IMEI:1"), "{added}");
        let shown = run(device(DeviceAction::Show {
            dev_id: "IMEI:1".into(),
        }))
        .await
        .expect("shown");
        assert!(shown.contains(r#""psk_identity":"dev-1""#), "{shown}");
        assert!(
            !shown.contains("00112233") && !shown.contains("5ec2e7"),
            "{shown}"
        );
        let broken = run(device(DeviceAction::Add {
            file: Some(dir.join("broken.json")),
        }))
        .await
        .expect_err("refused");
        assert!(broken.contains("psk.key_hex"), "{broken}");
        let notified = run(Action::Notify {
            dev_id: "IMEI:1".into(),
        })
        .await
        .expect("notification sent");
        assert!(notified.contains("notification_id"), "{notified}");
        run(device(DeviceAction::Remove {
            dev_id: "IMEI:1".into(),
        }))
        .await
        .expect("removed");
        let gone = run(device(DeviceAction::Show {
            dev_id: "IMEI:1".into(),
        }))
        .await
        .expect_err("gone");
        assert!(gone.starts_with("404"), "{gone}");
        // Without a token nothing is sent.
        let mut anonymous = action_args(
            &dir,
            &admin,
            Action::Profile {
                action: ProfileAction::List,
            },
        );
        anonymous.token_file = None;
        assert!(
            execute(anonymous, None)
                .await
                .expect_err("no token")
                .contains("DM_ADMIN_TOKEN")
        );
        // A token from the environment works the same way.
        let mut from_env = action_args(
            &dir,
            &admin,
            Action::Profile {
                action: ProfileAction::List,
            },
        );
        from_env.token_file = None;
        assert!(execute(from_env, Some("t".into())).await.is_ok());
        let _ = stop.send(());
        running.await.expect("joined").expect("clean stop");
        let _ = std::fs::remove_dir_all(dir);
    }
}
