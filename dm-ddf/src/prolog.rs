//! The prolog of a DDF document (XML declaration, comments, processing
//! instructions, DOCTYPE), read before the XML parser sees the document so
//! that no entity is ever expanded.
//!
//! The XML parser expands the internal entities a DOCTYPE declares,
//! bounding nesting but not one large entity referenced many times. DDF
//! documents never need an entity, so each declaration is blanked out
//! (replaced by spaces, line feeds kept, so every byte offset, line and
//! column stays the same) and reported as a warning; a reference to one is
//! then a reference to an undeclared entity, which the XML parser refuses
//! with its position (docs/protocol.md section 10.1).
//!
//! The lexer follows the XML parser's own reading of the prolog token by
//! token (`roxmltree` 0.21: the XML declaration with quoted values, then
//! comments, processing instructions to the first `?>`, one DOCTYPE whose
//! `ELEMENT`, `ATTLIST` and `NOTATION` declarations end at the first `>`).
//! Where it cannot follow (a construct it does not know, or one left
//! open) it stops; the text `<!ENTITY` after that point is then refused,
//! since it might be a declaration the XML parser would act on.

use std::borrow::Cow;
use std::ops::Range;

use crate::{Error, Position, WarningKind};

/// The prolog as read.
pub(crate) struct Prolog<'t> {
    /// The text for the XML parser: the document with each entity
    /// declaration blanked (the same bytes when there is none).
    pub(crate) text: Cow<'t, str>,
    /// Where the lexer stopped: the start of the root element.
    pub(crate) end: usize,
    /// What to warn about, by byte offset (path: the prolog).
    pub(crate) findings: Vec<(usize, WarningKind)>,
}

/// Reads the prolog of `text`.
pub(crate) fn read(text: &str) -> Result<Prolog<'_>, Error> {
    let mut lexer = Lexer {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        blank: Vec::new(),
        findings: Vec::new(),
    };
    let clean = lexer.prolog();
    if !clean && let Some(i) = text[lexer.pos..].find("<!ENTITY") {
        return Err(Error::EntityDeclaration {
            position: Position::locate(text, lexer.pos + i),
        });
    }
    let text = if lexer.blank.is_empty() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(blanked(text, &lexer.blank))
    };
    Ok(Prolog {
        text,
        end: lexer.pos,
        findings: lexer.findings,
    })
}

/// `text` with each range replaced by spaces, line feeds kept (the ranges
/// start and end on `<` and `>`, so the result is UTF-8 of the same length).
fn blanked(text: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for range in ranges {
        out.push_str(&text[last..range.start]);
        for c in text[range.clone()].chars() {
            if c == '\n' {
                out.push('\n');
            } else {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
        }
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

struct Lexer<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    blank: Vec<Range<usize>>,
    findings: Vec<(usize, WarningKind)>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Lexer<'_> {
    /// Reads up to the root element; `false` when it had to stop before.
    fn prolog(&mut self) -> bool {
        if self.starts(b"\xEF\xBB\xBF") {
            self.pos += 3;
        }
        if self.starts(b"<?xml ") && !self.xml_declaration() {
            return false;
        }
        if !self.misc() {
            return false;
        }
        if self.starts(b"<!DOCTYPE") && !(self.doctype() && self.misc()) {
            return false;
        }
        // The root element (or nothing, which the XML parser refuses).
        match self.bytes.get(self.pos..self.pos + 2) {
            Some([b'<', next]) => !matches!(next, b'!' | b'?' | b'/'),
            _ => self.pos >= self.bytes.len(),
        }
    }

    fn starts(&self, prefix: &[u8]) -> bool {
        self.bytes[self.pos..].starts_with(prefix)
    }

    fn skip_spaces(&mut self) {
        while self.bytes.get(self.pos).is_some_and(|&b| is_space(b)) {
            self.pos += 1;
        }
    }

    /// The offset of `needle` at or after `from`.
    fn find(&self, needle: &str, from: usize) -> Option<usize> {
        self.text
            .get(from..)
            .and_then(|rest| rest.find(needle))
            .map(|i| from + i)
    }

    /// Notes each `<!ENTITY` in `range` (a comment or processing
    /// instruction).
    fn note_entity_text(&mut self, range: Range<usize>) {
        let start = range.start;
        for (i, _) in self.text[range].match_indices("<!ENTITY") {
            self.findings
                .push((start + i, WarningKind::EntityTextIgnored));
        }
    }

    /// Comments, processing instructions and white space.
    fn misc(&mut self) -> bool {
        loop {
            self.skip_spaces();
            let done = if self.starts(b"<!--") {
                self.comment()
            } else if self.starts(b"<?") {
                self.processing_instruction()
            } else {
                return true;
            };
            if !done {
                return false;
            }
        }
    }

    fn comment(&mut self) -> bool {
        let Some(end) = self.find("-->", self.pos + 4) else {
            return false;
        };
        self.note_entity_text(self.pos + 4..end);
        self.pos = end + 3;
        true
    }

    fn processing_instruction(&mut self) -> bool {
        let Some(end) = self.find("?>", self.pos + 2) else {
            return false;
        };
        self.note_entity_text(self.pos + 2..end);
        self.pos = end + 2;
        true
    }

    /// `<?xml ... ?>`, whose values are quoted.
    fn xml_declaration(&mut self) -> bool {
        let mut i = self.pos + 5;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'"' | b'\'' => match self.bytes[i + 1..].iter().position(|&c| c == b) {
                    Some(close) => i += close + 2,
                    None => return false,
                },
                b'?' if self.bytes.get(i + 1) == Some(&b'>') => {
                    self.pos = i + 2;
                    return true;
                }
                _ => i += 1,
            }
        }
        false
    }

    /// A quoted literal at the current position.
    fn literal(&mut self) -> bool {
        let Some(&quote) = self
            .bytes
            .get(self.pos)
            .filter(|&&b| b == b'"' || b == b'\'')
        else {
            return false;
        };
        match self.bytes[self.pos + 1..].iter().position(|&c| c == quote) {
            Some(close) => {
                self.pos += close + 2;
                true
            }
            None => false,
        }
    }

    /// `<!DOCTYPE Name (SYSTEM "..." | PUBLIC "..." "...")? ([ subset ])? >`.
    fn doctype(&mut self) -> bool {
        let start = self.pos;
        self.pos += 9;
        if !self.bytes.get(self.pos).is_some_and(|&b| is_space(b)) {
            return false;
        }
        self.skip_spaces();
        let name_start = self.pos;
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|&b| !is_space(b) && b != b'[' && b != b'>')
        {
            self.pos += 1;
        }
        let name = &self.text[name_start..self.pos];
        if name.is_empty() {
            return false;
        }
        if name != "MgmtTree" {
            self.findings.push((
                start,
                WarningKind::DoctypeName {
                    name: crate::warning::short(name),
                },
            ));
        }
        self.skip_spaces();
        let literals = if self.starts(b"SYSTEM") {
            1
        } else if self.starts(b"PUBLIC") {
            2
        } else {
            0
        };
        if literals > 0 {
            self.pos += 6;
            for _ in 0..literals {
                self.skip_spaces();
                if !self.literal() {
                    return false;
                }
            }
            self.skip_spaces();
        }
        match self.bytes.get(self.pos) {
            Some(b'>') => {
                self.pos += 1;
                true
            }
            Some(b'[') => {
                self.pos += 1;
                self.internal_subset()
            }
            _ => false,
        }
    }

    /// The declarations between `[` and `]>`.
    fn internal_subset(&mut self) -> bool {
        loop {
            self.skip_spaces();
            let done = if self.starts(b"<!ENTITY") {
                self.entity_declaration()
            } else if self.starts(b"<!--") {
                self.comment()
            } else if self.starts(b"<?") {
                self.processing_instruction()
            } else if self.starts(b"]") {
                self.pos += 1;
                self.skip_spaces();
                if self.starts(b">") {
                    self.pos += 1;
                    return true;
                }
                return false;
            } else if self.starts(b"<!ELEMENT")
                || self.starts(b"<!ATTLIST")
                || self.starts(b"<!NOTATION")
            {
                match self.find(">", self.pos) {
                    Some(end) => {
                        self.pos = end + 1;
                        true
                    }
                    None => false,
                }
            } else {
                false
            };
            if !done {
                return false;
            }
        }
    }

    /// `<!ENTITY [%] name (value | external id) >`: blanked and noted.
    fn entity_declaration(&mut self) -> bool {
        let start = self.pos;
        let mut i = start + 8;
        let end = loop {
            match self.bytes.get(i) {
                Some(&q @ (b'"' | b'\'')) => match self.bytes[i + 1..].iter().position(|&c| c == q)
                {
                    Some(close) => i += close + 2,
                    None => return false,
                },
                Some(b'>') => break i + 1,
                Some(_) => i += 1,
                None => return false,
            }
        };
        let words: Vec<&str> = self.text[start + 8..end - 1]
            .split(|c: char| c.is_ascii_whitespace() || c == '"' || c == '\'')
            .filter(|w| !w.is_empty())
            .take(2)
            .collect();
        let name = match words.as_slice() {
            ["%", name, ..] => format!("%{name}"),
            [name, ..] => (*name).to_owned(),
            [] => String::new(),
        };
        self.blank.push(start..end);
        self.findings.push((
            start,
            WarningKind::EntityDeclarationIgnored {
                name: crate::warning::short(&name),
            },
        ));
        self.pos = end;
        true
    }
}
