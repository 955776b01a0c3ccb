//! The typed form of a DDF document: [`MoDefinition`], a tree of
//! [`NodeDefinition`]s.

use std::fmt;

use dm_types::{AccessType, Moid, NodeFormat, Occurrence, Scope};

/// A Management Object definition: the content of one DDF document
/// (`MgmtTree`).
///
/// Most DDFs have one top-level node, the root of the MO; some have several
/// (e.g. one under `./User` and one under `./Device`). The MOID of the
/// definition is the `DDFName` of the first top-level node that has a
/// non-empty one.
///
/// ```
/// use dm_ddf::MoDefinition;
/// use dm_types::NodeFormat;
///
/// let def = MoDefinition::parse_str(r#"<MgmtTree><VerDTD>1.2</VerDTD>
///   <Node><NodeName>SessionInfo</NodeName>
///     <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat>
///       <DFType><DDFName>urn:oma:mo:oma-sessioninfomo:1.0</DDFName></DFType></DFProperties>
///     <Node><NodeName>CBT</NodeName>
///       <DFProperties><AccessType><Get/></AccessType><DFFormat><chr/></DFFormat></DFProperties>
///     </Node>
///   </Node></MgmtTree>"#)?;
/// assert_eq!(def.ddf_name(), Some("urn:oma:mo:oma-sessioninfomo:1.0"));
/// assert_eq!((def.node_count(), def.max_depth()), (2, 2));
/// assert_eq!(def.lookup_path("SessionInfo/CBT").map(|n| n.format), Some(NodeFormat::Chr));
/// # Ok::<(), dm_ddf::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MoDefinition {
    /// `VerDTD`: the DDF DTD version the document declares (`1.2`; `1.1`,
    /// `1.1.2` and `1.3` are accepted too).
    pub ver_dtd: String,
    /// `Man`: the device manufacturer, in older tree-description files.
    pub man: Option<String>,
    /// `Mod`: the device model, in older tree-description files.
    pub model: Option<String>,
    /// The top-level `Node` definitions, in document order.
    pub nodes: Vec<NodeDefinition>,
    /// Vendor-namespace elements directly inside `MgmtTree`.
    pub extensions: Vec<Extension>,
}

impl MoDefinition {
    /// A definition in DTD version 1.2 with these top-level nodes.
    ///
    /// ```
    /// use dm_ddf::{MoDefinition, NodeDefinition};
    /// use dm_types::NodeFormat;
    ///
    /// let def = MoDefinition::new(vec![NodeDefinition::named("Root", NodeFormat::Node)]);
    /// assert_eq!(def.ver_dtd, "1.2");
    /// assert_eq!(def.ddf_name(), None);
    /// ```
    pub fn new(nodes: Vec<NodeDefinition>) -> MoDefinition {
        MoDefinition {
            ver_dtd: "1.2".to_owned(),
            man: None,
            model: None,
            nodes,
            extensions: Vec::new(),
        }
    }

    /// The top-level `DDFName`: the `DDFName` in the `DFType` of the first
    /// top-level node that has a non-empty one.
    ///
    /// It is usually the MOID (`urn:oma:mo:oma-dm-devinfo:1.0`), but some
    /// published DDFs hold other names there (`com.microsoft/1.2/MDM/DMClient`);
    /// [`MoDefinition::moid`] gives it only when it is a valid MOID.
    ///
    /// ```
    /// use dm_ddf::{DfType, MoDefinition, NodeDefinition};
    /// use dm_types::NodeFormat;
    ///
    /// let mut root = NodeDefinition::named("DMClient", NodeFormat::Node);
    /// root.df_type = Some(DfType::DdfName("com.microsoft/1.2/MDM/DMClient".into()));
    /// let def = MoDefinition::new(vec![root]);
    /// assert_eq!(def.ddf_name(), Some("com.microsoft/1.2/MDM/DMClient"));
    /// assert!(def.moid().is_none());
    /// ```
    pub fn ddf_name(&self) -> Option<&str> {
        self.nodes.iter().find_map(|n| match &n.df_type {
            Some(DfType::DdfName(name)) if !name.is_empty() => Some(name.as_str()),
            _ => None,
        })
    }

    /// The MOID of the definition: the top-level `DDFName`
    /// ([`MoDefinition::ddf_name`]) when it is a valid MOID.
    ///
    /// ```
    /// let def = dm_ddf::standard::devinfo();
    /// assert_eq!(def.moid().map(|m| m.to_string()).as_deref(), Some("urn:oma:mo:oma-dm-devinfo:1.0"));
    /// ```
    pub fn moid(&self) -> Option<Moid> {
        self.ddf_name().and_then(|name| Moid::new(name).ok())
    }

    /// Every node definition with its depth (top-level nodes have depth 1),
    /// depth first, in document order.
    ///
    /// ```
    /// let def = dm_ddf::standard::sessioninfo();
    /// let names: Vec<String> = def.iter().map(|(depth, n)| format!("{depth}:{}", n.name)).collect();
    /// assert_eq!(names, ["1:SessionInfo", "2:CBT", "2:Initiator", "2:SrvID", "2:StartTime"]);
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            stack: self.nodes.iter().rev().map(|n| (1, n)).collect(),
        }
    }

    /// The number of node definitions (`Node` elements) at every level.
    ///
    /// ```
    /// assert_eq!(dm_ddf::standard::devinfo().node_count(), 13);
    /// ```
    pub fn node_count(&self) -> usize {
        self.iter().count()
    }

    /// The deepest nesting of node definitions, a top-level node being 1
    /// (0 when there are none).
    ///
    /// ```
    /// assert_eq!(dm_ddf::standard::devinfo().max_depth(), 2);
    /// ```
    pub fn max_depth(&self) -> usize {
        self.iter().map(|(depth, _)| depth).max().unwrap_or(0)
    }

    /// The top-level node definition that a node called `name` matches: the
    /// first one with that fixed name, else the first placeholder.
    ///
    /// ```
    /// let dmacc = dm_ddf::standard::dmacc();
    /// // The DMAcc root is a placeholder: any instance name matches it.
    /// assert!(dmacc.root("server-1").is_some_and(|n| n.name.is_placeholder()));
    /// ```
    pub fn root(&self, name: &str) -> Option<&NodeDefinition> {
        find_match(&self.nodes, name)
    }

    /// The definition of the node at `path`, given as node names from a
    /// top-level node down (`["DevInfo", "DevID"]`); placeholders match any
    /// name. `None` for an empty path or one that leaves the definition.
    ///
    /// ```
    /// use dm_types::AccessType;
    ///
    /// let dmacc = dm_ddf::standard::dmacc();
    /// let secret = dmacc.lookup(["srv1", "Auth", "Trsp", "Secret"]).expect("defined");
    /// assert!(secret.is_secret());
    /// assert!(!secret.access_type.contains(AccessType::GET));
    /// assert!(dmacc.lookup(["srv1", "Nope"]).is_none());
    /// ```
    pub fn lookup<I>(&self, path: I) -> Option<&NodeDefinition>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut segments = path.into_iter();
        let first = segments.next()?;
        let root = self.root(first.as_ref())?;
        root.lookup(segments)
    }

    /// [`MoDefinition::lookup`] with the path written as names joined by
    /// `/` (`DevInfo/DevID`). Empty segments (a leading, trailing or doubled
    /// `/`) are skipped.
    ///
    /// ```
    /// use dm_types::{NodeFormat, Scope};
    ///
    /// let devinfo = dm_ddf::standard::devinfo();
    /// let devid = devinfo.lookup_path("DevInfo/DevID").expect("defined");
    /// assert_eq!((devid.format, devid.scope), (NodeFormat::Chr, Scope::Permanent));
    /// ```
    pub fn lookup_path(&self, path: &str) -> Option<&NodeDefinition> {
        self.lookup(path.split('/').filter(|s| !s.is_empty()))
    }
}

/// Depth-first iterator over the node definitions of a [`MoDefinition`] or
/// [`NodeDefinition`], with their depth. Built by [`MoDefinition::iter`] and
/// [`NodeDefinition::iter`].
///
/// ```
/// let def = dm_ddf::standard::dacmo();
/// let deepest: Vec<String> = def.iter().filter(|(depth, _)| *depth == 4).map(|(_, n)| n.name.to_string()).collect();
/// assert_eq!(deepest, ["ServerID", "Rights"]);
/// ```
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    stack: Vec<(usize, &'a NodeDefinition)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, &'a NodeDefinition);

    fn next(&mut self) -> Option<Self::Item> {
        let (depth, node) = self.stack.pop()?;
        self.stack
            .extend(node.children.iter().rev().map(|c| (depth + 1, c)));
        Some((depth, node))
    }
}

impl<'a> IntoIterator for &'a MoDefinition {
    type Item = (usize, &'a NodeDefinition);
    type IntoIter = Iter<'a>;

    /// [`MoDefinition::iter`].
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a NodeDefinition {
    type Item = (usize, &'a NodeDefinition);
    type IntoIter = Iter<'a>;

    /// [`NodeDefinition::iter`].
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The first definition with the fixed name `name`, else the first
/// placeholder.
fn find_match<'a>(defs: &'a [NodeDefinition], name: &str) -> Option<&'a NodeDefinition> {
    defs.iter()
        .find(|d| matches!(&d.name, NodeNameDef::Named(n) if n == name))
        .or_else(|| defs.iter().find(|d| d.name.is_placeholder()))
}

/// The definition of one node (`Node` element): its name or placeholder and
/// its properties (`DFProperties`), with the definitions of its children.
///
/// Absent optional properties take their DDF defaults: `Occurrence` One,
/// `Scope` Dynamic, `CaseSense` CS.
///
/// ```
/// use dm_ddf::{NodeDefinition, NodeNameDef};
/// use dm_types::{AccessType, NodeFormat, Occurrence};
///
/// let mut node = NodeDefinition::placeholder(NodeFormat::Node);
/// node.occurrence = Occurrence::ZeroOrMore;
/// node.access_type = AccessType::GET | AccessType::ADD;
/// node.children.push(NodeDefinition::named("MOID", NodeFormat::Chr));
/// assert_eq!(node.name, NodeNameDef::Placeholder { hint: None });
/// assert!(node.matches("anything"));
/// assert_eq!(node.child("MOID").map(|c| c.format), Some(NodeFormat::Chr));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDefinition {
    /// `NodeName`: a fixed name or a placeholder.
    pub name: NodeNameDef,
    /// `Path`: where the node sits in a DM 1.x tree (`./Vendor/MSFT`), if
    /// given.
    pub path: Option<String>,
    /// `AccessType`: the operations the node allows.
    pub access_type: AccessType,
    /// `DFFormat`: `node` for an interior node, else the leaf's format.
    pub format: NodeFormat,
    /// `Occurrence`: how many sibling nodes this definition stands for.
    pub occurrence: Occurrence,
    /// `Scope`: permanent or dynamic.
    pub scope: Scope,
    /// `DefaultValue`, as written (not trimmed).
    pub default_value: Option<String>,
    /// `Description`, trimmed.
    pub description: Option<String>,
    /// `DFTitle`, trimmed.
    pub title: Option<String>,
    /// `DFType`: the MIME type of a leaf or the MOID rooted at an interior
    /// node.
    pub df_type: Option<DfType>,
    /// `CaseSense`: whether the node's value is case sensitive.
    pub case_sense: CaseSense,
    /// The node's value when the document describes an instance: `Value`
    /// (DTD 1.2) or `Data` (older tree-description files), as written.
    pub value: Option<String>,
    /// `Type`: the MIME type of `Data` in older tree-description files.
    pub value_type: Option<String>,
    /// Vendor-namespace elements inside `Node` or `DFProperties`.
    pub extensions: Vec<Extension>,
    /// The definitions of the child nodes, in document order.
    pub children: Vec<NodeDefinition>,
}

impl NodeDefinition {
    /// A definition with `name` and `format` and default properties: no
    /// access, `One`, `Dynamic`, `CS`, nothing else.
    ///
    /// ```
    /// use dm_ddf::{NodeDefinition, NodeNameDef};
    /// use dm_types::{NodeFormat, Occurrence};
    ///
    /// let node = NodeDefinition::new(NodeNameDef::Named("DevID".into()), NodeFormat::Chr);
    /// assert_eq!(node.occurrence, Occurrence::One);
    /// assert!(node.access_type.is_empty());
    /// ```
    pub fn new(name: NodeNameDef, format: NodeFormat) -> NodeDefinition {
        NodeDefinition {
            name,
            path: None,
            access_type: AccessType::NONE,
            format,
            occurrence: Occurrence::default(),
            scope: Scope::default(),
            default_value: None,
            description: None,
            title: None,
            df_type: None,
            case_sense: CaseSense::default(),
            value: None,
            value_type: None,
            extensions: Vec::new(),
            children: Vec::new(),
        }
    }

    /// [`NodeDefinition::new`] with a fixed name.
    ///
    /// ```
    /// let node = dm_ddf::NodeDefinition::named("Lang", dm_types::NodeFormat::Chr);
    /// assert_eq!(node.name.to_string(), "Lang");
    /// ```
    pub fn named(name: impl Into<String>, format: NodeFormat) -> NodeDefinition {
        NodeDefinition::new(NodeNameDef::Named(name.into()), format)
    }

    /// [`NodeDefinition::new`] for an unnamed node (a placeholder without
    /// hint, shown `<x>`).
    ///
    /// ```
    /// let node = dm_ddf::NodeDefinition::placeholder(dm_types::NodeFormat::Node);
    /// assert_eq!(node.name.to_string(), "<x>");
    /// ```
    pub fn placeholder(format: NodeFormat) -> NodeDefinition {
        NodeDefinition::new(NodeNameDef::Placeholder { hint: None }, format)
    }

    /// Whether a node called `name` matches this definition: the same fixed
    /// name, or any name for a placeholder. Names are case sensitive.
    ///
    /// ```
    /// let node = dm_ddf::NodeDefinition::named("Ext", dm_types::NodeFormat::Node);
    /// assert!(node.matches("Ext"));
    /// assert!(!node.matches("ext"));
    /// ```
    pub fn matches(&self, name: &str) -> bool {
        match &self.name {
            NodeNameDef::Named(n) => n == name,
            NodeNameDef::Placeholder { .. } => true,
        }
    }

    /// Whether the node is interior (`DFFormat` `node`).
    ///
    /// ```
    /// let devinfo = dm_ddf::standard::devinfo();
    /// assert!(devinfo.lookup_path("DevInfo/Ext").is_some_and(|n| n.is_interior()));
    /// ```
    pub fn is_interior(&self) -> bool {
        self.format.is_interior()
    }

    /// Whether the node is secret: its `AccessType` lacks `Get`, so its
    /// value (or subtree) is never returned by any read, whatever the
    /// permissions (docs/protocol.md sections 7 and 10.2).
    ///
    /// ```
    /// let dmacc = dm_ddf::standard::dmacc();
    /// assert!(dmacc.lookup_path("x/Auth/Noti/Secret").is_some_and(|n| n.is_secret()));
    /// assert!(dmacc.lookup_path("x/Auth/Noti/Data").is_some_and(|n| !n.is_secret()));
    /// ```
    pub fn is_secret(&self) -> bool {
        !self.access_type.contains(AccessType::GET)
    }

    /// Whether the node is an open interior node: an interior node with no
    /// child definitions whose `DFType` is a `DDFName` (possibly empty). Its
    /// content is described elsewhere (another MO, vendor extensions), so
    /// validation accepts any subtree below it.
    ///
    /// ```
    /// let devinfo = dm_ddf::standard::devinfo();
    /// assert!(devinfo.lookup_path("DevInfo/Ext").is_some_and(|n| n.is_open()));
    /// assert!(devinfo.lookup_path("DevInfo").is_some_and(|n| !n.is_open()));
    /// ```
    pub fn is_open(&self) -> bool {
        self.is_interior()
            && self.children.is_empty()
            && matches!(self.df_type, Some(DfType::DdfName(_)))
    }

    /// Whether the node is a vendor extension point: an interior node whose
    /// `DFType` is an empty `DDFName` (like DMAcc `Ext`). Children it defines
    /// are validated against their definitions; any other child is the
    /// vendor's and is accepted with any subtree. An extension point without
    /// child definitions is also [open](NodeDefinition::is_open).
    ///
    /// ```
    /// let dmacc = dm_ddf::standard::dmacc();
    /// let ext = dmacc.lookup_path("x/Ext").expect("defined");
    /// assert!(ext.is_extension_point() && !ext.is_open());
    /// assert!(ext.child("HTTPAuth").is_some());
    /// assert!(!dmacc.lookup_path("x/Auth").is_some_and(|n| n.is_extension_point()));
    /// ```
    pub fn is_extension_point(&self) -> bool {
        self.is_interior()
            && matches!(&self.df_type, Some(DfType::DdfName(name)) if name.is_empty())
    }

    /// The MOID of the MO rooted at this node: its `DFType` `DDFName` when
    /// that is a valid MOID.
    ///
    /// ```
    /// let devinfo = dm_ddf::standard::devinfo();
    /// assert!(devinfo.nodes[0].moid().is_some());
    /// assert!(devinfo.lookup_path("DevInfo/DevID").is_some_and(|n| n.moid().is_none()));
    /// ```
    pub fn moid(&self) -> Option<Moid> {
        match &self.df_type {
            Some(DfType::DdfName(name)) => Moid::new(name.as_str()).ok(),
            _ => None,
        }
    }

    /// The definition a child called `name` matches: the child with that
    /// fixed name, else the first placeholder child.
    ///
    /// ```
    /// let dacmo = dm_ddf::standard::dacmo();
    /// let acl = dacmo.lookup_path("x/ACL").expect("defined");
    /// assert!(acl.child("srv7").is_some_and(|c| c.name.is_placeholder()));
    /// ```
    pub fn child(&self, name: &str) -> Option<&NodeDefinition> {
        find_match(&self.children, name)
    }

    /// The definition of the node at `path` below this one, given as node
    /// names (an empty path gives this definition).
    ///
    /// ```
    /// let dacmo = dm_ddf::standard::dacmo();
    /// let root = &dacmo.nodes[0];
    /// assert_eq!(root.lookup(["ACL", "s1", "Rights"]).map(|n| n.name.to_string()).as_deref(), Some("Rights"));
    /// assert!(root.lookup(Vec::<String>::new()).is_some());
    /// ```
    pub fn lookup<I>(&self, path: I) -> Option<&NodeDefinition>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        path.into_iter()
            .try_fold(self, |node, name| node.child(name.as_ref()))
    }

    /// This definition and those below it, with their depth relative to it
    /// (this one is 1), depth first.
    ///
    /// ```
    /// let devinfo = dm_ddf::standard::devinfo();
    /// assert_eq!(devinfo.nodes[0].iter().count(), devinfo.node_count());
    /// ```
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            stack: vec![(1, self)],
        }
    }
}

/// The name of a node definition (`NodeName`): fixed, or a placeholder for
/// a name chosen at run time.
///
/// A `NodeName` that is empty (or only white space), `*`, or written like
/// `<name>` is a placeholder; `<name>` keeps `name` as a hint.
///
/// ```
/// use dm_ddf::NodeNameDef;
///
/// assert_eq!(NodeNameDef::from_text(" DevID "), NodeNameDef::Named("DevID".into()));
/// assert_eq!(NodeNameDef::from_text("*"), NodeNameDef::Placeholder { hint: None });
/// assert_eq!(NodeNameDef::from_text("<y>").to_string(), "<y>");
/// assert_eq!(NodeNameDef::from_text("").to_string(), "<x>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeNameDef {
    /// A fixed name (`.` is kept as written: it names a DM 1.x tree root).
    Named(String),
    /// An unnamed node: any name matches.
    Placeholder {
        /// The `name` of a `NodeName` written `<name>`.
        hint: Option<String>,
    },
}

impl NodeNameDef {
    /// The name written in a `NodeName` element (trimmed first).
    pub fn from_text(text: &str) -> NodeNameDef {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return NodeNameDef::Placeholder { hint: None };
        }
        if let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            let inner = inner.trim();
            return NodeNameDef::Placeholder {
                hint: (!inner.is_empty()).then(|| inner.to_owned()),
            };
        }
        NodeNameDef::Named(text.to_owned())
    }

    /// Whether this is a placeholder.
    ///
    /// ```
    /// assert!(dm_ddf::NodeNameDef::from_text("").is_placeholder());
    /// ```
    pub fn is_placeholder(&self) -> bool {
        matches!(self, NodeNameDef::Placeholder { .. })
    }

    /// The fixed name, if any.
    ///
    /// ```
    /// assert_eq!(dm_ddf::NodeNameDef::from_text("Ext").as_named(), Some("Ext"));
    /// ```
    pub fn as_named(&self) -> Option<&str> {
        match self {
            NodeNameDef::Named(n) => Some(n),
            NodeNameDef::Placeholder { .. } => None,
        }
    }
}

impl fmt::Display for NodeNameDef {
    /// A fixed name as is; a placeholder as `<hint>`, or `<x>` without hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeNameDef::Named(n) => f.write_str(n),
            NodeNameDef::Placeholder { hint } => {
                write!(f, "<{}>", hint.as_deref().unwrap_or("x"))
            }
        }
    }
}

/// `DFType`: the MIME type of a leaf's value, or the `DDFName` (MOID) of the
/// object rooted at an interior node. Either may be empty in real files.
///
/// ```
/// use dm_ddf::DfType;
///
/// let t = DfType::Mime("text/plain".into());
/// assert_eq!(t.element_name(), "MIME");
/// assert_eq!(t.text(), "text/plain");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DfType {
    /// `MIME`: the type of the leaf's value, trimmed.
    Mime(String),
    /// `DDFName`: the MOID of the object rooted here, trimmed.
    DdfName(String),
}

impl DfType {
    /// The DDF element name (`MIME` or `DDFName`).
    pub fn element_name(&self) -> &'static str {
        match self {
            DfType::Mime(_) => "MIME",
            DfType::DdfName(_) => "DDFName",
        }
    }

    /// The text of the element.
    pub fn text(&self) -> &str {
        match self {
            DfType::Mime(t) | DfType::DdfName(t) => t,
        }
    }
}

/// `CaseSense`: whether a node's value is case sensitive (`CS`, the
/// default) or not (`CIS`).
///
/// ```
/// use dm_ddf::CaseSense;
///
/// assert_eq!(CaseSense::default(), CaseSense::Cs);
/// assert_eq!(CaseSense::from_name("CIS"), Some(CaseSense::Cis));
/// assert_eq!(CaseSense::Cis.name(), "CIS");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CaseSense {
    /// `CS`: case sensitive.
    #[default]
    Cs,
    /// `CIS`: case insensitive.
    Cis,
}

impl CaseSense {
    /// The DDF element name.
    pub fn name(self) -> &'static str {
        match self {
            CaseSense::Cs => "CS",
            CaseSense::Cis => "CIS",
        }
    }

    /// The value named by a DDF element name.
    pub fn from_name(name: &str) -> Option<CaseSense> {
        match name {
            "CS" => Some(CaseSense::Cs),
            "CIS" => Some(CaseSense::Cis),
            _ => None,
        }
    }
}

/// A vendor-namespace element (e.g. `MSFT:Applicability`) kept as found:
/// name, attributes, text and child elements. The DDF vocabulary does not
/// define these; they are neither interpreted nor dropped.
///
/// ```
/// let def = dm_ddf::MoDefinition::parse_str(r#"<MgmtTree xmlns:MSFT="urn:example:msft">
///   <VerDTD>1.2</VerDTD><MSFT:Diagnostics level="2">on</MSFT:Diagnostics></MgmtTree>"#)?;
/// let ext = &def.extensions[0];
/// assert_eq!(ext.name, "MSFT:Diagnostics");
/// assert_eq!(ext.namespace.as_deref(), Some("urn:example:msft"));
/// assert_eq!(ext.attribute("level"), Some("2"));
/// assert_eq!(ext.text, "on");
/// # Ok::<(), dm_ddf::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The element name with its prefix, as declared (`MSFT:AllowedValues`).
    pub name: String,
    /// The namespace URI, if any.
    pub namespace: Option<String>,
    /// The attributes (local name, value), in document order.
    pub attributes: Vec<(String, String)>,
    /// The element's own text (not its children's), trimmed.
    pub text: String,
    /// The child elements.
    pub children: Vec<Extension>,
}

impl Extension {
    /// The value of the attribute with this local name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}
