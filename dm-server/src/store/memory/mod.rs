//! The embedded default store: everything in memory, optionally persisted to
//! one JSON file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{
    AlertRecord, CommandId, CommandRecord, CommandState, DeviceRecord, DeviceRegistration,
    NotificationSecret, ObjectOwner, PasswordCredentials, RepositoryObject, SessionEnd,
    SessionOutcome, SessionRecord, SessionSummary, SessionToken, Store, wire,
};
use crate::Error;

mod alerts;
mod backend;
mod cache;
mod digest;

mod snapshot;
mod state;
#[cfg(test)]
mod tests;

use super::Retention;
pub(super) use alerts::StoredAlert;
use cache::Cache;
pub(super) use cache::KeptInstance;
pub(super) use digest::DIGEST_NONCES_PER_DEVICE;
use digest::DigestUse;
use snapshot::{SnapshotView, load, write_snapshot};
pub(super) use state::cap_mos;
use state::{Activity, Device, Inner, unknown_device};

/// The embedded default [`Store`]: everything in process memory behind one
/// mutex, optionally persisted to a JSON file.
///
/// - [`MemoryStore::new`] keeps nothing across restarts;
///   [`MemoryStore::open`] loads a file (when it exists) and
///   [`Store::flush`] writes it back when something changed: to a temporary
///   file in the same directory, synced, then renamed over the old one, so a
///   crash leaves either the old or the new file, never half of one.
/// - A registered device costs a few hundred bytes (rarely present data is
///   boxed, empty queues allocate nothing); an open session a few hundred
///   bytes plus its commands.
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
    path: Option<PathBuf>,
    retention: Retention,
    /// The number of the newest snapshot written to the file; held while
    /// writing, so writes are one at a time and an older snapshot never
    /// replaces a newer one.
    written: Arc<Mutex<u64>>,
}

impl MemoryStore {
    /// An empty store that keeps nothing across restarts.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store persisted to `path`: loaded now when the file exists (a
    /// corrupt file is an error, never silently replaced), written by
    /// [`Store::flush`].
    ///
    /// The file holds Digest H(A1) values, the nonce key and notification
    /// secrets. On Unix it is written owner-only (mode `0600`, set when the
    /// file is created), and a file group or others can read or write is
    /// refused with [`Error::FilePermissions`] (see
    /// [`MemoryStore::open_allowing_shared_permissions`]). Temporary files
    /// beside it (`.NAME.PID-COUNTER.tmp`, or `NAME.tmp` of earlier
    /// versions) that a process killed in the middle of a write left are
    /// removed. Other platforms have no permission bits to check: the file
    /// gets the directory's default access, which should be restricted to
    /// the server's account.
    pub fn open(path: impl Into<PathBuf>) -> Result<MemoryStore, Error> {
        let path = path.into();
        crate::util::check_owner_only(&path)?;
        MemoryStore::open_allowing_shared_permissions(path)
    }

    /// [`MemoryStore::open`] without the permission check: for file systems
    /// without Unix permissions. What the store writes is still owner-only:
    /// the first write replaces the file with one of mode `0600`.
    pub fn open_allowing_shared_permissions(
        path: impl Into<PathBuf>,
    ) -> Result<MemoryStore, Error> {
        let path = path.into();
        for stale in crate::util::remove_stale_temporaries(&path)? {
            tracing::info!(
                file = %stale.display(),
                "removed a temporary file an interrupted write left"
            );
        }
        let inner = match std::fs::read(&path) {
            Ok(bytes) => {
                let mut inner = load(&bytes)
                    .map_err(|e| Error::store(format!("load {}", path.display()), e))?;
                // Nonce counts are not persisted: the nonces issued before
                // now could be replayed, so none of them is accepted.
                inner.digest_floor_ms = crate::util::now_ms();
                inner
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Inner::default(),
            Err(source) => return Err(Error::File { path, source }),
        };
        Ok(MemoryStore {
            inner: Mutex::new(inner),
            path: Some(path),
            retention: Retention::default(),
            written: Arc::default(),
        }
        .with_retention(Retention::default()))
    }

    /// Sets how much history is kept per device.
    ///
    /// Alerts already held (loaded from the file) are trimmed to it now.
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

    /// The file the store persists to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied step
        // visible in a way that matters more than stopping the server would.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the store to its file now if anything changed since the last
    /// write (blocking; [`Store::flush`] runs it off the async executor).
    pub fn save(&self) -> Result<(), Error> {
        let Some(snapshot) = self.snapshot_if_dirty()? else {
            return Ok(());
        };
        let Some(path) = &self.path else {
            return Ok(());
        };
        write_snapshot(path, &self.written, snapshot).inspect_err(|_| self.lock().dirty = true)
    }

    /// The store's bytes and their number when something changed.
    fn snapshot_if_dirty(&self) -> Result<Option<(u64, Vec<u8>)>, Error> {
        if self.path.is_none() {
            return Ok(None);
        }
        let mut inner = self.lock();
        // A snapshot taken but not yet on disk (its write is still running,
        // perhaps for a flush whose task was cancelled, as the periodic one
        // is at shutdown) counts as unwritten: the caller relies on the file
        // once this flush returns, so it writes a newer snapshot itself.
        let unwritten = match self.written.try_lock() {
            Ok(on_disk) => *on_disk < inner.snapshots,
            Err(_) => true,
        };
        if !inner.dirty && !unwritten {
            return Ok(None);
        }
        let bytes = serde_json::to_vec(&SnapshotView(&inner))
            .map_err(|e| Error::store("serialize the store", e))?;
        inner.dirty = false;
        inner.snapshots += 1;
        Ok(Some((inner.snapshots, bytes)))
    }
}
