//! [`Retention`]: how much history a store keeps per device, and the
//! bounds every store applies with it.

use dm_types::{DevId, MosEntry};

/// How much history a store keeps per device, in entries and in bytes
/// ([`MemoryStore`](crate::MemoryStore) and the SQL stores alike): a device
/// must not be able to make the server hold more than a bounded amount of
/// memory or disk, whatever it sends.
///
/// - **Alerts** are kept as their encoded JSON (the form of
///   `dm_codec::encode_alert`, [`AlertRecord::encoded_len`](crate::AlertRecord::encoded_len)). An alert whose
///   encoded form exceeds [`Retention::alert_data_bytes`] is stored with its
///   `Data` replaced by the marker `{"truncated": <encoded size of the alert
///   as received>}` (and dropped, with a warning in the log, if even that is
///   too large, e.g. a huge `SourceURI`). Beyond [`Retention::alerts`]
///   entries or [`Retention::alert_bytes`] bytes the oldest alerts are
///   forgotten, so the newest are kept.
/// - **Repository objects** a device owns are bounded in number
///   ([`Retention::objects_per_device`], [`Error::TooManyObjects`](crate::Error::TooManyObjects) beyond) and in
///   total body bytes ([`Retention::repository_bytes`]): a write that would
///   exceed it is refused with [`Error::InsufficientStorage`](crate::Error::InsufficientStorage) (HTTP 507) and
///   the objects already stored stay as they were.
/// - **The MO inventory** (`MOS` of Package#1) keeps its first
///   [`Retention::mos_entries`] entries within [`Retention::mos_bytes`]
///   bytes; the rest is dropped with a warning in the log. An entry counts
///   the bytes of its MOID, DDF URI and MIIDs plus 32 bytes per string for
///   their bookkeeping.
/// - **Cached MO instances** (the data of a GET of an instance root, kept
///   with its cache validator, docs/protocol.md section 8) are kept as their
///   MO serialization: at most [`Retention::cached_instances`] instances
///   within [`Retention::cache_bytes`] bytes, the least recently received
///   forgotten first; an instance larger than the whole budget is not kept
///   (logged), and the older data it would have replaced is forgotten.
///
/// ```
/// use dm_server::Retention;
///
/// let retention = Retention::default()
///     .with_finished_commands(50)
///     .with_alerts(10)
///     .with_alert_bytes(64 * 1024)
///     .with_repository_bytes(1024 * 1024);
/// assert_eq!(retention.finished_commands, 50);
/// assert_eq!(retention.alert_bytes, 64 * 1024);
/// assert_eq!(Retention::default().alert_data_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Finished (done or failed) commands kept per device; older ones are
    /// forgotten. Default 1000.
    pub finished_commands: usize,
    /// Alerts kept per device; older ones are forgotten. Default 256.
    pub alerts: usize,
    /// Encoded bytes of the alerts kept per device; the oldest are forgotten
    /// beyond it. Default 1 MiB.
    pub alert_bytes: usize,
    /// Largest encoded size of one stored alert; a larger one is stored with
    /// its `Data` replaced by `{"truncated": <bytes>}`. Default 64 KiB.
    pub alert_data_bytes: usize,
    /// Session summaries kept per device (at least 1). Default 4.
    pub sessions: usize,
    /// Repository objects a device may own (uploads and SUB reports at
    /// distinct paths); beyond it a new path is refused. Default 64.
    pub objects_per_device: u32,
    /// Total body bytes of the repository objects a device owns; a write
    /// beyond it is refused ([`Error::InsufficientStorage`](crate::Error::InsufficientStorage)). Default 16 MiB.
    pub repository_bytes: usize,
    /// Entries of a device's MO inventory kept; the first ones are kept.
    /// Default 4096.
    pub mos_entries: usize,
    /// Bytes of a device's MO inventory kept (see above how an entry is
    /// measured); the first entries that fit are kept. Default 256 KiB.
    pub mos_bytes: usize,
    /// MO instances kept per device for caching; the least recently
    /// received are forgotten beyond it (0 turns caching off). Default 64.
    pub cached_instances: usize,
    /// Bytes of the MO serialization of the instances kept per device for
    /// caching; the least recently received are forgotten beyond it.
    /// Default 1 MiB.
    pub cache_bytes: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            finished_commands: 1000,
            alerts: 256,
            alert_bytes: 1024 * 1024,
            alert_data_bytes: 64 * 1024,
            sessions: 4,
            objects_per_device: 64,
            repository_bytes: 16 * 1024 * 1024,
            mos_entries: 4096,
            mos_bytes: 256 * 1024,
            cached_instances: 64,
            cache_bytes: 1024 * 1024,
        }
    }
}

impl Retention {
    /// Sets [`Retention::finished_commands`].
    #[must_use]
    pub fn with_finished_commands(mut self, n: usize) -> Self {
        self.finished_commands = n;
        self
    }

    /// Sets [`Retention::alerts`].
    #[must_use]
    pub fn with_alerts(mut self, n: usize) -> Self {
        self.alerts = n;
        self
    }

    /// Sets [`Retention::alert_bytes`].
    #[must_use]
    pub fn with_alert_bytes(mut self, bytes: usize) -> Self {
        self.alert_bytes = bytes;
        self
    }

    /// Sets [`Retention::alert_data_bytes`].
    #[must_use]
    pub fn with_alert_data_bytes(mut self, bytes: usize) -> Self {
        self.alert_data_bytes = bytes;
        self
    }

    /// Sets [`Retention::objects_per_device`].
    #[must_use]
    pub fn with_objects_per_device(mut self, n: u32) -> Self {
        self.objects_per_device = n;
        self
    }

    /// Sets [`Retention::repository_bytes`].
    #[must_use]
    pub fn with_repository_bytes(mut self, bytes: usize) -> Self {
        self.repository_bytes = bytes;
        self
    }

    /// Sets [`Retention::mos_entries`].
    #[must_use]
    pub fn with_mos_entries(mut self, n: usize) -> Self {
        self.mos_entries = n;
        self
    }

    /// Sets [`Retention::mos_bytes`].
    #[must_use]
    pub fn with_mos_bytes(mut self, bytes: usize) -> Self {
        self.mos_bytes = bytes;
        self
    }

    /// Sets [`Retention::cached_instances`].
    #[must_use]
    pub fn with_cached_instances(mut self, n: usize) -> Self {
        self.cached_instances = n;
        self
    }

    /// Sets [`Retention::cache_bytes`].
    #[must_use]
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets [`Retention::sessions`] (at least 1).
    #[must_use]
    pub fn with_sessions(mut self, n: usize) -> Self {
        self.sessions = n.max(1);
        self
    }
}

/// The size by which an MO inventory entry counts against
/// [`Retention::mos_bytes`]: its strings plus 32 bytes each.
fn mos_entry_bytes(entry: &MosEntry) -> usize {
    const PER_STRING: usize = 32;
    let ddf = entry
        .ddf
        .as_ref()
        .map_or(0, |d| d.as_str().len() + PER_STRING);
    let miids: usize = entry
        .miids
        .iter()
        .map(|m| m.as_str().len() + PER_STRING)
        .sum();
    entry.moid.as_str().len() + PER_STRING + ddf + miids
}

/// The first entries of `mos` within the retention's count and bytes.
pub(super) fn cap_mos(
    dev_id: &DevId,
    mut mos: Vec<MosEntry>,
    retention: &Retention,
) -> Vec<MosEntry> {
    let mut bytes = 0usize;
    let mut kept = 0;
    for entry in &mos {
        let size = mos_entry_bytes(entry);
        if kept >= retention.mos_entries || bytes.saturating_add(size) > retention.mos_bytes {
            break;
        }
        bytes += size;
        kept += 1;
    }
    if kept < mos.len() {
        tracing::warn!(
            %dev_id,
            received = mos.len(),
            kept,
            max_entries = retention.mos_entries,
            max_bytes = retention.mos_bytes,
            "MO inventory too large: only its first entries are kept"
        );
        mos.truncate(kept);
        mos.shrink_to_fit();
    }
    mos
}

/// Nonces remembered per device: a device uses one per session (a new one
/// after each challenge), so these cover far more than a nonce's lifetime
/// for a device that behaves.
pub(super) const DIGEST_NONCES_PER_DEVICE: usize = 16;
