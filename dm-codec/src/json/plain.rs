//! A Package#2 of the plain shape — `{"CMD":[["GET","urn:…"],…]}`, only
//! JSON whitespace between the tokens and no escape in any string — read in
//! one pass over the text, without serde (docs/protocol.md section 3).
//!
//! Nearly every Package#2 has that shape, and for it the generic streaming
//! decoder of `de.rs` spends more time moving values between serde's layers
//! than reading bytes. Every other document, and every document with an
//! error, is left to that decoder: this reader either builds exactly the
//! package it would build or declines, so results, errors and their offsets
//! are those of the streaming decoder.

use dm_types::{Command, CommandEntry, InvalidCommand, Package2};

use super::de::command_count_bound;
use crate::Limits;

/// A position in the document.
struct Reader<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips JSON whitespace.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Skips whitespace, then consumes `token` if it comes next.
    fn eat(&mut self, token: u8) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(token);
        self.at += usize::from(found);
        found
    }

    /// Skips whitespace, then reads a string without escapes or control
    /// characters (`None` for anything else).
    fn string(&mut self) -> Option<&'t str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let bytes = self.text.as_bytes();
        let mut end = start;
        // Eight bytes at a time: up to the first byte that ends the string.
        while let Some((chunk, _)) = bytes.get(end..).and_then(<[u8]>::split_first_chunk::<8>) {
            match string_end(u64::from_le_bytes(*chunk)) {
                Some(at) => {
                    end += at;
                    break;
                }
                None => end += 8,
            }
        }
        // The closing quote, unless an escape or a control character (an
        // error in JSON) comes first.
        while *bytes.get(end)? != b'"' {
            if matches!(bytes[end], b'\\' | 0..0x20) {
                return None;
            }
            end += 1;
        }
        self.at = end + 1;
        self.text.get(start..end)
    }
}

/// The index of the first of the eight bytes of `chunk` (read little-endian)
/// that is `"`, `\` or a control character (below 0x20): the bytes that
/// end the plain part of a JSON string. Found without a branch per byte, as
/// in "Bit Twiddling Hacks" (`haszero`, `hasless`): the lowest flagged byte
/// is exact (higher ones may be flagged wrongly, and are not looked at).
fn string_end(chunk: u64) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of a byte of `below(x, n)` is set when that byte of `x`
    // is below `n` (or, above the first such byte, by a borrow).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x;
    let quote = below(chunk ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(chunk ^ (ONES * u64::from(b'\\')), 1);
    let flags = (quote | backslash | below(chunk, 0x20)) & HIGHS;
    // At most 64 / 8 = 8: the conversion cannot fail.
    (flags != 0).then(|| usize::try_from(flags.trailing_zeros() / 8).unwrap_or(8))
}

/// Reads `text` (checked as `de::checked_text` does) when it is a Package#2
/// of the plain shape on which the streaming decoder succeeds; `None` for
/// every other document. Limits apply as in the streaming decoder; a
/// document at or over one of them is declined.
pub(crate) fn package2(text: &str, limits: &Limits) -> Option<Package2> {
    let mut reader = Reader { text, at: 0 };
    if !(reader.eat(b'{') && reader.string()? == "CMD" && reader.eat(b':') && reader.eat(b'[')) {
        return None;
    }
    let mut entries = Vec::with_capacity(command_count_bound(text, limits));
    let mut words: Vec<&str> = Vec::new();
    if !reader.eat(b']') {
        loop {
            if entries.len() == limits.commands || !reader.eat(b'[') {
                return None;
            }
            words.clear();
            loop {
                let word = reader.string()?;
                let limit = if words.is_empty() {
                    limits.string_length
                } else {
                    limits.string_length.min(limits.uri_length)
                };
                if word.len() > limit {
                    return None;
                }
                words.push(word);
                if !reader.eat(b',') {
                    break;
                }
            }
            if !reader.eat(b']') {
                return None;
            }
            entries.push(match Command::from_words(&words) {
                Ok(command) => CommandEntry::Command(command),
                Err(error) => CommandEntry::Invalid(InvalidCommand {
                    words: words.iter().map(|&word| word.to_owned()).collect(),
                    error,
                }),
            });
            if !reader.eat(b',') {
                break;
            }
        }
        if !reader.eat(b']') {
            return None;
        }
    }
    if !reader.eat(b'}') {
        return None;
    }
    reader.skip_whitespace();
    if reader.at != text.len() {
        return None;
    }
    Package2::new(entries).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::de;
    use proptest::prelude::*;

    /// What the streaming decoder makes of `text`.
    fn streaming(text: &str, limits: &Limits) -> Result<Package2, crate::Error> {
        de::run_text(text, limits, de::package2)
    }

    /// Whenever the plain reader accepts, the streaming decoder gives the
    /// same package.
    fn agrees(text: &str, limits: &Limits) -> Option<Package2> {
        let plain = package2(text, limits)?;
        match streaming(text, limits) {
            Ok(expected) => assert_eq!(plain, expected, "{text}"),
            Err(e) => panic!("plain reader accepted what the decoder refuses ({e}): {text}"),
        }
        Some(plain)
    }

    #[test]
    fn plain_documents() {
        let limits = Limits::default();
        for text in [
            r#"{"CMD":[]}"#,
            r#"{"CMD":[["END"]]}"#,
            " {\t\"CMD\" :\n[ [ \"GET\" , \"urn:x:y/a/\" ] ,[\"END\"]\r] } ",
            r#"{"CMD":[["GET","urn:x:y/a%20b/","urn:x:y/(x)/?nv=(x):1"],["FROB","x"],["GET"]]}"#,
            r#"{"CMD":[["HGET","https://a.example/mo","urn:x:y//"],["SUB","urn:x:y/a/","https://[::1]/s"]]}"#,
            r#"{"CMD":[["GET","é"],["GET","urn:x:y/a/b/"]]}"#,
        ] {
            assert!(agrees(text, &limits).is_some(), "{text}");
        }
        for text in [
            // Valid, but not of the plain shape.
            r#"{"CMD":[["GET","urn:x:y/a\u002F"]]}"#,
            r#"{"CMD":[["END"]],"x":1}"#,
            r#"{"x":1,"CMD":[["END"]]}"#,
            r#"{"C\u004dD":[["END"]]}"#,
            // Errors, each left to the streaming decoder.
            r#"{"CMD":[["END"],["GET","urn:x:y/a/"]]}"#,
            r#"{"CMD":[[]]}"#,
            r#"{"CMD":[["GET",5]]}"#,
            r#"{"CMD":[["END"]]"#,
            r#"{"CMD":[["END"]]}x"#,
            r#"{"CMD":[["END"],]}"#,
            r#"{"CMD":[["END",]]}"#,
            r#"{"CMD":[["END"]],"CMD":[]}"#,
            "{\"CMD\":[[\"GET\",\"a\u{1}\"]]}",
            r#"{"CMD":[["GET","unterminated]]}"#,
            r#"["CMD"]"#,
            "",
        ] {
            assert!(package2(text, &limits).is_none(), "{text}");
        }
    }

    #[test]
    fn chunks_that_end_a_string() {
        let ends = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        for byte in 0..=u8::MAX {
            for at in 0..8 {
                let mut chunk = [b'a'; 8];
                chunk[at] = byte;
                let expected = ends(byte).then_some(at);
                assert_eq!(
                    string_end(u64::from_le_bytes(chunk)),
                    expected,
                    "{byte:#x} at {at}"
                );
                // Bytes after it, of any kind, change nothing.
                for later in [0x00, b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff] {
                    let mut with_later = chunk;
                    for b in &mut with_later[at + 1..] {
                        *b = later;
                    }
                    let expected = if ends(byte) {
                        Some(at)
                    } else if at < 7 && ends(later) {
                        Some(at + 1)
                    } else {
                        None
                    };
                    assert_eq!(
                        string_end(u64::from_le_bytes(with_later)),
                        expected,
                        "{byte:#x} at {at}, then {later:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn limits_are_left_to_the_streaming_decoder() {
        let two = r#"{"CMD":[["GET","urn:x:y/a/"],["END"]]}"#;
        assert!(agrees(two, &Limits::default().with_commands(2)).is_some());
        assert!(package2(two, &Limits::default().with_commands(1)).is_none());
        let short_uris = Limits {
            uri_length: 9,
            ..Limits::default()
        };
        assert!(package2(two, &short_uris).is_none());
        let short_strings = Limits {
            string_length: 3,
            ..Limits::default()
        };
        assert!(package2(r#"{"CMD":[["HPOST"]]}"#, &short_strings).is_none());
    }

    /// Pieces of documents: mostly those of the plain shape, some not.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            8 => proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", " ", "\"CMD\"", "\"GET\"", "\"END\"", "\"EXEC\"",
                "\"HPUT\"", "\"urn:x:y/a/\"", "\"urn:x:y/(x)/b?nv=(x):1\"", "\"https://h/p\"",
                "\"urn:x:y/a b\"", "\"FROB\"",
            ]),
            1 => proptest::sample::select(vec![
                "\"\\n\"", "5", "null", "\"x", "\n", "\"é\"", "{\"CMD\":[", "[\"GET\",", "]]}",
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Assembled documents: the plain reader agrees or declines.
        #[test]
        fn agrees_with_the_streaming_decoder(
            commands in proptest::collection::vec(proptest::collection::vec(piece(), 1..5), 0..5),
            limit in 1..6usize,
        ) {
            let body: Vec<String> = commands.iter().map(|c| format!("[{}]", c.join(","))).collect();
            let text = format!("{{\"CMD\":[{}]}}", body.join(","));
            agrees(&text, &Limits::default().with_commands(limit));
            // The same pieces without the frame.
            let loose: String = commands.concat().concat();
            agrees(&loose, &Limits::default());
        }
    }

    #[test]
    fn assembled_documents_often_take_the_plain_path() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let words = proptest::collection::vec(
            proptest::sample::select(vec!["\"GET\"", "\"urn:x:y/a/\"", "\"END\"", "\"x\""]),
            1..4,
        );
        let strategy = proptest::collection::vec(words, 0..4);
        let mut runner = TestRunner::deterministic();
        let mut accepted = 0;
        for _ in 0..500 {
            let Ok(tree) = strategy.new_tree(&mut runner) else {
                continue;
            };
            let body: Vec<String> = tree
                .current()
                .iter()
                .map(|c| format!("[{}]", c.join(",")))
                .collect();
            let text = format!("{{\"CMD\":[{}]}}", body.join(","));
            accepted += usize::from(agrees(&text, &Limits::default()).is_some());
        }
        assert!(
            accepted >= 200,
            "only {accepted} of 500 took the plain path"
        );
    }
}
