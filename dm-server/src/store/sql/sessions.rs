//! Sessions: the open session records, their global count, the device's
//! session summaries and MO inventory, ends and expiry.

use dm_types::{DevId, MosEntry};

use super::locks::{lock, lock_existing};
use super::rows::{Columns as _, count, from_json, int, json, scalar};
use super::rows::{dev_id_of, token_of, token_value};
use super::{Connection, Dialect, Row, Value};
use crate::store::{SessionEnd, SessionOutcome, SessionRecord, SessionSummary, SessionToken, wire};
use crate::{Error, Retention};

/// An MO inventory as stored (the JSON of Package#1 `MOS`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Mos(#[serde(with = "wire::mos_option")] pub(super) Option<Vec<MosEntry>>);

/// A device's session summaries column, newest first (none when `NULL`).
pub(super) fn summaries_of(row: &Row, i: usize) -> Result<Vec<SessionSummary>, Error> {
    match row.opt_text(i, "session summaries")? {
        Some(text) => from_json("session summaries", &text),
        None => Ok(Vec::new()),
    }
}

/// Changes the count of open sessions by `delta`.
pub(super) async fn add_open(c: &mut dyn Connection, delta: i64) -> Result<(), Error> {
    c.execute(
        "UPDATE counters SET value = value + ? WHERE name = 'open_sessions'",
        &[Value::Integer(delta)],
    )
    .await?;
    Ok(())
}

/// See [`Store::open_sessions`](crate::Store::open_sessions).
pub(super) async fn open_count(c: &mut dyn Connection) -> Result<usize, Error> {
    let rows = c
        .query(
            "SELECT value FROM counters WHERE name = 'open_sessions'",
            &[],
        )
        .await?;
    Ok(usize::try_from(scalar(&rows, "open sessions")?).unwrap_or(0))
}

/// See [`Store::begin_session`](crate::Store::begin_session) (`mos`
/// already capped).
pub(super) async fn begin(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    summary: &SessionSummary,
    mos: Option<&Vec<MosEntry>>,
    retention: &Retention,
) -> Result<(), Error> {
    let sql = format!(
        "SELECT sessions FROM devices WHERE dev_id = ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[dev_id.as_str().into()]).await?;
    let Some(row) = rows.first() else {
        return Err(Error::DeviceNotFound(dev_id.clone()));
    };
    let old = summaries_of(row, 0)?;
    let sessions: Vec<SessionSummary> = std::iter::once(summary.clone())
        .chain(old)
        .take(retention.sessions.max(1))
        .collect();
    let sessions = json("session summaries", &sessions)?;
    match mos {
        Some(mos) => {
            c.execute(
                "UPDATE devices SET sessions = ?, mos = ? WHERE dev_id = ?",
                &[
                    sessions,
                    json("MO inventory", &Mos(Some(mos.clone())))?,
                    dev_id.as_str().into(),
                ],
            )
            .await?
        }
        None => {
            c.execute(
                "UPDATE devices SET sessions = ? WHERE dev_id = ?",
                &[sessions, dev_id.as_str().into()],
            )
            .await?
        }
    };
    Ok(())
}

/// See [`Store::open_session`](crate::Store::open_session).
pub(super) async fn open(
    c: &mut dyn Connection,
    d: Dialect,
    record: &SessionRecord,
    max_open: usize,
) -> Result<(), Error> {
    lock_existing(c, d, record.dev_id()).await?;
    let exists = c
        .query(
            "SELECT token FROM sessions WHERE token = ?",
            &[token_value(record.token)],
        )
        .await?;
    if !exists.is_empty() {
        return Err(Error::SessionExists(record.token.public_id()));
    }
    // Counted and changed in one statement (a row lock on PostgreSQL).
    let counted = c
        .execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'open_sessions' AND value < ?",
            &[count(max_open)],
        )
        .await?;
    if counted == 0 {
        return Err(Error::Busy {
            open_sessions: open_count(c).await?,
        });
    }
    c.execute(
        "INSERT INTO sessions (token, dev_id, version, deadline_ms, record) \
         VALUES (?, ?, ?, ?, ?)",
        &[
            token_value(record.token),
            record.dev_id().as_str().into(),
            int(record.version),
            int(record.state.deadline_ms),
            json("session", record)?,
        ],
    )
    .await?;
    Ok(())
}

/// See [`Store::save_session`](crate::Store::save_session).
pub(super) async fn save(
    c: &mut dyn Connection,
    record: &SessionRecord,
    expected_version: u64,
) -> Result<(), Error> {
    let changed = c
        .execute(
            "UPDATE sessions SET version = ?, deadline_ms = ?, record = ? \
             WHERE token = ? AND version = ?",
            &[
                int(record.version),
                int(record.state.deadline_ms),
                json("session", record)?,
                token_value(record.token),
                int(expected_version),
            ],
        )
        .await?;
    if changed > 0 {
        return Ok(());
    }
    let exists = c
        .query(
            "SELECT token FROM sessions WHERE token = ?",
            &[token_value(record.token)],
        )
        .await?;
    if exists.is_empty() {
        Err(Error::SessionNotFound(record.token.public_id()))
    } else {
        Err(Error::SessionVersion {
            session: record.token.public_id(),
            expected: expected_version,
        })
    }
}

/// Locks an open session's row and checks that it is stored at
/// `expected_version` (as [`save`] would).
pub(super) async fn check_version(
    c: &mut dyn Connection,
    d: Dialect,
    token: SessionToken,
    expected_version: u64,
) -> Result<(), Error> {
    let sql = format!(
        "SELECT version FROM sessions WHERE token = ?{}",
        d.for_update()
    );
    let rows = c.query(&sql, &[token_value(token)]).await?;
    match rows.first() {
        None => Err(Error::SessionNotFound(token.public_id())),
        Some(row) if row.u64(0, "session version")? != expected_version => {
            Err(Error::SessionVersion {
                session: token.public_id(),
                expected: expected_version,
            })
        }
        Some(_) => Ok(()),
    }
}

/// See [`Store::session`](crate::Store::session).
pub(super) async fn session(
    c: &mut dyn Connection,
    token: SessionToken,
) -> Result<Option<SessionRecord>, Error> {
    let rows = c
        .query(
            "SELECT record FROM sessions WHERE token = ?",
            &[token_value(token)],
        )
        .await?;
    rows.first()
        .map(|row| from_json("session", &row.text(0, "session")?))
        .transpose()
}

/// See [`Store::end_session`](crate::Store::end_session).
pub(super) async fn end(
    c: &mut dyn Connection,
    d: Dialect,
    token: SessionToken,
    dev_id: &DevId,
    end: &SessionEnd,
    retention: &Retention,
) -> Result<(), Error> {
    let device = lock(c, d, dev_id).await?;
    let removed = c
        .query(
            "DELETE FROM sessions WHERE token = ? RETURNING record",
            &[token_value(token)],
        )
        .await?;
    let cont_sent = match removed.first() {
        Some(row) => {
            add_open(c, -1).await?;
            from_json::<SessionRecord>("session", &row.text(0, "session")?)?
                .state
                .cont_sent
        }
        None => false,
    };
    if !device {
        return Ok(());
    }
    let rows = c
        .query(
            "SELECT sessions FROM devices WHERE dev_id = ?",
            &[dev_id.as_str().into()],
        )
        .await?;
    if let Some(text) = rows
        .first()
        .map(|row| row.opt_text(0, "session summaries"))
        .transpose()?
        .flatten()
    {
        let mut sessions: Vec<SessionSummary> = from_json("session summaries", &text)?;
        if let Some(summary) = sessions.iter_mut().find(|s| s.token == token) {
            summary.ended_ms = Some(end.ended_ms);
            summary.packages = end.packages;
            summary.outcome = Some(end.outcome.clone());
            summary.cont_sent |= cont_sent;
            c.execute(
                "UPDATE devices SET sessions = ? WHERE dev_id = ?",
                &[
                    json("session summaries", &sessions)?,
                    dev_id.as_str().into(),
                ],
            )
            .await?;
        }
    }
    let error = format!("no status received: session {}", end.outcome);
    super::commands::fail_sent(c, dev_id, token, &error, end.ended_ms, retention).await
}

/// See [`Store::expire_sessions`](crate::Store::expire_sessions).
pub(super) async fn expire(
    c: &mut dyn Connection,
    d: Dialect,
    now_ms: u64,
    retention: &Retention,
) -> Result<Vec<SessionRecord>, Error> {
    let candidates = c
        .query(
            "SELECT dev_id, token FROM sessions WHERE deadline_ms < ? ORDER BY dev_id, id",
            &[int(now_ms)],
        )
        .await?;
    let mut candidates = candidates
        .iter()
        .map(|row| Ok((dev_id_of(row, 0)?, token_of(row, 1)?)))
        .collect::<Result<Vec<(DevId, SessionToken)>, Error>>()?;
    candidates.sort();
    // Every device first, in DevID order, then the counter of open
    // sessions (as every other transaction takes them).
    let mut locked: Option<&DevId> = None;
    for (dev_id, _) in &candidates {
        if locked != Some(dev_id) {
            lock(c, d, dev_id).await?;
            locked = Some(dev_id);
        }
    }
    let mut expired = Vec::new();
    for (dev_id, token) in &candidates {
        let sql = format!(
            "SELECT record FROM sessions WHERE token = ?{}",
            d.for_update()
        );
        let rows = c.query(&sql, &[token_value(*token)]).await?;
        let Some(row) = rows.first() else {
            continue;
        };
        let record: SessionRecord = from_json("session", &row.text(0, "session")?)?;
        if !record.state.is_expired(now_ms) {
            continue;
        }
        let ending = SessionEnd::of_state(SessionOutcome::Timeout, &record.state, now_ms);
        end(c, d, *token, dev_id, &ending, retention).await?;
        expired.push(record);
    }
    Ok(expired)
}
