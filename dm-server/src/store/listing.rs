//! Listing devices a page at a time: [`DeviceQuery`] asks, [`DevicePage`]
//! answers ([`Store::devices`](crate::Store::devices)).

use dm_types::DevId;

use super::{DeviceRecord, SessionRecord};

/// Which devices [`Store::devices`](crate::Store::devices) lists: those
/// whose DevID starts with [`DeviceQuery::prefix`] (all when `None`),
/// after [`DeviceQuery::after`] in DevID order (byte order), at most
/// [`DeviceQuery::limit`].
///
/// ```
/// use dm_server::DeviceQuery;
/// use dm_types::DevId;
///
/// let query = DeviceQuery::new(100)
///     .with_prefix("IMEI:49")
///     .with_after(DevId::new("IMEI:4930")?);
/// assert_eq!(query.limit, 100);
/// assert_eq!(query.prefix.as_deref(), Some("IMEI:49"));
/// assert!(!query.is_first_unfiltered_page());
/// assert!(DeviceQuery::new(10).is_first_unfiltered_page());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceQuery {
    /// Most devices on the page.
    pub limit: usize,
    /// Only DevIDs that start with this (an empty prefix is no filter).
    pub prefix: Option<String>,
    /// Only DevIDs after this one (the `next` of the previous page).
    pub after: Option<DevId>,
}

impl DeviceQuery {
    /// The first `limit` devices.
    pub fn new(limit: usize) -> DeviceQuery {
        DeviceQuery {
            limit,
            prefix: None,
            after: None,
        }
    }

    /// Only DevIDs starting with `prefix` (an empty one is no filter).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.prefix = (!prefix.is_empty()).then_some(prefix);
        self
    }

    /// Only DevIDs after `after`.
    #[must_use]
    pub fn with_after(mut self, after: DevId) -> Self {
        self.after = Some(after);
        self
    }

    /// Whether the query has neither a prefix nor a cursor.
    pub fn is_first_unfiltered_page(&self) -> bool {
        self.prefix.is_none() && self.after.is_none()
    }

    /// Whether `dev_id` is one the query selects (the limit aside).
    pub fn selects(&self, dev_id: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| dev_id.starts_with(p))
            && self.after.as_ref().is_none_or(|a| dev_id > a.as_str())
    }

    /// The exclusive upper bound of the DevIDs starting with the prefix
    /// (`None`: no bound), for a range scan: the prefix with its last
    /// character replaced by the next one (byte order of UTF-8 is the
    /// order of code points).
    ///
    /// ```
    /// use dm_server::DeviceQuery;
    ///
    /// assert_eq!(DeviceQuery::new(1).with_prefix("IMEI:49").prefix_end().as_deref(), Some("IMEI:4:"));
    /// assert_eq!(DeviceQuery::new(1).prefix_end(), None);
    /// ```
    pub fn prefix_end(&self) -> Option<String> {
        let mut end: Vec<char> = self.prefix.as_deref()?.chars().collect();
        while let Some(last) = end.pop() {
            let next = match u32::from(last) + 1 {
                0xD800 => Some('\u{E000}'),
                n => char::from_u32(n),
            };
            if let Some(next) = next {
                end.push(next);
                return Some(end.into_iter().collect());
            }
        }
        None
    }
}

/// A page of devices ([`Store::devices`](crate::Store::devices)).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct DevicePage {
    /// The devices, in DevID order, each with its open session tokens.
    pub devices: Vec<DeviceRecord>,
    /// The open sessions of these devices (read with them, in the same
    /// step), in no particular order.
    pub open_sessions: Vec<SessionRecord>,
    /// The `after` of the next page: the last DevID of this one when more
    /// devices match, `None` on the last page.
    pub next: Option<DevId>,
}

impl DevicePage {
    /// The page of `limit` from `devices` read with `limit + 1` as their
    /// limit: the extra one only says there is a next page.
    pub(crate) fn of(
        mut devices: Vec<DeviceRecord>,
        open_sessions: Vec<SessionRecord>,
        limit: usize,
    ) -> DevicePage {
        let next = if devices.len() > limit {
            devices.truncate(limit);
            devices.last().map(|d| d.dev_id.clone())
        } else {
            None
        };
        DevicePage {
            devices,
            open_sessions,
            next,
        }
    }
}
