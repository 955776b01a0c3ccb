//! Artifacts: the firmware and software packages campaigns deliver.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::name::ArtifactId;
use super::wire;
use crate::Error;

/// What an artifact installs, which decides the MO a campaign drives:
/// FUMO (docs/protocol.md section 13.1) or SCOMO (13.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A firmware image (FUMO).
    Firmware,
    /// A software component (SCOMO).
    Software,
}

/// Where devices download an artifact from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactSource {
    /// The content is in the store; devices fetch it from
    /// `GET <public base>/artifacts/{id}` with a per-device token.
    Stored,
    /// The content lives elsewhere, at this `http(s)` URL.
    Url(String),
}

/// An artifact as the store keeps it (its content, when stored, is kept
/// apart, in chunks).
///
/// ```
/// use dm_server::{ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource};
///
/// let record = ArtifactRecord::new(ArtifactId::new("fw-2.0")?, ArtifactKind::Firmware, "acme-fw", "2.0", 3, [0; 32], ArtifactSource::Stored);
/// assert_eq!(record.sha256_hex().len(), 64);
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArtifactRecord {
    /// Its name.
    pub id: ArtifactId,
    /// Firmware or software.
    pub kind: ArtifactKind,
    /// The package name written to the device (`PkgName`, SCOMO `Name`).
    pub name: String,
    /// The version it installs (`PkgVersion`; compared with DevInfo `FwV`).
    pub version: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its content.
    #[serde(with = "wire::hex_array")]
    pub sha256: [u8; 32],
    /// Stored here or referenced by URL.
    pub source: ArtifactSource,
    /// Free operator metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// When it was added (Unix milliseconds).
    pub created_ms: u64,
}

impl ArtifactRecord {
    /// An artifact without metadata, created at time 0 (the store keeps the
    /// time it is given).
    pub fn new(
        id: ArtifactId,
        kind: ArtifactKind,
        name: impl Into<String>,
        version: impl Into<String>,
        size: u64,
        sha256: [u8; 32],
        source: ArtifactSource,
    ) -> ArtifactRecord {
        ArtifactRecord {
            id,
            kind,
            name: name.into(),
            version: version.into(),
            size,
            sha256,
            source,
            metadata: BTreeMap::new(),
            created_ms: 0,
        }
    }

    /// The SHA-256 in lowercase hex (as written to `Ext/PkgSHA256`).
    pub fn sha256_hex(&self) -> String {
        dm_codec::hex::encode(&self.sha256)
    }
}

/// The size of the chunks the stores keep an artifact's content in (1 MiB):
/// a range read touches only the chunks it needs.
pub const ARTIFACT_CHUNK: usize = 1 << 20;

/// What [`Store::put_artifact`](crate::Store::put_artifact) checks of the
/// content it is given: present iff the source is stored, and then exactly
/// the declared size ([`Error::ArtifactMismatch`] otherwise).
pub(crate) fn check_content(record: &ArtifactRecord, content: Option<&[u8]>) -> Result<(), Error> {
    match (&record.source, content) {
        (ArtifactSource::Stored, Some(content)) => {
            if u64::try_from(content.len()).ok() == Some(record.size) {
                Ok(())
            } else {
                Err(Error::ArtifactMismatch {
                    problem: format!("{} bytes given, {} declared", content.len(), record.size),
                })
            }
        }
        (ArtifactSource::Stored, None) => Err(Error::ArtifactMismatch {
            problem: "a stored artifact needs its content".into(),
        }),
        (ArtifactSource::Url(_), Some(_)) => Err(Error::ArtifactMismatch {
            problem: "an artifact at a URL has no stored content".into(),
        }),
        (ArtifactSource::Url(_), None) => Ok(()),
    }
}

/// The part of `start..end` within an artifact of `size` bytes, as offsets
/// (empty when `start` is at or past the end).
pub(crate) fn clamp_range(size: u64, start: u64, end: u64) -> (u64, u64) {
    let end = end.min(size);
    (start.min(end), end)
}
