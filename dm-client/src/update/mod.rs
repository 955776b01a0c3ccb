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
//! - [`SimulatedFirmware`]: a firmware in memory for demos and tests.

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
