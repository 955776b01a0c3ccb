//! The embedded default store: everything in memory, optionally persisted to
//! one JSON file.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::ser::SerializeSeq as _;
use serde::{Deserialize, Serialize, Serializer};

use dm_session::{CachedInstance, SessionPhase, SessionState};
use dm_types::{Command, DevId, JsonObject, Miid, Moid, MosEntry, Status};

use super::{
    AlertRecord, CommandId, CommandRecord, CommandState, DeviceRecord, DeviceRegistration,
    NotificationSecret, ObjectOwner, PasswordCredentials, RepositoryObject, SessionEnd,
    SessionOutcome, SessionRecord, SessionSummary, SessionToken, Store, wire,
};
use crate::Error;

/// How much history [`MemoryStore`] keeps per device, in entries and in
/// bytes: a device must not be able to make the server hold more than a
/// bounded amount of memory, whatever it sends.
///
/// - **Alerts** are kept as their encoded JSON (the form of
///   `dm_codec::encode_alert`, [`AlertRecord::encoded_len`]). An alert whose
///   encoded form exceeds [`Retention::alert_data_bytes`] is stored with its
///   `Data` replaced by the marker `{"truncated": <encoded size of the alert
///   as received>}` (and dropped, with a warning in the log, if even that is
///   too large, e.g. a huge `SourceURI`). Beyond [`Retention::alerts`]
///   entries or [`Retention::alert_bytes`] bytes the oldest alerts are
///   forgotten, so the newest are kept.
/// - **Repository objects** a device owns are bounded in number
///   ([`Retention::objects_per_device`], [`Error::TooManyObjects`] beyond) and in
///   total body bytes ([`Retention::repository_bytes`]): a write that would
///   exceed it is refused with [`Error::InsufficientStorage`] (HTTP 507) and
///   the objects already stored stay as they were.
/// - **The MO inventory** (`MOS` of Package#1) keeps its first
///   [`Retention::mos_entries`] entries within [`Retention::mos_bytes`]
///   bytes; the rest is dropped with a warning in the log. An entry counts
///   the bytes of its MOID, DDF URI and MIIDs plus 32 bytes per string for
///   their bookkeeping.
/// - **Cached MO instances** (the data of a GET of an instance root, kept
///   with its cache validator, docs/protocol.md section 8) are kept as their
///   MO serialization: at most [`Retention::cached_instances`] instances
///   within [`Retention::cache_bytes`] bytes, the least recently received
///   forgotten first; an instance larger than the whole budget is not kept
///   (logged), and the older data it would have replaced is forgotten.
///
/// ```
/// use dm_server::Retention;
///
/// let retention = Retention::default()
///     .with_finished_commands(50)
///     .with_alerts(10)
///     .with_alert_bytes(64 * 1024)
///     .with_repository_bytes(1024 * 1024);
/// assert_eq!(retention.finished_commands, 50);
/// assert_eq!(retention.alert_bytes, 64 * 1024);
/// assert_eq!(Retention::default().alert_data_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Finished (done or failed) commands kept per device; older ones are
    /// forgotten. Default 1000.
    pub finished_commands: usize,
    /// Alerts kept per device; older ones are forgotten. Default 256.
    pub alerts: usize,
    /// Encoded bytes of the alerts kept per device; the oldest are forgotten
    /// beyond it. Default 1 MiB.
    pub alert_bytes: usize,
    /// Largest encoded size of one stored alert; a larger one is stored with
    /// its `Data` replaced by `{"truncated": <bytes>}`. Default 64 KiB.
    pub alert_data_bytes: usize,
    /// Session summaries kept per device (at least 1). Default 4.
    pub sessions: usize,
    /// Repository objects a device may own (uploads and SUB reports at
    /// distinct paths); beyond it a new path is refused. Default 64.
    pub objects_per_device: u32,
    /// Total body bytes of the repository objects a device owns; a write
    /// beyond it is refused ([`Error::InsufficientStorage`]). Default 16 MiB.
    pub repository_bytes: usize,
    /// Entries of a device's MO inventory kept; the first ones are kept.
    /// Default 4096.
    pub mos_entries: usize,
    /// Bytes of a device's MO inventory kept (see above how an entry is
    /// measured); the first entries that fit are kept. Default 256 KiB.
    pub mos_bytes: usize,
    /// MO instances kept per device for caching; the least recently
    /// received are forgotten beyond it (0 turns caching off). Default 64.
    pub cached_instances: usize,
    /// Bytes of the MO serialization of the instances kept per device for
    /// caching; the least recently received are forgotten beyond it.
    /// Default 1 MiB.
    pub cache_bytes: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            finished_commands: 1000,
            alerts: 256,
            alert_bytes: 1024 * 1024,
            alert_data_bytes: 64 * 1024,
            sessions: 4,
            objects_per_device: 64,
            repository_bytes: 16 * 1024 * 1024,
            mos_entries: 4096,
            mos_bytes: 256 * 1024,
            cached_instances: 64,
            cache_bytes: 1024 * 1024,
        }
    }
}

impl Retention {
    /// Sets [`Retention::finished_commands`].
    #[must_use]
    pub fn with_finished_commands(mut self, n: usize) -> Self {
        self.finished_commands = n;
        self
    }

    /// Sets [`Retention::alerts`].
    #[must_use]
    pub fn with_alerts(mut self, n: usize) -> Self {
        self.alerts = n;
        self
    }

    /// Sets [`Retention::alert_bytes`].
    #[must_use]
    pub fn with_alert_bytes(mut self, bytes: usize) -> Self {
        self.alert_bytes = bytes;
        self
    }

    /// Sets [`Retention::alert_data_bytes`].
    #[must_use]
    pub fn with_alert_data_bytes(mut self, bytes: usize) -> Self {
        self.alert_data_bytes = bytes;
        self
    }

    /// Sets [`Retention::objects_per_device`].
    #[must_use]
    pub fn with_objects_per_device(mut self, n: u32) -> Self {
        self.objects_per_device = n;
        self
    }

    /// Sets [`Retention::repository_bytes`].
    #[must_use]
    pub fn with_repository_bytes(mut self, bytes: usize) -> Self {
        self.repository_bytes = bytes;
        self
    }

    /// Sets [`Retention::mos_entries`].
    #[must_use]
    pub fn with_mos_entries(mut self, n: usize) -> Self {
        self.mos_entries = n;
        self
    }

    /// Sets [`Retention::mos_bytes`].
    #[must_use]
    pub fn with_mos_bytes(mut self, bytes: usize) -> Self {
        self.mos_bytes = bytes;
        self
    }

    /// Sets [`Retention::cached_instances`].
    #[must_use]
    pub fn with_cached_instances(mut self, n: usize) -> Self {
        self.cached_instances = n;
        self
    }

    /// Sets [`Retention::cache_bytes`].
    #[must_use]
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets [`Retention::sessions`] (at least 1).
    #[must_use]
    pub fn with_sessions(mut self, n: usize) -> Self {
        self.sessions = n.max(1);
        self
    }
}

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

/// The Digest nonces a device used most recently, and the issue time of
/// the newest one forgotten.
#[derive(Debug, Default)]
struct DigestUse {
    recent: Vec<RecentNonce>,
    floor_ms: u64,
}

#[derive(Debug)]
struct RecentNonce {
    nonce: Box<str>,
    issued_ms: u64,
    /// The highest nonce count used with it.
    last_nc: u32,
}

/// Nonces remembered per device: a device uses one per session (a new one
/// after each challenge), so these cover far more than a nonce's lifetime
/// for a device that behaves.
const DIGEST_NONCES_PER_DEVICE: usize = 16;

impl DigestUse {
    /// See [`Store::use_digest_nonce`].
    fn record(&mut self, nonce: &str, issued_ms: u64, nc: u32, store_floor_ms: u64) -> bool {
        if let Some(recent) = self.recent.iter_mut().find(|r| *r.nonce == *nonce) {
            if nc <= recent.last_nc {
                return false;
            }
            recent.last_nc = nc;
            return true;
        }
        if issued_ms <= self.floor_ms || issued_ms < store_floor_ms {
            return false;
        }
        if self.recent.len() == DIGEST_NONCES_PER_DEVICE
            && let Some(oldest) = (0..self.recent.len()).min_by_key(|&i| self.recent[i].issued_ms)
        {
            let forgotten = self.recent.swap_remove(oldest);
            self.floor_ms = self.floor_ms.max(forgotten.issued_ms);
        }
        self.recent.push(RecentNonce {
            nonce: nonce.into(),
            issued_ms,
            last_nc: nc,
        });
        true
    }
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

/// The MO instances of a device kept for caching, least recently received
/// first.
#[derive(Debug, Default)]
struct Cache {
    instances: VecDeque<KeptInstance>,
    /// The sum of their encoded sizes.
    bytes: usize,
}

/// One kept instance: its MO serialization (one item, with its ClientURI
/// and `CV`), which is what it costs.
#[derive(Debug)]
struct KeptInstance {
    moid: Moid,
    miid: Miid,
    encoded: Box<[u8]>,
}

impl KeptInstance {
    fn new(instance: &CachedInstance) -> KeptInstance {
        KeptInstance {
            moid: instance.moid.clone(),
            miid: instance.miid.clone(),
            encoded: dm_codec::encode_mo_serialization(std::slice::from_ref(&instance.item))
                .into_boxed_slice(),
        }
    }

    /// The kept instance, decoded (`None` if the bytes no longer decode,
    /// which the encoder never lets happen).
    fn instance(&self) -> Option<CachedInstance> {
        let items =
            dm_codec::decode_mo_serialization(&self.encoded, &wire::stored_limits()).ok()?;
        let item = items.into_iter().next()?;
        Some(CachedInstance {
            moid: self.moid.clone(),
            miid: self.miid.clone(),
            cache_validator: item.cache_validator.clone()?,
            item,
        })
    }
}

impl Cache {
    /// Keeps `instance` in place of what was kept for it, then forgets the
    /// least recently received beyond the retention.
    fn keep(&mut self, dev_id: &DevId, instance: &CachedInstance, retention: &Retention) {
        if let Some(index) = self
            .instances
            .iter()
            .position(|k| k.moid == instance.moid && k.miid == instance.miid)
            && let Some(old) = self.instances.remove(index)
        {
            self.bytes = self.bytes.saturating_sub(old.encoded.len());
        }
        if retention.cached_instances == 0 {
            // Caching is off.
            return;
        }
        let kept = KeptInstance::new(instance);
        if kept.encoded.len() > retention.cache_bytes {
            tracing::warn!(
                %dev_id,
                moid = %instance.moid,
                miid = %instance.miid,
                bytes = kept.encoded.len(),
                max_bytes = retention.cache_bytes,
                "MO instance too large to keep for caching"
            );
            return;
        }
        self.bytes = self.bytes.saturating_add(kept.encoded.len());
        self.instances.push_back(kept);
        self.trim(retention);
    }

    fn trim(&mut self, retention: &Retention) {
        while self.instances.len() > retention.cached_instances
            || self.bytes > retention.cache_bytes
        {
            let Some(old) = self.instances.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.encoded.len());
        }
    }
}

/// An alert as kept: its encoded JSON (what [`AlertRecord::encoded_len`]
/// measures), so that what a device's alerts cost is what they are counted.
#[derive(Debug)]
struct StoredAlert {
    received_ms: u64,
    session: Option<SessionToken>,
    encoded: Box<[u8]>,
}

impl StoredAlert {
    /// Encodes an alert, replacing its `Data` by `{"truncated": <bytes>}`
    /// when the encoded form exceeds `max_bytes`; `None` when even that is
    /// too large.
    fn new(dev_id: &DevId, record: AlertRecord, max_bytes: usize) -> Option<StoredAlert> {
        let mut encoded = dm_codec::encode_alert(&record.alert);
        if encoded.len() > max_bytes {
            let received = encoded.len();
            let mut alert = record.alert;
            let mut marker = JsonObject::new();
            marker.insert("truncated".to_owned(), received.into());
            alert.data = Some(marker);
            encoded = dm_codec::encode_alert(&alert);
            if encoded.len() > max_bytes {
                tracing::warn!(
                    %dev_id,
                    alert_type = %alert.alert_type.as_str(),
                    bytes = received,
                    max_bytes,
                    "alert too large even without its Data: not stored"
                );
                return None;
            }
            tracing::warn!(
                %dev_id,
                alert_type = %alert.alert_type.as_str(),
                bytes = received,
                max_bytes,
                "alert too large: stored with its Data truncated"
            );
        }
        Some(StoredAlert {
            received_ms: record.received_ms,
            session: record.session,
            encoded: encoded.into_boxed_slice(),
        })
    }

    /// The record, decoded (`None` if the bytes no longer decode, which the
    /// encoder never lets happen).
    fn record(&self) -> Option<AlertRecord> {
        let alert = dm_codec::decode_alert(&self.encoded, &wire::stored_limits()).ok()?;
        Some(AlertRecord::new(alert, self.session, self.received_ms))
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

/// Writes snapshot `number` to `path` unless a newer one is already there
/// (two flushes can finish in either order); `written` holds the number of
/// the snapshot on disk and is locked for the write.
fn write_snapshot(
    path: &Path,
    written: &Mutex<u64>,
    (number, bytes): (u64, Vec<u8>),
) -> Result<(), Error> {
    let mut on_disk = written.lock().unwrap_or_else(PoisonError::into_inner);
    if *on_disk > number {
        return Ok(());
    }
    crate::util::write_atomically(path, &bytes)?;
    *on_disk = number;
    Ok(())
}

/// Version of the file format: 2 since sessions hold the engine's state
/// (format 1 files are read, their sessions converted).
const FORMAT: u32 = 2;

#[derive(Serialize, Deserialize)]
struct DeviceSnapshot {
    record: DeviceRecord,
    #[serde(default)]
    pending: Vec<CommandId>,
    #[serde(default)]
    finished: Vec<CommandId>,
    #[serde(default)]
    alerts: Vec<AlertRecord>,
    /// The MO serialization of each instance kept for caching, least
    /// recently received first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cache: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ObjectSnapshot {
    path: String,
    object: RepositoryObject,
}

#[derive(Deserialize)]
struct Snapshot {
    format: u32,
    #[serde(with = "wire::hex_array_option")]
    key: Option<[u8; 32]>,
    next_command: u64,
    devices: Vec<DeviceSnapshot>,
    commands: Vec<CommandRecord>,
    sessions: Vec<serde_json::Value>,
    repository: Vec<ObjectSnapshot>,
}

/// An open session as format 1 kept it: the engine's state spread over the
/// record's fields.
#[derive(Deserialize)]
struct SessionFormat1 {
    token: SessionToken,
    #[serde(with = "wire::dev_id")]
    dev_id: DevId,
    version: u64,
    started_ms: u64,
    deadline_ms: u64,
    cont_sent: bool,
    packages_sent: u32,
    sent: Vec<SentFormat1>,
}

#[derive(Deserialize)]
struct SentFormat1 {
    id: Option<CommandId>,
    #[serde(with = "wire::command")]
    command: Command,
}

impl SessionFormat1 {
    fn into_record(self) -> SessionRecord {
        let mut state = SessionState::new(self.dev_id, self.deadline_ms);
        state.cont_sent = self.cont_sent;
        state.packages_sent = self.packages_sent as usize;
        state.phase = SessionPhase::AwaitingStatuses {
            sent: self.sent.into_iter().map(|s| (s.id, s.command)).collect(),
        };
        let mut record = SessionRecord::new(self.token, self.started_ms, state);
        record.version = self.version;
        record
    }
}

/// A session of the file, in the shape of its format.
fn session_of_format(format: u32, value: serde_json::Value) -> Result<SessionRecord, String> {
    if format == 1 {
        serde_json::from_value::<SessionFormat1>(value).map(SessionFormat1::into_record)
    } else {
        serde_json::from_value(value)
    }
    .map_err(|e| format!("a session: {e}"))
}

/// Serializes the store one device at a time (no full copy).
struct SnapshotView<'a>(&'a Inner);

impl Serialize for SnapshotView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let inner = self.0;
        let mut out = s.serialize_struct("Snapshot", 7)?;
        out.serialize_field("format", &FORMAT)?;
        out.serialize_field("key", &inner.key.map(|k| crate::util::hex(&k)))?;
        out.serialize_field("next_command", &inner.next_command)?;
        out.serialize_field("devices", &DevicesView(inner))?;
        out.serialize_field("commands", &SeqView(inner.commands.values()))?;
        out.serialize_field("sessions", &SeqView(inner.sessions.values()))?;
        out.serialize_field("repository", &ObjectsView(inner))?;
        out.end()
    }
}

struct DevicesView<'a>(&'a Inner);

impl Serialize for DevicesView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.devices.len()))?;
        for (dev_id, device) in &self.0.devices {
            let activity = device.activity.as_deref();
            seq.serialize_element(&DeviceSnapshot {
                record: device.record(dev_id),
                pending: activity
                    .map(|a| a.pending.iter().copied().collect())
                    .unwrap_or_default(),
                finished: activity
                    .map(|a| a.finished.iter().copied().collect())
                    .unwrap_or_default(),
                alerts: activity
                    .map(|a| a.alerts.iter().filter_map(StoredAlert::record).collect())
                    .unwrap_or_default(),
                cache: device
                    .cache
                    .as_deref()
                    .map(|c| {
                        c.instances
                            .iter()
                            .map(|k| String::from_utf8_lossy(&k.encoded).into_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            })?;
        }
        seq.end()
    }
}

struct ObjectsView<'a>(&'a Inner);

impl Serialize for ObjectsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.repository.len()))?;
        for (path, object) in &self.0.repository {
            seq.serialize_element(&ObjectSnapshot {
                path: path.clone(),
                object: object.clone(),
            })?;
        }
        seq.end()
    }
}

struct SeqView<I>(I);

impl<'a, T: Serialize + 'a, I: Iterator<Item = &'a T> + Clone> Serialize for SeqView<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

fn load(bytes: &[u8]) -> Result<Inner, String> {
    let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if !(1..=FORMAT).contains(&snapshot.format) {
        return Err(format!("unknown store format {}", snapshot.format));
    }
    let mut inner = Inner {
        next_command: snapshot.next_command,
        key: snapshot.key,
        ..Inner::default()
    };
    for command in snapshot.commands {
        inner.next_command = inner.next_command.max(command.id.0);
        inner.commands.insert(command.id, command);
    }
    for entry in snapshot.devices {
        let (dev_id, mut device) = Device::from_record(entry.record);
        if inner.devices.contains_key(&dev_id) {
            return Err(format!("device {dev_id} appears twice"));
        }
        let known = |ids: Vec<CommandId>| -> VecDeque<CommandId> {
            ids.into_iter()
                .filter(|id| inner.commands.get(id).is_some_and(|c| c.dev_id == dev_id))
                .collect()
        };
        let mut activity = Activity {
            pending: known(entry.pending),
            finished: known(entry.finished),
            ..Activity::default()
        };
        for record in entry.alerts {
            // Trimmed to the retention by `MemoryStore::with_retention`.
            if let Some(alert) = StoredAlert::new(&dev_id, record, usize::MAX) {
                activity.alert_bytes = activity.alert_bytes.saturating_add(alert.encoded.len());
                activity.alerts.push_back(alert);
            }
        }
        if !(activity.pending.is_empty()
            && activity.finished.is_empty()
            && activity.alerts.is_empty())
        {
            device.activity = Some(Box::new(activity));
        }
        let mut cache = Cache::default();
        for text in entry.cache {
            // Trimmed to the retention by `MemoryStore::with_retention`.
            let items = dm_codec::decode_mo_serialization(text.as_bytes(), &wire::stored_limits())
                .map_err(|e| format!("a cached instance of device {dev_id}: {e}"))?;
            let kept = items.into_iter().next().and_then(|item| {
                Some(CachedInstance {
                    moid: item.client_uri.to_moid(),
                    miid: item.client_uri.miid()?,
                    cache_validator: item.cache_validator.clone()?,
                    item,
                })
            });
            if let Some(instance) = kept {
                cache.keep(
                    &dev_id,
                    &instance,
                    &Retention::default()
                        .with_cache_bytes(usize::MAX)
                        .with_cached_instances(usize::MAX),
                );
            }
        }
        if !cache.instances.is_empty() {
            device.cache = Some(Box::new(cache));
        }
        inner.devices.insert(dev_id.clone(), device);
        inner.add_indexes(&dev_id);
    }
    // Commands no device lists are dropped.
    let listed: std::collections::HashSet<CommandId> = inner
        .devices
        .values()
        .filter_map(|d| d.activity.as_deref())
        .flat_map(|a| a.pending.iter().chain(a.finished.iter()).copied())
        .collect();
    inner.commands.retain(|id, _| listed.contains(id));
    for session in snapshot.sessions {
        let session = session_of_format(snapshot.format, session)?;
        if inner.devices.contains_key(session.dev_id()) {
            inner.sessions.insert(session.token, session);
        }
    }
    // A device's open sessions are those of the file's sessions that are
    // its own, oldest first (whatever its record names).
    let mut open: HashMap<DevId, Vec<(u64, SessionToken)>> = HashMap::new();
    for session in inner.sessions.values() {
        open.entry(session.dev_id().clone())
            .or_default()
            .push((session.started_ms, session.token));
    }
    for (dev_id, device) in &mut inner.devices {
        let mut sessions = open.remove(dev_id).unwrap_or_default();
        sessions.sort_unstable();
        device.set_open_sessions(sessions.into_iter().map(|(_, token)| token).collect());
    }
    for object in snapshot.repository {
        if let ObjectOwner::Device(dev_id) = &object.object.owner
            && let Some(device) = inner.devices.get_mut(dev_id)
        {
            device.objects += 1;
            device.object_bytes = device.object_bytes.saturating_add(object.object.body.len());
        }
        inner.repository.insert(object.path, object.object);
    }
    Ok(inner)
}

impl Store for MemoryStore {
    async fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        let dev_id = registration.dev_id.clone();
        if let Some(credentials) = &registration.credentials
            && let Some(owner) = inner.usernames.get(credentials.username.as_str())
            && *owner != dev_id
        {
            return Err(Error::UsernameTaken {
                username: credentials.username.clone(),
                owner: owner.clone(),
            });
        }
        if let Some(certificate) = &registration.certificate_sha256
            && let Some(owner) = inner.certificates.get(certificate)
            && *owner != dev_id
        {
            return Err(Error::CertificateTaken {
                owner: owner.clone(),
            });
        }
        if inner.devices.contains_key(&dev_id) {
            if !replace {
                return Err(Error::DeviceExists(dev_id));
            }
            inner.remove_indexes(&dev_id);
            if let Some(device) = inner.devices.get_mut(&dev_id) {
                device.apply(registration);
            }
        } else {
            inner
                .devices
                .insert(dev_id.clone(), Device::new(registration, now_ms));
        }
        inner.add_indexes(&dev_id);
        inner.dirty = true;
        Ok(())
    }

    async fn remove_device(&self, dev_id: &DevId) -> Result<bool, Error> {
        let mut inner = self.lock();
        inner.remove_indexes(dev_id);
        let Some(device) = inner.devices.remove(dev_id) else {
            return Ok(false);
        };
        if let Some(activity) = device.activity {
            for id in activity.pending.iter().chain(activity.finished.iter()) {
                inner.commands.remove(id);
            }
        }
        // Its open sessions with it.
        inner.sessions.retain(|_, s| s.dev_id() != dev_id);
        let owner = ObjectOwner::Device(dev_id.clone());
        inner.repository.retain(|_, o| o.owner != owner);
        inner.dirty = true;
        Ok(true)
    }

    async fn device(&self, dev_id: &DevId) -> Result<Option<DeviceRecord>, Error> {
        Ok(self.lock().devices.get(dev_id).map(|d| d.record(dev_id)))
    }

    async fn devices(
        &self,
        after: Option<&DevId>,
        limit: usize,
    ) -> Result<Vec<DeviceRecord>, Error> {
        let inner = self.lock();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(inner
            .devices
            .range::<DevId, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(dev_id, device)| device.record(dev_id))
            .collect())
    }

    async fn device_count(&self) -> Result<usize, Error> {
        Ok(self.lock().devices.len())
    }

    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<(DevId, PasswordCredentials)>, Error> {
        let inner = self.lock();
        Ok(inner.usernames.get(username).and_then(|dev_id| {
            let credentials = inner.devices.get(dev_id)?.credentials.as_deref()?;
            Some((dev_id.clone(), credentials.clone()))
        }))
    }

    async fn device_by_certificate(&self, sha256: &[u8; 32]) -> Result<Option<DevId>, Error> {
        Ok(self.lock().certificates.get(sha256).cloned())
    }

    async fn set_notification_address(&self, dev_id: &DevId, address: &str) -> Result<(), Error> {
        let mut inner = self.lock();
        let device = inner.device_mut(dev_id)?;
        let notification = device.notification.get_or_insert_with(Box::default);
        if notification.address.as_deref() != Some(address) {
            notification.address = Some(address.to_owned());
            inner.dirty = true;
        }
        Ok(())
    }

    async fn next_notification_id(&self, dev_id: &DevId) -> Result<u16, Error> {
        let mut inner = self.lock();
        let device = inner.device_mut(dev_id)?;
        let notification = device.notification.get_or_insert_with(Box::default);
        let id = match notification.last_id {
            None | Some(u16::MAX) => 1,
            Some(last) => last + 1,
        };
        notification.last_id = Some(id);
        inner.dirty = true;
        Ok(id)
    }

    async fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> Result<CommandId, Error> {
        let mut inner = self.lock();
        if !inner.devices.contains_key(dev_id) {
            return Err(unknown_device(dev_id));
        }
        inner.next_command += 1;
        let id = CommandId(inner.next_command);
        inner.commands.insert(
            id,
            CommandRecord::queued(id, dev_id.clone(), command, now_ms),
        );
        inner.device_mut(dev_id)?.activity().pending.push_back(id);
        inner.dirty = true;
        Ok(id)
    }

    async fn command(&self, id: CommandId) -> Result<Option<CommandRecord>, Error> {
        Ok(self.lock().commands.get(&id).cloned())
    }

    async fn commands(&self, dev_id: &DevId) -> Result<Vec<CommandRecord>, Error> {
        let inner = self.lock();
        let device = inner
            .devices
            .get(dev_id)
            .ok_or_else(|| unknown_device(dev_id))?;
        let Some(activity) = device.activity.as_deref() else {
            return Ok(Vec::new());
        };
        Ok(activity
            .pending
            .iter()
            .chain(activity.finished.iter())
            .filter_map(|id| inner.commands.get(id).cloned())
            .collect())
    }

    async fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> Result<Vec<(CommandId, Command)>, Error> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let device = inner
            .devices
            .get(dev_id)
            .ok_or_else(|| unknown_device(dev_id))?;
        let mut claimed = Vec::new();
        for id in device.activity.iter().flat_map(|a| a.pending.iter()) {
            if claimed.len() >= max {
                break;
            }
            if let Some(command) = inner.commands.get_mut(id)
                && command.state == CommandState::Queued
            {
                command.state = CommandState::Sent;
                command.session = Some(session);
                command.updated_ms = now_ms;
                claimed.push((*id, command.command.clone()));
            }
        }
        if !claimed.is_empty() {
            inner.dirty = true;
        }
        Ok(claimed)
    }

    async fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        for id in ids {
            if let Some(command) = inner.commands.get_mut(&id)
                && command.dev_id == *dev_id
                && command.state == CommandState::Sent
                && command.session == Some(session)
            {
                // Still in the device's pending list, so in its place.
                command.state = CommandState::Queued;
                command.session = None;
                command.updated_ms = now_ms;
                inner.dirty = true;
            }
        }
        Ok(())
    }

    async fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> Result<(), Error> {
        self.lock()
            .record_result(id, session, result, false, now_ms, &self.retention);
        Ok(())
    }

    async fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> Result<(), Error> {
        self.lock()
            .record_result(id, session, result, true, now_ms, &self.retention);
        Ok(())
    }

    async fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> Result<(), Error> {
        if instances.is_empty() {
            return Ok(());
        }
        let retention = self.retention;
        let mut inner = self.lock();
        let device = inner.device_mut(dev_id)?;
        let cache = device.cache.get_or_insert_with(Box::default);
        for instance in &instances {
            cache.keep(dev_id, instance, &retention);
        }
        if cache.instances.is_empty() {
            device.cache = None;
        }
        inner.dirty = true;
        Ok(())
    }

    async fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> Result<Option<CachedInstance>, Error> {
        let inner = self.lock();
        let device = inner
            .devices
            .get(dev_id)
            .ok_or_else(|| unknown_device(dev_id))?;
        Ok(device
            .cache
            .as_deref()
            .and_then(|cache| {
                cache
                    .instances
                    .iter()
                    .find(|k| k.moid == *moid && k.miid == *miid)
            })
            .and_then(KeptInstance::instance))
    }

    async fn record_alerts(&self, dev_id: &DevId, alerts: Vec<AlertRecord>) -> Result<(), Error> {
        if alerts.is_empty() {
            return Ok(());
        }
        let retention = self.retention;
        // Encoded (and truncated) before taking the lock.
        let stored: Vec<StoredAlert> = alerts
            .into_iter()
            .filter_map(|record| StoredAlert::new(dev_id, record, retention.alert_data_bytes))
            .collect();
        let mut inner = self.lock();
        let activity = inner.device_mut(dev_id)?.activity();
        for alert in stored {
            activity.push_alert(alert, &retention);
        }
        inner.dirty = true;
        Ok(())
    }

    async fn alerts(&self, dev_id: &DevId) -> Result<Vec<AlertRecord>, Error> {
        let inner = self.lock();
        let device = inner
            .devices
            .get(dev_id)
            .ok_or_else(|| unknown_device(dev_id))?;
        Ok(device
            .activity
            .as_deref()
            .map(|a| a.alerts.iter().filter_map(StoredAlert::record).collect())
            .unwrap_or_default())
    }

    async fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let _ = now_ms;
        let mos = mos.map(|mos| cap_mos(dev_id, mos, &self.retention));
        let mut inner = self.lock();
        let device = inner.device_mut(dev_id)?;
        let kept = self.retention.sessions.max(1);
        let sessions: Vec<SessionSummary> = std::iter::once(summary)
            .chain(device.sessions.take().into_iter().flat_map(Vec::from))
            .take(kept)
            .collect();
        device.sessions = Some(sessions.into_boxed_slice());
        if let Some(mos) = mos {
            device.mos = Some(mos.into_boxed_slice());
        }
        inner.dirty = true;
        Ok(())
    }

    async fn open_session(&self, record: SessionRecord, max_open: usize) -> Result<(), Error> {
        let mut inner = self.lock();
        if inner.sessions.contains_key(&record.token) {
            return Err(Error::SessionExists(record.token.public_id()));
        }
        if inner.sessions.len() >= max_open {
            return Err(Error::Busy {
                open_sessions: inner.sessions.len(),
            });
        }
        let device = inner.device_mut(record.dev_id())?;
        let mut open = device.open_sessions().to_vec();
        open.push(record.token);
        device.set_open_sessions(open);
        inner.sessions.insert(record.token, record);
        inner.dirty = true;
        Ok(())
    }

    async fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        match inner.sessions.get(&record.token) {
            None => return Err(Error::SessionNotFound(record.token.public_id())),
            Some(stored) if stored.version != expected_version => {
                return Err(Error::SessionVersion {
                    session: record.token.public_id(),
                    expected: expected_version,
                });
            }
            Some(_) => {}
        }
        inner.sessions.insert(record.token, record);
        inner.dirty = true;
        Ok(())
    }

    async fn session(&self, token: SessionToken) -> Result<Option<SessionRecord>, Error> {
        Ok(self.lock().sessions.get(&token).cloned())
    }

    async fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> Result<(), Error> {
        self.lock()
            .end_session(token, dev_id, &end, &self.retention);
        Ok(())
    }

    async fn expire_sessions(&self, now_ms: u64) -> Result<Vec<SessionRecord>, Error> {
        let mut inner = self.lock();
        let expired: Vec<SessionRecord> = inner
            .sessions
            .values()
            .filter(|s| s.state.is_expired(now_ms))
            .cloned()
            .collect();
        for session in &expired {
            let packages = u32::try_from(session.state.packages_sent).unwrap_or(u32::MAX);
            let end = SessionEnd::new(SessionOutcome::Timeout, packages, now_ms);
            inner.end_session(session.token, session.dev_id(), &end, &self.retention);
        }
        Ok(expired)
    }

    async fn open_sessions(&self) -> Result<usize, Error> {
        Ok(self.lock().sessions.len())
    }

    async fn repository_room(&self, dev_id: &DevId, path: &str) -> Result<Option<usize>, Error> {
        let inner = self.lock();
        // An unknown device is bounded by nothing here, as in `put_object`.
        let Some(device) = inner.devices.get(dev_id) else {
            return Ok(None);
        };
        let replaced = inner
            .repository
            .get(path)
            .filter(|o| matches!(&o.owner, ObjectOwner::Device(owner) if owner == dev_id))
            .map_or(0, |o| o.body.len());
        let kept = device.object_bytes.saturating_sub(replaced);
        Ok(Some(self.retention.repository_bytes.saturating_sub(kept)))
    }

    async fn put_object(&self, path: &str, object: RepositoryObject) -> Result<bool, Error> {
        let mut inner = self.lock();
        let previous = inner
            .repository
            .get(path)
            .map(|o| (o.owner.clone(), o.body.len()));
        if let Some((owner, _)) = &previous
            && *owner != object.owner
            && object.owner != ObjectOwner::Server
        {
            return Err(Error::ObjectOwned {
                path: path.to_owned(),
            });
        }
        // Checks the new owner's bounds before changing anything.
        if let ObjectOwner::Device(dev_id) = &object.owner
            && let Some(device) = inner.devices.get(dev_id)
        {
            let replaced = previous
                .as_ref()
                .filter(|(owner, _)| *owner == object.owner)
                .map(|(_, bytes)| *bytes);
            if replaced.is_none() && device.objects >= self.retention.objects_per_device {
                return Err(Error::TooManyObjects {
                    dev_id: dev_id.clone(),
                    objects: device.objects,
                });
            }
            let total = device
                .object_bytes
                .saturating_sub(replaced.unwrap_or(0))
                .saturating_add(object.body.len());
            if total > self.retention.repository_bytes {
                return Err(Error::InsufficientStorage {
                    dev_id: dev_id.clone(),
                    bytes: total,
                    allowed: self.retention.repository_bytes,
                });
            }
        }
        if let Some((ObjectOwner::Device(dev_id), bytes)) = &previous
            && let Some(device) = inner.devices.get_mut(dev_id)
        {
            device.objects = device.objects.saturating_sub(1);
            device.object_bytes = device.object_bytes.saturating_sub(*bytes);
        }
        if let ObjectOwner::Device(dev_id) = &object.owner
            && let Some(device) = inner.devices.get_mut(dev_id)
        {
            device.objects += 1;
            device.object_bytes = device.object_bytes.saturating_add(object.body.len());
        }
        let created = inner.repository.insert(path.to_owned(), object).is_none();
        inner.dirty = true;
        Ok(created)
    }

    async fn object(&self, path: &str) -> Result<Option<RepositoryObject>, Error> {
        Ok(self.lock().repository.get(path).cloned())
    }

    async fn delete_object(&self, path: &str) -> Result<bool, Error> {
        let mut inner = self.lock();
        let Some(removed) = inner.repository.remove(path) else {
            return Ok(false);
        };
        if let ObjectOwner::Device(dev_id) = &removed.owner
            && let Some(device) = inner.devices.get_mut(dev_id)
        {
            device.objects = device.objects.saturating_sub(1);
            device.object_bytes = device.object_bytes.saturating_sub(removed.body.len());
        }
        inner.dirty = true;
        Ok(true)
    }

    async fn server_key(&self) -> Result<[u8; 32], Error> {
        let mut inner = self.lock();
        if let Some(key) = inner.key {
            return Ok(key);
        }
        let key = crate::util::random()?;
        inner.key = Some(key);
        inner.dirty = true;
        Ok(key)
    }

    async fn flush(&self) -> Result<(), Error> {
        let Some(snapshot) = self.snapshot_if_dirty()? else {
            return Ok(());
        };
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let on_disk = self.written.clone();
        let written =
            tokio::task::spawn_blocking(move || write_snapshot(&path, &on_disk, snapshot))
                .await
                .map_err(|e| Error::store("write the store file", e))?;
        if written.is_err() {
            self.lock().dirty = true;
        }
        written
    }

    async fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> Result<bool, Error> {
        let mut inner = self.lock();
        let floor = inner.digest_floor_ms;
        Ok(inner
            .device_mut(dev_id)?
            .digest
            .get_or_insert_with(Box::default)
            .record(nonce, issued_ms, nc, floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let dir = std::env::temp_dir().join(format!("dm-server-snapshots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let path = dir.join("store.json");
        let _ = std::fs::remove_file(&path);
        let store = MemoryStore::open(&path).expect("store");
        let take = |next_command| {
            let mut inner = store.lock();
            inner.next_command = next_command;
            inner.dirty = true;
            drop(inner);
            store.snapshot_if_dirty().expect("snapshot").expect("dirty")
        };
        let older = take(1);
        let newer = take(2);
        // Two flushes finishing in the wrong order.
        write_snapshot(&path, &store.written, newer).expect("written");
        write_snapshot(&path, &store.written, older).expect("skipped");
        let on_disk = load(&std::fs::read(&path).expect("file")).expect("a store");
        assert_eq!(on_disk.next_command, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_flush_after_a_cancelled_one_writes_what_that_one_took() {
        let dir = std::env::temp_dir().join(format!("dm-server-cancelled-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let path = dir.join("store.json");
        let _ = std::fs::remove_file(&path);
        let store = MemoryStore::open(&path).expect("store");
        store.lock().next_command = 7;
        store.lock().dirty = true;
        // A periodic flush took its snapshot, then its task was cancelled
        // before the write (the shutdown aborts it): nothing is dirty any
        // more, yet the file does not hold the snapshot.
        let taken = store.snapshot_if_dirty().expect("snapshot").expect("dirty");
        assert!(!store.lock().dirty);
        drop(taken);
        store.flush().await.expect("flushed");
        let on_disk = load(&std::fs::read(&path).expect("the file")).expect("a store");
        assert_eq!(on_disk.next_command, 7, "the shutdown flush wrote it");
        // Written: the next flush has nothing to do.
        assert!(store.snapshot_if_dirty().expect("snapshot").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
