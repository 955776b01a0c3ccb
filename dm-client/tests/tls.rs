//! HTTPS with a private CA and a TLS client certificate (rcgen at test
//! time), on loopback; the expected server certificate of a bootstrap
//! account and DER client identities, on every TLS backend built.

use dm_test_support::device as common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dm_client::{
    AbortReason, ClientEnd, Credentials, Error, SessionReport, TlsBackend, TlsMaterial, Transport,
    TransportBuilder, TransportFailure,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_pem: String,
    client_pem: String,
    client_der: Vec<u8>,
    client_key_pem: String,
    client_key_der: Vec<u8>,
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
        client_key_der: client_key.serialize_der(),
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

/// The backends of this build.
fn backends() -> Vec<TlsBackend> {
    [TlsBackend::Rustls, TlsBackend::OpenSsl]
        .into_iter()
        .filter(|backend| backend.is_available())
        .collect()
}

/// A server presenting `certificate` (with its key), asking for no client
/// certificate.
fn server_presenting(
    certificate: &rcgen::Certificate,
    key: &rcgen::KeyPair,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key"),
        )
        .expect("server config");
    Arc::new(config)
}

/// A transport on `backend` with five fast tries.
fn on(backend: TlsBackend) -> TransportBuilder {
    Transport::builder().backend(backend).retry(fast_retry(5))
}

async fn session(base: &str, transport: Transport) -> SessionReport {
    let mut client = client_over(base, Credentials::None, transport);
    client_initiated(&mut client).await
}

/// The session ended on a TLS failure (never retried) saying `words`.
fn assert_tls_abort(report: &SessionReport, words: &str) {
    match &report.end {
        ClientEnd::Aborted(AbortReason::NoAnswer { kind, detail }) => {
            assert_eq!(*kind, TransportFailure::Tls, "{report}");
            assert!(detail.contains(words), "{detail}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[tokio::test]
async fn the_expected_server_certificate_is_trusted_whatever_its_name_and_no_other() {
    // A bootstrap server's self-signed certificate, for a name that is not
    // the URI's host: pinned, it is the server's identity itself.
    let (pinned, pinned_key) = self_signed_certificate(&["bootstrap.invalid"]);
    let (other, other_key) = self_signed_certificate(&["127.0.0.1"]);
    let server = serve_on(
        0,
        Some(server_presenting(&pinned, &pinned_key)),
        Arc::new(answer),
    )
    .await;
    let impostor = serve_on(
        0,
        Some(server_presenting(&other, &other_key)),
        Arc::new(answer),
    )
    .await;
    for backend in backends() {
        let transport = on(backend)
            .server_certificate_der(pinned.der().to_vec())
            .build()
            .expect("transport");
        let report = session(&server.base, transport.clone()).await;
        assert!(report.completed(), "{backend}: {report}");
        let report = session(&impostor.base, transport).await;
        assert_tls_abort(&report, "is not the expected server certificate");

        // Without it, the platform's trust store knows neither.
        let report = session(&server.base, on(backend).build().expect("transport")).await;
        assert!(!report.completed(), "{backend}: {report}");
    }
    assert_eq!(server.requests().len(), 2 * backends().len());
    assert!(impostor.requests().is_empty());
}

#[tokio::test]
async fn a_chain_issued_by_the_expected_certificate_is_trusted_for_its_host_only() {
    let (ca, issuer) = test_ca("bootstrap CA");
    let (leaf, leaf_key) = signed_certificate(&issuer, &["127.0.0.1"], None);
    let (misnamed, misnamed_key) = signed_certificate(&issuer, &["elsewhere.invalid"], None);
    let (_, foreign_issuer) = test_ca("another CA");
    let (foreign, foreign_key) = signed_certificate(&foreign_issuer, &["127.0.0.1"], None);
    let good = serve_on(
        0,
        Some(server_presenting(&leaf, &leaf_key)),
        Arc::new(answer),
    )
    .await;
    let elsewhere = serve_on(
        0,
        Some(server_presenting(&misnamed, &misnamed_key)),
        Arc::new(answer),
    )
    .await;
    let stranger = serve_on(
        0,
        Some(server_presenting(&foreign, &foreign_key)),
        Arc::new(answer),
    )
    .await;
    for backend in backends() {
        let by_ca = on(backend)
            .server_certificate_der(ca.der().to_vec())
            .build()
            .expect("transport");
        let report = session(&good.base, by_ca.clone()).await;
        assert!(report.completed(), "{backend}: {report}");
        // Issued by the CA, but for another host.
        let report = session(&elsewhere.base, by_ca.clone()).await;
        assert_tls_abort(&report, "is not the expected server certificate");
        // Issued by another CA.
        let report = session(&stranger.base, by_ca).await;
        assert_tls_abort(&report, "is not the expected server certificate");

        // The misnamed leaf itself, expected: accepted (pinned, not a CA).
        let pinned = on(backend)
            .server_certificate_der(misnamed.der().to_vec())
            .build()
            .expect("transport");
        let report = session(&elsewhere.base, pinned).await;
        assert!(report.completed(), "{backend}: {report}");
    }
    assert_eq!(good.requests().len(), 2 * backends().len());
    assert_eq!(elsewhere.requests().len(), 2 * backends().len());
    assert!(stranger.requests().is_empty());
}

#[tokio::test]
async fn der_and_pem_client_identities_are_presented() {
    let pki = pki();
    let server = serve_on(0, Some(server_config(&pki)), Arc::new(answer)).await;
    for backend in backends() {
        let trusting = || on(backend).ca_pem(pki.ca_pem.as_bytes());
        let transports = [
            trusting()
                .client_identity_der(vec![pki.client_der.clone()], pki.client_key_der.clone()),
            trusting().client_identity(&pki.client_der, &pki.client_key_der),
            trusting().client_identity(pki.client_pem.as_bytes(), pki.client_key_pem.as_bytes()),
            trusting().client_identity(pki.client_pem.as_bytes(), &pki.client_key_der),
            trusting().client_identity(&pki.client_der, pki.client_key_pem.as_bytes()),
        ];
        for transport in transports {
            let report = session(&server.base, transport.build().expect("transport")).await;
            assert!(report.completed(), "{backend}: {report}");
        }
        // A key that is not the certificate's is refused at build.
        let stranger_key = rcgen::KeyPair::generate().expect("key").serialize_der();
        let err = trusting()
            .client_identity_der(vec![pki.client_der.clone()], stranger_key)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tls {
                    material: TlsMaterial::ClientIdentity,
                    ..
                }
            ),
            "{backend}: {err}"
        );
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 2 * 5 * backends().len());
    for request in &seen {
        assert_eq!(request.client_certificate, Some(sha256(&pki.client_der)));
    }
}
