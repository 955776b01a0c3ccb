//! Helpers shared by the JSON fuzz targets (included with `#[path]`).

use std::fmt::Debug;

use dm_codec::{Error, Limits};

/// Limits for decoding our own re-encoding: canonicalization may lengthen a
/// ClientURI up to three times (`!` becomes `%21`), so a URI accepted under
/// `uri_length` can legitimately re-encode over it. Everything else (depth,
/// counts, string lengths of decoded values) is unchanged by re-encoding.
pub fn relaxed_limits() -> Limits {
    let limits = Limits::default();
    limits
        .with_uri_length(limits.uri_length.saturating_mul(4))
        .with_package_bytes(limits.package_bytes.saturating_mul(4))
        .with_mo_data_bytes(limits.mo_data_bytes.saturating_mul(4))
}

/// Decodes `data`; when that succeeds, checks that the encoding decodes to an
/// equal value and that encoding that value gives identical bytes.
pub fn json_round_trip<T: PartialEq + Debug>(
    data: &[u8],
    decode: fn(&[u8], &Limits) -> Result<T, Error>,
    encode: fn(&T) -> Vec<u8>,
) {
    let Ok(value) = decode(data, &Limits::default()) else {
        return;
    };
    let bytes = encode(&value);
    let again = match decode(&bytes, &relaxed_limits()) {
        Ok(again) => again,
        Err(e) => panic!(
            "re-encoding of a decoded value is rejected: {e}\nre-encoded: {}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(
        again,
        value,
        "decode(encode(v)) != v\nre-encoded: {}",
        String::from_utf8_lossy(&bytes)
    );
    let bytes_again = encode(&again);
    assert_eq!(
        String::from_utf8_lossy(&bytes_again),
        String::from_utf8_lossy(&bytes),
        "encoding is not a fixed point"
    );
}
