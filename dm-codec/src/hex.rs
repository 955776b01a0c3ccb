//! Hexadecimal text and constant-time comparison: the one copy the SDK
//! uses for digests, stored secrets and identifiers.
//!
//! ```
//! use dm_codec::hex;
//!
//! assert_eq!(hex::encode(&[0x0f, 0xa0]), "0fa0");
//! assert_eq!(hex::decode("0FA0"), Some(vec![0x0f, 0xa0]));
//! assert_eq!(hex::decode_array::<2>("0fa0"), Some([0x0f, 0xa0]));
//! assert!(hex::constant_time_eq(b"secret", b"secret"));
//! assert!(!hex::constant_time_eq(b"secret", b"secreT"));
//! ```

/// Lowercase hex of `bytes`.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    text
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex digits (either case) of any even length; `None` for an odd
/// length or a character that is not a hex digit.
#[must_use]
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// Decodes hex digits (either case) of exactly `N` bytes.
#[must_use]
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths (never on where they differ): the comparison for secrets,
/// digests and tokens.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)), Some(all.clone()));
        assert_eq!(decode(&encode(&all).to_uppercase()), Some(all));
        assert_eq!(decode("abc"), None, "odd length");
        assert_eq!(decode("zz"), None, "not a digit");
        assert_eq!(decode(""), Some(vec![]));
        assert_eq!(decode_array::<2>("0a0b0c"), None, "too long");
        assert_eq!(decode_array::<2>("0a0"), None, "too short");
        assert_eq!(decode_array::<1>("+1"), None, "sign is not a digit");
        assert_eq!(decode("00ABff"), Some(vec![0, 0xab, 0xff]), "mixed case");
        assert_eq!(decode("0"), None);
        assert!(!constant_time_eq(b"a", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }
}
