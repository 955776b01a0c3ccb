//! The RFC 9110 syntax shared by challenges and credentials: auth-params
//! (`name=token` or `name="quoted string"`), and several challenges in one
//! `WWW-Authenticate` value.

use super::algorithm::DigestAlgorithm;
use super::error::HttpAuthError;

/// Whether `b` may appear in an RFC 9110 token.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses RFC 9110 auth-params: `name=token` or `name="quoted string"`,
/// separated by commas, with optional spaces and tabs around them. Names
/// are lower-cased; a repeated name is refused, and so is anything else
/// outside the grammar. Quoted strings lose their quotes and backslash
/// escapes.
///
/// ```
/// use dm_session::http_auth::parse_auth_params;
///
/// let params = parse_auth_params(r#"Realm="a \"b\"", nc=00000001"#)?;
/// assert_eq!(params, [
///     ("realm".to_owned(), r#"a "b""#.to_owned()),
///     ("nc".to_owned(), "00000001".to_owned()),
/// ]);
/// assert!(parse_auth_params("realm").is_err());
/// # Ok::<(), dm_session::http_auth::HttpAuthError>(())
/// ```
pub fn parse_auth_params(text: &str) -> Result<Vec<(String, String)>, HttpAuthError> {
    let bytes = text.as_bytes();
    let malformed = |offset: usize| HttpAuthError::MalformedParams { offset };
    let mut params: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < bytes.len() && matches!(bytes[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_space(&mut i);
        while i < bytes.len() && bytes[i] == b',' {
            i += 1;
            skip_space(&mut i);
        }
        if i >= bytes.len() {
            return Ok(params);
        }
        let start = i;
        while i < bytes.len() && is_token(bytes[i]) {
            i += 1;
        }
        if i == start {
            return Err(malformed(i));
        }
        let name = text[start..i].to_ascii_lowercase();
        skip_space(&mut i);
        if bytes.get(i) != Some(&b'=') {
            return Err(malformed(i));
        }
        i += 1;
        skip_space(&mut i);
        let value = if bytes.get(i) == Some(&b'"') {
            i += 1;
            // Bytes, not characters: only ASCII quotes and backslashes are
            // taken out, so what remains is still UTF-8.
            let mut value = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(malformed(i)),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = *bytes.get(i + 1).ok_or(malformed(i + 1))?;
                        value.push(escaped);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8(value).map_err(|_| malformed(i))?
        } else {
            let start = i;
            while i < bytes.len() && is_token(bytes[i]) {
                i += 1;
            }
            if i == start {
                return Err(malformed(i));
            }
            text[start..i].to_owned()
        };
        if params.iter().any(|(n, _)| *n == name) {
            return Err(HttpAuthError::RepeatedParam(name));
        }
        params.push((name, value));
        skip_space(&mut i);
        match bytes.get(i) {
            None => return Ok(params),
            Some(b',') => i += 1,
            Some(_) => return Err(malformed(i)),
        }
    }
}

/// The value of the auth-param `name` (lower case) in `params`.
pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The value of the auth-param `name`, which must be present.
pub(super) fn required(
    params: &[(String, String)],
    name: &'static str,
) -> Result<String, HttpAuthError> {
    param(params, name)
        .map(str::to_owned)
        .ok_or(HttpAuthError::MissingParam(name))
}

/// The `algorithm` auth-param: MD5 when absent (RFC 7616), else a known
/// name.
pub(super) fn algorithm(params: &[(String, String)]) -> Result<DigestAlgorithm, HttpAuthError> {
    match param(params, "algorithm") {
        None => Ok(DigestAlgorithm::Md5),
        Some(name) => DigestAlgorithm::from_name(name)
            .ok_or_else(|| HttpAuthError::UnknownAlgorithm(name.to_owned())),
    }
}

/// `text` as an RFC 9110 quoted-string.
pub(super) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits one `WWW-Authenticate` value into its challenges: a new
/// challenge starts after a comma (outside quotes) with an auth-scheme
/// token followed by a space or the end, rather than by `=`. The pieces
/// are trimmed; empty ones are left out.
///
/// ```
/// use dm_session::http_auth::split_challenges;
///
/// let value = r#"Digest realm="dm, main", nonce="n1", Basic realm="dm""#;
/// assert_eq!(
///     split_challenges(value),
///     [r#"Digest realm="dm, main", nonce="n1""#, r#"Basic realm="dm""#]
/// );
/// ```
pub fn split_challenges(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => quoted = !quoted,
            b'\\' if quoted => index += 1,
            b',' if !quoted && starts_challenge(&value[index + 1..]) => {
                parts.push(value[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    parts.push(value[start.min(value.len())..].trim());
    parts.retain(|part| !part.is_empty());
    parts
}

/// Whether `rest` (after a comma) begins with an auth-scheme: a token
/// followed by whitespace or the end, not by `=`.
fn starts_challenge(rest: &str) -> bool {
    let rest = rest.trim_start();
    let token_len = rest.bytes().take_while(|&b| is_token(b)).count();
    if token_len == 0 {
        return false;
    }
    match rest[token_len..].bytes().next() {
        None => true,
        Some(b) if b.is_ascii_whitespace() => {
            // `token =value` is still an auth-param.
            !rest[token_len..].trim_start().starts_with('=')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_tokens_and_quoted_strings() {
        let params = parse_auth_params(
            r#"username="a\"b", realm="r, s",nc=00000001 , qop=auth, uri="/dm?x=1""#,
        )
        .expect("valid");
        assert_eq!(
            params,
            [
                ("username".to_owned(), "a\"b".to_owned()),
                ("realm".to_owned(), "r, s".to_owned()),
                ("nc".to_owned(), "00000001".to_owned()),
                ("qop".to_owned(), "auth".to_owned()),
                ("uri".to_owned(), "/dm?x=1".to_owned()),
            ]
        );
        for bad in [
            r#"username="open"#,
            "username",
            "=x",
            "a=1, a=2",
            "a=1 b=2",
            r#"a="x\"#,
            "a=",
        ] {
            assert!(parse_auth_params(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_auth_params("a=1, A=2"),
            Err(HttpAuthError::RepeatedParam("a".into()))
        );
        assert_eq!(parse_auth_params(""), Ok(vec![]));
    }

    #[test]
    fn quoted_values_keep_their_characters() {
        let params = parse_auth_params(r#"realm="J\äs\"øn""#).expect("valid");
        assert_eq!(params[0].1, "Jäs\"øn");
        let again = parse_auth_params(&format!("realm={}", quoted(&params[0].1)));
        assert_eq!(again.expect("valid"), params);
    }

    #[test]
    fn challenges_in_one_header_are_split() {
        let value = r#"Digest realm="dm, main", qop="auth", algorithm=MD5, nonce="n1", Digest realm="dm", algorithm=SHA-256, qop="auth", nonce="n2", Basic realm="dm""#;
        let parts = split_challenges(value);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[0].contains("MD5") && parts[1].contains("SHA-256"));
        assert_eq!(parts[2], r#"Basic realm="dm""#);
    }
}
