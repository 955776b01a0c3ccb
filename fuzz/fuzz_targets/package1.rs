//! Decodes arbitrary bytes as a Package#1; whatever decodes must re-encode to
//! bytes that decode to an equal value, and re-encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::json_round_trip(data, dm_codec::decode_package1, dm_codec::encode_package1);
});
