//! `dm device --factory` against `dm serve` with a bootstrap listener, as
//! processes on loopback: the device bootstraps with the bootstrap account
//! of its factory file (X.509), then delivers `BootstrapComplete` to the
//! management account it received; a user who refuses keeps the device as
//! it was.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dm_tree::{BootstrapAuth, DmAcc, NodeId, SecMode};
use dm_types::{Miid, ServerId, ServerUri};

const DEV_ID: &str = "IMEI:493005100592800";
const WAIT: Duration = Duration::from_secs(60);

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dm-cli-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write");
        path.to_str().expect("UTF-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `dm serve` whose stderr is collected; killed when dropped.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(config: &str) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dm"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config", config])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dm serve starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = lines.clone();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                log.lock().expect("lock").push(line);
            }
        });
        Served { child, lines }
    }

    /// The rest of the first stderr line starting with `prefix`.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .lines
                .lock()
                .expect("lock")
                .iter()
                .find_map(|line| line.strip_prefix(prefix).map(str::to_owned));
            if let Some(rest) = found {
                return rest.split(' ').next().unwrap_or(&rest).to_owned();
            }
            let exited = self.child.try_wait().expect("wait").is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "no {prefix:?}; stderr:\n{}",
                self.lines.lock().expect("lock").join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(names).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let certificate = params.signed_by(&key, issuer).expect("certificate");
    (certificate, key)
}

/// `dm serve` with a management listener (SrvID dm.test) and a bootstrap
/// listener whose profile gives every device an account of that
/// management server; the bootstrap account of a factory file for it.
struct Setup {
    scratch: Scratch,
    _served: Served,
    factory: String,
}

impl Setup {
    fn start(name: &str) -> Setup {
        let scratch = Scratch::new(name);
        let (server_ca, server_issuer) = ca("server CA");
        let (bootstrap_ca, bootstrap_issuer) = ca("bootstrap CA");
        let (server, server_key) = signed(&server_issuer, vec!["127.0.0.1".into()], "server");
        let (operator, operator_key) = signed(&bootstrap_issuer, Vec::new(), "operator");
        let (device, device_key) = signed(&bootstrap_issuer, Vec::new(), DEV_ID);
        scratch.write("server.pem", server.pem().as_bytes());
        scratch.write("server.key", server_key.serialize_pem().as_bytes());
        scratch.write("bootstrap-ca.pem", bootstrap_ca.pem().as_bytes());
        let server_ca_file = scratch.write("server-ca.pem", server_ca.pem().as_bytes());
        let operator_file = scratch.write("operator.pem", operator.pem().as_bytes());
        let operator_key_file =
            scratch.write("operator.key", operator_key.serialize_pem().as_bytes());
        let token = scratch.write("token", b"t\n");
        let config = scratch.write(
            "server.json",
            br#"{"server_id":"dm.test","admin_token":"t","store":"memory","bootstrap":{"listen":"127.0.0.1:0","server_id":"bs.test",
                "tls":{"cert":"server.pem","key":"server.key","client_ca":"bootstrap-ca.pem"}}}"#,
        );
        let mut served = Served::start(&config);
        let management = served.wait_for("dm serve: listening on ");
        let bootstrap = served.wait_for("dm serve: bootstrap listening on ");
        let profile = scratch.write(
            "profile.json",
            format!(
                r#"{{"name":"fleet","match":{{"dev_id_pattern":"IMEI:*"}},"accounts":[{{"server_id":"dm.test","server_uri":"{management}/dm","name":"Test DM","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{{"http_password":true,"notification_secret":true}},"register":"local"}}]}}"#
            )
            .as_bytes(),
        );
        let added = common::dm(
            &[
                "bootstrap",
                "--admin",
                &bootstrap,
                "--token-file",
                &token,
                "--ca",
                &server_ca_file,
                "--cert",
                &operator_file,
                "--key",
                &operator_key_file,
                "profile",
                "add",
                &profile,
            ],
            b"",
        );
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let uri = ServerUri::new(format!("{bootstrap}/dm")).expect("URI");
        let mut account = DmAcc::new(ServerId::new("bs.test").expect("id"), uri.clone());
        let mut auth = BootstrapAuth::new(uri, SecMode::X509);
        auth.client_public = device.der().to_vec();
        auth.client_secret = device_key.serialize_der();
        auth.server_public = server_ca.der().to_vec();
        account.bootstrap = Some(auth);
        let item = account
            .to_instance(Miid::new("bootstrap").expect("MIID"))
            .encode_mo_serialization(NodeId::ROOT);
        let factory = scratch.write("factory.json", &item);
        Setup {
            scratch,
            _served: served,
            factory,
        }
    }

    /// Runs `dm device --factory FILE --state STATE --once ARGS`.
    fn device(&self, args: &[&str]) -> (bool, String) {
        let state = self.scratch.path("device.json");
        let state = state.to_str().expect("UTF-8 path");
        let mut all = vec![
            "device",
            "--factory",
            &self.factory,
            "--state",
            state,
            "--once",
            "--dev-id",
            DEV_ID,
        ];
        all.extend_from_slice(args);
        let output = common::dm(&all, b"");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn state(&self) -> PathBuf {
        self.scratch.path("device.json")
    }
}

fn servers(state: &Path) -> Vec<String> {
    let tree = dm_client::DmClient::stored_tree(state)
        .expect("state file")
        .expect("written");
    let mut servers: Vec<String> = tree
        .dm_accs()
        .into_iter()
        .map(|account| account.expect("account").server_id.as_str().to_owned())
        .collect();
    servers.sort();
    servers
}

#[test]
fn dm_device_bootstraps_from_its_factory_file_then_delivers_bootstrap_complete() {
    let setup = Setup::start("device-bootstrap");
    let (success, stderr) = setup.device(&["--approve-bootstrap"]);
    assert!(success, "{stderr}");
    assert!(
        stderr.contains("dm device: bootstrap by bs.test approved: Create dm.test"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dm device: bootstrap with bs.test at https://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains(": provisioned dm.test"), "{stderr}");
    assert!(
        stderr.contains("dm device: BootstrapComplete delivered to dm.test"),
        "{stderr}"
    );
    assert_eq!(servers(&setup.state()), ["bs.test", "dm.test"]);
    // Started again, the device has its management account: no bootstrap.
    let (success, stderr) = setup.device(&[]);
    assert!(success, "{stderr}");
    assert!(!stderr.contains("bootstrap with"), "{stderr}");
}

#[test]
fn dm_device_refusing_the_bootstrap_keeps_only_its_bootstrap_account() {
    let setup = Setup::start("device-refuses");
    let (success, stderr) = setup.device(&["--refuse-bootstrap"]);
    assert!(!success, "no management account: {stderr}");
    assert!(
        stderr.contains("dm device: bootstrap by bs.test refused: Create dm.test"),
        "{stderr}"
    );
    assert!(stderr.contains(": provisioned nothing"), "{stderr}");
    assert!(!stderr.contains("BootstrapComplete"), "{stderr}");
    assert_eq!(servers(&setup.state()), ["bs.test"]);
}
