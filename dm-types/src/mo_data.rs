//! MO data: node/value trees (`MOData`) and MO serialization items
//! (docs/protocol.md section 3.4).

use std::fmt;

use base64::Engine as _;

use crate::{CacheValidator, ClientUri, DdfUri, Error, NodeFormat, NodeName};

/// A finite `f64` (JSON has no NaN or infinity).
///
/// ```
/// use dm_types::FiniteF64;
///
/// assert_eq!(FiniteF64::new(0.5).map(FiniteF64::get), Some(0.5));
/// assert!(FiniteF64::new(f64::NAN).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct FiniteF64(f64);

impl FiniteF64 {
    /// Wraps a finite number; `None` for NaN or an infinity.
    pub fn new(value: f64) -> Option<FiniteF64> {
        value.is_finite().then_some(FiniteF64(value))
    }

    /// The number.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The value of a leaf node.
///
/// Without a DDF a receiver keeps the JSON type it got (strings stay
/// [`LeafValue::Text`]); [`LeafValue::conform`] types a value by its DDF format.
///
/// ```
/// use dm_types::{LeafValue, NodeFormat};
///
/// let v = LeafValue::Text("AAEC".into()).conform(NodeFormat::B64)?;
/// assert_eq!(v, LeafValue::Binary(vec![0, 1, 2]));
/// assert_eq!(LeafValue::Int(7).to_text(), "7");
/// assert!(LeafValue::Text("x".into()).conform(NodeFormat::Int).is_err());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LeafValue {
    /// JSON `null` (format `null`).
    Null,
    /// JSON `true`/`false` (format `bool`).
    Bool(bool),
    /// A JSON integer (format `int`).
    Int(i64),
    /// A JSON number with a fraction or exponent (format `float`).
    Float(FiniteF64),
    /// A JSON string (formats `chr`, `date`, `time`, `xml`, and `b64`/`bin`
    /// before typing).
    Text(String),
    /// Bytes of a `b64` or `bin` leaf; carried as base64 text in JSON.
    Binary(Vec<u8>),
}

impl LeafValue {
    /// Types the value by its DDF format, converting where the JSON mapping of
    /// section 3.4 says so (base64 text to bytes for `b64`/`bin`, an integer to
    /// a float for `float`).
    pub fn conform(self, format: NodeFormat) -> Result<LeafValue, Error> {
        let mismatch = |reason| Error::Format {
            format: format.name(),
            reason,
        };
        match (format, self) {
            (NodeFormat::Node, _) => Err(mismatch("an interior node has no value")),
            (NodeFormat::Null, v @ LeafValue::Null)
            | (NodeFormat::Bool, v @ LeafValue::Bool(_))
            | (NodeFormat::Int, v @ LeafValue::Int(_))
            | (NodeFormat::Float, v @ LeafValue::Float(_))
            | (NodeFormat::B64 | NodeFormat::Bin, v @ LeafValue::Binary(_))
            | (
                NodeFormat::Chr | NodeFormat::Date | NodeFormat::Time | NodeFormat::Xml,
                v @ LeafValue::Text(_),
            ) => Ok(v),
            (NodeFormat::Float, LeafValue::Int(i)) => {
                #[allow(clippy::cast_precision_loss)] // the JSON mapping of `float` is a number
                let f = i as f64;
                Ok(LeafValue::Float(FiniteF64(f)))
            }
            (NodeFormat::B64 | NodeFormat::Bin, LeafValue::Text(text)) => {
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map(LeafValue::Binary)
                    .map_err(|_| mismatch("not base64 (standard alphabet, with padding)"))
            }
            (NodeFormat::Null, _) => Err(mismatch("expected null")),
            (NodeFormat::Bool, _) => Err(mismatch("expected true or false")),
            (NodeFormat::Int, _) => Err(mismatch("expected an integer")),
            (NodeFormat::Float, _) => Err(mismatch("expected a number")),
            (NodeFormat::B64 | NodeFormat::Bin, _) => Err(mismatch("expected base64 text")),
            _ => Err(mismatch("expected a string")),
        }
    }

    /// The value as text, the form `nv` conditions compare against: integers
    /// in decimal, booleans `true`/`false`, bytes as base64, null as empty.
    pub fn to_text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            LeafValue::Null => Cow::Borrowed(""),
            LeafValue::Bool(true) => Cow::Borrowed("true"),
            LeafValue::Bool(false) => Cow::Borrowed("false"),
            LeafValue::Int(i) => Cow::Owned(i.to_string()),
            LeafValue::Float(f) => Cow::Owned(f.get().to_string()),
            LeafValue::Text(s) => Cow::Borrowed(s),
            LeafValue::Binary(b) => Cow::Owned(base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }

    /// The JSON type name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            LeafValue::Null => "null",
            LeafValue::Bool(_) => "boolean",
            LeafValue::Int(_) => "integer",
            LeafValue::Float(_) => "number",
            LeafValue::Text(_) => "string",
            LeafValue::Binary(_) => "binary",
        }
    }
}

impl From<&str> for LeafValue {
    fn from(s: &str) -> Self {
        LeafValue::Text(s.to_owned())
    }
}

impl From<String> for LeafValue {
    fn from(s: String) -> Self {
        LeafValue::Text(s)
    }
}

impl From<i64> for LeafValue {
    fn from(i: i64) -> Self {
        LeafValue::Int(i)
    }
}

impl From<bool> for LeafValue {
    fn from(b: bool) -> Self {
        LeafValue::Bool(b)
    }
}

/// A node of MO data: interior (children) or leaf (a value).
#[derive(Debug, Clone, PartialEq)]
pub enum MoNode {
    /// An interior node and its children.
    Interior(Children),
    /// A leaf and its value.
    Leaf(LeafValue),
}

impl MoNode {
    /// Nesting depth: 1 for a leaf or an empty interior node.
    pub fn depth(&self) -> usize {
        match self {
            MoNode::Leaf(_) => 1,
            MoNode::Interior(children) => {
                1 + children.iter().map(|(_, n)| n.depth()).max().unwrap_or(0)
            }
        }
    }

    /// Number of nodes in this subtree, this node included.
    pub fn count(&self) -> usize {
        match self {
            MoNode::Leaf(_) => 1,
            MoNode::Interior(children) => {
                1 + children.iter().map(|(_, n)| n.count()).sum::<usize>()
            }
        }
    }
}

/// The children of an interior node: unique names, kept sorted by name (child
/// order is not significant in DM 2.0).
///
/// ```
/// use dm_types::{Children, LeafValue, MoNode, NodeName};
///
/// let children = Children::new(vec![
///     (NodeName::new("b")?, MoNode::Leaf(LeafValue::Int(2))),
///     (NodeName::new("a")?, MoNode::Leaf(LeafValue::Int(1))),
/// ])?;
/// assert_eq!(children.iter().next().map(|(n, _)| n.as_str()), Some("a"));
/// assert!(children.get("b").is_some());
///
/// let dup = vec![
///     (NodeName::new("a")?, MoNode::Leaf(LeafValue::Null)),
///     (NodeName::new("a")?, MoNode::Leaf(LeafValue::Null)),
/// ];
/// assert!(Children::new(dup).is_err());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Children(Vec<(NodeName, MoNode)>);

impl Children {
    /// Sorts the children by name; two children with one name are an error.
    pub fn new(mut children: Vec<(NodeName, MoNode)>) -> Result<Children, Error> {
        if !children.is_sorted_by(|a, b| a.0 < b.0) {
            children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        if children.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::MoData("two children share a name"));
        }
        Ok(Children(children))
    }

    /// The child named `name`.
    pub fn get(&self, name: &str) -> Option<&MoNode> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Adds or replaces a child; returns the node it replaced.
    pub fn insert(&mut self, name: NodeName, node: MoNode) -> Option<MoNode> {
        match self.0.binary_search_by(|(n, _)| n.cmp(&name)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, node)),
            Err(i) => {
                self.0.insert(i, (name, node));
                None
            }
        }
    }

    /// Removes a child.
    pub fn remove(&mut self, name: &str) -> Option<MoNode> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0.remove(i).1)
    }

    /// The children in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&NodeName, &MoNode)> {
        self.0.iter().map(|(n, c)| (n, c))
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no children.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `MOData`: the node a ClientURI designates, by name, with its subtree.
///
/// ```
/// use dm_types::{LeafValue, MoData, MoNode, NodeName};
///
/// let data = MoData::new(NodeName::new("CBT")?, MoNode::Leaf(LeafValue::from("WLAN")));
/// assert_eq!(data.name().as_str(), "CBT");
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MoData {
    name: NodeName,
    node: MoNode,
}

impl MoData {
    /// The node `name` with its content.
    pub fn new(name: NodeName, node: MoNode) -> MoData {
        MoData { name, node }
    }

    /// The node's name (the single member of the JSON `MOData` object).
    pub fn name(&self) -> &NodeName {
        &self.name
    }

    /// The node's content.
    pub fn node(&self) -> &MoNode {
        &self.node
    }

    /// Name and content, by value.
    pub fn into_parts(self) -> (NodeName, MoNode) {
        (self.name, self.node)
    }
}

/// One item of an MO serialization array (`application/dmmo+json`).
#[derive(Debug, Clone, PartialEq)]
pub struct MoItem {
    /// Where the MO's DDF can be fetched.
    pub ddf: Option<DdfUri>,
    /// The node the data belongs to.
    pub client_uri: ClientUri,
    /// The cache validator of the instance (only at an instance root).
    pub cache_validator: Option<CacheValidator>,
    /// The node and its subtree.
    pub data: MoData,
}

impl fmt::Display for LeafValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}
