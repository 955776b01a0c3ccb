//! The Digest nonces and nonce counts a device used most recently.

use dm_types::DevId;

use super::rows::{Columns as _, int};
use super::{Connection, Dialect, Value};
use crate::Error;
use crate::store::DIGEST_NONCES_PER_DEVICE;

/// See [`Store::use_digest_nonce`](crate::Store::use_digest_nonce): the
/// device's most recent nonces are kept with their highest count (the
/// counts survive restarts); a nonce issued no later than one forgotten is
/// refused.
pub(super) async fn use_nonce(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    nonce: &str,
    issued_ms: u64,
    nc: u32,
) -> Result<bool, Error> {
    let sql = format!(
        "SELECT digest_floor_ms FROM devices WHERE dev_id = ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[dev_id.as_str().into()]).await?;
    let Some(row) = rows.first() else {
        return Err(Error::DeviceNotFound(dev_id.clone()));
    };
    let mut floor = row.u64(0, "nonce floor")?;
    let id: Value = dev_id.as_str().into();
    let nc = Value::Integer(i64::from(nc));
    // Used before: only a greater count.
    let changed = c
        .execute(
            "UPDATE digest_nonces SET last_nc = ? WHERE dev_id = ? AND nonce = ? AND last_nc < ?",
            &[nc.clone(), id.clone(), nonce.into(), nc.clone()],
        )
        .await?;
    if changed > 0 {
        return Ok(true);
    }
    let known = c
        .query(
            "SELECT nonce, issued_ms FROM digest_nonces WHERE dev_id = ?",
            std::slice::from_ref(&id),
        )
        .await?;
    let mut oldest: Option<(String, u64)> = None;
    for row in &known {
        let (name, issued) = (row.text(0, "nonce")?, row.u64(1, "nonce issue time")?);
        if name == nonce {
            return Ok(false);
        }
        if oldest.as_ref().is_none_or(|(_, o)| issued < *o) {
            oldest = Some((name, issued));
        }
    }
    if issued_ms <= floor {
        return Ok(false);
    }
    if known.len() >= DIGEST_NONCES_PER_DEVICE
        && let Some((name, issued)) = oldest
    {
        c.execute(
            "DELETE FROM digest_nonces WHERE dev_id = ? AND nonce = ?",
            &[id.clone(), name.into()],
        )
        .await?;
        floor = floor.max(issued);
        c.execute(
            "UPDATE devices SET digest_floor_ms = ? WHERE dev_id = ?",
            &[int(floor), id.clone()],
        )
        .await?;
    }
    c.execute(
        "INSERT INTO digest_nonces (dev_id, nonce, issued_ms, last_nc) VALUES (?, ?, ?, ?)",
        &[id, nonce.into(), int(issued_ms), nc],
    )
    .await?;
    Ok(true)
}
