//! The configuration file of `dm serve` through dm-server's
//! [`FileConfig::from_json`](dm_server::FileConfig::from_json), then the
//! device registrations and options it describes (TLS files left out:
//! they would be read from disk).
//!
//! Checks: never panics; a parsed configuration serializes to JSON that
//! parses back to the same configuration.
#![no_main]

use dm_server::FileConfig;
use libfuzzer_sys::fuzz_target;

const BASE: &str = "/etc/dm";

fuzz_target!(|data: &[u8]| {
    let Ok(mut config) = FileConfig::from_json(data, BASE) else {
        return;
    };
    let json = serde_json::to_vec(&config).expect("a configuration serializes");
    let again = FileConfig::from_json(&json, BASE).unwrap_or_else(|e| {
        panic!(
            "the serialized configuration is refused: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(again, config);
    let _ = config.registrations(config.realm());
    config.tls = None;
    if let Ok(builder) = config.options() {
        let _ = builder.build();
    }
});
