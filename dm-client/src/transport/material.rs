//! The TLS settings a [`TransportBuilder`](crate::TransportBuilder)
//! collects, read by whichever backend builds the connections.

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS library a [`Transport`](crate::Transport) connects with.
///
/// | | `Rustls` (default) | `OpenSsl` (feature `openssl`) |
/// |---|---|---|
/// | library | rustls, ring provider, built in | the system's libssl (OpenSSL 1.1.1 or 3) |
/// | versions | TLS 1.3 and 1.2 | TLS 1.3 and 1.2; TLS 1.2 only with PSK |
/// | X.509 suites of the specification | `ECDHE_ECDSA_WITH_AES_128_GCM_SHA256` | also the `DHE_RSA` and CBC ones |
/// | PSK-TLS (RFC 4279) | no | yes ([`TransportBuilder::psk`](crate::TransportBuilder::psk)) |
///
/// Both verify servers the same way (CA roots, the platform's trust store,
/// or a [`server_certificate_der`](crate::TransportBuilder::server_certificate_der)),
/// present the same client certificates and behave the same for the rest
/// of the client (timeouts, retries, redirects, headers).
///
/// ```
/// use dm_client::TlsBackend;
///
/// assert_eq!(TlsBackend::default(), TlsBackend::Rustls);
/// assert!(TlsBackend::Rustls.is_available());
/// assert_eq!(TlsBackend::OpenSsl.is_available(), cfg!(feature = "openssl"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsBackend {
    /// rustls with the ring provider: always built.
    #[default]
    Rustls,
    /// The system OpenSSL: built with the `openssl` feature of `dm-client`.
    OpenSsl,
}

impl TlsBackend {
    /// Whether this build of `dm-client` has the backend.
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
            TlsBackend::OpenSsl => "OpenSSL",
        })
    }
}

/// PSK-TLS credentials: the identity and key the device presents.
#[cfg_attr(not(feature = "openssl"), allow(dead_code))]
pub(super) struct Psk {
    pub(super) identity: Vec<u8>,
    pub(super) key: Vec<u8>,
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Psk")
            .field("identity_len", &self.identity.len())
            .field("key", &"(hidden)")
            .finish()
    }
}

/// The TLS material of a transport.
#[derive(Debug, Default)]
pub(super) struct TlsSettings {
    /// CA certificates trusted instead of the platform's trust store.
    pub(super) roots: Vec<CertificateDer<'static>>,
    /// The certificate the server must present, or the CA that must have
    /// issued it (`Auth/Bootstrap/ServerPubKey` in X.509 mode).
    pub(super) server_certificate: Option<CertificateDer<'static>>,
    /// The client certificate chain (leaf first) and its key.
    pub(super) identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    pub(super) psk: Option<Psk>,
    /// The PSK identity hint the server must send (`None`: any).
    pub(super) psk_identity_hint: Option<Vec<u8>>,
}

/// Longest PSK identity (RFC 4279 section 5.3: up to 128 bytes must be
/// supported; OpenSSL's limit).
pub(super) const MAX_PSK_IDENTITY: usize = 128;
/// Longest pre-shared key (OpenSSL's limit).
pub(super) const MAX_PSK_KEY: usize = 256;
