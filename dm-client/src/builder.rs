//! Building a [`DmClient`]: its accounts ([`Account`]) and settings
//! ([`DmClientBuilder`]), the state file it starts from, and reading that
//! file without a client ([`DmClient::stored_tree`],
//! [`DmClient::stored_dev_id`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dm_codec::Limits;
use dm_session::{BootstrapApproval, BrowserLauncher, Busy};
use dm_tree::{DMACC_MOID, DevInfo, DmAcc, FactoryAccounts, MoTree};
use dm_types::{ClientUri, DevId, ServerId, ServerUri};

use crate::Error;
use crate::auth::Credentials;
use crate::client::DmClient;
use crate::observer::Observer;
use crate::settings::{AccountSettings, DEFAULT_SETTINGS, Settings};
use crate::state::{self, ClientState};
use crate::transport::Transport;

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
    overwrite_credentials: bool,
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
            overwrite_credentials: false,
        }
    }

    /// HTTP credentials for this server (sent only to its origin): written
    /// into the account's `Ext/HTTPAuth` (`Name`, and the password as
    /// `Secret`, which no server can read) — the tree is the one source of
    /// the credentials a session uses, so a bootstrap that re-keys the
    /// account takes effect at the next session. They are written when the
    /// account is created and when the tree's account has no
    /// `Ext/HTTPAuth` yet (a state file of an older version); an account
    /// whose `Ext/HTTPAuth` the tree already holds keeps it. The kind
    /// ([`Credentials::Basic`], [`Credentials::Digest`] or
    /// [`Credentials::Password`]) says which challenges are answered.
    pub fn credentials(mut self, credentials: Credentials) -> Account {
        self.dm_acc.http = crate::credentials::http_auth(&credentials);
        self.settings.credentials = credentials;
        self
    }

    /// Whether the [`credentials`](Account::credentials) also replace the
    /// `Ext/HTTPAuth` of an account the tree already holds (default
    /// `false`: a stored account keeps its credentials, which a bootstrap
    /// may have re-keyed). For an operator who gives the credentials anew
    /// at each start, such as `dm device --username/--password`.
    ///
    /// ```
    /// use dm_client::{Account, Credentials, DmClient};
    /// use dm_tree::{DevInfo, DmAcc};
    /// use dm_types::{DevId, ServerId, ServerUri};
    ///
    /// let server = ServerId::new("dm.example")?;
    /// let account = || DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm").unwrap());
    /// let devinfo = || DevInfo::new(DevId::new("IMEI:1").unwrap(), "Acme", "X1");
    /// let first = DmClient::builder(devinfo())
    ///     .account(Account::new(account()).credentials(Credentials::password("u", "old")))
    ///     .build()?;
    /// let bytes = first.state_file_bytes();
    /// let again = DmClient::builder(devinfo())
    ///     .account(Account::new(account()).credentials(Credentials::password("u", "new")).overwrite_credentials(true))
    ///     .state_file("device.json")
    ///     .build_with_state(&bytes)?;
    /// let http = again.tree().dm_acc(&server)?.and_then(|a| a.http).expect("Ext/HTTPAuth");
    /// assert_eq!(http.secret, b"new");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overwrite_credentials(mut self, overwrite: bool) -> Account {
        self.overwrite_credentials = overwrite;
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

    /// A transport of its own for this server (for example with CA roots
    /// of its own). When the account holds `Auth/Trsp` in the tree, the
    /// session presents that certificate chain and key on a transport
    /// derived from this one (same roots, timeouts, retry, backend): the
    /// tree's material takes precedence over a client certificate given
    /// here.
    pub fn transport(mut self, transport: Transport) -> Account {
        self.settings.transport = Some(transport);
        self
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
    bootstrap_approval: Option<Arc<dyn BootstrapApproval>>,
    factory: Option<Factory>,
    settings: Settings,
}

/// Where the factory accounts come from.
#[derive(Debug)]
enum Factory {
    Bytes(Vec<u8>),
    File(PathBuf),
}

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
            bootstrap_approval: None,
            factory: None,
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

    /// The accounts of a factory file (docs/protocol.md section 11.2: an
    /// MO serialization of DMAcc instances, management or bootstrap
    /// accounts, read with [`FactoryAccounts::decode`] under the client's
    /// [`limits`](Self::limits)), installed into a new tree: only when no
    /// state file exists yet (a device's first start — afterwards the state
    /// file holds the accounts, and the factory file is not read again).
    /// Every management account installed this way is owed a session with
    /// `BootstrapComplete` ([`DmClient::pending_bootstrap_complete`]); a
    /// bootstrap account is bootstrapped with [`DmClient::bootstrap`].
    /// Accounts given with [`account`](Self::account) are added after
    /// them. A file that does not decode is [`Error::Tree`] naming the
    /// item.
    ///
    /// ```
    /// use dm_client::DmClient;
    /// use dm_tree::DevInfo;
    /// use dm_types::{DevId, ServerId};
    ///
    /// let factory = br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/acc1/","MOData":{"DMAcc":{
    ///     "SrvID":"dm.example","SrvURI":"https://dm.example/dm","Perm":{},"Auth":{}}}}]"#;
    /// let client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1"))
    ///     .factory(factory.to_vec())
    ///     .build()?;
    /// assert_eq!(client.servers(), [ServerId::new("dm.example")?]);
    /// assert_eq!(client.pending_bootstrap_complete(), [ServerId::new("dm.example")?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn factory(mut self, bytes: Vec<u8>) -> DmClientBuilder {
        self.factory = Some(Factory::Bytes(bytes));
        self
    }

    /// [`factory`](Self::factory) read from the file at `path` (read only
    /// when no state file exists yet; a file that cannot be read is
    /// [`Error::StateIo`] naming it).
    pub fn factory_file(mut self, path: impl Into<PathBuf>) -> DmClientBuilder {
        self.factory = Some(Factory::File(path.into()));
        self
    }

    /// The product's consent to bootstraps (docs/protocol.md section 11.3,
    /// step 4): asked before each DMAcc write or delete of a bootstrap
    /// session; a refusal answers `403` and changes nothing. Without one,
    /// every change of an authenticated bootstrap server is approved.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dm_client::{AccountChange, BootstrapApproval, DmClient};
    /// use dm_tree::DevInfo;
    /// use dm_types::{DevId, ServerId};
    ///
    /// struct AskNobody;
    /// impl BootstrapApproval for AskNobody {
    ///     fn approve(&self, _server: &ServerId, _changes: &[AccountChange]) -> bool {
    ///         false
    ///     }
    /// }
    /// let client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1"))
    ///     .bootstrap_approval(Arc::new(AskNobody))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bootstrap_approval(mut self, approval: Arc<dyn BootstrapApproval>) -> DmClientBuilder {
        self.bootstrap_approval = Some(approval);
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

    /// [`DmClientBuilder::build`] with `bytes` as the content of the state
    /// file, which is neither read nor written (the client saves to it
    /// later, as one [`build`](Self::build) made does). The path set with
    /// [`state_file`](Self::state_file) names the file in errors; without
    /// one the bytes are ignored, as `build` reads no file then. What
    /// [`DmClient::state_file_bytes`] returns builds the same client again.
    ///
    /// ```
    /// use dm_client::{Account, DmClient};
    /// use dm_tree::{DevInfo, DmAcc};
    /// use dm_types::{DevId, ServerId, ServerUri};
    ///
    /// let builder = || -> Result<_, dm_types::Error> {
    ///     let devinfo = DevInfo::new(DevId::new("IMEI:493005100592800")?, "Acme", "X1");
    ///     let account = DmAcc::new(
    ///         ServerId::new("dm.example")?,
    ///         ServerUri::new("https://dm.example/dm")?,
    ///     );
    ///     Ok(DmClient::builder(devinfo).account(Account::new(account)))
    /// };
    /// let bytes = builder()?.build()?.state_file_bytes();
    /// let loaded = builder()?
    ///     .state_file("device-state.json")
    ///     .build_with_state(&bytes)?;
    /// assert_eq!(loaded.state_file_bytes(), bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build_with_state(self, bytes: &[u8]) -> Result<DmClient, Error> {
        self.assemble(Some(bytes)).map(|(client, _)| client)
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
        let fresh = stored.is_none() || self.state_file.is_none();
        if fresh && let Some(factory) = &self.factory {
            let bytes = match factory {
                Factory::Bytes(bytes) => std::borrow::Cow::Borrowed(bytes.as_slice()),
                Factory::File(path) => {
                    std::borrow::Cow::Owned(std::fs::read(path).map_err(|source| {
                        Error::StateIo {
                            path: path.clone(),
                            source,
                        }
                    })?)
                }
            };
            let installed = FactoryAccounts::decode(&bytes, &self.settings.limits)?;
            tree.install_factory_accounts(&installed)?;
            for account in installed.iter().filter(|a| !a.is_bootstrap_account()) {
                state.owe_bootstrap_complete(&account.server_id);
            }
            changed |= !installed.is_empty();
        }
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
            match tree.dm_acc(&account.dm_acc.server_id)? {
                None => {
                    tree.add_dm_acc(&account.dm_acc)?;
                    changed = true;
                }
                // Credentials given to a client whose stored account has
                // none yet (a state file of an older version) go into it.
                Some(mut stored)
                    if account.dm_acc.http.is_some()
                        && (stored.http.is_none()
                            || (account.overwrite_credentials
                                && stored.http != account.dm_acc.http)) =>
                {
                    stored.http.clone_from(&account.dm_acc.http);
                    replace_dm_acc(&mut tree, &stored)?;
                    changed = true;
                }
                Some(_) => {}
            }
            if accounts
                .iter()
                .any(|a: &AccountSettings| a.server_id == account.settings.server_id)
            {
                return Err(Error::DuplicateAccount(account.settings.server_id));
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
            derived: Vec::new(),
            bootstrap_approval: self.bootstrap_approval,
        };
        Ok((client, changed))
    }
}

/// Rewrites the stored DMAcc instance of `account.server_id` (same MIID)
/// with `account`.
pub(crate) fn replace_dm_acc(tree: &mut MoTree, account: &DmAcc) -> Result<(), Error> {
    let miid = tree
        .instances_of(DMACC_MOID)
        .find(|i| DmAcc::from_instance(i).is_ok_and(|a| a.server_id == account.server_id))
        .map(|i| i.miid().clone());
    match miid {
        Some(miid) => {
            tree.remove(DMACC_MOID, miid.as_str());
            tree.insert(account.to_instance(miid))?;
        }
        None => {
            tree.add_dm_acc(account)?;
        }
    }
    Ok(())
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
