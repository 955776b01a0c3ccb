//! API keys, each as its JSON record (the SHA-256 of the secret, never the
//! secret) in `api_keys`.

use super::rows::{Columns as _, from_json, json};
use super::{Connection, Dialect, Value};
use crate::Error;
use crate::store::{ApiKeyId, ApiKeyRecord};

/// See [`Store::put_api_key`](crate::Store::put_api_key).
pub(super) async fn put(c: &mut dyn Connection, key: &ApiKeyRecord) -> Result<bool, Error> {
    let added = c
        .execute(
            "INSERT INTO api_keys (id, record) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
            &[key.id.as_str().into(), json("API key", key)?],
        )
        .await?;
    Ok(added > 0)
}

/// The key `id`, locked for update when `lock` is set.
async fn read(
    c: &mut dyn Connection,
    id: &ApiKeyId,
    lock: Option<Dialect>,
) -> Result<Option<ApiKeyRecord>, Error> {
    let sql = format!(
        "SELECT record FROM api_keys WHERE id = ?{}",
        lock.map_or("", Dialect::for_update)
    );
    let rows = c.query(&sql, &[id.as_str().into()]).await?;
    rows.first()
        .map(|row| from_json("API key", &row.text(0, "API key")?))
        .transpose()
}

/// See [`Store::api_key`](crate::Store::api_key).
pub(super) async fn get(
    c: &mut dyn Connection,
    id: &ApiKeyId,
) -> Result<Option<ApiKeyRecord>, Error> {
    read(c, id, None).await
}

/// See [`Store::api_keys`](crate::Store::api_keys).
pub(super) async fn all(c: &mut dyn Connection) -> Result<Vec<ApiKeyRecord>, Error> {
    let rows = c
        .query("SELECT record FROM api_keys ORDER BY id", &[])
        .await?;
    rows.iter()
        .map(|row| from_json("API key", &row.text(0, "API key")?))
        .collect()
}

/// Reads the key `id` under a lock, changes it with `change` and writes it
/// back; `false` when there is none.
async fn update(
    c: &mut dyn Connection,
    d: Dialect,
    id: &ApiKeyId,
    change: impl FnOnce(&mut ApiKeyRecord) + Send,
) -> Result<bool, Error> {
    let Some(mut key) = read(c, id, Some(d)).await? else {
        return Ok(false);
    };
    let before = key.clone();
    change(&mut key);
    if key != before {
        c.execute(
            "UPDATE api_keys SET record = ? WHERE id = ?",
            &[json("API key", &key)?, Value::from(id.as_str())],
        )
        .await?;
    }
    Ok(true)
}

/// See [`Store::revoke_api_key`](crate::Store::revoke_api_key).
pub(super) async fn revoke(
    c: &mut dyn Connection,
    d: Dialect,
    id: &ApiKeyId,
    at_ms: u64,
) -> Result<bool, Error> {
    update(c, d, id, |key| {
        key.revoked_ms.get_or_insert(at_ms);
    })
    .await
}

/// See [`Store::record_api_key_use`](crate::Store::record_api_key_use).
pub(super) async fn record_use(
    c: &mut dyn Connection,
    d: Dialect,
    id: &ApiKeyId,
    at_ms: u64,
) -> Result<(), Error> {
    update(c, d, id, |key| {
        key.last_used_ms = Some(key.last_used_ms.map_or(at_ms, |t| t.max(at_ms)));
    })
    .await
    .map(drop)
}
