//! Persistent state of the server behind the [`Store`] trait: devices,
//! command queues and results, alerts, open sessions, repository objects,
//! and the MO instances kept for caching (docs/protocol.md section 8).
//!
//! Every piece of state a request needs lives in the store, never only in the
//! memory of one server process: a Package#3 may reach another node than the
//! Package#1 of its session, and the Digest nonces are checked with a key the
//! store keeps ([`Store::server_key`]). The methods are shaped for a
//! transactional database: each is one atomic step (claim queued commands,
//! record a result, save a session with a version check).
//!
//! [`MemoryStore`] keeps everything in memory (optionally snapshotted to a
//! file); the SQL store ([`sql::SqlStore`]) keeps it in a database: SQLite
//! embedded ([`sql::SqliteStore`], the `sqlite` feature), or PostgreSQL for
//! several nodes (the `dm-store-postgres` crate).

mod alert;
mod api_key;
mod artifact;
mod batch;
mod bootstrap;
mod cached;
mod campaign;
mod command;
mod contract;
mod device;
mod event;
mod group;
mod ids;
mod listing;
mod location;
mod memory;
mod name;
mod psk;
mod repository;
mod retention;
mod session;
pub mod sql;
mod step;
pub(crate) mod wire;

pub use alert::AlertRecord;
use alert::StoredAlert;
pub use api_key::{
    API_KEY_LEN, ApiKey, ApiKeyId, ApiKeyRecord, MAX_API_KEY_NAME_LEN, Scope, check_api_key_name,
};
pub use artifact::{ARTIFACT_CHUNK, ArtifactKind, ArtifactRecord, ArtifactSource};
pub(crate) use artifact::{check_content, clamp_range};
pub use bootstrap::{
    BOOTSTRAP_OUTCOMES_PER_DEVICE, BootstrapDevice, BootstrapOutcomeRecord, BootstrapPsk,
    BootstrapResult, BootstrapSessionRecord, PendingRegistration,
};
use cached::KeptInstance;
pub use campaign::{
    Advance, CampaignDevice, CampaignRecord, CampaignRetry, CampaignSpec, CampaignStatus,
    MaintenanceWindow, Pacing, PauseReason, Stage, StageCounts, StageSize, UpdateState,
};
pub use command::{CommandRecord, CommandState};
pub use contract::{CredentialsAndSession, Store};
pub use device::{DeviceRecord, DeviceRegistration, NotificationSecret, PasswordCredentials};
pub use event::{
    EventBounds, EventFilter, EventKind, EventRecord, NewEvent, WebhookId, WebhookRecord,
    WebhookSpec,
};
pub(crate) use event::{kinds_of_text, kinds_text};
pub use group::{GroupFilter, GroupRecord};
pub use ids::{CommandId, SessionToken};
pub use listing::{DevicePage, DeviceQuery};
pub use location::StoreLocation;
pub use memory::MemoryStore;
pub use name::{ArtifactId, CampaignId, GroupId, InvalidName, MAX_NAME_LEN, Tag};
pub use psk::{PskCredentials, PskIdentity};
pub use repository::{ObjectOwner, RepositoryObject};
pub use retention::Retention;
use retention::{DIGEST_NONCES_PER_DEVICE, cap_mos};
pub use session::{SessionEnd, SessionOutcome, SessionRecord, SessionSummary};
pub use step::{CommandStatus, Respond, SessionStep, StepOutcome, StepPackage};
