//! Package#0 notifications: the conformance vectors
//! (`conformance/vectors/notifications.json`), round trips and property tests.

use dm_codec::Error;
use dm_codec::notification::{
    self, DigestCheck, NotificationIdWindow, Received, Replay, check_timestamp,
};
use dm_types::{ConnectionType, Notification, ServerId};
use proptest::prelude::*;
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../conformance/vectors/notifications.json"
);

/// Hex text (either case) to bytes; `None` when malformed.
fn unhex(text: &str) -> Option<Vec<u8>> {
    dm_codec::hex::decode(text)
}

/// Reads the vector file; an absent or malformed file is an error with a
/// clear message (the tests fail, never pass silently).
fn load_vectors() -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(VECTORS).map_err(|e| {
        format!(
            "cannot read the notification vectors at {VECTORS}: {e} \
             (run the tests from a clone of the repository)"
        )
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) if !cases.is_empty() => Ok(cases),
        Ok(_) => Err(format!("{VECTORS} is not a non-empty array of cases")),
        Err(e) => Err(format!("{VECTORS} is not valid JSON: {e}")),
    }
}

/// Runs one case; returns what went wrong, if anything.
fn run_case(case: &Value) -> Result<(), String> {
    let hex = case["hex"].as_str().ok_or("no `hex`")?;
    let bytes = unhex(hex).ok_or("malformed `hex`")?;
    let valid = case["valid"].as_bool().ok_or("no `valid`")?;
    let decoded = Received::decode(&bytes);
    let received = match (decoded, valid) {
        (Ok(received), true) => received,
        (Err(e), false) => {
            let offset = e
                .offset()
                .ok_or_else(|| format!("error without offset: {e}"))?;
            if offset > bytes.len() {
                return Err(format!(
                    "error offset {offset} beyond the input of {} bytes",
                    bytes.len()
                ));
            }
            if !matches!(e, Error::Notification { .. }) {
                return Err(format!("unexpected error kind: {e:?}"));
            }
            return Ok(());
        }
        (Ok(received), false) => {
            return Err(format!(
                "decoded but must be invalid: {}",
                notification::to_json(received.notification())
            ));
        }
        (Err(e), true) => return Err(format!("must decode but failed: {e}")),
    };
    let n = received.notification();
    if let Some(expected) = case.get("decoded") {
        let json = notification::to_json(n);
        if &json != expected {
            return Err(format!("JSON form {json} differs from {expected}"));
        }
        let text: Value = serde_json::from_str(&notification::to_json_string(n))
            .map_err(|e| format!("to_json_string is not JSON: {e}"))?;
        if &text != expected {
            return Err(format!("to_json_string {text} differs from {expected}"));
        }
        let back = notification::from_json(expected.to_string().as_bytes())
            .map_err(|e| format!("from_json of `decoded` failed: {e}"))?;
        if &back != n {
            return Err("from_json of `decoded` differs from the binary decoding".to_owned());
        }
    }
    // Re-encoding gives a notification that decodes to the same value.
    let reencoded = notification::encode(n).map_err(|e| format!("encode failed: {e}"))?;
    if notification::decode(&reencoded).as_ref() != Ok(n) {
        return Err("encode → decode changed the notification".to_owned());
    }
    if let Some(secret) = case.get("secret_hex").and_then(Value::as_str) {
        let secret = unhex(secret).ok_or("malformed `secret_hex`")?;
        let auth_data = match case.get("auth_data_hex").and_then(Value::as_str) {
            Some(text) => unhex(text).ok_or("malformed `auth_data_hex`")?,
            None => Vec::new(),
        };
        let expected = case["digest_ok"]
            .as_bool()
            .ok_or("secret without `digest_ok`")?;
        let check = received.verify_digest(&secret, &auth_data);
        if check.is_valid() != expected {
            return Err(format!(
                "digest check {check:?}, expected digest_ok {expected}"
            ));
        }
        let again = notification::verify_digest(&bytes, &secret, &auth_data)
            .map_err(|e| format!("verify_digest failed: {e}"))?;
        if again != check {
            return Err("verify_digest and Received::verify_digest disagree".to_owned());
        }
    }
    Ok(())
}

#[test]
fn conformance_vectors() -> Result<(), String> {
    let cases = load_vectors()?;
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"]
            .as_str()
            .map_or_else(|| format!("#{index}"), str::to_owned);
        if let Err(why) = run_case(case) {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} notification vectors failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
    Ok(())
}

/// The server side reproduces the vector with all six options byte for byte.
#[test]
fn encode_signed_reproduces_vector() -> Result<(), String> {
    let cases = load_vectors()?;
    let case = cases
        .iter()
        .find(|c| c["name"] == "all six options, digest valid")
        .ok_or("the vector `all six options, digest valid` is missing")?;
    let bytes = unhex(case["hex"].as_str().unwrap_or_default()).expect("hex");
    let secret = unhex(case["secret_hex"].as_str().unwrap_or_default()).expect("hex");
    let auth_data = unhex(case["auth_data_hex"].as_str().unwrap_or_default()).expect("hex");
    let mut n = notification::decode(&bytes).expect("decodes");
    n.digest = None;
    let signed = notification::encode_signed(&n, &secret, &auth_data).expect("encodes");
    assert_eq!(signed, bytes);
    Ok(())
}

fn sample() -> Notification {
    let mut n = Notification::new(
        ServerId::new("dm.example.com").expect("valid"),
        ConnectionType::Wlan,
    );
    n.notification_id = Some(0x1234);
    n.timestamp = Some(1_764_000_000);
    n.req_mos = true;
    n
}

#[test]
fn signed_round_trip_and_tampering() {
    let n = sample();
    let bytes = notification::encode_signed(&n, b"secret", b"auth").expect("encodes");
    let received = Received::decode(&bytes).expect("decodes");
    assert_eq!(
        received.verify_digest(b"secret", b"auth"),
        DigestCheck::Valid
    );
    let mut expected = n.clone();
    expected.digest = received.notification().digest;
    assert_eq!(received.notification(), &expected);

    // No single-bit change keeps the digest valid (the reserved bits
    // included). Some changes hide options instead (a larger delta turns them
    // into skipped unknown options), which is why a client with a secret
    // ignores a notification whose digest is missing.
    let mut wrong = Vec::new();
    let mut hidden = 0;
    for index in 0..bytes.len() {
        for bit in 0..8 {
            let mut changed = bytes.clone();
            changed[index] ^= 1 << bit;
            match notification::verify_digest(&changed, b"secret", b"auth") {
                Ok(DigestCheck::Valid) => wrong.push(format!("byte {index} bit {bit}")),
                Ok(DigestCheck::Missing) => hidden += 1,
                Ok(DigestCheck::Invalid) | Err(_) => {}
            }
        }
    }
    assert!(hidden > 0);
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn unsigned_notification_has_no_digest() {
    let mut n = sample();
    n.notification_id = None;
    let bytes = notification::encode(&n).expect("encodes");
    assert_eq!(
        notification::verify_digest(&bytes, b"secret", b""),
        Ok(DigestCheck::Missing)
    );
}

#[test]
fn replay_defences() {
    let n = sample();
    let now = 1_764_000_100;
    assert_eq!(check_timestamp(n.timestamp.unwrap_or(0), now, 300), Ok(()));
    assert_eq!(
        check_timestamp(n.timestamp.unwrap_or(0), now, 60),
        Err(Replay::TooOld { age_secs: 100 })
    );
    let mut window = NotificationIdWindow::new(2, 16);
    let id = n.notification_id.unwrap_or(0);
    let timestamp = n.timestamp.unwrap_or(0);
    assert_eq!(window.accept(&n.server_id, id, timestamp, now, 300), Ok(()));
    assert!(window.contains(&n.server_id, id));
    assert_eq!(
        window.accept(&n.server_id, id, timestamp, now, 300),
        Err(Replay::Duplicate { id })
    );
    assert_eq!(
        Replay::Duplicate { id }.to_string(),
        "NOTIFICATION-ID 4660 was already seen"
    );
}

#[test]
fn errors_carry_offsets_and_status() {
    let err = notification::decode(&[0x13, 0x00]).expect_err("options missing");
    assert_eq!(err.offset(), Some(2));
    assert_eq!(err.status().as_u16(), 400);
    assert_eq!(
        err.to_string(),
        "invalid notification at byte 2: truncated: fewer options than the option count"
    );
}

fn server_id() -> impl Strategy<Value = ServerId> {
    let text = prop_oneof![
        "[a-z0-9.-]{1,40}",
        prop::collection::vec(
            any::<char>().prop_filter("no control", |c| !c.is_control()),
            1..=67
        )
        .prop_map(|chars| chars.into_iter().collect::<String>()),
        Just("s".repeat(270)),
    ];
    text.prop_filter_map("a valid ServerID", |t| ServerId::new(t).ok())
}

fn any_notification() -> impl Strategy<Value = Notification> {
    (
        server_id(),
        0u8..4,
        any::<Option<u16>>(),
        any::<Option<[u8; 32]>>(),
        any::<Option<u64>>(),
        any::<bool>(),
    )
        .prop_map(|(server_id, con, id, digest, timestamp, req_mos)| {
            let mut n = Notification::new(
                server_id,
                ConnectionType::from_byte(con).unwrap_or(ConnectionType::Any),
            );
            n.notification_id = id;
            n.digest = digest;
            n.timestamp = timestamp;
            n.req_mos = req_mos;
            n
        })
}

/// Bytes shaped like a notification (a VER 1 header and a few options of
/// random delta and length), to reach deeper than uniform random bytes.
fn notification_like() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop::collection::vec(
            (
                1u8..16,
                0u8..16,
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..40),
            ),
            0..8,
        ),
    )
        .prop_map(|(second, options)| {
            let count = u8::try_from(options.len()).unwrap_or(0);
            let mut bytes = vec![0x10 | (count >> 1), ((count & 1) << 7) | (second & 0x7f)];
            for (delta, length, extension, value) in options {
                bytes.push((delta << 4) | length);
                if length == 15 {
                    bytes.push(extension);
                }
                bytes.extend_from_slice(&value);
            }
            bytes
        })
}

fn check_clean(bytes: &[u8]) -> Result<(), TestCaseError> {
    match notification::decode(bytes) {
        Ok(n) => {
            let reencoded =
                notification::encode(&n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(notification::decode(&reencoded), Ok(n));
        }
        Err(e) => {
            let is_notification_error = matches!(e, Error::Notification { .. });
            prop_assert!(is_notification_error, "{:?}", e);
            prop_assert!(e.offset().is_some_and(|o| o <= bytes.len()));
        }
    }
    let _ = notification::verify_digest(bytes, b"k", b"d");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn binary_round_trip(n in any_notification()) {
        let bytes = notification::encode(&n).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(notification::decode(&bytes), Ok(n.clone()));
        let received = Received::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(received.digest_offset().is_some(), n.digest.is_some());
    }

    #[test]
    fn json_round_trip(n in any_notification()) {
        prop_assert_eq!(notification::from_json(notification::to_json_string(&n).as_bytes()), Ok(n.clone()));
        prop_assert_eq!(notification::from_json(notification::to_json(&n).to_string().as_bytes()), Ok(n));
    }

    #[test]
    fn signed_round_trip(n in any_notification(), id: u16, timestamp: u64,
                         secret in prop::collection::vec(any::<u8>(), 0..64),
                         auth in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut n = n;
        n.notification_id = Some(id);
        n.timestamp = Some(timestamp);
        let bytes = notification::encode_signed(&n, &secret, &auth).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(notification::verify_digest(&bytes, &secret, &auth), Ok(DigestCheck::Valid));
        let mut other = secret.clone();
        other.push(0);
        prop_assert_eq!(notification::verify_digest(&bytes, &other, &auth), Ok(DigestCheck::Invalid));
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check_clean(&bytes)?;
    }

    #[test]
    fn decode_never_panics_on_notification_like_bytes(bytes in notification_like()) {
        check_clean(&bytes)?;
    }

    #[test]
    fn from_json_never_panics(text in "\\PC{0,80}", bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        for input in [text.as_bytes(), &bytes] {
            if let Err(e) = notification::from_json(input) {
                prop_assert!(e.offset().is_some_and(|o| o <= input.len()));
            }
        }
    }
}
