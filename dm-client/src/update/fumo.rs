//! FUMO on the device (docs/protocol.md section 13.1): the
//! [`FirmwareUpdate`] trait a vendor implements, and the driver — a
//! [`NodeHandler`] for the device's FUMO instance that serves `State` live,
//! runs `Download`, `Update` and `DownloadAndUpdate` in a task, and reports
//! each result with the FUMO alert of the operation executed.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use dm_tree::{ExecOutcome, InstanceView, NodeHandler};
use dm_types::update::{
    EXT_PKG_SHA256, EXT_PKG_SIGNATURE, EXT_PKG_SIZE, FumoOperation, FumoRefusal, FumoResult,
    FumoState, fumo_result_alert,
};
use dm_types::{Alert, ClientUri, LeafValue, NodeFormat, StatusCode};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use super::download::{DownloadError, Downloader, PackageSink, PackageSource, Progress, SinkError};
use crate::handles::{ChangeSignal, ExecCompletion};

/// What the product does for firmware updates: keep the package, check its
/// signature, install it. The SDK downloads (with resume), checks the size
/// and the SHA-256 the server announced (`Ext/PkgSize`, `Ext/PkgSHA256`),
/// runs the state machine of `State` and reports results; the product only
/// stores and installs.
///
/// `install` is async: a blocking installer runs in
/// `tokio::task::spawn_blocking` inside it. docs/updates.md has a complete
/// example; [`SimulatedFirmware`](crate::update::SimulatedFirmware) is one
/// for demos and tests.
///
/// ```
/// use std::sync::Mutex;
/// use dm_client::update::{FirmwareUpdate, MemorySink, Package, PackageSink, SinkError};
/// use dm_types::update::FumoResult;
///
/// struct Flash {
///     slot: Mutex<MemorySink>,
/// }
///
/// /// Writes a download into the flash slot.
/// struct Writer<'a>(&'a Mutex<MemorySink>);
///
/// impl PackageSink for Writer<'_> {
///     fn held(&self) -> u64 { self.0.lock().map(|s| s.held()).unwrap_or(0) }
///     fn append(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
///         self.0.lock().map_err(|_| SinkError::Storage("poisoned".into()))?.append(chunk)
///     }
///     fn discard(&mut self) -> Result<(), SinkError> {
///         self.0.lock().map_err(|_| SinkError::Storage("poisoned".into()))?.discard()
///     }
/// }
///
/// impl FirmwareUpdate for Flash {
///     fn storage(&self) -> Result<Box<dyn PackageSink + '_>, SinkError> {
///         Ok(Box::new(Writer(&self.slot)))
///     }
///     async fn install(&self, package: &Package) -> FumoResult {
///         let held = self.slot.lock().map(|s| s.held()).unwrap_or(0);
///         if held == package.size { FumoResult::SUCCESSFUL } else { FumoResult::UPDATE_FAILED }
///     }
/// }
/// ```
pub trait FirmwareUpdate: Send + Sync + 'static {
    /// The storage the package goes to, for a download or a package pushed
    /// to `Update/PkgData`. The SDK discards what it holds before writing,
    /// and after a refused package or a successful install.
    fn storage(&self) -> Result<Box<dyn PackageSink + '_>, SinkError>;

    /// Whether the package held is signed as the product requires, given
    /// the bytes of `Ext/PkgSignature` (`None` when the server wrote none);
    /// called once its size and SHA-256 matched. Refused: result `404`.
    /// The default accepts every package.
    fn verify_signature(&self, package: &Package, signature: Option<&[u8]>) -> bool {
        let _ = (package, signature);
        true
    }

    /// Installs the package held; the result is reported to the server
    /// (`200` or `250`–`299` for success, `410` update failed, `502` out of
    /// memory, ...).
    fn install(&self, package: &Package) -> impl Future<Output = FumoResult> + Send;

    /// Download progress (the default ignores it).
    fn progress(&self, progress: Progress) {
        let _ = progress;
    }
}

/// The package as the SDK accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `PkgName` as the server wrote it (empty when it wrote none).
    pub name: String,
    /// `PkgVersion` as the server wrote it.
    pub version: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// What an EXEC found in the instance.
#[derive(Debug, Clone)]
struct Order {
    operation: FumoOperation,
    /// The node executed, absolute.
    node: ClientUri,
    name: String,
    version: String,
    url: Option<String>,
    size: Option<i64>,
    sha256: Option<String>,
    signature: Option<Vec<u8>>,
    pushed: Option<Vec<u8>>,
    /// For `Update`: install the package held (else the one pushed).
    use_held: bool,
}

impl Order {
    fn read(operation: FumoOperation, node: &ClientUri, instance: &dyn InstanceView) -> Order {
        let text = |path: &str| match instance.value(path) {
            Some(LeafValue::Text(text)) if !text.is_empty() => Some(text.clone()),
            _ => None,
        };
        // `bin` leaves arrive as base64 text in MO data; the tree keeps
        // them as written. Text that is no base64 counts as no value.
        let bytes = |path: &str| match instance.value(path)?.clone().conform(NodeFormat::Bin) {
            Ok(LeafValue::Binary(bytes)) if !bytes.is_empty() => Some(bytes),
            _ => None,
        };
        Order {
            operation,
            node: node.clone(),
            name: text("PkgName").unwrap_or_default(),
            version: text("PkgVersion").unwrap_or_default(),
            url: text(&format!("{}/PkgURL", operation.node_name())),
            // A size that is no number counts as negative: refused.
            size: match instance.value(EXT_PKG_SIZE) {
                Some(LeafValue::Int(size)) => Some(*size),
                Some(LeafValue::Text(text)) => Some(text.trim().parse().unwrap_or(-1)),
                _ => None,
            },
            sha256: text(EXT_PKG_SHA256),
            signature: bytes(EXT_PKG_SIGNATURE),
            pushed: bytes("Update/PkgData"),
            use_held: false,
        }
    }

    /// The download source; errors with the result to report.
    fn source(&self) -> Result<PackageSource, FumoResult> {
        let url = self.url.clone().ok_or(FumoResult::BAD_URL)?;
        let mut source = PackageSource::new(url);
        if let Some(size) = self.size {
            source = source.size(u64::try_from(size).map_err(|_| FumoResult::CLIENT_ERROR)?);
        }
        if let Some(hex) = &self.sha256 {
            source = source
                .sha256_hex(hex)
                .map_err(|e: DownloadError| e.fumo_result())?;
        }
        Ok(source)
    }
}

/// The FUMO driver of one instance: the handler registered for
/// [`FUMO_MOID`](dm_types::update::FUMO_MOID), and the handle the product keeps ([`Fumo`]).
pub(crate) struct Driver<F> {
    firmware: F,
    miid: String,
    /// The instance root (`<MOID>/<MIID>/`) and its `State`, absolute.
    root: ClientUri,
    state_uri: ClientUri,
    state: watch::Sender<FumoState>,
    package: Mutex<Option<Package>>,
    downloader: Downloader,
    completion: ExecCompletion,
    changes: ChangeSignal,
}

/// The product's handle on its FUMO instance (cheap to clone): the state,
/// its changes, the firmware implementation.
pub struct Fumo<F> {
    driver: Arc<Driver<F>>,
}

impl<F> Clone for Fumo<F> {
    fn clone(&self) -> Self {
        Fumo {
            driver: self.driver.clone(),
        }
    }
}

impl<F> std::fmt::Debug for Fumo<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fumo")
            .field("miid", &self.driver.miid)
            .field("state", &*self.driver.state.borrow())
            .finish_non_exhaustive()
    }
}

impl<F: FirmwareUpdate> Fumo<F> {
    pub(crate) fn new(
        firmware: F,
        root: ClientUri,
        state_uri: ClientUri,
        downloader: Downloader,
        completion: ExecCompletion,
        changes: ChangeSignal,
    ) -> Fumo<F> {
        Fumo {
            driver: Arc::new(Driver {
                firmware,
                miid: root
                    .miid()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
                root,
                state_uri,
                state: watch::Sender::new(FumoState::Idle),
                package: Mutex::new(None),
                downloader,
                completion,
                changes,
            }),
        }
    }

    pub(crate) fn handler(&self) -> Arc<dyn NodeHandler> {
        Arc::new(Handler(self.driver.clone()))
    }

    /// The current `State`.
    pub fn state(&self) -> FumoState {
        *self.driver.state.borrow()
    }

    /// A receiver seeing every change of `State` (for a user interface, or
    /// to wait for the end of an operation).
    pub fn subscribe(&self) -> watch::Receiver<FumoState> {
        self.driver.state.subscribe()
    }

    /// The instance's MIID.
    pub fn miid(&self) -> &str {
        &self.driver.miid
    }

    /// The instance root's absolute ClientURI (`SourceURI` of a
    /// firmware update request).
    pub fn root(&self) -> ClientUri {
        self.driver.root.clone()
    }

    /// The product's implementation.
    pub fn firmware(&self) -> &F {
        &self.driver.firmware
    }

    /// The package accepted and held, if any.
    pub fn package(&self) -> Option<Package> {
        self.driver
            .package
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<F: FirmwareUpdate> Driver<F> {
    fn set_state(&self, state: FumoState) {
        self.state.send_replace(state);
        self.changes.changed(self.state_uri.clone());
    }

    fn set_package(&self, package: Option<Package>) {
        *self.package.lock().unwrap_or_else(PoisonError::into_inner) = package;
    }

    /// Runs `order` to its end: the state moves along section 13.1 and the
    /// result is reported.
    async fn run(self: Arc<Self>, order: Order) {
        let result = self.perform(&order).await;
        tracing::info!(
            node = order.node.as_str(),
            result = result.code(),
            "FUMO operation finished"
        );
        if !self
            .completion
            .finished(order.node.clone(), result.status())
        {
            tracing::warn!(
                node = order.node.as_str(),
                "FUMO result lost: the client is gone"
            );
        }
    }

    async fn perform(&self, order: &Order) -> FumoResult {
        let operation = order.operation;
        if operation.downloads() {
            let fetched = self.fetch(order).await;
            let result = match &fetched {
                Ok(_) => FumoResult::SUCCESSFUL,
                Err(result) => *result,
            };
            if !result.is_success() {
                self.discard();
            }
            self.set_package(fetched.ok());
            self.set_state(FumoState::after_download(operation, result));
            if !result.is_success() || !operation.installs() {
                return result;
            }
            self.set_state(FumoState::UpdateProgressing);
        } else if !order.use_held {
            // An Update with a pushed package (section 13.1: Update/PkgData).
            match self.accept_pushed(order) {
                Ok(package) => self.set_package(Some(package)),
                Err(result) => {
                    self.discard();
                    self.set_package(None);
                    self.set_state(FumoState::after_update(result, false));
                    return result;
                }
            }
        }
        let Some(package) = self.package() else {
            self.set_state(FumoState::UpdateFailedNoData);
            return FumoResult::UPDATE_FAILED;
        };
        let result = self.firmware.install(&package).await;
        let kept = !result.is_success();
        if !kept {
            self.discard();
            self.set_package(None);
        }
        self.set_state(FumoState::after_update(result, kept));
        result
    }

    fn package(&self) -> Option<Package> {
        self.package
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn discard(&self) {
        if let Err(e) = self.firmware.storage().and_then(|mut s| s.discard()) {
            tracing::warn!(miid = self.miid, "FUMO package not discarded: {e}");
        }
    }

    /// Downloads and accepts the package of `order`.
    async fn fetch(&self, order: &Order) -> Result<Package, FumoResult> {
        let source = order.source()?;
        let mut storage = self.firmware.storage().map_err(|e| {
            tracing::warn!("FUMO storage: {e}");
            FumoResult::DOWNLOAD_OUT_OF_MEMORY
        })?;
        let firmware = &self.firmware;
        let downloaded = self
            .downloader
            .download(&source, &mut *storage, &mut |p| firmware.progress(p))
            .await
            .map_err(|e| {
                tracing::warn!(url = source.url, "FUMO download failed: {e}");
                e.fumo_result()
            })?;
        drop(storage);
        let package = Package {
            name: order.name.clone(),
            version: order.version.clone(),
            size: downloaded.size,
            sha256: downloaded.sha256,
        };
        self.check_signature(&package, order)?;
        Ok(package)
    }

    /// Stores and accepts the package the server pushed to
    /// `Update/PkgData`.
    fn accept_pushed(&self, order: &Order) -> Result<Package, FumoResult> {
        let data = order.pushed.as_deref().ok_or(FumoResult::UPDATE_FAILED)?;
        let source = order.source().or_else(|e| {
            // No PkgURL is needed for a pushed package.
            if e == FumoResult::BAD_URL {
                Ok(PackageSource::new(""))
            } else {
                Err(e)
            }
        })?;
        let size = data.len() as u64;
        let sha256: [u8; 32] = Sha256::digest(data).into();
        if source.size.is_some_and(|announced| announced != size)
            || source.sha256.is_some_and(|expected| expected != sha256)
        {
            tracing::warn!(
                miid = self.miid,
                "pushed package refused: not the size or SHA-256 announced"
            );
            return Err(FumoResult::CORRUPTED_PACKAGE);
        }
        if size > self.downloader.limit() {
            return Err(FumoResult::UPDATE_OUT_OF_MEMORY);
        }
        let mut storage = self
            .firmware
            .storage()
            .map_err(|_| FumoResult::UPDATE_OUT_OF_MEMORY)?;
        storage
            .discard()
            .and_then(|()| storage.append(data))
            .map_err(|_| FumoResult::UPDATE_OUT_OF_MEMORY)?;
        drop(storage);
        let package = Package {
            name: order.name.clone(),
            version: order.version.clone(),
            size,
            sha256,
        };
        self.check_signature(&package, order)?;
        Ok(package)
    }

    fn check_signature(&self, package: &Package, order: &Order) -> Result<(), FumoResult> {
        if self
            .firmware
            .verify_signature(package, order.signature.as_deref())
        {
            Ok(())
        } else {
            tracing::warn!(miid = self.miid, "FUMO package signature refused");
            Err(FumoResult::SIGNATURE_FAILED)
        }
    }
}

/// The [`NodeHandler`] registered for [`FUMO_MOID`](dm_types::update::FUMO_MOID).
struct Handler<F>(Arc<Driver<F>>);

impl<F: FirmwareUpdate> NodeHandler for Handler<F> {
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        let driver = &self.0;
        (*node == driver.state_uri)
            .then(|| LeafValue::Int(i64::from(driver.state.borrow().value())))
    }

    fn exec(
        &self,
        node: &ClientUri,
        instance: &dyn InstanceView,
        asynchronous: bool,
    ) -> ExecOutcome {
        let _ = asynchronous;
        let driver = &self.0;
        let not_allowed = ExecOutcome::Done(StatusCode::COMMAND_NOT_ALLOWED);
        if instance.miid() != driver.miid {
            return not_allowed;
        }
        let Some(operation) = node
            .as_str()
            .strip_prefix(driver.root.as_str())
            .and_then(FumoOperation::from_node_name)
        else {
            return not_allowed;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("FUMO EXEC outside a Tokio runtime");
            return ExecOutcome::Done(StatusCode::INTERNAL_ERROR);
        };
        let mut order = Order::read(operation, node, instance);
        let held = driver.package().is_some();
        let mut refusal = None;
        driver.state.send_if_modified(|state| {
            // A package is held only when the state says so and the driver
            // has it (not after a restart).
            let holds = state.holds_package() && held;
            let start = if holds || order.pushed.is_some() || operation.downloads() {
                state.start(operation, true)
            } else {
                state
                    .start(operation, false)
                    .and(Err(FumoRefusal::NoPackage))
            };
            match start {
                Ok(next) => {
                    order.use_held = holds;
                    *state = next;
                    true
                }
                Err(e) => {
                    refusal = Some(e);
                    false
                }
            }
        });
        match refusal {
            Some(FumoRefusal::Busy) => return ExecOutcome::Done(StatusCode::SERVICE_UNAVAILABLE),
            Some(FumoRefusal::NoPackage) => return not_allowed,
            None => {}
        }
        driver.changes.changed(driver.state_uri.clone());
        runtime.spawn(driver.clone().run(order));
        ExecOutcome::Started
    }

    fn result_alert(&self, node: &ClientUri, status: StatusCode) -> Alert {
        let operation = node.path().last().and_then(|segment| match segment {
            dm_types::Segment::Name(name) => FumoOperation::from_node_name(&name),
            _ => None,
        });
        match (operation, FumoResult::from_status(status)) {
            (Some(operation), Some(result)) => fumo_result_alert(node, operation, result),
            _ => Alert::exec_complete(node, status),
        }
    }
}
