//! Small helpers: time, randomness, hex, constant-time comparison, HMAC,
//! and the owner-only atomic file writes of the store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Decodes hex (either case) of any length.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Decodes hex of exactly `N` bytes.
pub(crate) fn unhex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    unhex(text)?.try_into().ok()
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA-256 (RFC 2104) of `message` under `key` (at most 64 bytes).
pub(crate) fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
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

/// Distinguishes temporary files of concurrent writers in one process.
static TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// The directory of `path` (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Creates a new file (never an existing one, nor through a symbolic link)
/// only its owner can read and write: mode `0600` is set by the `open`
/// call itself, so there is no moment when others could open it. Other
/// platforms give the file the directory's default access.
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `bytes` to a new owner-only temporary file beside `path`
/// (`.NAME.PID-COUNTER.tmp`), syncs it and renames it over `path`, then
/// syncs the directory: a crash leaves the old or the new file, never half
/// of one, and the file always has mode `0600` once written. On failure
/// the temporary file is removed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    let file_error = |source| Error::File {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| file_error(std::io::Error::other("the path names no file")))?;
    let directory = directory_of(path);
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        TEMPORARY.fetch_add(1, Ordering::Relaxed)
    ));
    let temporary = directory.join(temporary);
    let written = (|| {
        let mut file = create_owner_only(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(file_error(source));
    }
    if let Ok(dir) = std::fs::File::open(&directory) {
        // Makes the rename durable where the platform allows it.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Checks that group and others can neither read nor write the file at
/// `path` (Unix permission bits `0o066`); a missing file passes. Other
/// platforms have no such bits: everything passes.
pub(crate) fn check_owner_only(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match std::fs::metadata(path) {
            Ok(metadata) => metadata.permissions().mode() & 0o7777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::File {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        if mode & 0o066 != 0 {
            return Err(Error::FilePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `candidate` names a temporary file of [`write_atomically`] for
/// the file `name` (`.NAME.DIGITS-DIGITS.tmp`), or the `NAME.tmp` earlier
/// versions used.
fn is_temporary_of(candidate: &str, name: &str) -> bool {
    if candidate.strip_prefix(name) == Some(".tmp") {
        return true;
    }
    let Some(middle) = candidate
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
    else {
        return false;
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    middle
        .split_once('-')
        .is_some_and(|(pid, counter)| digits(pid) && digits(counter))
}

/// Removes the temporary files a writer of `path` killed between creating
/// and renaming them left behind (only the names [`write_atomically`]
/// makes for this file); the paths removed. Two processes must not share
/// a store file.
pub(crate) fn remove_stale_temporaries(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let file_error = |source| Error::File {
        path: path.to_owned(),
        source,
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let directory = directory_of(path);
    let entries = match std::fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let candidate = entry.map_err(file_error)?.file_name();
        if candidate.to_str().is_some_and(|c| is_temporary_of(c, name)) {
            let stale = directory.join(&candidate);
            match std::fs::remove_file(&stale) {
                Ok(()) => removed.push(stale),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(file_error(e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejections() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex_array::<2>("0102"), Some([1, 2]));
        assert_eq!(unhex_array::<2>("010203"), None);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 2 uses the 4-byte key "Jefe"; our key is 32
        // bytes, so pad it with zeros, which HMAC does itself for short keys.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex(&hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        for name in [
            ".store.json.1-2.tmp",
            ".store.json.123-0.tmp",
            "store.json.tmp",
        ] {
            assert!(is_temporary_of(name, "store.json"), "{name}");
        }
        for name in [
            ".store.json.tmp",
            ".store.json.-1.tmp",
            ".store.json.1-.tmp",
            ".store.json.1-2.3-4.tmp",
            "store.json.1-2.tmp",
            ".store.json.1-2.tmp.bak",
            "store.json.tmp.bak",
        ] {
            assert!(!is_temporary_of(name, "store.json"), "{name}");
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
