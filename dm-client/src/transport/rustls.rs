//! The default backend: reqwest over rustls (ring provider, TLS 1.3 and
//! 1.2), with the server verification of [`TlsSettings`].

use std::sync::Arc;
use std::time::Duration;

use dm_session::TransportFailure;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::exchange::{Answer, AnswerBody, Outgoing, SendFailure, describe};
use super::material::TlsSettings;
use crate::error::{Error, TlsMaterial};

/// An [`Error::Tls`] about `material`.
fn tls(material: TlsMaterial, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        material,
        reason: reason.to_string(),
    }
}

/// The reqwest client with its rustls configuration.
pub(super) fn client(
    settings: TlsSettings,
    connect_timeout: Duration,
    idle_connections_per_host: usize,
) -> Result<reqwest::Client, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls(TlsMaterial::ProtocolVersions, e))?;
    let builder = if let Some(certificate) = settings.server_certificate {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(certificate.clone())
            .map_err(|e| tls(TlsMaterial::ServerCertificate, e))?;
        let issued = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| tls(TlsMaterial::ServerCertificate, e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ExpectedServer {
                certificate,
                issued,
            }))
    } else if settings.roots.is_empty() {
        let verifier = rustls_platform_verifier::Verifier::new(provider)
            .map_err(|e| tls(TlsMaterial::PlatformTrustStore, e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for root in settings.roots {
            roots
                .add(root)
                .map_err(|e| tls(TlsMaterial::CaCertificate, e))?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match settings.identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls(TlsMaterial::ClientIdentity, e))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(connect_timeout)
        .pool_max_idle_per_host(idle_connections_per_host)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(Error::Http)
}

/// Sends `outgoing` once.
pub(super) async fn send(
    client: &reqwest::Client,
    outgoing: Outgoing<'_>,
) -> Result<Answer, SendFailure> {
    let mut builder = client
        .request(outgoing.method, outgoing.uri)
        .timeout(outgoing.timeout)
        .headers(outgoing.headers);
    if let Some(body) = outgoing.body {
        builder = builder.body(body);
    }
    match builder.send().await {
        Ok(response) => Ok(Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: AnswerBody::Reqwest(response),
        }),
        Err(error) => Err(SendFailure {
            kind: failure_kind(&error),
            while_sending: error.is_request(),
            reason: reason(&error),
        }),
    }
}

/// The failure on one line; an unexpected server certificate says so in
/// its own words rather than in rustls's debug form.
fn reason(error: &reqwest::Error) -> String {
    if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other)))) =
        rustls_failure(error)
        && let Some(unexpected) = other.downcast_ref::<UnexpectedServerCertificate>()
    {
        return format!("TLS handshake: {unexpected}");
    }
    describe(error)
}

/// The kind of a failed send: TLS failures are never transient, connection
/// failures mean nothing was sent.
fn failure_kind(error: &reqwest::Error) -> TransportFailure {
    if rustls_failure(error).is_some() {
        TransportFailure::Tls
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if error.is_timeout() {
        TransportFailure::Timeout
    } else {
        TransportFailure::Interrupted
    }
}

/// The rustls error among the causes (certificate or handshake failure:
/// not transient), also inside I/O errors (hyper-rustls wraps
/// tokio-rustls's I/O error, which wraps rustls's, in another one).
fn rustls_failure<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let mut inner = Some(e);
        while let Some(candidate) = inner {
            if let Some(failure) = candidate.downcast_ref::<rustls::Error>() {
                return Some(failure);
            }
            inner = candidate
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .map(|wrapped| wrapped as &'a (dyn std::error::Error + 'static));
        }
        current = e.source();
    }
    None
}

/// The server verification of
/// [`TransportBuilder::server_certificate_der`](crate::TransportBuilder::server_certificate_der):
/// the presented certificate is the expected one (its host name and dates
/// are then not checked: it is the server's identity itself), or a chain
/// that verifies up to it as the only trust anchor, for the host name.
#[derive(Debug)]
struct ExpectedServer {
    certificate: CertificateDer<'static>,
    issued: Arc<WebPkiServerVerifier>,
}

/// The presented certificate is not the expected one, nor issued by it.
#[derive(Debug)]
struct UnexpectedServerCertificate(rustls::Error);

impl std::fmt::Display for UnexpectedServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate is not the expected server certificate and does not \
             verify up to it for this host ({})",
            self.0
        )
    }
}

impl std::error::Error for UnexpectedServerCertificate {}

impl ServerCertVerifier for ExpectedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            return Ok(ServerCertVerified::assertion());
        }
        self.issued
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    UnexpectedServerCertificate(e),
                ))))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.issued.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.issued.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.issued.supported_verify_schemes()
    }
}
