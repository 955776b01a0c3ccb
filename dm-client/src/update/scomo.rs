//! SCOMO on the device (docs/protocol.md section 13.2, docs/updates.md):
//! the [`SoftwareComponents`] trait a vendor implements, and the [`Scomo`]
//! driver that does the rest — the SCOMO instance and its inventory in the
//! tree, the operations a server executes, downloads through the shared
//! [`Downloader`], and the `OperationComplete` result alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use dm_tree::{ExecOutcome, InstanceView, MoInstance, MoTree, NodeHandler, Rights};
use dm_types::update::{
    EXT_PKG_SHA256, EXT_PKG_SIZE, FumoResult, SCOMO_MOID, ScomoDownloadStatus, ScomoResult,
    scomo_result_alert,
};
use dm_types::{
    Alert, Children, ClientUri, LeafValue, Miid, MoData, MoNode, Moid, NodeName, Segment, ServerId,
    StatusCode,
};

use super::download::{DownloadError, Downloader, PackageSink, PackageSource};
use super::scomo_rules::{ComponentPlace, OperationEnd, ScomoOperation};
use crate::{DmClient, ExecCompletion, TreeEditor};

/// A software component as the server described it under `Download/<x>`
/// (and as it stays while delivered).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Component {
    /// The entry's node name `<x>`: the component's name on this device,
    /// also that of its `Inventory/Delivered/<x>` and
    /// `Inventory/Deployed/<x>` entries (**[project decision]**).
    pub name: String,
    /// `PkgID`.
    pub pkg_id: Option<String>,
    /// `Name` (the component's display name).
    pub display_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `InstallParams`.
    pub install_params: Option<String>,
}

/// An installed component, as the vendor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeployedComponent {
    /// The entry's node name `<x>` (that of the `Download/<x>` it came
    /// from).
    pub name: String,
    /// `ID`: the component's identifier on the device.
    pub id: String,
    /// `PkgID` of the package it was installed from.
    pub pkg_id: Option<String>,
    /// `Name`.
    pub display_name: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `State`: `active` or `inactive`.
    pub active: bool,
}

/// Why the vendor could not carry out an operation: the SCOMO result the
/// server gets (1400–1599; a success code here counts as `1500`).
///
/// ```
/// use dm_client::update::ComponentError;
/// use dm_types::update::ScomoResult;
///
/// let e = ComponentError::new(ScomoResult::new(1410).unwrap(), "post-install script failed");
/// assert_eq!(e.to_string(), "result 1410: post-install script failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("result {result}: {reason}")]
pub struct ComponentError {
    /// The result code reported.
    pub result: ScomoResult,
    /// What went wrong (for the device's logs).
    pub reason: String,
}

impl ComponentError {
    /// A failure reported with `result`.
    pub fn new(result: ScomoResult, reason: impl Into<String>) -> ComponentError {
        ComponentError {
            result,
            reason: reason.into(),
        }
    }

    /// The result actually reported: `result`, or `1500` for a success
    /// code given as a failure.
    pub fn reported(&self) -> ScomoResult {
        if self.result.is_success() {
            internal_failure()
        } else {
            self.result
        }
    }
}

/// What a vendor implements for SCOMO: where packages go, and what
/// installing, activating and removing components means on the device.
/// Components are named by their entry name `<x>`. The methods may block
/// (the driver calls them off the async runtime's threads).
///
/// See [`SimulatedComponents`](crate::update::SimulatedComponents) for an
/// implementation.
pub trait SoftwareComponents: Send + Sync {
    /// Where the package of `component` is downloaded to (discarded by the
    /// driver if the download fails).
    fn package_sink(&self, component: &Component) -> Result<Box<dyn PackageSink>, ComponentError>;

    /// The package downloaded into the sink of `component` is complete and
    /// its size and SHA-256 were checked: keep it, delivered.
    fn deliver(&self, component: &Component) -> Result<(), ComponentError>;

    /// Installs the delivered component `name` (replacing an installed one
    /// of that name), active or not; the delivered package is then gone.
    fn install(&self, name: &str, active: bool) -> Result<DeployedComponent, ComponentError>;

    /// Discards the delivered package of `name`.
    fn discard(&self, name: &str) -> Result<(), ComponentError>;

    /// Activates the installed component `name`.
    fn activate(&self, name: &str) -> Result<(), ComponentError>;

    /// Deactivates the installed component `name`.
    fn deactivate(&self, name: &str) -> Result<(), ComponentError>;

    /// Uninstalls the installed component `name`.
    fn remove(&self, name: &str) -> Result<(), ComponentError>;

    /// The delivered packages (read when the driver starts).
    fn delivered(&self) -> Vec<Component>;

    /// The installed components (read when the driver starts).
    fn deployed(&self) -> Vec<DeployedComponent>;
}

/// Why [`Scomo::attach`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScomoError {
    /// Not called from within a Tokio runtime (the driver runs its
    /// operations as tasks of the caller's runtime).
    #[error("the SCOMO driver must be attached from within a Tokio runtime")]
    NoRuntime,
    /// The instance could not be written into the tree.
    #[error("the SCOMO instance: {0}")]
    Tree(#[from] dm_tree::Error),
    /// A name the driver writes is not a valid node name.
    #[error("invalid node name: {0}")]
    Name(#[from] dm_types::Error),
    /// The state file could not be written with the instance.
    #[error("the state file: {0}")]
    State(#[source] crate::Error),
}

/// Told of every operation that finished: the operation, the component's
/// entry name and the result reported (for the product's logs or screen).
pub type ScomoListener = Arc<dyn Fn(ScomoOperation, &str, ScomoResult) + Send + Sync>;

/// How the driver is set up.
#[derive(Clone)]
pub struct ScomoOptions {
    /// The MIID of the SCOMO instance the device creates (`scomo` by
    /// default).
    pub miid: Miid,
    /// The downloader (by default one over the client's transport with
    /// its retry policy and the default size limit).
    pub downloader: Option<Downloader>,
    /// Told of every operation that finished, before its result alert is
    /// recorded.
    pub listener: Option<ScomoListener>,
}

impl std::fmt::Debug for ScomoOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScomoOptions")
            .field("miid", &self.miid)
            .field("downloader", &self.downloader)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Default for ScomoOptions {
    fn default() -> ScomoOptions {
        ScomoOptions {
            miid: Miid::new("scomo").unwrap_or_else(|_| unreachable!("a valid MIID")),
            downloader: None,
            listener: None,
        }
    }
}

/// The SCOMO driver (docs/updates.md, "Device side: SCOMO"): attached to
/// a [`DmClient`], it creates the device's SCOMO instance (the root
/// `SCOMO`, with `Download/`, `Inventory/Delivered/` and
/// `Inventory/Deployed/`), fills the inventory from the vendor's
/// [`SoftwareComponents`], grants the management servers Read, Write and
/// Exec on the instance (a DACMO entry), and executes the operations:
///
/// - `Download/<x>/Operations/{Download, DownloadInstall,
///   DownloadInstallInactive}` download `Download/<x>/PkgURL` (refusing
///   more than `Ext/PkgSize`, checking `Ext/PkgSHA256`: a mismatch is
///   `1402` and delivers nothing), then deliver and maybe install;
/// - `Inventory/Delivered/<x>/Operations/{Install, InstallInactive,
///   Remove}` and `Inventory/Deployed/<x>/Operations/{Activate,
///   Deactivate, Remove}`.
///
/// Every EXEC answers `202` and runs as a task; meanwhile the driver keeps
/// `Download/<x>/Status` ([`ScomoDownloadStatus`]), creates and removes
/// the `Inventory/Delivered/<x>` and `Inventory/Deployed/<x>` entries (with
/// their `Operations/` leaves) and `Deployed/<x>/State` (`active` or
/// `inactive`) through a [`TreeEditor`], then reports the result as an
/// `OperationComplete` alert ([`scomo_result_alert`]: `SourceURI` the
/// executed node, `TargetURI` the component's entry, result `1200` or the
/// failure's code, `Identifier` the component's ID or `PkgID`). A second
/// operation on a component whose first one runs is refused with `503`
/// (result `1503`).
///
/// A server writing `Download/<x>` writes the whole entry, its
/// `Operations/` leaves included (**[project decision]**: the device
/// learns of a write only when a node is executed).
///
/// ```no_run
/// use std::sync::Arc;
/// use dm_client::DmClient;
/// use dm_client::update::{Scomo, ScomoOptions, Simulation, SimulatedComponents};
///
/// # async fn example(client: &mut DmClient) -> Result<(), Box<dyn std::error::Error>> {
/// let components = Arc::new(SimulatedComponents::new(Simulation::default()));
/// let scomo = Scomo::attach(client, components, ScomoOptions::default())?;
/// assert_eq!(scomo.root().as_str(), "urn:oma:mo:oma-scomo:1.0/scomo/");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Scomo {
    shared: Arc<Shared>,
}

struct Shared {
    moid: Moid,
    miid: Miid,
    components: Arc<dyn SoftwareComponents>,
    downloader: Downloader,
    editor: TreeEditor,
    completion: ExecCompletion,
    runtime: tokio::runtime::Handle,
    /// Components with an operation running.
    busy: Mutex<BTreeSet<String>>,
    /// How the last run of each operation node ended, by its path.
    outcomes: Mutex<BTreeMap<String, Outcome>>,
    listener: Option<ScomoListener>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scomo")
            .field("miid", &self.miid)
            .finish_non_exhaustive()
    }
}

/// How an operation ended, for its result alert.
#[derive(Debug, Clone)]
struct Outcome {
    end: OperationEnd,
    identifier: Option<String>,
}

impl Scomo {
    /// Attaches the driver to `client` (see [`Scomo`]); call it after
    /// every start, from within the Tokio runtime that will run the
    /// operations. An existing instance (from the state file) keeps its
    /// `Download/` entries; its inventory is rebuilt from the vendor's
    /// lists.
    pub fn attach(
        client: &mut DmClient,
        components: Arc<dyn SoftwareComponents>,
        options: ScomoOptions,
    ) -> Result<Scomo, ScomoError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ScomoError::NoRuntime)?;
        let moid = Moid::new(SCOMO_MOID)?;
        let miid = options.miid;
        let delivered = components.delivered();
        let deployed = components.deployed();
        let servers: Vec<ServerId> = client
            .tree
            .dm_accs()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|account| !account.is_bootstrap_account())
            .map(|account| account.server_id)
            .collect();
        prepare_instance(&mut client.tree, &moid, &miid, &delivered, &deployed)?;
        grant(&mut client.tree, &moid, &miid, &servers)?;
        client.save().map_err(ScomoError::State)?;
        let downloader = options
            .downloader
            .unwrap_or_else(|| Downloader::new(client.transport.clone()));
        let shared = Arc::new(Shared {
            moid: moid.clone(),
            miid,
            components,
            downloader,
            editor: client.tree_editor(),
            completion: client.exec_completion(),
            runtime,
            busy: Mutex::new(BTreeSet::new()),
            outcomes: Mutex::new(BTreeMap::new()),
            listener: options.listener,
        });
        client.set_handler(
            moid,
            Arc::new(Handler {
                shared: Arc::clone(&shared),
            }),
        );
        Ok(Scomo { shared })
    }

    /// The inventory a tree holds in the SCOMO instance `miid` (as a state
    /// file keeps it): the delivered and the deployed components. A
    /// simulated product restores its components from it after a restart.
    ///
    /// ```
    /// use dm_client::update::Scomo;
    /// let (delivered, deployed) = Scomo::inventory_in(&dm_tree::MoTree::new(), "scomo");
    /// assert!(delivered.is_empty() && deployed.is_empty());
    /// ```
    pub fn inventory_in(tree: &MoTree, miid: &str) -> (Vec<Component>, Vec<DeployedComponent>) {
        let Some(instance) = tree.instance(SCOMO_MOID, miid) else {
            return (Vec::new(), Vec::new());
        };
        let view: &dyn InstanceView = instance;
        let delivered = view
            .children("Inventory/Delivered")
            .into_iter()
            .map(|name| {
                let values = leaves(view, &format!("Inventory/Delivered/{name}"));
                Component {
                    name: name.to_owned(),
                    pkg_id: values.get("PkgID").cloned(),
                    display_name: values.get("Name").cloned(),
                    description: values.get("Description").cloned(),
                    install_params: None,
                }
            })
            .collect();
        let deployed = view
            .children("Inventory/Deployed")
            .into_iter()
            .map(|name| {
                let values = leaves(view, &format!("Inventory/Deployed/{name}"));
                DeployedComponent {
                    name: name.to_owned(),
                    id: values.get("ID").cloned().unwrap_or_else(|| name.to_owned()),
                    pkg_id: values.get("PkgID").cloned(),
                    display_name: values.get("Name").cloned(),
                    version: values.get("Version").cloned(),
                    description: values.get("Description").cloned(),
                    active: values.get("State").is_some_and(|s| s == "active"),
                }
            })
            .collect();
        (delivered, deployed)
    }

    /// The instance root's absolute ClientURI.
    pub fn root(&self) -> ClientUri {
        ClientUri::absolute(&self.shared.moid, &self.shared.miid, &[])
    }

    /// The components with an operation running.
    pub fn busy(&self) -> Vec<String> {
        lock(&self.shared.busy).iter().cloned().collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The handler registered for the SCOMO MOID.
struct Handler {
    shared: Arc<Shared>,
}

/// The node names of `node`'s path (after the MIID).
fn names(node: &ClientUri) -> Vec<String> {
    node.path()
        .map(|segment| match segment {
            Segment::Name(name) => name.into_owned(),
            // Selectors are resolved before a handler sees a node.
            _ => String::new(),
        })
        .collect()
}

impl NodeHandler for Handler {
    fn exec(
        &self,
        node: &ClientUri,
        instance: &dyn InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        let path = names(node);
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some((operation, name)) = ScomoOperation::at(&refs) else {
            return ExecOutcome::Done(StatusCode::COMMAND_NOT_ALLOWED);
        };
        // The entry as it is now: what the server wrote into it.
        let values = operation
            .place()
            .entry(name)
            .map(|entry| leaves(instance, &entry))
            .unwrap_or_default();
        if !lock(&self.shared.busy).insert(name.to_owned()) {
            // Its result alert (1503) names the component where it is.
            lock(&self.shared.outcomes).insert(
                operation.path(name),
                Outcome {
                    end: OperationEnd::Refused,
                    identifier: Some(name.to_owned()),
                },
            );
            return ExecOutcome::Done(StatusCode::SERVICE_UNAVAILABLE);
        }
        let shared = Arc::clone(&self.shared);
        let name = name.to_owned();
        let node = node.clone();
        self.shared.runtime.spawn(async move {
            let (end, result, identifier) = shared.perform(operation, &name, values).await;
            tracing::info!(component = name.as_str(), %operation, %result, "SCOMO operation finished");
            lock(&shared.outcomes).insert(operation.path(&name), Outcome { end, identifier });
            lock(&shared.busy).remove(&name);
            if let Some(listener) = &shared.listener {
                listener(operation, &name, result);
            }
            shared.completion.finished(node, result.status());
        });
        ExecOutcome::Started
    }

    fn result_alert(&self, node: &ClientUri, status: StatusCode) -> Alert {
        let path = names(node);
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let (Some((operation, name)), Some(result)) = (
            ScomoOperation::at(&refs),
            ScomoResult::from_status(status).or_else(|| ScomoResult::new(1500)),
        ) else {
            return Alert::exec_complete(node, status);
        };
        let recorded = lock(&self.shared.outcomes)
            .get(&operation.path(name))
            .cloned();
        let end = match &recorded {
            Some(outcome) => outcome.end,
            None if result.is_success() => OperationEnd::Succeeded,
            None => OperationEnd::Failed,
        };
        // The component's absolute ClientURI, in canonical form.
        let Ok(path) = path_of(&operation.target(name, end)) else {
            return scomo_result_alert(node, None, result, Some(name));
        };
        let target = ClientUri::absolute(&self.shared.moid, &self.shared.miid, &path);
        let identifier = recorded
            .and_then(|o| o.identifier)
            .unwrap_or_else(|| name.to_owned());
        scomo_result_alert(node, Some(target.as_str()), result, Some(&identifier))
    }
}

/// What a failed step reports.
type Failure = (OperationEnd, ScomoResult, Option<String>);

impl Shared {
    /// Runs `operation` on component `name`: how it ended, its result and
    /// the component's identifier.
    async fn perform(
        &self,
        operation: ScomoOperation,
        name: &str,
        values: BTreeMap<String, String>,
    ) -> (OperationEnd, ScomoResult, Option<String>) {
        let done = if operation.downloads() {
            self.download_operation(operation, name, &values).await
        } else {
            self.inventory_operation(operation, name, &values).await
        };
        match done {
            Ok(identifier) => (OperationEnd::Succeeded, ScomoResult::SUCCESSFUL, identifier),
            Err(failure) => failure,
        }
    }

    async fn download_operation(
        &self,
        operation: ScomoOperation,
        name: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Option<String>, Failure> {
        let download_failed =
            |result: ScomoResult, id: Option<String>| (OperationEnd::DownloadFailed, result, id);
        let component = Component {
            name: name.to_owned(),
            pkg_id: values.get("PkgID").cloned(),
            display_name: values.get("Name").cloned(),
            description: values.get("Description").cloned(),
            install_params: values.get("InstallParams").cloned(),
        };
        let identifier = component.pkg_id.clone().or_else(|| Some(name.to_owned()));
        let source = package_source(values).map_err(|e| {
            tracing::warn!(component = name, "SCOMO download refused: {e}");
            download_failed(download_result(&e), identifier.clone())
        });
        let source = match source {
            Ok(source) => source,
            Err(failure) => {
                self.set_status(name, ScomoDownloadStatus::DownloadFailed);
                return Err(failure);
            }
        };
        self.set_status(name, ScomoDownloadStatus::DownloadProgressing);
        if let Err(e) = self.fetch(&component, &source).await {
            tracing::warn!(component = name, "SCOMO download failed: {e}");
            self.set_status(name, ScomoDownloadStatus::DownloadFailed);
            return Err(download_failed(e.reported(), identifier));
        }
        let Some(active) = operation.installs() else {
            self.edit_delivered(&component, ScomoDownloadStatus::DownloadComplete);
            return Ok(identifier);
        };
        self.set_status(name, ScomoDownloadStatus::InstallProgressing);
        match self
            .blocking({
                let name = name.to_owned();
                move |c| c.install(&name, active)
            })
            .await
        {
            Ok(deployed) => {
                let id = deployed.id.clone();
                self.edit_deployed(deployed, Some(ScomoDownloadStatus::InstallComplete));
                Ok(Some(id))
            }
            Err(e) => {
                tracing::warn!(component = name, "SCOMO install failed: {e}");
                self.edit_delivered(&component, ScomoDownloadStatus::InstallFailedWithData);
                Err((OperationEnd::Failed, e.reported(), identifier))
            }
        }
    }

    async fn inventory_operation(
        &self,
        operation: ScomoOperation,
        name: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Option<String>, Failure> {
        let id = values.get("ID").cloned();
        let owned = name.to_owned();
        let failed = |e: ComponentError| {
            tracing::warn!(component = name, %operation, "SCOMO operation failed: {e}");
            (OperationEnd::Failed, e.reported(), Some(name.to_owned()))
        };
        match operation {
            ScomoOperation::Install | ScomoOperation::InstallInactive => {
                let active = operation == ScomoOperation::Install;
                let deployed = self
                    .blocking(move |c| c.install(&owned, active))
                    .await
                    .map_err(failed)?;
                let id = deployed.id.clone();
                self.edit_removed(ComponentPlace::Delivered, name);
                self.edit_deployed(deployed, None);
                Ok(Some(id))
            }
            ScomoOperation::RemoveDelivered => {
                self.blocking(move |c| c.discard(&owned))
                    .await
                    .map_err(failed)?;
                self.edit_removed(ComponentPlace::Delivered, name);
                Ok(Some(name.to_owned()))
            }
            ScomoOperation::Activate | ScomoOperation::Deactivate => {
                let active = operation == ScomoOperation::Activate;
                self.blocking(move |c| {
                    if active {
                        c.activate(&owned)
                    } else {
                        c.deactivate(&owned)
                    }
                })
                .await
                .map_err(failed)?;
                self.edit_state(name, active);
                Ok(id)
            }
            ScomoOperation::RemoveDeployed => {
                self.blocking(move |c| c.remove(&owned))
                    .await
                    .map_err(failed)?;
                self.edit_removed(ComponentPlace::Deployed { active: true }, name);
                Ok(id)
            }
            // Download operations are handled by download_operation.
            ScomoOperation::Download
            | ScomoOperation::DownloadInstall
            | ScomoOperation::DownloadInstallInactive => Err((
                OperationEnd::Failed,
                internal_failure(),
                Some(name.to_owned()),
            )),
        }
    }

    /// Runs a vendor call on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn SoftwareComponents) -> Result<T, ComponentError> + Send + 'static,
    ) -> Result<T, ComponentError> {
        let components = Arc::clone(&self.components);
        tokio::task::spawn_blocking(move || call(components.as_ref()))
            .await
            .unwrap_or_else(|e| {
                Err(ComponentError::new(
                    internal_failure(),
                    format!("the vendor's call did not return: {e}"),
                ))
            })
    }

    /// Downloads the package of `component` into the vendor's sink and
    /// has it delivered.
    async fn fetch(
        &self,
        component: &Component,
        source: &PackageSource,
    ) -> Result<(), ComponentError> {
        let mut sink = {
            let component = component.clone();
            self.blocking(move |c| c.package_sink(&component)).await?
        };
        let downloaded = self
            .downloader
            .download(source, sink.as_mut(), &mut |_| {})
            .await;
        if let Err(e) = downloaded {
            if let Err(discard) = sink.discard() {
                tracing::warn!("discarding a failed download: {discard}");
            }
            return Err(ComponentError::new(download_result(&e), e.to_string()));
        }
        drop(sink);
        let component = component.clone();
        self.blocking(move |c| c.deliver(&component)).await
    }

    /// Edits the instance as the device.
    fn edit(
        &self,
        change: impl FnOnce(&mut MoInstance) -> Result<Vec<ClientUri>, dm_tree::Error> + Send + 'static,
    ) {
        let (moid, miid) = (self.moid.clone(), self.miid.clone());
        self.editor.edit(move |tree| {
            let instance = tree
                .instance_mut(moid.as_str(), miid.as_str())
                .ok_or(dm_tree::Error::NotFound)?;
            change(instance)
        });
    }

    fn set_status(&self, name: &str, status: ScomoDownloadStatus) {
        let path = format!("Download/{name}/Status");
        self.edit(move |instance| {
            // A Download entry the server deleted meanwhile gets no status.
            if instance.lookup(path.split('/').take(2)).is_none() {
                return Ok(Vec::new());
            }
            write_leaf(instance, &path, LeafValue::from(status.value().to_string()))
        });
    }

    fn edit_delivered(&self, component: &Component, status: ScomoDownloadStatus) {
        let component = component.clone();
        let name = component.name.clone();
        self.set_status(&name, status);
        self.edit(move |instance| {
            let data = delivered_entry(&component)?;
            write_entry(instance, "Inventory/Delivered", &data)
        });
    }

    fn edit_deployed(&self, deployed: DeployedComponent, status: Option<ScomoDownloadStatus>) {
        let name = deployed.name.clone();
        if let Some(status) = status {
            self.set_status(&name, status);
        }
        self.edit(move |instance| {
            let mut changed = remove_entry(instance, &format!("Inventory/Delivered/{name}"));
            let data = deployed_entry(&deployed)?;
            changed.extend(write_entry(instance, "Inventory/Deployed", &data)?);
            Ok(changed)
        });
    }

    fn edit_state(&self, name: &str, active: bool) {
        let path = format!("Inventory/Deployed/{name}/State");
        self.edit(move |instance| write_leaf(instance, &path, state_value(active)));
    }

    fn edit_removed(&self, place: ComponentPlace, name: &str) {
        if let Some(entry) = place.entry(name) {
            self.edit(move |instance| Ok(remove_entry(instance, &entry)));
        }
    }
}

/// `1500` (500 plus 1000): the device failed to carry out the operation.
fn internal_failure() -> ScomoResult {
    ScomoResult::from_fumo(FumoResult::DOWNLOAD_SERVER_ERROR)
}

/// The SCOMO result of a download failure: the FUMO code plus 1000.
fn download_result(error: &DownloadError) -> ScomoResult {
    error.scomo_result()
}

/// What to download, from the entry's `PkgURL`, `Ext/PkgSize` and
/// `Ext/PkgSHA256`.
fn package_source(values: &BTreeMap<String, String>) -> Result<PackageSource, DownloadError> {
    let url = values.get("PkgURL").cloned().unwrap_or_default();
    let mut source = PackageSource::new(url);
    if let Some(size) = values.get(EXT_PKG_SIZE) {
        let size = size
            .trim()
            .parse()
            .map_err(|_| DownloadError::InvalidDescription {
                reason: format!("{EXT_PKG_SIZE} {size:?} is no size"),
            })?;
        source = source.size(size);
    }
    if let Some(digest) = values.get(EXT_PKG_SHA256) {
        source = source.sha256_hex(digest)?;
    }
    Ok(source)
}

fn state_value(active: bool) -> LeafValue {
    LeafValue::from(if active { "active" } else { "inactive" })
}

fn invalid(at: impl std::fmt::Display, reason: impl Into<String>) -> dm_tree::Error {
    dm_tree::Error::InvalidData {
        at: at.to_string(),
        reason: reason.into(),
    }
}

fn node_name(text: &str) -> Result<NodeName, dm_tree::Error> {
    NodeName::new(text).map_err(|e| invalid(text, e.to_string()))
}

fn interior(children: Vec<(&str, MoNode)>) -> Result<MoNode, dm_tree::Error> {
    let children = children
        .into_iter()
        .map(|(name, node)| Ok((node_name(name)?, node)))
        .collect::<Result<Vec<_>, dm_tree::Error>>()?;
    Children::new(children)
        .map(MoNode::Interior)
        .map_err(|e| invalid("SCOMO entry", e.to_string()))
}

fn text(value: &str) -> MoNode {
    MoNode::Leaf(LeafValue::from(value))
}

/// The `Operations/` of an entry at `place`: one empty interior node per
/// operation (as the SCOMO DDF defines them).
fn operations(place: ComponentPlace) -> Result<MoNode, dm_tree::Error> {
    ScomoOperation::of(place)
        .iter()
        .map(|op| Ok((op.node_name(), interior(Vec::new())?)))
        .collect::<Result<Vec<_>, dm_tree::Error>>()
        .and_then(interior)
}

fn optional<'a>(fields: &mut Vec<(&'a str, MoNode)>, name: &'a str, value: Option<&String>) {
    if let Some(value) = value {
        fields.push((name, text(value)));
    }
}

fn delivered_entry(component: &Component) -> Result<MoData, dm_tree::Error> {
    let id = component.pkg_id.as_ref().unwrap_or(&component.name);
    let mut fields = vec![
        ("ID", text(id)),
        ("Operations", operations(ComponentPlace::Delivered)?),
    ];
    optional(&mut fields, "PkgID", component.pkg_id.as_ref());
    optional(&mut fields, "Name", component.display_name.as_ref());
    optional(&mut fields, "Description", component.description.as_ref());
    Ok(MoData::new(node_name(&component.name)?, interior(fields)?))
}

fn deployed_entry(deployed: &DeployedComponent) -> Result<MoData, dm_tree::Error> {
    let mut fields = vec![
        ("ID", text(&deployed.id)),
        ("State", MoNode::Leaf(state_value(deployed.active))),
        (
            "Operations",
            operations(ComponentPlace::Deployed { active: true })?,
        ),
    ];
    optional(&mut fields, "PkgID", deployed.pkg_id.as_ref());
    optional(&mut fields, "Name", deployed.display_name.as_ref());
    optional(&mut fields, "Version", deployed.version.as_ref());
    optional(&mut fields, "Description", deployed.description.as_ref());
    Ok(MoData::new(node_name(&deployed.name)?, interior(fields)?))
}

fn path_of(text: &str) -> Result<Vec<NodeName>, dm_tree::Error> {
    text.split('/').map(node_name).collect()
}

/// Writes `data` under the interior node at `parent` (relative path).
fn write_entry(
    instance: &mut MoInstance,
    parent: &str,
    data: &MoData,
) -> Result<Vec<ClientUri>, dm_tree::Error> {
    let mut path = path_of(parent)?;
    path.push(data.name().clone());
    let id = instance.write(&path, data)?;
    Ok(vec![instance.client_uri(id)])
}

fn write_leaf(
    instance: &mut MoInstance,
    path: &str,
    value: LeafValue,
) -> Result<Vec<ClientUri>, dm_tree::Error> {
    let path = path_of(path)?;
    let Some(last) = path.last() else {
        return Ok(Vec::new());
    };
    let data = MoData::new(last.clone(), MoNode::Leaf(value));
    let id = instance.write(&path, &data)?;
    Ok(vec![instance.client_uri(id)])
}

fn remove_entry(instance: &mut MoInstance, entry: &str) -> Vec<ClientUri> {
    let Some(id) = instance.lookup(entry.split('/')) else {
        return Vec::new();
    };
    let uri = instance.client_uri(id);
    if instance.delete(id) {
        vec![uri]
    } else {
        Vec::new()
    }
}

/// Every leaf below `entry` (relative path), by its path relative to the
/// entry (`PkgURL`, `Ext/PkgSize`); none when there is no such entry.
fn leaves(instance: &dyn InstanceView, entry: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        let at = if prefix.is_empty() {
            entry.to_owned()
        } else {
            format!("{entry}/{prefix}")
        };
        for name in instance.children(&at) {
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            match instance.value(&format!("{entry}/{path}")) {
                Some(value) => {
                    values.insert(path, value.to_text().into_owned());
                }
                None => stack.push(path),
            }
        }
    }
    values
}

/// Creates the SCOMO instance when missing and rebuilds its inventory
/// from the vendor's lists.
fn prepare_instance(
    tree: &mut MoTree,
    moid: &Moid,
    miid: &Miid,
    delivered: &[Component],
    deployed: &[DeployedComponent],
) -> Result<(), dm_tree::Error> {
    let definition = Arc::new(dm_ddf::standard::scomo().clone());
    tree.define(moid.clone(), Arc::clone(&definition));
    if tree.instance(moid.as_str(), miid.as_str()).is_none() {
        let root = interior(vec![
            ("Download", interior(Vec::new())?),
            (
                "Inventory",
                interior(vec![
                    ("Delivered", interior(Vec::new())?),
                    ("Deployed", interior(Vec::new())?),
                ])?,
            ),
        ])?;
        let data = MoData::new(node_name("SCOMO")?, root);
        tree.insert(MoInstance::new(moid.clone(), miid.clone(), &data))?;
    }
    let instance = tree
        .instance_mut(moid.as_str(), miid.as_str())
        .ok_or(dm_tree::Error::NotFound)?;
    if instance.definition().is_none() {
        *instance = instance.clone().with_definition(definition);
    }
    let inventory = interior(vec![
        ("Delivered", interior(Vec::new())?),
        ("Deployed", interior(Vec::new())?),
    ])?;
    instance.write(
        &[node_name("Inventory")?],
        &MoData::new(node_name("Inventory")?, inventory),
    )?;
    if instance.lookup(["Download"]).is_none() {
        instance.write(
            &[node_name("Download")?],
            &MoData::new(node_name("Download")?, interior(Vec::new())?),
        )?;
    }
    for component in delivered {
        write_entry(
            instance,
            "Inventory/Delivered",
            &delivered_entry(component)?,
        )?;
    }
    for component in deployed {
        write_entry(instance, "Inventory/Deployed", &deployed_entry(component)?)?;
    }
    Ok(())
}

/// Gives `servers` Read, Write and Exec on the instance through its DACMO
/// entry ([`MoTree::grant_rights`]; their Perm lists stay as provisioned).
fn grant(
    tree: &mut MoTree,
    moid: &Moid,
    miid: &Miid,
    servers: &[ServerId],
) -> Result<(), dm_tree::Error> {
    for server in servers {
        tree.grant_rights(
            server,
            moid.as_str(),
            miid.as_str(),
            Rights::READ | Rights::WRITE | Rights::EXEC,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_tree::DACMO_MOID;

    fn tree_with_instance() -> (MoTree, Moid, Miid) {
        let mut tree = MoTree::new();
        let moid = Moid::new(SCOMO_MOID).expect("moid");
        let miid = Miid::new("scomo").expect("miid");
        let deployed = DeployedComponent {
            name: "app".into(),
            id: "com.acme.app".into(),
            version: Some("1.0".into()),
            active: true,
            ..DeployedComponent::default()
        };
        prepare_instance(&mut tree, &moid, &miid, &[], &[deployed]).expect("prepared");
        (tree, moid, miid)
    }

    #[test]
    fn the_instance_holds_the_vendors_inventory() {
        let (tree, moid, miid) = tree_with_instance();
        let instance = tree
            .instance(moid.as_str(), miid.as_str())
            .expect("instance");
        let values = leaves(instance, "Inventory/Deployed/app");
        assert_eq!(values["ID"], "com.acme.app");
        assert_eq!(values["State"], "active");
        assert_eq!(values["Version"], "1.0");
        assert!(
            instance
                .lookup(["Inventory", "Deployed", "app", "Operations", "Activate"])
                .is_some()
        );
        assert!(instance.definition().is_some(), "the SCOMO DDF governs it");
        assert!(instance.lookup(["Download"]).is_some());
        assert!(instance.lookup(["Inventory", "Delivered"]).is_some());
    }

    #[test]
    fn the_inventory_is_read_back_from_a_tree() {
        let (mut tree, moid, miid) = tree_with_instance();
        let component = Component {
            name: "tool".into(),
            pkg_id: Some("tool-1".into()),
            ..Component::default()
        };
        let instance = tree
            .instance_mut(moid.as_str(), miid.as_str())
            .expect("instance");
        write_entry(
            instance,
            "Inventory/Delivered",
            &delivered_entry(&component).expect("entry"),
        )
        .expect("written");
        let (delivered, deployed) = Scomo::inventory_in(&tree, miid.as_str());
        assert_eq!(delivered, [component]);
        assert_eq!(deployed.len(), 1);
        assert_eq!(deployed[0].id, "com.acme.app");
        assert!(deployed[0].active);
        assert_eq!(deployed[0].version.as_deref(), Some("1.0"));
    }

    #[test]
    fn servers_get_read_write_exec_on_the_instance() {
        let (mut tree, moid, miid) = tree_with_instance();
        let server = |id: &str| ServerId::new(id).expect("id");
        grant(&mut tree, &moid, &miid, &[server("dm1")]).expect("granted");
        grant(&mut tree, &moid, &miid, &[server("dm1"), server("dm2")]).expect("again");
        let entries: Vec<_> = tree.instances_of(DACMO_MOID).collect();
        assert_eq!(entries.len(), 1, "one entry, kept");
        let acl: Vec<(String, String)> = leaves(entries[0], "ACL").into_iter().collect();
        assert!(
            acl.contains(&("1/ServerID".into(), "dm1".into())),
            "{acl:?}"
        );
        assert!(
            acl.contains(&("2/ServerID".into(), "dm2".into())),
            "{acl:?}"
        );
        assert!(
            acl.contains(&("2/Rights".into(), "Read,Write,Exec".into())),
            "{acl:?}"
        );
    }

    #[test]
    fn package_sources_come_from_the_download_entry() {
        let mut values = BTreeMap::new();
        values.insert("PkgURL".to_owned(), "http://h/p".to_owned());
        values.insert(EXT_PKG_SIZE.to_owned(), "12".to_owned());
        values.insert(EXT_PKG_SHA256.to_owned(), "ab".repeat(32));
        let source = package_source(&values).expect("source");
        assert_eq!(source.size, Some(12));
        assert_eq!(source.sha256, Some([0xab; 32]));
        values.insert(EXT_PKG_SIZE.to_owned(), "twelve".to_owned());
        let e = package_source(&values).expect_err("bad size");
        assert_eq!(download_result(&e).code(), 1400);
        values.remove(EXT_PKG_SIZE);
        values.insert(EXT_PKG_SHA256.to_owned(), "zz".to_owned());
        assert!(package_source(&values).is_err());
    }

    #[test]
    fn vendor_failures_never_report_success() {
        let e = ComponentError::new(ScomoResult::SUCCESSFUL, "confused");
        assert_eq!(e.reported().code(), 1500);
        let e = ComponentError::new(ScomoResult::from_fumo(FumoResult::UPDATE_FAILED), "failed");
        assert_eq!(e.reported().code(), 1410);
    }
}
