//! `dm serve --store`: what it says when the store cannot be used.

mod common;

#[cfg(feature = "postgres")]
use std::time::{Duration, Instant};

/// A PostgreSQL address where nothing listens: `dm serve` stops at once
/// (bounded by the connect timeout) with an error naming the host and the
/// cause, never the password.
#[cfg(feature = "postgres")]
#[test]
fn an_unreachable_database_is_named_with_its_cause() {
    let started = Instant::now();
    let output = common::dm(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://dm:s3cret@127.0.0.1:1/dm",
        ],
        b"",
    );
    assert!(started.elapsed() < Duration::from_secs(20), "bounded");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
}

/// Without PostgreSQL support built in, the store is refused with how to
/// get it.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_build_without_postgres_says_how_to_get_it() {
    let output = common::dm(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://h/db",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--features postgres"), "{stderr}");
}

/// A store location that names no store is refused before anything
/// starts, with the forms accepted.
#[test]
fn an_unknown_store_is_refused_with_the_accepted_forms() {
    let output = common::dm(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "mysql://h/db",
        ],
        b"",
    );
    assert_ne!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sqlite:PATH") && stderr.contains("memory"),
        "{stderr}"
    );
}
