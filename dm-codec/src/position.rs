//! Where a `serde_json` error is, as a byte offset: the one conversion of
//! the crate's JSON decoders.

/// The byte offset of the byte `serde_json` reports at `line` (1-based) and
/// `column` (1-based, counted in bytes from the line's start; 0 right after
/// a newline), clamped to the end of `text`.
pub(crate) fn byte_offset(text: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    line_start
        .saturating_add(column.saturating_sub(1))
        .min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offset of `text`'s `serde_json` error.
    fn offset(text: &str) -> usize {
        let e = serde_json::from_str::<serde_json::Value>(text).expect_err("invalid");
        byte_offset(text.as_bytes(), e.line(), e.column())
    }

    #[test]
    fn offsets_point_at_the_offending_byte() {
        // Line 1: `x` is byte 8.
        let text = r#"{"a":1} x"#;
        assert_eq!(offset(text), 8);
        assert_eq!(text.as_bytes()[8], b'x');
        // Later lines: `x` is byte 10, then byte 14.
        assert_eq!(offset("{\"a\":1}\n  x"), 10);
        assert_eq!(offset("{\"a\":\n\n [1,\n  x]}"), 14);
        // The first byte of a line.
        assert_eq!(offset("{\"a\":1,\n}"), 8);
        // Past the end: clamped.
        assert_eq!(byte_offset(b"ab", 1, 9), 2);
        assert_eq!(byte_offset(b"ab", 5, 1), 2);
        assert_eq!(byte_offset(b"a\nb", 2, 0), 2);
    }
}
