//! The `openssl` backend: hyper-util's pooled HTTP/1.1 client (the one
//! reqwest is built on) over connections of the system OpenSSL, for
//! PSK-TLS (RFC 4279) and the TLS 1.2 suites of the specification.
//!
//! Only the connection differs from the rustls backend: the request logic
//! is the transport's, and the answer is read through
//! [`AnswerBody::Hyper`] until the request's deadline.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use dm_session::TransportFailure;
use http_body_util::Full;
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use openssl::ex_data::Index;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslConnector, SslContext, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509VerifyResult};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::exchange::{Answer, AnswerBody, Outgoing, SendFailure, describe};
use super::material::{Psk, TlsSettings};
use crate::error::{Error, TlsMaterial};

/// The TLS 1.2 suites offered with certificates: forward-secret ones only,
/// those of the specification (`ECDHE_ECDSA` and `DHE_RSA` with AES-128
/// GCM or CBC-SHA256) and their usual companions. TLS 1.3 suites are
/// OpenSSL's defaults.
const X509_SUITES: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
DHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256:DHE-RSA-AES128-SHA256";

/// The PSK suites offered (TLS 1.2): those of the specification that need
/// no server certificate, forward-secret ones first.
const PSK_SUITES: &str = "ECDHE-PSK-AES128-CBC-SHA256:DHE-PSK-AES128-GCM-SHA256:\
DHE-PSK-AES128-CBC-SHA256:PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256";

/// An [`Error::Tls`] about `material`.
fn tls(material: TlsMaterial, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        material,
        reason: reason.to_string(),
    }
}

/// The slot of an SSL connection where the PSK callback says why it
/// refused to go on.
fn refusal_index() -> Result<Index<Ssl, &'static str>, Error> {
    static INDEX: OnceLock<Option<Index<Ssl, &'static str>>> = OnceLock::new();
    INDEX
        .get_or_init(|| Ssl::new_ex_index().ok())
        .ok_or_else(|| {
            tls(
                TlsMaterial::Backend,
                "OpenSSL has no room for connection data",
            )
        })
}

/// The HTTP client of the OpenSSL backend.
pub(super) struct Client {
    http: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
}

impl Client {
    pub(super) fn new(
        settings: TlsSettings,
        connect_timeout: Duration,
        idle_connections_per_host: usize,
    ) -> Result<Client, Error> {
        let refusal = refusal_index()?;
        let context = context(settings, refusal)?;
        let connector = Connector {
            inner: Arc::new(ConnectorInner {
                context: context.context,
                verify_host: context.verify_host,
                pinned: context.pinned,
                connect_timeout,
                refusal,
            }),
        };
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(idle_connections_per_host)
            .build(connector);
        Ok(Client { http })
    }

    /// Sends `outgoing` once, within its timeout (connection included).
    pub(super) async fn send(&self, outgoing: Outgoing<'_>) -> Result<Answer, SendFailure> {
        let deadline = tokio::time::Instant::now() + outgoing.timeout;
        let unsendable = |reason: String| SendFailure {
            kind: TransportFailure::Interrupted,
            while_sending: false,
            reason,
        };
        let uri: Uri = outgoing
            .uri
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| unsendable(e.to_string()))?;
        let mut request = hyper::Request::builder()
            .method(outgoing.method)
            .uri(uri)
            .body(Full::new(outgoing.body.unwrap_or_default()))
            .map_err(|e| unsendable(e.to_string()))?;
        *request.headers_mut() = outgoing.headers;
        match tokio::time::timeout_at(deadline, self.http.request(request)).await {
            Err(_) => Err(SendFailure {
                kind: TransportFailure::Timeout,
                while_sending: true,
                reason: "operation timed out".into(),
            }),
            Ok(Err(error)) => Err(send_failure(&error)),
            Ok(Ok(response)) => {
                let (parts, body) = response.into_parts();
                Ok(Answer {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body: AnswerBody::Hyper { body, deadline },
                })
            }
        }
    }
}

/// A failed send as the transport sees it: a connection that could not be
/// made ([`TransportFailure::Tls`] or [`TransportFailure::Connect`], as the
/// connector said), or a connection that broke while the request went out
/// or its answer was awaited.
fn send_failure(error: &hyper_util::client::legacy::Error) -> SendFailure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(failure) = e.downcast_ref::<ConnectFailure>() {
            return SendFailure {
                kind: failure.kind,
                while_sending: false,
                reason: failure.reason.clone(),
            };
        }
        source = e.source();
    }
    SendFailure {
        kind: if error.is_connect() {
            TransportFailure::Connect
        } else {
            TransportFailure::Interrupted
        },
        while_sending: !error.is_connect(),
        reason: describe(error),
    }
}

/// The context every connection of a transport is made from.
struct Configured {
    context: SslContext,
    /// Whether the host name of the URI is checked (not with PSK).
    verify_host: bool,
    /// The expected server certificate (DER), accepted whatever its name
    /// and dates.
    pinned: Option<Vec<u8>>,
}

/// The OpenSSL context of `settings`: TLS 1.2 and 1.3 with certificates
/// (CA roots, an expected server certificate, or the system's trust
/// store; a client certificate), TLS 1.2 PSK suites only with a PSK.
fn context(settings: TlsSettings, refusal: Index<Ssl, &'static str>) -> Result<Configured, Error> {
    let backend = |e: openssl::error::ErrorStack| tls(TlsMaterial::Backend, e);
    // SslConnector's defaults: no SSLv2/3, compression or renegotiation
    // surprises; its cipher list is replaced below.
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(backend)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| tls(TlsMaterial::ProtocolVersions, e))?;
    builder.set_alpn_protos(b"\x08http/1.1").map_err(backend)?;
    if let Some(psk) = settings.psk {
        builder
            .set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(|e| tls(TlsMaterial::ProtocolVersions, e))?;
        builder
            .set_cipher_list(PSK_SUITES)
            .map_err(|e| tls(TlsMaterial::CipherSuites, e))?;
        builder.set_verify(SslVerifyMode::NONE);
        psk_callback(&mut builder, psk, settings.psk_identity_hint, refusal);
        return Ok(Configured {
            context: builder.build().into_context(),
            verify_host: false,
            pinned: None,
        });
    }
    builder
        .set_cipher_list(X509_SUITES)
        .map_err(|e| tls(TlsMaterial::CipherSuites, e))?;
    // A CA given as root, or the expected certificate, is a trust anchor
    // even when it is not self-signed (as with rustls).
    let partial = |builder: &mut openssl::ssl::SslConnectorBuilder| {
        builder
            .verify_param_mut()
            .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
            .map_err(backend)
    };
    let mut pinned = None;
    if let Some(certificate) = settings.server_certificate {
        let x509 =
            X509::from_der(&certificate).map_err(|e| tls(TlsMaterial::ServerCertificate, e))?;
        let mut store = X509StoreBuilder::new().map_err(backend)?;
        store
            .add_cert(x509)
            .map_err(|e| tls(TlsMaterial::ServerCertificate, e))?;
        builder.set_cert_store(store.build());
        partial(&mut builder)?;
        let expected = certificate.as_ref().to_vec();
        // The expected certificate itself is accepted whatever its name
        // and dates: errors about the presented leaf are forgiven when it
        // is that very certificate (the handshake proved the server holds
        // its key).
        builder.set_verify_callback(SslVerifyMode::PEER, move |verified, context| {
            verified
                || (context.error_depth() == 0
                    && context
                        .current_cert()
                        .and_then(|leaf| leaf.to_der().ok())
                        .is_some_and(|der| der == expected))
        });
        pinned = Some(certificate.as_ref().to_vec());
    } else if settings.roots.is_empty() {
        builder
            .set_default_verify_paths()
            .map_err(|e| tls(TlsMaterial::PlatformTrustStore, e))?;
    } else {
        let mut store = X509StoreBuilder::new().map_err(backend)?;
        for root in &settings.roots {
            let x509 = X509::from_der(root).map_err(|e| tls(TlsMaterial::CaCertificate, e))?;
            store
                .add_cert(x509)
                .map_err(|e| tls(TlsMaterial::CaCertificate, e))?;
        }
        builder.set_cert_store(store.build());
        partial(&mut builder)?;
    }
    if let Some((chain, key)) = settings.identity {
        let identity = |e| tls(TlsMaterial::ClientIdentity, e);
        let mut certificates = chain.iter();
        if let Some(leaf) = certificates.next() {
            let leaf = X509::from_der(leaf).map_err(identity)?;
            builder.set_certificate(&leaf).map_err(identity)?;
        }
        for certificate in certificates {
            let certificate = X509::from_der(certificate).map_err(identity)?;
            builder
                .add_extra_chain_cert(certificate)
                .map_err(identity)?;
        }
        let key = PKey::private_key_from_der(key.secret_der()).map_err(identity)?;
        builder.set_private_key(&key).map_err(identity)?;
        builder.check_private_key().map_err(identity)?;
    }
    Ok(Configured {
        context: builder.build().into_context(),
        verify_host: true,
        pinned,
    })
}

/// Answers the server with the PSK identity and key, after checking its
/// identity hint when one is expected. A refusal is recorded in the
/// connection's `refusal` slot.
fn psk_callback(
    builder: &mut openssl::ssl::SslConnectorBuilder,
    psk: Psk,
    expected_hint: Option<Vec<u8>>,
    refusal: Index<Ssl, &'static str>,
) {
    let Psk { identity, key } = psk;
    builder.set_psk_client_callback(move |ssl, hint, identity_out, key_out| {
        if let Some(expected) = &expected_hint
            && hint.unwrap_or_default() != expected.as_slice()
        {
            ssl.set_ex_data(
                refusal,
                "the server's PSK identity hint is not the expected one",
            );
            return Ok(0);
        }
        // The identity goes out as a C string.
        let (Some(identity_room), Some(key_room)) = (
            identity_out.get_mut(..=identity.len()),
            key_out.get_mut(..key.len()),
        ) else {
            ssl.set_ex_data(refusal, "the PSK identity or key is too long for OpenSSL");
            return Ok(0);
        };
        identity_room[..identity.len()].copy_from_slice(&identity);
        identity_room[identity.len()] = 0;
        key_room.copy_from_slice(&key);
        Ok(key.len())
    });
}

/// Why no connection could be made.
#[derive(Debug)]
struct ConnectFailure {
    kind: TransportFailure,
    reason: String,
}

impl ConnectFailure {
    fn connect(reason: impl std::fmt::Display) -> ConnectFailure {
        ConnectFailure {
            kind: TransportFailure::Connect,
            reason: reason.to_string(),
        }
    }
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ConnectFailure {}

/// Opens plain TCP for `http` URIs, TCP and OpenSSL TLS for `https`.
#[derive(Clone)]
struct Connector {
    inner: Arc<ConnectorInner>,
}

struct ConnectorInner {
    context: SslContext,
    verify_host: bool,
    pinned: Option<Vec<u8>>,
    connect_timeout: Duration,
    refusal: Index<Ssl, &'static str>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectFailure>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectFailure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::time::timeout(inner.connect_timeout, inner.connect(&uri))
                .await
                .map_err(|_| ConnectFailure::connect("connect timed out"))?
                .map(TokioIo::new)
        })
    }
}

impl ConnectorInner {
    async fn connect(&self, uri: &Uri) -> Result<Stream, ConnectFailure> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(ConnectFailure::connect("the URI is neither http nor https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| ConnectFailure::connect("the URI has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(ConnectFailure::connect)?;
        tcp.set_nodelay(true).map_err(ConnectFailure::connect)?;
        if !https {
            return Ok(Stream::Plain(tcp));
        }
        let setup = |e: openssl::error::ErrorStack| ConnectFailure {
            kind: TransportFailure::Tls,
            reason: format!("TLS set-up: {e}"),
        };
        let mut ssl = Ssl::new(&self.context).map_err(setup)?;
        match host.parse::<IpAddr>() {
            Ok(ip) if self.verify_host => ssl.param_mut().set_ip(ip).map_err(setup)?,
            Ok(_) => {}
            Err(_) => {
                ssl.set_hostname(host).map_err(setup)?;
                if self.verify_host {
                    ssl.param_mut().set_host(host).map_err(setup)?;
                }
            }
        }
        let mut stream = SslStream::new(ssl, tcp).map_err(setup)?;
        match Pin::new(&mut stream).connect().await {
            Ok(()) => Ok(Stream::Tls(Box::new(stream))),
            Err(error) => Err(self.handshake_failure(stream.ssl(), &error)),
        }
    }

    /// A failed handshake, said precisely: why the PSK callback refused,
    /// or why the server's certificate was refused, else OpenSSL's error.
    fn handshake_failure(
        &self,
        ssl: &openssl::ssl::SslRef,
        error: &openssl::ssl::Error,
    ) -> ConnectFailure {
        let detail = describe(error);
        if let Some(refusal) = ssl.ex_data(self.refusal) {
            return ConnectFailure {
                kind: TransportFailure::Tls,
                reason: format!("TLS handshake: {refusal} ({detail})"),
            };
        }
        let verification = ssl.verify_result();
        // A forgiven error about the expected certificate is no reason.
        let expected_presented = self.pinned.as_ref().is_some_and(|pinned| {
            ssl.peer_certificate()
                .and_then(|leaf| leaf.to_der().ok())
                .is_some_and(|der| &der == pinned)
        });
        if verification != X509VerifyResult::OK && !expected_presented {
            let reason = if self.pinned.is_some() {
                format!(
                    "TLS handshake: the server's certificate is not the expected server \
                     certificate and does not verify up to it for this host ({})",
                    verification.error_string()
                )
            } else {
                format!(
                    "TLS handshake: invalid peer certificate ({})",
                    verification.error_string()
                )
            };
            return ConnectFailure {
                kind: TransportFailure::Tls,
                reason,
            };
        }
        // OpenSSL's own errors (alerts, no common suite, a wrong key) are
        // TLS failures; a connection the server closed or reset during the
        // handshake is a connection failure, as with rustls.
        let kind = if error.ssl_error().is_some() {
            TransportFailure::Tls
        } else {
            TransportFailure::Connect
        };
        ConnectFailure {
            kind,
            reason: format!("TLS handshake: {detail}"),
        }
    }
}

/// A connection: plain TCP or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(context, buffer),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(context, data),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(context, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(context, data),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(context, data),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.is_write_vectored(),
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(context),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(context),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(context),
        }
    }
}
