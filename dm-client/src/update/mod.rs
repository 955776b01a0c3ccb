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
