//! Campaigns: the `campaigns` table (spec and status as JSON, stage,
//! version, lease) and one `campaign_devices` row per device of a campaign.

use std::collections::{BTreeMap, HashSet};

use dm_types::DevId;

use super::rows::{Columns as _, count, dev_id_of, from_json, int, json, placeholders};
use super::{Connection, Dialect, Row, Value};
use crate::Error;
use crate::store::{
    CampaignDevice, CampaignId, CampaignRecord, CampaignSpec, CampaignStatus, CommandId,
    StageCounts, UpdateState,
};

/// Rows per statement when a campaign's rows are written or checked in
/// bulk (5 parameters a row when written).
const BATCH_ROWS: usize = 1000;

/// The key of the PostgreSQL advisory lock campaigns are created under, so
/// that two created at once never both take a device ("dm-cmpgn").
const CREATE_LOCK: i64 = 0x646d_2d63_6d70_676e;

/// The columns of a campaign, as [`record_of`] reads them.
const CAMPAIGN: &str = "id, spec, status, stage, version, created_ms, updated_ms";

/// The columns of a campaign's row, as [`device_of`] reads them, of the
/// table named `t`.
fn device_columns(t: &str) -> String {
    [
        "campaign_id",
        "dev_id",
        "stage",
        "state",
        "result",
        "attempts",
        "next_attempt_ms",
        "commands",
        "updated_ms",
    ]
    .map(|c| format!("{t}.{c}"))
    .join(", ")
}

/// `'a', 'b'`: the names of `states` as SQL literals (they are
/// `[a-z_]+`).
fn state_list(states: &[UpdateState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The final states, as SQL literals.
fn final_states() -> String {
    state_list(&[
        UpdateState::Succeeded,
        UpdateState::Failed,
        UpdateState::Skipped,
    ])
}

fn u32_of(row: &Row, i: usize, what: &str) -> Result<u32, Error> {
    let v = row.i64(i, what)?;
    u32::try_from(v).map_err(|_| Error::store(format!("read {what}"), format!("{v}")))
}

fn record_of(row: &Row) -> Result<CampaignRecord, Error> {
    Ok(CampaignRecord {
        id: CampaignId(row.u64(0, "campaign id")?),
        spec: from_json("campaign spec", &row.text(1, "campaign spec")?)?,
        status: from_json("campaign status", &row.text(2, "campaign status")?)?,
        stage: u32_of(row, 3, "campaign stage")?,
        version: row.u64(4, "campaign version")?,
        created_ms: row.u64(5, "campaign creation")?,
        updated_ms: row.u64(6, "campaign change")?,
    })
}

fn device_of(row: &Row) -> Result<CampaignDevice, Error> {
    let state = row.text(3, "campaign device state")?;
    let result = row
        .opt_i64(4, "campaign device result")?
        .map(|v| {
            u16::try_from(v)
                .map_err(|_| Error::store("read a campaign device result", format!("{v}")))
        })
        .transpose()?;
    let commands: Vec<CommandId> =
        from_json("campaign device commands", &row.text(7, "commands")?)?;
    Ok(CampaignDevice {
        campaign: CampaignId(row.u64(0, "campaign id")?),
        dev_id: dev_id_of(row, 1)?,
        stage: u32_of(row, 2, "campaign device stage")?,
        state: UpdateState::from_name(&state)
            .ok_or_else(|| Error::store("read a campaign device state", state))?,
        result,
        attempts: u32_of(row, 5, "campaign device attempts")?,
        next_attempt_ms: row.u64(6, "next attempt")?,
        commands,
        updated_ms: row.u64(8, "campaign device change")?,
    })
}

fn devices_of(rows: &[Row]) -> Result<Vec<CampaignDevice>, Error> {
    rows.iter().map(device_of).collect()
}

fn id_value(id: CampaignId) -> Value {
    int(id.0)
}

pub(super) async fn create(
    c: &mut dyn Connection,
    d: Dialect,
    spec: &CampaignSpec,
    members: &[(DevId, u32)],
    now_ms: u64,
) -> Result<CampaignRecord, Error> {
    if d == Dialect::Postgres {
        c.execute(
            "SELECT pg_advisory_xact_lock(?)",
            &[Value::Integer(CREATE_LOCK)],
        )
        .await?;
    }
    let status = CampaignStatus::Running;
    let rows = c
        .query(
            &format!(
                "INSERT INTO campaigns (spec, status, finished, stage, version, created_ms, \
                 updated_ms) VALUES (?, ?, 0, 0, 1, ?, ?) RETURNING {CAMPAIGN}"
            ),
            &[
                json("campaign spec", spec)?,
                json("campaign status", &status)?,
                int(now_ms),
                int(now_ms),
            ],
        )
        .await?;
    let record = rows
        .first()
        .map(record_of)
        .transpose()?
        .ok_or_else(|| Error::store("create a campaign", "no row returned"))?;
    let id = id_value(record.id);
    let mut seen = HashSet::with_capacity(members.len());
    let members: Vec<&(DevId, u32)> = members
        .iter()
        .filter(|(dev_id, _)| seen.insert(dev_id))
        .collect();
    // Members in another unfinished campaign, with a row not final there,
    // are skipped; when no other campaign is unfinished, none is.
    let mut busy: HashSet<DevId> = HashSet::new();
    let others = c
        .query(
            "SELECT id FROM campaigns WHERE finished = 0 AND id <> ? LIMIT 1",
            std::slice::from_ref(&id),
        )
        .await?;
    if !others.is_empty() {
        for chunk in members.chunks(BATCH_ROWS) {
            let mut params = vec![id.clone()];
            params.extend(chunk.iter().map(|(dev_id, _)| dev_id.as_str().into()));
            let sql = format!(
                "SELECT DISTINCT cd.dev_id FROM campaign_devices cd \
                 JOIN campaigns c ON c.id = cd.campaign_id \
                 WHERE c.finished = 0 AND cd.campaign_id <> ? AND cd.state NOT IN ({}) \
                 AND cd.dev_id IN ({})",
                final_states(),
                placeholders(chunk.len())
            );
            for row in &c.query(&sql, &params).await? {
                busy.insert(dev_id_of(row, 0)?);
            }
        }
    }
    for chunk in members.chunks(BATCH_ROWS) {
        let mut params = Vec::with_capacity(chunk.len() * 5);
        for (dev_id, stage) in chunk {
            let state = if busy.contains(dev_id) {
                UpdateState::Skipped
            } else {
                UpdateState::Pending
            };
            params.extend([
                id.clone(),
                dev_id.as_str().into(),
                i64::from(*stage).into(),
                state.name().into(),
                int(now_ms),
            ]);
        }
        let values = vec!["(?, ?, ?, ?, NULL, 0, 0, '[]', ?)"; chunk.len()].join(", ");
        c.execute(
            &format!(
                "INSERT INTO campaign_devices (campaign_id, dev_id, stage, state, result, \
                 attempts, next_attempt_ms, commands, updated_ms) VALUES {values}"
            ),
            &params,
        )
        .await?;
    }
    Ok(record)
}

pub(super) async fn campaign(
    c: &mut dyn Connection,
    id: CampaignId,
) -> Result<Option<CampaignRecord>, Error> {
    let rows = c
        .query(
            &format!("SELECT {CAMPAIGN} FROM campaigns WHERE id = ?"),
            &[id_value(id)],
        )
        .await?;
    rows.first().map(record_of).transpose()
}

pub(super) async fn campaigns(c: &mut dyn Connection) -> Result<Vec<CampaignRecord>, Error> {
    let rows = c
        .query(
            &format!("SELECT {CAMPAIGN} FROM campaigns ORDER BY id"),
            &[],
        )
        .await?;
    rows.iter().map(record_of).collect()
}

pub(super) async fn update(
    c: &mut dyn Connection,
    id: CampaignId,
    expected_version: u64,
    status: CampaignStatus,
    stage: u32,
    now_ms: u64,
) -> Result<CampaignRecord, Error> {
    let rows = c
        .query(
            &format!(
                "UPDATE campaigns SET status = ?, finished = ?, stage = ?, version = version + 1, \
                 updated_ms = ? WHERE id = ? AND version = ? RETURNING {CAMPAIGN}"
            ),
            &[
                json("campaign status", &status)?,
                status.is_finished().into(),
                i64::from(stage).into(),
                int(now_ms),
                id_value(id),
                int(expected_version),
            ],
        )
        .await?;
    if let Some(row) = rows.first() {
        return record_of(row);
    }
    let found = c
        .query(
            "SELECT version FROM campaigns WHERE id = ?",
            &[id_value(id)],
        )
        .await?;
    if found.is_empty() {
        Err(Error::CampaignNotFound(id))
    } else {
        Err(Error::CampaignVersion {
            campaign: id,
            expected: expected_version,
        })
    }
}

pub(super) async fn counts(
    c: &mut dyn Connection,
    id: CampaignId,
) -> Result<Vec<StageCounts>, Error> {
    let rows = c
        .query(
            "SELECT stage, state, COUNT(*) FROM campaign_devices WHERE campaign_id = ? \
             GROUP BY stage, state",
            &[id_value(id)],
        )
        .await?;
    let mut stages: BTreeMap<u32, StageCounts> = BTreeMap::new();
    for row in &rows {
        let stage = u32_of(row, 0, "campaign device stage")?;
        let name = row.text(1, "campaign device state")?;
        let state = UpdateState::from_name(&name)
            .ok_or_else(|| Error::store("read a campaign device state", name))?;
        stages
            .entry(stage)
            .or_insert_with(|| StageCounts {
                stage,
                counts: BTreeMap::new(),
            })
            .counts
            .insert(state, row.u64(2, "count")?);
    }
    Ok(stages.into_values().collect())
}

pub(super) async fn devices(
    c: &mut dyn Connection,
    id: CampaignId,
    state: Option<UpdateState>,
    after: Option<&DevId>,
    limit: usize,
) -> Result<Vec<CampaignDevice>, Error> {
    let mut sql = format!(
        "SELECT {} FROM campaign_devices cd WHERE cd.campaign_id = ?",
        device_columns("cd")
    );
    let mut params = vec![id_value(id)];
    if let Some(state) = state {
        sql.push_str(" AND cd.state = ?");
        params.push(state.name().into());
    }
    if let Some(after) = after {
        sql.push_str(" AND cd.dev_id > ?");
        params.push(after.as_str().into());
    }
    sql.push_str(" ORDER BY cd.dev_id LIMIT ?");
    params.push(count(limit));
    devices_of(&c.query(&sql, &params).await?)
}

pub(super) async fn device(
    c: &mut dyn Connection,
    id: CampaignId,
    dev_id: &DevId,
) -> Result<Option<CampaignDevice>, Error> {
    let sql = format!(
        "SELECT {} FROM campaign_devices cd WHERE cd.campaign_id = ? AND cd.dev_id = ?",
        device_columns("cd")
    );
    let rows = c
        .query(&sql, &[id_value(id), dev_id.as_str().into()])
        .await?;
    rows.first().map(device_of).transpose()
}

pub(super) async fn active_device(
    c: &mut dyn Connection,
    dev_id: &DevId,
) -> Result<Option<CampaignDevice>, Error> {
    let sql = format!(
        "SELECT {} FROM campaign_devices cd JOIN campaigns c ON c.id = cd.campaign_id \
         WHERE cd.dev_id = ? AND c.finished = 0 AND cd.state NOT IN ({}) \
         ORDER BY cd.campaign_id LIMIT 1",
        device_columns("cd"),
        final_states()
    );
    let rows = c.query(&sql, &[dev_id.as_str().into()]).await?;
    rows.first().map(device_of).transpose()
}

pub(super) async fn due(
    c: &mut dyn Connection,
    id: CampaignId,
    max_stage: u32,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<CampaignDevice>, Error> {
    let sql = format!(
        "SELECT {} FROM campaign_devices cd WHERE cd.campaign_id = ? AND cd.state = ? \
         AND cd.stage <= ? AND cd.next_attempt_ms <= ? \
         ORDER BY cd.stage, cd.next_attempt_ms, cd.dev_id LIMIT ?",
        device_columns("cd")
    );
    let params = [
        id_value(id),
        UpdateState::Pending.name().into(),
        i64::from(max_stage).into(),
        int(now_ms),
        count(limit),
    ];
    devices_of(&c.query(&sql, &params).await?)
}

pub(super) async fn stale(
    c: &mut dyn Connection,
    id: CampaignId,
    updated_before_ms: u64,
    limit: usize,
) -> Result<Vec<CampaignDevice>, Error> {
    let in_flight: Vec<UpdateState> = UpdateState::ALL
        .into_iter()
        .filter(|s| s.is_in_flight())
        .collect();
    let sql = format!(
        "SELECT {} FROM campaign_devices cd WHERE cd.campaign_id = ? AND cd.state IN ({}) \
         AND cd.updated_ms < ? ORDER BY cd.updated_ms, cd.dev_id LIMIT ?",
        device_columns("cd"),
        state_list(&in_flight)
    );
    let params = [id_value(id), int(updated_before_ms), count(limit)];
    devices_of(&c.query(&sql, &params).await?)
}

pub(super) async fn advance(
    c: &mut dyn Connection,
    row: &CampaignDevice,
    expected: (UpdateState, u32),
    now_ms: u64,
) -> Result<bool, Error> {
    let changed = c
        .execute(
            "UPDATE campaign_devices SET state = ?, result = ?, attempts = ?, \
             next_attempt_ms = ?, commands = ?, updated_ms = ? \
             WHERE campaign_id = ? AND dev_id = ? AND state = ? AND attempts = ?",
            &[
                row.state.name().into(),
                row.result.map(i64::from).into(),
                i64::from(row.attempts).into(),
                int(row.next_attempt_ms),
                json("campaign device commands", &row.commands)?,
                int(now_ms),
                id_value(row.campaign),
                row.dev_id.as_str().into(),
                expected.0.name().into(),
                i64::from(expected.1).into(),
            ],
        )
        .await?;
    Ok(changed > 0)
}

pub(super) async fn skip_pending(
    c: &mut dyn Connection,
    id: CampaignId,
    now_ms: u64,
) -> Result<u64, Error> {
    c.execute(
        &format!(
            "UPDATE campaign_devices SET state = ?, updated_ms = ? \
             WHERE campaign_id = ? AND state IN ({})",
            state_list(&[UpdateState::Pending, UpdateState::Notified])
        ),
        &[
            UpdateState::Skipped.name().into(),
            int(now_ms),
            id_value(id),
        ],
    )
    .await
}

pub(super) async fn lease(
    c: &mut dyn Connection,
    id: CampaignId,
    node: &str,
    now_ms: u64,
    until_ms: u64,
) -> Result<bool, Error> {
    let granted = c
        .execute(
            "UPDATE campaigns SET lease_node = ?, lease_until_ms = ? \
             WHERE id = ? AND (lease_node IS NULL OR lease_node = ? OR lease_until_ms <= ?)",
            &[
                node.into(),
                int(until_ms),
                id_value(id),
                node.into(),
                int(now_ms),
            ],
        )
        .await?;
    if granted > 0 {
        return Ok(true);
    }
    let found = c
        .query("SELECT id FROM campaigns WHERE id = ?", &[id_value(id)])
        .await?;
    if found.is_empty() {
        Err(Error::CampaignNotFound(id))
    } else {
        Ok(false)
    }
}
