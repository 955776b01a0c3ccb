//! Events and webhooks as the store keeps them: [`EventKind`],
//! [`NewEvent`] (appended by the server), [`EventRecord`] (read back with
//! the id the store gave it), [`EventFilter`], [`EventBounds`], and the
//! webhooks ([`WebhookSpec`], [`WebhookRecord`], [`WebhookId`]).
//!
//! Ids are assigned by the store, one after the other, in the order the
//! appends commit: a reader that has read every event up to id `n` never
//! finds a smaller id later (docs/operations.md, "Events and webhooks").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use dm_types::DevId;

/// What an event reports.
///
/// ```
/// use dm_server::EventKind;
///
/// assert_eq!(EventKind::CommandFinished.name(), "command.finished");
/// assert_eq!(EventKind::from_name("session.ended"), Some(EventKind::SessionEnded));
/// assert_eq!(EventKind::from_name("session.started"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// A device was registered (admin API, bulk registration, dev mode).
    DeviceRegistered,
    /// A command got its status (`done`), or will never get one (`failed`).
    CommandFinished,
    /// A device sent an alert.
    AlertReceived,
    /// A session ended (completed, timed out, failed).
    SessionEnded,
    /// A campaign's status, stage or device counts changed.
    CampaignProgress,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 5] = [
        EventKind::DeviceRegistered,
        EventKind::CommandFinished,
        EventKind::AlertReceived,
        EventKind::SessionEnded,
        EventKind::CampaignProgress,
    ];

    /// The kind's name on the wire (`event:` of the stream, `"kind"` of the
    /// JSON).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::DeviceRegistered => "device.registered",
            EventKind::CommandFinished => "command.finished",
            EventKind::AlertReceived => "alert.received",
            EventKind::SessionEnded => "session.ended",
            EventKind::CampaignProgress => "campaign.progress",
        }
    }

    /// The kind of a name.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event to append ([`Store::append_events`](crate::Store::append_events)):
/// the store gives it its id.
///
/// `data` is the JSON object of the kind's own members (without `id`,
/// `kind` and `at_ms`), e.g. `{"dev_id":"IMEI:1","alert_type":"..."}`.
///
/// ```
/// use dm_server::{EventKind, NewEvent};
/// use dm_types::DevId;
///
/// let dev_id = DevId::new("IMEI:1")?;
/// let event = NewEvent::new(EventKind::DeviceRegistered, 5, Some(dev_id), r#"{"dev_id":"IMEI:1"}"#);
/// assert_eq!(event.kind, EventKind::DeviceRegistered);
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewEvent {
    /// What it reports.
    pub kind: EventKind,
    /// When it happened (Unix milliseconds).
    pub at_ms: u64,
    /// The device it is about, if any (subscribers filter on it).
    pub dev_id: Option<DevId>,
    /// The kind's members, a JSON object.
    pub data: String,
}

impl NewEvent {
    /// An event of `kind` at `at_ms` about `dev_id`, with `data` (a JSON
    /// object).
    pub fn new(
        kind: EventKind,
        at_ms: u64,
        dev_id: Option<DevId>,
        data: impl Into<String>,
    ) -> NewEvent {
        NewEvent {
            kind,
            at_ms,
            dev_id,
            data: data.into(),
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRecord {
    /// Its id: assigned by the store, increasing in the order appends
    /// committed, never reused.
    pub id: u64,
    /// What it reports.
    pub kind: EventKind,
    /// When it happened (Unix milliseconds).
    pub at_ms: u64,
    /// The device it is about, if any.
    pub dev_id: Option<DevId>,
    /// The kind's members, a JSON object.
    pub data: String,
}

impl EventRecord {
    /// The event `event` became with id `id`.
    pub fn new(id: u64, event: NewEvent) -> EventRecord {
        EventRecord {
            id,
            kind: event.kind,
            at_ms: event.at_ms,
            dev_id: event.dev_id,
            data: event.data,
        }
    }

    /// The event as one line of JSON: `id`, `kind` and `at_ms`, then the
    /// members of `data`.
    ///
    /// ```
    /// use dm_server::{EventKind, EventRecord, NewEvent};
    ///
    /// let event = EventRecord::new(7, NewEvent::new(EventKind::DeviceRegistered, 5, None, r#"{"dev_id":"IMEI:1"}"#));
    /// assert_eq!(event.to_json(), r#"{"id":7,"kind":"device.registered","at_ms":5,"dev_id":"IMEI:1"}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let head = format!(
            r#"{{"id":{},"kind":"{}","at_ms":{}"#,
            self.id,
            self.kind.name(),
            self.at_ms
        );
        let members = self
            .data
            .trim()
            .strip_prefix('{')
            .and_then(|d| d.strip_suffix('}'))
            .map(str::trim)
            .unwrap_or_default();
        if members.is_empty() {
            format!("{head}}}")
        } else {
            format!("{head},{members}}}")
        }
    }
}

/// Which events a reader wants: some kinds (all when empty) about one
/// device (any when `None`).
///
/// ```
/// use dm_server::{EventFilter, EventKind};
/// use dm_types::DevId;
///
/// let dev_id = DevId::new("IMEI:1")?;
/// let filter = EventFilter::default().with_kinds(vec![EventKind::AlertReceived]).with_dev_id(dev_id.clone());
/// assert!(filter.matches(EventKind::AlertReceived, Some(&dev_id)));
/// assert!(!filter.matches(EventKind::SessionEnded, Some(&dev_id)));
/// assert!(EventFilter::default().matches(EventKind::CampaignProgress, None));
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventFilter {
    /// The kinds wanted; every kind when empty.
    pub kinds: Vec<EventKind>,
    /// The device wanted; every event when `None` (an event about no
    /// device never matches a device).
    pub dev_id: Option<DevId>,
}

impl EventFilter {
    /// Only these kinds (every kind when empty).
    #[must_use]
    pub fn with_kinds(mut self, kinds: Vec<EventKind>) -> Self {
        self.kinds = kinds;
        self
    }

    /// Only events about this device.
    #[must_use]
    pub fn with_dev_id(mut self, dev_id: DevId) -> Self {
        self.dev_id = Some(dev_id);
        self
    }

    /// Whether an event of `kind` about `dev_id` passes.
    pub fn matches(&self, kind: EventKind, dev_id: Option<&DevId>) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.dev_id.as_ref().is_none_or(|want| dev_id == Some(want))
    }

    /// Whether it lets every event pass.
    pub fn is_everything(&self) -> bool {
        self.kinds.is_empty() && self.dev_id.is_none()
    }
}

/// Where the stored events stand ([`Store::event_bounds`](crate::Store::event_bounds)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventBounds {
    /// The id of the newest event appended (0 before the first).
    pub newest: u64,
    /// Every event up to this id was pruned (0: none was): a reader
    /// resuming after an id below it has lost events.
    pub pruned_through: u64,
}

impl EventBounds {
    /// Bounds with these ids.
    pub fn new(newest: u64, pruned_through: u64) -> EventBounds {
        EventBounds {
            newest,
            pruned_through,
        }
    }

    /// Whether a reader that has seen every event up to `after` missed
    /// some that were pruned.
    ///
    /// ```
    /// use dm_server::EventBounds;
    ///
    /// let bounds = EventBounds::new(20, 10);
    /// assert!(bounds.lost_after(3));
    /// assert!(!bounds.lost_after(10));
    /// ```
    pub fn lost_after(&self, after: u64) -> bool {
        after < self.pruned_through
    }
}

/// The id of a webhook, assigned by the store (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookId(pub u64);

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for WebhookId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(WebhookId)
    }
}

/// A webhook to create: where events are POSTed, the secret their
/// signature is made with, and the kinds it wants (every kind when empty).
/// `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookSpec {
    /// An `http` or `https` URL.
    pub url: String,
    /// The HMAC-SHA256 key of the `X-DM-Signature` header.
    pub secret: String,
    /// The kinds delivered; every kind when empty.
    pub kinds: Vec<EventKind>,
}

impl WebhookSpec {
    /// A webhook of every kind.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> WebhookSpec {
        WebhookSpec {
            url: url.into(),
            secret: secret.into(),
            kinds: Vec::new(),
        }
    }

    /// Only these kinds.
    #[must_use]
    pub fn with_kinds(mut self, kinds: Vec<EventKind>) -> Self {
        self.kinds = kinds;
        self
    }
}

impl fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("url", &self.url)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

/// A stored webhook, with the id of the last event delivered (or given
/// up on). `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookRecord {
    /// Its id.
    pub id: WebhookId,
    /// What was asked.
    pub spec: WebhookSpec,
    /// When it was created (Unix milliseconds).
    pub created_ms: u64,
    /// Every event up to this id was delivered or given up on; a webhook
    /// starts at the newest event when it is created.
    pub cursor: u64,
}

impl WebhookRecord {
    /// A record of these values.
    pub fn new(id: WebhookId, spec: WebhookSpec, created_ms: u64, cursor: u64) -> WebhookRecord {
        WebhookRecord {
            id,
            spec,
            created_ms,
            cursor,
        }
    }

    /// The filter of the events it delivers.
    pub fn filter(&self) -> EventFilter {
        EventFilter::default().with_kinds(self.spec.kinds.clone())
    }
}

impl fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("spec", &self.spec)
            .field("created_ms", &self.created_ms)
            .field("cursor", &self.cursor)
            .finish()
    }
}

/// Kinds as stored: their names, comma-separated.
pub(crate) fn kinds_text(kinds: &[EventKind]) -> String {
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

/// Kinds from their stored text (unknown names are skipped: a newer
/// node's kind).
pub(crate) fn kinds_of_text(text: &str) -> Vec<EventKind> {
    text.split(',').filter_map(EventKind::from_name).collect()
}
