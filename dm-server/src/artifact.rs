//! Artifact downloads: the capability URL a device is given
//! ([`artifact_url`]), the check of its token, and the `Range` header of
//! its requests (docs/updates.md, "Server side: artifacts and groups").
//!
//! A stored artifact is served at `<public base>/artifacts/{id}?token=<t>`,
//! where `t` is the unpadded base64url of
//!
//! ```text
//! expiry (8 bytes, big-endian Unix ms) || mac (32 bytes) || DevID (UTF-8)
//! mac = HMAC-SHA-256(server key, "artifact\0" || id || "\0" || DevID || "\0" || expiry)
//! ```
//!
//! with the key of [`Store::server_key`](crate::Store::server_key), so any
//! node sharing the store checks the tokens of the others. The URL is a
//! capability: it needs no other authentication, names one device (whose
//! request slots it takes) and one artifact, and expires.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dm_types::DevId;

use crate::store::{ArtifactId, ArtifactRecord, ArtifactSource};
use crate::util::hmac_sha256;

/// Bytes of a token before its DevID: expiry and MAC.
const TOKEN_HEAD: usize = 8 + 32;

/// Longest token accepted (a DevID is short; anything longer is refused
/// before decoding).
const MAX_TOKEN_TEXT: usize = 512;

/// The MAC of a token.
fn mac(key: &[u8; 32], id: &ArtifactId, dev_id: &DevId, expires_ms: u64) -> [u8; 32] {
    let mut message = Vec::with_capacity(16 + id.as_str().len() + dev_id.as_str().len());
    message.extend_from_slice(b"artifact\0");
    message.extend_from_slice(id.as_str().as_bytes());
    message.push(0);
    message.extend_from_slice(dev_id.as_str().as_bytes());
    message.push(0);
    message.extend_from_slice(&expires_ms.to_be_bytes());
    hmac_sha256(key, &message)
}

/// The download token of artifact `id` for `dev_id`, valid until
/// `expires_ms` (Unix ms).
pub(crate) fn artifact_token(
    key: &[u8; 32],
    id: &ArtifactId,
    dev_id: &DevId,
    expires_ms: u64,
) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_HEAD + dev_id.as_str().len());
    bytes.extend_from_slice(&expires_ms.to_be_bytes());
    bytes.extend_from_slice(&mac(key, id, dev_id, expires_ms));
    bytes.extend_from_slice(dev_id.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `PkgURL` a device downloads `artifact` from: for a stored one
/// `<base>/artifacts/{id}?token=<t>` (`base` the server's public base
/// without trailing `/`, the token valid for `dev_id` until `expires_ms`),
/// for one at a URL that URL.
pub(crate) fn artifact_url(
    base: &str,
    key: &[u8; 32],
    artifact: &ArtifactRecord,
    dev_id: &DevId,
    expires_ms: u64,
) -> String {
    match &artifact.source {
        ArtifactSource::Url(url) => url.clone(),
        ArtifactSource::Stored => format!(
            "{}/artifacts/{}?token={}",
            base.trim_end_matches('/'),
            artifact.id,
            artifact_token(key, &artifact.id, dev_id, expires_ms)
        ),
    }
}

/// The device a token was issued to when it is valid for artifact `id` at
/// `now_ms`; `None` for any other token (malformed, expired, tampered
/// with, or issued for another artifact), without telling which. The MAC
/// is compared in constant time.
pub(crate) fn check_token(
    key: &[u8; 32],
    id: &ArtifactId,
    token: &str,
    now_ms: u64,
) -> Option<DevId> {
    if token.len() > MAX_TOKEN_TEXT {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let (expiry, rest) = bytes.split_first_chunk::<8>()?;
    let (given, dev_id) = rest.split_first_chunk::<32>()?;
    let expires_ms = u64::from_be_bytes(*expiry);
    let dev_id = DevId::new(std::str::from_utf8(dev_id).ok()?).ok()?;
    let expected = mac(key, id, &dev_id, expires_ms);
    let valid = dm_codec::hex::constant_time_eq(&expected, given);
    (valid && now_ms < expires_ms).then_some(dev_id)
}

/// What a `Range` header asks of a representation of `size` bytes
/// ([`parse_range`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable single range: the whole representation (no header, a
    /// header of another unit, a malformed one, or several ranges).
    Full,
    /// Bytes `start..end` (`end` exclusive, within the size).
    Partial {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// A single range no byte of the representation satisfies (416).
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 section 14.2) against `size` bytes:
/// one `bytes=a-b`, `bytes=a-` or `bytes=-n` range. Several ranges are
/// served whole (200, which RFC 9110 allows), as is a header that does not
/// parse (a server may ignore `Range`). This is how the server reads the
/// `Range` of an artifact download.
///
/// ```
/// use dm_server::{RangeRequest, parse_range};
///
/// assert_eq!(parse_range(Some("bytes=2-"), 10), RangeRequest::Partial { start: 2, end: 10 });
/// assert_eq!(parse_range(Some("bytes=-3"), 10), RangeRequest::Partial { start: 7, end: 10 });
/// assert_eq!(parse_range(Some("bytes=10-"), 10), RangeRequest::Unsatisfiable);
/// assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), RangeRequest::Full);
/// ```
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Full;
    };
    let Some((unit, spec)) = header.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => RangeRequest::Full,
        // bytes=-n: the last n bytes.
        (true, false) => match number(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: size - n.min(size),
                end: size,
            },
        },
        // bytes=a-
        (false, true) => match number(first) {
            None => RangeRequest::Full,
            Some(start) if start >= size => RangeRequest::Unsatisfiable,
            Some(start) => RangeRequest::Partial { start, end: size },
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(last)) if start <= last => {
                if start >= size {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Partial {
                        start,
                        end: last.saturating_add(1).min(size),
                    }
                }
            }
            // A last byte before the first is invalid: ignored.
            _ => RangeRequest::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ArtifactKind;

    fn ids() -> (ArtifactId, DevId) {
        (
            ArtifactId::new("fw-1").unwrap_or_else(|e| panic!("{e}")),
            DevId::new("IMEI:1").unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn tokens_name_one_device_and_artifact_until_they_expire() {
        let key = [9; 32];
        let (id, dev_id) = ids();
        let token = artifact_token(&key, &id, &dev_id, 1_000);
        assert_eq!(check_token(&key, &id, &token, 999), Some(dev_id.clone()));
        assert_eq!(check_token(&key, &id, &token, 1_000), None, "expired");
        let other = ArtifactId::new("fw-2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_token(&key, &other, &token, 0), None, "other artifact");
        assert_eq!(check_token(&[8; 32], &id, &token, 0), None, "other key");
        let forged = artifact_token(
            &key,
            &id,
            &DevId::new("IMEI:2").unwrap_or_else(|e| panic!("{e}")),
            1_000,
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&forged).unwrap_or_default();
        bytes.truncate(TOKEN_HEAD);
        bytes.extend_from_slice(b"IMEI:1");
        assert_eq!(
            check_token(&key, &id, &URL_SAFE_NO_PAD.encode(bytes), 0),
            None,
            "other device"
        );
        for bad in ["", "!!", "AAAA", &"A".repeat(600)] {
            assert_eq!(check_token(&key, &id, bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn urls_of_stored_and_external_artifacts() {
        let (id, dev_id) = ids();
        let mut record = ArtifactRecord::new(
            id,
            ArtifactKind::Firmware,
            "fw",
            "1",
            1,
            [0; 32],
            ArtifactSource::Stored,
        );
        let url = artifact_url("https://dm.example/", &[1; 32], &record, &dev_id, 5);
        assert!(
            url.starts_with("https://dm.example/artifacts/fw-1?token="),
            "{url}"
        );
        record.source = ArtifactSource::Url("https://cdn.example/fw.bin".into());
        assert_eq!(
            artifact_url("https://dm.example", &[1; 32], &record, &dev_id, 5),
            "https://cdn.example/fw.bin"
        );
    }

    #[test]
    fn ranges() {
        use RangeRequest::{Full, Partial, Unsatisfiable};
        let p = |start, end| Partial { start, end };
        let cases: &[(Option<&str>, u64, RangeRequest)] = &[
            (None, 10, Full),
            (Some("bytes=0-4"), 10, p(0, 5)),
            (Some("bytes=5-"), 10, p(5, 10)),
            (Some("bytes=-3"), 10, p(7, 10)),
            (Some("bytes=-30"), 10, p(0, 10)),
            (Some("bytes=8-100"), 10, p(8, 10)),
            (Some("BYTES = 1-1"), 10, p(1, 2)),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=10-12"), 10, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=-1"), 0, Unsatisfiable),
            (Some("bytes=0-0"), 0, Unsatisfiable),
            (Some("bytes=0-1,3-4"), 10, Full),
            (Some("bytes=5-4"), 10, Full),
            (Some("bytes=-"), 10, Full),
            (Some("bytes=a-b"), 10, Full),
            (Some("bytes=+1-2"), 10, Full),
            (Some("items=0-1"), 10, Full),
            (Some("bytes"), 10, Full),
            (Some("bytes=99999999999999999999999-"), 10, Full),
            (Some("bytes=0-18446744073709551615"), 10, p(0, 10)),
        ];
        for (header, size, expected) in cases {
            assert_eq!(
                parse_range(*header, *size),
                *expected,
                "{header:?} of {size}"
            );
        }
    }
}
