//! Percent-encoding rules of docs/protocol.md section 9, shared by every identifier
//! that appears inside a ClientURI.

use std::borrow::Cow;

/// Character classes, one bit each, looked up in [`CLASS`].
pub(crate) const UNRESERVED: u8 = 1;
/// What a MIID or node name may carry unencoded: `pchar` without `(`, `)`,
/// `*` (and without `%`, which starts an escape).
pub(crate) const NAME: u8 = 2;
/// RFC 3986 `pchar` without `%`: a MOID's namespace-specific part.
pub(crate) const PCHAR: u8 = 4;
/// What a query value (`nv`, `cv`) may carry unencoded: `pchar`, `/`, `?`.
pub(crate) const QUERY_VALUE: u8 = 8;
/// What a URN namespace (the `oma` of `urn:oma:…`) is made of: ASCII letters,
/// digits and `-`.
pub(crate) const NAMESPACE: u8 = 16;
/// What a registered host name is made of when it has no escapes: RFC 3986
/// `unreserved` and `sub-delims` (none of `/ ? # [ ] @ :` and `%`).
pub(crate) const HOST: u8 = 32;

const fn class_of(b: u8) -> u8 {
    let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let name = unreserved
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'+' | b',' | b';' | b'=' | b':' | b'@'
        );
    let pchar = name || matches!(b, b'(' | b')' | b'*');
    let query = pchar || matches!(b, b'/' | b'?');
    let namespace = b.is_ascii_alphanumeric() || b == b'-';
    let host = unreserved
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        );
    ((unreserved as u8) * UNRESERVED)
        | ((name as u8) * NAME)
        | ((pchar as u8) * PCHAR)
        | ((query as u8) * QUERY_VALUE)
        | ((namespace as u8) * NAMESPACE)
        | ((host as u8) * HOST)
}

/// The class bits of every byte.
pub(crate) static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = class_of(b);
        if b == u8::MAX {
            break table;
        }
        b += 1;
    }
};

/// The end of the run of bytes of class `class` (one bit of [`CLASS`]) that
/// starts at `at`. Eight bytes are classified at a time into a mask whose
/// lowest bit outside the class gives the end: one branch for eight bytes,
/// where a branch per byte would cost most of the time of the short runs in
/// URIs. The last bytes (fewer than eight) go one by one.
#[inline]
pub(crate) fn run_end(bytes: &[u8], mut at: usize, class: u8) -> usize {
    while let Some((chunk, _)) = bytes.get(at..).and_then(<[u8]>::split_first_chunk::<8>) {
        // Bit `i` set when byte `i` is outside the class.
        let outside = chunk.iter().enumerate().fold(0u32, |mask, (i, &b)| {
            mask | (u32::from(CLASS[usize::from(b)] & class == 0) << i)
        });
        if outside != 0 {
            // At most 7: the conversion cannot fail.
            return at + usize::try_from(outside.trailing_zeros()).unwrap_or(0);
        }
        at += 8;
    }
    while at < bytes.len() && CLASS[usize::from(bytes[at])] & class != 0 {
        at += 1;
    }
    at
}

/// RFC 3986 `unreserved`: `A–Z a–z 0–9 - . _ ~`.
pub(crate) fn is_unreserved(b: u8) -> bool {
    CLASS[usize::from(b)] & UNRESERVED != 0
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
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            out.push((high << 4) | low);
            i += 3;
            continue;
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
/// `allowed` is the class of raw bytes that may appear unencoded. On error
/// returns the offset (relative to `raw`) and the reason.
pub(crate) fn canonicalize_component(
    raw: &str,
    allowed: u8,
    out: &mut String,
) -> Result<Decoded, (usize, &'static str)> {
    let bytes = raw.as_bytes();
    // Fast path: nothing to encode or decode (the common case).
    let plain = run_end(bytes, 0, UNRESERVED);
    out.push_str(&raw[..plain]);
    let mut decoded = Decoded {
        len: plain,
        all_dots: bytes[..plain].iter().all(|&b| b == b'.'),
        has_slash: false,
    };
    if plain == bytes.len() {
        return Ok(decoded);
    }
    let mut needs_utf8_check = false;
    let mut at = plain;
    while at < bytes.len() {
        let byte = bytes[at];
        let value = if byte == b'%' {
            let (Some(high), Some(low)) = (
                bytes.get(at + 1).copied().and_then(hex_value),
                bytes.get(at + 2).copied().and_then(hex_value),
            ) else {
                return Err((at, "'%' is not followed by two hex digits"));
            };
            at += 3;
            let escaped = (high << 4) | low;
            needs_utf8_check |= escaped >= 0x80;
            escaped
        } else if CLASS[usize::from(byte)] & allowed != 0 {
            at += 1;
            byte
        } else {
            return Err((at, disallowed_reason(byte)));
        };
        decoded.len += 1;
        decoded.all_dots &= value == b'.';
        decoded.has_slash |= value == b'/';
        push_canonical_byte(out, value);
    }
    if needs_utf8_check {
        let mut buffer = Vec::with_capacity(decoded.len);
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] == b'%' {
                // Both digits were checked above.
                let h = hex_value(bytes[j + 1]).unwrap_or(0);
                let l = hex_value(bytes[j + 2]).unwrap_or(0);
                buffer.push((h << 4) | l);
                j += 3;
            } else {
                buffer.push(bytes[j]);
                j += 1;
            }
        }
        if std::str::from_utf8(&buffer).is_err() {
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
        let d = canonicalize_component("a%41%3a:b", NAME, &mut out).unwrap();
        assert_eq!(out, "aA%3A%3Ab");
        assert_eq!(d.len, 5);
        assert_eq!(decode_canonical(&out), "aA::b");
    }

    #[test]
    fn runs_end_at_the_first_byte_outside_the_class() {
        let slow = |bytes: &[u8], at: usize, class: u8| {
            at + bytes[at..]
                .iter()
                .take_while(|&&b| CLASS[usize::from(b)] & class != 0)
                .count()
        };
        let text = b"abcdefghijk(lmnopqrstuvwxyz0123456789:~._-%41/z";
        for class in [UNRESERVED, NAME, PCHAR, QUERY_VALUE, NAMESPACE, HOST] {
            for start in 0..text.len() {
                for end in start..=text.len() {
                    let bytes = &text[..end];
                    assert_eq!(run_end(bytes, start, class), slow(bytes, start, class));
                }
            }
        }
    }

    #[test]
    fn rejects_bad_escapes_and_utf8() {
        let mut out = String::new();
        assert!(canonicalize_component("%G1", NAME, &mut out).is_err());
        assert!(canonicalize_component("%F", NAME, &mut out).is_err());
        assert!(canonicalize_component("%FF", NAME, &mut out).is_err());
        assert!(canonicalize_component("%C3%A9", NAME, &mut out).is_ok());
    }
}
