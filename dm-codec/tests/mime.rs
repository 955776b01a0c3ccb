//! Media types and `Accept` / `OMADM-Accept` negotiation (docs/protocol.md 2.1, 2.2).

use dm_codec::Error;
use dm_codec::mime::{
    self, Accept, DEFAULT_OMADM_ACCEPT, INITIATION, MAX_HEADER_LEN, MAX_MEDIA_RANGES, MO_DATA,
    REQUEST, RESPONSE, content_type_matches, negotiate,
};
use proptest::prelude::*;

#[test]
fn constants_match_the_binding() {
    assert_eq!(INITIATION, "application/vnd.oma.dm.initiation+json");
    assert_eq!(REQUEST, "application/vnd.oma.dm.request+json");
    assert_eq!(RESPONSE, "application/vnd.oma.dm.response+json");
    assert_eq!(MO_DATA, "application/dmmo+json");
    assert_eq!(mime::OMADM_DEV_ID, "OMADM-DevID");
    assert_eq!(mime::OMADM_ACCEPT, "OMADM-Accept");
    assert_eq!(DEFAULT_OMADM_ACCEPT, MO_DATA);
}

#[test]
fn client_accept_of_package2() {
    // What a client sends with Package#1 and #3.
    assert_eq!(negotiate(REQUEST, &[REQUEST]), Ok(Some(REQUEST)));
    assert_eq!(
        negotiate(" Application/Vnd.OMA.DM.Request+JSON ", &[REQUEST]),
        Ok(Some(REQUEST))
    );
    // A client that reads nothing the server produces: 406.
    assert_eq!(negotiate(RESPONSE, &[REQUEST]), Ok(None));
}

#[test]
fn highest_quality_wins() {
    let offered = [MO_DATA, "application/cbor", "application/xml"];
    assert_eq!(
        negotiate(
            "application/xml;q=0.4, application/cbor;q=0.8, application/dmmo+json;q=0.6",
            &offered
        ),
        Ok(Some("application/cbor"))
    );
    assert_eq!(
        negotiate("application/xml, application/cbor;q=0.999", &offered),
        Ok(Some("application/xml"))
    );
}

#[test]
fn ties_follow_the_offered_order() {
    assert_eq!(
        negotiate(
            "application/cbor, application/dmmo+json",
            &[MO_DATA, "application/cbor"]
        ),
        Ok(Some(MO_DATA))
    );
    assert_eq!(
        negotiate(
            "application/cbor, application/dmmo+json",
            &["application/cbor", MO_DATA]
        ),
        Ok(Some("application/cbor"))
    );
    assert_eq!(negotiate("*/*", &["b/b", "a/a"]), Ok(Some("b/b")));
}

#[test]
fn q_zero_is_not_acceptable() {
    assert_eq!(negotiate("application/dmmo+json;q=0", &[MO_DATA]), Ok(None));
    assert_eq!(
        negotiate("application/dmmo+json;q=0.000", &[MO_DATA]),
        Ok(None)
    );
    // A specific q=0 excludes a type a wildcard would allow.
    assert_eq!(
        negotiate(
            "*/*, application/dmmo+json;q=0",
            &[MO_DATA, "application/cbor"]
        ),
        Ok(Some("application/cbor"))
    );
    // A wildcard q=0 does not exclude a type named specifically.
    assert_eq!(
        negotiate(
            "application/*;q=0, application/dmmo+json;q=0.1",
            &["application/cbor", MO_DATA]
        ),
        Ok(Some(MO_DATA))
    );
}

#[test]
fn more_specific_ranges_override() {
    let accept = "*/*;q=0.9, application/*;q=0.2, application/dmmo+json;q=0.5";
    let offered = ["text/plain", MO_DATA, "application/cbor"];
    let parsed = Accept::parse(accept).expect("valid");
    assert_eq!(parsed.quality("text/plain"), 900);
    assert_eq!(parsed.quality(MO_DATA), 500);
    assert_eq!(parsed.quality("application/cbor"), 200);
    assert_eq!(negotiate(accept, &offered), Ok(Some("text/plain")));
    // The order of ranges in the header does not matter.
    let reversed = "application/dmmo+json;q=0.5, application/*;q=0.2, */*;q=0.9";
    assert_eq!(
        Accept::parse(reversed).expect("valid").quality(MO_DATA),
        500
    );
    // Parameters make a range more specific.
    let accept = Accept::parse("application/dmmo+json;q=0.3, application/dmmo+json;v=2;q=0.7")
        .expect("valid");
    assert_eq!(accept.quality(MO_DATA), 300);
    assert_eq!(accept.quality("application/dmmo+json; v=2"), 700);
    assert_eq!(
        accept.choose(&[MO_DATA, "application/dmmo+json;v=2"]),
        Some("application/dmmo+json;v=2")
    );
}

#[test]
fn wildcards() {
    assert_eq!(negotiate("*/*", &[MO_DATA]), Ok(Some(MO_DATA)));
    assert_eq!(negotiate("application/*", &[MO_DATA]), Ok(Some(MO_DATA)));
    assert_eq!(negotiate("text/*", &[MO_DATA]), Ok(None));
    assert!(matches!(
        negotiate("*/json", &[MO_DATA]),
        Err(Error::MediaType { offset: 0, .. })
    ));
}

#[test]
fn empty_and_absent_headers() {
    // An empty value accepts nothing.
    assert_eq!(negotiate("", &[MO_DATA]), Ok(None));
    assert_eq!(negotiate(" , ", &[MO_DATA]), Ok(None));
    // An absent OMADM-Accept stands for dmmo+json only.
    assert_eq!(
        negotiate(DEFAULT_OMADM_ACCEPT, &["application/cbor", MO_DATA]),
        Ok(Some(MO_DATA))
    );
    // Nothing offered: nothing chosen.
    assert_eq!(negotiate("*/*", &[]), Ok(None));
}

#[test]
fn malformed_offers_are_never_chosen() {
    assert_eq!(
        negotiate("*/*", &["not a type", "x", "a/*", MO_DATA]),
        Ok(Some(MO_DATA))
    );
}

#[test]
fn malformed_headers_fail_with_offsets() {
    let cases: &[(&str, usize)] = &[
        ("application", 11),
        ("application/dmmo+json;q=1.1", 24),
        ("application/dmmo+json;q=0.5x", 24),
        ("application/dmmo+json;q", 23),
        ("application/dmmo+json garbage", 22),
        ("a/b, c/d;x=\"unterminated", 11),
        ("a/b; x = 1", 6),
    ];
    for &(value, offset) in cases {
        let found = match negotiate(value, &[MO_DATA]) {
            Err(Error::MediaType { offset, .. }) => Some(offset),
            _ => None,
        };
        assert_eq!(found, Some(offset), "{value:?}");
    }
    let err = negotiate("a/b;q=2", &[MO_DATA]).expect_err("bad q");
    assert_eq!(err.status().as_u16(), 400);
    assert_eq!(
        err.to_string(),
        "invalid media type list at byte 6: invalid q-value (0 to 1, at most 3 decimals)"
    );
}

#[test]
fn bounded_headers() {
    let at_limit = vec!["a/b"; MAX_MEDIA_RANGES].join(", ");
    assert!(negotiate(&at_limit, &[MO_DATA]).is_ok());
    let over = format!("{at_limit}, {MO_DATA}");
    assert!(matches!(
        negotiate(&over, &[MO_DATA]),
        Err(Error::MediaType { .. })
    ));
    let long = format!("{MO_DATA};x={}", "y".repeat(MAX_HEADER_LEN));
    assert!(matches!(
        negotiate(&long, &[MO_DATA]),
        Err(Error::MediaType {
            offset: MAX_HEADER_LEN,
            ..
        })
    ));
}

#[test]
fn content_type_checks() {
    assert!(content_type_matches(INITIATION, INITIATION));
    assert!(content_type_matches(
        "application/VND.OMA.DM.INITIATION+JSON;charset=utf-8",
        INITIATION
    ));
    assert!(content_type_matches(
        "\tapplication/dmmo+json ; charset=\"utf-8\"",
        MO_DATA
    ));
    assert!(!content_type_matches(REQUEST, RESPONSE));
    assert!(!content_type_matches("application/json", MO_DATA));
    assert!(!content_type_matches("application/dmmo+json+x", MO_DATA));
    assert!(!content_type_matches("", MO_DATA));
}

proptest! {
    #[test]
    fn parse_never_panics(value in "\\PC{0,200}", offered in "[a-z]{1,5}/[a-z*]{1,5}") {
        match Accept::parse(&value) {
            Ok(accept) => {
                prop_assert!(accept.ranges().len() <= MAX_MEDIA_RANGES);
                for range in accept.ranges() {
                    prop_assert!(range.quality() <= 1000);
                }
                let chosen = accept.choose(&[offered.as_str()]);
                prop_assert!(chosen.is_none() || chosen == Some(offered.as_str()));
            }
            Err(e) => {
                let is_media_type_error = matches!(e, Error::MediaType { .. });
                prop_assert!(is_media_type_error);
                prop_assert!(e.offset().is_some_and(|o| o <= value.len()));
            }
        }
        let _ = content_type_matches(&value, MO_DATA);
    }

    #[test]
    fn header_like_values_never_panic(
        value in "([a-z*]{0,3}/[a-z*+]{0,3}( ?; ?[qa-z]{0,2}=(\"[^\"]{0,3}\"?|[0-9.]{0,5}))*( ?, ?)?){0,5}"
    ) {
        if let Err(e) = negotiate(&value, &[MO_DATA, "a/b"]) {
            prop_assert!(e.offset().is_some_and(|o| o <= value.len()));
        }
    }

    #[test]
    fn q_values_order_the_choice(a in 1u16..=1000, b in 1u16..=1000) {
        let value = format!("x/a;q={}.{:03}, x/b;q={}.{:03}", a / 1000, a % 1000, b / 1000, b % 1000);
        let chosen = negotiate(&value, &["x/a", "x/b"]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(chosen, Some(if b > a { "x/b" } else { "x/a" }));
    }
}
