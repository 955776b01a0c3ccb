//! The one error type of `dm-ddf`, and positions in a DDF document.

use std::fmt;
use std::path::PathBuf;

use dm_types::StatusCode;

use crate::violation::Violation;

/// A place in a DDF document: byte offset, and 1-based line and column.
///
/// Columns count characters (not bytes) from the start of the line, the
/// first character being column 1; a byte order mark counts as a character.
///
/// ```
/// use dm_ddf::Position;
///
/// let pos = Position::locate("<a>\n  <b/>", 6);
/// assert_eq!((pos.offset, pos.line, pos.column), (6, 2, 3));
/// assert_eq!(pos.to_string(), "line 2, column 3 (byte 6)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// Byte offset from the start of the document.
    pub offset: usize,
    /// Line number, from 1 (lines end with `\n`).
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (an offset past the end
    /// counts as the end).
    ///
    /// ```
    /// use dm_ddf::Position;
    ///
    /// // Byte 11 is the '/' after 'é' (two bytes) on line 2.
    /// let pos = Position::locate("\u{feff}<a>\r\n<é/>", 11);
    /// assert_eq!((pos.line, pos.column), (2, 3));
    /// assert_eq!(Position::locate("ab", 99).offset, 2);
    /// ```
    pub fn locate(text: &str, offset: usize) -> Position {
        Position::locate_bytes(text.as_bytes(), offset)
    }

    /// Like [`Position::locate`], on bytes of which at least the part before
    /// `offset` is UTF-8 (as with the valid prefix of a failed UTF-8 check).
    pub(crate) fn locate_bytes(bytes: &[u8], offset: usize) -> Position {
        let offset = offset.min(bytes.len());
        let before = &bytes[..offset];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Position {
            offset,
            // One more line than there are line feeds before the offset.
            line: before.split(|&b| b == b'\n').count(),
            // Every character starts with a byte that is not a continuation byte.
            column: 1 + before[line_start..]
                .iter()
                .filter(|&&b| b & 0xC0 != 0x80)
                .count(),
        }
    }

    /// The position at `line` and `column` (both from 1, column in
    /// characters) in `text`; past the end of a line or of the text, the
    /// position is clamped there.
    pub(crate) fn from_line_column(text: &str, line: usize, column: usize) -> Position {
        let mut line_start = 0;
        for _ in 1..line {
            match text[line_start..].find('\n') {
                Some(i) => line_start += i + 1,
                None => break,
            }
        }
        let line_text = &text[line_start..];
        let line_end = line_text.find('\n').unwrap_or(line_text.len());
        let in_line = line_text[..line_end]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(line_end, |(i, _)| i);
        Position::locate(text, line_start + in_line)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {} (byte {})",
            self.line, self.column, self.offset
        )
    }
}

/// Everything that can go wrong in `dm-ddf`: reading a DDF document, loading
/// a folder of them, or validating MO data against a definition.
///
/// Errors about a document say where the problem is ([`Error::position`]).
/// [`Error::status`] gives the status code that reports the error when it
/// reaches the protocol.
///
/// ```
/// use dm_ddf::{Error, MoDefinition};
///
/// let err = MoDefinition::parse(b"<MgmtTree>\n  <VerDTD>1.2</VerDTD>\n  <Node>").unwrap_err();
/// assert!(matches!(err, Error::Xml { .. }));
/// assert_eq!(err.position().map(|p| p.line), Some(3));
/// assert_eq!(err.status().as_u16(), 400);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is larger than [`Limits::max_bytes`](crate::Limits);
    /// nothing was parsed.
    #[error("DDF of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The document size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A limit other than the size was reached while parsing.
    #[error("{what} limit of {limit} exceeded at {position}")]
    Limit {
        /// Which limit (`element nesting depth`, `XML nodes`).
        what: &'static str,
        /// Its value.
        limit: usize,
        /// Where parsing stopped.
        position: Position,
    },
    /// The bytes are not UTF-8 (a DDF is UTF-8 XML; other encodings are
    /// refused, never guessed at).
    #[error("invalid UTF-8 at {position}")]
    Utf8 {
        /// The first byte that is not UTF-8.
        position: Position,
    },
    /// The text `<!ENTITY` where the reader cannot tell whether the XML
    /// parser would take it for a declaration (after a prolog it could not
    /// follow, or in a declaration left open). Declarations it can follow
    /// are ignored with a warning instead; no entity is ever expanded.
    #[error("entity declaration at {position} that cannot be skipped safely")]
    EntityDeclaration {
        /// Where the text starts.
        position: Position,
    },
    /// A reference to an entity other than the five XML predefines
    /// (`&lt;` ...) and character references. Entity declarations are
    /// ignored, never expanded, so every such entity is undeclared.
    #[error(
        "reference to the undeclared entity &{name}; at {position} (entities are never expanded)"
    )]
    EntityReference {
        /// The entity name (at most 64 characters of it).
        name: String,
        /// Where the reference is.
        position: Position,
    },
    /// The document is not well-formed XML.
    #[error("malformed XML at {position}: {message}")]
    Xml {
        /// Where the XML parser stopped.
        position: Position,
        /// The XML parser's description of the problem.
        message: String,
    },
    /// Well-formed XML that is not a DDF document (`MgmtTree` DTD).
    #[error("invalid DDF at {position}: {message}")]
    Ddf {
        /// Where the offending element starts.
        position: Position,
        /// What is wrong.
        message: String,
    },
    /// MO data that does not fit its definition; every violation found is
    /// listed.
    #[error("MO data does not fit its definition: {}", list(.0))]
    Invalid(Vec<Violation>),
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file of a folder could not be parsed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        #[source]
        source: Box<Error>,
    },
    /// A repository already holds a definition for this MOID and version.
    #[error("a definition of {moid} is already loaded{}", from_path(.first.as_ref()))]
    Duplicate {
        /// The MOID both definitions declare.
        moid: String,
        /// Where the definition already loaded came from, if from a file.
        first: Option<PathBuf>,
    },
}

fn list(violations: &[Violation]) -> String {
    let mut text = String::new();
    for (i, v) in violations.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&v.to_string());
    }
    text
}

fn from_path(path: Option<&PathBuf>) -> String {
    path.map(|p| format!(" (from {})", p.display()))
        .unwrap_or_default()
}

impl Error {
    /// Where in the document the problem is, for errors about a document
    /// (also through [`Error::File`]).
    ///
    /// ```
    /// let err = dm_ddf::MoDefinition::parse(b"<MgmtTree>\n<VerDTD>9</VerDTD></MgmtTree>").unwrap_err();
    /// let pos = err.position().expect("a document error");
    /// assert_eq!((pos.offset, pos.line, pos.column), (11, 2, 1));
    /// ```
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Limit { position, .. }
            | Error::Utf8 { position }
            | Error::EntityDeclaration { position }
            | Error::EntityReference { position, .. }
            | Error::Xml { position, .. }
            | Error::Ddf { position, .. } => Some(*position),
            Error::File { source, .. } => source.position(),
            _ => None,
        }
    }

    /// The violations of an [`Error::Invalid`] (empty for other errors).
    ///
    /// ```
    /// use dm_types::{LeafValue, MoData, MoNode, NodeName};
    ///
    /// let data = MoData::new(NodeName::new("Nope")?, MoNode::Leaf(LeafValue::Null));
    /// let err = dm_ddf::standard::devinfo().validate(&data).unwrap_err();
    /// assert_eq!(err.violations()[0].path, "Nope");
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn violations(&self) -> &[Violation] {
        match self {
            Error::Invalid(violations) => violations,
            _ => &[],
        }
    }

    /// The status code that reports this error: `413` for a size or other
    /// limit, `500` for a repository that cannot be read or holds conflicting
    /// definitions, `400` for a malformed DDF or MO data that does not fit
    /// its definition.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::TooLarge { .. } | Error::Limit { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Io { .. } | Error::Duplicate { .. } => StatusCode::INTERNAL_ERROR,
            Error::File { source, .. } => source.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
