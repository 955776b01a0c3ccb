//! [`Store`] for [`MemoryStore`]: each method one step under the mutex.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use bytes::Bytes;

use dm_session::CachedInstance;
use dm_types::{Command, DevId, Miid, Moid, MosEntry, Status};

use super::{
    AlertRecord, CommandId, CommandRecord, CommandState, DeviceRecord, DeviceRegistration,
    ObjectOwner, PasswordCredentials, PskCredentials, PskIdentity, RepositoryObject, SessionEnd,
    SessionOutcome, SessionRecord, SessionSummary, SessionToken, Store,
};
use crate::Error;
use crate::bootstrap::BootstrapProfile;
use crate::store::{ApiKeyId, ApiKeyRecord};
use crate::store::{
    ArtifactId, ArtifactRecord, GroupId, GroupRecord, Tag, check_content, clamp_range,
};
use crate::store::{BootstrapDevice, BootstrapOutcomeRecord, BootstrapSessionRecord};
use crate::store::{
    CampaignDevice, CampaignId, CampaignRecord, CampaignSpec, CampaignStatus, StageCounts,
    UpdateState,
};
use crate::store::{DevicePage, DeviceQuery};
use crate::store::{
    EventBounds, EventFilter, EventRecord, NewEvent, WebhookId, WebhookRecord, WebhookSpec,
};
use crate::store::{Respond, SessionStep, StepOutcome, StepPackage};

use super::{Device, Inner, KeptInstance, MemoryStore, StoredAlert, cap_mos, unknown_device};
use crate::Retention;

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
        if let Some(psk) = &registration.psk
            && let Some(owner) = inner.psk_identities.get(&psk.identity)
            && *owner != dev_id
        {
            return Err(Error::PskIdentityTaken {
                identity: psk.identity.to_string(),
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
        Ok(())
    }

    async fn register_devices(
        &self,
        registrations: Vec<DeviceRegistration>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        if let Some(conflict) = crate::store::batch::first_conflict(&registrations, &*inner) {
            return Err(conflict);
        }
        for registration in registrations {
            let dev_id = registration.dev_id.clone();
            inner
                .devices
                .insert(dev_id.clone(), Device::new(registration, now_ms));
            inner.add_indexes(&dev_id);
        }
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
        Ok(true)
    }

    async fn device(&self, dev_id: &DevId) -> Result<Option<DeviceRecord>, Error> {
        Ok(self.lock().devices.get(dev_id).map(|d| d.record(dev_id)))
    }

    async fn devices(&self, query: &DeviceQuery) -> Result<DevicePage, Error> {
        let inner = self.lock();
        // A range of the ordered map: from the later of the prefix and the
        // cursor, while the prefix matches.
        let start = match (query.prefix.as_deref(), query.after.as_ref()) {
            (Some(prefix), Some(after)) if prefix > after.as_str() => Bound::Included(prefix),
            (_, Some(after)) => Bound::Excluded(after.as_str()),
            (Some(prefix), None) => Bound::Included(prefix),
            (None, None) => Bound::Unbounded,
        };
        let prefix = query.prefix.as_deref().unwrap_or("");
        let devices: Vec<DeviceRecord> = inner
            .devices
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(dev_id, _)| dev_id.as_str().starts_with(prefix))
            .take(query.limit.saturating_add(1))
            .map(|(dev_id, device)| device.record(dev_id))
            .collect();
        let open_sessions = devices
            .iter()
            .take(query.limit)
            .flat_map(|d| &d.open_sessions)
            .filter_map(|token| inner.sessions.get(token).cloned())
            .collect();
        Ok(DevicePage::of(devices, open_sessions, query.limit))
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

    async fn psk_by_identity(
        &self,
        identity: &PskIdentity,
    ) -> Result<Option<(DevId, PskCredentials)>, Error> {
        let inner = self.lock();
        Ok(inner.psk_identities.get(identity).and_then(|dev_id| {
            let psk = inner.devices.get(dev_id)?.psk.as_deref()?;
            Some((dev_id.clone(), psk.clone()))
        }))
    }

    async fn set_notification_address(&self, dev_id: &DevId, address: &str) -> Result<(), Error> {
        self.lock().set_notification_address(dev_id, address)
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
        let mut inner = self.lock();
        let claimed = inner.claimable(dev_id, max)?;
        inner.mark_sent(&claimed, session, now_ms);
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
        let mut inner = self.lock();
        inner.keep_instances(dev_id, &instances, &self.retention)
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
        // Encoded (and truncated) before taking the lock.
        let stored = self.encode_alerts(dev_id, alerts);
        let mut inner = self.lock();
        inner.push_alerts(dev_id, stored, &self.retention)
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
        inner.begin(dev_id, summary, mos, &self.retention)
    }

    async fn open_session(&self, record: SessionRecord, max_open: usize) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.check_opening(&record, max_open)?;
        inner.open(record)
    }

    async fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.check_version(record.token, expected_version)?;
        inner.sessions.insert(record.token, record);
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
            let end = SessionEnd::of_state(SessionOutcome::Timeout, &session.state, now_ms);
            inner.end_session(session.token, session.dev_id(), &end, &self.retention);
        }
        Ok(expired)
    }

    async fn open_sessions(&self) -> Result<usize, Error> {
        Ok(self.lock().sessions.len())
    }

    async fn queued_command_count(&self) -> Result<u64, Error> {
        let inner = self.lock();
        let queued = inner
            .commands
            .values()
            .filter(|c| c.state == CommandState::Queued)
            .count();
        Ok(queued as u64)
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
        Ok(true)
    }

    async fn server_key(&self) -> Result<[u8; 32], Error> {
        let mut inner = self.lock();
        if let Some(key) = inner.key {
            return Ok(key);
        }
        let key = crate::util::random()?;
        inner.key = Some(key);
        Ok(key)
    }

    async fn put_artifact(
        &self,
        record: ArtifactRecord,
        content: Option<Bytes>,
    ) -> Result<bool, Error> {
        check_content(&record, content.as_deref())?;
        let mut inner = self.lock();
        let replaced = inner.artifacts.contains_key(&record.id);
        if replaced && inner.campaigns.unfinished_use(|s| s.artifact == record.id) {
            return Err(Error::ArtifactInUse(record.id));
        }
        inner.artifacts.insert(record.id.clone(), (record, content));
        Ok(replaced)
    }

    async fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, Error> {
        Ok(self
            .lock()
            .artifacts
            .get(id)
            .map(|(record, _)| record.clone()))
    }

    async fn artifacts(&self) -> Result<Vec<ArtifactRecord>, Error> {
        Ok(self
            .lock()
            .artifacts
            .values()
            .map(|(record, _)| record.clone())
            .collect())
    }

    async fn artifact_range(
        &self,
        id: &ArtifactId,
        start: u64,
        end: u64,
    ) -> Result<Option<Bytes>, Error> {
        let inner = self.lock();
        let Some((_, Some(content))) = inner.artifacts.get(id) else {
            return Ok(None);
        };
        let size = u64::try_from(content.len()).unwrap_or(u64::MAX);
        let (start, end) = clamp_range(size, start, end);
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return Ok(Some(Bytes::new()));
        };
        Ok(Some(content.slice(start..end)))
    }

    async fn remove_artifact(&self, id: &ArtifactId) -> Result<bool, Error> {
        let mut inner = self.lock();
        if inner.campaigns.unfinished_use(|s| s.artifact == *id) {
            return Err(Error::ArtifactInUse(id.clone()));
        }
        Ok(inner.artifacts.remove(id).is_some())
    }

    async fn put_group(&self, group: GroupRecord) -> Result<bool, Error> {
        Ok(self.lock().groups.insert(group.id.clone(), group).is_some())
    }

    async fn group(&self, id: &GroupId) -> Result<Option<GroupRecord>, Error> {
        Ok(self.lock().groups.get(id).cloned())
    }

    async fn groups(&self) -> Result<Vec<GroupRecord>, Error> {
        Ok(self.lock().groups.values().cloned().collect())
    }

    async fn remove_group(&self, id: &GroupId) -> Result<bool, Error> {
        let mut inner = self.lock();
        if inner.campaigns.unfinished_use(|s| s.uses_group(id)) {
            return Err(Error::GroupInUse(id.clone()));
        }
        Ok(inner.groups.remove(id).is_some())
    }

    async fn set_device_tags(&self, dev_id: &DevId, tags: BTreeSet<Tag>) -> Result<(), Error> {
        let mut inner = self.lock();
        let device = inner.device_mut(dev_id)?;
        let labels = device.labels.get_or_insert_with(Box::default);
        labels.tags = tags;
        if labels.tags.is_empty() && labels.devinfo.is_empty() {
            device.labels = None;
        }
        Ok(())
    }

    async fn record_devinfo(
        &self,
        dev_id: &DevId,
        values: BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        let device = inner.device_mut(dev_id)?;
        if !values.is_empty() {
            let labels = device.labels.get_or_insert_with(Box::default);
            labels.devinfo.extend(values);
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), Error> {
        // Nothing to make durable: the store never is.
        Ok(())
    }

    async fn put_bootstrap_profile(&self, profile: BootstrapProfile) -> Result<bool, Error> {
        Ok(self.lock().bootstrap.put_profile(profile))
    }

    async fn bootstrap_profiles(&self) -> Result<Vec<BootstrapProfile>, Error> {
        Ok(self.lock().bootstrap.profiles())
    }

    async fn remove_bootstrap_profile(&self, name: &str) -> Result<bool, Error> {
        Ok(self.lock().bootstrap.remove_profile(name))
    }

    async fn put_bootstrap_device(&self, device: BootstrapDevice) -> Result<(), Error> {
        self.lock().bootstrap.put_device(device)
    }

    async fn bootstrap_device(&self, dev_id: &DevId) -> Result<Option<BootstrapDevice>, Error> {
        Ok(self.lock().bootstrap.device(dev_id))
    }

    async fn bootstrap_device_by_psk_identity(
        &self,
        identity: &str,
    ) -> Result<Option<BootstrapDevice>, Error> {
        Ok(self.lock().bootstrap.device_by_psk_identity(identity))
    }

    async fn remove_bootstrap_device(&self, dev_id: &DevId) -> Result<bool, Error> {
        Ok(self.lock().bootstrap.remove_device(dev_id))
    }

    async fn set_bootstrap_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> Result<bool, Error> {
        Ok(self.lock().bootstrap.set_address(dev_id, address))
    }

    async fn next_bootstrap_notification_id(&self, dev_id: &DevId) -> Result<u16, Error> {
        self.lock().bootstrap.next_notification_id(dev_id)
    }

    async fn save_bootstrap_session(&self, session: BootstrapSessionRecord) -> Result<(), Error> {
        self.lock().bootstrap.save_session(session);
        Ok(())
    }

    async fn bootstrap_session(
        &self,
        token: SessionToken,
    ) -> Result<Option<BootstrapSessionRecord>, Error> {
        Ok(self.lock().bootstrap.session(token))
    }

    async fn take_bootstrap_account_data(
        &self,
        data_token: SessionToken,
        binding: &str,
        now_ms: u64,
    ) -> Result<Option<(DevId, String)>, Error> {
        Ok(self
            .lock()
            .bootstrap
            .take_account_data(data_token, binding, now_ms))
    }

    async fn end_bootstrap_session(
        &self,
        token: SessionToken,
        outcome: BootstrapOutcomeRecord,
    ) -> Result<bool, Error> {
        Ok(self.lock().bootstrap.end_session(token, outcome))
    }

    async fn expire_bootstrap_sessions(
        &self,
        now_ms: u64,
    ) -> Result<Vec<BootstrapSessionRecord>, Error> {
        Ok(self.lock().bootstrap.expire_sessions(now_ms))
    }

    async fn bootstrap_outcomes(
        &self,
        dev_id: &DevId,
    ) -> Result<Vec<BootstrapOutcomeRecord>, Error> {
        Ok(self.lock().bootstrap.outcomes(dev_id))
    }

    async fn create_campaign(
        &self,
        spec: CampaignSpec,
        members: Vec<(DevId, u32)>,
        now_ms: u64,
    ) -> Result<CampaignRecord, Error> {
        Ok(self.lock().campaigns.create(spec, members, now_ms))
    }

    async fn campaign(&self, id: CampaignId) -> Result<Option<CampaignRecord>, Error> {
        Ok(self.lock().campaigns.campaign(id))
    }

    async fn campaigns(&self) -> Result<Vec<CampaignRecord>, Error> {
        Ok(self.lock().campaigns.campaigns())
    }

    async fn update_campaign(
        &self,
        id: CampaignId,
        expected_version: u64,
        status: CampaignStatus,
        stage: u32,
        now_ms: u64,
    ) -> Result<CampaignRecord, Error> {
        self.lock()
            .campaigns
            .update(id, expected_version, status, stage, now_ms)
    }

    async fn campaign_counts(&self, id: CampaignId) -> Result<Vec<StageCounts>, Error> {
        Ok(self.lock().campaigns.counts(id))
    }

    async fn campaign_devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        Ok(self.lock().campaigns.devices(id, state, after, limit))
    }

    async fn campaign_device(
        &self,
        id: CampaignId,
        dev_id: &DevId,
    ) -> Result<Option<CampaignDevice>, Error> {
        Ok(self.lock().campaigns.device(id, dev_id))
    }

    async fn active_campaign_device(
        &self,
        dev_id: &DevId,
    ) -> Result<Option<CampaignDevice>, Error> {
        Ok(self.lock().campaigns.active_device(dev_id))
    }

    async fn due_campaign_devices(
        &self,
        id: CampaignId,
        max_stage: u32,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        Ok(self.lock().campaigns.due(id, max_stage, now_ms, limit))
    }

    async fn stale_campaign_devices(
        &self,
        id: CampaignId,
        updated_before_ms: u64,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        Ok(self.lock().campaigns.stale(id, updated_before_ms, limit))
    }

    async fn advance_campaign_device(
        &self,
        row: &CampaignDevice,
        expected: (UpdateState, u32),
        now_ms: u64,
    ) -> Result<bool, Error> {
        Ok(self.lock().campaigns.advance(row, expected, now_ms))
    }

    async fn skip_pending_campaign_devices(
        &self,
        id: CampaignId,
        now_ms: u64,
    ) -> Result<u64, Error> {
        Ok(self.lock().campaigns.skip_pending(id, now_ms))
    }

    async fn lease_campaign(
        &self,
        id: CampaignId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, Error> {
        self.lock().campaigns.lease(id, node, now_ms, until_ms)
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), Error> {
        self.events().append(events);
        Ok(())
    }

    async fn events_after(
        &self,
        after: u64,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Vec<EventRecord>, Error> {
        Ok(self.events().after(after, limit, filter))
    }

    async fn event_bounds(&self) -> Result<EventBounds, Error> {
        Ok(self.events().bounds())
    }

    async fn prune_events(&self, keep: u64, before_ms: u64) -> Result<u64, Error> {
        Ok(self.events().prune(keep, before_ms))
    }

    async fn create_webhook(&self, spec: WebhookSpec, now_ms: u64) -> Result<WebhookRecord, Error> {
        Ok(self.events().create_webhook(spec, now_ms))
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRecord>, Error> {
        Ok(self.events().webhooks())
    }

    async fn remove_webhook(&self, id: WebhookId) -> Result<bool, Error> {
        Ok(self.events().remove_webhook(id))
    }

    async fn lease_webhook(
        &self,
        id: WebhookId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<Option<WebhookRecord>, Error> {
        Ok(self.events().lease(id, node, now_ms, until_ms))
    }

    async fn advance_webhook(&self, id: WebhookId, node: &str, cursor: u64) -> Result<bool, Error> {
        Ok(self.events().advance(id, node, cursor))
    }

    async fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> Result<bool, Error> {
        let mut inner = self.lock();
        // The store knows every count used since it was made.
        let floor = 0;
        Ok(inner
            .device_mut(dev_id)?
            .digest
            .get_or_insert_with(Box::default)
            .record(nonce, issued_ms, nc, floor))
    }

    /// One step under the lock: every refusal is checked, and the
    /// Package#2 built, before anything changes, so a failed step changes
    /// nothing.
    async fn step_session(
        &self,
        step: SessionStep,
        mut respond: Respond,
    ) -> Result<StepOutcome, Error> {
        let retention = self.retention;
        let record = step.record;
        let (token, dev_id) = (record.token, record.dev_id().clone());
        let opening = match step.package {
            StepPackage::Package1 {
                summary,
                mos,
                max_open,
            } => Some((
                summary,
                mos.map(|mos| cap_mos(&dev_id, mos, &retention)),
                max_open,
            )),
            StepPackage::Package3 => None,
        };
        let alerts = self.encode_alerts(&dev_id, step.alerts);
        let now_ms = step.now_ms;
        let mut inner = self.lock();
        match &opening {
            Some((_, _, max_open)) => inner.check_opening(&record, *max_open)?,
            None => inner.check_version(token, record.version)?,
        }
        let claimed = inner.claimable(&dev_id, step.claim)?;
        let state = respond(claimed.clone())?;
        if let Some((summary, mos, _)) = opening {
            inner.open(record.clone())?;
            inner.begin(&dev_id, summary, mos, &retention)?;
        }
        if !step.cached_instances.is_empty() {
            inner.keep_instances(&dev_id, &step.cached_instances, &retention)?;
        }
        for status in step.statuses {
            inner.record_result(
                status.id,
                token,
                status.status,
                status.from_cache,
                now_ms,
                &retention,
            );
        }
        if let Some(address) = &step.notification_address {
            inner.set_notification_address(&dev_id, address)?;
        }
        if !alerts.is_empty() {
            inner.push_alerts(&dev_id, alerts, &retention)?;
        }
        inner.mark_sent(&claimed, token, now_ms);
        if state.is_ended() {
            let end = SessionEnd::of_state(SessionOutcome::Completed, &state, now_ms);
            inner.end_session(token, &dev_id, &end, &retention);
            Ok(StepOutcome::Completed)
        } else {
            let mut next = record;
            next.version += 1;
            next.state = state;
            let version = next.version;
            inner.sessions.insert(token, next);
            Ok(StepOutcome::Saved { version })
        }
    }

    async fn put_api_key(&self, key: ApiKeyRecord) -> Result<bool, Error> {
        let mut inner = self.lock();
        if inner.api_keys.contains_key(&key.id) {
            return Ok(false);
        }
        inner.api_keys.insert(key.id.clone(), key);
        Ok(true)
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, Error> {
        Ok(self.lock().api_keys.get(id).cloned())
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, Error> {
        Ok(self.lock().api_keys.values().cloned().collect())
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at_ms: u64) -> Result<bool, Error> {
        let mut inner = self.lock();
        let Some(key) = inner.api_keys.get_mut(id) else {
            return Ok(false);
        };
        key.revoked_ms.get_or_insert(at_ms);
        Ok(true)
    }

    async fn record_api_key_use(&self, id: &ApiKeyId, at_ms: u64) -> Result<(), Error> {
        if let Some(key) = self.lock().api_keys.get_mut(id) {
            key.last_used_ms = Some(key.last_used_ms.map_or(at_ms, |t| t.max(at_ms)));
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Alerts as the store keeps them (see [`Retention`](crate::Retention)).
    fn encode_alerts(&self, dev_id: &DevId, alerts: Vec<AlertRecord>) -> Vec<StoredAlert> {
        alerts
            .into_iter()
            .filter_map(|record| StoredAlert::new(dev_id, record, self.retention.alert_data_bytes))
            .collect()
    }
}

/// The single steps, for the methods above and for the session step.
impl Inner {
    /// Up to `max` of a device's queued commands, oldest first (unchanged).
    fn claimable(&self, dev_id: &DevId, max: usize) -> Result<Vec<(CommandId, Command)>, Error> {
        let device = self
            .devices
            .get(dev_id)
            .ok_or_else(|| unknown_device(dev_id))?;
        Ok(device
            .activity
            .iter()
            .flat_map(|a| a.pending.iter())
            .filter_map(|id| {
                let command = self.commands.get(id)?;
                (command.state == CommandState::Queued).then(|| (*id, command.command.clone()))
            })
            .take(max)
            .collect())
    }

    /// Marks claimed commands `sent` in `session`.
    fn mark_sent(&mut self, claimed: &[(CommandId, Command)], session: SessionToken, now_ms: u64) {
        for (id, _) in claimed {
            if let Some(command) = self.commands.get_mut(id) {
                command.state = CommandState::Sent;
                command.session = Some(session);
                command.updated_ms = now_ms;
            }
        }
    }

    fn keep_instances(
        &mut self,
        dev_id: &DevId,
        instances: &[CachedInstance],
        retention: &Retention,
    ) -> Result<(), Error> {
        let device = self.device_mut(dev_id)?;
        let cache = device.cache.get_or_insert_with(Box::default);
        for instance in instances {
            cache.keep(dev_id, instance, retention);
        }
        if cache.instances.is_empty() {
            device.cache = None;
        }
        Ok(())
    }

    fn push_alerts(
        &mut self,
        dev_id: &DevId,
        alerts: Vec<StoredAlert>,
        retention: &Retention,
    ) -> Result<(), Error> {
        let activity = self.device_mut(dev_id)?.activity();
        for alert in alerts {
            activity.push_alert(alert, retention);
        }
        Ok(())
    }

    fn set_notification_address(&mut self, dev_id: &DevId, address: &str) -> Result<(), Error> {
        let device = self.device_mut(dev_id)?;
        let notification = device.notification.get_or_insert_with(Box::default);
        if notification.address.as_deref() != Some(address) {
            notification.address = Some(address.to_owned());
        }
        Ok(())
    }

    /// `mos` already capped.
    fn begin(
        &mut self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        retention: &Retention,
    ) -> Result<(), Error> {
        let device = self.device_mut(dev_id)?;
        let kept = retention.sessions.max(1);
        let sessions: Vec<SessionSummary> = std::iter::once(summary)
            .chain(device.sessions.take().into_iter().flat_map(Vec::from))
            .take(kept)
            .collect();
        device.sessions = Some(sessions.into_boxed_slice());
        if let Some(mos) = mos {
            device.mos = Some(mos.into_boxed_slice());
        }
        Ok(())
    }

    /// What [`Store::open_session`] refuses: a token in use, `max_open`
    /// reached, an unknown device.
    fn check_opening(&self, record: &SessionRecord, max_open: usize) -> Result<(), Error> {
        if self.sessions.contains_key(&record.token) {
            return Err(Error::SessionExists(record.token.public_id()));
        }
        if self.sessions.len() >= max_open {
            return Err(Error::Busy {
                open_sessions: self.sessions.len(),
            });
        }
        if !self.devices.contains_key(record.dev_id()) {
            return Err(unknown_device(record.dev_id()));
        }
        Ok(())
    }

    /// Records a session [`Inner::check_opening`] accepted.
    fn open(&mut self, record: SessionRecord) -> Result<(), Error> {
        let device = self.device_mut(record.dev_id())?;
        let mut open = device.open_sessions().to_vec();
        open.push(record.token);
        device.set_open_sessions(open);
        self.sessions.insert(record.token, record);
        Ok(())
    }

    /// What [`Store::save_session`] refuses.
    fn check_version(&self, token: SessionToken, expected_version: u64) -> Result<(), Error> {
        match self.sessions.get(&token) {
            None => Err(Error::SessionNotFound(token.public_id())),
            Some(stored) if stored.version != expected_version => Err(Error::SessionVersion {
                session: token.public_id(),
                expected: expected_version,
            }),
            Some(_) => Ok(()),
        }
    }
}
