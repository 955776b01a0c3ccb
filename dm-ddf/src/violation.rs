//! What is wrong in MO data measured against its definition: one
//! [`Violation`] per node.

use std::fmt;

use dm_types::{NodeFormat, Occurrence};

/// One way MO data breaks its definition, at a node path.
///
/// Paths are node names joined by `/`, starting with the name of the
/// `MoData` node; a missing node defined by a placeholder is shown as
/// `<x>` (or `<hint>`).
///
/// ```
/// use dm_ddf::{Violation, ViolationKind};
///
/// let v = Violation { path: "DevInfo/Foo".into(), kind: ViolationKind::UnknownNode };
/// assert_eq!(v.to_string(), "DevInfo/Foo: no such node in the definition");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The node concerned.
    pub path: String,
    /// What is wrong there.
    pub kind: ViolationKind,
}

/// What is wrong at the path of a [`Violation`].
///
/// ```
/// use dm_ddf::ViolationKind;
/// use dm_types::Occurrence;
///
/// let kind = ViolationKind::OccurrenceExceeded { occurrence: Occurrence::ZeroOrN(Some(2)), count: 3 };
/// assert_eq!(kind.to_string(), "3 nodes where the definition allows ZeroOrN(2)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViolationKind {
    /// The data has a node the definition does not describe.
    UnknownNode,
    /// A node the definition requires (`One`, `OneOrMore`, `OneOrN`) is
    /// absent.
    MissingNode,
    /// More sibling nodes match one definition than its `Occurrence` allows.
    OccurrenceExceeded {
        /// The definition's occurrence.
        occurrence: Occurrence,
        /// How many nodes matched it.
        count: usize,
    },
    /// The node's value does not fit the defined format, or a leaf stands
    /// where an interior node is defined (or the reverse).
    WrongFormat {
        /// The defined format.
        format: NodeFormat,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViolationKind::UnknownNode => f.write_str("no such node in the definition"),
            ViolationKind::MissingNode => f.write_str("required node is missing"),
            ViolationKind::OccurrenceExceeded { occurrence, count } => {
                write!(f, "{count} nodes where the definition allows {occurrence}")
            }
            ViolationKind::WrongFormat { format, reason } => {
                write!(f, "does not fit format {format}: {reason}")
            }
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}
