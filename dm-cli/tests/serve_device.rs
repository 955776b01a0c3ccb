//! `dm serve` and `dm device` run as processes against each other on
//! loopback, with the admin API driven over HTTP.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
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

/// Starts `dm serve ARGS` with its stderr piped.
fn spawn_serve(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dm"))
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dm serve starts")
}

/// A running `dm serve`, killed when dropped.
struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `dm serve ARGS` and waits (at most 10 s) for its listening
    /// line.
    fn start(args: &[&str]) -> Served {
        let mut child = spawn_serve(args);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (lines, received) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        // Drains stderr for the whole life of the process.
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                log.lock().expect("lock").push(line.clone());
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = received.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no listening line from dm serve {args:?}; stderr: {:?}",
                    stderr.lock().expect("lock")
                );
            };
            if let Some(rest) = line.strip_prefix("dm serve: listening on ") {
                break rest.split(' ').next().unwrap_or(rest).to_owned();
            }
        };
        Served { child, url, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }
}

/// Runs `dm device --once` against `server` with the extra `args`.
fn device_once(server: &str, state: &Path, args: &[&str]) -> Output {
    let url = format!("{server}/dm");
    let state = state.to_str().expect("UTF-8 path");
    let mut all = vec![
        "device", "--server", &url, "--state", state, "--dev-id", DEV_ID, "--once",
    ];
    all.extend_from_slice(args);
    common::dm(&all, b"")
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
    let (status, device) = admin(
        &http(),
        reqwest::Method::GET,
        &format!("{}/admin/devices/{DEV_SEGMENT}", served.url),
        None,
        None,
    )
    .await;
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
    let mut child = spawn_serve(&["--listen", "0.0.0.0:0", "--dev"]);
    // It must stop by itself, promptly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dm serve --dev on 0.0.0.0 kept running");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
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
    let get = json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.2//DevID"]});
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
