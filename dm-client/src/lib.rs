//! The OMA DM 2.0 device client that device vendors embed.
//!
//! [`DmClient`] is a thin async facade over the sans-IO engine of
//! `dm-session` and the management tree of `dm-tree`:
//!
//! - **Sessions** ([`DmClient::run_session`]) over HTTP(S) with a shared
//!   [`Transport`] (reqwest with rustls and the ring provider, or the
//!   system OpenSSL with the `openssl` feature for PSK-TLS — see
//!   [`TlsBackend`]; TLS 1.2+, custom CA or one expected server
//!   certificate, optional client certificate): every request the engine
//!   emits is performed — packages, repository GET/PUT/POST, SUB change
//!   reports — with `OMADM-DevID`, `Accept`, `Content-Type`, session cookies,
//!   one answer to a `401` challenge ([`Credentials`]: Basic or RFC 7616
//!   Digest SHA-256/MD5, nonce reused with an incremented `nc`), and retries
//!   limited to network failures ([`RetryPolicy`] says exactly which). What
//!   each request is for and how much of its answer to read come from the
//!   engine; a request without a usable answer goes back to the engine,
//!   which decides (an abort has its [`AbortReason`]), and the engine's
//!   counts ([`ClientStats`]) fill the [`SessionReport`].
//! - **Notifications** ([`DmClient::handle_notification`],
//!   [`DmClient::listen_udp`]): Package#0 checked against the account's
//!   `Auth/Noti` secret and data, the TIMESTAMP window and the persisted
//!   NOTIFICATION-ID window, then a server-initiated session; an ignored
//!   notification comes with its precise [`Ignored`] reason.
//! - **Asynchronous EXEC**: an EXEC with a ServerURI always answers `202`;
//!   its result — at the end of the session when the handler finished at
//!   once, else reported with [`DmClient::exec_finished`] or an
//!   [`ExecCompletion`] handle — is kept as a pending alert of the MO's type
//!   ([`NodeHandler::result_alert`], by default `ExecComplete`) and
//!   delivered in a new session to that URI
//!   ([`DmClient::deliver_pending_reports`]).
//! - **Alerts of the product**: [`DmClient::raise_alert`] with a
//!   [`Delivery`] (next session's Package#1, or a session now), persisted
//!   until delivered; an [`AlertSender`] raises them from anywhere, into the
//!   next Package#3 of a session under way.
//! - **SHOW** answers what the product's [`BrowserLauncher`] reports
//!   ([`DmClientBuilder::browser`]; `500` without one), and while the
//!   product sets the [`Busy`] flag ([`DmClient::busy`]) commands answer
//!   `503`.
//! - **DEFAULT** ServerURIs are stored per server and MOID;
//!   [`DmClient::ensure_configuration`] fetches missing configuration.
//! - **Local changes** ([`DmClient::set_local`], [`DmClient::update`]) send
//!   the change reports of SUB subscriptions; so does the product's signal
//!   that a live value a `NodeHandler` serves changed
//!   ([`DmClient::notify_changed`], or from any thread through a
//!   [`ChangeSignal`], handled in [`DmClient::listen_udp`] or by
//!   [`DmClient::take_changes`]).
//! - **Persistence**: the tree snapshot, DEFAULT URIs, pending alerts,
//!   running EXECs and the NOTIFICATION-ID window live in one state file,
//!   replaced atomically (temporary file, fsync, rename) after every change;
//!   [`DmClient::stored_tree`] and [`DmClient::stored_dev_id`] read it
//!   without building a client.
//!
//! ```
//! use dm_client::{Account, DmClient, Transport};
//! use dm_tree::{DevInfo, DmAcc};
//! use dm_types::{DevId, ServerId, ServerUri};
//!
//! // A fleet shares one transport; each device holds little more than its tree.
//! let transport = Transport::builder().build()?;
//! let devices: Vec<DmClient> = (0..3)
//!     .map(|n| {
//!         let devinfo = DevInfo::new(DevId::new(format!("IMEI:49300510059280{n}"))?, "Acme", "X1");
//!         let account = DmAcc::new(ServerId::new("dm.example")?, ServerUri::new("http://127.0.0.1:8080/dm")?);
//!         Ok(DmClient::builder(devinfo)
//!             .account(Account::new(account).allow_every_moid(true))
//!             .transport(transport.clone())
//!             .build()?)
//!     })
//!     .collect::<Result<_, Box<dyn std::error::Error>>>()?;
//! assert_eq!(devices[2].dev_id().as_str(), "IMEI:493005100592802");
//! assert_eq!(devices[0].servers(), [ServerId::new("dm.example")?]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`NodeHandler::result_alert`]: dm_tree::NodeHandler::result_alert
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod alerts;
mod auth;
mod bootstrap;
mod builder;
mod changes;
mod client;
mod configuration;
mod credentials;
mod error;
mod handles;
mod listen;
mod notify;
mod observer;
mod report;
mod session;
mod session_tree;
mod settings;
mod state;
#[cfg(test)]
mod tests;
mod transport;
pub mod update;

pub use auth::Credentials;
pub use builder::{Account, DmClientBuilder};
pub use client::DmClient;
pub use configuration::Configuration;
pub use dm_session::{
    AbortReason, AccountChange, AccountChangeKind, BootstrapApproval, BrowserLauncher, Busy,
    ClientEnd, ClientEvent, ClientStats, SessionRole, TransportFailure, Trigger,
};
pub use error::{Error, TlsMaterial};
pub use handles::{AlertSender, ChangeSignal, Delivery, ExecCompletion, TreeEditor};
pub use notify::{Ignored, NotificationOutcome};
pub use observer::Observer;
pub use report::{BootstrapReport, SessionReport};
pub use transport::builder::TransportBuilder;
pub use transport::{RetryPolicy, TlsBackend, Transport};

/// The README's examples, compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
