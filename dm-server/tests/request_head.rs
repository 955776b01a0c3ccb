//! The request-head limit (`ServerLimits::header_bytes`) is exact whatever
//! the write pattern: a head of exactly the limit is served, one byte more
//! is refused (431, or the connection closed when the server stops reading
//! before the head's end), whether it comes in one write or in small
//! pieces.

use dm_test_support::hostile_client as support;
use dm_test_support::server as common;

use std::time::Duration;

use common::*;
use dm_server::ServerLimits;
use support::{Answer, Raw, authority};

/// A `GET /repo/x` head (no credentials: a served one is answered 401) of
/// exactly `size` bytes, padded with a filler header.
fn head_of(base: &str, size: usize) -> Vec<u8> {
    let start = format!(
        "GET /repo/x HTTP/1.1\r\nHost: {}\r\nOMADM-DevID: {DEV1}\r\nX-Filler: ",
        authority(base)
    );
    let end = "\r\n\r\n";
    let filler = size - start.len() - end.len();
    let head = format!("{start}{}{end}", "f".repeat(filler));
    assert_eq!(head.len(), size);
    head.into_bytes()
}

/// Sends `head` in one write, or in pieces of `piece` bytes each flushed
/// on its own; returns the answer.
async fn send_head(base: &str, head: &[u8], piece: Option<usize>) -> Answer {
    let mut raw = Raw::connect(base).await;
    let _ = raw.stream.set_nodelay(true);
    match piece {
        None => {
            let _ = raw.send(head).await;
        }
        Some(piece) => {
            for chunk in head.chunks(piece) {
                if !raw.send(chunk).await {
                    break;
                }
                // Lets each piece arrive apart from the next.
                tokio::task::yield_now().await;
            }
        }
    }
    raw.answer(Duration::from_secs(5)).await
}

async fn check_exact_limit(limits: ServerLimits) {
    let limit = limits.header_bytes;
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    for piece in [None, Some(512), Some(7)] {
        let at_limit = send_head(&server.base, &head_of(&server.base, limit), piece).await;
        assert_eq!(
            at_limit,
            Answer::Status(401),
            "a head of exactly {limit} bytes is served ({piece:?})"
        );
        let over = send_head(&server.base, &head_of(&server.base, limit + 1), piece).await;
        assert!(
            over.is_status_or_closed(431),
            "a head of {} bytes is refused ({piece:?}): {over:?}",
            limit + 1
        );
    }
    // Far over the limit in one write, as reproduced: 70 KB against 64 KiB.
    let huge = send_head(
        &server.base,
        &head_of(&server.base, 70_000.max(limit + 5000)),
        None,
    )
    .await;
    assert!(huge.is_status_or_closed(431), "{huge:?}");
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200, "still serving");
}

#[tokio::test]
async fn the_default_head_limit_is_exact_in_one_write_and_in_pieces() {
    check_exact_limit(ServerLimits::default()).await;
}

#[tokio::test]
async fn a_configured_head_limit_is_exact_in_one_write_and_in_pieces() {
    check_exact_limit(ServerLimits::default().with_header_bytes(10_000)).await;
}
