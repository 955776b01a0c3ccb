//! `cargo xtask loadtest campaign`: a firmware campaign over a fleet of
//! simulated devices, all in this process.
//!
//! A real `DmServer` on a `MemoryStore` (fast campaign tick) and N real
//! `DmClient`s, each in its own task with the FUMO driver and a
//! [`SimulatedFirmware`] behind a failure-injecting [`FirmwareUpdate`]
//! (1% permanent failures, 410; 2% transient ones, 503, which succeed on
//! the retry). The server's Package#0 reaches a device through
//! [`Notifier`], a `NotificationChannel` handing it to the device's task
//! ([`DmClient::listen_channel`]); every session and every download (a
//! stored artifact, with the device's token URL) goes over HTTP on
//! loopback, through one shared client transport (bounded pool).
//!
//! Run 1: one campaign over a group of the whole fleet, three stages (1%,
//! 10%, the rest), auto-advance. Figures: time to complete, devices per
//! second, peak memory, failures retried, final count per state.
//!
//! Run 2, same fleet, a new artifact: 20% permanent failures among the
//! first stage's devices. The campaign must pause at its error threshold
//! with every row of the later stages still pending; the phase fails
//! otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dm_client::update::{
    FirmwareUpdate, FumoSetup, Package, PackageSink, Progress, SimulatedFirmware, SinkError,
};
use dm_client::{Account, DmClient, Transport, Trigger};
use dm_server::{
    CampaignId, CampaignStatus, DeviceRegistration, DmServer, MemoryStore, NotificationChannel,
    PauseReason, ServerLimits, ServerOptions, SessionSettings, UpdateState,
};
use dm_tree::{DevInfo, DmAcc, NotificationAuth};
use dm_types::update::{FUMO_MOID, FumoResult};
use dm_types::{DevId, Miid, ServerId, ServerUri};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::loadtest::{per_second, rss_bytes};

const SERVER_ID: &str = "loadtest";
const ADMIN_TOKEN: &str = "loadtest";

/// The size of the firmware image the campaigns deliver.
const PACKAGE_BYTES: usize = 64 * 1024;

/// How often the server's campaign driver ticks.
const TICK: Duration = Duration::from_millis(50);

/// Devices in flight at once (the campaign's pacing), and the sessions of
/// the devices' first contact run at once.
const MAX_IN_FLIGHT: u32 = 500;
const FIRST_CONTACTS: usize = 64;

/// Idle connections the devices' shared transport keeps to the server.
const POOL: usize = 256;

/// Longest wait for run 1 to complete, and for run 2 to pause.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
const PAUSE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a device's firmware does with the next install.
const SUCCEED: u8 = 0;
const FAIL_PERMANENTLY: u8 = 1;
const FAIL_ONCE: u8 = 2;

/// The DevID of simulated device `n` (zero-padded: DevID order is `n`
/// order, so the first stage of a campaign is the first devices).
fn dev_id(n: usize) -> Result<DevId, String> {
    DevId::new(format!("IMEI:{:015}", 350_000_000_000_000 + n))
        .map_err(|e| format!("no DevID for device {n}: {e}"))
}

/// The notification address of device `n`.
fn address(n: usize) -> String {
    format!("loadtest://device/{n}")
}

/// The notification secret of device `n`.
fn secret(n: usize) -> Vec<u8> {
    format!("notification secret of device {n}").into_bytes()
}

/// The server's notification channel: a Package#0 for
/// `loadtest://device/<n>` goes to device `n`'s task.
struct Notifier {
    devices: Vec<mpsc::Sender<Vec<u8>>>,
}

impl NotificationChannel for Notifier {
    async fn deliver(&self, address: &str, bytes: &[u8]) -> Result<(), dm_server::Error> {
        let failed = |message: &str| dm_server::Error::Delivery {
            address: address.to_owned(),
            message: message.to_owned(),
        };
        let device = address
            .strip_prefix("loadtest://device/")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.devices.get(n))
            .ok_or_else(|| failed("no such simulated device"))?;
        match device.try_send(bytes.to_vec()) {
            // A device with a notification waiting opens a session anyway:
            // it picks up every command queued for it.
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(failed("the device stopped")),
        }
    }
}

/// The fate of every device's next install, and what was injected.
struct Fates {
    next: Vec<AtomicU8>,
    permanent: AtomicUsize,
    transient: AtomicUsize,
}

impl Fates {
    fn new(devices: usize) -> Fates {
        Fates {
            next: (0..devices).map(|_| AtomicU8::new(SUCCEED)).collect(),
            permanent: AtomicUsize::new(0),
            transient: AtomicUsize::new(0),
        }
    }

    /// Sets every device's fate from `fate(n)`; clears the counts.
    fn plan(&self, fate: impl Fn(usize) -> u8) {
        for (n, next) in self.next.iter().enumerate() {
            next.store(fate(n), Ordering::Relaxed);
        }
        self.permanent.store(0, Ordering::Relaxed);
        self.transient.store(0, Ordering::Relaxed);
    }
}

/// A [`SimulatedFirmware`] whose install result is replaced by the
/// device's fate: a permanent failure (410, every time), or a transient
/// one (503, once; the next install succeeds).
struct InjectedFirmware {
    inner: SimulatedFirmware,
    fates: Arc<Fates>,
    n: usize,
}

impl FirmwareUpdate for InjectedFirmware {
    fn storage(&self) -> Result<Box<dyn PackageSink + '_>, SinkError> {
        self.inner.storage()
    }

    fn verify_signature(&self, package: &Package, signature: Option<&[u8]>) -> bool {
        self.inner.verify_signature(package, signature)
    }

    fn progress(&self, progress: Progress) {
        self.inner.progress(progress);
    }

    async fn install(&self, package: &Package) -> FumoResult {
        let result = self.inner.install(package).await;
        if !result.is_success() {
            return result;
        }
        let Some(fate) = self.fates.next.get(self.n) else {
            return result;
        };
        match fate.load(Ordering::Relaxed) {
            FAIL_PERMANENTLY => {
                self.fates.permanent.fetch_add(1, Ordering::Relaxed);
                FumoResult::UPDATE_FAILED
            }
            FAIL_ONCE => {
                fate.store(SUCCEED, Ordering::Relaxed);
                self.fates.transient.fetch_add(1, Ordering::Relaxed);
                FumoResult::DOWNLOAD_NETWORK_ERROR
            }
            _ => result,
        }
    }
}

/// The peak resident size of this process (`VmHWM`), in bytes.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / (1024.0 * 1024.0)
}

/// The server, serving on loopback, with `devices` registered (no
/// credentials: loopback, dev mode), each with its notification address
/// and secret.
async fn start_server(
    devices: usize,
    notifier: Notifier,
) -> Result<(Arc<DmServer<MemoryStore, Notifier>>, String), String> {
    let options = ServerOptions::builder()
        .server_id(SERVER_ID)
        .admin_token(ADMIN_TOKEN)
        .dev_mode(true)
        .limits(ServerLimits::default().with_max_sessions(devices.max(10_000)))
        .session(SessionSettings::default().with_expiry_interval(Duration::from_secs(3600)))
        .campaign_tick(TICK)
        .build()
        .map_err(|e| e.to_string())?;
    let server = Arc::new(DmServer::new(options, MemoryStore::new(), notifier));
    let admin = server.admin();
    let mut batch = Vec::with_capacity(devices);
    for n in 0..devices {
        batch.push(
            DeviceRegistration::new(dev_id(n)?)
                .with_notification_address(address(n))
                .with_notification_secret(secret(n), Vec::new()),
        );
        if batch.len() == 10_000 || n + 1 == devices {
            admin
                .register_devices(std::mem::take(&mut batch))
                .await
                .map_err(|e| format!("registering the devices: {e}"))?;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let serving = server.clone();
    tokio::spawn(async move {
        let _ = serving.serve(listener, std::future::pending()).await;
    });
    Ok((server, base))
}

/// Device `n`: a `DmClient` with its FUMO instance `fw` (firmware 1.0)
/// and the notification secret of its account.
fn device(
    n: usize,
    uri: &ServerUri,
    transport: &Transport,
    fates: &Arc<Fates>,
) -> Result<DmClient, String> {
    let server_id = ServerId::new(SERVER_ID).map_err(|e| e.to_string())?;
    let mut account = DmAcc::new(server_id.clone(), uri.clone());
    account.notification = Some(NotificationAuth::sha256(secret(n), Vec::new()));
    let mut client = DmClient::builder(DevInfo::new(dev_id(n)?, "Acme", "Sim-1"))
        .account(Account::new(account))
        .transport(transport.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let setup = FumoSetup::new(Miid::new("fw").map_err(|e| e.to_string())?)
        .package("sim-firmware", "1.0")
        .server(server_id);
    let firmware = InjectedFirmware {
        inner: SimulatedFirmware::new(PACKAGE_BYTES as u64),
        fates: fates.clone(),
        n,
    };
    client
        .install_fumo(setup, firmware)
        .map_err(|e| format!("device {n}: FUMO: {e}"))?;
    Ok(client)
}

/// The admin API over HTTP, as an operator uses it.
struct Operator {
    http: reqwest::Client,
    base: String,
}

impl Operator {
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<serde_json::Value, String> {
        let response = request
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{what}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{what}: {e}"))
    }

    /// Uploads a firmware image `id` of `version`.
    async fn upload(&self, id: &str, version: &str, content: Vec<u8>) -> Result<(), String> {
        let url = format!(
            "{}/admin/artifacts/{id}?kind=firmware&name=sim-firmware&version={version}",
            self.base
        );
        let request = self
            .http
            .put(url)
            .header("Content-Type", "application/octet-stream")
            .body(content);
        self.send(request, "uploading the artifact").await.map(drop)
    }

    /// The group of every device with a FUMO instance.
    async fn group(&self, id: &str) -> Result<(), String> {
        let body = serde_json::json!({
            "description": "every simulated device with firmware updates",
            "filter": {"mos": [FUMO_MOID]},
        });
        let request = self
            .http
            .put(format!("{}/admin/groups/{id}", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        self.send(request, "creating the group").await.map(drop)
    }

    /// Starts a campaign of `artifact` over `group`; returns its id.
    async fn campaign(&self, artifact: &str, group: &str) -> Result<CampaignId, String> {
        let body = serde_json::json!({
            "name": format!("loadtest {artifact}"),
            "artifact": artifact,
            "group": group,
            "stages": [
                {"size": {"percent": 1}},
                {"size": {"percent": 10}},
                {"size": {"percent": 100}},
            ],
            "pacing": {"max_in_flight": MAX_IN_FLIGHT, "notifications_per_second": 5000},
            "retry": {"max_attempts": 3, "initial_backoff_ms": 500, "max_backoff_ms": 2000},
            "device_timeout_ms": 60_000,
        });
        let request = self
            .http
            .post(format!("{}/admin/campaigns", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        let created = self.send(request, "creating the campaign").await?;
        created["id"]
            .as_u64()
            .map(CampaignId)
            .ok_or_else(|| format!("the created campaign has no id: {created}"))
    }
}

/// Rows per state, all stages, as a line.
fn counts_line(totals: &std::collections::BTreeMap<UpdateState, u64>) -> String {
    totals
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(state, n)| format!("{} {n}", state.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn status_name(status: CampaignStatus) -> String {
    match status {
        CampaignStatus::Running => "running".into(),
        CampaignStatus::WaitingApproval => "waiting_approval".into(),
        CampaignStatus::Paused(PauseReason::Operator) => "paused (operator)".into(),
        CampaignStatus::Paused(PauseReason::ErrorThreshold { stage }) => {
            format!("paused (error threshold, stage {})", stage + 1)
        }
        CampaignStatus::Cancelled => "cancelled".into(),
        CampaignStatus::Completed => "completed".into(),
    }
}

/// Waits until `done` holds of the campaign's progress (or `timeout`),
/// printing its progress every few seconds; returns the last progress.
async fn watch(
    server: &DmServer<MemoryStore, Notifier>,
    id: CampaignId,
    timeout: Duration,
    done: impl Fn(&dm_server::CampaignProgress) -> bool,
) -> Result<(dm_server::CampaignProgress, bool), String> {
    let admin = server.admin();
    let started = Instant::now();
    let mut printed = Instant::now();
    loop {
        let progress = admin.campaign(id).await.map_err(|e| e.to_string())?;
        if done(&progress) || started.elapsed() > timeout {
            let ok = done(&progress);
            return Ok((progress, ok));
        }
        if printed.elapsed() >= Duration::from_secs(5) {
            printed = Instant::now();
            let stages: Vec<String> = progress
                .stages
                .iter()
                .map(|s| format!("stage {}: {}", s.stage + 1, counts_line(&s.counts)))
                .collect();
            println!(
                "campaign  {:>5.1} s {} (stage {}): {}",
                started.elapsed().as_secs_f64(),
                status_name(progress.record.status),
                progress.record.stage + 1,
                stages.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every row of the campaign in `state`, in DevID order.
async fn rows(
    server: &DmServer<MemoryStore, Notifier>,
    id: CampaignId,
    state: Option<UpdateState>,
) -> Result<Vec<dm_server::CampaignDevice>, String> {
    let admin = server.admin();
    let mut all = Vec::new();
    loop {
        let after = all
            .last()
            .map(|r: &dm_server::CampaignDevice| r.dev_id.clone());
        let page = admin
            .campaign_devices(id, state, after.as_ref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        let last = page.len() < 1000;
        all.extend(page);
        if last {
            return Ok(all);
        }
    }
}

/// The campaign phase over `count` devices; `true` when every check held.
pub(crate) async fn campaign(count: usize) -> Result<bool, String> {
    let count = count.max(100);
    println!(
        "campaign  {count} devices in this process, a {} KiB firmware, tick {} ms, {MAX_IN_FLIGHT} in flight",
        PACKAGE_BYTES / 1024,
        TICK.as_millis()
    );
    let mut senders = Vec::with_capacity(count);
    let mut receivers = Vec::with_capacity(count);
    for _ in 0..count {
        let (sender, receiver) = mpsc::channel::<Vec<u8>>(2);
        senders.push(sender);
        receivers.push(receiver);
    }
    let (server, base) = start_server(count, Notifier { devices: senders }).await?;
    let uri = ServerUri::new(format!("{base}/dm")).map_err(|e| e.to_string())?;
    let transport = Transport::builder()
        .idle_connections_per_host(POOL)
        .build()
        .map_err(|e| e.to_string())?;
    let fates = Arc::new(Fates::new(count));
    let server_id = ServerId::new(SERVER_ID).map_err(|e| e.to_string())?;

    // The fleet: each device reports its MOS in a first session (at most
    // FIRST_CONTACTS at once), then listens.
    let created = Instant::now();
    let first_contacts = Arc::new(tokio::sync::Semaphore::new(FIRST_CONTACTS));
    let contacted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(count);
    for (n, mut notifications) in receivers.into_iter().enumerate() {
        let mut client = device(n, &uri, &transport, &fates)?;
        let first_contacts = first_contacts.clone();
        let contacted = contacted.clone();
        let server_id = server_id.clone();
        tasks.push(tokio::spawn(async move {
            {
                let Ok(_permit) = first_contacts.acquire().await else {
                    return;
                };
                match Box::pin(client.run_session(&server_id, Trigger::Client)).await {
                    Ok(report) if report.completed() => {
                        contacted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(report) => eprintln!("campaign: device {n}: first session {:?}", report.end),
                    Err(e) => eprintln!("campaign: device {n}: first session: {e}"),
                }
            }
            let _ = client
                .listen_channel(&mut notifications, std::future::pending())
                .await;
        }));
    }
    while contacted.load(Ordering::Relaxed) < count {
        if created.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "only {} of {count} devices had their first session",
                contacted.load(Ordering::Relaxed)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The baseline of the campaign's rate, measured here: the same fleet
    // building its clients and running one plain session each.
    let first_sessions = created.elapsed();
    println!(
        "campaign  {count} devices created and had their first session in {:.1} s",
        first_sessions.as_secs_f64()
    );

    let operator = Operator {
        http: reqwest::Client::new(),
        base: base.clone(),
    };
    operator.group("fleet").await?;
    let image: Vec<u8> = (0..PACKAGE_BYTES)
        .map(|i| u8::try_from(i * 7 % 251).unwrap_or(0))
        .collect();
    operator.upload("fw-2", "2.0", image.clone()).await?;

    // Run 1: 1% permanent, 2% transient failures, spread over the fleet.
    fates.plan(|n| match n % 100 {
        42 => FAIL_PERMANENTLY,
        7 | 57 => FAIL_ONCE,
        _ => SUCCEED,
    });
    let before = rss_bytes();
    let started = Instant::now();
    let id = operator.campaign("fw-2", "fleet").await?;
    let (progress, completed) = watch(&server, id, RUN_TIMEOUT, |p| {
        p.record.status == CampaignStatus::Completed
    })
    .await?;
    let elapsed = started.elapsed();
    let peak = peak_rss_bytes();
    let totals = &progress.totals;
    let total: u64 = totals.values().sum();
    let succeeded = totals.get(&UpdateState::Succeeded).copied().unwrap_or(0);
    let failed = totals.get(&UpdateState::Failed).copied().unwrap_or(0);
    let retried = rows(&server, id, Some(UpdateState::Succeeded))
        .await?
        .iter()
        .filter(|r| r.attempts > 1)
        .count();
    let failed_rows = rows(&server, id, Some(UpdateState::Failed)).await?;
    let failed_410 = failed_rows.iter().filter(|r| r.result == Some(410)).count();
    let expected_failed = (0..count).filter(|n| n % 100 == 42).count() as u64;
    let expected_transient = (0..count).filter(|n| matches!(n % 100, 7 | 57)).count();
    println!(
        "FIGURE campaign_time: {count} devices updated (3 stages, auto-advance) in {:.1} s ({} target < 300 s); {}",
        elapsed.as_secs_f64(),
        if completed && elapsed < Duration::from_secs(300) {
            "meets"
        } else {
            "MISSES"
        },
        status_name(progress.record.status)
    );
    // An update takes three sessions (commands, download result, update
    // result): the baseline rate of updates is a third of the fleet's
    // plain session rate.
    let baseline = per_second(count, first_sessions) / 3.0;
    let rate = per_second(count, elapsed);
    println!(
        "FIGURE campaign_rate: {rate:.0} devices/s through Package#0, download of {} KiB, install, 3 sessions each; baseline (same run): the fleet's first plain sessions, {:.0} sessions/s, a third of it {baseline:.0}/s; ratio {:.2}",
        PACKAGE_BYTES / 1024,
        baseline * 3.0,
        rate / baseline.max(1e-9)
    );
    println!(
        "FIGURE campaign_memory: peak {:.0} MiB (VmHWM: server, {count} simulated devices and the runner in one process); {:.0} MiB before the campaign (fleet created, idle); peak minus that = {:.0} MiB (the server's campaign work plus the devices' sessions and downloads)",
        mib(peak),
        mib(before),
        mib(peak.saturating_sub(before))
    );
    println!(
        "FIGURE campaign_retries: {retried} devices succeeded after a retry ({} transient 503 injected, {expected_transient} expected)",
        fates.transient.load(Ordering::Relaxed)
    );
    println!(
        "FIGURE campaign_states: {} of {total} rows (succeeded {:.1}%, failed {:.1}%, {failed_410} of the failed with 410; expected succeeded {}, failed {expected_failed})",
        counts_line(totals),
        100.0 * ratio(succeeded, total),
        100.0 * ratio(failed, total),
        total - expected_failed,
    );
    let run1 = completed
        && total == count as u64
        && failed == expected_failed
        && succeeded == total - expected_failed
        && retried == expected_transient
        && failed_410 == failed_rows.len();
    if !run1 {
        eprintln!("campaign: run 1 did not end as planned");
    }

    // Run 2: a new image; 20% of the first stage's devices fail for good.
    let first_stage = count.div_ceil(100);
    fates.plan(|n| {
        if n < first_stage && n % 5 == 0 {
            FAIL_PERMANENTLY
        } else {
            SUCCEED
        }
    });
    let mut image = image;
    image.reverse();
    operator.upload("fw-3", "3.0", image).await?;
    let started = Instant::now();
    let id = operator.campaign("fw-3", "fleet").await?;
    let paused = |p: &dm_server::CampaignProgress| {
        p.record.status == CampaignStatus::Paused(PauseReason::ErrorThreshold { stage: 0 })
    };
    let (_, paused_in_time) = watch(&server, id, PAUSE_TIMEOUT, paused).await?;
    let paused_after = started.elapsed();
    // A few more ticks: a paused campaign starts nobody.
    tokio::time::sleep(TICK * 10).await;
    let progress = server
        .admin()
        .campaign(id)
        .await
        .map_err(|e| e.to_string())?;
    let later: Vec<_> = progress.stages.iter().filter(|s| s.stage > 0).collect();
    let later_total: u64 = later.iter().map(|s| s.total()).sum();
    let later_pending: u64 = later.iter().map(|s| s.count(UpdateState::Pending)).sum();
    let later_untouched = rows(&server, id, Some(UpdateState::Pending))
        .await?
        .iter()
        .filter(|r| r.stage > 0 && r.attempts == 0 && r.commands.is_empty())
        .count() as u64;
    let first = progress.stages.iter().find(|s| s.stage == 0);
    let held = paused_in_time
        && paused(&progress)
        && progress.record.stage == 0
        && later_total == (count - first_stage) as u64
        && later_pending == later_total
        && later_untouched == later_total;
    println!(
        "FIGURE campaign_error_threshold: 20% permanent failures in stage 1 -> {} after {:.1} s; stage 1: {}; stages 2-3: {later_pending} of {later_total} rows pending, {later_untouched} never started ({})",
        status_name(progress.record.status),
        paused_after.as_secs_f64(),
        first.map_or_else(String::new, |s| counts_line(&s.counts)),
        if held { "holds" } else { "FAILS" }
    );
    for task in &tasks {
        task.abort();
    }
    Ok(run1 && held)
}

fn ratio(part: u64, whole: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let (part, whole) = (part as f64, whole.max(1) as f64);
    part / whole
}
