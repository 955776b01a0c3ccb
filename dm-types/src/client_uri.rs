//! ClientURI: the address of one or more nodes on a device (PROTOCOL.md
//! section 9).

use std::borrow::Cow;
use std::fmt;

use crate::percent::{canonicalize_component, decode_canonical, is_name_char, is_pchar, push_canonical};
use crate::{Error, Miid, Moid, NodeName};

/// A byte range inside the canonical text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(text: &str, start: usize) -> Span {
        // The parser refuses inputs whose canonical form could exceed u32.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(text.len()).unwrap_or(u32::MAX),
        }
    }

    fn get(self, text: &str) -> &str {
        &text[self.start as usize..self.end as usize]
    }
}

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
        letter
            .is_ascii_alphabetic()
            .then(|| XName(u8::try_from(letter).unwrap_or(b'x')))
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
}

impl fmt::Display for XName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", char::from(self.0))
    }
}

/// The instance part of a ClientURI, as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum InstanceRepr {
    Miid(Span),
    XName(XName),
    Sole,
    All,
}

/// One path segment, as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SegmentRepr {
    Name(Span),
    XName(XName),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ConditionRepr {
    xname: XName,
    path: Vec<Span>,
    value: Span,
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

/// One `nv` field: the node standing for `xname` has a leaf at the relative
/// `path` whose value is `value`.
#[derive(Debug, Clone, Copy)]
pub struct NodeValueCondition<'a> {
    uri: &'a ClientUri,
    repr: &'a ConditionRepr,
}

impl<'a> NodeValueCondition<'a> {
    /// The x-name the condition constrains.
    pub fn xname(&self) -> XName {
        self.repr.xname
    }

    /// The relative path of the leaf (plain node names, decoded); empty when
    /// the x-named node itself is the leaf.
    pub fn path(&self) -> impl ExactSizeIterator<Item = Cow<'a, str>> + 'a {
        let text: &'a str = &self.uri.text;
        self.repr
            .path
            .iter()
            .map(move |span| decode_canonical(span.get(text)))
    }

    /// The value the leaf must have (decoded text, compared exactly).
    pub fn value(&self) -> Cow<'a, str> {
        decode_canonical(self.repr.value.get(&self.uri.text))
    }
}

/// A parsed ClientURI: MOID, instance part, path and `nv`/`cv` query.
///
/// Parsing applies every rule of PROTOCOL.md section 9 and builds the
/// canonical form at the same time, so `Display` and [`ClientUri::as_str`] cost
/// nothing and comparisons (`==`, hashing) use the canonical form. Accessors
/// return decoded text, borrowed whenever nothing needed decoding.
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
#[derive(Debug, Clone)]
pub struct ClientUri {
    text: Box<str>,
    moid_end: u32,
    instance: InstanceRepr,
    path: Vec<SegmentRepr>,
    conditions: Vec<ConditionRepr>,
    cache_validator: Option<Span>,
}

impl PartialEq for ClientUri {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ClientUri {}

impl std::hash::Hash for ClientUri {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for ClientUri {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ClientUri {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

/// Longest ClientURI text the parser accepts at all, in bytes (a hard bound
/// that keeps offsets in 32 bits; `dm-codec` applies a much smaller
/// configurable limit).
pub const MAX_CLIENT_URI_LEN: usize = 1 << 24;

struct Parser<'a> {
    input: &'a [u8],
    out: String,
    used_xnames: u64,
}

fn fail<T>(offset: usize, reason: &'static str) -> Result<T, Error> {
    Err(Error::ClientUri { offset, reason })
}

impl Parser<'_> {
    /// Parses a name component (MIID or node name) at `range` and appends its
    /// canonical form.
    fn name(&mut self, start: usize, end: usize) -> Result<Span, Error> {
        let out_start = self.out.len();
        let decoded = canonicalize_component(&self.input[start..end], is_name_char, &mut self.out)
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
        Ok(Span::of(&self.out, out_start))
    }

    /// Parses `(L)` at `start..end` and records it as used.
    fn xname(&mut self, start: usize, end: usize) -> Result<XName, Error> {
        let raw = &self.input[start..end];
        let [b'(', letter, b')'] = raw else {
            return fail(start, "an x-name is one letter in parentheses, e.g. (x)");
        };
        let Some(x) = XName::new(char::from(*letter)) else {
            return fail(start + 1, "an x-name is one ASCII letter");
        };
        if self.used_xnames & x.bit() != 0 {
            return fail(start, "an x-name appears at most once in a ClientURI");
        }
        self.used_xnames |= x.bit();
        self.out.push('(');
        self.out.push(char::from(*letter));
        self.out.push(')');
        Ok(x)
    }

    fn query_value(&mut self, start: usize, end: usize) -> Result<Span, Error> {
        let out_start = self.out.len();
        canonicalize_component(
            &self.input[start..end],
            |b| is_pchar(b) || b == b'/' || b == b'?',
            &mut self.out,
        )
        .or_else(|(offset, reason)| fail(start + offset, reason))?;
        Ok(Span::of(&self.out, out_start))
    }

    /// Parses one `nv=` field whose body spans `start..end`.
    fn condition(&mut self, start: usize, end: usize) -> Result<ConditionRepr, Error> {
        let body = &self.input[start..end];
        if body.len() < 3 || body[0] != b'(' || body[2] != b')' {
            return fail(start, "an nv field starts with an x-name, e.g. nv=(x)/ID:GPS");
        }
        let Some(xname) = XName::new(char::from(body[1])) else {
            return fail(start + 1, "an x-name is one ASCII letter");
        };
        self.out.push_str(&format!("{xname}"));
        let Some(colon) = body.iter().position(|&b| b == b':') else {
            return fail(end, "an nv field needs ':' before its value");
        };
        let mut path = Vec::new();
        if colon > 3 {
            if body[3] != b'/' {
                return fail(start + 3, "expected '/' or ':' after the x-name");
            }
            let mut seg_start = start + 4;
            for i in start + 4..=start + colon {
                if i == start + colon || self.input[i] == b'/' {
                    self.out.push('/');
                    path.push(self.name(seg_start, i)?);
                    seg_start = i + 1;
                }
            }
        } else if colon != 3 {
            return fail(start + 3, "expected '/' or ':' after the x-name");
        }
        self.out.push(':');
        let value = self.query_value(start + colon + 1, end)?;
        Ok(ConditionRepr { xname, path, value })
    }
}

impl ClientUri {
    /// Parses a ClientURI, applying every rule of PROTOCOL.md section 9.
    ///
    /// ```
    /// use dm_types::ClientUri;
    ///
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/left/Setting").is_ok());
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/left").is_err()); // no '/' after the instance
    /// assert!(ClientUri::parse("urn:oma:mo:moid:1.0/(x)/Setting").is_err()); // x-name without nv
    /// ```
    pub fn parse(input: &str) -> Result<ClientUri, Error> {
        let bytes = input.as_bytes();
        if bytes.len() > MAX_CLIENT_URI_LEN {
            return fail(MAX_CLIENT_URI_LEN, "longer than the ClientURI hard limit");
        }
        if let Some(pos) = bytes.iter().position(|&b| b == b'#') {
            return fail(pos, "a fragment ('#') is not allowed");
        }
        let (main_end, query_start) = match bytes.iter().position(|&b| b == b'?') {
            Some(q) => (q, Some(q + 1)),
            None => (bytes.len(), None),
        };
        let Some(moid_end) = bytes[..main_end].iter().position(|&b| b == b'/') else {
            return fail(main_end, "expected '/' after the MOID");
        };
        crate::ident::check_moid(&bytes[..moid_end]).map_err(|e| match e {
            Error::Moid { offset, reason } => Error::ClientUri { offset, reason },
            other => other,
        })?;
        let mut p = Parser {
            input: bytes,
            out: String::with_capacity(bytes.len() + 8),
            used_xnames: 0,
        };
        p.out.push_str("urn:");
        p.out.push_str(&input[4..moid_end]);
        let moid_end_out = p.out.len();
        p.out.push('/');

        let inst_start = moid_end + 1;
        let Some(inst_len) = bytes[inst_start..main_end].iter().position(|&b| b == b'/') else {
            return fail(main_end, "expected '/' after the instance part");
        };
        let inst_end = inst_start + inst_len;
        let instance = match &bytes[inst_start..inst_end] {
            [] => InstanceRepr::Sole,
            [b'*'] => {
                p.out.push('*');
                InstanceRepr::All
            }
            [b'(', ..] => InstanceRepr::XName(p.xname(inst_start, inst_end)?),
            _ => InstanceRepr::Miid(p.name(inst_start, inst_end)?),
        };
        p.out.push('/');

        let mut path = Vec::new();
        let path_start = inst_end + 1;
        if path_start < main_end {
            let mut seg_start = path_start;
            for i in path_start..=main_end {
                if i < main_end && bytes[i] != b'/' {
                    continue;
                }
                if seg_start != path_start {
                    p.out.push('/');
                }
                let segment = match &bytes[seg_start..i] {
                    [] => return fail(seg_start, "empty segment"),
                    [b'*'] => {
                        p.out.push('*');
                        SegmentRepr::All
                    }
                    [b'(', ..] => SegmentRepr::XName(p.xname(seg_start, i)?),
                    _ => SegmentRepr::Name(p.name(seg_start, i)?),
                };
                path.push(segment);
                seg_start = i + 1;
            }
        }

        let mut conditions = Vec::new();
        let mut cache_validator = None;
        if let Some(q) = query_start {
            p.out.push('?');
            let mut cv_raw = None;
            let mut field_start = q;
            for i in q..=bytes.len() {
                if i < bytes.len() && bytes[i] != b'&' {
                    continue;
                }
                let field = &bytes[field_start..i];
                if let Some(rest) = field.strip_prefix(b"nv=") {
                    let _ = rest;
                    if !conditions.is_empty() {
                        p.out.push('&');
                    }
                    p.out.push_str("nv=");
                    conditions.push(p.condition(field_start + 3, i)?);
                } else if field.starts_with(b"cv=") {
                    if cv_raw.is_some() {
                        return fail(field_start, "cv appears at most once");
                    }
                    if i == field_start + 3 {
                        return fail(i, "cv must not be empty");
                    }
                    cv_raw = Some((field_start + 3, i));
                } else if field.is_empty() {
                    return fail(field_start, "empty query field");
                } else {
                    return fail(field_start, "only nv= and cv= fields are allowed in the query");
                }
                field_start = i + 1;
            }
            if let Some((start, end)) = cv_raw {
                if !matches!(instance, InstanceRepr::Miid(_) | InstanceRepr::Sole) {
                    return fail(start, "cv needs an instance part that is a MIID or empty");
                }
                if !conditions.is_empty() {
                    p.out.push('&');
                }
                p.out.push_str("cv=");
                cache_validator = Some(p.query_value(start, end)?);
            }
        }

        // Every x-name used needs an nv field, and every nv field names a used x-name.
        let mut constrained = 0u64;
        for condition in &conditions {
            if p.used_xnames & condition.xname.bit() == 0 {
                return fail(
                    query_start.unwrap_or(0),
                    "an nv field names an x-name that the path does not use",
                );
            }
            constrained |= condition.xname.bit();
        }
        if constrained != p.used_xnames {
            return fail(inst_start, "every x-name needs at least one nv field");
        }

        Ok(ClientUri {
            moid_end: u32::try_from(moid_end_out).unwrap_or(u32::MAX),
            text: p.out.into_boxed_str(),
            instance,
            path,
            conditions,
            cache_validator,
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
        let mut text = String::with_capacity(moid.as_str().len() + miid.as_str().len() + 16 * path.len() + 2);
        text.push_str(moid.as_str());
        let moid_end = text.len();
        text.push('/');
        let miid_start = text.len();
        push_canonical(&mut text, miid.as_str());
        let instance = InstanceRepr::Miid(Span::of(&text, miid_start));
        text.push('/');
        let mut segments = Vec::with_capacity(path.len());
        for (i, name) in path.iter().enumerate() {
            if i > 0 {
                text.push('/');
            }
            let start = text.len();
            push_canonical(&mut text, name.as_str());
            segments.push(SegmentRepr::Name(Span::of(&text, start)));
        }
        ClientUri {
            moid_end: u32::try_from(moid_end).unwrap_or(u32::MAX),
            text: text.into_boxed_str(),
            instance,
            path: segments,
            conditions: Vec::new(),
            cache_validator: None,
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
        // The parser validated this text with the same rules as `Moid::new`.
        Moid::new(self.moid()).unwrap_or_else(|_| unreachable_moid())
    }

    /// The instance part.
    pub fn instance(&self) -> Instance<'_> {
        match self.instance {
            InstanceRepr::Miid(span) => Instance::Miid(decode_canonical(span.get(&self.text))),
            InstanceRepr::XName(x) => Instance::XName(x),
            InstanceRepr::Sole => Instance::Sole,
            InstanceRepr::All => Instance::All,
        }
    }

    /// The MIID when the instance part names one.
    pub fn miid(&self) -> Option<Miid> {
        match self.instance() {
            Instance::Miid(text) => Miid::new(text.into_owned()).ok(),
            _ => None,
        }
    }

    /// The path segments (empty for the instance root).
    pub fn path(&self) -> impl ExactSizeIterator<Item = Segment<'_>> + '_ {
        self.path.iter().map(|segment| match *segment {
            SegmentRepr::Name(span) => Segment::Name(decode_canonical(span.get(&self.text))),
            SegmentRepr::XName(x) => Segment::XName(x),
            SegmentRepr::All => Segment::All,
        })
    }

    /// The `nv` conditions in the order given.
    pub fn conditions(&self) -> impl ExactSizeIterator<Item = NodeValueCondition<'_>> + '_ {
        self.conditions
            .iter()
            .map(|repr| NodeValueCondition { uri: self, repr })
    }

    /// The `cv` cache validator, decoded, when present.
    pub fn cache_validator(&self) -> Option<Cow<'_, str>> {
        self.cache_validator
            .map(|span| decode_canonical(span.get(&self.text)))
    }

    /// Whether this is the absolute form `MOID/MIID/path`: a MIID, plain names
    /// only, no query.
    pub fn is_absolute(&self) -> bool {
        matches!(self.instance, InstanceRepr::Miid(_))
            && self.path.iter().all(|s| matches!(s, SegmentRepr::Name(_)))
            && self.conditions.is_empty()
            && self.cache_validator.is_none()
    }

    /// Whether the ClientURI uses a wildcard or an x-name (and so may
    /// designate several nodes).
    pub fn has_selectors(&self) -> bool {
        !matches!(self.instance, InstanceRepr::Miid(_) | InstanceRepr::Sole)
            || self.path.iter().any(|s| !matches!(s, SegmentRepr::Name(_)))
    }
}

#[cold]
fn unreachable_moid() -> Moid {
    // Only reachable if the MOID rules of `Moid::new` and of the ClientURI
    // parser diverged; both call `check_moid`, so they cannot.
    Moid::new("urn:invalid:moid").unwrap_or_else(|_| unreachable!("constant MOID is valid"))
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
        assert_eq!(u.as_str(), "urn:x:y/a/(z)?nv=(z)/b/c:v%3Aw%28%2A%29%2F%3F&cv=A");
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
