//! The update package downloader against a real HTTP file server on
//! loopback that serves ranges and cuts connections for real.

use std::time::Duration;

use dm_client::update::{
    Corruption, DownloadError, Downloader, MemorySink, PackageSink as _, PackageSource, Progress,
    to_hex,
};
use dm_client::{RetryPolicy, Transport};
use dm_test_support::file_server::{Behaviour, FileServer};
use dm_types::update::FumoResult;
use sha2::{Digest as _, Sha256};

fn package(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

fn downloader() -> Downloader {
    let retry = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    };
    Downloader::new(Transport::builder().build().expect("transport")).retry(retry)
}

fn source(server: &FileServer, content: &[u8]) -> PackageSource {
    PackageSource::new(server.url())
        .size(content.len() as u64)
        .sha256_hex(&sha256_hex(content))
        .expect("digest")
}

#[tokio::test]
async fn a_whole_package_is_stored_with_its_digest_and_progress() {
    let content = package(300_000);
    let server = FileServer::start(content.clone(), Behaviour::default()).await;
    let mut sink = MemorySink::new(1 << 20);
    let mut seen = Vec::new();
    let done = downloader()
        .download(&source(&server, &content), &mut sink, &mut |p: Progress| {
            seen.push(p);
        })
        .await
        .expect("downloaded");
    assert_eq!(done.size, 300_000);
    assert_eq!(done.requests, 1);
    assert_eq!(sink.bytes(), &content[..]);
    assert_eq!(to_hex(&done.sha256), sha256_hex(&content));
    let last = seen.last().expect("progress reported");
    assert_eq!((last.received, last.total), (300_000, Some(300_000)));
    assert!(seen.windows(2).all(|w| w[0].received < w[1].received));
}

#[tokio::test]
async fn a_cut_connection_resumes_with_a_range() {
    let content = package(200_000);
    let behaviour = Behaviour {
        cuts: vec![70_000, 50_000],
        ..Behaviour::default()
    };
    let server = FileServer::start(content.clone(), behaviour).await;
    let mut sink = MemorySink::new(1 << 20);
    let done = downloader()
        .download(&source(&server, &content), &mut sink, &mut |_| {})
        .await
        .expect("downloaded after two cuts");
    assert_eq!(sink.bytes(), &content[..]);
    assert_eq!(done.requests, 3);
    let served = server.served();
    assert_eq!(served.len(), 3);
    assert_eq!(served[0].range, None);
    assert_eq!(served[1].range.as_deref(), Some("bytes=70000-"));
    assert_eq!(served[1].status, 206);
    assert_eq!(served[2].range.as_deref(), Some("bytes=120000-"));
    // Nothing was fetched twice.
    assert_eq!(server.body_bytes(), 200_000);
}

#[tokio::test]
async fn a_server_ignoring_ranges_restarts_the_package_from_zero() {
    let content = package(100_000);
    let behaviour = Behaviour {
        cuts: vec![40_000],
        ignore_range: true,
        ..Behaviour::default()
    };
    let server = FileServer::start(content.clone(), behaviour).await;
    let mut sink = MemorySink::new(1 << 20);
    let done = downloader()
        .download(&source(&server, &content), &mut sink, &mut |_| {})
        .await
        .expect("downloaded");
    assert_eq!(sink.bytes(), &content[..]);
    assert_eq!(done.requests, 2);
    assert_eq!(server.served()[1].status, 200);
    assert_eq!(server.body_bytes(), 140_000);
}

#[tokio::test]
async fn another_digest_is_a_corrupted_package() {
    let content = package(10_000);
    let server = FileServer::start(content.clone(), Behaviour::default()).await;
    let wrong = PackageSource::new(server.url())
        .size(10_000)
        .sha256_hex(&sha256_hex(b"something else"))
        .expect("digest");
    let error = downloader()
        .download(&wrong, &mut MemorySink::new(1 << 20), &mut |_| {})
        .await
        .expect_err("refused");
    assert!(
        matches!(error, DownloadError::Corrupted(Corruption::Digest { .. })),
        "{error}"
    );
    assert_eq!(error.fumo_result(), FumoResult::CORRUPTED_PACKAGE);
}

#[tokio::test]
async fn more_bytes_than_announced_stop_the_download_early() {
    let content = package(2_000_000);
    // Without Content-Length, the bytes read must be counted.
    let behaviour = Behaviour {
        hide_length: true,
        ..Behaviour::default()
    };
    let server = FileServer::start(content.clone(), behaviour).await;
    let announced = PackageSource::new(server.url()).size(50_000);
    let mut sink = MemorySink::new(1 << 22);
    let mut received = 0;
    let error = downloader()
        .download(&announced, &mut sink, &mut |p| received = p.received)
        .await
        .expect_err("refused");
    assert_eq!(
        error,
        DownloadError::Corrupted(Corruption::Longer { announced: 50_000 })
    );
    assert_eq!(error.fumo_result().code(), 402);
    assert!(received <= 50_000, "stored {received}");
    assert!(sink.held() <= 50_000);

    // With Content-Length, nothing of the body is read.
    let server = FileServer::start(content, Behaviour::default()).await;
    let error = downloader()
        .download(
            &PackageSource::new(server.url()).size(50_000),
            &mut sink,
            &mut |p| received = p.received,
        )
        .await
        .expect_err("refused");
    assert_eq!(error.fumo_result().code(), 402);
    assert_eq!(sink.held(), 0);
}

#[tokio::test]
async fn the_products_limit_holds_whatever_is_announced() {
    let content = package(100_000);
    let server = FileServer::start(content.clone(), Behaviour::default()).await;
    let small = downloader().max_size(10_000);
    let error = small
        .download(
            &source(&server, &content),
            &mut MemorySink::new(1 << 20),
            &mut |_| {},
        )
        .await
        .expect_err("too large");
    assert_eq!(
        error,
        DownloadError::TooLarge {
            size: 100_000,
            limit: 10_000
        }
    );
    assert!(server.served().is_empty(), "refused before any request");
    let error = small
        .download(
            &PackageSource::new(server.url()),
            &mut MemorySink::new(1 << 20),
            &mut |_| {},
        )
        .await
        .expect_err("too large");
    assert_eq!(error.fumo_result(), FumoResult::DOWNLOAD_OUT_OF_MEMORY);
}

#[tokio::test]
async fn network_failures_after_every_try_are_503_and_bad_urls_411() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let error = downloader()
        .download(
            &PackageSource::new(format!("http://127.0.0.1:{port}/p")),
            &mut MemorySink::new(10),
            &mut |_| {},
        )
        .await
        .expect_err("unreachable");
    assert!(
        matches!(error, DownloadError::Network { tries: 3, .. }),
        "{error}"
    );
    assert_eq!(error.fumo_result(), FumoResult::DOWNLOAD_NETWORK_ERROR);
    for url in ["ftp://x.example/p", "not a url", ""] {
        let error = downloader()
            .download(
                &PackageSource::new(url),
                &mut MemorySink::new(10),
                &mut |_| {},
            )
            .await
            .expect_err("bad URL");
        assert_eq!(error.fumo_result(), FumoResult::BAD_URL, "{url}");
    }
}

#[tokio::test]
async fn server_statuses_map_to_results_and_a_short_body_is_corrupted() {
    let content = package(1000);
    for (status, code) in [(404, 500), (500, 500), (503, 412), (403, 406)] {
        let behaviour = Behaviour {
            status: Some(status),
            ..Behaviour::default()
        };
        let server = FileServer::start(content.clone(), behaviour).await;
        let error = downloader()
            .download(
                &source(&server, &content),
                &mut MemorySink::new(1 << 20),
                &mut |_| {},
            )
            .await
            .expect_err("refused");
        assert_eq!(error.fumo_result().code(), code, "HTTP {status}");
    }
    let server = FileServer::start(content[..900].to_vec(), Behaviour::default()).await;
    let error = downloader()
        .download(
            &source(&server, &content),
            &mut MemorySink::new(1 << 20),
            &mut |_| {},
        )
        .await
        .expect_err("short");
    assert_eq!(
        error,
        DownloadError::Corrupted(Corruption::Shorter {
            announced: 1000,
            received: 900
        })
    );
}

#[tokio::test]
async fn cuts_without_progress_exhaust_the_tries() {
    let content = package(1000);
    let behaviour = Behaviour {
        cuts: vec![0, 0, 0, 0],
        ..Behaviour::default()
    };
    let server = FileServer::start(content.clone(), behaviour).await;
    let error = downloader()
        .download(
            &source(&server, &content),
            &mut MemorySink::new(1 << 20),
            &mut |_| {},
        )
        .await
        .expect_err("gave up");
    assert!(
        matches!(error, DownloadError::Network { tries: 3, .. }),
        "{error}"
    );
    assert_eq!(server.served().len(), 3);
}

/// The OpenSSL backend downloads and resumes alike.
#[cfg(feature = "openssl")]
#[tokio::test]
async fn the_openssl_backend_resumes_too() {
    let content = package(150_000);
    let behaviour = Behaviour {
        cuts: vec![33_000],
        ..Behaviour::default()
    };
    let server = FileServer::start(content.clone(), behaviour).await;
    let transport = Transport::builder()
        .backend(dm_client::TlsBackend::OpenSsl)
        .build()
        .expect("transport");
    let retry = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    };
    let mut sink = MemorySink::new(1 << 20);
    let done = Downloader::new(transport)
        .retry(retry)
        .download(&source(&server, &content), &mut sink, &mut |_| {})
        .await
        .expect("downloaded");
    assert_eq!(done.requests, 2);
    assert_eq!(sink.bytes(), &content[..]);
    assert_eq!(server.served()[1].range.as_deref(), Some("bytes=33000-"));
}
