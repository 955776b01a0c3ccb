//! The Digest algorithms of RFC 7616 section 3.3: the hash function `H`,
//! and whether `A1` is the session form (`-sess`).

use std::fmt;

use dm_codec::hex;
use md5::Md5;
use sha2::{Digest as _, Sha256, Sha512_256};

/// A Digest `algorithm` (RFC 7616 section 3.3). A challenge or credentials
/// without one mean [`DigestAlgorithm::Md5`].
///
/// ```
/// use dm_session::http_auth::DigestAlgorithm;
///
/// assert_eq!(DigestAlgorithm::from_name("sha-256"), Some(DigestAlgorithm::Sha256));
/// assert_eq!(DigestAlgorithm::Sha256.name(), "SHA-256");
/// assert!(DigestAlgorithm::Sha256Sess.is_session());
/// assert_eq!(
///     DigestAlgorithm::Md5.hash_hex(b"abc"),
///     "900150983cd24fb0d6963f7d28e17f72"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// `MD5`.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl DigestAlgorithm {
    /// Every algorithm, in the order a client prefers them when a server
    /// offers several: SHA-256, MD5, then the others.
    pub const PREFERENCE: [DigestAlgorithm; 6] = [
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Md5,
        DigestAlgorithm::Sha512_256,
        DigestAlgorithm::Sha256Sess,
        DigestAlgorithm::Sha512_256Sess,
        DigestAlgorithm::Md5Sess,
    ];

    /// The algorithm's name as written in the `algorithm` parameter.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
            DigestAlgorithm::Sha512_256 => "SHA-512-256",
            DigestAlgorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The algorithm an `algorithm` parameter names (any letter case);
    /// `None` when unknown.
    pub fn from_name(name: &str) -> Option<DigestAlgorithm> {
        DigestAlgorithm::PREFERENCE
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name))
    }

    /// Whether `A1` is the session form `H(user:realm:password):nonce:cnonce`.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            DigestAlgorithm::Md5Sess
                | DigestAlgorithm::Sha256Sess
                | DigestAlgorithm::Sha512_256Sess
        )
    }

    /// `H(data)`: MD5, SHA-256 or SHA-512/256.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => Md5::digest(data).to_vec(),
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => Sha256::digest(data).to_vec(),
            DigestAlgorithm::Sha512_256 | DigestAlgorithm::Sha512_256Sess => {
                Sha512_256::digest(data).to_vec()
            }
        }
    }

    /// `H(data)` as lowercase hex, the form `KD` and the `response` use.
    pub fn hash_hex(self, data: &[u8]) -> String {
        hex::encode(&self.hash(data))
    }

    /// `H(username:realm:password)`, what a server stores instead of the
    /// password (for the `-sess` algorithms too: the session `A1` is
    /// computed from it).
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> Vec<u8> {
        self.hash(format!("{username}:{realm}:{password}").as_bytes())
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `SHA-256(username:realm:password)`, the SHA-256 `H(A1)` a server stores.
///
/// ```
/// use dm_session::http_auth::{DigestAlgorithm, ha1_sha256};
///
/// let stored = ha1_sha256("device-1", "oma-dm", "secret");
/// assert_eq!(stored.to_vec(), DigestAlgorithm::Sha256.ha1("device-1", "oma-dm", "secret"));
/// ```
pub fn ha1_sha256(username: &str, realm: &str, password: &str) -> [u8; 32] {
    Sha256::digest(format!("{username}:{realm}:{password}").as_bytes()).into()
}

/// `MD5(username:realm:password)`, the MD5 `H(A1)` a server stores.
///
/// ```
/// use dm_session::http_auth::{DigestAlgorithm, ha1_md5};
///
/// let stored = ha1_md5("device-1", "oma-dm", "secret");
/// assert_eq!(stored.to_vec(), DigestAlgorithm::Md5.ha1("device-1", "oma-dm", "secret"));
/// ```
pub fn ha1_md5(username: &str, realm: &str, password: &str) -> [u8; 16] {
    Md5::digest(format!("{username}:{realm}:{password}").as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for algorithm in DigestAlgorithm::PREFERENCE {
            assert_eq!(
                DigestAlgorithm::from_name(algorithm.name()),
                Some(algorithm)
            );
            assert_eq!(
                DigestAlgorithm::from_name(&algorithm.name().to_ascii_lowercase()),
                Some(algorithm)
            );
        }
        assert_eq!(DigestAlgorithm::from_name("SHA-1"), None);
        assert!(DigestAlgorithm::Md5Sess.is_session() && !DigestAlgorithm::Md5.is_session());
    }

    #[test]
    fn hashes_have_their_lengths() {
        assert_eq!(
            DigestAlgorithm::Md5.hash_hex(b""),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            DigestAlgorithm::Sha256.hash_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(DigestAlgorithm::Sha512_256Sess.hash(b"x").len(), 32);
    }
}
