//! The embedded default store: everything in memory, optionally persisted to
//! one JSON file.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dm_types::{DevId, MosEntry, Status};

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
mod retention;
mod snapshot;
#[cfg(test)]
mod tests;

use alerts::StoredAlert;
use cache::{Cache, KeptInstance};
use digest::DigestUse;
pub use retention::Retention;
use snapshot::{SnapshotView, load, write_snapshot};

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

#[derive(Debug, Default)]
struct Inner {
    devices: BTreeMap<DevId, Device>,
    usernames: HashMap<Box<str>, DevId>,
    certificates: HashMap<[u8; 32], DevId>,
    commands: HashMap<CommandId, CommandRecord>,
    sessions: HashMap<SessionToken, SessionRecord>,
    repository: BTreeMap<String, RepositoryObject>,
    next_command: u64,
    key: Option<[u8; 32]>,
    dirty: bool,
    /// Digest nonces issued before this (Unix milliseconds) are refused unless
    /// a device's recent nonces hold them: the store was loaded from a file
    /// then, and counts used before are unknown.
    digest_floor_ms: u64,
    /// Snapshots taken for the file so far (numbers them).
    snapshots: u64,
}

/// A device, compact: everything a device may lack is boxed behind an
/// `Option`, so a bare registration costs little.
#[derive(Debug)]
struct Device {
    registered_ms: u64,
    /// Repository objects it owns.
    objects: u32,
    /// The body bytes of the repository objects it owns.
    object_bytes: usize,
    credentials: Option<Box<PasswordCredentials>>,
    certificate: Option<Box<[u8; 32]>>,
    notification: Option<Box<NotificationState>>,
    /// Latest first.
    sessions: Option<Box<[SessionSummary]>>,
    mos: Option<Box<[MosEntry]>>,
    activity: Option<Box<Activity>>,
    /// Its open sessions, oldest first.
    open_sessions: Option<Box<[SessionToken]>>,
    /// MO instances kept for caching.
    cache: Option<Box<Cache>>,
    /// Digest nonce counts in use (not persisted).
    digest: Option<Box<DigestUse>>,
}

#[derive(Debug, Default)]
struct NotificationState {
    address: Option<String>,
    secret: Option<NotificationSecret>,
    last_id: Option<u16>,
}

#[derive(Debug, Default)]
struct Activity {
    /// Queued and sent commands, in queue order.
    pending: VecDeque<CommandId>,
    /// Done and failed commands, oldest first.
    finished: VecDeque<CommandId>,
    /// Oldest first.
    alerts: VecDeque<StoredAlert>,
    /// The sum of the alerts' encoded sizes.
    alert_bytes: usize,
}

impl Activity {
    /// Appends an alert, then forgets the oldest beyond the retention.
    fn push_alert(&mut self, alert: StoredAlert, retention: &Retention) {
        self.alert_bytes = self.alert_bytes.saturating_add(alert.encoded.len());
        self.alerts.push_back(alert);
        self.trim_alerts(retention);
    }

    fn trim_alerts(&mut self, retention: &Retention) {
        while self.alerts.len() > retention.alerts || self.alert_bytes > retention.alert_bytes {
            let Some(old) = self.alerts.pop_front() else {
                break;
            };
            self.alert_bytes = self.alert_bytes.saturating_sub(old.encoded.len());
        }
    }
}

/// The size by which an MO inventory entry counts against
/// [`Retention::mos_bytes`]: its strings plus 32 bytes each.
fn mos_entry_bytes(entry: &MosEntry) -> usize {
    const PER_STRING: usize = 32;
    let ddf = entry
        .ddf
        .as_ref()
        .map_or(0, |d| d.as_str().len() + PER_STRING);
    let miids: usize = entry
        .miids
        .iter()
        .map(|m| m.as_str().len() + PER_STRING)
        .sum();
    entry.moid.as_str().len() + PER_STRING + ddf + miids
}

/// The first entries of `mos` within the retention's count and bytes.
fn cap_mos(dev_id: &DevId, mut mos: Vec<MosEntry>, retention: &Retention) -> Vec<MosEntry> {
    let mut bytes = 0usize;
    let mut kept = 0;
    for entry in &mos {
        let size = mos_entry_bytes(entry);
        if kept >= retention.mos_entries || bytes.saturating_add(size) > retention.mos_bytes {
            break;
        }
        bytes += size;
        kept += 1;
    }
    if kept < mos.len() {
        tracing::warn!(
            %dev_id,
            received = mos.len(),
            kept,
            max_entries = retention.mos_entries,
            max_bytes = retention.mos_bytes,
            "MO inventory too large: only its first entries are kept"
        );
        mos.truncate(kept);
        mos.shrink_to_fit();
    }
    mos
}

impl Device {
    fn new(registration: DeviceRegistration, now_ms: u64) -> Device {
        let mut device = Device {
            registered_ms: now_ms,
            objects: 0,
            object_bytes: 0,
            credentials: None,
            certificate: None,
            notification: None,
            sessions: None,
            mos: None,
            activity: None,
            open_sessions: None,
            cache: None,
            digest: None,
        };
        device.apply(registration);
        device
    }

    /// Applies what a registration states (replacing what it replaces).
    fn apply(&mut self, registration: DeviceRegistration) {
        self.credentials = registration.credentials.map(Box::new);
        self.certificate = registration.certificate_sha256.map(Box::new);
        let notification = self.notification.get_or_insert_with(Box::default);
        notification.secret = registration.notification_secret;
        if registration.notification_address.is_some() {
            notification.address = registration.notification_address;
        }
        if notification.address.is_none()
            && notification.secret.is_none()
            && notification.last_id.is_none()
        {
            self.notification = None;
        }
    }

    fn activity(&mut self) -> &mut Activity {
        self.activity.get_or_insert_with(Box::default)
    }

    fn record(&self, dev_id: &DevId) -> DeviceRecord {
        let notification = self.notification.as_deref();
        DeviceRecord {
            dev_id: dev_id.clone(),
            registered_ms: self.registered_ms,
            credentials: self.credentials.as_deref().cloned(),
            certificate_sha256: self.certificate.as_deref().copied(),
            notification_address: notification.and_then(|n| n.address.clone()),
            notification_secret: notification.and_then(|n| n.secret.clone()),
            last_notification_id: notification.and_then(|n| n.last_id),
            sessions: self
                .sessions
                .as_deref()
                .map(<[SessionSummary]>::to_vec)
                .unwrap_or_default(),
            mos: self.mos.as_deref().map(<[MosEntry]>::to_vec),
            open_session: self.open_sessions().last().copied(),
            open_sessions: self.open_sessions().to_vec(),
        }
    }

    fn open_sessions(&self) -> &[SessionToken] {
        self.open_sessions.as_deref().unwrap_or_default()
    }

    fn set_open_sessions(&mut self, tokens: Vec<SessionToken>) {
        self.open_sessions = (!tokens.is_empty()).then(|| tokens.into_boxed_slice());
    }

    fn from_record(record: DeviceRecord) -> (DevId, Device) {
        let notification = (record.notification_address.is_some()
            || record.notification_secret.is_some()
            || record.last_notification_id.is_some())
        .then(|| {
            Box::new(NotificationState {
                address: record.notification_address,
                secret: record.notification_secret,
                last_id: record.last_notification_id,
            })
        });
        // A file written before `open_sessions` existed names one.
        let open_sessions = if record.open_sessions.is_empty() {
            record.open_session.into_iter().collect()
        } else {
            record.open_sessions
        };
        let mut device = Device {
            registered_ms: record.registered_ms,
            objects: 0,
            object_bytes: 0,
            credentials: record.credentials.map(Box::new),
            certificate: record.certificate_sha256.map(Box::new),
            notification,
            sessions: (!record.sessions.is_empty()).then(|| record.sessions.into_boxed_slice()),
            mos: record.mos.map(Vec::into_boxed_slice),
            activity: None,
            open_sessions: None,
            cache: None,
            digest: None,
        };
        device.set_open_sessions(open_sessions);
        (record.dev_id, device)
    }
}

fn unknown_device(dev_id: &DevId) -> Error {
    Error::DeviceNotFound(dev_id.clone())
}

impl Inner {
    fn device_mut(&mut self, dev_id: &DevId) -> Result<&mut Device, Error> {
        self.devices
            .get_mut(dev_id)
            .ok_or_else(|| unknown_device(dev_id))
    }

    /// Moves a command from the pending to the finished list of its device,
    /// forgetting the oldest finished ones beyond the retention.
    fn finish(&mut self, dev_id: &DevId, id: CommandId, retention: &Retention) {
        let Some(device) = self.devices.get_mut(dev_id) else {
            return;
        };
        let activity = device.activity();
        activity.pending.retain(|p| *p != id);
        activity.finished.push_back(id);
        while activity.finished.len() > retention.finished_commands {
            if let Some(old) = activity.finished.pop_front() {
                self.commands.remove(&old);
            }
        }
    }

    /// See [`Store::record_result`] and [`Store::record_cached_result`].
    fn record_result(
        &mut self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        from_cache: bool,
        now_ms: u64,
        retention: &Retention,
    ) {
        let Some(command) = self.commands.get_mut(&id) else {
            return;
        };
        if command.state != CommandState::Sent || command.session != Some(session) {
            return;
        }
        command.state = CommandState::Done;
        command.result = Some(result);
        command.from_cache = from_cache;
        command.updated_ms = now_ms;
        let dev_id = command.dev_id.clone();
        self.finish(&dev_id, id, retention);
        self.dirty = true;
    }

    fn end_session(
        &mut self,
        token: SessionToken,
        dev_id: &DevId,
        end: &SessionEnd,
        retention: &Retention,
    ) {
        let record = self.sessions.remove(&token);
        self.dirty = true;
        let Some(device) = self.devices.get_mut(dev_id) else {
            return;
        };
        if device.open_sessions().contains(&token) {
            let rest = device
                .open_sessions()
                .iter()
                .copied()
                .filter(|t| *t != token)
                .collect();
            device.set_open_sessions(rest);
        }
        if let Some(summary) = device
            .sessions
            .iter_mut()
            .flat_map(|s| s.iter_mut())
            .find(|s| s.token == token)
        {
            summary.ended_ms = Some(end.ended_ms);
            summary.packages = end.packages;
            summary.outcome = Some(end.outcome.clone());
            summary.cont_sent |= record.is_some_and(|r| r.state.cont_sent);
        }
        let pending: Vec<CommandId> = device
            .activity
            .as_deref()
            .map(|a| a.pending.iter().copied().collect())
            .unwrap_or_default();
        for id in pending {
            let Some(command) = self.commands.get_mut(&id) else {
                continue;
            };
            if command.state == CommandState::Sent && command.session == Some(token) {
                command.state = CommandState::Failed;
                command.error = Some(format!("no status received: session {}", end.outcome));
                command.updated_ms = end.ended_ms;
                self.finish(dev_id, id, retention);
            }
        }
    }

    fn remove_indexes(&mut self, dev_id: &DevId) {
        if let Some(device) = self.devices.get(dev_id) {
            if let Some(credentials) = &device.credentials {
                self.usernames.remove(credentials.username.as_str());
            }
            if let Some(certificate) = &device.certificate {
                self.certificates.remove(certificate.as_ref());
            }
        }
    }

    fn add_indexes(&mut self, dev_id: &DevId) {
        if let Some(device) = self.devices.get(dev_id) {
            if let Some(credentials) = &device.credentials {
                self.usernames
                    .insert(credentials.username.as_str().into(), dev_id.clone());
            }
            if let Some(certificate) = &device.certificate {
                self.certificates.insert(**certificate, dev_id.clone());
            }
        }
    }
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
