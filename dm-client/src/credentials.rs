//! Session credentials read from the tree (docs/protocol.md section 11.1):
//! `Ext/HTTPAuth` answers HTTP challenges, `Auth/Trsp` is the TLS client
//! identity of management sessions, and `Auth/Bootstrap` the mutually
//! authenticated connection of bootstrap sessions. What a session changes
//! in the tree applies to the next one.

use std::hash::{Hash as _, Hasher as _};

use dm_tree::{BootstrapAuth, HttpAuth, SecMode};
use dm_types::ServerId;

use crate::Error;
use crate::auth::Credentials;
use crate::transport::{TlsBackend, Transport};

/// A transport built for one account's `Auth/Trsp`, kept while the
/// material is the same.
#[derive(Debug, Clone)]
pub(crate) struct DerivedTransport {
    pub(crate) server: ServerId,
    /// A hash of `Auth/Trsp/Data` and `Secret` (the material itself is not
    /// kept twice).
    pub(crate) material: u64,
    pub(crate) transport: Transport,
}

/// The HTTP credentials of an account's `Ext/HTTPAuth`, answering the
/// schemes `given` names (Basic only, Digest only, or either — the default
/// when the account was not configured with a [`Credentials`] kind).
/// `Secret` is the password as UTF-8 text (bytes that are not UTF-8 are
/// replaced, as a password typed on a device is text).
pub(crate) fn http_credentials(http: Option<&HttpAuth>, given: &Credentials) -> Credentials {
    let Some(http) = http else {
        return Credentials::None;
    };
    let username = http.name.clone();
    let password = String::from_utf8_lossy(&http.secret).into_owned();
    match given {
        Credentials::Basic { .. } => Credentials::Basic { username, password },
        Credentials::Digest { .. } => Credentials::Digest { username, password },
        Credentials::None | Credentials::Password { .. } => {
            Credentials::Password { username, password }
        }
    }
}

/// The `Ext/HTTPAuth` that `credentials` write into an account; `None`
/// for [`Credentials::None`].
pub(crate) fn http_auth(credentials: &Credentials) -> Option<HttpAuth> {
    match credentials {
        Credentials::None => None,
        Credentials::Basic { username, password }
        | Credentials::Digest { username, password }
        | Credentials::Password { username, password } => Some(HttpAuth {
            name: username.clone(),
            secret: password.as_bytes().to_vec(),
        }),
    }
}

pub(crate) fn material_hash(data: &[u8], secret: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    secret.hash(&mut hasher);
    hasher.finish()
}

/// The transport of a bootstrap session (docs/protocol.md section 11.3,
/// step 1), derived from `base` (timeouts, retry, pool): X.509 mode
/// presents `ClientPubKey` with `ClientSecretKey` and accepts only the
/// server `ServerPubKey` is or issued; PSK mode uses the OpenSSL backend
/// with `ClientPubKey` as identity, `ClientSecretKey` as key and, when not
/// empty, `ServerPubKey` as the identity hint the server must send. Errors:
/// [`Error::Tls`] when the material is unusable or PSK-TLS is not built in
/// (the `openssl` feature).
pub(crate) fn bootstrap_transport(
    base: &Transport,
    auth: &BootstrapAuth,
) -> Result<Transport, Error> {
    match auth.mode {
        SecMode::X509 => base
            .derive(false)
            .client_identity_der(vec![auth.client_public.clone()], auth.client_secret.clone())
            .server_certificate_der(auth.server_public.clone())
            .build(),
        SecMode::Psk => {
            let mut builder = base
                .derive(false)
                .backend(TlsBackend::OpenSsl)
                .psk(auth.client_public.clone(), auth.client_secret.clone());
            if !auth.server_public.is_empty() {
                builder = builder.psk_identity_hint(auth.server_public.clone());
            }
            builder.build()
        }
    }
}
