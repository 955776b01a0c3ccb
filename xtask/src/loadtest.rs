//! `cargo xtask loadtest`: throughput, latency and memory figures of the
//! server and client facades, each printed with its target and, for
//! throughput, the ratio to a baseline measured in the same run.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dm_client::{Account, DmClient, Transport, Trigger};
use dm_server::{
    DeviceRegistration, DmServer, MemoryStore, ServerLimits, ServerOptions, SessionSettings, Store,
    UdpChannel,
};
use dm_tree::{DevInfo, DmAcc};
use dm_types::{Command, DevId, ServerId, ServerUri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::loadtest_stores::{
    FRESH_POSTGRES, SCRATCH_SQLITE, STORES_VARIABLE, registered, store_sessions,
    stores_of_environment,
};

/// The resident set size of this process, in bytes (Linux `/proc`; 0
/// elsewhere).
pub(crate) fn rss_bytes() -> u64 {
    rss_of("self")
}

/// The resident size of process `pid` (`"self"` for this one).
fn rss_of(pid: &str) -> u64 {
    let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0;
    };
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The CPU time (user and system) process `pid` has used (`"self"` for
/// this one; zero where there is no Linux `/proc`).
pub(crate) fn cpu_of(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // After the command's name (in parentheses, which it may contain):
    // state is field 3, utime 14 and stime 15.
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let ticks: u64 = fields
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    #[allow(clippy::cast_precision_loss)]
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

/// The clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`; 100,
/// Linux's value everywhere, when there is no such command).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// The `p` quantile (0 to 1) of a sorted sample of latencies.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A bare hyper server that answers the two POSTs of a load-test session
/// with fixed bytes: Package#1 gets CONT and a GET of DevInfo, the Package#3
/// gets END. It reads every request body in full, as a real server must.
pub(crate) async fn baseline_server() -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)>
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let first: Bytes = format!(
        r#"{{"CMD":[["CONT","http://{address}/dm/s/baseline"],["GET","urn:oma:mo:oma-dm-devinfo:1.0//"]]}}"#
    )
    .into();
    let last = Bytes::from_static(br#"{"CMD":[["END"]]}"#);
    let handle = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let first = first.clone();
            let last = last.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let body = if request.uri().path() == "/dm" {
                        first.clone()
                    } else {
                        last.clone()
                    };
                    async move {
                        // Read the package in full before answering.
                        let _ = request.into_body().collect().await;
                        let mut response = Response::new(Full::new(body));
                        response.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static(
                                "application/vnd.oma.dm.request+json",
                            ),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((address, handle))
}

/// `count` events in `elapsed`, per second.
pub(crate) fn per_second(count: usize, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let count = count as f64;
    count / elapsed.as_secs_f64().max(1e-9)
}

/// Times `count` runs of `session` with at most `concurrency` at once;
/// returns (elapsed, sorted latencies, failures). The sessions of a worker
/// that panicked count as failures.
pub(crate) async fn drive<F, Fut>(
    count: usize,
    concurrency: usize,
    session: F,
) -> (Duration, Vec<Duration>, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let session = session.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if index >= count {
                    break;
                }
                let begun = Instant::now();
                if !session(index).await {
                    failures += 1;
                }
                latencies.push(begun.elapsed());
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    for worker in workers {
        match worker.await {
            Ok((mut l, f)) => {
                latencies.append(&mut l);
                failures += f;
            }
            Err(e) => eprintln!("loadtest: a session worker failed: {e}"),
        }
    }
    // Every session of a finished worker left a latency; the others are lost.
    failures += count.saturating_sub(latencies.len());
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    (elapsed, latencies, failures)
}

// ---------------------------------------------------------------------------
// The phases. Each runs in its own release-built process so that one phase's
// freed memory does not hide the next one's growth.

const SERVER_ID: &str = "loadtest";
const DEVINFO: &str = "urn:oma:mo:oma-dm-devinfo:1.0//";

/// The DevID of simulated device `n`: 15 digits like an IMEI.
pub(crate) fn dev_id(n: usize) -> Result<DevId, String> {
    DevId::new(format!("IMEI:{:015}", 490_000_000_000_000 + n))
        .map_err(|e| format!("no DevID for device {n}: {e}"))
}

/// A simulated device for `server_uri`, sharing `transport`.
fn device(n: usize, server_uri: &ServerUri, transport: &Transport) -> Result<DmClient, String> {
    let server_id = ServerId::new(SERVER_ID).map_err(|e| e.to_string())?;
    let devinfo = DevInfo::new(dev_id(n)?, "Acme", "Sim-1");
    let account = DmAcc::new(server_id, server_uri.clone());
    DmClient::builder(devinfo)
        .account(Account::new(account).allow_every_moid(true))
        .transport(transport.clone())
        .build()
        .map_err(|e| e.to_string())
}

fn transport() -> Result<Transport, String> {
    Transport::builder()
        .idle_connections_per_host(256)
        .build()
        .map_err(|e| e.to_string())
}

/// Starts a `DmServer` on a `MemoryStore` with `devices` registered (no
/// credentials) and, when `queue`, a GET of DevInfo queued for each.
/// Returns its session URI.
async fn start_server(
    devices: usize,
    queue: bool,
) -> Result<(ServerUri, std::sync::Arc<DmServer>), String> {
    let (uri, server, _serving) = start_server_on(MemoryStore::new(), devices, queue).await?;
    Ok((uri, server))
}

/// Starts a `DmServer` on `store` with `devices` registered (no
/// credentials, through `Admin::register_devices`) and, when `queue`, a
/// GET of DevInfo queued for each. Returns its session URI, the server and
/// the task serving it.
pub(crate) async fn start_server_on<S: Store>(
    store: S,
    devices: usize,
    queue: bool,
) -> Result<
    (
        ServerUri,
        std::sync::Arc<DmServer<S>>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let options = ServerOptions::builder()
        .server_id(SERVER_ID)
        .admin_token("loadtest")
        // Loopback only; devices are registered without credentials, so the
        // figures measure sessions, not password hashing.
        .dev_mode(true)
        .limits(ServerLimits::default().with_max_sessions(devices.max(10_000)))
        // Every session completes: no expiry sweep runs during a
        // measurement (its transactions would count as the sessions').
        .session(SessionSettings::default().with_expiry_interval(Duration::from_secs(3600)))
        .build()
        .map_err(|e| e.to_string())?;
    let server = std::sync::Arc::new(DmServer::new(options, store, UdpChannel));
    let admin = server.admin();
    let get = Command::from_words(&["GET", DEVINFO]).map_err(|e| e.to_string())?;
    let ids = (0..devices).map(dev_id).collect::<Result<Vec<_>, _>>()?;
    for chunk in ids.chunks(10_000) {
        let batch = chunk
            .iter()
            .map(|id| DeviceRegistration::new(id.clone()))
            .collect();
        admin
            .register_devices(batch)
            .await
            .map_err(|e| format!("registering the devices: {e} (use a fresh store)"))?;
    }
    if queue {
        for dev_id in &ids {
            admin
                .enqueue(dev_id, get.clone())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let serving = server.clone();
    let task = tokio::spawn(async move {
        let _ = serving.serve(listener, std::future::pending()).await;
    });
    let uri = ServerUri::new(format!("http://{address}/dm")).map_err(|e| e.to_string())?;
    Ok((uri, server, task))
}

/// Prints why the first failing session failed; returns false.
fn explain(n: usize, why: &str) -> bool {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| eprintln!("loadtest: session of device {n} failed: {why}"));
    false
}

/// Runs `devices` sessions (Package#1, GET of DevInfo, END) with at most
/// `concurrency` at once against `uri`; returns (elapsed, latencies, failures).
pub(crate) async fn sessions(
    uri: ServerUri,
    devices: usize,
    concurrency: usize,
) -> Result<(Duration, Vec<Duration>, usize), String> {
    let transport = transport()?;
    let server_id = ServerId::new(SERVER_ID).map_err(|e| e.to_string())?;
    Ok(drive(devices, concurrency, move |n| {
        let uri = uri.clone();
        let transport = transport.clone();
        let server_id = server_id.clone();
        async move {
            let mut client = match device(n, &uri, &transport) {
                Ok(client) => client,
                Err(e) => return explain(n, &e),
            };
            match client.run_session(&server_id, Trigger::Client).await {
                Ok(report) if report.completed() && report.commands == 2 => true,
                Ok(report) => explain(
                    n,
                    &format!("{:?} after {} commands", report.end, report.commands),
                ),
                Err(e) => explain(n, &e.to_string()),
            }
        }
    })
    .await)
}

fn report_sessions(name: &str, devices: usize, run: &(Duration, Vec<Duration>, usize)) -> f64 {
    let rate = per_second(devices, run.0);
    println!(
        "{name:<9} {devices} sessions in {:.2} s: {rate:.0} sessions/s, p50 {:.2} ms, p99 {:.2} ms, {} failed",
        run.0.as_secs_f64(),
        percentile(&run.1, 0.50).as_secs_f64() * 1e3,
        percentile(&run.1, 0.99).as_secs_f64() * 1e3,
        run.2
    );
    rate
}

/// Throughput of full sessions against dm-server and against a bare hyper
/// server with fixed answers, through the same client stack.
pub(crate) async fn throughput(devices: usize, concurrency: usize) -> Result<bool, String> {
    let (uri, _server) = start_server(devices, true).await?;
    // A short warm-up of the baseline (connections, allocator).
    let (address, baseline_task) = baseline_server().await.map_err(|e| e.to_string())?;
    let baseline_uri = ServerUri::new(format!("http://{address}/dm")).map_err(|e| e.to_string())?;
    let _ = sessions(baseline_uri.clone(), concurrency.min(devices), concurrency).await?;
    let baseline = sessions(baseline_uri, devices, concurrency).await?;
    let ours = sessions(uri, devices, concurrency).await?;
    baseline_task.abort();
    let base_rate = report_sessions("baseline", devices, &baseline);
    let our_rate = report_sessions("dm-server", devices, &ours);
    let ratio = our_rate / base_rate.max(1e-9);
    let within_minute = ours.0 <= Duration::from_secs(60);
    println!(
        "FIGURE sessions_per_second: ours {our_rate:.0}, baseline {base_rate:.0}; ratio {ratio:.2}x ({} target >= 0.40x)",
        if ratio >= 0.4 { "meets" } else { "MISSES" }
    );
    println!(
        "FIGURE fleet_sessions: {devices} devices, one session each, in {:.1} s, baseline {:.1} s; ratio {:.2}x ({} target < 60 s for 10,000)",
        ours.0.as_secs_f64(),
        baseline.0.as_secs_f64(),
        ours.0.as_secs_f64() / baseline.0.as_secs_f64().max(1e-9),
        if within_minute { "meets" } else { "MISSES" }
    );
    Ok(ratio >= 0.4 && within_minute && ours.2 == 0 && baseline.2 == 0)
}

/// The server of the idle-session figure, alone in its process: prints
/// `SERVING <uri>` and serves until its standard input closes.
async fn idle_server(count: usize) -> Result<bool, String> {
    use std::io::Write as _;
    let (uri, _server) = start_server(count, true).await?;
    println!("SERVING {uri}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// The idle-session server in a child process (so that its resident size
/// holds nothing of the client), and its URI.
fn spawn_idle_server(count: usize) -> Result<(std::process::Child, ServerUri), String> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .args(["loadtest-phase", "idle-server", &count.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the idle-session server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let Some(uri) = line.trim().strip_prefix("SERVING ") else {
        let _ = child.kill();
        return Err(format!("the idle-session server said {line:?}"));
    };
    let uri = ServerUri::new(uri).map_err(|e| e.to_string())?;
    Ok((child, uri))
}

/// Memory per idle open session on the server: sessions that got their
/// first Package#2 (CONT + GET) and wait for Package#3. The server runs in
/// a process of its own; its resident size is read before and after.
pub(crate) async fn idle_sessions(count: usize) -> Result<bool, String> {
    let (mut child, uri) = spawn_idle_server(count)?;
    let pid = child.id().to_string();
    let result = open_idle_sessions(count, &uri, &pid).await;
    // Closing its standard input stops the server.
    drop(child.stdin.take());
    let _ = child.wait();
    result
}

async fn open_idle_sessions(count: usize, uri: &ServerUri, pid: &str) -> Result<bool, String> {
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| e.to_string())?;
    let package1 = br#"{"MOS":[],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;
    // Warm up connection pool and allocator with a few sessions not counted.
    let open = |n: usize| {
        let http = http.clone();
        let uri = uri.clone();
        async move {
            let dev_id = match dev_id(n) {
                Ok(dev_id) => dev_id,
                Err(e) => return explain(n, &e),
            };
            let answer = http
                .post(uri.as_str())
                .header("Content-Type", "application/vnd.oma.dm.initiation+json")
                .header("Accept", "application/vnd.oma.dm.request+json")
                .header("OMADM-DevID", dev_id.as_str())
                .body(&package1[..])
                .send()
                .await;
            match answer {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let body = answer.bytes().await.unwrap_or_default();
                    status == 200 && body.windows(4).any(|w| w == b"CONT")
                        || explain(
                            n,
                            &format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
                        )
                }
                Err(e) => explain(n, &e.to_string()),
            }
        }
    };
    let warm = 64.min(count);
    let mut failures = 0;
    for n in 0..warm {
        if !open(n).await {
            failures += 1;
        }
    }
    let before = rss_of(pid);
    for chunk in (warm..count).collect::<Vec<_>>().chunks(64) {
        let results = futures_join(chunk.iter().map(|&n| open(n))).await;
        failures += results.iter().filter(|ok| !**ok).count();
    }
    let after = rss_of(pid);
    if before == 0 || after == 0 {
        return Err(format!("cannot read the resident size of process {pid}"));
    }
    let opened = (count - warm).max(1);
    let per = after.saturating_sub(before) / opened as u64;
    println!(
        "FIGURE server_idle_session: {per} B per open session over {opened} sessions waiting for Package#3 ({} target <= 16 KiB), {failures} failed",
        if per <= 16 * 1024 { "meets" } else { "MISSES" }
    );
    Ok(per <= 16 * 1024 && failures == 0)
}

/// Awaits every future of `futures` concurrently (spawned tasks).
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<bool>
where
    F: std::future::Future<Output = bool> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap_or(false));
    }
    out
}

/// Memory per idle simulated device: `count` `DmClient`s, each in its own
/// task waiting to be woken; then a sample is woken and runs a session.
pub(crate) async fn fleet(count: usize) -> Result<bool, String> {
    let wake_sample = 1000.min(count);
    let (uri, _server) = start_server(wake_sample, true).await?;
    let transport = transport()?;
    let server_id = ServerId::new(SERVER_ID).map_err(|e| e.to_string())?;
    drop(device(0, &uri, &transport)?); // warm up lazily built statics
    let before = rss_bytes();
    let mut wakers = Vec::with_capacity(count);
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let mut client = device(n, &uri, &transport)?;
        let (wake, woken) = tokio::sync::oneshot::channel::<()>();
        let server_id = server_id.clone();
        wakers.push(wake);
        tasks.push(tokio::spawn(async move {
            if woken.await.is_err() {
                return false;
            }
            // Boxed: the idle task does not carry the session's state.
            match Box::pin(client.run_session(&server_id, Trigger::Client)).await {
                Ok(report) if report.completed() && report.commands == 2 => true,
                Ok(report) => explain(
                    n,
                    &format!("{:?} after {} commands", report.end, report.commands),
                ),
                Err(e) => explain(n, &e.to_string()),
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_bytes();
    let per = after.saturating_sub(before) / count.max(1) as u64;
    println!(
        "FIGURE fleet_idle_device: {per} B per idle simulated device (task + DmClient) over {count} devices ({} target <= 8 KiB)",
        if per <= 8 * 1024 { "meets" } else { "MISSES" }
    );
    // Wake the first `wake_sample` (the ones registered and given a GET).
    let started = Instant::now();
    for wake in wakers.drain(..wake_sample) {
        let _ = wake.send(());
    }
    let mut failures = 0;
    for task in tasks.drain(..wake_sample) {
        if !task.await.unwrap_or(false) {
            failures += 1;
        }
    }
    println!(
        "fleet     woke {wake_sample} of them: {} sessions completed in {:.2} s, {failures} failed",
        wake_sample - failures,
        started.elapsed().as_secs_f64()
    );
    drop(wakers);
    Ok(per <= 8 * 1024 && failures == 0)
}

/// Memory per registered device in the embedded store.
pub(crate) async fn store(count: usize) -> Result<bool, String> {
    let store = MemoryStore::new();
    let before = rss_bytes();
    for n in 0..count {
        let registration = DeviceRegistration::new(dev_id(n)?).with_password(
            &format!("device-{n}"),
            "a password of some length",
            "dm",
        );
        store
            .register_device(registration, false, 0)
            .await
            .map_err(|e| e.to_string())?;
    }
    let after = rss_bytes();
    let per = after.saturating_sub(before) / count.max(1) as u64;
    let stored = store.device_count().await.map_err(|e| e.to_string())?;
    println!(
        "FIGURE store_registered_device: {per} B per registered device (Digest credentials) over {stored} devices ({} target <= 2 KiB)",
        if per <= 2048 { "meets" } else { "MISSES" }
    );
    Ok(per <= 2048 && stored == count)
}

// ---------------------------------------------------------------------------
// Driver

/// Options of `cargo xtask loadtest`.
pub(crate) struct Options {
    devices: usize,
    concurrency: usize,
    fleet: usize,
    store_devices: usize,
    idle_sessions: usize,
    /// `--store` / `--stores`: when any, only the store phases run.
    stores: Vec<String>,
    /// Sessions per store of the `sessions` store phase.
    sessions: usize,
    /// Devices of the `registered` store phase (0: skipped).
    registered: usize,
    /// Devices of the `campaign` phase (0: skipped).
    campaign: usize,
    /// `loadtest campaign`: only the campaign phase runs.
    only_campaign: bool,
    /// `loadtest devices`: only the device-listing phase runs, with this
    /// many devices (`--devices`).
    only_devices: Option<usize>,
    /// `loadtest overhead`: only the overhead phase runs.
    only_overhead: bool,
    /// Rounds of the overhead phase.
    rounds: usize,
    /// Subscribers of the event variants of the overhead phase.
    subscribers: usize,
}

pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        devices: 10_000,
        concurrency: 64,
        fleet: 100_000,
        store_devices: 1_000_000,
        idle_sessions: 10_000,
        stores: Vec::new(),
        sessions: 2_000,
        registered: 1_000_000,
        campaign: 10_000,
        only_campaign: false,
        only_devices: None,
        only_overhead: false,
        rounds: 3,
        subscribers: 100,
    };
    let mut args = args.iter().peekable();
    if args.next_if(|a| *a == "campaign").is_some() {
        options.only_campaign = true;
    } else if args.next_if(|a| *a == "devices").is_some() {
        options.only_devices = Some(1_000_000);
    } else if args.next_if(|a| *a == "overhead").is_some() {
        options.only_overhead = true;
    }
    while let Some(flag) = args.next() {
        if flag == "--stores" {
            for store in ["memory", SCRATCH_SQLITE, FRESH_POSTGRES] {
                if !options.stores.iter().any(|s| s == store) {
                    options.stores.push(store.to_owned());
                }
            }
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--store" {
            crate::loadtest_stores::check_store(value)?;
            options.stores.push(value.clone());
            continue;
        }
        let value = value.replace('_', "");
        let value: usize = value
            .parse()
            .map_err(|_| format!("{flag}: {value:?} is not a count"))?;
        match flag.as_str() {
            "--devices" if options.only_devices.is_some() => {
                options.only_devices = Some(value.max(1));
            }
            "--devices" => options.devices = value.max(1),
            "--concurrency" => options.concurrency = value.max(1),
            "--fleet" => options.fleet = value.max(1),
            "--store-devices" => options.store_devices = value.max(1),
            "--idle-sessions" => options.idle_sessions = value.max(1),
            "--sessions" => options.sessions = value,
            "--registered" => options.registered = value,
            "--campaign-devices" => options.campaign = value,
            "--rounds" => options.rounds = value.max(1),
            "--subscribers" => options.subscribers = value.max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// A phase to run in its own process: its name, its numbers, and the
/// stores it is given (through [`STORES_VARIABLE`]).
type Phase = (&'static str, Vec<usize>, Vec<String>);

/// The phases `options` ask for.
fn phases(options: &Options) -> Vec<Phase> {
    let campaign = ("campaign", vec![options.campaign.max(100)], Vec::new());
    if options.only_campaign {
        return vec![campaign];
    }
    if let Some(count) = options.only_devices {
        let mut stores = vec!["memory".to_owned(), SCRATCH_SQLITE.to_owned()];
        if std::env::var_os("DM_TEST_POSTGRES").is_some() {
            stores.push(FRESH_POSTGRES.to_owned());
        }
        return vec![("devices", vec![count], stores)];
    }
    let overhead = (
        "overhead",
        vec![
            options.devices,
            options.concurrency,
            options.rounds,
            options.subscribers,
        ],
        Vec::new(),
    );
    if options.only_overhead {
        return vec![overhead];
    }
    if options.stores.is_empty() {
        let mut phases = vec![
            (
                "throughput",
                vec![options.devices, options.concurrency],
                Vec::new(),
            ),
            ("idle-sessions", vec![options.idle_sessions], Vec::new()),
            ("fleet", vec![options.fleet], Vec::new()),
            ("store", vec![options.store_devices], Vec::new()),
        ];
        phases.push(overhead);
        if options.campaign > 0 {
            phases.push(campaign);
        }
        return phases;
    }
    let mut phases = Vec::new();
    if options.sessions > 0 {
        phases.push((
            "sessions",
            vec![options.sessions, options.concurrency],
            options.stores.clone(),
        ));
    }
    if options.registered > 0 {
        for store in options.stores.iter().filter(|s| *s != "memory") {
            phases.push(("registered", vec![options.registered], vec![store.clone()]));
        }
    }
    phases
}

/// Builds xtask in release mode and runs each phase in its own process.
pub(crate) fn run(root: &std::path::Path, options: &Options) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--release", "-p", "xtask"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building xtask in release mode failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let binary = target
        .join("release")
        .join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    if let Some(count) = options.only_devices {
        println!("== loadtest of the device listing: {count} devices per store");
    } else if options.only_overhead {
        println!(
            "== loadtest of the cost of watching a server: {} sessions per run at concurrency {}, {} rounds, {} event subscribers",
            options.devices, options.concurrency, options.rounds, options.subscribers
        );
    } else if options.only_campaign {
        println!(
            "== loadtest of a campaign: {} simulated devices",
            options.campaign.max(100)
        );
    } else if options.stores.is_empty() {
        println!(
            "== loadtest: {} devices at concurrency {}, {} idle sessions, {} simulated devices, {} stored devices",
            options.devices,
            options.concurrency,
            options.idle_sessions,
            options.fleet,
            options.store_devices
        );
    } else {
        println!(
            "== loadtest of the stores: {} sessions per store at concurrency {}, {} registered devices per durable store",
            options.sessions, options.concurrency, options.registered
        );
    }
    let mut failed = Vec::new();
    for (phase, numbers, stores) in phases(options) {
        let status = std::process::Command::new(&binary)
            .arg("loadtest-phase")
            .arg(phase)
            .args(numbers.iter().map(ToString::to_string))
            .env(STORES_VARIABLE, stores.join("\n"))
            .status()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        if !status.success() {
            failed.push(phase);
        }
    }
    if failed.is_empty() {
        println!("every figure meets its target");
        Ok(())
    } else {
        Err(format!(
            "phases missing their target or failing: {}",
            failed.join(", ")
        ))
    }
}

/// One phase, in this (release) process.
pub(crate) fn phase(args: &[String]) -> Result<(), String> {
    let numbers: Vec<usize> = args
        .iter()
        .skip(1)
        .map(|a| a.parse().map_err(|_| format!("{a:?} is not a count")))
        .collect::<Result<_, _>>()?;
    let first = numbers.first().copied().unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ok = runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("throughput") => throughput(first, numbers.get(1).copied().unwrap_or(64)).await,
            Some("idle-sessions") => idle_sessions(first).await,
            Some("idle-server") => idle_server(first).await,
            Some("fleet") => fleet(first).await,
            Some("store") => store(first).await,
            Some("campaign") => crate::loadtest_campaign::campaign(first).await,
            Some("devices") => {
                crate::loadtest_devices::devices(first, &stores_of_environment()).await
            }
            Some("overhead") => {
                crate::loadtest_overhead::overhead(
                    first,
                    numbers.get(1).copied().unwrap_or(64),
                    numbers.get(2).copied().unwrap_or(3),
                    numbers.get(3).copied().unwrap_or(100),
                )
                .await
            }
            Some("event-subscribers") => {
                crate::loadtest_subscribers::subscribers_process(first).await
            }
            Some("sessions") => {
                let stores = stores_of_environment();
                store_sessions(first, numbers.get(1).copied().unwrap_or(64), &stores).await
            }
            Some("registered") => {
                let stores = stores_of_environment();
                let store = stores.first().ok_or("registered: no store given")?;
                registered(first, store).await
            }
            other => Err(format!("unknown phase {other:?}")),
        }
    })?;
    if ok {
        Ok(())
    } else {
        Err("target missed or sessions failed".into())
    }
}
