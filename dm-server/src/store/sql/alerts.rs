//! Alerts a device sent, kept as their encoded JSON within the retention
//! (count and bytes, the oldest forgotten first).

use dm_types::DevId;

use super::locks::{existing, lock_existing};
use super::rows::opt_token_of;
use super::rows::{Columns as _, int};
use super::{Connection, Dialect, Value};
use crate::store::AlertRecord;
use crate::store::StoredAlert;
use crate::{Error, Retention};

/// An alert ready to store (encoded, `Data` truncated when oversized).
#[derive(Debug, Clone)]
pub(super) struct NewAlert {
    received_ms: u64,
    session: Option<[u8; 16]>,
    encoded: Vec<u8>,
}

/// Encodes alerts as the store keeps them (see [`Retention`]); an alert too
/// large even without its `Data` is dropped (logged).
pub(super) fn encode(
    dev_id: &DevId,
    alerts: Vec<AlertRecord>,
    retention: &Retention,
) -> Vec<NewAlert> {
    alerts
        .into_iter()
        .filter_map(|record| StoredAlert::new(dev_id, record, retention.alert_data_bytes))
        .map(|stored| NewAlert {
            received_ms: stored.received_ms,
            session: stored.session.map(|s| *s.as_bytes()),
            encoded: stored.encoded.into_vec(),
        })
        .collect()
}

/// See [`Store::record_alerts`](crate::Store::record_alerts).
pub(super) async fn record(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    alerts: &[NewAlert],
    retention: &Retention,
) -> Result<(), Error> {
    lock_existing(c, d, dev_id).await?;
    if alerts.is_empty() {
        return Ok(());
    }
    let rows = c
        .query(
            "SELECT id, CAST(length(encoded) AS BIGINT) FROM alerts WHERE dev_id = ? ORDER BY id",
            &[dev_id.as_str().into()],
        )
        .await?;
    let mut kept: Vec<(Option<i64>, usize)> = Vec::with_capacity(rows.len() + alerts.len());
    for row in &rows {
        kept.push((Some(row.i64(0, "alert id")?), row.usize(1, "alert size")?));
    }
    kept.extend(alerts.iter().map(|a| (None, a.encoded.len())));
    // The newest that fit: the longest suffix within count and bytes.
    let mut bytes = 0usize;
    let mut first = kept.len();
    while first > 0 {
        let size = kept[first - 1].1;
        if kept.len() - first + 1 > retention.alerts
            || bytes.saturating_add(size) > retention.alert_bytes
        {
            break;
        }
        bytes += size;
        first -= 1;
    }
    if let Some(last_dropped) = kept[..first].iter().filter_map(|(id, _)| *id).next_back() {
        c.execute(
            "DELETE FROM alerts WHERE dev_id = ? AND id <= ?",
            &[dev_id.as_str().into(), Value::Integer(last_dropped)],
        )
        .await?;
    }
    let new_first = first.saturating_sub(rows.len());
    for alert in &alerts[new_first..] {
        c.execute(
            "INSERT INTO alerts (dev_id, received_ms, session, encoded) VALUES (?, ?, ?, ?)",
            &[
                dev_id.as_str().into(),
                int(alert.received_ms),
                alert.session.as_ref().map(<[u8; 16]>::as_slice).into(),
                alert.encoded.as_slice().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// See [`Store::alerts`](crate::Store::alerts).
pub(super) async fn alerts(
    c: &mut dyn Connection,
    dev_id: &DevId,
) -> Result<Vec<AlertRecord>, Error> {
    existing(c, dev_id).await?;
    let rows = c
        .query(
            "SELECT received_ms, session, encoded FROM alerts WHERE dev_id = ? ORDER BY id",
            &[dev_id.as_str().into()],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let stored = StoredAlert {
            received_ms: row.u64(0, "alert time")?,
            session: opt_token_of(row, 1)?,
            encoded: row.blob(2, "alert")?.into_boxed_slice(),
        };
        out.push(
            stored
                .record()
                .ok_or_else(|| Error::store("read an alert", "it does not decode"))?,
        );
    }
    Ok(out)
}
