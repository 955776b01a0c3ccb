//! The OpenSSL TLS backend (cargo feature `openssl`; docs/tls.md): every
//! cipher suite of docs/protocol.md section 12, the PSK-TLS suites (RFC
//! 4279) included, on the system OpenSSL.
//!
//! [`Settings::load`] checks the PEM material when the options are built;
//! [`Settings::context`] makes the `SSL_CTX` when the server starts
//! serving, with the PSK callback that reads the store ([`PskLookup`]).

use std::pin::Pin;
use std::sync::Arc;

use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::pkey::{Id, PKey, Private};
use openssl::ssl::{
    AlpnError, Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslRef, SslVerifyMode,
    SslVersion, select_next_proto,
};
use openssl::stack::Stack;
use openssl::x509::{X509, X509Name};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use crate::store::PskIdentity;
use crate::{Error, PskCredentials};

/// The PEM material and choices of [`TlsOptions`](crate::TlsOptions) the
/// backend reads.
pub(crate) struct Material<'a> {
    pub(crate) cert_chain: &'a [u8],
    pub(crate) key: &'a [u8],
    pub(crate) ecdsa: Option<(&'a [u8], &'a [u8])>,
    pub(crate) client_ca: Option<&'a [u8]>,
    pub(crate) client_certificate_required: bool,
    pub(crate) psk: bool,
}

/// The PSK-TLS suites of docs/protocol.md section 12 (OpenSSL names), the
/// forward-secret ones first.
pub(crate) const PSK_SUITES: [&str; 7] = [
    "ECDHE-PSK-AES128-CBC-SHA256",
    "DHE-PSK-AES128-GCM-SHA256",
    "DHE-PSK-AES128-CBC-SHA256",
    "RSA-PSK-AES128-GCM-SHA256",
    "RSA-PSK-AES128-CBC-SHA256",
    "PSK-AES128-GCM-SHA256",
    "PSK-AES128-CBC-SHA256",
];

/// The X.509 suites of docs/protocol.md section 12 (OpenSSL names), the
/// forward-secret ones first.
pub(crate) const X509_SUITES: [&str; 6] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "DHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "DHE-RSA-AES128-SHA256",
    "AES128-GCM-SHA256",
    "AES128-SHA256",
];

/// TLS 1.2 suites stronger than those of the specification, preferred when
/// a client offers them.
const STRONGER_SUITES: [&str; 5] = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256",
];

/// The OpenSSL security level: 2 (112-bit keys: RSA and DHE of 2048 bits,
/// ECC of 224 bits at least; no RC4, no SSL 3) is the highest at which
/// every suite of the specification can be negotiated — level 3 refuses
/// suites without forward secrecy (`AES128-GCM-SHA256`, the PSK and RSA-PSK
/// suites). Set explicitly so that a system configuration raising the
/// level does not silently drop suites the specification requires.
pub(crate) const SECURITY_LEVEL: u32 = 2;

/// The finite-field group of the DHE suites: ffdhe2048 (RFC 7919).
const FFDHE2048: &[u8] = b"-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";

/// The length of the key an unknown PSK identity is given, so that its
/// handshake fails where a wrong key's does (at `Finished`).
const UNKNOWN_IDENTITY_KEY_BYTES: usize = 32;

/// The OpenSSL cipher list: the stronger suites, then the specification's
/// X.509 suites, then (with PSK) its PSK suites.
pub(crate) fn cipher_list(psk: bool) -> String {
    let mut suites: Vec<&str> = STRONGER_SUITES
        .iter()
        .chain(&X509_SUITES)
        .copied()
        .collect();
    if psk {
        suites.extend(PSK_SUITES);
    }
    suites.join(":")
}

/// How the PSK callback finds the key of an identity: the registered key,
/// `None` for an unknown identity. Called on the thread running the
/// handshake; it may block.
pub(crate) type PskLookup =
    Arc<dyn Fn(&PskIdentity) -> Result<Option<PskCredentials>, Error> + Send + Sync>;

/// A certificate chain (leaf first) and its key.
struct Certified {
    chain: Vec<X509>,
    key: PKey<Private>,
}

/// The checked material of the OpenSSL backend.
pub(crate) struct Settings {
    certificates: Vec<Certified>,
    client_ca: Vec<X509>,
    client_certificate_required: bool,
    psk: bool,
}

fn tls(part: &'static str, problem: impl std::fmt::Display) -> Error {
    Error::Tls {
        part,
        problem: problem.to_string(),
    }
}

fn certified(part: &'static str, chain: &[u8], key: &[u8]) -> Result<Certified, Error> {
    let chain = X509::stack_from_pem(chain).map_err(|e| tls(part, e))?;
    if chain.is_empty() {
        return Err(tls(part, "no certificate in the PEM"));
    }
    let key =
        PKey::private_key_from_pem(key).map_err(|e| tls(part, format!("private key: {e}")))?;
    Ok(Certified { chain, key })
}

impl Settings {
    /// Reads and checks the material of `options`, and builds a context
    /// from it once (so that every mistake shows when the options are
    /// built).
    pub(crate) fn load(options: &Material<'_>) -> Result<Settings, Error> {
        let mut certificates = vec![certified(
            "certificate and key",
            options.cert_chain,
            options.key,
        )?];
        if let Some((chain, key)) = options.ecdsa {
            let ecdsa = certified("ECDSA certificate and key", chain, key)?;
            if ecdsa.key.id() != Id::EC {
                return Err(tls(
                    "ECDSA certificate and key",
                    "the key is not an ECDSA key",
                ));
            }
            if certificates[0].key.id() == Id::EC {
                return Err(tls(
                    "ECDSA certificate and key",
                    "cert and key are ECDSA already: give an RSA certificate as cert and key",
                ));
            }
            certificates.push(ecdsa);
        }
        let client_ca = match options.client_ca {
            None => Vec::new(),
            Some(pem) => {
                let roots = X509::stack_from_pem(pem).map_err(|e| tls("client CA", e))?;
                if roots.is_empty() {
                    return Err(tls("client CA", "no certificate in the PEM"));
                }
                roots
            }
        };
        if options.client_certificate_required && client_ca.is_empty() {
            return Err(tls(
                "client CA",
                "a client certificate is required but no client CA is given",
            ));
        }
        let settings = Settings {
            certificates,
            client_ca,
            client_certificate_required: options.client_certificate_required,
            psk: options.psk,
        };
        settings.context(None)?;
        Ok(settings)
    }

    /// Whether devices may authenticate by PSK-TLS.
    pub(crate) fn psk(&self) -> bool {
        self.psk
    }

    /// The `SSL_CTX`: TLS 1.2 and 1.3, [`cipher_list`] in the server's order,
    /// [`SECURITY_LEVEL`], ffdhe2048, the certificates, client certificates
    /// verified against the client CA, ALPN `http/1.1`, and with `psk` the
    /// PSK callback.
    pub(crate) fn context(&self, psk: Option<PskLookup>) -> Result<SslContext, Error> {
        let setup = |e: ErrorStack| tls("OpenSSL context", e);
        let mut builder = SslContextBuilder::new(SslMethod::tls_server()).map_err(setup)?;
        builder
            .set_min_proto_version(Some(SslVersion::TLS1_2))
            .map_err(setup)?;
        builder.set_security_level(SECURITY_LEVEL);
        builder.set_options(
            SslOptions::CIPHER_SERVER_PREFERENCE
                | SslOptions::NO_COMPRESSION
                | SslOptions::NO_RENEGOTIATION,
        );
        builder
            .set_cipher_list(&cipher_list(self.psk))
            .map_err(|e| tls("cipher list", e))?;
        let dh = Dh::params_from_pem(FFDHE2048).map_err(setup)?;
        builder.set_tmp_dh(&dh).map_err(setup)?;
        for certified in &self.certificates {
            let part = "certificate and key";
            builder
                .set_certificate(&certified.chain[0])
                .map_err(|e| tls(part, e))?;
            builder
                .set_private_key(&certified.key)
                .map_err(|e| tls(part, e))?;
            builder
                .check_private_key()
                .map_err(|e| tls(part, format!("the key does not match the certificate: {e}")))?;
        }
        if self.client_ca.is_empty() {
            builder.set_verify(SslVerifyMode::NONE);
        } else {
            let mut names = Stack::<X509Name>::new().map_err(setup)?;
            for ca in &self.client_ca {
                builder
                    .cert_store_mut()
                    .add_cert(ca.clone())
                    .map_err(|e| tls("client CA", e))?;
                names
                    .push(ca.subject_name().to_owned().map_err(setup)?)
                    .map_err(setup)?;
            }
            builder.set_client_ca_list(names);
            let mut mode = SslVerifyMode::PEER;
            if self.client_certificate_required {
                mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
            }
            builder.set_verify(mode);
        }
        builder
            .set_session_id_context(b"dm-server")
            .map_err(setup)?;
        builder.set_alpn_select_callback(|_, offered| {
            select_next_proto(b"\x08http/1.1", offered).ok_or(AlpnError::NOACK)
        });
        if let Some(lookup) = psk {
            builder.set_psk_server_callback(move |ssl, identity, key| {
                Ok(psk_key(ssl, lookup.as_ref(), identity, key))
            });
        }
        Ok(builder.build())
    }
}

/// The PSK callback: writes the key of `identity` into `out` and returns
/// its length (0: no key, the handshake fails).
///
/// An identity that is not registered (or not a valid identity) gets a
/// random key, so that its handshake fails exactly where a wrong key's
/// does, at the client's `Finished` (OpenSSL checks the key there), after
/// the same store look-up: the failure does not tell an unknown identity
/// from a wrong key. A store failure fails the handshake (`0`: no key) and
/// is logged. TLS 1.3 is declined (`0`): the specification's PSK suites are
/// TLS 1.2 suites, and only those name the device.
fn psk_key(
    ssl: &mut SslRef,
    lookup: &(dyn Fn(&PskIdentity) -> Result<Option<PskCredentials>, Error> + Send + Sync),
    identity: Option<&[u8]>,
    out: &mut [u8],
) -> usize {
    if ssl.version2() != Some(SslVersion::TLS1_2) {
        return 0;
    }
    let identity = identity.and_then(|bytes| PskIdentity::from_bytes(bytes).ok());
    let found = match identity.as_ref().map(lookup).transpose() {
        Ok(found) => found.flatten(),
        Err(error) => {
            tracing::warn!(%error, "PSK handshake failed: the store could not be read");
            return 0;
        }
    };
    match found {
        Some(psk) if psk.key().len() <= out.len() => {
            out[..psk.key().len()].copy_from_slice(psk.key());
            psk.key().len()
        }
        _ => {
            let Some(out) = out.get_mut(..UNKNOWN_IDENTITY_KEY_BYTES) else {
                return 0;
            };
            if getrandom::fill(out).is_err() {
                return 0;
            }
            UNKNOWN_IDENTITY_KEY_BYTES
        }
    }
}

/// What an accepted connection proved about its client.
pub(crate) struct Accepted {
    pub(crate) stream: SslStream<TcpStream>,
    /// The DER of the client certificate the client CA verified.
    pub(crate) certificate: Option<Vec<u8>>,
    /// The PSK identity whose registered key the handshake used.
    pub(crate) psk_identity: Option<PskIdentity>,
}

/// The server side of handshakes: the context and the material.
#[derive(Clone)]
pub(crate) struct Acceptor {
    context: SslContext,
    settings: Arc<Settings>,
}

impl Acceptor {
    /// The acceptor of `settings`; `psk` reads the keys of PSK identities
    /// (PSK-TLS is offered only with it).
    pub(crate) fn new(settings: Arc<Settings>, psk: Option<PskLookup>) -> Result<Acceptor, Error> {
        Ok(Acceptor {
            context: settings.context(psk)?,
            settings,
        })
    }

    /// Runs the server side of a handshake.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> Result<Accepted, String> {
        let mut ssl = Ssl::new(&self.context).map_err(|e| e.to_string())?;
        self.settings
            .add_chains(&mut ssl)
            .map_err(|e| e.to_string())?;
        accept(ssl, tcp).await
    }
}

impl Settings {
    /// The intermediate certificates of each certificate, for one
    /// connection (the context has room for one shared chain only).
    fn add_chains(&self, ssl: &mut SslRef) -> Result<(), ErrorStack> {
        for certified in &self.certificates {
            if certified.chain.len() > 1 {
                ssl.set_certificate(&certified.chain[0])?;
                for intermediate in &certified.chain[1..] {
                    ssl.add_chain_cert(intermediate.clone())?;
                }
            }
        }
        Ok(())
    }
}

async fn accept(ssl: Ssl, tcp: TcpStream) -> Result<Accepted, String> {
    let mut stream = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    Pin::new(&mut stream)
        .accept()
        .await
        .map_err(|e| e.to_string())?;
    let ssl = stream.ssl();
    let certificate = ssl
        .peer_certificate()
        .and_then(|certificate| certificate.to_der().ok());
    // Only a TLS 1.2 PSK suite proves the identity's key (Finished).
    let psk_suite = ssl.version2() == Some(SslVersion::TLS1_2)
        && ssl
            .current_cipher()
            .is_some_and(|cipher| cipher.name().contains("PSK"));
    let psk_identity = if psk_suite {
        ssl.psk_identity()
            .and_then(|bytes| PskIdentity::from_bytes(bytes).ok())
    } else {
        None
    };
    Ok(Accepted {
        stream,
        certificate,
        psk_identity,
    })
}

#[cfg(test)]
mod tests {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::rsa::Rsa;
    use openssl::x509::X509NameBuilder;

    use super::*;
    use crate::{DmServer, MemoryStore, ServerOptions, TlsBackend, TlsOptions, UdpChannel};

    /// A self-signed certificate and key of `key`, PEM.
    fn self_signed(key: &PKey<Private>) -> (Vec<u8>, Vec<u8>) {
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "localhost").expect("CN");
        let name = name.build();
        let mut builder = X509::builder().expect("builder");
        builder.set_version(2).expect("version");
        builder.set_subject_name(&name).expect("subject");
        builder.set_issuer_name(&name).expect("issuer");
        builder.set_pubkey(key).expect("key");
        builder
            .set_not_before(&Asn1Time::days_from_now(0).expect("time"))
            .expect("not before");
        builder
            .set_not_after(&Asn1Time::days_from_now(2).expect("time"))
            .expect("not after");
        builder.sign(key, MessageDigest::sha256()).expect("signed");
        let cert = builder.build();
        (
            cert.to_pem().expect("PEM"),
            key.private_key_to_pem_pkcs8().expect("PEM"),
        )
    }

    fn rsa() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).expect("RSA")).expect("key")
    }

    fn ecdsa() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        PKey::from_ec_key(EcKey::generate(&group).expect("EC")).expect("key")
    }

    fn refused_part(tls: &TlsOptions) -> &'static str {
        match Settings::load(&tls.material()) {
            Err(Error::Tls { part, .. }) => part,
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("not refused"),
        }
    }

    #[test]
    fn the_material_is_checked_when_the_options_are_built() {
        let (rsa_cert, rsa_key) = self_signed(&rsa());
        let (ec_cert, ec_key) = self_signed(&ecdsa());
        let openssl = |cert: &[u8], key: &[u8]| {
            TlsOptions::from_pem(cert, key).with_backend(TlsBackend::OpenSsl)
        };
        let both = openssl(&rsa_cert, &rsa_key)
            .with_ecdsa_pem(ec_cert.as_slice(), ec_key.as_slice())
            .with_client_ca_pem(ec_cert.as_slice())
            .with_psk(true);
        let options = ServerOptions::builder().tls(both).build().expect("valid");
        assert_eq!(options.tls_backend(), Some(TlsBackend::OpenSsl));
        // ECDSA alone as cert and key is fine too.
        assert!(Settings::load(&openssl(&ec_cert, &ec_key).material()).is_ok());

        assert_eq!(
            refused_part(&openssl(b"not pem", &rsa_key)),
            "certificate and key"
        );
        assert_eq!(
            refused_part(&openssl(&rsa_cert, b"not pem")),
            "certificate and key"
        );
        // A key that is not the certificate's.
        let (_, other_key) = self_signed(&rsa());
        assert_eq!(
            refused_part(&openssl(&rsa_cert, &other_key)),
            "certificate and key"
        );
        assert_eq!(
            refused_part(
                &openssl(&rsa_cert, &rsa_key)
                    .with_ecdsa_pem(rsa_cert.as_slice(), rsa_key.as_slice())
            ),
            "ECDSA certificate and key"
        );
        assert_eq!(
            refused_part(
                &openssl(&ec_cert, &ec_key).with_ecdsa_pem(ec_cert.as_slice(), ec_key.as_slice())
            ),
            "ECDSA certificate and key"
        );
        assert_eq!(
            refused_part(&openssl(&rsa_cert, &rsa_key).with_client_ca_pem("no certificate")),
            "client CA"
        );
        assert_eq!(
            refused_part(&openssl(&rsa_cert, &rsa_key).with_client_certificate_required(true)),
            "client CA"
        );
    }

    /// The PSK callback blocks on the store: a current-thread runtime
    /// (where that would stall every connection) is refused at start.
    #[tokio::test]
    async fn psk_is_refused_on_a_current_thread_runtime() {
        let (cert, key) = self_signed(&ecdsa());
        let tls = TlsOptions::from_pem(cert, key)
            .with_backend(TlsBackend::OpenSsl)
            .with_psk(true);
        let options = ServerOptions::builder().tls(tls).build().expect("valid");
        let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        match server.serve(listener, async {}).await {
            Err(Error::Tls { part, problem }) => {
                assert_eq!(part, "PSK");
                assert!(problem.contains("multi-thread"), "{problem}");
            }
            other => panic!("served: {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn psk_is_served_on_a_multi_thread_runtime() {
        let (cert, key) = self_signed(&ecdsa());
        let tls = TlsOptions::from_pem(cert, key)
            .with_backend(TlsBackend::OpenSsl)
            .with_psk(true);
        let options = ServerOptions::builder().tls(tls).build().expect("valid");
        let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        assert!(server.serve(listener, async {}).await.is_ok());
    }

    #[test]
    fn the_cipher_list_names_every_suite_of_the_specification() {
        let with_psk = cipher_list(true);
        for suite in PSK_SUITES.iter().chain(&X509_SUITES) {
            assert!(with_psk.split(':').any(|s| s == *suite), "{suite}");
        }
        let without = cipher_list(false);
        assert!(!without.contains("PSK"), "{without}");
        // OpenSSL knows every name (an unknown one would be skipped
        // silently by a list that has others).
        for suite in PSK_SUITES
            .iter()
            .chain(&X509_SUITES)
            .chain(&STRONGER_SUITES)
        {
            let mut builder = SslContextBuilder::new(SslMethod::tls_server()).expect("context");
            assert!(builder.set_cipher_list(suite).is_ok(), "{suite}");
        }
    }
}
