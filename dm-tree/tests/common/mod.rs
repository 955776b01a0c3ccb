//! Helpers shared by the dm-tree integration tests.
#![allow(dead_code)] // each test binary uses a subset

use dm_tree::{Error, Principal};
use dm_types::{ClientUri, MoItem, ServerId};

pub(crate) const DEVINFO: &str = "urn:oma:mo:oma-dm-devinfo:1.0";
pub(crate) const DMACC: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
pub(crate) const DACMO: &str = "urn:oma:mo:oma-dm-dacmo:1.0";
pub(crate) const SENSOR: &str = "urn:oma:mo:moid:1.0";

/// Decodes MO serialization test data.
pub(crate) fn items(json: &str) -> Vec<MoItem> {
    dm_codec::decode_mo_serialization(json.as_bytes(), &dm_codec::Limits::default())
        .expect("test data decodes")
}

/// A server id.
pub(crate) fn id(text: &str) -> ServerId {
    ServerId::new(text).expect("server id")
}

/// A server principal.
pub(crate) fn server(text: &str) -> Principal {
    Principal::Server(id(text))
}

/// A ClientURI.
pub(crate) fn uri(text: &str) -> ClientUri {
    ClientUri::parse(text).expect("test ClientURI")
}

/// The status an operation reports: 200 on success.
pub(crate) fn status<T>(result: Result<T, Error>) -> u16 {
    result.err().map_or(200, |e| e.status().as_u16())
}
