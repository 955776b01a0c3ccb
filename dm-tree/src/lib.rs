//! The device-side management tree of OMA DM 2.0.
//!
//! `dm-tree` will hold a device's MO instances (keyed by MOID and MIID), resolve
//! every ClientURI form against them, enforce access control (instance
//! permissions, delegation through the DACMO, DDF AccessType and Scope, DM 1.x
//! ACLs), keep cache validators and change subscriptions, and let products back
//! nodes with live data through a `NodeHandler` trait.
//!
//! This crate is a skeleton until that work lands; it has no API yet.
#![forbid(unsafe_code)]
