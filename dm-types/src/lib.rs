//! The vocabulary of OMA Device Management 2.0.
//!
//! Every type here is valid by construction: a [`ClientUri`], [`Moid`],
//! [`StatusCode`] or [`Package2`] that exists has passed the rules of the
//! protocol, so code that receives one can trust it. Parse at the edge (with
//! the constructors here, or through `dm-codec` for whole packages), then pass
//! typed values around.
//!
//! The crate does no I/O and knows no wire format beyond the textual rules of
//! identifiers; JSON and the binary notification live in `dm-codec`.
//!
//! ```
//! use dm_types::{ClientUri, Command, CommandEntry, Package2, StatusCode};
//!
//! let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"])?;
//! let package = Package2::new(vec![get.into(), CommandEntry::from_words(vec!["END".into()])])?;
//! assert!(package.ends_session());
//! assert_eq!(package.status_count(), 1);
//!
//! let uri: ClientUri = "urn:oma:mo:moid:1.0/left/Data/%41".parse()?;
//! assert_eq!(uri.as_str(), "urn:oma:mo:moid:1.0/left/Data/A");
//! assert_eq!(StatusCode::NOT_FOUND.as_u16(), 404);
//! # Ok::<(), dm_types::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod client_uri;
mod command;
mod definition;
mod error;
mod ident;
mod mo_data;
mod notification;
mod notification_address;
mod package;
mod percent;
mod serialization;
mod server_uri;
mod status;
pub mod update;

pub use client_uri::{ClientUri, Instance, MAX_CLIENT_URI_LEN, NodeValueCondition, Segment, XName};
pub use command::{COMMAND_NAMES, Command, CommandEntry, InvalidCommand, NonEmpty, Params};
pub use definition::{AccessType, NodeFormat, Occurrence, Scope};
pub use error::Error;
pub use ident::{
    AlertType, CacheValidator, DevId, MAX_DEV_ID_LEN, MAX_SERVER_ID_LEN, Miid, Moid, NodeName,
    ServerId,
};
pub use mo_data::{Children, FiniteF64, LeafValue, MoData, MoItem, MoNode};
pub use notification::{ConnectionType, NOTIFICATION_VERSION, Notification};
pub use notification_address::{MAX_NOTIFICATION_ADDRESS_LEN, NotificationAddress};
pub use package::{Alert, JsonObject, Mark, MosEntry, Package1, Package2, Package3, Status};
pub use server_uri::{DdfUri, MAX_URI_LEN, ServerUri};
pub use status::{StatusCode, StatusInfo};
