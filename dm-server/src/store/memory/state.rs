//! The state of a [`MemoryStore`](super::MemoryStore) behind its mutex:
//! devices, their activity, and the indexes by user name and certificate.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use dm_types::{DevId, MosEntry, Status};

use super::{Cache, DigestUse, Retention, StoredAlert};
use super::{
    CommandId, CommandRecord, CommandState, DeviceRecord, DeviceRegistration, NotificationSecret,
    PasswordCredentials, PskCredentials, PskIdentity, RepositoryObject, SessionEnd, SessionRecord,
    SessionSummary, SessionToken,
};
use crate::Error;
use crate::store::{ApiKeyId, ApiKeyRecord, ArtifactId, ArtifactRecord, GroupId, GroupRecord, Tag};

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) devices: BTreeMap<DevId, Device>,
    pub(super) usernames: HashMap<Box<str>, DevId>,
    pub(super) certificates: HashMap<[u8; 32], DevId>,
    pub(super) psk_identities: HashMap<PskIdentity, DevId>,
    pub(super) commands: HashMap<CommandId, CommandRecord>,
    pub(super) sessions: HashMap<SessionToken, SessionRecord>,
    pub(super) repository: BTreeMap<String, RepositoryObject>,
    pub(super) next_command: u64,
    pub(super) key: Option<[u8; 32]>,
    pub(super) bootstrap: super::bootstrap::BootstrapState,
    pub(super) campaigns: super::campaigns::CampaignState,
    /// Artifacts by id, with their content when stored.
    pub(super) artifacts: BTreeMap<ArtifactId, (ArtifactRecord, Option<Bytes>)>,
    /// Device groups by id.
    pub(super) groups: BTreeMap<GroupId, GroupRecord>,
    /// API keys by id.
    pub(super) api_keys: BTreeMap<ApiKeyId, ApiKeyRecord>,
}

/// A device, compact: everything a device may lack is boxed behind an
/// `Option`, so a bare registration costs little.
#[derive(Debug)]
pub(super) struct Device {
    pub(super) registered_ms: u64,
    /// Repository objects it owns.
    pub(super) objects: u32,
    /// The body bytes of the repository objects it owns.
    pub(super) object_bytes: usize,
    pub(super) credentials: Option<Box<PasswordCredentials>>,
    pub(super) certificate: Option<Box<[u8; 32]>>,
    pub(super) psk: Option<Box<PskCredentials>>,
    pub(super) notification: Option<Box<NotificationState>>,
    /// Latest first.
    pub(super) sessions: Option<Box<[SessionSummary]>>,
    pub(super) mos: Option<Box<[MosEntry]>>,
    pub(super) activity: Option<Box<Activity>>,
    /// Its open sessions, oldest first.
    pub(super) open_sessions: Option<Box<[SessionToken]>>,
    /// MO instances kept for caching.
    pub(super) cache: Option<Box<Cache>>,
    /// Digest nonce counts in use.
    pub(super) digest: Option<Box<DigestUse>>,
    /// Its tags and the DevInfo values seen.
    pub(super) labels: Option<Box<Labels>>,
}

/// What a device is selected by in groups: its tags and DevInfo values.
#[derive(Debug, Default)]
pub(super) struct Labels {
    pub(super) tags: BTreeSet<Tag>,
    pub(super) devinfo: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub(super) struct NotificationState {
    pub(super) address: Option<String>,
    pub(super) secret: Option<NotificationSecret>,
    pub(super) last_id: Option<u16>,
}

#[derive(Debug, Default)]
pub(super) struct Activity {
    /// Queued and sent commands, in queue order.
    pub(super) pending: VecDeque<CommandId>,
    /// Done and failed commands, oldest first.
    pub(super) finished: VecDeque<CommandId>,
    /// Oldest first.
    pub(super) alerts: VecDeque<StoredAlert>,
    /// The sum of the alerts' encoded sizes.
    pub(super) alert_bytes: usize,
}

impl Activity {
    /// Appends an alert, then forgets the oldest beyond the retention.
    pub(super) fn push_alert(&mut self, alert: StoredAlert, retention: &Retention) {
        self.alert_bytes = self.alert_bytes.saturating_add(alert.encoded.len());
        self.alerts.push_back(alert);
        self.trim_alerts(retention);
    }

    pub(super) fn trim_alerts(&mut self, retention: &Retention) {
        while self.alerts.len() > retention.alerts || self.alert_bytes > retention.alert_bytes {
            let Some(old) = self.alerts.pop_front() else {
                break;
            };
            self.alert_bytes = self.alert_bytes.saturating_sub(old.encoded.len());
        }
    }
}

impl Device {
    pub(super) fn new(registration: DeviceRegistration, now_ms: u64) -> Device {
        let mut device = Device {
            registered_ms: now_ms,
            objects: 0,
            object_bytes: 0,
            credentials: None,
            certificate: None,
            psk: None,
            notification: None,
            sessions: None,
            mos: None,
            activity: None,
            open_sessions: None,
            cache: None,
            digest: None,
            labels: None,
        };
        device.apply(registration);
        device
    }

    /// Applies what a registration states (replacing what it replaces).
    pub(super) fn apply(&mut self, registration: DeviceRegistration) {
        self.credentials = registration.credentials.map(Box::new);
        self.certificate = registration.certificate_sha256.map(Box::new);
        self.psk = registration.psk.map(Box::new);
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

    pub(super) fn activity(&mut self) -> &mut Activity {
        self.activity.get_or_insert_with(Box::default)
    }

    pub(super) fn record(&self, dev_id: &DevId) -> DeviceRecord {
        let notification = self.notification.as_deref();
        DeviceRecord {
            dev_id: dev_id.clone(),
            registered_ms: self.registered_ms,
            credentials: self.credentials.as_deref().cloned(),
            certificate_sha256: self.certificate.as_deref().copied(),
            psk: self.psk.as_deref().cloned(),
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
            tags: self
                .labels
                .as_deref()
                .map(|l| l.tags.clone())
                .unwrap_or_default(),
            devinfo: self
                .labels
                .as_deref()
                .map(|l| l.devinfo.clone())
                .unwrap_or_default(),
        }
    }

    pub(super) fn open_sessions(&self) -> &[SessionToken] {
        self.open_sessions.as_deref().unwrap_or_default()
    }

    pub(super) fn set_open_sessions(&mut self, tokens: Vec<SessionToken>) {
        self.open_sessions = (!tokens.is_empty()).then(|| tokens.into_boxed_slice());
    }
}

pub(super) fn unknown_device(dev_id: &DevId) -> Error {
    Error::DeviceNotFound(dev_id.clone())
}

impl Inner {
    pub(super) fn device_mut(&mut self, dev_id: &DevId) -> Result<&mut Device, Error> {
        self.devices
            .get_mut(dev_id)
            .ok_or_else(|| unknown_device(dev_id))
    }

    /// Moves a command from the pending to the finished list of its device,
    /// forgetting the oldest finished ones beyond the retention.
    pub(super) fn finish(&mut self, dev_id: &DevId, id: CommandId, retention: &Retention) {
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
    pub(super) fn record_result(
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
    }

    pub(super) fn end_session(
        &mut self,
        token: SessionToken,
        dev_id: &DevId,
        end: &SessionEnd,
        retention: &Retention,
    ) {
        let record = self.sessions.remove(&token);
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

    pub(super) fn remove_indexes(&mut self, dev_id: &DevId) {
        if let Some(device) = self.devices.get(dev_id) {
            if let Some(credentials) = &device.credentials {
                self.usernames.remove(credentials.username.as_str());
            }
            if let Some(certificate) = &device.certificate {
                self.certificates.remove(certificate.as_ref());
            }
            if let Some(psk) = &device.psk {
                self.psk_identities.remove(&psk.identity);
            }
        }
    }

    pub(super) fn add_indexes(&mut self, dev_id: &DevId) {
        if let Some(device) = self.devices.get(dev_id) {
            if let Some(credentials) = &device.credentials {
                self.usernames
                    .insert(credentials.username.as_str().into(), dev_id.clone());
            }
            if let Some(certificate) = &device.certificate {
                self.certificates.insert(**certificate, dev_id.clone());
            }
            if let Some(psk) = &device.psk {
                self.psk_identities
                    .insert(psk.identity.clone(), dev_id.clone());
            }
        }
    }
}

impl crate::store::batch::Registered for Inner {
    fn has_device(&self, dev_id: &DevId) -> bool {
        self.devices.contains_key(dev_id)
    }

    fn username_owner(&self, username: &str) -> Option<DevId> {
        self.usernames.get(username).cloned()
    }

    fn certificate_owner(&self, sha256: &[u8; 32]) -> Option<DevId> {
        self.certificates.get(sha256).cloned()
    }

    fn psk_owner(&self, identity: &PskIdentity) -> Option<DevId> {
        self.psk_identities.get(identity).cloned()
    }
}
