//! What a tolerant read of a DDF document reports: departures from the DTD
//! that were understood, each with where it is and what the reader did.
//!
//! The decisions, element by element, are in docs/protocol.md section 10.1
//! (to be folded into docs/protocol.md section 10.1).

use std::fmt;

use crate::{MoDefinition, Position};

/// A departure from the DDF DTD that the reader understood and read past.
///
/// `path` names the element concerned from the root, with the `NodeName` of
/// each enclosing `Node` in brackets
/// (`MgmtTree/Node[DevInfo]/Node[DevId]/DFProperties/DFTitle`); it is empty
/// for what lies before the root element (the DOCTYPE, prolog comments).
///
/// ```
/// use dm_ddf::{Limits, MoDefinition, WarningKind};
///
/// let parsed = MoDefinition::parse_str_with_warnings(
///     "<MgmtTree><VerDTD>1.2</VerDTD>\n<Man>ACME</Man><Man>ACME</Man></MgmtTree>",
///     &Limits::default(),
/// )?;
/// assert_eq!(parsed.definition.man.as_deref(), Some("ACME"));
/// // No `Node` (at the root element, first), and `Man` twice.
/// let codes: Vec<&str> = parsed.warnings.iter().map(|w| w.kind.code()).collect();
/// assert_eq!(codes, ["missing", "repeated"]);
/// let warning = &parsed.warnings[1];
/// assert!(matches!(&warning.kind, WarningKind::Repeated { element } if element == "Man"));
/// assert_eq!((warning.position.line, warning.position.column), (2, 16));
/// assert_eq!(warning.path, "MgmtTree/Man");
/// assert_eq!(
///     warning.to_string(),
///     "line 2, column 16 (byte 46), MgmtTree/Man: <Man> appears again with the same content; the repeat is ignored"
/// );
/// # Ok::<(), dm_ddf::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the departure starts (the `<` of the element, or the first
    /// character of the text or declaration).
    pub position: Position,
    /// The element concerned, from the root (see above).
    pub path: String,
    /// What departs from the DTD and what the reader did about it.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.position, self.kind)
        } else {
            write!(f, "{}, {}: {}", self.position, self.path, self.kind)
        }
    }
}

/// The kinds of [`Warning`]: each says what the document does and what the
/// reader kept.
///
/// Element names are given as written (with a prefix for another namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// An element the DTD allows once (or a value given twice, such as
    /// `<Get/><Get/>`) appears again with the same content; the repeat
    /// changes nothing and is ignored.
    Repeated {
        /// The repeated element.
        element: String,
    },
    /// A descriptive element the DTD allows once (`Man`, `Mod`,
    /// `Description`, `DFTitle`, `MIME`, `Type`) appears again with other
    /// content; the first is kept, the repeat ignored.
    RepeatedDiffering {
        /// The repeated element.
        element: String,
    },
    /// A second `DFProperties` in one `Node`: its properties are read as if
    /// they were in the first (each property keeps its own rule for repeats).
    Merged {
        /// The repeated element.
        element: String,
    },
    /// Values that disagree where only one is meant; the reader took the
    /// narrower reading (fewer rights, `Permanent`, `CS`, the `DFType` that
    /// fits the format).
    Narrowed {
        /// The element whose values disagree.
        element: String,
        /// What was kept, in DDF words (`Get`, `Permanent`, `DDFName`).
        kept: String,
    },
    /// An element of the DDF namespace the DTD does not define here; kept,
    /// uninterpreted, as an [`Extension`](crate::Extension) of the enclosing
    /// node (or of the definition, at the top level).
    UnknownElement {
        /// The element.
        element: String,
        /// The element it is in.
        parent: String,
    },
    /// A value element the DTD does not define (or one of another
    /// namespace) inside `AccessType`, `DFFormat`, `Occurrence`, `Scope`,
    /// `DFType` or `CaseSense`; ignored (it grants no right), and `read_as`
    /// says what the element was read as.
    UnknownValue {
        /// The element holding the value (`AccessType`, `Scope`, ...).
        element: String,
        /// The unknown value element, as written.
        value: String,
        /// What the reader used instead.
        read_as: String,
    },
    /// An element where the DTD's order puts it earlier; read as if in
    /// order.
    OutOfOrder {
        /// The element out of order.
        element: String,
        /// The element before it that the DTD puts after it.
        after: String,
    },
    /// An element that must hold one value element (`Occurrence`, `Scope`,
    /// `DFType`, `CaseSense`) holds none; read as absent (its default).
    Empty {
        /// The empty element.
        element: String,
    },
    /// An element the DTD requires is missing; the reader used the safe
    /// reading `read_as` (`AccessType`: no rights; `Node` of `MgmtTree`:
    /// a definition without nodes).
    Missing {
        /// The missing element.
        element: String,
        /// The element it is missing from.
        parent: String,
        /// What the reader used instead.
        read_as: String,
    },
    /// Text where the DTD allows only elements; ignored.
    UnexpectedText {
        /// The element holding the text.
        element: String,
    },
    /// Markup inside a descriptive text (`Man`, `Mod`, `Description`,
    /// `DFTitle`); its text is kept, the markup dropped.
    MarkupInText {
        /// The element holding the text.
        element: String,
        /// The child element found in it.
        child: String,
    },
    /// An entity declaration in the DOCTYPE's internal subset. Entities are
    /// never expanded: the declaration is ignored, and a reference to the
    /// entity is refused ([`Error::EntityReference`](crate::Error)).
    EntityDeclarationIgnored {
        /// The declared name (with `%` for a parameter entity).
        name: String,
    },
    /// The text `<!ENTITY` inside a comment, a CDATA section or a processing
    /// instruction: not a declaration, nothing to do.
    EntityTextIgnored,
    /// The DOCTYPE names another root element than `MgmtTree`; the document
    /// is read by its root element.
    DoctypeName {
        /// The name in the DOCTYPE.
        name: String,
    },
    /// The warnings reached [`Limits::max_warnings`](crate::Limits); the
    /// ones after are not listed (the document is still read in full).
    TooManyWarnings {
        /// The limit.
        limit: usize,
    },
}

impl WarningKind {
    /// A short stable code for the kind (`repeated`, `unknown_element`, ...),
    /// for machine-readable output.
    ///
    /// ```
    /// let kind = dm_ddf::WarningKind::EntityTextIgnored;
    /// assert_eq!(kind.code(), "entity_text_ignored");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            WarningKind::Repeated { .. } => "repeated",
            WarningKind::RepeatedDiffering { .. } => "repeated_differing",
            WarningKind::Merged { .. } => "merged",
            WarningKind::Narrowed { .. } => "narrowed",
            WarningKind::UnknownElement { .. } => "unknown_element",
            WarningKind::UnknownValue { .. } => "unknown_value",
            WarningKind::OutOfOrder { .. } => "out_of_order",
            WarningKind::Empty { .. } => "empty",
            WarningKind::Missing { .. } => "missing",
            WarningKind::UnexpectedText { .. } => "unexpected_text",
            WarningKind::MarkupInText { .. } => "markup_in_text",
            WarningKind::EntityDeclarationIgnored { .. } => "entity_declaration_ignored",
            WarningKind::EntityTextIgnored => "entity_text_ignored",
            WarningKind::DoctypeName { .. } => "doctype_name",
            WarningKind::TooManyWarnings { .. } => "too_many_warnings",
        }
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarningKind::Repeated { element } => write!(
                f,
                "<{element}> appears again with the same content; the repeat is ignored"
            ),
            WarningKind::RepeatedDiffering { element } => write!(
                f,
                "<{element}> appears again with other content; the first is kept"
            ),
            WarningKind::Merged { element } => write!(
                f,
                "<{element}> appears again; its contents are read with the first"
            ),
            WarningKind::Narrowed { element, kept } => write!(
                f,
                "<{element}> values disagree; the narrower reading is kept: {kept}"
            ),
            WarningKind::UnknownElement { element, parent } => write!(
                f,
                "<{element}> is not a DDF element of <{parent}>; kept uninterpreted as an extension"
            ),
            WarningKind::UnknownValue {
                element,
                value,
                read_as,
            } => write!(
                f,
                "<{value}> is not a value of <{element}>; ignored, read as {read_as}"
            ),
            WarningKind::OutOfOrder { element, after } => write!(
                f,
                "<{element}> comes after <{after}>, out of the DTD's order; read as if in order"
            ),
            WarningKind::Empty { element } => {
                write!(f, "<{element}> holds no value; read as absent")
            }
            WarningKind::Missing {
                element,
                parent,
                read_as,
            } => write!(f, "<{parent}> has no <{element}>; read as {read_as}"),
            WarningKind::UnexpectedText { element } => {
                write!(f, "text in <{element}>, which holds elements; ignored")
            }
            WarningKind::MarkupInText { element, child } => write!(
                f,
                "element <{child}> inside the text of <{element}>; its text is kept"
            ),
            WarningKind::EntityDeclarationIgnored { name } => write!(
                f,
                "entity declaration {name:?} ignored (entities are never expanded)"
            ),
            WarningKind::EntityTextIgnored => f.write_str(
                "the text <!ENTITY in a comment, CDATA section or processing instruction; not a declaration",
            ),
            WarningKind::DoctypeName { name } => write!(
                f,
                "the DOCTYPE names <{name}>, not <MgmtTree>; the document is read by its root element"
            ),
            WarningKind::TooManyWarnings { limit } => write!(
                f,
                "more than {limit} warnings; the rest are not listed"
            ),
        }
    }
}

/// A definition read tolerantly, with the departures from the DTD that the
/// reader understood ([`MoDefinition::parse_with_warnings`]).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The definition.
    pub definition: MoDefinition,
    /// The departures read past, in document order (a
    /// [`WarningKind::TooManyWarnings`] last, if the limit was reached).
    pub warnings: Vec<Warning>,
}

/// The longest name a warning repeats; longer ones are cut with `…`, so
/// that warnings stay small whatever the document holds.
const SHORT: usize = 64;

/// `name`, cut to [`SHORT`] characters.
pub(crate) fn short(name: &str) -> String {
    match name.char_indices().nth(SHORT) {
        Some((i, _)) => format!("{}…", &name[..i]),
        None => name.to_owned(),
    }
}
