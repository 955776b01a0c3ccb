//! The vocabulary of the firmware and software update MOs used with DM 2.0
//! (docs/protocol.md section 13): FUMO states, operations and result codes,
//! SCOMO result codes, and the generic alerts that report them.
//!
//! Device clients build their result alerts with [`fumo_result_alert`] and
//! [`scomo_result_alert`]; servers read any alert with
//! [`UpdateReport::from_alert`] and decide on retries with
//! [`FumoResult::outcome`].
//!
//! ```
//! use dm_types::update::{FumoOperation, FumoResult, ResultOutcome, UpdateReport, fumo_result_alert};
//! use dm_types::ClientUri;
//!
//! let node = ClientUri::parse("urn:oma:mo:oma-fumo:1.0/fw/DownloadAndUpdate")?;
//! let alert = fumo_result_alert(&node, FumoOperation::DownloadAndUpdate, FumoResult::DOWNLOAD_NETWORK_ERROR);
//! let report = UpdateReport::from_alert(&alert).expect("an update alert")?;
//! let UpdateReport::Fumo { operation, result, .. } = report else { unreachable!() };
//! assert_eq!(operation, FumoOperation::DownloadAndUpdate);
//! assert_eq!(result.outcome(), ResultOutcome::Transient);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde_json::Value;

use crate::{Alert, AlertType, ClientUri, JsonObject, StatusCode};

/// The FUMO MOID (section 13.1).
pub const FUMO_MOID: &str = "urn:oma:mo:oma-fumo:1.0";

/// The SCOMO MOID (section 13.2).
pub const SCOMO_MOID: &str = "urn:oma:mo:oma-scomo:1.0";

/// Alert type of a device asking for a firmware update on its own.
pub const FUMO_DEVICE_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.devicerequest";

/// Alert type of a device whose user asked for a firmware update.
pub const FUMO_USER_REQUEST: &str = "org.openmobilealliance.dm.firmwareupdate.userrequest";

/// Alert type of a SCOMO operation result (the DM 2.0 form).
pub const SCOMO_OPERATION_COMPLETE: &str = "urn:oma:at:scomo:1.0:OperationComplete";

/// Alert type of a SCOMO operation result in its DM 1.x form, also accepted.
pub const SCOMO_OPERATION_COMPLETE_DM1: &str =
    "org.openmobilealliance.dm.softwarecomponent.OperationComplete";

/// Node, relative to a FUMO instance root or a SCOMO `Download/<x>` /
/// inventory component, holding the package size in bytes (`int`), which
/// the device checks before and while downloading (**[project decision]**:
/// the published FUMO has no such node; servers of this SDK write it).
pub const EXT_PKG_SIZE: &str = "Ext/PkgSize";

/// Node holding the lowercase hexadecimal SHA-256 of the package (`chr`),
/// checked by the device before installing (**[project decision]**).
pub const EXT_PKG_SHA256: &str = "Ext/PkgSHA256";

/// Node holding an optional detached signature of the package (`bin`,
/// base64 in MO data), handed to the product's verifier
/// (**[project decision]**).
pub const EXT_PKG_SIGNATURE: &str = "Ext/PkgSignature";

/// The `State` of a FUMO instance (section 13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FumoState {
    /// 10: nothing under way.
    Idle,
    /// 20.
    DownloadFailed,
    /// 30.
    DownloadProgressing,
    /// 40.
    DownloadComplete,
    /// 50.
    ReadyToUpdate,
    /// 60.
    UpdateProgressing,
    /// 70: the package is still held.
    UpdateFailedHaveData,
    /// 80.
    UpdateFailedNoData,
    /// 90: the package is still held.
    UpdateSuccessfulHaveData,
    /// 100.
    UpdateSuccessfulNoData,
}

impl FumoState {
    /// Every state, in value order.
    pub const ALL: [FumoState; 10] = [
        FumoState::Idle,
        FumoState::DownloadFailed,
        FumoState::DownloadProgressing,
        FumoState::DownloadComplete,
        FumoState::ReadyToUpdate,
        FumoState::UpdateProgressing,
        FumoState::UpdateFailedHaveData,
        FumoState::UpdateFailedNoData,
        FumoState::UpdateSuccessfulHaveData,
        FumoState::UpdateSuccessfulNoData,
    ];

    /// The value of the `State` node.
    ///
    /// ```
    /// use dm_types::update::FumoState;
    /// assert_eq!(FumoState::ReadyToUpdate.value(), 50);
    /// assert_eq!(FumoState::from_value(100), Some(FumoState::UpdateSuccessfulNoData));
    /// assert_eq!(FumoState::from_value(55), None);
    /// ```
    pub fn value(self) -> u8 {
        match self {
            FumoState::Idle => 10,
            FumoState::DownloadFailed => 20,
            FumoState::DownloadProgressing => 30,
            FumoState::DownloadComplete => 40,
            FumoState::ReadyToUpdate => 50,
            FumoState::UpdateProgressing => 60,
            FumoState::UpdateFailedHaveData => 70,
            FumoState::UpdateFailedNoData => 80,
            FumoState::UpdateSuccessfulHaveData => 90,
            FumoState::UpdateSuccessfulNoData => 100,
        }
    }

    /// The state with this `State` value.
    pub fn from_value(value: i64) -> Option<FumoState> {
        Self::ALL
            .into_iter()
            .find(|s| i64::from(s.value()) == value)
    }

    /// Whether an operation is running (download or update progressing):
    /// a new EXEC is refused then.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            FumoState::DownloadProgressing | FumoState::UpdateProgressing
        )
    }
}

/// Why an EXEC of a FUMO operation cannot start ([`FumoState::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FumoRefusal {
    /// A download or an update is progressing.
    #[error("a download or an update is progressing")]
    Busy,
    /// `Update` with no package held and none pushed to `Update/PkgData`.
    #[error("no package to install")]
    NoPackage,
}

impl FumoState {
    /// Whether the device holds a package in this state: downloaded (40,
    /// 50) or kept after an install (70, 90).
    pub fn holds_package(self) -> bool {
        matches!(
            self,
            FumoState::DownloadComplete
                | FumoState::ReadyToUpdate
                | FumoState::UpdateFailedHaveData
                | FumoState::UpdateSuccessfulHaveData
        )
    }

    /// The state an EXEC of `operation` moves to (section 13.1), or why it
    /// cannot start: nothing starts while an operation progresses; a
    /// download (`Download`, `DownloadAndUpdate`) starts from any other
    /// state (30), replacing a package held; `Update` needs a package, held
    /// ([`FumoState::holds_package`]) or pushed to `Update/PkgData`
    /// (`pushed`), and moves to 60.
    ///
    /// ```
    /// use dm_types::update::{FumoOperation, FumoRefusal, FumoState};
    ///
    /// assert_eq!(FumoState::Idle.start(FumoOperation::Download, false), Ok(FumoState::DownloadProgressing));
    /// assert_eq!(FumoState::DownloadComplete.start(FumoOperation::Update, false), Ok(FumoState::UpdateProgressing));
    /// assert_eq!(FumoState::Idle.start(FumoOperation::Update, false), Err(FumoRefusal::NoPackage));
    /// assert_eq!(FumoState::UpdateProgressing.start(FumoOperation::Download, false), Err(FumoRefusal::Busy));
    /// ```
    pub fn start(self, operation: FumoOperation, pushed: bool) -> Result<FumoState, FumoRefusal> {
        if self.is_busy() {
            return Err(FumoRefusal::Busy);
        }
        match operation {
            FumoOperation::Download | FumoOperation::DownloadAndUpdate => {
                Ok(FumoState::DownloadProgressing)
            }
            FumoOperation::Update if self.holds_package() || pushed => {
                Ok(FumoState::UpdateProgressing)
            }
            FumoOperation::Update => Err(FumoRefusal::NoPackage),
        }
    }

    /// The state once the download of `operation` ended with `result`
    /// (the package fetched and accepted: size, digest, signature): 20
    /// after a failure; after a success 40 for `Download` and 50 for
    /// `DownloadAndUpdate`, whose install then starts
    /// ([`FumoState::start`] of `Update`).
    ///
    /// ```
    /// use dm_types::update::{FumoOperation, FumoResult, FumoState};
    ///
    /// assert_eq!(FumoState::after_download(FumoOperation::Download, FumoResult::SUCCESSFUL), FumoState::DownloadComplete);
    /// assert_eq!(FumoState::after_download(FumoOperation::DownloadAndUpdate, FumoResult::SUCCESSFUL), FumoState::ReadyToUpdate);
    /// assert_eq!(FumoState::after_download(FumoOperation::Download, FumoResult::CORRUPTED_PACKAGE), FumoState::DownloadFailed);
    /// ```
    pub fn after_download(operation: FumoOperation, result: FumoResult) -> FumoState {
        match (result.is_success(), operation) {
            (false, _) => FumoState::DownloadFailed,
            (true, FumoOperation::DownloadAndUpdate) => FumoState::ReadyToUpdate,
            (true, _) => FumoState::DownloadComplete,
        }
    }

    /// The state once an install ended with `result`, the package still
    /// held (`kept`) or not: 90/100 after a success, 70/80 after a failure.
    ///
    /// ```
    /// use dm_types::update::{FumoResult, FumoState};
    ///
    /// assert_eq!(FumoState::after_update(FumoResult::SUCCESSFUL, false), FumoState::UpdateSuccessfulNoData);
    /// assert_eq!(FumoState::after_update(FumoResult::UPDATE_FAILED, true), FumoState::UpdateFailedHaveData);
    /// ```
    pub fn after_update(result: FumoResult, kept: bool) -> FumoState {
        match (result.is_success(), kept) {
            (true, true) => FumoState::UpdateSuccessfulHaveData,
            (true, false) => FumoState::UpdateSuccessfulNoData,
            (false, true) => FumoState::UpdateFailedHaveData,
            (false, false) => FumoState::UpdateFailedNoData,
        }
    }
}

/// The executable operations of a FUMO instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FumoOperation {
    /// `Download`: fetch the package from `Download/PkgURL` only.
    Download,
    /// `Update`: install what was downloaded (or pushed to `Update/PkgData`).
    Update,
    /// `DownloadAndUpdate`: fetch from `DownloadAndUpdate/PkgURL`, then
    /// install.
    DownloadAndUpdate,
}

impl FumoOperation {
    /// Every operation.
    pub const ALL: [FumoOperation; 3] = [
        FumoOperation::Download,
        FumoOperation::Update,
        FumoOperation::DownloadAndUpdate,
    ];

    /// The node name under the instance root.
    pub fn node_name(self) -> &'static str {
        match self {
            FumoOperation::Download => "Download",
            FumoOperation::Update => "Update",
            FumoOperation::DownloadAndUpdate => "DownloadAndUpdate",
        }
    }

    /// The operation executed at a node of this name.
    pub fn from_node_name(name: &str) -> Option<FumoOperation> {
        Self::ALL.into_iter().find(|o| o.node_name() == name)
    }

    /// The alert type reporting its result.
    ///
    /// ```
    /// use dm_types::update::FumoOperation;
    /// assert_eq!(FumoOperation::Update.alert_type(), "org.openmobilealliance.dm.firmwareupdate.update");
    /// assert_eq!(FumoOperation::from_alert_type(FumoOperation::Download.alert_type()), Some(FumoOperation::Download));
    /// ```
    pub fn alert_type(self) -> &'static str {
        match self {
            FumoOperation::Download => "org.openmobilealliance.dm.firmwareupdate.download",
            FumoOperation::Update => "org.openmobilealliance.dm.firmwareupdate.update",
            FumoOperation::DownloadAndUpdate => {
                "org.openmobilealliance.dm.firmwareupdate.downloadandupdate"
            }
        }
    }

    /// The operation whose result alerts have this type.
    pub fn from_alert_type(alert_type: &str) -> Option<FumoOperation> {
        Self::ALL.into_iter().find(|o| o.alert_type() == alert_type)
    }

    /// Whether the operation downloads (and so needs a `PkgURL`).
    pub fn downloads(self) -> bool {
        !matches!(self, FumoOperation::Update)
    }

    /// Whether the operation installs.
    pub fn installs(self) -> bool {
        !matches!(self, FumoOperation::Download)
    }
}

impl fmt::Display for FumoOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.node_name())
    }
}

/// What a result means for whoever schedules updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultOutcome {
    /// The operation succeeded.
    Success,
    /// A failure worth retrying later (FUMO 407, 412, 503).
    Transient,
    /// A failure a retry would repeat: never retried (every other failure;
    /// section 13.1 names 402–406 and 410, the others are a
    /// **[project decision]**).
    Permanent,
}

/// A FUMO result code (section 13.1): 200 to 599.
///
/// ```
/// use dm_types::update::{FumoResult, ResultOutcome};
///
/// assert_eq!(FumoResult::SUCCESSFUL.outcome(), ResultOutcome::Success);
/// assert_eq!(FumoResult::new(260).unwrap().outcome(), ResultOutcome::Success);
/// assert_eq!(FumoResult::CORRUPTED_PACKAGE.outcome(), ResultOutcome::Permanent);
/// assert_eq!(FumoResult::DOWNLOAD_TIMED_OUT.outcome(), ResultOutcome::Transient);
/// assert!(FumoResult::new(199).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FumoResult(u16);

impl FumoResult {
    /// 200 Successful.
    pub const SUCCESSFUL: FumoResult = FumoResult(200);
    /// 400 Client error.
    pub const CLIENT_ERROR: FumoResult = FumoResult(400);
    /// 401 User cancelled.
    pub const USER_CANCELLED: FumoResult = FumoResult(401);
    /// 402 Corrupted package (size or digest mismatch).
    pub const CORRUPTED_PACKAGE: FumoResult = FumoResult(402);
    /// 403 Package mismatch (meant for another device).
    pub const PACKAGE_MISMATCH: FumoResult = FumoResult(403);
    /// 404 Package signature validation failed.
    pub const SIGNATURE_FAILED: FumoResult = FumoResult(404);
    /// 405 Package not acceptable.
    pub const NOT_ACCEPTABLE: FumoResult = FumoResult(405);
    /// 406 Alternate download authentication failure.
    pub const DOWNLOAD_AUTHENTICATION_FAILED: FumoResult = FumoResult(406);
    /// 407 Download timed out (transient).
    pub const DOWNLOAD_TIMED_OUT: FumoResult = FumoResult(407);
    /// 408 Not implemented.
    pub const NOT_IMPLEMENTED: FumoResult = FumoResult(408);
    /// 409 Undefined error.
    pub const UNDEFINED_ERROR: FumoResult = FumoResult(409);
    /// 410 Update failed.
    pub const UPDATE_FAILED: FumoResult = FumoResult(410);
    /// 411 Malformed or bad URL.
    pub const BAD_URL: FumoResult = FumoResult(411);
    /// 412 Alternate download server unavailable (transient).
    pub const DOWNLOAD_SERVER_UNAVAILABLE: FumoResult = FumoResult(412);
    /// 500 Download server error.
    pub const DOWNLOAD_SERVER_ERROR: FumoResult = FumoResult(500);
    /// 501 Download failed, out of memory.
    pub const DOWNLOAD_OUT_OF_MEMORY: FumoResult = FumoResult(501);
    /// 502 Update failed, out of memory.
    pub const UPDATE_OUT_OF_MEMORY: FumoResult = FumoResult(502);
    /// 503 Download failed, network error (transient).
    pub const DOWNLOAD_NETWORK_ERROR: FumoResult = FumoResult(503);

    /// Wraps a code, which must lie in 200..=599.
    pub fn new(code: u16) -> Option<FumoResult> {
        (200..=599).contains(&code).then_some(FumoResult(code))
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// 200 and the vendor successes 250–299.
    pub fn is_success(self) -> bool {
        self.0 == 200 || (250..=299).contains(&self.0)
    }

    /// Success, transient or permanent failure.
    pub fn outcome(self) -> ResultOutcome {
        match self.0 {
            _ if self.is_success() => ResultOutcome::Success,
            407 | 412 | 503 => ResultOutcome::Transient,
            _ => ResultOutcome::Permanent,
        }
    }

    /// The result an asynchronous EXEC status stands for (the status a
    /// [`NodeHandler`]-style completion carries): the same number.
    pub fn from_status(status: StatusCode) -> Option<FumoResult> {
        FumoResult::new(status.as_u16())
    }

    /// The same number as an EXEC status.
    pub fn status(self) -> StatusCode {
        // 200..=599 lies within the range of a status code.
        StatusCode::new(u32::from(self.0)).unwrap_or(StatusCode::OK)
    }
}

impl fmt::Display for FumoResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A SCOMO result code (section 13.2): 1200 to 1599.
///
/// ```
/// use dm_types::update::{ResultOutcome, ScomoResult};
///
/// assert!(ScomoResult::SUCCESSFUL.is_success());
/// assert_eq!(ScomoResult::new(1503).unwrap().outcome(), ResultOutcome::Transient);
/// assert_eq!(ScomoResult::new(1402).unwrap().outcome(), ResultOutcome::Permanent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScomoResult(u16);

impl ScomoResult {
    /// 1200 Successful.
    pub const SUCCESSFUL: ScomoResult = ScomoResult(1200);

    /// Wraps a code, which must lie in 1200..=1599.
    pub fn new(code: u16) -> Option<ScomoResult> {
        (1200..=1599).contains(&code).then_some(ScomoResult(code))
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// 1200 and the vendor successes 1250–1299.
    pub fn is_success(self) -> bool {
        self.0 == 1200 || (1250..=1299).contains(&self.0)
    }

    /// Classified like the FUMO code 1000 below it (**[project
    /// decision]**): 1407, 1412 and 1503 are transient.
    pub fn outcome(self) -> ResultOutcome {
        FumoResult(self.0 - 1000).outcome()
    }

    /// The SCOMO result standing for a FUMO result: 1000 more
    /// (**[project decision]**: a download failing with FUMO `503` is SCOMO
    /// `1503`).
    ///
    /// ```
    /// use dm_types::update::{FumoResult, ScomoResult};
    /// assert_eq!(ScomoResult::from_fumo(FumoResult::CORRUPTED_PACKAGE).code(), 1402);
    /// ```
    pub fn from_fumo(result: FumoResult) -> ScomoResult {
        ScomoResult(result.code() + 1000)
    }

    /// The SCOMO result of an asynchronous EXEC status: 1000 more
    /// (**[project decision]**: 200 → 1200, 503 → 1503).
    pub fn from_status(status: StatusCode) -> Option<ScomoResult> {
        ScomoResult::new(status.as_u16().checked_add(1000)?)
    }
}

impl fmt::Display for ScomoResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ScomoResult {
    /// The EXEC status this result stands for: 1000 less (the inverse of
    /// [`ScomoResult::from_status`]).
    ///
    /// ```
    /// use dm_types::update::ScomoResult;
    /// use dm_types::StatusCode;
    ///
    /// let result = ScomoResult::new(1402).unwrap();
    /// assert_eq!(result.status().as_u16(), 402);
    /// assert_eq!(ScomoResult::from_status(result.status()), Some(result));
    /// ```
    pub fn status(self) -> StatusCode {
        // 1200..=1599 less 1000 lies within the range of a status code.
        StatusCode::new(u32::from(self.0 - 1000)).unwrap_or(StatusCode::OK)
    }
}

/// The `Status` of a SCOMO `Download/<x>` entry (section 13.2; the values
/// of SCOMO 1.0's download states, **[project decision]** on their use:
/// the device writes them as the operation runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScomoDownloadStatus {
    /// 10: nothing under way.
    Idle,
    /// 20: the download failed (nothing delivered).
    DownloadFailed,
    /// 30.
    DownloadProgressing,
    /// 40: downloaded and delivered (`Inventory/Delivered/<x>`).
    DownloadComplete,
    /// 50.
    InstallProgressing,
    /// 60: the install failed; the package is still delivered.
    InstallFailedWithData,
    /// 70: the install failed; nothing is kept.
    InstallFailedWithoutData,
    /// 80: installed (`Inventory/Deployed/<x>`).
    InstallComplete,
}

impl ScomoDownloadStatus {
    /// Every status, in value order.
    pub const ALL: [ScomoDownloadStatus; 8] = [
        ScomoDownloadStatus::Idle,
        ScomoDownloadStatus::DownloadFailed,
        ScomoDownloadStatus::DownloadProgressing,
        ScomoDownloadStatus::DownloadComplete,
        ScomoDownloadStatus::InstallProgressing,
        ScomoDownloadStatus::InstallFailedWithData,
        ScomoDownloadStatus::InstallFailedWithoutData,
        ScomoDownloadStatus::InstallComplete,
    ];

    /// The value of the `Status` node.
    ///
    /// ```
    /// use dm_types::update::ScomoDownloadStatus;
    /// assert_eq!(ScomoDownloadStatus::DownloadComplete.value(), 40);
    /// assert_eq!(ScomoDownloadStatus::from_value(80), Some(ScomoDownloadStatus::InstallComplete));
    /// assert_eq!(ScomoDownloadStatus::from_value(45), None);
    /// ```
    pub fn value(self) -> u8 {
        match self {
            ScomoDownloadStatus::Idle => 10,
            ScomoDownloadStatus::DownloadFailed => 20,
            ScomoDownloadStatus::DownloadProgressing => 30,
            ScomoDownloadStatus::DownloadComplete => 40,
            ScomoDownloadStatus::InstallProgressing => 50,
            ScomoDownloadStatus::InstallFailedWithData => 60,
            ScomoDownloadStatus::InstallFailedWithoutData => 70,
            ScomoDownloadStatus::InstallComplete => 80,
        }
    }

    /// The status with this `Status` value.
    pub fn from_value(value: i64) -> Option<ScomoDownloadStatus> {
        Self::ALL
            .into_iter()
            .find(|s| i64::from(s.value()) == value)
    }
}

/// A result read from an alert, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateResult {
    /// FUMO.
    Fumo(FumoResult),
    /// SCOMO.
    Scomo(ScomoResult),
}

impl UpdateResult {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            UpdateResult::Fumo(r) => r.code(),
            UpdateResult::Scomo(r) => r.code(),
        }
    }

    /// Success, transient or permanent failure.
    pub fn outcome(self) -> ResultOutcome {
        match self {
            UpdateResult::Fumo(r) => r.outcome(),
            UpdateResult::Scomo(r) => r.outcome(),
        }
    }
}

/// Who asked for a firmware update in a request alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateRequester {
    /// The device on its own (`devicerequest`).
    Device,
    /// The user (`userrequest`).
    User,
}

/// An update alert as a server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateReport {
    /// The result of a FUMO operation.
    Fumo {
        /// The operation executed (from the alert type).
        operation: FumoOperation,
        /// The executed node (`SourceURI`), when the alert names one.
        source_uri: Option<String>,
        /// The result code.
        result: FumoResult,
    },
    /// A device or its user asks for a firmware update.
    FumoRequest {
        /// Who asked.
        requester: UpdateRequester,
        /// The FUMO instance root (`SourceURI`), when named.
        source_uri: Option<String>,
    },
    /// The result of a SCOMO operation.
    Scomo {
        /// The executed operation node (`SourceURI`).
        source_uri: Option<String>,
        /// The affected component (`TargetURI`).
        target_uri: Option<String>,
        /// The result code.
        result: ScomoResult,
        /// The component identifier the result names, if any.
        identifier: Option<String>,
    },
}

/// Why an update alert could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{alert_type} alert: {reason}")]
pub struct InvalidReport {
    /// The alert type.
    pub alert_type: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Longest `DM1x` text read for a result (an XML fragment for SCOMO).
const MAX_DM1X_LEN: usize = 4096;

impl UpdateReport {
    /// Reads an alert: `None` when its type is no update alert, an error
    /// when it is one without a readable result code. The result travels as
    /// `"Data": {"DM1x": "200"}` (for SCOMO, the XML fragment
    /// `<ResultCode>1200</ResultCode><Identifier>...</Identifier>`), or as
    /// `"Data": {"ResultCode": 200}`.
    ///
    /// ```
    /// use dm_types::update::{ScomoResult, UpdateReport};
    /// use dm_types::{Alert, AlertType};
    ///
    /// let mut alert = Alert::new(AlertType::new("urn:oma:at:scomo:1.0:OperationComplete")?);
    /// alert.data = Some(serde_json::from_str(r#"{"DM1x":"<ResultCode>1402</ResultCode><Identifier>app-7</Identifier>"}"#)?);
    /// let Some(Ok(UpdateReport::Scomo { result, identifier, .. })) = UpdateReport::from_alert(&alert) else { panic!() };
    /// assert_eq!(result, ScomoResult::new(1402).unwrap());
    /// assert_eq!(identifier.as_deref(), Some("app-7"));
    ///
    /// assert!(UpdateReport::from_alert(&Alert::client_initiated()).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_alert(alert: &Alert) -> Option<Result<UpdateReport, InvalidReport>> {
        let alert_type = alert.alert_type.as_str();
        let invalid = |reason| InvalidReport {
            alert_type: alert_type.to_owned(),
            reason,
        };
        if let Some(operation) = FumoOperation::from_alert_type(alert_type) {
            let code = result_code(alert.data.as_ref());
            return Some(
                code.and_then(FumoResult::new)
                    .map(|result| UpdateReport::Fumo {
                        operation,
                        source_uri: alert.source_uri.clone(),
                        result,
                    })
                    .ok_or_else(|| invalid("no result code between 200 and 599")),
            );
        }
        let requester = match alert_type {
            FUMO_DEVICE_REQUEST => Some(UpdateRequester::Device),
            FUMO_USER_REQUEST => Some(UpdateRequester::User),
            _ => None,
        };
        if let Some(requester) = requester {
            return Some(Ok(UpdateReport::FumoRequest {
                requester,
                source_uri: alert.source_uri.clone(),
            }));
        }
        if alert_type == SCOMO_OPERATION_COMPLETE || alert_type == SCOMO_OPERATION_COMPLETE_DM1 {
            let code = result_code(alert.data.as_ref());
            let identifier = alert
                .data
                .as_ref()
                .and_then(|d| d.get("DM1x"))
                .and_then(Value::as_str)
                .filter(|text| text.len() <= MAX_DM1X_LEN)
                .and_then(|text| xml_element(text, "Identifier"))
                .map(unescape);
            return Some(
                code.and_then(ScomoResult::new)
                    .map(|result| UpdateReport::Scomo {
                        source_uri: alert.source_uri.clone(),
                        target_uri: alert.target_uri.clone(),
                        result,
                        identifier,
                    })
                    .ok_or_else(|| invalid("no result code between 1200 and 1599")),
            );
        }
        None
    }

    /// The result code, for the kinds that carry one.
    pub fn result(&self) -> Option<UpdateResult> {
        match self {
            UpdateReport::Fumo { result, .. } => Some(UpdateResult::Fumo(*result)),
            UpdateReport::Scomo { result, .. } => Some(UpdateResult::Scomo(*result)),
            UpdateReport::FumoRequest { .. } => None,
        }
    }
}

/// The result code of alert data: `ResultCode` (number or digits), or
/// `DM1x` as digits or holding `<ResultCode>n</ResultCode>`.
fn result_code(data: Option<&JsonObject>) -> Option<u16> {
    let data = data?;
    let number = |value: &Value| match value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => digits(s),
        _ => None,
    };
    if let Some(code) = data.get("ResultCode").and_then(number) {
        return Some(code);
    }
    match data.get("DM1x")? {
        Value::String(text) if text.len() <= MAX_DM1X_LEN => {
            digits(text).or_else(|| xml_element(text, "ResultCode").and_then(digits))
        }
        other => number(other),
    }
}

/// Up to five ASCII digits (surrounding blanks allowed) as a number.
fn digits(text: &str) -> Option<u16> {
    let text = text.trim();
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The text of the first `<name>...</name>` element of a flat fragment.
fn xml_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let length = text[start..].find(&close)?;
    Some(text[start..start + length].trim())
}

/// The text of an XML element with the three escapes [`scomo_result_alert`]
/// writes undone.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn alert_of(alert_type: &str) -> Alert {
    // Callers pass non-empty constants.
    Alert::new(AlertType::new(alert_type).unwrap_or_else(|_| unreachable!("non-empty")))
}

/// The generic alert reporting that FUMO `operation`, executed at `node`
/// (as the server named it), ended with `result`: `"DataType": "int"`,
/// `"Data": {"DM1x": "<code>"}` (section 13.1).
///
/// ```
/// use dm_types::update::{FumoOperation, FumoResult, fumo_result_alert};
/// use dm_types::ClientUri;
///
/// let node = ClientUri::parse("urn:oma:mo:oma-fumo:1.0//Update")?;
/// let alert = fumo_result_alert(&node, FumoOperation::Update, FumoResult::SUCCESSFUL);
/// assert_eq!(alert.source_uri.as_deref(), Some("urn:oma:mo:oma-fumo:1.0//Update"));
/// assert_eq!(alert.data.unwrap()["DM1x"], "200");
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn fumo_result_alert(node: &ClientUri, operation: FumoOperation, result: FumoResult) -> Alert {
    let mut alert = alert_of(operation.alert_type());
    alert.source_uri = Some(node.to_string());
    alert.data_type = Some("int".to_owned());
    let mut data = JsonObject::new();
    data.insert("DM1x".to_owned(), result.code().to_string().into());
    alert.data = Some(data);
    alert
}

/// The `devicerequest` (or `userrequest`) alert of a device asking for a
/// firmware update, `SourceURI` the FUMO instance root.
///
/// ```
/// use dm_types::update::{UpdateReport, UpdateRequester, fumo_request_alert};
/// use dm_types::ClientUri;
///
/// let root = ClientUri::parse("urn:oma:mo:oma-fumo:1.0/fw/")?;
/// let alert = fumo_request_alert(&root, UpdateRequester::User);
/// assert!(matches!(UpdateReport::from_alert(&alert), Some(Ok(UpdateReport::FumoRequest { requester: UpdateRequester::User, .. }))));
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn fumo_request_alert(instance_root: &ClientUri, requester: UpdateRequester) -> Alert {
    let mut alert = alert_of(match requester {
        UpdateRequester::Device => FUMO_DEVICE_REQUEST,
        UpdateRequester::User => FUMO_USER_REQUEST,
    });
    alert.source_uri = Some(instance_root.to_string());
    alert
}

/// The `OperationComplete` alert reporting that the SCOMO operation at
/// `node` ended with `result` for `component` (its ClientURI, `TargetURI`),
/// whose identifier is `identifier` (section 13.2).
///
/// ```
/// use dm_types::update::{ScomoResult, UpdateReport, scomo_result_alert};
/// use dm_types::ClientUri;
///
/// let node = ClientUri::parse("urn:oma:mo:oma-scomo:1.0//Download/app/Operations/DownloadInstall")?;
/// let alert = scomo_result_alert(&node, Some("urn:oma:mo:oma-scomo:1.0//Inventory/Deployed/app"), ScomoResult::SUCCESSFUL, Some("app"));
/// let Some(Ok(report)) = UpdateReport::from_alert(&alert) else { panic!() };
/// assert_eq!(report.result().map(|r| r.code()), Some(1200));
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn scomo_result_alert(
    node: &ClientUri,
    component: Option<&str>,
    result: ScomoResult,
    identifier: Option<&str>,
) -> Alert {
    let mut alert = alert_of(SCOMO_OPERATION_COMPLETE);
    alert.source_uri = Some(node.to_string());
    alert.target_uri = component.map(str::to_owned);
    alert.data_type = Some("text/xml".to_owned());
    let mut text = format!("<ResultCode>{}</ResultCode>", result.code());
    if let Some(identifier) = identifier {
        text.push_str("<Identifier>");
        for c in identifier.chars() {
            match c {
                '<' => text.push_str("&lt;"),
                '>' => text.push_str("&gt;"),
                '&' => text.push_str("&amp;"),
                c => text.push(c),
            }
        }
        text.push_str("</Identifier>");
    }
    let mut data = JsonObject::new();
    data.insert("DM1x".to_owned(), text.into());
    alert.data = Some(data);
    alert
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(alert_type: &str, data: &str) -> Alert {
        let mut alert = alert_of(alert_type);
        alert.data = serde_json::from_str(data).ok();
        alert
    }

    #[test]
    fn result_codes_are_read_in_every_accepted_form() {
        let t = FumoOperation::Update.alert_type();
        for data in [
            r#"{"DM1x":"410"}"#,
            r#"{"DM1x":410}"#,
            r#"{"ResultCode":410}"#,
            r#"{"ResultCode":"410"}"#,
            r#"{"DM1x":"<ResultCode>410</ResultCode>"}"#,
        ] {
            let report = UpdateReport::from_alert(&alert(t, data));
            assert_eq!(
                report.and_then(Result::ok).and_then(|r| r.result()),
                Some(UpdateResult::Fumo(FumoResult::UPDATE_FAILED)),
                "{data}"
            );
        }
    }

    #[test]
    fn unreadable_results_are_errors_not_guesses() {
        let t = FumoOperation::Download.alert_type();
        for data in [
            "{}",
            r#"{"DM1x":"2OO"}"#,
            r#"{"DM1x":"199"}"#,
            r#"{"DM1x":"600"}"#,
            r#"{"ResultCode":-1}"#,
            r#"{"ResultCode":70000}"#,
            r#"{"DM1x":"1200"}"#,
        ] {
            assert!(
                matches!(UpdateReport::from_alert(&alert(t, data)), Some(Err(_))),
                "{data}"
            );
        }
        assert!(matches!(
            UpdateReport::from_alert(&alert(SCOMO_OPERATION_COMPLETE, r#"{"DM1x":"200"}"#)),
            Some(Err(_))
        ));
        let long = format!(r#"{{"DM1x":"{}"}}"#, "1".repeat(MAX_DM1X_LEN + 1));
        assert!(matches!(
            UpdateReport::from_alert(&alert(t, &long)),
            Some(Err(_))
        ));
    }

    #[test]
    fn both_scomo_alert_types_are_read() {
        for t in [SCOMO_OPERATION_COMPLETE, SCOMO_OPERATION_COMPLETE_DM1] {
            let report = UpdateReport::from_alert(&alert(t, r#"{"ResultCode":1250}"#));
            assert!(matches!(
                report,
                Some(Ok(UpdateReport::Scomo { result, .. })) if result.is_success()
            ));
        }
    }

    #[test]
    fn classification_follows_section_13_1() {
        for code in [407, 412, 503] {
            assert_eq!(
                FumoResult::new(code).map(FumoResult::outcome),
                Some(ResultOutcome::Transient)
            );
        }
        for code in [
            400, 401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 450, 500, 599,
        ] {
            assert_eq!(
                FumoResult::new(code).map(FumoResult::outcome),
                Some(ResultOutcome::Permanent),
                "{code}"
            );
        }
        for code in [200, 250, 299] {
            assert!(FumoResult::new(code).is_some_and(FumoResult::is_success));
        }
        assert!(!FumoResult::new(201).is_some_and(FumoResult::is_success));
        assert_eq!(
            ScomoResult::from_status(StatusCode::OK),
            Some(ScomoResult::SUCCESSFUL)
        );
    }

    #[test]
    fn scomo_identifiers_are_escaped_and_read_back() {
        let node =
            ClientUri::parse("urn:oma:mo:oma-scomo:1.0//Inventory/Deployed/a/Operations/Remove")
                .unwrap_or_else(|e| panic!("{e}"));
        let alert = scomo_result_alert(&node, None, ScomoResult::SUCCESSFUL, Some("a<b"));
        let Some(Ok(UpdateReport::Scomo { identifier, .. })) = UpdateReport::from_alert(&alert)
        else {
            panic!("not read back")
        };
        assert_eq!(identifier.as_deref(), Some("a<b"));
    }

    #[test]
    fn fumo_operations_start_only_where_section_13_1_allows() {
        for state in FumoState::ALL {
            for operation in FumoOperation::ALL {
                let started = state.start(operation, false);
                if state.is_busy() {
                    assert_eq!(started, Err(FumoRefusal::Busy), "{state:?} {operation}");
                } else if operation.downloads() {
                    assert_eq!(started, Ok(FumoState::DownloadProgressing));
                } else if state.holds_package() {
                    assert_eq!(started, Ok(FumoState::UpdateProgressing));
                } else {
                    assert_eq!(started, Err(FumoRefusal::NoPackage), "{state:?}");
                    assert_eq!(
                        state.start(operation, true),
                        Ok(FumoState::UpdateProgressing)
                    );
                }
            }
        }
        // A whole DownloadAndUpdate: 30, 50, 60, 100.
        let mut state = FumoState::Idle
            .start(FumoOperation::DownloadAndUpdate, false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state, FumoState::DownloadProgressing);
        state = FumoState::after_download(FumoOperation::DownloadAndUpdate, FumoResult::SUCCESSFUL);
        assert!(state.holds_package());
        state = state
            .start(FumoOperation::Update, false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state, FumoState::UpdateProgressing);
        assert_eq!(
            FumoState::after_update(
                FumoResult::new(250).unwrap_or(FumoResult::SUCCESSFUL),
                false
            ),
            FumoState::UpdateSuccessfulNoData
        );
        assert_eq!(
            FumoState::after_update(FumoResult::UPDATE_FAILED, false),
            FumoState::UpdateFailedNoData
        );
        assert_eq!(
            FumoState::after_update(FumoResult::SUCCESSFUL, true),
            FumoState::UpdateSuccessfulHaveData
        );
        // A failed download holds nothing.
        assert!(
            !FumoState::after_download(FumoOperation::Download, FumoResult::DOWNLOAD_NETWORK_ERROR)
                .holds_package()
        );
    }

    #[test]
    fn fumo_states_round_trip() {
        for state in FumoState::ALL {
            assert_eq!(FumoState::from_value(i64::from(state.value())), Some(state));
        }
        assert!(FumoState::DownloadProgressing.is_busy());
        assert!(!FumoState::ReadyToUpdate.is_busy());
    }
}
