//! The MO instances of a device kept for caching (docs/protocol.md section
//! 8), within the retention's count and bytes, the least recently received
//! forgotten first.

use dm_session::CachedInstance;
use dm_types::{DevId, Miid, Moid};

use super::locks::{existing, lock_existing};
use super::rows::Columns as _;
use super::{Connection, Dialect, Value};
use crate::store::KeptInstance;
use crate::{Error, Retention};

/// An instance ready to store: its MOID, MIID and MO serialization.
#[derive(Debug, Clone)]
pub(super) struct NewInstance {
    moid: String,
    miid: String,
    encoded: Vec<u8>,
}

/// Encodes instances as the store keeps them.
pub(super) fn encode(instances: &[CachedInstance]) -> Vec<NewInstance> {
    instances
        .iter()
        .map(|instance| {
            let kept = KeptInstance::new(instance);
            NewInstance {
                moid: instance.moid.as_str().to_owned(),
                miid: instance.miid.as_str().to_owned(),
                encoded: kept.encoded.into_vec(),
            }
        })
        .collect()
}

/// See [`Store::record_cached_instances`](crate::Store::record_cached_instances).
pub(super) async fn record(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    instances: &[NewInstance],
    retention: &Retention,
) -> Result<(), Error> {
    lock_existing(c, d, dev_id).await?;
    if instances.is_empty() {
        return Ok(());
    }
    let rows = c
        .query(
            "SELECT id, moid, miid, CAST(length(encoded) AS BIGINT) FROM cached_instances \
             WHERE dev_id = ? ORDER BY id",
            &[dev_id.as_str().into()],
        )
        .await?;
    // What is kept, least recently received first: a stored row (its id)
    // or one of `instances` (its index), as `Cache::keep` does it.
    let mut kept: Vec<(Result<i64, usize>, String, String, usize)> = Vec::new();
    for row in &rows {
        kept.push((
            Ok(row.i64(0, "instance id")?),
            row.text(1, "MOID")?,
            row.text(2, "MIID")?,
            row.usize(3, "instance size")?,
        ));
    }
    let mut bytes: usize = kept.iter().map(|k| k.3).sum();
    for (index, instance) in instances.iter().enumerate() {
        if let Some(i) = kept
            .iter()
            .position(|k| k.1 == instance.moid && k.2 == instance.miid)
        {
            bytes = bytes.saturating_sub(kept.remove(i).3);
        }
        if retention.cached_instances == 0 {
            continue;
        }
        if instance.encoded.len() > retention.cache_bytes {
            tracing::warn!(
                %dev_id,
                moid = %instance.moid,
                miid = %instance.miid,
                bytes = instance.encoded.len(),
                max_bytes = retention.cache_bytes,
                "MO instance too large to keep for caching"
            );
            continue;
        }
        bytes = bytes.saturating_add(instance.encoded.len());
        kept.push((
            Err(index),
            instance.moid.clone(),
            instance.miid.clone(),
            instance.encoded.len(),
        ));
        while kept.len() > retention.cached_instances || bytes > retention.cache_bytes {
            if kept.is_empty() {
                break;
            }
            bytes = bytes.saturating_sub(kept.remove(0).3);
        }
    }
    // Every stored row not kept goes (replaced ones included).
    for row in &rows {
        let id = row.i64(0, "instance id")?;
        if !kept.iter().any(|k| k.0 == Ok(id)) {
            c.execute(
                "DELETE FROM cached_instances WHERE id = ?",
                &[Value::Integer(id)],
            )
            .await?;
        }
    }
    for (which, _, _, _) in &kept {
        let Err(index) = which else {
            continue;
        };
        let instance = &instances[*index];
        c.execute(
            "INSERT INTO cached_instances (dev_id, moid, miid, encoded) VALUES (?, ?, ?, ?)",
            &[
                dev_id.as_str().into(),
                instance.moid.as_str().into(),
                instance.miid.as_str().into(),
                instance.encoded.as_slice().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// See [`Store::cached_instance`](crate::Store::cached_instance).
pub(super) async fn instance(
    c: &mut dyn Connection,
    dev_id: &DevId,
    moid: &Moid,
    miid: &Miid,
) -> Result<Option<CachedInstance>, Error> {
    existing(c, dev_id).await?;
    let rows = c
        .query(
            "SELECT encoded FROM cached_instances WHERE dev_id = ? AND moid = ? AND miid = ?",
            &[
                dev_id.as_str().into(),
                moid.as_str().into(),
                miid.as_str().into(),
            ],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let kept = KeptInstance {
        moid: moid.clone(),
        miid: miid.clone(),
        encoded: row.blob(0, "cached instance")?.into_boxed_slice(),
    };
    Ok(kept.instance())
}
