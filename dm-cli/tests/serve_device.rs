//! `dm serve` and `dm device` run as processes against each other on
//! loopback, with the admin API driven over HTTP.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const DEV_ID: &str = "IMEI:493005100592800";
const DEV_SEGMENT: &str = "IMEI%3A493005100592800";
const USER: &str = "device-1";
const PASSWORD: &str = "correct horse";
const TOKEN: &str = "cli-admin-token";

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
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How long a process gets to print a line or to stop, and a queued command
/// to be done: generous, for loaded CI machines; the tests poll.
const WAIT: Duration = Duration::from_secs(60);

/// A running `dm ARGS` whose stderr is collected line by line; killed when
/// dropped.
struct Running {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The thread draining stderr, joined once the process ended.
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dm"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dm starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        // Drains stderr for the whole life of the process.
        let drain = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                log.lock().expect("lock").push(line);
            }
        });
        Running {
            child,
            stderr,
            drain: Some(drain),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    /// Waits (at most [`WAIT`]) for the `count`-th stderr line containing
    /// `needle` and returns it.
    fn wait_for(&mut self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .stderr
                .lock()
                .expect("lock")
                .iter()
                .filter(|line| line.contains(needle))
                .nth(count - 1)
                .cloned();
            if let Some(line) = found {
                return line;
            }
            let exited = self.child.try_wait().expect("wait").is_some();
            if exited || Instant::now() > deadline {
                // Every line is in once the drain ends.
                if exited && let Some(drain) = self.drain.take() {
                    let _ = drain.join();
                    continue;
                }
                panic!(
                    "no line {count} with {needle:?} (exited: {exited}); stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most [`WAIT`]) for the process to exit by itself; its
    /// status and whole stderr.
    fn wait_exit(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        (status, self.stderr())
    }

    /// Sends SIGTERM and waits for the process to stop.
    #[cfg(unix)]
    fn terminate(&mut self) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM failed: {sent}");
        self.wait_exit()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `dm serve`, killed when dropped.
struct Served {
    process: Running,
    /// `http://127.0.0.1:PORT`.
    url: String,
}

impl Served {
    /// Starts `dm serve ARGS` and waits for its listening line.
    fn start(args: &[&str]) -> Served {
        let mut process = Running::spawn(&[&["serve"], args].concat());
        let line = process.wait_for("dm serve: listening on ", 1);
        let rest = line
            .strip_prefix("dm serve: listening on ")
            .expect("the listening line");
        let url = rest.split(' ').next().unwrap_or(rest).to_owned();
        Served { process, url }
    }

    fn stderr(&self) -> String {
        self.process.stderr()
    }
}

/// Runs `dm device --server SERVER/dm --state STATE --once ARGS`.
fn device(server: &str, state: &Path, args: &[&str]) -> Output {
    let url = format!("{server}/dm");
    let state = state.to_str().expect("UTF-8 path");
    let mut all = vec!["device", "--server", &url, "--state", state, "--once"];
    all.extend_from_slice(args);
    common::dm(&all, b"")
}

/// Runs `dm device --once` as [`DEV_ID`] against `server` with the extra
/// `args`.
fn device_once(server: &str, state: &Path, args: &[&str]) -> Output {
    device(server, state, &[&["--dev-id", DEV_ID], args].concat())
}

fn explain(output: &Output) -> String {
    format!(
        "exit {:?}; stderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn http() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

/// An admin API call: status and JSON body (`Null` when empty).
async fn admin(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    (status, value)
}

/// A GET of the admin API at `path` on a dev-mode server (no token).
async fn dev_admin_get(served: &Served, path: &str) -> (u16, Value) {
    admin(
        &http(),
        reqwest::Method::GET,
        &format!("{}{path}", served.url),
        None,
        None,
    )
    .await
}

/// The admin API's view of the queued command `id` under `commands`.
async fn command(http: &reqwest::Client, commands: &str, id: &str) -> (u16, Value) {
    admin(
        http,
        reqwest::Method::GET,
        &format!("{commands}/{id}"),
        Some(TOKEN),
        None,
    )
    .await
}

#[tokio::test]
async fn a_device_runs_against_a_dev_server_and_keeps_its_state() {
    let scratch = Scratch::new("dev");
    let served = Served::start(&["--listen", "127.0.0.1:0", "--dev"]);
    assert!(
        served.url.starts_with("http://127.0.0.1:") && !served.url.ends_with(":0"),
        "{}",
        served.url
    );
    let state = scratch.path("d.json");
    let output = device_once(&served.url, &state, &[]);
    assert!(output.status.success(), "{}", explain(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("session ended: completed"),
        "{}",
        explain(&output)
    );
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&state).expect("the state file")).expect("JSON");
    assert!(saved.is_object(), "{saved}");
    // The state reloads and a second session works.
    let output = device_once(&served.url, &state, &[]);
    assert!(output.status.success(), "{}", explain(&output));

    // Dev mode registered the device; the admin API needs no token there.
    let (status, device) = dev_admin_get(&served, &format!("/admin/devices/{DEV_SEGMENT}")).await;
    assert_eq!(status, 200, "{device}");
    assert_eq!(device["dev_id"], DEV_ID);
    assert_eq!(
        device["sessions"].as_array().map(Vec::len),
        Some(2),
        "{device}"
    );
    assert_eq!(device["last_session"]["outcome"], "completed", "{device}");
    assert!(served.stderr().contains("development mode"));
}

#[test]
fn a_device_without_a_server_fails() {
    let scratch = Scratch::new("no-server");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let output = device_once(
        &format!("http://127.0.0.1:{port}"),
        &scratch.path("d.json"),
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("aborted"),
        "{}",
        explain(&output)
    );
}

#[test]
fn dev_mode_refuses_a_public_address() {
    // It must stop by itself.
    let (status, stderr) = Running::spawn(&["serve", "--listen", "0.0.0.0:0", "--dev"]).wait_exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[tokio::test]
async fn a_configured_server_with_an_admin_token_and_a_password_device() {
    let scratch = Scratch::new("config");
    let config = scratch.path("server.json");
    std::fs::write(
        &config,
        json!({
            "server_id": "cli-e2e",
            "admin_token": TOKEN,
            "devices": [{"dev_id": DEV_ID, "username": USER, "password": PASSWORD}],
        })
        .to_string(),
    )
    .expect("config written");
    let served = Served::start(&[
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().expect("UTF-8 path"),
    ]);
    let http = http();
    let commands = format!("{}/admin/devices/{DEV_SEGMENT}/commands", served.url);
    let get = json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"]});
    let post = |token: Option<&'static str>| {
        admin(
            &http,
            reqwest::Method::POST,
            &commands,
            token,
            Some(get.clone()),
        )
    };
    assert_eq!(post(None).await.0, 401);
    assert_eq!(post(Some("wrong")).await.0, 401);
    let (status, queued) = post(Some(TOKEN)).await;
    assert_eq!(status, 201, "{queued}");
    let id = queued["id"].as_str().expect("an id").to_owned();

    // The right password: the command is done with 200.
    let state = scratch.path("d.json");
    let output = device_once(
        &served.url,
        &state,
        &["--username", USER, "--password", PASSWORD],
    );
    assert!(output.status.success(), "{}", explain(&output));
    let (status, done) = command(&http, &commands, &id).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["status"], 200, "{done}");
    assert_eq!(done["data"][0]["MOData"]["DevID"], DEV_ID, "{done}");

    // A wrong password: refused, exit 1, the next command stays queued.
    let (status, queued) = post(Some(TOKEN)).await;
    assert_eq!(status, 201, "{queued}");
    let id = queued["id"].as_str().expect("an id").to_owned();
    let output = device_once(
        &served.url,
        &state,
        &["--username", USER, "--password", "wrong"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("401"),
        "{}",
        explain(&output)
    );
    let (status, pending) = command(&http, &commands, &id).await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["state"], "queued", "{pending}");
    // Without credentials at all (not dev mode): refused as well.
    let output = device_once(&served.url, &state, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
}

const DEVINFO: &str = "urn:oma:mo:oma-dm-devinfo:1.0";

/// `http://host/admin/devices/{dev_id}/commands` (an unencoded `:` is
/// accepted in the DevID segment).
fn commands_of(served: &Served, dev_id: &str) -> String {
    format!("{}/admin/devices/{dev_id}/commands", served.url)
}

/// Registers `dev_id` without credentials (dev mode lets it in), so that
/// commands can be queued before its first session.
async fn register(http: &reqwest::Client, served: &Served, dev_id: &str) {
    let url = format!("{}/admin/devices", served.url);
    let body = json!({"dev_id": dev_id});
    let (status, answer) = admin(http, reqwest::Method::POST, &url, None, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
}

/// Queues `words` as one command; its id.
async fn enqueue(http: &reqwest::Client, commands: &str, words: &[&str]) -> String {
    let body = json!({ "command": words });
    let (status, queued) = admin(http, reqwest::Method::POST, commands, None, Some(body)).await;
    assert_eq!(status, 201, "{queued}");
    queued["id"].as_str().expect("an id").to_owned()
}

/// Polls the command `id` until it is done (at most [`WAIT`]).
async fn done(http: &reqwest::Client, commands: &str, id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, command) = command(http, commands, id).await;
        assert_eq!(status, 200, "{command}");
        if command["state"] == "done" {
            return command;
        }
        assert!(Instant::now() < deadline, "not done in time: {command}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one account of the state file.
fn stored_account(state: &Path) -> dm_tree::DmAcc {
    let tree = dm_client::DmClient::stored_tree(state)
        .expect("a valid state file")
        .expect("the state file");
    let mut accounts = tree.dm_accs();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    accounts.remove(0).expect("a valid account")
}

fn stored_dev_id(state: &Path) -> String {
    dm_client::DmClient::stored_dev_id(state)
        .expect("a valid state file")
        .expect("a DevID")
        .as_str()
        .to_owned()
}

#[tokio::test]
async fn a_device_with_perm_lets_the_server_reach_only_the_listed_mos() {
    let scratch = Scratch::new("perm");
    let served = Served::start(&["--listen", "127.0.0.1:0", "--dev"]);
    let http = http();
    register(&http, &served, DEV_ID).await;
    let commands = commands_of(&served, DEV_ID);
    let devinfo = enqueue(&http, &commands, &["GET", &format!("{DEVINFO}//")]).await;
    let demo = enqueue(&http, &commands, &["GET", "urn:dm-sdk:mo:demo:1.0//"]).await;

    let state = scratch.path("d.json");
    let output = device_once(&served.url, &state, &["--perm", DEVINFO]);
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(done(&http, &commands, &devinfo).await["status"], 200);
    // Without the MOID in its Perm list the server sees no instance of it
    // (docs/protocol.md section 7: 404, never 403), even though the demo MO's
    // DACMO entry grants it Read.
    assert_eq!(done(&http, &commands, &demo).await["status"], 404);
    let perms: Vec<String> = stored_account(&state)
        .perm_moids
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(perms, [DEVINFO]);

    // Run again without --perm: the stored Perm list is kept, not widened.
    let demo = enqueue(&http, &commands, &["GET", "urn:dm-sdk:mo:demo:1.0//"]).await;
    let output = device_once(&served.url, &state, &[]);
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(done(&http, &commands, &demo).await["status"], 404);
    assert_eq!(stored_account(&state).perm_moids.len(), 1);
}

#[tokio::test]
async fn a_stored_device_keeps_its_dev_id_and_account() {
    let scratch = Scratch::new("kept");
    let served = Served::start(&["--listen", "127.0.0.1:0", "--dev"]);
    let state = scratch.path("d.json");
    let output = device_once(&served.url, &state, &[]);
    assert!(output.status.success(), "{}", explain(&output));
    // Without --srv-id the SrvID is the host of --server.
    let account = stored_account(&state);
    assert_eq!(account.server_id.as_str(), "127.0.0.1");
    assert_eq!(account.server_uri.as_str(), format!("{}/dm", served.url));

    // No --dev-id: the stored DevID, not the host's. Bootstrap options
    // that differ are not applied, and a note says so.
    let output = device(
        &served.url,
        &state,
        &["--srv-id", "other.example", "--perm", DEVINFO],
    );
    assert!(output.status.success(), "{}", explain(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("keeps its account (SrvID 127.0.0.1")
            && stderr.contains("--srv-id other.example, --perm not applied"),
        "{}",
        explain(&output)
    );
    assert_eq!(stored_dev_id(&state), DEV_ID);
    assert_eq!(stored_account(&state), account);

    let (status, list) = dev_admin_get(&served, "/admin/devices").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1, "one device, not two: {list}");
    assert_eq!(list["devices"][0]["dev_id"], DEV_ID, "{list}");
}

#[tokio::test]
async fn a_device_without_a_dev_id_takes_its_devinfo_from_the_host() {
    let scratch = Scratch::new("host");
    let served = Served::start(&["--listen", "127.0.0.1:0", "--dev"]);
    let http = http();
    let first = scratch.path("first.json");
    let output = device(&served.url, &first, &[]);
    assert!(output.status.success(), "{}", explain(&output));
    let dev_id = stored_dev_id(&first);
    assert!(dev_id.starts_with("urn:uuid:"), "{dev_id}");

    // A new state file on the same host: the same DevID, so the command
    // queued for it runs.
    let commands = commands_of(&served, &dev_id);
    let id = enqueue(&http, &commands, &["GET", &format!("{DEVINFO}//")]).await;
    let second = scratch.path("second.json");
    let output = device(&served.url, &second, &[]);
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(stored_dev_id(&second), dev_id);
    let done = done(&http, &commands, &id).await;
    assert_eq!(done["status"], 200, "{done}");
    let devinfo = &done["data"][0]["MOData"]["DevInfo"];
    assert_eq!(devinfo["DevID"], dev_id.as_str(), "{done}");
    for name in ["Man", "Mod", "DmV", "DevType", "SwV"] {
        assert!(
            devinfo[name].as_str().is_some_and(|v| !v.is_empty()),
            "{name} is empty: {done}"
        );
    }

    let (status, list) = dev_admin_get(&served, "/admin/devices").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["devices"][0]["dev_id"], dev_id.as_str(), "{list}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_listening_device_runs_notified_sessions_and_stops_on_sigterm() {
    const SECRET: &str = "6e6f74692d736563726574";
    const DATA: &str = "617574682d64617461";
    let scratch = Scratch::new("listen");
    let config = scratch.path("server.json");
    std::fs::write(
        &config,
        json!({
            "server_id": "cli-notify",
            "dev_notification": {"secret_hex": SECRET, "data_hex": DATA},
        })
        .to_string(),
    )
    .expect("config written");
    let config = config.to_str().expect("UTF-8 path");
    let mut served = Served::start(&["--listen", "127.0.0.1:0", "--dev", "--config", config]);
    let state = scratch.path("d.json");
    let url = format!("{}/dm", served.url);
    let mut device = Running::spawn(&[
        "device",
        "--server",
        &url,
        "--state",
        state.to_str().expect("UTF-8 path"),
        "--dev-id",
        DEV_ID,
        "--srv-id",
        "cli-notify",
        "--noti-secret-hex",
        SECRET,
        "--noti-data-hex",
        DATA,
        "--notify-listen",
        "127.0.0.1:0",
    ]);
    device.wait_for(
        "dm device: listening for notifications on udp://127.0.0.1:",
        1,
    );
    // The first session registered the device and its notification address.
    let first = device.wait_for("session ended", 1);
    assert!(first.contains("completed"), "{}", device.stderr());

    let http = http();
    let commands = commands_of(&served, DEV_ID);
    let id = enqueue(&http, &commands, &["GET", &format!("{DEVINFO}//DevID")]).await;
    let (status, sent) = admin(
        &http,
        reqwest::Method::POST,
        &format!("{}/admin/devices/{DEV_SEGMENT}/notify", served.url),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let done = done(&http, &commands, &id).await;
    assert_eq!(done["status"], 200, "{done}");
    assert_eq!(done["data"][0]["MOData"]["DevID"], DEV_ID, "{done}");
    device.wait_for("notification from cli-notify verified", 1);
    device.wait_for("session ended", 2);

    let (status, stderr) = device.terminate();
    assert!(status.success(), "{status}; stderr:\n{stderr}");
    assert!(stderr.ends_with("dm device: stopped"), "{stderr}");
    // dm serve stops on SIGTERM the same way.
    let (status, stderr) = served.process.terminate();
    assert!(status.success(), "{status}; stderr:\n{stderr}");
    assert!(stderr.contains("dm serve: stopped"), "{stderr}");
}

#[test]
fn a_session_without_end_exits_1() {
    // A server that answers every request with 200 and a body that is no
    // Package#2.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oma.dm.request+json\r\n\
                  Content-Length: 9\r\nConnection: close\r\n\r\nnot json!",
            );
        }
    });
    let scratch = Scratch::new("garbage");
    let output = device_once(&server, &scratch.path("d.json"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("session ended: aborted"),
        "{}",
        explain(&output)
    );
}

/// Runs `dm ARGS` with the extra environment `vars`.
fn dm_with_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dm"))
        .args(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("dm runs")
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(unix)]
#[test]
fn a_server_whose_log_reader_is_gone_keeps_serving() {
    let scratch = Scratch::new("epipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dev"])
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dm starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let url = loop {
        line.clear();
        let read = stderr.read_line(&mut line).expect("a line");
        assert!(read > 0, "dm serve ended before listening");
        if let Some(rest) = line.trim_end().strip_prefix("dm serve: listening on ") {
            break rest.split(' ').next().unwrap_or(rest).to_owned();
        }
    };
    // The log collector dies: every later log line hits a closed pipe.
    drop(stderr);
    for round in 0..3 {
        let state = scratch.path(&format!("d{round}.json"));
        let output = device_once(&url, &state, &[]);
        assert!(output.status.success(), "{}", explain(&output));
    }
    assert!(child.try_wait().expect("wait").is_none(), "still serving");
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "dm serve does not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[cfg(unix)]
#[test]
fn dm_serve_keeps_its_store_owner_only_and_refuses_a_shared_one() {
    let scratch = Scratch::new("store-mode");
    let config = scratch.path("server.json");
    // No `store` key: the SQLite file beside the configuration.
    std::fs::write(&config, json!({}).to_string()).expect("config");
    let config = config.to_str().expect("UTF-8 path");
    let store = scratch.path("dm-store.sqlite");
    let serve = ["--listen", "127.0.0.1:0", "--dev", "--config", config];
    let mut served = Served::start(&serve);
    let output = device_once(&served.url, &scratch.path("d.json"), &[]);
    assert!(output.status.success(), "{}", explain(&output));
    let (status, stderr) = served.process.terminate();
    assert!(status.success(), "{status}; {stderr}");
    assert!(
        stderr.contains(&format!("dm serve: store sqlite:{}", store.display())),
        "{stderr}"
    );
    assert_eq!(mode(&store), 0o600, "created owner-only");

    chmod(&store, 0o644);
    let output = common::dm(&[&["serve"][..], &serve].concat(), b"");
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(store.to_str().expect("UTF-8"))
            && stderr.contains("0644")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
    let mut served = Served::start(&[&serve[..], &["--allow-shared-permissions"]].concat());
    let (status, stderr) = served.process.terminate();
    assert!(status.success(), "{status}; {stderr}");

    // --store overrides the configuration; an old JSON store file is named
    // with the fix.
    let other = scratch.path("other.sqlite");
    let store_arg = format!("sqlite:{}", other.display());
    let mut served = Served::start(&[&serve[..], &["--store", &store_arg]].concat());
    let (status, _) = served.process.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(mode(&other), 0o600);
    let output = common::dm(
        &[&["serve"][..], &serve, &["--store", "store.json"]].concat(),
        b"",
    );
    assert_ne!(output.status.code(), Some(0), "{}", explain(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no longer read"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn dm_device_keeps_its_state_owner_only_and_refuses_a_shared_one() {
    let scratch = Scratch::new("state-mode");
    let served = Served::start(&["--listen", "127.0.0.1:0", "--dev"]);
    let state = scratch.path("d.json");
    let stale = scratch.path(".d.json.999999-3.tmp");
    std::fs::write(&stale, b"half a state").expect("planted");
    let output = device_once(&served.url, &state, &[]);
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(mode(&state), 0o600);
    assert!(!stale.exists(), "the stale temporary file is removed");

    chmod(&state, 0o640);
    let output = device_once(&served.url, &state, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(state.to_str().expect("UTF-8"))
            && stderr.contains("0640")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
    let output = device_once(&served.url, &state, &["--allow-shared-permissions"]);
    assert!(output.status.success(), "{}", explain(&output));
}

#[test]
fn dm_device_takes_its_secrets_from_files_and_the_environment() {
    const SECRET: &str = "6e6f74692d736563726574";
    let scratch = Scratch::new("secrets");
    let config = scratch.path("server.json");
    std::fs::write(
        &config,
        json!({"devices": [{"dev_id": DEV_ID, "username": USER, "password": PASSWORD}]})
            .to_string(),
    )
    .expect("config");
    let served = Served::start(&[
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().expect("UTF-8 path"),
    ]);
    let url = format!("{}/dm", served.url);
    let run = |state: &Path, args: &[&str], vars: &[(&str, &str)]| {
        let state = state.to_str().expect("UTF-8 path");
        let base = [
            "device",
            "--server",
            &url,
            "--state",
            state,
            "--once",
            "--dev-id",
            DEV_ID,
            "--username",
            USER,
        ];
        dm_with_env(&[&base[..], args].concat(), vars)
    };
    let expected = dm_tree::NotificationAuth::sha256(b"noti-secret".to_vec(), Vec::new());

    // From files: the password file's final newline is not part of it.
    let password_file = scratch.path("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("written");
    let secret_file = scratch.path("noti-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("written");
    let state = scratch.path("files.json");
    let output = run(
        &state,
        &[
            "--password-file",
            password_file.to_str().expect("UTF-8"),
            "--noti-secret-file",
            secret_file.to_str().expect("UTF-8"),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(stored_account(&state).notification, Some(expected.clone()));

    // From the environment.
    let state = scratch.path("env.json");
    let output = run(
        &state,
        &[],
        &[
            ("DM_DEVICE_PASSWORD", PASSWORD),
            ("DM_DEVICE_NOTI_SECRET_HEX", SECRET),
        ],
    );
    assert!(output.status.success(), "{}", explain(&output));
    assert_eq!(stored_account(&state).notification, Some(expected));

    // A wrong password from the environment is used (and refused: 401).
    let output = run(&state, &[], &[("DM_DEVICE_PASSWORD", "wrong")]);
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    // Two sources of one secret are an error; so is a missing file.
    let output = run(
        &state,
        &["--password", PASSWORD, "--password-file", "x"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot be used with"),
        "{}",
        explain(&output)
    );
    let output = run(&state, &["--password-file", "/nonexistent/password"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("/nonexistent/password"),
        "{}",
        explain(&output)
    );

    // --help says where secrets may come from, without showing their values.
    let help = dm_with_env(
        &["device", "--help"],
        &[("DM_DEVICE_PASSWORD", "do-not-show")],
    );
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--password-file",
        "DM_DEVICE_PASSWORD",
        "--noti-secret-file",
        "DM_DEVICE_NOTI_SECRET_HEX",
        "--allow-shared-permissions",
        "process list",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    assert!(!help.contains("do-not-show"), "{help}");
    let help = common::dm(&["serve", "--help"], b"");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--allow-shared-permissions"), "{help}");
}
