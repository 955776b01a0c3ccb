//! Percent-encoding rules of PROTOCOL.md section 9, shared by every identifier
//! that appears inside a ClientURI.

use std::borrow::Cow;

/// RFC 3986 `unreserved`: `A–Z a–z 0–9 - . _ ~`.
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The characters a MIID or node name may carry unencoded: `pchar` without
/// `(`, `)`, `*` (and without `%`, which starts an escape).
pub(crate) const fn is_name_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'+' | b',' | b';' | b'=' | b':' | b'@'
        )
}

/// RFC 3986 `pchar` without `%`: what a MOID's namespace-specific part, or a
/// query value, may carry unencoded.
pub(crate) const fn is_pchar(b: u8) -> bool {
    is_name_char(b) || matches!(b, b'(' | b')' | b'*')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

pub(crate) const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the canonical form of one decoded byte: itself when unreserved,
/// `%XX` with upper-case hex otherwise.
pub(crate) fn push_canonical_byte(out: &mut String, b: u8) {
    if is_unreserved(b) {
        out.push(char::from(b));
    } else {
        out.push('%');
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
    }
}

/// Appends the canonical (fully percent-encoded) form of decoded text.
pub(crate) fn push_canonical(out: &mut String, decoded: &str) {
    for &b in decoded.as_bytes() {
        push_canonical_byte(out, b);
    }
}

/// Decodes canonical text (only `%XX` escapes of valid UTF-8, as produced by
/// [`push_canonical`]). Borrows when there is nothing to decode.
pub(crate) fn decode_canonical(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&b'%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    // Canonical text is built only from valid UTF-8 decoded values, so this is
    // lossless; a lossy conversion keeps the function total all the same.
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// What one pass over a percent-encoded component found.
pub(crate) struct Decoded {
    /// Number of decoded bytes.
    pub(crate) len: usize,
    /// Every decoded byte is `.` (so the value is `.` or `..` when `len` ≤ 2).
    pub(crate) all_dots: bool,
    /// A decoded `/` (only possible through `%2F`).
    pub(crate) has_slash: bool,
}

/// Validates one percent-encoded component and appends its canonical form.
///
/// `allowed` says which raw bytes may appear unencoded. On error returns the
/// offset (relative to `raw`) and the reason.
pub(crate) fn canonicalize_component(
    raw: &[u8],
    allowed: fn(u8) -> bool,
    out: &mut String,
) -> Result<Decoded, (usize, &'static str)> {
    let mut decoded = Decoded {
        len: 0,
        all_dots: true,
        has_slash: false,
    };
    let mut needs_utf8_check = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let value = if b == b'%' {
            let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex_value),
                raw.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err((i, "'%' is not followed by two hex digits"));
            };
            i += 3;
            let v = h << 4 | l;
            if v >= 0x80 {
                needs_utf8_check = true;
            }
            v
        } else if allowed(b) {
            i += 1;
            b
        } else {
            return Err((i, disallowed_reason(b)));
        };
        decoded.len += 1;
        decoded.all_dots &= value == b'.';
        decoded.has_slash |= value == b'/';
        push_canonical_byte(out, value);
    }
    if needs_utf8_check {
        let mut bytes = Vec::with_capacity(decoded.len);
        let mut j = 0;
        while j < raw.len() {
            if raw[j] == b'%' {
                // Both digits were checked above.
                let h = hex_value(raw[j + 1]).unwrap_or(0);
                let l = hex_value(raw[j + 2]).unwrap_or(0);
                bytes.push(h << 4 | l);
                j += 3;
            } else {
                bytes.push(raw[j]);
                j += 1;
            }
        }
        if std::str::from_utf8(&bytes).is_err() {
            return Err((0, "percent-decoded bytes are not valid UTF-8"));
        }
    }
    Ok(decoded)
}

fn disallowed_reason(b: u8) -> &'static str {
    match b {
        b'(' | b')' => "'(' and ')' are only allowed in an x-name such as (x)",
        b'*' => "'*' is only allowed as a whole segment (wildcard)",
        b'#' => "a fragment ('#') is not allowed",
        b' ' => "a space must be percent-encoded",
        0x80..=0xff => "non-ASCII characters must be percent-encoded",
        _ => "character not allowed here (percent-encode it)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_round_trip() {
        let mut out = String::new();
        let d = canonicalize_component(b"a%41%3a:b", is_name_char, &mut out).unwrap();
        assert_eq!(out, "aA%3A%3Ab");
        assert_eq!(d.len, 5);
        assert_eq!(decode_canonical(&out), "aA::b");
    }

    #[test]
    fn rejects_bad_escapes_and_utf8() {
        let mut out = String::new();
        assert!(canonicalize_component(b"%G1", is_name_char, &mut out).is_err());
        assert!(canonicalize_component(b"%F", is_name_char, &mut out).is_err());
        assert!(canonicalize_component(b"%FF", is_name_char, &mut out).is_err());
        assert!(canonicalize_component(b"%C3%A9", is_name_char, &mut out).is_ok());
    }
}
