//! The bootstrap role's state: profiles, bootstrap devices, open bootstrap
//! sessions (with their DMAcc data) and outcomes, each record as JSON.

use dm_types::DevId;

use super::rows::{Columns as _, from_json, json};
use super::{Connection, Dialect};
use crate::Error;
use crate::bootstrap::BootstrapProfile;
use crate::store::{
    BOOTSTRAP_OUTCOMES_PER_DEVICE, BootstrapDevice, BootstrapOutcomeRecord, BootstrapResult,
    BootstrapSessionRecord, SessionToken,
};

pub(super) async fn put_profile(
    c: &mut dyn Connection,
    profile: &BootstrapProfile,
) -> Result<bool, Error> {
    let body = String::from_utf8(profile.to_json())
        .map_err(|e| Error::store("encode a bootstrap profile", e))?;
    let removed = c
        .execute(
            "DELETE FROM bootstrap_profiles WHERE name = ?",
            &[profile.name.as_str().into()],
        )
        .await?;
    c.execute(
        "INSERT INTO bootstrap_profiles (name, profile) VALUES (?, ?)",
        &[profile.name.as_str().into(), body.into()],
    )
    .await?;
    Ok(removed > 0)
}

pub(super) async fn profiles(c: &mut dyn Connection) -> Result<Vec<BootstrapProfile>, Error> {
    let rows = c
        .query("SELECT profile FROM bootstrap_profiles ORDER BY name", &[])
        .await?;
    rows.iter()
        .map(|row| {
            let text = row.text(0, "bootstrap profile")?;
            BootstrapProfile::from_json(text.as_bytes())
                .map_err(|e| Error::store("decode a bootstrap profile", e))
        })
        .collect()
}

pub(super) async fn remove_profile(c: &mut dyn Connection, name: &str) -> Result<bool, Error> {
    let removed = c
        .execute(
            "DELETE FROM bootstrap_profiles WHERE name = ?",
            &[name.into()],
        )
        .await?;
    Ok(removed > 0)
}

async fn device_where(
    c: &mut dyn Connection,
    d: Dialect,
    column: &str,
    value: &str,
) -> Result<Option<BootstrapDevice>, Error> {
    let sql = format!(
        "SELECT record FROM bootstrap_devices WHERE {column} = ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[value.into()]).await?;
    rows.first()
        .map(|row| from_json("bootstrap device", &row.text(0, "bootstrap device")?))
        .transpose()
}

pub(super) async fn put_device(
    c: &mut dyn Connection,
    d: Dialect,
    mut device: BootstrapDevice,
) -> Result<(), Error> {
    if let Some(psk) = &device.psk
        && let Some(owner) = device_where(c, d, "psk_identity", &psk.identity).await?
        && owner.dev_id != device.dev_id
    {
        return Err(Error::PskIdentityTaken {
            identity: psk.identity.clone(),
            owner: owner.dev_id,
        });
    }
    if let Some(old) = device_where(c, d, "dev_id", device.dev_id.as_str()).await? {
        device.last_notification_id = old.last_notification_id;
        if device.notification_address.is_none() {
            device.notification_address = old.notification_address;
        }
        c.execute(
            "DELETE FROM bootstrap_devices WHERE dev_id = ?",
            &[device.dev_id.as_str().into()],
        )
        .await?;
    }
    write_device(c, &device).await
}

async fn write_device(c: &mut dyn Connection, device: &BootstrapDevice) -> Result<(), Error> {
    c.execute(
        "INSERT INTO bootstrap_devices (dev_id, psk_identity, record) VALUES (?, ?, ?)",
        &[
            device.dev_id.as_str().into(),
            device.psk.as_ref().map(|p| p.identity.clone()).into(),
            json("bootstrap device", device)?,
        ],
    )
    .await?;
    Ok(())
}

async fn rewrite_device(c: &mut dyn Connection, device: &BootstrapDevice) -> Result<(), Error> {
    c.execute(
        "UPDATE bootstrap_devices SET record = ? WHERE dev_id = ?",
        &[
            json("bootstrap device", device)?,
            device.dev_id.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// A plain read (no row lock: the SQLite form of the query).
pub(super) async fn device(
    c: &mut dyn Connection,
    column: &str,
    value: &str,
) -> Result<Option<BootstrapDevice>, Error> {
    device_where(c, Dialect::Sqlite, column, value).await
}

pub(super) async fn remove_device(c: &mut dyn Connection, dev_id: &DevId) -> Result<bool, Error> {
    c.execute(
        "DELETE FROM bootstrap_outcomes WHERE dev_id = ?",
        &[dev_id.as_str().into()],
    )
    .await?;
    let removed = c
        .execute(
            "DELETE FROM bootstrap_devices WHERE dev_id = ?",
            &[dev_id.as_str().into()],
        )
        .await?;
    Ok(removed > 0)
}

pub(super) async fn set_address(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    address: &str,
) -> Result<bool, Error> {
    let Some(mut device) = device_where(c, d, "dev_id", dev_id.as_str()).await? else {
        return Ok(false);
    };
    device.notification_address = Some(address.to_owned());
    rewrite_device(c, &device).await?;
    Ok(true)
}

pub(super) async fn next_notification_id(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
) -> Result<u16, Error> {
    let mut device = device_where(c, d, "dev_id", dev_id.as_str())
        .await?
        .ok_or_else(|| Error::DeviceNotFound(dev_id.clone()))?;
    let id = match device.last_notification_id {
        None | Some(u16::MAX) => 1,
        Some(last) => last + 1,
    };
    device.last_notification_id = Some(id);
    rewrite_device(c, &device).await?;
    Ok(id)
}

pub(super) async fn save_session(
    c: &mut dyn Connection,
    session: &BootstrapSessionRecord,
) -> Result<(), Error> {
    let token = session.token.to_string();
    c.execute(
        "DELETE FROM bootstrap_sessions WHERE token = ?",
        &[token.as_str().into()],
    )
    .await?;
    c.execute(
        "INSERT INTO bootstrap_sessions (token, data_token, expires_ms, record) VALUES (?, ?, ?, ?)",
        &[
            token.into(),
            session.data_token.to_string().into(),
            super::rows::int(session.expires_ms),
            json("bootstrap session", session)?,
        ],
    )
    .await?;
    Ok(())
}

async fn session_where(
    c: &mut dyn Connection,
    d: Dialect,
    column: &str,
    token: SessionToken,
) -> Result<Option<BootstrapSessionRecord>, Error> {
    let sql = format!(
        "SELECT record FROM bootstrap_sessions WHERE {column} = ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[token.to_string().into()]).await?;
    rows.first()
        .map(|row| from_json("bootstrap session", &row.text(0, "bootstrap session")?))
        .transpose()
}

/// A plain read (no row lock: the SQLite form of the query).
pub(super) async fn session(
    c: &mut dyn Connection,
    token: SessionToken,
) -> Result<Option<BootstrapSessionRecord>, Error> {
    session_where(c, Dialect::Sqlite, "token", token).await
}

pub(super) async fn take_account_data(
    c: &mut dyn Connection,
    d: Dialect,
    data_token: SessionToken,
    binding: &str,
    now_ms: u64,
) -> Result<Option<(DevId, String)>, Error> {
    let Some(mut session) = session_where(c, d, "data_token", data_token).await? else {
        return Ok(None);
    };
    if session.binding != binding || now_ms > session.expires_ms {
        return Ok(None);
    }
    let Some(data) = session.account_data.take() else {
        return Ok(None);
    };
    c.execute(
        "UPDATE bootstrap_sessions SET record = ? WHERE token = ?",
        &[
            json("bootstrap session", &session)?,
            session.token.to_string().into(),
        ],
    )
    .await?;
    Ok(Some((session.dev_id, data)))
}

pub(super) async fn end_session(
    c: &mut dyn Connection,
    token: SessionToken,
    outcome: &BootstrapOutcomeRecord,
) -> Result<bool, Error> {
    let removed = c
        .execute(
            "DELETE FROM bootstrap_sessions WHERE token = ?",
            &[token.to_string().into()],
        )
        .await?;
    if removed == 0 {
        return Ok(false);
    }
    let dev_id = outcome.dev_id.as_str();
    c.execute(
        "INSERT INTO bootstrap_outcomes (dev_id, record) VALUES (?, ?)",
        &[dev_id.into(), json("bootstrap outcome", outcome)?],
    )
    .await?;
    // Keep the newest ones.
    c.execute(
        "DELETE FROM bootstrap_outcomes WHERE dev_id = ? AND id NOT IN \
         (SELECT id FROM bootstrap_outcomes WHERE dev_id = ? ORDER BY id DESC LIMIT ?)",
        &[
            dev_id.into(),
            dev_id.into(),
            super::rows::count(BOOTSTRAP_OUTCOMES_PER_DEVICE),
        ],
    )
    .await?;
    Ok(true)
}

pub(super) async fn expire_sessions(
    c: &mut dyn Connection,
    d: Dialect,
    now_ms: u64,
) -> Result<Vec<BootstrapSessionRecord>, Error> {
    let sql = format!(
        "SELECT record FROM bootstrap_sessions WHERE expires_ms < ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[super::rows::int(now_ms)]).await?;
    let mut ended = Vec::with_capacity(rows.len());
    for row in &rows {
        let session: BootstrapSessionRecord =
            from_json("bootstrap session", &row.text(0, "bootstrap session")?)?;
        let outcome = BootstrapOutcomeRecord::of_session(
            &session,
            BootstrapResult::Abandoned {
                reason: "the session expired".into(),
            },
            now_ms,
        );
        end_session(c, session.token, &outcome).await?;
        ended.push(session);
    }
    Ok(ended)
}

pub(super) async fn outcomes(
    c: &mut dyn Connection,
    dev_id: &DevId,
) -> Result<Vec<BootstrapOutcomeRecord>, Error> {
    let rows = c
        .query(
            "SELECT record FROM bootstrap_outcomes WHERE dev_id = ? ORDER BY id DESC",
            &[dev_id.as_str().into()],
        )
        .await?;
    rows.iter()
        .map(|row| from_json("bootstrap outcome", &row.text(0, "bootstrap outcome")?))
        .collect()
}
