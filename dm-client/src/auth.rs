//! HTTP authentication of the device: credentials, and the challenge a
//! session answers. The protocol (challenges, `Authorization` values,
//! RFC 7617 Basic, RFC 7616 Digest) is [`dm_session::http_auth`]'s; this
//! module draws the client nonce and keeps the chosen challenge.

use std::fmt;

use dm_session::http_auth::{self, AcceptedSchemes};

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

    /// The auth-schemes these credentials answer; `None` for
    /// [`Credentials::None`].
    ///
    /// ```
    /// use dm_client::Credentials;
    /// use dm_session::http_auth::AcceptedSchemes;
    ///
    /// assert_eq!(
    ///     Credentials::password("device-1", "secret").accepted_schemes(),
    ///     Some(AcceptedSchemes::DigestOrBasic)
    /// );
    /// assert_eq!(Credentials::None.accepted_schemes(), None);
    /// ```
    pub fn accepted_schemes(&self) -> Option<AcceptedSchemes> {
        match self {
            Credentials::None => None,
            Credentials::Basic { .. } => Some(AcceptedSchemes::Basic),
            Credentials::Digest { .. } => Some(AcceptedSchemes::Digest),
            Credentials::Password { .. } => Some(AcceptedSchemes::DigestOrBasic),
        }
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
pub(crate) struct Challenge(http_auth::Challenge);

impl Challenge {
    /// The most preferred challenge among `headers` (the `WWW-Authenticate`
    /// values of a `401`) that `credentials` may answer
    /// ([`http_auth::Challenge::choose`]). `None` when nothing fits.
    pub(crate) fn choose<'a>(
        headers: impl IntoIterator<Item = &'a str>,
        credentials: &Credentials,
    ) -> Option<Challenge> {
        http_auth::Challenge::choose(headers, credentials.accepted_schemes()?).map(Challenge)
    }

    /// The `Authorization` value for a request, with a fresh random
    /// `cnonce`; a Digest answer increments the nonce count. `None` when
    /// there are no credentials, no randomness, or the nonce count is used
    /// up.
    pub(crate) fn authorization(
        &mut self,
        credentials: &Credentials,
        method: &'static str,
        request_target: &str,
    ) -> Option<String> {
        let (username, password) = credentials.user_password()?;
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).ok()?;
        let cnonce = dm_codec::hex::encode(&random);
        self.0
            .authorization(username, password, method, request_target, &cnonce)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials' kind decides what is answered; the choice itself is
    /// tested in `dm_session::http_auth`.
    #[test]
    fn credentials_choose_by_their_kind() {
        let headers = [
            r#"Basic realm="dm""#,
            r#"Digest realm="dm", qop="auth", algorithm=MD5, nonce="a""#,
        ];
        let answer = |credentials: &Credentials| {
            Challenge::choose(headers, credentials)
                .and_then(|mut c| c.authorization(credentials, "POST", "/dm"))
        };
        let password = answer(&Credentials::password("u", "p")).expect("answered");
        assert!(password.starts_with("Digest ") && password.contains("nc=00000001"));
        let basic = Credentials::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert_eq!(
            answer(&basic),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
        let digest_only = Credentials::Digest {
            username: "u".into(),
            password: "p".into(),
        };
        assert!(Challenge::choose([headers[0]], &digest_only).is_none());
        assert!(Challenge::choose(headers, &Credentials::None).is_none());
    }

    #[test]
    fn each_answer_draws_a_fresh_cnonce() {
        let credentials = Credentials::password("u", "p");
        let mut challenge = Challenge::choose(
            [r#"Digest realm="dm", qop="auth", algorithm=SHA-256, nonce="n""#],
            &credentials,
        )
        .expect("a challenge");
        let cnonce = |value: &str| {
            value
                .split("cnonce=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        };
        let first = challenge.authorization(&credentials, "POST", "/dm");
        let second = challenge.authorization(&credentials, "POST", "/dm");
        let (first, second) = (
            cnonce(&first.expect("first")),
            cnonce(&second.expect("second")),
        );
        assert_eq!(first.as_ref().map(String::len), Some(32));
        assert_ne!(first, second);
    }
}
