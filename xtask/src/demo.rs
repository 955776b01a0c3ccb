//! `cargo xtask demo`: the README's main job. Starts a real management
//! server (`dm serve`) and three real simulated devices (`dm device`) on
//! loopback, drives them through the admin API with a script that uses every
//! command of the protocol, and prints a transcript and a summary table.
//! Exits 0 only when every step ended with the status it expects.
//!
//! - Devices 2 and 3 find commands queued when they first connect and run
//!   them in their client-initiated session.
//! - Devices 4 and 5 start with a bootstrap account only (a factory file):
//!   they bootstrap over mutually authenticated TLS (X.509; PSK-TLS when
//!   `dm` is built with the OpenSSL backend), deliver `BootstrapComplete`,
//!   device 4 is re-keyed by a server-initiated bootstrap, and both are then
//!   managed with the credentials they received (`demo_bootstrap.rs`).
//! - Device 1 is woken by a signed notification (Package#0 over UDP) and runs
//!   the full script: GET, HGET of a new MO instance from the repository, SUB
//!   then a change (a second HGET) and its change report, HPUT, EXEC with an
//!   asynchronous result alert, SHOW, DEFAULT, UNSUB and DELETE. The server
//!   sends CONT itself in the first Package#2 of every session that does not
//!   end at once; the transcript shows where the Package#3 went.
//! - Last, devices 1 to 3 (each `dm device --fumo`, device 3's installs
//!   failing with 410) get a firmware campaign of two stages through the
//!   admin API (`demo_campaign.rs`).
//!
//! With `--keep` the server and devices 1 to 3 stay up after the summary
//! until Ctrl-C, and the demo prints the web console's URL and a key to sign
//! in with (docs/console.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::demo_bootstrap;
use crate::demo_campaign;
use crate::demo_process::{spawn, wait_for};

use serde_json::{Value, json};

/// The SrvID the devices know the server by (SERVER-ID of notifications).
const SERVER_ID: &str = "demo-server";

/// The admin API token written to the server's configuration.
const ADMIN_TOKEN: &str = "demo-admin-token";

/// The MO type the repository hands out in the demo.
const WLAN_MOID: &str = "urn:dm-sdk:mo:wlan:1.0";

/// The device (number) whose simulated firmware installs fail (`410`).
const FAILING_DEVICE: usize = 3;

/// A device of the demo.
struct DeviceSpec {
    dev_id: &'static str,
    username: &'static str,
    password: &'static str,
    secret_hex: &'static str,
    data_hex: &'static str,
}

const DEVICES: [DeviceSpec; 3] = [
    DeviceSpec {
        dev_id: "IMEI:493005100592801",
        username: "device-1",
        password: "correct horse 1",
        secret_hex: "6e6f74692d7365637265742d31",
        data_hex: "617574682d64617461",
    },
    DeviceSpec {
        dev_id: "IMEI:493005100592802",
        username: "device-2",
        password: "correct horse 2",
        secret_hex: "6e6f74692d7365637265742d32",
        data_hex: "617574682d64617461",
    },
    DeviceSpec {
        dev_id: "IMEI:493005100592803",
        username: "device-3",
        password: "correct horse 3",
        secret_hex: "6e6f74692d7365637265742d33",
        data_hex: "617574682d64617461",
    },
];

/// One command of the script and what it must end with.
struct Step {
    device: usize,
    words: Vec<String>,
    expected: u16,
    /// Filled in as the demo runs.
    id: Option<String>,
    got: Option<u16>,
    note: String,
}

impl Step {
    fn new(device: usize, words: &[&str], expected: u16) -> Step {
        Step {
            device,
            words: words.iter().map(|w| (*w).to_owned()).collect(),
            expected,
            id: None,
            got: None,
            note: String::new(),
        }
    }

    fn ok(&self) -> bool {
        self.got == Some(self.expected)
    }

    fn name(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }
}

/// The admin API of the running server.
struct Admin {
    http: reqwest::blocking::Client,
    base: String,
}

/// Percent-encodes a DevID for a path segment.
fn segment(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn send(request: reqwest::blocking::RequestBuilder) -> Result<(u16, Value), String> {
    let response = request
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .map_err(|e| format!("admin API: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().map_err(|e| format!("admin API: {e}"))?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok((status, body))
}

fn expect_ok(what: &str, result: (u16, Value)) -> Result<Value, String> {
    if (200..300).contains(&result.0) {
        Ok(result.1)
    } else {
        Err(format!("{what}: HTTP {} {}", result.0, result.1))
    }
}

impl Admin {
    fn put_repository(&self, path: &str, body: &Value) -> Result<(), String> {
        let request = self
            .http
            .put(format!("{}/admin/repository/{path}", self.base))
            .header("Content-Type", "application/dmmo+json")
            .body(body.to_string());
        expect_ok(&format!("PUT repository {path}"), send(request)?).map(drop)
    }

    fn get_repository(&self, path: &str) -> Result<Option<Value>, String> {
        let request = self
            .http
            .get(format!("{}/admin/repository/{path}", self.base));
        let (status, body) = send(request)?;
        Ok((status == 200).then_some(body))
    }

    fn enqueue(&self, dev_id: &str, words: &[String]) -> Result<String, String> {
        let request = self
            .http
            .post(format!(
                "{}/admin/devices/{}/commands",
                self.base,
                segment(dev_id)
            ))
            .header("Content-Type", "application/json")
            .body(json!({ "command": words }).to_string());
        let body = expect_ok(&format!("queue {}", words.join(" ")), send(request)?)?;
        body.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("queue answer without id: {body}"))
    }

    fn command(&self, dev_id: &str, id: &str) -> Result<Value, String> {
        let request = self.http.get(format!(
            "{}/admin/devices/{}/commands/{id}",
            self.base,
            segment(dev_id)
        ));
        expect_ok("read command", send(request)?)
    }

    fn device(&self, dev_id: &str) -> Result<Value, String> {
        let request = self
            .http
            .get(format!("{}/admin/devices/{}", self.base, segment(dev_id)));
        expect_ok("read device", send(request)?)
    }

    fn alerts(&self, dev_id: &str) -> Result<Value, String> {
        let request = self.http.get(format!(
            "{}/admin/devices/{}/alerts",
            self.base,
            segment(dev_id)
        ));
        expect_ok("read alerts", send(request)?)
    }

    fn notify(&self, dev_id: &str) -> Result<Value, String> {
        let request = self.http.post(format!(
            "{}/admin/devices/{}/notify",
            self.base,
            segment(dev_id)
        ));
        expect_ok("notify", send(request)?)
    }
}

/// Waits until the step's command is done or failed and records its status.
fn settle(admin: &Admin, step: &mut Step) -> Result<(), String> {
    let dev_id = dev_id_of(step.device);
    let Some(id) = step.id.clone() else {
        return Err("step was never queued".into());
    };
    let record = wait_for(&format!("{} on {dev_id}", step.name()), || {
        let record = admin.command(dev_id, &id)?;
        let state = record.get("state").and_then(Value::as_str).unwrap_or("");
        Ok(matches!(state, "done" | "failed").then_some(record))
    })?;
    step.got = record
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let uris = record
        .get("uris")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let data = record
        .get("data")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if record.get("state").and_then(Value::as_str) == Some("failed") {
        step.note = format!("failed: {}", record.get("error").unwrap_or(&Value::Null));
    } else if data > 0 {
        step.note = format!("{data} item(s) returned");
    } else if uris > 0 {
        let list: Vec<&str> = record["uris"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        step.note = format!("wrote {}", list.join(", "));
    }
    print_step(step);
    Ok(())
}

fn print_step(step: &Step) {
    let command = step.words.join(" ");
    let got = step.got.map_or_else(|| "-".to_owned(), |s| s.to_string());
    println!(
        "  {:<4} {:<78} expect {} got {:<3} {}  {}",
        format!("#{}", step.device + 1),
        truncate(&command, 78),
        step.expected,
        got,
        if step.ok() { "ok  " } else { "FAIL" },
        step.note
    );
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// The server's configuration file.
/// The DevID of device number `index + 1`: the three devices with
/// management accounts, then the ones that bootstrap.
fn dev_id_of(index: usize) -> &'static str {
    DEVICES.get(index).map_or_else(
        || {
            demo_bootstrap::BOOTSTRAP_DEVICES
                .get(index - DEVICES.len())
                .map_or("", |d| d.dev_id)
        },
        |d| d.dev_id,
    )
}

fn server_config(store: &Path, bootstrap: &Value) -> Value {
    json!({
        "bootstrap": bootstrap,
        "server_id": SERVER_ID,
        "admin_token": ADMIN_TOKEN,
        "store": format!("sqlite:{}", store.display()),
        // The firmware campaign's driver looks every 200 ms (default 1 s).
        "limits": { "campaign_tick_ms": 200 },
        "devices": DEVICES.iter().map(|d| json!({
            "dev_id": d.dev_id,
            "username": d.username,
            "password": d.password,
            "notification": { "secret_hex": d.secret_hex, "data_hex": d.data_hex },
        })).collect::<Vec<_>>(),
    })
}

/// MO serialization the repository serves.
fn repository_objects() -> Vec<(&'static str, Value)> {
    vec![
        (
            "demo/wlan",
            json!([{
                "ClientURI": format!("{WLAN_MOID}//"),
                "MOData": { "WLAN": { "SSID": "office", "Security": "WPA3", "Hidden": false } }
            }]),
        ),
        (
            "demo/wlan-ssid",
            json!([{
                "ClientURI": format!("{WLAN_MOID}/*/SSID"),
                "MOData": { "SSID": "office-5g" }
            }]),
        ),
        (
            "demo/vpn",
            json!([{
                "ClientURI": "urn:dm-sdk:mo:vpn:1.0//",
                "MOData": { "VPN": { "Gateway": "vpn.example", "Port": 443 } }
            }]),
        ),
    ]
}

pub(crate) fn run(root: &Path, keep: bool) -> ExitCode {
    match demo(root, keep) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(root: &Path, keep: bool) -> Result<bool, String> {
    // PSK-TLS needs dm's OpenSSL backend: built when the system has
    // OpenSSL's development files (CI has them), else the X.509 part runs.
    let psk = demo_bootstrap::openssl_available();
    let dm = crate::conformance::build_dm_with(root, if psk { &["openssl"] } else { &[] })?;
    let work = work_dir(root);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let materials = demo_bootstrap::prepare(&work, ADMIN_TOKEN)?;
    let config_path = work.join("server.json");
    std::fs::write(
        &config_path,
        serde_json::to_vec_pretty(&server_config(
            &work.join("server-store.sqlite"),
            &demo_bootstrap::server_config(&materials, psk),
        ))
        .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("{}: {e}", config_path.display()))?;

    println!(
        "== OMA DM 2.0 demo: a management server with a bootstrap listener, five devices, loopback"
    );
    let started = Instant::now();
    let (_server, listening) = spawn(
        &dm,
        "dm serve",
        &[
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--config".into(),
            config_path.display().to_string(),
        ],
        &work.join("server.log"),
        "dm serve: listening on ",
    )?;
    let base = listening
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    println!("server    {base}  (dm serve, SQLite store, Digest/Basic device auth, admin token)");

    // Plain HTTP on loopback: the provider is only needed because the client is built with rustls.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin = Admin {
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?,
        base: base.clone(),
    };
    for (path, body) in repository_objects() {
        admin.put_repository(path, &body)?;
    }
    println!("repository {base}/repo/demo/{{wlan,wlan-ssid,vpn}} loaded through the admin API");

    let repo = |path: &str| format!("{base}/repo/{path}");
    let devinfo = "urn:oma:mo:oma-dm-devinfo:1.0//";
    let wlan_any = format!("{WLAN_MOID}/*/");
    // Devices 2 and 3: queued before they ever connect.
    let mut first: Vec<Step> = vec![
        Step::new(1, &["GET", devinfo], 200),
        Step::new(1, &["HGET", &repo("demo/wlan")], 200),
        Step::new(1, &["HPOST", &repo("uploads/device-2"), &wlan_any], 200),
        Step::new(2, &["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"], 200),
        Step::new(2, &["GET", "urn:dm-sdk:mo:absent:1.0//"], 404),
        Step::new(2, &["DELETE", "urn:oma:mo:oma-dm-devinfo:1.0//"], 403),
    ];
    for step in &mut first {
        step.id = Some(admin.enqueue(dev_id_of(step.device), &step.words)?);
    }

    let mut devices = Vec::new();
    for (index, device) in DEVICES.iter().enumerate() {
        let args: Vec<String> = [
            "device",
            "--server",
            &format!("{base}/dm"),
            "--state",
            &work
                .join(format!("device-{}.json", index + 1))
                .display()
                .to_string(),
            "--dev-id",
            device.dev_id,
            "--srv-id",
            SERVER_ID,
            "--username",
            device.username,
            "--password",
            device.password,
            "--noti-secret-hex",
            device.secret_hex,
            "--noti-data-hex",
            device.data_hex,
            "--notify-listen",
            "127.0.0.1:0",
            // A simulated FUMO instance for the firmware campaign.
            "--fumo",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut args = args;
        if index + 1 == FAILING_DEVICE {
            args.extend([
                "--update-result".into(),
                demo_campaign::FAILING_RESULT.into(),
            ]);
        }
        let (process, address) = spawn(
            &dm,
            &format!("device {}", index + 1),
            &args,
            &work.join(format!("device-{}.log", index + 1)),
            "dm device: listening for notifications on ",
        )?;
        println!(
            "device #{}  {}  notifications on {address}",
            index + 1,
            device.dev_id
        );
        devices.push(process);
    }

    println!();
    println!(
        "-- devices #2 and #3: commands queued before they connected, run in their client-initiated session"
    );
    for step in &mut first {
        settle(&admin, step)?;
    }

    // Device 1 registered its notification address in its first session.
    let dev1 = DEVICES[0].dev_id;
    wait_for("device #1's notification address", || {
        let details = admin.device(dev1)?;
        Ok(details
            .get("notification_address")
            .is_some_and(|a| !a.is_null())
            .then_some(()))
    })?;

    let wlan_ssid = format!("{WLAN_MOID}/*/SSID");
    let exec_node = "urn:dm-sdk:mo:demo:1.0//Reboot";
    let mut script: Vec<Step> = vec![
        Step::new(0, &["GET", devinfo], 200),
        Step::new(0, &["HGET", &repo("demo/wlan")], 200),
        Step::new(0, &["SUB", &wlan_any, &repo("reports/device-1")], 200),
        Step::new(0, &["HGET", &repo("demo/wlan-ssid"), &wlan_ssid], 200),
        Step::new(0, &["HPUT", &repo("uploads/device-1"), &wlan_any], 200),
        Step::new(0, &["EXEC", exec_node, &format!("{base}/dm")], 202),
        Step::new(0, &["SHOW", &format!("{base}/ui/welcome?device=1")], 200),
        Step::new(
            0,
            &["DEFAULT", "urn:dm-sdk:mo:vpn:1.0", &repo("demo/vpn")],
            200,
        ),
        Step::new(0, &["UNSUB", &wlan_any], 200),
        Step::new(0, &["DELETE", &wlan_any], 200),
    ];
    for step in &mut script {
        step.id = Some(admin.enqueue(dev1, &step.words)?);
    }
    let notified = admin.notify(dev1)?;
    println!();
    println!(
        "-- device #1: woken by a signed notification (Package#0 over UDP, SHA-256 digest) {}",
        notified
            .get("notification_id")
            .map(|id| format!("NOTIFICATION-ID {id}"))
            .unwrap_or_default()
    );
    for step in &mut script {
        settle(&admin, step)?;
    }

    // The effects that travel outside Package#3.
    let mut checks: Vec<(String, bool, String)> = Vec::new();
    let report = wait_for("the SUB change report", || {
        admin.get_repository("reports/device-1")
    });
    checks.push((
        "SUB change report PUT to /repo/reports/device-1".into(),
        report.is_ok(),
        report.map_or_else(|e| e, |v| truncate(&v.to_string(), 70)),
    ));
    let upload = admin.get_repository("uploads/device-1")?;
    checks.push((
        "HPUT upload at /repo/uploads/device-1".into(),
        upload.is_some(),
        upload.map_or_else(|| "missing".into(), |v| truncate(&v.to_string(), 70)),
    ));
    let alert = wait_for("the asynchronous EXEC result alert", || {
        let alerts = admin.alerts(dev1)?;
        Ok(alerts
            .as_array()
            .or_else(|| alerts.get("alerts").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .find(|a| a.to_string().contains("urn:oma:at:dm:2.0:ExecComplete"))
            .cloned())
    });
    checks.push((
        "EXEC result alert (ExecComplete) in a new session".into(),
        alert.as_ref().is_ok_and(|a| a.to_string().contains("200")),
        alert.map_or_else(|e| e, |a| truncate(&a.to_string(), 70)),
    ));
    let details = admin.device(dev1)?;
    let notified_session = details
        .get("sessions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s.get("initiator").and_then(Value::as_str) == Some("server"))
        .cloned()
        .unwrap_or(Value::Null);
    let session_uri = notified_session
        .get("session_uri")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cont_used = session_uri.contains("/dm/s/")
        && notified_session
            .get("packages")
            .and_then(Value::as_u64)
            .is_some_and(|p| p >= 2);
    checks.push((
        "CONT: Package#3 posted to the session URI".into(),
        cont_used,
        format!(
            "{} Package#2 sent, Package#3 to {session_uri}",
            notified_session.get("packages").unwrap_or(&Value::Null)
        ),
    ));
    for (what, ok, detail) in &checks {
        println!(
            "  {:<52} {}  {detail}",
            what,
            if *ok { "ok  " } else { "FAIL" }
        );
    }

    // Devices #4 and #5: bootstrapped, then managed with the credentials
    // they received.
    let bootstrap_base = wait_for("the bootstrap listener", || {
        Ok(std::fs::read_to_string(work.join("server.log"))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("dm serve: bootstrap listening on "))
            .map(|rest| rest.trim().trim_end_matches('/').to_owned()))
    })?;
    let management = demo_bootstrap::Management {
        base: &base,
        server_id: SERVER_ID,
        perm: &["urn:oma:mo:oma-dm-devinfo:1.0", WLAN_MOID],
    };
    let bootstrapped =
        demo_bootstrap::run(&dm, &work, &materials, &bootstrap_base, &management, psk)?;
    checks.extend(bootstrapped.checks);
    let mut managed: Vec<Step> = Vec::new();
    for (number, dev_id, _) in &bootstrapped.devices {
        let mut step = Step::new(
            number - 1,
            &["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"],
            200,
        );
        step.id = Some(admin.enqueue(dev_id, &step.words)?);
        managed.push(step);
    }
    println!();
    println!(
        "-- devices #4 and #5: managed with the credentials they received (Digest password, notification secret)"
    );
    for step in &mut managed {
        admin.notify(dev_id_of(step.device))?;
        settle(&admin, step)?;
    }
    drop(bootstrapped.devices);

    // Devices #1 to #3: a firmware campaign.
    let api = demo_campaign::Api {
        http: &admin.http,
        base: &base,
        token: ADMIN_TOKEN,
    };
    let fleet: Vec<(usize, &str)> = DEVICES
        .iter()
        .enumerate()
        .map(|(i, d)| (i + 1, d.dev_id))
        .collect();
    let failing = dev_id_of(FAILING_DEVICE - 1);
    let campaign = demo_campaign::run(&api, &fleet, failing)?;
    let updated: Vec<(usize, &str)> = fleet
        .iter()
        .copied()
        .filter(|(_, dev_id)| *dev_id != failing)
        .collect();
    let versions = demo_campaign::firmware_versions(&api, &updated)?;
    for (what, ok, detail) in campaign.iter().chain(versions.iter()) {
        println!(
            "  {:<52} {}  {detail}",
            what,
            if *ok { "ok  " } else { "FAIL" }
        );
    }
    checks.extend(campaign);
    checks.extend(versions);

    println!();
    println!("== summary");
    println!(
        "{:<8} {:<8} {:>6} {:>6} {:>6}",
        "device", "command", "steps", "ok", "failed"
    );
    let all: Vec<&Step> = first
        .iter()
        .chain(script.iter())
        .chain(managed.iter())
        .collect();
    let mut every_ok = true;
    for device in 0..DEVICES.len() + demo_bootstrap::BOOTSTRAP_DEVICES.len() {
        let mut names: Vec<&str> = all
            .iter()
            .filter(|s| s.device == device)
            .map(|s| s.name())
            .collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let steps: Vec<&&Step> = all
                .iter()
                .filter(|s| s.device == device && s.name() == name)
                .collect();
            let ok = steps.iter().filter(|s| s.ok()).count();
            every_ok &= ok == steps.len();
            println!(
                "{:<8} {:<8} {:>6} {:>6} {:>6}",
                format!("#{}", device + 1),
                name,
                steps.len(),
                ok,
                steps.len() - ok
            );
        }
    }
    let checks_ok = checks.iter().filter(|c| c.1).count();
    every_ok &= checks_ok == checks.len();
    println!(
        "{:<8} {:<8} {:>6} {:>6} {:>6}",
        "all",
        "effects",
        checks.len(),
        checks_ok,
        checks.len() - checks_ok
    );
    println!(
        "\n{} in {:.1} s; logs in {}",
        if every_ok {
            "every step ended as expected"
        } else {
            "SOME STEPS FAILED"
        },
        started.elapsed().as_secs_f64(),
        work.display()
    );
    if keep {
        keep_serving(&admin)?;
    }
    drop(devices);
    Ok(every_ok)
}

/// `--keep`: prints the console's URL and a key (an operator API key when
/// the server has API keys, else the admin token), then waits for Ctrl-C.
fn keep_serving(admin: &Admin) -> Result<(), String> {
    let request = admin
        .http
        .post(format!("{}/admin/keys", admin.base))
        .header("Content-Type", "application/json")
        .body(json!({"name": "demo console", "scope": "operator"}).to_string());
    let (status, body) = send(request)?;
    let key = match body.get("key").and_then(Value::as_str) {
        Some(key) if status == 201 => {
            format!("{key}  (an operator API key; admin token: {ADMIN_TOKEN})")
        }
        _ => format!("{ADMIN_TOKEN}  (the admin token)"),
    };
    println!();
    println!("== the demo fleet stays up (--keep)");
    println!("console   {}/console/", admin.base);
    println!("key       {key}");
    println!("Press Ctrl-C to stop the server and the devices.");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?
        .block_on(tokio::signal::ctrl_c())
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))
}

/// Where the demo writes its configuration, state files and logs.
fn work_dir(root: &Path) -> PathBuf {
    root.join("target").join("demo")
}
