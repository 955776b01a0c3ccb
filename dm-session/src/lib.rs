//! Sans-IO session engines of OMA DM 2.0.
//!
//! The engines perform no I/O, read no clock and draw no randomness: bytes,
//! events and time are passed in, and what to send comes out.
//!
//! - [`ServerSession`] runs one server-side session: validates Package#1,
//!   batches the commands the application queues into Package#2 (CONT to the
//!   session URI, END when done), matches Package#3 statuses back to their
//!   commands, and reports results, alerts and the end as events.
//! - [`ClientSession`] runs one client-side session: builds Package#1,
//!   executes each Package#2 strictly in order against a [`ManagementTree`]
//!   (implemented for `dm_tree::MoTree`), asks the caller to perform the
//!   repository requests of HGET/HPUT/HPOST (each [`Request`] says what it
//!   is for and how much of its answer to read; a missing answer comes
//!   back as a [`Failure`] and the engine decides), builds Package#3, obeys CONT
//!   (to any origin of the session's scheme or from http to https; never
//!   from https to http) and END, and aborts on HTTP errors, invalid packages
//!   or a server that never ends ([`AbortReason`]); it counts what it did
//!   ([`ClientStats`]). SHOW answers what the device's
//!   [`BrowserLauncher`] reports (`500` without one); while the product
//!   marks the device [`Busy`], commands answer `503`; an EXEC with a
//!   ServerURI always answers `202`, its result going to that URI in a new
//!   session ([`ClientEvent::ExecFinished`] when the handler finished at
//!   once).
//! - [`CachedInstance`], [`with_cache_validators`] and [`answer_from_cache`]:
//!   MO caching for servers (docs/protocol.md section 8): which GET results
//!   to keep, `cv` on the next GET of a kept instance, and a `304` answered
//!   with the data kept for that validator.
//! - [`http_auth`]: HTTP Basic and Digest authentication for both ends
//!   (challenges, `Authorization` values, Digest responses checked in
//!   constant time).
//! - [`bootstrap_server`]: the server side of a bootstrap session (docs/protocol.md
//!   section 11): the DMAcc data of the accounts to provision, the HGET and
//!   END of the session, and what the device's status means.
//! - [`notification`]: whether a received Package#0 may open a session
//!   (account, digest policy, TIMESTAMP and NOTIFICATION-ID windows), for
//!   any client product.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod bootstrap;
pub mod bootstrap_server;
mod cache;
mod client;
mod client_end;
mod default_fetch;
mod error;
pub mod http_auth;
pub mod notification;
mod request;
mod server;
mod stats;
mod tree;

pub use bootstrap::{AccountChange, AccountChangeKind, BootstrapApproval, SessionRole};
pub use cache::{CachedInstance, answer_from_cache, cacheable_targets, with_cache_validators};
pub use client::{BrowserLauncher, Busy, ClientConfig, ClientEvent, ClientSession, Trigger};
pub use client_end::{AbortReason, ClientEnd};
pub use default_fetch::DefaultFetch;
pub use error::Error;
pub use request::{Failure, Method, Request, RequestId, RequestKind, Response, TransportFailure};
pub use server::{
    EndReason, Initiator, PackageRequest, ServerConfig, ServerEvent, ServerSession, SessionPhase,
    SessionState,
};
pub use stats::ClientStats;
pub use tree::{AccountSummary, ManagementTree};
