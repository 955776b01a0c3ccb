//! The body of `POST /admin/devices/{id}/commands` (JSON with a `command`
//! array in the Package#2 form) through dm-server's
//! [`parse_command`](dm_server::parse_command), as the admin API reads it.
//!
//! Checks: never panics; a refusal is 400 (malformed) or 422 (END, CONT);
//! an accepted command is neither END nor CONT, and its Package#2 encoding
//! parses back to the same command.
#![no_main]

use dm_codec::encode_package2;
use dm_types::{Command, CommandEntry, Package2};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(words) = body.get("command") else {
        return;
    };
    let command = match dm_server::parse_command(words) {
        Ok(command) => command,
        Err(e) => {
            assert!(
                matches!(e.http_status(), 400 | 422),
                "refused with {}: {e}",
                e.http_status()
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
