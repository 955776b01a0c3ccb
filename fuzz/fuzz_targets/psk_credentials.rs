//! PSK-TLS credentials as dm-server decodes them: the `psk` member of a
//! device registration (configuration file, admin API) through
//! [`PskConfig::credentials`](dm_server::PskConfig::credentials), and the
//! raw input as a PSK identity received in a handshake
//! ([`PskIdentity::from_bytes`](dm_server::PskIdentity::from_bytes)).
//!
//! Checks: never panics; an accepted identity is 1 to 128 bytes of UTF-8
//! without control characters and reads back the same; accepted
//! credentials have a key of 16 to 64 bytes that its hex form decodes to
//! again; a refusal never quotes the key.
#![no_main]

use dm_server::{PskConfig, PskCredentials, PskIdentity};
use libfuzzer_sys::fuzz_target;

fn check_identity(identity: &PskIdentity) {
    let text = identity.as_str();
    assert!((1..=PskIdentity::MAX_BYTES).contains(&text.len()), "{text:?}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert_eq!(PskIdentity::new(text).expect("reads back"), *identity);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(identity) = PskIdentity::from_bytes(data) {
        check_identity(&identity);
        assert_eq!(identity.as_str().as_bytes(), data);
    }
    let Ok(config) = serde_json::from_slice::<PskConfig>(data) else {
        return;
    };
    match config.credentials() {
        Ok(credentials) => {
            check_identity(&credentials.identity);
            assert_eq!(credentials.identity.as_str(), config.identity);
            let key = credentials.key();
            assert!(
                (PskCredentials::MIN_KEY_BYTES..=PskCredentials::MAX_KEY_BYTES)
                    .contains(&key.len())
            );
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let again = PskCredentials::from_hex(&config.identity, &hex).expect("reads back");
            assert_eq!(again, credentials);
            assert!(!format!("{credentials:?}").contains(&hex), "Debug shows the key");
        }
        Err(error) => {
            let key = config.key_hex.trim();
            if key.len() >= 8 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
                assert!(!error.to_string().contains(key), "the key is quoted: {error}");
            }
        }
    }
});
