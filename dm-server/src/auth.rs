//! Device and admin authentication: HTTP Basic, HTTP Digest (RFC 7616,
//! SHA-256 and MD5, `qop=auth`) with stateless nonces, TLS client
//! certificates, PSK-TLS identities, and the admin bearer token. The protocol part (challenges,
//! parsing the `Authorization` value, checking a Digest response) is
//! [`dm_session::http_auth`]; this module adds what needs the store: the
//! nonces, the nonce counts, the user lookup.
//!
//! Digest nonces carry their creation time and an HMAC of it under the
//! store's key ([`Store::server_key`]), so any node sharing the store checks
//! any node's nonce without remembering it. Each nonce count is accepted
//! once ([`Store::use_digest_nonce`]), so a captured request cannot be
//! replayed.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use dm_session::http_auth::{
    Authorization, BasicChallenge, BasicCredentials, DigestAlgorithm, DigestChallenge,
    DigestCredentials,
};
use dm_types::DevId;

use crate::Error;
use crate::options::ServerOptions;
use crate::store::{
    ApiKey, ApiKeyRecord, DeviceRecord, PasswordCredentials, PskIdentity, SessionRecord,
    SessionToken, Store,
};
use crate::util::{hmac_sha256, sha256};
use dm_codec::hex::constant_time_eq;

/// The SHA-256 fingerprint of the TLS client certificate a device presented,
/// as a request extension.
///
/// [`DmServer::serve`](crate::DmServer::serve) adds it to every request of a
/// TLS connection whose client sent a certificate the client CA verified.
/// An application that terminates TLS itself and embeds
/// [`DmServer::router`](crate::DmServer::router) adds it the same way.
///
/// ```
/// use dm_server::ClientCertificate;
///
/// let certificate = ClientCertificate::from_der(b"certificate DER");
/// assert_eq!(certificate.sha256().len(), 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    sha256: [u8; 32],
}

impl ClientCertificate {
    /// The fingerprint of a certificate given as DER.
    pub fn from_der(der: &[u8]) -> ClientCertificate {
        ClientCertificate {
            sha256: sha256(der),
        }
    }

    /// A fingerprint computed elsewhere.
    pub fn from_sha256(sha256: [u8; 32]) -> ClientCertificate {
        ClientCertificate { sha256 }
    }

    /// The SHA-256 of the certificate's DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// Why a request was not authenticated.
#[derive(Debug)]
pub(crate) enum AuthFailure {
    /// 401 with challenges; `stale` when only the nonce was too old.
    Unauthorized { reason: String, stale: bool },
    /// The store failed (500).
    Store(Error),
}

impl From<Error> for AuthFailure {
    fn from(e: Error) -> Self {
        AuthFailure::Store(e)
    }
}

fn unauthorized(reason: impl Into<String>) -> AuthFailure {
    AuthFailure::Unauthorized {
        reason: reason.into(),
        stale: false,
    }
}

/// Domain separation of the nonce HMAC.
const NONCE_LABEL: &[u8] = b"dm-server digest nonce v2";

/// Accepted clock difference between nodes for a nonce's time (ms).
const NONCE_FUTURE_MS: u64 = 300_000;

/// What the request says about itself, for authentication.
pub(crate) struct RequestAuth<'a> {
    pub(crate) method: &'a str,
    /// The request target as sent (path and query), which Digest signs.
    pub(crate) target: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) certificate: Option<&'a ClientCertificate>,
    /// The PSK identity whose key the TLS handshake proved.
    pub(crate) psk_identity: Option<&'a PskIdentity>,
}

/// The server's key ([`Store::server_key`]), read from the store once: the
/// store creates it on first use and never changes it, so the Digest
/// requests after the first cost no store round trip for it.
#[derive(Debug, Default)]
pub(crate) struct ServerKey(tokio::sync::OnceCell<[u8; 32]>);

impl ServerKey {
    /// The key, from the store the first time.
    pub(crate) async fn get<S: Store>(&self, store: &S) -> Result<[u8; 32], crate::Error> {
        self.0.get_or_try_init(|| store.server_key()).await.copied()
    }
}

/// The store look-ups of authentication. When the request continues a
/// session, the first credential look-up reads the session's record in the
/// same round trip ([`Store::credentials_and_session`],
/// [`Store::certificate_and_session`]).
pub(crate) struct Lookups<'s, S> {
    pub(crate) store: &'s S,
    session: SessionRead,
}

/// Where the session a request continues stands.
enum SessionRead {
    /// The request continues no session.
    Unwanted,
    /// Not read yet.
    Wanted(SessionToken),
    /// Read along a credential look-up.
    Read(Option<SessionRecord>),
}

impl<'s, S: Store> Lookups<'s, S> {
    /// The look-ups of a request, which continues the session `continuing`
    /// (if any).
    pub(crate) fn new(store: &'s S, continuing: Option<SessionToken>) -> Self {
        Lookups {
            store,
            session: continuing.map_or(SessionRead::Unwanted, SessionRead::Wanted),
        }
    }

    async fn by_certificate(&mut self, sha256: &[u8; 32]) -> Result<Option<DevId>, Error> {
        if let SessionRead::Wanted(token) = self.session {
            let (dev_id, record) = self.store.certificate_and_session(sha256, token).await?;
            self.session = SessionRead::Read(record);
            Ok(dev_id)
        } else {
            self.store.device_by_certificate(sha256).await
        }
    }

    /// The device registered with a PSK identity (the session the request
    /// continues is read afterwards, by [`Lookups::into_session`]).
    async fn by_psk_identity(&mut self, identity: &PskIdentity) -> Result<Option<DevId>, Error> {
        Ok(self
            .store
            .psk_by_identity(identity)
            .await?
            .map(|(dev_id, _)| dev_id))
    }

    async fn by_username(
        &mut self,
        username: &str,
    ) -> Result<Option<(DevId, PasswordCredentials)>, Error> {
        if let SessionRead::Wanted(token) = self.session {
            let (credentials, record) = self.store.credentials_and_session(username, token).await?;
            self.session = SessionRead::Read(record);
            Ok(credentials)
        } else {
            self.store.credentials_by_username(username).await
        }
    }

    /// The record of a device (development mode: a request without
    /// credentials), with the session the request continues in the same
    /// round trip ([`Store::device_and_session`]).
    pub(crate) async fn device(&mut self, dev_id: &DevId) -> Result<Option<DeviceRecord>, Error> {
        if let SessionRead::Wanted(token) = self.session {
            let (device, record) = self.store.device_and_session(dev_id, token).await?;
            self.session = SessionRead::Read(record);
            Ok(device)
        } else {
            self.store.device(dev_id).await
        }
    }

    /// The record of the session the request continues: the one read along
    /// the credentials, else read now (`None` when the request continues
    /// no session, or the session is not open).
    pub(crate) async fn into_session(self) -> Result<Option<SessionRecord>, Error> {
        match self.session {
            SessionRead::Unwanted => Ok(None),
            SessionRead::Wanted(token) => self.store.session(token).await,
            SessionRead::Read(record) => Ok(record),
        }
    }
}

/// Authenticates a device: the PSK identity of a PSK-TLS connection or a
/// registered client certificate first, then the `Authorization` header.
/// `Ok(None)`: no credentials at all, which only dev mode accepts (the
/// caller decides).
pub(crate) async fn authenticate_device<S: Store>(
    options: &ServerOptions,
    lookups: &mut Lookups<'_, S>,
    key: &ServerKey,
    request: &RequestAuth<'_>,
    now_ms: u64,
) -> Result<Option<DevId>, AuthFailure> {
    if let Some(identity) = request.psk_identity
        && let Some(dev_id) = lookups.by_psk_identity(identity).await?
    {
        return Ok(Some(dev_id));
    }
    if let Some(certificate) = request.certificate
        && let Some(dev_id) = lookups.by_certificate(certificate.sha256()).await?
    {
        return Ok(Some(dev_id));
    }
    let Some(value) = request.headers.get(AUTHORIZATION) else {
        return if request.psk_identity.is_some() && !options.dev_mode {
            // Removed (or re-registered without it) since the handshake.
            Err(unauthorized("the PSK identity is no longer registered"))
        } else if request.certificate.is_some() && !options.dev_mode {
            Err(unauthorized("the client certificate is not registered"))
        } else {
            Ok(None)
        };
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
    match Authorization::parse(value).map_err(|e| unauthorized(e.to_string()))? {
        Authorization::Digest(credentials) => {
            digest(options, lookups, key, request, &credentials, now_ms)
                .await
                .map(Some)
        }
        Authorization::Basic(credentials) if options.basic_auth => {
            basic(options, lookups, &credentials).await.map(Some)
        }
        Authorization::Basic(_) => Err(unauthorized("authentication scheme Basic is not offered")),
    }
}

async fn basic<S: Store>(
    options: &ServerOptions,
    lookups: &mut Lookups<'_, S>,
    credentials: &BasicCredentials,
) -> Result<DevId, AuthFailure> {
    let username = credentials.user_id.as_str();
    let (dev_id, registered) = registered_or_dummy(lookups, username).await?;
    let matched = compare(
        "Basic",
        registered.matches_password(&credentials.password, &options.realm),
    );
    accepted(dev_id, matched, username, WRONG_BASIC)
}

/// The one refusal of Basic credentials, whether the user name is unknown
/// or the password wrong (user names cannot be enumerated).
const WRONG_BASIC: &str = "wrong user name or password";

/// The one refusal of a Digest response, whether the user name is unknown
/// or the response wrong.
const WRONG_DIGEST: &str = "wrong user name or Digest response";

/// The device and credentials registered under `username`, or, when there
/// is none, no device and credentials that match no password: the caller
/// then hashes and compares exactly as for a registered user, so neither
/// the answer nor the work done tells an unknown user name from a wrong
/// password.
async fn registered_or_dummy<S: Store>(
    lookups: &mut Lookups<'_, S>,
    username: &str,
) -> Result<(Option<DevId>, PasswordCredentials), AuthFailure> {
    Ok(match lookups.by_username(username).await? {
        Some((dev_id, credentials)) => (Some(dev_id), credentials),
        None => (
            None,
            PasswordCredentials {
                username: username.to_owned(),
                ha1_sha256: [0; 32],
                ha1_md5: [0; 16],
            },
        ),
    })
}

/// Passes on the result of a constant-time credential comparison; in unit
/// tests, records that one ran (and of which kind).
fn compare(kind: &'static str, matched: bool) -> bool {
    #[cfg(test)]
    tests::COMPARISONS.with(|c| c.borrow_mut().push(kind));
    #[cfg(not(test))]
    let _ = kind;
    matched
}

/// `Ok` only for a registered user whose credentials matched; one refusal
/// (`wrong`) otherwise. The cause goes to the log, not to the client.
fn accepted(
    dev_id: Option<DevId>,
    matched: bool,
    username: &str,
    wrong: &str,
) -> Result<DevId, AuthFailure> {
    match dev_id {
        Some(dev_id) if matched => Ok(dev_id),
        Some(dev_id) => {
            tracing::debug!(%dev_id, "wrong credentials for a registered user");
            Err(unauthorized(wrong))
        }
        None => {
            tracing::debug!(username, "credentials for an unknown user name");
            Err(unauthorized(wrong))
        }
    }
}

/// A fresh nonce: the time (Unix milliseconds), 8 random bytes (so that no
/// two challenges share a nonce, whose counts the store tracks) and an HMAC
/// of both.
pub(crate) fn make_nonce(key: &[u8; 32], now_ms: u64, salt: [u8; 8]) -> String {
    let mut raw = [0u8; NONCE_LEN];
    raw[..8].copy_from_slice(&now_ms.to_be_bytes());
    raw[8..16].copy_from_slice(&salt);
    raw[16..].copy_from_slice(&nonce_mac(key, now_ms, &salt));
    URL_SAFE_NO_PAD.encode(raw)
}

/// Bytes of a nonce before base64: time, salt, HMAC.
const NONCE_LEN: usize = 8 + 8 + 16;

fn nonce_mac(key: &[u8; 32], time: u64, salt: &[u8]) -> [u8; 16] {
    let mut message = NONCE_LABEL.to_vec();
    message.extend_from_slice(&time.to_be_bytes());
    message.extend_from_slice(salt);
    let mac = hmac_sha256(key, &message);
    let mut out = [0u8; 16];
    out.copy_from_slice(&mac[..16]);
    out
}

/// Checks a nonce: `Ok(issued_ms)` when authentic and fresh; `Err(true)`
/// when authentic but too old (stale); `Err(false)` when not ours.
fn check_nonce(key: &[u8; 32], nonce: &str, now_ms: u64, lifetime_ms: u64) -> Result<u64, bool> {
    let raw = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| false)?;
    let raw: [u8; NONCE_LEN] = raw.try_into().map_err(|_| false)?;
    let mut time = [0u8; 8];
    time.copy_from_slice(&raw[..8]);
    let time = u64::from_be_bytes(time);
    if !constant_time_eq(&raw[16..], &nonce_mac(key, time, &raw[8..16])) {
        return Err(false);
    }
    if time > now_ms.saturating_add(NONCE_FUTURE_MS) {
        return Err(false);
    }
    if now_ms.saturating_sub(time) > lifetime_ms {
        return Err(true);
    }
    Ok(time)
}

/// The name of a Digest algorithm the server checks, for the unit tests'
/// record of comparisons.
fn digest_kind(algorithm: DigestAlgorithm) -> &'static str {
    if algorithm == DigestAlgorithm::Sha256 {
        "Digest SHA-256"
    } else {
        "Digest MD5"
    }
}

async fn digest<S: Store>(
    options: &ServerOptions,
    lookups: &mut Lookups<'_, S>,
    key: &ServerKey,
    request: &RequestAuth<'_>,
    credentials: &DigestCredentials,
    now_ms: u64,
) -> Result<DevId, AuthFailure> {
    match credentials.algorithm {
        DigestAlgorithm::Sha256 => {}
        DigestAlgorithm::Md5 if options.digest_md5 => {}
        other => {
            return Err(unauthorized(format!(
                "Digest algorithm {other} is not offered"
            )));
        }
    }
    if credentials.userhash {
        return Err(unauthorized("Digest userhash is not offered"));
    }
    let Some(qop) = &credentials.qop else {
        return Err(unauthorized("Digest credentials without qop"));
    };
    let username = credentials.username.as_str();
    if credentials.realm != options.realm {
        return Err(unauthorized(format!(
            "Digest realm {:?} is not ours",
            credentials.realm
        )));
    }
    if credentials.uri != request.target {
        return Err(unauthorized(format!(
            "Digest uri {:?} is not the request target",
            credentials.uri
        )));
    }
    let store = lookups.store;
    let key = key.get(store).await?;
    let lifetime = u64::try_from(options.session.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
    let issued = match check_nonce(&key, &credentials.nonce, now_ms, lifetime) {
        Ok(issued) => issued,
        Err(stale) => {
            return Err(AuthFailure::Unauthorized {
                reason: if stale {
                    "the Digest nonce is stale".into()
                } else {
                    "the Digest nonce is not ours".into()
                },
                stale,
            });
        }
    };
    let (dev_id, registered) = registered_or_dummy(lookups, username).await?;
    let ha1: &[u8] = match credentials.algorithm {
        DigestAlgorithm::Sha256 => &registered.ha1_sha256,
        _ => &registered.ha1_md5,
    };
    let matched = compare(
        digest_kind(credentials.algorithm),
        credentials.verify(ha1, request.method),
    );
    let dev_id = accepted(dev_id, matched, username, WRONG_DIGEST)?;
    // Only an authentic request may record a count.
    if store
        .use_digest_nonce(&dev_id, &credentials.nonce, issued, qop.nonce_count)
        .await?
    {
        Ok(dev_id)
    } else {
        Err(AuthFailure::Unauthorized {
            reason: format!(
                "Digest nonce count {:08x} already used by {username:?}",
                qop.nonce_count
            ),
            stale: true,
        })
    }
}

/// The `WWW-Authenticate` values of a 401: Digest SHA-256, Digest MD5 and
/// Basic, as enabled.
pub(crate) fn challenges(
    options: &ServerOptions,
    key: &[u8; 32],
    now_ms: u64,
    stale: bool,
) -> Result<Vec<HeaderValue>, Error> {
    let nonce = make_nonce(key, now_ms, crate::util::random()?);
    let realm = &options.realm;
    let digest = |algorithm| {
        DigestChallenge::new(realm.as_str(), nonce.as_str(), algorithm)
            .with_stale(stale)
            .to_string()
    };
    let mut values = vec![digest(DigestAlgorithm::Sha256)];
    if options.digest_md5 {
        values.push(digest(DigestAlgorithm::Md5));
    }
    if options.basic_auth {
        values.push(BasicChallenge::new(realm.as_str()).to_string());
    }
    Ok(values
        .into_iter()
        .filter_map(|v| HeaderValue::from_str(&v).ok())
        .collect())
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("Bearer").then(|| token.trim())
        })
}

/// Whether `given` is the configured admin token (never when none is
/// configured). Hashing first makes the comparison independent of the
/// lengths.
pub(crate) fn is_admin_token(options: &ServerOptions, given: &str) -> bool {
    options.admin_token.as_ref().is_some_and(|expected| {
        compare(
            "admin token",
            constant_time_eq(&sha256(expected.as_bytes()), &sha256(given.as_bytes())),
        )
    })
}

/// The hash an unknown API key id is compared against, so that an unknown
/// id costs what a known one does.
const NO_KEY_SHA256: [u8; 32] = [0x5a; 32];

/// The API key `given` authenticates: `Some` for the text of a key the
/// store has, not revoked, whose secret matches. An unknown id, a revoked
/// key and a wrong secret cost the same work (one store read, one SHA-256,
/// one constant-time comparison) and give the same `None`; the cause goes
/// to the log with the key's public id, never the text.
pub(crate) async fn check_api_key<S: Store>(
    store: &S,
    given: &str,
) -> Result<Option<ApiKeyRecord>, Error> {
    // A text that is no key names no key: nothing to look up.
    let Ok(key) = ApiKey::parse(given) else {
        return Ok(None);
    };
    let record = store.api_key(key.id()).await?;
    let expected = record.as_ref().map_or(NO_KEY_SHA256, |r| r.secret_sha256);
    let matched = compare("api key", constant_time_eq(&expected, &key.secret_sha256()));
    match record {
        Some(record) if matched && record.revoked_ms.is_none() => Ok(Some(record)),
        Some(record) if matched => {
            tracing::debug!(id = %record.id, "a revoked API key was used");
            Ok(None)
        }
        Some(record) => {
            tracing::debug!(id = %record.id, "an API key with a wrong secret was used");
            Ok(None)
        }
        None => {
            tracing::debug!(id = %key.id(), "an unknown API key was used");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::store::{DeviceRegistration, MemoryStore};

    thread_local! {
        /// The credential comparisons run on this thread, by kind.
        pub(super) static COMPARISONS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `check` and returns its refusal and the comparisons it ran.
    async fn refusal_and_work(
        check: impl Future<Output = Result<DevId, AuthFailure>>,
    ) -> (String, Vec<&'static str>) {
        COMPARISONS.with(|c| c.borrow_mut().clear());
        let reason = match check.await {
            Err(AuthFailure::Unauthorized { reason, stale }) => {
                assert!(!stale);
                reason
            }
            other => panic!("not refused: {other:?}"),
        };
        (reason, COMPARISONS.with(RefCell::take))
    }

    /// An unknown user name costs the same hashing and comparison as a
    /// wrong password, and gets the same refusal, for Basic and for both
    /// Digest algorithms.
    #[tokio::test]
    async fn an_unknown_user_is_checked_like_a_wrong_password() {
        let options = ServerOptions::builder().build().expect("options");
        let store = MemoryStore::new();
        let dev_id = DevId::new("IMEI:1").expect("DevID");
        store
            .register_device(
                DeviceRegistration::new(dev_id.clone()).with_password(
                    "known",
                    "pw",
                    &options.realm,
                ),
                false,
                0,
            )
            .await
            .expect("registered");
        let pair = BasicCredentials::new;

        let wrong = refusal_and_work(basic(
            &options,
            &mut Lookups::new(&store, None),
            &pair("known", "guess"),
        ))
        .await;
        let unknown = refusal_and_work(basic(
            &options,
            &mut Lookups::new(&store, None),
            &pair("nobody", "guess"),
        ))
        .await;
        assert_eq!(wrong, (WRONG_BASIC.to_owned(), vec!["Basic"]));
        assert_eq!(unknown, wrong);
        let right = basic(
            &options,
            &mut Lookups::new(&store, None),
            &pair("known", "pw"),
        )
        .await;
        assert_eq!(right.ok(), Some(dev_id.clone()));

        let key = store.server_key().await.expect("key");
        let now = crate::util::now_ms();
        let nonce = make_nonce(&key, now, [3; 8]);
        let headers = HeaderMap::new();
        let request = RequestAuth {
            method: "POST",
            target: "/dm",
            headers: &headers,
            certificate: None,
            psk_identity: None,
        };
        for (algorithm, name) in [("SHA-256", "Digest SHA-256"), ("MD5", "Digest MD5")] {
            let credentials = |user: &str| {
                DigestCredentials::parse(&format!(
                    r#"username="{user}", realm="{}", nonce="{nonce}", uri="/dm", algorithm={algorithm}, qop=auth, nc=00000001, cnonce="c", response="00""#,
                    options.realm
                ))
                .expect("valid Digest credentials")
            };
            let wrong = refusal_and_work(digest(
                &options,
                &mut Lookups::new(&store, None),
                &ServerKey::default(),
                &request,
                &credentials("known"),
                now,
            ))
            .await;
            let unknown = refusal_and_work(digest(
                &options,
                &mut Lookups::new(&store, None),
                &ServerKey::default(),
                &request,
                &credentials("nobody"),
                now,
            ))
            .await;
            assert_eq!(wrong, (WRONG_DIGEST.to_owned(), vec![name]), "{algorithm}");
            assert_eq!(unknown, wrong, "{algorithm}");
        }
    }

    #[test]
    fn nonces_are_authenticated_and_expire() {
        let key = [7u8; 32];
        let nonce = make_nonce(&key, 1_000_000, [1; 8]);
        assert_ne!(nonce, make_nonce(&key, 1_000_000, [2; 8]), "salted");
        assert_eq!(check_nonce(&key, &nonce, 1_000_000, 600_000), Ok(1_000_000));
        assert_eq!(check_nonce(&key, &nonce, 1_600_000, 600_000), Ok(1_000_000));
        assert_eq!(check_nonce(&key, &nonce, 1_600_001, 600_000), Err(true));
        assert_eq!(
            check_nonce(&[8u8; 32], &nonce, 1_000_000, 600_000),
            Err(false)
        );
        assert_eq!(
            check_nonce(&key, &nonce, 0, 600_000),
            Err(false),
            "from the future"
        );
        assert_eq!(check_nonce(&key, "AAAA", 1_000_000, 600_000), Err(false));
        assert_eq!(check_nonce(&key, "!!", 1_000_000, 600_000), Err(false));
        let mut forged = URL_SAFE_NO_PAD.decode(&nonce).expect("base64");
        forged[7] ^= 1;
        assert_eq!(
            check_nonce(&key, &URL_SAFE_NO_PAD.encode(&forged), 1_000_000, 600_000),
            Err(false)
        );
        forged[7] ^= 1;
        forged[12] ^= 1;
        assert_eq!(
            check_nonce(&key, &URL_SAFE_NO_PAD.encode(&forged), 1_000_000, 600_000),
            Err(false),
            "the salt is authenticated too"
        );
    }

    /// An unknown id, a revoked key and a wrong secret are refused alike,
    /// after the same comparison as a good key.
    #[tokio::test]
    async fn unknown_revoked_and_wrong_api_keys_cost_the_same_work() {
        use crate::access::Scope;
        use crate::store::ApiKeyRecord;

        let store = MemoryStore::new();
        let good = ApiKey::generate().expect("key");
        let revoked = ApiKey::generate().expect("key");
        for key in [&good, &revoked] {
            assert!(
                store
                    .put_api_key(ApiKeyRecord::new(key, "k", Scope::Read, 0))
                    .await
                    .expect("put")
            );
        }
        assert!(
            store
                .revoke_api_key(revoked.id(), 1)
                .await
                .expect("revoked")
        );
        let unknown = ApiKey::generate().expect("key").text();
        let wrong = format!("{}{}", &good.text()[..21], &unknown[21..]);
        for (text, accepted) in [
            (good.text(), true),
            (revoked.text(), false),
            (unknown, false),
            (wrong, false),
        ] {
            COMPARISONS.with(|c| c.borrow_mut().clear());
            let found = check_api_key(&store, &text).await.expect("checked");
            assert_eq!(found.is_some(), accepted, "{text}");
            assert_eq!(COMPARISONS.with(|c| c.borrow().clone()), ["api key"]);
        }
        // A text that is no key is refused without a comparison.
        COMPARISONS.with(|c| c.borrow_mut().clear());
        assert!(
            check_api_key(&store, "dmk_x")
                .await
                .expect("checked")
                .is_none()
        );
        assert!(COMPARISONS.with(|c| c.borrow().is_empty()));
    }
}
