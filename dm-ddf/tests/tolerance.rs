//! The tolerant reading of DDF documents, decision by decision
//! (docs/protocol.md section 10.1): each test builds a document departing
//! from the DTD in one way and checks the data kept and the warning (kind,
//! line, column, path), or the refusal and its position.

use dm_ddf::{
    CaseSense, DfType, Error, Limits, MoDefinition, NodeDefinition, NodeNameDef, Parsed, Warning,
    WarningKind,
};
use dm_types::{AccessType, NodeFormat, Occurrence, Scope};

/// `body` after `VerDTD`, one element a line.
fn doc(body: &str) -> String {
    format!("<MgmtTree>\n<VerDTD>1.2</VerDTD>\n{body}\n</MgmtTree>")
}

/// A `Node` named `name` with `properties` in its `DFProperties` and
/// `rest` after them.
fn node(name: &str, properties: &str, rest: &str) -> String {
    format!(
        "<Node>\n<NodeName>{name}</NodeName>\n<DFProperties>\n{properties}\n</DFProperties>\n{rest}</Node>"
    )
}

/// One leaf `A` with `AccessType`, `DFFormat` and `more` as properties, in
/// the DTD's order (`DefaultValue` and `Description` before `DFFormat`):
/// `more` starts on line 7.
fn leaf_with(more: &str) -> String {
    let props = if more.starts_with("<DefaultValue") || more.starts_with("<Description") {
        format!("<AccessType><Get/></AccessType>\n{more}\n<DFFormat><chr/></DFFormat>")
    } else {
        format!("<AccessType><Get/></AccessType>\n<DFFormat><chr/></DFFormat>\n{more}")
    };
    doc(&node("A", &props, ""))
}

const LEAF: &str = "<AccessType><Get/></AccessType>\n<DFFormat><chr/></DFFormat>";

fn read(text: &str) -> Parsed {
    match MoDefinition::parse_str_with_warnings(text, &Limits::default()) {
        Ok(parsed) => {
            check_positions(text, &parsed.warnings);
            parsed
        }
        Err(e) => panic!("refused: {e}\n{text}"),
    }
}

fn refused(text: &str) -> Error {
    match MoDefinition::parse_str_with_warnings(text, &Limits::default()) {
        Ok(parsed) => panic!("read, but should be refused: {:?}", parsed.warnings),
        Err(e) => e,
    }
}

/// The first node of the definition.
fn first(parsed: &Parsed) -> &NodeDefinition {
    &parsed.definition.nodes[0]
}

/// Line and column (in characters, from 1) of the `nth` (from 0)
/// occurrence of `needle` in `text`.
fn line_column(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in the text"))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The only warning, which must have `code` and sit at the `nth`
/// occurrence of `needle`.
fn only<'p>(parsed: &'p Parsed, text: &str, code: &str, needle: &str, nth: usize) -> &'p Warning {
    assert_eq!(
        parsed.warnings.len(),
        1,
        "expected one warning: {:#?}",
        parsed.warnings
    );
    let w = &parsed.warnings[0];
    assert_eq!(w.kind.code(), code, "{w}");
    assert_eq!(
        (w.position.line, w.position.column),
        line_column(text, needle, nth),
        "{w}"
    );
    w
}

/// Fails unless `err` is an invalid-DDF error at the `nth` `needle` whose
/// message holds `message`.
fn refused_at(err: &Error, text: &str, needle: &str, nth: usize, message: &str) {
    let position = err.position().expect("a position");
    assert_eq!(
        (position.line, position.column),
        line_column(text, needle, nth),
        "{err}"
    );
    assert!(err.to_string().contains(message), "{err}");
}

/// Every warning points into the text, at its line and column, in order.
fn check_positions(text: &str, warnings: &[Warning]) {
    let mut previous = 0;
    for w in warnings {
        let p = w.position;
        assert!(p.offset <= text.len(), "{w}");
        assert_eq!(p, dm_ddf::Position::locate(text, p.offset), "{w}");
        if !matches!(w.kind, WarningKind::TooManyWarnings { .. }) {
            assert!(p.offset >= previous, "out of order: {w}");
            previous = p.offset;
        }
    }
}

// ---------------------------------------------------------------- prolog

#[test]
fn doctype_variants_are_read() {
    let tree = doc(&node("A", LEAF, ""));
    let variants = [
        String::new(),
        "<!DOCTYPE MgmtTree PUBLIC \"-//OMA//DTD-DM-DDF 1.2//EN\" \"http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd\">\n".into(),
        "<!DOCTYPE MgmtTree SYSTEM 'http://example.com/dm_ddf-v1_2.dtd'>\n".into(),
        "<!DOCTYPE MgmtTree>\n".into(),
        "<!DOCTYPE MgmtTree PUBLIC \" -//OMA//DTD-DM-DDF 1.2//EN\" \"x.dtd\"[<?oma-dm-ddf-ver supported-versions=\"1.2\"?>\n<!-- a comment -->\n<!ELEMENT MgmtTree ANY>\n<!ATTLIST MgmtTree a CDATA #IMPLIED>\n<!NOTATION n SYSTEM \"n\">]>\n".into(),
    ];
    for prolog in variants {
        let text = format!("<?xml version=\"1.0\" encoding='UTF-8'?>\n<!-- c -->\n{prolog}{tree}");
        let parsed = read(&text);
        assert!(
            parsed.warnings.is_empty(),
            "{prolog}: {:?}",
            parsed.warnings
        );
        assert_eq!(first(&parsed).format, NodeFormat::Chr);
    }
}

#[test]
fn a_doctype_naming_another_root_is_read_with_a_warning() {
    let text = format!(
        "<!DOCTYPE SyncML SYSTEM \"x.dtd\">\n{}",
        doc(&node("A", LEAF, ""))
    );
    let parsed = read(&text);
    let w = only(&parsed, &text, "doctype_name", "<!DOCTYPE", 0);
    assert_eq!(
        w.kind,
        WarningKind::DoctypeName {
            name: "SyncML".into()
        }
    );
    assert_eq!(w.path, "");
    assert_eq!(parsed.definition.node_count(), 1);
}

#[test]
fn entity_declarations_are_ignored_with_a_warning() {
    let text = format!(
        "<!DOCTYPE MgmtTree [\n  <!ENTITY vendor \"ACME > Corp\">\n  <!ENTITY % pe SYSTEM 'x.ent'>\n]>\n{}",
        doc(&node("A", LEAF, ""))
    );
    let parsed = read(&text);
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    let names: Vec<&WarningKind> = parsed.warnings.iter().map(|w| &w.kind).collect();
    assert_eq!(
        names,
        [
            &WarningKind::EntityDeclarationIgnored {
                name: "vendor".into()
            },
            &WarningKind::EntityDeclarationIgnored { name: "%pe".into() },
        ]
    );
    let p = parsed.warnings[1].position;
    assert_eq!((p.line, p.column), (3, 3));
    // Positions after the blanked declarations are those of the original.
    assert_eq!(parsed.definition.node_count(), 1);
}

#[test]
fn entity_references_are_refused_with_their_position() {
    // Declared (and ignored) or not, an entity is never expanded.
    let declared = format!(
        "<!DOCTYPE MgmtTree [<!ENTITY m \"ACME\">]>\n{}",
        doc("<Man>&m;</Man>")
    );
    let err = refused(&declared);
    assert!(
        matches!(&err, Error::EntityReference { name, .. } if name == "m"),
        "{err}"
    );
    refused_at(&err, &declared, "&m;", 0, "undeclared entity &m;");

    let undeclared = doc("<Node><NodeName>&x;</NodeName></Node>");
    let err = refused(&undeclared);
    refused_at(&err, &undeclared, "&x;", 0, "&x;");
    assert_eq!(err.status().as_u16(), 400);

    // The predefined entities and character references are read.
    let parsed = read(&doc(&node("A&amp;&#66;&lt;", LEAF, "")));
    assert_eq!(first(&parsed).name, NodeNameDef::Named("A&B<".into()));
}

#[test]
fn entity_text_in_comments_is_ignored_with_a_warning() {
    let text = format!(
        "<!-- <!ENTITY before 'x'> -->\n<!DOCTYPE MgmtTree [\n<!-- <!ENTITY inside 'x'> -->\n]>\n{}",
        doc(&node(
            "A",
            "<AccessType><Get/></AccessType>\n<!-- <!ENTITY body 'x'> -->\n\
             <Description><![CDATA[<!ENTITY cdata>]]></Description>\n<DFFormat><chr/></DFFormat>",
            ""
        ))
    );
    let parsed = read(&text);
    let found: Vec<(usize, usize, &str, &str)> = parsed
        .warnings
        .iter()
        .map(|w| {
            (
                w.position.line,
                w.position.column,
                w.kind.code(),
                w.path.as_str(),
            )
        })
        .collect();
    let path = "MgmtTree/Node[A]/DFProperties";
    assert_eq!(
        found,
        [
            (1, 6, "entity_text_ignored", ""),
            (3, 6, "entity_text_ignored", ""),
            (11, 6, "entity_text_ignored", path),
            (
                12,
                23,
                "entity_text_ignored",
                "MgmtTree/Node[A]/DFProperties/Description"
            ),
        ]
    );
    assert_eq!(
        first(&parsed).description.as_deref(),
        Some("<!ENTITY cdata>")
    );
}

#[test]
fn an_entity_declaration_that_cannot_be_followed_is_refused() {
    // An unterminated declaration, and one after a prolog construct the
    // reader does not know: either might be read by the XML parser.
    for text in [
        "<!DOCTYPE MgmtTree [\n<!ENTITY a \"x>\n<MgmtTree/>",
        "<?xml version=\"1.0\" foo?>\n<!DOCTYPE MgmtTree [<!ENTITY a \"x\">]><MgmtTree/>",
        "<!DOCTYPE MgmtTree [<!BOGUS>\n<!ENTITY a \"x\">]><MgmtTree/>",
    ] {
        let err = refused(text);
        assert!(
            matches!(err, Error::EntityDeclaration { .. } | Error::Xml { .. }),
            "{err}"
        );
        assert!(err.position().is_some(), "{err}");
    }
    let text = "<!DOCTYPE MgmtTree [<!BOGUS>\n<!ENTITY a \"x\">]><MgmtTree/>";
    let err = refused(text);
    assert!(matches!(err, Error::EntityDeclaration { .. }), "{err}");
    refused_at(&err, text, "<!ENTITY", 0, "cannot be skipped safely");
}

/// Prologs built to make the reader lose track of where a declaration is:
/// whatever it makes of them, the entity is never expanded.
#[test]
fn hostile_prologs_never_expand_an_entity() {
    let decl = "<!ENTITY e \"EXPANDED\">";
    let prologs = [
        format!("<!DOCTYPE MgmtTree[{decl}]>"),
        format!(
            "\u{feff}<?xml version=\"1.0\" encoding='UTF-8' standalone=\"yes\"?>\n<!DOCTYPE MgmtTree [\n\t{decl}\n]>"
        ),
        format!("<?xml version=\"1.0\" encoding=\"?>\"?><!DOCTYPE MgmtTree [{decl}]>"),
        format!("<!-- ]> <!DOCTYPE x [ --><!DOCTYPE MgmtTree [{decl}]>"),
        format!("<?pi <!DOCTYPE x [ ?><!DOCTYPE MgmtTree [{decl}]>"),
        format!("<!DOCTYPE MgmtTree [<!ATTLIST a b CDATA \"x>y\">{decl}]>"),
        format!("<!DOCTYPE MgmtTree [<!-- {decl} -->{decl}]>"),
        format!("<!DOCTYPE MgmtTree [<?pi ]> ?>{decl}]>"),
        format!("<!DOCTYPE MgmtTree SYSTEM \"]>\" [{decl}]>"),
        format!("<!DOCTYPE MgmtTree PUBLIC '[' \"[\" [{decl}]>"),
        "<!DOCTYPE MgmtTree [<!ENTITY e 'a\">b'><!ENTITY f \"EXPANDED\">]>".to_owned(),
        "<!DOCTYPE MgmtTree [<!ENTITY % p \"x\">%p;<!ENTITY e \"EXPANDED\">]>".to_owned(),
        "<!DOCTYPE MgmtTree [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>".to_owned(),
        "<!DOCTYPE MgmtTree [<!ENTITY e \"&f;\"><!ENTITY f \"EXPANDED\">]>".to_owned(),
    ];
    for prolog in &prologs {
        for reference in ["&e;", "&f;"] {
            let text =
                format!("{prolog}<MgmtTree><VerDTD>1.2</VerDTD><Man>{reference}</Man></MgmtTree>");
            match MoDefinition::parse_str_with_warnings(&text, &Limits::default()) {
                Ok(parsed) => panic!("read: {:?}\n{text}", parsed.definition.man),
                Err(e) => assert!(e.position().is_some(), "{e}"),
            }
        }
    }
}

#[test]
fn warnings_stop_at_the_limit() {
    let repeats = "<Man>M</Man>\n".repeat(5);
    let text = doc(&format!("<Man>M</Man>\n{repeats}{}", node("A", LEAF, "")));
    let limits = Limits {
        max_warnings: 3,
        ..Limits::default()
    };
    let parsed = MoDefinition::parse_str_with_warnings(&text, &limits).expect("read");
    let codes: Vec<&str> = parsed.warnings.iter().map(|w| w.kind.code()).collect();
    assert_eq!(
        codes,
        ["repeated", "repeated", "repeated", "too_many_warnings"]
    );
    let last = &parsed.warnings[3];
    assert_eq!(last.kind, WarningKind::TooManyWarnings { limit: 3 });
    // At the first warning left out: the fifth Man.
    assert_eq!(
        (last.position.line, last.position.column),
        line_column(&text, "<Man>", 4)
    );
    assert_eq!(parsed.definition.man.as_deref(), Some("M"));
}

#[test]
fn limits_still_apply_to_tolerated_content() {
    let shallow = Limits {
        max_depth: 8,
        ..Limits::default()
    };
    // Markup in a description, and an unknown element kept as an extension.
    for (open, close) in [
        ("<Description>", "</Description>"),
        ("<Unknown>", "</Unknown>"),
    ] {
        let deep = format!("{open}x{}{}{close}", "<b>".repeat(20), "</b>".repeat(20));
        let text = leaf_with(&deep);
        let err = MoDefinition::parse_str_with(&text, &shallow).expect_err("too deep");
        assert!(matches!(err, Error::Limit { limit: 8, .. }), "{err}");
        let line = if open == "<Description>" { 7 } else { 8 };
        assert_eq!(err.position().map(|p| p.line), Some(line));
    }
}

// -------------------------------------------------------------- MgmtTree

#[test]
fn text_among_elements_is_ignored_with_a_warning() {
    let cases = [
        (
            "MgmtTree",
            doc(&format!("stray\n{}", node("A", LEAF, ""))),
            "stray",
        ),
        ("Node", doc(&node("A", LEAF, "stray\n")), "stray"),
        ("DFProperties", leaf_with("stray"), "stray"),
        (
            "AccessType",
            doc(&node(
                "A",
                "<AccessType>Get<Get/></AccessType>\n<DFFormat><chr/></DFFormat>",
                "",
            )),
            "Get<",
        ),
        (
            "Scope",
            leaf_with("<Scope>Dynamic<Permanent/></Scope>"),
            "Dynamic<",
        ),
    ];
    for (element, text, needle) in cases {
        let parsed = read(&text);
        let w = only(&parsed, &text, "unexpected_text", needle, 0);
        assert_eq!(
            w.kind,
            WarningKind::UnexpectedText {
                element: element.into()
            }
        );
        assert_eq!(first(&parsed).access_type, AccessType::GET, "{element}");
    }
    // The text is not read as a value.
    let parsed = read(&leaf_with("<Scope>Dynamic<Permanent/></Scope>"));
    assert_eq!(first(&parsed).scope, Scope::Permanent);
}

#[test]
fn unknown_elements_are_kept_as_extensions_with_a_warning() {
    let cases = [
        (
            "MgmtTree",
            doc(&format!("<Comment>c</Comment>\n{}", node("A", LEAF, ""))),
        ),
        ("Node", doc(&node("A", LEAF, "<Comment>c</Comment>\n"))),
        ("DFProperties", leaf_with("<Comment>c</Comment>")),
    ];
    for (parent, text) in cases {
        let parsed = read(&text);
        let w = only(&parsed, &text, "unknown_element", "<Comment>", 0);
        assert_eq!(
            w.kind,
            WarningKind::UnknownElement {
                element: "Comment".into(),
                parent: parent.into()
            }
        );
        let extensions = if parent == "MgmtTree" {
            &parsed.definition.extensions
        } else {
            &first(&parsed).extensions
        };
        assert_eq!(extensions[0].name, "Comment");
        assert_eq!(extensions[0].namespace, None);
        assert_eq!(extensions[0].text, "c");
    }
    // A property misplaced outside DFProperties is not applied.
    let text = doc(&node("A", LEAF, "<Scope><Permanent/></Scope>\n"));
    let parsed = read(&text);
    only(&parsed, &text, "unknown_element", "<Scope>", 0);
    assert_eq!(first(&parsed).scope, Scope::Dynamic);
}

#[test]
fn vendor_elements_are_kept_without_a_warning() {
    let text = format!(
        "<MgmtTree xmlns:V=\"urn:v\">\n<VerDTD>1.2</VerDTD>\n<V:Top/>\n{}\n</MgmtTree>",
        node(
            "A",
            &format!("{LEAF}\n<V:Allowed>1</V:Allowed>"),
            "<V:More/>\n"
        )
    );
    let parsed = read(&text);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(parsed.definition.extensions[0].name, "V:Top");
    let names: Vec<&str> = first(&parsed)
        .extensions
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["V:Allowed", "V:More"]);
}

#[test]
fn elements_out_of_order_are_read_with_a_warning() {
    // MgmtTree: Man after Node.
    let text = doc(&format!("{}\n<Man>M</Man>", node("A", LEAF, "")));
    let parsed = read(&text);
    let w = only(&parsed, &text, "out_of_order", "<Man>", 0);
    assert_eq!(
        w.kind,
        WarningKind::OutOfOrder {
            element: "Man".into(),
            after: "Node".into()
        }
    );
    assert_eq!(parsed.definition.man.as_deref(), Some("M"));

    // Node: NodeName after DFProperties.
    let text = doc(
        "<Node>\n<DFProperties>\n<AccessType><Get/></AccessType>\n<DFFormat><chr/></DFFormat>\n</DFProperties>\n<NodeName>A</NodeName>\n</Node>",
    );
    let parsed = read(&text);
    only(&parsed, &text, "out_of_order", "<NodeName>", 0);
    assert_eq!(first(&parsed).name, NodeNameDef::Named("A".into()));

    // DFProperties: AccessType after DFFormat (as in many published files).
    let text = doc(&node(
        "A",
        "<DFFormat><int/></DFFormat>\n<AccessType><Get/><Replace/></AccessType>",
        "",
    ));
    let parsed = read(&text);
    let w = only(&parsed, &text, "out_of_order", "<AccessType>", 0);
    assert_eq!(w.path, "MgmtTree/Node[A]/DFProperties/AccessType");
    assert_eq!(first(&parsed).format, NodeFormat::Int);
    assert_eq!(
        first(&parsed).access_type,
        AccessType::GET | AccessType::REPLACE
    );
}

#[test]
fn a_tree_without_nodes_is_read_with_a_warning() {
    let text = "<MgmtTree>\n<VerDTD>1.2</VerDTD>\n</MgmtTree>";
    let parsed = read(text);
    let w = only(&parsed, text, "missing", "<MgmtTree>", 0);
    assert_eq!(
        w.kind,
        WarningKind::Missing {
            element: "Node".into(),
            parent: "MgmtTree".into(),
            read_as: "a definition without nodes".into()
        }
    );
    assert!(parsed.definition.nodes.is_empty());
}

// ------------------------------------------------------------ VerDTD, Man

#[test]
fn a_missing_empty_or_unknown_ver_dtd_is_refused() {
    let text = "<MgmtTree>\n<Man>M</Man>\n</MgmtTree>";
    refused_at(&refused(text), text, "<MgmtTree>", 0, "has no <VerDTD>");
    let text = "<MgmtTree>\n<VerDTD/>\n</MgmtTree>";
    refused_at(
        &refused(text),
        text,
        "<VerDTD/>",
        0,
        "unsupported VerDTD \"\"",
    );
    let text = "<MgmtTree>\n<VerDTD>2.0</VerDTD>\n</MgmtTree>";
    refused_at(&refused(text), text, "<VerDTD>", 0, "unsupported VerDTD");
}

#[test]
fn a_repeated_ver_dtd_is_kept_when_equal_and_refused_when_not() {
    let text = doc(&format!("<VerDTD>1.2</VerDTD>\n{}", node("A", LEAF, "")));
    let parsed = read(&text);
    only(&parsed, &text, "repeated", "<VerDTD>", 1);
    assert_eq!(parsed.definition.ver_dtd, "1.2");

    let text = doc("<VerDTD>1.1</VerDTD>");
    refused_at(
        &refused(&text),
        &text,
        "<VerDTD>",
        1,
        "<VerDTD> appears again with a different value",
    );
}

#[test]
fn repeated_descriptive_elements_keep_the_first() {
    for element in ["Man", "Mod"] {
        let text = doc(&format!(
            "<{element}>one</{element}>\n<{element}>two</{element}>\n{}",
            node("A", LEAF, "")
        ));
        let parsed = read(&text);
        let w = only(
            &parsed,
            &text,
            "repeated_differing",
            &format!("<{element}>"),
            1,
        );
        assert_eq!(
            w.kind,
            WarningKind::RepeatedDiffering {
                element: element.into()
            }
        );
        let kept = if element == "Man" {
            &parsed.definition.man
        } else {
            &parsed.definition.model
        };
        assert_eq!(kept.as_deref(), Some("one"));
    }
    for element in ["Description", "DFTitle"] {
        let text = leaf_with(&format!(
            "<{element}>one</{element}>\n<{element}>two</{element}>"
        ));
        let parsed = read(&text);
        only(
            &parsed,
            &text,
            "repeated_differing",
            &format!("<{element}>"),
            1,
        );
        let n = first(&parsed);
        let kept = if element == "Description" {
            &n.description
        } else {
            &n.title
        };
        assert_eq!(kept.as_deref(), Some("one"));
    }
    // The same text twice: repeated.
    let text = leaf_with("<DFTitle>t</DFTitle>\n<DFTitle> t </DFTitle>");
    let parsed = read(&text);
    only(&parsed, &text, "repeated", "<DFTitle>", 1);
}

#[test]
fn markup_in_descriptive_text_keeps_the_text() {
    let text =
        leaf_with("<Description>Use <b>bold</b> <V:x xmlns:V=\"urn:v\">here</V:x>.</Description>");
    let parsed = read(&text);
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    let w = &parsed.warnings[0];
    assert_eq!(
        w.kind,
        WarningKind::MarkupInText {
            element: "Description".into(),
            child: "b".into()
        }
    );
    assert_eq!(
        (w.position.line, w.position.column),
        line_column(&text, "<b>", 0)
    );
    assert_eq!(w.path, "MgmtTree/Node[A]/DFProperties/Description/b");
    assert_eq!(
        first(&parsed).description.as_deref(),
        Some("Use bold here.")
    );

    let text = doc(&format!(
        "<Man>ACME <i>Corp</i></Man>\n{}",
        node("A", LEAF, "")
    ));
    let parsed = read(&text);
    only(&parsed, &text, "markup_in_text", "<i>", 0);
    assert_eq!(parsed.definition.man.as_deref(), Some("ACME Corp"));
}

#[test]
fn markup_in_machine_read_text_is_refused() {
    let cases = [
        ("NodeName", doc(&node("A<b/>", LEAF, ""))),
        ("Path", doc(&node("A", LEAF, "<Path>./<b/></Path>\n"))),
        (
            "DefaultValue",
            leaf_with("<DefaultValue>1<b/></DefaultValue>"),
        ),
        ("Value", doc(&node("A", LEAF, "<Value>1<b/></Value>\n"))),
        ("MIME", leaf_with("<DFType><MIME>text/<b/></MIME></DFType>")),
        (
            "DDFName",
            leaf_with("<DFType><DDFName>urn:<b/></DDFName></DFType>"),
        ),
        (
            "ZeroOrN",
            leaf_with("<Occurrence><ZeroOrN>3<b/></ZeroOrN></Occurrence>"),
        ),
    ];
    for (element, text) in cases {
        refused_at(
            &refused(&text),
            &text,
            "<b/>",
            0,
            &format!("unexpected element <b> in <{element}>, which holds text"),
        );
    }
}

#[test]
fn empty_text_elements_are_kept_as_empty_text() {
    // The DTD allows empty #PCDATA: no warning (551 empty Descriptions in
    // the corpus).
    let text = doc(
        "<Man/>\n<Node>\n<NodeName>A</NodeName>\n<Path/>\n<DFProperties>\n\
         <AccessType><Get/></AccessType>\n<DefaultValue/>\n<Description></Description>\n\
         <DFFormat><chr/></DFFormat>\n<DFTitle/>\n<DFType><MIME/></DFType>\n\
         </DFProperties>\n<Value/>\n</Node>",
    );
    let parsed = read(&text);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let n = first(&parsed);
    assert_eq!(parsed.definition.man.as_deref(), Some(""));
    assert_eq!(n.default_value.as_deref(), Some(""));
    assert_eq!(n.description.as_deref(), Some(""));
    assert_eq!(n.title.as_deref(), Some(""));
    assert_eq!(n.df_type, Some(DfType::Mime(String::new())));
    assert_eq!(
        (n.path.as_deref(), n.value.as_deref()),
        (Some(""), Some(""))
    );
}

// ------------------------------------------------------------------ Node

#[test]
fn a_node_without_node_name_or_df_properties_is_refused() {
    let text = doc(&format!("<Node><DFProperties>{LEAF}</DFProperties></Node>"));
    refused_at(&refused(&text), &text, "<Node>", 0, "has no <NodeName>");
    let text = doc("<Node><NodeName>A</NodeName></Node>");
    refused_at(&refused(&text), &text, "<Node>", 0, "has no <DFProperties>");
}

/// A leaf `Node` with `head` before its `DFProperties` and `rest` after.
fn node_parts(head: &str, rest: &str) -> String {
    doc(&format!(
        "<Node>\n{head}\n<DFProperties>\n{LEAF}\n</DFProperties>\n{rest}</Node>"
    ))
}

#[test]
fn repeated_node_name_path_and_value_are_kept_when_equal_and_refused_when_not() {
    for (element, head, rest) in [
        (
            "NodeName",
            "<NodeName>A</NodeName>\n<NodeName>A</NodeName>",
            "",
        ),
        (
            "Path",
            "<NodeName>A</NodeName>\n<Path>./X</Path>\n<Path>./X</Path>",
            "",
        ),
        (
            "Value",
            "<NodeName>A</NodeName>",
            "<Value>1</Value>\n<Value>1</Value>\n",
        ),
    ] {
        let text = node_parts(head, rest);
        let parsed = read(&text);
        let w = only(&parsed, &text, "repeated", &format!("<{element}>"), 1);
        assert_eq!(
            w.kind,
            WarningKind::Repeated {
                element: element.into()
            }
        );
    }
    for (element, head, rest, nth) in [
        (
            "NodeName",
            "<NodeName>A</NodeName>\n<NodeName>B</NodeName>",
            "",
            1,
        ),
        (
            "Path",
            "<NodeName>A</NodeName>\n<Path>./X</Path>\n<Path>./Y</Path>",
            "",
            1,
        ),
        (
            "Data",
            "<NodeName>A</NodeName>",
            "<Value>1</Value>\n<Data>2</Data>\n",
            0,
        ),
    ] {
        let text = node_parts(head, rest);
        refused_at(
            &refused(&text),
            &text,
            &format!("<{element}>"),
            nth,
            &format!("<{element}> appears again with a different value"),
        );
    }
}

#[test]
fn a_repeated_type_keeps_the_first() {
    let text = doc(&node(
        "A",
        LEAF,
        "<Type>text/plain</Type>\n<Type>text/html</Type>\n",
    ));
    let parsed = read(&text);
    only(&parsed, &text, "repeated_differing", "<Type>", 1);
    assert_eq!(first(&parsed).value_type.as_deref(), Some("text/plain"));
}

#[test]
fn a_second_df_properties_is_merged() {
    let text = doc(
        "<Node>\n<NodeName>A</NodeName>\n<DFProperties>\n<AccessType><Get/></AccessType>\n</DFProperties>\n<DFProperties>\n<DFFormat><int/></DFFormat>\n<Scope><Permanent/></Scope>\n</DFProperties>\n</Node>",
    );
    let parsed = read(&text);
    let w = only(&parsed, &text, "merged", "<DFProperties>", 1);
    assert_eq!(w.path, "MgmtTree/Node[A]/DFProperties");
    let n = first(&parsed);
    assert_eq!(
        (n.access_type, n.format, n.scope),
        (AccessType::GET, NodeFormat::Int, Scope::Permanent)
    );
    // The rules for repeats apply across the two.
    let text = doc(
        "<Node>\n<NodeName>A</NodeName>\n<DFProperties>\n<AccessType/>\n<DFFormat><chr/></DFFormat>\n</DFProperties>\n<DFProperties>\n<DFFormat><int/></DFFormat>\n</DFProperties>\n</Node>",
    );
    refused_at(
        &refused(&text),
        &text,
        "<int/>",
        0,
        "<DFFormat> appears again with a different value",
    );
}

#[test]
fn rt_properties_are_ignored() {
    let text = node_parts(
        "<NodeName>A</NodeName>\n<RTProperties><ACL>Get=*</ACL><Unknown/></RTProperties>\n<RTProperties/>",
        "",
    );
    let parsed = read(&text);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert!(first(&parsed).extensions.is_empty());
}

// ------------------------------------------------------------ AccessType

#[test]
fn a_missing_access_type_grants_nothing() {
    let text = doc(&node("A", "<DFFormat><chr/></DFFormat>", ""));
    let parsed = read(&text);
    let w = only(&parsed, &text, "missing", "<DFProperties>", 0);
    assert_eq!(
        w.kind,
        WarningKind::Missing {
            element: "AccessType".into(),
            parent: "DFProperties".into(),
            read_as: "no access rights".into()
        }
    );
    assert_eq!(first(&parsed).access_type, AccessType::NONE);
    assert!(first(&parsed).is_secret());
    // An empty AccessType is valid: no rights, no warning.
    let parsed = read(&doc(&node(
        "A",
        "<AccessType/>\n<DFFormat><chr/></DFFormat>",
        "",
    )));
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert_eq!(first(&parsed).access_type, AccessType::NONE);
}

#[test]
fn two_access_types_keep_only_the_rights_both_grant() {
    let props = "<AccessType><Get/><Replace/></AccessType>\n<AccessType><Get/><Delete/></AccessType>\n<DFFormat><chr/></DFFormat>";
    let text = doc(&node("A", props, ""));
    let parsed = read(&text);
    let w = only(&parsed, &text, "narrowed", "<AccessType>", 1);
    assert_eq!(
        w.kind,
        WarningKind::Narrowed {
            element: "AccessType".into(),
            kept: "Get".into()
        }
    );
    assert_eq!(first(&parsed).access_type, AccessType::GET);

    // Nothing in common: no rights.
    let props = "<AccessType><Get/></AccessType>\n<AccessType><Replace/></AccessType>\n<DFFormat><chr/></DFFormat>";
    let parsed = read(&doc(&node("A", props, "")));
    assert_eq!(first(&parsed).access_type, AccessType::NONE);

    // The same rights twice, or one right twice: repeated.
    let props = "<AccessType><Get/></AccessType>\n<AccessType><Get/></AccessType>\n<DFFormat><chr/></DFFormat>";
    let text = doc(&node("A", props, ""));
    only(&read(&text), &text, "repeated", "<AccessType>", 1);
    let props = "<AccessType><Get/><Get/></AccessType>\n<DFFormat><chr/></DFFormat>";
    let text = doc(&node("A", props, ""));
    let parsed = read(&text);
    only(&parsed, &text, "repeated", "<Get/>", 1);
    assert_eq!(first(&parsed).access_type, AccessType::GET);
}

#[test]
fn unknown_access_rights_grant_nothing() {
    let props = "<AccessType><Get/><Read/><V:Replace xmlns:V=\"urn:v\"/></AccessType>\n<DFFormat><chr/></DFFormat>";
    let text = doc(&node("A", props, ""));
    let parsed = read(&text);
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert_eq!(
        parsed.warnings[0].kind,
        WarningKind::UnknownValue {
            element: "AccessType".into(),
            value: "Read".into(),
            read_as: "no right".into()
        }
    );
    let p = parsed.warnings[1].position;
    assert_eq!((p.line, p.column), line_column(&text, "<V:Replace", 0));
    assert_eq!(first(&parsed).access_type, AccessType::GET);
}

// -------------------------------------------------------------- DFFormat

#[test]
fn a_missing_empty_or_unknown_df_format_is_refused() {
    let text = doc(&node("A", "<AccessType/>", ""));
    refused_at(
        &refused(&text),
        &text,
        "<DFProperties>",
        0,
        "has no <DFFormat>",
    );
    let text = doc(&node("A", "<AccessType/>\n<DFFormat/>", ""));
    refused_at(
        &refused(&text),
        &text,
        "<DFFormat/>",
        0,
        "<DFFormat> is empty",
    );
    let text = doc(&node(
        "A",
        "<AccessType/>\n<DFFormat><string/></DFFormat>",
        "",
    ));
    refused_at(
        &refused(&text),
        &text,
        "<string/>",
        0,
        "unknown DFFormat <string>",
    );
    // Text is not read as a format.
    let text = doc(&node("A", "<AccessType/>\n<DFFormat>chr</DFFormat>", ""));
    refused_at(
        &refused(&text),
        &text,
        "<DFFormat>",
        0,
        "<DFFormat> is empty",
    );
}

#[test]
fn a_repeated_df_format_is_kept_when_equal_and_refused_when_not() {
    // The refused report of the issue: "holds more than one element".
    let text = doc(&node(
        "A",
        "<AccessType/>\n<DFFormat><chr/><chr/></DFFormat>",
        "",
    ));
    let parsed = read(&text);
    let w = only(&parsed, &text, "repeated", "<chr/>", 1);
    assert_eq!(
        w.kind,
        WarningKind::Repeated {
            element: "DFFormat".into()
        }
    );
    assert_eq!(first(&parsed).format, NodeFormat::Chr);
    let text = doc(&node(
        "A",
        "<AccessType/>\n<DFFormat><node/></DFFormat>\n<DFFormat><node/></DFFormat>",
        "",
    ));
    only(&read(&text), &text, "repeated", "<node/>", 1);

    let text = doc(&node(
        "A",
        "<AccessType/>\n<DFFormat><chr/><int/></DFFormat>",
        "",
    ));
    refused_at(
        &refused(&text),
        &text,
        "<int/>",
        0,
        "<DFFormat> appears again with a different value",
    );
}

#[test]
fn vendor_values_in_value_elements_are_ignored() {
    let text = format!(
        "<MgmtTree xmlns:V=\"urn:v\">\n<VerDTD>1.2</VerDTD>\n{}\n</MgmtTree>",
        node(
            "A",
            "<AccessType/>\n<DFFormat><chr/><V:string/></DFFormat>",
            ""
        )
    );
    let parsed = read(&text);
    let w = only(&parsed, &text, "unknown_value", "<V:string/>", 0);
    assert_eq!(
        w.kind,
        WarningKind::UnknownValue {
            element: "DFFormat".into(),
            value: "V:string".into(),
            read_as: "nothing".into()
        }
    );
    assert_eq!(first(&parsed).format, NodeFormat::Chr);
}

// ----------------------------------------- Occurrence, Scope, CaseSense, DFType

#[test]
fn empty_value_elements_read_as_absent() {
    for element in ["Occurrence", "Scope", "CaseSense", "DFType"] {
        let text = leaf_with(&format!("<{element}></{element}>"));
        let parsed = read(&text);
        let w = only(&parsed, &text, "empty", &format!("<{element}>"), 0);
        assert_eq!(
            w.kind,
            WarningKind::Empty {
                element: element.into()
            }
        );
        let n = first(&parsed);
        assert_eq!(
            (n.occurrence, n.scope, n.case_sense, n.df_type.as_ref()),
            (Occurrence::One, Scope::Dynamic, CaseSense::Cs, None)
        );
    }
}

#[test]
fn an_unknown_occurrence_is_ignored() {
    let text = leaf_with("<Occurrence><Many/></Occurrence>");
    let parsed = read(&text);
    let w = only(&parsed, &text, "unknown_value", "<Many/>", 0);
    assert_eq!(
        w.kind,
        WarningKind::UnknownValue {
            element: "Occurrence".into(),
            value: "Many".into(),
            read_as: "absent".into()
        }
    );
    assert_eq!(first(&parsed).occurrence, Occurrence::One);
    // Beside a known value, the known value holds.
    let parsed = read(&leaf_with("<Occurrence><Many/><ZeroOrMore/></Occurrence>"));
    assert_eq!(first(&parsed).occurrence, Occurrence::ZeroOrMore);
}

#[test]
fn a_repeated_occurrence_is_kept_when_equal_and_refused_when_not() {
    let text = leaf_with("<Occurrence><ZeroOrN>3</ZeroOrN><ZeroOrN> 3 </ZeroOrN></Occurrence>");
    let parsed = read(&text);
    only(&parsed, &text, "repeated", "<ZeroOrN>", 1);
    assert_eq!(first(&parsed).occurrence, Occurrence::ZeroOrN(Some(3)));

    let text = leaf_with("<Occurrence><One/></Occurrence>\n<Occurrence><ZeroOrMore/></Occurrence>");
    refused_at(
        &refused(&text),
        &text,
        "<ZeroOrMore/>",
        0,
        "<Occurrence> appears again with a different value",
    );
}

#[test]
fn an_occurrence_bound_that_is_not_a_number_is_refused() {
    for bad in ["lots", "-1", "N", "4294967296"] {
        let text = leaf_with(&format!(
            "<Occurrence><ZeroOrN>{bad}</ZeroOrN></Occurrence>"
        ));
        refused_at(
            &refused(&text),
            &text,
            "<ZeroOrN>",
            0,
            "not a number of nodes",
        );
    }
    // Empty: unbounded, as in published files.
    let parsed = read(&leaf_with("<Occurrence><OneOrN/></Occurrence>"));
    assert!(parsed.warnings.is_empty());
    assert_eq!(first(&parsed).occurrence, Occurrence::OneOrN(None));
}

#[test]
fn an_unknown_or_conflicting_scope_reads_as_permanent() {
    let text = leaf_with("<Scope><Forever/></Scope>");
    let parsed = read(&text);
    let w = only(&parsed, &text, "unknown_value", "<Forever/>", 0);
    assert_eq!(
        w.kind,
        WarningKind::UnknownValue {
            element: "Scope".into(),
            value: "Forever".into(),
            read_as: "Permanent".into()
        }
    );
    assert_eq!(first(&parsed).scope, Scope::Permanent);

    let text = leaf_with("<Scope><Dynamic/><Permanent/></Scope>");
    let parsed = read(&text);
    let w = only(&parsed, &text, "narrowed", "<Permanent/>", 0);
    assert_eq!(
        w.kind,
        WarningKind::Narrowed {
            element: "Scope".into(),
            kept: "Permanent".into()
        }
    );
    assert_eq!(first(&parsed).scope, Scope::Permanent);

    let text = leaf_with("<Scope><Dynamic/></Scope>\n<Scope><Dynamic/></Scope>");
    let parsed = read(&text);
    only(&parsed, &text, "repeated", "<Dynamic/>", 1);
    assert_eq!(first(&parsed).scope, Scope::Dynamic);
}

#[test]
fn an_unknown_or_conflicting_case_sense_reads_as_cs() {
    let text = leaf_with("<CaseSense><CI/></CaseSense>");
    let parsed = read(&text);
    only(&parsed, &text, "unknown_value", "<CI/>", 0);
    assert_eq!(first(&parsed).case_sense, CaseSense::Cs);

    let text = leaf_with("<CaseSense><CIS/><CS/></CaseSense>");
    let parsed = read(&text);
    let w = only(&parsed, &text, "narrowed", "<CS/>", 0);
    assert_eq!(
        w.kind,
        WarningKind::Narrowed {
            element: "CaseSense".into(),
            kept: "CS".into()
        }
    );
    assert_eq!(first(&parsed).case_sense, CaseSense::Cs);
}

#[test]
fn an_unknown_df_type_is_ignored() {
    let text = leaf_with("<DFType><URN>x</URN></DFType>");
    let parsed = read(&text);
    only(&parsed, &text, "unknown_value", "<URN>", 0);
    assert_eq!(first(&parsed).df_type, None);
}

#[test]
fn mime_and_ddf_name_together_keep_the_one_that_fits_the_format() {
    let text = doc(&node(
        "A",
        "<AccessType><Get/></AccessType>\n<DFFormat><node/></DFFormat>\n<DFType><MIME>text/plain</MIME><DDFName>urn:oma:mo:x:1.0</DDFName></DFType>",
        "",
    ));
    let parsed = read(&text);
    let w = only(&parsed, &text, "narrowed", "<MIME>", 0);
    assert_eq!(
        w.kind,
        WarningKind::Narrowed {
            element: "DFType".into(),
            kept: "DDFName".into()
        }
    );
    assert_eq!(
        first(&parsed).df_type,
        Some(DfType::DdfName("urn:oma:mo:x:1.0".into()))
    );
    assert_eq!(parsed.definition.ddf_name(), Some("urn:oma:mo:x:1.0"));

    let text = leaf_with("<DFType><DDFName/></DFType>\n<DFType><MIME>text/plain</MIME></DFType>");
    let parsed = read(&text);
    only(&parsed, &text, "narrowed", "<DDFName/>", 0);
    assert_eq!(
        first(&parsed).df_type,
        Some(DfType::Mime("text/plain".into()))
    );
}

#[test]
fn repeated_mime_keeps_the_first_and_a_second_ddf_name_is_refused() {
    let text = leaf_with("<DFType><MIME>text/plain</MIME><MIME>text/html</MIME></DFType>");
    let parsed = read(&text);
    only(&parsed, &text, "repeated_differing", "<MIME>", 1);
    assert_eq!(
        first(&parsed).df_type,
        Some(DfType::Mime("text/plain".into()))
    );

    let text = leaf_with("<DFType><DDFName>urn:a</DDFName><DDFName>urn:b</DDFName></DFType>");
    refused_at(
        &refused(&text),
        &text,
        "<DDFName>",
        1,
        "<DDFName> appears again with a different value",
    );
}

#[test]
fn a_repeated_default_value_is_kept_when_equal_and_refused_when_not() {
    let text = leaf_with("<DefaultValue>1</DefaultValue>\n<DefaultValue>1</DefaultValue>");
    let parsed = read(&text);
    only(&parsed, &text, "repeated", "<DefaultValue>", 1);
    assert_eq!(first(&parsed).default_value.as_deref(), Some("1"));
    let text = leaf_with("<DefaultValue>1</DefaultValue>\n<DefaultValue>0</DefaultValue>");
    refused_at(
        &refused(&text),
        &text,
        "<DefaultValue>",
        1,
        "<DefaultValue> appears again with a different value",
    );
}

// ------------------------------------------------------------- realistic

/// Modeled on a vendor CSP DDF: a DOCTYPE with a processing instruction, an
/// `<!ENTITY` sample inside a comment, vendor elements, a repeated
/// `Description`, an empty `DFTitle`, a vendor child in `DFFormat` and an
/// `Occurrence` holding its value twice.
#[test]
fn a_vendor_ddf_with_departures_is_read() {
    let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE MgmtTree PUBLIC " -//OMA//DTD-DM-DDF 1.2//EN"
  "http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd"[<?oma-dm-ddf-ver supported-versions="1.2"?>]>
<!-- Do not declare entities such as <!ENTITY vendor "ACME"> in this file. -->
<MgmtTree xmlns:MSFT="http://schemas.microsoft.com/MobileDevice/DM">
  <VerDTD>1.2</VerDTD>
  <MSFT:Diagnostics />
  <Node>
    <NodeName>Policy</NodeName>
    <Path>./Vendor/ACME</Path>
    <DFProperties>
      <AccessType>
        <Get />
      </AccessType>
      <Description>Root of the ACME policies.</Description>
      <Description>Root of the ACME policies (second copy).</Description>
      <DFFormat>
        <node />
      </DFFormat>
      <Occurrence>
        <One />
      </Occurrence>
      <Scope>
        <Permanent />
      </Scope>
      <DFTitle />
      <DFType>
        <DDFName>urn:acme:mo:policy:1.0</DDFName>
      </DFType>
      <MSFT:Applicability>
        <MSFT:OsBuildVersion>10.0.10240</MSFT:OsBuildVersion>
      </MSFT:Applicability>
    </DFProperties>
    <Node>
      <NodeName>AllowCamera</NodeName>
      <DFProperties>
        <AccessType>
          <Add />
          <Delete />
          <Get />
          <Replace />
        </AccessType>
        <DefaultValue>1</DefaultValue>
        <Description>Whether the camera may be used.</Description>
        <DFFormat>
          <int />
          <MSFT:Format>int32</MSFT:Format>
        </DFFormat>
        <Occurrence>
          <ZeroOrOne />
          <ZeroOrOne />
        </Occurrence>
        <Scope>
          <Dynamic />
        </Scope>
        <DFType>
          <MIME>text/plain</MIME>
        </DFType>
        <MSFT:AllowedValues ValueType="ENUM">
          <MSFT:Enum><MSFT:Value>0</MSFT:Value></MSFT:Enum>
          <MSFT:Enum><MSFT:Value>1</MSFT:Value></MSFT:Enum>
        </MSFT:AllowedValues>
      </DFProperties>
    </Node>
  </Node>
</MgmtTree>
"#;
    // Refused before: "<DFFormat> holds more than one element".
    let parsed = read(text);
    let def = &parsed.definition;
    assert_eq!(def.ddf_name(), Some("urn:acme:mo:policy:1.0"));
    assert_eq!((def.node_count(), def.max_depth()), (2, 2));
    assert_eq!(def.extensions[0].name, "MSFT:Diagnostics");
    let root = &def.nodes[0];
    assert_eq!(
        root.description.as_deref(),
        Some("Root of the ACME policies.")
    );
    assert_eq!(root.title.as_deref(), Some(""));
    assert_eq!(
        (root.format, root.scope),
        (NodeFormat::Node, Scope::Permanent)
    );
    assert_eq!(root.extensions[0].name, "MSFT:Applicability");
    let camera = def
        .lookup_path("Policy/AllowCamera")
        .expect("AllowCamera defined");
    assert_eq!(camera.format, NodeFormat::Int);
    assert_eq!(camera.occurrence, Occurrence::ZeroOrOne);
    assert_eq!(camera.default_value.as_deref(), Some("1"));
    assert!(camera.access_type.contains(AccessType::REPLACE));
    assert_eq!(camera.extensions[0].attribute("ValueType"), Some("ENUM"));

    let found: Vec<(usize, usize, &str, &str)> = parsed
        .warnings
        .iter()
        .map(|w| {
            (
                w.position.line,
                w.position.column,
                w.kind.code(),
                w.path.as_str(),
            )
        })
        .collect();
    let at = |needle, nth| line_column(text, needle, nth);
    let expected = [
        (at("<!ENTITY", 0), "entity_text_ignored", ""),
        (
            at("<Description>", 1),
            "repeated_differing",
            "MgmtTree/Node[Policy]/DFProperties/Description",
        ),
        (
            at("<MSFT:Format>", 0),
            "unknown_value",
            "MgmtTree/Node[Policy]/Node[AllowCamera]/DFProperties/DFFormat/MSFT:Format",
        ),
        (
            at("<ZeroOrOne />", 1),
            "repeated",
            "MgmtTree/Node[Policy]/Node[AllowCamera]/DFProperties/Occurrence/ZeroOrOne",
        ),
    ];
    let expected: Vec<(usize, usize, &str, &str)> = expected
        .into_iter()
        .map(|((line, column), code, path)| (line, column, code, path))
        .collect();
    assert_eq!(found, expected);
    assert_eq!((expected[0].0, expected[0].1), (4, 38));
    assert_eq!(
        parsed.warnings[1].to_string(),
        format!(
            "line 16, column 7 (byte {}), MgmtTree/Node[Policy]/DFProperties/Description: \
             <Description> appears again with other content; the first is kept",
            text.find("<Description>Root of the ACME policies (")
                .expect("in the text")
        )
    );
}

// ----------------------------------------------------------------- corpus

/// The published files of the corpus depart from the DTD only in the order
/// of elements.
#[test]
fn corpus_files_warn_only_about_order() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/ddf");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let mut with_warnings = 0;
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().expect("a file column");
        let bytes = std::fs::read(dir.join(file)).expect("corpus file");
        let parsed = MoDefinition::parse_with_warnings(&bytes, &Limits::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        check_positions(text, &parsed.warnings);
        for w in &parsed.warnings {
            assert_eq!(w.kind.code(), "out_of_order", "{file}: {w}");
        }
        with_warnings += usize::from(!parsed.warnings.is_empty());
    }
    assert_eq!(with_warnings, 17);
}
