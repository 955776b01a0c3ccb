//! Setting up FUMO on a [`DmClient`]: the device's instance, the rights of
//! its managing servers, the driver; and firmware update requests.

use std::sync::Arc;

use dm_tree::{MoInstance, Rights};
use dm_types::update::{FUMO_MOID, UpdateRequester, fumo_request_alert};
use dm_types::{Children, ClientUri, LeafValue, Miid, MoData, MoNode, Moid, NodeName, ServerId};

use super::download::Downloader;
use super::fumo::{FirmwareUpdate, Fumo};
use crate::client::DmClient;
use crate::handles::Delivery;
use crate::report::SessionReport;
use crate::{Error, Trigger};

/// How the device's FUMO instance is set up ([`DmClient::install_fumo`]).
///
/// ```
/// use dm_client::update::FumoSetup;
/// use dm_types::{Miid, ServerId};
///
/// let setup = FumoSetup::new(Miid::new("fw")?)
///     .package("acme-x1", "1.0.3")
///     .server(ServerId::new("dm.example")?);
/// assert_eq!(setup.miid.as_str(), "fw");
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FumoSetup {
    /// The instance's MIID, chosen by the product (`fw`, say): servers
    /// find it in the MOS list of Package#1.
    pub miid: Miid,
    /// The initial `PkgName` (the firmware running).
    pub pkg_name: String,
    /// The initial `PkgVersion`.
    pub pkg_version: String,
    /// The servers that manage firmware: each gets the FUMO MOID in its
    /// Perm list and Read, Write and Exec on the instance.
    pub servers: Vec<ServerId>,
    /// The downloader (default: over the client's transport, with its
    /// retry policy and [`DEFAULT_MAX_PACKAGE_SIZE`](crate::update::DEFAULT_MAX_PACKAGE_SIZE)).
    pub downloader: Option<Downloader>,
}

impl FumoSetup {
    /// An instance named `miid`, with no server yet.
    pub fn new(miid: Miid) -> FumoSetup {
        FumoSetup {
            miid,
            pkg_name: String::new(),
            pkg_version: String::new(),
            servers: Vec::new(),
            downloader: None,
        }
    }

    /// The initial `PkgName` and `PkgVersion`.
    #[must_use]
    pub fn package(mut self, name: impl Into<String>, version: impl Into<String>) -> FumoSetup {
        self.pkg_name = name.into();
        self.pkg_version = version.into();
        self
    }

    /// Adds a managing server.
    #[must_use]
    pub fn server(mut self, server: ServerId) -> FumoSetup {
        self.servers.push(server);
        self
    }

    /// Downloads with `downloader` (its size limit, retries, timeouts).
    #[must_use]
    pub fn downloader(mut self, downloader: Downloader) -> FumoSetup {
        self.downloader = Some(downloader);
        self
    }
}

/// An [`Error::Tree`] about the FUMO instance.
fn invalid(at: impl std::fmt::Display, reason: impl std::fmt::Display) -> Error {
    Error::Tree(dm_tree::Error::InvalidData {
        at: at.to_string(),
        reason: reason.to_string(),
    })
}

fn name(text: &str) -> Result<NodeName, Error> {
    NodeName::new(text).map_err(|e| invalid("FUMO instance", e))
}

fn interior(children: Vec<(NodeName, MoNode)>) -> Result<MoNode, Error> {
    Children::new(children)
        .map(MoNode::Interior)
        .map_err(|e| invalid("FUMO instance", e))
}

/// The new instance: the setup's package, empty URLs, State 10, empty Ext.
fn fumo_data(setup: &FumoSetup) -> Result<MoData, Error> {
    let text = |t: &str| MoNode::Leaf(LeafValue::from(t));
    let url = || -> Result<MoNode, Error> { interior(vec![(name("PkgURL")?, text(""))]) };
    let root = interior(vec![
        (name("Download")?, url()?),
        (name("DownloadAndUpdate")?, url()?),
        (name("Ext")?, interior(Vec::new())?),
        (name("PkgName")?, text(&setup.pkg_name)),
        (name("PkgVersion")?, text(&setup.pkg_version)),
        (name("State")?, MoNode::Leaf(LeafValue::Int(10))),
        (
            name("Update")?,
            interior(vec![(
                name("PkgData")?,
                MoNode::Leaf(LeafValue::Binary(Vec::new())),
            )])?,
        ),
    ])?;
    Ok(MoData::new(name("FUMO")?, root))
}

impl DmClient {
    /// Sets up firmware updates (docs/protocol.md section 13.1,
    /// docs/updates.md): registers the FUMO definition, creates the
    /// device's FUMO instance `setup.miid` unless the tree (from the state
    /// file) already has it, gives each of `setup.servers` the FUMO MOID in
    /// its Perm list and Read, Write and Exec on the instance (a DACMO
    /// entry), and registers the driver running `firmware` as the handler
    /// of the FUMO MOID. Call it after every start (handlers are not
    /// persisted). The driver starts `Idle`.
    ///
    /// Results reach the client through its [`ExecCompletion`](crate::ExecCompletion):
    /// [`DmClient::listen_udp`] takes and delivers them, or call
    /// [`DmClient::take_exec_completions`] and
    /// [`DmClient::deliver_pending_reports`].
    ///
    /// Errors: a server without account ([`Error::Tree`] `NotFound`), an
    /// instance that does not fit the definition, state file failures.
    ///
    /// ```
    /// use dm_client::update::{FumoSetup, SimulatedFirmware};
    /// use dm_client::{Account, DmClient};
    /// use dm_tree::{DevInfo, DmAcc, Principal};
    /// use dm_types::update::{FumoState, FUMO_MOID};
    /// use dm_types::{DevId, Miid, ServerId, ServerUri};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = ServerId::new("dm.example")?;
    /// let account = DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?);
    /// let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1"))
    ///     .account(Account::new(account))
    ///     .build()?;
    /// let setup = FumoSetup::new(Miid::new("fw")?).package("x1", "1.0").server(server.clone());
    /// let fumo = client.install_fumo(setup, SimulatedFirmware::new(1 << 20))?;
    /// assert_eq!(fumo.state(), FumoState::Idle);
    /// let instance = client.tree().instance(FUMO_MOID, "fw").unwrap();
    /// assert_eq!(client.tree().rights(&Principal::Server(server), instance).to_string(), "Read,Write,Exec");
    /// # Ok(())
    /// # }
    /// ```
    pub fn install_fumo<F: FirmwareUpdate>(
        &mut self,
        mut setup: FumoSetup,
        firmware: F,
    ) -> Result<Fumo<F>, Error> {
        let downloader = setup
            .downloader
            .take()
            .unwrap_or_else(|| Downloader::new(self.transport.clone()));
        let moid = Moid::new(FUMO_MOID).map_err(|e| invalid(FUMO_MOID, e))?;
        let definition = Arc::new(dm_ddf::standard::fumo().clone());
        self.tree.define(moid.clone(), definition.clone());
        let miid = setup.miid.as_str();
        match self.tree.instance(FUMO_MOID, miid) {
            None => {
                let instance =
                    MoInstance::new(moid.clone(), setup.miid.clone(), &fumo_data(&setup)?)
                        .with_definition(definition.clone());
                if let Some(data) = instance.to_mo_data(dm_tree::NodeId::ROOT) {
                    definition
                        .validate(&data)
                        .map_err(|e| invalid(ClientUri::absolute(&moid, &setup.miid, &[]), e))?;
                }
                self.tree.insert(instance)?;
            }
            Some(existing) if existing.definition().is_none() => {
                // From a state file: the instance gets the definition back.
                if let Some(existing) = self.tree.remove(FUMO_MOID, miid) {
                    self.tree.insert(existing.with_definition(definition))?;
                }
            }
            Some(_) => {}
        }
        for server in &setup.servers {
            self.tree.grant_moid(server, &moid)?;
            self.tree.grant_rights(
                server,
                FUMO_MOID,
                miid,
                Rights::READ | Rights::WRITE | Rights::EXEC,
            )?;
        }
        let fumo = Fumo::new(
            firmware,
            ClientUri::absolute(&moid, &setup.miid, &[]),
            ClientUri::absolute(&moid, &setup.miid, &[name("State")?]),
            downloader,
            self.exec_completion(),
            self.change_signal(),
        );
        self.set_handler(moid, fumo.handler());
        self.save()?;
        Ok(fumo)
    }

    /// Asks `server` for a firmware update (section 13.1): raises the
    /// `devicerequest` (or, when the user asked, `userrequest`) alert with
    /// the device's FUMO instance root as `SourceURI`, and runs a
    /// client-initiated session with `server` at once to deliver it.
    ///
    /// Errors: [`Error::NoFumoInstance`] before [`DmClient::install_fumo`],
    /// and those of [`DmClient::raise_alert`] and
    /// [`DmClient::run_session`].
    ///
    /// ```no_run
    /// use dm_client::DmClient;
    /// use dm_types::update::UpdateRequester;
    /// use dm_types::ServerId;
    ///
    /// # async fn example(client: &mut DmClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let report = client.request_firmware_update(&ServerId::new("dm.example")?, UpdateRequester::User).await?;
    /// println!("{report}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request_firmware_update(
        &mut self,
        server: &ServerId,
        requester: UpdateRequester,
    ) -> Result<SessionReport, Error> {
        let instance = self
            .tree
            .instances_of(FUMO_MOID)
            .next()
            .ok_or(Error::NoFumoInstance)?;
        let root = ClientUri::absolute(instance.moid(), instance.miid(), &[]);
        let alert = fumo_request_alert(&root, requester);
        self.raise_alert(server, alert, Delivery::NextSession)
            .await?;
        self.run_session(server, Trigger::Client).await
    }
}
