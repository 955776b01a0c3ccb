//! HTTPS with a private CA and a TLS client certificate (rcgen at test
//! time), on loopback.

use dm_test_support::device as common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dm_client::{ClientEnd, Credentials, Transport};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_pem: String,
    client_pem: String,
    client_der: Vec<u8>,
    client_key_pem: String,
    ca_der: CertificateDer<'static>,
}

fn pki() -> Pki {
    let (ca_cert, issuer) = test_ca("dm-client test CA");
    let (server_cert, server_key) = signed_certificate(&issuer, &["127.0.0.1", "localhost"], None);
    let (client_cert, client_key) = signed_certificate(&issuer, &[], Some(DEV_ID));
    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server_chain: vec![server_cert.der().clone()],
        server_key_pem: server_key.serialize_pem(),
        client_pem: client_cert.pem(),
        client_der: client_cert.der().to_vec(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// A server that requires a client certificate issued by the test CA.
fn server_config(pki: &Pki) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).expect("key"),
        )
        .expect("server config");
    Arc::new(config)
}

fn answer(seen: &Seen) -> Reply {
    first_then_end(
        seen,
        r#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//DevID"]]}"#,
    )
}

/// A transport with `attempts` tries, trusting the test CA when `trust`
/// and presenting the client certificate when `identify`.
fn tls_transport(pki: &Pki, trust: bool, identify: bool, attempts: u32) -> Transport {
    let mut builder = Transport::builder().retry(fast_retry(attempts));
    if trust {
        builder = builder.ca_pem(pki.ca_pem.as_bytes());
    }
    if identify {
        builder =
            builder.client_identity_pem(pki.client_pem.as_bytes(), pki.client_key_pem.as_bytes());
    }
    builder.build().expect("transport")
}

#[tokio::test]
async fn https_with_a_private_ca_and_a_client_certificate() {
    let pki = pki();
    let server = serve_on(0, Some(server_config(&pki)), Arc::new(answer)).await;
    assert!(server.base.starts_with("https://"));
    let transport = tls_transport(&pki, true, true, 3);
    let mut client = client_over(&server.base, Credentials::None, transport);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        // The server identifies the device by the SHA-256 of its certificate.
        assert_eq!(request.client_certificate, Some(sha256(&pki.client_der)));
    }
    assert_eq!(statuses(&seen[1]), [200]);
}

#[tokio::test]
async fn tls_failures_abort_at_once_without_retries() {
    let pki = pki();
    let server = serve_on(0, Some(server_config(&pki)), Arc::new(answer)).await;

    // No client certificate: the server refuses the handshake.
    let transport = tls_transport(&pki, true, false, 10);
    let mut client = client_over(&server.base, Credentials::None, transport);
    let started = Instant::now();
    let report = client_initiated(&mut client).await;
    assert!(
        matches!(&report.end, ClientEnd::Aborted(reason) if reason.to_string().contains("CertificateRequired")),
        "{report}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "TLS failures are not retried"
    );

    // The platform trust store does not know the test CA.
    let transport = tls_transport(&pki, false, true, 10);
    let mut client = client_over(&server.base, Credentials::None, transport);
    let report = client_initiated(&mut client).await;
    assert!(
        matches!(&report.end, ClientEnd::Aborted(reason) if reason.to_string().contains("certificate")),
        "{report}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_cont_from_https_to_http_is_refused_and_the_session_stays_on_https() {
    let pki = pki();
    // A plain-HTTP endpoint a hostile server would like the session moved to.
    let plain = serve(|_| Reply::package(END)).await;
    let downgrade = format!("{}/dm/s/plain", plain.base);
    let server = serve_on(
        0,
        Some(server_config(&pki)),
        Arc::new(move |seen: &Seen| {
            if seen.is_package1() {
                Reply::package(format!(
                    r#"{{"CMD":[["CONT","{downgrade}"],["GET","urn:oma:mo:oma-dm-devinfo:1.0//DevID"]]}}"#
                ))
            } else {
                Reply::package(END)
            }
        }),
    )
    .await;
    let transport = tls_transport(&pki, true, true, 1);
    let mut client = client_over(&server.base, Credentials::None, transport);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    // The CONT is answered 403 in a Package#3 posted over https to the
    // current URI; nothing reached the plain endpoint.
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(statuses(&seen[1]), [403, 200]);
    assert!(plain.requests().is_empty());
}
