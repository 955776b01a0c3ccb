//! The OMA DM 2.0 management server that server vendors embed.
//!
//! `dm-server` is a thin async facade over [`dm_session::ServerSession`]:
//!
//! - an HTTP(S) endpoint for sessions (`POST /dm`, then `POST /dm/s/{token}`
//!   after the CONT the server sends), with the statuses of docs/protocol.md
//!   section 2 (400, 401, 403, 404, 406, 408, 409, 413, 415, 503);
//! - a data repository devices HGET from and HPUT/HPOST/SUB-report to
//!   (`/repo/{path}`);
//! - device registry, command queues, results, alerts, open sessions and
//!   repository objects behind the [`Store`] trait, with the durable
//!   `SqliteStore` (cargo feature `sqlite`) and [`MemoryStore`] (in process
//!   memory only, not durable);
//! - device authentication by HTTP Basic, HTTP Digest (SHA-256, MD5) and TLS
//!   client certificates, and a bearer token for the admin API;
//! - a notification sender (signed Package#0 through a
//!   [`NotificationChannel`], [`UdpChannel`] shipped);
//! - an admin JSON API (`/admin/...`, see `docs/admin-api.md`) and the same
//!   operations in-process through [`Admin`];
//! - a bootstrap role ([`bootstrap`], [`BootstrapSettings`], `docs/bootstrap.md`):
//!   bootstrap sessions on mutually authenticated TLS that provision
//!   management accounts from profiles and register the devices with their
//!   management servers.
//!
//! No session state lives only in the memory of a server process: every
//! package loads what it needs from the store and saves what changed, so
//! several nodes sharing a store can serve the packages of one session.
//!
//! ```
//! use dm_server::{DmServer, MemoryStore, ServerOptions, UdpChannel};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let options = ServerOptions::builder()
//!     .server_id("dm.example.com")
//!     .admin_token("change me")
//!     .build()?;
//! let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Serve until the shutdown future completes (here: at once).
//! server.serve(listener, async {}).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

pub mod access;
mod admin;
mod artifact;
mod auth;
pub mod bootstrap;
mod budget;
mod campaign;
mod config;
mod devinfo;
mod error;
mod events;
mod group;
mod http;
pub mod metrics;
mod notify;
mod options;
mod server;
mod shared;
mod store;
#[cfg(feature = "openssl")]
mod tls_openssl;
mod util;

pub use access::{Scope, required_scope};
pub use admin::{
    Admin, CommandRequest, NotificationSent, decode_admin_json, parse_command, parse_command_body,
    parse_command_request,
};
pub use artifact::{RangeRequest, parse_range};
pub use auth::ClientCertificate;
pub use bootstrap::{AdminClient, BootstrapSettings};
pub use campaign::admin::{CampaignProgress, check_campaign_spec, parse_campaign_spec};
pub use config::{
    BootstrapConfig, CaFiles, DeviceConfig, EventsConfig, FileConfig, LimitsConfig,
    NotificationConfig, PskConfig, RemoteConfig, TlsFiles,
};
pub use error::Error;
pub use events::webhook::{parse_webhook_json, signature as webhook_signature};
pub use events::{EventRequest, EventSettings, parse_event_request};
pub use http::admin_routes::ServerRole;
pub use http::admin_updates::{parse_artifact_json, parse_group_json};
pub use http::openapi::openapi_document;
pub use notify::{NotificationChannel, UdpChannel};
pub use options::{
    DEFAULT_CAMPAIGN_TICK, DEFAULT_LISTEN, DEFAULT_REALM, DEFAULT_SERVER_ID, ServerLimits,
    ServerOptions, ServerOptionsBuilder, SessionSettings, TlsBackend, TlsOptions,
};
pub use server::DmServer;
pub use store::sql;
pub use store::sql::SqlStore;
#[cfg(feature = "sqlite")]
pub use store::sql::{SqliteBackend, SqliteStore};
/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// What the server keeps of an MO instance for caching (the [`Store`]
/// methods about caching take and return it).
pub use dm_session::CachedInstance;
pub use store::{
    API_KEY_LEN, ARTIFACT_CHUNK, Advance, AlertRecord, ApiKey, ApiKeyId, ApiKeyRecord, ArtifactId,
    ArtifactKind, ArtifactRecord, ArtifactSource, BOOTSTRAP_OUTCOMES_PER_DEVICE, BootstrapDevice,
    BootstrapOutcomeRecord, BootstrapPsk, BootstrapResult, BootstrapSessionRecord, CampaignDevice,
    CampaignId, CampaignRecord, CampaignRetry, CampaignSpec, CampaignStatus, CommandId,
    CommandRecord, CommandState, CommandStatus, CredentialsAndSession, DevicePage, DeviceQuery,
    DeviceRecord, DeviceRegistration, EventBounds, EventFilter, EventKind, EventRecord,
    GroupFilter, GroupId, GroupRecord, InvalidName, MAX_API_KEY_NAME_LEN, MAX_NAME_LEN,
    MaintenanceWindow, MemoryStore, NewEvent, NotificationSecret, ObjectOwner, Pacing,
    PasswordCredentials, PauseReason, PendingRegistration, PskCredentials, PskIdentity,
    RepositoryObject, Respond, Retention, SessionEnd, SessionOutcome, SessionRecord, SessionStep,
    SessionSummary, SessionToken, Stage, StageCounts, StageSize, StepOutcome, StepPackage, Store,
    StoreLocation, Tag, UpdateState, WebhookId, WebhookRecord, WebhookSpec, check_api_key_name,
};
