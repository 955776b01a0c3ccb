//! Firmware and software updates on the device (docs/protocol.md section
//! 13, docs/updates.md).
//!
//! - [`Downloader`]: the package downloader shared by the update MOs
//!   (FUMO, SCOMO): HTTP(S) with `Range` resume, size limits, SHA-256 while
//!   streaming, failures as FUMO result codes;
//! - FUMO: the product implements [`FirmwareUpdate`] (store, verify,
//!   install) and calls [`DmClient::install_fumo`](crate::DmClient::install_fumo);
//!   the SDK creates the instance, grants the managing servers, serves
//!   `State`, runs the operations and reports their results
//!   ([`Fumo`] is the product's handle);
//! - [`SimulatedFirmware`]: a firmware in memory for demos and tests;
//! - SCOMO: the product implements [`SoftwareComponents`] (where packages
//!   go, install, activate, deactivate, remove, list) and attaches the
//!   [`Scomo`] driver, which keeps the instance and its inventory, runs the
//!   operations and reports their results; the rules of section 13.2 are
//!   [`ScomoOperation`]'s;
//! - [`SimulatedComponents`]: software components in memory for demos,
//!   tests and load tests.
//!
//! A vendor's firmware update, in a page (docs/updates.md explains it):
//!
//! ```
//! use std::fs::{File, OpenOptions};
//! use std::io::Write as _;
//! use std::path::PathBuf;
//!
//! use dm_client::update::{FirmwareUpdate, FumoSetup, Package, PackageSink, SinkError};
//! use dm_client::{Account, DmClient};
//! use dm_tree::{DevInfo, DmAcc};
//! use dm_types::update::{FumoResult, FumoState};
//! use dm_types::{DevId, Miid, ServerId, ServerUri};
//!
//! /// An A/B device: a new image goes to the inactive slot, and the
//! /// bootloader is told to boot it next.
//! struct AbFirmware {
//!     inactive_slot: PathBuf,
//!     boot_next: PathBuf,
//! }
//!
//! /// The inactive slot, open for a download (appending).
//! struct SlotWriter {
//!     file: File,
//!     written: u64,
//! }
//!
//! fn storage_error(e: std::io::Error) -> SinkError {
//!     SinkError::Storage(e.to_string())
//! }
//!
//! impl PackageSink for SlotWriter {
//!     fn held(&self) -> u64 {
//!         self.written
//!     }
//!     fn append(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
//!         self.file.write_all(chunk).map_err(storage_error)?;
//!         self.written += chunk.len() as u64;
//!         Ok(())
//!     }
//!     fn discard(&mut self) -> Result<(), SinkError> {
//!         self.file.set_len(0).map_err(storage_error)?;
//!         self.written = 0;
//!         Ok(())
//!     }
//! }
//!
//! /// The product's signature check (here: a placeholder accepting any
//! /// non-empty signature; a real product verifies, e.g., an Ed25519
//! /// signature of the SHA-256 with its release key).
//! fn signed_by_release_key(_sha256: &[u8; 32], signature: &[u8]) -> bool {
//!     !signature.is_empty()
//! }
//!
//! impl FirmwareUpdate for AbFirmware {
//!     fn storage(&self) -> Result<Box<dyn PackageSink + '_>, SinkError> {
//!         let file = OpenOptions::new()
//!             .create(true)
//!             .append(true)
//!             .open(&self.inactive_slot)
//!             .map_err(storage_error)?;
//!         let written = file.metadata().map_err(storage_error)?.len();
//!         Ok(Box::new(SlotWriter { file, written }))
//!     }
//!
//!     fn verify_signature(&self, package: &Package, signature: Option<&[u8]>) -> bool {
//!         signature.is_some_and(|s| signed_by_release_key(&package.sha256, s))
//!     }
//!
//!     async fn install(&self, package: &Package) -> FumoResult {
//!         // Size and SHA-256 were checked by the SDK; installing blocks, so it
//!         // runs on a blocking thread.
//!         let boot_next = self.boot_next.clone();
//!         let version = package.version.clone();
//!         let marked = tokio::task::spawn_blocking(move || std::fs::write(boot_next, version)).await;
//!         match marked {
//!             Ok(Ok(())) => FumoResult::SUCCESSFUL,
//!             _ => FumoResult::UPDATE_FAILED,
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerId::new("dm.example")?;
//! let account = DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?);
//! let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:493005100592800")?, "Acme", "X1"))
//!     .account(Account::new(account))
//!     .build()?;
//! let dir = std::env::temp_dir();
//! let firmware = AbFirmware {
//!     inactive_slot: dir.join("acme-slot-b.img"),
//!     boot_next: dir.join("acme-boot-next"),
//! };
//! // The device's FUMO instance `fw`, managed by dm.example.
//! let setup = FumoSetup::new(Miid::new("fw")?).package("acme-x1", "1.0.3").server(server);
//! let fumo = client.install_fumo(setup, firmware)?;
//! assert_eq!(fumo.state(), FumoState::Idle);
//! // Then serve the server as usual: notifications, sessions; `listen_udp`
//! // also delivers the FUMO results as they come.
//! # Ok(())
//! # }
//! ```

mod download;
mod fumo;
mod install;
mod simulated;

pub use download::{
    Corruption, DEFAULT_MAX_PACKAGE_SIZE, DownloadError, Downloaded, Downloader, MemorySink,
    PackageSink, PackageSource, Progress, SinkError, to_hex,
};
pub use fumo::{FirmwareUpdate, Fumo, Package};
pub use install::FumoSetup;
pub use simulated::SimulatedFirmware;

// SCOMO (section 13.2): the driver, its protocol rules and the simulator.
mod scomo;
mod scomo_rules;
mod simulated_components;

pub use scomo::{
    Component, ComponentError, DeployedComponent, Scomo, ScomoError, ScomoListener, ScomoOptions,
    SoftwareComponents,
};
pub use scomo_rules::{ComponentPlace, OperationEnd, ScomoOperation};
pub use simulated_components::{SimulatedComponents, Simulation};
