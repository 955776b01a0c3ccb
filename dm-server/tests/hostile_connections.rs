//! Bounded memory under many hostile connections: 1,000 connections that
//! each trickle a request head at one byte per second cost the server a
//! small, bounded amount of memory each, do not stop it from serving, and
//! are all closed by the header timeout.
//!
//! The memory is read from the process's resident size, so this file holds
//! one test only: nothing else allocates meanwhile.

#![cfg(target_os = "linux")]

use dm_test_support::hostile_client as support;
use dm_test_support::server as common;

use std::time::{Duration, Instant};

use common::*;
use dm_server::ServerLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The soft limit on open files of this process.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// Keeps trickling one byte per second into `stream` until the server
/// closes it; returns when that happened (`None`: still open at
/// `give_up`).
async fn trickle_until_closed(
    mut stream: TcpStream,
    started: Instant,
    give_up: Duration,
) -> Option<Duration> {
    let mut buffer = [0u8; 1024];
    let head = b"POST /dm HTTP/1.1\r\nHost: x\r\n";
    let mut next = 1;
    while started.elapsed() < give_up {
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
            // Closed (an answer, 408, may come first: read on).
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => {
                let byte = head[next % head.len()];
                next += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_connections_cost_little_memory_and_are_closed_by_the_header_timeout()
{
    const WANTED: usize = 1000;
    // Both ends of every connection live in this process: two descriptors
    // each, plus a margin for the runtime and the test's own sockets.
    let soft_limit = open_files_limit().unwrap_or(1024);
    let connections = WANTED.min(soft_limit.saturating_sub(100) / 2);
    if connections < WANTED {
        eprintln!(
            "the open-files soft limit is {soft_limit}: {connections} connections instead of {WANTED}"
        );
    }
    assert!(connections >= 100, "too few descriptors to test anything");

    // Longer than the second between two bytes, so that only a timeout on
    // the head as a whole closes the connections; and long enough that
    // opening them all on a loaded machine fits well within it.
    let header_timeout = Duration::from_secs(2);
    let limits = ServerLimits::default().with_header_timeout(header_timeout);
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    let address = support::authority(&server.base).to_owned();
    let http = client();

    // Warm up: a full request and a few short-lived connections, so that
    // what is allocated once is in the baseline.
    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream.write_all(b"P").await.expect("send");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let before = resident();
    let started = Instant::now();
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream.write_all(b"P").await.expect("send the first byte");
        streams.push(stream);
    }
    // Let the server accept and start reading every one of them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = resident();
    let opened_in = started.elapsed();
    assert!(
        opened_in < header_timeout,
        "measured after {opened_in:?}: some connections may already be closed"
    );
    let per_connection = during.saturating_sub(before) / connections;
    eprintln!(
        "{connections} slow connections: resident size {} KiB -> {} KiB, {per_connection} bytes per connection",
        before / 1024,
        during / 1024
    );
    assert!(
        per_connection < 64 << 10,
        "{per_connection} bytes per connection"
    );

    // The server still serves meanwhile, promptly.
    let served = Instant::now();
    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    assert!(
        served.elapsed() < Duration::from_millis(500),
        "{:?}",
        served.elapsed()
    );

    // Every slow connection is closed by the header timeout, although a
    // byte arrives every second.
    let mut closing = tokio::task::JoinSet::new();
    for stream in streams {
        closing.spawn(trickle_until_closed(
            stream,
            started,
            Duration::from_secs(8),
        ));
    }
    let mut closed_at = Vec::with_capacity(connections);
    while let Some(result) = closing.join_next().await {
        closed_at.push(result.expect("task").expect("closed by the server"));
    }
    let first = closed_at.iter().min().copied().unwrap_or_default();
    let last = closed_at.iter().max().copied().unwrap_or_default();
    eprintln!("closed between {first:?} and {last:?}");
    assert!(
        first >= header_timeout.saturating_sub(Duration::from_millis(100)),
        "{first:?}"
    );
    assert!(
        last < header_timeout + opened_in + Duration::from_millis(1500),
        "{last:?}"
    );
}
