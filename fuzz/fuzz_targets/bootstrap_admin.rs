//! The JSON bodies of the bootstrap admin API through dm-server's decoders:
//! a bootstrap profile ([`BootstrapProfile::from_json`]) and a bootstrap
//! device registration ([`parse_bootstrap_device`]), both strict JSON
//! (duplicate members and unknown members refused).
//!
//! Checks: never panics; a refusal is 400 (malformed, invalid member) or
//! 413 (a decoding limit); an accepted profile encodes to JSON that
//! decodes to the same profile, with at most 8 accounts; an accepted device
//! keeps its PSK key within 16 to 64 bytes.
//!
//! [`BootstrapProfile::from_json`]: dm_server::bootstrap::BootstrapProfile::from_json
//! [`parse_bootstrap_device`]: dm_server::bootstrap::parse_bootstrap_device
#![no_main]

use dm_server::bootstrap::{BootstrapProfile, MAX_PROFILE_ACCOUNTS, parse_bootstrap_device};
use libfuzzer_sys::fuzz_target;

fn refused(e: &dm_server::Error) {
    assert!(
        matches!(e.status().as_u16(), 400 | 413),
        "refused with {}: {e}",
        e.status().as_u16()
    );
}

fuzz_target!(|data: &[u8]| {
    match BootstrapProfile::from_json(data) {
        Ok(profile) => {
            assert!((1..=MAX_PROFILE_ACCOUNTS).contains(&profile.accounts.len()));
            let again = BootstrapProfile::from_json(&profile.to_json())
                .unwrap_or_else(|e| panic!("the encoding of {profile:?} is refused: {e}"));
            assert_eq!(again, profile);
        }
        Err(e) => refused(&e),
    }
    match parse_bootstrap_device(data) {
        Ok(device) => {
            if let Some(psk) = &device.psk {
                assert!((16..=64).contains(&psk.key.len()));
            }
        }
        Err(e) => refused(&e),
    }
});
