//! Devices: registration, look-ups, notification state.

use std::collections::{BTreeMap, BTreeSet};

use dm_types::DevId;

use super::locks::lock;
use super::rows::{Columns as _, count, from_json, int, scalar};
use super::rows::{dev_id_of, placeholders, token_of};
use super::{Connection, Dialect, Row, Value};
use crate::Error;
use crate::store::batch::{Taken, first_conflict};
use crate::store::{
    DevicePage, DeviceQuery, DeviceRecord, DeviceRegistration, NotificationSecret,
    PasswordCredentials, PskCredentials, PskIdentity,
};

/// The columns [`record`] reads, in order.
const COLUMNS: &str = "dev_id, registered_ms, username, ha1_sha256, ha1_md5, certificate, \
     notification_address, notification_secret, notification_auth_data, last_notification_id, \
     sessions, mos, psk_identity, psk_key, tags, devinfo";

/// See [`Store::register_device`](crate::Store::register_device).
pub(super) async fn register(
    c: &mut dyn Connection,
    d: Dialect,
    registration: &DeviceRegistration,
    replace: bool,
    now_ms: u64,
) -> Result<(), Error> {
    let dev_id = &registration.dev_id;
    let exists = lock(c, d, dev_id).await?;
    if let Some(credentials) = &registration.credentials {
        let rows = c
            .query(
                "SELECT dev_id FROM devices WHERE username = ?",
                &[credentials.username.as_str().into()],
            )
            .await?;
        if let Some(row) = rows.first() {
            let owner = dev_id_of(row, 0)?;
            if owner != *dev_id {
                return Err(Error::UsernameTaken {
                    username: credentials.username.clone(),
                    owner,
                });
            }
        }
    }
    if let Some(certificate) = &registration.certificate_sha256 {
        let rows = c
            .query(
                "SELECT dev_id FROM devices WHERE certificate = ?",
                &[certificate.as_slice().into()],
            )
            .await?;
        if let Some(row) = rows.first() {
            let owner = dev_id_of(row, 0)?;
            if owner != *dev_id {
                return Err(Error::CertificateTaken { owner });
            }
        }
    }
    if let Some(psk) = &registration.psk {
        let rows = c
            .query(
                "SELECT dev_id FROM devices WHERE psk_identity = ?",
                &[psk.identity.as_str().into()],
            )
            .await?;
        if let Some(row) = rows.first() {
            let owner = dev_id_of(row, 0)?;
            if owner != *dev_id {
                return Err(Error::PskIdentityTaken {
                    identity: psk.identity.to_string(),
                    owner,
                });
            }
        }
    }
    let credentials = registration.credentials.as_ref();
    let secret = registration.notification_secret.as_ref();
    let mut params: Vec<Value> = vec![
        credentials.map(|c| c.username.as_str()).into(),
        credentials.map(|c| c.ha1_sha256.as_slice()).into(),
        credentials.map(|c| c.ha1_md5.as_slice()).into(),
        registration
            .certificate_sha256
            .as_ref()
            .map(<[u8; 32]>::as_slice)
            .into(),
        secret.map(|s| s.secret.as_slice()).into(),
        secret.map(|s| s.auth_data.as_slice()).into(),
        registration.notification_address.as_deref().into(),
        registration
            .psk
            .as_ref()
            .map(|p| p.identity.as_str())
            .into(),
        registration.psk.as_ref().map(PskCredentials::key).into(),
    ];
    if exists {
        if !replace {
            return Err(Error::DeviceExists(dev_id.clone()));
        }
        params.push(dev_id.as_str().into());
        c.execute(
            "UPDATE devices SET username = ?, ha1_sha256 = ?, ha1_md5 = ?, certificate = ?, \
             notification_secret = ?, notification_auth_data = ?, \
             notification_address = COALESCE(?, notification_address), psk_identity = ?, \
             psk_key = ? WHERE dev_id = ?",
            &params,
        )
        .await?;
    } else {
        params.push(dev_id.as_str().into());
        params.push(int(now_ms));
        // A registration of the same device committed meanwhile (on
        // PostgreSQL, where a missing row is not locked) wins.
        let inserted = c
            .execute(
                "INSERT INTO devices (username, ha1_sha256, ha1_md5, certificate, \
                 notification_secret, notification_auth_data, notification_address, \
                 psk_identity, psk_key, dev_id, registered_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (dev_id) DO NOTHING",
                &params,
            )
            .await?;
        if inserted == 0 {
            return Err(Error::DeviceExists(dev_id.clone()));
        }
    }
    Ok(())
}

/// Registrations per statement of a batch: 11 parameters each keeps a
/// statement far below the parameter limits of SQLite (32766) and
/// PostgreSQL (65535).
const BATCH_ROWS: usize = 500;

/// See [`Store::register_devices`](crate::Store::register_devices): reads
/// what the batch conflicts with, then inserts it `BATCH_ROWS` rows per
/// statement, all in the caller's transaction.
pub(super) async fn register_batch(
    c: &mut dyn Connection,
    registrations: &[DeviceRegistration],
    now_ms: u64,
) -> Result<(), Error> {
    let mut taken = Taken::default();
    for chunk in registrations.chunks(BATCH_ROWS) {
        let ids: Vec<Value> = chunk.iter().map(|r| r.dev_id.as_str().into()).collect();
        let sql = format!(
            "SELECT dev_id FROM devices WHERE dev_id IN ({})",
            placeholders(ids.len())
        );
        for row in &c.query(&sql, &ids).await? {
            taken.devices.insert(dev_id_of(row, 0)?);
        }
        let names: Vec<Value> = chunk
            .iter()
            .filter_map(|r| r.credentials.as_ref())
            .map(|c| c.username.as_str().into())
            .collect();
        if !names.is_empty() {
            let sql = format!(
                "SELECT username, dev_id FROM devices WHERE username IN ({})",
                placeholders(names.len())
            );
            for row in &c.query(&sql, &names).await? {
                taken
                    .usernames
                    .insert(row.text(0, "user name")?, dev_id_of(row, 1)?);
            }
        }
        let certificates: Vec<Value> = chunk
            .iter()
            .filter_map(|r| r.certificate_sha256.as_ref())
            .map(|c| c.as_slice().into())
            .collect();
        if !certificates.is_empty() {
            let sql = format!(
                "SELECT certificate, dev_id FROM devices WHERE certificate IN ({})",
                placeholders(certificates.len())
            );
            for row in &c.query(&sql, &certificates).await? {
                if let Some(certificate) = row.opt_array::<32>(0, "certificate")? {
                    taken.certificates.insert(certificate, dev_id_of(row, 1)?);
                }
            }
        }
        let identities: Vec<Value> = chunk
            .iter()
            .filter_map(|r| r.psk.as_ref())
            .map(|p| p.identity.as_str().into())
            .collect();
        if !identities.is_empty() {
            let sql = format!(
                "SELECT psk_identity, dev_id FROM devices WHERE psk_identity IN ({})",
                placeholders(identities.len())
            );
            for row in &c.query(&sql, &identities).await? {
                taken
                    .psk_identities
                    .insert(psk_identity_of(row, 0)?, dev_id_of(row, 1)?);
            }
        }
    }
    if let Some(conflict) = first_conflict(registrations, &taken) {
        return Err(conflict);
    }
    for chunk in registrations.chunks(BATCH_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 11);
        for registration in chunk {
            let credentials = registration.credentials.as_ref();
            let secret = registration.notification_secret.as_ref();
            params.extend([
                credentials.map(|c| c.username.as_str()).into(),
                credentials.map(|c| c.ha1_sha256.as_slice()).into(),
                credentials.map(|c| c.ha1_md5.as_slice()).into(),
                registration
                    .certificate_sha256
                    .as_ref()
                    .map(<[u8; 32]>::as_slice)
                    .into(),
                secret.map(|s| s.secret.as_slice()).into(),
                secret.map(|s| s.auth_data.as_slice()).into(),
                registration.notification_address.as_deref().into(),
                registration
                    .psk
                    .as_ref()
                    .map(|p| p.identity.as_str())
                    .into(),
                registration.psk.as_ref().map(PskCredentials::key).into(),
                registration.dev_id.as_str().into(),
                int(now_ms),
            ]);
        }
        let rows = vec![format!("({})", placeholders(11)); chunk.len()].join(", ");
        // A registration of one of these devices committed meanwhile (on
        // PostgreSQL, where a missing row is not locked) wins.
        let inserted = c
            .query(
                &format!(
                    "INSERT INTO devices (username, ha1_sha256, ha1_md5, certificate, \
                     notification_secret, notification_auth_data, notification_address, \
                     psk_identity, psk_key, dev_id, registered_ms) VALUES {rows} \
                     ON CONFLICT (dev_id) DO NOTHING RETURNING dev_id"
                ),
                &params,
            )
            .await?;
        if inserted.len() < chunk.len() {
            let inserted = inserted
                .iter()
                .map(|row| dev_id_of(row, 0))
                .collect::<Result<std::collections::HashSet<_>, _>>()?;
            let lost = chunk
                .iter()
                .find(|r| !inserted.contains(&r.dev_id))
                .map_or_else(|| chunk[0].dev_id.clone(), |r| r.dev_id.clone());
            return Err(Error::DeviceExists(lost));
        }
    }
    Ok(())
}

/// See [`Store::remove_device`](crate::Store::remove_device).
pub(super) async fn remove(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
) -> Result<bool, Error> {
    if !lock(c, d, dev_id).await? {
        return Ok(false);
    }
    let id: Value = dev_id.as_str().into();
    let open = c
        .query(
            "SELECT COUNT(*) FROM sessions WHERE dev_id = ?",
            std::slice::from_ref(&id),
        )
        .await?;
    let open = scalar(&open, "open sessions")?;
    if open > 0 {
        super::sessions::add_open(c, -open).await?;
    }
    for sql in [
        "DELETE FROM sessions WHERE dev_id = ?",
        "DELETE FROM commands WHERE dev_id = ?",
        "DELETE FROM alerts WHERE dev_id = ?",
        "DELETE FROM cached_instances WHERE dev_id = ?",
        "DELETE FROM digest_nonces WHERE dev_id = ?",
        "DELETE FROM objects WHERE owner = ?",
        "DELETE FROM devices WHERE dev_id = ?",
    ] {
        c.execute(sql, std::slice::from_ref(&id)).await?;
    }
    Ok(true)
}

/// See [`Store::device`](crate::Store::device).
pub(super) async fn device(
    c: &mut dyn Connection,
    dev_id: &DevId,
) -> Result<Option<DeviceRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE dev_id = ?");
    let rows = c.query(&sql, &[dev_id.as_str().into()]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut device = record(row)?;
    let open = c
        .query(
            "SELECT token FROM sessions WHERE dev_id = ? ORDER BY id",
            &[dev_id.as_str().into()],
        )
        .await?;
    for row in &open {
        device.open_sessions.push(token_of(row, 0)?);
    }
    device.open_session = device.open_sessions.last().copied();
    Ok(Some(device))
}

/// See [`Store::devices`](crate::Store::devices): a range scan of the
/// primary key (`dev_id >= prefix AND dev_id < prefix end AND dev_id >
/// after`; DevIDs compare as bytes, `COLLATE "C"` on PostgreSQL), then the
/// open sessions of the page in one range scan of `sessions_by_device`.
pub(super) async fn devices(
    c: &mut dyn Connection,
    query: &DeviceQuery,
) -> Result<DevicePage, Error> {
    if query.limit == 0 {
        return Ok(DevicePage::default());
    }
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(prefix) = &query.prefix {
        conditions.push("dev_id >= ?");
        params.push(prefix.as_str().into());
        if let Some(end) = query.prefix_end() {
            conditions.push("dev_id < ?");
            params.push(end.into());
        }
    }
    if let Some(after) = &query.after {
        conditions.push("dev_id > ?");
        params.push(after.as_str().into());
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {} ", conditions.join(" AND "))
    };
    params.push(count(query.limit.saturating_add(1)));
    let sql = format!("SELECT {COLUMNS} FROM devices {filter}ORDER BY dev_id LIMIT ?");
    let rows = c.query(&sql, &params).await?;
    let mut devices = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
    let mut open_sessions = Vec::new();
    let shown = &mut devices[..query.limit.min(rows.len())];
    if let (Some(first), Some(last)) = (shown.first(), shown.last()) {
        let open = c
            .query(
                "SELECT dev_id, token, record FROM sessions WHERE dev_id >= ? AND dev_id <= ? \
                 ORDER BY dev_id, id",
                &[first.dev_id.as_str().into(), last.dev_id.as_str().into()],
            )
            .await?;
        for row in &open {
            let dev_id = row.text(0, "session device")?;
            let token = token_of(row, 1)?;
            if let Ok(i) = shown.binary_search_by(|d| d.dev_id.as_str().cmp(dev_id.as_str())) {
                shown[i].open_sessions.push(token);
                open_sessions.push(from_json("session", &row.text(2, "session")?)?);
            }
        }
        for device in shown.iter_mut() {
            device.open_session = device.open_sessions.last().copied();
        }
    }
    Ok(DevicePage::of(devices, open_sessions, query.limit))
}

/// See [`Store::credentials_by_username`](crate::Store::credentials_by_username).
pub(super) async fn credentials_by_username(
    c: &mut dyn Connection,
    username: &str,
) -> Result<Option<(DevId, PasswordCredentials)>, Error> {
    let rows = c
        .query(
            "SELECT dev_id, username, ha1_sha256, ha1_md5 FROM devices WHERE username = ?",
            &[username.into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let Some(credentials) = credentials(row, 1)? else {
        return Ok(None);
    };
    Ok(Some((dev_id_of(row, 0)?, credentials)))
}

/// See [`Store::device_by_certificate`](crate::Store::device_by_certificate).
pub(super) async fn by_certificate(
    c: &mut dyn Connection,
    sha256: &[u8; 32],
) -> Result<Option<DevId>, Error> {
    let rows = c
        .query(
            "SELECT dev_id FROM devices WHERE certificate = ?",
            &[sha256.as_slice().into()],
        )
        .await?;
    rows.first().map(|row| dev_id_of(row, 0)).transpose()
}

/// See [`Store::psk_by_identity`](crate::Store::psk_by_identity).
pub(super) async fn psk_by_identity(
    c: &mut dyn Connection,
    identity: &PskIdentity,
) -> Result<Option<(DevId, PskCredentials)>, Error> {
    let rows = c
        .query(
            "SELECT dev_id, psk_identity, psk_key FROM devices WHERE psk_identity = ?",
            &[identity.as_str().into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let Some(psk) = psk(row, 1)? else {
        return Ok(None);
    };
    Ok(Some((dev_id_of(row, 0)?, psk)))
}

/// The PSK identity in column `i`.
fn psk_identity_of(row: &Row, i: usize) -> Result<PskIdentity, Error> {
    PskIdentity::new(row.text(i, "PSK identity")?)
        .map_err(|e| Error::store("read the PSK identity", e))
}

/// The PSK credentials in columns `i..i + 2` (identity, key).
fn psk(row: &Row, i: usize) -> Result<Option<PskCredentials>, Error> {
    let (Some(_), Some(key)) = (
        row.opt_text(i, "PSK identity")?,
        row.opt_blob(i + 1, "PSK key")?,
    ) else {
        return Ok(None);
    };
    // The problem of a stored key never quotes it.
    PskCredentials::new(psk_identity_of(row, i)?, key)
        .map(Some)
        .map_err(|e| Error::store("read the PSK credentials", e))
}

/// See [`Store::set_notification_address`](crate::Store::set_notification_address).
pub(super) async fn set_notification_address(
    c: &mut dyn Connection,
    dev_id: &DevId,
    address: &str,
) -> Result<(), Error> {
    let changed = c
        .execute(
            "UPDATE devices SET notification_address = ? WHERE dev_id = ?",
            &[address.into(), dev_id.as_str().into()],
        )
        .await?;
    if changed == 0 {
        return Err(Error::DeviceNotFound(dev_id.clone()));
    }
    Ok(())
}

/// See [`Store::next_notification_id`](crate::Store::next_notification_id).
pub(super) async fn next_notification_id(
    c: &mut dyn Connection,
    dev_id: &DevId,
) -> Result<u16, Error> {
    let rows = c
        .query(
            "UPDATE devices SET last_notification_id = CASE \
             WHEN last_notification_id IS NULL OR last_notification_id >= 65535 THEN 1 \
             ELSE last_notification_id + 1 END WHERE dev_id = ? RETURNING last_notification_id",
            &[dev_id.as_str().into()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Err(Error::DeviceNotFound(dev_id.clone()));
    };
    let id = row.i64(0, "notification id")?;
    u16::try_from(id).map_err(|_| Error::store("read the notification id", id))
}

/// The credentials in columns `i..i + 3` (user name, SHA-256 and MD5 H(A1)).
fn credentials(row: &Row, i: usize) -> Result<Option<PasswordCredentials>, Error> {
    let (Some(username), Some(ha1_sha256), Some(ha1_md5)) = (
        row.opt_text(i, "user name")?,
        row.opt_array::<32>(i + 1, "H(A1)")?,
        row.opt_array::<16>(i + 2, "H(A1)")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(PasswordCredentials {
        username,
        ha1_sha256,
        ha1_md5,
    }))
}

/// The device of a row of [`COLUMNS`] (no open sessions yet).
fn record(row: &Row) -> Result<DeviceRecord, Error> {
    let notification_secret = match (
        row.opt_blob(7, "notification secret")?,
        row.opt_blob(8, "notification auth data")?,
    ) {
        (Some(secret), Some(auth_data)) => Some(NotificationSecret { secret, auth_data }),
        _ => None,
    };
    let sessions = super::sessions::summaries_of(row, 10)?;
    let mos = match row.opt_text(11, "MO inventory")? {
        Some(text) => from_json::<super::sessions::Mos>("MO inventory", &text)?.0,
        None => None,
    };
    Ok(DeviceRecord {
        dev_id: dev_id_of(row, 0)?,
        registered_ms: row.u64(1, "registration time")?,
        credentials: credentials(row, 2)?,
        certificate_sha256: row.opt_array::<32>(5, "certificate")?,
        psk: psk(row, 12)?,
        notification_address: row.opt_text(6, "notification address")?,
        notification_secret,
        last_notification_id: row
            .opt_i64(9, "notification id")?
            .and_then(|id| u16::try_from(id).ok()),
        sessions,
        mos,
        open_session: None,
        open_sessions: Vec::new(),
        tags: match row.opt_text(14, "tags")? {
            Some(text) => from_json("tags", &text)?,
            None => BTreeSet::new(),
        },
        devinfo: match row.opt_text(15, "DevInfo values")? {
            Some(text) => from_json("DevInfo values", &text)?,
            None => BTreeMap::new(),
        },
    })
}
