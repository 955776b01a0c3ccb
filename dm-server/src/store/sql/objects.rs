//! Repository objects and the bounds of what a device owns (count and
//! bytes), a refused write changing nothing.

use dm_types::DevId;

use super::locks::lock;
use super::rows::dev_id_of;
use super::rows::{Columns as _, count, int, scalar};
use super::{Connection, Dialect, Row, Value};
use crate::store::{ObjectOwner, RepositoryObject};
use crate::{Error, Retention};

fn owner_value(owner: &ObjectOwner) -> Value {
    match owner {
        ObjectOwner::Server => Value::Null,
        ObjectOwner::Device(dev_id) => dev_id.as_str().into(),
    }
}

/// How many objects a device owns and their body bytes.
async fn owned(c: &mut dyn Connection, dev_id: &DevId) -> Result<(usize, usize), Error> {
    let rows = c
        .query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM objects WHERE owner = ?",
            &[dev_id.as_str().into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok((0, 0));
    };
    Ok((row.usize(0, "objects")?, row.usize(1, "object bytes")?))
}

/// The owner (`None` for the server) and body bytes of the object at
/// `path`, if any, its row locked for the rest of the transaction.
async fn owned_at(
    c: &mut dyn Connection,
    d: Dialect,
    path: &str,
) -> Result<Option<(Option<DevId>, usize)>, Error> {
    let sql = format!(
        "SELECT owner, bytes FROM objects WHERE path = ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[path.into()]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some((owner_column(row, 0)?, row.usize(1, "object bytes")?)))
}

/// An object's owner column: `None` (`NULL`) for the server.
fn owner_column(row: &Row, i: usize) -> Result<Option<DevId>, Error> {
    match row.opt_text(i, "object owner")? {
        Some(_) => Ok(Some(dev_id_of(row, i)?)),
        None => Ok(None),
    }
}

fn owner_of(owner: Option<DevId>) -> ObjectOwner {
    owner.map_or(ObjectOwner::Server, ObjectOwner::Device)
}

/// See [`Store::put_object`](crate::Store::put_object).
pub(super) async fn put(
    c: &mut dyn Connection,
    d: Dialect,
    path: &str,
    object: &RepositoryObject,
    retention: &Retention,
) -> Result<bool, Error> {
    // The new owner's row first, then the object's.
    let device = match &object.owner {
        ObjectOwner::Device(dev_id) if lock(c, d, dev_id).await? => Some(dev_id),
        _ => None,
    };
    let previous = owned_at(c, d, path).await?;
    if let Some((owner, _)) = &previous
        && object.owner != ObjectOwner::Server
        && owner_of(owner.clone()) != object.owner
    {
        return Err(Error::ObjectOwned {
            path: path.to_owned(),
        });
    }
    if let Some(dev_id) = device {
        let (objects, bytes) = owned(c, dev_id).await?;
        let replaced = previous
            .as_ref()
            .filter(|(owner, _)| owner.as_ref() == Some(dev_id))
            .map(|(_, bytes)| *bytes);
        let objects = u32::try_from(objects).unwrap_or(u32::MAX);
        if replaced.is_none() && objects >= retention.objects_per_device {
            return Err(Error::TooManyObjects {
                dev_id: dev_id.clone(),
                objects,
            });
        }
        let total = bytes
            .saturating_sub(replaced.unwrap_or(0))
            .saturating_add(object.body.len());
        if total > retention.repository_bytes {
            return Err(Error::InsufficientStorage {
                dev_id: dev_id.clone(),
                bytes: total,
                allowed: retention.repository_bytes,
            });
        }
    }
    let params = [
        owner_value(&object.owner),
        object.body.as_str().into(),
        count(object.body.len()),
        int(object.updated_ms),
        path.into(),
    ];
    if previous.is_some() {
        c.execute(
            "UPDATE objects SET owner = ?, body = ?, bytes = ?, updated_ms = ? WHERE path = ?",
            &params,
        )
        .await?;
    } else {
        c.execute(
            "INSERT INTO objects (owner, body, bytes, updated_ms, path) VALUES (?, ?, ?, ?, ?)",
            &params,
        )
        .await?;
    }
    Ok(previous.is_none())
}

/// See [`Store::repository_room`](crate::Store::repository_room).
pub(super) async fn room(
    c: &mut dyn Connection,
    dev_id: &DevId,
    path: &str,
    retention: &Retention,
) -> Result<Option<usize>, Error> {
    let exists = c
        .query(
            "SELECT dev_id FROM devices WHERE dev_id = ?",
            &[dev_id.as_str().into()],
        )
        .await?;
    if exists.is_empty() {
        return Ok(None);
    }
    let (_, bytes) = owned(c, dev_id).await?;
    let rows = c
        .query(
            "SELECT bytes FROM objects WHERE path = ? AND owner = ?",
            &[path.into(), dev_id.as_str().into()],
        )
        .await?;
    let replaced = usize::try_from(scalar(&rows, "object bytes")?).unwrap_or(0);
    let kept = bytes.saturating_sub(replaced);
    Ok(Some(retention.repository_bytes.saturating_sub(kept)))
}

/// See [`Store::object`](crate::Store::object).
pub(super) async fn object(
    c: &mut dyn Connection,
    path: &str,
) -> Result<Option<RepositoryObject>, Error> {
    let rows = c
        .query(
            "SELECT owner, body, updated_ms FROM objects WHERE path = ?",
            &[path.into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(RepositoryObject::new(
        row.text(1, "object")?,
        owner_of(owner_column(row, 0)?),
        row.u64(2, "object time")?,
    )))
}

/// See [`Store::delete_object`](crate::Store::delete_object).
pub(super) async fn delete(c: &mut dyn Connection, path: &str) -> Result<bool, Error> {
    Ok(
        c.execute("DELETE FROM objects WHERE path = ?", &[path.into()])
            .await?
            > 0,
    )
}

/// See [`Store::server_key`](crate::Store::server_key): `fresh` is kept
/// unless a key is already.
pub(super) async fn server_key(
    c: &mut dyn Connection,
    fresh: &[u8; 32],
) -> Result<[u8; 32], Error> {
    c.execute(
        "INSERT INTO secrets (name, value) VALUES ('server_key', ?) ON CONFLICT (name) DO NOTHING",
        &[fresh.as_slice().into()],
    )
    .await?;
    let rows = c
        .query("SELECT value FROM secrets WHERE name = 'server_key'", &[])
        .await?;
    rows.first()
        .map(|row| row.opt_array::<32>(0, "server key"))
        .transpose()?
        .flatten()
        .ok_or_else(|| Error::store("read the server key", "missing"))
}
