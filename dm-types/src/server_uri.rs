//! Absolute URIs: [`ServerUri`] (http/https only) and [`DdfUri`] (any scheme).
//!
//! Both are validated against the RFC 3986 grammar (not the WHATWG URL
//! standard) and kept exactly as received: a receiver never rewrites a URI it
//! passes on (docs/protocol.md section 3).

use crate::Error;
use crate::percent::{CLASS, HOST, QUERY_VALUE, UNRESERVED, hex_value, run_end};

/// RFC 3986 `sub-delims`.
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn cut(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Checks that `part` holds only bytes accepted by `allowed` or valid `%XX`
/// escapes; returns the offset of the first bad byte.
fn check_part(part: &[u8], allowed: impl Fn(u8) -> bool) -> Result<(), usize> {
    let mut at = 0;
    while at < part.len() {
        if part[at] == b'%' {
            if part.get(at + 1).copied().and_then(hex_value).is_none()
                || part.get(at + 2).copied().and_then(hex_value).is_none()
            {
                return Err(at);
            }
            at += 3;
        } else if allowed(part[at]) {
            at += 1;
        } else {
            return Err(at);
        }
    }
    Ok(())
}

/// Path and query characters: `pchar`, `/` and (in the query) `?`.
fn is_path_char(b: u8) -> bool {
    CLASS[usize::from(b)] & QUERY_VALUE != 0
}

/// Where the parts of an http(s) URI sit in its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Layout {
    https: bool,
    host_start: u32,
    host_end: u32,
    port: Option<u16>,
    path_start: u32,
}

/// Parses the parts of an http(s) URI that [`check_absolute`] accepted;
/// `escapes_or_brackets` is what it found. Without `%`, `[` or `]`, a host
/// and a path hold only characters of their classes (every other URI
/// character ends the part), so their character checks are skipped.
fn parse_http(text: &str, escapes_or_brackets: bool) -> Result<Layout, String> {
    let bytes = text.as_bytes();
    let Some(colon) = bytes.iter().position(|&b| b == b':') else {
        return Err("not an absolute URI (no scheme)".into());
    };
    let scheme = &text[..colon];
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err("the scheme must be http or https".into());
    };
    let Some(rest) = text[colon + 1..].strip_prefix("//") else {
        return Err("an http(s) URI needs '//' and a host".into());
    };
    let authority_start = colon + 3;
    // One pass over the authority finds its end, its last `@` and the first
    // `:` after that `@` (where the port of a host that is not an IPv6
    // literal starts). Host characters, none of these four, go first and
    // eight at a time.
    let rest = rest.as_bytes();
    let (mut authority_len, mut last_at, mut port_colon) = (run_end(rest, 0, HOST), None, None);
    for &b in &rest[authority_len..] {
        match b {
            b'/' | b'?' => break,
            b'@' => (last_at, port_colon) = (Some(authority_len), None),
            b':' if port_colon.is_none() => port_colon = Some(authority_len),
            _ => {}
        }
        authority_len += 1;
    }
    let authority = &bytes[authority_start..authority_start + authority_len];
    let bad = |offset: usize, what: &str| format!("byte {offset}: {what}");

    // userinfo "@"
    let host_start_rel = match last_at {
        Some(at) => {
            check_part(&authority[..at], |b| {
                CLASS[usize::from(b)] & UNRESERVED != 0 || is_sub_delim(b) || b == b':'
            })
            .map_err(|i| bad(authority_start + i, "character not allowed in userinfo"))?;
            at + 1
        }
        None => 0,
    };
    let host_and_port = &authority[host_start_rel..];
    let host_start = authority_start + host_start_rel;
    let (host_len, port_text) = if host_and_port.first() == Some(&b'[') {
        let Some(close) = host_and_port.iter().position(|&b| b == b']') else {
            return Err(bad(host_start, "'[' without ']'"));
        };
        let literal = std::str::from_utf8(&host_and_port[1..close]).unwrap_or("");
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(host_start, "not an IPv6 address literal"));
        }
        match &host_and_port[close + 1..] {
            [] => (close + 1, None),
            [b':', port @ ..] => (close + 1, Some(port)),
            _ => {
                return Err(bad(
                    host_start + close + 1,
                    "expected ':' or the end after ']'",
                ));
            }
        }
    } else {
        match port_colon {
            Some(c) => {
                let c = c - host_start_rel;
                (c, Some(&host_and_port[c + 1..]))
            }
            None => (host_and_port.len(), None),
        }
    };
    let host = &host_and_port[..host_len];
    if host.is_empty() {
        return Err("an http(s) URI needs a host".into());
    }
    if escapes_or_brackets && host[0] != b'[' {
        check_part(host, |b| {
            CLASS[usize::from(b)] & UNRESERVED != 0 || is_sub_delim(b)
        })
        .map_err(|i| bad(host_start + i, "character not allowed in a host"))?;
    }
    let port = match port_text {
        None | Some([]) => None,
        Some(digits) => {
            if !digits.iter().all(u8::is_ascii_digit) || digits.len() > 5 {
                return Err(bad(host_start + host_len + 1, "the port is not a number"));
            }
            let value = digits
                .iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
            Some(
                u16::try_from(value)
                    .map_err(|_| bad(host_start + host_len + 1, "port above 65535"))?,
            )
        }
    };
    let path_start = authority_start + authority_len;
    if escapes_or_brackets {
        check_part(&bytes[path_start..], is_path_char).map_err(|i| {
            bad(
                path_start + i,
                "character not allowed in a path or query (percent-encode it)",
            )
        })?;
    }
    let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(Layout {
        https,
        host_start: offset(host_start),
        host_end: offset(host_start + host_len),
        port,
        path_start: offset(path_start),
    })
}

/// Longest ServerURI or DDF URI accepted, in bytes (a hard bound; `dm-codec`
/// applies a smaller configurable one).
pub const MAX_URI_LEN: usize = 1 << 20;

/// An absolute `http` or `https` URI naming a DM server, data repository or
/// web page (docs/protocol.md section 9).
///
/// Validated against RFC 3986 (scheme, authority with a non-empty host and a
/// port up to 65535, path, query; no fragment; every other character
/// percent-encoded) and kept exactly as received: [`ServerUri::as_str`] and
/// `Display` never rewrite it. HTTP stacks parse [`ServerUri::as_str`] with
/// their own URL type when they send a request.
///
/// ```
/// use dm_types::ServerUri;
///
/// let uri = ServerUri::new("https://DM.example:8443/s/abc?x=1")?;
/// assert_eq!(uri.as_str(), "https://DM.example:8443/s/abc?x=1");
/// assert_eq!(uri.host(), "DM.example");
/// assert_eq!(uri.port_or_default(), 8443);
/// assert_eq!(uri.path_and_query(), "/s/abc?x=1");
/// assert!(ServerUri::new("ftp://dm.example/").is_err());
/// assert!(ServerUri::new("/relative").is_err());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerUri {
    text: Box<str>,
    layout: Layout,
}

impl ServerUri {
    /// Validates `text` as an absolute http/https URI.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        let layout = check_absolute(&text, "ServerURI").and_then(|escapes_or_brackets| {
            parse_http(&text, escapes_or_brackets).map_err(|reason| Error::AbsoluteUri {
                what: "ServerURI",
                uri: cut(&text),
                reason,
            })
        })?;
        Ok(Self {
            text: text.into_boxed_str(),
            layout,
        })
    }

    /// The URI exactly as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.layout.https
    }

    /// The host as written (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        &self.text[self.layout.host_start as usize..self.layout.host_end as usize]
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.layout.port
    }

    /// The port, or the scheme's default (80 or 443).
    pub fn port_or_default(&self) -> u16 {
        self.layout
            .port
            .unwrap_or(if self.layout.https { 443 } else { 80 })
    }

    /// The path and query as written (possibly empty).
    pub fn path_and_query(&self) -> &str {
        &self.text[self.layout.path_start as usize..]
    }

    /// Whether `other` has the same origin (scheme, host compared without
    /// regard to case, and port) — the rule for following CONT and for sending
    /// credentials to a repository.
    ///
    /// ```
    /// use dm_types::ServerUri;
    ///
    /// let a = ServerUri::new("https://dm.example/dm")?;
    /// assert!(a.same_origin(&ServerUri::new("https://DM.example:443/s/1")?));
    /// assert!(!a.same_origin(&ServerUri::new("https://evil.example/s/1")?));
    /// assert!(!a.same_origin(&ServerUri::new("http://dm.example/s/1")?));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn same_origin(&self, other: &ServerUri) -> bool {
        self.layout.https == other.layout.https
            && self.host().eq_ignore_ascii_case(other.host())
            && self.port_or_default() == other.port_or_default()
    }
}

/// The checks every absolute URI gets: length, URI characters only, no
/// fragment. Returns whether the text holds a `%`, `[` or `]`.
fn check_absolute(text: &str, what: &'static str) -> Result<bool, Error> {
    let fail = |reason: String| Error::AbsoluteUri {
        what,
        uri: cut(text),
        reason,
    };
    if text.len() > MAX_URI_LEN {
        return Err(fail("longer than the URI hard limit".into()));
    }
    let bytes = text.as_bytes();
    let mut escapes_or_brackets = false;
    let mut pos = 0;
    loop {
        // `QUERY_VALUE` is exactly `is_path_char`: pchar, `/` and `?`.
        pos = run_end(bytes, pos, QUERY_VALUE);
        match bytes.get(pos) {
            None => return Ok(escapes_or_brackets),
            Some(b'%' | b'[' | b']') => {
                escapes_or_brackets = true;
                pos += 1;
            }
            Some(b'#') => return Err(fail(format!("byte {pos}: an absolute URI has no fragment"))),
            Some(_) => {
                return Err(fail(format!(
                    "byte {pos} is not a URI character (RFC 3986); percent-encode it"
                )));
            }
        }
    }
}

impl PartialEq for ServerUri {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ServerUri {}

impl std::hash::Hash for ServerUri {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl std::fmt::Display for ServerUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for ServerUri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// The location of a DDF file (the `DDF` member of MOS entries and MO
/// serialization items): any absolute URI (`scheme ":" ...`), kept exactly as
/// received.
///
/// ```
/// use dm_types::DdfUri;
///
/// assert!(DdfUri::new("http://vendor.example/ddf/devinfo-1.2.ddf").is_ok());
/// assert!(DdfUri::new("urn:oma:ddf:devinfo").is_ok());
/// assert!(DdfUri::new("devinfo.ddf").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DdfUri(Box<str>);

impl DdfUri {
    /// Validates `text` as an absolute URI of any scheme.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        check_absolute(&text, "DDF URI")?;
        let scheme_len = text.bytes().position(|b| b == b':').unwrap_or(0);
        let scheme = &text.as_bytes()[..scheme_len];
        let valid_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let valid_rest = check_part(&text.as_bytes()[scheme_len..], |b| {
            is_path_char(b) || b == b'[' || b == b']' || b == b':'
        });
        if !valid_scheme || valid_rest.is_err() {
            return Err(Error::AbsoluteUri {
                what: "DDF URI",
                uri: cut(&text),
                reason: "not an absolute URI (scheme \":\" ...)".into(),
            });
        }
        Ok(Self(text.into_boxed_str()))
    }

    /// The URI exactly as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DdfUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_uri_rules() {
        for good in [
            "http://a/",
            "http://a",
            "HTTPS://a:8443",
            "https://user:pw@a.example:1/p/a%20th?q=1/2?3",
            "https://[::1]:8080/x",
            "https://192.0.2.1/",
            "https://a:/",
        ] {
            assert!(ServerUri::new(good).is_ok(), "{good:?} rejected");
        }
        for bad in [
            "",
            "https://",
            "https:a",
            "https://a b/",
            "https://a/#frag",
            "mailto:x@y",
            " https://a/",
            "https://a/\n",
            "https://a/\u{e9}",
            "https://a:99999/",
            "https://a:x/",
            "https://[1::2::3]/",
            "https://[v1.x]/",
            "https://a/%zz",
            "https://a^b/",
            "https://a/{x}",
            "https://:80/",
        ] {
            assert!(ServerUri::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parts() {
        let uri = ServerUri::new("http://[::1]/dm").unwrap();
        assert_eq!(uri.host(), "[::1]");
        assert_eq!(uri.port(), None);
        assert_eq!(uri.port_or_default(), 80);
        assert!(!uri.is_https());
        assert_eq!(ServerUri::new("https://a").unwrap().path_and_query(), "");
        let uri = ServerUri::new("https://u:p@h.example:81?q").unwrap();
        assert_eq!((uri.host(), uri.port()), ("h.example", Some(81)));
        assert_eq!(uri.path_and_query(), "?q");
        let uri = ServerUri::new("http://a:1@b/c:d@e").unwrap();
        assert_eq!((uri.host(), uri.port()), ("b", None));
        assert_eq!(uri.path_and_query(), "/c:d@e");
        let err = ServerUri::new("https://a@b@c/").unwrap_err().to_string();
        assert!(
            err.contains("byte 9: character not allowed in userinfo"),
            "{err}"
        );
        let err = ServerUri::new("https://h:8x/").unwrap_err().to_string();
        assert!(err.contains("byte 10: the port is not a number"), "{err}");
    }

    #[test]
    fn ddf_uri_rules() {
        assert!(DdfUri::new("file:///x.ddf").is_ok());
        assert!(DdfUri::new("1http://a/").is_err());
        assert!(DdfUri::new(":x").is_err());
    }
}
