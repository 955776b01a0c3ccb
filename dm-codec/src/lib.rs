//! Wire formats of OMA Device Management 2.0.
//!
//! - JSON Package#1, #2, #3, MO serialization (`application/dmmo+json`) and
//!   generic alerts, exactly as docs/protocol.md section 3: unknown members ignored
//!   (never echoed), duplicate member names, trailing bytes, invalid UTF-8 and
//!   lone surrogates rejected.
//! - The binary Package#0 notification with its SHA-256 digest
//!   ([`notification`]).
//! - Media type constants and `Accept` / `OMADM-Accept` negotiation ([`mime`]).
//!
//! Every decoder applies [`Limits`] while it reads and reports errors with a
//! byte offset and, for JSON, the path of the offending value.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
pub mod hex;
mod json;
mod limits;
pub mod mime;
pub mod notification;
mod position;

pub use error::Error;
pub use json::{
    LeafJson, client_uri_to_json, decode_alert, decode_command, decode_json,
    decode_mo_serialization, decode_package1, decode_package2, decode_package3, encode_alert,
    encode_mo_serialization, encode_package1, encode_package2, encode_package3,
};
pub use limits::Limits;
