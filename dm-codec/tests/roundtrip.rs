//! Round-trip properties of the JSON codecs (docs/protocol.md section 3).
//!
//! For arbitrary valid Package#1, #2, #3, MO serialization arrays and alerts:
//! encoding then decoding gives an equal value, and encoding the decoded value
//! gives identical bytes. Binary leaves are the one documented asymmetry: they
//! are written as base64 text and, without a DDF, read back as text.

use std::fmt::Write as _;

use dm_codec::Limits;
use dm_types::{
    Alert, AlertType, CacheValidator, Children, ClientUri, Command, CommandEntry, DdfUri,
    FiniteF64, JsonObject, LeafValue, Mark, Miid, MoData, MoItem, MoNode, Moid, MosEntry,
    NodeFormat, NodeName, Package1, Package2, Package3, ServerUri, Status, StatusCode,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

const CASES: u32 = 256;

// ---------------------------------------------------------------------------
// Text and identifiers

/// Characters of free text: plain, JSON-escaped, URI delimiters, non-ASCII.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::ranges(vec!['a'..='z', 'A'..='Z', '0'..='9'].into()),
        2 => proptest::sample::select(vec![' ', '/', ':', '*', '(', ')', '%', '?', '&', '=', '#', '.']),
        1 => proptest::sample::select(vec!['"', '\\', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}']),
        1 => proptest::sample::select(vec!['\u{e9}', '\u{4e2d}', '\u{1f600}', '\u{2028}', '\u{feff}']),
        1 => any::<char>(),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(text_char(), 0..max).prop_map(|c| c.into_iter().collect())
}

fn non_empty_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(text_char(), 1..max).prop_map(|c| c.into_iter().collect())
}

/// A node name or MIID (decoded): non-empty, not `.` or `..`, no `/`.
fn name_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z][A-Za-z0-9]{0,7}",
        2 => non_empty_text(8),
    ]
    .prop_map(|s| s.replace('/', "_"))
    .prop_filter("'.' and '..' are not names", |s| s != "." && s != "..")
}

fn node_name() -> impl Strategy<Value = NodeName> {
    name_text().prop_filter_map("valid node name", |s| NodeName::new(s).ok())
}

fn miid() -> impl Strategy<Value = Miid> {
    name_text().prop_filter_map("valid MIID", |s| Miid::new(s).ok())
}

fn moid() -> impl Strategy<Value = Moid> {
    prop_oneof![
        proptest::sample::select(vec![
            "urn:oma:mo:oma-dm-devinfo:1.0",
            "urn:oma:mo:oma-sessioninfomo:1.0",
            "URN:oma:mo:moid:1.0",
            "urn:x:y%2f",
        ])
        .prop_map(str::to_owned),
        "[uU][rR][nN]:[a-z0-9-]{1,8}:[a-zA-Z0-9.:_~!$&'+,;=@()*-]{1,12}",
    ]
    .prop_filter_map("valid MOID", |s| Moid::new(s).ok())
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(decoded: &str) -> String {
    let mut out = String::new();
    for &b in decoded.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A ClientURI of any form: MIID / sole / all / x-name instance, names, `*`
/// and x-names in the path, `nv` conditions and `cv`.
fn client_uri() -> impl Strategy<Value = ClientUri> {
    let instance = prop_oneof![
        3 => miid().prop_map(|m| encode_component(m.as_str())),
        1 => Just(String::new()),
        1 => Just("*".to_owned()),
        1 => Just("(i)".to_owned()),
    ];
    let segment = prop_oneof![
        5 => node_name().prop_map(|n| encode_component(n.as_str())),
        1 => Just("*".to_owned()),
        1 => Just("(p)".to_owned()),
    ];
    (
        moid(),
        instance,
        proptest::collection::vec(segment, 0..4),
        text(6),
        proptest::option::of(non_empty_text(6)),
    )
        .prop_filter_map(
            "valid ClientURI",
            |(moid, instance, mut path, value, cv)| {
                // Each x-name at most once in a ClientURI.
                let mut seen_p = false;
                path.retain(|s| s != "(p)" || !std::mem::replace(&mut seen_p, true));
                let mut fields = Vec::new();
                for x in ["(i)", "(p)"] {
                    if instance == x || path.iter().any(|s| s == x) {
                        fields.push(format!("nv={x}/ID:{}", encode_component(&value)));
                    }
                }
                if let Some(cv) = cv.filter(|_| instance != "*" && instance != "(i)") {
                    fields.push(format!("cv={}", encode_component(&cv)));
                }
                let mut text = format!("{}/{instance}/{}", moid.as_str(), path.join("/"));
                if !fields.is_empty() {
                    text.push('?');
                    text.push_str(&fields.join("&"));
                }
                ClientUri::parse(&text).ok()
            },
        )
}

fn server_uri_text() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec!["http", "https", "HTTPS"]),
        prop_oneof![
            3 => "[a-z][a-z0-9-]{0,6}(\\.[a-zA-Z]{2,4}){0,2}",
            1 => Just("192.0.2.7".to_owned()),
            1 => Just("[2001:db8::1]".to_owned()),
        ],
        proptest::option::of(1u16..),
        "(/[A-Za-z0-9._~!$&'()*+,;=:@-]{0,6}|/%20){0,3}",
        proptest::option::of("[A-Za-z0-9=&/?%2-]{0,10}"),
    )
        .prop_map(|(scheme, host, port, path, query)| {
            let mut s = format!("{scheme}://{host}");
            if let Some(port) = port {
                let _ = write!(s, ":{port}");
            }
            s.push_str(&path);
            if let Some(q) = query {
                s.push('?');
                s.push_str(&q);
            }
            s
        })
}

fn server_uri() -> impl Strategy<Value = ServerUri> {
    server_uri_text().prop_filter_map("valid ServerURI", |s| ServerUri::new(s).ok())
}

fn ddf_uri() -> impl Strategy<Value = DdfUri> {
    prop_oneof![
        server_uri_text(),
        Just("urn:oma:ddf:devinfo:1.2".to_owned()),
        Just("ftp://vendor.example/ddf/a.ddf".to_owned()),
    ]
    .prop_filter_map("valid DDF URI", |s| DdfUri::new(s).ok())
}

// ---------------------------------------------------------------------------
// Alerts

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>().prop_filter("finite", |f| f.is_finite()),
        1 => proptest::sample::select(vec![0.0, -0.0, 0.5, 1.0, -2.5, 1e300, 5e-324, f64::MAX, f64::MIN_POSITIVE]),
        1 => (-1_000_000i32..1_000_000).prop_map(|i| f64::from(i) / 100.0),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_f64().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(8), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = JsonObject> {
    proptest::collection::vec((text(8), json_value()), 0..5).prop_map(|m| m.into_iter().collect())
}

fn mark() -> impl Strategy<Value = Mark> {
    proptest::sample::select(Mark::ALL.to_vec())
}

fn alert() -> impl Strategy<Value = Alert> {
    let alert_type = prop_oneof![
        proptest::sample::select(vec![
            AlertType::CLIENT_INITIATED_MGMT,
            AlertType::SERVER_INITIATED_MGMT,
            AlertType::BOOTSTRAP_COMPLETE,
            AlertType::EXEC_COMPLETE,
        ])
        .prop_map(str::to_owned),
        non_empty_text(16),
    ]
    .prop_filter_map("non-empty alert type", |s| AlertType::new(s).ok());
    (
        alert_type,
        proptest::option::of(text(24)),
        proptest::option::of(text(24)),
        proptest::option::of(mark()),
        proptest::option::of(text(10)),
        proptest::option::of(json_object()),
    )
        .prop_map(
            |(alert_type, source_uri, target_uri, mark, data_type, data)| Alert {
                alert_type,
                source_uri,
                target_uri,
                mark,
                data_type,
                data,
            },
        )
}

// ---------------------------------------------------------------------------
// MO data

/// Leaf values of every kind that survives JSON without a DDF (no Binary).
fn leaf_value() -> impl Strategy<Value = LeafValue> {
    prop_oneof![
        Just(LeafValue::Null),
        any::<bool>().prop_map(LeafValue::Bool),
        any::<i64>().prop_map(LeafValue::Int),
        finite_f64().prop_filter_map("finite", |f| FiniteF64::new(f).map(LeafValue::Float)),
        text(16).prop_map(LeafValue::Text),
    ]
}

fn children_of(nodes: impl Strategy<Value = MoNode>) -> impl Strategy<Value = Children> {
    proptest::collection::btree_map(node_name(), nodes, 0..5).prop_filter_map("unique names", |m| {
        Children::new(m.into_iter().collect()).ok()
    })
}

fn mo_node_with(leaf: impl Strategy<Value = LeafValue> + 'static) -> impl Strategy<Value = MoNode> {
    leaf.prop_map(MoNode::Leaf)
        .prop_recursive(5, 40, 5, |inner| {
            children_of(inner).prop_map(MoNode::Interior)
        })
}

fn mo_node() -> impl Strategy<Value = MoNode> {
    mo_node_with(leaf_value())
}

fn mo_item_with(node: impl Strategy<Value = MoNode>) -> impl Strategy<Value = MoItem> {
    (
        proptest::option::of(ddf_uri()),
        client_uri(),
        proptest::option::of(
            non_empty_text(12).prop_filter_map("non-empty", |s| CacheValidator::new(s).ok()),
        ),
        node_name(),
        node,
    )
        .prop_map(|(ddf, client_uri, cache_validator, name, node)| MoItem {
            ddf,
            client_uri,
            cache_validator,
            data: MoData::new(name, node),
        })
}

fn mo_item() -> impl Strategy<Value = MoItem> {
    mo_item_with(mo_node())
}

// ---------------------------------------------------------------------------
// Packages

fn mos_entry() -> impl Strategy<Value = MosEntry> {
    (
        proptest::option::of(ddf_uri()),
        moid(),
        proptest::collection::vec(miid(), 0..4),
    )
        .prop_map(|(ddf, moid, miids)| MosEntry { ddf, moid, miids })
}

fn package1() -> impl Strategy<Value = Package1> {
    (
        proptest::option::of(proptest::collection::vec(mos_entry(), 0..4)),
        proptest::collection::vec(alert(), 0..4),
    )
        .prop_map(|(mos, alerts)| Package1 { mos, alerts })
}

/// The words of one of the twelve commands (END excepted), valid.
fn command_words() -> impl Strategy<Value = Vec<String>> {
    let cu = || client_uri().prop_map(|u| u.to_string());
    let su = || server_uri().prop_map(|u| u.to_string());
    let cus = || proptest::collection::vec(cu(), 1..4);
    prop_oneof![
        (su(), proptest::option::of(cu())).prop_map(|(s, t)| {
            let mut w = vec!["HGET".to_owned(), s];
            w.extend(t);
            w
        }),
        (proptest::sample::select(vec!["HPUT", "HPOST"]), su(), cus()).prop_map(|(n, s, t)| {
            let mut w = vec![n.to_owned(), s];
            w.extend(t);
            w
        }),
        (proptest::sample::select(vec!["DELETE", "GET"]), cus()).prop_map(|(n, t)| {
            let mut w = vec![n.to_owned()];
            w.extend(t);
            w
        }),
        (cu(), proptest::option::of(su())).prop_map(|(t, r)| {
            let mut w = vec!["EXEC".to_owned(), t];
            w.extend(r);
            w
        }),
        (proptest::sample::select(vec!["SHOW", "CONT"]), su())
            .prop_map(|(n, s)| vec![n.to_owned(), s]),
        (moid(), su()).prop_map(|(m, s)| vec!["DEFAULT".to_owned(), m.to_string(), s]),
        (cu(), su()).prop_map(|(t, s)| vec!["SUB".to_owned(), t, s]),
        cu().prop_map(|t| vec!["UNSUB".to_owned(), t]),
    ]
}

/// Words of a well-shaped command that does not parse: unknown name, wrong
/// parameter count, or a malformed parameter. Never named END.
fn invalid_words() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        // Unknown names (case matters), with any parameters.
        (
            prop_oneof![
                proptest::sample::select(vec!["FROB", "get", "Hget", "", " GET", "END "])
                    .prop_map(str::to_owned),
                text(8),
            ],
            proptest::collection::vec(text(12), 0..3),
        )
            .prop_map(|(name, params)| {
                let mut w = vec![name];
                w.extend(params);
                w
            }),
        // Known names, wrong parameters.
        (
            proptest::sample::select(vec![
                "HGET", "HPUT", "HPOST", "DELETE", "EXEC", "GET", "SHOW", "CONT", "DEFAULT", "SUB",
                "UNSUB",
            ]),
            proptest::collection::vec(text(12), 0..4),
        )
            .prop_map(|(name, params)| {
                let mut w = vec![name.to_owned()];
                w.extend(params);
                w
            }),
        (
            cu_text_bad(),
            proptest::sample::select(vec!["GET", "DELETE", "UNSUB"])
        )
            .prop_map(|(bad, name)| vec![name.to_owned(), bad]),
    ]
    .prop_filter("not a valid command", |w| Command::from_words(w).is_err())
    .prop_filter("END only last", |w| {
        w.first().map(String::as_str) != Some("END")
    })
}

fn cu_text_bad() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "urn:x:y/a",
        "urn:x:y/(x)/a",
        "urn:x:y/a/b c",
        "urn:x:y/a/b/",
        "urn:x:y/*/b?cv=1",
        "https://dm.example/",
        "",
    ])
    .prop_map(str::to_owned)
}

fn entry() -> impl Strategy<Value = CommandEntry> {
    prop_oneof![
        3 => command_words(),
        1 => invalid_words(),
    ]
    .prop_map(CommandEntry::from_words)
}

fn package2() -> impl Strategy<Value = Package2> {
    let end = prop_oneof![
        2 => Just(None),
        2 => Just(Some(vec!["END".to_owned()])),
        // An END with parameters: invalid, kept verbatim, still only last.
        1 => proptest::collection::vec(text(6), 1..3).prop_map(|p| {
            let mut w = vec!["END".to_owned()];
            w.extend(p);
            Some(w)
        }),
    ];
    (proptest::collection::vec(entry(), 0..8), end).prop_filter_map(
        "END only last",
        |(mut entries, end)| {
            entries.extend(end.map(CommandEntry::from_words));
            Package2::new(entries).ok()
        },
    )
}

fn status() -> impl Strategy<Value = Status> {
    (
        (100u32..=599).prop_filter_map("status code", |c| StatusCode::new(c).ok()),
        proptest::collection::vec(client_uri(), 0..3),
        proptest::collection::vec(mo_item(), 0..3),
    )
        .prop_map(|(code, uris, data)| Status { code, uris, data })
}

fn package3() -> impl Strategy<Value = Package3> {
    (
        proptest::collection::vec(status(), 0..5),
        proptest::collection::vec(alert(), 0..3),
    )
        .prop_map(|(statuses, alerts)| Package3 { statuses, alerts })
}

// ---------------------------------------------------------------------------
// Properties

/// encode → decode gives `value`; encoding the decoded value gives the same
/// bytes.
fn check_round_trip<T: PartialEq + std::fmt::Debug>(
    value: &T,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: fn(&[u8], &Limits) -> Result<T, dm_codec::Error>,
) -> Result<(), TestCaseError> {
    let bytes = encode(value);
    let decoded = decode(&bytes, &Limits::default()).map_err(|e| {
        TestCaseError::fail(format!(
            "own encoding rejected: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ))
    })?;
    prop_assert_eq!(
        &decoded,
        value,
        "encoded as {}",
        String::from_utf8_lossy(&bytes)
    );
    let again = encode(&decoded);
    prop_assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}

/// What a tree with binary leaves reads back as without a DDF: the same tree
/// with each binary leaf replaced by its base64 text.
fn binary_as_text(node: &MoNode) -> MoNode {
    match node {
        MoNode::Leaf(LeafValue::Binary(bytes)) => MoNode::Leaf(LeafValue::Text(
            LeafValue::Binary(bytes.clone()).to_text().into_owned(),
        )),
        MoNode::Leaf(other) => MoNode::Leaf(other.clone()),
        MoNode::Interior(children) => MoNode::Interior(
            Children::new(
                children
                    .iter()
                    .map(|(name, child)| (name.clone(), binary_as_text(child)))
                    .collect(),
            )
            .unwrap_or_else(|_| unreachable!("names were unique already")),
        ),
    }
}

/// Pairs of (binary leaf, its text leaf) found at the same place in two trees.
fn binary_leaves<'a>(
    original: &'a MoNode,
    decoded: &'a MoNode,
    out: &mut Vec<(&'a [u8], &'a LeafValue)>,
) {
    match (original, decoded) {
        (MoNode::Leaf(LeafValue::Binary(bytes)), MoNode::Leaf(leaf)) => out.push((bytes, leaf)),
        (MoNode::Interior(a), MoNode::Interior(b)) => {
            for ((_, x), (_, y)) in a.iter().zip(b.iter()) {
                binary_leaves(x, y, out);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(Config { cases: CASES, ..Config::default() })]

    #[test]
    fn package1_round_trips(p in package1()) {
        check_round_trip(&p, dm_codec::encode_package1, dm_codec::decode_package1)?;
    }

    #[test]
    fn package2_round_trips(p in package2()) {
        check_round_trip(&p, dm_codec::encode_package2, dm_codec::decode_package2)?;
        // Invalid entries travel verbatim.
        let json: Value = serde_json::from_slice(&dm_codec::encode_package2(&p))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (entry, wire) in p.commands().iter().zip(json["CMD"].as_array().into_iter().flatten()) {
            if let CommandEntry::Invalid(invalid) = entry {
                let words: Vec<Value> = invalid.words.iter().map(|w| Value::from(w.as_str())).collect();
                prop_assert_eq!(wire, &Value::Array(words));
            }
        }
    }

    #[test]
    fn package3_round_trips(p in package3()) {
        check_round_trip(&p, dm_codec::encode_package3, dm_codec::decode_package3)?;
    }

    #[test]
    fn mo_serialization_round_trips(items in proptest::collection::vec(mo_item(), 0..4)) {
        check_round_trip(
            &items,
            |items: &Vec<MoItem>| dm_codec::encode_mo_serialization(items),
            dm_codec::decode_mo_serialization,
        )?;
    }

    #[test]
    fn alert_round_trips(a in alert()) {
        check_round_trip(&a, dm_codec::encode_alert, dm_codec::decode_alert)?;
    }

    /// Binary leaves are written as base64 text and read back as text (no
    /// DDF); typing the text as `b64` gives the bytes back.
    #[test]
    fn binary_leaves_read_back_as_base64_text(
        item in mo_item_with(mo_node_with(prop_oneof![
            1 => leaf_value(),
            2 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(LeafValue::Binary),
        ])),
    ) {
        let bytes = dm_codec::encode_mo_serialization(std::slice::from_ref(&item));
        let decoded = dm_codec::decode_mo_serialization(&bytes, &Limits::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.len(), 1);
        let expected = binary_as_text(item.data.node());
        prop_assert_eq!(decoded[0].data.node(), &expected);
        let mut pairs = Vec::new();
        binary_leaves(item.data.node(), decoded[0].data.node(), &mut pairs);
        for (original, leaf) in pairs {
            prop_assert!(matches!(leaf, LeafValue::Text(_)), "binary leaf decoded as {leaf:?}");
            let typed = leaf.clone().conform(NodeFormat::B64)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(typed, LeafValue::Binary(original.to_vec()));
        }
        // The text form is stable from then on.
        prop_assert_eq!(dm_codec::encode_mo_serialization(&decoded), bytes);
    }
}

/// A fixed example of the binary asymmetry, with the exact wire text.
#[test]
fn binary_leaf_is_base64_on_the_wire() {
    let item = MoItem {
        ddf: None,
        client_uri: ClientUri::parse("urn:x:y/a/").expect("valid ClientURI"),
        cache_validator: None,
        data: MoData::new(
            NodeName::new("b").expect("valid name"),
            MoNode::Leaf(LeafValue::Binary(vec![0, 1, 2, 0xff])),
        ),
    };
    let bytes = dm_codec::encode_mo_serialization(&[item]);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        r#"[{"ClientURI":"urn:x:y/a/","MOData":{"b":"AAEC/w=="}}]"#
    );
    let decoded = dm_codec::decode_mo_serialization(&bytes, &Limits::default()).expect("decodes");
    assert_eq!(
        decoded[0].data.node(),
        &MoNode::Leaf(LeafValue::Text("AAEC/w==".to_owned()))
    );
}
