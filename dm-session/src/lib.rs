//! Sans-IO session engines of OMA DM 2.0.
//!
//! The engines perform no I/O, read no clock and draw no randomness: bytes,
//! events and time are passed in, and what to send comes out.
//!
//! - [`ServerSession`] runs one server-side session: validates Package#1,
//!   batches the commands the application queues into Package#2 (CONT to the
//!   session URI, END when done), matches Package#3 statuses back to their
//!   commands, and reports results, alerts and the end as events.
//! - The client engine (`ClientSession`: builds Package#1, executes each
//!   Package#2 against the management tree, repository requests, Package#3)
//!   is the next part of this crate.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
mod server;

pub use error::Error;
pub use server::{EndReason, Initiator, PackageRequest, ServerConfig, ServerEvent, ServerSession};
