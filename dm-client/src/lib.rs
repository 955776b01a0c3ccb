//! The OMA DM 2.0 device client that device vendors embed.
//!
//! `dm-client` will be a thin async facade over `dm-session` and `dm-tree`:
//! configuration from DMAcc, HTTP(S) transport with rustls, Basic and Digest
//! authentication, notification reception and verification, asynchronous EXEC and
//! SUB reports, and atomic persistence of the tree.
//!
//! This crate is a skeleton until that work lands; it has no API yet.
#![forbid(unsafe_code)]
