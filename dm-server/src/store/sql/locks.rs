//! The row lock every write about a device starts with, and the check that
//! a device exists.

use dm_types::DevId;

use super::{Connection, Dialect};
use crate::Error;

/// Locks a device's row for the rest of the transaction (on PostgreSQL; a
/// SQLite write transaction holds the database) and says whether it exists.
pub(super) async fn lock(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
) -> Result<bool, Error> {
    let sql = format!(
        "SELECT dev_id FROM devices WHERE dev_id = ?{}",
        d.for_update()
    );
    Ok(!c.query(&sql, &[dev_id.as_str().into()]).await?.is_empty())
}

/// [`lock`], a missing device being [`Error::DeviceNotFound`].
pub(super) async fn lock_existing(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
) -> Result<(), Error> {
    if lock(c, d, dev_id).await? {
        Ok(())
    } else {
        Err(Error::DeviceNotFound(dev_id.clone()))
    }
}

/// Whether a device exists ([`Error::DeviceNotFound`] if not), without a lock.
pub(super) async fn existing(c: &mut dyn Connection, dev_id: &DevId) -> Result<(), Error> {
    let rows = c
        .query(
            "SELECT dev_id FROM devices WHERE dev_id = ?",
            &[dev_id.as_str().into()],
        )
        .await?;
    if rows.is_empty() {
        Err(Error::DeviceNotFound(dev_id.clone()))
    } else {
        Ok(())
    }
}
