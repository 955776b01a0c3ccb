//! Node properties from MO definitions (docs/protocol.md section 10): format,
//! access types, occurrence and scope.

use std::fmt;

/// The DDF format of a node (`DFFormat`).
///
/// ```
/// use dm_types::NodeFormat;
///
/// assert_eq!(NodeFormat::from_name("int"), Some(NodeFormat::Int));
/// assert_eq!(NodeFormat::Int.name(), "int");
/// assert!(NodeFormat::Node.is_interior());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NodeFormat {
    /// Interior node.
    Node,
    /// Leaf with no value.
    Null,
    /// Base64 data (carried as base64 text in JSON).
    B64,
    /// Binary data (carried as base64 text in JSON).
    Bin,
    /// Boolean.
    Bool,
    /// Character data.
    Chr,
    /// Integer.
    Int,
    /// XML text.
    Xml,
    /// Date (ISO 8601 text).
    Date,
    /// Time (ISO 8601 text).
    Time,
    /// Floating point number.
    Float,
}

impl NodeFormat {
    /// Every format, in DDF order.
    pub const ALL: [NodeFormat; 11] = [
        NodeFormat::Node,
        NodeFormat::Null,
        NodeFormat::B64,
        NodeFormat::Bin,
        NodeFormat::Bool,
        NodeFormat::Chr,
        NodeFormat::Int,
        NodeFormat::Xml,
        NodeFormat::Date,
        NodeFormat::Time,
        NodeFormat::Float,
    ];

    /// The DDF element name (`node`, `int`, ...).
    pub fn name(self) -> &'static str {
        match self {
            NodeFormat::Node => "node",
            NodeFormat::Null => "null",
            NodeFormat::B64 => "b64",
            NodeFormat::Bin => "bin",
            NodeFormat::Bool => "bool",
            NodeFormat::Chr => "chr",
            NodeFormat::Int => "int",
            NodeFormat::Xml => "xml",
            NodeFormat::Date => "date",
            NodeFormat::Time => "time",
            NodeFormat::Float => "float",
        }
    }

    /// The format named by a DDF element name (case-sensitive).
    pub fn from_name(name: &str) -> Option<NodeFormat> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether nodes of this format are interior (have children).
    pub fn is_interior(self) -> bool {
        self == NodeFormat::Node
    }
}

impl fmt::Display for NodeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of DDF access types (`Add`, `Copy`, `Delete`, `Exec`, `Get`,
/// `Replace`).
///
/// ```
/// use dm_types::AccessType;
///
/// let access = AccessType::GET | AccessType::REPLACE;
/// assert!(access.contains(AccessType::GET));
/// assert!(!access.contains(AccessType::EXEC));
/// assert_eq!(access.to_string(), "Get,Replace");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AccessType(u8);

impl AccessType {
    /// `Add`.
    pub const ADD: AccessType = AccessType(1);
    /// `Copy`.
    pub const COPY: AccessType = AccessType(2);
    /// `Delete`.
    pub const DELETE: AccessType = AccessType(4);
    /// `Exec`.
    pub const EXEC: AccessType = AccessType(8);
    /// `Get`.
    pub const GET: AccessType = AccessType(16);
    /// `Replace`.
    pub const REPLACE: AccessType = AccessType(32);
    /// No access at all.
    pub const NONE: AccessType = AccessType(0);

    const NAMES: [(AccessType, &'static str); 6] = [
        (AccessType::ADD, "Add"),
        (AccessType::COPY, "Copy"),
        (AccessType::DELETE, "Delete"),
        (AccessType::EXEC, "Exec"),
        (AccessType::GET, "Get"),
        (AccessType::REPLACE, "Replace"),
    ];

    /// Whether every access type of `other` is in `self`.
    pub fn contains(self, other: AccessType) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The access type named by a DDF element name (`Get`, ...).
    pub fn from_name(name: &str) -> Option<AccessType> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(a, _)| *a)
    }

    /// The names of the access types in the set, in DDF order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(a, _)| self.contains(*a))
            .map(|(_, n)| n)
    }
}

impl std::ops::BitOr for AccessType {
    type Output = AccessType;
    fn bitor(self, rhs: AccessType) -> AccessType {
        AccessType(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for AccessType {
    fn bitor_assign(&mut self, rhs: AccessType) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for AccessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// How many nodes a definition stands for among its siblings (`Occurrence`).
///
/// ```
/// use dm_types::Occurrence;
///
/// assert!(Occurrence::One.allows(1));
/// assert!(!Occurrence::ZeroOrN(Some(2)).allows(3));
/// assert!(Occurrence::OneOrN(None).allows(1000));
/// assert_eq!(Occurrence::default(), Occurrence::One);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Occurrence {
    /// Exactly one (the DDF default).
    #[default]
    One,
    /// Zero or one.
    ZeroOrOne,
    /// Any number.
    ZeroOrMore,
    /// At least one.
    OneOrMore,
    /// Zero to N (`None`: N left unstated, so unbounded).
    ZeroOrN(Option<u32>),
    /// One to N (`None`: N left unstated, so unbounded).
    OneOrN(Option<u32>),
}

impl Occurrence {
    /// The fewest nodes allowed.
    pub fn min(self) -> u32 {
        match self {
            Occurrence::One | Occurrence::OneOrMore | Occurrence::OneOrN(_) => 1,
            _ => 0,
        }
    }

    /// The most nodes allowed (`None`: unbounded).
    pub fn max(self) -> Option<u32> {
        match self {
            Occurrence::One | Occurrence::ZeroOrOne => Some(1),
            Occurrence::ZeroOrMore | Occurrence::OneOrMore => None,
            Occurrence::ZeroOrN(n) | Occurrence::OneOrN(n) => n,
        }
    }

    /// Whether `count` siblings satisfy the occurrence.
    pub fn allows(self, count: usize) -> bool {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        count >= u64::from(self.min()) && self.max().is_none_or(|max| count <= u64::from(max))
    }

    /// The DDF element name (`One`, `ZeroOrN`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Occurrence::One => "One",
            Occurrence::ZeroOrOne => "ZeroOrOne",
            Occurrence::ZeroOrMore => "ZeroOrMore",
            Occurrence::OneOrMore => "OneOrMore",
            Occurrence::ZeroOrN(_) => "ZeroOrN",
            Occurrence::OneOrN(_) => "OneOrN",
        }
    }
}

impl fmt::Display for Occurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Occurrence::ZeroOrN(Some(n)) | Occurrence::OneOrN(Some(n)) => {
                write!(f, "{}({n})", self.name())
            }
            _ => f.write_str(self.name()),
        }
    }
}

/// Whether a node exists for the life of its parent (`Permanent`) or is
/// created and deleted at run time (`Dynamic`).
///
/// ```
/// use dm_types::Scope;
///
/// assert_eq!(Scope::default(), Scope::Dynamic);
/// assert_eq!(Scope::Permanent.name(), "Permanent");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Cannot be created, deleted or renamed at run time.
    Permanent,
    /// Created by HGET, removed by DELETE (the DDF default).
    #[default]
    Dynamic,
}

impl Scope {
    /// The DDF element name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Permanent => "Permanent",
            Scope::Dynamic => "Dynamic",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
