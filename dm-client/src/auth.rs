//! HTTP authentication of the device: credentials, `WWW-Authenticate`
//! challenges, and `Authorization` headers (RFC 7617 Basic, RFC 7616
//! Digest with SHA-256 or MD5 and `qop=auth`).

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use digest_auth::{AlgorithmType, AuthContext, HttpMethod, WwwAuthenticateHeader};

/// How the device authenticates to a server over HTTP (in addition to, or
/// instead of, a TLS client certificate configured on the
/// [`Transport`](crate::Transport)).
///
/// Credentials answer a `401` challenge and are sent only to URIs with the
/// same origin (scheme, host, port) as the account's `SrvURI`.
///
/// ```
/// use dm_client::Credentials;
///
/// let credentials = Credentials::password("device-1", "correct horse");
/// assert!(!format!("{credentials:?}").contains("horse"));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No HTTP authentication: a `401` aborts the session.
    #[default]
    None,
    /// Answer only `Basic` challenges.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// Answer only `Digest` challenges (SHA-256 preferred over MD5).
    Digest {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// Answer `Digest` (SHA-256, then MD5) or, when the server offers no
    /// Digest, `Basic`.
    Password {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl Credentials {
    /// [`Credentials::Password`]: Digest preferred, Basic accepted.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Password {
            username: username.into(),
            password: password.into(),
        }
    }

    fn user_password(&self) -> Option<(&str, &str)> {
        match self {
            Credentials::None => None,
            Credentials::Basic { username, password }
            | Credentials::Digest { username, password }
            | Credentials::Password { username, password } => Some((username, password)),
        }
    }

    fn allows_basic(&self) -> bool {
        matches!(
            self,
            Credentials::Basic { .. } | Credentials::Password { .. }
        )
    }

    fn allows_digest(&self) -> bool {
        matches!(
            self,
            Credentials::Digest { .. } | Credentials::Password { .. }
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Credentials::None => return f.write_str("None"),
            Credentials::Basic { .. } => "Basic",
            Credentials::Digest { .. } => "Digest",
            Credentials::Password { .. } => "Password",
        };
        let username = self.user_password().map_or("", |(u, _)| u);
        f.debug_struct(kind)
            .field("username", &username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The challenge a session answers, kept for the following requests: a
/// Digest nonce is reused with an incremented `nc`.
#[derive(Debug)]
pub(crate) enum Challenge {
    Digest(Box<WwwAuthenticateHeader>),
    Basic,
}

impl Challenge {
    /// The most preferred challenge among `headers` (the `WWW-Authenticate`
    /// values of a `401`) that `credentials` may answer: Digest SHA-256,
    /// then Digest MD5, then other Digest algorithms, then Basic. `None`
    /// when nothing fits.
    pub(crate) fn choose<'a>(
        headers: impl IntoIterator<Item = &'a str>,
        credentials: &Credentials,
    ) -> Option<Challenge> {
        let mut best: Option<(u8, Challenge)> = None;
        for challenge in headers.into_iter().flat_map(split_challenges) {
            let (scheme, rest) = challenge
                .split_once(|c: char| c.is_ascii_whitespace())
                .unwrap_or((challenge, ""));
            let candidate = if scheme.eq_ignore_ascii_case("digest") && credentials.allows_digest()
            {
                // Header values are ASCII (`to_str`); the Digest parser
                // slices by character count and panics on other text.
                if !rest.is_ascii() {
                    continue;
                }
                let Ok(parsed) = digest_auth::parse(&format!("Digest {rest}")) else {
                    continue;
                };
                if parsed
                    .qop
                    .as_ref()
                    .is_some_and(|qops| !qops.contains(&digest_auth::Qop::AUTH))
                {
                    // Only auth-int offered: this client signs no bodies.
                    continue;
                }
                let rank = match (parsed.algorithm.algo, parsed.algorithm.sess) {
                    (AlgorithmType::SHA2_256, false) => 0,
                    (AlgorithmType::MD5, false) => 1,
                    _ => 2,
                };
                (rank, Challenge::Digest(Box::new(parsed)))
            } else if scheme.eq_ignore_ascii_case("basic") && credentials.allows_basic() {
                (3, Challenge::Basic)
            } else {
                continue;
            };
            if best.as_ref().is_none_or(|(rank, _)| candidate.0 < *rank) {
                best = Some(candidate);
            }
        }
        best.map(|(_, challenge)| challenge)
    }

    /// The `Authorization` value for a request; a Digest answer increments
    /// the nonce count.
    pub(crate) fn authorization(
        &mut self,
        credentials: &Credentials,
        method: &'static str,
        request_target: &str,
    ) -> Option<String> {
        let (username, password) = credentials.user_password()?;
        match self {
            Challenge::Basic => {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Some(format!("Basic {token}"))
            }
            Challenge::Digest(challenge) => {
                // qop=auth only (auth-int challenges are refused in `choose`),
                // so the body does not enter the digest.
                if let Some(qops) = &mut challenge.qop {
                    qops.retain(|q| *q == digest_auth::Qop::AUTH);
                }
                let context = AuthContext::new_with_method(
                    username,
                    password,
                    request_target,
                    Option::<&[u8]>::None,
                    HttpMethod(Cow::Borrowed(method)),
                );
                challenge
                    .respond(&context)
                    .ok()
                    .map(|header| header.to_header_string())
            }
        }
    }
}

/// Splits one `WWW-Authenticate` value into its challenges: a new
/// challenge starts after a comma (outside quotes) with an auth-scheme
/// token followed by a space or the end, rather than by `=`.
pub(crate) fn split_challenges(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => quoted = !quoted,
            b'\\' if quoted => index += 1,
            b',' if !quoted && starts_challenge(&value[index + 1..]) => {
                parts.push(value[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    parts.push(value[start.min(value.len())..].trim());
    parts.retain(|part| !part.is_empty());
    parts
}

/// Whether `rest` (after a comma) begins with an auth-scheme: a token
/// followed by whitespace or the end, not by `=`.
fn starts_challenge(rest: &str) -> bool {
    let rest = rest.trim_start();
    let token_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+.^_`|~-".contains(b))
        .count();
    if token_len == 0 {
        return false;
    }
    match rest[token_len..].bytes().next() {
        None => true,
        Some(b) if b.is_ascii_whitespace() => {
            // `token =value` is still an auth-param.
            !rest[token_len..].trim_start().starts_with('=')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_in_one_header_are_split() {
        let value = r#"Digest realm="dm, main", qop="auth", algorithm=MD5, nonce="n1", Digest realm="dm", algorithm=SHA-256, qop="auth", nonce="n2", Basic realm="dm""#;
        let parts = split_challenges(value);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[0].contains("MD5") && parts[1].contains("SHA-256"));
        assert_eq!(parts[2], r#"Basic realm="dm""#);
    }

    #[test]
    fn sha256_digest_is_preferred_then_md5_then_basic() {
        let headers = [
            r#"Basic realm="dm""#,
            r#"Digest realm="dm", qop="auth", algorithm=MD5, nonce="a""#,
            r#"Digest realm="dm", qop="auth", algorithm=SHA-256, nonce="b""#,
        ];
        let password = Credentials::password("u", "p");
        let Some(Challenge::Digest(chosen)) = Challenge::choose(headers, &password) else {
            panic!("a Digest challenge");
        };
        assert_eq!(chosen.nonce, "b");
        let Some(Challenge::Digest(chosen)) =
            Challenge::choose(headers[..2].iter().copied(), &password)
        else {
            panic!("a Digest challenge");
        };
        assert_eq!(chosen.nonce, "a");
        let basic_only = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(matches!(
            Challenge::choose(headers, &basic_only),
            Some(Challenge::Basic)
        ));
        let digest_only = Credentials::Digest {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(Challenge::choose([headers[0]], &digest_only).is_none());
        assert!(Challenge::choose(headers, &Credentials::None).is_none());
        assert!(Challenge::choose(["Bearer realm=\"x\""], &password).is_none());
    }

    #[test]
    fn non_ascii_digest_challenges_are_skipped() {
        // Found by the client_auth fuzz target: the Digest parser panicked
        // on a multi-byte character before an `=`.
        let password = Credentials::password("u", "p");
        let digest = "Digest realm=\"dm\", qo\u{5cf}=\"auth\", nonce=\"n1\"";
        assert!(Challenge::choose([digest], &password).is_none());
        assert!(matches!(
            Challenge::choose([digest, r#"Basic realm="dm""#], &password),
            Some(Challenge::Basic)
        ));
    }

    #[test]
    fn digest_answers_count_up_and_basic_encodes_the_pair() {
        let credentials = Credentials::password("Mufasa", "Circle of Life");
        let mut challenge = Challenge::choose(
            [r#"Digest realm="http-auth@example.org", qop="auth", algorithm=SHA-256, nonce="7ypf", opaque="FQhe""#],
            &credentials,
        )
        .expect("a challenge");
        let first = challenge
            .authorization(&credentials, "POST", "/dm")
            .expect("header");
        let second = challenge
            .authorization(&credentials, "POST", "/dm/s/1")
            .expect("header");
        assert!(first.starts_with("Digest ") && first.contains("nc=00000001"));
        assert!(second.contains("nc=00000002") && second.contains(r#"uri="/dm/s/1""#));
        assert!(first.contains("algorithm=SHA-256") && first.contains("qop=auth"));
        let mut basic = Challenge::Basic;
        assert_eq!(
            basic.authorization(&Credentials::password("Aladdin", "open sesame"), "GET", "/"),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
    }
}
