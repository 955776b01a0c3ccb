//! Subscribers of the event stream for the load tests: a launcher
//! ([`spawn_subscribers`]) that connects them over real HTTP from a
//! process of their own at the lowest CPU priority, and that process
//! ([`subscribers_process`]). `cargo xtask loadtest overhead` uses them
//! for its event variants (see `loadtest_overhead.rs`); any phase
//! measuring the cost of subscribers starts them so, so that the figure
//! is the server's work for its subscribers, not the readers' (on a small
//! machine, 100 readers of every event take a core of their own, and
//! [`Subscribers::cpu`] says how much).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Subscribers of `GET /admin/events`, reading in a process of their
/// own ([`spawn_subscribers`]).
pub(crate) struct Subscribers {
    child: std::process::Child,
}

impl Subscribers {
    /// The CPU time their process has used so far (user and system;
    /// zero where there is no Linux `/proc`).
    pub(crate) fn cpu(&self) -> Duration {
        crate::loadtest::cpu_of(&self.child.id().to_string())
    }

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
    // Raised when the readers are to stop (watched, not polled: no timer
    // per chunk).
    let (stop, stopping) = tokio::sync::watch::channel(false);
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
        let (lines, bytes, mut stopping) = (lines.clone(), bytes.clone(), stopping.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    chunk = response.chunk() => match chunk {
                        Ok(Some(chunk)) => {
                            bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            // Vectorized by the compiler; no crate needed for it.
                            #[allow(clippy::naive_bytecount)]
                            let ends = chunk.iter().filter(|b| **b == b'\n').count();
                            lines[n].fetch_add(ends as u64, Ordering::Relaxed);
                        }
                        _ => return,
                    },
                    _ = stopping.wait_for(|stop| *stop) => return,
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
    let _ = stop.send(true);
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
