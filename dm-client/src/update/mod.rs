//! Firmware and software updates on the device (docs/protocol.md section
//! 13, docs/updates.md): the package [`Downloader`] shared by the update
//! MOs.

mod download;

pub use download::{
    Corruption, DEFAULT_MAX_PACKAGE_SIZE, DownloadError, Downloaded, Downloader, MemorySink,
    PackageSink, PackageSource, Progress, SinkError, to_hex,
};
