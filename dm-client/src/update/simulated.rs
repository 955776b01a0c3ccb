//! [`SimulatedFirmware`]: a [`FirmwareUpdate`] keeping the package in
//! memory, for demos, tests and load tests.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use dm_types::update::FumoResult;
use sha2::{Digest as _, Sha256};

use super::download::{MemorySink, PackageSink, SinkError};
use super::fumo::{FirmwareUpdate, Package};

/// A firmware that does not exist: the package is kept in memory (at most
/// `capacity` bytes), "installing" waits a configurable time and reports
/// a configurable result. Meant for demos (`dm device`), tests and load
/// tests — never for a real device.
///
/// It checks that the bytes held are the package the SDK accepted (same
/// SHA-256; `410` otherwise), and, when given one with
/// [`SimulatedFirmware::require_signature`], that `Ext/PkgSignature` is
/// exactly those bytes (`404` otherwise).
///
/// ```
/// use std::time::Duration;
/// use dm_client::update::SimulatedFirmware;
/// use dm_types::update::FumoResult;
///
/// let firmware = SimulatedFirmware::new(16 << 20)
///     .install_duration(Duration::from_millis(200))
///     .result(FumoResult::UPDATE_FAILED);
/// assert_eq!(firmware.installs(), 0);
/// firmware.set_result(FumoResult::SUCCESSFUL);
/// ```
#[derive(Debug)]
pub struct SimulatedFirmware {
    slot: Mutex<MemorySink>,
    install_duration: Duration,
    result: Mutex<FumoResult>,
    signature: Option<Vec<u8>>,
    installs: AtomicUsize,
    installed: Mutex<Option<Package>>,
    most_received: AtomicU64,
}

impl SimulatedFirmware {
    /// Holding packages of up to `capacity` bytes, installing at once with
    /// success.
    pub fn new(capacity: u64) -> SimulatedFirmware {
        SimulatedFirmware {
            slot: Mutex::new(MemorySink::new(capacity)),
            install_duration: Duration::ZERO,
            result: Mutex::new(FumoResult::SUCCESSFUL),
            signature: None,
            installs: AtomicUsize::new(0),
            installed: Mutex::new(None),
            most_received: AtomicU64::new(0),
        }
    }

    /// How long an install takes.
    #[must_use]
    pub fn install_duration(mut self, duration: Duration) -> SimulatedFirmware {
        self.install_duration = duration;
        self
    }

    /// The result installs report (a success, or the failure to simulate).
    #[must_use]
    pub fn result(self, result: FumoResult) -> SimulatedFirmware {
        self.set_result(result);
        self
    }

    /// Accepts only packages whose `Ext/PkgSignature` is `signature`.
    #[must_use]
    pub fn require_signature(mut self, signature: Vec<u8>) -> SimulatedFirmware {
        self.signature = Some(signature);
        self
    }

    /// Changes the result of the next installs.
    pub fn set_result(&self, result: FumoResult) {
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = result;
    }

    /// Installs begun so far.
    pub fn installs(&self) -> usize {
        self.installs.load(Ordering::SeqCst)
    }

    /// The package of the last successful install.
    pub fn installed(&self) -> Option<Package> {
        self.installed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most bytes of one download stored so far (from the progress
    /// reports).
    pub fn most_received(&self) -> u64 {
        self.most_received.load(Ordering::SeqCst)
    }

    /// Bytes of package held.
    pub fn held(&self) -> u64 {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .held()
    }
}

/// Writes into the slot, locking it for each call.
struct Slot<'a>(&'a Mutex<MemorySink>);

impl PackageSink for Slot<'_> {
    fn held(&self) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).held()
    }

    fn append(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(chunk)
    }

    fn discard(&mut self) -> Result<(), SinkError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .discard()
    }
}

impl FirmwareUpdate for SimulatedFirmware {
    fn storage(&self) -> Result<Box<dyn PackageSink + '_>, SinkError> {
        Ok(Box::new(Slot(&self.slot)))
    }

    fn verify_signature(&self, _package: &Package, signature: Option<&[u8]>) -> bool {
        self.signature
            .as_deref()
            .is_none_or(|expected| signature == Some(expected))
    }

    fn progress(&self, progress: super::download::Progress) {
        self.most_received
            .fetch_max(progress.received, Ordering::SeqCst);
    }

    async fn install(&self, package: &Package) -> FumoResult {
        self.installs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.install_duration).await;
        let digest: [u8; 32] = {
            let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            Sha256::digest(slot.bytes()).into()
        };
        if digest != package.sha256 {
            return FumoResult::UPDATE_FAILED;
        }
        let result = *self.result.lock().unwrap_or_else(PoisonError::into_inner);
        if result.is_success() {
            *self
                .installed
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(package.clone());
        }
        result
    }
}
