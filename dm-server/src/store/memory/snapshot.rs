//! The store file: its JSON format (version 2; version 1 read), written
//! one device at a time and loaded back.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use serde::ser::SerializeSeq as _;
use serde::{Deserialize, Serialize, Serializer};

use dm_session::{CachedInstance, SessionPhase, SessionState};
use dm_types::{Command, DevId};

use super::{
    AlertRecord, CommandId, CommandRecord, DeviceRecord, ObjectOwner, RepositoryObject,
    SessionRecord, SessionToken, wire,
};
use crate::Error;

use super::{Activity, Cache, Device, Inner, Retention, StoredAlert};

/// Writes snapshot `number` to `path` unless a newer one is already there
/// (two flushes can finish in either order); `written` holds the number of
/// the snapshot on disk and is locked for the write.
pub(super) fn write_snapshot(
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
pub(super) struct SnapshotView<'a>(pub(super) &'a Inner);

impl Serialize for SnapshotView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let inner = self.0;
        let mut out = s.serialize_struct("Snapshot", 7)?;
        out.serialize_field("format", &FORMAT)?;
        out.serialize_field("key", &inner.key.map(|k| dm_codec::hex::encode(&k)))?;
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

pub(super) fn load(bytes: &[u8]) -> Result<Inner, String> {
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
