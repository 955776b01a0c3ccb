//! [`DmClient`]: the async facade that drives `dm_session::ClientSession`
//! over HTTP(S), answers notifications, delivers asynchronous results and
//! change reports, and persists the tree.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dm_codec::{Limits, mime};
use dm_session::{
    BrowserLauncher, Busy, ClientConfig, ClientEnd, ClientEvent, ClientSession, DefaultFetch,
    ManagementTree, Method, Response, Trigger,
};
use dm_tree::{
    DACMO_MOID, DMACC_MOID, DevInfo, DmAcc, ExecOutcome, MoTree, NodeHandler, Principal,
    SESSIONINFO_MOID, SessionInfo,
};
use dm_types::{
    Alert, ClientUri, CommandEntry, DevId, LeafValue, MoData, MoItem, MoNode, Moid, MosEntry,
    NodeName, Segment, ServerId, ServerUri, StatusCode,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::Error;
use crate::auth::Credentials;
use crate::notify::{Ignored, NotificationOutcome};
use crate::state::{self, ClientState, PendingAlert, RunningExec};
use crate::transport::{HttpSession, NoAnswer, Outgoing, Transport};

/// One server the device is managed by: its DMAcc (written into the tree
/// when the tree has no account for that server yet — a factory
/// bootstrap) and how to reach it.
///
/// ```
/// use dm_client::{Account, Credentials};
/// use dm_tree::DmAcc;
/// use dm_types::{ServerId, ServerUri};
///
/// let account = Account::new(DmAcc::new(ServerId::new("dm.example")?, ServerUri::new("https://dm.example/dm")?))
///     .credentials(Credentials::password("device-1", "secret"))
///     .allow_every_moid(true);
/// # let _ = account;
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Account {
    dm_acc: DmAcc,
    settings: AccountSettings,
}

/// What the client keeps of an [`Account`] (the DMAcc itself lives in the
/// tree).
#[derive(Debug, Clone)]
struct AccountSettings {
    server_id: ServerId,
    credentials: Credentials,
    every_moid: bool,
    transport: Option<Transport>,
}

impl Account {
    /// An account without HTTP credentials, limited to the DMAcc's `Perm`
    /// MOIDs, using the client's transport.
    pub fn new(dm_acc: DmAcc) -> Account {
        Account {
            settings: AccountSettings {
                server_id: dm_acc.server_id.clone(),
                credentials: Credentials::None,
                every_moid: false,
                transport: None,
            },
            dm_acc,
        }
    }

    /// HTTP credentials for this server (sent only to its origin).
    pub fn credentials(mut self, credentials: Credentials) -> Account {
        self.settings.credentials = credentials;
        self
    }

    /// Lets this server manage every MOID: before each session the MOIDs
    /// present in the tree are added to its `Perm` list, and an HGET that
    /// creates an instance of a new MOID adds that MOID first. The DMAcc
    /// and DACMO MOIDs are never added this way (accounts and access
    /// control belong to the device). Without it the `Perm` list is exactly
    /// what the DMAcc holds.
    pub fn allow_every_moid(mut self, every: bool) -> Account {
        self.settings.every_moid = every;
        self
    }

    /// A transport of its own for this server (for example with a TLS
    /// client certificate issued for it).
    pub fn transport(mut self, transport: Transport) -> Account {
        self.settings.transport = Some(transport);
        self
    }
}

/// Receives what happens in the client as it happens (sessions driven by
/// [`DmClient::listen_udp`] included). Every method has an empty default.
pub trait Observer: Send + Sync {
    /// A session event: SHOW (`LaunchBrowser`: the
    /// [`BrowserLauncher`] opened the page), DEFAULT, EXEC started
    /// asynchronously, EXEC with a ServerURI finished at once (its result
    /// is kept for a new session).
    fn event(&self, server: &ServerId, event: &ClientEvent) {
        let _ = (server, event);
    }

    /// A session ended.
    fn session_ended(&self, report: &SessionReport) {
        let _ = report;
    }

    /// A notification passed every check; its session starts.
    fn notification_accepted(&self, server: &ServerId, notification_id: Option<u16>) {
        let _ = (server, notification_id);
    }

    /// A notification was ignored.
    fn notification_ignored(&self, reason: &Ignored) {
        let _ = reason;
    }
}

/// What a session did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionReport {
    /// The server of the session.
    pub server_id: ServerId,
    /// How it ended: [`ClientEnd::Completed`] when the server sent END.
    pub end: ClientEnd,
    /// Package#2 received (answered HTTP 200).
    pub packages: usize,
    /// Commands the server sent (END not counted).
    pub commands: usize,
    /// Events seen, in order: browser launches, DEFAULTs, EXECs started or
    /// finished.
    pub events: Vec<ClientEvent>,
    /// Alerts of this client delivered in Package#1 (asynchronous results,
    /// raised alerts, the notification address) and, when the server ended
    /// the session, in its Package#3 (alerts raised through an
    /// [`AlertSender`] during the session).
    pub alerts_delivered: usize,
    /// Whether the tree changed (and was persisted).
    pub tree_changed: bool,
}

impl SessionReport {
    fn new(server_id: ServerId) -> SessionReport {
        SessionReport {
            server_id,
            end: ClientEnd::Aborted("the session did not start".into()),
            packages: 0,
            commands: 0,
            events: Vec::new(),
            alerts_delivered: 0,
            tree_changed: false,
        }
    }

    /// Whether the server ended the session with END.
    pub fn completed(&self) -> bool {
        self.end == ClientEnd::Completed
    }
}

impl std::fmt::Display for SessionReport {
    /// `completed (3 commands)`, `refused: the server answered HTTP 413
    /// (2 commands)` or `aborted: <reason> (1 command)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.end)?;
        let plural = if self.commands == 1 { "" } else { "s" };
        write!(f, " ({} command{plural})", self.commands)
    }
}

/// The outcome of [`DmClient::ensure_configuration`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Configuration {
    /// The tree already holds an instance of the MOID.
    Present,
    /// It was fetched from the DEFAULT ServerURI and written at these
    /// places.
    Fetched(Vec<ClientUri>),
}

/// Reports the end of an asynchronous EXEC from anywhere (a
/// [`NodeHandler`], a task, another thread): cheap to clone. The client
/// takes the results in [`DmClient::listen_udp`],
/// [`DmClient::take_exec_completions`], or at the end of a session.
#[derive(Debug, Clone)]
pub struct ExecCompletion {
    sender: mpsc::UnboundedSender<Report>,
}

impl ExecCompletion {
    /// Reports that the EXEC of `node` (as the server named it, or its
    /// absolute ClientURI) finished with `status`. False when the client is
    /// gone.
    pub fn finished(&self, node: ClientUri, status: StatusCode) -> bool {
        self.sender.send(Report::Exec(node, status)).is_ok()
    }
}

/// Raises generic alerts from anywhere — a [`NodeHandler`] in the middle of
/// a session, a task, another thread — as [`DmClient::raise_alert`] does
/// (cheap to clone).
///
/// An alert for the server of a session under way goes in that session's
/// next Package#3 (docs/protocol.md section 3.3); if the session ends
/// first (END, abort), it is kept pending for the next session. Otherwise
/// the client takes it in [`DmClient::listen_udp`] (delivered as its
/// [`Delivery`] says), [`DmClient::take_exec_completions`] (kept pending)
/// or the next session (in its Package#3, or kept pending when it is for
/// another server). Until the client takes it, the alert is held in
/// memory only.
#[derive(Debug, Clone)]
pub struct AlertSender {
    sender: mpsc::UnboundedSender<Report>,
}

impl AlertSender {
    /// Raises `alert` for `server`. Errors: [`Error::SessionStartAlert`]
    /// for a session-start alert type, [`Error::InvalidAlert`] for one that
    /// does not decode back, [`Error::ClientGone`] when the
    /// client no longer exists. A server without account is found out when
    /// the client takes the alert (it is then logged and dropped).
    pub fn raise(&self, server: ServerId, alert: Alert, delivery: Delivery) -> Result<(), Error> {
        check_alert(&alert)?;
        self.sender
            .send(Report::Alert(server, alert, delivery))
            .map_err(|_| Error::ClientGone)
    }
}

/// Refuses what the client must not send or keep: session-start alert
/// types (the client sends those itself), and alerts that would not decode
/// back — from the state file, or at the server — under the default limits.
fn check_alert(alert: &Alert) -> Result<(), Error> {
    if alert.alert_type.is_session_start() {
        return Err(Error::SessionStartAlert(alert.alert_type.clone()));
    }
    dm_codec::decode_alert(&dm_codec::encode_alert(alert), &Limits::default())
        .map(drop)
        .map_err(|e| Error::InvalidAlert(e.to_string()))
}

/// The result alert a handler built, or — when it is not one the client
/// can keep and send ([`check_alert`]) — the default `ExecComplete` alert,
/// so that a result is never lost.
fn result_alert(alert: Alert, node: &ClientUri, status: StatusCode) -> Alert {
    match check_alert(&alert) {
        Ok(()) => alert,
        Err(e) => {
            tracing::warn!(
                node = node.as_str(),
                "the handler's result alert is replaced by ExecComplete: {e}"
            );
            Alert::exec_complete(node, status)
        }
    }
}

/// What the handles report to the client.
#[derive(Debug)]
enum Report {
    /// An asynchronous EXEC finished ([`ExecCompletion`]).
    Exec(ClientUri, StatusCode),
    /// An alert was raised ([`AlertSender`]).
    Alert(ServerId, Alert, Delivery),
}

/// Signals from anywhere (a [`NodeHandler`], a sensor task, another
/// thread) that live values a handler serves changed: cheap to clone. The
/// client handles each signal as [`DmClient::notify_changed`] (new cache
/// validator, change reports), in [`DmClient::listen_udp`] as they come or
/// with [`DmClient::take_changes`]. Several signals for the same node before
/// the client handles them count as one.
///
/// ```
/// use dm_client::DmClient;
/// use dm_tree::DevInfo;
/// use dm_types::{ClientUri, DevId};
///
/// let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1")).build()?;
/// let signal = client.change_signal();
/// std::thread::spawn(move || {
///     signal.changed(ClientUri::parse("urn:x:battery:1.0/bat/Level").expect("ClientURI"));
/// })
/// .join()
/// .expect("signalled");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChangeSignal {
    sender: mpsc::UnboundedSender<ClientUri>,
}

impl ChangeSignal {
    /// Signals that the live value at `node` (any ClientURI form; typically
    /// a leaf's absolute ClientURI) changed. False when the client is gone.
    pub fn changed(&self, node: ClientUri) -> bool {
        self.sender.send(node).is_ok()
    }
}

#[derive(Debug)]
struct Changes {
    sender: mpsc::UnboundedSender<ClientUri>,
    receiver: mpsc::UnboundedReceiver<ClientUri>,
}

#[derive(Debug)]
struct Completions {
    sender: mpsc::UnboundedSender<Report>,
    receiver: mpsc::UnboundedReceiver<Report>,
}

/// The device client a vendor embeds: the management tree (DevInfo, one
/// DMAcc per server, the product's MOs), HTTP(S) sessions with those
/// servers, notification reception, asynchronous EXEC results, DEFAULT
/// configuration fetches, change reports, and atomic persistence.
///
/// Build one with [`DmClient::builder`]. The client is small when idle —
/// mostly its tree — so that a process can simulate a large fleet; many
/// clients can share one [`Transport`].
///
/// ```no_run
/// use dm_client::{Account, Credentials, DmClient, Trigger};
/// use dm_tree::{DevInfo, DmAcc};
/// use dm_types::{DevId, ServerId, ServerUri};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ServerId::new("dm.example")?;
/// let mut account = DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?);
/// account.perm_moids.push("urn:oma:mo:oma-dm-devinfo:1.0".parse()?);
/// let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:493005100592800")?, "Acme", "X1"))
///     .account(Account::new(account).credentials(Credentials::password("device-1", "secret")))
///     .state_file("/var/lib/acme/dm-state.json")
///     .build()?;
/// let report = client.run_session(&server, Trigger::Client).await?;
/// println!("session {report}");
/// # Ok(())
/// # }
/// ```
pub struct DmClient {
    tree: MoTree,
    dev_id: DevId,
    accounts: Vec<AccountSettings>,
    transport: Transport,
    state: ClientState,
    state_file: Option<Box<Path>>,
    settings: Arc<Settings>,
    notification_address: Option<Box<str>>,
    completions: Option<Box<Completions>>,
    changes: Option<Box<Changes>>,
    observer: Option<Arc<dyn Observer>>,
    browser: Option<Arc<dyn BrowserLauncher>>,
    busy: Busy,
}

/// When [`DmClient::raise_alert`] delivers an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// In Package#1 of the next session with the server, whoever starts
    /// it (the device, a notification); kept until then, in the state file
    /// when the client has one.
    NextSession,
    /// In a client-initiated session started at once (with every other
    /// alert pending for that server).
    Now,
}

/// Settings that rarely differ between clients: clients built with the
/// defaults share one allocation.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    limits: Limits,
    notification_window: Duration,
    packages_per_session: usize,
    max_session_duration: Duration,
    bearer: String,
    default_uris_per_server: usize,
    notifications_per_window: usize,
}

impl std::fmt::Debug for DmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmClient")
            .field("dev_id", &self.dev_id)
            .field("accounts", &self.accounts)
            .field("state_file", &self.state_file)
            .field("notification_address", &self.notification_address)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DmClient`].
#[must_use]
pub struct DmClientBuilder {
    devinfo: DevInfo,
    accounts: Vec<Account>,
    tree: Option<MoTree>,
    state_file: Option<PathBuf>,
    allow_shared_permissions: bool,
    transport: Option<Transport>,
    notification_address: Option<String>,
    observer: Option<Arc<dyn Observer>>,
    browser: Option<Arc<dyn BrowserLauncher>>,
    settings: Settings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            notification_window: Duration::from_secs(300),
            packages_per_session: 64,
            max_session_duration: Duration::from_secs(600),
            bearer: "OTHER".into(),
            default_uris_per_server: 64,
            notifications_per_window: state::NOTIFICATIONS_PER_WINDOW,
        }
    }
}

/// The default settings, shared.
static DEFAULT_SETTINGS: std::sync::LazyLock<Arc<Settings>> =
    std::sync::LazyLock::new(|| Arc::new(Settings::default()));

impl DmClient {
    /// A builder for a device with this DevInfo.
    pub fn builder(devinfo: DevInfo) -> DmClientBuilder {
        DmClientBuilder {
            devinfo,
            accounts: Vec::new(),
            tree: None,
            state_file: None,
            allow_shared_permissions: false,
            transport: None,
            notification_address: None,
            observer: None,
            browser: None,
            settings: Settings::default(),
        }
    }

    /// The tree stored in the state file at `path`, read without building
    /// a client: every instance and subscription, but none of the
    /// definitions and handlers a builder attaches. `None` when the file
    /// does not exist (a builder with this state file would start from its
    /// own tree).
    ///
    /// Errors are those of [`DmClientBuilder::build`] for the same file:
    /// [`Error::StateIo`] when it cannot be read, [`Error::StateCorrupt`]
    /// when it is not a valid state file.
    ///
    /// ```
    /// use dm_client::DmClient;
    /// use dm_tree::DevInfo;
    /// use dm_types::DevId;
    ///
    /// let path = std::env::temp_dir().join(format!("dm-stored-tree-{}.json", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// assert!(DmClient::stored_tree(&path)?.is_none());
    /// DmClient::builder(DevInfo::new(DevId::new("IMEI:493005100592800")?, "Acme", "X1"))
    ///     .state_file(&path)
    ///     .build()?;
    /// let tree = DmClient::stored_tree(&path)?.expect("the file was written");
    /// assert_eq!(tree.instances_of(dm_tree::DEVINFO_MOID).count(), 1);
    /// assert!(tree.dm_accs().is_empty());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stored_tree(path: impl AsRef<Path>) -> Result<Option<MoTree>, Error> {
        state::read_tree(path.as_ref())
    }

    /// The `DevID` stored in the state file at `path`, read without
    /// building a client — for example to keep a device's identity when
    /// its DevInfo is rebuilt: [`DmClientBuilder::build`] replaces a stored
    /// DevInfo that differs from the one given.
    ///
    /// The DevID is the one the device last ran with, recorded in the state
    /// file apart from the tree, so nothing a server wrote into the tree
    /// changes it: a DevInfo instance a server created is ignored, and a
    /// DevInfo whose `DevID` differs from the recorded one is reported
    /// (logged) and overruled. Files written before the DevID was recorded
    /// give the `DevID` of the DevInfo instance the device created.
    ///
    /// `None` when the file does not exist or holds no DevID (in both
    /// cases a build writes the DevInfo it is given). Errors:
    /// [`Error::StateIo`] when the file cannot be read,
    /// [`Error::StateCorrupt`] when it is not a valid state file, or
    /// records no DevID and its DevInfo has no valid `DevID` or there are
    /// several device-made DevInfo instances with different DevIDs (the
    /// message names them and how to recover).
    ///
    /// ```
    /// use dm_client::DmClient;
    /// use dm_tree::DevInfo;
    /// use dm_types::DevId;
    ///
    /// let path = std::env::temp_dir().join(format!("dm-stored-dev-id-{}.json", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// assert_eq!(DmClient::stored_dev_id(&path)?, None);
    /// let dev_id = DevId::new("IMEI:493005100592800")?;
    /// DmClient::builder(DevInfo::new(dev_id.clone(), "Acme", "X1"))
    ///     .state_file(&path)
    ///     .build()?;
    /// assert_eq!(DmClient::stored_dev_id(&path)?, Some(dev_id));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stored_dev_id(path: impl AsRef<Path>) -> Result<Option<DevId>, Error> {
        let path = path.as_ref();
        let Some(bytes) = state::read(path)? else {
            return Ok(None);
        };
        let (tree, state) = state::decode(&bytes, MoTree::new(), path)?;
        state::stored_dev_id(&tree, &state, path)
    }
}

impl DmClientBuilder {
    /// Adds a server account (see [`Account`]).
    pub fn account(mut self, account: Account) -> DmClientBuilder {
        self.accounts.push(account);
        self
    }

    /// The tree to start from. Its definitions ([`MoTree::define`]) and
    /// node handlers ([`MoTree::set_handler`]) are always kept; its
    /// instances and subscriptions are used only when no state file exists
    /// yet (a state file, when present, holds the tree).
    pub fn tree(mut self, tree: MoTree) -> DmClientBuilder {
        self.tree = Some(tree);
        self
    }

    /// Loads the tree and client state from `path` when it exists, and
    /// writes them there atomically after every change.
    ///
    /// The file holds the account secrets, so on Unix it is written
    /// owner-only (mode `0600`, set when the file is created), and
    /// [`DmClientBuilder::build`] refuses a state file group or others can
    /// read or write ([`Error::StatePermissions`]) unless
    /// [`DmClientBuilder::allow_shared_permissions`] says otherwise. It also
    /// removes the temporary files (`.NAME.PID-COUNTER.tmp` beside it) a
    /// process killed in the middle of a write left behind. Other platforms
    /// have no permission bits to check: the file gets the directory's
    /// default access, which should be restricted to the device's account.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> DmClientBuilder {
        self.state_file = Some(path.into());
        self
    }

    /// Starts even when group or others can read or write the state file
    /// (default `false`: refused with [`Error::StatePermissions`]), for
    /// file systems without Unix permissions. What the client writes is
    /// still owner-only: the first save replaces the file with one of mode
    /// `0600`.
    ///
    /// ```
    /// use dm_client::{DmClient, Error};
    /// use dm_tree::DevInfo;
    /// use dm_types::DevId;
    ///
    /// let path = std::env::temp_dir().join(format!("dm-shared-{}.json", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let builder = || DmClient::builder(DevInfo::new(DevId::new("IMEI:1").unwrap(), "Acme", "X1"))
    ///     .state_file(&path);
    /// builder().build()?;
    /// #[cfg(unix)]
    /// {
    ///     use std::os::unix::fs::PermissionsExt as _;
    ///     std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    ///     assert!(matches!(builder().build(), Err(Error::StatePermissions { mode: 0o644, .. })));
    ///     builder().allow_shared_permissions(true).build()?;
    /// }
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow_shared_permissions(mut self, allow: bool) -> DmClientBuilder {
        self.allow_shared_permissions = allow;
        self
    }

    /// The HTTP(S) transport, shared with other clients (default: one of
    /// its own, built with [`Transport::builder`]).
    pub fn transport(mut self, transport: Transport) -> DmClientBuilder {
        self.transport = Some(transport);
        self
    }

    /// Where the device listens for notifications (e.g.
    /// `udp://192.0.2.7:9443`): announced in every Package#1 with a
    /// `NotificationAddress` alert.
    pub fn notification_address(mut self, address: impl Into<String>) -> DmClientBuilder {
        self.notification_address = Some(address.into());
        self
    }

    /// How far a notification's TIMESTAMP may lie from the device's clock
    /// (default 300 s).
    pub fn notification_window(mut self, window: Duration) -> DmClientBuilder {
        self.settings.notification_window = window;
        self
    }

    /// Most notifications one server gets accepted while their TIMESTAMPs
    /// are inside the window (default 64, at most 4096): every
    /// NOTIFICATION-ID accepted inside the window is remembered, so none is
    /// accepted twice, and beyond this many a notification is ignored
    /// (`Replay::TooMany`) until older ones leave the window.
    pub fn notifications_per_window(mut self, count: usize) -> DmClientBuilder {
        self.settings.notifications_per_window =
            count.clamp(1, state::MAX_NOTIFICATIONS_PER_WINDOW);
        self
    }

    /// Decoding limits for Package#2 and repository bodies.
    pub fn limits(mut self, limits: Limits) -> DmClientBuilder {
        self.settings.limits = limits;
        self
    }

    /// Most Package#2 in one session (default 64) and longest session
    /// (default 10 minutes); past either the session is aborted.
    pub fn session_limits(mut self, packages: usize, duration: Duration) -> DmClientBuilder {
        self.settings.packages_per_session = packages;
        self.settings.max_session_duration = duration;
        self
    }

    /// How many MOIDs one server may name with DEFAULT (default 64): past
    /// that a DEFAULT for a new MOID answers `413`, so a server cannot grow
    /// the state file without bound. What servers write into the tree is
    /// bounded by the tree's own [`TreeLimits`](dm_tree::TreeLimits).
    ///
    /// ```
    /// use dm_client::DmClient;
    /// use dm_tree::DevInfo;
    /// use dm_types::DevId;
    ///
    /// let client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1"))
    ///     .default_uris_per_server(8)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn default_uris_per_server(mut self, count: usize) -> DmClientBuilder {
        self.settings.default_uris_per_server = count;
        self
    }

    /// The SessionInfo `CBT` value (default `OTHER`).
    pub fn bearer(mut self, bearer: impl Into<String>) -> DmClientBuilder {
        self.settings.bearer = bearer.into();
        self
    }

    /// Receives events, session ends and ignored notifications as they
    /// happen.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> DmClientBuilder {
        self.observer = Some(observer);
        self
    }

    /// The device's Web Browser Component, which SHOW launches: the command
    /// answers `200` when [`BrowserLauncher::launch`] returns `Ok` and
    /// `500` when it fails (the reason is logged on the device, never sent).
    /// Without one — the default — the device has no browser and every
    /// SHOW answers `500` (docs/protocol.md section 4).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dm_client::{BrowserLauncher, DmClient};
    /// use dm_tree::DevInfo;
    /// use dm_types::{DevId, ServerUri};
    ///
    /// struct Browser;
    ///
    /// impl BrowserLauncher for Browser {
    ///     fn launch(&self, page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    ///         std::process::Command::new("xdg-open").arg(page.as_str()).spawn()?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1"))
    ///     .browser(Arc::new(Browser))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn browser(mut self, browser: Arc<dyn BrowserLauncher>) -> DmClientBuilder {
        self.browser = Some(browser);
        self
    }

    /// Builds the client: removes stale temporary files of the state file,
    /// refuses a state file group or others can read or write
    /// ([`Error::StatePermissions`], see
    /// [`DmClientBuilder::allow_shared_permissions`]), loads the state file
    /// when there is one (a corrupt file is [`Error::StateCorrupt`], never
    /// a silent reset), writes DevInfo (replacing a stored one that differs) and the DMAcc
    /// of each account the tree lacks, and persists the result.
    ///
    /// The standard definitions (DevInfo, DMAcc, SessionInfo, DACMO) are
    /// always registered ([`MoTree::define_standard`]), whatever the
    /// product's tree holds. A state file a hostile session could have
    /// damaged still loads: instances no server may make (a second DevInfo
    /// a server created, for example) are removed with a logged warning
    /// ([`MoTree::remove_surplus_instances`]), the device keeps exactly one
    /// DevInfo (the configured one), a configured DevID that differs from
    /// the stored one is logged, and a tree beyond its data limit is
    /// logged. What cannot be repaired is [`Error::StateCorrupt`] naming
    /// the problem and the way out.
    pub fn build(self) -> Result<DmClient, Error> {
        let stored = match &self.state_file {
            Some(path) => {
                for stale in state::remove_stale_temporaries(path)? {
                    tracing::info!(
                        file = %stale.display(),
                        "removed a temporary file an interrupted write left"
                    );
                }
                if !self.allow_shared_permissions {
                    state::check_permissions(path)?;
                }
                state::read(path)?
            }
            None => None,
        };
        let (client, changed) = self.assemble(stored.as_deref())?;
        if changed {
            client.save()?;
        }
        Ok(client)
    }

    /// [`DmClientBuilder::build`] given the state file's bytes (`None`: no
    /// file) instead of reading them; `true` when the state file needs
    /// writing. Writes nothing.
    pub(crate) fn assemble(self, stored: Option<&[u8]>) -> Result<(DmClient, bool), Error> {
        let mut base = self.tree.unwrap_or_default();
        // The standard MOs' rules (one DevInfo, read-only DevInfo and
        // SessionInfo, secret DMAcc nodes, device-maintained DACMO) hold
        // whatever the product registered (docs/protocol.md section 10.2).
        base.define_standard();
        let (mut tree, mut state, mut changed) = match (&self.state_file, stored) {
            (Some(path), Some(bytes)) => {
                let mut changed = false;
                let (mut tree, state) = state::decode(bytes, strip(base), path)?;
                // A hostile session under an older version may have left
                // instances no server can make now: drop them, loudly.
                let removed = tree.remove_surplus_instances();
                for uri in &removed {
                    tracing::warn!(
                        state_file = %path.display(),
                        instance = uri.as_str(),
                        "removed an instance a server created where the MO allows only the device's one"
                    );
                }
                for subscription in tree.remove_unreadable_subscriptions() {
                    tracing::warn!(
                        state_file = %path.display(),
                        server = subscription.server.as_str(),
                        target = subscription.target.as_str(),
                        "removed a subscription to a node its server may never read"
                    );
                    changed = true;
                }
                let stored_dev_id = state::stored_dev_id(&tree, &state, path)?;
                if let Some(stored_dev_id) = stored_dev_id
                    && stored_dev_id != self.devinfo.dev_id
                {
                    tracing::warn!(
                        state_file = %path.display(),
                        stored = stored_dev_id.as_str(),
                        configured = self.devinfo.dev_id.as_str(),
                        "the configured DevID replaces the one stored in the state file"
                    );
                }
                let limit = tree.limits().data_bytes;
                if tree.data_bytes() > limit {
                    tracing::warn!(
                        state_file = %path.display(),
                        data_bytes = tree.data_bytes(),
                        limit,
                        "the stored tree exceeds the data limit: servers' writes that grow it are refused (413) until data is deleted"
                    );
                }
                (tree, state, changed || !removed.is_empty())
            }
            (Some(_), None) => (base, ClientState::default(), true),
            (None, _) => (base, ClientState::default(), false),
        };
        state
            .notification_ids
            .set_max_per_window(self.settings.notifications_per_window);
        // Exactly one DevInfo, the configured one.
        let devinfo = self.devinfo.to_instance();
        let stored: Vec<(dm_types::Miid, Option<dm_types::MoData>)> = tree
            .instances_of(dm_tree::DEVINFO_MOID)
            .map(|i| (i.miid().clone(), i.to_mo_data(dm_tree::NodeId::ROOT)))
            .collect();
        let wanted = devinfo.to_mo_data(dm_tree::NodeId::ROOT);
        let current = matches!(stored.as_slice(), [(miid, data)] if *miid == *devinfo.miid() && *data == wanted);
        if !current {
            for (miid, _) in &stored {
                tree.remove(dm_tree::DEVINFO_MOID, miid.as_str());
            }
            tree.insert(devinfo)?;
            changed = true;
        }
        if state.dev_id.as_ref() != Some(&self.devinfo.dev_id) {
            state.dev_id = Some(self.devinfo.dev_id.clone());
            changed |= self.state_file.is_some();
        }
        let mut accounts = Vec::new();
        for account in self.accounts {
            if tree.dm_acc(&account.dm_acc.server_id)?.is_none() {
                tree.add_dm_acc(&account.dm_acc)?;
                changed = true;
            }
            if accounts
                .iter()
                .any(|a: &AccountSettings| a.server_id == account.settings.server_id)
            {
                return Err(Error::Config(format!(
                    "two accounts for server {}",
                    account.settings.server_id
                )));
            }
            accounts.push(account.settings);
        }
        let transport = match self.transport {
            Some(transport) => transport,
            None => Transport::builder().build()?,
        };
        let client = DmClient {
            tree,
            dev_id: self.devinfo.dev_id,
            accounts,
            transport,
            state,
            state_file: self.state_file.map(PathBuf::into_boxed_path),
            settings: if self.settings == **DEFAULT_SETTINGS {
                Arc::clone(&DEFAULT_SETTINGS)
            } else {
                Arc::new(self.settings)
            },
            notification_address: self.notification_address.map(String::into_boxed_str),
            completions: None,
            changes: None,
            observer: self.observer,
            browser: self
                .browser
                .map(|browser| Arc::new(LoggedLaunches(browser)) as Arc<dyn BrowserLauncher>),
            busy: Busy::default(),
        };
        Ok((client, changed))
    }
}

/// `tree` without instances and subscriptions: its definitions and
/// handlers only.
fn strip(mut tree: MoTree) -> MoTree {
    let instances: Vec<(String, String)> = tree
        .instances()
        .map(|i| (i.moid().as_str().to_owned(), i.miid().as_str().to_owned()))
        .collect();
    for (moid, miid) in instances {
        tree.remove(&moid, &miid);
    }
    let subscriptions: Vec<(ServerId, ClientUri)> = tree
        .subscriptions()
        .iter()
        .map(|s| (s.server.clone(), s.target.clone()))
        .collect();
    for (server, target) in subscriptions {
        let _ = tree.unsubscribe(&server, &target);
    }
    tree
}

impl DmClient {
    /// The device's tree.
    pub fn tree(&self) -> &MoTree {
        &self.tree
    }

    /// The device's DevID (`OMADM-DevID`).
    pub fn dev_id(&self) -> &DevId {
        &self.dev_id
    }

    /// The servers with a DMAcc account in the tree, in MIID order.
    pub fn servers(&self) -> Vec<ServerId> {
        self.tree
            .dm_accs()
            .into_iter()
            .filter_map(Result::ok)
            .map(|account| account.server_id)
            .collect()
    }

    /// The notification address announced in Package#1.
    pub fn notification_address(&self) -> Option<&str> {
        self.notification_address.as_deref()
    }

    /// Sets (or clears) the notification address announced in Package#1,
    /// for example once the listening socket is bound.
    pub fn set_notification_address(&mut self, address: Option<String>) {
        self.notification_address = address.map(String::into_boxed_str);
    }

    /// Registers the handler behind the nodes of `moid` (live values,
    /// EXEC). Handlers are not persisted: register them after every start.
    pub fn set_handler(&mut self, moid: Moid, handler: Arc<dyn NodeHandler>) {
        self.tree.set_handler(moid, handler);
    }

    /// Alerts waiting for a session: asynchronous EXEC results and alerts
    /// raised with [`DmClient::raise_alert`].
    pub fn pending_reports(&self) -> usize {
        self.state.pending.len()
    }

    /// Adds `alert` to the pending list for `server` (not saved).
    fn keep_alert(&mut self, server: &ServerId, alert: Alert) -> Result<(), Error> {
        if self.tree.dm_acc(server)?.is_none() {
            return Err(Error::UnknownServer(server.clone()));
        }
        self.state.pending.push(PendingAlert {
            server: server.clone(),
            report_to: None,
            alert,
        });
        Ok(())
    }

    /// The device's busy flag (a handle sharing the client's one flag:
    /// keep it, set it from anywhere). While it is set, the commands of
    /// every session answer `503` instead of running — every command but
    /// END and CONT, which steer the session, and malformed or unknown
    /// ones, which keep their `400`/`501` (see [`Busy`]). The device
    /// still opens sessions, answers notifications and delivers alerts.
    ///
    /// ```
    /// use dm_client::DmClient;
    /// use dm_tree::DevInfo;
    /// use dm_types::DevId;
    ///
    /// let client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1")).build()?;
    /// let busy = client.busy();
    /// busy.set(true); // e.g. while a firmware update installs
    /// assert!(client.busy().is_busy());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn busy(&self) -> Busy {
        self.busy.clone()
    }

    /// Raises a generic alert (docs/protocol.md sections 3.5 and 6) for
    /// `server`: an application alert, or an asynchronous result of the
    /// product's own (any `AlertType`, with `SourceURI`, `TargetURI`,
    /// `Mark`, `DataType` and `Data` as the alert carries them).
    ///
    /// The alert is kept as pending — in the state file when the client
    /// has one, so it survives a restart — and goes in Package#1 of the
    /// next session with `server` ([`Delivery::NextSession`]), or of a
    /// client-initiated session opened at once ([`Delivery::Now`], whose
    /// report is returned). It leaves the pending list once that Package#1
    /// was answered with HTTP 200 (at least once: a lost answer means a new
    /// try in the next session).
    ///
    /// Errors: [`Error::UnknownServer`] without an account for `server`,
    /// [`Error::SessionStartAlert`] for a session-start alert type (the
    /// client sends those itself), [`Error::InvalidAlert`] for an alert
    /// that does not decode back under the default limits, and state file
    /// failures (the alert is then not kept).
    ///
    /// ```no_run
    /// use dm_client::{Delivery, DmClient};
    /// use dm_types::{Alert, AlertType, Mark, ServerId};
    ///
    /// # async fn example(client: &mut DmClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut alert = Alert::new(AlertType::new("urn:x:acme:battery-low")?);
    /// alert.source_uri = Some("urn:x:acme:battery:1.0//Level".into());
    /// alert.mark = Some(Mark::Warning);
    /// client.raise_alert(&ServerId::new("dm.example")?, alert, Delivery::Now).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn raise_alert(
        &mut self,
        server: &ServerId,
        alert: Alert,
        delivery: Delivery,
    ) -> Result<Option<SessionReport>, Error> {
        check_alert(&alert)?;
        self.keep_alert(server, alert)?;
        if let Err(e) = self.save() {
            self.state.pending.pop();
            return Err(e);
        }
        match delivery {
            Delivery::NextSession => Ok(None),
            Delivery::Now => self.run_session(server, Trigger::Client).await.map(Some),
        }
    }

    /// The EXECs that answered `202` and have not finished: (server, node
    /// as the server named it).
    pub fn running_execs(&self) -> Vec<(ServerId, ClientUri)> {
        self.state
            .running
            .iter()
            .map(|r| (r.server.clone(), r.node.clone()))
            .collect()
    }

    /// The ServerURI a server gave with DEFAULT for `moid` (the newest).
    pub fn default_uri(&self, moid: &Moid) -> Option<&ServerUri> {
        self.state
            .defaults
            .iter()
            .rev()
            .find(|d| d.moid == *moid)
            .map(|d| &d.source)
    }

    /// Writes the tree and client state to the state file (atomically:
    /// temporary file in the same directory, fsync, rename). Does nothing
    /// without a state file. The client calls it after every change; a
    /// failed write leaves the previous file intact.
    pub fn save(&self) -> Result<(), Error> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let bytes = self.state_file_bytes();
        state::write_atomic(path, |file| std::io::Write::write_all(file, &bytes))
    }

    /// The content of the state file: the tree and the client state.
    pub(crate) fn state_file_bytes(&self) -> Vec<u8> {
        state::encode(&self.tree, &self.state)
    }

    fn settings_of(&self, server: &ServerId) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.server_id == *server)
    }

    fn transport_of(&self, server: &ServerId) -> Transport {
        self.settings_of(server)
            .and_then(|a| a.transport.clone())
            .unwrap_or_else(|| self.transport.clone())
    }

    /// The HTTP state for requests made for `server` outside a session.
    fn http_for(&self, server: &ServerId) -> Result<HttpSession, Error> {
        let account = self
            .tree
            .dm_acc(server)?
            .ok_or_else(|| Error::UnknownServer(server.clone()))?;
        let credentials = self
            .settings_of(server)
            .map(|a| a.credentials.clone())
            .unwrap_or_default();
        Ok(HttpSession::new(credentials, account.server_uri))
    }

    /// Runs one session with `server`: Package#1 (with the asynchronous
    /// results pending for that destination and the notification address),
    /// then every Package#2 executed strictly in order — repository GET,
    /// PUT and POST, and SUB change reports, performed as they come — until
    /// END, an HTTP error, an invalid package, a network failure the
    /// [`RetryPolicy`](crate::RetryPolicy) does not retry, or the session
    /// limits.
    ///
    /// With [`Trigger::Report`] Package#1 goes to its URI; otherwise to the
    /// account's `SrvURI`. `OMADM-DevID`, `Accept` and `Content-Type` are
    /// sent on every request, cookies are kept for the session, and a `401`
    /// challenge is answered once (credentials go only to the `SrvURI`
    /// origin). Afterwards DEFAULT URIs and started EXECs are recorded, the
    /// results of EXECs with a ServerURI that finished at once and the
    /// alerts raised for other servers (or sent in a Package#3 of a session
    /// the server did not end) are kept pending, EXEC completions reported
    /// meanwhile are recorded, and the state is persisted when anything
    /// changed. SHOW uses the builder's
    /// [`browser`](DmClientBuilder::browser), and the [`Busy`] flag is
    /// honoured.
    ///
    /// Errors are local failures only (unknown server, state file); how the
    /// session went is in the report.
    pub async fn run_session(
        &mut self,
        server: &ServerId,
        trigger: Trigger,
    ) -> Result<SessionReport, Error> {
        let account = self
            .tree
            .dm_acc(server)?
            .ok_or_else(|| Error::UnknownServer(server.clone()))?;
        let settings = self.settings_of(server).cloned();
        let every_moid = settings.as_ref().is_some_and(|s| s.every_moid);
        let credentials = settings.map(|s| s.credentials).unwrap_or_default();
        let transport = self.transport_of(server);
        let destination = match &trigger {
            Trigger::Report { uri } => Some(uri.clone()),
            _ => None,
        };
        let delivered: Vec<usize> = (0..self.state.pending.len())
            .filter(|&i| {
                let pending = &self.state.pending[i];
                pending.server == *server && pending.report_to == destination
            })
            .collect();
        let mut alerts: Vec<Alert> = delivered
            .iter()
            .map(|&i| self.state.pending[i].alert.clone())
            .collect();
        if let Some(address) = &self.notification_address {
            match dm_types::NotificationAddress::new(address.as_ref()) {
                Ok(address) => alerts.push(address.to_alert()),
                Err(error) => tracing::warn!(%error, "notification address not announced"),
            }
        }
        let mut report = SessionReport::new(server.clone());
        report.alerts_delivered = alerts.len();
        let initiator = match &trigger {
            Trigger::Server { .. } => "Server",
            Trigger::Bootstrap => "Bootstrap",
            _ => "Client",
        };
        let session_info = SessionInfo {
            bearer: self.settings.bearer.clone(),
            initiator: initiator.into(),
            server_id: server.as_str().into(),
            start_time: rfc3339(SystemTime::now()),
        };
        let own_session_info = self.tree.instances_of(SESSIONINFO_MOID).next().is_none()
            && self.tree.insert(session_info.to_instance()).is_ok();

        let settings = Arc::clone(&self.settings);
        let mut view = SessionTree {
            tree: &mut self.tree,
            server: server.clone(),
            every_moid,
            changed: false,
            defaults: self
                .state
                .defaults
                .iter()
                .filter(|d| d.server == *server)
                .map(|d| d.moid.clone())
                .collect(),
            default_limit: settings.default_uris_per_server,
            reports: self.completions.as_deref_mut().map(|c| &mut c.receiver),
            taken: Taken::default(),
        };
        view.grant_present();
        let mut config = ClientConfig::new(
            self.dev_id.clone(),
            server.clone(),
            account.server_uri.clone(),
        );
        config.limits = settings.limits;
        config.packages_per_session = settings.packages_per_session;
        config.max_duration = settings.max_session_duration;
        config.browser.clone_from(&self.browser);
        config.busy = self.busy.clone();
        let mut session = ClientSession::new(config, trigger, &view, alerts, Instant::now());
        let mut http = HttpSession::new(credentials, account.server_uri);
        let mut first_package = true;
        let mut package1_received = false;
        let mut events = Vec::new();
        let mut end = None;
        tracing::info!(server = server.as_str(), "session starts");
        while let Some(request) = session.poll_request() {
            let outgoing = Outgoing::from(&request);
            let is_package = outgoing.is_package();
            if is_package {
                http.package_posted(&request.uri);
            }
            let limit = if is_package {
                settings.limits.package_bytes
            } else {
                settings.limits.mo_data_bytes
            };
            let exchange = transport.perform(&mut http, outgoing, limit);
            let outcome = match session.poll_timeout() {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), exchange)
                    .await
                    .ok(),
                None => Some(exchange.await),
            };
            let response = match outcome {
                None => {
                    session.handle_timeout(Instant::now());
                    drain(
                        &mut session,
                        &mut events,
                        &mut end,
                        self.observer.as_deref(),
                        server,
                    );
                    break;
                }
                Some(Ok(response)) => response,
                Some(Err(NoAnswer(reason))) if is_package => {
                    end = Some(ClientEnd::Aborted(format!("no answer: {reason}")));
                    break;
                }
                // The engine reports the repository failure (502).
                Some(Err(NoAnswer(_))) => Response::default(),
            };
            if is_package && response.status == 200 {
                report.packages += 1;
                report.commands += count_commands(&response.body, &settings.limits);
                package1_received |= first_package;
            }
            if is_package {
                first_package = false;
            }
            session.handle_response(request.id, &response, &mut view);
            drain(
                &mut session,
                &mut events,
                &mut end,
                self.observer.as_deref(),
                server,
            );
        }
        if end.is_none() {
            drain(
                &mut session,
                &mut events,
                &mut end,
                self.observer.as_deref(),
                server,
            );
        }
        report.end =
            end.unwrap_or_else(|| ClientEnd::Aborted("the session stopped before its end".into()));
        report.tree_changed = view.changed;
        let taken = std::mem::take(&mut view.taken);
        if own_session_info {
            self.tree.remove(SESSIONINFO_MOID, "sessioninfo");
        }

        let mut state_changed = false;
        if package1_received {
            for &index in delivered.iter().rev() {
                self.state.pending.remove(index);
                state_changed = true;
            }
        } else {
            report.alerts_delivered = 0;
        }
        for event in &events {
            match event {
                ClientEvent::Default { moid, source } => {
                    self.state.set_default(server, moid.clone(), source.clone());
                    state_changed = true;
                }
                ClientEvent::ExecStarted { node, report_to } => {
                    let absolute = match self.tree.resolve(node).as_deref() {
                        Ok([only]) => only.client_uri(),
                        _ => node.clone(),
                    };
                    self.state.running.push(RunningExec {
                        server: server.clone(),
                        node: node.clone(),
                        absolute,
                        report_to: report_to.clone(),
                    });
                    state_changed = true;
                }
                // Finished at once but owed to a ServerURI: pending for a
                // new session posted there (deliver_pending_reports).
                ClientEvent::ExecFinished {
                    node,
                    report_to,
                    status,
                    alert,
                } => {
                    self.state.pending.push(PendingAlert {
                        server: server.clone(),
                        report_to: Some(report_to.clone()),
                        alert: result_alert(alert.clone(), node, *status),
                    });
                    state_changed = true;
                }
                _ => {}
            }
        }
        report.events = events;
        // Alerts raised during the session: those that went in a Package#3
        // are delivered once the server ended the session; the others wait
        // for a later session.
        let mut kept = taken.elsewhere;
        if report.end == ClientEnd::Completed {
            report.alerts_delivered += taken.sent.len();
        } else {
            kept.extend(taken.sent.into_iter().map(|alert| (server.clone(), alert)));
        }
        for (to, alert) in kept {
            match self.keep_alert(&to, alert) {
                Ok(()) => state_changed = true,
                Err(e) => tracing::warn!(server = to.as_str(), "raised alert dropped: {e}"),
            }
        }
        // Recorded before anything can fail, so that none is lost.
        for (node, status) in taken.finished {
            match self.record_exec_finished(&node, status) {
                Ok(()) => state_changed = true,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        if report.tree_changed || state_changed {
            self.save()?;
        }
        tracing::info!(server = server.as_str(), outcome = %report, "session ended");
        if let Some(observer) = &self.observer {
            observer.session_ended(&report);
        }
        Ok(report)
    }

    /// Handles a received Package#0: decodes it, finds the account by
    /// SERVER-ID, applies the digest policy with that account's
    /// `Auth/Noti/Secret` and `Auth/Noti/Data`, the TIMESTAMP window and
    /// the NOTIFICATION-ID replay window (persisted), then runs the
    /// server-initiated session. `now` is the device's clock.
    ///
    /// Digest policy (docs/protocol.md section 3.6): with a secret (or type 1)
    /// the digest is mandatory and must verify; without one, a notification
    /// carrying a digest is ignored. An authenticated notification must
    /// carry TIMESTAMP and NOTIFICATION-ID.
    pub async fn handle_notification(
        &mut self,
        bytes: &[u8],
        now: SystemTime,
    ) -> Result<NotificationOutcome, Error> {
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let window = self.settings.notification_window.as_secs();
        match dm_session::notification::verify(
            bytes,
            &self.tree,
            &mut self.state.notification_ids,
            now_secs,
            window,
        ) {
            Err(reason) => {
                tracing::info!("notification ignored: {reason}");
                if let Some(observer) = &self.observer {
                    observer.notification_ignored(&reason);
                }
                Ok(NotificationOutcome::Ignored(reason))
            }
            Ok(accepted) => {
                tracing::info!(server = accepted.server.as_str(), id = ?accepted.notification_id, "notification accepted");
                if let Some(observer) = &self.observer {
                    observer.notification_accepted(&accepted.server, accepted.notification_id);
                }
                if accepted.notification_id.is_some() {
                    self.save()?;
                }
                let trigger = Trigger::Server {
                    notification_id: accepted.notification_id,
                };
                let report = self.run_session(&accepted.server, trigger).await?;
                Ok(NotificationOutcome::Session(report))
            }
        }
    }

    /// Listens for notifications on `socket` until `shutdown` completes:
    /// each datagram goes through [`DmClient::handle_notification`], and
    /// the results its session left pending (an EXEC with a ServerURI that
    /// finished at once) are delivered right after it; EXEC results
    /// reported through [`ExecCompletion`] are recorded and delivered;
    /// live-value changes signalled through a [`ChangeSignal`] are handled
    /// as [`DmClient::notify_changed`]. Outcomes go to the [`Observer`] and
    /// to `tracing`.
    /// Datagrams arriving during a session wait in the socket buffer.
    pub async fn listen_udp(
        &mut self,
        socket: &UdpSocket,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        /// Largest notification: 31 options of 2 + 270 bytes, plus the header.
        const DATAGRAM: usize = 2 + 31 * 272;
        let mut buffer = vec![0u8; DATAGRAM];
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            enum Next {
                Stop,
                Datagram(std::io::Result<usize>),
                Completion(Option<Report>),
                Changed(Option<ClientUri>),
            }
            let next = tokio::select! {
                () = &mut shutdown => Next::Stop,
                received = socket.recv_from(&mut buffer) => Next::Datagram(received.map(|(n, _)| n)),
                completion = next_completion(&mut self.completions) => Next::Completion(completion),
                node = next_change(&mut self.changes) => Next::Changed(node),
            };
            match next {
                Next::Stop => return Ok(()),
                Next::Datagram(Ok(length)) => {
                    if let Err(e) = self
                        .handle_notification(&buffer[..length], SystemTime::now())
                        .await
                    {
                        tracing::warn!("notification: {e}");
                    }
                    // Results the session left owed to a ServerURI (EXECs
                    // that finished at once) go now, each in its session.
                    if self.pending_reports() > 0
                        && let Err(e) = self.deliver_pending_reports().await
                    {
                        tracing::warn!("delivering results: {e}");
                    }
                }
                Next::Datagram(Err(e)) => {
                    tracing::warn!("notification socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Next::Completion(Some(Report::Alert(server, alert, delivery))) => {
                    if let Err(e) = self.raise_alert(&server, alert, delivery).await {
                        tracing::warn!(server = server.as_str(), "raised alert: {e}");
                    }
                }
                Next::Completion(Some(Report::Exec(node, status))) => {
                    match self.exec_finished(&node, status) {
                        Ok(()) => {
                            if let Err(e) = self.deliver_pending_reports().await {
                                tracing::warn!("delivering results: {e}");
                            }
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                Next::Completion(None) | Next::Changed(None) => {}
                Next::Changed(Some(node)) => {
                    // The signals waiting now are handled together, each
                    // node once.
                    if let Err(e) = self.handle_changes(vec![node]).await {
                        tracing::warn!("change signal: {e}");
                    }
                }
            }
        }
    }

    fn sender(&mut self) -> mpsc::UnboundedSender<Report> {
        self.completions
            .get_or_insert_with(|| {
                let (sender, receiver) = mpsc::unbounded_channel();
                Box::new(Completions { sender, receiver })
            })
            .sender
            .clone()
    }

    /// A handle that reports asynchronous EXEC results to this client
    /// (see [`ExecCompletion`]).
    pub fn exec_completion(&mut self) -> ExecCompletion {
        ExecCompletion {
            sender: self.sender(),
        }
    }

    /// A handle that raises alerts for this client from anywhere, a
    /// session under way included (see [`AlertSender`]).
    pub fn alert_sender(&mut self) -> AlertSender {
        AlertSender {
            sender: self.sender(),
        }
    }

    /// Records every result reported through [`ExecCompletion`] and every
    /// alert raised through [`AlertSender`] so far (without waiting), as
    /// pending, and returns how many; deliver them with
    /// [`DmClient::deliver_pending_reports`]. An alert for a server
    /// without account is logged and dropped.
    pub fn take_exec_completions(&mut self) -> Result<usize, Error> {
        let mut taken = Vec::new();
        if let Some(completions) = &mut self.completions {
            while let Ok(report) = completions.receiver.try_recv() {
                taken.push(report);
            }
        }
        let count = taken.len();
        let mut kept = false;
        for report in taken {
            match report {
                Report::Exec(node, status) => self.exec_finished(&node, status)?,
                Report::Alert(server, alert, _) => match self.keep_alert(&server, alert) {
                    Ok(()) => kept = true,
                    Err(e) => tracing::warn!(server = server.as_str(), "raised alert dropped: {e}"),
                },
            }
        }
        if kept {
            self.save()?;
        }
        Ok(count)
    }

    /// Records the final status of an asynchronous EXEC of `node` (as the
    /// server named it, or its absolute ClientURI): the result alert of the
    /// node's handler ([`NodeHandler::result_alert`]: FUMO and SCOMO have
    /// their own types), by default an `ExecComplete` alert (`SourceURI` =
    /// the node as the server named it, `Data` `{"sc": status}`), is
    /// persisted as pending, for the EXEC's ServerURI or, when it named
    /// none, the account's `SrvURI`.
    pub fn exec_finished(&mut self, node: &ClientUri, status: StatusCode) -> Result<(), Error> {
        self.record_exec_finished(node, status)?;
        self.save()
    }

    /// [`DmClient::exec_finished`] without saving.
    fn record_exec_finished(&mut self, node: &ClientUri, status: StatusCode) -> Result<(), Error> {
        let index = self
            .state
            .running
            .iter()
            .position(|r| r.node == *node || r.absolute == *node)
            .ok_or_else(|| Error::NoRunningExec(node.clone()))?;
        let running = self.state.running.remove(index);
        self.state.pending.push(PendingAlert {
            alert: result_alert(
                self.tree.exec_result_alert(&running.node, status),
                &running.node,
                status,
            ),
            server: running.server,
            report_to: running.report_to,
        });
        Ok(())
    }

    /// Delivers every pending result: one session per destination, with
    /// [`Trigger::Report`] when the EXEC named a ServerURI, else a
    /// client-initiated session with the account's server, the alerts in
    /// Package#1. An alert is dropped from the pending list once its
    /// Package#1 was answered with HTTP 200 (delivery is at least once: a
    /// lost answer means a new try later). Results for a server that no
    /// longer has an account are dropped.
    pub async fn deliver_pending_reports(&mut self) -> Result<Vec<SessionReport>, Error> {
        let mut destinations: Vec<(ServerId, Option<ServerUri>)> = Vec::new();
        for pending in &self.state.pending {
            let destination = (pending.server.clone(), pending.report_to.clone());
            if !destinations.contains(&destination) {
                destinations.push(destination);
            }
        }
        let mut reports = Vec::new();
        for (server, report_to) in destinations {
            if self.tree.dm_acc(&server)?.is_none() {
                tracing::warn!(
                    server = server.as_str(),
                    "dropping results for a server without account"
                );
                self.state.pending.retain(|p| p.server != server);
                self.save()?;
                continue;
            }
            let trigger = report_to.map_or(Trigger::Client, |uri| Trigger::Report { uri });
            reports.push(self.run_session(&server, trigger).await?);
        }
        Ok(reports)
    }

    /// Sets the leaf at `uri` (an absolute ClientURI) to `value` as the
    /// device itself, then sends the change reports of the subscriptions
    /// that fire. Returns how many reports were delivered (answered 2xx).
    pub async fn set_local(&mut self, uri: &ClientUri, value: LeafValue) -> Result<usize, Error> {
        let name = match uri.path().last() {
            Some(Segment::Name(name)) => NodeName::new(name.into_owned())
                .map_err(|e| Error::Config(format!("{uri}: {e}")))?,
            _ => {
                return Err(Error::Config(format!(
                    "{uri}: set_local needs an absolute ClientURI of a node below the instance root"
                )));
            }
        };
        let item = MoItem {
            ddf: None,
            client_uri: uri.clone(),
            cache_validator: None,
            data: MoData::new(name, MoNode::Leaf(value)),
        };
        let target = uri.clone();
        self.update(move |tree| tree.write(&Principal::Device, Some(&target), &[item]))
            .await
    }

    /// Changes the tree as the device application wants (`change` returns
    /// the absolute ClientURIs it changed), persists it, and sends the
    /// change reports of the subscriptions that fire (HTTP PUT of the
    /// watched data to each subscription's ServerURI, read with its
    /// server's rights). Returns how many reports were delivered
    /// (answered 2xx); an undelivered report is logged, not retried.
    pub async fn update(
        &mut self,
        change: impl FnOnce(&mut MoTree) -> Result<Vec<ClientUri>, dm_tree::Error>,
    ) -> Result<usize, Error> {
        let changed = change(&mut self.tree)?;
        self.save()?;
        Ok(self.send_change_reports(&changed).await)
    }

    /// Signals that live values served by a [`NodeHandler`] changed at
    /// `node` (any ClientURI form, resolved as the device; typically the
    /// absolute ClientURI of the leaf, e.g. a battery level), and handles
    /// the change as a write of the tree: the designated instances count a
    /// modification, so their cache validators change
    /// ([`MoTree::mark_changed`]; they already follow live values by
    /// themselves, see [`MoTree::cache_validator_as`]), the state is
    /// persisted, and the subscriptions watching the node, an ancestor or
    /// a descendant get their change report, carrying the live value,
    /// through the same path as [`DmClient::update`]. Returns how many
    /// reports were delivered (answered 2xx).
    ///
    /// Errors: a ClientURI that designates nothing (`404`) or is ambiguous
    /// (`409`) is [`Error::Tree`]; nothing is sent then.
    pub async fn notify_changed(&mut self, node: &ClientUri) -> Result<usize, Error> {
        self.update(|tree| tree.mark_changed(node)).await
    }

    /// A handle that signals live-value changes to this client (see
    /// [`ChangeSignal`]).
    pub fn change_signal(&mut self) -> ChangeSignal {
        let changes = self.changes.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            Box::new(Changes { sender, receiver })
        });
        ChangeSignal {
            sender: changes.sender.clone(),
        }
    }

    /// Handles every change signalled through a [`ChangeSignal`] so far
    /// (without waiting), each node once, as [`DmClient::notify_changed`];
    /// returns how many change reports were delivered. A signal for a node
    /// the tree does not hold is logged and skipped.
    pub async fn take_changes(&mut self) -> Result<usize, Error> {
        self.handle_changes(Vec::new()).await
    }

    /// Handles `nodes` and every change signal waiting, each node once.
    async fn handle_changes(&mut self, mut nodes: Vec<ClientUri>) -> Result<usize, Error> {
        if let Some(changes) = &mut self.changes {
            while let Ok(node) = changes.receiver.try_recv() {
                if !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
        }
        let mut delivered = 0;
        for node in nodes {
            match self.notify_changed(&node).await {
                Ok(count) => delivered += count,
                Err(Error::Tree(e)) => tracing::warn!(node = node.as_str(), "change signal: {e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(delivered)
    }

    /// Sends the change reports due after `changed`.
    async fn send_change_reports(&mut self, changed: &[ClientUri]) -> usize {
        let reports: Vec<(ServerId, ServerUri, Vec<u8>)> = self
            .tree
            .change_reports(changed)
            .into_iter()
            .map(|report| {
                let body = dm_codec::encode_mo_serialization(&report.items);
                (report.server, report.report_to, body)
            })
            .collect();
        let mut delivered = 0;
        for (server, uri, body) in reports {
            let Ok(mut http) = self.http_for(&server) else {
                continue;
            };
            let request = Outgoing {
                method: Method::Put,
                uri: &uri,
                content_type: Some(mime::MO_DATA),
                accept: mime::MO_DATA,
                dev_id: &self.dev_id,
                body: &body,
            };
            match self
                .transport_of(&server)
                .perform(&mut http, request, 0)
                .await
            {
                Ok(response) if (200..300).contains(&response.status) => delivered += 1,
                Ok(response) => {
                    tracing::warn!(
                        uri = uri.as_str(),
                        status = response.status,
                        "change report refused"
                    );
                }
                Err(NoAnswer(reason)) => tracing::warn!("change report: {reason}"),
            }
        }
        delivered
    }

    /// Makes sure the tree holds configuration for `moid`: when it has no
    /// instance, performs the HGET procedure against the ServerURI a server
    /// gave with DEFAULT (the newest), on that server's behalf, reporting no
    /// status to anyone (docs/protocol.md section 4). Change reports are sent for
    /// what the fetch wrote.
    pub async fn ensure_configuration(&mut self, moid: &Moid) -> Result<Configuration, Error> {
        if self.tree.instances_of(moid.as_str()).next().is_some() {
            return Ok(Configuration::Present);
        }
        let default = self
            .state
            .defaults
            .iter()
            .rev()
            .find(|d| d.moid == *moid)
            .cloned()
            .ok_or_else(|| Error::NoDefault(moid.clone()))?;
        let fetch = DefaultFetch {
            server_id: default.server.clone(),
            moid: moid.clone(),
            source: default.source.clone(),
        };
        let request = fetch.request(&self.dev_id);
        let mut http = self.http_for(&default.server)?;
        let transport = self.transport_of(&default.server);
        let response = transport
            .perform(
                &mut http,
                Outgoing::from(&request),
                self.settings.limits.mo_data_bytes,
            )
            .await
            .unwrap_or_default();
        let every_moid = self
            .settings_of(&default.server)
            .is_some_and(|a| a.every_moid);
        let mut view = SessionTree {
            tree: &mut self.tree,
            server: default.server.clone(),
            every_moid,
            changed: false,
            defaults: Vec::new(),
            default_limit: 0,
            reports: None,
            taken: Taken::default(),
        };
        let written = fetch.apply_with_limits(&response, &self.settings.limits, &mut view);
        let changed = view.changed;
        if changed {
            self.save()?;
        }
        let written = written.map_err(|status| Error::DefaultFetch {
            moid: moid.clone(),
            status,
        })?;
        self.send_change_reports(&written).await;
        Ok(Configuration::Fetched(written))
    }
}

/// The product's browser component, its failed launches logged on the
/// device (the server only learns `500`).
struct LoggedLaunches(Arc<dyn BrowserLauncher>);

impl BrowserLauncher for LoggedLaunches {
    fn launch(&self, page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.launch(page).inspect_err(|e| {
            tracing::warn!(page = page.as_str(), "SHOW: the browser launch failed: {e}");
        })
    }
}

/// Pulls the engine's events: the end goes to `end`, the others to
/// `events` and the observer.
fn drain(
    session: &mut ClientSession,
    events: &mut Vec<ClientEvent>,
    end: &mut Option<ClientEnd>,
    observer: Option<&dyn Observer>,
    server: &ServerId,
) {
    while let Some(event) = session.poll_event() {
        match event {
            ClientEvent::Ended(how) => *end = Some(how),
            other => {
                if let Some(observer) = observer {
                    observer.event(server, &other);
                }
                events.push(other);
            }
        }
    }
}

/// Commands of a Package#2 body, END not counted (0 when it does not
/// decode: the engine aborts then).
fn count_commands(body: &[u8], limits: &Limits) -> usize {
    dm_codec::decode_package2(body, limits).map_or(0, |package| {
        package
            .commands()
            .iter()
            .filter(|c| !matches!(c, CommandEntry::Command(dm_types::Command::End)))
            .count()
    })
}

async fn next_change(changes: &mut Option<Box<Changes>>) -> Option<ClientUri> {
    match changes {
        Some(changes) => changes.receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_completion(completions: &mut Option<Box<Completions>>) -> Option<Report> {
    match completions {
        Some(completions) => completions.receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// RFC 3339 UTC date-time of `time` (second precision).
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The tree as one session's server works on it: delegates to `MoTree`,
/// notes whether anything changed, for an account allowed every MOID adds
/// MOIDs to its `Perm` list as they appear, and bounds the server's DEFAULT
/// URIs.
struct SessionTree<'a> {
    tree: &'a mut MoTree,
    server: ServerId,
    every_moid: bool,
    changed: bool,
    /// The MOIDs the server has DEFAULT URIs for, stored and accepted in
    /// this session.
    defaults: Vec<Moid>,
    default_limit: usize,
    /// Where the product's handles report (a session drains it before
    /// each Package#3).
    reports: Option<&'a mut mpsc::UnboundedReceiver<Report>>,
    taken: Taken,
}

/// What a session took from the product's handles.
#[derive(Debug, Default)]
struct Taken {
    /// Alerts for the session's server, sent in a Package#3.
    sent: Vec<Alert>,
    /// Alerts for other servers.
    elsewhere: Vec<(ServerId, Alert)>,
    /// EXEC results.
    finished: Vec<(ClientUri, StatusCode)>,
}

impl SessionTree<'_> {
    /// Adds `moid` to the server's `Perm` list, except the MOIDs that
    /// control access itself: the DMAcc (accounts and their `Perm` lists)
    /// and the DACMO (ACLs) stay out unless the account as provisioned
    /// already lists them.
    fn grant(&mut self, moid: &Moid) {
        if self.every_moid
            && moid.as_str() != DACMO_MOID
            && moid.as_str() != DMACC_MOID
            && self.tree.grant_moid(&self.server, moid).unwrap_or(false)
        {
            self.changed = true;
        }
    }

    /// Grants every MOID present in the tree.
    fn grant_present(&mut self) {
        if !self.every_moid {
            return;
        }
        let mut moids: Vec<Moid> = self.tree.instances().map(|i| i.moid().clone()).collect();
        moids.dedup();
        for moid in moids {
            self.grant(&moid);
        }
    }

    fn mark<T, E>(&mut self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.changed = true;
        }
        result
    }
}

impl ManagementTree for SessionTree<'_> {
    fn mo_list(&self, server: &ServerId) -> Vec<MosEntry> {
        ManagementTree::mo_list(&*self.tree, server)
    }

    fn read(
        &self,
        server: &ServerId,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<MoItem>>, StatusCode> {
        ManagementTree::read(&*self.tree, server, targets)
    }

    fn write(
        &mut self,
        server: &ServerId,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        let moids: Vec<Moid> = match target {
            Some(target) => vec![target.to_moid()],
            None => items.iter().map(|item| item.client_uri.to_moid()).collect(),
        };
        for moid in &moids {
            self.grant(moid);
        }
        let result = ManagementTree::write(&mut *self.tree, server, target, items);
        self.mark(result)
    }

    fn delete(
        &mut self,
        server: &ServerId,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        let result = ManagementTree::delete(&mut *self.tree, server, targets);
        self.mark(result)
    }

    fn exec(
        &mut self,
        server: &ServerId,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, StatusCode> {
        ManagementTree::exec(&mut *self.tree, server, target, report_to)
    }

    fn exec_result_alert(
        &self,
        server: &ServerId,
        target: &ClientUri,
        status: StatusCode,
    ) -> Alert {
        ManagementTree::exec_result_alert(&*self.tree, server, target, status)
    }

    fn subscribe(
        &mut self,
        server: &ServerId,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode> {
        let result = ManagementTree::subscribe(&mut *self.tree, server, target, report_to);
        self.mark(result)
    }

    fn unsubscribe(&mut self, server: &ServerId, target: &ClientUri) -> Result<(), StatusCode> {
        let result = ManagementTree::unsubscribe(&mut *self.tree, server, target);
        self.mark(result)
    }

    fn change_reports(&self, changed: &[ClientUri]) -> Vec<(ServerUri, Vec<MoItem>)> {
        ManagementTree::change_reports(&*self.tree, changed)
    }

    fn take_alerts(&mut self) -> Vec<Alert> {
        let mut now = Vec::new();
        if let Some(reports) = self.reports.as_deref_mut() {
            while let Ok(report) = reports.try_recv() {
                match report {
                    Report::Alert(server, alert, _) if server == self.server => {
                        now.push(alert);
                    }
                    Report::Alert(server, alert, _) => self.taken.elsewhere.push((server, alert)),
                    Report::Exec(node, status) => self.taken.finished.push((node, status)),
                }
            }
        }
        self.taken.sent.extend(now.iter().cloned());
        now
    }

    fn accept_default(
        &mut self,
        _server: &ServerId,
        moid: &Moid,
        _source: &ServerUri,
    ) -> Result<(), StatusCode> {
        if !self.defaults.contains(moid) {
            if self.defaults.len() >= self.default_limit {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            self.defaults.push(moid.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fleets spawn sessions on a multi-threaded runtime: the client and its
    /// futures must be `Send`.
    #[test]
    fn clients_and_their_futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let devinfo = DevInfo::new(DevId::new("IMEI:1").expect("DevID"), "Acme", "X1");
        let mut client = DmClient::builder(devinfo).build().expect("client");
        send(&client);
        let server = ServerId::new("dm").expect("id");
        send(&client.run_session(&server, Trigger::Client));
        send(&client.handle_notification(b"", SystemTime::now()));
        send(&client.deliver_pending_reports());
        send(&client.ensure_configuration(&Moid::new("urn:x:y").expect("moid")));
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = runtime.enter();
        let socket = UdpSocket::from_std(socket).expect("socket");
        send(&client.listen_udp(&socket, std::future::ready(())));
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        assert_eq!(rfc3339(t), "2025-11-24T16:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661);
        assert_eq!(rfc3339(leap), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn report_lines_read_well() {
        let mut report = SessionReport::new(ServerId::new("dm").expect("id"));
        report.end = ClientEnd::Completed;
        report.commands = 3;
        assert_eq!(report.to_string(), "completed (3 commands)");
        report.end = ClientEnd::Refused(500);
        report.commands = 1;
        assert_eq!(
            report.to_string(),
            "refused: the server answered HTTP 500 (1 command)"
        );
        report.end = ClientEnd::Aborted("invalid Package#2".into());
        assert_eq!(report.to_string(), "aborted: invalid Package#2 (1 command)");
    }
}
