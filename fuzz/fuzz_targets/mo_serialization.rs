//! Decodes arbitrary bytes as an MO serialization array; whatever decodes
//! must re-encode to bytes that decode to an equal value, and re-encoding is
//! a fixed point.
#![no_main]

use dm_types::MoItem;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fn encode(items: &Vec<MoItem>) -> Vec<u8> {
    dm_codec::encode_mo_serialization(items)
}

fuzz_target!(|data: &[u8]| {
    common::json_round_trip(data, dm_codec::decode_mo_serialization, encode);
});
