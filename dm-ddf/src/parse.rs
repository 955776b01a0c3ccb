//! DDF XML to [`MoDefinition`], on top of `roxmltree`.
//!
//! The XML crate does the XML; this module maps the `MgmtTree` vocabulary
//! (docs/protocol.md section 10.1) onto the typed definition and says where a
//! document breaks it.

use dm_types::{AccessType, NodeFormat, Occurrence, Scope};
use roxmltree::{Document, Node, ParsingOptions};

use crate::{
    CaseSense, DfType, Error, Extension, MoDefinition, MoVersion, NodeDefinition, NodeNameDef,
    Position,
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
    /// else is refused with the position of the first bad byte.
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

fn parse_text(text: &str, limits: &Limits) -> Result<MoDefinition, Error> {
    // The XML parser expands internal entities, bounding only nesting and
    // references per expansion: a large entity referenced many times would
    // still expand quadratically. DDF documents never declare entities, so
    // any declaration is refused before parsing. (The literal text in a
    // comment or CDATA section is refused too; no published DDF has it.)
    if let Some(offset) = text.find("<!ENTITY") {
        return Err(Error::EntityDeclaration {
            position: Position::locate(text, offset),
        });
    }
    let options = ParsingOptions {
        allow_dtd: true,
        nodes_limit: limits.max_xml_nodes,
        ..ParsingOptions::default()
    };
    let doc =
        Document::parse_with_options(text, options).map_err(|e| xml_error(text, &e, limits))?;
    let reader = Reader {
        text,
        max_depth: limits.max_depth.min(Limits::DEPTH_CEILING),
        ddf_namespace: doc.root_element().tag_name().namespace(),
    };
    reader.mgmt_tree(doc.root_element())
}

fn xml_error(text: &str, error: &roxmltree::Error, limits: &Limits) -> Error {
    if matches!(error, roxmltree::Error::NodesLimitReached) {
        return Error::Limit {
            what: "XML nodes",
            limit: usize::try_from(limits.max_xml_nodes).unwrap_or(usize::MAX),
            position: Position::locate(text, text.len()),
        };
    }
    let position = match error {
        // The XML parser reports these at 1:1; they are found at the end.
        roxmltree::Error::UnclosedRootNode | roxmltree::Error::UnexpectedEndOfStream => {
            Position::locate(text, text.len())
        }
        _ => {
            let pos = error.pos();
            let line = usize::try_from(pos.row).unwrap_or(usize::MAX);
            let column = usize::try_from(pos.col).unwrap_or(usize::MAX);
            Position::from_line_column(text, line, column)
        }
    };
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

/// Maps the elements of one parsed document.
struct Reader<'t> {
    text: &'t str,
    max_depth: usize,
    /// The namespace of `MgmtTree` (normally none): elements in it are DDF
    /// elements, others are vendor extensions.
    ddf_namespace: Option<&'t str>,
}

/// Sets a property that may appear once.
fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    reader: &Reader<'_>,
    el: Node<'_, '_>,
) -> Result<(), Error> {
    if slot.is_some() {
        return Err(reader.error(el, format!("<{}> appears twice", el.tag_name().name())));
    }
    *slot = Some(value);
    Ok(())
}

impl Reader<'_> {
    fn error(&self, el: Node<'_, '_>, message: impl Into<String>) -> Error {
        Error::Ddf {
            position: Position::locate(self.text, el.range().start),
            message: message.into(),
        }
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

    fn unexpected(&self, el: Node<'_, '_>, parent: &str) -> Error {
        self.error(
            el,
            format!("unexpected element <{}> in <{parent}>", qualified_name(el)),
        )
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
        let (mut ver_dtd, mut man, mut model) = (None, None, None);
        let mut nodes = Vec::new();
        let mut extensions = Vec::new();
        for el in root.children().filter(Node::is_element) {
            if !self.is_ddf(el) {
                extensions.push(self.extension(el, 2)?);
                continue;
            }
            match el.tag_name().name() {
                "VerDTD" => {
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
                    set_once(&mut ver_dtd, version, self, el)?;
                }
                "Man" => set_once(&mut man, self.trimmed_text(el)?, self, el)?,
                "Mod" => set_once(&mut model, self.trimmed_text(el)?, self, el)?,
                "Node" => nodes.push(self.node(el, 2)?),
                _ => return Err(self.unexpected(el, "MgmtTree")),
            }
        }
        let ver_dtd = ver_dtd.ok_or_else(|| self.error(root, "<MgmtTree> has no <VerDTD>"))?;
        Ok(MoDefinition {
            ver_dtd,
            man,
            model,
            nodes,
            extensions,
        })
    }

    /// Reads a `Node` and the `Node`s inside it, with an explicit stack
    /// (no recursion): `depth` is the element depth of `el`.
    fn node(&self, el: Node<'_, '_>, depth: usize) -> Result<NodeDefinition, Error> {
        self.check_depth(el, depth)?;
        let is_node =
            |c: &Node<'_, '_>| c.is_element() && self.is_ddf(*c) && c.tag_name().name() == "Node";
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
        let mut name = None;
        let mut path = None;
        let mut properties = None;
        let mut value = None;
        let mut value_type = None;
        let mut extensions = Vec::new();
        for child in el.children().filter(Node::is_element) {
            if !self.is_ddf(child) {
                extensions.push(self.extension(child, depth + 1)?);
                continue;
            }
            match child.tag_name().name() {
                "NodeName" => {
                    let text = self.text(child)?;
                    set_once(&mut name, NodeNameDef::from_text(&text), self, child)?;
                }
                "Path" => set_once(&mut path, self.trimmed_text(child)?, self, child)?,
                "DFProperties" => {
                    let props = self.properties(child, depth + 1, &mut extensions)?;
                    set_once(&mut properties, props, self, child)?;
                }
                "Value" | "Data" => set_once(&mut value, self.text(child)?, self, child)?,
                "Type" => set_once(&mut value_type, self.trimmed_text(child)?, self, child)?,
                // Child nodes are read by `node`, after the other elements.
                // Run-time properties describe a tree instance, not the
                // definition: tolerated and ignored (docs/protocol.md 10.1).
                "Node" | "RTProperties" => {}
                _ => return Err(self.unexpected(child, "Node")),
            }
        }
        let name = name.ok_or_else(|| self.error(el, "<Node> has no <NodeName>"))?;
        let mut node = properties.ok_or_else(|| self.error(el, "<Node> has no <DFProperties>"))?;
        node.name = name;
        node.path = path;
        node.value = value;
        node.value_type = value_type;
        node.extensions = extensions;
        Ok(node)
    }

    /// Reads `DFProperties` into a definition whose name and structure the
    /// caller fills in; vendor elements go to `extensions`.
    fn properties(
        &self,
        el: Node<'_, '_>,
        depth: usize,
        extensions: &mut Vec<Extension>,
    ) -> Result<NodeDefinition, Error> {
        self.check_depth(el, depth)?;
        let mut access = None;
        let mut format = None;
        let mut occurrence = None;
        let mut scope = None;
        let mut default_value = None;
        let mut description = None;
        let mut title = None;
        let mut df_type = None;
        let mut case_sense = None;
        for child in el.children().filter(Node::is_element) {
            if !self.is_ddf(child) {
                extensions.push(self.extension(child, depth + 1)?);
                continue;
            }
            match child.tag_name().name() {
                "AccessType" => set_once(&mut access, self.access_type(child)?, self, child)?,
                "DFFormat" => {
                    let (choice, name) = self.choice(child, "DFFormat")?;
                    let f = NodeFormat::from_name(name)
                        .ok_or_else(|| self.error(choice, format!("unknown DFFormat <{name}>")))?;
                    set_once(&mut format, f, self, child)?;
                }
                "Occurrence" => set_once(&mut occurrence, self.occurrence(child)?, self, child)?,
                "Scope" => {
                    let (choice, name) = self.choice(child, "Scope")?;
                    let s = match name {
                        "Permanent" => Scope::Permanent,
                        "Dynamic" => Scope::Dynamic,
                        _ => return Err(self.error(choice, format!("unknown Scope <{name}>"))),
                    };
                    set_once(&mut scope, s, self, child)?;
                }
                "DefaultValue" => set_once(&mut default_value, self.text(child)?, self, child)?,
                "Description" => {
                    set_once(&mut description, self.trimmed_text(child)?, self, child)?;
                }
                "DFTitle" => set_once(&mut title, self.trimmed_text(child)?, self, child)?,
                "DFType" => {
                    let (choice, name) = self.choice(child, "DFType")?;
                    let t = match name {
                        "MIME" => DfType::Mime(self.trimmed_text(choice)?),
                        "DDFName" => DfType::DdfName(self.trimmed_text(choice)?),
                        _ => return Err(self.error(choice, format!("unknown DFType <{name}>"))),
                    };
                    set_once(&mut df_type, t, self, child)?;
                }
                "CaseSense" => {
                    let (choice, name) = self.choice(child, "CaseSense")?;
                    let c = CaseSense::from_name(name)
                        .ok_or_else(|| self.error(choice, format!("unknown CaseSense <{name}>")))?;
                    set_once(&mut case_sense, c, self, child)?;
                }
                _ => return Err(self.unexpected(child, "DFProperties")),
            }
        }
        let access = access.ok_or_else(|| self.error(el, "<DFProperties> has no <AccessType>"))?;
        let format = format.ok_or_else(|| self.error(el, "<DFProperties> has no <DFFormat>"))?;
        let mut node = NodeDefinition::placeholder(format);
        node.access_type = access;
        node.occurrence = occurrence.unwrap_or_default();
        node.scope = scope.unwrap_or_default();
        node.default_value = default_value;
        node.description = description;
        node.title = title;
        node.df_type = df_type;
        node.case_sense = case_sense.unwrap_or_default();
        Ok(node)
    }

    fn access_type(&self, el: Node<'_, '_>) -> Result<AccessType, Error> {
        let mut access = AccessType::NONE;
        for child in el.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            match AccessType::from_name(name) {
                Some(a) if self.is_ddf(child) => access |= a,
                _ => {
                    return Err(self.error(
                        child,
                        format!("unknown AccessType <{}>", qualified_name(child)),
                    ));
                }
            }
        }
        Ok(access)
    }

    fn occurrence(&self, el: Node<'_, '_>) -> Result<Occurrence, Error> {
        let (choice, name) = self.choice(el, "Occurrence")?;
        let bound = || -> Result<Option<u32>, Error> {
            let text = self.trimmed_text(choice)?;
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<u32>().map(Some).map_err(|_| {
                self.error(
                    choice,
                    format!("<{name}> holds {text:?}, not a number of nodes"),
                )
            })
        };
        Ok(match name {
            "One" => Occurrence::One,
            "ZeroOrOne" => Occurrence::ZeroOrOne,
            "ZeroOrMore" => Occurrence::ZeroOrMore,
            "OneOrMore" => Occurrence::OneOrMore,
            "ZeroOrN" => Occurrence::ZeroOrN(bound()?),
            "OneOrN" => Occurrence::OneOrN(bound()?),
            _ => return Err(self.error(choice, format!("unknown Occurrence <{name}>"))),
        })
    }

    /// The single child element of `el` (`DFFormat`, `Scope`, ...) and its
    /// name.
    fn choice<'a, 'i>(
        &self,
        el: Node<'a, 'i>,
        what: &str,
    ) -> Result<(Node<'a, 'i>, &'a str), Error> {
        let mut elements = el.children().filter(Node::is_element);
        let Some(choice) = elements.next() else {
            return Err(self.error(el, format!("<{what}> is empty")));
        };
        if let Some(second) = elements.next() {
            return Err(self.error(second, format!("<{what}> holds more than one element")));
        }
        if !self.is_ddf(choice) {
            return Err(self.unexpected(choice, what));
        }
        Ok((choice, choice.tag_name().name()))
    }

    /// The text of an element that holds only text (and CDATA, comments).
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
        assert!(matches!(err, Error::EntityDeclaration { .. }), "{err}");
        assert_eq!(err.position().map(|p| (p.line, p.column)), Some((3, 1)));
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
        assert!(matches!(error_of(&text)?, Error::EntityDeclaration { .. }));
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
        ddf_error(&doc("<VerDTD>1.2</VerDTD>"), 3, "<VerDTD> appears twice")?;
        ddf_error(
            &doc("<Comment/>"),
            3,
            "unexpected element <Comment> in <MgmtTree>",
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
            "<NodeName> appears twice",
        )?;
        ddf_error(
            &doc(&node("A", LEAF, "<Value>1</Value><Data>2</Data>")),
            3,
            "<Data> appears twice",
        )?;
        ddf_error(
            &doc(&node("A", LEAF, "<Size>3</Size>")),
            3,
            "unexpected element <Size> in <Node>",
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
        let with = |props: &str| doc(&node("A", props, ""));
        ddf_error(
            &with("<DFFormat><chr/></DFFormat>"),
            3,
            "has no <AccessType>",
        )?;
        ddf_error(
            &with("<AccessType><Get/></AccessType>"),
            3,
            "has no <DFFormat>",
        )?;
        ddf_error(
            &with("<AccessType><Read/></AccessType><DFFormat><chr/></DFFormat>"),
            3,
            "unknown AccessType <Read>",
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
            "more than one element",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<DFFormat><int/></DFFormat>")),
            3,
            "<DFFormat> appears twice",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<Occurrence><Many/></Occurrence>")),
            3,
            "unknown Occurrence <Many>",
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
            &with(&format!("{LEAF}<Scope><Forever/></Scope>")),
            3,
            "unknown Scope <Forever>",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<CaseSense><CI/></CaseSense>")),
            3,
            "unknown CaseSense <CI>",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<DFType><URN/></DFType>")),
            3,
            "unknown DFType <URN>",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<DFTitle>a<b>c</b></DFTitle>")),
            3,
            "unexpected element <b> in <DFTitle>",
        )?;
        ddf_error(
            &with(&format!("{LEAF}<Colour/>")),
            3,
            "unexpected element <Colour> in <DFProperties>",
        )?;
        let ns = format!(
            "<MgmtTree xmlns:V=\"urn:v\"><VerDTD>1.2</VerDTD>\n{}</MgmtTree>",
            node(
                "A",
                "<AccessType><V:Get/></AccessType><DFFormat><chr/></DFFormat>",
                ""
            )
        );
        ddf_error(&ns, 2, "unknown AccessType <V:Get>")?;
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
