//! dm-client's answer to a `401`, through `dm_session::http_auth`: the
//! `WWW-Authenticate` values are split into challenges, the preferred one
//! the credentials may answer is chosen and answered for two requests of a
//! session.
//!
//! Input: one `WWW-Authenticate` value per line (at most 8).
//! Checks: never panics; challenges are non-empty trimmed pieces of the
//! value; no credentials answer nothing; Basic-only credentials never
//! answer Digest and Digest-only never Basic; Digest is preferred over
//! Basic; a Basic answer encodes the pair; a Digest answer parses with the
//! server's auth-param parser (and, within the length limit, as
//! `Authorization`), and carries the user name (unless hashed), the request
//! target and, with a qop, the nonce count of its request.
#![no_main]

use dm_client::Credentials;
use dm_session::http_auth::{
    Authorization, Challenge, MAX_AUTHORIZATION_LEN, parse_auth_params, split_challenges,
};
use libfuzzer_sys::fuzz_target;

const USERNAME: &str = "device-1";
const PASSWORD: &str = "secret";
/// base64 of `device-1:secret`.
const BASIC: &str = "Basic ZGV2aWNlLTE6c2VjcmV0";
const REQUESTS: [(&str, &str); 2] = [("POST", "/dm"), ("POST", "/dm/s/4f2a")];
/// The client nonce the answers use (dm-client draws a random one).
const CNONCE: &str = "0a4f113b";

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Answer {
    None,
    Basic,
    Digest,
}

/// Chooses the challenge `credentials` answer (as a dm-client session
/// does) and answers it for each of `REQUESTS`: `None` for a request it
/// could not be answered for.
fn answer_challenges(headers: &[&str], credentials: &Credentials) -> Option<Vec<Option<String>>> {
    let mut challenge =
        Challenge::choose(headers.iter().copied(), credentials.accepted_schemes()?)?;
    Some(
        REQUESTS
            .iter()
            .map(|(method, target)| {
                challenge
                    .authorization(USERNAME, PASSWORD, method, target, CNONCE)
                    .ok()
            })
            .collect(),
    )
}

fn answer(headers: &[&str], credentials: &Credentials) -> Answer {
    let Some(answers) = answer_challenges(headers, credentials) else {
        return Answer::None;
    };
    assert_eq!(answers.len(), REQUESTS.len());
    let mut kind = None;
    for (index, (value, (_, target))) in answers.iter().zip(REQUESTS).enumerate() {
        let Some(value) = value else {
            continue;
        };
        let this = if value == BASIC {
            Answer::Basic
        } else if let Some(rest) = value.strip_prefix("Digest ") {
            let params = parse_auth_params(rest)
                .unwrap_or_else(|e| panic!("a Digest answer the server cannot parse ({e}): {value}"));
            if value.len() <= MAX_AUTHORIZATION_LEN {
                let parsed = Authorization::parse(value);
                assert!(
                    matches!(parsed, Ok(Authorization::Digest(_))),
                    "{parsed:?}: {value}"
                );
            }
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            if get("userhash") != Some("true") {
                assert_eq!(get("username"), Some(USERNAME), "{value}");
            }
            assert_eq!(get("uri"), Some(target), "{value}");
            if get("qop").is_some() {
                let nc = format!("{:08x}", index + 1);
                assert_eq!(get("nc"), Some(nc.as_str()), "{value}");
            }
            Answer::Digest
        } else {
            panic!("an answer that is neither Basic nor Digest: {value}");
        };
        assert!(kind.is_none_or(|k| k == this), "the answer changed scheme");
        kind = Some(this);
    }
    kind.unwrap_or(Answer::None)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let headers: Vec<&str> = text.split('\n').take(8).collect();
    for value in &headers {
        for challenge in split_challenges(value) {
            assert!(!challenge.is_empty());
            assert_eq!(challenge, challenge.trim());
            assert!(value.contains(challenge));
        }
    }
    let password = answer(&headers, &Credentials::password(USERNAME, PASSWORD));
    let basic = answer(
        &headers,
        &Credentials::Basic {
            username: USERNAME.into(),
            password: PASSWORD.into(),
        },
    );
    let digest = answer(
        &headers,
        &Credentials::Digest {
            username: USERNAME.into(),
            password: PASSWORD.into(),
        },
    );
    assert!(
        basic != Answer::Digest,
        "Basic-only credentials answered Digest"
    );
    assert!(
        digest != Answer::Basic,
        "Digest-only credentials answered Basic"
    );
    if digest == Answer::Digest {
        assert_eq!(
            password,
            Answer::Digest,
            "Digest was offered and answerable"
        );
    }
    if password == Answer::Basic {
        assert_eq!(digest, Answer::None);
    }
    assert_eq!(
        answer(&headers, &Credentials::None),
        Answer::None,
        "no credentials answered a challenge"
    );
});
