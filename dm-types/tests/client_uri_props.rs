//! Property tests of [`ClientUri`] (docs/protocol.md section 9).
//!
//! ClientURIs are generated from their parts (MOID, instance part, path of
//! names / `*` / x-names, `nv` conditions for every x-name used, optional
//! `cv`), with each name written in a randomly chosen but valid spelling
//! (unreserved characters raw or escaped, escapes in upper- or lower-case
//! hex). Parsing must give the canonical form predicted from the parts, the
//! canonical form must be a fixed point, and the accessors must give back the
//! generated (decoded) parts. The parser must also never panic, on any string.

use dm_types::{ClientUri, Instance, Segment, XName};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// RFC 3986 `unreserved`: what the canonical form writes raw.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// What a MIID or node name may carry unencoded.
fn is_name_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'+' | b',' | b';' | b'=' | b':' | b'@'
        )
}

/// What an `nv`/`cv` value may carry unencoded (`pchar`, `/` and `?`, not `&`).
fn is_value_char(b: u8) -> bool {
    (is_name_char(b) && b != b'&') || matches!(b, b'(' | b')' | b'*' | b'/' | b'?')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

fn push_escape(out: &mut String, b: u8, lower: bool) {
    let hex = if lower { HEX_LOWER } else { HEX_UPPER };
    out.push('%');
    out.push(char::from(hex[usize::from(b >> 4)]));
    out.push(char::from(hex[usize::from(b & 0x0f)]));
}

/// The canonical spelling of decoded text: unreserved bytes raw, every other
/// byte `%XX` with upper-case hex.
fn canonical(decoded: &str) -> String {
    let mut out = String::new();
    for &b in decoded.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b, false);
        }
    }
    out
}

/// A valid but not necessarily canonical spelling of decoded text: a byte
/// that `may_be_raw` allows is written raw or escaped as `choices` says;
/// anything else is escaped, in lower- or upper-case hex.
fn spell(decoded: &str, may_be_raw: fn(u8) -> bool, choices: &Choices) -> String {
    let mut out = String::new();
    for (i, &b) in decoded.as_bytes().iter().enumerate() {
        if may_be_raw(b) && !choices.escape(i) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b, choices.lower(i));
        }
    }
    out
}

/// Random spelling decisions for one component.
#[derive(Debug, Clone, Copy)]
struct Choices {
    escape: u64,
    lower: u64,
}

impl Choices {
    fn escape(self, i: usize) -> bool {
        self.escape >> (i % 64) & 1 == 1
    }
    fn lower(self, i: usize) -> bool {
        self.lower >> (i % 64) & 1 == 1
    }
}

fn choices() -> impl Strategy<Value = Choices> {
    prop_oneof![
        // Mostly raw: the usual spelling.
        2 => Just(Choices { escape: 0, lower: 0 }),
        3 => (any::<u64>(), any::<u64>()).prop_map(|(escape, lower)| Choices { escape, lower }),
    ]
}

/// Characters of generated names and values: plain ones, every class of
/// delimiter, characters that must be escaped, and non-ASCII.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::ranges(vec!['a'..='z', 'A'..='Z', '0'..='9'].into()),
        2 => proptest::sample::select(vec!['-', '.', '_', '~']),
        2 => proptest::sample::select(vec!['!', '$', '&', '\'', '+', ',', ';', '=', ':', '@']),
        2 => proptest::sample::select(vec![' ', '*', '(', ')', '%', '?', '#', '"', '[', ']', '\\']),
        1 => proptest::sample::select(vec!['\u{e9}', '\u{4e2d}', '\u{1f600}', '\u{7f}', '\u{1}']),
        1 => any::<char>(),
    ]
}

/// A decoded node name or MIID: non-empty, not `.` or `..`, no `/`.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9]{1,8}",
        5 => proptest::collection::vec(text_char(), 1..10)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
        1 => proptest::sample::select(vec!["*", "(x)", "a b", "...", ".a", "%", "?", "&"])
            .prop_map(str::to_owned),
    ]
    .prop_map(|s| s.replace('/', "_"))
    .prop_filter("'.' and '..' are not names", |s| s != "." && s != "..")
}

/// A decoded `nv`/`cv` value (may be empty for `nv`).
fn value() -> impl Strategy<Value = String> {
    proptest::collection::vec(text_char(), 0..10).prop_map(|chars| chars.into_iter().collect())
}

/// A MOID as written (`urn:` prefix in any case, rest kept verbatim) and its
/// canonical form.
fn moid() -> impl Strategy<Value = (String, String)> {
    let prefix = proptest::sample::select(vec!["urn:", "URN:", "Urn:", "uRn:"]);
    let rest = prop_oneof![
        Just("oma:mo:oma-dm-devinfo:1.0".to_owned()),
        Just("oma:mo:moid:1.0".to_owned()),
        "[a-zA-Z0-9-]{1,10}:[a-zA-Z0-9.:_~!$&'+,;=@()*-]{1,12}",
        // Escapes are kept exactly as written in a MOID (lower-case hex too).
        "[a-z]{1,4}:[a-z]{0,3}%[0-9a-fA-F]{2}[a-z0-9.]{0,3}",
    ];
    (prefix, rest).prop_map(|(prefix, rest)| (format!("{prefix}{rest}"), format!("urn:{rest}")))
}

/// The kind of one position (instance part or path segment).
#[derive(Debug, Clone)]
enum Part {
    Name(String, Choices),
    All,
    /// An x-name; the letter is assigned later so that each is used once.
    XName,
}

#[derive(Debug, Clone)]
enum InstancePart {
    Miid(String, Choices),
    Sole,
    All,
    XName,
}

fn instance_part() -> impl Strategy<Value = InstancePart> {
    prop_oneof![
        4 => (name(), choices()).prop_map(|(n, c)| InstancePart::Miid(n, c)),
        2 => Just(InstancePart::Sole),
        1 => Just(InstancePart::All),
        2 => Just(InstancePart::XName),
    ]
}

fn path_part() -> impl Strategy<Value = Part> {
    prop_oneof![
        6 => (name(), choices()).prop_map(|(n, c)| Part::Name(n, c)),
        1 => Just(Part::All),
        1 => Just(Part::XName),
    ]
}

/// One `nv` condition as generated (before its x-name is known).
#[derive(Debug, Clone)]
struct Condition {
    path: Vec<(String, Choices)>,
    value: String,
    value_choices: Choices,
}

fn condition() -> impl Strategy<Value = Condition> {
    (
        proptest::collection::vec((name(), choices()), 0..3),
        value(),
        choices(),
    )
        .prop_map(|(path, value, value_choices)| Condition {
            path,
            value,
            value_choices,
        })
}

/// A generated ClientURI: the text to parse and everything the parse must
/// give back.
#[derive(Debug, Clone)]
struct Generated {
    input: String,
    canonical: String,
    moid: String,
    instance: Expected,
    path: Vec<Expected>,
    /// (x-name, decoded path, decoded value), in the order given.
    conditions: Vec<(XName, Vec<String>, String)>,
    cache_validator: Option<String>,
}

/// What an instance part or a segment must decode to.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Name(String),
    XName(XName),
    Sole,
    All,
}

/// The 52 x-name letters in a random order (each x-name is used once).
fn letters() -> impl Strategy<Value = Vec<XName>> {
    let all: Vec<XName> = ('a'..='z')
        .chain('A'..='Z')
        .filter_map(XName::new)
        .collect();
    Just(all).prop_shuffle()
}

/// Nv-path names must escape `:` (the first raw `:` starts the value) and
/// `&` (which ends the query field).
fn is_nv_path_char(b: u8) -> bool {
    is_name_char(b) && b != b':' && b != b'&'
}

fn assemble(
    (moid_written, moid_canonical): (String, String),
    instance: InstancePart,
    parts: Vec<Part>,
    letters: Vec<XName>,
    conditions: &[Condition],
    extra_conditions: &[usize],
    cache_validator: Option<(String, Choices, usize)>,
) -> Generated {
    let mut letters = letters.into_iter();
    let mut next_letter = || {
        letters
            .next()
            .unwrap_or_else(|| unreachable!("at most 52 x-names"))
    };
    let mut used = Vec::new();

    let mut input = format!("{moid_written}/");
    let mut canon = format!("{moid_canonical}/");
    let instance_expected = match instance {
        InstancePart::Miid(name, c) => {
            input.push_str(&spell(&name, is_name_char, &c));
            canon.push_str(&canonical(&name));
            Expected::Name(name)
        }
        InstancePart::Sole => Expected::Sole,
        InstancePart::All => {
            input.push('*');
            canon.push('*');
            Expected::All
        }
        InstancePart::XName => {
            let x = next_letter();
            used.push(x);
            input.push_str(&x.to_string());
            canon.push_str(&x.to_string());
            Expected::XName(x)
        }
    };
    input.push('/');
    canon.push('/');
    let mut path = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            input.push('/');
            canon.push('/');
        }
        path.push(match part {
            Part::Name(name, c) => {
                input.push_str(&spell(&name, is_name_char, &c));
                canon.push_str(&canonical(&name));
                Expected::Name(name)
            }
            Part::All => {
                input.push('*');
                canon.push('*');
                Expected::All
            }
            Part::XName => {
                let x = next_letter();
                used.push(x);
                input.push_str(&x.to_string());
                canon.push_str(&x.to_string());
                Expected::XName(x)
            }
        });
    }

    // Every x-name gets one condition, then a few get more; the order of the
    // conditions is the order of `conditions` (so x-names interleave).
    let mut owners: Vec<XName> = used.clone();
    owners.extend(
        extra_conditions
            .iter()
            .filter(|_| !used.is_empty())
            .map(|&i| used[i % used.len()]),
    );
    let mut expected_conditions = Vec::new();
    let mut fields_in = Vec::new();
    let mut fields_canon = Vec::new();
    for (i, &x) in owners.iter().enumerate() {
        // `conditions` is long enough for every owner (see the strategy).
        let Some(cond) = conditions.get(i) else { break };
        let mut field_in = format!("nv={x}");
        let mut field_canon = format!("nv={x}");
        for (name, c) in &cond.path {
            field_in.push('/');
            field_in.push_str(&spell(name, is_nv_path_char, c));
            field_canon.push('/');
            field_canon.push_str(&canonical(name));
        }
        field_in.push(':');
        field_in.push_str(&spell(&cond.value, is_value_char, &cond.value_choices));
        field_canon.push(':');
        field_canon.push_str(&canonical(&cond.value));
        fields_in.push(field_in);
        fields_canon.push(field_canon);
        expected_conditions.push((
            x,
            cond.path.iter().map(|(n, _)| n.clone()).collect(),
            cond.value.clone(),
        ));
    }
    let cv_allowed = matches!(instance_expected, Expected::Name(_) | Expected::Sole);
    let cache_validator = cache_validator.filter(|_| cv_allowed);
    if let Some((cv, c, position)) = &cache_validator {
        // `cv` may come anywhere in the input; canonical form puts it last.
        let at = position % (fields_in.len() + 1);
        fields_in.insert(at, format!("cv={}", spell(cv, is_value_char, c)));
        fields_canon.push(format!("cv={}", canonical(cv)));
    }
    if !fields_in.is_empty() {
        input.push('?');
        input.push_str(&fields_in.join("&"));
        canon.push('?');
        canon.push_str(&fields_canon.join("&"));
    }
    Generated {
        input,
        canonical: canon,
        moid: moid_canonical,
        instance: instance_expected,
        path,
        conditions: expected_conditions,
        cache_validator: cache_validator.map(|(cv, _, _)| cv),
    }
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        moid(),
        instance_part(),
        proptest::collection::vec(path_part(), 0..6),
        letters(),
        // Enough conditions for up to 7 x-names plus up to 3 extra ones.
        proptest::collection::vec(condition(), 10),
        proptest::collection::vec(any::<usize>(), 0..3),
        proptest::option::of((
            proptest::collection::vec(text_char(), 1..8)
                .prop_map(|c| c.into_iter().collect::<String>()),
            choices(),
            any::<usize>(),
        )),
    )
        .prop_map(|(moid, instance, parts, letters, conditions, extra, cv)| {
            assemble(moid, instance, parts, letters, &conditions, &extra, cv)
        })
}

fn instance_of(uri: &ClientUri) -> Option<Expected> {
    Some(match uri.instance() {
        Instance::Miid(m) => Expected::Name(m.into_owned()),
        Instance::XName(x) => Expected::XName(x),
        Instance::Sole => Expected::Sole,
        Instance::All => Expected::All,
        _ => return None,
    })
}

fn segment_of(segment: Segment<'_>) -> Option<Expected> {
    Some(match segment {
        Segment::Name(n) => Expected::Name(n.into_owned()),
        Segment::XName(x) => Expected::XName(x),
        Segment::All => Expected::All,
        _ => return None,
    })
}

/// The canonical form re-parses to itself (equal value, identical text).
fn check_fixed_point(uri: &ClientUri) -> Result<(), TestCaseError> {
    let text = uri.to_string();
    prop_assert_eq!(text.as_str(), uri.as_str());
    let again = ClientUri::parse(&text)
        .map_err(|e| TestCaseError::fail(format!("canonical {text:?} does not re-parse: {e}")))?;
    prop_assert_eq!(&again, uri);
    prop_assert_eq!(again.as_str(), text.as_str());
    prop_assert_eq!(again.to_string(), text);
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    /// Parsing a generated ClientURI gives the predicted canonical form and
    /// gives back every part through the accessors.
    #[test]
    fn generated_uris_parse_to_their_parts(g in generated()) {
        let uri = ClientUri::parse(&g.input)
            .map_err(|e| TestCaseError::fail(format!("{:?} rejected: {e}", g.input)))?;
        prop_assert_eq!(uri.as_str(), g.canonical.as_str(), "input {:?}", g.input);
        check_fixed_point(&uri)?;

        prop_assert_eq!(uri.moid(), g.moid.as_str());
        prop_assert_eq!(uri.to_moid().into_string(), g.moid.clone());
        prop_assert_eq!(instance_of(&uri), Some(g.instance.clone()));
        match &g.instance {
            Expected::Name(miid) => {
                prop_assert_eq!(uri.miid().map(dm_types::Miid::into_string), Some(miid.clone()));
            }
            _ => prop_assert!(uri.miid().is_none()),
        }
        let path: Vec<Option<Expected>> = uri.path().map(segment_of).collect();
        let expected_path: Vec<Option<Expected>> = g.path.iter().cloned().map(Some).collect();
        prop_assert_eq!(path, expected_path);
        prop_assert_eq!(uri.path_len(), g.path.len());

        let conditions: Vec<(XName, Vec<String>, String)> = uri
            .conditions()
            .map(|c| {
                (
                    c.xname(),
                    c.path().map(std::borrow::Cow::into_owned).collect(),
                    c.value().into_owned(),
                )
            })
            .collect();
        prop_assert_eq!(conditions, g.conditions.clone());
        prop_assert_eq!(
            uri.cache_validator().map(std::borrow::Cow::into_owned),
            g.cache_validator.clone()
        );

        let plain_path = g.path.iter().all(|p| matches!(p, Expected::Name(_)));
        let has_query = !g.conditions.is_empty() || g.cache_validator.is_some();
        prop_assert_eq!(
            uri.is_absolute(),
            matches!(g.instance, Expected::Name(_)) && plain_path && !has_query
        );
        prop_assert_eq!(
            uri.has_selectors(),
            matches!(g.instance, Expected::All | Expected::XName(_)) || !plain_path
        );
    }

    /// `ClientUri::absolute` builds the same value as parsing its text.
    #[test]
    fn absolute_matches_parse(
        (_, moid) in moid(),
        miid in name(),
        path in proptest::collection::vec(name(), 0..5),
    ) {
        let moid = dm_types::Moid::new(moid).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let miid = dm_types::Miid::new(miid).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let names = path
            .iter()
            .map(|n| dm_types::NodeName::new(n.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let uri = ClientUri::absolute(&moid, &miid, &names);
        prop_assert!(uri.is_absolute());
        check_fixed_point(&uri)?;
        prop_assert_eq!(uri.miid(), Some(miid));
        let segments: Vec<Option<Expected>> = uri.path().map(segment_of).collect();
        let expected: Vec<Option<Expected>> =
            path.into_iter().map(|n| Some(Expected::Name(n))).collect();
        prop_assert_eq!(segments, expected);
    }

    /// Any string: no panic, and whatever parses has a canonical form that
    /// is a fixed point.
    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Ok(uri) = ClientUri::parse(&s) {
            check_fixed_point(&uri)?;
        }
    }

    /// Strings over the URI alphabet (so that many get deep into the parser).
    #[test]
    fn uri_alphabet_strings_never_panic(s in "[a-z(),*%:/?&=.A-F0-9]{0,64}") {
        if let Ok(uri) = ClientUri::parse(&s) {
            check_fixed_point(&uri)?;
        }
    }

    /// A valid prefix followed by URI-alphabet noise.
    #[test]
    fn noisy_tails_never_panic(
        head in proptest::sample::select(vec![
            "urn:x:y/", "urn:x:y//", "urn:x:y/*/", "urn:x:y/(x)/", "urn:x:y/a/b?", "urn:x:y/a/(z)?nv=(z)",
        ]),
        tail in "[a-zA-Z(),*%:/?&=.#0-9~ -]{0,40}",
    ) {
        let s = format!("{head}{tail}");
        if let Ok(uri) = ClientUri::parse(&s) {
            check_fixed_point(&uri)?;
        }
    }

    /// Mutating one byte of a valid ClientURI never panics; if the result
    /// parses, it is canonical-stable.
    #[test]
    fn mutated_uris_never_panic(g in generated(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = g.input.into_bytes();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(uri) = ClientUri::parse(&s) {
            check_fixed_point(&uri)?;
        }
    }
}

/// Fixed examples of the spelling rules the generator relies on.
#[test]
fn spelling_examples() {
    let uri = ClientUri::parse("URN:x:y/a%2a/%c3%A9%41?cv=%7e").expect("valid ClientURI");
    assert_eq!(uri.as_str(), "urn:x:y/a%2A/%C3%A9A?cv=~");
    assert_eq!(uri.path().next(), Some(Segment::Name("\u{e9}A".into())));
    assert_eq!(
        uri.miid().map(dm_types::Miid::into_string).as_deref(),
        Some("a*")
    );
    assert_eq!(uri.cache_validator().as_deref(), Some("~"));
    assert!(ClientUri::parse("urn:x:y/a/(x)?nv=(x)/b%3Ac:d:e").is_ok());
    let c = ClientUri::parse("urn:x:y/a/(x)?nv=(x)/b%3Ac:d:e").expect("valid ClientURI");
    let nv = c.conditions().next().expect("one condition");
    assert_eq!(nv.path().collect::<Vec<_>>(), ["b:c"]);
    assert_eq!(nv.value(), "d:e");
}
