//! User names cannot be enumerated: a 401 for a user name nobody has is
//! byte for byte the 401 for a registered user with a wrong password, for
//! Basic and for Digest (SHA-256 and MD5), over raw sockets. Only the
//! `Date` header and the fresh challenge nonce differ between any two
//! answers, and the test masks exactly those two.

use dm_test_support::hostile_client as support;
use dm_test_support::server as common;

use std::time::Duration;

use common::*;
use support::{authority, basic, head};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends `request` on a new connection and reads the whole answer (the
/// request says `Connection: close`).
async fn exchange(base: &str, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(authority(base))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8(answer).expect("an ASCII answer")
}

/// A Package#1 post of device 1 with this `Authorization`.
fn package1(server: &TestServer, authorization: &str) -> Vec<u8> {
    let length = P1.len().to_string();
    let mut request = head(
        "POST",
        "/dm",
        support::authority(&server.base),
        &[
            ("Content-Type", INITIATION),
            ("Accept", REQUEST),
            ("OMADM-DevID", DEV1),
            ("Authorization", authorization),
            ("Content-Length", &length),
            ("Connection", "close"),
        ],
    )
    .into_bytes();
    request.extend_from_slice(P1.as_bytes());
    request
}

/// The answer without its `Date` header and with every `nonce="..."`
/// value replaced by `nonce="*"`: what must not differ.
fn masked(answer: &str) -> String {
    let mut out = String::new();
    for line in answer.split_inclusive("\r\n") {
        if line.to_ascii_lowercase().starts_with("date:") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("nonce=\"") {
            let (before, after) = rest.split_at(at + "nonce=\"".len());
            out.push_str(before);
            out.push('*');
            rest = &after[after.find('"').expect("a closed nonce")..];
        }
        out.push_str(rest);
    }
    out
}

/// The challenge of `algorithm` in a 401.
fn challenge(answer: &str, algorithm: &str) -> String {
    answer
        .lines()
        .filter_map(|l| l.strip_prefix("www-authenticate: "))
        .find(|v| v.starts_with("Digest") && v.contains(&format!("algorithm={algorithm}")))
        .unwrap_or_else(|| panic!("no {algorithm} challenge in {answer}"))
        .to_owned()
}

#[tokio::test]
async fn basic_answers_an_unknown_user_as_a_wrong_password() {
    let server = TestServer::start(options().build().expect("options")).await;
    let wrong_password = exchange(&server.base, &package1(&server, &basic(USER1, "guess"))).await;
    let unknown_user = exchange(&server.base, &package1(&server, &basic("nobody", "guess"))).await;
    assert!(
        wrong_password.starts_with("HTTP/1.1 401 "),
        "{wrong_password}"
    );
    assert_eq!(masked(&unknown_user), masked(&wrong_password));
    // The mask hides only the nonce and the date: two answers for the same
    // request are equal under it, and the right password still works.
    let again = exchange(&server.base, &package1(&server, &basic("nobody", "guess"))).await;
    assert_eq!(masked(&again), masked(&unknown_user));
    let right = exchange(&server.base, &package1(&server, &basic(USER1, PASS1))).await;
    assert!(right.starts_with("HTTP/1.1 200 "), "{right}");
}

async fn digest_answers_an_unknown_user_as_a_wrong_password(algorithm: &str) {
    let server = TestServer::start(options().build().expect("options")).await;
    let first = exchange(&server.base, &package1(&server, "Digest")).await;
    assert!(first.starts_with("HTTP/1.1 401 "), "{first}");
    let challenge = challenge(&first, algorithm);
    let answer = |user: &str, password: &str| {
        digest_answer(&challenge, user, password, "POST", "/dm", P1.as_bytes())
    };
    let wrong_password = exchange(&server.base, &package1(&server, &answer(USER1, "guess"))).await;
    let unknown_user = exchange(&server.base, &package1(&server, &answer("nobody", "guess"))).await;
    assert!(
        wrong_password.starts_with("HTTP/1.1 401 "),
        "{wrong_password}"
    );
    assert_eq!(
        masked(&unknown_user),
        masked(&wrong_password),
        "Digest {algorithm}"
    );
    // The same nonce with the right password is accepted: the refusals
    // above were about the credentials, not the nonce.
    let right = exchange(&server.base, &package1(&server, &answer(USER1, PASS1))).await;
    assert!(right.starts_with("HTTP/1.1 200 "), "{right}");
}

#[tokio::test]
async fn digest_sha256_answers_an_unknown_user_as_a_wrong_password() {
    digest_answers_an_unknown_user_as_a_wrong_password("SHA-256").await;
}

#[tokio::test]
async fn digest_md5_answers_an_unknown_user_as_a_wrong_password() {
    digest_answers_an_unknown_user_as_a_wrong_password("MD5").await;
}
