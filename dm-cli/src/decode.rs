//! `dm decode <p1|p2|p3|mos|alert> [FILE]`.

use std::path::Path;
use std::process::ExitCode;

use dm_codec::Limits;

/// What the bytes to decode are.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Kind {
    /// Package#1 (client → server, session start).
    P1,
    /// Package#2 (server → client, commands).
    P2,
    /// Package#3 (client → server, statuses).
    P3,
    /// MO serialization array (application/dmmo+json).
    Mos,
    /// One generic alert object.
    Alert,
}

/// Decodes `bytes` as `kind` and returns the canonical re-encoding.
pub(crate) fn decode(kind: Kind, bytes: &[u8]) -> Result<Vec<u8>, dm_codec::Error> {
    let limits = Limits::default();
    Ok(match kind {
        Kind::P1 => dm_codec::encode_package1(&dm_codec::decode_package1(bytes, &limits)?),
        Kind::P2 => dm_codec::encode_package2(&dm_codec::decode_package2(bytes, &limits)?),
        Kind::P3 => dm_codec::encode_package3(&dm_codec::decode_package3(bytes, &limits)?),
        Kind::Mos => {
            dm_codec::encode_mo_serialization(&dm_codec::decode_mo_serialization(bytes, &limits)?)
        }
        Kind::Alert => dm_codec::encode_alert(&dm_codec::decode_alert(bytes, &limits)?),
    })
}

pub(crate) fn run(kind: Kind, file: Option<&Path>) -> ExitCode {
    let bytes = match crate::input::read(file) {
        Ok(bytes) => bytes,
        Err(e) => return crate::fail(e),
    };
    match decode(kind, &bytes) {
        // The encoders write UTF-8 JSON.
        Ok(encoded) => crate::print_line(String::from_utf8_lossy(&encoded)),
        Err(e) => crate::fail(e),
    }
}
