//! [`TransportBuilder`]: the TLS material, timeouts and pool of a
//! [`Transport`], checked at [`build`](TransportBuilder::build).

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::material::{MAX_PSK_IDENTITY, MAX_PSK_KEY, Psk, TlsBackend, TlsSettings};
use super::{Backend, RetryPolicy, Transport, TransportInner};
use crate::error::{Error, TlsMaterial};

impl Transport {
    /// A builder for a transport like this one — same backend, CA roots,
    /// timeouts, retry policy and pool size — without its client identity,
    /// pinned server certificate or PSK; `with_roots` `false` leaves the CA
    /// roots out too (for a transport that pins its server).
    pub(crate) fn derive(&self, with_roots: bool) -> TransportBuilder {
        let base = &self.inner.base;
        let mut builder = Transport::builder()
            .backend(base.backend)
            .connect_timeout(base.connect_timeout)
            .request_timeout(self.inner.request_timeout)
            .retry(self.inner.retry)
            .idle_connections_per_host(base.idle_connections_per_host);
        if with_roots {
            builder = builder.roots(base.roots.clone());
        }
        builder
    }
}

/// An [`Error::Tls`] about `material`.
fn tls(material: TlsMaterial, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        material,
        reason: reason.to_string(),
    }
}

/// Builds a [`Transport`]. Every setting is checked at
/// [`build`](TransportBuilder::build), which reports the first unusable
/// one as an [`Error::Tls`] naming its [`TlsMaterial`].
#[derive(Debug)]
#[must_use]
pub struct TransportBuilder {
    backend: TlsBackend,
    settings: TlsSettings,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    idle_connections_per_host: usize,
    error: Option<Error>,
}

impl Transport {
    /// A builder with the defaults: rustls, platform trust store, no client
    /// certificate, 10 s connect timeout, 120 s per request,
    /// [`RetryPolicy::default`], at most 32 idle connections per host.
    pub fn builder() -> TransportBuilder {
        TransportBuilder {
            backend: TlsBackend::default(),
            settings: TlsSettings::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            idle_connections_per_host: 32,
            error: None,
        }
    }
}

/// The error for a backend this build lacks.
fn unavailable(backend: TlsBackend) -> Error {
    tls(
        TlsMaterial::Backend,
        format!("{backend} is not built in: dm-client needs its `openssl` feature"),
    )
}

/// Whether `data` is PEM text rather than DER.
fn is_pem(data: &[u8]) -> bool {
    data.trim_ascii_start().starts_with(b"-----BEGIN ")
}

impl TransportBuilder {
    fn fail(&mut self, error: Error) {
        self.error.get_or_insert(error);
    }

    /// The TLS library to connect with (default [`TlsBackend::Rustls`]).
    /// A backend this build of `dm-client` lacks fails at
    /// [`build`](TransportBuilder::build) with [`TlsMaterial::Backend`].
    ///
    /// ```
    /// use dm_client::{Error, TlsBackend, TlsMaterial, Transport};
    ///
    /// let built = Transport::builder().backend(TlsBackend::OpenSsl).build();
    /// if TlsBackend::OpenSsl.is_available() {
    ///     assert_eq!(built?.backend(), TlsBackend::OpenSsl);
    /// } else {
    ///     assert!(matches!(built, Err(Error::Tls { material: TlsMaterial::Backend, .. })));
    /// }
    /// # Ok::<(), dm_client::Error>(())
    /// ```
    pub fn backend(mut self, backend: TlsBackend) -> TransportBuilder {
        self.backend = backend;
        self
    }

    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE`
    /// blocks) for server certificates, instead of the platform's trust
    /// store. May be called several times.
    pub fn ca_pem(mut self, pem: &[u8]) -> TransportBuilder {
        match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
            Ok(certificates) if !certificates.is_empty() => {
                self.settings.roots.extend(certificates);
            }
            Ok(_) => self.fail(tls(TlsMaterial::CaPem, "it holds no certificate")),
            Err(e) => self.fail(tls(TlsMaterial::CaPem, e)),
        }
        self
    }

    /// Trusts `roots` (DER) in addition to those given before (a derived
    /// transport's inheritance).
    pub(crate) fn roots(mut self, roots: Vec<CertificateDer<'static>>) -> TransportBuilder {
        self.settings.roots.extend(roots);
        self
    }

    /// Authenticates the server by one certificate (DER), the rule of a
    /// bootstrap account's `Auth/Bootstrap/ServerPubKey` in X.509 mode:
    /// the server is accepted when it presents exactly this certificate
    /// (pinned: its host name and validity dates are then not checked, it
    /// is the server's identity itself), or a chain that verifies up to
    /// this certificate as the only trust anchor (it is then the CA that
    /// issued the server's certificate, and the host name of the URI is
    /// checked). Any other server fails the handshake
    /// ([`TransportFailure::Tls`](crate::TransportFailure::Tls), never
    /// retried). Replaces the platform's trust store; cannot be combined
    /// with [`ca_pem`](TransportBuilder::ca_pem) or [`psk`](TransportBuilder::psk).
    ///
    /// ```
    /// use dm_client::{Error, TlsMaterial, Transport};
    /// # let (ca, _issuer) = dm_test_support::device::test_ca("bootstrap CA");
    /// # let server_pub_key: Vec<u8> = ca.der().to_vec();
    ///
    /// let bootstrap = Transport::builder().server_certificate_der(server_pub_key).build()?;
    /// # let _ = bootstrap;
    /// let err = Transport::builder().server_certificate_der(b"not DER".to_vec()).build().unwrap_err();
    /// assert!(matches!(err, Error::Tls { material: TlsMaterial::ServerCertificate, .. }));
    /// # Ok::<(), dm_client::Error>(())
    /// ```
    pub fn server_certificate_der(mut self, certificate_der: Vec<u8>) -> TransportBuilder {
        if certificate_der.is_empty() {
            self.fail(tls(TlsMaterial::ServerCertificate, "it is empty"));
        } else {
            self.settings.server_certificate = Some(CertificateDer::from(certificate_der));
        }
        self
    }

    /// Presents this TLS client certificate (chain in `certificate_pem`,
    /// leaf first) with its private key (`key_pem`: PKCS#8, PKCS#1 or SEC1).
    pub fn client_identity_pem(
        mut self,
        certificate_pem: &[u8],
        key_pem: &[u8],
    ) -> TransportBuilder {
        let chain =
            match CertificateDer::pem_slice_iter(certificate_pem).collect::<Result<Vec<_>, _>>() {
                Ok(chain) if !chain.is_empty() => chain,
                Ok(_) => {
                    self.fail(tls(
                        TlsMaterial::ClientCertificatePem,
                        "it holds no certificate",
                    ));
                    return self;
                }
                Err(e) => {
                    self.fail(tls(TlsMaterial::ClientCertificatePem, e));
                    return self;
                }
            };
        match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(key) => self.settings.identity = Some((chain, key)),
            Err(e) => self.fail(tls(TlsMaterial::ClientKeyPem, e)),
        }
        self
    }

    /// Presents this TLS client certificate: `certificate_chain_der` leaf
    /// first, one DER certificate each, with its private key
    /// (`pkcs8_key_der`: PKCS#8 DER, as a bootstrap account's
    /// `ClientPubKey` and `ClientSecretKey` hold them in X.509 mode). That
    /// the key belongs to the certificate is checked at
    /// [`build`](TransportBuilder::build) ([`TlsMaterial::ClientIdentity`]).
    ///
    /// ```
    /// use dm_client::Transport;
    /// # let (_ca, issuer) = dm_test_support::device::test_ca("CA");
    /// # let (certificate, key) = dm_test_support::device::signed_certificate(&issuer, &[], Some("IMEI:1"));
    /// # let (client_pub_key, client_secret_key) = (certificate.der().to_vec(), key.serialize_der());
    ///
    /// let transport = Transport::builder()
    ///     .client_identity_der(vec![client_pub_key], client_secret_key)
    ///     .build()?;
    /// # let _ = transport;
    /// # Ok::<(), dm_client::Error>(())
    /// ```
    pub fn client_identity_der(
        mut self,
        certificate_chain_der: Vec<Vec<u8>>,
        pkcs8_key_der: Vec<u8>,
    ) -> TransportBuilder {
        if certificate_chain_der.is_empty() || certificate_chain_der.iter().any(Vec::is_empty) {
            self.fail(tls(
                TlsMaterial::ClientCertificateDer,
                "a certificate is missing or empty",
            ));
            return self;
        }
        if pkcs8_key_der.is_empty() {
            self.fail(tls(TlsMaterial::ClientKeyDer, "it is empty"));
            return self;
        }
        let chain = certificate_chain_der
            .into_iter()
            .map(CertificateDer::from)
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_key_der));
        self.settings.identity = Some((chain, key));
        self
    }

    /// Presents a TLS client certificate given as an account's `Auth/Trsp`
    /// holds it: `data` the certificate chain as PEM text (leaf first) or
    /// one DER certificate, `secret` its private key as PEM text or DER
    /// (PKCS#8, PKCS#1 or SEC1). Same as
    /// [`client_identity_pem`](TransportBuilder::client_identity_pem) or
    /// [`client_identity_der`](TransportBuilder::client_identity_der) by
    /// the form of the input.
    ///
    /// ```
    /// use dm_client::Transport;
    /// # let (_ca, issuer) = dm_test_support::device::test_ca("CA");
    /// # let (certificate, key) = dm_test_support::device::signed_certificate(&issuer, &[], Some("IMEI:1"));
    ///
    /// // PEM text, or DER: whatever Auth/Trsp/Data and Secret hold.
    /// let pem = Transport::builder()
    ///     .client_identity(certificate.pem().as_bytes(), key.serialize_pem().as_bytes())
    ///     .build()?;
    /// let der = Transport::builder()
    ///     .client_identity(certificate.der(), &key.serialize_der())
    ///     .build()?;
    /// # let _ = (pem, der);
    /// # Ok::<(), dm_client::Error>(())
    /// ```
    pub fn client_identity(mut self, data: &[u8], secret: &[u8]) -> TransportBuilder {
        if is_pem(data) {
            if is_pem(secret) {
                return self.client_identity_pem(data, secret);
            }
            let chain = match CertificateDer::pem_slice_iter(data).collect::<Result<Vec<_>, _>>() {
                Ok(chain) if !chain.is_empty() => chain,
                Ok(_) => {
                    self.fail(tls(
                        TlsMaterial::ClientCertificatePem,
                        "it holds no certificate",
                    ));
                    return self;
                }
                Err(e) => {
                    self.fail(tls(TlsMaterial::ClientCertificatePem, e));
                    return self;
                }
            };
            return self.client_key_der(chain, secret);
        }
        if data.is_empty() {
            self.fail(tls(TlsMaterial::ClientCertificateDer, "it is empty"));
            return self;
        }
        let chain = vec![CertificateDer::from(data.to_vec())];
        if is_pem(secret) {
            match PrivateKeyDer::from_pem_slice(secret) {
                Ok(key) => self.settings.identity = Some((chain, key)),
                Err(e) => self.fail(tls(TlsMaterial::ClientKeyPem, e)),
            }
            return self;
        }
        self.client_key_der(chain, secret)
    }

    /// Takes `chain` with the DER key `secret` (its kind recognized).
    fn client_key_der(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        secret: &[u8],
    ) -> TransportBuilder {
        match PrivateKeyDer::try_from(secret) {
            Ok(key) => self.settings.identity = Some((chain, key.clone_key())),
            Err(e) => self.fail(tls(TlsMaterial::ClientKeyDer, e)),
        }
        self
    }

    /// PSK-TLS (RFC 4279): the device authenticates itself and the server
    /// with a pre-shared key, as a bootstrap account's `ClientPubKey`
    /// (`identity`) and `ClientSecretKey` (`key`) hold it in PSK mode.
    /// Only PSK cipher suites are offered then, over TLS 1.2 (all the
    /// suites of the specification are TLS 1.2 suites):
    /// `ECDHE-PSK-AES128-CBC-SHA256`, `DHE-PSK-AES128-GCM-SHA256`,
    /// `DHE-PSK-AES128-CBC-SHA256`, `PSK-AES128-GCM-SHA256`,
    /// `PSK-AES128-CBC-SHA256`. No certificate is sent or checked.
    ///
    /// Needs [`TlsBackend::OpenSsl`] (rustls has no PSK suite): with
    /// another backend, [`build`](TransportBuilder::build) fails with
    /// [`TlsMaterial::PreSharedKey`], as it does for an empty identity or
    /// key, an identity over 128 bytes or with a NUL byte, a key over 256
    /// bytes, or a PSK together with certificates.
    ///
    /// ```
    /// use dm_client::{Error, TlsBackend, TlsMaterial, Transport};
    ///
    /// let psk = Transport::builder()
    ///     .backend(TlsBackend::OpenSsl)
    ///     .psk(b"IMEI:493005100592800".to_vec(), vec![0x5a; 32])
    ///     .psk_identity_hint(b"dm bootstrap".to_vec())
    ///     .build();
    /// if TlsBackend::OpenSsl.is_available() {
    ///     assert_eq!(psk?.backend(), TlsBackend::OpenSsl);
    /// }
    ///
    /// // rustls cannot do PSK-TLS.
    /// let err = Transport::builder().psk(b"id".to_vec(), vec![1; 16]).build().unwrap_err();
    /// assert!(matches!(err, Error::Tls { material: TlsMaterial::PreSharedKey, .. }));
    /// # Ok::<(), dm_client::Error>(())
    /// ```
    pub fn psk(mut self, identity: Vec<u8>, key: Vec<u8>) -> TransportBuilder {
        if identity.is_empty() || identity.len() > MAX_PSK_IDENTITY || identity.contains(&0) {
            self.fail(tls(
                TlsMaterial::PreSharedKey,
                format!("the identity must be 1 to {MAX_PSK_IDENTITY} bytes without NUL"),
            ));
            return self;
        }
        if key.is_empty() || key.len() > MAX_PSK_KEY {
            self.fail(tls(
                TlsMaterial::PreSharedKey,
                format!("the key must be 1 to {MAX_PSK_KEY} bytes"),
            ));
            return self;
        }
        self.settings.psk = Some(Psk { identity, key });
        self
    }

    /// The PSK identity hint the server must send (a bootstrap account's
    /// `ServerPubKey` in PSK mode): a server that sends another one fails
    /// the handshake, reported as such. An empty `hint` means the server
    /// must send none. Without this call any hint is accepted. Needs
    /// [`psk`](TransportBuilder::psk) (called before or after).
    ///
    /// ```
    /// use dm_client::{Error, TlsBackend, TlsMaterial, Transport};
    ///
    /// // A hint without a PSK is refused.
    /// let err = Transport::builder()
    ///     .backend(TlsBackend::OpenSsl)
    ///     .psk_identity_hint(Vec::new())
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::Tls { material: TlsMaterial::PreSharedKey | TlsMaterial::Backend, .. }));
    /// ```
    pub fn psk_identity_hint(mut self, hint: Vec<u8>) -> TransportBuilder {
        self.settings.psk_identity_hint = Some(hint);
        self
    }

    /// Longest wait for a connection (TCP and TLS).
    pub fn connect_timeout(mut self, timeout: Duration) -> TransportBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Longest wait for one request's answer, body included.
    pub fn request_timeout(mut self, timeout: Duration) -> TransportBuilder {
        self.request_timeout = timeout;
        self
    }

    /// The retry policy for network failures.
    pub fn retry(mut self, retry: RetryPolicy) -> TransportBuilder {
        self.retry = retry;
        self
    }

    /// Most idle connections kept per host (a fleet of simulated devices
    /// shares them).
    pub fn idle_connections_per_host(mut self, connections: usize) -> TransportBuilder {
        self.idle_connections_per_host = connections;
        self
    }

    /// The combinations of settings that cannot work together.
    fn check(&self) -> Result<(), Error> {
        if !self.backend.is_available() {
            return Err(unavailable(self.backend));
        }
        if self.settings.server_certificate.is_some() && !self.settings.roots.is_empty() {
            return Err(tls(
                TlsMaterial::ServerCertificate,
                "an expected server certificate replaces the CA roots: give one or the other",
            ));
        }
        if self.settings.psk_identity_hint.is_some() && self.settings.psk.is_none() {
            return Err(tls(
                TlsMaterial::PreSharedKey,
                "an identity hint is expected but no pre-shared key is given",
            ));
        }
        if self.settings.psk.is_some() {
            if self.backend != TlsBackend::OpenSsl {
                return Err(tls(
                    TlsMaterial::PreSharedKey,
                    format!(
                        "PSK-TLS needs the OpenSSL backend ({} has no PSK cipher suite)",
                        self.backend
                    ),
                ));
            }
            if self.settings.identity.is_some()
                || self.settings.server_certificate.is_some()
                || !self.settings.roots.is_empty()
            {
                return Err(tls(
                    TlsMaterial::PreSharedKey,
                    "PSK-TLS authenticates both sides by the key: no certificate goes with it",
                ));
            }
        }
        Ok(())
    }

    /// Builds the transport. Errors: unusable PEM or DER input, settings
    /// that do not go together or a backend this build lacks
    /// ([`Error::Tls`], naming the [`TlsMaterial`]), or an HTTP client
    /// that cannot be built ([`Error::Http`]).
    pub fn build(self) -> Result<Transport, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.check()?;
        let base = super::Base {
            backend: self.backend,
            roots: self.settings.roots.clone(),
            connect_timeout: self.connect_timeout,
            idle_connections_per_host: self.idle_connections_per_host,
        };
        let backend = match self.backend {
            TlsBackend::Rustls => Backend::Rustls(super::rustls::client(
                self.settings,
                self.connect_timeout,
                self.idle_connections_per_host,
            )?),
            #[cfg(feature = "openssl")]
            TlsBackend::OpenSsl => Backend::OpenSsl(super::openssl::Client::new(
                self.settings,
                self.connect_timeout,
                self.idle_connections_per_host,
            )?),
            #[cfg(not(feature = "openssl"))]
            TlsBackend::OpenSsl => return Err(unavailable(self.backend)),
        };
        Ok(Transport {
            inner: Arc::new(TransportInner {
                backend,
                retry: self.retry,
                request_timeout: self.request_timeout,
                base,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_reported_at_build() {
        let err = Transport::builder()
            .ca_pem(b"no pem here")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tls {
                    material: TlsMaterial::CaPem,
                    ..
                }
            ),
            "{err}"
        );
        let err = Transport::builder()
            .client_identity_pem(b"", b"")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tls {
                    material: TlsMaterial::ClientCertificatePem,
                    ..
                }
            ),
            "{err}"
        );
    }

    fn material(builder: TransportBuilder) -> TlsMaterial {
        match builder.build() {
            Err(Error::Tls { material, .. }) => material,
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }

    #[test]
    fn unusable_der_and_psk_settings_are_reported_at_build() {
        assert_eq!(
            material(Transport::builder().client_identity_der(Vec::new(), vec![1])),
            TlsMaterial::ClientCertificateDer
        );
        assert_eq!(
            material(Transport::builder().client_identity_der(vec![vec![0x30]], Vec::new())),
            TlsMaterial::ClientKeyDer
        );
        assert_eq!(
            material(Transport::builder().client_identity(b"\x30\x03\x02\x01\x01", b"junk")),
            TlsMaterial::ClientKeyDer
        );
        assert_eq!(
            material(Transport::builder().server_certificate_der(Vec::new())),
            TlsMaterial::ServerCertificate
        );
        let openssl = || Transport::builder().backend(TlsBackend::OpenSsl);
        for (identity, key) in [
            (Vec::new(), vec![1]),
            (vec![b'a'; MAX_PSK_IDENTITY + 1], vec![1]),
            (b"a\0b".to_vec(), vec![1]),
            (b"id".to_vec(), Vec::new()),
            (b"id".to_vec(), vec![1; MAX_PSK_KEY + 1]),
        ] {
            assert_eq!(
                material(openssl().psk(identity, key)),
                TlsMaterial::PreSharedKey
            );
        }
        // PSK with rustls, whatever the build.
        assert_eq!(
            material(Transport::builder().psk(b"id".to_vec(), vec![1; 16])),
            TlsMaterial::PreSharedKey
        );
        if TlsBackend::OpenSsl.is_available() {
            // A hint without a key, a PSK with certificates.
            assert_eq!(
                material(openssl().psk_identity_hint(b"hint".to_vec())),
                TlsMaterial::PreSharedKey
            );
            let (ca, _) = dm_test_support::device::test_ca("CA");
            assert_eq!(
                material(
                    openssl()
                        .psk(b"id".to_vec(), vec![1; 16])
                        .server_certificate_der(ca.der().to_vec())
                ),
                TlsMaterial::PreSharedKey
            );
            // The hint given before the key is kept.
            assert!(
                openssl()
                    .psk_identity_hint(b"hint".to_vec())
                    .psk(b"id".to_vec(), vec![1; 16])
                    .build()
                    .is_ok()
            );
        } else {
            assert_eq!(material(openssl()), TlsMaterial::Backend);
        }
    }
}
