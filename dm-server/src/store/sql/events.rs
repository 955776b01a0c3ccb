//! Events and webhooks: the `events` table, its one-row `event_marks`
//! (newest id given, newest id pruned) and `webhooks`.
//!
//! An append first moves `event_marks.newest` on by the number of its
//! events and numbers them from there: on PostgreSQL the row lock it takes
//! holds every other append (of every node) until it commits, so ids
//! commit in their order and a reader that has read up to id `n` never
//! finds an id `<= n` later (no id "commits late"). SQLite has one writer
//! at a time anyway.

use dm_types::DevId;

use super::rows::{Columns as _, count, int, placeholders, scalar};
use super::{Connection, Row, Value};
use crate::Error;
use crate::store::{
    EventBounds, EventFilter, EventKind, EventRecord, NewEvent, WebhookId, WebhookRecord,
    WebhookSpec, kinds_of_text, kinds_text,
};

/// Events per `INSERT` (5 parameters each).
const BATCH_ROWS: usize = 500;

const EVENT: &str = "id, kind, at_ms, dev_id, data";
const WEBHOOK: &str = "id, url, secret, kinds, created_ms, cursor";

pub(super) async fn append(c: &mut dyn Connection, events: Vec<NewEvent>) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = c
        .query(
            "UPDATE event_marks SET newest = newest + ? RETURNING newest",
            &[count(events.len())],
        )
        .await?;
    let newest = u64::try_from(scalar(&rows, "the newest event id")?).unwrap_or(0);
    let mut id = newest.saturating_sub(events.len() as u64);
    for chunk in events.chunks(BATCH_ROWS) {
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for event in chunk {
            id += 1;
            params.push(int(id));
            params.push(event.kind.name().into());
            params.push(int(event.at_ms));
            params.push(event.dev_id.as_ref().map(DevId::as_str).into());
            params.push(event.data.as_str().into());
        }
        let values = vec![format!("({})", placeholders(5)); chunk.len()].join(", ");
        c.execute(
            &format!("INSERT INTO events ({EVENT}) VALUES {values}"),
            &params,
        )
        .await?;
    }
    Ok(())
}

fn event_of(row: &Row) -> Result<Option<EventRecord>, Error> {
    // A kind this program does not know (a newer node's) is skipped.
    let Some(kind) = EventKind::from_name(&row.text(1, "event kind")?) else {
        return Ok(None);
    };
    let dev_id = row
        .opt_text(3, "event device")?
        .map(|text| DevId::new(text).map_err(|e| Error::store("read an event", e)))
        .transpose()?;
    let event = NewEvent::new(
        kind,
        row.u64(2, "event time")?,
        dev_id,
        row.text(4, "event data")?,
    );
    Ok(Some(EventRecord::new(row.u64(0, "event id")?, event)))
}

pub(super) async fn after(
    c: &mut dyn Connection,
    after: u64,
    limit: usize,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, Error> {
    let mut sql = format!("SELECT {EVENT} FROM events WHERE id > ?");
    let mut params = vec![int(after)];
    if !filter.kinds.is_empty() {
        sql.push_str(" AND kind IN (");
        sql.push_str(&placeholders(filter.kinds.len()));
        sql.push(')');
        params.extend(filter.kinds.iter().map(|k| Value::from(k.name())));
    }
    if let Some(dev_id) = &filter.dev_id {
        sql.push_str(" AND dev_id = ?");
        params.push(dev_id.as_str().into());
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    params.push(count(limit));
    let rows = c.query(&sql, &params).await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        events.extend(event_of(row)?);
    }
    Ok(events)
}

pub(super) async fn bounds(c: &mut dyn Connection) -> Result<EventBounds, Error> {
    let rows = c
        .query("SELECT newest, pruned_through FROM event_marks", &[])
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::store("read the event marks", "no row"))?;
    Ok(EventBounds::new(
        row.u64(0, "newest event")?,
        row.u64(1, "pruned events")?,
    ))
}

pub(super) async fn prune(c: &mut dyn Connection, keep: u64, before_ms: u64) -> Result<u64, Error> {
    let marks = bounds(c).await?;
    let by_count = marks.newest.saturating_sub(keep);
    let rows = c
        .query(
            "SELECT MAX(id) FROM events WHERE at_ms < ?",
            &[int(before_ms)],
        )
        .await?;
    let by_age = u64::try_from(scalar(&rows, "the newest old event")?).unwrap_or(0);
    let through = by_count.max(by_age);
    if through <= marks.pruned_through {
        return Ok(0);
    }
    let removed = c
        .execute("DELETE FROM events WHERE id <= ?", &[int(through)])
        .await?;
    c.execute(
        "UPDATE event_marks SET pruned_through = ? WHERE pruned_through < ?",
        &[int(through), int(through)],
    )
    .await?;
    Ok(removed)
}

fn webhook_of(row: &Row) -> Result<WebhookRecord, Error> {
    let spec = WebhookSpec::new(row.text(1, "webhook URL")?, row.text(2, "webhook secret")?)
        .with_kinds(kinds_of_text(&row.text(3, "webhook kinds")?));
    Ok(WebhookRecord::new(
        WebhookId(row.u64(0, "webhook id")?),
        spec,
        row.u64(4, "webhook creation")?,
        row.u64(5, "webhook cursor")?,
    ))
}

pub(super) async fn create_webhook(
    c: &mut dyn Connection,
    spec: &WebhookSpec,
    now_ms: u64,
) -> Result<WebhookRecord, Error> {
    let rows = c
        .query(
            &format!(
                "INSERT INTO webhooks (url, secret, kinds, created_ms, cursor) \
                 SELECT ?, ?, ?, ?, newest FROM event_marks RETURNING {WEBHOOK}"
            ),
            &[
                spec.url.as_str().into(),
                spec.secret.as_str().into(),
                kinds_text(&spec.kinds).into(),
                int(now_ms),
            ],
        )
        .await?;
    webhook_of(
        rows.first()
            .ok_or_else(|| Error::store("create a webhook", "no row"))?,
    )
}

pub(super) async fn webhooks(c: &mut dyn Connection) -> Result<Vec<WebhookRecord>, Error> {
    let rows = c
        .query(&format!("SELECT {WEBHOOK} FROM webhooks ORDER BY id"), &[])
        .await?;
    rows.iter().map(webhook_of).collect()
}

pub(super) async fn remove_webhook(c: &mut dyn Connection, id: WebhookId) -> Result<bool, Error> {
    Ok(c.execute("DELETE FROM webhooks WHERE id = ?", &[int(id.0)])
        .await?
        > 0)
}

pub(super) async fn lease_webhook(
    c: &mut dyn Connection,
    id: WebhookId,
    node: &str,
    now_ms: u64,
    until_ms: u64,
) -> Result<Option<WebhookRecord>, Error> {
    let rows = c
        .query(
            &format!(
                "UPDATE webhooks SET lease_node = ?, lease_until_ms = ? \
                 WHERE id = ? AND (lease_node IS NULL OR lease_node = ? OR lease_until_ms <= ?) \
                 RETURNING {WEBHOOK}"
            ),
            &[
                node.into(),
                int(until_ms),
                int(id.0),
                node.into(),
                int(now_ms),
            ],
        )
        .await?;
    rows.first().map(webhook_of).transpose()
}

pub(super) async fn advance_webhook(
    c: &mut dyn Connection,
    id: WebhookId,
    node: &str,
    cursor: u64,
) -> Result<bool, Error> {
    Ok(c.execute(
        "UPDATE webhooks SET cursor = CASE WHEN cursor < ? THEN ? ELSE cursor END \
             WHERE id = ? AND lease_node = ?",
        &[int(cursor), int(cursor), int(id.0), node.into()],
    )
    .await?
        > 0)
}
