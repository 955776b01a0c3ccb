//! Absolute URIs: [`ServerUri`] (http/https only) and [`DdfUri`] (any scheme).
//! Both are validated and re-encoded exactly as received.

use crate::Error;

/// RFC 3986 characters allowed anywhere in a URI (`unreserved`, `reserved`
/// and `%`).
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b':'
                | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

fn cut(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn parse_absolute(text: &str, what: &'static str, http_only: bool) -> Result<url::Url, Error> {
    let fail = |reason: String| Error::AbsoluteUri {
        what,
        uri: cut(text),
        reason,
    };
    if let Some(pos) = text.bytes().position(|b| !is_uri_char(b)) {
        return Err(fail(format!(
            "byte {pos} is not a URI character (RFC 3986); percent-encode it"
        )));
    }
    if text.contains('#') {
        return Err(fail("an absolute URI has no fragment".into()));
    }
    let url = url::Url::parse(text).map_err(|e| fail(e.to_string()))?;
    if http_only && !matches!(url.scheme(), "http" | "https") {
        return Err(fail("the scheme must be http or https".into()));
    }
    if http_only && url.host().is_none() {
        return Err(fail("an http(s) URI needs a host".into()));
    }
    Ok(url)
}

/// An absolute `http` or `https` URI naming a DM server, data repository or
/// web page (PROTOCOL.md section 9).
///
/// The text is kept exactly as received ([`ServerUri::as_str`] and `Display`
/// never rewrite it); [`ServerUri::url`] gives the parsed form for HTTP clients.
///
/// ```
/// use dm_types::ServerUri;
///
/// let uri = ServerUri::new("https://DM.example/s/abc?x=1")?;
/// assert_eq!(uri.as_str(), "https://DM.example/s/abc?x=1");
/// assert_eq!(uri.url().host_str(), Some("dm.example"));
/// assert!(ServerUri::new("ftp://dm.example/").is_err());
/// assert!(ServerUri::new("/relative").is_err());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerUri {
    text: Box<str>,
    url: url::Url,
}

impl ServerUri {
    /// Validates `text` as an absolute http/https URI.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        let url = parse_absolute(&text, "ServerURI", true)?;
        Ok(Self {
            text: text.into_boxed_str(),
            url,
        })
    }

    /// The URI exactly as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URI (normalized by the `url` crate), for making requests.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Whether `other` has the same origin (scheme, host and port) — the rule
    /// for following CONT and for sending credentials to a repository.
    ///
    /// ```
    /// use dm_types::ServerUri;
    ///
    /// let a = ServerUri::new("https://dm.example/dm")?;
    /// assert!(a.same_origin(&ServerUri::new("https://dm.example:443/s/1")?));
    /// assert!(!a.same_origin(&ServerUri::new("https://evil.example/s/1")?));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn same_origin(&self, other: &ServerUri) -> bool {
        self.url.origin() == other.url.origin()
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
/// serialization items): any absolute URI, kept exactly as received.
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
        parse_absolute(&text, "DDF URI", false)?;
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
        assert!(ServerUri::new("http://a/").is_ok());
        for bad in [
            "",
            "https://",
            "https://a b/",
            "https://a/#frag",
            "mailto:x@y",
            " https://a/",
            "https://a/\n",
            "https://a/é",
        ] {
            assert!(ServerUri::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
