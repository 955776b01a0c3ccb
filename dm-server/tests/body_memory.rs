//! The resident memory of a server under the upload attack that once took
//! it from 55 MB to 870 MB: 50 repository uploads of 16 MiB held one byte
//! short and 50 Package#1 of 4 MiB, all from one authenticated device, at
//! the default limits. The server runs alone in a child process (this test
//! binary started again), so its resident size is its own and not the
//! attacking client's; its peak (`VmHWM`) is read from `/proc`, so no
//! sampling can miss it. Afterwards the memory must go back.
//!
//! This file holds one test: nothing else runs in either process.

#![cfg(target_os = "linux")]

use dm_test_support::server as common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dm_server::ServerLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Set in the child: serve instead of attacking.
const SERVE: &str = "DM_SERVER_BODY_MEMORY_SERVE";
const TEST: &str = "hostile_uploads_leave_the_server_process_within_its_body_budget";
const MIB: usize = 1 << 20;

fn limits() -> ServerLimits {
    // The defaults (4 MiB packages, 16 MiB repository bodies, 4 requests
    // per device, a 256 MiB budget), with a short body timeout so that the
    // held uploads end soon.
    ServerLimits::default().with_body_timeout(Duration::from_secs(2))
}

/// The child: serves, prints `LISTENING <base>`, answers each `stats`
/// line on stdin with `STATS <buffered> <peak>`, stops at end of input.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let options = options().limits(limits()).build().expect("options");
        let server = TestServer::start(options).await;
        println!("LISTENING {}", server.base);
        std::io::stdout().flush().expect("stdout");
        let stats = server.server.clone();
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lines() {
                if line.is_err() {
                    break;
                }
                println!(
                    "STATS {} {}",
                    stats.buffered_body_bytes(),
                    stats.peak_buffered_body_bytes()
                );
                let _ = std::io::stdout().flush();
            }
        })
        .await
        .expect("stdin reader");
        server.stop().await.expect("stopped");
    });
}

/// The server process, stopped when dropped.
struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    base: String,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(SERVE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let base = line_starting(&mut stdout, "LISTENING ");
        ServerProcess {
            child,
            stdin,
            stdout,
            base,
        }
    }

    /// `(buffered, peak)` body bytes, as the server counts them.
    fn stats(&mut self) -> (usize, usize) {
        let stdin = self.stdin.as_mut().expect("running");
        writeln!(stdin, "stats").expect("ask");
        stdin.flush().expect("ask");
        let line = line_starting(&mut self.stdout, "STATS ");
        let mut numbers = line
            .split(' ')
            .map(|n| n.parse::<usize>().expect("a number"));
        (
            numbers.next().expect("buffered"),
            numbers.next().expect("peak"),
        )
    }

    /// `(resident, peak resident)` of the server process, in bytes.
    fn resident(&self) -> (usize, usize) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("procfs");
        let field = |name: &str| -> usize {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
                .expect("a VmRSS and VmHWM")
                * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // End of input stops the server; kill it if it does not stop.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn line_starting(stdout: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout.read_line(&mut line).expect("the server's output");
        assert!(read > 0, "the server process ended before {prefix:?}");
        // The test harness may have written on the same line first.
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim_end().to_owned();
        }
    }
}

/// One hostile upload: `head`, then `body` but its last `held_back`
/// bytes; returns the status answered (0: closed without one).
async fn upload(address: String, head: String, body: Arc<Vec<u8>>, held_back: usize) -> u16 {
    let Ok(stream) = TcpStream::connect(&address).await else {
        return 0;
    };
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let sent = body.len() - held_back;
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body[..sent]).await;
        }
        // Holds the connection open, the rest never sent.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(writer);
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(8), reader.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    writing.abort();
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn upload_head(
    address: &str,
    method: &str,
    target: &str,
    content_type: &str,
    length: usize,
) -> String {
    use base64::Engine as _;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{USER1}:{PASS1}"));
    format!(
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {credentials}\r\n\
         OMADM-DevID: {DEV1}\r\nContent-Type: {content_type}\r\nAccept: {REQUEST}\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

#[test]
fn hostile_uploads_leave_the_server_process_within_its_body_budget() {
    if std::env::var_os(SERVE).is_some() {
        serve();
        return;
    }
    let repository_limit = limits().codec.mo_data_bytes;
    let package_limit = limits().codec.package_bytes;
    let per_device = limits().requests_per_device;
    assert_eq!(
        (repository_limit, package_limit, per_device),
        (16 * MIB, 4 * MIB, 4)
    );

    let mut server = ServerProcess::start();
    let base = server.base.clone();
    let address = base.trim_start_matches("http://").to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // A whole session first, so that what a session costs is in the
    // baseline.
    runtime.block_on(async {
        let response = post_package(
            &client(),
            &format!("{base}/dm"),
            INITIATION,
            DEV2,
            P1,
            BASIC2,
        )
        .await;
        assert_eq!(response.status(), 200);
    });
    let (before, _) = server.resident();

    let repository_body = Arc::new(vec![b' '; repository_limit]);
    let package_body = Arc::new(vec![b' '; package_limit]);
    let answers = runtime.block_on(async {
        let mut attack = Vec::new();
        for i in 0..50 {
            let head = upload_head(
                &address,
                "PUT",
                &format!("/repo/h/{i}"),
                MO_DATA,
                repository_limit,
            );
            attack.push(tokio::spawn(upload(
                address.clone(),
                head,
                repository_body.clone(),
                1,
            )));
            let head = upload_head(&address, "POST", "/dm", INITIATION, package_limit);
            attack.push(tokio::spawn(upload(
                address.clone(),
                head,
                package_body.clone(),
                0,
            )));
        }
        // Under attack, another device is served.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let response = post_package(
            &client(),
            &format!("{base}/dm"),
            INITIATION,
            DEV2,
            P1,
            BASIC2,
        )
        .await;
        assert_eq!(response.status(), 200, "device 2 is served under attack");
        let mut answers = Vec::new();
        for upload in attack {
            answers.push(upload.await.expect("no panic"));
        }
        answers
    });
    assert!(
        answers.iter().filter(|s| **s == 429).count() >= 50,
        "most uploads were refused at once: {answers:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let (buffered, peak_buffered) = loop {
        let stats = server.stats();
        if stats.0 == 0 || Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (after, peak) = server.resident();
    let grown = |bytes: usize| bytes.saturating_sub(before) / MIB;
    eprintln!(
        "server resident: {} MiB before, peak +{} MiB, +{} MiB after; body bytes peak {} MiB",
        before / MIB,
        grown(peak),
        grown(after),
        peak_buffered / MIB
    );
    assert_eq!(buffered, 0, "every share was given back");
    // The hostile device's requests in flight, each of the largest body,
    // plus the Package#1 device 2 posted meanwhile, plus one body in the
    // handoff when a connection the attacker closed gives back its slot on
    // one worker thread while its body share is given back a moment later
    // and another upload of the device takes the slot on another thread
    // (seen once: 4 x 16 MiB + 4 MiB). The server-wide budget bounds it all.
    assert!(
        peak_buffered <= (per_device + 1) * repository_limit + P1.len(),
        "{peak_buffered}"
    );
    // At the peak, what the server may hold for one device's bodies (its
    // requests in flight, each of the largest body) plus 32 MiB for the
    // connections and the allocator; afterwards the memory has gone back
    // (at most half of that stays). Without the per-device cap and the
    // budget the same attack left this debug build over 140 MiB larger
    // (815 MB in the release build, where bodies arrive faster).
    let one_device = per_device * repository_limit / MIB;
    assert!(
        grown(peak) <= one_device + 32,
        "peak resident grew by {} MiB",
        grown(peak)
    );
    assert!(
        grown(after) <= one_device / 2,
        "resident after the attack grew by {} MiB",
        grown(after)
    );
}
