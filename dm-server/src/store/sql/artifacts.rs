//! Artifacts (their record as JSON, their content in chunks of
//! [`ARTIFACT_CHUNK`] bytes), device groups, and the tags and DevInfo
//! values of devices.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use dm_types::DevId;

use super::locks::lock_existing;
use super::rows::{Columns as _, from_json, int, json};
use super::{Connection, Dialect, Value};
use crate::Error;
use crate::store::{
    ARTIFACT_CHUNK, ArtifactId, ArtifactRecord, CampaignSpec, GroupId, GroupRecord, Tag,
    check_content, clamp_range,
};

/// [`ARTIFACT_CHUNK`] as a `u64`.
const CHUNK: u64 = ARTIFACT_CHUNK as u64;

/// See [`Store::put_artifact`](crate::Store::put_artifact): the record
/// upserted first (which serializes writers of the same id), then the
/// chunks replaced.
pub(super) async fn put(
    c: &mut dyn Connection,
    d: Dialect,
    record: &ArtifactRecord,
    content: Option<&Bytes>,
) -> Result<bool, Error> {
    check_content(record, content.map(|b| &b[..]))?;
    let id: Value = record.id.as_str().into();
    let sql = format!("SELECT id FROM artifacts WHERE id = ?{}", d.for_update());
    let replaced = !c.query(&sql, std::slice::from_ref(&id)).await?.is_empty();
    if replaced && unfinished_use(c, |s| s.artifact == record.id).await? {
        return Err(Error::ArtifactInUse(record.id.clone()));
    }
    c.execute(
        "INSERT INTO artifacts (id, record) VALUES (?, ?) \
         ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        &[id.clone(), json("artifact", record)?],
    )
    .await?;
    c.execute(
        "DELETE FROM artifact_chunks WHERE artifact = ?",
        std::slice::from_ref(&id),
    )
    .await?;
    if let Some(content) = content {
        for (idx, chunk) in content.chunks(ARTIFACT_CHUNK).enumerate() {
            c.execute(
                "INSERT INTO artifact_chunks (artifact, idx, data) VALUES (?, ?, ?)",
                &[
                    id.clone(),
                    Value::Integer(i64::try_from(idx).unwrap_or(i64::MAX)),
                    chunk.into(),
                ],
            )
            .await?;
        }
    }
    Ok(replaced)
}

/// See [`Store::artifact`](crate::Store::artifact).
pub(super) async fn artifact(
    c: &mut dyn Connection,
    id: &ArtifactId,
) -> Result<Option<ArtifactRecord>, Error> {
    let rows = c
        .query(
            "SELECT record FROM artifacts WHERE id = ?",
            &[id.as_str().into()],
        )
        .await?;
    rows.first()
        .map(|row| from_json("artifact", &row.text(0, "artifact")?))
        .transpose()
}

/// See [`Store::artifacts`](crate::Store::artifacts).
pub(super) async fn artifacts(c: &mut dyn Connection) -> Result<Vec<ArtifactRecord>, Error> {
    let rows = c
        .query("SELECT record FROM artifacts ORDER BY id", &[])
        .await?;
    rows.iter()
        .map(|row| from_json("artifact", &row.text(0, "artifact")?))
        .collect()
}

/// See [`Store::artifact_range`](crate::Store::artifact_range): reads only
/// the chunks the range touches.
pub(super) async fn range(
    c: &mut dyn Connection,
    id: &ArtifactId,
    start: u64,
    end: u64,
) -> Result<Option<Bytes>, Error> {
    let Some(record) = artifact(c, id).await? else {
        return Ok(None);
    };
    if record.source != crate::ArtifactSource::Stored {
        return Ok(None);
    }
    let (start, end) = clamp_range(record.size, start, end);
    if start == end {
        return Ok(Some(Bytes::new()));
    }
    let (first, last) = (start / CHUNK, (end - 1) / CHUNK);
    let rows = c
        .query(
            "SELECT idx, data FROM artifact_chunks WHERE artifact = ? AND idx >= ? AND idx <= ? \
             ORDER BY idx",
            &[id.as_str().into(), int(first), int(last)],
        )
        .await?;
    let mut out = BytesMut::with_capacity(usize::try_from(end - start).unwrap_or(0));
    let (mut at, mut expected) = (start, first);
    for row in &rows {
        let idx = row.u64(0, "chunk index")?;
        let data = row.blob(1, "chunk")?;
        if idx != expected {
            return Err(Error::store("read an artifact", "a chunk is missing"));
        }
        let chunk_start = idx * CHUNK;
        let from = usize::try_from(at - chunk_start).unwrap_or(usize::MAX);
        let to = end.min(chunk_start + CHUNK) - chunk_start;
        let Some(part) = data.get(from..usize::try_from(to).unwrap_or(usize::MAX)) else {
            return Err(Error::store("read an artifact", "a chunk is too short"));
        };
        out.extend_from_slice(part);
        at = chunk_start + to;
        expected += 1;
    }
    if at != end {
        return Err(Error::store("read an artifact", "a chunk is missing"));
    }
    Ok(Some(out.freeze()))
}

/// See [`Store::remove_artifact`](crate::Store::remove_artifact).
pub(super) async fn remove(c: &mut dyn Connection, id: &ArtifactId) -> Result<bool, Error> {
    if unfinished_use(c, |s| s.artifact == *id).await? {
        return Err(Error::ArtifactInUse(id.clone()));
    }
    let id: Value = id.as_str().into();
    c.execute(
        "DELETE FROM artifact_chunks WHERE artifact = ?",
        std::slice::from_ref(&id),
    )
    .await?;
    Ok(c.execute("DELETE FROM artifacts WHERE id = ?", &[id])
        .await?
        > 0)
}

/// Whether the spec of an unfinished campaign meets `uses` (there are few
/// unfinished campaigns: their specs are read and tested here).
async fn unfinished_use(
    c: &mut dyn Connection,
    uses: impl Fn(&CampaignSpec) -> bool,
) -> Result<bool, Error> {
    let rows = c
        .query("SELECT spec FROM campaigns WHERE finished = 0", &[])
        .await?;
    for row in &rows {
        let spec: CampaignSpec = from_json("campaign", &row.text(0, "spec")?)?;
        if uses(&spec) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// See [`Store::put_group`](crate::Store::put_group).
pub(super) async fn put_group(
    c: &mut dyn Connection,
    d: Dialect,
    group: &GroupRecord,
) -> Result<bool, Error> {
    let id: Value = group.id.as_str().into();
    let sql = format!(
        "SELECT id FROM device_groups WHERE id = ?{}",
        d.for_update()
    );
    let replaced = !c.query(&sql, std::slice::from_ref(&id)).await?.is_empty();
    c.execute(
        "INSERT INTO device_groups (id, record) VALUES (?, ?) \
         ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        &[id, json("group", group)?],
    )
    .await?;
    Ok(replaced)
}

/// See [`Store::group`](crate::Store::group).
pub(super) async fn group(
    c: &mut dyn Connection,
    id: &GroupId,
) -> Result<Option<GroupRecord>, Error> {
    let rows = c
        .query(
            "SELECT record FROM device_groups WHERE id = ?",
            &[id.as_str().into()],
        )
        .await?;
    rows.first()
        .map(|row| from_json("group", &row.text(0, "group")?))
        .transpose()
}

/// See [`Store::groups`](crate::Store::groups).
pub(super) async fn groups(c: &mut dyn Connection) -> Result<Vec<GroupRecord>, Error> {
    let rows = c
        .query("SELECT record FROM device_groups ORDER BY id", &[])
        .await?;
    rows.iter()
        .map(|row| from_json("group", &row.text(0, "group")?))
        .collect()
}

/// See [`Store::remove_group`](crate::Store::remove_group).
pub(super) async fn remove_group(c: &mut dyn Connection, id: &GroupId) -> Result<bool, Error> {
    if unfinished_use(c, |s| s.uses_group(id)).await? {
        return Err(Error::GroupInUse(id.clone()));
    }
    Ok(c.execute(
        "DELETE FROM device_groups WHERE id = ?",
        &[id.as_str().into()],
    )
    .await?
        > 0)
}

/// See [`Store::set_device_tags`](crate::Store::set_device_tags).
pub(super) async fn set_tags(
    c: &mut dyn Connection,
    dev_id: &DevId,
    tags: &BTreeSet<Tag>,
) -> Result<(), Error> {
    let value = if tags.is_empty() {
        Value::Null
    } else {
        json("tags", tags)?
    };
    let changed = c
        .execute(
            "UPDATE devices SET tags = ? WHERE dev_id = ?",
            &[value, dev_id.as_str().into()],
        )
        .await?;
    if changed == 0 {
        return Err(Error::DeviceNotFound(dev_id.clone()));
    }
    Ok(())
}

/// See [`Store::record_devinfo`](crate::Store::record_devinfo): the
/// device's row locked, its values read, merged and written back.
pub(super) async fn record_devinfo(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    values: &BTreeMap<String, String>,
) -> Result<(), Error> {
    lock_existing(c, d, dev_id).await?;
    if values.is_empty() {
        return Ok(());
    }
    let rows = c
        .query(
            "SELECT devinfo FROM devices WHERE dev_id = ?",
            &[dev_id.as_str().into()],
        )
        .await?;
    let mut devinfo: BTreeMap<String, String> = match rows
        .first()
        .map(|row| row.opt_text(0, "DevInfo values"))
        .transpose()?
        .flatten()
    {
        Some(text) => from_json("DevInfo values", &text)?,
        None => BTreeMap::new(),
    };
    let before = devinfo.clone();
    devinfo.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    if devinfo != before {
        c.execute(
            "UPDATE devices SET devinfo = ? WHERE dev_id = ?",
            &[json("DevInfo values", &devinfo)?, dev_id.as_str().into()],
        )
        .await?;
    }
    Ok(())
}
