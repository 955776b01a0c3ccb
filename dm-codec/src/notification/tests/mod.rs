//! Unit tests of Package#0, one file per concept of the module.

mod digest;
mod json;
mod replay;
mod wire;

use super::digest::digest_over;
use super::wire::error;
use super::*;
use crate::Error;
use dm_types::{ConnectionType, Notification, ServerId};
use sha2::{Digest as _, Sha256};

fn reason(bytes: &[u8]) -> (usize, &'static str) {
    match decode(bytes) {
        Err(Error::Notification { offset, reason }) => (offset, reason),
        other => (
            usize::MAX,
            if other.is_ok() {
                "decoded"
            } else {
                "other error"
            },
        ),
    }
}

/// SERVER-ID "dm", PREFERRED-CON-TYPE 2, with a header for `count` options.
fn minimal(count: u8) -> Vec<u8> {
    vec![
        0x10 | (count >> 1),
        (count & 1) << 7,
        0x12,
        b'd',
        b'm',
        0x11,
        0x02,
    ]
}
