//! Firmware and software updates on the device (docs/protocol.md section
//! 13, docs/updates.md): the package [`Downloader`] shared by the update
//! MOs.

mod download;

pub use download::{
    Corruption, DEFAULT_MAX_PACKAGE_SIZE, DownloadError, Downloaded, Downloader, MemorySink,
    PackageSink, PackageSource, Progress, SinkError, to_hex,
};

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
