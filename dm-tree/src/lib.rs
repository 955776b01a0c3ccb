//! The device-side management tree of OMA DM 2.0.
//!
//! [`MoTree`] holds a device's MO instances keyed by MOID and MIID; each
//! [`MoInstance`] stores its nodes in an arena (indices, not pointers), so a
//! lookup costs one binary search per path segment whatever the tree size.
//! [`MoTree::resolve`] applies the ClientURI rules of PROTOCOL.md section 9:
//! MIID, empty (the only instance), `*`, x-names with `nv` conditions ANDed
//! per x-name, and path wildcards, with results in a stable order.
//!
//! This release covers storage and resolution. Access control (instance
//! permissions, delegation through the DACMO, DDF AccessType and Scope, DM 1.x
//! ACLs), cache validators, subscriptions, node handlers and snapshots are
//! the next steps of this crate.
//!
//! ```
//! use dm_tree::MoTree;
//! use dm_types::ClientUri;
//!
//! let items = dm_codec::decode_mo_serialization(
//!     br#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.2/devinfo/","MOData":{"DevInfo":{"Man":"Acme"}}}]"#,
//!     &dm_codec::Limits::default(),
//! )?;
//! let tree = MoTree::from_mo_serialization(&items)?;
//! let nodes = tree.resolve(&ClientUri::parse("urn:oma:mo:oma-dm-devinfo:1.2//Man")?)?;
//! assert_eq!(nodes[0].client_uri().as_str(), "urn:oma:mo:oma-dm-devinfo:1.2/devinfo/Man");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod access;
mod error;
mod handler;
mod ops;
mod snapshot;
mod standard;
mod subscription;
mod tree;

pub use access::{Principal, Rights};
pub use error::Error;
pub use handler::{ExecOutcome, NodeHandler};
pub use ops::{DACMO_MOID, DMACC_MOID, ReadOutcome};
pub use snapshot::SNAPSHOT_VERSION;
pub use standard::{DEVINFO_MOID, DevInfo, SESSIONINFO_MOID, SessionInfo};
pub use subscription::Subscription;
pub use tree::{MoInstance, MoTree, NodeId, NodeRef};
