//! The inputs of updates the server reads from outside: the JSON bodies of
//! the admin API's artifacts ([`parse_artifact_json`]) and groups
//! ([`parse_group_json`]), and the `Range` header of artifact downloads
//! ([`parse_range`]). The first byte chooses the reader (0: artifact,
//! 1: group, 2: `Range`, with the size of the artifact in the next 8
//! bytes); the rest is its input.
//!
//! Checks: never panics; a refused body is 400 or 413; an accepted
//! artifact keeps its name, version and metadata within their bounds; an
//! accepted group encodes to JSON that reads back to the same group; a
//! range is within the artifact, never empty.
//!
//! [`parse_artifact_json`]: dm_server::parse_artifact_json
//! [`parse_group_json`]: dm_server::parse_group_json
//! [`parse_range`]: dm_server::parse_range
#![no_main]

use dm_server::{RangeRequest, parse_artifact_json, parse_group_json, parse_range};
use libfuzzer_sys::fuzz_target;

fn refused(e: &dm_server::Error) {
    assert!(
        matches!(e.status().as_u16(), 400 | 413),
        "refused with {}: {e}",
        e.status().as_u16()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => match parse_artifact_json("fw-1", rest) {
            Ok(record) => {
                assert!((1..=128).contains(&record.name.len()));
                assert!((1..=128).contains(&record.version.len()));
                assert!(record.metadata.len() <= 64);
            }
            Err(e) => refused(&e),
        },
        1 => match parse_group_json("g-1", rest) {
            Ok(group) => {
                let body = serde_json::json!({
                    "description": group.description,
                    "filter": group.filter,
                });
                let again = parse_group_json("g-1", body.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("the encoding of {group:?} is refused: {e}"));
                assert_eq!(again, group);
            }
            Err(e) => refused(&e),
        },
        _ => {
            let Some((size, header)) = rest.split_first_chunk::<8>() else {
                return;
            };
            let size = u64::from_be_bytes(*size);
            let header = String::from_utf8_lossy(header);
            match parse_range(Some(&header), size) {
                RangeRequest::Partial { start, end } => {
                    assert!(start < end && end <= size, "{start}..{end} of {size}");
                }
                RangeRequest::Full | RangeRequest::Unsatisfiable => {}
            }
        }
    }
});
