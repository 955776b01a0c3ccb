//! Commands: the queue of a device, claims, results, and the finished
//! commands kept within the retention.

use dm_types::{Command, DevId, Status};

use super::locks::{lock, lock_existing};
use super::rows::{Columns as _, count, from_json, int, json, placeholders, scalar};
use super::rows::{dev_id_of, opt_token_of, token_value};
use super::{Connection, Dialect, Row, Value};
use crate::store::{CommandId, CommandRecord, CommandState, SessionToken, wire};
use crate::{Error, Retention};

/// The columns [`record`] reads, in order.
const COLUMNS: &str =
    "id, dev_id, command, state, session, result, from_cache, error, queued_ms, updated_ms";

/// A command's status entry as stored (JSON of a Package#3 `Status`).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredResult(#[serde(with = "wire::status_option")] Option<Status>);

fn state_of(text: &str) -> Result<CommandState, Error> {
    Ok(match text {
        "queued" => CommandState::Queued,
        "sent" => CommandState::Sent,
        "done" => CommandState::Done,
        "failed" => CommandState::Failed,
        other => return Err(Error::store("read a command", format!("state {other:?}"))),
    })
}

fn id_value(id: CommandId) -> Value {
    int(id.0)
}

fn record(row: &Row) -> Result<CommandRecord, Error> {
    let result = match row.opt_text(5, "command result")? {
        Some(text) => from_json::<StoredResult>("command result", &text)?.0,
        None => None,
    };
    Ok(CommandRecord {
        id: CommandId(row.u64(0, "command id")?),
        dev_id: dev_id_of(row, 1)?,
        command: from_json("command", &row.text(2, "command")?)?,
        state: state_of(&row.text(3, "command state")?)?,
        session: opt_token_of(row, 4)?,
        result,
        from_cache: row.i64(6, "command from cache")? != 0,
        error: row.opt_text(7, "command error")?,
        queued_ms: row.u64(8, "command queue time")?,
        updated_ms: row.u64(9, "command update time")?,
    })
}

/// See [`Store::enqueue_command`](crate::Store::enqueue_command).
pub(super) async fn enqueue(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    command: &Command,
    now_ms: u64,
) -> Result<CommandId, Error> {
    lock_existing(c, d, dev_id).await?;
    let rows = c
        .query(
            "INSERT INTO commands (dev_id, command, state, queued_ms, updated_ms) \
             VALUES (?, ?, 'queued', ?, ?) RETURNING id",
            &[
                dev_id.as_str().into(),
                json("command", command)?,
                int(now_ms),
                int(now_ms),
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::store("queue a command", "no id returned"))?;
    Ok(CommandId(row.u64(0, "command id")?))
}

/// See [`Store::command`](crate::Store::command).
pub(super) async fn command(
    c: &mut dyn Connection,
    id: CommandId,
) -> Result<Option<CommandRecord>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM commands WHERE id = ?");
    let rows = c.query(&sql, &[id_value(id)]).await?;
    rows.first().map(record).transpose()
}

/// See [`Store::commands`](crate::Store::commands).
pub(super) async fn commands(
    c: &mut dyn Connection,
    dev_id: &DevId,
) -> Result<Vec<CommandRecord>, Error> {
    super::locks::existing(c, dev_id).await?;
    let pending =
        format!("SELECT {COLUMNS} FROM commands WHERE dev_id = ? AND finished IS NULL ORDER BY id");
    let finished = format!(
        "SELECT {COLUMNS} FROM commands WHERE dev_id = ? AND finished IS NOT NULL \
         ORDER BY finished, id"
    );
    let mut out = Vec::new();
    for sql in [pending, finished] {
        for row in c.query(&sql, &[dev_id.as_str().into()]).await? {
            out.push(record(&row)?);
        }
    }
    Ok(out)
}

/// See [`Store::claim_commands`](crate::Store::claim_commands).
pub(super) async fn claim(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    session: SessionToken,
    max: usize,
    now_ms: u64,
) -> Result<Vec<(CommandId, Command)>, Error> {
    lock_existing(c, d, dev_id).await?;
    if max == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "UPDATE commands SET state = 'sent', session = ?, updated_ms = ? WHERE id IN \
         (SELECT id FROM commands WHERE dev_id = ? AND finished IS NULL AND state = 'queued' \
         ORDER BY id LIMIT ?{}) RETURNING id, command",
        d.for_update_skip_locked()
    );
    let rows = c
        .query(
            &sql,
            &[
                token_value(session),
                int(now_ms),
                dev_id.as_str().into(),
                count(max),
            ],
        )
        .await?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            Ok((
                CommandId(row.u64(0, "command id")?),
                from_json("command", &row.text(1, "command")?)?,
            ))
        })
        .collect::<Result<Vec<(CommandId, Command)>, Error>>()?;
    claimed.sort_by_key(|(id, _)| *id);
    Ok(claimed)
}

/// See [`Store::release_commands`](crate::Store::release_commands).
pub(super) async fn release(
    c: &mut dyn Connection,
    d: Dialect,
    dev_id: &DevId,
    session: SessionToken,
    ids: &[CommandId],
    now_ms: u64,
) -> Result<(), Error> {
    if ids.is_empty() || !lock(c, d, dev_id).await? {
        return Ok(());
    }
    for chunk in ids.chunks(256) {
        let sql = format!(
            "UPDATE commands SET state = 'queued', session = NULL, updated_ms = ? \
             WHERE dev_id = ? AND state = 'sent' AND session = ? AND id IN ({})",
            placeholders(chunk.len())
        );
        let mut params = vec![int(now_ms), dev_id.as_str().into(), token_value(session)];
        params.extend(chunk.iter().copied().map(id_value));
        c.execute(&sql, &params).await?;
    }
    Ok(())
}

/// A status to record for a command sent in a session.
#[derive(Debug, Clone)]
pub(super) struct NewResult {
    pub(super) id: CommandId,
    pub(super) session: SessionToken,
    pub(super) result: Status,
    pub(super) from_cache: bool,
    pub(super) now_ms: u64,
}

/// See [`Store::record_result`](crate::Store::record_result) and
/// [`Store::record_cached_result`](crate::Store::record_cached_result).
pub(super) async fn record_result(
    c: &mut dyn Connection,
    d: Dialect,
    new: &NewResult,
    retention: &Retention,
) -> Result<(), Error> {
    let NewResult {
        id,
        session,
        ref result,
        from_cache,
        now_ms,
    } = *new;
    let rows = c
        .query("SELECT dev_id FROM commands WHERE id = ?", &[id_value(id)])
        .await?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let dev_id = dev_id_of(row, 0)?;
    if !lock(c, d, &dev_id).await? {
        return Ok(());
    }
    let sequence = next_finished(c, &dev_id).await?;
    let changed = c
        .execute(
            "UPDATE commands SET state = 'done', result = ?, from_cache = ?, updated_ms = ?, \
             finished = ? WHERE id = ? AND state = 'sent' AND session = ?",
            &[
                json("command result", &StoredResult(Some(result.clone())))?,
                from_cache.into(),
                int(now_ms),
                Value::Integer(sequence),
                id_value(id),
                token_value(session),
            ],
        )
        .await?;
    if changed > 0 {
        trim_finished(c, &dev_id, retention).await?;
    }
    Ok(())
}

/// Fails every command still `sent` in `session` (the session ended; the
/// device's row is locked).
pub(super) async fn fail_sent(
    c: &mut dyn Connection,
    dev_id: &DevId,
    session: SessionToken,
    error: &str,
    now_ms: u64,
    retention: &Retention,
) -> Result<(), Error> {
    let sequence = next_finished(c, dev_id).await?;
    let changed = c
        .execute(
            "UPDATE commands SET state = 'failed', error = ?, updated_ms = ?, finished = ? \
             WHERE dev_id = ? AND finished IS NULL AND state = 'sent' AND session = ?",
            &[
                error.into(),
                int(now_ms),
                Value::Integer(sequence),
                dev_id.as_str().into(),
                token_value(session),
            ],
        )
        .await?;
    if changed > 0 {
        trim_finished(c, dev_id, retention).await?;
    }
    Ok(())
}

/// Numbers the next step that finishes commands of a device (they are
/// listed in the order they finished, then by id).
async fn next_finished(c: &mut dyn Connection, dev_id: &DevId) -> Result<i64, Error> {
    let rows = c
        .query(
            "UPDATE devices SET finished_commands = finished_commands + 1 WHERE dev_id = ? \
             RETURNING finished_commands",
            &[dev_id.as_str().into()],
        )
        .await?;
    scalar(&rows, "finished commands")
}

/// Forgets a device's oldest finished commands beyond the retention.
async fn trim_finished(
    c: &mut dyn Connection,
    dev_id: &DevId,
    retention: &Retention,
) -> Result<(), Error> {
    let rows = c
        .query(
            "SELECT COUNT(*) FROM commands WHERE dev_id = ? AND finished IS NOT NULL",
            &[dev_id.as_str().into()],
        )
        .await?;
    let finished = usize::try_from(scalar(&rows, "finished commands")?).unwrap_or(0);
    if finished > retention.finished_commands {
        c.execute(
            "DELETE FROM commands WHERE id IN (SELECT id FROM commands WHERE dev_id = ? \
             AND finished IS NOT NULL ORDER BY finished, id LIMIT ?)",
            &[
                dev_id.as_str().into(),
                count(finished - retention.finished_commands),
            ],
        )
        .await?;
    }
    Ok(())
}

/// See [`Store::queued_command_count`](crate::Store::queued_command_count):
/// read from the partial index of queued commands.
pub(super) async fn queued_count(c: &mut dyn Connection) -> Result<u64, Error> {
    let rows = c
        .query("SELECT COUNT(*) FROM commands WHERE state = 'queued'", &[])
        .await?;
    Ok(u64::try_from(scalar(&rows, "queued commands")?).unwrap_or(0))
}
