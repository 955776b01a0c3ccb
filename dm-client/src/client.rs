//! [`DmClient`]: the async facade that drives `dm_session::ClientSession`
//! over HTTP(S), answers notifications, delivers asynchronous results and
//! change reports, and persists the tree. This module holds the client's
//! parts and what reads them; each activity has its module: building
//! (`builder`), sessions (`session`), notifications (`listen`), alerts and
//! EXEC results (`alerts`), local changes (`changes`), DEFAULT fetches
//! (`configuration`).

use std::path::Path;
use std::sync::Arc;

use dm_session::{BootstrapApproval, BrowserLauncher, Busy};
use dm_tree::{MoTree, NodeHandler};
use dm_types::{Alert, ClientUri, DevId, Moid, ServerId, ServerUri};

use crate::Error;
use crate::handles::{Changes, Completions};
use crate::observer::Observer;
use crate::settings::{AccountSettings, Settings};
use crate::state::{self, ClientState, PendingAlert};
use crate::transport::{HttpSession, Transport};

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
    pub(crate) tree: MoTree,
    pub(crate) dev_id: DevId,
    pub(crate) accounts: Vec<AccountSettings>,
    pub(crate) transport: Transport,
    pub(crate) state: ClientState,
    pub(crate) state_file: Option<Box<Path>>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) notification_address: Option<Box<str>>,
    pub(crate) completions: Option<Box<Completions>>,
    pub(crate) changes: Option<Box<Changes>>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) browser: Option<Arc<dyn BrowserLauncher>>,
    pub(crate) busy: Busy,
    /// Transports built for accounts' `Auth/Trsp`.
    pub(crate) derived: Vec<crate::credentials::DerivedTransport>,
    pub(crate) bootstrap_approval: Option<Arc<dyn BootstrapApproval>>,
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

    /// The management accounts owed a session with `BootstrapComplete`
    /// (docs/protocol.md sections 11.2 and 11.3): installed from a factory
    /// file or provisioned by a bootstrap, and not yet reached by a
    /// session that succeeded. Kept in the state file.
    pub fn pending_bootstrap_complete(&self) -> &[ServerId] {
        &self.state.bootstrap_complete
    }

    /// The bootstrap accounts of the tree (with `Auth/Bootstrap`), in MIID
    /// order.
    pub fn bootstrap_servers(&self) -> Vec<ServerId> {
        self.tree
            .dm_accs()
            .into_iter()
            .filter_map(Result::ok)
            .filter(dm_tree::DmAcc::is_bootstrap_account)
            .map(|account| account.server_id)
            .collect()
    }

    /// Alerts waiting for a session: asynchronous EXEC results and alerts
    /// raised with [`DmClient::raise_alert`].
    pub fn pending_reports(&self) -> usize {
        self.state.pending.len()
    }

    /// Adds `alert` to the pending list for `server` (not saved).
    pub(crate) fn keep_alert(&mut self, server: &ServerId, alert: Alert) -> Result<(), Error> {
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

    /// The content of the state file: the tree and the client state, as
    /// [`DmClient::save`] writes them (with or without a state file), and
    /// as [`DmClientBuilder::build_with_state`] reads them.
    pub fn state_file_bytes(&self) -> Vec<u8> {
        state::encode(&self.tree, &self.state)
    }

    pub(crate) fn settings_of(&self, server: &ServerId) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.server_id == *server)
    }

    pub(crate) fn transport_of(&self, server: &ServerId) -> Transport {
        self.settings_of(server)
            .and_then(|a| a.transport.clone())
            .unwrap_or_else(|| self.transport.clone())
    }

    /// The HTTP state for requests made for `server` outside a session.
    pub(crate) fn http_for(&self, server: &ServerId) -> Result<HttpSession, Error> {
        let account = self
            .tree
            .dm_acc(server)?
            .ok_or_else(|| Error::UnknownServer(server.clone()))?;
        let credentials = crate::credentials::http_credentials(
            account.http.as_ref(),
            &self
                .settings_of(server)
                .map(|a| a.credentials.clone())
                .unwrap_or_default(),
        );
        Ok(HttpSession::new(credentials, account.server_uri))
    }
}
