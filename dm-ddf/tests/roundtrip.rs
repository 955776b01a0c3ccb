//! Generated definitions, written as DDF XML by the small writer below,
//! parse back equal.

use std::fmt::Write as _;

use dm_ddf::{CaseSense, DfType, Extension, MoDefinition, NodeDefinition, NodeNameDef};
use dm_types::{AccessType, NodeFormat, Occurrence, Scope};
use proptest::prelude::*;
use proptest::test_runner::Config;

// ---------------------------------------------------------------------------
// The writer

/// Escapes text for element content or attribute values. Characters that
/// XML would normalize (CR, and tab/LF in attributes) are written as
/// character references.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' if attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(text, false));
}

fn optional(out: &mut String, name: &str, text: Option<&String>) {
    if let Some(text) = text {
        element(out, name, text);
    }
}

fn write_extension(out: &mut String, ext: &Extension) {
    let _ = write!(out, "<{}", ext.name);
    for (name, value) in &ext.attributes {
        let _ = write!(out, " {name}=\"{}\"", escape(value, true));
    }
    out.push('>');
    out.push_str(&escape(&ext.text, false));
    for child in &ext.children {
        write_extension(out, child);
    }
    let _ = write!(out, "</{}>", ext.name);
}

fn write_node(out: &mut String, node: &NodeDefinition) {
    out.push_str("<Node>");
    match &node.name {
        NodeNameDef::Named(name) => element(out, "NodeName", name),
        NodeNameDef::Placeholder { hint: None } => out.push_str("<NodeName/>"),
        NodeNameDef::Placeholder { hint: Some(hint) } => {
            element(out, "NodeName", &format!("<{hint}>"));
        }
    }
    optional(out, "Path", node.path.as_ref());
    out.push_str("<DFProperties><AccessType>");
    for name in node.access_type.names() {
        let _ = write!(out, "<{name}/>");
    }
    out.push_str("</AccessType>");
    optional(out, "DefaultValue", node.default_value.as_ref());
    optional(out, "Description", node.description.as_ref());
    let _ = write!(out, "<DFFormat><{}/></DFFormat>", node.format.name());
    match node.occurrence {
        Occurrence::ZeroOrN(Some(n)) | Occurrence::OneOrN(Some(n)) => {
            let name = node.occurrence.name();
            let _ = write!(out, "<Occurrence><{name}>{n}</{name}></Occurrence>");
        }
        other => {
            let _ = write!(out, "<Occurrence><{}/></Occurrence>", other.name());
        }
    }
    let _ = write!(out, "<Scope><{}/></Scope>", node.scope.name());
    optional(out, "DFTitle", node.title.as_ref());
    if let Some(df_type) = &node.df_type {
        out.push_str("<DFType>");
        element(out, df_type.element_name(), df_type.text());
        out.push_str("</DFType>");
    }
    let _ = write!(out, "<CaseSense><{}/></CaseSense>", node.case_sense.name());
    for ext in &node.extensions {
        write_extension(out, ext);
    }
    out.push_str("</DFProperties>");
    optional(out, "Type", node.value_type.as_ref());
    optional(out, "Value", node.value.as_ref());
    for child in &node.children {
        write_node(out, child);
    }
    out.push_str("</Node>\n");
}

fn write_ddf(def: &MoDefinition) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE MgmtTree PUBLIC \"-//OMA//DTD-DM-DDF 1.2//EN\" \
         \"http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd\" \
         [<?oma-dm-ddf-ver supported-versions=\"1.2\"?>]>\n<MgmtTree xmlns:V=\"urn:example:vendor\">",
    );
    element(&mut out, "VerDTD", &def.ver_dtd);
    optional(&mut out, "Man", def.man.as_ref());
    optional(&mut out, "Mod", def.model.as_ref());
    for ext in &def.extensions {
        write_extension(&mut out, ext);
    }
    for node in &def.nodes {
        write_node(&mut out, node);
    }
    out.push_str("</MgmtTree>\n");
    out
}

// ---------------------------------------------------------------------------
// The generators

/// Characters XML can carry: plain, markup-significant, white space,
/// non-ASCII.
fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::ranges(vec!['a'..='z', 'A'..='Z', '0'..='9'].into()),
        2 => proptest::sample::select(vec![' ', '<', '>', '&', '"', '\'', '/', '*', '.', ';', ']']),
        1 => proptest::sample::select(vec!['\t', '\n', '\r', '\u{85}', '\u{a0}']),
        1 => proptest::sample::select(vec!['\u{e9}', '\u{4e2d}', '\u{1f600}', '\u{2028}', '\u{feff}']),
    ]
}

/// Text kept as written.
fn raw_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(xml_char(), 0..12).prop_map(|c| c.into_iter().collect())
}

/// Text of an element the parser trims.
fn trimmed_text() -> impl Strategy<Value = String> {
    raw_text().prop_map(|t| t.trim().to_owned())
}

fn node_name() -> impl Strategy<Value = NodeNameDef> {
    prop_oneof![
        4 => trimmed_text()
            .prop_filter("a fixed name", |t| {
                !t.is_empty() && t != "*" && !(t.starts_with('<') && t.ends_with('>'))
            })
            .prop_map(NodeNameDef::Named),
        1 => Just(NodeNameDef::Placeholder { hint: None }),
        1 => trimmed_text()
            .prop_filter("a hint", |t| !t.is_empty())
            .prop_map(|hint| NodeNameDef::Placeholder { hint: Some(hint) }),
    ]
}

fn access_type() -> impl Strategy<Value = AccessType> {
    proptest::bits::u8::masked(0b11_1111).prop_map(|bits| {
        [
            AccessType::ADD,
            AccessType::COPY,
            AccessType::DELETE,
            AccessType::EXEC,
            AccessType::GET,
            AccessType::REPLACE,
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .fold(AccessType::NONE, |set, (_, a)| set | a)
    })
}

fn occurrence() -> impl Strategy<Value = Occurrence> {
    prop_oneof![
        Just(Occurrence::One),
        Just(Occurrence::ZeroOrOne),
        Just(Occurrence::ZeroOrMore),
        Just(Occurrence::OneOrMore),
        proptest::option::of(any::<u32>()).prop_map(Occurrence::ZeroOrN),
        proptest::option::of(any::<u32>()).prop_map(Occurrence::OneOrN),
    ]
}

fn df_type() -> impl Strategy<Value = DfType> {
    prop_oneof![
        trimmed_text().prop_map(DfType::Mime),
        trimmed_text().prop_map(DfType::DdfName)
    ]
}

fn local_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9]{0,6}"
}

fn extension() -> impl Strategy<Value = Extension> {
    let leaf = (
        local_name(),
        proptest::collection::vec((local_name(), raw_text()), 0..3),
        trimmed_text(),
    )
        .prop_map(|(name, mut attributes, text)| {
            attributes.sort();
            attributes.dedup_by(|a, b| a.0 == b.0);
            Extension {
                name: format!("V:{name}"),
                namespace: Some("urn:example:vendor".to_owned()),
                attributes,
                text,
                children: Vec::new(),
            }
        });
    leaf.prop_recursive(2, 6, 3, |inner| {
        (inner.clone(), proptest::collection::vec(inner, 0..3)).prop_map(|(mut ext, children)| {
            ext.children = children;
            ext
        })
    })
}

fn node_definition() -> impl Strategy<Value = NodeDefinition> {
    let properties = (
        node_name(),
        proptest::option::of(trimmed_text()),
        access_type(),
        proptest::sample::select(NodeFormat::ALL.to_vec()),
        occurrence(),
        prop_oneof![Just(Scope::Permanent), Just(Scope::Dynamic)],
        proptest::option::of(raw_text()),
        proptest::option::of(trimmed_text()),
        proptest::option::of(trimmed_text()),
        proptest::option::of(df_type()),
        prop_oneof![Just(CaseSense::Cs), Just(CaseSense::Cis)],
    );
    let rest = (
        proptest::option::of(raw_text()),
        proptest::option::of(trimmed_text()),
        proptest::collection::vec(extension(), 0..2),
    );
    let leaf = (properties, rest).prop_map(
        |(
            (
                name,
                path,
                access,
                format,
                occurrence,
                scope,
                default_value,
                description,
                title,
                df_type,
                case_sense,
            ),
            (value, value_type, extensions),
        )| {
            let mut node = NodeDefinition::new(name, format);
            node.path = path;
            node.access_type = access;
            node.occurrence = occurrence;
            node.scope = scope;
            node.default_value = default_value;
            node.description = description;
            node.title = title;
            node.df_type = df_type;
            node.case_sense = case_sense;
            node.value = value;
            node.value_type = value_type;
            node.extensions = extensions;
            node
        },
    );
    leaf.prop_recursive(4, 24, 4, |inner| {
        (inner.clone(), proptest::collection::vec(inner, 0..4)).prop_map(|(mut node, children)| {
            node.children = children;
            node
        })
    })
}

fn definition() -> impl Strategy<Value = MoDefinition> {
    (
        proptest::sample::select(vec!["1.1", "1.1.2", "1.2", "1.3"]),
        proptest::option::of(trimmed_text()),
        proptest::option::of(trimmed_text()),
        proptest::collection::vec(node_definition(), 0..3),
        proptest::collection::vec(extension(), 0..2),
    )
        .prop_map(|(ver_dtd, man, model, nodes, extensions)| MoDefinition {
            ver_dtd: ver_dtd.to_owned(),
            man,
            model,
            nodes,
            extensions,
        })
}

proptest! {
    #![proptest_config(Config { cases: 200, ..Config::default() })]

    #[test]
    fn written_definitions_parse_back_equal(def in definition()) {
        let xml = write_ddf(&def);
        let parsed = MoDefinition::parse(xml.as_bytes());
        prop_assert!(parsed.is_ok(), "{:?}\n{xml}", parsed.err());
        let parsed = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed, &def, "{}", xml);
        prop_assert_eq!(parsed.node_count(), xml.matches("<Node>").count());
    }
}
