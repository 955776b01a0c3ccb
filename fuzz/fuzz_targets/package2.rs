//! Decodes arbitrary bytes as a Package#2; whatever decodes must re-encode to
//! bytes that decode to an equal value, and re-encoding is a fixed point.
//!
//! The same bytes go through `decode_command` (one command in the array
//! form): it never panics, a command it accepts is the one command of the
//! Package#2 `{"CMD":[...]}` around it, and every command of a decoded
//! Package#2, written in its array form, decodes back to itself.
//!
//! Differential check of the two Package#2 readers: a package of the plain
//! shape is read by the one-pass reader, any other by the streaming
//! decoder. The same document with an unknown member whose name holds an
//! escape appended (ignored by the protocol, and never plain) must decode
//! to the same package through the streaming decoder.
#![no_main]

use dm_codec::{Limits, decode_command, decode_package2, encode_package2};
use dm_types::{CommandEntry, Package2};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::json_round_trip(data, dm_codec::decode_package2, dm_codec::encode_package2);

    let limits = Limits::default();
    if let Ok(entry) = decode_command(data, &limits) {
        let mut package = br#"{"CMD":["#.to_vec();
        package.extend_from_slice(data);
        package.extend_from_slice(b"]}");
        let commands = decode_package2(&package, &limits)
            .map(|p| p.into_commands())
            .unwrap_or_else(|e| panic!("a command alone but not in CMD: {e}"));
        assert_eq!(commands, [entry], "another command inside CMD");
    }
    if let Ok(package) = decode_package2(data, &limits) {
        if let Some(body) = data.strip_suffix(b"}")
            && body.iter().any(|b| !b.is_ascii_whitespace() && *b != b'{')
            && !data.windows(4).any(|w| w == b"fuzz")
        {
            let mut streamed = body.to_vec();
            streamed.extend_from_slice(br#","\u0000fuzz":0}"#);
            let again = decode_package2(&streamed, &limits)
                .unwrap_or_else(|e| panic!("refused with an unknown member: {e}"));
            assert_eq!(again, package, "the two readers disagree");
        }
        for entry in package.commands() {
            if let CommandEntry::Command(command) = entry {
                // The array form as the encoder writes it (canonical, so
                // read with the relaxed limits of the round trip).
                let alone = Package2::new(vec![entry.clone()]).expect("one command");
                let encoded: serde_json::Value = serde_json::from_slice(&encode_package2(&alone))
                    .expect("the encoder writes JSON");
                let words = encoded["CMD"][0].to_string();
                let again = decode_command(words.as_bytes(), &common::relaxed_limits())
                    .unwrap_or_else(|e| panic!("{words} is refused alone: {e}"));
                assert_eq!(again, CommandEntry::Command(command.clone()), "{words}");
            }
        }
    }
});
