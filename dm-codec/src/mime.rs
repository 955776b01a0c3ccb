//! Media types and `Accept` / `OMADM-Accept` negotiation (docs/protocol.md section 2.2).
//!
//! The four media types of the HTTP binding (section 2.1) and the two
//! protocol headers are constants here. [`Accept`] parses an `Accept` or
//! `OMADM-Accept` value (RFC 9110 section 12.5.1: media ranges with
//! parameters and q-values), [`negotiate`] picks the best of the formats a
//! peer can produce, and [`content_type_matches`] checks a `Content-Type`.
//!
//! ```
//! use dm_codec::mime;
//!
//! // A server choosing the body format of its answer.
//! let chosen = mime::negotiate("application/*;q=0.5, application/dmmo+json", &[mime::MO_DATA])?;
//! assert_eq!(chosen, Some(mime::MO_DATA));
//!
//! // Nothing acceptable: the server answers 406.
//! assert_eq!(mime::negotiate("text/html", &[mime::REQUEST])?, None);
//!
//! // A server checking a Package#1 body.
//! assert!(mime::content_type_matches("Application/VND.oma.dm.initiation+json; charset=utf-8", mime::INITIATION));
//! # Ok::<(), dm_codec::Error>(())
//! ```

use std::borrow::Cow;

use crate::Error;

/// Content-Type of Package#1 (client → server, session start).
///
/// ```
/// assert!(dm_codec::mime::content_type_matches(
///     "application/vnd.oma.dm.initiation+json",
///     dm_codec::mime::INITIATION
/// ));
/// ```
pub const INITIATION: &str = "application/vnd.oma.dm.initiation+json";
/// Content-Type of Package#2 (server → client, commands); the `Accept` of
/// Package#1 and #3.
///
/// ```
/// use dm_codec::mime;
///
/// assert_eq!(mime::negotiate(mime::REQUEST, &[mime::REQUEST])?, Some(mime::REQUEST));
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub const REQUEST: &str = "application/vnd.oma.dm.request+json";
/// Content-Type of Package#3 (client → server, results).
///
/// ```
/// assert!(!dm_codec::mime::content_type_matches(dm_codec::mime::RESPONSE, dm_codec::mime::REQUEST));
/// ```
pub const RESPONSE: &str = "application/vnd.oma.dm.response+json";
/// Content-Type of MO serialization (HGET responses, HPUT/HPOST/SUB bodies).
///
/// ```
/// assert_eq!(dm_codec::mime::MO_DATA, "application/dmmo+json");
/// ```
pub const MO_DATA: &str = "application/dmmo+json";

/// Header carrying the client's DevInfo `DevID` on Package#1, Package#3 and
/// repository requests.
///
/// ```
/// assert!(dm_codec::mime::OMADM_DEV_ID.eq_ignore_ascii_case("omadm-devid"));
/// ```
pub const OMADM_DEV_ID: &str = "OMADM-DevID";
/// Header in which a server or data repository lists the formats it accepts
/// for uploaded MO data (same syntax as `Accept`).
///
/// ```
/// assert!(dm_codec::mime::OMADM_ACCEPT.eq_ignore_ascii_case("omadm-accept"));
/// ```
pub const OMADM_ACCEPT: &str = "OMADM-Accept";
/// What applies when no `OMADM-Accept` was received in the session:
/// `application/dmmo+json` only.
///
/// ```
/// use dm_codec::mime;
///
/// let received: Option<&str> = None; // no OMADM-Accept header so far
/// let accept = received.unwrap_or(mime::DEFAULT_OMADM_ACCEPT);
/// assert_eq!(mime::negotiate(accept, &["application/cbor", mime::MO_DATA])?, Some(mime::MO_DATA));
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub const DEFAULT_OMADM_ACCEPT: &str = MO_DATA;

/// Longest `Accept` / `OMADM-Accept` value [`Accept::parse`] reads, in bytes.
///
/// ```
/// use dm_codec::mime::{Accept, MAX_HEADER_LEN};
///
/// assert!(Accept::parse(&" ".repeat(MAX_HEADER_LEN + 1)).is_err());
/// ```
pub const MAX_HEADER_LEN: usize = 4096;
/// Most media ranges in one `Accept` / `OMADM-Accept` value.
///
/// ```
/// use dm_codec::mime::{Accept, MAX_MEDIA_RANGES};
///
/// assert!(Accept::parse(&vec!["a/b"; MAX_MEDIA_RANGES + 1].join(",")).is_err());
/// ```
pub const MAX_MEDIA_RANGES: usize = 64;

/// The q-value of a range without a `q` parameter, in thousandths.
const Q_ONE: u16 = 1000;

fn error(offset: usize, reason: &'static str) -> Error {
    Error::MediaType { offset, reason }
}

/// One media range of an `Accept` list: `type/subtype`, `type/*` or `*/*`,
/// with its parameters and q-value.
///
/// ```
/// use dm_codec::mime::Accept;
///
/// let accept = Accept::parse(r#"Application/JSON; profile="a b"; q=0.25"#)?;
/// let range = &accept.ranges()[0];
/// assert_eq!(range.type_name(), "Application");
/// assert_eq!(range.subtype(), "JSON");
/// assert_eq!(range.parameter("PROFILE"), Some("a b"));
/// assert_eq!(range.quality(), 250);
/// # Ok::<(), dm_codec::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRange<'a> {
    type_name: &'a str,
    subtype: &'a str,
    parameters: Vec<(&'a str, Cow<'a, str>)>,
    quality: u16,
}

impl<'a> MediaRange<'a> {
    /// The type as written (`*` for `*/*`).
    ///
    /// ```
    /// use dm_codec::mime::Accept;
    ///
    /// assert_eq!(Accept::parse("*/*")?.ranges()[0].type_name(), "*");
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn type_name(&self) -> &'a str {
        self.type_name
    }

    /// The subtype as written (`*` for `type/*`).
    ///
    /// ```
    /// use dm_codec::mime::Accept;
    ///
    /// assert_eq!(Accept::parse("text/*")?.ranges()[0].subtype(), "*");
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn subtype(&self) -> &'a str {
        self.subtype
    }

    /// The q-value in thousandths (0 to 1000; 1000 when absent). 0 means
    /// "not acceptable".
    ///
    /// ```
    /// use dm_codec::mime::Accept;
    ///
    /// let accept = Accept::parse("a/b;q=0.5, c/d, e/f;q=0")?;
    /// let q: Vec<u16> = accept.ranges().iter().map(|r| r.quality()).collect();
    /// assert_eq!(q, [500, 1000, 0]);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn quality(&self) -> u16 {
        self.quality
    }

    /// The value of a media type parameter (name compared without regard to
    /// case, quotes and escapes removed). The `q` weight and any parameter
    /// after it are not media type parameters.
    ///
    /// ```
    /// use dm_codec::mime::Accept;
    ///
    /// let accept = Accept::parse(r#"a/b;charset=utf-8;q=1;ext="x""#)?;
    /// assert_eq!(accept.ranges()[0].parameter("Charset"), Some("utf-8"));
    /// assert_eq!(accept.ranges()[0].parameter("q"), None);
    /// assert_eq!(accept.ranges()[0].parameter("ext"), None);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// Whether this range covers `media_type` (a concrete `type/subtype`,
    /// possibly with parameters): type and subtype equal without regard to
    /// case or `*`, and every parameter of the range present in
    /// `media_type` with the same value (`charset` values compared without
    /// regard to case, others exactly). A malformed `media_type` is never
    /// covered.
    ///
    /// ```
    /// use dm_codec::mime::{self, Accept};
    ///
    /// let accept = Accept::parse("application/*, text/plain;format=flowed")?;
    /// assert!(accept.ranges()[0].matches(mime::MO_DATA));
    /// assert!(!accept.ranges()[1].matches("text/plain"));
    /// assert!(accept.ranges()[1].matches("text/plain; format=flowed"));
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn matches(&self, media_type: &str) -> bool {
        parse_media_type(media_type).is_some_and(|parsed| self.covers(&parsed))
    }

    fn covers(&self, media_type: &MediaRange<'_>) -> bool {
        (self.type_name == "*" || self.type_name.eq_ignore_ascii_case(media_type.type_name))
            && (self.subtype == "*" || self.subtype.eq_ignore_ascii_case(media_type.subtype))
            && self.parameters.iter().all(|(name, value)| {
                media_type.parameters.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case(name)
                        && if name.eq_ignore_ascii_case("charset") {
                            v.eq_ignore_ascii_case(value)
                        } else {
                            v == value
                        }
                })
            })
    }

    /// How specific the range is: `*/*` < `type/*` < `type/subtype` <
    /// `type/subtype` with more parameters.
    fn specificity(&self) -> (bool, bool, usize) {
        (
            self.type_name != "*",
            self.subtype != "*",
            self.parameters.len(),
        )
    }
}

/// A parsed `Accept` or `OMADM-Accept` header value.
///
/// Syntax (RFC 9110): a comma-separated list of media ranges, each
/// `type/subtype` (or `type/*`, `*/*`) followed by `;name=value` parameters
/// (token or quoted string) and an optional `;q=` weight (0 to 1, at most
/// three decimals). Type, subtype and parameter names are compared without
/// regard to case; spaces and tabs are allowed around `,` and `;`; empty list
/// elements are skipped. The value may hold at most [`MAX_MEDIA_RANGES`]
/// ranges in [`MAX_HEADER_LEN`] bytes; errors are [`Error::MediaType`] with
/// the byte offset in the value.
///
/// An empty value accepts nothing. When the header is absent, HTTP `Accept`
/// means anything is acceptable (parse `*/*`), while an absent
/// `OMADM-Accept` means [`DEFAULT_OMADM_ACCEPT`].
///
/// ```
/// use dm_codec::mime::{self, Accept};
///
/// let accept = Accept::parse("application/json;q=0.9, application/dmmo+json")?;
/// assert_eq!(accept.quality(mime::MO_DATA), 1000);
/// assert_eq!(accept.quality("application/json"), 900);
/// assert_eq!(accept.quality("text/plain"), 0);
///
/// let err = Accept::parse("application/dmmo+json;q=2").unwrap_err();
/// assert_eq!(err.offset(), Some(24));
/// # Ok::<(), dm_codec::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accept<'a> {
    ranges: Vec<MediaRange<'a>>,
}

impl<'a> Accept<'a> {
    /// Parses a header value (see [`Accept`] for the syntax and limits).
    ///
    /// ```
    /// use dm_codec::mime::Accept;
    ///
    /// assert_eq!(Accept::parse(" a/b ,, c/* ; q=0.1 ")?.ranges().len(), 2);
    /// assert!(Accept::parse("*/json").is_err());
    /// assert!(Accept::parse("a/b c/d").is_err());
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn parse(value: &'a str) -> Result<Self, Error> {
        if value.len() > MAX_HEADER_LEN {
            return Err(error(MAX_HEADER_LEN, "header value longer than 4096 bytes"));
        }
        let mut cursor = Cursor {
            text: value,
            pos: 0,
        };
        let mut ranges = Vec::new();
        loop {
            cursor.skip_whitespace();
            match cursor.peek() {
                None => break,
                Some(b',') => {
                    cursor.pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            if ranges.len() == MAX_MEDIA_RANGES {
                return Err(error(cursor.pos, "more than 64 media ranges"));
            }
            ranges.push(cursor.media_range(true)?);
            cursor.skip_whitespace();
            match cursor.peek() {
                None => break,
                Some(b',') => cursor.pos += 1,
                Some(_) => {
                    return Err(error(cursor.pos, "expected ',' or ';' after a media range"));
                }
            }
        }
        Ok(Accept { ranges })
    }

    /// The media ranges in header order.
    ///
    /// ```
    /// use dm_codec::mime::Accept;
    ///
    /// assert!(Accept::parse("")?.ranges().is_empty());
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn ranges(&self) -> &[MediaRange<'a>] {
        &self.ranges
    }

    /// How acceptable `media_type` is, in thousandths (0: not acceptable).
    ///
    /// The most specific matching range decides (RFC 9110: `a/b` overrides
    /// `a/*`, which overrides `*/*`; a range with more parameters overrides
    /// one with fewer); among equally specific matches the highest q wins.
    /// A malformed `media_type` gets 0.
    ///
    /// ```
    /// use dm_codec::mime::{self, Accept};
    ///
    /// let accept = Accept::parse("*/*;q=0.1, application/*;q=0, application/dmmo+json;q=0.7")?;
    /// assert_eq!(accept.quality(mime::MO_DATA), 700);
    /// assert_eq!(accept.quality(mime::REQUEST), 0);
    /// assert_eq!(accept.quality("text/plain"), 100);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn quality(&self, media_type: &str) -> u16 {
        parse_media_type(media_type).map_or(0, |parsed| self.quality_of(&parsed))
    }

    fn quality_of(&self, media_type: &MediaRange<'_>) -> u16 {
        self.ranges
            .iter()
            .filter(|range| range.covers(media_type))
            .map(|range| (range.specificity(), range.quality))
            .max()
            .map_or(0, |(_, quality)| quality)
    }

    /// The offered media type with the highest quality, the earliest in
    /// `offered` on a tie; `None` when none is acceptable (HTTP 406, or
    /// status 406 for an HPUT/HPOST body). Offered entries that are not
    /// valid media types are never chosen.
    ///
    /// ```
    /// use dm_codec::mime::{self, Accept};
    ///
    /// let accept = Accept::parse("application/*")?;
    /// assert_eq!(accept.choose(&["application/cbor", mime::MO_DATA]), Some("application/cbor"));
    /// assert_eq!(Accept::parse("a/b;q=0")?.choose(&["a/b"]), None);
    /// # Ok::<(), dm_codec::Error>(())
    /// ```
    pub fn choose<'o>(&self, offered: &[&'o str]) -> Option<&'o str> {
        let mut best: Option<(&'o str, u16)> = None;
        for &candidate in offered {
            let quality = self.quality(candidate);
            if quality > 0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((candidate, quality));
            }
        }
        best.map(|(candidate, _)| candidate)
    }
}

/// Parses `accept` (an `Accept` or `OMADM-Accept` value) and chooses among
/// `offered`: [`Accept::parse`] then [`Accept::choose`].
///
/// ```
/// use dm_codec::mime;
///
/// let offered = [mime::MO_DATA, "application/cbor"];
/// assert_eq!(mime::negotiate("application/cbor, */*;q=0.5", &offered)?, Some("application/cbor"));
/// assert_eq!(mime::negotiate("*/*", &offered)?, Some(mime::MO_DATA));
/// assert_eq!(mime::negotiate("text/*", &offered)?, None);
/// assert!(mime::negotiate("application/", &offered).is_err());
/// # Ok::<(), dm_codec::Error>(())
/// ```
pub fn negotiate<'o>(accept: &str, offered: &[&'o str]) -> Result<Option<&'o str>, Error> {
    Ok(Accept::parse(accept)?.choose(offered))
}

/// Whether a `Content-Type` value names the `expected` media type: type and
/// subtype compared without regard to case, parameters of either ignored,
/// spaces and tabs around them allowed.
///
/// ```
/// use dm_codec::mime;
///
/// assert!(mime::content_type_matches(" application/DMMO+json ;charset=UTF-8", mime::MO_DATA));
/// assert!(!mime::content_type_matches("application/json", mime::MO_DATA));
/// assert!(!mime::content_type_matches("", mime::MO_DATA));
/// ```
pub fn content_type_matches(content_type: &str, expected: &str) -> bool {
    fn essence(value: &str) -> &str {
        let end = value.find(';').unwrap_or(value.len());
        value[..end].trim_matches(|c| c == ' ' || c == '\t')
    }
    let found = essence(content_type);
    !found.is_empty() && found.eq_ignore_ascii_case(essence(expected))
}

/// A concrete media type (no wildcard, no q-value) as a range, for matching.
fn parse_media_type(text: &str) -> Option<MediaRange<'_>> {
    if text.len() > MAX_HEADER_LEN {
        return None;
    }
    let mut cursor = Cursor { text, pos: 0 };
    cursor.skip_whitespace();
    let parsed = cursor.media_range(false).ok()?;
    cursor.skip_whitespace();
    let concrete = parsed.type_name != "*" && parsed.subtype != "*";
    (cursor.peek().is_none() && concrete).then_some(parsed)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads a header value byte by byte. Every stop is at an ASCII delimiter,
/// so slices always fall on character boundaries.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self, reason: &'static str) -> Result<&'a str, Error> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(error(start, reason));
        }
        self.text
            .get(start..self.pos)
            .ok_or_else(|| error(start, reason))
    }

    /// `DQUOTE *( qdtext / quoted-pair ) DQUOTE`, the cursor on the opening
    /// quote; returns the unescaped content.
    fn quoted_string(&mut self) -> Result<Cow<'a, str>, Error> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut unescaped: Option<String> = None;
        let rest = self.text.get(start..).unwrap_or("");
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = start + i + 1;
                    return Ok(match unescaped {
                        Some(text) => Cow::Owned(text),
                        None => Cow::Borrowed(&rest[..i]),
                    });
                }
                '\\' => {
                    let Some((_, escaped)) = chars.next() else {
                        break;
                    };
                    if escaped.is_ascii_control() && escaped != '\t' {
                        return Err(error(start + i + 1, "control character in a quoted string"));
                    }
                    unescaped
                        .get_or_insert_with(|| rest[..i].to_owned())
                        .push(escaped);
                }
                c if c.is_ascii_control() && c != '\t' => {
                    return Err(error(start + i, "control character in a quoted string"));
                }
                c => {
                    if let Some(text) = &mut unescaped {
                        text.push(c);
                    }
                }
            }
        }
        Err(error(open, "unterminated quoted string"))
    }

    /// `type "/" subtype *( OWS ";" OWS [ parameter ] )`. With `weighted`,
    /// `q` ends the media type parameters and later ones are skipped; the
    /// cursor stops after the last parameter (before whitespace).
    fn media_range(&mut self, weighted: bool) -> Result<MediaRange<'a>, Error> {
        let start = self.pos;
        let type_name = self.token("expected a media type")?;
        if self.peek() != Some(b'/') {
            return Err(error(self.pos, "expected '/' after the type"));
        }
        self.pos += 1;
        let subtype = self.token("expected a subtype after '/'")?;
        if type_name == "*" && subtype != "*" {
            return Err(error(
                start,
                "a wildcard type needs a wildcard subtype ('*/*')",
            ));
        }
        let mut range = MediaRange {
            type_name,
            subtype,
            parameters: Vec::new(),
            quality: Q_ONE,
        };
        let mut weight_seen = false;
        loop {
            let before = self.pos;
            self.skip_whitespace();
            if self.peek() != Some(b';') {
                self.pos = before;
                break;
            }
            self.pos += 1;
            self.skip_whitespace();
            if matches!(self.peek(), None | Some(b',' | b';')) {
                // An empty parameter is allowed.
                continue;
            }
            let name = self.token("expected a parameter name")?;
            if self.peek() != Some(b'=') {
                return Err(error(self.pos, "expected '=' after a parameter name"));
            }
            self.pos += 1;
            let value_start = self.pos;
            let is_weight = weighted && !weight_seen && name.eq_ignore_ascii_case("q");
            if is_weight {
                let value = self.token("expected a q-value")?;
                range.quality = parse_qvalue(value).ok_or_else(|| {
                    error(value_start, "invalid q-value (0 to 1, at most 3 decimals)")
                })?;
                weight_seen = true;
                continue;
            }
            let value = if self.peek() == Some(b'"') {
                self.quoted_string()?
            } else {
                Cow::Borrowed(self.token("expected a parameter value")?)
            };
            if !weight_seen {
                range.parameters.push((name, value));
            }
        }
        Ok(range)
    }
}

/// RFC 9110 `qvalue` in thousandths: `0[.ddd]` or `1[.000]`.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match whole {
        "1" if fraction.bytes().all(|b| b == b'0') => Some(Q_ONE),
        "0" => {
            let mut thousandths = 0u16;
            for i in 0..3 {
                let digit = fraction.as_bytes().get(i).map_or(0, |b| b - b'0');
                thousandths = thousandths * 10 + u16::from(digit);
            }
            Some(thousandths)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(value: &str) -> (usize, &'static str) {
        match Accept::parse(value) {
            Err(Error::MediaType { offset, reason }) => (offset, reason),
            Ok(_) => (usize::MAX, "parsed"),
            Err(_) => (usize::MAX, "another error"),
        }
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0."), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        for bad in [
            "", "1.001", "0.1234", "2", ".5", "0,5", "-0", "0.a", "01", "1.0.0",
        ] {
            assert_eq!(parse_qvalue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn syntax_errors_with_offsets() {
        assert_eq!(offset("/json"), (0, "expected a media type"));
        assert_eq!(offset("application"), (11, "expected '/' after the type"));
        assert_eq!(offset("application/"), (12, "expected a subtype after '/'"));
        assert_eq!(
            offset("a/b, */json"),
            (5, "a wildcard type needs a wildcard subtype ('*/*')")
        );
        assert_eq!(offset("a/b;=1"), (4, "expected a parameter name"));
        assert_eq!(offset("a/b;x"), (5, "expected '=' after a parameter name"));
        assert_eq!(
            offset("a/b;x =1"),
            (5, "expected '=' after a parameter name")
        );
        assert_eq!(offset("a/b;x="), (6, "expected a parameter value"));
        assert_eq!(
            offset("a/b;q=1.5"),
            (6, "invalid q-value (0 to 1, at most 3 decimals)")
        );
        assert_eq!(offset("a/b;q=\"1\""), (6, "expected a q-value"));
        assert_eq!(offset("a/b;x=\"open"), (6, "unterminated quoted string"));
        assert_eq!(offset("a/b;x=\"a\\"), (6, "unterminated quoted string"));
        assert_eq!(
            offset("a/b;x=\"a\u{1}\""),
            (8, "control character in a quoted string")
        );
        assert_eq!(
            offset("a/b c/d"),
            (4, "expected ',' or ';' after a media range")
        );
        assert_eq!(
            offset("a/b;x=1 y"),
            (8, "expected ',' or ';' after a media range")
        );
        assert_eq!(
            offset("a/b\u{e9}"),
            (3, "expected ',' or ';' after a media range")
        );
        assert_eq!(
            offset("a/b\n"),
            (3, "expected ',' or ';' after a media range")
        );
    }

    #[test]
    fn limits() {
        let many = vec!["a/b"; MAX_MEDIA_RANGES].join(",");
        assert_eq!(
            Accept::parse(&many).map(|a| a.ranges().len()),
            Ok(MAX_MEDIA_RANGES)
        );
        let too_many = format!("{many}, c/d");
        assert_eq!(
            offset(&too_many),
            (many.len() + 2, "more than 64 media ranges")
        );
        // Empty elements do not count.
        let sparse = format!("{}a/b", ",".repeat(1000));
        assert!(Accept::parse(&sparse).is_ok());
        let long = format!("a/b;x=\"{}\"", "y".repeat(MAX_HEADER_LEN));
        assert_eq!(
            offset(&long),
            (MAX_HEADER_LEN, "header value longer than 4096 bytes")
        );
        let exact = format!("a/b;x={}", "y".repeat(MAX_HEADER_LEN - 6));
        assert!(Accept::parse(&exact).is_ok());
    }

    #[test]
    fn quoted_strings() {
        let accept = Accept::parse(r#"a/b;x="1,2;3";y="q\"\\z", c/d"#).expect("valid");
        assert_eq!(accept.ranges().len(), 2);
        assert_eq!(accept.ranges()[0].parameter("x"), Some("1,2;3"));
        assert_eq!(accept.ranges()[0].parameter("y"), Some("q\"\\z"));
        let accept = Accept::parse("a/b;x=\"caf\u{e9}\\\u{e9}\"").expect("obs-text");
        assert_eq!(accept.ranges()[0].parameter("x"), Some("caf\u{e9}\u{e9}"));
        let accept = Accept::parse("a/b;x=\"\"").expect("empty quoted");
        assert_eq!(accept.ranges()[0].parameter("x"), Some(""));
    }

    #[test]
    fn whitespace_and_empty_elements() {
        let accept = Accept::parse("\t a/b \t; \tq=0.5 ;; , ,c/d;").expect("valid");
        assert_eq!(accept.ranges().len(), 2);
        assert_eq!(accept.ranges()[0].quality(), 500);
        assert_eq!(accept.ranges()[1].quality(), 1000);
        assert!(Accept::parse("  ").expect("empty").ranges().is_empty());
        assert!(Accept::parse(",,").expect("empty").ranges().is_empty());
    }

    #[test]
    fn parameters_after_weight_are_extensions() {
        let accept = Accept::parse("a/b;p=1;Q=0.3;q=0.9;e=2").expect("valid");
        let range = &accept.ranges()[0];
        assert_eq!(range.quality(), 300);
        assert_eq!(range.parameter("p"), Some("1"));
        assert_eq!(range.parameter("e"), None);
        // The extension does not restrict matching.
        assert!(range.matches("a/b;p=1"));
    }

    #[test]
    fn media_type_parsing_for_offers() {
        assert!(parse_media_type(MO_DATA).is_some());
        assert!(parse_media_type(" a/b ; c=d ").is_some());
        assert!(parse_media_type("a/*").is_none());
        assert!(parse_media_type("*/*").is_none());
        assert!(parse_media_type("a/b,c/d").is_none());
        assert!(parse_media_type("a").is_none());
        assert!(parse_media_type("").is_none());
        let long = format!("a/{}", "b".repeat(MAX_HEADER_LEN));
        assert!(parse_media_type(&long).is_none());
    }

    #[test]
    fn specificity_order() {
        let accept = Accept::parse(
            "text/plain;format=flowed;q=0.9, text/plain;q=0.4, text/*;q=0.3, */*;q=0.1",
        )
        .expect("valid");
        assert_eq!(accept.quality("text/plain;format=flowed"), 900);
        assert_eq!(accept.quality("text/plain"), 400);
        assert_eq!(accept.quality("text/plain;format=fixed"), 400);
        assert_eq!(accept.quality("text/html"), 300);
        assert_eq!(accept.quality("image/png"), 100);
        assert_eq!(accept.quality("not a type"), 0);
        // Equally specific: the highest q.
        let accept = Accept::parse("a/b;q=0.2, A/B;q=0.6").expect("valid");
        assert_eq!(accept.quality("a/b"), 600);
    }

    #[test]
    fn parameter_value_comparison() {
        let accept = Accept::parse("a/b;charset=UTF-8, c/d;v=X").expect("valid");
        assert!(accept.ranges()[0].matches("a/b;CHARSET=utf-8"));
        assert!(!accept.ranges()[0].matches("a/b"));
        assert!(accept.ranges()[1].matches("c/d;v=X"));
        assert!(!accept.ranges()[1].matches("c/d;v=x"));
        assert!(accept.ranges()[1].matches("c/d;v=\"X\""));
    }

    #[test]
    fn content_type() {
        assert!(content_type_matches(MO_DATA, MO_DATA));
        assert!(content_type_matches("APPLICATION/dmmo+JSON", MO_DATA));
        assert!(content_type_matches(
            "application/dmmo+json;charset=utf-8",
            "application/dmmo+json; x=y"
        ));
        assert!(!content_type_matches("application/dmmo+json2", MO_DATA));
        assert!(!content_type_matches(";", MO_DATA));
        assert!(!content_type_matches("", ""));
        assert!(!content_type_matches("application/ dmmo+json", MO_DATA));
    }
}
