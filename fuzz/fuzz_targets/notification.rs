//! Decodes arbitrary bytes as a binary Package#0 notification. A decoded
//! notification must re-encode to bytes that decode to an equal value (and
//! re-encoding is a fixed point), its digest offset must point inside the
//! input, and its JSON form must read back equal. The same bytes are also
//! fed to the JSON-form reader.
#![no_main]

use dm_codec::notification::{self, DIGEST_LEN, Received};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = notification::from_json(data) {
        let text = notification::to_json_string(&n);
        let again = notification::from_json(text.as_bytes())
            .unwrap_or_else(|e| panic!("JSON form {text:?} does not read back: {e}"));
        assert_eq!(again, n);
    }

    let Ok(received) = Received::decode(data) else {
        return;
    };
    let n = received.notification().clone();
    assert_eq!(notification::decode(data).as_ref(), Ok(&n));
    if let Some(offset) = received.digest_offset() {
        assert!(
            offset + DIGEST_LEN <= data.len(),
            "digest offset {offset} out of bounds"
        );
        assert_eq!(
            n.digest.map(|d| d.to_vec()),
            Some(data[offset..offset + DIGEST_LEN].to_vec())
        );
    } else {
        assert!(n.digest.is_none());
    }
    // Never panics, whatever the digest.
    let _ = received.verify_digest(b"secret", b"auth-data");
    let _ = notification::verify_digest(data, b"", b"");

    let bytes = notification::encode(&n)
        .unwrap_or_else(|e| panic!("decoded notification {n:?} does not encode: {e}"));
    let again = notification::decode(&bytes)
        .unwrap_or_else(|e| panic!("re-encoding {bytes:02x?} does not decode: {e}"));
    assert_eq!(again, n, "decode(encode(n)) != n");
    assert_eq!(
        notification::encode(&again).ok(),
        Some(bytes),
        "encoding is not a fixed point"
    );

    let text = notification::to_json_string(&n);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).ok(),
        Some(notification::to_json(&n)),
        "to_json_string and to_json disagree"
    );
    let from_json = notification::from_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("JSON form {text:?} does not read back: {e}"));
    assert_eq!(from_json, n);
});
