//! The inputs of updates the server reads from outside: the JSON bodies of
//! the admin API's artifacts ([`parse_artifact_json`]) and groups
//! ([`parse_group_json`]) and campaigns ([`parse_campaign_spec`]), the
//! `Range` header of artifact downloads ([`parse_range`]), and the update
//! alerts devices send ([`UpdateReport::from_alert`] over a decoded
//! generic alert). The first byte chooses the reader (0: artifact, 1:
//! group, 2: `Range`, with the size of the artifact in the next 8 bytes,
//! 3: campaign, 4: alert); the rest is its input.
//!
//! Checks: never panics; a refused body is 400 or 413; an accepted
//! artifact keeps its name, version and metadata within their bounds; an
//! accepted group encodes to JSON that reads back to the same group; a
//! range is within the artifact, never empty; an accepted campaign has
//! stages, thresholds of at most 100 % and window minutes within a day; a
//! result read from an alert is within its MO's range.
//!
//! [`parse_artifact_json`]: dm_server::parse_artifact_json
//! [`parse_group_json`]: dm_server::parse_group_json
//! [`parse_range`]: dm_server::parse_range
//! [`parse_campaign_spec`]: dm_server::parse_campaign_spec
//! [`UpdateReport::from_alert`]: dm_types::update::UpdateReport::from_alert
#![no_main]

use dm_server::{
    RangeRequest, parse_artifact_json, parse_campaign_spec, parse_group_json, parse_range,
};
use dm_types::update::{UpdateReport, UpdateResult};
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
    match which % 5 {
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
        3 => match parse_campaign_spec(rest) {
            Ok(spec) => {
                assert!(!spec.stages.is_empty());
                for stage in &spec.stages {
                    assert!(stage.success_threshold_percent <= 100);
                    assert!(stage.error_threshold_percent <= 100);
                }
                if let Some(window) = spec.window {
                    assert!(window.start_minute < 1440 && window.end_minute < 1440);
                }
            }
            Err(e) => refused(&e),
        },
        4 => {
            let Ok(alert) = dm_codec::decode_alert(rest, &dm_codec::Limits::default()) else {
                return;
            };
            if let Some(Ok(report)) = UpdateReport::from_alert(&alert) {
                match report.result() {
                    Some(UpdateResult::Fumo(r)) => assert!((200..=599).contains(&r.code())),
                    Some(UpdateResult::Scomo(r)) => assert!((1200..=1599).contains(&r.code())),
                    None => {}
                }
            }
        }
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
