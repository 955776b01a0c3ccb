//! [`Admin`]: the admin operations in-process (the admin HTTP API calls the
//! same functions).

use std::sync::Arc;

use dm_session::{CachedInstance, cacheable_targets, with_cache_validators};
use dm_types::{Command, CommandEntry, DevId, Miid, Moid, Package2};

use crate::Error;
use crate::notify::{self, NotificationChannel, UdpChannel};
use crate::shared::Shared;
use crate::store::{
    AlertRecord, CommandId, CommandRecord, DeviceRecord, DeviceRegistration, MemoryStore,
    ObjectOwner, RepositoryObject, SessionRecord, Store,
};
use crate::util::now_ms;

/// What [`Admin::notify`] sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotificationSent {
    /// Its NOTIFICATION-ID.
    pub notification_id: u16,
    /// Its TIMESTAMP (Unix seconds).
    pub timestamp: u64,
    /// Where it went.
    pub address: String,
    /// The binary Package#0.
    pub bytes: Vec<u8>,
}

/// The admin operations of a [`DmServer`](crate::DmServer), in-process:
/// register devices, queue commands, read results and alerts, send
/// notifications, manage the repository. Get it with
/// [`DmServer::admin`](crate::DmServer::admin); it is cheap to clone.
///
/// ```
/// use dm_server::{DeviceRegistration, DmServer, MemoryStore, ServerOptions, UdpChannel, CommandState};
/// use dm_types::{Command, DevId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let server = DmServer::new(ServerOptions::builder().build()?, MemoryStore::new(), UdpChannel);
/// let admin = server.admin();
/// let dev_id = DevId::new("IMEI:493005100592800")?;
/// let registration = DeviceRegistration::new(dev_id.clone())
///     .with_password("device-1", "secret", admin.realm());
/// admin.register_device(registration, false).await?;
/// let id = admin
///     .enqueue(&dev_id, Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"])?)
///     .await?;
/// assert_eq!(admin.command(&dev_id, id).await?.state, CommandState::Queued);
/// // END and CONT are the server's own.
/// assert!(admin.enqueue(&dev_id, Command::End).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Admin<S: Store = MemoryStore, C: NotificationChannel = UdpChannel> {
    pub(crate) shared: Arc<Shared<S, C>>,
}

impl<S: Store, C: NotificationChannel> Clone for Admin<S, C> {
    fn clone(&self) -> Self {
        Admin {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Store, C: NotificationChannel> std::fmt::Debug for Admin<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

fn unknown_device(dev_id: &DevId) -> Error {
    Error::DeviceNotFound(dev_id.clone())
}

/// Parses the Package#2 array form of one command (as the admin API
/// receives it), refusing END and CONT, which the server sends itself.
///
/// ```
/// use dm_server::parse_command;
///
/// let command = parse_command(&serde_json::json!(["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"]))?;
/// assert_eq!(command.name(), "GET");
/// assert_eq!(parse_command(&serde_json::json!(["GET"])).unwrap_err().status().as_u16(), 400);
/// assert_eq!(parse_command(&serde_json::json!(["END"])).unwrap_err().status().as_u16(), 422);
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_command(words: &serde_json::Value) -> Result<Command, Error> {
    let words = serde_json::to_vec(words).map_err(|e| Error::InvalidCommand {
        problem: e.to_string(),
    })?;
    let decoded = dm_codec::decode_command(&words, &dm_codec::Limits::default()).map_err(|e| {
        Error::InvalidCommand {
            problem: format!("not a command array: {e}"),
        }
    })?;
    let command = match decoded {
        CommandEntry::Command(command) => check_queueable(command)?,
        CommandEntry::Invalid(invalid) => {
            return Err(Error::InvalidCommand {
                problem: invalid.error.to_string(),
            });
        }
    };
    check_sendable(&command)?;
    Ok(command)
}

/// The command goes out in canonical form, where a ClientURI may grow (`!`
/// becomes `%21`): refuses one that a client with the default limits would
/// refuse in the Package#2 that carries it.
fn check_sendable(command: &Command) -> Result<(), Error> {
    let sent = Package2::new(vec![CommandEntry::Command(command.clone())]).map_err(|e| {
        Error::InvalidCommand {
            problem: e.to_string(),
        }
    })?;
    dm_codec::decode_package2(
        &dm_codec::encode_package2(&sent),
        &dm_codec::Limits::default(),
    )
    .map_err(|e| Error::InvalidCommand {
        problem: format!("the command in canonical form: {e}"),
    })?;
    Ok(())
}

/// Decodes the JSON body of an admin request as strictly as the protocol's
/// own documents ([`dm_codec::decode_json`]): a member name that appears
/// twice in an object, at any depth, is refused ([`Error::Codec`], 400),
/// naming the member and the byte where reading stopped, so that a proxy or
/// an audit log that reads the first of two `command` members can never
/// see another command than the one queued. Trailing bytes, invalid UTF-8
/// and nesting deeper than 64 are refused too.
///
/// ```
/// use dm_server::decode_admin_json;
///
/// let body = decode_admin_json(br#"{"dev_id":"IMEI:1"}"#)?;
/// assert_eq!(body["dev_id"], "IMEI:1");
/// let err = decode_admin_json(br#"{"dev_id":"IMEI:1","dev_id":"IMEI:2"}"#).unwrap_err();
/// assert_eq!(err.status().as_u16(), 400);
/// assert!(err.to_string().contains(r#"duplicate member "dev_id""#), "{err}");
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn decode_admin_json(body: &[u8]) -> Result<serde_json::Value, Error> {
    Ok(dm_codec::decode_json(body, &dm_codec::Limits::default())?)
}

/// Refuses an array where the admin API takes an object: `value` must be
/// an object, and each of `members` given (not `null`) one too (serde
/// would otherwise read a struct from an array of its members in order).
pub(crate) fn check_objects(
    what: &str,
    value: &serde_json::Value,
    members: &[&str],
) -> Result<(), Error> {
    let Some(object) = value.as_object() else {
        return Err(Error::InvalidCommand {
            problem: format!("{what}: expected an object"),
        });
    };
    for member in members {
        match object.get(*member) {
            None | Some(serde_json::Value::Null | serde_json::Value::Object(_)) => {}
            Some(_) => {
                return Err(Error::InvalidCommand {
                    problem: format!("{what}: {member} must be an object"),
                });
            }
        }
    }
    Ok(())
}

/// Parses the body of `POST /admin/devices/{DevID}/commands` as the admin
/// API does: strict JSON ([`decode_admin_json`]) with a `command` member
/// holding the Package#2 array form of one command ([`parse_command`]),
/// and an optional `use_cache` flag ([`CommandRequest`]).
///
/// ```
/// use dm_server::parse_command_request;
///
/// let request = parse_command_request(br#"{"command":["GET","urn:x:y/1/"],"use_cache":true}"#)?;
/// assert!(request.use_cache);
/// assert!(parse_command_request(br#"{"command":["GET","urn:x:y/1/"],"use_cache":1}"#).is_err());
/// assert!(parse_command_request(br#"{"command":["GET","urn:x:y/1/"],"cache":true}"#).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_command_request(body: &[u8]) -> Result<CommandRequest, Error> {
    let body = decode_admin_json(body)?;
    let Some(members) = body.as_object() else {
        return Err(Error::InvalidMember {
            member: "command",
            expected: "an object with a command array",
        });
    };
    if let Some(unknown) = members
        .keys()
        .find(|name| !matches!(name.as_str(), "command" | "use_cache"))
    {
        return Err(Error::InvalidCommand {
            problem: format!("unknown member {unknown:?} (expected command, use_cache)"),
        });
    }
    let words = body.get("command").ok_or(Error::InvalidMember {
        member: "command",
        expected: "a command array",
    })?;
    let command = parse_command(words)?;
    let use_cache = match body.get("use_cache") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(Error::InvalidMember {
                member: "use_cache",
                expected: "true or false",
            });
        }
    };
    Ok(CommandRequest { command, use_cache })
}

/// A command to queue, as the admin API's JSON body gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// The command.
    pub command: Command,
    /// Whether a GET asks with the validator of the instance the server
    /// keeps (`cv`, docs/protocol.md section 8; see `Admin::enqueue_cached`).
    pub use_cache: bool,
}

/// The command of a `POST /admin/devices/{DevID}/commands` body
/// ([`parse_command_request`] without the options).
///
/// ```
/// use dm_server::parse_command_body;
///
/// let command = parse_command_body(br#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//"]}"#)?;
/// assert_eq!(command.name(), "GET");
/// let smuggled = br#"{"command":["GET","urn:x:y//a"],"command":["EXEC","urn:x:y//b"]}"#;
/// assert_eq!(parse_command_body(smuggled).unwrap_err().status().as_u16(), 400);
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_command_body(body: &[u8]) -> Result<Command, Error> {
    parse_command_request(body).map(|request| request.command)
}

fn check_queueable(command: Command) -> Result<Command, Error> {
    match command {
        Command::End | Command::Cont { .. } => Err(Error::ServerCommand {
            name: command.name(),
        }),
        command => Ok(command),
    }
}

/// Longest repository path.
const MAX_PATH_LEN: usize = 1024;

/// Checks a repository path: 1 to 1024 bytes, non-empty segments other than
/// `.` and `..`, no control characters. A trailing `/` is dropped.
pub(crate) fn check_repository_path(path: &str) -> Result<&str, Error> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let valid = !path.is_empty()
        && path.len() <= MAX_PATH_LEN
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if valid {
        Ok(path)
    } else {
        Err(Error::InvalidPath(path.to_owned()))
    }
}

/// Checks an MO serialization body and re-encodes it canonically.
pub(crate) fn canonical_mo_data(body: &[u8], limits: &dm_codec::Limits) -> Result<String, Error> {
    let items = dm_codec::decode_mo_serialization(body, limits)?;
    String::from_utf8(dm_codec::encode_mo_serialization(&items))
        .map_err(|e| Error::store("encode MO data", e))
}

impl<S: Store, C: NotificationChannel> Admin<S, C> {
    pub(crate) fn new(shared: Arc<Shared<S, C>>) -> Self {
        Admin { shared }
    }

    fn store(&self) -> &S {
        &self.shared.store
    }

    /// The realm credentials are hashed for
    /// ([`DeviceRegistration::with_password`]).
    pub fn realm(&self) -> &str {
        &self.shared.options.realm
    }

    /// Registers a device ([`Error::DeviceExists`] if it exists, unless
    /// `replace`: then its credentials are replaced).
    pub async fn register_device(
        &self,
        registration: DeviceRegistration,
        replace: bool,
    ) -> Result<(), Error> {
        if let Some(address) = &registration.notification_address
            && !notify::is_valid_address(address)
        {
            return Err(Error::InvalidNotificationAddress(address.clone()));
        }
        let dev_id = registration.dev_id.clone();
        let now = now_ms();
        self.store()
            .register_device(registration, replace, now)
            .await?;
        self.shared
            .events
            .record(crate::events::device_registered(&dev_id, now));
        Ok(())
    }

    /// Registers a batch of new devices, all or nothing
    /// ([`Store::register_devices`]): when one of them cannot be registered
    /// ([`Error::DeviceExists`], [`Error::UsernameTaken`],
    /// [`Error::CertificateTaken`]), none is, and the error is the first
    /// one registering them in order would meet. A notification address
    /// that is not valid ([`Error::InvalidNotificationAddress`]) refuses the
    /// batch before the store is asked.
    ///
    /// ```
    /// # use dm_server::{DeviceRegistration, DmServer, MemoryStore, ServerOptions, UdpChannel};
    /// # use dm_types::DevId;
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let options = ServerOptions::builder().server_id("dm.example.com").build()?;
    /// let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
    /// let admin = server.admin();
    /// let one = DeviceRegistration::new(DevId::new("IMEI:493005100592800")?);
    /// let two = DeviceRegistration::new(DevId::new("IMEI:493005100592801")?);
    /// admin.register_devices(vec![one.clone(), two]).await?;
    /// let three = DeviceRegistration::new(DevId::new("IMEI:493005100592802")?);
    /// // The first is registered already: the third is not registered either.
    /// assert!(admin.register_devices(vec![three, one]).await.is_err());
    /// assert_eq!(admin.device_count().await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn register_devices(
        &self,
        registrations: Vec<DeviceRegistration>,
    ) -> Result<(), Error> {
        for registration in &registrations {
            if let Some(address) = &registration.notification_address
                && !notify::is_valid_address(address)
            {
                return Err(Error::InvalidNotificationAddress(address.clone()));
            }
        }
        let dev_ids: Vec<DevId> = registrations.iter().map(|r| r.dev_id.clone()).collect();
        let now = now_ms();
        self.store().register_devices(registrations, now).await?;
        self.shared.events.record_all(
            dev_ids
                .iter()
                .map(|dev_id| crate::events::device_registered(dev_id, now)),
        );
        Ok(())
    }

    /// Removes a device with everything about it.
    pub async fn remove_device(&self, dev_id: &DevId) -> Result<(), Error> {
        if self.store().remove_device(dev_id).await? {
            Ok(())
        } else {
            Err(unknown_device(dev_id))
        }
    }

    /// Devices in DevID order after `after`, at most `limit`.
    pub async fn devices(
        &self,
        after: Option<&DevId>,
        limit: usize,
    ) -> Result<Vec<DeviceRecord>, Error> {
        self.store().devices(after, limit).await
    }

    /// How many devices are registered.
    pub async fn device_count(&self) -> Result<usize, Error> {
        self.store().device_count().await
    }

    /// A device's record ([`Error::DeviceNotFound`] if unknown).
    pub async fn device(&self, dev_id: &DevId) -> Result<DeviceRecord, Error> {
        self.store()
            .device(dev_id)
            .await?
            .ok_or_else(|| unknown_device(dev_id))
    }

    /// The device's open sessions, oldest first ([`Error::DeviceNotFound`] if the
    /// device is unknown).
    pub async fn open_sessions(&self, dev_id: &DevId) -> Result<Vec<SessionRecord>, Error> {
        let device = self.device(dev_id).await?;
        self.open_sessions_of(&device).await
    }

    /// The open sessions `device` names that are still open, oldest first.
    pub(crate) async fn open_sessions_of(
        &self,
        device: &DeviceRecord,
    ) -> Result<Vec<SessionRecord>, Error> {
        let mut open = Vec::with_capacity(device.open_sessions.len());
        for token in &device.open_sessions {
            // One that ended since the device was read is left out.
            if let Some(session) = self.store().session(*token).await? {
                open.push(session);
            }
        }
        Ok(open)
    }

    /// Queues a command for the device's next session (END and CONT are
    /// refused: the server sends them itself).
    pub async fn enqueue(&self, dev_id: &DevId, command: Command) -> Result<CommandId, Error> {
        let command = check_queueable(command)?;
        let id = self
            .store()
            .enqueue_command(dev_id, command, now_ms())
            .await?;
        tracing::info!(%dev_id, %id, "command queued");
        Ok(id)
    }

    /// Queues a GET that asks with the cache validators the server kept
    /// (docs/protocol.md section 8): each target naming an instance root by
    /// its MIID (`MOID/MIID/`, the ClientURI a GET result gives) whose data
    /// the server keeps from an earlier GET gets `cv=<that validator>`.
    /// When the device answers `304`, the command's result is `304` with
    /// the kept data, and [`CommandRecord::from_cache`] is set; when the
    /// instance changed, the device sends the data (and the new validator,
    /// which the server keeps). Other targets go as they are (the device
    /// answers `304` only when every target carried a matching `cv`).
    ///
    /// Errors: those of [`Admin::enqueue`], and [`Error::NotCacheable`]
    /// for a command other than GET.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dm_server::{CachedInstance, DeviceRegistration, DmServer, MemoryStore, ServerOptions, Store, UdpChannel};
    /// use dm_types::{Command, DevId, Status, StatusCode};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let server = DmServer::new(ServerOptions::builder().build()?, store.clone(), UdpChannel);
    /// let admin = server.admin();
    /// let dev_id = DevId::new("IMEI:493005100592800")?;
    /// admin.register_device(DeviceRegistration::new(dev_id.clone()), false).await?;
    /// let get = Command::from_words(&["GET", "urn:x:battery:1.0/bat/"])?;
    /// // Nothing kept yet: the GET goes as it is.
    /// let first = admin.enqueue_cached(&dev_id, get.clone()).await?;
    /// assert_eq!(admin.command(&dev_id, first).await?.command, get);
    /// // What a GET result with a validator leaves in the store (the server
    /// // records it when the device's status arrives).
    /// let mut result = Status::new(StatusCode::OK);
    /// result.data = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:battery:1.0/bat/","CV":"7","MOData":{"Battery":{"Level":87}}}]"#,
    ///     &dm_codec::Limits::default(),
    /// )?;
    /// store.record_cached_instances(&dev_id, CachedInstance::from_result(&get, &result)).await?;
    /// let second = admin.enqueue_cached(&dev_id, get).await?;
    /// let sent = admin.command(&dev_id, second).await?.command;
    /// assert_eq!(sent.params().collect::<Vec<_>>(), ["urn:x:battery:1.0/bat/?cv=7"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn enqueue_cached(
        &self,
        dev_id: &DevId,
        command: Command,
    ) -> Result<CommandId, Error> {
        if !matches!(command, Command::Get { .. }) {
            return Err(Error::NotCacheable {
                name: command.name(),
            });
        }
        let mut kept = Vec::new();
        for (moid, miid) in cacheable_targets(&command) {
            if let Some(instance) = self.store().cached_instance(dev_id, &moid, &miid).await? {
                kept.push(instance);
            }
        }
        let asked = with_cache_validators(&command, |moid, miid| {
            kept.iter()
                .find(|k| k.moid == *moid && k.miid == *miid)
                .map(|k| k.cache_validator.clone())
        });
        // A validator that makes the command too large is not worth a
        // refusal: the GET goes without it.
        let command = if check_sendable(&asked).is_ok() {
            asked
        } else {
            command
        };
        self.enqueue(dev_id, command).await
    }

    /// The data the server keeps of one MO instance of the device, with its
    /// cache validator (from the last GET of the instance's root that
    /// returned one).
    pub async fn cached_instance(
        &self,
        dev_id: &DevId,
        moid: &Moid,
        miid: &Miid,
    ) -> Result<Option<CachedInstance>, Error> {
        self.store().cached_instance(dev_id, moid, miid).await
    }

    /// A command of the device ([`Error::CommandNotFound`] for another device's).
    pub async fn command(&self, dev_id: &DevId, id: CommandId) -> Result<CommandRecord, Error> {
        self.store()
            .command(id)
            .await?
            .filter(|c| c.dev_id == *dev_id)
            .ok_or_else(|| Error::CommandNotFound {
                id: id.0,
                dev_id: dev_id.clone(),
            })
    }

    /// The device's pending commands, then its finished ones.
    pub async fn commands(&self, dev_id: &DevId) -> Result<Vec<CommandRecord>, Error> {
        self.store().commands(dev_id).await
    }

    /// The alerts received from the device, oldest first.
    pub async fn alerts(&self, dev_id: &DevId) -> Result<Vec<AlertRecord>, Error> {
        self.store().alerts(dev_id).await
    }

    /// Sends the device a signed Package#0 asking it to open a session:
    /// [`Error::NoNotificationAddress`] when its notification address is unknown,
    /// [`Error::NoNotificationSecret`] when it has no notification secret,
    /// [`Error::Delivery`] when the channel fails.
    pub async fn notify(&self, dev_id: &DevId) -> Result<NotificationSent, Error> {
        let device = self.device(dev_id).await?;
        let address = device
            .notification_address
            .ok_or_else(|| Error::NoNotificationAddress(dev_id.clone()))?;
        let secret = device
            .notification_secret
            .ok_or_else(|| Error::NoNotificationSecret(dev_id.clone()))?;
        let notification_id = self.store().next_notification_id(dev_id).await?;
        self.deliver_notification(dev_id, address, &secret, notification_id)
            .await
    }

    /// Signs a Package#0 with `secret` under this server's SrvID (the
    /// SERVER-ID: the management server's, or the bootstrap server's in
    /// that role) and delivers it to `address`.
    pub(crate) async fn deliver_notification(
        &self,
        dev_id: &DevId,
        address: String,
        secret: &crate::NotificationSecret,
        notification_id: u16,
    ) -> Result<NotificationSent, Error> {
        let timestamp = now_ms() / 1000;
        let bytes = notify::build(
            &self.shared.options.server_id,
            notification_id,
            timestamp,
            secret,
        )?;
        let delivered = self.shared.channel.deliver(&address, &bytes).await;
        self.shared.metrics.notification(delivered.is_ok());
        delivered?;
        tracing::info!(%dev_id, %address, notification_id, "notification sent");
        Ok(NotificationSent {
            notification_id,
            timestamp,
            address,
            bytes,
        })
    }

    /// Stores an MO serialization document devices can HGET at
    /// `<public base>/repo/<path>`; `true` when the path was new. The body
    /// is checked against the repository limits and stored canonically.
    pub async fn put_repository(&self, path: &str, body: &[u8]) -> Result<bool, Error> {
        let path = check_repository_path(path)?;
        let limits = &self.shared.options.limits.codec;
        let canonical = canonical_mo_data(body, limits)?;
        self.store()
            .put_object(
                path,
                RepositoryObject::new(canonical, ObjectOwner::Server, now_ms()),
            )
            .await
    }

    /// A repository object (stored by the admin API or uploaded by a device).
    pub async fn repository(&self, path: &str) -> Result<Option<RepositoryObject>, Error> {
        let path = check_repository_path(path)?;
        self.store().object(path).await
    }

    /// Removes a repository object; `false` when there was none.
    pub async fn delete_repository(&self, path: &str) -> Result<bool, Error> {
        let path = check_repository_path(path)?;
        self.store().delete_object(path).await
    }

    /// Expires the sessions past their deadline now (the server does it
    /// periodically by itself) and returns them.
    pub async fn expire_sessions(&self) -> Result<Vec<SessionRecord>, Error> {
        self.shared.expire().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths() {
        assert_eq!(check_repository_path("a/b").ok(), Some("a/b"));
        assert_eq!(check_repository_path("a/b/").ok(), Some("a/b"));
        for bad in [
            "",
            "/",
            "a//b",
            "a/../b",
            "./a",
            "a/\u{1}",
            &"x".repeat(1025),
        ] {
            assert!(check_repository_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commands_from_json() {
        use serde_json::json;
        assert!(parse_command(&json!(["HGET", "https://r.example/a"])).is_ok());
        for (bad, status) in [
            (json!("GET"), 400),
            (json!([]), 400),
            (json!(["FROB"]), 400),
            (json!(["GET", "nope"]), 400),
            (json!(["GET", 1]), 400),
            (json!(["CONT", "https://x.example/"]), 422),
            (json!(["END"]), 422),
        ] {
            let err = parse_command(&bad).expect_err("refused");
            assert_eq!(err.status().as_u16(), status, "{bad} {err}");
        }
    }

    /// Found by the `admin_command` fuzz target: a ClientURI within the
    /// length limit as written, over it in canonical form.
    #[test]
    fn a_command_that_outgrows_the_limits_in_canonical_form_is_refused() {
        let uri = format!("urn:x:a//{}", "!".repeat(2000));
        let written = serde_json::json!(["GET", uri]);
        let err = parse_command(&written).expect_err("refused");
        assert_eq!(err.status().as_u16(), 400, "{err}");
        let fits = format!("urn:x:a//{}", "!".repeat(1000));
        assert!(parse_command(&serde_json::json!(["GET", fits])).is_ok());
    }
}
