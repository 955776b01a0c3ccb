//! What a subscriber asks for: [`parse_event_request`] reads the query of
//! `GET /admin/events` and its `Last-Event-ID` header.

use serde::Deserialize;

use dm_types::DevId;

use crate::Error;
use crate::store::{EventFilter, EventKind};

/// Longest query string read.
const MAX_QUERY_BYTES: usize = 4096;

/// Longest `Last-Event-ID` read (a `u64` has at most 20 digits).
const MAX_EVENT_ID_BYTES: usize = 20;

/// A subscription: which events, and after which id to resume (`None`:
/// from now on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRequest {
    /// The kinds and device wanted.
    pub filter: EventFilter,
    /// Resume after this id.
    pub since: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    kinds: Option<String>,
    dev_id: Option<String>,
    since: Option<String>,
}

fn invalid(problem: impl Into<String>) -> Error {
    Error::InvalidEventRequest {
        problem: problem.into(),
    }
}

/// An event id: decimal digits of a `u64`.
fn event_id(text: &str, what: &str) -> Result<u64, Error> {
    if text.is_empty()
        || text.len() > MAX_EVENT_ID_BYTES
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid(format!("{what} is not an event id")));
    }
    text.parse()
        .map_err(|_| invalid(format!("{what} is not an event id")))
}

/// Reads a subscription from the query of `GET /admin/events`
/// (`kinds=<name>,<name>`, `dev_id=<DevID>`, `since=<id>`; each at most
/// once, nothing else) and its `Last-Event-ID` header, which wins over
/// `since` (a browser's `EventSource` sends it when it reconnects to the
/// URL it started with). [`Error::InvalidEventRequest`] for anything else.
///
/// ```
/// use dm_server::{EventKind, parse_event_request};
///
/// let request = parse_event_request(Some("kinds=alert.received,session.ended&dev_id=IMEI%3A1&since=7"), None)?;
/// assert_eq!(request.filter.kinds, vec![EventKind::AlertReceived, EventKind::SessionEnded]);
/// assert_eq!(request.filter.dev_id.as_ref().map(|d| d.as_str()), Some("IMEI:1"));
/// assert_eq!(request.since, Some(7));
/// assert_eq!(parse_event_request(Some("since=7"), Some(b"9"))?.since, Some(9));
/// assert!(parse_event_request(Some("kinds=nope"), None).is_err());
/// assert!(parse_event_request(None, Some(b"-1")).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_event_request(
    query: Option<&str>,
    last_event_id: Option<&[u8]>,
) -> Result<EventRequest, Error> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_BYTES {
        return Err(invalid(format!(
            "the query is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let parsed: Query = serde_urlencoded_query(query)?;
    let mut filter = EventFilter::default();
    if let Some(kinds) = parsed.kinds.as_deref().filter(|k| !k.is_empty()) {
        for name in kinds.split(',') {
            let kind = EventKind::from_name(name).ok_or_else(|| {
                invalid(format!(
                    "kind {:?} is not one of {}",
                    name.chars().take(64).collect::<String>(),
                    EventKind::ALL.map(EventKind::name).join(", ")
                ))
            })?;
            if !filter.kinds.contains(&kind) {
                filter.kinds.push(kind);
            }
        }
    }
    if let Some(dev_id) = parsed.dev_id {
        filter.dev_id = Some(DevId::new(dev_id).map_err(|e| invalid(format!("dev_id: {e}")))?);
    }
    let mut since = parsed
        .since
        .as_deref()
        .map(|s| event_id(s, "since"))
        .transpose()?;
    if let Some(header) = last_event_id {
        let text = std::str::from_utf8(header)
            .map_err(|_| invalid("Last-Event-ID is not an event id"))?
            .trim();
        if !text.is_empty() {
            since = Some(event_id(text, "Last-Event-ID")?);
        }
    }
    Ok(EventRequest { filter, since })
}

/// The query's members (percent-decoded), each at most once.
fn serde_urlencoded_query(query: &str) -> Result<Query, Error> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| invalid("the query is not a valid URI query"))?;
    axum::extract::Query::<Query>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| invalid(format!("query: {}", e.body_text())))
}
