//! dm-server's device authentication fed arbitrary `Authorization` values:
//! scheme selection, Basic decoding, auth-param parsing and Digest
//! verification, against a store holding one device (user `device-1`,
//! password `secret`).
//!
//! Input: the header value. In UTF-8 input, `{nonce}` is replaced by a
//! nonce the server issued, and `{response}` by the right Digest response
//! for the other parameters as parsed, so mutations reach the checks past
//! the nonce and the response.
//! Checks: never panics; auth-param names are unique lower-case tokens, and
//! quoting the parsed values again parses back to the same list; a right
//! Digest response or Basic password is never refused as wrong (a right
//! Digest response may be refused as a replay: the store remembers the
//! nonce counts used); only the registered device is ever authenticated.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use dm_server::{DeviceRegistration, MemoryStore, ServerOptions, Store as _, fuzzing};
use dm_types::DevId;
use libfuzzer_sys::fuzz_target;
use md5::Md5;
use sha2::{Digest as _, Sha256};

const NOW_MS: u64 = 1_700_000_000_000;
const DEV_ID: &str = "IMEI:493005100592800";
const USERNAME: &str = "device-1";
const PASSWORD: &str = "secret";
const METHOD: &str = "POST";
const TARGET: &str = "/dm";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    options: ServerOptions,
    store: MemoryStore,
    nonce: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let options = ServerOptions::builder().build().expect("default options");
        let store = MemoryStore::new();
        let registration = DeviceRegistration::new(DevId::new(DEV_ID).expect("a DevID"))
            .with_password(USERNAME, PASSWORD, options.realm());
        let challenges = runtime.block_on(async {
            store
                .register_device(registration, false, 0)
                .await
                .expect("registered");
            fuzzing::challenges(&options, &store, NOW_MS)
                .await
                .expect("challenges")
        });
        let nonce = challenges
            .first()
            .and_then(|c| c.split("nonce=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("a Digest challenge with a nonce")
            .to_owned();
        Fixture {
            runtime,
            options,
            store,
            nonce,
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// RFC 7616 `response` for these parameters and the fixture's password.
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
    let params = fuzzing::parse_auth_params(rest)?;
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
            fuzzing::parse_auth_params(&quoted.join(", ")).as_ref(),
            Some(&params),
            "quoting the parsed auth-params again changes them"
        );
    }
    Some(params)
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    // Whether the header carries the right Digest response or Basic password.
    let mut right = false;
    let header: Vec<u8> = match std::str::from_utf8(data) {
        Err(_) => data.to_vec(),
        Ok(text) => {
            let text = text.replace("{nonce}", &fixture.nonce);
            let header = if text.contains("{response}") {
                let probe = text.replace("{response}", "0");
                let probe_params = checked_params(&probe).unwrap_or_default();
                let response = digest_response(&probe_params);
                let header = text.replace("{response}", response.as_deref().unwrap_or("0"));
                // Right only when the substitution landed in `response`
                // alone (and nowhere else).
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
            header.into_bytes()
        }
    };
    let result = fixture.runtime.block_on(fuzzing::authenticate_device(
        &fixture.options,
        &fixture.store,
        METHOD,
        TARGET,
        Some(&header),
        NOW_MS,
    ));
    match result {
        Ok(Some(dev_id)) => assert_eq!(dev_id.as_str(), DEV_ID),
        Ok(None) => panic!("a request with an Authorization header counted as without"),
        Err(reason) => assert!(
            !(right && reason.starts_with("wrong")),
            "right credentials refused as wrong: {reason}\nheader: {}",
            String::from_utf8_lossy(&header)
        ),
    }
});
