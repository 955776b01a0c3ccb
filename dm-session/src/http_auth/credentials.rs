//! The `Authorization` value: Basic credentials (RFC 7617) and Digest
//! credentials (RFC 7616), parsed strictly within a length limit, written,
//! and checked against a stored `H(A1)` in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dm_codec::hex;

use super::params::{algorithm, param, parse_auth_params, quoted, required};
use super::{DigestAlgorithm, HttpAuthError};

/// Longest `Authorization` value [`Authorization::parse`] examines.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The credentials of an `Authorization` value.
///
/// ```
/// use dm_session::http_auth::{Authorization, BasicCredentials};
///
/// // RFC 7617 section 2.
/// let parsed = Authorization::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")?;
/// assert_eq!(parsed, Authorization::Basic(BasicCredentials::new("Aladdin", "open sesame")));
/// assert_eq!(parsed.to_string(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// # Ok::<(), dm_session::http_auth::HttpAuthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `Basic` (RFC 7617).
    Basic(BasicCredentials),
    /// `Digest` (RFC 7616).
    Digest(DigestCredentials),
}

impl Authorization {
    /// Parses an `Authorization` value: at most [`MAX_AUTHORIZATION_LEN`]
    /// ASCII bytes, the auth-scheme (any letter case), a space and the
    /// credentials. Digest credentials follow the auth-param grammar
    /// strictly (see [`DigestCredentials::parse`]).
    pub fn parse(value: &str) -> Result<Authorization, HttpAuthError> {
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(HttpAuthError::TooLong {
                length: value.len(),
                limit: MAX_AUTHORIZATION_LEN,
            });
        }
        if !value.is_ascii() {
            return Err(HttpAuthError::NotAscii);
        }
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("Digest") {
            DigestCredentials::parse(rest).map(Authorization::Digest)
        } else if scheme.eq_ignore_ascii_case("Basic") {
            BasicCredentials::parse(rest.trim()).map(Authorization::Basic)
        } else {
            Err(HttpAuthError::UnknownScheme(scheme.to_owned()))
        }
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authorization::Basic(credentials) => credentials.fmt(f),
            Authorization::Digest(credentials) => credentials.fmt(f),
        }
    }
}

/// Basic credentials: user-id and password (RFC 7617), sent as the base64
/// of `user-id:password` in UTF-8. `Debug` hides the password.
///
/// ```
/// use dm_session::http_auth::BasicCredentials;
///
/// // RFC 7617 section 2.1: the UTF-8 charset.
/// let credentials = BasicCredentials::new("test", "123\u{a3}");
/// assert_eq!(credentials.to_string(), "Basic dGVzdDoxMjPCow==");
/// assert_eq!(BasicCredentials::parse("dGVzdDoxMjPCow==")?, credentials);
/// assert!(!format!("{credentials:?}").contains("123"));
/// # Ok::<(), dm_session::http_auth::HttpAuthError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user-id (without `:`).
    pub user_id: String,
    /// The password.
    pub password: String,
}

impl BasicCredentials {
    /// Credentials of a user-id and a password.
    pub fn new(user_id: impl Into<String>, password: impl Into<String>) -> BasicCredentials {
        BasicCredentials {
            user_id: user_id.into(),
            password: password.into(),
        }
    }

    /// Parses the token after `Basic `: base64 of UTF-8 `user-id:password`
    /// (split at the first `:`).
    pub fn parse(token: &str) -> Result<BasicCredentials, HttpAuthError> {
        let decoded = STANDARD
            .decode(token)
            .map_err(|_| HttpAuthError::BasicNotBase64)?;
        let text = String::from_utf8(decoded).map_err(|_| HttpAuthError::BasicNotUtf8)?;
        let (user_id, password) = text
            .split_once(':')
            .ok_or(HttpAuthError::BasicWithoutColon)?;
        Ok(BasicCredentials::new(user_id, password))
    }
}

impl fmt::Display for BasicCredentials {
    /// The `Authorization` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = STANDARD.encode(format!("{}:{}", self.user_id, self.password));
        write!(f, "Basic {token}")
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user_id", &self.user_id)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The `qop=auth` part of Digest credentials: which answer to the nonce
/// this is, and the client's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAuth {
    /// `nc`: 1 for the first answer to a nonce, then 2, 3, …
    pub nonce_count: u32,
    /// `cnonce`: the client's nonce (not empty).
    pub cnonce: String,
}

/// Digest credentials (RFC 7616 section 3.4): what a client sends, what a
/// server parses and checks.
///
/// ```
/// use dm_session::http_auth::{Authorization, DigestAlgorithm};
///
/// // RFC 7616 section 3.9.1, SHA-256.
/// let value = r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
/// let Authorization::Digest(credentials) = Authorization::parse(value)? else {
///     panic!("Digest credentials");
/// };
/// // What the server stored for Mufasa instead of his password.
/// let ha1 = DigestAlgorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
/// assert!(credentials.verify(&ha1, "GET"));
/// assert!(!credentials.verify(&ha1, "POST"));
/// # Ok::<(), dm_session::http_auth::HttpAuthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// `username`: the user name, or with [`userhash`](Self::userhash)
    /// `H(username:realm)` in hex.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`: the server's nonce being answered.
    pub nonce: String,
    /// `uri`: the request target.
    pub uri: String,
    /// `response`: the hex digest proving the password.
    pub response: String,
    /// `algorithm` ([`DigestAlgorithm::Md5`] when absent).
    pub algorithm: DigestAlgorithm,
    /// `qop=auth` with `nc` and `cnonce`; `None` for an RFC 2069 answer to
    /// a challenge without `qop`.
    pub qop: Option<QopAuth>,
    /// `opaque`, returned as the challenge gave it.
    pub opaque: Option<String>,
    /// `userhash=true`: the `username` is hashed.
    pub userhash: bool,
}

impl DigestCredentials {
    /// Parses the auth-params after `Digest `: the RFC 9110 grammar with
    /// no repeated name; `username`, `realm`, `nonce`, `uri` and
    /// `response` required; `qop` (only `auth`), `nc` (eight lowercase
    /// hexadecimal digits) and `cnonce` (not empty) all present or all absent; a known
    /// `algorithm` when present. `username*` (RFC 8187) is not supported:
    /// `username` is required.
    pub fn parse(text: &str) -> Result<DigestCredentials, HttpAuthError> {
        let params = parse_auth_params(text)?;
        let get = |name: &str| param(&params, name);
        let require = |name: &'static str| required(&params, name);
        let algorithm = algorithm(&params)?;
        let qop = match (get("qop"), get("nc"), get("cnonce")) {
            (None, None, None) => None,
            (Some(qop), Some(nc), Some(cnonce)) => {
                if qop != "auth" {
                    return Err(HttpAuthError::UnsupportedQop(qop.to_owned()));
                }
                if nc.len() != 8 || !nc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(HttpAuthError::MalformedNonceCount(nc.to_owned()));
                }
                let nonce_count = u32::from_str_radix(nc, 16)
                    .map_err(|_| HttpAuthError::MalformedNonceCount(nc.to_owned()))?;
                if cnonce.is_empty() {
                    return Err(HttpAuthError::EmptyClientNonce);
                }
                Some(QopAuth {
                    nonce_count,
                    cnonce: cnonce.to_owned(),
                })
            }
            _ => return Err(HttpAuthError::IncompleteQop),
        };
        Ok(DigestCredentials {
            username: require("username")?,
            realm: require("realm")?,
            nonce: require("nonce")?,
            uri: require("uri")?,
            response: require("response")?,
            algorithm,
            qop,
            opaque: get("opaque").map(str::to_owned),
            userhash: get("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    /// The `response` these credentials must carry for a request with
    /// `method`, given the user's stored `H(username:realm:password)`
    /// (`ha1`, raw bytes): `KD(H(A1), nonce:nc:cnonce:qop:H(A2))`, or
    /// `KD(H(A1), nonce:H(A2))` without `qop` (RFC 7616 section 3.4.1).
    pub fn expected_response(&self, ha1: &[u8], method: &str) -> String {
        let algorithm = self.algorithm;
        let cnonce = self.qop.as_ref().map_or("", |qop| qop.cnonce.as_str());
        let ha1 = if algorithm.is_session() {
            algorithm.hash_hex(format!("{}:{}:{cnonce}", hex::encode(ha1), self.nonce).as_bytes())
        } else {
            hex::encode(ha1)
        };
        let ha2 = algorithm.hash_hex(format!("{method}:{}", self.uri).as_bytes());
        let data = match &self.qop {
            Some(qop) => format!(
                "{ha1}:{}:{:08x}:{}:auth:{ha2}",
                self.nonce, qop.nonce_count, qop.cnonce
            ),
            None => format!("{ha1}:{}:{ha2}", self.nonce),
        };
        algorithm.hash_hex(data.as_bytes())
    }

    /// Whether `response` is right for a request with `method` and the
    /// user's stored `H(username:realm:password)` (`ha1`, raw bytes).
    /// The comparison takes the same time wherever the two differ, and
    /// ignores the letter case of the hex digits.
    pub fn verify(&self, ha1: &[u8], method: &str) -> bool {
        let expected = self.expected_response(ha1, method);
        hex::constant_time_eq(
            expected.as_bytes(),
            self.response.to_ascii_lowercase().as_bytes(),
        )
    }
}

impl fmt::Display for DigestCredentials {
    /// The `Authorization` value. `algorithm` is left out only where it may
    /// be: MD5 without `qop` (RFC 2069 answers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}",
            quoted(&self.username),
            quoted(&self.realm),
            quoted(&self.nonce),
            quoted(&self.uri)
        )?;
        if let Some(qop) = &self.qop {
            write!(
                f,
                ", qop=auth, nc={:08x}, cnonce={}",
                qop.nonce_count,
                quoted(&qop.cnonce)
            )?;
        }
        write!(f, ", response={}", quoted(&self.response))?;
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quoted(opaque))?;
        }
        if self.qop.is_some() || self.algorithm != DigestAlgorithm::Md5 {
            write!(f, ", algorithm={}", self.algorithm)?;
        }
        if self.userhash {
            f.write_str(", userhash=true")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 section 3.9.1: Mufasa's request for `/dir/index.html`.
    fn rfc_7616_credentials(algorithm: DigestAlgorithm, response: &str) -> DigestCredentials {
        DigestCredentials {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            response: response.into(),
            algorithm,
            qop: Some(QopAuth {
                nonce_count: 1,
                cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into(),
            }),
            opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into()),
            userhash: false,
        }
    }

    #[test]
    fn rfc_7616_example_verifies_with_md5_and_sha256() {
        for (algorithm, response) in [
            (DigestAlgorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                DigestAlgorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let credentials = rfc_7616_credentials(algorithm, response);
            let ha1 = algorithm.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
            assert_eq!(credentials.expected_response(&ha1, "GET"), response);
            assert!(credentials.verify(&ha1, "GET"), "{algorithm}");
            let upper = DigestCredentials {
                response: response.to_ascii_uppercase(),
                ..credentials.clone()
            };
            assert!(upper.verify(&ha1, "GET"), "hex digits in either case");
            let wrong = algorithm.ha1("Mufasa", "http-auth@example.org", "Circle of life");
            assert!(!credentials.verify(&wrong, "GET"));
            // Written and parsed back unchanged.
            let written = credentials.to_string();
            assert_eq!(
                Authorization::parse(&written),
                Ok(Authorization::Digest(credentials)),
                "{written}"
            );
        }
    }

    #[test]
    fn rfc_7617_examples() {
        let aladdin = BasicCredentials::new("Aladdin", "open sesame");
        assert_eq!(aladdin.to_string(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(
            Authorization::parse("basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ== "),
            Ok(Authorization::Basic(aladdin))
        );
        let test = BasicCredentials::new("test", "123\u{a3}");
        assert_eq!(test.to_string(), "Basic dGVzdDoxMjPCow==");
        assert_eq!(BasicCredentials::parse("dGVzdDoxMjPCow=="), Ok(test));
        // The password may hold colons; the user-id ends at the first.
        assert_eq!(
            BasicCredentials::parse(&STANDARD.encode("a:b:c")),
            Ok(BasicCredentials::new("a", "b:c"))
        );
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let long = format!("Basic {}", "A".repeat(MAX_AUTHORIZATION_LEN));
        assert!(matches!(
            Authorization::parse(&long),
            Err(HttpAuthError::TooLong { .. })
        ));
        assert_eq!(
            Authorization::parse("Digest username=\"\u{e9}\""),
            Err(HttpAuthError::NotAscii)
        );
        assert_eq!(
            Authorization::parse("Bearer x"),
            Err(HttpAuthError::UnknownScheme("Bearer".into()))
        );
        assert_eq!(
            Authorization::parse("Basic !!"),
            Err(HttpAuthError::BasicNotBase64)
        );
        assert_eq!(
            Authorization::parse(&format!("Basic {}", STANDARD.encode([0xff, b':']))),
            Err(HttpAuthError::BasicNotUtf8)
        );
        assert_eq!(
            Authorization::parse(&format!("Basic {}", STANDARD.encode("nocolon"))),
            Err(HttpAuthError::BasicWithoutColon)
        );
        let full = r#"username="u", realm="r", nonce="n", uri="/dm", response="00", qop=auth, nc=00000001, cnonce="c""#;
        assert!(DigestCredentials::parse(full).is_ok());
        for (text, error) in [
            (
                full.replace("username=\"u\", ", ""),
                HttpAuthError::MissingParam("username"),
            ),
            (
                full.replace("qop=auth", "qop=auth-int"),
                HttpAuthError::UnsupportedQop("auth-int".into()),
            ),
            (
                full.replace("nc=00000001", "nc=1"),
                HttpAuthError::MalformedNonceCount("1".into()),
            ),
            (
                full.replace("nc=00000001", "nc=+0000001"),
                HttpAuthError::MalformedNonceCount("+0000001".into()),
            ),
            (
                full.replace("nc=00000001", "nc=0000000A"),
                HttpAuthError::MalformedNonceCount("0000000A".into()),
            ),
            (
                full.replace(r#"cnonce="c""#, r#"cnonce="""#),
                HttpAuthError::EmptyClientNonce,
            ),
            (full.replace(", qop=auth", ""), HttpAuthError::IncompleteQop),
            (
                format!("{full}, algorithm=SHA-1"),
                HttpAuthError::UnknownAlgorithm("SHA-1".into()),
            ),
            (
                format!("{full}, nonce=\"m\""),
                HttpAuthError::RepeatedParam("nonce".into()),
            ),
        ] {
            assert_eq!(DigestCredentials::parse(&text), Err(error), "{text}");
        }
    }

    #[test]
    fn answers_without_qop_and_session_algorithms_verify() {
        let ha1 = DigestAlgorithm::Md5.ha1("u", "r", "p");
        let mut legacy =
            DigestCredentials::parse(r#"username="u", realm="r", nonce="n", uri="/", response="""#)
                .expect("RFC 2069 credentials");
        assert_eq!(legacy.algorithm, DigestAlgorithm::Md5);
        legacy.response = legacy.expected_response(&ha1, "GET");
        assert!(legacy.verify(&ha1, "GET"));
        assert!(!legacy.to_string().contains("algorithm"));

        let mut session = rfc_7616_credentials(DigestAlgorithm::Sha256Sess, "");
        let ha1 = DigestAlgorithm::Sha256Sess.ha1("Mufasa", "http-auth@example.org", "x");
        session.response = session.expected_response(&ha1, "GET");
        let plain = DigestCredentials {
            algorithm: DigestAlgorithm::Sha256,
            ..session.clone()
        };
        assert_ne!(plain.expected_response(&ha1, "GET"), session.response);
        assert!(session.verify(&ha1, "GET"));
    }
}
