//! Device groups: who a campaign targets.

use std::collections::{BTreeMap, BTreeSet};

use dm_types::{DevId, Moid};
use serde::{Deserialize, Serialize};

use super::DeviceRecord;
use super::name::{GroupId, Tag};

/// What makes a device a member of a group. A device is a member when it is
/// listed in `devices`, or when the filter has at least one condition and
/// the device meets every one of them.
///
/// ```
/// use dm_server::{GroupFilter, Tag};
///
/// let mut filter = GroupFilter::default();
/// assert!(!filter.has_conditions());
/// filter.tags.insert(Tag::new("canary")?);
/// filter.devinfo.insert("Mod".into(), "X1".into());
/// assert!(filter.has_conditions());
/// # Ok::<(), dm_server::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupFilter {
    /// Members by name, whatever the conditions.
    pub devices: BTreeSet<DevId>,
    /// Tags a device must all have.
    pub tags: BTreeSet<Tag>,
    /// DevInfo leaves (`Mod`, `FwV`, ...) and the value each must have, as
    /// the server last saw them.
    pub devinfo: BTreeMap<String, String>,
    /// MOs the device must have reported in its last `MOS`.
    pub mos: BTreeSet<Moid>,
    /// The device's last session started at or after this time (Unix ms).
    pub last_session_after_ms: Option<u64>,
    /// The device's last session started before this time, or it never
    /// had one (Unix ms).
    pub last_session_before_ms: Option<u64>,
}

impl GroupFilter {
    /// Whether any condition beyond the explicit device list is set.
    pub fn has_conditions(&self) -> bool {
        !self.tags.is_empty()
            || !self.devinfo.is_empty()
            || !self.mos.is_empty()
            || self.last_session_after_ms.is_some()
            || self.last_session_before_ms.is_some()
    }

    /// Whether `device` is a member: listed in `devices`, or meeting every
    /// condition of a filter that has at least one. A device never seen
    /// reporting a DevInfo leaf or an `MOS` does not meet a condition on
    /// it; one that never had a session meets `last_session_before_ms`
    /// and not `last_session_after_ms`.
    ///
    /// ```
    /// use dm_server::{DeviceRecord, DeviceRegistration, GroupFilter, Tag};
    /// use dm_types::DevId;
    ///
    /// let mut device = DeviceRecord::new(DeviceRegistration::new(DevId::new("IMEI:1")?), 0);
    /// let mut filter = GroupFilter::default();
    /// assert!(!filter.matches(&device)); // no condition, not listed
    /// filter.tags.insert(Tag::new("canary")?);
    /// assert!(!filter.matches(&device));
    /// device.tags.insert(Tag::new("canary")?);
    /// assert!(filter.matches(&device));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, device: &DeviceRecord) -> bool {
        if self.devices.contains(&device.dev_id) {
            return true;
        }
        if !self.has_conditions() {
            return false;
        }
        let tags = self.tags.is_subset(&device.tags);
        let devinfo = self
            .devinfo
            .iter()
            .all(|(name, value)| device.devinfo.get(name) == Some(value));
        let mos = self.mos.iter().all(|moid| {
            device
                .mos
                .as_deref()
                .is_some_and(|mos| mos.iter().any(|entry| entry.moid == *moid))
        });
        let started = device.last_session().map(|s| s.started_ms);
        let after = self
            .last_session_after_ms
            .is_none_or(|after| started.is_some_and(|t| t >= after));
        let before = self
            .last_session_before_ms
            .is_none_or(|before| started.is_none_or(|t| t < before));
        tags && devinfo && mos && after && before
    }
}

/// A group as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupRecord {
    /// Its name.
    pub id: GroupId,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Who belongs.
    pub filter: GroupFilter,
    /// When it was created or last replaced (Unix milliseconds).
    pub updated_ms: u64,
}

impl GroupRecord {
    /// A group of `filter`, without description, at time 0.
    ///
    /// ```
    /// use dm_server::{GroupFilter, GroupId, GroupRecord};
    ///
    /// let group = GroupRecord::new(GroupId::new("all-x1")?, GroupFilter::default());
    /// assert_eq!(group.id.as_str(), "all-x1");
    /// # Ok::<(), dm_server::Error>(())
    /// ```
    pub fn new(id: GroupId, filter: GroupFilter) -> GroupRecord {
        GroupRecord {
            id,
            description: String::new(),
            filter,
            updated_ms: 0,
        }
    }
}
