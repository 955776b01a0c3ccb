//! The JSON rules of docs/protocol.md section 3 and the decoding limits, each with
//! the exact error it produces.

use dm_codec::{
    Error, Limits, decode_alert, decode_mo_serialization, decode_package1, decode_package2,
    decode_package3,
};
use dm_types::{CommandEntry, LeafValue, MoNode, StatusCode};

fn p2(text: &str) -> Result<dm_types::Package2, Error> {
    decode_package2(text.as_bytes(), &Limits::default())
}

fn invalid_at(err: &Error) -> (&str, usize) {
    match err {
        Error::Invalid { path, offset, .. } | Error::Limit { path, offset, .. } => (path, *offset),
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn unknown_members_are_ignored_at_every_level() {
    let p = p2(r#"{"X":{"deep":[1,{"a":null}]},"CMD":[["END"]],"Y":"z"}"#).expect("valid");
    assert!(p.ends_session());
    let p1 = decode_package1(
        br#"{"MOS":[{"MOID":"urn:x:y","MIID":[],"V":1}],"Alert":[{"AlertType":"t","W":[]}]}"#,
        &Limits::default(),
    )
    .expect("valid");
    assert_eq!(p1.alerts.len(), 1);
}

#[test]
fn duplicate_members_are_rejected_everywhere() {
    let cases: &[(&str, &[u8])] = &[
        ("p2 top", br#"{"CMD":[],"CMD":[]}"#),
        ("p2 unknown", br#"{"CMD":[],"x":1,"x":2}"#),
        ("p2 nested unknown", br#"{"CMD":[],"x":{"a":1,"a":1}}"#),
        (
            "p1 MOS entry",
            br#"{"MOS":[{"MOID":"urn:x:y","MOID":"urn:x:z","MIID":[]}]}"#,
        ),
        ("p3 status", br#"{"Status":[{"sc":200,"sc":200}]}"#),
        (
            "alert data",
            br#"{"Status":[],"Alert":[{"AlertType":"t","Data":{"a":1,"a":2}}]}"#,
        ),
        (
            "alert data nested",
            br#"{"Status":[],"Alert":[{"AlertType":"t","Data":{"a":{"b":1,"b":2}}}]}"#,
        ),
    ];
    for (name, input) in cases {
        let limits = Limits::default();
        let result = if name.starts_with("p1") {
            decode_package1(input, &limits).map(|_| ())
        } else if name.starts_with("p2") {
            decode_package2(input, &limits).map(|_| ())
        } else {
            decode_package3(input, &limits).map(|_| ())
        };
        let err = result.expect_err(name);
        assert!(
            err.to_string().contains("duplicate member"),
            "{name}: {err}"
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{name}");
    }
}

#[test]
fn encoding_errors_are_rejected() {
    // Invalid UTF-8, with its offset.
    assert_eq!(
        decode_package2(b"{\"CMD\":[[\"GET\",\"\xff\"]]}", &Limits::default()),
        Err(Error::Utf8 { offset: 16 })
    );
    // A byte order mark.
    assert!(matches!(
        decode_package2(b"\xef\xbb\xbf{\"CMD\":[]}", &Limits::default()),
        Err(Error::Syntax { offset: 0, .. })
    ));
    // Lone surrogates, in a known string, an unknown member and a member name.
    for text in [
        r#"{"CMD":[["\ud800"]]}"#,
        r#"{"CMD":[],"x":"\udc00"}"#,
        r#"{"CMD":[],"\ud800":1}"#,
        r#"{"CMD":[],"x":{"y":["\ud800x"]}}"#,
    ] {
        assert!(p2(text).is_err(), "{text} accepted");
    }
    // A valid surrogate pair is fine.
    assert!(p2(r#"{"CMD":[],"x":"\ud83d\ude00"}"#).is_ok());
}

#[test]
fn trailing_bytes_and_truncation() {
    let err = p2(r#"{"CMD":[]} {}"#).expect_err("trailing");
    assert!(matches!(err, Error::Syntax { offset: 11, .. }), "{err:?}");
    let err = p2(r#"{"CMD":[["GET""#).expect_err("truncated");
    assert!(matches!(err, Error::Syntax { .. }), "{err:?}");
    assert!(
        p2("{\"CMD\":[]}\n\t ").is_ok(),
        "trailing whitespace is fine"
    );
}

#[test]
fn errors_name_the_json_path() {
    let err = p2(r#"{"CMD":[["END"],["GET",5]]}"#).expect_err("bad parameter");
    assert_eq!(invalid_at(&err).0, "$.CMD[1][1]");
    let err = decode_package3(
        br#"{"Status":[{"sc":200},{"sc":200,"Data":[{"ClientURI":"urn:x:y/a/","MOData":{"r":{"x":[1]}}}]}]}"#,
        &Limits::default(),
    )
    .expect_err("array in MOData");
    assert_eq!(invalid_at(&err).0, "$.Status[1].Data[0].MOData.r.x");
    let err = decode_package3(br#"{"Status":[{"URI":["urn:x:y//"]}]}"#, &Limits::default())
        .expect_err("sc missing");
    assert_eq!(invalid_at(&err).0, "$.Status[0]");
    assert!(err.to_string().contains("missing member \"sc\""));
    let err = p2(r#"{"CMD":[["END"],["GET","urn:x:y//"]]}"#).expect_err("END not last");
    assert_eq!(invalid_at(&err).0, "$.CMD");
}

#[test]
fn package2_shape_versus_command_errors() {
    let p = p2(r#"{"CMD":[["GET"],["GET","nope"],["frob"],["HGET","ftp://x/"],["END","x"]]}"#)
        .expect("well-shaped commands with bad parameters keep the package valid");
    let statuses: Vec<u16> = p
        .commands()
        .iter()
        .map(|c| match c {
            CommandEntry::Invalid(invalid) => invalid.status().as_u16(),
            CommandEntry::Command(_) => 200,
        })
        .collect();
    assert_eq!(statuses, [400, 400, 501, 400, 400]);
    assert!(
        !p.ends_session(),
        "a malformed END does not end the session"
    );
    for broken in [
        r#"{"CMD":{}}"#,
        r#"{"CMD":[[]]}"#,
        r#"{"CMD":["END"]}"#,
        r#"{"CMD":[[null]]}"#,
        "[]",
        "{}",
    ] {
        assert!(p2(broken).is_err(), "{broken} accepted");
    }
}

#[test]
fn status_codes_are_integers_in_range() {
    for bad in [
        r#"{"sc":99}"#,
        r#"{"sc":600}"#,
        r#"{"sc":200.0}"#,
        r#"{"sc":2e2}"#,
        r#"{"sc":-200}"#,
        r#"{"sc":"200"}"#,
        r#"{"sc":18446744073709551616}"#,
    ] {
        let text = format!(r#"{{"Status":[{bad}]}}"#);
        assert!(
            decode_package3(text.as_bytes(), &Limits::default()).is_err(),
            "{bad} accepted"
        );
    }
    let p3 = decode_package3(br#"{"Status":[{"sc":299}]}"#, &Limits::default()).expect("in range");
    assert_eq!(p3.statuses[0].code.as_u16(), 299);
}

#[test]
fn mo_data_leaves_keep_their_json_type() {
    let items = decode_mo_serialization(
        br#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":{"s":"t","i":-3,"f":1.5,"b":false,"n":null,"e":{}}}}]"#,
        &Limits::default(),
    )
    .expect("valid");
    let MoNode::Interior(children) = items[0].data.node() else {
        panic!("interior expected");
    };
    let leaf = |name: &str| match children.get(name) {
        Some(MoNode::Leaf(v)) => v.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(leaf("s"), LeafValue::Text("t".into()));
    assert_eq!(leaf("i"), LeafValue::Int(-3));
    assert!(matches!(leaf("f"), LeafValue::Float(f) if f.get().to_bits() == 1.5f64.to_bits()));
    assert_eq!(leaf("b"), LeafValue::Bool(false));
    assert_eq!(leaf("n"), LeafValue::Null);
    assert!(matches!(children.get("e"), Some(MoNode::Interior(c)) if c.is_empty()));
    for bad in [
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":{"..":1}}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":{"a/b":1}}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":{"":1}}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":18446744073709551615}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":1e999}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","CV":"","MOData":{"r":1}}]"#,
        r#"[{"ClientURI":"urn:x:y/a","MOData":{"r":1}}]"#,
    ] {
        assert!(
            decode_mo_serialization(bad.as_bytes(), &Limits::default()).is_err(),
            "{bad} accepted"
        );
    }
}

#[test]
fn limits_apply_while_decoding() {
    // Whole-document size: refused before parsing.
    let limits = Limits::default().with_package_bytes(16);
    assert_eq!(
        decode_package2(br#"{"CMD":[["END"]]}  "#, &limits),
        Err(Error::TooLarge {
            what: "Package#2",
            size: 19,
            limit: 16
        })
    );
    // Command count: stops at the first command past the limit.
    let limits = Limits::default().with_commands(2);
    let err = decode_package2(br#"{"CMD":[["END"],["END"],["END"]]}"#, &limits).expect_err("3 > 2");
    assert!(
        matches!(&err, Error::Limit { what: "command count", limit: 2, path, .. } if path == "$.CMD[2]"),
        "{err:?}"
    );
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        decode_package2(br#"{"CMD":[["END"],["END"]]}"#, &limits).is_err(),
        "END not last"
    );
    // Status count uses the same limit.
    assert!(decode_package3(br#"{"Status":[{"sc":200},{"sc":200},{"sc":200}]}"#, &limits).is_err());
    // Depth inside MO data: 32 levels are always accepted; more than the limit fail.
    let nested = |levels: usize| {
        format!(
            r#"[{{"ClientURI":"urn:x:y/a/","MOData":{{"r":{}1{}}}}}]"#,
            r#"{"a":"#.repeat(levels),
            "}".repeat(levels)
        )
    };
    assert!(decode_mo_serialization(nested(32).as_bytes(), &Limits::default()).is_ok());
    let limits = Limits::default().with_depth(32);
    let err = decode_mo_serialization(nested(33).as_bytes(), &limits).expect_err("33 > 32");
    assert!(
        matches!(
            err,
            Error::Limit {
                what: "nesting depth",
                ..
            }
        ),
        "{err:?}"
    );
    // Depth inside unknown members and alert data too.
    let deep_unknown = format!(r#"{{"CMD":[],"x":{}0{}}}"#, "[".repeat(40), "]".repeat(40));
    assert!(decode_package2(deep_unknown.as_bytes(), &limits).is_err());
    let deep_data = format!(
        r#"{{"AlertType":"t","Data":{}}}"#,
        r#"{"a":"#.repeat(40) + "1" + &"}".repeat(40)
    );
    assert!(decode_alert(deep_data.as_bytes(), &limits).is_err());
    // String length, in values and member names.
    let limits = Limits::default().with_string_length(8);
    assert!(decode_package2(br#"{"CMD":[],"x":"123456789"}"#, &limits).is_err());
    assert!(decode_package2(br#"{"CMD":[],"123456789":1}"#, &limits).is_err());
    // URI length.
    let limits = Limits::default().with_uri_length(12);
    let err =
        decode_package2(br#"{"CMD":[["GET","urn:x:y//abcdef"]]}"#, &limits).expect_err("long URI");
    assert!(
        matches!(
            err,
            Error::Limit {
                what: "URI length",
                ..
            }
        ),
        "{err:?}"
    );
    // MO serialization has its own size limit.
    let limits = Limits::default().with_mo_data_bytes(10);
    assert!(matches!(
        decode_mo_serialization(b"[]          ", &limits),
        Err(Error::TooLarge {
            what: "MO serialization",
            ..
        })
    ));
}

#[test]
fn hostile_nesting_never_overflows_the_stack() {
    for depth in [1_000, 100_000] {
        let text = format!(r#"{{"CMD":[],"x":{}}}"#, "[".repeat(depth));
        assert!(p2(&text).is_err());
        let text = format!(
            r#"[{{"ClientURI":"urn:x:y/a/","MOData":{{"r":{}}}}}]"#,
            r#"{"a":"#.repeat(depth)
        );
        assert!(
            decode_mo_serialization(text.as_bytes(), &Limits::default().with_depth(usize::MAX))
                .is_err()
        );
    }
}

#[test]
fn floats_round_trip_exactly() {
    // Found by fuzzing: numbers whose shortest form needs correct rounding.
    for text in [
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":2.9203223736854774e+19}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":1.1000000000000001e-60}}]"#,
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":7.777777777777777e+21}}]"#,
    ] {
        let items = decode_mo_serialization(text.as_bytes(), &Limits::default()).expect("valid");
        let encoded = dm_codec::encode_mo_serialization(&items);
        assert_eq!(String::from_utf8_lossy(&encoded), text);
    }
    let alert = br#"{"AlertType":"t","Data":{"DM1x":1.4922233730685477e+22}}"#;
    let decoded = decode_alert(alert, &Limits::default()).expect("valid");
    assert_eq!(dm_codec::encode_alert(&decoded), alert);
}
