//! `WWW-Authenticate` challenges: written by a server, parsed and chosen
//! by a client, and answered with the `Authorization` value (the nonce
//! count of a Digest challenge kept across the answers of a session).

use std::fmt;

use super::credentials::{BasicCredentials, DigestCredentials, QopAuth};
use super::params::{algorithm, param, parse_auth_params, quoted, required, split_challenges};
use super::{DigestAlgorithm, HttpAuthError};

/// The auth-schemes a client's credentials may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcceptedSchemes {
    /// `Basic` only.
    Basic,
    /// `Digest` only.
    Digest,
    /// `Digest`, or `Basic` when the server offers no Digest the client
    /// can answer.
    DigestOrBasic,
}

impl AcceptedSchemes {
    fn basic(self) -> bool {
        matches!(
            self,
            AcceptedSchemes::Basic | AcceptedSchemes::DigestOrBasic
        )
    }

    fn digest(self) -> bool {
        matches!(
            self,
            AcceptedSchemes::Digest | AcceptedSchemes::DigestOrBasic
        )
    }
}

/// A `Basic` challenge (RFC 7617 section 2).
///
/// ```
/// use dm_session::http_auth::BasicChallenge;
///
/// assert_eq!(
///     BasicChallenge::new("oma-dm").to_string(),
///     r#"Basic realm="oma-dm", charset="UTF-8""#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicChallenge {
    /// `realm` (empty when a server sent none or a malformed one).
    pub realm: String,
}

impl BasicChallenge {
    /// The challenge of a realm.
    pub fn new(realm: impl Into<String>) -> BasicChallenge {
        BasicChallenge {
            realm: realm.into(),
        }
    }
}

impl fmt::Display for BasicChallenge {
    /// The `WWW-Authenticate` value, announcing UTF-8 (RFC 7617 section 2.1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, r#"Basic realm={}, charset="UTF-8""#, quoted(&self.realm))
    }
}

/// A `Digest` challenge (RFC 7616 section 3.3), with the count of the
/// answers given to its nonce.
///
/// ```
/// use dm_session::http_auth::{DigestAlgorithm, DigestChallenge};
///
/// let challenge = DigestChallenge::new("oma-dm", "n0nce", DigestAlgorithm::Sha256);
/// let value = challenge.to_string();
/// assert_eq!(
///     value,
///     r#"Digest realm="oma-dm", qop="auth", algorithm=SHA-256, nonce="n0nce""#
/// );
/// assert_eq!(DigestChallenge::parse(value.trim_start_matches("Digest "))?, challenge);
/// # Ok::<(), dm_session::http_auth::HttpAuthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, to be returned unchanged.
    pub opaque: Option<String>,
    /// `algorithm` ([`DigestAlgorithm::Md5`] when absent).
    pub algorithm: DigestAlgorithm,
    /// Whether the challenge offers `qop="auth"`; `false` for an RFC 2069
    /// challenge without `qop`.
    pub qop_auth: bool,
    /// `userhash=true`: the answer hashes the user name.
    pub userhash: bool,
    /// `stale=true`: the previous answer was refused only for its nonce.
    pub stale: bool,
    /// Answers given to this nonce.
    nonce_count: u32,
}

impl DigestChallenge {
    /// A server's challenge: `qop="auth"`, no `opaque`, not stale.
    pub fn new(
        realm: impl Into<String>,
        nonce: impl Into<String>,
        algorithm: DigestAlgorithm,
    ) -> DigestChallenge {
        DigestChallenge {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: None,
            algorithm,
            qop_auth: true,
            userhash: false,
            stale: false,
            nonce_count: 0,
        }
    }

    /// This challenge with `stale=true` (or without).
    #[must_use]
    pub fn with_stale(mut self, stale: bool) -> DigestChallenge {
        self.stale = stale;
        self
    }

    /// Parses the auth-params after `Digest `: `realm` and `nonce`
    /// required; a known `algorithm`; a `qop` list (when present) that
    /// holds `auth` (other options are ignored: `auth-int` would sign the
    /// body); a `charset` (when present) that is `UTF-8`.
    pub fn parse(text: &str) -> Result<DigestChallenge, HttpAuthError> {
        let params = parse_auth_params(text)?;
        let get = |name: &str| param(&params, name);
        let require = |name: &'static str| required(&params, name);
        let algorithm = algorithm(&params)?;
        let qop_auth = match get("qop") {
            None => false,
            Some(qops) if qops.split(',').any(|qop| qop.trim() == "auth") => true,
            Some(qops) => return Err(HttpAuthError::UnsupportedQop(qops.to_owned())),
        };
        if let Some(charset) = get("charset")
            && !charset.eq_ignore_ascii_case("UTF-8")
        {
            return Err(HttpAuthError::UnsupportedCharset(charset.to_owned()));
        }
        let flag = |name: &str| get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(DigestChallenge {
            realm: require("realm")?,
            nonce: require("nonce")?,
            opaque: get("opaque").map(str::to_owned),
            algorithm,
            qop_auth,
            userhash: flag("userhash"),
            stale: flag("stale"),
            nonce_count: 0,
        })
    }

    /// The answers given to this nonce so far (the `nc` of the last one).
    pub fn nonce_count(&self) -> u32 {
        self.nonce_count
    }

    /// Answers the challenge for one request: the next nonce count,
    /// `cnonce` (fresh random text the caller draws, not empty, for
    /// challenges with `qop`), the request's `method` and `uri` (the
    /// request target as sent).
    pub fn answer(
        &mut self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<DigestCredentials, HttpAuthError> {
        let nonce_count = self
            .nonce_count
            .checked_add(1)
            .ok_or(HttpAuthError::NonceCountExhausted)?;
        let qop = if self.qop_auth {
            if cnonce.is_empty() {
                return Err(HttpAuthError::EmptyClientNonce);
            }
            Some(QopAuth {
                nonce_count,
                cnonce: cnonce.to_owned(),
            })
        } else {
            None
        };
        let algorithm = self.algorithm;
        let sent_username = if self.userhash {
            algorithm.hash_hex(format!("{username}:{}", self.realm).as_bytes())
        } else {
            username.to_owned()
        };
        let mut credentials = DigestCredentials {
            username: sent_username,
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: uri.to_owned(),
            response: String::new(),
            algorithm,
            qop,
            opaque: self.opaque.clone(),
            userhash: self.userhash,
        };
        // A1 holds the user name itself, hashed or not on the wire.
        let ha1 = algorithm.ha1(username, &self.realm, password);
        credentials.response = credentials.expected_response(&ha1, method);
        self.nonce_count = nonce_count;
        Ok(credentials)
    }
}

impl fmt::Display for DigestChallenge {
    /// The `WWW-Authenticate` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest realm={}", quoted(&self.realm))?;
        if self.qop_auth {
            f.write_str(r#", qop="auth""#)?;
        }
        write!(
            f,
            ", algorithm={}, nonce={}",
            self.algorithm,
            quoted(&self.nonce)
        )?;
        if let Some(opaque) = &self.opaque {
            write!(f, ", opaque={}", quoted(opaque))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        if self.userhash {
            f.write_str(", userhash=true")?;
        }
        Ok(())
    }
}

/// One challenge of a `WWW-Authenticate` value, and the state of its
/// answers.
///
/// A client keeps the challenge it chose for the following requests of a
/// session: a Digest nonce is answered again with the next nonce count.
///
/// ```
/// use dm_session::http_auth::{AcceptedSchemes, Challenge};
///
/// let headers = [
///     r#"Basic realm="dm""#,
///     r#"Digest realm="dm", qop="auth", algorithm=MD5, nonce="a", Digest realm="dm", qop="auth", algorithm=SHA-256, nonce="b""#,
/// ];
/// let mut chosen = Challenge::choose(headers, AcceptedSchemes::DigestOrBasic)
///     .expect("a challenge to answer");
/// let first = chosen.authorization("device-1", "secret", "POST", "/dm", "c1")?;
/// assert!(first.starts_with("Digest ") && first.contains("algorithm=SHA-256"));
/// assert!(first.contains("nc=00000001"));
/// let second = chosen.authorization("device-1", "secret", "POST", "/dm/s/1", "c2")?;
/// assert!(second.contains("nc=00000002"));
///
/// let mut basic = Challenge::choose(headers, AcceptedSchemes::Basic).expect("Basic");
/// assert_eq!(
///     basic.authorization("Aladdin", "open sesame", "POST", "/dm", "")?,
///     "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
/// );
/// # Ok::<(), dm_session::http_auth::HttpAuthError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic`.
    Basic(BasicChallenge),
    /// `Digest`.
    Digest(DigestChallenge),
}

impl Challenge {
    /// Parses one challenge (one piece of [`split_challenges`]): `Basic`
    /// with any auth-params, or `Digest` per [`DigestChallenge::parse`].
    /// The scheme's letter case does not matter. `Ok(None)` for another
    /// auth-scheme.
    pub fn parse(text: &str) -> Result<Option<Challenge>, HttpAuthError> {
        let (scheme, rest) = text
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((text, ""));
        if scheme.eq_ignore_ascii_case("Digest") {
            DigestChallenge::parse(rest).map(|c| Some(Challenge::Digest(c)))
        } else if scheme.eq_ignore_ascii_case("Basic") {
            // Any Basic challenge is answerable: a realm that does not
            // parse only goes unrecorded.
            let realm = parse_auth_params(rest)
                .ok()
                .and_then(|params| param(&params, "realm").map(str::to_owned))
                .unwrap_or_default();
            Ok(Some(Challenge::Basic(BasicChallenge { realm })))
        } else {
            Ok(None)
        }
    }

    /// The challenge among `headers` (the `WWW-Authenticate` values of a
    /// `401`, each possibly holding several challenges) a client with
    /// credentials for `accepted` answers: Digest SHA-256, then Digest MD5,
    /// then the other Digest algorithms, then Basic; the first of equals.
    /// Challenges that do not parse, or Digest challenges with text beyond
    /// ASCII, are passed over. `None` when nothing fits.
    pub fn choose<'a>(
        headers: impl IntoIterator<Item = &'a str>,
        accepted: AcceptedSchemes,
    ) -> Option<Challenge> {
        let mut best: Option<(usize, Challenge)> = None;
        for text in headers.into_iter().flat_map(split_challenges) {
            let rank = match Challenge::parse(text) {
                Ok(Some(Challenge::Digest(digest))) if accepted.digest() && text.is_ascii() => {
                    let rank = DigestAlgorithm::PREFERENCE
                        .iter()
                        .position(|a| *a == digest.algorithm)
                        .unwrap_or(DigestAlgorithm::PREFERENCE.len());
                    (rank.min(2), Challenge::Digest(digest))
                }
                Ok(Some(Challenge::Basic(basic))) if accepted.basic() => {
                    (3, Challenge::Basic(basic))
                }
                _ => continue,
            };
            if best.as_ref().is_none_or(|(best, _)| rank.0 < *best) {
                best = Some(rank);
            }
        }
        best.map(|(_, challenge)| challenge)
    }

    /// The `Authorization` value answering this challenge for one request
    /// (see [`DigestChallenge::answer`]; `cnonce` is not used by Basic).
    /// Each Digest answer takes the next nonce count.
    pub fn authorization(
        &mut self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<String, HttpAuthError> {
        Ok(match self {
            Challenge::Basic(_) => BasicCredentials::new(username, password).to_string(),
            Challenge::Digest(digest) => digest
                .answer(username, password, method, uri, cnonce)?
                .to_string(),
        })
    }
}

impl fmt::Display for Challenge {
    /// The `WWW-Authenticate` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Challenge::Basic(challenge) => challenge.fmt(f),
            Challenge::Digest(challenge) => challenge.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Authorization;
    use super::*;

    const PASSWORD: AcceptedSchemes = AcceptedSchemes::DigestOrBasic;

    fn digest(challenge: Option<Challenge>) -> DigestChallenge {
        match challenge {
            Some(Challenge::Digest(digest)) => digest,
            other => panic!("not a Digest challenge: {other:?}"),
        }
    }

    #[test]
    fn sha256_digest_is_preferred_then_md5_then_basic() {
        let headers = [
            r#"Basic realm="dm""#,
            r#"Digest realm="dm", qop="auth", algorithm=MD5, nonce="a""#,
            r#"Digest realm="dm", qop="auth", algorithm=SHA-256, nonce="b""#,
        ];
        assert_eq!(digest(Challenge::choose(headers, PASSWORD)).nonce, "b");
        assert_eq!(
            digest(Challenge::choose(headers[..2].iter().copied(), PASSWORD)).nonce,
            "a"
        );
        assert!(matches!(
            Challenge::choose(headers, AcceptedSchemes::Basic),
            Some(Challenge::Basic(_))
        ));
        assert!(Challenge::choose([headers[0]], AcceptedSchemes::Digest).is_none());
        assert!(Challenge::choose(["Bearer realm=\"x\""], PASSWORD).is_none());
        // Other algorithms rank below MD5; an unknown one is passed over.
        let others = [
            r#"Digest realm="dm", qop="auth", algorithm=SHA-512-256, nonce="c""#,
            r#"Digest realm="dm", qop="auth", algorithm=SHA-1, nonce="d""#,
            r#"Digest realm="dm", qop="auth-int", algorithm=SHA-256, nonce="e""#,
        ];
        assert_eq!(digest(Challenge::choose(others, PASSWORD)).nonce, "c");
        let with_md5 = [others[0], headers[1]];
        assert_eq!(digest(Challenge::choose(with_md5, PASSWORD)).nonce, "a");
    }

    #[test]
    fn non_ascii_digest_challenges_are_skipped() {
        // Found by the client_auth fuzz target: a Digest parser panicked
        // on a multi-byte character before an `=`.
        let digest = "Digest realm=\"dm\", qo\u{5cf}=\"auth\", nonce=\"n1\"";
        assert!(Challenge::choose([digest], PASSWORD).is_none());
        let realm = "Digest realm=\"d\u{e9}\", qop=\"auth\", nonce=\"n1\"";
        assert!(Challenge::choose([realm], PASSWORD).is_none());
        assert!(matches!(
            Challenge::choose([digest, r#"Basic realm="dm""#], PASSWORD),
            Some(Challenge::Basic(_))
        ));
    }

    #[test]
    fn digest_answers_count_up_and_basic_encodes_the_pair() {
        let mut challenge = Challenge::choose(
            [r#"Digest realm="http-auth@example.org", qop="auth", algorithm=SHA-256, nonce="7ypf", opaque="FQhe""#],
            PASSWORD,
        )
        .expect("a challenge");
        let first = challenge
            .authorization("Mufasa", "Circle of Life", "POST", "/dm", "c1")
            .expect("header");
        let second = challenge
            .authorization("Mufasa", "Circle of Life", "POST", "/dm/s/1", "c2")
            .expect("header");
        assert!(first.starts_with("Digest ") && first.contains("nc=00000001"));
        assert!(second.contains("nc=00000002") && second.contains(r#"uri="/dm/s/1""#));
        assert!(first.contains("algorithm=SHA-256") && first.contains("qop=auth"));
        assert!(first.contains(r#"opaque="FQhe""#));
        let mut basic = Challenge::Basic(BasicChallenge::new("dm"));
        assert_eq!(
            basic.authorization("Aladdin", "open sesame", "GET", "/", ""),
            Ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
    }

    /// RFC 7616 section 3.9.1: the two challenges, Mufasa's answers with
    /// the RFC's cnonce, verified as a server would.
    #[test]
    fn rfc_7616_example_is_answered() {
        let challenge = |algorithm: &str| {
            format!(
                r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
            )
        };
        let (sha256, md5) = (challenge("SHA-256"), challenge("MD5"));
        for (headers, algorithm, response) in [
            (
                vec![md5.as_str(), sha256.as_str()],
                DigestAlgorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
            (
                vec![md5.as_str()],
                DigestAlgorithm::Md5,
                "8ca523f5e9506fed4657c9700eebdbec",
            ),
        ] {
            let mut chosen = digest(Challenge::choose(headers, AcceptedSchemes::Digest));
            assert_eq!(chosen.algorithm, algorithm);
            let credentials = chosen
                .answer(
                    "Mufasa",
                    "Circle of Life",
                    "GET",
                    "/dir/index.html",
                    "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                )
                .expect("answered");
            assert_eq!(credentials.response, response);
            assert_eq!(chosen.nonce_count(), 1);
            let Ok(Authorization::Digest(parsed)) = Authorization::parse(&credentials.to_string())
            else {
                panic!("the answer parses");
            };
            let ha1 = algorithm.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
            assert!(parsed.verify(&ha1, "GET"));
        }
    }

    #[test]
    fn userhash_legacy_and_exhausted_challenges() {
        let mut hashed = DigestChallenge::parse(
            r#"realm="r", qop="auth", algorithm=SHA-256, nonce="n", userhash=true, charset=UTF-8"#,
        )
        .expect("valid");
        let answer = hashed.answer("u", "p", "POST", "/", "c").expect("answered");
        assert!(answer.userhash && answer.to_string().ends_with("userhash=true"));
        assert_eq!(
            answer.username,
            DigestAlgorithm::Sha256.hash_hex(b"u:r"),
            "H(username:realm)"
        );
        assert!(answer.verify(&DigestAlgorithm::Sha256.ha1("u", "r", "p"), "POST"));

        let mut legacy = DigestChallenge::parse(r#"realm="r", nonce="n""#).expect("valid");
        let answer = legacy.answer("u", "p", "GET", "/", "").expect("answered");
        assert_eq!(answer.qop, None);
        let text = answer.to_string();
        assert!(!text.contains("nc=") && !text.contains("cnonce"), "{text}");

        let mut fresh = DigestChallenge::new("r", "n", DigestAlgorithm::Md5);
        assert_eq!(
            fresh.answer("u", "p", "GET", "/", ""),
            Err(HttpAuthError::EmptyClientNonce)
        );
        fresh.nonce_count = u32::MAX;
        assert_eq!(
            fresh.answer("u", "p", "GET", "/", "c"),
            Err(HttpAuthError::NonceCountExhausted)
        );
        assert_eq!(
            DigestChallenge::parse(r#"realm="r", nonce="n", charset=latin1"#),
            Err(HttpAuthError::UnsupportedCharset("latin1".into()))
        );
        assert_eq!(
            DigestChallenge::parse(r#"realm="r""#),
            Err(HttpAuthError::MissingParam("nonce"))
        );
    }

    #[test]
    fn server_challenges_are_written_and_parsed_back() {
        let challenge =
            DigestChallenge::new("a \"quoted\" realm", "n", DigestAlgorithm::Md5).with_stale(true);
        let value = challenge.to_string();
        assert!(value.ends_with("stale=true"), "{value}");
        assert_eq!(
            Challenge::parse(&value),
            Ok(Some(Challenge::Digest(challenge)))
        );
        let basic = Challenge::Basic(BasicChallenge::new("dm"));
        assert_eq!(Challenge::parse(&basic.to_string()), Ok(Some(basic)));
    }
}
