//! ClientURI: the address of one or more nodes on a device (docs/protocol.md
//! section 9).
//!
//! A parsed ClientURI is stored as its canonical text and three offsets; every
//! part is read back from that text. The canonical form percent-encodes every
//! byte outside the RFC 3986 unreserved set inside names and values, so `/`,
//! `?`, `&`, `:`, `(`, `)` and `*` appear raw only as syntax and splitting the
//! text is unambiguous.

use std::borrow::Cow;
use std::fmt;

use crate::percent::{
    NAME, QUERY_VALUE, UNRESERVED, canonicalize_component, decode_canonical, push_canonical,
    run_end,
};
use crate::{Error, Miid, Moid, NodeName};

/// An x-name: a single ASCII letter written `(x)`; case-sensitive.
///
/// ```
/// use dm_types::XName;
///
/// let x = XName::new('x').unwrap();
/// assert_eq!(x.to_string(), "(x)");
/// assert!(XName::new('1').is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XName(u8);

impl XName {
    /// The x-name for an ASCII letter, or `None` for any other character.
    pub fn new(letter: char) -> Option<XName> {
        u8::try_from(letter)
            .ok()
            .filter(u8::is_ascii_alphabetic)
            .map(XName)
    }

    /// The letter.
    pub fn letter(self) -> char {
        char::from(self.0)
    }

    fn bit(self) -> u64 {
        let index = if self.0.is_ascii_uppercase() {
            self.0 - b'A' + 26
        } else {
            self.0 - b'a'
        };
        1 << index
    }

    /// Reads `(L)` exactly.
    fn from_syntax(text: &str) -> Option<XName> {
        match text.as_bytes() {
            [b'(', letter, b')'] if letter.is_ascii_alphabetic() => Some(XName(*letter)),
            _ => None,
        }
    }
}

impl fmt::Display for XName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", char::from(self.0))
    }
}

/// The instance part of a ClientURI.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Instance<'a> {
    /// `MOID/<miid>/`: that instance. The MIID is decoded text.
    Miid(Cow<'a, str>),
    /// `MOID/(x)/`: the instances satisfying every `nv` condition on `(x)`.
    XName(XName),
    /// `MOID//`: the only instance (404 if none, 409 if several).
    Sole,
    /// `MOID/*/`: every instance.
    All,
}

/// One segment of a ClientURI path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Segment<'a> {
    /// A literal child name (decoded text).
    Name(Cow<'a, str>),
    /// The children satisfying every `nv` condition on this x-name.
    XName(XName),
    /// `*`: every child.
    All,
}

impl<'a> Segment<'a> {
    /// Reads one canonical segment.
    fn from_canonical(text: &'a str) -> Segment<'a> {
        if text == "*" {
            Segment::All
        } else if let Some(x) = XName::from_syntax(text) {
            Segment::XName(x)
        } else {
            Segment::Name(decode_canonical(text))
        }
    }
}

/// One `nv` field: the node standing for `xname` has a leaf at the relative
/// `path` whose value is `value`.
#[derive(Debug, Clone, Copy)]
pub struct NodeValueCondition<'a> {
    xname: XName,
    /// Canonical path text (without the leading `/`), possibly empty.
    path: &'a str,
    /// Canonical value text.
    value: &'a str,
}

impl<'a> NodeValueCondition<'a> {
    /// The x-name the condition constrains.
    pub fn xname(&self) -> XName {
        self.xname
    }

    /// The relative path of the leaf (plain node names, decoded); empty when
    /// the x-named node itself is the leaf.
    pub fn path(&self) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        let path = self.path;
        path.split('/')
            .filter(move |_| !path.is_empty())
            .map(decode_canonical)
    }

    /// The value the leaf must have (decoded text, compared exactly).
    pub fn value(&self) -> Cow<'a, str> {
        decode_canonical(self.value)
    }

    fn from_canonical(field: &'a str) -> Option<NodeValueCondition<'a>> {
        let body = field.strip_prefix("nv=")?;
        let xname = XName::from_syntax(body.get(..3)?)?;
        let rest = &body[3..];
        let colon = rest.find(':')?;
        Some(NodeValueCondition {
            xname,
            path: rest[..colon].strip_prefix('/').unwrap_or(""),
            value: &rest[colon + 1..],
        })
    }
}

/// A parsed ClientURI: MOID, instance part, path and `nv`/`cv` query.
///
/// Parsing applies every rule of docs/protocol.md section 9 and builds the
/// canonical form at the same time, so `Display` and [`ClientUri::as_str`] cost
/// nothing and comparisons (`==`, ordering, hashing) use the canonical form.
/// Accessors return decoded text, borrowed whenever nothing needed decoding.
///
/// ```
/// use dm_types::{ClientUri, Instance, Segment};
///
/// let uri = ClientUri::parse("urn:oma:mo:moid:1.0/(x)/Data/*/Value?nv=(x)/ID:GPS")?;
/// assert_eq!(uri.moid(), "urn:oma:mo:moid:1.0");
/// assert!(matches!(uri.instance(), Instance::XName(x) if x.letter() == 'x'));
/// assert_eq!(uri.path().nth(1), Some(Segment::All));
/// let nv = uri.conditions().next().unwrap();
/// assert_eq!(nv.value(), "GPS");
///
/// // Canonical form: percent-encoding normalized, `cv` last.
/// let uri = ClientUri::parse("URN:x:y/left/%41:b?cv=7")?;
/// assert_eq!(uri.to_string(), "urn:x:y/left/A%3Ab?cv=7");
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientUri {
    /// The canonical form.
    text: Box<str>,
    /// Offset of the `/` after the MOID.
    moid_end: u32,
    /// Offset just after the `/` that follows the instance part.
    path_start: u32,
    /// Offset of the `?`, or the text length.
    query_start: u32,
}

/// Longest ClientURI text the parser accepts at all, in bytes (a hard bound
/// that keeps offsets in 32 bits; `dm-codec` applies a much smaller
/// configurable limit).
pub const MAX_CLIENT_URI_LEN: usize = 1 << 24;

fn fail<T>(offset: usize, reason: &'static str) -> Result<T, Error> {
    Err(Error::ClientUri { offset, reason })
}

fn offset32(offset: usize) -> u32 {
    // Inputs are at most MAX_CLIENT_URI_LEN bytes and encoding at most triples
    // them, so canonical offsets fit in 32 bits.
    u32::try_from(offset).unwrap_or(u32::MAX)
}

/// What [`plain_segment`] found at the start of a segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PlainSegment {
    /// Nothing (the segment ends at once).
    Empty,
    /// A name of unreserved characters, not `.` or `..`.
    Name,
    /// `*`.
    All,
    /// An x-name, used for the first time.
    XName,
}

/// Reads the start of a segment for [`parse_plain_canonical`]: `*`, an
/// x-name not used before (recorded in `used`), or a possibly empty run of
/// unreserved characters. Returns the kind and where it ends (the caller
/// checks what follows), or `None` for a name `.` or `..` and a repeated
/// x-name.
#[inline]
fn plain_segment(bytes: &[u8], start: usize, used: &mut u64) -> Option<(PlainSegment, usize)> {
    match bytes.get(start..) {
        Some([b'*', ..]) => Some((PlainSegment::All, start + 1)),
        Some([b'(', letter, b')', ..]) if letter.is_ascii_alphabetic() => {
            let bit = XName(*letter).bit();
            if *used & bit != 0 {
                return None;
            }
            *used |= bit;
            Some((PlainSegment::XName, start + 3))
        }
        _ => {
            let end = unreserved_end(bytes, start);
            match &bytes[start..end] {
                [] => Some((PlainSegment::Empty, end)),
                [b'.'] | [b'.', b'.'] => None,
                _ => Some((PlainSegment::Name, end)),
            }
        }
    }
}

/// The end of the run of RFC 3986 unreserved bytes that starts at `at`.
fn unreserved_end(bytes: &[u8], at: usize) -> usize {
    run_end(bytes, at, UNRESERVED)
}

/// Recognizes, in one pass over the bytes and with one allocation, a
/// ClientURI that is already canonical and *plain*: `urn:` in lower case,
/// names and `nv`/`cv` values of unreserved characters only (no `%`
/// escapes), `nv` fields before a final `cv`. That is what encoders,
/// this SDK's included, send almost always.
///
/// Returns `None` for every other text, valid or not; [`ClientUri::parse`]
/// then reads it with the full parser, which canonicalizes and reports
/// errors. Whatever this function accepts, the full parser accepts too, with
/// the same text and offsets, since every rule of docs/protocol.md section 9
/// is checked here as well (the unit tests compare both on generated
/// inputs).
fn parse_plain_canonical(input: &str) -> Option<ClientUri> {
    let bytes = input.as_bytes();
    if bytes.len() > MAX_CLIENT_URI_LEN || !bytes.starts_with(b"urn:") {
        return None;
    }
    let moid = crate::ident::scan_moid(bytes).ok()?;
    // A MOID holds no `/`, `?` or `#`: this `/` is the first of the text.
    let moid_end = moid.end;
    if bytes.get(moid_end) != Some(&b'/') || moid_end == moid.rest_start {
        return None;
    }

    let mut used = 0u64;
    let instance_start = moid_end + 1;
    let (instance, instance_end) = plain_segment(bytes, instance_start, &mut used)?;
    if bytes.get(instance_end) != Some(&b'/') {
        return None;
    }
    let path_start = instance_end + 1;
    let mut at = path_start;
    if at < bytes.len() && bytes[at] != b'?' {
        loop {
            let (segment, end) = plain_segment(bytes, at, &mut used)?;
            if segment == PlainSegment::Empty {
                return None;
            }
            match bytes.get(end) {
                Some(b'/') => at = end + 1,
                Some(b'?') | None => {
                    at = end;
                    break;
                }
                Some(_) => return None,
            }
        }
    }
    let query_start = at;

    let mut constrained = 0u64;
    if at < bytes.len() {
        // `at` is on the `?`: fields follow, `nv` ones first.
        loop {
            let field = &bytes[at + 1..];
            if let [b'n', b'v', b'=', b'(', letter, b')', ..] = field {
                if !letter.is_ascii_alphabetic() || used & XName(*letter).bit() == 0 {
                    return None;
                }
                constrained |= XName(*letter).bit();
                at += 7;
                while bytes.get(at) == Some(&b'/') {
                    let end = unreserved_end(bytes, at + 1);
                    if matches!(&bytes[at + 1..end], [] | [b'.'] | [b'.', b'.']) {
                        return None;
                    }
                    at = end;
                }
                if bytes.get(at) != Some(&b':') {
                    return None;
                }
                at = unreserved_end(bytes, at + 1);
                match bytes.get(at) {
                    Some(b'&') => continue,
                    None => break,
                    Some(_) => return None,
                }
            }
            let [b'c', b'v', b'=', _, ..] = field else {
                return None;
            };
            if !matches!(instance, PlainSegment::Name | PlainSegment::Empty) {
                return None;
            }
            let end = unreserved_end(bytes, at + 4);
            if end == at + 4 || end != bytes.len() {
                return None;
            }
            break;
        }
    }
    if constrained != used {
        return None;
    }
    Some(ClientUri {
        text: input.into(),
        moid_end: offset32(moid_end),
        path_start: offset32(path_start),
        query_start: offset32(query_start),
    })
}

struct Parser<'a> {
    input: &'a str,
    out: String,
    used_xnames: u64,
}

impl Parser<'_> {
    /// Parses a name component (MIID or node name) at `start..end` and
    /// appends its canonical form.
    fn name(&mut self, start: usize, end: usize) -> Result<(), Error> {
        let decoded = canonicalize_component(&self.input[start..end], NAME, &mut self.out)
            .or_else(|(offset, reason)| fail(start + offset, reason))?;
        if decoded.len == 0 {
            return fail(start, "empty segment");
        }
        if decoded.all_dots && decoded.len <= 2 {
            return fail(start, "'.' and '..' are not allowed as names");
        }
        if decoded.has_slash {
            return fail(start, "a name must not contain an encoded '/'");
        }
        Ok(())
    }

    /// Parses `(L)` at `start..end`, records it as used and appends it.
    fn xname(&mut self, start: usize, end: usize) -> Result<XName, Error> {
        let Some(x) = XName::from_syntax(&self.input[start..end]) else {
            return fail(
                start,
                "an x-name is one ASCII letter in parentheses, e.g. (x)",
            );
        };
        if self.used_xnames & x.bit() != 0 {
            return fail(start, "an x-name appears at most once in a ClientURI");
        }
        self.used_xnames |= x.bit();
        self.out.push_str(&self.input[start..end]);
        Ok(x)
    }

    /// Parses one segment of the instance part or path.
    fn segment(&mut self, start: usize, end: usize) -> Result<(), Error> {
        match &self.input.as_bytes()[start..end] {
            [b'*'] => self.out.push('*'),
            [b'(', ..] => {
                self.xname(start, end)?;
            }
            _ => self.name(start, end)?,
        }
        Ok(())
    }

    fn query_value(&mut self, start: usize, end: usize) -> Result<(), Error> {
        canonicalize_component(&self.input[start..end], QUERY_VALUE, &mut self.out)
            .map(|_| ())
            .or_else(|(offset, reason)| fail(start + offset, reason))
    }

    /// Parses the body of one `nv=` field at `start..end`; returns its x-name.
    fn condition(&mut self, start: usize, end: usize) -> Result<XName, Error> {
        let body = &self.input.as_bytes()[start..end];
        let Some(xname) = body
            .get(..3)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(XName::from_syntax)
        else {
            return fail(
                start,
                "an nv field starts with an x-name, e.g. nv=(x)/ID:GPS",
            );
        };
        self.out.push_str(&self.input[start..start + 3]);
        let Some(colon) = body.iter().position(|&b| b == b':') else {
            return fail(end, "an nv field needs ':' before its value");
        };
        if colon > 3 {
            if body[3] != b'/' {
                return fail(start + 3, "expected '/' or ':' after the x-name");
            }
            let mut offset = start + 4;
            for segment in self.input[offset..start + colon].split('/') {
                self.out.push('/');
                self.name(offset, offset + segment.len())?;
                offset += segment.len() + 1;
            }
        } else if colon != 3 {
            return fail(start + 3, "expected '/' or ':' after the x-name");
        }
        self.out.push(':');
        self.query_value(start + colon + 1, end)?;
        Ok(xname)
    }
}

impl ClientUri {
    /// Parses a ClientURI, applying every rule of docs/protocol.md section 9.
    ///
    /// ```
    /// use dm_types::ClientUri;
    ///
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/left/Setting").is_ok());
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/left").is_err()); // no '/' after the instance
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/(x)/Setting").is_err()); // x-name without nv
    /// ```
    pub fn parse(input: &str) -> Result<ClientUri, Error> {
        match parse_plain_canonical(input) {
            Some(uri) => Ok(uri),
            None => ClientUri::parse_and_canonicalize(input),
        }
    }

    /// The full parser: checks every rule, reports the first error found and
    /// builds the canonical form of any valid spelling.
    fn parse_and_canonicalize(input: &str) -> Result<ClientUri, Error> {
        let bytes = input.as_bytes();
        if bytes.len() > MAX_CLIENT_URI_LEN {
            return fail(MAX_CLIENT_URI_LEN, "longer than the ClientURI hard limit");
        }
        let (main_end, query) = match memchr::memchr2(b'?', b'#', bytes) {
            Some(q) if bytes[q] == b'?' => (q, Some(q + 1)),
            Some(q) => return fail(q, "a fragment ('#') is not allowed"),
            None => (bytes.len(), None),
        };
        let Some(moid_end) = memchr::memchr(b'/', &bytes[..main_end]) else {
            return fail(main_end, "expected '/' after the MOID");
        };
        crate::ident::check_moid(&bytes[..moid_end]).map_err(|e| match e {
            Error::Moid { offset, reason } => Error::ClientUri { offset, reason },
            other => other,
        })?;
        let mut p = Parser {
            input,
            out: String::with_capacity(bytes.len()),
            used_xnames: 0,
        };
        p.out.push_str("urn:");
        p.out.push_str(&input[4..=moid_end]);

        let instance_start = moid_end + 1;
        let Some(instance_len) = memchr::memchr(b'/', &bytes[instance_start..main_end]) else {
            return fail(main_end, "expected '/' after the instance part");
        };
        let instance_end = instance_start + instance_len;
        if instance_len > 0 {
            p.segment(instance_start, instance_end)?;
        }
        p.out.push('/');
        let path_start = p.out.len();

        let path_raw = &input[instance_end + 1..main_end];
        if !path_raw.is_empty() {
            let mut offset = instance_end + 1;
            for (n, segment) in path_raw.split('/').enumerate() {
                if segment.is_empty() {
                    return fail(offset, "empty segment");
                }
                if n > 0 {
                    p.out.push('/');
                }
                p.segment(offset, offset + segment.len())?;
                offset += segment.len() + 1;
            }
        }
        let query_start = p.out.len();

        let mut constrained = 0u64;
        if let Some(q) = query {
            p.out.push('?');
            let mut cv = None;
            let mut field_start = q;
            for field in input[q..].split('&') {
                let field_end = field_start + field.len();
                if field.starts_with("nv=") {
                    if constrained != 0 {
                        p.out.push('&');
                    }
                    p.out.push_str("nv=");
                    let xname = p.condition(field_start + 3, field_end)?;
                    if p.used_xnames & xname.bit() == 0 {
                        return fail(
                            field_start + 3,
                            "an nv field names an x-name that the path does not use",
                        );
                    }
                    constrained |= xname.bit();
                } else if field.starts_with("cv=") {
                    if cv.is_some() {
                        return fail(field_start, "cv appears at most once");
                    }
                    if field.len() == 3 {
                        return fail(field_end, "cv must not be empty");
                    }
                    cv = Some((field_start + 3, field_end));
                } else if field.is_empty() {
                    return fail(field_start, "empty query field");
                } else {
                    return fail(
                        field_start,
                        "only nv= and cv= fields are allowed in the query",
                    );
                }
                field_start = field_end + 1;
            }
            if let Some((start, end)) = cv {
                let instance = &bytes[instance_start..instance_end];
                if instance.first() == Some(&b'(') || instance == b"*" {
                    return fail(start, "cv needs an instance part that is a MIID or empty");
                }
                if constrained != 0 {
                    p.out.push('&');
                }
                p.out.push_str("cv=");
                p.query_value(start, end)?;
            }
        }
        if constrained != p.used_xnames {
            return fail(instance_start, "every x-name needs at least one nv field");
        }

        Ok(ClientUri {
            text: p.out.into_boxed_str(),
            moid_end: offset32(moid_end),
            path_start: offset32(path_start),
            query_start: offset32(query_start),
        })
    }

    /// Builds the absolute form `MOID/MIID/path` from validated parts (what
    /// writers use in GET results, HPUT/HPOST bodies and SUB reports).
    ///
    /// ```
    /// use dm_types::{ClientUri, Miid, Moid, NodeName};
    ///
    /// let moid = Moid::new("urn:oma:mo:moid:1.0")?;
    /// let miid = Miid::new("left")?;
    /// let path = [NodeName::new("Data")?, NodeName::new("a b")?];
    /// let uri = ClientUri::absolute(&moid, &miid, &path);
    /// assert_eq!(uri.as_str(), "urn:oma:mo:moid:1.0/left/Data/a%20b");
    /// assert!(uri.is_absolute());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn absolute(moid: &Moid, miid: &Miid, path: &[NodeName]) -> ClientUri {
        let capacity = moid.as_str().len()
            + miid.as_str().len()
            + path.iter().map(|n| n.as_str().len() + 1).sum::<usize>()
            + 2;
        let mut text = String::with_capacity(capacity);
        text.push_str(moid.as_str());
        let moid_end = text.len();
        text.push('/');
        push_canonical(&mut text, miid.as_str());
        text.push('/');
        let path_start = text.len();
        for (i, name) in path.iter().enumerate() {
            if i > 0 {
                text.push('/');
            }
            push_canonical(&mut text, name.as_str());
        }
        ClientUri {
            query_start: offset32(text.len()),
            text: text.into_boxed_str(),
            moid_end: offset32(moid_end),
            path_start: offset32(path_start),
        }
    }

    /// The canonical form (what `Display` writes).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The MOID, with its `urn:` prefix in lower case.
    pub fn moid(&self) -> &str {
        &self.text[..self.moid_end as usize]
    }

    /// The MOID as an owned [`Moid`].
    pub fn to_moid(&self) -> Moid {
        // The parser checked this text with the rules of `Moid::new`.
        Moid::new(self.moid())
            .unwrap_or_else(|_| unreachable!("the MOID was validated by the parser"))
    }

    /// The instance part, canonical.
    fn instance_text(&self) -> &str {
        &self.text[self.moid_end as usize + 1..self.path_start as usize - 1]
    }

    /// The path, canonical, without a leading `/`.
    fn path_text(&self) -> &str {
        &self.text[self.path_start as usize..self.query_start as usize]
    }

    /// The query fields, canonical.
    fn query_fields(&self) -> impl Iterator<Item = &str> {
        self.text
            .get(self.query_start as usize + 1..)
            .unwrap_or("")
            .split('&')
            .filter(|f| !f.is_empty())
    }

    /// The instance part.
    pub fn instance(&self) -> Instance<'_> {
        match self.instance_text() {
            "" => Instance::Sole,
            "*" => Instance::All,
            text => match XName::from_syntax(text) {
                Some(x) => Instance::XName(x),
                None => Instance::Miid(decode_canonical(text)),
            },
        }
    }

    /// The MIID when the instance part names one.
    pub fn miid(&self) -> Option<Miid> {
        match self.instance() {
            Instance::Miid(text) => Miid::new(text.into_owned()).ok(),
            _ => None,
        }
    }

    /// The path segments (none for the instance root).
    pub fn path(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        let path = self.path_text();
        path.split('/')
            .filter(move |_| !path.is_empty())
            .map(Segment::from_canonical)
    }

    /// Number of path segments.
    pub fn path_len(&self) -> usize {
        let path = self.path_text();
        if path.is_empty() {
            0
        } else {
            path.bytes().filter(|&b| b == b'/').count() + 1
        }
    }

    /// The `nv` conditions in the order given.
    pub fn conditions(&self) -> impl Iterator<Item = NodeValueCondition<'_>> + '_ {
        self.query_fields()
            .filter_map(NodeValueCondition::from_canonical)
    }

    /// The `cv` cache validator, decoded, when present.
    pub fn cache_validator(&self) -> Option<Cow<'_, str>> {
        self.query_fields()
            .find_map(|f| f.strip_prefix("cv="))
            .map(decode_canonical)
    }

    /// This ClientURI with the cache validator `cv` (docs/protocol.md
    /// sections 8 and 9): any `cv` field it had is replaced, `nv` fields
    /// stay in their order, and `cv` comes last, percent-encoded as the
    /// canonical form wants. A server adds it to a read of an instance
    /// whose validator it knows.
    ///
    /// Errors: a `cv` needs an instance part that is a MIID or empty
    /// ([`Error::ClientUri`] for `*` or an x-name); a result over the
    /// ClientURI length limit is refused the same way.
    ///
    /// ```
    /// use dm_types::ClientUri;
    ///
    /// let uri = ClientUri::parse("urn:oma:mo:moid:1.0/left/?cv=1")?;
    /// assert_eq!(uri.with_cache_validator("7-2 a")?.as_str(), "urn:oma:mo:moid:1.0/left/?cv=7-2%20a");
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/*/")?.with_cache_validator("7").is_err());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn with_cache_validator(&self, cv: &str) -> Result<ClientUri, Error> {
        let mut text = String::with_capacity(self.text.len() + cv.len() + 4);
        text.push_str(&self.text[..self.query_start as usize]);
        let mut separator = '?';
        for field in self.query_fields().filter(|f| !f.starts_with("cv=")) {
            text.push(separator);
            text.push_str(field);
            separator = '&';
        }
        text.push(separator);
        text.push_str("cv=");
        push_canonical(&mut text, cv);
        ClientUri::parse(&text)
    }

    /// Whether this ClientURI designates an instance root by its MIID
    /// (`MOID/MIID/`, any query): where a read returns the instance's `CV`
    /// and what a server can cache (docs/protocol.md section 8).
    ///
    /// ```
    /// use dm_types::ClientUri;
    ///
    /// assert!(ClientUri::parse("urn:x:y/m/?cv=1")?.is_instance_root());
    /// assert!(!ClientUri::parse("urn:x:y/m/a")?.is_instance_root());
    /// assert!(!ClientUri::parse("urn:x:y//")?.is_instance_root());
    /// assert!(!ClientUri::parse("urn:x:y/*/")?.is_instance_root());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn is_instance_root(&self) -> bool {
        matches!(self.instance(), Instance::Miid(_))
            && !self.has_selectors()
            && self.path_len() == 0
    }

    /// Whether this is the absolute form `MOID/MIID/path`: a MIID, plain names
    /// only, no query.
    pub fn is_absolute(&self) -> bool {
        matches!(self.instance(), Instance::Miid(_))
            && !self.has_selectors()
            && self.query_start as usize == self.text.len()
    }

    /// Whether the ClientURI uses a wildcard or an x-name, in the instance
    /// part or the path (and so may designate several nodes).
    pub fn has_selectors(&self) -> bool {
        // Canonical names percent-encode `*` and `(`, so raw ones are syntax.
        self.text[self.moid_end as usize..self.query_start as usize]
            .bytes()
            .any(|b| b == b'*' || b == b'(')
    }
}

impl fmt::Display for ClientUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for ClientUri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ClientUri {
        ClientUri::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn bad(s: &str) -> String {
        match ClientUri::parse(s) {
            Ok(u) => panic!("{s:?} accepted as {u}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(ok("urn:x:y//").as_str(), "urn:x:y//");
        assert_eq!(ok("urn:x:y/*/").as_str(), "urn:x:y/*/");
        assert_eq!(ok("urn:x:y/a/%2A").as_str(), "urn:x:y/a/%2A");
        assert_eq!(ok("urn:x:y/a/%28x%29").as_str(), "urn:x:y/a/%28x%29");
        assert_eq!(ok("urn:x:y/a/%c3%a9").as_str(), "urn:x:y/a/%C3%A9");
        assert_eq!(
            ok("urn:x:y/a/%c3%a9").path().next(),
            Some(Segment::Name(Cow::Borrowed("\u{e9}")))
        );
        assert!(bad("urn:x:y/(x)/a?cv=1&nv=(x):v").contains("cv needs"));
    }

    #[test]
    fn query_rules() {
        let u = ok("urn:x:y/a/(z)?cv=%41&nv=(z)/b/c:v:w(*)/?");
        assert_eq!(
            u.as_str(),
            "urn:x:y/a/(z)?nv=(z)/b/c:v%3Aw%28%2A%29%2F%3F&cv=A"
        );
        let c = u.conditions().next().unwrap();
        assert_eq!(c.path().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(c.value(), "v:w(*)/?");
        assert_eq!(u.cache_validator().as_deref(), Some("A"));
        assert!(bad("urn:x:y/a/b?cv=1&").contains("empty query field"));
        assert!(bad("urn:x:y/a/b?").contains("empty query field"));
        assert!(bad("urn:x:y/a/b?cv=1&cv=2").contains("at most once"));
        assert!(bad("urn:x:y/a/b?cv=").contains("empty"));
        assert!(bad("urn:x:y/a/b?xv=1").contains("only nv="));
        assert!(bad("urn:x:y/*/b?cv=1").contains("cv needs"));
        assert!(bad("urn:x:y/a/(x)/(x)?nv=(x):1").contains("at most once"));
        assert!(bad("urn:x:y/a/(x)?nv=(x)/*:1").contains("'*'"));
        assert!(bad("urn:x:y/a/(x)?nv=(x)/(y):1").contains("'('"));
        assert!(bad("urn:x:y/a/(x)?nv=(x)").contains("':'"));
        assert!(bad("urn:x:y/a/(x)?nv=(x)//a:1").contains("empty segment"));
        assert!(bad("urn:x:y/a/(x)?nv=(X):1").contains("does not use"));
        assert!(bad("urn:x:y/a/b#f").contains("fragment"));
        assert!(bad("urn:x:y/a/%2F").contains("'/'"));
        assert!(bad("urn:x:y/a/b/").contains("empty segment"));
        assert!(bad("urn:x:y/a/.").contains("'.'"));
        assert!(bad("urn:x:y/a/b c").contains("space"));
        assert!(bad("urn:x:y/a/\u{e9}").contains("non-ASCII"));
        assert!(bad("urn:x:y/a/(1)?nv=(1):1").contains("letter"));
    }

    #[test]
    fn cache_validators_are_added_in_canonical_form() {
        let u = ok("urn:x:y/a/(z)?cv=old&nv=(z)/b:v");
        let with = u.with_cache_validator("n&w/é").unwrap();
        assert_eq!(with.as_str(), "urn:x:y/a/(z)?nv=(z)/b:v&cv=n%26w%2F%C3%A9");
        assert_eq!(with.cache_validator().as_deref(), Some("n&w/é"));
        assert_eq!(with.conditions().count(), 1);
        // Parsing the canonical result gives it back.
        assert_eq!(ok(with.as_str()), with);
        assert_eq!(
            ok("urn:x:y//").with_cache_validator("1").unwrap().as_str(),
            "urn:x:y//?cv=1"
        );
        assert!(
            ok("urn:x:y/(x)/?nv=(x)/a:1")
                .with_cache_validator("1")
                .is_err()
        );
        assert!(ok("urn:x:y/a/").with_cache_validator("").is_err());
        let long = format!("urn:x:y/{}/", "m".repeat(MAX_CLIENT_URI_LEN - 20));
        assert!(ok(&long).with_cache_validator("0123456789abcdef").is_err());
    }

    /// The fast path must agree with the full parser wherever it accepts.
    fn agrees_with_full_parser(input: &str) -> Option<ClientUri> {
        let plain = parse_plain_canonical(input)?;
        let full = ClientUri::parse_and_canonicalize(input)
            .unwrap_or_else(|e| panic!("{input:?}: plain accepted, full refused: {e}"));
        assert_eq!(plain.text, full.text, "{input:?}");
        assert_eq!(
            (plain.moid_end, plain.path_start, plain.query_start),
            (full.moid_end, full.path_start, full.query_start),
            "{input:?}"
        );
        Some(plain)
    }

    #[test]
    fn plain_canonical_fast_path() {
        for plain in [
            "urn:oma:mo:oma-dm-devinfo:1.0//DevID",
            "urn:x:y//",
            "urn:x:y/*/",
            "urn:x:y/a/",
            "urn:x:y/a/?cv=1",
            "urn:x:y//?cv=1",
            "urn:x:y/a.b/c~d/e_f/g-h/...",
            "urn:oma:mo:moid:1.0/(x)/Data/*/Value?nv=(x)/ID:GPS",
            "urn:oma:mo:moid:1.0/(x)/Data/(Y)/V?nv=(x)/a/b:&nv=(Y):1&nv=(x):2",
            "urn:oma:mo:moid:1.0/left/Data/(y)?nv=(y)/Date:12.2&cv=686897696a7c876b7e",
            "urn:x:%41b/c/d",
        ] {
            assert!(agrees_with_full_parser(plain).is_some(), "{plain:?}");
        }
        for other in [
            // Valid but not plain canonical: the full parser takes them.
            "URN:x:y/a/",
            "urn:x:y/a%20b/",
            "urn:x:y/a:b/",
            "urn:x:y/a/?cv=1&nv=(x):1",
            "urn:x:y/(x)/?cv=1&nv=(x):1",
            "urn:x:y/a/(x)?cv=1&nv=(x):1",
            "urn:x:y/a/b?cv=a:b",
            // Invalid.
            "urn:x:y",
            "urn:x:y/a",
            "urn:x:y/a/b/",
            "urn:x:y/a//b",
            "urn:x:y/./",
            "urn:x:y/a/..",
            "urn:x:y/a/(x)",
            "urn:x:y/(x)/(x)?nv=(x):1",
            "urn:x:y/a/(x)?nv=(y):1",
            "urn:x:y/a/(x)?nv=(x)/.:1",
            "urn:x:y/a/(x)?nv=(x)//a:1",
            "urn:x:y/a/(x)?nv=(x)",
            "urn:x:y/a/(x)?nv=(x):1&",
            "urn:x:y/a/?",
            "urn:x:y/a/?cv=",
            "urn:x:y/a/?cv=1&cv=2",
            "urn:x:y/*/?cv=1",
            "urn:x:y/a/b#f",
            "urn:x:y/a/*b",
            "urn:x:y/a/(1)?nv=(1):1",
            "urn:x?y/a/",
        ] {
            assert!(parse_plain_canonical(other).is_none(), "{other:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2048, ..Default::default() })]

        /// Strings made of the ClientURI syntax and a few names.
        #[test]
        fn plain_path_agrees_on_uri_alphabet(
            moid in proptest::sample::select(vec!["urn:x:y", "urn:oma:mo:moid:1.0", "URN:x:y", "urn:x:%4a"]),
            tail in "(/|a|b|\\.|\\*|\\(x\\)|\\(y\\)|\\?|&|nv=|cv=|:|1|%41|#|\\(|\\)){0,16}",
        ) {
            let input = format!("{moid}{tail}");
            agrees_with_full_parser(&input);
        }

        #[test]
        fn plain_path_agrees_on_assembled_uris(input in assembled_uri()) {
            agrees_with_full_parser(&input);
        }
    }

    /// ClientURIs assembled from valid and invalid pieces, so that many are
    /// plain canonical and many are one rule away from it.
    fn assembled_uri() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prop_oneof;
        use proptest::sample::select;
        use proptest::strategy::Just;
        use proptest::strategy::Strategy;
        // Mostly valid plain pieces, sometimes one that is not.
        let moid = prop_oneof![
            6 => select(vec!["urn:x:y", "urn:oma:mo:moid:1.0", "urn:x:%4a"]),
            1 => select(vec!["Urn:x:y", "urn:x", "urn:x:y?", "urn:x:a b"]),
        ];
        let instance = prop_oneof![
            6 => select(vec!["", "a", "*", "(x)", "a.b", "..."]),
            1 => select(vec![".", "..", "%41", "(1)", "a*", "a:b"]),
        ];
        let slash = prop_oneof![6 => Just("/"), 1 => select(vec!["", "//"])];
        let segment = prop_oneof![
            6 => select(vec!["a", "b.c", "*", "(y)", "~_-"]),
            1 => select(vec!["(x)", "(X)", "", ".", "..", "%2A", "a:b", "(x)a"]),
        ];
        let field = prop_oneof![
            6 => select(vec!["nv=(x):1", "nv=(y)/a:b", "nv=(x)/a/b:", "cv=1", "cv=abc"]),
            1 => select(vec![
                "nv=(x)/./:1", "nv=(x)//a:1", "nv=(x)", "nv=(x)/a", "nv=(z):1", "nv=(x):a:b",
                "cv=", "cv=a%41", "", "xv=1",
            ]),
        ];
        (
            moid,
            instance,
            slash,
            proptest::collection::vec(segment, 0..3),
            proptest::option::of(proptest::collection::vec(field, 0..3)),
        )
            .prop_map(|(moid, instance, slash, path, query)| {
                let mut input = format!("{moid}/{instance}{slash}{}", path.join("/"));
                if let Some(fields) = query {
                    input.push('?');
                    input.push_str(&fields.join("&"));
                }
                input
            })
    }

    #[test]
    fn assembled_uris_often_reach_the_plain_path() {
        // The property above only tests something when the fast path accepts.
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = assembled_uri();
        let mut accepted = 0;
        for _ in 0..2000 {
            let input = strategy
                .new_tree(&mut runner)
                .map(|tree| tree.current())
                .unwrap_or_default();
            accepted += usize::from(agrees_with_full_parser(&input).is_some());
        }
        assert!(
            accepted >= 200,
            "only {accepted} of 2000 took the fast path"
        );
    }

    #[test]
    fn accessors() {
        let u = ok("urn:x:y/%41b/c");
        assert_eq!(u.miid().unwrap().as_str(), "Ab");
        assert_eq!(u.to_moid().as_str(), "urn:x:y");
        assert!(u.is_absolute());
        assert!(!u.has_selectors());
        assert!(ok("urn:x:y/*/c").has_selectors());
        assert!(!ok("urn:x:y//c").is_absolute());
    }
}
