//! Parses arbitrary text as an `Accept` / `OMADM-Accept` value and
//! negotiates against a list of offered media types.
//!
//! Input layout: the header value, then optionally a newline and one offered
//! media type per line (without that, the four DM media types are offered).
//! Checks: q-values stay within 0..=1000, the chosen type is offered, has the
//! highest quality (earliest on a tie) and a matching range, `negotiate`
//! agrees with `parse` + `choose`, and errors point inside the value.
#![no_main]

use dm_codec::mime::{self, Accept};
use libfuzzer_sys::fuzz_target;

const DEFAULT_OFFERED: [&str; 4] = [
    mime::MO_DATA,
    mime::REQUEST,
    mime::RESPONSE,
    mime::INITIATION,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (header, offered): (&str, Vec<&str>) = match text.split_once('\n') {
        Some((header, rest)) => (header, rest.split('\n').take(16).collect()),
        None => (text, DEFAULT_OFFERED.to_vec()),
    };
    for candidate in &offered {
        // Never panics, whatever the text.
        let _ = mime::content_type_matches(header, candidate);
    }
    let accept = match Accept::parse(header) {
        Ok(accept) => accept,
        Err(e) => {
            if let Some(offset) = e.offset() {
                assert!(
                    offset <= header.len(),
                    "error offset {offset} beyond {}",
                    header.len()
                );
            }
            assert!(mime::negotiate(header, &offered).is_err());
            return;
        }
    };
    assert!(accept.ranges().len() <= mime::MAX_MEDIA_RANGES);
    for range in accept.ranges() {
        assert!(
            range.quality() <= 1000,
            "q-value {} out of range",
            range.quality()
        );
        assert!(!range.type_name().is_empty() && !range.subtype().is_empty());
        assert!(
            range.type_name() != "*" || range.subtype() == "*",
            "*/subtype accepted"
        );
    }
    let qualities: Vec<u16> = offered.iter().map(|o| accept.quality(o)).collect();
    for (candidate, &quality) in offered.iter().zip(&qualities) {
        assert!(quality <= 1000);
        if quality > 0 {
            assert!(
                accept.ranges().iter().any(|r| r.matches(candidate)),
                "{candidate:?} has quality {quality} but no range matches it"
            );
        }
    }
    let chosen = accept.choose(&offered);
    assert_eq!(mime::negotiate(header, &offered).ok(), Some(chosen));
    match chosen {
        None => assert!(
            qualities.iter().all(|&q| q == 0),
            "nothing chosen among {qualities:?}"
        ),
        Some(choice) => {
            let index = offered
                .iter()
                .position(|o| std::ptr::eq(*o, choice))
                .expect("the chosen type is one of the offered");
            let best = qualities[index];
            assert!(best > 0);
            assert!(
                qualities[..index].iter().all(|&q| q < best),
                "an earlier type was as good"
            );
            assert!(
                qualities[index..].iter().all(|&q| q <= best),
                "a later type was better"
            );
        }
    }
});
