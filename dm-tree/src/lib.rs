//! The device-side management tree of OMA DM 2.0.
//!
//! [`MoTree`] holds a device's MO instances keyed by MOID and MIID; each
//! [`MoInstance`] stores its nodes in an arena (indices, not pointers), so a
//! lookup costs one binary search per path segment whatever the tree size.
//! [`MoTree::resolve`] applies the ClientURI rules of docs/protocol.md section 9:
//! MIID, empty (the only instance), `*`, x-names with `nv` conditions ANDed
//! per x-name, and path wildcards, with results in a stable order.
//!
//! Operations run as a [`Principal`] (a server, or the device itself) and
//! apply section 7 of the protocol:
//! - [`MoTree::rights`]: Perm MOID lists read from the DMAcc instances,
//!   exclusive rights for the creating server, ACLs of DACMO entries
//!   (delegation is a write into the DACMO, allowed with Delegate), read
//!   access by default to device-created instances; instances with no right
//!   are invisible (404, never 403);
//! - [`MoTree::read`] (GET/HPUT/HPOST data, `CV` at instance roots, `304` on
//!   matching `cv`, secret and Get-less nodes never returned),
//!   [`MoTree::write`] (HGET: client-assigned MIIDs, all items or none),
//!   [`MoTree::delete`] (several targets: every one resolved and checked
//!   first, the first failure in parameter then node order is the status),
//!   [`MoTree::exec`] through a [`NodeHandler`] (which also chooses the
//!   alert type of its asynchronous results: [`MoTree::exec_result_alert`]),
//!   [`MoTree::subscribe`]/[`MoTree::unsubscribe`]/[`MoTree::fired`];
//! - DDF AccessType and Scope from the attached `MoDefinition` (the standard
//!   ones for DevInfo, DMAcc, SessionInfo and the DACMO when none is
//!   attached), DM 1.x node [`Acl`]s as an extra restriction, also on every
//!   node a write or delete of an ancestor replaces or removes;
//! - everything a server observes obeys the read rules
//!   ([`MoTree::may_read`]): `nv` conditions never match a leaf it may not
//!   read, SUB is refused like GET, change reports fire only when what it
//!   can read changed;
//! - [`TreeLimits`]: the data and subscriptions servers can make the device
//!   keep (`413` beyond);
//! - [`MoTree::to_snapshot`]/[`MoTree::from_snapshot`] for persistence.
//!
//! ```
//! use dm_tree::MoTree;
//! use dm_types::ClientUri;
//!
//! let items = dm_codec::decode_mo_serialization(
//!     br#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/","MOData":{"DevInfo":{"Man":"Acme"}}}]"#,
//!     &dm_codec::Limits::default(),
//! )?;
//! let tree = MoTree::from_mo_serialization(&items)?;
//! let nodes = tree.resolve(&ClientUri::parse("urn:oma:mo:oma-dm-devinfo:1.0//Man")?)?;
//! assert_eq!(nodes[0].client_uri().as_str(), "urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Man");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod access;
mod acl;
mod acl_check;
mod encode;
mod error;
mod factory;
mod fingerprint;
mod handler;
mod limits;
mod node_handler;
mod ops;
mod snapshot;
mod standard;
mod subscribe;
mod subscription;
mod tree;

pub use access::{Principal, Rights};
pub use acl::{Acl, AclCommand};
pub use error::Error;
pub use factory::FactoryAccounts;
pub use limits::TreeLimits;
pub use node_handler::{ExecOutcome, InstanceView, NodeHandler};
pub use ops::{DACMO_MOID, DEVINFO_MOID, DMACC_MOID, ReadOutcome};
pub use snapshot::SNAPSHOT_VERSION;
pub use standard::{
    BootstrapAuth, DevInfo, DmAcc, HttpAuth, NotificationAuth, SESSIONINFO_MOID, SecMode,
    SessionInfo, TransportAuth,
};
pub use subscription::{ChangeReport, Subscription};
pub use tree::{MoInstance, MoTree, NodeId, NodeRef};
