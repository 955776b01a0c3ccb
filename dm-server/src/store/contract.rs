//! The [`Store`] trait: the storage of a management server, one atomic
//! step per method.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use bytes::Bytes;

use dm_session::{CachedInstance, SessionState};
use dm_types::{Command, DevId, Miid, Moid, MosEntry, Status};

use super::batch::{Taken, first_conflict};
use super::{
    AlertRecord, ApiKeyId, ApiKeyRecord, ArtifactId, ArtifactRecord, BootstrapDevice,
    BootstrapOutcomeRecord, BootstrapSessionRecord, CampaignDevice, CampaignId, CampaignRecord,
    CampaignSpec, CampaignStatus, CommandId, CommandRecord, CommandStatus, DevicePage, DeviceQuery,
    DeviceRecord, DeviceRegistration, GroupId, GroupRecord, PasswordCredentials, PskCredentials,
    PskIdentity, RepositoryObject, Respond, SessionEnd, SessionOutcome, SessionRecord, SessionStep,
    SessionSummary, SessionToken, StageCounts, StepOutcome, StepPackage, Tag, UpdateState,
};
use super::{
    EventBounds, EventFilter, EventRecord, NewEvent, WebhookId, WebhookRecord, WebhookSpec,
};
use crate::Error;
use crate::bootstrap::BootstrapProfile;

/// The storage of a management server.
///
/// Every method is one atomic step, so that a transactional database can
/// implement the trait and several server nodes can share it. Times are Unix
/// milliseconds passed in by the caller. Methods return
/// [`Error::DeviceNotFound`] for an unknown device, a conflict (409, see
/// [`Error::status`]) for a lost race, [`Error::Store`] for a backend
/// failure.
///
/// Implementations return futures that are `Send`; an `async fn` in the impl
/// block is the usual way to write them.
pub trait Store: Send + Sync + 'static {
    /// Registers a device. An existing device is [`Error::DeviceExists`]
    /// unless `replace` is set: then its credentials, certificate and
    /// notification secret are replaced (and its notification address, when
    /// the registration has one), and its sessions, commands and alerts kept.
    /// A user name, certificate or PSK identity already used by another
    /// device is [`Error::UsernameTaken`], [`Error::CertificateTaken`] or
    /// [`Error::PskIdentityTaken`].
    fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Registers a batch of new devices, all or nothing: when one of them
    /// cannot be registered, none is, and the error is the one registering
    /// them in order with [`Store::register_device`] (without `replace`)
    /// would have stopped at ([`Error::DeviceExists`],
    /// [`Error::UsernameTaken`], [`Error::CertificateTaken`], [`Error::PskIdentityTaken`]; two
    /// registrations of the batch conflict with each other the same way).
    ///
    /// The default implementation looks every registration up, then
    /// registers them one at a time: all or nothing against what was
    /// registered before the call, not against a registration racing it. A
    /// transactional store overrides it (the SQL store writes the batch in
    /// one transaction, [`MemoryStore`](crate::MemoryStore) under one lock).
    fn register_devices(
        &self,
        registrations: Vec<DeviceRegistration>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async move {
            let mut taken = Taken::default();
            for registration in &registrations {
                let dev_id = &registration.dev_id;
                if self.device(dev_id).await?.is_some() {
                    taken.devices.insert(dev_id.clone());
                }
                if let Some(credentials) = &registration.credentials
                    && let Some((owner, _)) =
                        self.credentials_by_username(&credentials.username).await?
                {
                    taken.usernames.insert(credentials.username.clone(), owner);
                }
                if let Some(certificate) = &registration.certificate_sha256
                    && let Some(owner) = self.device_by_certificate(certificate).await?
                {
                    taken.certificates.insert(*certificate, owner);
                }
                if let Some(psk) = &registration.psk
                    && let Some((owner, _)) = self.psk_by_identity(&psk.identity).await?
                {
                    taken.psk_identities.insert(psk.identity.clone(), owner);
                }
            }
            if let Some(conflict) = first_conflict(&registrations, &taken) {
                return Err(conflict);
            }
            for registration in registrations {
                self.register_device(registration, false, now_ms).await?;
            }
            Ok(())
        }
    }

    /// Removes a device with its commands, alerts, open session and cached
    /// instances; `false`
    /// if it was not registered.
    fn remove_device(&self, dev_id: &DevId) -> impl Future<Output = Result<bool, Error>> + Send;

    /// A device's record.
    fn device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Error>> + Send;

    // --- devices ---

    /// A page of devices in DevID order (byte order): those the query
    /// selects ([`DeviceQuery`]: a DevID prefix, after a DevID), at most
    /// its limit, with their open sessions, read in one step. A store reads
    /// a range of its DevID index (never every device) and the open
    /// sessions of the page at once (never one device at a time).
    fn devices(
        &self,
        query: &DeviceQuery,
    ) -> impl Future<Output = Result<DevicePage, Error>> + Send;

    /// How many devices are registered.
    fn device_count(&self) -> impl Future<Output = Result<usize, Error>> + Send;

    /// The device and credentials registered under a user name.
    fn credentials_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<(DevId, PasswordCredentials)>, Error>> + Send;

    /// The device registered with this client certificate fingerprint.
    fn device_by_certificate(
        &self,
        sha256: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DevId>, Error>> + Send;

    /// The device and PSK-TLS credentials registered under a PSK identity
    /// (the OpenSSL backend's handshake reads the key here; authentication
    /// the device).
    fn psk_by_identity(
        &self,
        identity: &PskIdentity,
    ) -> impl Future<Output = Result<Option<(DevId, PskCredentials)>, Error>> + Send;

    /// Records where a device listens for Package#0.
    fn set_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Takes the next NOTIFICATION-ID of a device (incrementing, wrapping
    /// from 65535 to 1).
    fn next_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send;

    /// Queues a command for a device's next Package#2.
    fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> impl Future<Output = Result<CommandId, Error>> + Send;

    /// A command's record.
    fn command(
        &self,
        id: CommandId,
    ) -> impl Future<Output = Result<Option<CommandRecord>, Error>> + Send;

    /// A device's commands: those pending (queued or sent) in queue order,
    /// then the finished ones the store retains, oldest first.
    fn commands(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, Error>> + Send;

    /// Atomically moves up to `max` of a device's queued commands, oldest
    /// first, to `sent` in `session`, and returns them. The server claims
    /// only for a session already recorded ([`Store::open_session`]), so
    /// that a claim outlived by its node still ends: the session expires
    /// and its `sent` commands fail.
    fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<(CommandId, Command)>, Error>> + Send;

    /// Returns commands claimed in `session` that are still `sent` to
    /// `queued`, in their place in the queue: the Package#2 that was to
    /// carry them was never delivered (its session lost a race, or the
    /// store failed while it was being built). Others are left alone.
    fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records the status of a command sent in `session`: it becomes `done`.
    /// Idempotent: recording a result for a command that is no longer `sent`
    /// in that session changes nothing.
    fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records a status answered from the cache: as
    /// [`Store::record_result`] (the same idempotence), and the command's
    /// record says [`CommandRecord::from_cache`]. The server calls it for a
    /// `304` whose data it filled in from [`Store::cached_instance`].
    fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Keeps, per device and MO instance (MOID + MIID), the data of the
    /// last GET of the instance's root the device answered with a cache
    /// validator (docs/protocol.md section 8), replacing what was kept for
    /// that instance. A store may bound what it keeps per device (in number
    /// and bytes, forgetting the least recently received first; see
    /// [`Retention`](crate::Retention) for the embedded store); an instance it cannot keep is
    /// forgotten, never left with older data.
    fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The data kept for one MO instance of a device, with the validator
    /// it came with.
    fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> impl Future<Output = Result<Option<CachedInstance>, Error>> + Send;

    /// Appends alerts received from a device. A store may bound what it
    /// keeps per device (in number and bytes, forgetting the oldest first)
    /// and store an oversized alert without its `Data` (see [`Retention`](crate::Retention)
    /// for the embedded store).
    fn record_alerts(
        &self,
        dev_id: &DevId,
        alerts: Vec<AlertRecord>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The alerts the store retains for a device, oldest first.
    fn alerts(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, Error>> + Send;

    /// Records the start of a session: its summary becomes the device's
    /// latest and `mos`, when given, its MO inventory (a store may keep only
    /// its first entries, see [`Retention`](crate::Retention)). Other open sessions
    /// of the device are left alone (a client may deliver an asynchronous
    /// report in a session of its own); they end or expire by themselves.
    fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records a new open session, which joins the device's open sessions
    /// ([`DeviceRecord::open_sessions`]) as the newest, unless `max_open` sessions are open already ([`Error::Busy`]: the
    /// count and the insertion are one step, so concurrent requests cannot
    /// pass the limit together). A token already recorded is
    /// [`Error::SessionExists`].
    fn open_session(
        &self,
        record: SessionRecord,
        max_open: usize,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Saves an open session whose stored version is `expected_version`
    /// ([`Error::SessionVersion`] if it is not, [`Error::SessionNotFound`]
    /// if the session is gone).
    fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// An open session.
    fn session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Error>> + Send;

    /// Ends a session: removes its record (if any) and takes it out of the
    /// device's open sessions (the others stay open), completes its summary in
    /// the device's recent sessions (end, packages and outcome from `end`;
    /// CONT sent when the record says so), and marks every command still
    /// `sent` in it `failed`.
    fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Ends every open session that has expired at `now_ms`
    /// ([`SessionState::is_expired`](dm_session::SessionState::is_expired): past its deadline) as
    /// [`SessionOutcome::Timeout`](crate::SessionOutcome::Timeout) (as [`Store::end_session`] does) and
    /// returns them.
    fn expire_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, Error>> + Send;

    /// How many sessions are open.
    fn open_sessions(&self) -> impl Future<Output = Result<usize, Error>> + Send;

    // --- metrics ---

    /// How many commands are queued and not yet sent (the queue depth
    /// `GET /metrics` reports).
    fn queued_command_count(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The latency of the store's transactions, when it measures it (a
    /// [`SqlStore`](crate::SqlStore) does; `GET /metrics` reports it).
    fn latency(&self) -> Option<&crate::metrics::StoreLatency> {
        None
    }

    /// Stores a repository object; `true` when the path was new. Replacing an
    /// object of another owner is [`Error::ObjectOwned`], except for the
    /// server, which may replace anything. A store may bound how many objects
    /// a device owns ([`Error::TooManyObjects`] beyond) and their total size
    /// ([`Error::InsufficientStorage`] beyond); a refused write changes
    /// nothing.
    fn put_object(
        &self,
        path: &str,
        object: RepositoryObject,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// How many bytes of repository objects `dev_id` may still store at
    /// `path` (the object it owns there now counts as free, as it would be
    /// replaced), or `None` when the store sets no bound. The server
    /// refuses an upload whose `Content-Length` exceeds it (413) before
    /// reading the body; [`Store::put_object`] still has the last word.
    /// The default bounds nothing.
    fn repository_room(
        &self,
        dev_id: &DevId,
        path: &str,
    ) -> impl Future<Output = Result<Option<usize>, Error>> + Send {
        let _ = (dev_id, path);
        async { Ok(None) }
    }

    /// A repository object.
    fn object(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<RepositoryObject>, Error>> + Send;

    /// Removes a repository object; `false` if there was none.
    fn delete_object(&self, path: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The server's secret key (32 bytes, created on first use and then
    /// always the same): Digest nonces are authenticated with it, so every
    /// node sharing the store accepts the nonces of the others.
    fn server_key(&self) -> impl Future<Output = Result<[u8; 32], Error>> + Send;

    /// Makes everything stored so far durable (a no-op for stores that
    /// always are). The server calls it periodically and at shutdown.
    fn flush(&self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records that a device authenticated with a Digest `nonce` (issued at
    /// `issued_ms`, Unix milliseconds) and nonce count `nc`, and says whether
    /// that use is new: `true` when `nc` is greater than every count the
    /// device used with this nonce before; `false` for a count already
    /// used (a replayed request), and for a nonce whose counts the store no
    /// longer knows (it may keep only the device's most recent nonces, and
    /// then refuses every nonce issued no later than one it forgot, and
    /// every nonce issued before it was loaded). The server answers `false`
    /// with a fresh challenge (`stale=true`).
    fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    // Artifacts and device groups (docs/updates.md).

    /// Adds or replaces (by id) an artifact; `true` when it replaced one.
    /// `content` is the artifact's bytes, given iff its source is
    /// [`ArtifactSource::Stored`](crate::ArtifactSource::Stored), and then
    /// exactly `record.size` long ([`Error::ArtifactMismatch`] otherwise);
    /// the store keeps it in chunks of
    /// [`ARTIFACT_CHUNK`](crate::ARTIFACT_CHUNK) bytes. Replacing an
    /// artifact an unfinished campaign uses is [`Error::ArtifactInUse`].
    fn put_artifact(
        &self,
        record: ArtifactRecord,
        content: Option<Bytes>,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// An artifact's record.
    fn artifact(
        &self,
        id: &ArtifactId,
    ) -> impl Future<Output = Result<Option<ArtifactRecord>, Error>> + Send;

    /// Every artifact, in id order.
    fn artifacts(&self) -> impl Future<Output = Result<Vec<ArtifactRecord>, Error>> + Send;

    /// Bytes `start..end` of a stored artifact's content (`end` exclusive,
    /// cut at its size; the caller keeps `end - start` at most
    /// [`ARTIFACT_CHUNK`](crate::ARTIFACT_CHUNK)); `None` when there is no
    /// such artifact or it has no stored content. A range starting at or
    /// past the end is empty.
    fn artifact_range(
        &self,
        id: &ArtifactId,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Option<Bytes>, Error>> + Send;

    /// Removes an artifact with its content; `false` when there was none.
    /// An artifact an unfinished campaign uses is [`Error::ArtifactInUse`].
    fn remove_artifact(&self, id: &ArtifactId) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Adds or replaces (by id) a device group; `true` when it replaced one.
    fn put_group(&self, group: GroupRecord) -> impl Future<Output = Result<bool, Error>> + Send;

    /// A device group.
    fn group(
        &self,
        id: &GroupId,
    ) -> impl Future<Output = Result<Option<GroupRecord>, Error>> + Send;

    /// Every device group, in id order.
    fn groups(&self) -> impl Future<Output = Result<Vec<GroupRecord>, Error>> + Send;

    /// Removes a device group; `false` when there was none. A group an
    /// unfinished campaign targets is [`Error::GroupInUse`].
    fn remove_group(&self, id: &GroupId) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Replaces a device's tags ([`DeviceRecord::tags`]);
    /// [`Error::DeviceNotFound`] when it is not registered.
    fn set_device_tags(
        &self,
        dev_id: &DevId,
        tags: BTreeSet<Tag>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Merges DevInfo leaf values a device reported (leaf name to value)
    /// into [`DeviceRecord::devinfo`]: the names given take their new
    /// value, the others stay. [`Error::DeviceNotFound`] when it is not
    /// registered.
    fn record_devinfo(
        &self,
        dev_id: &DevId,
        values: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    // Compound steps: what a request of a session needs, in one round trip
    // each. The defaults compose the methods above (so any store has them);
    // a transactional store overrides them to run each as one transaction.

    /// [`Store::credentials_by_username`] and [`Store::session`] in one
    /// read: what authenticating a Package#3 with a password needs, with the
    /// session it continues.
    fn credentials_and_session(
        &self,
        username: &str,
        token: SessionToken,
    ) -> impl Future<Output = Result<CredentialsAndSession, Error>> + Send {
        async move {
            let credentials = self.credentials_by_username(username).await?;
            let session = self.session(token).await?;
            Ok((credentials, session))
        }
    }

    /// [`Store::device_by_certificate`] and [`Store::session`] in one read:
    /// what authenticating a Package#3 with a client certificate needs, with
    /// the session it continues.
    fn certificate_and_session(
        &self,
        sha256: &[u8; 32],
        token: SessionToken,
    ) -> impl Future<Output = Result<(Option<DevId>, Option<SessionRecord>), Error>> + Send {
        async move {
            let dev_id = self.device_by_certificate(sha256).await?;
            let session = self.session(token).await?;
            Ok((dev_id, session))
        }
    }

    /// [`Store::device`] and [`Store::session`] in one read: what a
    /// Package#3 of a device without credentials needs in development mode,
    /// with the session it continues.
    fn device_and_session(
        &self,
        dev_id: &DevId,
        token: SessionToken,
    ) -> impl Future<Output = Result<(Option<DeviceRecord>, Option<SessionRecord>), Error>> + Send
    {
        async move {
            let device = self.device(dev_id).await?;
            let session = self.session(token).await?;
            Ok((device, session))
        }
    }

    /// Applies one step of a session, the answer to a Package#1 or a
    /// Package#3, as one atomic step:
    ///
    /// 1. For a Package#1, opens the session ([`Store::open_session`]:
    ///    [`Error::Busy`] beyond `max_open`, [`Error::SessionExists`]) and
    ///    begins it ([`Store::begin_session`]); for a Package#3, checks that
    ///    the session is stored at the record's version
    ///    ([`Error::SessionVersion`], [`Error::SessionNotFound`]).
    /// 2. Records the statuses ([`Store::record_result`] and
    ///    [`Store::record_cached_result`], as idempotent), the cached
    ///    instances, the notification address and the alerts.
    /// 3. Claims up to `claim` queued commands ([`Store::claim_commands`])
    ///    and calls `respond` with them, which builds the Package#2 and
    ///    returns the session's state after it (see [`Respond`]: it may be
    ///    called again if the step is retried).
    /// 4. Ends the session as completed when that state is ended
    ///    ([`Store::end_session`]: what is still `sent` fails), else saves
    ///    it at the record's version + 1.
    ///
    /// When it fails, a transactional store has written nothing. The
    /// default composes the methods above and is not atomic: it checks a
    /// Package#3's version first, saves the session (ended or not) before
    /// ending it, releases the commands it claimed when the session could
    /// not be saved, and ends a Package#1's session as failed when a step
    /// after its opening failed.
    fn step_session(
        &self,
        step: SessionStep,
        respond: Respond,
    ) -> impl Future<Output = Result<StepOutcome, Error>> + Send {
        composed(self, step, respond)
    }

    // Bootstrap (docs/bootstrap.md). The defaults refuse: a store that
    // does not keep bootstrap state cannot run the bootstrap role.

    /// Adds or replaces (by name) a bootstrap profile; `true` when it
    /// replaced one.
    fn put_bootstrap_profile(
        &self,
        profile: BootstrapProfile,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let _ = profile;
        async { Err(no_bootstrap()) }
    }

    /// Every bootstrap profile, in name order.
    fn bootstrap_profiles(
        &self,
    ) -> impl Future<Output = Result<Vec<BootstrapProfile>, Error>> + Send {
        async { Err(no_bootstrap()) }
    }

    /// Removes a bootstrap profile; `false` when there was none.
    fn remove_bootstrap_profile(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let _ = name;
        async { Err(no_bootstrap()) }
    }

    /// Adds or replaces a device of the bootstrap server (its last
    /// NOTIFICATION-ID is kept on replace). A PSK identity another device
    /// has is [`Error::PskIdentityTaken`].
    fn put_bootstrap_device(
        &self,
        device: BootstrapDevice,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = device;
        async { Err(no_bootstrap()) }
    }

    /// A device of the bootstrap server.
    fn bootstrap_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<BootstrapDevice>, Error>> + Send {
        let _ = dev_id;
        async { Err(no_bootstrap()) }
    }

    /// The device whose bootstrap PSK has this identity (for the PSK-TLS
    /// callback).
    fn bootstrap_device_by_psk_identity(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<Option<BootstrapDevice>, Error>> + Send {
        let _ = identity;
        async { Err(no_bootstrap()) }
    }

    /// Removes a device of the bootstrap server with its outcomes; `false`
    /// when it was not registered.
    fn remove_bootstrap_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let _ = dev_id;
        async { Err(no_bootstrap()) }
    }

    /// Records where a bootstrap device listens for Package#0 (from its
    /// NotificationAddress alert); `false` (nothing recorded) when the
    /// device is not registered with the bootstrap server.
    fn set_bootstrap_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let _ = (dev_id, address);
        async { Err(no_bootstrap()) }
    }

    /// Takes the next NOTIFICATION-ID of a bootstrap device (incrementing,
    /// wrapping from 65535 to 1); [`Error::DeviceNotFound`] when unknown.
    fn next_bootstrap_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send {
        let _ = dev_id;
        async { Err(no_bootstrap()) }
    }

    /// Saves a bootstrap session (creates or replaces it by token).
    fn save_bootstrap_session(
        &self,
        session: BootstrapSessionRecord,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = session;
        async { Err(no_bootstrap()) }
    }

    /// An open bootstrap session.
    fn bootstrap_session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<BootstrapSessionRecord>, Error>> + Send {
        let _ = token;
        async { Err(no_bootstrap()) }
    }

    /// Takes the DMAcc data of the bootstrap session whose data token is
    /// `data_token`, once: only when the session is bound to `binding` and
    /// has not expired at `now_ms`; the data is then gone from the store.
    /// `None` otherwise (nothing changes).
    fn take_bootstrap_account_data(
        &self,
        data_token: SessionToken,
        binding: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<(DevId, String)>, Error>> + Send {
        let _ = (data_token, binding, now_ms);
        async { Err(no_bootstrap()) }
    }

    /// Ends a bootstrap session: removes it (its data and secrets with it)
    /// and records `outcome` for its device (the newest
    /// [`BOOTSTRAP_OUTCOMES_PER_DEVICE`](crate::BOOTSTRAP_OUTCOMES_PER_DEVICE)
    /// are kept). `false` when the session was not open (nothing recorded).
    fn end_bootstrap_session(
        &self,
        token: SessionToken,
        outcome: BootstrapOutcomeRecord,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let _ = (token, outcome);
        async { Err(no_bootstrap()) }
    }

    /// Ends the bootstrap sessions expired at `now_ms` (recorded as
    /// abandoned) and returns them.
    fn expire_bootstrap_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<BootstrapSessionRecord>, Error>> + Send {
        let _ = now_ms;
        async { Err(no_bootstrap()) }
    }

    /// A device's bootstrap outcomes, the newest first.
    fn bootstrap_outcomes(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<BootstrapOutcomeRecord>, Error>> + Send {
        let _ = dev_id;
        async { Err(no_bootstrap()) }
    }

    // Campaigns (docs/updates.md): each method one atomic step, so that
    // the nodes driving campaigns can share the store.

    /// Creates a campaign of `spec` with one row per member (its stage
    /// index): the store assigns the id (never reused), the campaign is
    /// [`CampaignStatus::Running`] at stage 0, version 1, created and
    /// updated at `now_ms`. A member's row is [`UpdateState::Pending`]
    /// (never attempted, due at once), or [`UpdateState::Skipped`] when
    /// the device has a row that is not final in another campaign that is
    /// not finished (a device is in at most one campaign at a time). A
    /// member listed twice keeps its first stage. All in one step: two
    /// campaigns created at once never both take a device.
    fn create_campaign(
        &self,
        spec: CampaignSpec,
        members: Vec<(DevId, u32)>,
        now_ms: u64,
    ) -> impl Future<Output = Result<CampaignRecord, Error>> + Send;

    /// A campaign.
    fn campaign(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = Result<Option<CampaignRecord>, Error>> + Send;

    /// Every campaign, in id order.
    fn campaigns(&self) -> impl Future<Output = Result<Vec<CampaignRecord>, Error>> + Send;

    /// Sets a campaign's status and current stage if its stored version is
    /// `expected_version` ([`Error::CampaignVersion`] if not,
    /// [`Error::CampaignNotFound`] if there is no such campaign): the
    /// version is bumped, `updated_ms` set to `now_ms`, and the campaign as
    /// stored returned. The store checks no transition: the caller does.
    fn update_campaign(
        &self,
        id: CampaignId,
        expected_version: u64,
        status: CampaignStatus,
        stage: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<CampaignRecord, Error>> + Send;

    /// How many of a campaign's devices are in each state, per stage: one
    /// entry per stage that has rows, in stage order (empty for an unknown
    /// campaign).
    fn campaign_counts(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = Result<Vec<StageCounts>, Error>> + Send;

    /// A campaign's rows in DevID order, only those in `state` when given,
    /// starting after `after`, at most `limit` (empty for an unknown
    /// campaign).
    fn campaign_devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send;

    /// A device's row in a campaign.
    fn campaign_device(
        &self,
        id: CampaignId,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<CampaignDevice>, Error>> + Send;

    /// The device's row that is not final ([`UpdateState::is_final`]) in a
    /// campaign that is not finished ([`CampaignStatus::is_finished`]): the
    /// campaign it is in now, if any (the oldest, should there be several).
    fn active_campaign_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<CampaignDevice>, Error>> + Send;

    /// A campaign's rows that may be started now: [`UpdateState::Pending`],
    /// of a stage up to `max_stage`, with `next_attempt_ms` up to `now_ms`;
    /// ordered by stage, then `next_attempt_ms`, then DevID; at most
    /// `limit`.
    fn due_campaign_devices(
        &self,
        id: CampaignId,
        max_stage: u32,
        now_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send;

    /// A campaign's rows in flight ([`UpdateState::is_in_flight`]) that
    /// have not changed since before `updated_before_ms` (their
    /// `updated_ms` is earlier), oldest change first (then DevID); at most
    /// `limit`.
    fn stale_campaign_devices(
        &self,
        id: CampaignId,
        updated_before_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send;

    /// Compare-and-set of one row (`row.campaign`, `row.dev_id`): if it is
    /// still in state `expected.0` with `expected.1` attempts, writes
    /// `row`'s state, result, attempts, `next_attempt_ms` and commands
    /// (not its stage), with `updated_ms` = `now_ms`, and returns `true`;
    /// `false`, changing nothing, when the row moved on meanwhile or there
    /// is no such row (nor campaign). Of several changes expecting the same
    /// row at once, exactly one wins.
    fn advance_campaign_device(
        &self,
        row: &CampaignDevice,
        expected: (UpdateState, u32),
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Cancelling a campaign: every row of it that is
    /// [`UpdateState::Pending`] or [`UpdateState::Notified`] becomes
    /// [`UpdateState::Skipped`] (updated at `now_ms`); returns how many.
    fn skip_pending_campaign_devices(
        &self,
        id: CampaignId,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Takes or renews the lease of the node driving a campaign, until
    /// `until_ms`: granted (`true`) when no node holds it, when the lease
    /// has expired (its end is not after `now_ms`), or when `node` holds it
    /// already; `false` for another node while the lease runs.
    /// [`Error::CampaignNotFound`] for an unknown campaign.
    fn lease_campaign(
        &self,
        id: CampaignId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    // --- api keys ---

    /// Adds an API key; `false`, and nothing changes, when its id is taken.
    fn put_api_key(&self, key: ApiKeyRecord) -> impl Future<Output = Result<bool, Error>> + Send;

    /// An API key, revoked or not.
    fn api_key(
        &self,
        id: &ApiKeyId,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, Error>> + Send;

    /// Every API key, revoked ones included, in id order.
    fn api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRecord>, Error>> + Send;

    /// Revokes an API key at `at_ms`; `false` when there is none. A key
    /// revoked already keeps its first revocation time.
    fn revoke_api_key(
        &self,
        id: &ApiKeyId,
        at_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Records that an API key was used at `at_ms` (kept when later than
    /// the time recorded); nothing for an unknown key. The server calls it
    /// at most about once a minute per key and node, not per request.
    fn record_api_key_use(
        &self,
        id: &ApiKeyId,
        at_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    // --- events ---

    /// Appends events in their order, all or none: each gets the id after
    /// the newest one ([`EventBounds::newest`]). Appends are serialized
    /// across every node sharing the store and their ids committed in
    /// order, so that a reader that has read up to id `n` never finds an
    /// id `<= n` later.
    fn append_events(
        &self,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The events after id `after` that pass `filter`, oldest first, at
    /// most `limit`.
    fn events_after(
        &self,
        after: u64,
        limit: usize,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<EventRecord>, Error>> + Send;

    /// The newest id and how far events were pruned.
    fn event_bounds(&self) -> impl Future<Output = Result<EventBounds, Error>> + Send;

    /// Removes the events beyond the newest `keep` and those that happened
    /// before `before_ms` (with every older id); returns how many were
    /// removed. [`EventBounds::pruned_through`] rises to the newest id
    /// removed.
    fn prune_events(
        &self,
        keep: u64,
        before_ms: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Creates a webhook: the store assigns its id; its cursor is the
    /// newest event id (it delivers the events appended from now on).
    fn create_webhook(
        &self,
        spec: WebhookSpec,
        now_ms: u64,
    ) -> impl Future<Output = Result<WebhookRecord, Error>> + Send;

    /// Every webhook, in id order.
    fn webhooks(&self) -> impl Future<Output = Result<Vec<WebhookRecord>, Error>> + Send;

    /// Removes a webhook; `false` when there was none.
    fn remove_webhook(&self, id: WebhookId) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Takes or renews the lease of the node delivering a webhook's
    /// events, until `until_ms` (as [`Store::lease_campaign`]): the
    /// webhook, with its cursor, when granted; `None` when another node
    /// holds a lease that runs after `now_ms`, or there is no such webhook.
    fn lease_webhook(
        &self,
        id: WebhookId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, Error>> + Send;

    /// Moves a webhook's cursor forward to `cursor` (never back), only
    /// while `node` holds its lease: `false` (nothing changed) otherwise.
    fn advance_webhook(
        &self,
        id: WebhookId,
        node: &str,
        cursor: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// The error of a store that keeps no bootstrap state.
fn no_bootstrap() -> Error {
    Error::store("bootstrap", "this store keeps no bootstrap state")
}

/// What [`Store::credentials_and_session`] reads: the device and
/// credentials registered under the user name, and the open session.
pub type CredentialsAndSession = (Option<(DevId, PasswordCredentials)>, Option<SessionRecord>);

/// A shared store is a store: several servers (or a server and the
/// application) can hold the same one.
impl<T: Store> Store for std::sync::Arc<T> {
    fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).register_device(registration, replace, now_ms)
    }

    fn register_devices(
        &self,
        registrations: Vec<DeviceRegistration>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).register_devices(registrations, now_ms)
    }

    fn remove_device(&self, dev_id: &DevId) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_device(dev_id)
    }

    fn device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Error>> + Send {
        (**self).device(dev_id)
    }

    fn devices(
        &self,
        query: &DeviceQuery,
    ) -> impl Future<Output = Result<DevicePage, Error>> + Send {
        (**self).devices(query)
    }

    fn device_count(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        (**self).device_count()
    }

    fn credentials_by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<(DevId, PasswordCredentials)>, Error>> + Send {
        (**self).credentials_by_username(username)
    }

    fn device_by_certificate(
        &self,
        sha256: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DevId>, Error>> + Send {
        (**self).device_by_certificate(sha256)
    }

    fn psk_by_identity(
        &self,
        identity: &PskIdentity,
    ) -> impl Future<Output = Result<Option<(DevId, PskCredentials)>, Error>> + Send {
        (**self).psk_by_identity(identity)
    }

    fn set_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).set_notification_address(dev_id, address)
    }

    fn next_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send {
        (**self).next_notification_id(dev_id)
    }

    fn enqueue_command(
        &self,
        dev_id: &DevId,
        command: Command,
        now_ms: u64,
    ) -> impl Future<Output = Result<CommandId, Error>> + Send {
        (**self).enqueue_command(dev_id, command, now_ms)
    }

    fn command(
        &self,
        id: CommandId,
    ) -> impl Future<Output = Result<Option<CommandRecord>, Error>> + Send {
        (**self).command(id)
    }

    fn commands(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<CommandRecord>, Error>> + Send {
        (**self).commands(dev_id)
    }

    fn claim_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        max: usize,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<(CommandId, Command)>, Error>> + Send {
        (**self).claim_commands(dev_id, session, max, now_ms)
    }

    fn release_commands(
        &self,
        dev_id: &DevId,
        session: SessionToken,
        ids: Vec<CommandId>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).release_commands(dev_id, session, ids, now_ms)
    }

    fn record_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_result(id, session, result, now_ms)
    }

    fn record_cached_result(
        &self,
        id: CommandId,
        session: SessionToken,
        result: Status,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_cached_result(id, session, result, now_ms)
    }

    fn record_cached_instances(
        &self,
        dev_id: &DevId,
        instances: Vec<CachedInstance>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_cached_instances(dev_id, instances)
    }

    fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> impl Future<Output = Result<Option<CachedInstance>, Error>> + Send {
        (**self).cached_instance(dev_id, moid, miid)
    }

    fn record_alerts(
        &self,
        dev_id: &DevId,
        alerts: Vec<AlertRecord>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_alerts(dev_id, alerts)
    }

    fn alerts(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, Error>> + Send {
        (**self).alerts(dev_id)
    }

    fn begin_session(
        &self,
        dev_id: &DevId,
        summary: SessionSummary,
        mos: Option<Vec<MosEntry>>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).begin_session(dev_id, summary, mos, now_ms)
    }

    fn open_session(
        &self,
        record: SessionRecord,
        max_open: usize,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).open_session(record, max_open)
    }

    fn save_session(
        &self,
        record: SessionRecord,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).save_session(record, expected_version)
    }

    fn session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Error>> + Send {
        (**self).session(token)
    }

    fn end_session(
        &self,
        token: SessionToken,
        dev_id: &DevId,
        end: SessionEnd,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).end_session(token, dev_id, end)
    }

    fn expire_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, Error>> + Send {
        (**self).expire_sessions(now_ms)
    }

    fn open_sessions(&self) -> impl Future<Output = Result<usize, Error>> + Send {
        (**self).open_sessions()
    }

    fn queued_command_count(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).queued_command_count()
    }

    fn latency(&self) -> Option<&crate::metrics::StoreLatency> {
        (**self).latency()
    }

    fn put_object(
        &self,
        path: &str,
        object: RepositoryObject,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).put_object(path, object)
    }

    fn repository_room(
        &self,
        dev_id: &DevId,
        path: &str,
    ) -> impl Future<Output = Result<Option<usize>, Error>> + Send {
        (**self).repository_room(dev_id, path)
    }

    fn object(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<RepositoryObject>, Error>> + Send {
        (**self).object(path)
    }

    fn delete_object(&self, path: &str) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).delete_object(path)
    }

    fn server_key(&self) -> impl Future<Output = Result<[u8; 32], Error>> + Send {
        (**self).server_key()
    }

    fn flush(&self) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).flush()
    }

    fn use_digest_nonce(
        &self,
        dev_id: &DevId,
        nonce: &str,
        issued_ms: u64,
        nc: u32,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).use_digest_nonce(dev_id, nonce, issued_ms, nc)
    }

    fn put_artifact(
        &self,
        record: ArtifactRecord,
        content: Option<Bytes>,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).put_artifact(record, content)
    }

    fn artifact(
        &self,
        id: &ArtifactId,
    ) -> impl Future<Output = Result<Option<ArtifactRecord>, Error>> + Send {
        (**self).artifact(id)
    }

    fn artifacts(&self) -> impl Future<Output = Result<Vec<ArtifactRecord>, Error>> + Send {
        (**self).artifacts()
    }

    fn artifact_range(
        &self,
        id: &ArtifactId,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Option<Bytes>, Error>> + Send {
        (**self).artifact_range(id, start, end)
    }

    fn remove_artifact(&self, id: &ArtifactId) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_artifact(id)
    }

    fn put_group(&self, group: GroupRecord) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).put_group(group)
    }

    fn group(
        &self,
        id: &GroupId,
    ) -> impl Future<Output = Result<Option<GroupRecord>, Error>> + Send {
        (**self).group(id)
    }

    fn groups(&self) -> impl Future<Output = Result<Vec<GroupRecord>, Error>> + Send {
        (**self).groups()
    }

    fn remove_group(&self, id: &GroupId) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_group(id)
    }

    fn set_device_tags(
        &self,
        dev_id: &DevId,
        tags: BTreeSet<Tag>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).set_device_tags(dev_id, tags)
    }

    fn record_devinfo(
        &self,
        dev_id: &DevId,
        values: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_devinfo(dev_id, values)
    }

    fn credentials_and_session(
        &self,
        username: &str,
        token: SessionToken,
    ) -> impl Future<Output = Result<CredentialsAndSession, Error>> + Send {
        (**self).credentials_and_session(username, token)
    }

    fn certificate_and_session(
        &self,
        sha256: &[u8; 32],
        token: SessionToken,
    ) -> impl Future<Output = Result<(Option<DevId>, Option<SessionRecord>), Error>> + Send {
        (**self).certificate_and_session(sha256, token)
    }

    fn device_and_session(
        &self,
        dev_id: &DevId,
        token: SessionToken,
    ) -> impl Future<Output = Result<(Option<DeviceRecord>, Option<SessionRecord>), Error>> + Send
    {
        (**self).device_and_session(dev_id, token)
    }

    fn step_session(
        &self,
        step: SessionStep,
        respond: Respond,
    ) -> impl Future<Output = Result<StepOutcome, Error>> + Send {
        (**self).step_session(step, respond)
    }

    fn put_bootstrap_profile(
        &self,
        profile: BootstrapProfile,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).put_bootstrap_profile(profile)
    }

    fn bootstrap_profiles(
        &self,
    ) -> impl Future<Output = Result<Vec<BootstrapProfile>, Error>> + Send {
        (**self).bootstrap_profiles()
    }

    fn remove_bootstrap_profile(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_bootstrap_profile(name)
    }

    fn put_bootstrap_device(
        &self,
        device: BootstrapDevice,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).put_bootstrap_device(device)
    }

    fn bootstrap_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<BootstrapDevice>, Error>> + Send {
        (**self).bootstrap_device(dev_id)
    }

    fn bootstrap_device_by_psk_identity(
        &self,
        identity: &str,
    ) -> impl Future<Output = Result<Option<BootstrapDevice>, Error>> + Send {
        (**self).bootstrap_device_by_psk_identity(identity)
    }

    fn remove_bootstrap_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_bootstrap_device(dev_id)
    }

    fn set_bootstrap_notification_address(
        &self,
        dev_id: &DevId,
        address: &str,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).set_bootstrap_notification_address(dev_id, address)
    }

    fn next_bootstrap_notification_id(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<u16, Error>> + Send {
        (**self).next_bootstrap_notification_id(dev_id)
    }

    fn save_bootstrap_session(
        &self,
        session: BootstrapSessionRecord,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).save_bootstrap_session(session)
    }

    fn bootstrap_session(
        &self,
        token: SessionToken,
    ) -> impl Future<Output = Result<Option<BootstrapSessionRecord>, Error>> + Send {
        (**self).bootstrap_session(token)
    }

    fn take_bootstrap_account_data(
        &self,
        data_token: SessionToken,
        binding: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<(DevId, String)>, Error>> + Send {
        (**self).take_bootstrap_account_data(data_token, binding, now_ms)
    }

    fn end_bootstrap_session(
        &self,
        token: SessionToken,
        outcome: BootstrapOutcomeRecord,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).end_bootstrap_session(token, outcome)
    }

    fn expire_bootstrap_sessions(
        &self,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<BootstrapSessionRecord>, Error>> + Send {
        (**self).expire_bootstrap_sessions(now_ms)
    }

    fn bootstrap_outcomes(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Vec<BootstrapOutcomeRecord>, Error>> + Send {
        (**self).bootstrap_outcomes(dev_id)
    }

    fn create_campaign(
        &self,
        spec: CampaignSpec,
        members: Vec<(DevId, u32)>,
        now_ms: u64,
    ) -> impl Future<Output = Result<CampaignRecord, Error>> + Send {
        (**self).create_campaign(spec, members, now_ms)
    }

    fn campaign(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = Result<Option<CampaignRecord>, Error>> + Send {
        (**self).campaign(id)
    }

    fn campaigns(&self) -> impl Future<Output = Result<Vec<CampaignRecord>, Error>> + Send {
        (**self).campaigns()
    }

    fn update_campaign(
        &self,
        id: CampaignId,
        expected_version: u64,
        status: CampaignStatus,
        stage: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<CampaignRecord, Error>> + Send {
        (**self).update_campaign(id, expected_version, status, stage, now_ms)
    }

    fn campaign_counts(
        &self,
        id: CampaignId,
    ) -> impl Future<Output = Result<Vec<StageCounts>, Error>> + Send {
        (**self).campaign_counts(id)
    }

    fn campaign_devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send {
        (**self).campaign_devices(id, state, after, limit)
    }

    fn campaign_device(
        &self,
        id: CampaignId,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<CampaignDevice>, Error>> + Send {
        (**self).campaign_device(id, dev_id)
    }

    fn active_campaign_device(
        &self,
        dev_id: &DevId,
    ) -> impl Future<Output = Result<Option<CampaignDevice>, Error>> + Send {
        (**self).active_campaign_device(dev_id)
    }

    fn due_campaign_devices(
        &self,
        id: CampaignId,
        max_stage: u32,
        now_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send {
        (**self).due_campaign_devices(id, max_stage, now_ms, limit)
    }

    fn stale_campaign_devices(
        &self,
        id: CampaignId,
        updated_before_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CampaignDevice>, Error>> + Send {
        (**self).stale_campaign_devices(id, updated_before_ms, limit)
    }

    fn advance_campaign_device(
        &self,
        row: &CampaignDevice,
        expected: (UpdateState, u32),
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).advance_campaign_device(row, expected, now_ms)
    }

    fn skip_pending_campaign_devices(
        &self,
        id: CampaignId,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).skip_pending_campaign_devices(id, now_ms)
    }

    fn lease_campaign(
        &self,
        id: CampaignId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).lease_campaign(id, node, now_ms, until_ms)
    }

    fn put_api_key(&self, key: ApiKeyRecord) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).put_api_key(key)
    }

    fn api_key(
        &self,
        id: &ApiKeyId,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, Error>> + Send {
        (**self).api_key(id)
    }

    fn api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRecord>, Error>> + Send {
        (**self).api_keys()
    }

    fn revoke_api_key(
        &self,
        id: &ApiKeyId,
        at_ms: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).revoke_api_key(id, at_ms)
    }

    fn record_api_key_use(
        &self,
        id: &ApiKeyId,
        at_ms: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).record_api_key_use(id, at_ms)
    }

    fn append_events(
        &self,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        (**self).append_events(events)
    }

    fn events_after(
        &self,
        after: u64,
        limit: usize,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<EventRecord>, Error>> + Send {
        (**self).events_after(after, limit, filter)
    }

    fn event_bounds(&self) -> impl Future<Output = Result<EventBounds, Error>> + Send {
        (**self).event_bounds()
    }

    fn prune_events(
        &self,
        keep: u64,
        before_ms: u64,
    ) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).prune_events(keep, before_ms)
    }

    fn create_webhook(
        &self,
        spec: WebhookSpec,
        now_ms: u64,
    ) -> impl Future<Output = Result<WebhookRecord, Error>> + Send {
        (**self).create_webhook(spec, now_ms)
    }

    fn webhooks(&self) -> impl Future<Output = Result<Vec<WebhookRecord>, Error>> + Send {
        (**self).webhooks()
    }

    fn remove_webhook(&self, id: WebhookId) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).remove_webhook(id)
    }

    fn lease_webhook(
        &self,
        id: WebhookId,
        node: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<Option<WebhookRecord>, Error>> + Send {
        (**self).lease_webhook(id, node, now_ms, until_ms)
    }

    fn advance_webhook(
        &self,
        id: WebhookId,
        node: &str,
        cursor: u64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        (**self).advance_webhook(id, node, cursor)
    }
}

/// The default [`Store::step_session`](crate::Store::step_session): the
/// step composed of the store's other methods (not atomic).
pub(super) async fn composed<S: Store + ?Sized>(
    store: &S,
    step: SessionStep,
    respond: Respond,
) -> Result<StepOutcome, Error> {
    let token = step.record.token;
    let dev_id = step.record.dev_id().clone();
    let now_ms = step.now_ms;
    match step.package.clone() {
        StepPackage::Package1 {
            summary,
            mos,
            max_open,
        } => {
            store.open_session(step.record.clone(), max_open).await?;
            let applied = async {
                store.begin_session(&dev_id, summary, mos, now_ms).await?;
                apply(store, step, respond).await
            }
            .await;
            if let Err(error) = &applied {
                let end = SessionEnd::new(SessionOutcome::Failed(error.to_string()), 1, now_ms);
                if let Err(error) = store.end_session(token, &dev_id, end).await {
                    tracing::warn!(%error, "the failed session could not be ended; it will expire");
                }
            }
            applied
        }
        StepPackage::Package3 => {
            let expected = step.record.version;
            match store.session(token).await? {
                None => return Err(Error::SessionNotFound(token.public_id())),
                Some(stored) if stored.version != expected => {
                    return Err(Error::SessionVersion {
                        session: token.public_id(),
                        expected,
                    });
                }
                Some(_) => {}
            }
            apply(store, step, respond).await
        }
    }
}

/// Steps 2 to 4 of [`composed`]: records, claims, responds, saves or ends;
/// releases the claimed commands when the session is not saved.
async fn apply<S: Store + ?Sized>(
    store: &S,
    step: SessionStep,
    mut respond: Respond,
) -> Result<StepOutcome, Error> {
    let SessionStep {
        record,
        statuses,
        cached_instances,
        alerts,
        notification_address,
        claim,
        now_ms,
        ..
    } = step;
    let (token, dev_id) = (record.token, record.dev_id().clone());
    if !cached_instances.is_empty() {
        store
            .record_cached_instances(&dev_id, cached_instances)
            .await?;
    }
    for CommandStatus {
        id,
        status,
        from_cache,
    } in statuses
    {
        if from_cache {
            store
                .record_cached_result(id, token, status, now_ms)
                .await?;
        } else {
            store.record_result(id, token, status, now_ms).await?;
        }
    }
    if let Some(address) = &notification_address {
        store.set_notification_address(&dev_id, address).await?;
    }
    if !alerts.is_empty() {
        store.record_alerts(&dev_id, alerts).await?;
    }
    let claimed = if claim > 0 {
        store.claim_commands(&dev_id, token, claim, now_ms).await?
    } else {
        Vec::new()
    };
    let ids: Vec<CommandId> = claimed.iter().map(|(id, _)| *id).collect();
    let finished = async {
        let state = respond(claimed)?;
        finish(store, record, state, now_ms).await
    }
    .await;
    if finished.is_err()
        && !ids.is_empty()
        && let Err(error) = store.release_commands(&dev_id, token, ids, now_ms).await
    {
        tracing::warn!(%error, "claimed commands could not be released; they fail with the session");
    }
    finished
}

/// Step 4: saves the session at the next version, then, when `state` is
/// ended, ends it as completed. Ending is version-checked by that save
/// ([`Store::end_session`] checks no version): of two requests continuing
/// the session at once, one ends it, the other meets the version conflict
/// (or the session saved as ended, which the server answers 409).
async fn finish<S: Store + ?Sized>(
    store: &S,
    record: SessionRecord,
    state: SessionState<CommandId>,
    now_ms: u64,
) -> Result<StepOutcome, Error> {
    let expected = record.version;
    let (token, dev_id) = (record.token, record.dev_id().clone());
    let ended = state
        .is_ended()
        .then(|| SessionEnd::of_state(SessionOutcome::Completed, &state, now_ms));
    let mut next = record;
    next.version = expected + 1;
    next.state = state;
    store.save_session(next, expected).await?;
    if let Some(end) = ended {
        store.end_session(token, &dev_id, end).await?;
        Ok(StepOutcome::Completed)
    } else {
        Ok(StepOutcome::Saved {
            version: expected + 1,
        })
    }
}
