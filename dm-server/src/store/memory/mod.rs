//! The in-memory store: for tests, and for embedding in a process that
//! keeps its state elsewhere. Not durable.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    AlertRecord, CommandId, CommandRecord, CommandState, DeviceRecord, DeviceRegistration,
    NotificationSecret, ObjectOwner, PasswordCredentials, PskCredentials, PskIdentity,
    RepositoryObject, SessionEnd, SessionOutcome, SessionRecord, SessionSummary, SessionToken,
    Store,
};

mod backend;
mod bootstrap;
mod cache;
mod campaigns;
mod digest;
mod events;

mod state;

use super::{DIGEST_NONCES_PER_DEVICE, KeptInstance, Retention, StoredAlert, cap_mos};
use cache::Cache;
use digest::DigestUse;
use state::{Device, Inner, unknown_device};

/// A [`Store`] in process memory, behind one mutex: **not durable** —
/// everything it holds is lost when the process ends. For tests, and for
/// embedding a server in a process that keeps its state elsewhere; a
/// server that must survive a restart runs on
/// [`SqliteStore`](crate::SqliteStore) (one node) or the PostgreSQL store
/// of the `dm-store-postgres` crate (several nodes).
///
/// - A registered device costs a few hundred bytes (rarely present data is
///   boxed, empty queues allocate nothing); an open session a few hundred
///   bytes plus its commands.
/// - Its bounds per device are its [`Retention`].
///
/// ```
/// use dm_server::{DeviceRegistration, MemoryStore, Store};
/// use dm_types::DevId;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = MemoryStore::new();
/// let dev_id = DevId::new("IMEI:493005100592800")?;
/// store.register_device(DeviceRegistration::new(dev_id.clone()), false, 0).await?;
/// assert!(store.device(&dev_id).await?.is_some());
/// assert!(store.register_device(DeviceRegistration::new(dev_id), false, 0).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    events: Mutex<events::EventLog>,
    retention: Retention,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Sets how much history is kept per device; what the store holds
    /// already is trimmed to it now.
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        for device in inner.devices.values_mut() {
            if let Some(activity) = device.activity.as_deref_mut() {
                activity.trim_alerts(&retention);
            }
            if let Some(cache) = device.cache.as_deref_mut() {
                cache.trim(&retention);
            }
        }
        self
    }

    fn events(&self) -> MutexGuard<'_, events::EventLog> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied step
        // visible in a way that matters more than stopping the server would.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
