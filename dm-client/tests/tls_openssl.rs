//! The OpenSSL backend against real OpenSSL servers on loopback: PSK-TLS
//! (RFC 4279) with the suites of the specification, a wrong key or an
//! unexpected identity hint, X.509 with a client certificate over a TLS 1.2
//! suite rustls lacks, and the connect and request timeouts.
#![cfg(feature = "openssl")]

use dm_test_support::device as common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use dm_client::{
    AbortReason, ClientEnd, Credentials, SessionReport, TlsBackend, Transport, TransportBuilder,
    TransportFailure,
};
use openssl::dh::Dh;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslContext, SslContextBuilder, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use tokio_openssl::SslStream;

const IDENTITY: &[u8] = b"IMEI:493005100592800";
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// What the server saw of each TLS connection: the suite negotiated, or
/// why the handshake failed.
type Handshakes = Arc<Mutex<Vec<Result<String, String>>>>;

/// An OpenSSL server on `context`, answering like a DM server, recording
/// every handshake.
async fn serve_openssl(context: SslContext, handshakes: &Handshakes) -> TestServer {
    let handshakes = handshakes.clone();
    serve_tls_with(
        move |tcp| {
            let context = context.clone();
            let handshakes = handshakes.clone();
            async move {
                let ssl = Ssl::new(&context).expect("ssl");
                let mut stream = SslStream::new(ssl, tcp).expect("stream");
                match std::pin::Pin::new(&mut stream).accept().await {
                    Ok(()) => {
                        let suite = stream
                            .ssl()
                            .current_cipher()
                            .map_or_else(String::new, |c| c.name().to_owned());
                        handshakes.lock().expect("lock").push(Ok(suite));
                        let fingerprint = stream
                            .ssl()
                            .peer_certificate()
                            .map(|c| sha256(&c.to_der().expect("DER")));
                        Some((stream, fingerprint))
                    }
                    Err(e) => {
                        handshakes.lock().expect("lock").push(Err(e.to_string()));
                        None
                    }
                }
            }
        },
        Arc::new(|seen: &Seen| {
            first_then_end(
                seen,
                r#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//DevID"]]}"#,
            )
        }),
    )
    .await
}

/// A PSK-only server (TLS 1.2) offering `suites`, knowing [`IDENTITY`]
/// with `key`.
fn psk_server(suites: &str, key: &'static [u8]) -> SslContext {
    let mut builder = SslContext::builder(SslMethod::tls_server()).expect("context");
    builder
        .set_max_proto_version(Some(SslVersion::TLS1_2))
        .expect("version");
    builder.set_cipher_list(suites).expect("suites");
    builder
        .set_tmp_dh(&Dh::get_2048_256().expect("DH"))
        .expect("DH");
    builder.set_psk_server_callback(move |_, identity, out| {
        if identity != Some(IDENTITY) {
            return Ok(0);
        }
        out[..key.len()].copy_from_slice(key);
        Ok(key.len())
    });
    builder.build()
}

fn psk_client(attempts: u32) -> TransportBuilder {
    Transport::builder()
        .backend(TlsBackend::OpenSsl)
        .retry(fast_retry(attempts))
        .psk(IDENTITY.to_vec(), KEY.to_vec())
}

async fn session(base: &str, transport: Transport) -> SessionReport {
    let mut client = client_over(base, Credentials::None, transport);
    client_initiated(&mut client).await
}

/// The session ended without an answer of this `kind`, saying `words`.
fn assert_no_answer(report: &SessionReport, expected: TransportFailure, words: &str) {
    match &report.end {
        ClientEnd::Aborted(AbortReason::NoAnswer { kind, detail }) => {
            assert_eq!(*kind, expected, "{report}");
            assert!(detail.contains(words), "{detail}");
        }
        other => panic!("expected no answer ({expected:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn psk_sessions_run_with_every_kind_of_psk_suite() {
    for suite in [
        "PSK-AES128-GCM-SHA256",
        "PSK-AES128-CBC-SHA256",
        "DHE-PSK-AES128-GCM-SHA256",
        "DHE-PSK-AES128-CBC-SHA256",
        "ECDHE-PSK-AES128-CBC-SHA256",
    ] {
        let handshakes = Handshakes::default();
        let server = serve_openssl(psk_server(suite, KEY), &handshakes).await;
        let report = session(&server.base, psk_client(1).build().expect("transport")).await;
        assert!(report.completed(), "{suite}: {report}");
        assert_eq!(server.requests().len(), 2, "{suite}");
        let seen = handshakes.lock().expect("lock").clone();
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|h| h.as_deref() == Ok(suite)), "{seen:?}");
    }
}

#[tokio::test]
async fn a_wrong_psk_is_a_tls_failure_and_is_not_retried() {
    let handshakes = Handshakes::default();
    let server = serve_openssl(psk_server("PSK-AES128-GCM-SHA256", KEY), &handshakes).await;
    // The right identity with another key.
    let transport = Transport::builder()
        .backend(TlsBackend::OpenSsl)
        .retry(fast_retry(5))
        .psk(IDENTITY.to_vec(), b"another key, same identity".to_vec())
        .build()
        .expect("transport");
    let report = session(&server.base, transport).await;
    assert_no_answer(&report, TransportFailure::Tls, "TLS handshake");
    // An identity the server does not know.
    let transport = Transport::builder()
        .backend(TlsBackend::OpenSsl)
        .retry(fast_retry(5))
        .psk(b"IMEI:1".to_vec(), KEY.to_vec())
        .build()
        .expect("transport");
    let report = session(&server.base, transport).await;
    assert_no_answer(&report, TransportFailure::Tls, "TLS handshake");
    // One handshake each: TLS failures are never retried.
    let seen = handshakes.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(Result::is_err), "{seen:?}");
    assert!(server.requests().is_empty());
    // Nothing of the key shows in the failure.
    assert!(!report.to_string().contains("0123456789abcdef"));
}

#[tokio::test]
async fn the_psk_identity_hint_must_be_the_expected_one() {
    let handshakes = Handshakes::default();
    // The server sends no hint (ECDHE-PSK always carries the hint field,
    // empty here).
    let server = serve_openssl(psk_server("ECDHE-PSK-AES128-CBC-SHA256", KEY), &handshakes).await;
    let transport = psk_client(5)
        .psk_identity_hint(b"dm bootstrap".to_vec())
        .build()
        .expect("transport");
    let report = session(&server.base, transport).await;
    assert_no_answer(
        &report,
        TransportFailure::Tls,
        "the server's PSK identity hint is not the expected one",
    );
    assert!(server.requests().is_empty());
    // An empty expected hint: the server must send none, and sends none.
    let transport = psk_client(1)
        .psk_identity_hint(Vec::new())
        .build()
        .expect("transport");
    let report = session(&server.base, transport).await;
    assert!(report.completed(), "{report}");
}

/// An X.509 server on TLS 1.2 with `suites`, requiring a client
/// certificate issued by `client_ca`.
fn x509_server(
    suites: &str,
    certificate: &rcgen::Certificate,
    key: &rcgen::KeyPair,
    client_ca: &rcgen::Certificate,
) -> SslContext {
    let mut builder: SslContextBuilder =
        SslContext::builder(SslMethod::tls_server()).expect("context");
    builder
        .set_max_proto_version(Some(SslVersion::TLS1_2))
        .expect("version");
    builder.set_cipher_list(suites).expect("suites");
    let certificate = X509::from_der(certificate.der()).expect("certificate");
    builder.set_certificate(&certificate).expect("certificate");
    let key = PKey::private_key_from_der(&key.serialize_der()).expect("key");
    builder.set_private_key(&key).expect("key");
    let mut store = X509StoreBuilder::new().expect("store");
    store
        .add_cert(X509::from_der(client_ca.der()).expect("CA"))
        .expect("CA");
    builder.set_verify_cert_store(store.build()).expect("store");
    builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    builder.build()
}

#[tokio::test]
async fn x509_with_a_client_certificate_over_a_cbc_suite_rustls_lacks() {
    let (ca, issuer) = test_ca("dm CA");
    let (server_certificate, server_key) = signed_certificate(&issuer, &["127.0.0.1"], None);
    let (client_certificate, client_key) = signed_certificate(&issuer, &[], Some(DEV_ID));
    let handshakes = Handshakes::default();
    let suite = "ECDHE-ECDSA-AES128-SHA256";
    let server = serve_openssl(
        x509_server(suite, &server_certificate, &server_key, &ca),
        &handshakes,
    )
    .await;
    let client = |backend| {
        Transport::builder()
            .backend(backend)
            .retry(fast_retry(1))
            .ca_pem(ca.pem().as_bytes())
            .client_identity_der(
                vec![client_certificate.der().to_vec()],
                client_key.serialize_der(),
            )
            .build()
            .expect("transport")
    };
    let report = session(&server.base, client(TlsBackend::OpenSsl)).await;
    assert!(report.completed(), "{report}");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(
            request.client_certificate,
            Some(sha256(client_certificate.der()))
        );
    }
    assert!(
        handshakes
            .lock()
            .expect("lock")
            .iter()
            .all(|h| h.as_deref() == Ok(suite))
    );

    // rustls offers no CBC suite: no common suite.
    let report = session(&server.base, client(TlsBackend::Rustls)).await;
    assert_no_answer(&report, TransportFailure::Tls, "");

    // Without the client certificate the server refuses the handshake.
    let bare = Transport::builder()
        .backend(TlsBackend::OpenSsl)
        .retry(fast_retry(3))
        .ca_pem(ca.pem().as_bytes())
        .build()
        .expect("transport");
    let report = session(&server.base, bare).await;
    assert_no_answer(&report, TransportFailure::Tls, "TLS handshake");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_stalled_handshake_is_a_connect_failure_retried_and_a_stalled_answer_a_timeout() {
    // A server that accepts TCP and never speaks TLS.
    let accepted = Arc::new(Mutex::new(0usize));
    let count = accepted.clone();
    let mute = serve_tls_with(
        move |tcp| {
            *count.lock().expect("lock") += 1;
            async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(tcp);
                None::<(tokio::net::TcpStream, Option<[u8; 32]>)>
            }
        },
        Arc::new(|_: &Seen| Reply::package(END)),
    )
    .await;
    let transport = psk_client(3)
        .connect_timeout(Duration::from_millis(200))
        .build()
        .expect("transport");
    let report = session(&mute.base, transport).await;
    assert_no_answer(&report, TransportFailure::Connect, "connect timed out");
    // Nothing was sent: every try connects again.
    assert_eq!(*accepted.lock().expect("lock"), 3);

    // A server that completes the handshake and never answers: the
    // Package#1 POST times out and is not sent again.
    let handshakes = Handshakes::default();
    let context = psk_server("PSK-AES128-GCM-SHA256", KEY);
    let log = handshakes.clone();
    let silent = serve_tls_with(
        move |tcp| {
            let context = context.clone();
            let log = log.clone();
            async move {
                let mut stream =
                    SslStream::new(Ssl::new(&context).expect("ssl"), tcp).expect("stream");
                let done = std::pin::Pin::new(&mut stream).accept().await;
                log.lock()
                    .expect("lock")
                    .push(done.map(|()| String::new()).map_err(|e| e.to_string()));
                tokio::time::sleep(Duration::from_secs(30)).await;
                None::<(SslStream<tokio::net::TcpStream>, Option<[u8; 32]>)>
            }
        },
        Arc::new(|_: &Seen| Reply::package(END)),
    )
    .await;
    let transport = psk_client(3)
        .request_timeout(Duration::from_millis(300))
        .build()
        .expect("transport");
    let report = session(&silent.base, transport).await;
    assert_no_answer(&report, TransportFailure::Timeout, "timed out");
    let seen = handshakes.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].is_ok(), "{seen:?}");
}

#[tokio::test]
async fn both_backends_speak_tls_1_2_with_the_gcm_suite_of_the_specification() {
    let (ca, issuer) = test_ca("dm CA");
    let (server_certificate, server_key) = signed_certificate(&issuer, &["127.0.0.1"], None);
    let (client_certificate, client_key) = signed_certificate(&issuer, &[], Some(DEV_ID));
    let handshakes = Handshakes::default();
    let suite = "ECDHE-ECDSA-AES128-GCM-SHA256";
    let server = serve_openssl(
        x509_server(suite, &server_certificate, &server_key, &ca),
        &handshakes,
    )
    .await;
    for backend in [TlsBackend::Rustls, TlsBackend::OpenSsl] {
        let transport = Transport::builder()
            .backend(backend)
            .retry(fast_retry(1))
            .ca_pem(ca.pem().as_bytes())
            .client_identity(client_certificate.der(), &client_key.serialize_der())
            .build()
            .expect("transport");
        let report = session(&server.base, transport).await;
        assert!(report.completed(), "{backend}: {report}");
    }
    assert_eq!(server.requests().len(), 4);
    let seen = handshakes.lock().expect("lock").clone();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|h| h.as_deref() == Ok(suite)), "{seen:?}");
}
