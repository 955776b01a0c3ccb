//! What a server is configured with: [`ServerOptions`] and its builder,
//! [`TlsOptions`] (and its [`TlsBackend`]), [`ServerLimits`] and
//! [`SessionSettings`].

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use dm_session::ServerConfig;
use dm_types::{ServerId, ServerUri};

use crate::Error;
use crate::bootstrap::BootstrapSettings;
use crate::events::EventSettings;
use crate::store::NotificationSecret;

/// The Digest and Basic realm when none is configured.
pub const DEFAULT_REALM: &str = "oma-dm";

/// The server id (Package#0 SERVER-ID) when none is configured.
pub const DEFAULT_SERVER_ID: &str = "dm-server";

/// The listen address when none is configured: `127.0.0.1:8080`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// The TLS implementation a server's HTTPS runs on (docs/tls.md).
///
/// - [`TlsBackend::Rustls`] (the default, always built): TLS 1.2 and 1.3
///   with modern suites; of the suites docs/protocol.md section 12 lists it
///   offers only `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256` (with an ECDSA
///   certificate), and no PSK-TLS.
/// - [`TlsBackend::OpenSsl`] (cargo feature `openssl`, on the system
///   OpenSSL): every suite of section 12, the seven PSK-TLS suites
///   included, with an RSA and an ECDSA certificate side by side.
///
/// ```
/// use dm_server::TlsBackend;
///
/// assert_eq!(TlsBackend::default(), TlsBackend::Rustls);
/// assert_eq!(TlsBackend::OpenSsl.to_string(), "openssl");
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TlsBackend {
    /// rustls with the ring provider.
    #[default]
    Rustls,
    /// The system OpenSSL (needs the cargo feature `openssl`).
    #[serde(rename = "openssl")]
    OpenSsl,
}

impl TlsBackend {
    /// Whether this build of the server has the backend (OpenSSL needs the
    /// cargo feature `openssl`).
    pub fn is_available(self) -> bool {
        match self {
            TlsBackend::Rustls => true,
            TlsBackend::OpenSsl => cfg!(feature = "openssl"),
        }
    }
}

impl std::fmt::Display for TlsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsBackend::Rustls => "rustls",
            TlsBackend::OpenSsl => "openssl",
        })
    }
}

/// The HTTPS configuration: the backend ([`TlsBackend`]), the server
/// certificate chain and key (PEM; RSA or ECDSA), with OpenSSL optionally
/// a second, ECDSA, certificate and key, the CA that issues device client
/// certificates, and whether devices may authenticate by PSK-TLS.
///
/// With a client CA, devices may authenticate with a certificate it issued;
/// devices without one are still accepted by TLS and authenticate with
/// Basic, Digest or (OpenSSL) a PSK, unless a client certificate is
/// required ([`TlsOptions::with_client_certificate_required`]).
///
/// ```no_run
/// use dm_server::{TlsBackend, TlsOptions};
///
/// let tls = TlsOptions::from_files("server.pem", "server.key")?
///     .with_client_ca_file("devices-ca.pem")?;
/// // With the cargo feature `openssl`: every suite of the specification.
/// let all_suites = TlsOptions::from_files("rsa.pem", "rsa.key")?
///     .with_backend(TlsBackend::OpenSsl)
///     .with_ecdsa_files("ecdsa.pem", "ecdsa.key")?
///     .with_psk(true);
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsOptions {
    backend: TlsBackend,
    cert_chain: Vec<u8>,
    key: Vec<u8>,
    ecdsa: Option<(Vec<u8>, Vec<u8>)>,
    client_ca: Option<Vec<u8>>,
    client_certificate_required: bool,
    psk: bool,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("backend", &self.backend)
            .field("ecdsa", &self.ecdsa.is_some())
            .field("client_ca", &self.client_ca.is_some())
            .field(
                "client_certificate_required",
                &self.client_certificate_required,
            )
            .field("psk", &self.psk)
            .finish_non_exhaustive()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })
}

/// The TLS configuration a server runs with, built and checked from
/// [`TlsOptions`] by [`ServerOptionsBuilder::build`].
#[derive(Clone)]
pub(crate) enum ServerTls {
    /// rustls, ready.
    Rustls(Arc<rustls::ServerConfig>),
    /// OpenSSL: the checked material; the context is made when serving
    /// (its PSK callback reads the store).
    #[cfg(feature = "openssl")]
    OpenSsl(Arc<crate::tls_openssl::Settings>),
}

impl TlsOptions {
    /// The certificate chain (server certificate first) and private key,
    /// on rustls.
    pub fn from_pem(cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        TlsOptions {
            backend: TlsBackend::Rustls,
            cert_chain: cert_chain_pem.into(),
            key: key_pem.into(),
            ecdsa: None,
            client_ca: None,
            client_certificate_required: false,
            psk: false,
        }
    }

    /// Reads the certificate chain and key from PEM files.
    pub fn from_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(TlsOptions::from_pem(
            read_file(cert_chain.as_ref())?,
            read_file(key.as_ref())?,
        ))
    }

    /// Chooses the backend ([`ServerOptionsBuilder::build`] refuses
    /// [`TlsBackend::OpenSsl`] in a build without the cargo feature
    /// `openssl`).
    #[must_use]
    pub fn with_backend(mut self, backend: TlsBackend) -> Self {
        self.backend = backend;
        self
    }

    /// The backend.
    pub fn backend(&self) -> TlsBackend {
        self.backend
    }

    /// A second certificate chain and key, ECDSA, beside an RSA one (OpenSSL
    /// only): with both, every X.509 suite of docs/protocol.md section 12
    /// can be negotiated.
    #[must_use]
    pub fn with_ecdsa_pem(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.ecdsa = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }

    /// Reads the second (ECDSA) certificate chain and key from PEM files.
    pub fn with_ecdsa_files(
        self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        Ok(self.with_ecdsa_pem(read_file(cert_chain.as_ref())?, read_file(key.as_ref())?))
    }

    /// Accepts device certificates issued by these CA certificates (PEM).
    #[must_use]
    pub fn with_client_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca = Some(pem.into());
        self
    }

    /// Reads the client CA certificates from a PEM file.
    pub fn with_client_ca_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(self.with_client_ca_pem(read_file(path.as_ref())?))
    }

    /// Whether a handshake without a client certificate the client CA
    /// verified fails (default `false`: such devices authenticate by HTTP
    /// or PSK). Needs a client CA. With OpenSSL, PSK suites still need no
    /// certificate (they carry none).
    #[must_use]
    pub fn with_client_certificate_required(mut self, required: bool) -> Self {
        self.client_certificate_required = required;
        self
    }

    /// Whether devices may authenticate by PSK-TLS (RFC 4279) with the
    /// pre-shared key registered for their PSK identity (OpenSSL only;
    /// default `false`). The handshake reads the key from the store, which
    /// needs a multi-thread tokio runtime ([`DmServer::serve`](crate::DmServer::serve)
    /// refuses to serve PSK on another).
    #[must_use]
    pub fn with_psk(mut self, psk: bool) -> Self {
        self.psk = psk;
        self
    }

    /// Checks the options and builds the backend's configuration.
    pub(crate) fn build(&self) -> Result<ServerTls, Error> {
        match self.backend {
            TlsBackend::Rustls => {
                if self.psk {
                    return Err(Error::Tls {
                        part: "PSK",
                        problem: "rustls offers no PSK-TLS suite: choose the OpenSSL backend \
                                  (\"backend\": \"openssl\")"
                            .into(),
                    });
                }
                if self.ecdsa.is_some() {
                    return Err(Error::Tls {
                        part: "ECDSA certificate",
                        problem: "rustls serves one certificate: give it as cert and key, \
                                  or choose the OpenSSL backend for two"
                            .into(),
                    });
                }
                self.server_config().map(ServerTls::Rustls)
            }
            #[cfg(feature = "openssl")]
            TlsBackend::OpenSsl => crate::tls_openssl::Settings::load(&self.material())
                .map(|s| ServerTls::OpenSsl(Arc::new(s))),
            #[cfg(not(feature = "openssl"))]
            TlsBackend::OpenSsl => Err(Error::Tls {
                part: "backend",
                problem: "the OpenSSL backend is not in this build: build dm-server (or dm-cli) \
                          with the cargo feature `openssl`"
                    .into(),
            }),
        }
    }

    /// What the OpenSSL backend reads.
    #[cfg(feature = "openssl")]
    pub(crate) fn material(&self) -> crate::tls_openssl::Material<'_> {
        crate::tls_openssl::Material {
            cert_chain: &self.cert_chain,
            key: &self.key,
            ecdsa: self
                .ecdsa
                .as_ref()
                .map(|(chain, key)| (chain.as_slice(), key.as_slice())),
            client_ca: self.client_ca.as_deref(),
            client_certificate_required: self.client_certificate_required,
            psk: self.psk,
        }
    }

    /// Builds the rustls configuration (ring provider, TLS 1.2 and 1.3,
    /// HTTP/1.1 by ALPN).
    fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let tls = |part: &'static str, e: &dyn std::fmt::Display| Error::Tls {
            part,
            problem: e.to_string(),
        };
        let chain = CertificateDer::pem_slice_iter(&self.cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls("certificate chain", &e))?;
        if chain.is_empty() {
            return Err(tls("certificate chain", &"no certificate in the PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| tls("private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls("protocol versions", &e))?;
        let builder = match &self.client_ca {
            None if self.client_certificate_required => {
                return Err(tls(
                    "client CA",
                    &"a client certificate is required (as the bootstrap role requires) but no client CA is given",
                ));
            }
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| tls("client CA", &e))?;
                    roots.add(cert).map_err(|e| tls("client CA", &e))?;
                }
                if roots.is_empty() {
                    return Err(tls("client CA", &"no certificate in the PEM"));
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = if self.client_certificate_required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|e| tls("client CA", &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| tls("certificate and key", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Limits that protect the server from clients, slow or hostile.
///
/// ```
/// use std::time::Duration;
/// use dm_server::ServerLimits;
///
/// let limits = ServerLimits::default()
///     .with_max_sessions(100)
///     .with_body_timeout(Duration::from_secs(5));
/// assert_eq!(limits.max_sessions, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Decoding limits. `package_bytes` bounds the body of Package#1 and #3,
    /// `mo_data_bytes` the body of repository uploads and of admin
    /// repository writes; a larger body is refused with 413 as soon as its
    /// `Content-Length` or the bytes received exceed it.
    pub codec: dm_codec::Limits,
    /// Largest request head (request line, headers and the blank line that
    /// ends them, as sent); beyond it the connection answers 431 and
    /// closes, however the head's bytes are split into writes. At most 100
    /// headers (431 beyond). Default 64 KiB.
    pub header_bytes: usize,
    /// Time allowed for a request head (and the TLS handshake) to arrive.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Time allowed for a request body to arrive; beyond it the answer is
    /// 408. Default 30 s.
    pub body_timeout: Duration,
    /// Most sessions open at once (in the whole store); a Package#1 beyond
    /// it is answered 503. Default 10,000.
    pub max_sessions: usize,
    /// Most connections served at once; beyond it the server stops
    /// accepting (new connections wait in the listener's backlog) until one
    /// closes. Default 16,384.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for requests in flight. Default
    /// 10 s.
    pub shutdown_grace: Duration,
    /// Most bytes of device request bodies (packages, repository uploads)
    /// the server holds in memory at once, all connections together. A
    /// body takes its share before it is read: all of its
    /// `Content-Length`, or (without one) as its buffer grows with the bytes
    /// that arrive (at most twice what arrived).
    /// When there is no room within [`ServerLimits::body_budget_wait`] the
    /// request is answered 503 with `Retry-After`. At least the largest
    /// body limit. Default 256 MiB.
    pub body_budget_bytes: usize,
    /// How long a request waits for room in the body budget before its
    /// 503. Default 1 s.
    pub body_budget_wait: Duration,
    /// Most requests one device has in flight at once (counted from its
    /// authentication until its answer is sent); beyond it the request is
    /// answered 429 with `Retry-After`. So one device holds at most this
    /// many bodies of the largest limit. Default 4.
    pub requests_per_device: usize,
    /// Largest artifact content uploaded through the admin API
    /// (`PUT /admin/artifacts/{id}`); a larger upload is refused with 413
    /// as soon as its `Content-Length` or the bytes received exceed it.
    /// Default 256 MiB.
    pub artifact_bytes: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            codec: dm_codec::Limits::default(),
            header_bytes: 64 << 10,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_sessions: 10_000,
            max_connections: 16_384,
            shutdown_grace: Duration::from_secs(10),
            body_budget_bytes: 256 << 20,
            body_budget_wait: Duration::from_secs(1),
            requests_per_device: 4,
            artifact_bytes: 256 << 20,
        }
    }
}

impl ServerLimits {
    /// Sets [`ServerLimits::codec`].
    #[must_use]
    pub fn with_codec(mut self, limits: dm_codec::Limits) -> Self {
        self.codec = limits;
        self
    }

    /// Sets the largest Package#1/#3 body (`codec.package_bytes`).
    #[must_use]
    pub fn with_package_bytes(mut self, bytes: usize) -> Self {
        self.codec = self.codec.with_package_bytes(bytes);
        self
    }

    /// Sets the largest repository body (`codec.mo_data_bytes`).
    #[must_use]
    pub fn with_repository_bytes(mut self, bytes: usize) -> Self {
        self.codec = self.codec.with_mo_data_bytes(bytes);
        self
    }

    /// Sets [`ServerLimits::header_bytes`] (at least 8 KiB).
    #[must_use]
    pub fn with_header_bytes(mut self, bytes: usize) -> Self {
        self.header_bytes = bytes.max(8 << 10);
        self
    }

    /// Sets [`ServerLimits::header_timeout`].
    #[must_use]
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets [`ServerLimits::body_timeout`].
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Sets [`ServerLimits::max_sessions`].
    #[must_use]
    pub fn with_max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// Sets [`ServerLimits::max_connections`] (at least 1).
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`ServerLimits::shutdown_grace`].
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`ServerLimits::body_budget_bytes`]
    /// ([`ServerOptionsBuilder::build`] refuses a budget under the largest
    /// body limit).
    #[must_use]
    pub fn with_body_budget_bytes(mut self, bytes: usize) -> Self {
        self.body_budget_bytes = bytes;
        self
    }

    /// Sets [`ServerLimits::body_budget_wait`].
    #[must_use]
    pub fn with_body_budget_wait(mut self, wait: Duration) -> Self {
        self.body_budget_wait = wait;
        self
    }

    /// Sets [`ServerLimits::requests_per_device`] (at least 1).
    #[must_use]
    pub fn with_requests_per_device(mut self, n: usize) -> Self {
        self.requests_per_device = n.max(1);
        self
    }

    /// Sets [`ServerLimits::artifact_bytes`].
    #[must_use]
    pub fn with_artifact_bytes(mut self, bytes: u64) -> Self {
        self.artifact_bytes = bytes;
        self
    }

    /// The largest body a device may send (package or repository upload).
    pub(crate) fn largest_body(&self) -> usize {
        self.codec.package_bytes.max(self.codec.mo_data_bytes)
    }
}

/// How sessions run: the engine's [`ServerConfig`] (its idle timeout,
/// commands per package and packages per session, with the engine's
/// minimums), and what the server adds around it.
///
/// The engine configuration's `limits` and `session_uri` are set by the
/// server for each session (from [`ServerLimits::codec`] and the session's
/// token), whatever `engine` holds.
///
/// ```
/// use std::time::Duration;
/// use dm_server::SessionSettings;
///
/// let settings = SessionSettings::default().with_idle_timeout(Duration::from_secs(60));
/// assert_eq!(settings.engine.idle_timeout, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionSettings {
    /// The session engine's settings: how long an open session waits for
    /// its next Package#3 (then it expires and its unanswered commands
    /// fail; default 5 minutes), most commands in one Package#2 (default
    /// 64), most Package#2 in one session (the last one is END; default 64).
    pub engine: ServerConfig,
    /// How long a Digest nonce stays valid (then the client is challenged
    /// again with `stale=true`). Default 10 minutes.
    pub nonce_lifetime: Duration,
    /// How often the server looks for expired sessions. Default 5 s.
    pub expiry_interval: Duration,
    /// How often the server asks the store to make its state durable
    /// ([`Store::flush`](crate::Store::flush)). Default 30 s. The shipped
    /// stores have nothing to flush (the SQL stores commit every write, the
    /// memory store is never durable); a custom store may.
    pub flush_interval: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            engine: ServerConfig::default(),
            nonce_lifetime: Duration::from_secs(600),
            expiry_interval: Duration::from_secs(5),
            flush_interval: Duration::from_secs(30),
        }
    }
}

impl SessionSettings {
    /// Sets the engine's idle timeout
    /// ([`ServerConfig::with_idle_timeout`]).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.engine = self.engine.with_idle_timeout(timeout);
        self
    }

    /// Sets the engine's commands per package
    /// ([`ServerConfig::with_commands_per_package`]).
    #[must_use]
    pub fn with_commands_per_package(mut self, n: usize) -> Self {
        self.engine = self.engine.with_commands_per_package(n);
        self
    }

    /// Sets the engine's packages per session
    /// ([`ServerConfig::with_packages_per_session`]).
    #[must_use]
    pub fn with_packages_per_session(mut self, n: usize) -> Self {
        self.engine = self.engine.with_packages_per_session(n);
        self
    }

    /// Sets [`SessionSettings::nonce_lifetime`].
    #[must_use]
    pub fn with_nonce_lifetime(mut self, lifetime: Duration) -> Self {
        self.nonce_lifetime = lifetime;
        self
    }

    /// Sets [`SessionSettings::expiry_interval`] (at least 10 ms).
    #[must_use]
    pub fn with_expiry_interval(mut self, interval: Duration) -> Self {
        self.expiry_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets [`SessionSettings::flush_interval`] (at least 10 ms).
    #[must_use]
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The engine configuration of one session: [`SessionSettings::engine`]
    /// with the decoding limits and the session URI CONT sends.
    pub(crate) fn session_config(
        &self,
        limits: dm_codec::Limits,
        session_uri: ServerUri,
    ) -> ServerConfig {
        self.engine
            .clone()
            .with_limits(limits)
            .with_session_uri(session_uri)
    }
}

/// Everything a [`DmServer`](crate::DmServer) is configured with. Build it
/// with [`ServerOptions::builder`].
///
/// ```
/// use dm_server::ServerOptions;
///
/// let options = ServerOptions::builder()
///     .server_id("dm.example.com")
///     .public_uri("https://dm.example.com")
///     .admin_token("change me")
///     .build()?;
/// assert_eq!(options.server_id().as_str(), "dm.example.com");
/// assert_eq!(options.public_uri(), Some("https://dm.example.com"));
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches of the server"
)]
pub struct ServerOptions {
    pub(crate) listen: SocketAddr,
    pub(crate) public_uri: Option<String>,
    pub(crate) server_id: ServerId,
    pub(crate) realm: String,
    pub(crate) dev_mode: bool,
    pub(crate) admin_token: Option<String>,
    pub(crate) tls: Option<ServerTls>,
    pub(crate) limits: ServerLimits,
    pub(crate) session: SessionSettings,
    pub(crate) dev_notification: Option<NotificationSecret>,
    pub(crate) basic_auth: bool,
    pub(crate) digest_md5: bool,
    pub(crate) bootstrap: Option<BootstrapSettings>,
    pub(crate) campaign_tick: Duration,
    pub(crate) metrics: bool,
    pub(crate) console: bool,
    pub(crate) events: EventSettings,
}

/// How often the campaign driver runs by default (see
/// [`ServerOptionsBuilder::campaign_tick`]).
pub const DEFAULT_CAMPAIGN_TICK: Duration = Duration::from_secs(1);

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("listen", &self.listen)
            .field("public_uri", &self.public_uri)
            .field("server_id", &self.server_id)
            .field("realm", &self.realm)
            .field("dev_mode", &self.dev_mode)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .field("session", &self.session)
            .field("basic_auth", &self.basic_auth)
            .field("digest_md5", &self.digest_md5)
            .field("bootstrap", &self.bootstrap)
            .field("campaign_tick", &self.campaign_tick)
            .field("metrics", &self.metrics)
            .field("console", &self.console)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl ServerOptions {
    /// A builder with the defaults: listen on `127.0.0.1:8080`, server id
    /// `dm-server`, realm `oma-dm`, no admin token, HTTP, Basic and Digest
    /// (SHA-256 and MD5) enabled, dev mode off.
    pub fn builder() -> ServerOptionsBuilder {
        ServerOptionsBuilder::default()
    }

    /// Where [`DmServer::bind`](crate::DmServer::bind) listens.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The base URI devices reach the server at (no trailing `/`), when
    /// configured. Without one the server uses the address it is bound to,
    /// or the request's `Host` header when that address is a wildcard.
    pub fn public_uri(&self) -> Option<&str> {
        self.public_uri.as_deref()
    }

    /// The server's id (SERVER-ID of Package#0, the devices' DMAcc `SrvID`).
    pub fn server_id(&self) -> &ServerId {
        &self.server_id
    }

    /// The Basic/Digest realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Whether development mode is on.
    pub fn dev_mode(&self) -> bool {
        self.dev_mode
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The TLS backend, when the server speaks HTTPS.
    pub fn tls_backend(&self) -> Option<TlsBackend> {
        self.tls.as_ref().map(|tls| match tls {
            ServerTls::Rustls(_) => TlsBackend::Rustls,
            #[cfg(feature = "openssl")]
            ServerTls::OpenSsl(_) => TlsBackend::OpenSsl,
        })
    }

    /// The bootstrap role's settings, when the server runs in it.
    pub fn bootstrap(&self) -> Option<&BootstrapSettings> {
        self.bootstrap.as_ref()
    }

    /// The limits.
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// The event settings.
    pub fn events(&self) -> &EventSettings {
        &self.events
    }

    /// The session settings.
    pub fn session(&self) -> &SessionSettings {
        &self.session
    }

    /// How often the campaign driver runs (docs/updates.md).
    pub fn campaign_tick(&self) -> Duration {
        self.campaign_tick
    }

    /// Whether `GET /metrics` is served (docs/operations.md).
    pub fn metrics(&self) -> bool {
        self.metrics
    }

    /// Whether the web console is served at `/console/` (docs/console.md).
    pub fn console(&self) -> bool {
        self.console
    }
}

/// Builds [`ServerOptions`]; [`ServerOptionsBuilder::build`] checks them.
#[derive(Debug, Clone)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent switches of the server"
)]
pub struct ServerOptionsBuilder {
    listen: SocketAddr,
    public_uri: Option<String>,
    server_id: String,
    realm: String,
    dev_mode: bool,
    admin_token: Option<String>,
    tls: Option<TlsOptions>,
    limits: ServerLimits,
    session: SessionSettings,
    dev_notification: Option<NotificationSecret>,
    basic_auth: bool,
    digest_md5: bool,
    bootstrap: Option<BootstrapSettings>,
    campaign_tick: Duration,
    metrics: bool,
    console: bool,
    events: EventSettings,
}

impl Default for ServerOptionsBuilder {
    fn default() -> Self {
        ServerOptionsBuilder {
            listen: DEFAULT_LISTEN,
            public_uri: None,
            server_id: DEFAULT_SERVER_ID.to_owned(),
            realm: DEFAULT_REALM.to_owned(),
            dev_mode: false,
            admin_token: None,
            tls: None,
            limits: ServerLimits::default(),
            session: SessionSettings::default(),
            dev_notification: None,
            basic_auth: true,
            digest_md5: true,
            bootstrap: None,
            campaign_tick: DEFAULT_CAMPAIGN_TICK,
            metrics: true,
            console: true,
            events: EventSettings::default(),
        }
    }
}

impl ServerOptionsBuilder {
    /// The address [`DmServer::bind`](crate::DmServer::bind) listens on.
    #[must_use]
    pub fn listen(mut self, address: SocketAddr) -> Self {
        self.listen = address;
        self
    }

    /// The base URI devices reach the server at, e.g.
    /// `https://dm.example.com` (session URIs are `<base>/dm/s/<token>`,
    /// repository URIs `<base>/repo/...`).
    #[must_use]
    pub fn public_uri(mut self, uri: impl Into<String>) -> Self {
        self.public_uri = Some(uri.into());
        self
    }

    /// The server's id (default `dm-server`).
    #[must_use]
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = id.into();
        self
    }

    /// Forgets the public URI set so far (the bound address becomes it).
    #[must_use]
    pub fn no_public_uri(mut self) -> Self {
        self.public_uri = None;
        self
    }

    /// The Basic/Digest realm (default `oma-dm`). Stored credentials are
    /// bound to it.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Development mode: any device that connects without credentials is
    /// registered, and the admin API needs no token. Only allowed on a
    /// loopback listen address.
    #[must_use]
    pub fn dev_mode(mut self, on: bool) -> Self {
        self.dev_mode = on;
        self
    }

    /// Serves `GET /metrics` (on by default): the server's counters in the
    /// Prometheus text format, behind the admin API's authentication
    /// (docs/operations.md lists them).
    ///
    /// ```
    /// use dm_server::ServerOptions;
    ///
    /// let options = ServerOptions::builder().metrics(false).build()?;
    /// assert!(!options.metrics());
    /// # Ok::<(), dm_server::Error>(())
    /// ```
    #[must_use]
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// The bearer token of the admin API. Without one (and outside dev mode)
    /// the admin API is disabled.
    #[must_use]
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// Serves HTTPS.
    #[must_use]
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The limits.
    #[must_use]
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The session settings.
    #[must_use]
    pub fn session(mut self, settings: SessionSettings) -> Self {
        self.session = settings;
        self
    }

    /// Notification credentials given to devices registered by dev mode.
    #[must_use]
    pub fn dev_notification(mut self, secret: Vec<u8>, auth_data: Vec<u8>) -> Self {
        self.dev_notification = Some(NotificationSecret { secret, auth_data });
        self
    }

    /// Whether HTTP Basic authentication is offered (default on; it sends
    /// the password in clear, so use it over TLS only).
    #[must_use]
    pub fn basic_auth(mut self, on: bool) -> Self {
        self.basic_auth = on;
        self
    }

    /// Whether Digest with MD5 is offered besides SHA-256 (default on, for
    /// older clients).
    #[must_use]
    pub fn digest_md5(mut self, on: bool) -> Self {
        self.digest_md5 = on;
        self
    }

    /// Puts the server in the bootstrap role (docs/bootstrap.md): `POST /dm`
    /// runs bootstrap sessions, which need TLS with a client CA (the
    /// bootstrap CA; a client certificate is then required by the
    /// handshake), and the admin API manages bootstrap profiles and
    /// devices instead of management devices. The server id is the
    /// bootstrap server's SrvID.
    #[must_use]
    pub fn bootstrap(mut self, settings: BootstrapSettings) -> Self {
        self.bootstrap = Some(settings);
        self
    }

    /// How often the campaign driver looks at the unfinished campaigns
    /// (default 1 s, at least 10 ms): starts devices, retries those whose
    /// timeout passed, and moves campaigns through their stages. Tests and
    /// load tests use ~50 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use dm_server::ServerOptions;
    ///
    /// let options = ServerOptions::builder().campaign_tick(Duration::from_millis(50)).build()?;
    /// assert_eq!(options.campaign_tick(), Duration::from_millis(50));
    /// # Ok::<(), dm_server::Error>(())
    /// ```
    #[must_use]
    pub fn campaign_tick(mut self, tick: Duration) -> Self {
        self.campaign_tick = tick.max(Duration::from_millis(10));
        self
    }

    /// Whether the web console is served at `/console/` (default on): plain
    /// HTML, CSS and JavaScript built into the server, which call the admin
    /// API with the API key the operator signs in with (docs/console.md).
    /// Off, `/console/` is `404` like any unknown path.
    ///
    /// ```
    /// use dm_server::ServerOptions;
    ///
    /// assert!(ServerOptions::builder().build()?.console());
    /// let options = ServerOptions::builder().console(false).build()?;
    /// assert!(!options.console());
    /// # Ok::<(), dm_server::Error>(())
    /// ```
    #[must_use]
    pub fn console(mut self, on: bool) -> Self {
        self.console = on;
        self
    }

    /// How events are kept, streamed and delivered to webhooks
    /// ([`EventSettings`]; docs/operations.md, "Events and webhooks").
    #[must_use]
    pub fn events(mut self, settings: EventSettings) -> Self {
        self.events = settings;
        self
    }

    /// Checks the options: a valid server id and public URI, a usable TLS
    /// configuration, dev mode only on a loopback address, the bootstrap
    /// role only with TLS and a client CA and without dev mode.
    pub fn build(self) -> Result<ServerOptions, Error> {
        let server_id = ServerId::new(self.server_id).map_err(|e| Error::config("server id", e))?;
        let public_uri = match self.public_uri {
            None => None,
            Some(uri) => {
                let trimmed = uri.trim_end_matches('/');
                let parsed = ServerUri::new(trimmed)
                    .map_err(|e| Error::config(format!("public URI {uri:?}"), e))?;
                if trimmed.contains(['?', '#']) {
                    return Err(Error::config(
                        format!("public URI {uri:?}"),
                        "must not have a query or fragment",
                    ));
                }
                Some(parsed.as_str().to_owned())
            }
        };
        if self.realm.is_empty()
            || self.realm.contains(['"', '\\'])
            || self.realm.chars().any(char::is_control)
        {
            return Err(Error::config(
                format!("realm {:?}", self.realm),
                "must be non-empty text without quotes, backslashes or control characters",
            ));
        }
        if self.dev_mode && !self.listen.ip().is_loopback() {
            return Err(Error::config(
                "dev mode",
                format!("only listens on a loopback address, not {}", self.listen),
            ));
        }
        if self.limits.body_budget_bytes < self.limits.largest_body() {
            return Err(Error::config(
                "body budget",
                format!(
                    "{} bytes is under the largest body limit ({} bytes): \
                     such a body could never be read",
                    self.limits.body_budget_bytes,
                    self.limits.largest_body()
                ),
            ));
        }
        if self.admin_token.as_deref() == Some("") {
            return Err(Error::config("admin token", "must not be empty"));
        }
        if self.bootstrap.is_some() {
            if self.tls.is_none() {
                return Err(Error::config(
                    "bootstrap",
                    "the bootstrap role needs TLS (mutual authentication is mandatory)",
                ));
            }
            if self.dev_mode {
                return Err(Error::config("bootstrap", "not in dev mode"));
            }
        }
        // The bootstrap role authenticates every device by its bootstrap
        // credential: a handshake without one fails.
        let tls = self
            .tls
            .as_ref()
            .map(|tls| {
                if self.bootstrap.is_some() {
                    tls.clone().with_client_certificate_required(true).build()
                } else {
                    tls.build()
                }
            })
            .transpose()?;
        Ok(ServerOptions {
            listen: self.listen,
            public_uri,
            server_id,
            realm: self.realm,
            dev_mode: self.dev_mode,
            admin_token: self.admin_token,
            tls,
            limits: self.limits,
            session: self.session,
            dev_notification: self.dev_notification,
            basic_auth: self.basic_auth,
            digest_md5: self.digest_md5,
            bootstrap: self.bootstrap,
            campaign_tick: self.campaign_tick,
            metrics: self.metrics,
            console: self.console,
            events: self.events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_checks_the_options() {
        assert!(ServerOptions::builder().build().is_ok());
        assert!(ServerOptions::builder().server_id("").build().is_err());
        assert!(
            ServerOptions::builder()
                .public_uri("ftp://x")
                .build()
                .is_err()
        );
        assert!(
            ServerOptions::builder()
                .public_uri("https://dm.example/?a")
                .build()
                .is_err()
        );
        let options = ServerOptions::builder()
            .public_uri("https://dm.example/base/")
            .build()
            .expect("valid");
        assert_eq!(options.public_uri(), Some("https://dm.example/base"));
        assert!(
            ServerOptions::builder()
                .dev_mode(true)
                .listen("0.0.0.0:8080".parse().expect("address"))
                .build()
                .is_err()
        );
        assert!(ServerOptions::builder().dev_mode(true).build().is_ok());
        assert!(ServerOptions::builder().realm("a\"b").build().is_err());
        assert!(ServerOptions::builder().admin_token("").build().is_err());
        let budget_under_a_body = ServerLimits::default()
            .with_repository_bytes(1 << 20)
            .with_body_budget_bytes((1 << 20) - 1);
        assert!(matches!(
            ServerOptions::builder().limits(budget_under_a_body).build(),
            Err(Error::Config { setting, .. }) if setting == "body budget"
        ));
        let budget_of_one_body = ServerLimits::default()
            .with_package_bytes(1 << 20)
            .with_repository_bytes(1 << 20)
            .with_body_budget_bytes(1 << 20);
        assert!(
            ServerOptions::builder()
                .limits(budget_of_one_body)
                .build()
                .is_ok()
        );
        let tls = TlsOptions::from_pem("not pem", "not pem");
        assert!(matches!(
            ServerOptions::builder().tls(tls).build(),
            Err(Error::Tls { .. })
        ));
    }

    /// An ECDSA certificate for `localhost` and its key, PEM.
    fn ecdsa_pem() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// The part an error of building these TLS options names.
    fn refused_part(tls: TlsOptions) -> &'static str {
        match ServerOptions::builder().tls(tls).build() {
            Err(Error::Tls { part, .. }) => part,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn rustls_refuses_what_only_openssl_offers() {
        let (cert, key) = ecdsa_pem();
        let rustls = || TlsOptions::from_pem(cert.as_str(), key.as_str());
        let options = ServerOptions::builder()
            .tls(rustls())
            .build()
            .expect("valid");
        assert_eq!(options.tls_backend(), Some(TlsBackend::Rustls));
        assert_eq!(refused_part(rustls().with_psk(true)), "PSK");
        assert_eq!(
            refused_part(rustls().with_ecdsa_pem(cert.as_str(), key.as_str())),
            "ECDSA certificate"
        );
        assert_eq!(
            refused_part(rustls().with_client_certificate_required(true)),
            "client CA"
        );
        let required = rustls()
            .with_client_ca_pem(cert.as_str())
            .with_client_certificate_required(true);
        assert!(ServerOptions::builder().tls(required).build().is_ok());
        assert_eq!(
            refused_part(rustls().with_client_ca_pem("no certificate here")),
            "client CA"
        );
        assert!(matches!(
            TlsOptions::from_files("/nonexistent/server.pem", "/nonexistent/server.key"),
            Err(Error::File { .. })
        ));
    }

    #[cfg(not(feature = "openssl"))]
    #[test]
    fn openssl_needs_its_feature() {
        let (cert, key) = ecdsa_pem();
        let tls = TlsOptions::from_pem(cert, key).with_backend(TlsBackend::OpenSsl);
        assert!(!TlsBackend::OpenSsl.is_available());
        match ServerOptions::builder().tls(tls).build() {
            Err(Error::Tls { part, problem }) => {
                assert_eq!(part, "backend");
                assert!(problem.contains("feature `openssl`"), "{problem}");
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_bootstrap_role_needs_tls_with_a_client_ca() {
        let bootstrap = || BootstrapSettings::new();
        assert!(matches!(
            ServerOptions::builder().bootstrap(bootstrap()).build(),
            Err(Error::Config { setting, .. }) if setting == "bootstrap"
        ));
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let tls = TlsOptions::from_pem(certificate.pem(), key.serialize_pem());
        assert!(matches!(
            ServerOptions::builder()
                .tls(tls.clone())
                .bootstrap(bootstrap())
                .build(),
            Err(Error::Tls {
                part: "client CA",
                ..
            })
        ));
        let with_ca = tls.with_client_ca_pem(certificate.pem());
        assert!(
            ServerOptions::builder()
                .tls(with_ca.clone())
                .bootstrap(bootstrap())
                .dev_mode(true)
                .build()
                .is_err()
        );
        let options = ServerOptions::builder()
            .tls(with_ca)
            .bootstrap(bootstrap())
            .build()
            .expect("valid");
        assert!(options.bootstrap().is_some());
    }
}
