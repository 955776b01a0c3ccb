//! [`Fingerprint`]: what makes the cache validator of a handler-backed
//! instance follow its live values.

use dm_types::LeafValue;

/// A fingerprint of the leaf values a read serves (64-bit FNV-1a over each
/// leaf's name and typed value, in the read's stable node order): what makes
/// the cache validator of a handler-backed instance change when a live
/// value does. It is not secret-keyed, so it only ever covers values the
/// reading server receives anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64);

impl Fingerprint {
    pub(crate) fn new() -> Fingerprint {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Lengths go first, so that no two sequences of leaves fold alike by
    /// shifting bytes from one field to the next.
    fn field(&mut self, tag: u8, bytes: &[u8]) {
        self.bytes(&[tag]);
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }

    /// Folds one served leaf.
    pub(crate) fn leaf(&mut self, name: &str, value: &LeafValue) {
        self.field(0, name.as_bytes());
        match value {
            LeafValue::Null => self.field(1, &[]),
            LeafValue::Bool(b) => self.field(2, &[u8::from(*b)]),
            LeafValue::Int(i) => self.field(3, &i.to_le_bytes()),
            LeafValue::Float(f) => self.field(4, &f.get().to_bits().to_le_bytes()),
            LeafValue::Text(text) => self.field(5, text.as_bytes()),
            LeafValue::Binary(bytes) => self.field(6, bytes),
            // A kind added later: its text form tells values apart.
            other => self.field(7, other.to_text().as_bytes()),
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}
