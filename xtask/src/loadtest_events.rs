//! `cargo xtask loadtest events`: what 100 subscribers of the event
//! stream cost the server, as sessions per second with and without them,
//! measured in the same run.
//!
//! Each round starts two fresh servers (a `MemoryStore` each, every device
//! with a GET queued, events on as by default): the baseline runs the
//! sessions with nobody subscribed, the other with N subscribers of
//! `GET /admin/events` connected over real HTTP. The subscribers run in a
//! process of their own at the lowest CPU priority ([`spawn_subscribers`]),
//! so that the figure is the server's cost, not the readers' (on a small
//! machine, 100 readers of every event take a core of their own). Rounds
//! alternate and the best rate of each side counts (the machine is
//! shared). Each subscriber must have received every event of its run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dm_server::MemoryStore;

use crate::loadtest::{per_second, sessions, start_server_on};

/// The goal of the ratio (with subscribers / without).
const GOAL: f64 = 0.95;

/// Rounds of the two runs.
const ROUNDS: usize = 2;

/// Subscribers of `GET /admin/events`, reading in a process of their
/// own ([`spawn_subscribers`]).
pub(crate) struct Subscribers {
    child: std::process::Child,
}

impl Subscribers {
    /// Disconnects them; the fewest events one of them received, and the
    /// bytes they received in all.
    pub(crate) fn stop(mut self) -> Result<(u64, u64), String> {
        use std::io::BufRead as _;
        // Closing its standard input stops the process.
        drop(self.child.stdin.take());
        let stdout = self.child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let _ = self.child.wait();
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("RECEIVED"), Some(fewest), Some(bytes)) => Ok((
                fewest
                    .parse()
                    .map_err(|_| format!("subscribers said {line:?}"))?,
                bytes
                    .parse()
                    .map_err(|_| format!("subscribers said {line:?}"))?,
            )),
            _ => Err(format!("the subscribers said {line:?}")),
        }
    }
}

/// Connects `count` subscribers to `url` (e.g.
/// `http://127.0.0.1:8080/admin/events`) with the bearer `token`, in a
/// child process at the lowest CPU priority (`nice -n 19`, when there is
/// such a command): the server's figure then holds the server's work for
/// its subscribers, not the readers'. Returns once every one has its
/// `200`. A reusable launcher: any phase measuring the cost of event
/// subscribers starts them so.
pub(crate) fn spawn_subscribers(
    url: &str,
    token: &str,
    count: usize,
    per_device: bool,
) -> Result<Subscribers, String> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let nice = std::process::Command::new("nice")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if nice {
        let mut command = std::process::Command::new("nice");
        command.args(["-n", "19"]).arg(exe);
        command
    } else {
        std::process::Command::new(exe)
    };
    let mut child = command
        .args(["loadtest-phase", "event-subscribers", &count.to_string()])
        .env("DM_LOADTEST_EVENTS_URL", url)
        .env("DM_LOADTEST_EVENTS_TOKEN", token)
        .env(
            "DM_LOADTEST_EVENTS_PER_DEVICE",
            if per_device { "1" } else { "" },
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the subscribers: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim() != "CONNECTED" {
        let _ = child.kill();
        return Err(format!("the subscribers said {line:?}"));
    }
    child.stdout = Some(reader.into_inner());
    Ok(Subscribers { child })
}

/// The subscribers' process: connects `count` of them (URL and token in
/// the environment; with `DM_LOADTEST_EVENTS_PER_DEVICE` set, subscriber
/// `n` asks only for the events of load-test device `n`), prints `CONNECTED`, reads until its standard input
/// closes, then prints `RECEIVED <fewest events> <bytes>`. An event is
/// counted by its frame's four line ends (`id`, `event`, `data`, blank).
pub(crate) async fn subscribers_process(count: usize) -> Result<bool, String> {
    use std::io::Write as _;
    let url = std::env::var("DM_LOADTEST_EVENTS_URL").map_err(|e| e.to_string())?;
    let token = std::env::var("DM_LOADTEST_EVENTS_TOKEN").map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let lines: Arc<Vec<AtomicU64>> = Arc::new((0..count).map(|_| AtomicU64::new(0)).collect());
    let bytes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let per_device = std::env::var("DM_LOADTEST_EVENTS_PER_DEVICE").is_ok_and(|v| !v.is_empty());
    let mut tasks = Vec::new();
    for n in 0..count {
        let target = if per_device {
            let dev_id = crate::loadtest::dev_id(n)?;
            format!("{url}?dev_id={}", dev_id.as_str().replace(':', "%3A"))
        } else {
            url.clone()
        };
        let mut response = client
            .get(&target)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| format!("subscriber {n}: {e}"))?;
        if response.status() != 200 {
            return Err(format!("subscriber {n}: HTTP {}", response.status()));
        }
        let (lines, bytes, stop) = (lines.clone(), bytes.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(100), response.chunk()).await {
                    Ok(Ok(Some(chunk))) => {
                        bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        // Vectorized by the compiler; no crate needed for it.
                        #[allow(clippy::naive_bytecount)]
                        let ends = chunk.iter().filter(|b| **b == b'\n').count();
                        lines[n].fetch_add(ends as u64, Ordering::Relaxed);
                    }
                    Ok(_) => return,
                    Err(_) => {}
                }
            }
        }));
    }
    println!("CONNECTED");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // Let the readers take what is on its way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let fewest = lines
        .iter()
        .map(|n| n.load(Ordering::Relaxed) / 4)
        .min()
        .unwrap_or(0);
    println!("RECEIVED {fewest} {}", bytes.load(Ordering::Relaxed));
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    Ok(true)
}

/// One run: a fresh server, `subscribers` of its events, `devices`
/// sessions; sessions per second and what the subscribers got.
async fn run(
    devices: usize,
    concurrency: usize,
    subscribers: usize,
    per_device: bool,
) -> Result<(f64, u64, u64), String> {
    let (uri, server, task) = start_server_on(MemoryStore::new(), devices, true).await?;
    let base = uri.as_str().trim_end_matches("/dm").to_owned();
    let readers = if subscribers > 0 {
        Some(spawn_subscribers(
            &format!("{base}/admin/events"),
            "loadtest",
            subscribers,
            per_device,
        )?)
    } else {
        None
    };
    let run = sessions(uri, devices, concurrency).await?;
    if run.2 > 0 {
        return Err(format!("{} sessions failed", run.2));
    }
    let rate = per_second(devices, run.0);
    // Each session: command.finished and session.ended.
    let expected = if per_device { 2 } else { 2 * devices as u64 };
    let (mut fewest, mut bytes) = (0, 0);
    if let Some(readers) = readers {
        // The events still on their way (appended within 50 ms).
        tokio::time::sleep(Duration::from_millis(500)).await;
        (fewest, bytes) = readers.stop()?;
        if fewest < expected {
            return Err(format!(
                "a subscriber received {fewest} of {expected} events"
            ));
        }
    }
    task.abort();
    drop(server);
    Ok((rate, fewest, bytes))
}

/// The phase: rounds of the baseline, of `subscribers` subscribers of
/// every event, and of as many subscribers of one device's events each.
pub(crate) async fn events(
    devices: usize,
    concurrency: usize,
    subscribers: usize,
) -> Result<bool, String> {
    // Warm-up (connections, allocator), not counted.
    run(devices.min(1000), concurrency, 0, false).await?;
    let (mut base, mut every, mut filtered) = (0f64, 0f64, 0f64);
    let mut received = 0;
    for round in 0..ROUNDS {
        let (rate, _, _) = run(devices, concurrency, 0, false).await?;
        println!(
            "events    round {round}: {devices} sessions, no subscriber: {rate:.0} sessions/s"
        );
        base = base.max(rate);
        let (rate, fewest, bytes) = run(devices, concurrency, subscribers, false).await?;
        println!(
            "events    round {round}: {devices} sessions, {subscribers} subscribers of every event: {rate:.0} sessions/s (each got {fewest} events, {bytes} bytes in all)"
        );
        every = every.max(rate);
        received = fewest;
        let (rate, fewest, bytes) = run(devices, concurrency, subscribers, true).await?;
        println!(
            "events    round {round}: {devices} sessions, {subscribers} subscribers of one device each: {rate:.0} sessions/s (each got >= {fewest} events, {bytes} bytes in all)"
        );
        filtered = filtered.max(rate);
    }
    let ratio = every / base.max(1e-9);
    let filtered_ratio = filtered / base.max(1e-9);
    let meets = |r: f64| if r >= GOAL { "meets" } else { "MISSES" };
    println!(
        "FIGURE event_subscribers: {every:.0} sessions/s with {subscribers} subscribers of every event, {base:.0} without; ratio {ratio:.2}x ({} target >= {GOAL:.2}x; each subscriber got {received} events)",
        meets(ratio)
    );
    println!(
        "FIGURE event_subscribers_filtered: {filtered:.0} sessions/s with {subscribers} subscribers of one device each, {base:.0} without; ratio {filtered_ratio:.2}x ({} target >= {GOAL:.2}x)",
        meets(filtered_ratio)
    );
    Ok(ratio >= GOAL && filtered_ratio >= GOAL)
}
