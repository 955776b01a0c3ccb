//! Who a bootstrap connection is: the identity of its bootstrap credential
//! (certificate subject CN, or PSK identity).

use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::auth::ClientCertificate;

/// The bootstrap credential a connection authenticated with: a verified
/// client certificate (issued by the bootstrap CA), or a PSK identity (PSK
/// TLS). The server inserts it as a request extension; a TLS layer of its
/// own (PSK) inserts [`BootstrapCredential::Psk`] after its PSK callback
/// accepted the identity (see [`crate::Admin::bootstrap_psk`]).
///
/// ```
/// use dm_server::bootstrap::BootstrapCredential;
///
/// let psk = BootstrapCredential::Psk { identity: "device-7".into() };
/// assert_eq!(psk.identity(), Some("device-7"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BootstrapCredential {
    /// A client certificate the TLS layer verified.
    Certificate {
        /// Its fingerprint.
        certificate: ClientCertificate,
        /// The first `CN` of its subject, when it has one (UTF-8).
        common_name: Option<String>,
    },
    /// A PSK identity the TLS layer accepted.
    Psk {
        /// The identity.
        identity: String,
    },
}

impl BootstrapCredential {
    /// The credential of a certificate given as DER: its fingerprint and
    /// subject CN (`None` when the DER does not parse or has no CN; the TLS
    /// layer verified the certificate already).
    ///
    /// ```
    /// use dm_server::bootstrap::BootstrapCredential;
    ///
    /// let credential = BootstrapCredential::from_certificate_der(b"not DER");
    /// assert_eq!(credential.identity(), None);
    /// ```
    pub fn from_certificate_der(der: &[u8]) -> BootstrapCredential {
        let common_name = X509Certificate::from_der(der).ok().and_then(|(_, cert)| {
            cert.subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned)
        });
        BootstrapCredential::Certificate {
            certificate: ClientCertificate::from_der(der),
            common_name,
        }
    }

    /// The identity profiles match on and that DMAcc data is bound to: the
    /// certificate's CN, or the PSK identity.
    pub fn identity(&self) -> Option<&str> {
        match self {
            BootstrapCredential::Certificate { common_name, .. } => common_name.as_deref(),
            BootstrapCredential::Psk { identity } => Some(identity),
        }
    }

    /// What the DMAcc data is bound to (only a connection with the same
    /// credential may read it) and outcomes record: `cert-sha256:<hex>` (the
    /// very certificate), or `psk:<identity>`.
    pub fn binding(&self) -> String {
        match self {
            BootstrapCredential::Certificate { certificate, .. } => {
                format!(
                    "cert-sha256:{}",
                    dm_codec::hex::encode(certificate.sha256())
                )
            }
            BootstrapCredential::Psk { identity } => format!("psk:{identity}"),
        }
    }
}
