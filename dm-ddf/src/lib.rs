//! OMA DM Device Description Framework (DDF) support.
//!
//! A DDF document (`MgmtTree` XML, DTD 1.2; 1.1 and 1.3 accepted) describes
//! a Management Object: its nodes, their names or placeholders, formats,
//! access types, occurrence and scope (docs/protocol.md section 10). This crate
//!
//! - parses DDF documents into a typed [`MoDefinition`] (from bytes or text;
//!   no I/O), tolerating what published DDFs contain — DOCTYPE internal
//!   subsets, comments, CDATA, a byte order mark, CRLF, vendor-namespace
//!   elements (kept as [`Extension`]s), `RTProperties`, older VerDTD 1.1.2
//!   files, and departures from the DTD a tolerant reader understands
//!   (each reported as a [`Warning`]) — and refusing, with the line and
//!   column, what is not well-formed or cannot be read safely;
//! - validates MO data ([`dm_types::MoData`]) against a definition, listing
//!   every [`Violation`];
//! - looks up the definition of a node by its path, for access type, scope
//!   and format checks;
//! - indexes definitions by MOID and version in a [`DdfRepository`], which
//!   can load a folder of DDF files;
//! - bundles the standard DevInfo, DMAcc, SessionInfo and DACMO definitions
//!   ([`standard`]).
//!
//! Parsing is bounded ([`Limits`]): document size, element nesting and XML
//! node count. Entities are never expanded: declarations are ignored and
//! references refused, which rules out entity-expansion attacks ("billion
//! laughs").
//!
//! Departures from the DTD whose meaning is clear (repeated or unknown
//! elements, elements out of order, empty value elements, ...) are read
//! past; [`MoDefinition::parse_with_warnings`] lists each as a [`Warning`]
//! with its position. When values disagree the narrower reading is taken
//! (two `AccessType`s keep only the rights both grant); what has no safe
//! reading is refused with its position (docs/protocol.md section 10.1).
//!
//! ```
//! use dm_ddf::{MoDefinition, ViolationKind};
//! use dm_types::{AccessType, Children, LeafValue, MoData, MoNode, NodeName};
//!
//! let def: MoDefinition = r#"<?xml version="1.0" encoding="UTF-8"?>
//! <!DOCTYPE MgmtTree PUBLIC "-//OMA//DTD-DM-DDF 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd">
//! <MgmtTree>
//!   <VerDTD>1.2</VerDTD>
//!   <Node>
//!     <NodeName>Counter</NodeName>
//!     <DFProperties>
//!       <AccessType><Get/><Replace/></AccessType>
//!       <DFFormat><int/></DFFormat>
//!       <DFType><DDFName>urn:oma:mo:example-counter:1.0</DDFName></DFType>
//!     </DFProperties>
//!   </Node>
//! </MgmtTree>"#.parse()?;
//! let counter = def.lookup_path("Counter").expect("defined");
//! assert!(counter.access_type.contains(AccessType::REPLACE));
//!
//! let data = MoData::new(NodeName::new("Counter")?, MoNode::Leaf(LeafValue::from("ten")));
//! let err = def.validate(&data).unwrap_err();
//! assert!(matches!(err.violations()[0].kind, ViolationKind::WrongFormat { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod definition;
mod error;
mod parse;
mod prolog;
mod repository;
pub mod standard;
mod validate;
mod version;
mod violation;
mod warning;

pub use definition::{
    CaseSense, DfType, Extension, Iter, MoDefinition, NodeDefinition, NodeNameDef,
};
pub use error::{Error, Position};
pub use parse::Limits;
pub use repository::{DdfEntry, DdfRepository, LoadFailure};
pub use version::MoVersion;
pub use violation::{Violation, ViolationKind};
pub use warning::{Parsed, Warning, WarningKind};
