//! [`SqlStore`]: the [`Store`](crate::Store) over a [`Backend`], each method
//! one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dm_session::CachedInstance;
use dm_types::{Command, DevId, Miid, Moid, MosEntry, Status};

use super::rows::scalar;
use super::{
    Access, Backend, BoxFuture, Connection, Dialect, Work, alerts, api_keys, artifacts, bootstrap,
    cache, campaigns, commands, devices, digest, events, migrate, objects, sessions, steps,
};
use crate::bootstrap::BootstrapProfile;
use crate::store::{
    AlertRecord, CommandId, CommandRecord, CredentialsAndSession, DeviceRecord, DeviceRegistration,
    PasswordCredentials, PskCredentials, PskIdentity, RepositoryObject, Respond, SessionEnd,
    SessionRecord, SessionStep, SessionSummary, SessionToken, StepOutcome, StepPackage, Store,
};
use crate::store::{ApiKeyId, ApiKeyRecord};
use crate::store::{ArtifactId, ArtifactRecord, GroupId, GroupRecord, Tag, cap_mos, check_content};
use crate::store::{BootstrapDevice, BootstrapOutcomeRecord, BootstrapSessionRecord};
use crate::store::{
    CampaignDevice, CampaignId, CampaignRecord, CampaignSpec, CampaignStatus, StageCounts,
    UpdateState,
};
use crate::store::{DevicePage, DeviceQuery};
use crate::store::{
    EventBounds, EventFilter, EventRecord, NewEvent, WebhookId, WebhookRecord, WebhookSpec,
};
use crate::{Error, Retention};

/// The [`Store`](crate::Store) of a transactional database: every method
/// is one transaction of its [`Backend`], so that several server nodes can
/// share the database (on PostgreSQL) and an acknowledged write survives a
/// crash.
///
/// [`SqlStore::open`] brings the schema to the newest version this program
/// knows (all pending migrations in one transaction) and refuses a newer
/// one ([`Error::SchemaTooNew`]). It keeps what [`Retention`] allows per
/// device, as [`MemoryStore`](crate::MemoryStore) does, and behaves the same
/// way in every other respect.
///
/// The SQLite backend is [`SqliteBackend`](super::SqliteBackend) (the
/// `sqlite` feature, on by default; see [`SqliteStore`](super::SqliteStore)),
/// the PostgreSQL one lives in the `dm-store-postgres` crate.
#[derive(Debug)]
pub struct SqlStore<B: Backend> {
    pub(super) backend: B,
    pub(super) dialect: Dialect,
    pub(super) retention: Retention,
    transactions: AtomicU64,
    latency: crate::metrics::StoreLatency,
}

impl<B: Backend> SqlStore<B> {
    /// A store on `backend`, its schema migrated to the newest version
    /// (created in an empty database). A database whose schema is newer
    /// than this program is [`Error::SchemaTooNew`]; one that cannot be
    /// reached is [`Error::StoreUnavailable`].
    pub async fn open(backend: B) -> Result<SqlStore<B>, Error> {
        let dialect = backend.dialect();
        let store = SqlStore {
            backend,
            dialect,
            retention: Retention::default(),
            transactions: AtomicU64::new(0),
            latency: crate::metrics::StoreLatency::default(),
        };
        store
            .run(Access::Write, migrate::migration(dialect))
            .await?;
        Ok(store)
    }

    /// Sets how much history is kept per device (applied as history grows).
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How much history the store keeps per device.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The SQL dialect of its backend.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The backend the store runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// How many transactions the store ran so far (the migration at
    /// [`SqlStore::open`] included): each [`Store`](crate::Store) method
    /// runs at most one, so this counts round trips of whole steps.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Runs `work` in one transaction.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        access: Access,
        work: Work<T>,
    ) -> Result<T, Error> {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let result = self.backend.transaction(access, work).await;
        let histogram = match access {
            Access::Read => &self.latency.read,
            Access::Write => &self.latency.write,
        };
        histogram.observe(started.elapsed());
        result
    }
}

/// Boxes a transaction's work: `f` is called with the connection and
/// returns the boxed future of its statements (cloning what it captured, as
/// it may run again).
fn work<T, F>(f: F) -> Work<T>
where
    F: for<'c> FnMut(&'c mut dyn Connection) -> BoxFuture<'c, Result<T, Error>> + Send + 'static,
{
    Box::new(f)
}

impl<B: Backend> Store for SqlStore<B> {
    async fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> Result<(), Error> {
        let d = self.dialect;
        self.run(
            Access::Write,
            work(move |c| {
                let registration = registration.clone();
                Box::pin(
                    async move { devices::register(c, d, &registration, replace, now_ms).await },
                )
            }),
        )
        .await
    }

    async fn register_devices(
        &self,
        registrations: Vec<DeviceRegistration>,
        now_ms: u64,
    ) -> Result<(), Error> {
        if registrations.is_empty() {
            return Ok(());
        }
        let registrations = Arc::new(registrations);
        self.run(
            Access::Write,
            work(move |c| {
                let registrations = registrations.clone();
                Box::pin(async move { devices::register_batch(c, &registrations, now_ms).await })
            }),
        )
        .await
    }

    async fn remove_device(&self, dev_id: &DevId) -> Result<bool, Error> {
        let (d, dev_id) = (self.dialect, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { devices::remove(c, d, &dev_id).await })
            }),
        )
        .await
    }

    async fn device(&self, dev_id: &DevId) -> Result<Option<DeviceRecord>, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { devices::device(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn devices(&self, query: &DeviceQuery) -> Result<DevicePage, Error> {
        let query = query.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let query = query.clone();
                Box::pin(async move { devices::devices(c, &query).await })
            }),
        )
        .await
    }

    async fn device_count(&self) -> Result<usize, Error> {
        self.run(
            Access::Read,
            work(|c| {
                Box::pin(async move {
                    let rows = c.query("SELECT COUNT(*) FROM devices", &[]).await?;
                    Ok(usize::try_from(scalar(&rows, "devices")?).unwrap_or(0))
                })
            }),
        )
        .await
    }

    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<(DevId, PasswordCredentials)>, Error> {
        let username = username.to_owned();
        self.run(
            Access::Read,
            work(move |c| {
                let username = username.clone();
                Box::pin(async move { devices::credentials_by_username(c, &username).await })
            }),
        )
        .await
    }

    async fn device_by_certificate(&self, sha256: &[u8; 32]) -> Result<Option<DevId>, Error> {
        let sha256 = *sha256;
        self.run(
            Access::Read,
            work(move |c| Box::pin(async move { devices::by_certificate(c, &sha256).await })),
        )
        .await
    }

    async fn psk_by_identity(
        &self,
        identity: &PskIdentity,
    ) -> Result<Option<(DevId, PskCredentials)>, Error> {
        let identity = identity.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let identity = identity.clone();
                Box::pin(async move { devices::psk_by_identity(c, &identity).await })
            }),
        )
        .await
    }

    async fn set_notification_address(&self, dev_id: &DevId, address: &str) -> Result<(), Error> {
        let (dev_id, address) = (dev_id.clone(), address.to_owned());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, address) = (dev_id.clone(), address.clone());
                Box::pin(
                    async move { devices::set_notification_address(c, &dev_id, &address).await },
                )
            }),
        )
        .await
    }

    async fn next_notification_id(&self, dev_id: &DevId) -> Result<u16, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Write,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { devices::next_notification_id(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> Result<CommandId, Error> {
        let (d, dev_id) = (self.dialect, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, command) = (dev_id.clone(), command.clone());
                Box::pin(async move { commands::enqueue(c, d, &dev_id, &command, now_ms).await })
            }),
        )
        .await
    }

    async fn command(&self, id: CommandId) -> Result<Option<CommandRecord>, Error> {
        self.run(
            Access::Read,
            work(move |c| Box::pin(async move { commands::command(c, id).await })),
        )
        .await
    }

    async fn commands(&self, dev_id: &DevId) -> Result<Vec<CommandRecord>, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { commands::commands(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> Result<Vec<(CommandId, Command)>, Error> {
        let (d, dev_id) = (self.dialect, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { commands::claim(c, d, &dev_id, session, max, now_ms).await })
            }),
        )
        .await
    }

    async fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let (d, dev_id) = (self.dialect, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, ids) = (dev_id.clone(), ids.clone());
                Box::pin(
                    async move { commands::release(c, d, &dev_id, session, &ids, now_ms).await },
                )
            }),
        )
        .await
    }

    async fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> Result<(), Error> {
        self.result(id, session, result, false, now_ms).await
    }

    async fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> Result<(), Error> {
        self.result(id, session, result, true, now_ms).await
    }

    async fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> Result<(), Error> {
        if instances.is_empty() {
            return Ok(());
        }
        let (d, retention, dev_id) = (self.dialect, self.retention, dev_id.clone());
        let encoded = cache::encode(&instances);
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, encoded) = (dev_id.clone(), encoded.clone());
                Box::pin(async move { cache::record(c, d, &dev_id, &encoded, &retention).await })
            }),
        )
        .await
    }

    async fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> Result<Option<CachedInstance>, Error> {
        let (dev_id, moid, miid) = (dev_id.clone(), moid.clone(), miid.clone());
        self.run(
            Access::Read,
            work(move |c| {
                let (dev_id, moid, miid) = (dev_id.clone(), moid.clone(), miid.clone());
                Box::pin(async move { cache::instance(c, &dev_id, &moid, &miid).await })
            }),
        )
        .await
    }

    async fn record_alerts(&self, dev_id: &DevId, alerts: Vec<AlertRecord>) -> Result<(), Error> {
        if alerts.is_empty() {
            return Ok(());
        }
        let (d, retention, dev_id) = (self.dialect, self.retention, dev_id.clone());
        let encoded = alerts::encode(&dev_id, alerts, &retention);
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, encoded) = (dev_id.clone(), encoded.clone());
                Box::pin(async move { alerts::record(c, d, &dev_id, &encoded, &retention).await })
            }),
        )
        .await
    }

    async fn alerts(&self, dev_id: &DevId) -> Result<Vec<AlertRecord>, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { alerts::alerts(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let _ = now_ms;
        let (d, retention, dev_id) = (self.dialect, self.retention, dev_id.clone());
        let mos = mos.map(|mos| cap_mos(&dev_id, mos, &retention));
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, summary, mos) = (dev_id.clone(), summary.clone(), mos.clone());
                Box::pin(async move {
                    sessions::begin(c, d, &dev_id, &summary, mos.as_ref(), &retention).await
                })
            }),
        )
        .await
    }

    async fn open_session(&self, record: SessionRecord, max_open: usize) -> Result<(), Error> {
        let d = self.dialect;
        self.run(
            Access::Write,
            work(move |c| {
                let record = record.clone();
                Box::pin(async move { sessions::open(c, d, &record, max_open).await })
            }),
        )
        .await
    }

    async fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> Result<(), Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let record = record.clone();
                Box::pin(async move { sessions::save(c, &record, expected_version).await })
            }),
        )
        .await
    }

    async fn session(&self, token: SessionToken) -> Result<Option<SessionRecord>, Error> {
        self.run(
            Access::Read,
            work(move |c| Box::pin(async move { sessions::session(c, token).await })),
        )
        .await
    }

    async fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> Result<(), Error> {
        let (d, retention, dev_id) = (self.dialect, self.retention, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, end) = (dev_id.clone(), end.clone());
                Box::pin(async move { sessions::end(c, d, token, &dev_id, &end, &retention).await })
            }),
        )
        .await
    }

    async fn expire_sessions(&self, now_ms: u64) -> Result<Vec<SessionRecord>, Error> {
        let (d, retention) = (self.dialect, self.retention);
        self.run(
            Access::Write,
            work(move |c| {
                Box::pin(async move { sessions::expire(c, d, now_ms, &retention).await })
            }),
        )
        .await
    }

    async fn open_sessions(&self) -> Result<usize, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { sessions::open_count(c).await })),
        )
        .await
    }

    async fn queued_command_count(&self) -> Result<u64, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { commands::queued_count(c).await })),
        )
        .await
    }

    fn latency(&self) -> Option<&crate::metrics::StoreLatency> {
        Some(&self.latency)
    }

    async fn put_object(&self, path: &str, object: RepositoryObject) -> Result<bool, Error> {
        let (d, retention, path) = (self.dialect, self.retention, path.to_owned());
        self.run(
            Access::Write,
            work(move |c| {
                let (path, object) = (path.clone(), object.clone());
                Box::pin(async move { objects::put(c, d, &path, &object, &retention).await })
            }),
        )
        .await
    }

    async fn repository_room(&self, dev_id: &DevId, path: &str) -> Result<Option<usize>, Error> {
        let (retention, dev_id, path) = (self.retention, dev_id.clone(), path.to_owned());
        self.run(
            Access::Read,
            work(move |c| {
                let (dev_id, path) = (dev_id.clone(), path.clone());
                Box::pin(async move { objects::room(c, &dev_id, &path, &retention).await })
            }),
        )
        .await
    }

    async fn object(&self, path: &str) -> Result<Option<RepositoryObject>, Error> {
        let path = path.to_owned();
        self.run(
            Access::Read,
            work(move |c| {
                let path = path.clone();
                Box::pin(async move { objects::object(c, &path).await })
            }),
        )
        .await
    }

    async fn delete_object(&self, path: &str) -> Result<bool, Error> {
        let path = path.to_owned();
        self.run(
            Access::Write,
            work(move |c| {
                let path = path.clone();
                Box::pin(async move { objects::delete(c, &path).await })
            }),
        )
        .await
    }

    async fn put_artifact(
        &self,
        record: ArtifactRecord,
        content: Option<Bytes>,
    ) -> Result<bool, Error> {
        check_content(&record, content.as_deref())?;
        let d = self.dialect;
        self.run(
            Access::Write,
            work(move |c| {
                let (record, content) = (record.clone(), content.clone());
                Box::pin(async move { artifacts::put(c, d, &record, content.as_ref()).await })
            }),
        )
        .await
    }

    async fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, Error> {
        let id = id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { artifacts::artifact(c, &id).await })
            }),
        )
        .await
    }

    async fn artifacts(&self) -> Result<Vec<ArtifactRecord>, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { artifacts::artifacts(c).await })),
        )
        .await
    }

    async fn artifact_range(
        &self,
        id: &ArtifactId,
        start: u64,
        end: u64,
    ) -> Result<Option<Bytes>, Error> {
        let id = id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { artifacts::range(c, &id, start, end).await })
            }),
        )
        .await
    }

    async fn remove_artifact(&self, id: &ArtifactId) -> Result<bool, Error> {
        let id = id.clone();
        self.run(
            Access::Write,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { artifacts::remove(c, &id).await })
            }),
        )
        .await
    }

    async fn put_group(&self, group: GroupRecord) -> Result<bool, Error> {
        let d = self.dialect;
        self.run(
            Access::Write,
            work(move |c| {
                let group = group.clone();
                Box::pin(async move { artifacts::put_group(c, d, &group).await })
            }),
        )
        .await
    }

    async fn group(&self, id: &GroupId) -> Result<Option<GroupRecord>, Error> {
        let id = id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { artifacts::group(c, &id).await })
            }),
        )
        .await
    }

    async fn groups(&self) -> Result<Vec<GroupRecord>, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { artifacts::groups(c).await })),
        )
        .await
    }

    async fn remove_group(&self, id: &GroupId) -> Result<bool, Error> {
        let id = id.clone();
        self.run(
            Access::Write,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { artifacts::remove_group(c, &id).await })
            }),
        )
        .await
    }

    async fn set_device_tags(&self, dev_id: &DevId, tags: BTreeSet<Tag>) -> Result<(), Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, tags) = (dev_id.clone(), tags.clone());
                Box::pin(async move { artifacts::set_tags(c, &dev_id, &tags).await })
            }),
        )
        .await
    }

    async fn record_devinfo(
        &self,
        dev_id: &DevId,
        values: BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let (d, dev_id) = (self.dialect, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, values) = (dev_id.clone(), values.clone());
                Box::pin(async move { artifacts::record_devinfo(c, d, &dev_id, &values).await })
            }),
        )
        .await
    }

    async fn put_bootstrap_profile(&self, profile: BootstrapProfile) -> Result<bool, Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let profile = profile.clone();
                Box::pin(async move { bootstrap::put_profile(c, &profile).await })
            }),
        )
        .await
    }

    async fn bootstrap_profiles(&self) -> Result<Vec<BootstrapProfile>, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { bootstrap::profiles(c).await })),
        )
        .await
    }

    async fn remove_bootstrap_profile(&self, name: &str) -> Result<bool, Error> {
        let name = name.to_owned();
        self.run(
            Access::Write,
            work(move |c| {
                let name = name.clone();
                Box::pin(async move { bootstrap::remove_profile(c, &name).await })
            }),
        )
        .await
    }

    async fn put_bootstrap_device(&self, device: BootstrapDevice) -> Result<(), Error> {
        let d = self.dialect;
        self.run(
            Access::Write,
            work(move |c| {
                let device = device.clone();
                Box::pin(async move { bootstrap::put_device(c, d, device).await })
            }),
        )
        .await
    }

    async fn bootstrap_device(&self, dev_id: &DevId) -> Result<Option<BootstrapDevice>, Error> {
        let dev_id = dev_id.as_str().to_owned();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { bootstrap::device(c, "dev_id", &dev_id).await })
            }),
        )
        .await
    }

    async fn bootstrap_device_by_psk_identity(
        &self,
        identity: &str,
    ) -> Result<Option<BootstrapDevice>, Error> {
        let identity = identity.to_owned();
        self.run(
            Access::Read,
            work(move |c| {
                let identity = identity.clone();
                Box::pin(async move { bootstrap::device(c, "psk_identity", &identity).await })
            }),
        )
        .await
    }

    async fn remove_bootstrap_device(&self, dev_id: &DevId) -> Result<bool, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Write,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { bootstrap::remove_device(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn set_bootstrap_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> Result<bool, Error> {
        let (d, dev_id, address) = (self.dialect, dev_id.clone(), address.to_owned());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, address) = (dev_id.clone(), address.clone());
                Box::pin(async move { bootstrap::set_address(c, d, &dev_id, &address).await })
            }),
        )
        .await
    }

    async fn next_bootstrap_notification_id(&self, dev_id: &DevId) -> Result<u16, Error> {
        let (d, dev_id) = (self.dialect, dev_id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { bootstrap::next_notification_id(c, d, &dev_id).await })
            }),
        )
        .await
    }

    async fn save_bootstrap_session(&self, session: BootstrapSessionRecord) -> Result<(), Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let session = session.clone();
                Box::pin(async move { bootstrap::save_session(c, &session).await })
            }),
        )
        .await
    }

    async fn bootstrap_session(
        &self,
        token: SessionToken,
    ) -> Result<Option<BootstrapSessionRecord>, Error> {
        self.run(
            Access::Read,
            work(move |c| Box::pin(async move { bootstrap::session(c, token).await })),
        )
        .await
    }

    async fn take_bootstrap_account_data(
        &self,
        data_token: SessionToken,
        binding: &str,
        now_ms: u64,
    ) -> Result<Option<(DevId, String)>, Error> {
        let (d, binding) = (self.dialect, binding.to_owned());
        self.run(
            Access::Write,
            work(move |c| {
                let binding = binding.clone();
                Box::pin(async move {
                    bootstrap::take_account_data(c, d, data_token, &binding, now_ms).await
                })
            }),
        )
        .await
    }

    async fn end_bootstrap_session(
        &self,
        token: SessionToken,
        outcome: BootstrapOutcomeRecord,
    ) -> Result<bool, Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let outcome = outcome.clone();
                Box::pin(async move { bootstrap::end_session(c, token, &outcome).await })
            }),
        )
        .await
    }

    async fn expire_bootstrap_sessions(
        &self,
        now_ms: u64,
    ) -> Result<Vec<BootstrapSessionRecord>, Error> {
        let d = self.dialect;
        self.run(
            Access::Write,
            work(move |c| Box::pin(async move { bootstrap::expire_sessions(c, d, now_ms).await })),
        )
        .await
    }

    async fn bootstrap_outcomes(
        &self,
        dev_id: &DevId,
    ) -> Result<Vec<BootstrapOutcomeRecord>, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { bootstrap::outcomes(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn create_campaign(
        &self,
        spec: CampaignSpec,
        members: Vec<(DevId, u32)>,
        now_ms: u64,
    ) -> Result<CampaignRecord, Error> {
        let (d, spec, members) = (self.dialect, Arc::new(spec), Arc::new(members));
        self.run(
            Access::Write,
            work(move |c| {
                let (spec, members) = (spec.clone(), members.clone());
                Box::pin(async move { campaigns::create(c, d, &spec, &members, now_ms).await })
            }),
        )
        .await
    }

    async fn campaign(&self, id: CampaignId) -> Result<Option<CampaignRecord>, Error> {
        self.run(
            Access::Read,
            work(move |c| Box::pin(async move { campaigns::campaign(c, id).await })),
        )
        .await
    }

    async fn campaigns(&self) -> Result<Vec<CampaignRecord>, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { campaigns::campaigns(c).await })),
        )
        .await
    }

    async fn update_campaign(
        &self,
        id: CampaignId,
        expected_version: u64,
        status: CampaignStatus,
        stage: u32,
        now_ms: u64,
    ) -> Result<CampaignRecord, Error> {
        self.run(
            Access::Write,
            work(move |c| {
                Box::pin(async move {
                    campaigns::update(c, id, expected_version, status, stage, now_ms).await
                })
            }),
        )
        .await
    }

    async fn campaign_counts(&self, id: CampaignId) -> Result<Vec<StageCounts>, Error> {
        self.run(
            Access::Read,
            work(move |c| Box::pin(async move { campaigns::counts(c, id).await })),
        )
        .await
    }

    async fn campaign_devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        let after = after.cloned();
        self.run(
            Access::Read,
            work(move |c| {
                let after = after.clone();
                Box::pin(
                    async move { campaigns::devices(c, id, state, after.as_ref(), limit).await },
                )
            }),
        )
        .await
    }

    async fn campaign_device(
        &self,
        id: CampaignId,
        dev_id: &DevId,
    ) -> Result<Option<CampaignDevice>, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { campaigns::device(c, id, &dev_id).await })
            }),
        )
        .await
    }

    async fn active_campaign_device(
        &self,
        dev_id: &DevId,
    ) -> Result<Option<CampaignDevice>, Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move { campaigns::active_device(c, &dev_id).await })
            }),
        )
        .await
    }

    async fn due_campaign_devices(
        &self,
        id: CampaignId,
        max_stage: u32,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        self.run(
            Access::Read,
            work(move |c| {
                Box::pin(async move { campaigns::due(c, id, max_stage, now_ms, limit).await })
            }),
        )
        .await
    }

    async fn stale_campaign_devices(
        &self,
        id: CampaignId,
        updated_before_ms: u64,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        self.run(
            Access::Read,
            work(move |c| {
                Box::pin(async move { campaigns::stale(c, id, updated_before_ms, limit).await })
            }),
        )
        .await
    }

    async fn advance_campaign_device(
        &self,
        row: &CampaignDevice,
        expected: (UpdateState, u32),
        now_ms: u64,
    ) -> Result<bool, Error> {
        let row = row.clone();
        self.run(
            Access::Write,
            work(move |c| {
                let row = row.clone();
                Box::pin(async move { campaigns::advance(c, &row, expected, now_ms).await })
            }),
        )
        .await
    }

    async fn skip_pending_campaign_devices(
        &self,
        id: CampaignId,
        now_ms: u64,
    ) -> Result<u64, Error> {
        self.run(
            Access::Write,
            work(move |c| Box::pin(async move { campaigns::skip_pending(c, id, now_ms).await })),
        )
        .await
    }

    async fn lease_campaign(
        &self,
        id: CampaignId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, Error> {
        let node = node.to_owned();
        self.run(
            Access::Write,
            work(move |c| {
                let node = node.clone();
                Box::pin(async move { campaigns::lease(c, id, &node, now_ms, until_ms).await })
            }),
        )
        .await
    }

    async fn append_events(&self, events: Vec<NewEvent>) -> Result<(), Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let events = events.clone();
                Box::pin(async move { events::append(c, events).await })
            }),
        )
        .await
    }

    async fn events_after(
        &self,
        after: u64,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Vec<EventRecord>, Error> {
        let filter = filter.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let filter = filter.clone();
                Box::pin(async move { events::after(c, after, limit, &filter).await })
            }),
        )
        .await
    }

    async fn event_bounds(&self) -> Result<EventBounds, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { events::bounds(c).await })),
        )
        .await
    }

    async fn prune_events(&self, keep: u64, before_ms: u64) -> Result<u64, Error> {
        self.run(
            Access::Write,
            work(move |c| Box::pin(async move { events::prune(c, keep, before_ms).await })),
        )
        .await
    }

    async fn create_webhook(&self, spec: WebhookSpec, now_ms: u64) -> Result<WebhookRecord, Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let spec = spec.clone();
                Box::pin(async move { events::create_webhook(c, &spec, now_ms).await })
            }),
        )
        .await
    }

    async fn webhooks(&self) -> Result<Vec<WebhookRecord>, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { events::webhooks(c).await })),
        )
        .await
    }

    async fn remove_webhook(&self, id: WebhookId) -> Result<bool, Error> {
        self.run(
            Access::Write,
            work(move |c| Box::pin(async move { events::remove_webhook(c, id).await })),
        )
        .await
    }

    async fn lease_webhook(
        &self,
        id: WebhookId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<Option<WebhookRecord>, Error> {
        let node = node.to_owned();
        self.run(
            Access::Write,
            work(move |c| {
                let node = node.clone();
                Box::pin(async move { events::lease_webhook(c, id, &node, now_ms, until_ms).await })
            }),
        )
        .await
    }

    async fn advance_webhook(&self, id: WebhookId, node: &str, cursor: u64) -> Result<bool, Error> {
        let node = node.to_owned();
        self.run(
            Access::Write,
            work(move |c| {
                let node = node.clone();
                Box::pin(async move { events::advance_webhook(c, id, &node, cursor).await })
            }),
        )
        .await
    }

    async fn server_key(&self) -> Result<[u8; 32], Error> {
        let fresh: [u8; 32] = crate::util::random()?;
        self.run(
            Access::Write,
            work(move |c| Box::pin(async move { objects::server_key(c, &fresh).await })),
        )
        .await
    }

    async fn flush(&self) -> Result<(), Error> {
        // Every committed transaction is durable already.
        Ok(())
    }

    async fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> Result<bool, Error> {
        let (d, dev_id, nonce) = (self.dialect, dev_id.clone(), nonce.to_owned());
        self.run(
            Access::Write,
            work(move |c| {
                let (dev_id, nonce) = (dev_id.clone(), nonce.clone());
                Box::pin(
                    async move { digest::use_nonce(c, d, &dev_id, &nonce, issued_ms, nc).await },
                )
            }),
        )
        .await
    }

    async fn credentials_and_session(
        &self,
        username: &str,
        token: SessionToken,
    ) -> Result<CredentialsAndSession, Error> {
        let username = username.to_owned();
        self.run(
            Access::Read,
            work(move |c| {
                let username = username.clone();
                Box::pin(async move {
                    let credentials = devices::credentials_by_username(c, &username).await?;
                    Ok((credentials, sessions::session(c, token).await?))
                })
            }),
        )
        .await
    }

    async fn certificate_and_session(
        &self,
        sha256: &[u8; 32],
        token: SessionToken,
    ) -> Result<(Option<DevId>, Option<SessionRecord>), Error> {
        let sha256 = *sha256;
        self.run(
            Access::Read,
            work(move |c| {
                Box::pin(async move {
                    let dev_id = devices::by_certificate(c, &sha256).await?;
                    Ok((dev_id, sessions::session(c, token).await?))
                })
            }),
        )
        .await
    }

    async fn device_and_session(
        &self,
        dev_id: &DevId,
        token: SessionToken,
    ) -> Result<(Option<DeviceRecord>, Option<SessionRecord>), Error> {
        let dev_id = dev_id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let dev_id = dev_id.clone();
                Box::pin(async move {
                    let device = devices::device(c, &dev_id).await?;
                    Ok((device, sessions::session(c, token).await?))
                })
            }),
        )
        .await
    }

    async fn step_session(
        &self,
        step: SessionStep,
        respond: Respond,
    ) -> Result<StepOutcome, Error> {
        let (d, retention) = (self.dialect, self.retention);
        let dev_id = step.record.dev_id().clone();
        let opening = match step.package {
            StepPackage::Package1 {
                summary,
                mos,
                max_open,
            } => Some(steps::Opening {
                summary,
                mos: mos.map(|mos| cap_mos(&dev_id, mos, &retention)),
                max_open,
            }),
            StepPackage::Package3 => None,
        };
        let token = step.record.token;
        let encoded = steps::EncodedStep {
            opening,
            statuses: step
                .statuses
                .into_iter()
                .map(|s| commands::NewResult {
                    id: s.id,
                    session: token,
                    result: s.status,
                    from_cache: s.from_cache,
                    now_ms: step.now_ms,
                })
                .collect(),
            cached_instances: cache::encode(&step.cached_instances),
            alerts: alerts::encode(&dev_id, step.alerts, &retention),
            notification_address: step.notification_address,
            claim: step.claim,
            now_ms: step.now_ms,
            record: step.record,
        };
        let respond = Arc::new(Mutex::new(respond));
        self.run(
            Access::Write,
            work(move |c| {
                let (encoded, respond) = (encoded.clone(), respond.clone());
                Box::pin(async move { steps::step(c, d, &encoded, &respond, &retention).await })
            }),
        )
        .await
    }

    async fn put_api_key(&self, key: ApiKeyRecord) -> Result<bool, Error> {
        self.run(
            Access::Write,
            work(move |c| {
                let key = key.clone();
                Box::pin(async move { api_keys::put(c, &key).await })
            }),
        )
        .await
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, Error> {
        let id = id.clone();
        self.run(
            Access::Read,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { api_keys::get(c, &id).await })
            }),
        )
        .await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, Error> {
        self.run(
            Access::Read,
            work(|c| Box::pin(async move { api_keys::all(c).await })),
        )
        .await
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at_ms: u64) -> Result<bool, Error> {
        let (d, id) = (self.dialect, id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { api_keys::revoke(c, d, &id, at_ms).await })
            }),
        )
        .await
    }

    async fn record_api_key_use(&self, id: &ApiKeyId, at_ms: u64) -> Result<(), Error> {
        let (d, id) = (self.dialect, id.clone());
        self.run(
            Access::Write,
            work(move |c| {
                let id = id.clone();
                Box::pin(async move { api_keys::record_use(c, d, &id, at_ms).await })
            }),
        )
        .await
    }
}

impl<B: Backend> SqlStore<B> {
    /// [`Store::record_result`] and [`Store::record_cached_result`].
    async fn result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        from_cache: bool,
        now_ms: u64,
    ) -> Result<(), Error> {
        let (d, retention) = (self.dialect, self.retention);
        let new = commands::NewResult {
            id,
            session,
            result,
            from_cache,
            now_ms,
        };
        self.run(
            Access::Write,
            work(move |c| {
                let new = new.clone();
                Box::pin(async move { commands::record_result(c, d, &new, &retention).await })
            }),
        )
        .await
    }
}
