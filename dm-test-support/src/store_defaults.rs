//! [`Defaults`]: a [`MemoryStore`] whose compound operations are the
//! `Store` trait's defaults, composed of its single operations, so that the
//! conformance suite checks those defaults too (as a store that implements
//! only the required methods gets them).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use bytes::Bytes;

use dm_server::bootstrap::BootstrapProfile;
use dm_server::{
    AlertRecord, ApiKeyId, ApiKeyRecord, ArtifactId, ArtifactRecord, BootstrapDevice,
    BootstrapOutcomeRecord, BootstrapSessionRecord, CampaignDevice, CampaignId, CampaignRecord,
    CampaignSpec, CampaignStatus, CommandId, CommandRecord, DevicePage, DeviceQuery, DeviceRecord,
    DeviceRegistration, Error, GroupId, GroupRecord, MemoryStore, PasswordCredentials,
    PskCredentials, PskIdentity, RepositoryObject, SessionEnd, SessionRecord, SessionSummary,
    SessionToken, StageCounts, Store, Tag, UpdateState,
};
use dm_server::{
    EventBounds, EventFilter, EventRecord, NewEvent, WebhookId, WebhookRecord, WebhookSpec,
};
use dm_session::CachedInstance;
use dm_types::{Command, DevId, Miid, Moid, MosEntry, Status};

/// A [`MemoryStore`] that forwards only the methods a `Store` must
/// implement: its batch registration, session steps and compound reads are
/// the trait's defaults.
///
/// ```no_run
/// # async fn example() {
/// use dm_server::MemoryStore;
/// use dm_test_support::store::run;
/// use dm_test_support::store_defaults::Defaults;
///
/// run(|retention| async move { Defaults(MemoryStore::new().with_retention(retention)) }).await;
/// # }
/// ```
#[derive(Debug)]
pub struct Defaults(pub MemoryStore);

impl Store for Defaults {
    fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.register_device(registration, replace, now_ms)
    }

    fn remove_device(&self, dev_id: &DevId) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.remove_device(dev_id)
    }

    fn device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Error>> + Send {
        self.0.device(dev_id)
    }

    fn devices(
        &self,
        query: &DeviceQuery,
    ) -> impl Future<Output = Result<DevicePage, Error>> + Send {
        self.0.devices(query)
    }

    fn device_count(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        self.0.device_count()
    }

    fn credentials_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<(DevId, PasswordCredentials)>, Error>> + Send {
        self.0.credentials_by_username(username)
    }

    fn device_by_certificate(
        &self,
        sha256: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DevId>, Error>> + Send {
        self.0.device_by_certificate(sha256)
    }

    fn psk_by_identity(
        &self,
        identity: &PskIdentity,
    ) -> impl Future<Output = Result<Option<(DevId, PskCredentials)>, Error>> + Send {
        self.0.psk_by_identity(identity)
    }

    fn set_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.set_notification_address(dev_id, address)
    }

    fn next_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send {
        self.0.next_notification_id(dev_id)
    }

    fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> impl Future<Output = Result<CommandId, Error>> + Send {
        self.0.enqueue_command(dev_id, command, now_ms)
    }

    fn command(
        &self,
        id: CommandId,
    ) -> impl Future<Output = Result<Option<CommandRecord>, Error>> + Send {
        self.0.command(id)
    }

    fn commands(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, Error>> + Send {
        self.0.commands(dev_id)
    }

    fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<(CommandId, Command)>, Error>> + Send {
        self.0.claim_commands(dev_id, session, max, now_ms)
    }

    fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.release_commands(dev_id, session, ids, now_ms)
    }

    fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.record_result(id, session, result, now_ms)
    }

    fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.record_cached_result(id, session, result, now_ms)
    }

    fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.record_cached_instances(dev_id, instances)
    }

    fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> impl Future<Output = Result<Option<CachedInstance>, Error>> + Send {
        self.0.cached_instance(dev_id, moid, miid)
    }

    fn record_alerts(
        &self,
        dev_id: &DevId,
        alerts: Vec<AlertRecord>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.record_alerts(dev_id, alerts)
    }

    fn alerts(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, Error>> + Send {
        self.0.alerts(dev_id)
    }

    fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.begin_session(dev_id, summary, mos, now_ms)
    }

    fn open_session(
        &self,
        record: SessionRecord,
        max_open: usize,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.open_session(record, max_open)
    }

    fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.save_session(record, expected_version)
    }

    fn session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Error>> + Send {
        self.0.session(token)
    }

    fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.end_session(token, dev_id, end)
    }

    fn expire_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, Error>> + Send {
        self.0.expire_sessions(now_ms)
    }

    fn open_sessions(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        self.0.open_sessions()
    }

    fn queued_command_count(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        self.0.queued_command_count()
    }

    fn put_object(
        &self,
        path: &str,
        object: RepositoryObject,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.put_object(path, object)
    }

    fn repository_room(
        &self,
        dev_id: &DevId,
        path: &str,
    ) -> impl Future<Output = Result<Option<usize>, Error>> + Send {
        self.0.repository_room(dev_id, path)
    }

    fn object(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<RepositoryObject>, Error>> + Send {
        self.0.object(path)
    }

    fn delete_object(&self, path: &str) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.delete_object(path)
    }

    fn server_key(&self) -> impl Future<Output = Result<[u8; 32], Error>> + Send {
        self.0.server_key()
    }

    fn flush(&self) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.flush()
    }

    fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.use_digest_nonce(dev_id, nonce, issued_ms, nc)
    }

    // Bootstrap state has no default: forwarded.
    fn put_bootstrap_profile(
        &self,
        profile: BootstrapProfile,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.put_bootstrap_profile(profile)
    }

    fn bootstrap_profiles(
        &self,
    ) -> impl Future<Output = Result<Vec<BootstrapProfile>, Error>> + Send {
        self.0.bootstrap_profiles()
    }

    fn remove_bootstrap_profile(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.remove_bootstrap_profile(name)
    }

    fn put_bootstrap_device(
        &self,
        device: BootstrapDevice,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.put_bootstrap_device(device)
    }

    fn bootstrap_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<BootstrapDevice>, Error>> + Send {
        self.0.bootstrap_device(dev_id)
    }

    fn bootstrap_device_by_psk_identity(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<Option<BootstrapDevice>, Error>> + Send {
        self.0.bootstrap_device_by_psk_identity(identity)
    }

    fn remove_bootstrap_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.remove_bootstrap_device(dev_id)
    }

    fn set_bootstrap_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.set_bootstrap_notification_address(dev_id, address)
    }

    fn next_bootstrap_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send {
        self.0.next_bootstrap_notification_id(dev_id)
    }

    fn save_bootstrap_session(
        &self,
        session: BootstrapSessionRecord,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.save_bootstrap_session(session)
    }

    fn bootstrap_session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<BootstrapSessionRecord>, Error>> + Send {
        self.0.bootstrap_session(token)
    }

    fn take_bootstrap_account_data(
        &self,
        data_token: SessionToken,
        binding: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<(DevId, String)>, Error>> + Send {
        self.0
            .take_bootstrap_account_data(data_token, binding, now_ms)
    }

    fn end_bootstrap_session(
        &self,
        token: SessionToken,
        outcome: BootstrapOutcomeRecord,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.end_bootstrap_session(token, outcome)
    }

    fn expire_bootstrap_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<BootstrapSessionRecord>, Error>> + Send {
        self.0.expire_bootstrap_sessions(now_ms)
    }

    fn bootstrap_outcomes(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<BootstrapOutcomeRecord>, Error>> + Send {
        self.0.bootstrap_outcomes(dev_id)
    }

    fn create_campaign(
        &self,
        spec: CampaignSpec,
        members: Vec<(DevId, u32)>,
        now_ms: u64,
    ) -> impl Future<Output = Result<CampaignRecord, Error>> + Send {
        self.0.create_campaign(spec, members, now_ms)
    }

    fn campaign(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = Result<Option<CampaignRecord>, Error>> + Send {
        self.0.campaign(id)
    }

    fn campaigns(&self) -> impl Future<Output = Result<Vec<CampaignRecord>, Error>> + Send {
        self.0.campaigns()
    }

    fn update_campaign(
        &self,
        id: CampaignId,
        expected_version: u64,
        status: CampaignStatus,
        stage: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<CampaignRecord, Error>> + Send {
        self.0
            .update_campaign(id, expected_version, status, stage, now_ms)
    }

    fn campaign_counts(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = Result<Vec<StageCounts>, Error>> + Send {
        self.0.campaign_counts(id)
    }

    fn campaign_devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send {
        self.0.campaign_devices(id, state, after, limit)
    }

    fn campaign_device(
        &self,
        id: CampaignId,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<CampaignDevice>, Error>> + Send {
        self.0.campaign_device(id, dev_id)
    }

    fn active_campaign_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<CampaignDevice>, Error>> + Send {
        self.0.active_campaign_device(dev_id)
    }

    fn due_campaign_devices(
        &self,
        id: CampaignId,
        max_stage: u32,
        now_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send {
        self.0.due_campaign_devices(id, max_stage, now_ms, limit)
    }

    fn stale_campaign_devices(
        &self,
        id: CampaignId,
        updated_before_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send {
        self.0.stale_campaign_devices(id, updated_before_ms, limit)
    }

    fn advance_campaign_device(
        &self,
        row: &CampaignDevice,
        expected: (UpdateState, u32),
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.advance_campaign_device(row, expected, now_ms)
    }

    fn skip_pending_campaign_devices(
        &self,
        id: CampaignId,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        self.0.skip_pending_campaign_devices(id, now_ms)
    }

    fn lease_campaign(
        &self,
        id: CampaignId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.lease_campaign(id, node, now_ms, until_ms)
    }

    fn put_artifact(
        &self,
        record: ArtifactRecord,
        content: Option<Bytes>,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.put_artifact(record, content)
    }

    fn artifact(
        &self,
        id: &ArtifactId,
    ) -> impl Future<Output = Result<Option<ArtifactRecord>, Error>> + Send {
        self.0.artifact(id)
    }

    fn artifacts(&self) -> impl Future<Output = Result<Vec<ArtifactRecord>, Error>> + Send {
        self.0.artifacts()
    }

    fn artifact_range(
        &self,
        id: &ArtifactId,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Option<Bytes>, Error>> + Send {
        self.0.artifact_range(id, start, end)
    }

    fn remove_artifact(&self, id: &ArtifactId) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.remove_artifact(id)
    }

    fn put_group(&self, group: GroupRecord) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.put_group(group)
    }

    fn group(
        &self,
        id: &GroupId,
    ) -> impl Future<Output = Result<Option<GroupRecord>, Error>> + Send {
        self.0.group(id)
    }

    fn groups(&self) -> impl Future<Output = Result<Vec<GroupRecord>, Error>> + Send {
        self.0.groups()
    }

    fn remove_group(&self, id: &GroupId) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.remove_group(id)
    }

    fn set_device_tags(
        &self,
        dev_id: &DevId,
        tags: BTreeSet<Tag>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.set_device_tags(dev_id, tags)
    }

    fn record_devinfo(
        &self,
        dev_id: &DevId,
        values: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.record_devinfo(dev_id, values)
    }

    fn put_api_key(&self, key: ApiKeyRecord) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.put_api_key(key)
    }

    fn api_key(
        &self,
        id: &ApiKeyId,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, Error>> + Send {
        self.0.api_key(id)
    }

    fn api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRecord>, Error>> + Send {
        self.0.api_keys()
    }

    fn revoke_api_key(
        &self,
        id: &ApiKeyId,
        at_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.revoke_api_key(id, at_ms)
    }

    fn record_api_key_use(
        &self,
        id: &ApiKeyId,
        at_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.record_api_key_use(id, at_ms)
    }

    // --- events ---

    fn append_events(
        &self,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.append_events(events)
    }

    fn events_after(
        &self,
        after: u64,
        limit: usize,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<EventRecord>, Error>> + Send {
        self.0.events_after(after, limit, filter)
    }

    fn event_bounds(&self) -> impl Future<Output = Result<EventBounds, Error>> + Send {
        self.0.event_bounds()
    }

    fn prune_events(
        &self,
        keep: u64,
        before_ms: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        self.0.prune_events(keep, before_ms)
    }

    fn create_webhook(
        &self,
        spec: WebhookSpec,
        now_ms: u64,
    ) -> impl Future<Output = Result<WebhookRecord, Error>> + Send {
        self.0.create_webhook(spec, now_ms)
    }

    fn webhooks(&self) -> impl Future<Output = Result<Vec<WebhookRecord>, Error>> + Send {
        self.0.webhooks()
    }

    fn remove_webhook(&self, id: WebhookId) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.remove_webhook(id)
    }

    fn lease_webhook(
        &self,
        id: WebhookId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, Error>> + Send {
        self.0.lease_webhook(id, node, now_ms, until_ms)
    }

    fn advance_webhook(
        &self,
        id: WebhookId,
        node: &str,
        cursor: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        self.0.advance_webhook(id, node, cursor)
    }
}
