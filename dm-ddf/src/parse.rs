//! DDF XML to [`MoDefinition`], on top of `roxmltree`.
//!
//! The XML crate does the XML; this module maps the `MgmtTree` vocabulary
//! (docs/protocol.md section 10.1) onto the typed definition, reads past
//! the departures from the DTD that real publishers ship when their meaning
//! is clear (each reported as a [`Warning`]), and says where a document
//! breaks it otherwise. The decisions, element by element, are listed in
//! docs/protocol.md section 10.1.

use std::cell::RefCell;
use std::collections::HashMap;

use dm_types::{AccessType, NodeFormat, Occurrence, Scope};
use roxmltree::{Document, Node, NodeId, ParsingOptions};

use crate::warning::short;
use crate::{
    CaseSense, DfType, Error, Extension, MoDefinition, MoVersion, NodeDefinition, NodeNameDef,
    Parsed, Position, Warning, WarningKind, prolog,
};

/// Bounds on the work and memory of parsing one DDF document.
///
/// The defaults admit every published DDF we know (the largest is under
/// 1 MB with Node nesting of 9) with a wide margin.
///
/// ```
/// use dm_ddf::{Error, Limits, MoDefinition};
///
/// let tight = Limits { max_bytes: 10, ..Limits::default() };
/// let err = MoDefinition::parse_with(b"<MgmtTree><VerDTD>1.2</VerDTD></MgmtTree>", &tight).unwrap_err();
/// assert!(matches!(err, Error::TooLarge { size: 41, limit: 10 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest document accepted, in bytes (default 16 MiB).
    pub max_bytes: usize,
    /// The deepest element nesting the parser descends into (default 64;
    /// values above [`Limits::DEPTH_CEILING`] count as that ceiling, which
    /// keeps recursion over a definition within any thread's stack).
    pub max_depth: usize,
    /// The most XML nodes (elements, text runs, comments, processing
    /// instructions) a document may hold (default 2,000,000).
    pub max_xml_nodes: u32,
    /// The most [`Warning`]s listed for one document (default 1,000); past
    /// it, one [`WarningKind::TooManyWarnings`] ends the list and reading
    /// goes on.
    pub max_warnings: usize,
}

impl Limits {
    /// The highest element nesting depth honoured.
    pub const DEPTH_CEILING: usize = 256;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 << 20,
            max_depth: 64,
            max_xml_nodes: 2_000_000,
            max_warnings: 1000,
        }
    }
}

/// The `VerDTD` values accepted: 1.1, 1.2 and 1.3, with or without further
/// numeric components (`1.1.2`).
const SUPPORTED_DTD: [&str; 3] = ["1.1", "1.2", "1.3"];

impl MoDefinition {
    /// Parses a DDF document from bytes with the default [`Limits`].
    ///
    /// The bytes must be UTF-8 (a byte order mark is allowed); anything
    /// else is refused with the position of the first bad byte. Departures
    /// from the DTD that the reader understood are read past; use
    /// [`MoDefinition::parse_with_warnings`] to have them listed.
    ///
    /// ```
    /// use dm_ddf::{Error, MoDefinition};
    ///
    /// let def = MoDefinition::parse(b"\xEF\xBB\xBF<MgmtTree><VerDTD>1.2</VerDTD></MgmtTree>")?;
    /// assert!(def.nodes.is_empty());
    ///
    /// let err = MoDefinition::parse(b"<MgmtTree>\n<VerDTD>1.\x922</VerDTD></MgmtTree>").unwrap_err();
    /// assert!(matches!(err, Error::Utf8 { .. }));
    /// assert_eq!(err.position().map(|p| (p.offset, p.line, p.column)), Some((21, 2, 11)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<MoDefinition, Error> {
        MoDefinition::parse_with(bytes, &Limits::default())
    }

    /// Parses a DDF document from bytes within `limits`.
    ///
    /// ```
    /// use dm_ddf::{Limits, MoDefinition};
    ///
    /// let def = MoDefinition::parse_with(b"<MgmtTree><VerDTD>1.3</VerDTD></MgmtTree>", &Limits::default())?;
    /// assert_eq!(def.ver_dtd, "1.3");
    /// # Ok::<(), dm_ddf::Error>(())
    /// ```
    pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<MoDefinition, Error> {
        MoDefinition::parse_with_warnings(bytes, limits).map(|p| p.definition)
    }

    /// Parses a DDF document from bytes within `limits`, listing the
    /// departures from the DTD read past, each with its position
    /// (docs/protocol.md section 10.1).
    ///
    /// ```
    /// use dm_ddf::{Limits, MoDefinition, WarningKind};
    ///
    /// let text = "<MgmtTree><VerDTD>1.2</VerDTD>\n<Node><NodeName>A</NodeName><DFProperties>\
    ///     <AccessType><Get/></AccessType><DFFormat><chr/><chr/></DFFormat></DFProperties></Node></MgmtTree>";
    /// let parsed = MoDefinition::parse_with_warnings(text.as_bytes(), &Limits::default())?;
    /// assert_eq!(parsed.definition.nodes[0].format, dm_types::NodeFormat::Chr);
    /// let w = &parsed.warnings[0];
    /// assert!(matches!(&w.kind, WarningKind::Repeated { element } if element == "DFFormat"));
    /// assert_eq!((w.position.line, w.position.column), (2, 90));
    /// assert_eq!(w.path, "MgmtTree/Node[A]/DFProperties/DFFormat/chr");
    /// # Ok::<(), dm_ddf::Error>(())
    /// ```
    pub fn parse_with_warnings(bytes: &[u8], limits: &Limits) -> Result<Parsed, Error> {
        check_size(bytes.len(), limits)?;
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Utf8 {
            position: Position::locate_bytes(bytes, e.valid_up_to()),
        })?;
        parse_text(text, limits)
    }

    /// Parses a DDF document from text with the default [`Limits`].
    ///
    /// ```
    /// use dm_ddf::{Error, MoDefinition};
    ///
    /// let err = MoDefinition::parse_str("<MgmtTree><VerDTD>1.2</VerDTD>\n<Node><NodeName>A</NodeName></Node></MgmtTree>")
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::Ddf { .. }));
    /// assert_eq!(err.to_string(), "invalid DDF at line 2, column 1 (byte 31): <Node> has no <DFProperties>");
    /// ```
    pub fn parse_str(text: &str) -> Result<MoDefinition, Error> {
        MoDefinition::parse_str_with(text, &Limits::default())
    }

    /// Parses a DDF document from text within `limits`.
    ///
    /// ```
    /// use dm_ddf::{Error, Limits, MoDefinition};
    ///
    /// let deep = format!("<MgmtTree><VerDTD>1.2</VerDTD>{}", "<Node>".repeat(20));
    /// let limits = Limits { max_depth: 8, ..Limits::default() };
    /// let err = MoDefinition::parse_str_with(&deep, &limits).unwrap_err();
    /// assert!(matches!(err, Error::Xml { .. } | Error::Limit { .. }));
    /// ```
    pub fn parse_str_with(text: &str, limits: &Limits) -> Result<MoDefinition, Error> {
        MoDefinition::parse_str_with_warnings(text, limits).map(|p| p.definition)
    }

    /// Parses a DDF document from text within `limits`, listing the
    /// departures from the DTD read past ([`MoDefinition::parse_with_warnings`]).
    ///
    /// ```
    /// use dm_ddf::{Limits, MoDefinition, WarningKind};
    ///
    /// let parsed = MoDefinition::parse_str_with_warnings(
    ///     "<!-- <!ENTITY x 'y'> -->\n<MgmtTree><VerDTD>1.2</VerDTD></MgmtTree>",
    ///     &Limits::default(),
    /// )?;
    /// let kinds: Vec<&str> = parsed.warnings.iter().map(|w| w.kind.code()).collect();
    /// assert_eq!(kinds, ["entity_text_ignored", "missing"]);
    /// # Ok::<(), dm_ddf::Error>(())
    /// ```
    pub fn parse_str_with_warnings(text: &str, limits: &Limits) -> Result<Parsed, Error> {
        check_size(text.len(), limits)?;
        parse_text(text, limits)
    }
}

impl std::str::FromStr for MoDefinition {
    type Err = Error;

    /// [`MoDefinition::parse_str`].
    fn from_str(text: &str) -> Result<MoDefinition, Error> {
        MoDefinition::parse_str(text)
    }
}

fn check_size(size: usize, limits: &Limits) -> Result<(), Error> {
    if size > limits.max_bytes {
        return Err(Error::TooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

fn parse_text(text: &str, limits: &Limits) -> Result<Parsed, Error> {
    // Entity declarations are blanked before the XML parser sees them, so
    // no entity is ever expanded (see `prolog`).
    let prolog = prolog::read(text)?;
    let options = ParsingOptions {
        allow_dtd: true,
        nodes_limit: limits.max_xml_nodes,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(&prolog.text, options)
        .map_err(|e| xml_error(&prolog.text, text, &e, limits))?;
    let reader = Reader {
        text,
        max_depth: limits.max_depth.min(Limits::DEPTH_CEILING),
        ddf_namespace: doc.root_element().tag_name().namespace(),
        warnings: RefCell::new(Warnings {
            found: Vec::new(),
            limit: limits.max_warnings,
            overflow: None,
        }),
        node_names: RefCell::default(),
    };
    for (offset, kind) in prolog.findings {
        reader.warn_at(offset, String::new, kind);
    }
    let definition = reader.mgmt_tree(doc.root_element())?;
    // `<!ENTITY` after the prolog can only be in a comment, a CDATA section
    // or a processing instruction: the XML parser refuses it elsewhere.
    if prolog.text[prolog.end..].contains("<!ENTITY") {
        for node in doc.root().descendants() {
            let range = node.range();
            if node.is_element() || range.start < prolog.end {
                continue;
            }
            let raw = prolog.text.get(range.clone()).unwrap_or_default();
            for (i, _) in raw.match_indices("<!ENTITY") {
                reader.warn_at(
                    range.start + i,
                    || {
                        node.parent_element()
                            .map(|p| reader.element_path(p))
                            .unwrap_or_default()
                    },
                    WarningKind::EntityTextIgnored,
                );
            }
        }
    }
    let warnings = reader.warnings.into_inner().finish(text);
    Ok(Parsed {
        definition,
        warnings,
    })
}

/// `parsed` is the text the XML parser read (entity declarations blanked,
/// every offset unchanged); positions are given in `original`.
fn xml_error(parsed: &str, original: &str, error: &roxmltree::Error, limits: &Limits) -> Error {
    if matches!(error, roxmltree::Error::NodesLimitReached) {
        return Error::Limit {
            what: "XML nodes",
            limit: usize::try_from(limits.max_xml_nodes).unwrap_or(usize::MAX),
            position: Position::locate(original, original.len()),
        };
    }
    let position = match error {
        // The XML parser reports these at 1:1; they are found at the end.
        roxmltree::Error::UnclosedRootNode | roxmltree::Error::UnexpectedEndOfStream => {
            Position::locate(original, original.len())
        }
        _ => {
            let pos = error.pos();
            let line = usize::try_from(pos.row).unwrap_or(usize::MAX);
            let column = usize::try_from(pos.col).unwrap_or(usize::MAX);
            let offset = Position::from_line_column(parsed, line, column).offset;
            Position::locate(original, offset)
        }
    };
    if let roxmltree::Error::UnknownEntityReference(name, _) = error {
        return Error::EntityReference {
            name: short(name),
            position,
        };
    }
    // The message ends with the parser's own " at line:column"; ours is in
    // the position.
    let message = error.to_string();
    let own_position = format!(" at {}", error.pos());
    Error::Xml {
        position,
        message: message
            .strip_suffix(&own_position)
            .map_or_else(|| message.clone(), str::to_owned),
    }
}

/// The warnings of one document, up to the limit.
struct Warnings {
    /// (offset, element path, kind), in the order found.
    found: Vec<(usize, String, WarningKind)>,
    limit: usize,
    /// The offset and path of the first warning past the limit.
    overflow: Option<(usize, String)>,
}

impl Warnings {
    /// Sorts the warnings by offset and gives them their positions (one
    /// pass over the text).
    fn finish(mut self, text: &str) -> Vec<Warning> {
        self.found.sort_by_key(|(offset, _, _)| *offset);
        if let Some((offset, path)) = self.overflow {
            self.found.push((
                offset,
                path,
                WarningKind::TooManyWarnings { limit: self.limit },
            ));
        }
        let mut cursor = Cursor::default();
        self.found
            .into_iter()
            .map(|(offset, path, kind)| Warning {
                position: cursor.advance(text, offset),
                path,
                kind,
            })
            .collect()
    }
}

/// Positions of increasing offsets in one text, found incrementally.
struct Cursor {
    offset: usize,
    line: usize,
    column: usize,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            offset: 0,
            line: 1,
            column: 1,
        }
    }
}

impl Cursor {
    fn advance(&mut self, text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        if offset < self.offset {
            // Only the overflow warning can come back; locate it afresh.
            return Position::locate(text, offset);
        }
        let between = &text.as_bytes()[self.offset..offset];
        let chars = |bytes: &[u8]| bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        match between.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                // One more piece than there are line feeds.
                self.line += between.split(|&b| b == b'\n').count() - 1;
                self.column = 1 + chars(&between[last + 1..]);
            }
            None => self.column += chars(between),
        }
        self.offset = offset;
        Position {
            offset,
            line: self.line,
            column: self.column,
        }
    }
}

/// What to do with a second occurrence of an element allowed once, when
/// its content differs from the first.
#[derive(Clone, Copy)]
enum Repeat {
    /// Keep the first and warn: descriptive content.
    KeepFirst,
    /// Refuse: the two readings differ in what the definition allows.
    Refuse,
}

/// A property read once, with the element it came from.
type Slot<'a, 'i, T> = Option<(T, Node<'a, 'i>)>;

/// Tracks the DTD order of the children of one element.
struct Order {
    rank: usize,
    name: &'static str,
}

impl Order {
    fn new() -> Order {
        Order { rank: 0, name: "" }
    }
}

/// Maps the elements of one parsed document.
struct Reader<'t> {
    /// The original text (positions are given in it).
    text: &'t str,
    max_depth: usize,
    /// The namespace of `MgmtTree` (normally none): elements in it are DDF
    /// elements, others are vendor extensions.
    ddf_namespace: Option<&'t str>,
    warnings: RefCell<Warnings>,
    /// The `NodeName` text of each `Node` named in a warning's path, read
    /// once (a `Node` may hold many children before its `NodeName`).
    node_names: RefCell<HashMap<NodeId, String>>,
}

/// The `DFProperties` of one `Node` as read so far (several
/// `DFProperties` elements add to the same).
#[derive(Default)]
struct Properties<'a, 'i> {
    first: Option<Node<'a, 'i>>,
    access: Slot<'a, 'i, AccessType>,
    format: Slot<'a, 'i, NodeFormat>,
    occurrence: Slot<'a, 'i, Occurrence>,
    scope: Slot<'a, 'i, Scope>,
    default_value: Slot<'a, 'i, String>,
    description: Slot<'a, 'i, String>,
    title: Slot<'a, 'i, String>,
    mime: Slot<'a, 'i, String>,
    ddf_name: Slot<'a, 'i, String>,
    case_sense: Slot<'a, 'i, CaseSense>,
}

impl Reader<'_> {
    fn error(&self, el: Node<'_, '_>, message: impl Into<String>) -> Error {
        Error::Ddf {
            position: Position::locate(self.text, el.range().start),
            message: message.into(),
        }
    }

    /// Records a warning at `offset`; `path` is only computed when the
    /// warning is kept.
    fn warn_at(&self, offset: usize, path: impl FnOnce() -> String, kind: WarningKind) {
        let mut warnings = self.warnings.borrow_mut();
        if warnings.found.len() < warnings.limit {
            let path = path();
            warnings.found.push((offset, path, kind));
        } else if warnings.overflow.is_none() {
            let path = path();
            warnings.overflow = Some((offset, path));
        }
    }

    /// Records a warning about `el` (an element or a text).
    fn warn(&self, el: Node<'_, '_>, kind: WarningKind) {
        self.warn_at(el.range().start, || self.element_path(el), kind);
    }

    /// `MgmtTree/Node[DevInfo]/DFProperties/DFTitle`: the elements from the
    /// root to `el` (or to the element holding a text), each `Node` with
    /// its `NodeName`.
    fn element_path(&self, el: Node<'_, '_>) -> String {
        let mut parts: Vec<String> = el
            .ancestors()
            .filter(Node::is_element)
            .map(|a| {
                if self.is_ddf(a) && a.tag_name().name() == "Node" {
                    let mut names = self.node_names.borrow_mut();
                    let name = names.entry(a.id()).or_insert_with(|| {
                        let text: String = a
                            .children()
                            .find(|c| self.is_element(*c, "NodeName"))
                            .map(|n| {
                                n.children()
                                    .filter(Node::is_text)
                                    .filter_map(|t| t.text())
                                    .collect()
                            })
                            .unwrap_or_default();
                        short(text.trim())
                    });
                    format!("Node[{name}]")
                } else {
                    short(&qualified_name(a))
                }
            })
            .collect();
        parts.reverse();
        parts.join("/")
    }

    fn check_depth(&self, el: Node<'_, '_>, depth: usize) -> Result<(), Error> {
        if depth > self.max_depth {
            return Err(Error::Limit {
                what: "element nesting depth",
                limit: self.max_depth,
                position: Position::locate(self.text, el.range().start),
            });
        }
        Ok(())
    }

    fn is_ddf(&self, el: Node<'_, '_>) -> bool {
        el.tag_name().namespace() == self.ddf_namespace
    }

    /// Whether `el` is the DDF element `name`.
    fn is_element(&self, el: Node<'_, '_>, name: &str) -> bool {
        el.is_element() && self.is_ddf(el) && el.tag_name().name() == name
    }

    /// Warns when `el` comes before an element the DTD puts after it.
    fn order(&self, order: &mut Order, el: Node<'_, '_>, rank: usize, name: &'static str) {
        if rank < order.rank {
            self.warn(
                el,
                WarningKind::OutOfOrder {
                    element: name.to_owned(),
                    after: order.name.to_owned(),
                },
            );
        } else {
            order.rank = rank;
            order.name = name;
        }
    }

    /// Warns about text (other than white space) among the children of
    /// `el`, which the DTD fills with elements only.
    fn text_among_elements(&self, el: Node<'_, '_>) {
        for text in el.children().filter(Node::is_text) {
            if text.text().is_some_and(|t| !t.trim().is_empty()) {
                // At the first character that is not white space.
                let range = text.range();
                let raw = self.text.get(range.clone()).unwrap_or_default();
                let offset = range.start + (raw.len() - raw.trim_start().len());
                self.warn_at(
                    offset,
                    || self.element_path(el),
                    WarningKind::UnexpectedText {
                        element: short(&qualified_name(el)),
                    },
                );
            }
        }
    }

    /// An element of the DDF namespace that is not expected in `parent`:
    /// kept as an extension, with a warning.
    fn unknown(&self, el: Node<'_, '_>, parent: &str, depth: usize) -> Result<Extension, Error> {
        let extension = self.extension(el, depth)?;
        self.warn(
            el,
            WarningKind::UnknownElement {
                element: short(&qualified_name(el)),
                parent: parent.to_owned(),
            },
        );
        Ok(extension)
    }

    /// Sets a property the DTD allows once. A repeat with the same value
    /// is ignored with a warning; one with another value follows `rule`.
    fn once<'a, 'i, T: PartialEq>(
        &self,
        slot: &mut Slot<'a, 'i, T>,
        value: T,
        el: Node<'a, 'i>,
        element: &str,
        rule: Repeat,
    ) -> Result<(), Error> {
        match slot {
            None => *slot = Some((value, el)),
            Some((first, _)) if *first == value => self.warn(
                el,
                WarningKind::Repeated {
                    element: element.to_owned(),
                },
            ),
            Some(_) => match rule {
                Repeat::KeepFirst => self.warn(
                    el,
                    WarningKind::RepeatedDiffering {
                        element: element.to_owned(),
                    },
                ),
                Repeat::Refuse => {
                    return Err(self.error(
                        el,
                        format!("<{element}> appears again with a different value"),
                    ));
                }
            },
        }
        Ok(())
    }

    fn mgmt_tree(&self, root: Node<'_, '_>) -> Result<MoDefinition, Error> {
        if root.tag_name().name() != "MgmtTree" {
            return Err(self.error(
                root,
                format!(
                    "the root element is <{}>, not <MgmtTree>",
                    qualified_name(root)
                ),
            ));
        }
        self.text_among_elements(root);
        let (mut ver_dtd, mut man, mut model) = (None, None, None);
        let mut nodes = Vec::new();
        let mut extensions = Vec::new();
        let mut order = Order::new();
        for el in root.children().filter(Node::is_element) {
            if !self.is_ddf(el) {
                extensions.push(self.extension(el, 2)?);
                continue;
            }
            match el.tag_name().name() {
                "VerDTD" => {
                    self.order(&mut order, el, 0, "VerDTD");
                    let version = self.trimmed_text(el)?;
                    let supported = MoVersion::parse(&version).is_some()
                        && SUPPORTED_DTD.iter().any(|v| {
                            version == *v
                                || version
                                    .strip_prefix(v)
                                    .is_some_and(|rest| rest.starts_with('.'))
                        });
                    if !supported {
                        return Err(self.error(
                            el,
                            format!(
                                "unsupported VerDTD {version:?} (1.1, 1.2 and 1.3 are supported)"
                            ),
                        ));
                    }
                    self.once(&mut ver_dtd, version, el, "VerDTD", Repeat::Refuse)?;
                }
                "Man" => {
                    self.order(&mut order, el, 1, "Man");
                    let text = self.human_text(el, 2)?;
                    self.once(&mut man, text, el, "Man", Repeat::KeepFirst)?;
                }
                "Mod" => {
                    self.order(&mut order, el, 2, "Mod");
                    let text = self.human_text(el, 2)?;
                    self.once(&mut model, text, el, "Mod", Repeat::KeepFirst)?;
                }
                "Node" => {
                    self.order(&mut order, el, 3, "Node");
                    nodes.push(self.node(el, 2)?);
                }
                _ => extensions.push(self.unknown(el, "MgmtTree", 2)?),
            }
        }
        let ver_dtd = ver_dtd.ok_or_else(|| self.error(root, "<MgmtTree> has no <VerDTD>"))?;
        if nodes.is_empty() {
            self.warn(
                root,
                WarningKind::Missing {
                    element: "Node".into(),
                    parent: "MgmtTree".into(),
                    read_as: "a definition without nodes".into(),
                },
            );
        }
        Ok(MoDefinition {
            ver_dtd: ver_dtd.0,
            man: man.map(|m| m.0),
            model: model.map(|m| m.0),
            nodes,
            extensions,
        })
    }

    /// Reads a `Node` and the `Node`s inside it, with an explicit stack
    /// (no recursion): `depth` is the element depth of `el`.
    fn node(&self, el: Node<'_, '_>, depth: usize) -> Result<NodeDefinition, Error> {
        self.check_depth(el, depth)?;
        let is_node = |c: &Node<'_, '_>| self.is_element(*c, "Node");
        let mut current = (self.node_properties(el, depth)?, el.children());
        let mut ancestors = Vec::new();
        loop {
            if let Some(child) = current.1.find(is_node) {
                let child_depth = depth + ancestors.len() + 1;
                self.check_depth(child, child_depth)?;
                let def = self.node_properties(child, child_depth)?;
                ancestors.push(std::mem::replace(&mut current, (def, child.children())));
                continue;
            }
            match ancestors.pop() {
                Some(mut parent) => {
                    parent.0.children.push(current.0);
                    current = parent;
                }
                None => return Ok(current.0),
            }
        }
    }

    /// Reads the elements of a `Node` other than its child `Node`s.
    fn node_properties(&self, el: Node<'_, '_>, depth: usize) -> Result<NodeDefinition, Error> {
        self.text_among_elements(el);
        let mut name = None;
        let mut path = None;
        let mut properties = Properties::default();
        let mut value = None;
        let mut value_type = None;
        let mut extensions = Vec::new();
        let mut order = Order::new();
        for child in el.children().filter(Node::is_element) {
            if !self.is_ddf(child) {
                extensions.push(self.extension(child, depth + 1)?);
                continue;
            }
            match child.tag_name().name() {
                "NodeName" => {
                    self.order(&mut order, child, 0, "NodeName");
                    let text = self.text(child)?;
                    let def = NodeNameDef::from_text(&text);
                    self.once(&mut name, def, child, "NodeName", Repeat::Refuse)?;
                }
                "Path" => {
                    self.order(&mut order, child, 1, "Path");
                    let text = self.trimmed_text(child)?;
                    self.once(&mut path, text, child, "Path", Repeat::Refuse)?;
                }
                // Run-time properties describe a tree instance, not the
                // definition: tolerated and ignored (docs/protocol.md 10.1).
                "RTProperties" => self.order(&mut order, child, 2, "RTProperties"),
                "DFProperties" => {
                    self.order(&mut order, child, 3, "DFProperties");
                    if properties.first.is_some() {
                        self.warn(
                            child,
                            WarningKind::Merged {
                                element: "DFProperties".into(),
                            },
                        );
                    }
                    self.properties(child, depth + 1, &mut properties, &mut extensions)?;
                }
                // Child nodes are read by `node`, after the other elements.
                "Node" => self.order(&mut order, child, 4, "Node"),
                element @ ("Value" | "Data") => {
                    let name = if element == "Value" { "Value" } else { "Data" };
                    self.order(&mut order, child, 4, name);
                    let text = self.text(child)?;
                    self.once(&mut value, text, child, element, Repeat::Refuse)?;
                }
                "Type" => {
                    self.order(&mut order, child, 4, "Type");
                    let text = self.trimmed_text(child)?;
                    self.once(&mut value_type, text, child, "Type", Repeat::KeepFirst)?;
                }
                _ => extensions.push(self.unknown(child, "Node", depth + 1)?),
            }
        }
        let name = name.ok_or_else(|| self.error(el, "<Node> has no <NodeName>"))?;
        let mut node = self.finish_properties(el, properties)?;
        node.name = name.0;
        node.path = path.map(|p| p.0);
        node.value = value.map(|v| v.0);
        node.value_type = value_type.map(|t| t.0);
        node.extensions = extensions;
        Ok(node)
    }

    /// Reads one `DFProperties` into `props`; vendor and unknown elements
    /// go to `extensions`.
    fn properties<'a, 'i>(
        &self,
        el: Node<'a, 'i>,
        depth: usize,
        props: &mut Properties<'a, 'i>,
        extensions: &mut Vec<Extension>,
    ) -> Result<(), Error> {
        self.check_depth(el, depth)?;
        self.text_among_elements(el);
        props.first.get_or_insert(el);
        let mut order = Order::new();
        for child in el.children().filter(Node::is_element) {
            if !self.is_ddf(child) {
                extensions.push(self.extension(child, depth + 1)?);
                continue;
            }
            match child.tag_name().name() {
                "AccessType" => {
                    self.order(&mut order, child, 0, "AccessType");
                    let access = self.access_type(child);
                    self.access_again(&mut props.access, access, child);
                }
                "DefaultValue" => {
                    self.order(&mut order, child, 1, "DefaultValue");
                    let text = self.text(child)?;
                    self.once(
                        &mut props.default_value,
                        text,
                        child,
                        "DefaultValue",
                        Repeat::Refuse,
                    )?;
                }
                "Description" => {
                    self.order(&mut order, child, 2, "Description");
                    let text = self.human_text(child, depth + 1)?;
                    self.once(
                        &mut props.description,
                        text,
                        child,
                        "Description",
                        Repeat::KeepFirst,
                    )?;
                }
                "DFFormat" => {
                    self.order(&mut order, child, 3, "DFFormat");
                    self.format(child, &mut props.format)?;
                }
                "Occurrence" => {
                    self.order(&mut order, child, 4, "Occurrence");
                    self.occurrence(child, &mut props.occurrence)?;
                }
                "Scope" => {
                    self.order(&mut order, child, 5, "Scope");
                    self.scope(child, &mut props.scope);
                }
                "DFTitle" => {
                    self.order(&mut order, child, 6, "DFTitle");
                    let text = self.human_text(child, depth + 1)?;
                    self.once(&mut props.title, text, child, "DFTitle", Repeat::KeepFirst)?;
                }
                "DFType" => {
                    self.order(&mut order, child, 7, "DFType");
                    self.df_type(child, props)?;
                }
                "CaseSense" => {
                    self.order(&mut order, child, 8, "CaseSense");
                    self.case_sense(child, &mut props.case_sense);
                }
                _ => extensions.push(self.unknown(child, "DFProperties", depth + 1)?),
            }
        }
        Ok(())
    }

    /// The definition of the node whose properties were read into `props`
    /// (name and structure filled in by the caller).
    fn finish_properties(
        &self,
        node: Node<'_, '_>,
        props: Properties<'_, '_>,
    ) -> Result<NodeDefinition, Error> {
        let Some(first) = props.first else {
            return Err(self.error(node, "<Node> has no <DFProperties>"));
        };
        let format = props
            .format
            .ok_or_else(|| self.error(first, "<DFProperties> has no <DFFormat>"))?
            .0;
        let access = if let Some((access, _)) = props.access {
            access
        } else {
            self.warn(
                first,
                WarningKind::Missing {
                    element: "AccessType".into(),
                    parent: "DFProperties".into(),
                    read_as: "no access rights".into(),
                },
            );
            AccessType::NONE
        };
        // MIME for a leaf, DDFName for an interior node: when both are
        // given, the one that fits the format is kept.
        let df_type = match (props.mime, props.ddf_name) {
            (Some((mime, _)), None) => Some(DfType::Mime(mime)),
            (None, Some((name, _))) => Some(DfType::DdfName(name)),
            (Some((mime, mime_el)), Some((name, name_el))) => {
                let (kept, dropped) = if format == NodeFormat::Node {
                    (DfType::DdfName(name), mime_el)
                } else {
                    (DfType::Mime(mime), name_el)
                };
                self.warn(
                    dropped,
                    WarningKind::Narrowed {
                        element: "DFType".into(),
                        kept: kept.element_name().into(),
                    },
                );
                Some(kept)
            }
            (None, None) => None,
        };
        let mut def = NodeDefinition::placeholder(format);
        def.access_type = access;
        def.occurrence = props.occurrence.map(|o| o.0).unwrap_or_default();
        def.scope = props.scope.map(|s| s.0).unwrap_or_default();
        def.default_value = props.default_value.map(|v| v.0);
        def.description = props.description.map(|v| v.0);
        def.title = props.title.map(|v| v.0);
        def.df_type = df_type;
        def.case_sense = props.case_sense.map(|c| c.0).unwrap_or_default();
        Ok(def)
    }

    /// The rights of one `AccessType`. Unknown rights (and those of another
    /// namespace) grant nothing: ignored with a warning.
    fn access_type(&self, el: Node<'_, '_>) -> AccessType {
        self.text_among_elements(el);
        let mut access = AccessType::NONE;
        for child in el.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            match AccessType::from_name(name) {
                Some(a) if self.is_ddf(child) => {
                    if access.contains(a) {
                        self.warn(
                            child,
                            WarningKind::Repeated {
                                element: name.to_owned(),
                            },
                        );
                    }
                    access |= a;
                }
                _ => self.warn(
                    child,
                    WarningKind::UnknownValue {
                        element: "AccessType".into(),
                        value: short(&qualified_name(child)),
                        read_as: "no right".into(),
                    },
                ),
            }
        }
        access
    }

    /// A second `AccessType`: only the rights both grant are kept.
    fn access_again<'a, 'i>(
        &self,
        slot: &mut Slot<'a, 'i, AccessType>,
        access: AccessType,
        el: Node<'a, 'i>,
    ) {
        let Some((first, _)) = slot else {
            *slot = Some((access, el));
            return;
        };
        if *first == access {
            self.warn(
                el,
                WarningKind::Repeated {
                    element: "AccessType".into(),
                },
            );
            return;
        }
        let both = first
            .names()
            .filter_map(AccessType::from_name)
            .filter(|a| access.contains(*a))
            .fold(AccessType::NONE, |all, a| all | a);
        *first = both;
        self.warn(
            el,
            WarningKind::Narrowed {
                element: "AccessType".into(),
                kept: if both.is_empty() {
                    "no rights".into()
                } else {
                    both.to_string()
                },
            },
        );
    }

    /// The value elements of `DFFormat`, `Occurrence`, `Scope`, `DFType`
    /// or `CaseSense`. Text and elements of another namespace are ignored
    /// with a warning (`read_as` says how an ignored value is read); an
    /// element without any child is reported as empty when `warn_empty`.
    fn choices<'a, 'i>(
        &self,
        el: Node<'a, 'i>,
        what: &str,
        read_as: &str,
        warn_empty: bool,
    ) -> Vec<Node<'a, 'i>> {
        self.text_among_elements(el);
        let mut choices = Vec::new();
        let mut any = false;
        for child in el.children().filter(Node::is_element) {
            any = true;
            if self.is_ddf(child) {
                choices.push(child);
            } else {
                self.warn(
                    child,
                    WarningKind::UnknownValue {
                        element: what.to_owned(),
                        value: short(&qualified_name(child)),
                        read_as: read_as.to_owned(),
                    },
                );
            }
        }
        if !any && warn_empty {
            self.warn(
                el,
                WarningKind::Empty {
                    element: what.to_owned(),
                },
            );
        }
        choices
    }

    /// `DFFormat`: the format decides what a node is and what values it
    /// takes, so an unknown format or two different ones are refused.
    fn format<'a, 'i>(
        &self,
        el: Node<'a, 'i>,
        slot: &mut Slot<'a, 'i, NodeFormat>,
    ) -> Result<(), Error> {
        let choices = self.choices(el, "DFFormat", "nothing", false);
        if choices.is_empty() {
            return Err(self.error(el, "<DFFormat> is empty"));
        }
        for choice in choices {
            let name = choice.tag_name().name();
            let format = NodeFormat::from_name(name)
                .ok_or_else(|| self.error(choice, format!("unknown DFFormat <{name}>")))?;
            self.once(slot, format, choice, "DFFormat", Repeat::Refuse)?;
        }
        Ok(())
    }

    /// `Occurrence`: an unknown value is ignored (the default, One, applies
    /// when no other is given); two different values are refused.
    fn occurrence<'a, 'i>(
        &self,
        el: Node<'a, 'i>,
        slot: &mut Slot<'a, 'i, Occurrence>,
    ) -> Result<(), Error> {
        const READ_AS: &str = "absent";
        for choice in self.choices(el, "Occurrence", READ_AS, true) {
            let name = choice.tag_name().name();
            let bound = || -> Result<Option<u32>, Error> {
                let text = self.trimmed_text(choice)?;
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse::<u32>().map(Some).map_err(|_| {
                    self.error(
                        choice,
                        format!("<{name}> holds {:?}, not a number of nodes", short(&text)),
                    )
                })
            };
            let occurrence = match name {
                "One" => Occurrence::One,
                "ZeroOrOne" => Occurrence::ZeroOrOne,
                "ZeroOrMore" => Occurrence::ZeroOrMore,
                "OneOrMore" => Occurrence::OneOrMore,
                "ZeroOrN" => Occurrence::ZeroOrN(bound()?),
                "OneOrN" => Occurrence::OneOrN(bound()?),
                _ => {
                    self.warn(
                        choice,
                        WarningKind::UnknownValue {
                            element: "Occurrence".into(),
                            value: short(name),
                            read_as: READ_AS.into(),
                        },
                    );
                    continue;
                }
            };
            self.once(slot, occurrence, choice, "Occurrence", Repeat::Refuse)?;
        }
        Ok(())
    }

    /// `Scope`: an unknown value, or `Permanent` and `Dynamic` together, are
    /// read as `Permanent` (no creation or deletion at run time).
    fn scope<'a, 'i>(&self, el: Node<'a, 'i>, slot: &mut Slot<'a, 'i, Scope>) {
        for choice in self.choices(el, "Scope", "Permanent", true) {
            let name = choice.tag_name().name();
            let scope = match name {
                "Permanent" => Scope::Permanent,
                "Dynamic" => Scope::Dynamic,
                _ => {
                    self.warn(
                        choice,
                        WarningKind::UnknownValue {
                            element: "Scope".into(),
                            value: short(name),
                            read_as: "Permanent".into(),
                        },
                    );
                    *slot = Some((Scope::Permanent, choice));
                    continue;
                }
            };
            self.narrow(slot, scope, Scope::Permanent, choice, "Scope", "Permanent");
        }
    }

    /// `CaseSense`: an unknown value, or `CS` and `CIS` together, are read
    /// as `CS` (names match only as written).
    fn case_sense<'a, 'i>(&self, el: Node<'a, 'i>, slot: &mut Slot<'a, 'i, CaseSense>) {
        for choice in self.choices(el, "CaseSense", "CS", true) {
            let name = choice.tag_name().name();
            let Some(case) = CaseSense::from_name(name) else {
                self.warn(
                    choice,
                    WarningKind::UnknownValue {
                        element: "CaseSense".into(),
                        value: short(name),
                        read_as: "CS".into(),
                    },
                );
                *slot = Some((CaseSense::Cs, choice));
                continue;
            };
            self.narrow(slot, case, CaseSense::Cs, choice, "CaseSense", "CS");
        }
    }

    /// Sets a value that has a narrower reading: a repeat with another
    /// value gives `narrow`, with a warning.
    fn narrow<'a, 'i, T: PartialEq>(
        &self,
        slot: &mut Slot<'a, 'i, T>,
        value: T,
        narrow: T,
        el: Node<'a, 'i>,
        element: &str,
        narrow_name: &str,
    ) {
        match slot {
            None => *slot = Some((value, el)),
            Some((first, _)) if *first == value => self.warn(
                el,
                WarningKind::Repeated {
                    element: element.to_owned(),
                },
            ),
            Some((first, _)) => {
                *first = narrow;
                self.warn(
                    el,
                    WarningKind::Narrowed {
                        element: element.to_owned(),
                        kept: narrow_name.to_owned(),
                    },
                );
            }
        }
    }

    /// `DFType`: `MIME` repeated with another type keeps the first; a
    /// second, different `DDFName` (another MOID) is refused; an unknown
    /// value is ignored. `MIME` and `DDFName` together are settled by the
    /// format (`finish_properties`).
    fn df_type<'a, 'i>(
        &self,
        el: Node<'a, 'i>,
        props: &mut Properties<'a, 'i>,
    ) -> Result<(), Error> {
        for choice in self.choices(el, "DFType", "absent", true) {
            match choice.tag_name().name() {
                "MIME" => {
                    let text = self.trimmed_text(choice)?;
                    self.once(&mut props.mime, text, choice, "MIME", Repeat::KeepFirst)?;
                }
                "DDFName" => {
                    let text = self.trimmed_text(choice)?;
                    self.once(&mut props.ddf_name, text, choice, "DDFName", Repeat::Refuse)?;
                }
                name => self.warn(
                    choice,
                    WarningKind::UnknownValue {
                        element: "DFType".into(),
                        value: short(name),
                        read_as: "absent".into(),
                    },
                ),
            }
        }
        Ok(())
    }

    /// The text of an element that holds only text (and CDATA, comments);
    /// an element inside is refused (these texts are read by machines).
    fn text(&self, el: Node<'_, '_>) -> Result<String, Error> {
        let mut text = String::new();
        for child in el.children() {
            if child.is_element() {
                return Err(self.error(
                    child,
                    format!(
                        "unexpected element <{}> in <{}>, which holds text",
                        qualified_name(child),
                        el.tag_name().name()
                    ),
                ));
            }
            if let Some(t) = child.text().filter(|_| child.is_text()) {
                text.push_str(t);
            }
        }
        Ok(text)
    }

    fn trimmed_text(&self, el: Node<'_, '_>) -> Result<String, Error> {
        self.text(el).map(trimmed)
    }

    /// The text of a descriptive element (`Man`, `Mod`, `Description`,
    /// `DFTitle`), trimmed: markup inside is dropped with a warning and its
    /// text kept. `depth` is the element depth of `el`.
    fn human_text(&self, el: Node<'_, '_>, depth: usize) -> Result<String, Error> {
        let mut text = String::new();
        let mut stack = vec![el.children()];
        while let Some(children) = stack.last_mut() {
            let Some(child) = children.next() else {
                stack.pop();
                continue;
            };
            if child.is_element() {
                self.check_depth(child, depth + stack.len())?;
                if stack.len() == 1 {
                    self.warn(
                        child,
                        WarningKind::MarkupInText {
                            element: el.tag_name().name().to_owned(),
                            child: short(&qualified_name(child)),
                        },
                    );
                }
                stack.push(child.children());
            } else if let Some(t) = child.text().filter(|_| child.is_text()) {
                text.push_str(t);
            }
        }
        Ok(trimmed(text))
    }
    /// Reads a vendor element and the elements inside it, with an explicit
    /// stack (no recursion): `depth` is the element depth of `el`.
    fn extension(&self, el: Node<'_, '_>, depth: usize) -> Result<Extension, Error> {
        self.check_depth(el, depth)?;
        let mut current = (extension_shell(el), el.children());
        let mut ancestors = Vec::new();
        loop {
            // The next child element, collecting the text before it.
            let (ext, children) = &mut current;
            let next = children.find(|c| {
                if let Some(t) = c.text().filter(|_| c.is_text()) {
                    ext.text.push_str(t);
                }
                c.is_element()
            });
            if let Some(child) = next {
                self.check_depth(child, depth + ancestors.len() + 1)?;
                ancestors.push(std::mem::replace(
                    &mut current,
                    (extension_shell(child), child.children()),
                ));
                continue;
            }
            let mut done = current.0;
            done.text = trimmed(done.text);
            match ancestors.pop() {
                Some(mut parent) => {
                    parent.0.children.push(done);
                    current = parent;
                }
                None => return Ok(done),
            }
        }
    }
}

/// `text` without leading and trailing white space (not copied when it
/// has none).
fn trimmed(text: String) -> String {
    match text.trim() {
        t if t.len() == text.len() => text,
        t => t.to_owned(),
    }
}

/// A vendor element's name, namespace and attributes, without text or
/// children yet.
fn extension_shell(el: Node<'_, '_>) -> Extension {
    Extension {
        name: qualified_name(el),
        namespace: el.tag_name().namespace().map(str::to_owned),
        attributes: el
            .attributes()
            .map(|a| (a.name().to_owned(), a.value().to_owned()))
            .collect(),
        text: String::new(),
        children: Vec::new(),
    }
}

/// The element name with the prefix declared for its namespace.
fn qualified_name(el: Node<'_, '_>) -> String {
    let local = el.tag_name().name();
    match el
        .tag_name()
        .namespace()
        .and_then(|ns| el.lookup_prefix(ns))
    {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}:{local}"),
        _ => local.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::time::{Duration, Instant};

    use super::*;

    type TestResult = Result<(), String>;

    /// A document with `body` after `VerDTD`.
    fn doc(body: &str) -> String {
        format!("<MgmtTree>\n<VerDTD>1.2</VerDTD>\n{body}</MgmtTree>")
    }

    /// A node definition with the given properties.
    fn node(name: &str, properties: &str, rest: &str) -> String {
        format!(
            "<Node><NodeName>{name}</NodeName><DFProperties>{properties}</DFProperties>{rest}</Node>\n"
        )
    }

    const LEAF: &str = "<AccessType><Get/></AccessType><DFFormat><chr/></DFFormat>";

    fn error_of(text: &str) -> Result<Error, String> {
        match MoDefinition::parse_str(text) {
            Ok(def) => Err(format!("parsed, but should fail: {def:?}")),
            Err(e) => Ok(e),
        }
    }

    /// Fails unless `text` is refused as an invalid DDF at `line` with a
    /// message containing `needle`.
    fn ddf_error(text: &str, line: usize, needle: &str) -> TestResult {
        match error_of(text)? {
            Error::Ddf { position, message }
                if position.line == line && message.contains(needle) =>
            {
                Ok(())
            }
            other => Err(format!(
                "expected a DDF error at line {line} about {needle:?}, got {other}"
            )),
        }
    }

    fn parsed(text: &str) -> Result<MoDefinition, String> {
        MoDefinition::parse_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn billion_laughs_fails_fast() -> TestResult {
        let mut text =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE MgmtTree [\n<!ENTITY lol \"lol\">\n");
        for i in 1..=9 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            let value = format!("&{prev};").repeat(10);
            let _ = writeln!(text, "<!ENTITY lol{i} \"{value}\">");
        }
        text.push_str("]>\n<MgmtTree><VerDTD>&lol9;</VerDTD></MgmtTree>");
        let start = Instant::now();
        let err = error_of(&text)?;
        let elapsed = start.elapsed();
        // The declarations are ignored, so the reference is to an
        // undeclared entity: refused where it is, nothing expanded.
        assert!(
            matches!(&err, Error::EntityReference { name, .. } if name == "lol9"),
            "{err}"
        );
        assert_eq!(err.position().map(|p| (p.line, p.column)), Some((14, 19)));
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");

        // Without our check, the XML parser's own guard stops it too.
        let options = ParsingOptions {
            allow_dtd: true,
            ..ParsingOptions::default()
        };
        let start = Instant::now();
        let raw = Document::parse_with_options(&text, options).map(|_| ());
        assert!(
            matches!(raw, Err(roxmltree::Error::EntityReferenceLoop(_))),
            "{raw:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        Ok(())
    }

    #[test]
    fn quadratic_entity_expansion_is_refused() -> TestResult {
        // One large entity referenced many times: each reference is within
        // the XML parser's per-reference bounds, the total is not.
        let big = "x".repeat(100_000);
        let refs = "&big;".repeat(100_000);
        let text = format!(
            "<!DOCTYPE MgmtTree [<!ENTITY big \"{big}\">]><MgmtTree><VerDTD>1.2</VerDTD><Man>{refs}</Man></MgmtTree>"
        );
        let start = Instant::now();
        let err = error_of(&text)?;
        assert!(matches!(err, Error::EntityReference { .. }), "{err}");
        // Just after `<Man>`.
        assert_eq!(
            err.position().map(|p| p.offset),
            Some(text.find("<Man>").ok_or("no Man")? + 5)
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        Ok(())
    }

    #[test]
    fn doctype_internal_subset_with_processing_instruction_parses() -> TestResult {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!DOCTYPE MgmtTree PUBLIC \" -//OMA//DTD-DM-DDF 1.2//EN\"\r\n  \"http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd\"[<?oma-dm-ddf-ver supported-versions=\"1.2\"?>]>\r\n<!-- <!DOCTYPE inside a comment> -->\r\n<MgmtTree><VerDTD>1.2</VerDTD></MgmtTree>\r\n";
        assert_eq!(parsed(text)?.ver_dtd, "1.2");
        Ok(())
    }

    #[test]
    fn malformed_xml_reports_line_and_column() -> TestResult {
        let err = error_of("<MgmtTree>\n  <VerDTD>1.2</Ver>\n</MgmtTree>")?;
        assert!(matches!(err, Error::Xml { .. }), "{err}");
        // The mismatched end tag starts at column 14.
        assert_eq!(
            err.position().map(|p| (p.offset, p.line, p.column)),
            Some((24, 2, 14))
        );
        assert_eq!(
            err.to_string(),
            "malformed XML at line 2, column 14 (byte 24): expected 'VerDTD' tag, not 'Ver'"
        );

        // Errors found at the end are reported there.
        let err = error_of("<MgmtTree>\n<VerDTD>1.2</VerDTD>\n")?;
        assert_eq!(err.position().map(|p| p.line), Some(3));
        let err = error_of("")?;
        assert!(matches!(err, Error::Xml { .. }), "{err}");
        Ok(())
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_position() -> TestResult {
        // Windows-1252 right single quote in a file that should be UTF-8.
        let err = MoDefinition::parse(b"<MgmtTree>\r\n<Man>can\x92t</Man>")
            .err()
            .ok_or("parsed")?;
        assert!(matches!(err, Error::Utf8 { .. }), "{err}");
        assert_eq!(
            err.position().map(|p| (p.offset, p.line, p.column)),
            Some((20, 2, 9))
        );
        // UTF-16 is not guessed at.
        let err = MoDefinition::parse(b"\xFF\xFE<\x00M\x00")
            .err()
            .ok_or("parsed")?;
        assert_eq!(err.position().map(|p| p.offset), Some(0));
        Ok(())
    }

    #[test]
    fn limits_are_enforced() -> TestResult {
        let text = doc(&node("A", LEAF, ""));
        let small = Limits {
            max_bytes: 20,
            ..Limits::default()
        };
        let err = MoDefinition::parse_str_with(&text, &small)
            .err()
            .ok_or("parsed")?;
        assert!(matches!(err, Error::TooLarge { limit: 20, .. }), "{err}");
        assert_eq!(err.status().as_u16(), 413);

        let open = "<Node><NodeName>n</NodeName><DFProperties><AccessType/><DFFormat><node/></DFFormat></DFProperties>";
        let nested = format!("{}{}", open.repeat(20), "</Node>".repeat(20));
        let shallow = Limits {
            max_depth: 8,
            ..Limits::default()
        };
        let err = MoDefinition::parse_str_with(&doc(&nested), &shallow)
            .err()
            .ok_or("parsed")?;
        assert!(matches!(err, Error::Limit { limit: 8, .. }), "{err}");
        assert_eq!(err.position().map(|p| p.line), Some(3));

        // Vendor elements count towards the depth too.
        let deep_ext = format!(
            "<MgmtTree xmlns:V=\"urn:v\"><VerDTD>1.2</VerDTD>{}{}</MgmtTree>",
            "<V:e>".repeat(20),
            "</V:e>".repeat(20)
        );
        let err = MoDefinition::parse_str_with(&deep_ext, &shallow)
            .err()
            .ok_or("parsed")?;
        assert!(matches!(err, Error::Limit { .. }), "{err}");

        // A depth limit above the ceiling counts as the ceiling.
        let huge = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        let very_deep = format!("{}{}", open.repeat(600), "</Node>".repeat(600));
        let err = MoDefinition::parse_str_with(&doc(&very_deep), &huge)
            .err()
            .ok_or("parsed")?;
        assert!(
            matches!(
                err,
                Error::Limit {
                    limit: Limits::DEPTH_CEILING,
                    ..
                }
            ),
            "{err}"
        );

        let few_nodes = Limits {
            max_xml_nodes: 10,
            ..Limits::default()
        };
        let err = MoDefinition::parse_str_with(&doc(&node("A", LEAF, "").repeat(5)), &few_nodes)
            .err()
            .ok_or("parsed")?;
        assert!(
            matches!(
                err,
                Error::Limit {
                    what: "XML nodes",
                    ..
                }
            ),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn document_structure_errors() -> TestResult {
        ddf_error("<Tree><VerDTD>1.2</VerDTD></Tree>", 1, "not <MgmtTree>")?;
        ddf_error("<MgmtTree>\n</MgmtTree>", 1, "has no <VerDTD>")?;
        ddf_error(
            "<MgmtTree>\n<VerDTD>2.0</VerDTD></MgmtTree>",
            2,
            "unsupported VerDTD \"2.0\"",
        )?;
        ddf_error(
            "<MgmtTree>\n<VerDTD>1.20</VerDTD></MgmtTree>",
            2,
            "unsupported VerDTD",
        )?;
        ddf_error(
            "<MgmtTree>\n<VerDTD>1.2.x</VerDTD></MgmtTree>",
            2,
            "unsupported VerDTD",
        )?;
        ddf_error(
            &doc("<VerDTD>1.3</VerDTD>"),
            3,
            "<VerDTD> appears again with a different value",
        )?;
        for version in ["1.1", "1.1.2", "1.2", "1.3"] {
            let text = format!("<MgmtTree><VerDTD> {version} </VerDTD></MgmtTree>");
            assert_eq!(parsed(&text)?.ver_dtd, version);
        }
        Ok(())
    }

    #[test]
    fn node_structure_errors() -> TestResult {
        ddf_error(
            &doc(&format!("<Node><DFProperties>{LEAF}</DFProperties></Node>")),
            3,
            "has no <NodeName>",
        )?;
        ddf_error(
            &doc("<Node><NodeName>A</NodeName></Node>"),
            3,
            "has no <DFProperties>",
        )?;
        ddf_error(
            &doc(&node("A", LEAF, "<NodeName>B</NodeName>")),
            3,
            "<NodeName> appears again with a different value",
        )?;
        ddf_error(
            &doc(&node("A", LEAF, "<Value>1</Value><Data>2</Data>")),
            3,
            "<Data> appears again with a different value",
        )?;
        ddf_error(
            &doc(&node("A<b/>", LEAF, "")),
            3,
            "unexpected element <b> in <NodeName>",
        )?;
        Ok(())
    }

    #[test]
    fn property_errors() -> TestResult {
        // What stays refused; what is read past is in tests/tolerance.rs.
        let with = |props: &str| doc(&node("A", props, ""));
        ddf_error(
            &with("<AccessType><Get/></AccessType>"),
            3,
            "has no <DFFormat>",
        )?;
        ddf_error(
            &with("<AccessType/><DFFormat><string/></DFFormat>"),
            3,
            "unknown DFFormat <string>",
        )?;
        ddf_error(&with("<AccessType/><DFFormat/>"), 3, "<DFFormat> is empty")?;
        ddf_error(
            &with("<AccessType/><DFFormat><chr/><int/></DFFormat>"),
            3,
            "<DFFormat> appears again with a different value",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<DFFormat><int/></DFFormat>")),
            3,
            "<DFFormat> appears again with a different value",
        )?;
        ddf_error(
            &with(&format!(
                "{LEAF}<Occurrence><ZeroOrN>lots</ZeroOrN></Occurrence>"
            )),
            3,
            "not a number",
        )?;
        ddf_error(
            &with(&format!(
                "{LEAF}<Occurrence><OneOrN>-1</OneOrN></Occurrence>"
            )),
            3,
            "not a number",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<DefaultValue>a<b/></DefaultValue>")),
            3,
            "unexpected element <b> in <DefaultValue>",
        )?;
        Ok(())
    }

    #[test]
    fn properties_are_read() -> TestResult {
        let props = "<AccessType><Add/><Copy/><Get/></AccessType>\
            <DefaultValue> 7 </DefaultValue>\
            <Description><![CDATA[<b>bold</b>]]> and <!-- c --> more </Description>\
            <DFFormat><int/></DFFormat><Occurrence><ZeroOrN> 5 </ZeroOrN></Occurrence>\
            <Scope><Permanent/></Scope><DFTitle> T </DFTitle>\
            <DFType><MIME> text/plain </MIME></DFType><CaseSense><CIS/></CaseSense>";
        let text = doc(&node(
            " &lt;name&gt; ",
            props,
            "<RTProperties><ACL>Get=*</ACL></RTProperties>",
        ));
        let def = parsed(&text)?;
        let n = &def.nodes[0];
        assert_eq!(
            n.name,
            NodeNameDef::Placeholder {
                hint: Some("name".into())
            }
        );
        assert_eq!(
            n.access_type,
            AccessType::ADD | AccessType::COPY | AccessType::GET
        );
        assert_eq!(n.default_value.as_deref(), Some(" 7 "));
        assert_eq!(n.description.as_deref(), Some("<b>bold</b> and  more"));
        assert_eq!(n.format, NodeFormat::Int);
        assert_eq!(n.occurrence, Occurrence::ZeroOrN(Some(5)));
        assert_eq!(n.scope, Scope::Permanent);
        assert_eq!(n.title.as_deref(), Some("T"));
        assert_eq!(n.df_type, Some(DfType::Mime("text/plain".into())));
        assert_eq!(n.case_sense, CaseSense::Cis);

        // Defaults when absent.
        let def = parsed(&doc(&node("B", LEAF, "")))?;
        let n = &def.nodes[0];
        assert_eq!(
            (n.occurrence, n.scope, n.case_sense),
            (Occurrence::One, Scope::Dynamic, CaseSense::Cs)
        );
        assert_eq!((n.df_type.as_ref(), n.description.as_ref()), (None, None));
        Ok(())
    }

    #[test]
    fn vendor_elements_are_extensions_anywhere_in_node_and_properties() -> TestResult {
        let props = format!("{LEAF}<V:Allowed kind=\"enum\"><V:Value>1</V:Value>t</V:Allowed>");
        let text = format!(
            "<MgmtTree xmlns:V=\"urn:v\"><VerDTD>1.2</VerDTD><V:Top/>{}</MgmtTree>",
            node("A", &props, "<V:NodeLevel>x</V:NodeLevel>")
        );
        let def = parsed(&text)?;
        assert_eq!(def.extensions.len(), 1);
        let exts = &def.nodes[0].extensions;
        let names: Vec<&str> = exts.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["V:Allowed", "V:NodeLevel"]);
        assert_eq!(exts[0].attribute("kind"), Some("enum"));
        assert_eq!(exts[0].text, "t");
        assert_eq!(exts[0].children[0].text, "1");
        assert_eq!(exts[0].namespace.as_deref(), Some("urn:v"));
        Ok(())
    }

    #[test]
    fn a_default_namespace_on_mgmt_tree_is_the_ddf_namespace() -> TestResult {
        let text = format!(
            "<MgmtTree xmlns=\"syncml:dmddf1.2\"><VerDTD>1.2</VerDTD>{}</MgmtTree>",
            node("A", LEAF, "")
        );
        let def = parsed(&text)?;
        assert_eq!(def.node_count(), 1);
        assert!(def.nodes[0].extensions.is_empty());
        Ok(())
    }

    #[test]
    fn position_from_line_and_column_counts_characters() {
        let text = "ab\n\u{e9}\u{4e2d}x\r\nlast";
        let pos = Position::from_line_column(text, 2, 3);
        // Line 2 starts at byte 3; 'é' takes 2 bytes and '中' 3.
        assert_eq!((pos.offset, pos.line, pos.column), (8, 2, 3));
        // Past the end of a line or of the text: clamped.
        assert_eq!(Position::from_line_column(text, 2, 99).offset, 10);
        assert_eq!(Position::from_line_column(text, 9, 1).line, 3);
        assert_eq!(Position::locate(text, 999).offset, text.len());
    }
}
