//! The body of `POST /admin/devices/{id}/commands` (JSON with a `command`
//! array in the Package#2 form) through dm-server's
//! [`parse_command_body`](dm_server::parse_command_body), as the admin API
//! reads it: strict JSON (duplicate members refused) through
//! [`decode_admin_json`](dm_server::decode_admin_json), then
//! [`parse_command`](dm_server::parse_command).
//!
//! Checks: never panics; a refusal is 400 (malformed, duplicate member) or
//! 413 (a decoding limit) or 422 (END, CONT); a body the strict decoder
//! accepts is JSON `serde_json` reads the same way; an accepted command is
//! neither END nor CONT, and its Package#2 encoding parses back to the same
//! command.
#![no_main]

use dm_codec::encode_package2;
use dm_types::{Command, CommandEntry, Package2};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(strict) = dm_server::decode_admin_json(data) {
        let lax: Value = serde_json::from_slice(data).expect("strict JSON is JSON");
        assert_eq!(strict, lax, "the strict decoder reads another value");
    }
    let command = match dm_server::parse_command_body(data) {
        Ok(command) => command,
        Err(e) => {
            assert!(
                matches!(e.status().as_u16(), 400 | 413 | 422),
                "refused with {}: {e}",
                e.status().as_u16()
            );
            return;
        }
    };
    assert!(
        !matches!(command, Command::End | Command::Cont { .. }),
        "{command} accepted for queueing"
    );
    let package = Package2::new(vec![CommandEntry::Command(command.clone())])
        .expect("one command that is not END");
    let encoded: Value =
        serde_json::from_slice(&encode_package2(&package)).expect("the encoder writes JSON");
    let again = dm_server::parse_command(&encoded["CMD"][0])
        .unwrap_or_else(|e| panic!("the encoding of {command} is refused: {e}"));
    assert_eq!(again, command);
});
