//! Sans-IO session engines of OMA DM 2.0.
//!
//! `dm-session` will run one client session (`ClientSession`: builds Package#1,
//! executes each Package#2 against a management tree, asks its caller to perform
//! repository requests, builds Package#3, obeys CONT and END) and one server
//! session (`ServerSession`: validates Package#1, batches queued commands into
//! Package#2, matches Package#3 statuses back to them). It performs no I/O, reads
//! no clock and draws no randomness: bytes, events and time are passed in.
//!
//! This crate is a skeleton until that work lands; it has no API yet.
#![forbid(unsafe_code)]
