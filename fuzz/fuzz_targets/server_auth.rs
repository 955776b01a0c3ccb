//! A server's check of arbitrary `Authorization` values, through
//! `dm_session::http_auth` (what dm-server runs before its nonce and
//! credential lookup): length and scheme, Basic decoding, auth-param
//! parsing, and Digest verification against the stored `H(A1)` of one user
//! (`device-1`, password `secret`).
//!
//! Input: the header value. In UTF-8 input, `{nonce}` is replaced by a
//! nonce of the server's challenge, and `{response}` by the right Digest
//! response for the other parameters as parsed, so mutations reach the
//! checks past the nonce and the response.
//! Checks: never panics; auth-param names are unique lower-case tokens, and
//! quoting the parsed values again parses back to the same list; parsed
//! credentials written again parse back to the same credentials; a right
//! Digest response or Basic password is never refused as wrong; a Digest
//! response verifies exactly when it is the response computed here
//! independently, and never against another password.
#![no_main]

use base64::Engine as _;
use dm_session::http_auth::{
    Authorization, DigestAlgorithm, DigestChallenge, MAX_AUTHORIZATION_LEN, parse_auth_params,
};
use libfuzzer_sys::fuzz_target;
use md5::Md5;
use sha2::{Digest as _, Sha256};

const USERNAME: &str = "device-1";
const PASSWORD: &str = "secret";
const REALM: &str = "oma-dm";
const NONCE: &str = "AAABi8_xAAABAgMEBQYHCPl3hZ8yJqWc0aK-Qm1Ptx4";
const METHOD: &str = "POST";

fn hex(bytes: &[u8]) -> String {
    dm_codec::hex::encode(bytes)
}

fn hash(sha256: bool, text: &str) -> String {
    if sha256 {
        hex(&Sha256::digest(text.as_bytes()))
    } else {
        hex(&Md5::digest(text.as_bytes()))
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// RFC 7616 `response` for these parameters and the fixture's password
/// (SHA-256 and MD5 with `qop`; `None` for other algorithms).
fn digest_response(params: &[(String, String)]) -> Option<String> {
    let sha256 = match param(params, "algorithm") {
        None => false,
        Some(a) if a.eq_ignore_ascii_case("MD5") => false,
        Some(a) if a.eq_ignore_ascii_case("SHA-256") => true,
        Some(_) => return None,
    };
    let ha1 = hash(
        sha256,
        &format!(
            "{}:{}:{PASSWORD}",
            param(params, "username")?,
            param(params, "realm")?
        ),
    );
    let ha2 = hash(sha256, &format!("{METHOD}:{}", param(params, "uri")?));
    Some(hash(
        sha256,
        &format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            param(params, "nonce")?,
            param(params, "nc")?,
            param(params, "cnonce")?,
            param(params, "qop")?
        ),
    ))
}

/// The auth-params after the scheme, checked for the parser's invariants.
fn checked_params(header: &str) -> Option<Vec<(String, String)>> {
    let (_, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_auth_params(rest).ok()?;
    for (i, (name, _)) in params.iter().enumerate() {
        assert!(!name.is_empty(), "an empty auth-param name");
        assert!(
            name.bytes().all(|b| b.is_ascii_graphic()
                && !b.is_ascii_uppercase()
                && !b"\"(),/:;<=>?@[\\]{}".contains(&b)),
            "auth-param name {name:?} is not a lower-case token"
        );
        assert!(
            params[..i].iter().all(|(other, _)| other != name),
            "auth-param {name:?} repeated"
        );
    }
    if params.iter().all(|(_, value)| value.is_ascii()) {
        let quoted: Vec<String> = params
            .iter()
            .map(|(name, value)| {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                format!("{name}=\"{escaped}\"")
            })
            .collect();
        assert_eq!(
            parse_auth_params(&quoted.join(", ")).ok().as_ref(),
            Some(&params),
            "quoting the parsed auth-params again changes them"
        );
    }
    Some(params)
}

fuzz_target!(|data: &[u8]| {
    // Header values that are not text never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The nonce as the server's challenge carries it.
    let challenge = DigestChallenge::new(REALM, NONCE, DigestAlgorithm::Sha256).to_string();
    assert!(challenge.contains(NONCE));
    let text = text.replace("{nonce}", NONCE);
    // Whether the header carries the right Digest response or Basic password.
    let mut right = false;
    let header = if text.contains("{response}") {
        let probe = text.replace("{response}", "0");
        let probe_params = checked_params(&probe).unwrap_or_default();
        let response = digest_response(&probe_params);
        let header = text.replace("{response}", response.as_deref().unwrap_or("0"));
        // Right only when the substitution landed in `response` alone
        // (and nowhere else).
        if let (Some(response), Some(params)) = (&response, checked_params(&header)) {
            right = params.len() == probe_params.len()
                && params.iter().zip(&probe_params).all(|(p, q)| {
                    p.0 == q.0 && (p.1 == q.1 || (p.0 == "response" && p.1 == *response))
                })
                && param(&params, "response") == Some(response.as_str());
        }
        header
    } else {
        checked_params(&text);
        text
    };
    let (scheme, rest) = header.split_once(' ').unwrap_or((&header, ""));
    if scheme.eq_ignore_ascii_case("Basic") {
        let pair = base64::engine::general_purpose::STANDARD.decode(rest.trim());
        right = pair.is_ok_and(|pair| pair == format!("{USERNAME}:{PASSWORD}").as_bytes());
    } else if !scheme.eq_ignore_ascii_case("Digest") {
        right = false;
    }
    let parsed = match Authorization::parse(&header) {
        Ok(parsed) => parsed,
        Err(_) => return,
    };
    let written = parsed.to_string();
    if written.len() <= MAX_AUTHORIZATION_LEN {
        assert_eq!(
            Authorization::parse(&written).as_ref(),
            Ok(&parsed),
            "written again as {written}"
        );
    }
    match parsed {
        Authorization::Basic(credentials) => {
            let matched = credentials.user_id == USERNAME && credentials.password == PASSWORD;
            assert_eq!(matched, right, "Basic credentials {credentials:?}");
        }
        Authorization::Digest(credentials) => {
            if credentials.userhash {
                return;
            }
            let algorithm = credentials.algorithm;
            let ha1 = algorithm.ha1(&credentials.username, &credentials.realm, PASSWORD);
            let verified = credentials.verify(&ha1, METHOD);
            let other = algorithm.ha1(&credentials.username, &credentials.realm, "Secret");
            assert!(
                !credentials.verify(&other, METHOD),
                "verified against another password: {header}"
            );
            if right {
                assert!(verified, "a right Digest response refused: {header}");
            }
            let params = checked_params(&header).unwrap_or_default();
            if let Some(expected) = digest_response(&params) {
                assert_eq!(
                    verified,
                    credentials.response.eq_ignore_ascii_case(&expected),
                    "verification differs from the response computed here: {header}"
                );
            }
        }
    }
});
