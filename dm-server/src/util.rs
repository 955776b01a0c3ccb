//! Small helpers: time, randomness, HMAC, and the owner-only permission
//! check of the store file (through `dm_files`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::Error;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Fills `N` random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::store("draw random bytes", e))?;
    Ok(bytes)
}

/// HMAC-SHA-256 (RFC 2104) of `message` under `key` (a key longer than
/// the 64-byte block is hashed first).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let hashed;
    let key = if key.len() > 64 {
        hashed = sha256(key);
        &hashed[..]
    } else {
        key
    };
    let mut inner_pad = [0x36u8; 64];
    let mut outer_pad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        inner_pad[i] ^= k;
        outer_pad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The server's error for a failure of a store file's `dm_files`
/// operations: [`Error::FilePermissions`] or [`Error::File`].
fn file_error(error: dm_files::Error) -> Error {
    match error {
        dm_files::Error::SharedPermissions { path, mode } => Error::FilePermissions { path, mode },
        dm_files::Error::Io { path, source } => Error::File { path, source },
        dm_files::Error::NoFileName { path } => Error::File {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        },
        other => Error::File {
            path: other.path().to_owned(),
            source: std::io::Error::other(other),
        },
    }
}

/// Checks that group and others can neither read nor write the file at
/// `path` ([`dm_files::check_permissions`]); a missing file passes.
pub(crate) fn check_owner_only(path: &Path) -> Result<(), Error> {
    dm_files::check_permissions(path, dm_files::Access::OwnerOnly).map_err(file_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 2 uses the 4-byte key "Jefe"; our key is 32
        // bytes, so pad it with zeros, which HMAC does itself for short keys.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            dm_codec::hex::encode(&hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
