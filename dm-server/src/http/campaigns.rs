//! The campaign routes of the admin API (`/admin/campaigns...`,
//! docs/admin-api.md).

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{AdminRefusal, AppState, admin, dev_id, read_json_body};
use super::refusal::refuse;
use crate::campaign::admin::{CampaignProgress, parse_campaign_spec, status_name};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{
    CampaignDevice, CampaignId, CampaignRecord, CampaignStatus, PauseReason, StageCounts, Store,
    UpdateState,
};

/// Most rows one listing returns.
const MAX_LIST: usize = 1000;

/// The campaign routes.
pub(super) fn routes<S: Store, C: NotificationChannel>() -> Router<std::sync::Arc<Shared<S, C>>> {
    Router::new()
        .route("/admin/campaigns", get(list::<S, C>).post(create::<S, C>))
        .route("/admin/campaigns/{id}", get(show::<S, C>))
        .route("/admin/campaigns/{id}/devices", get(devices::<S, C>))
        .route("/admin/campaigns/{id}/{action}", post(action::<S, C>))
}

/// A campaign as the admin API shows it.
fn campaign_json(record: &CampaignRecord) -> Value {
    let (reason, paused_stage) = match record.status {
        CampaignStatus::Paused(PauseReason::Operator) => (Some("operator"), None),
        CampaignStatus::Paused(PauseReason::ErrorThreshold { stage }) => {
            (Some("error_threshold"), Some(stage))
        }
        _ => (None, None),
    };
    json!({
        "id": record.id.0,
        "name": record.spec.name,
        "status": status_name(record.status),
        "pause_reason": reason,
        "paused_stage": paused_stage,
        "stage": record.stage,
        "stages": record.spec.stages.len(),
        "version": record.version,
        "created_ms": record.created_ms,
        "updated_ms": record.updated_ms,
        "spec": serde_json::to_value(&record.spec).unwrap_or(Value::Null),
    })
}

fn counts_json(counts: &std::collections::BTreeMap<UpdateState, u64>) -> Value {
    Value::Object(
        counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(state, n)| (state.name().to_owned(), json!(n)))
            .collect(),
    )
}

fn stage_json(stage: &StageCounts) -> Value {
    json!({
        "stage": stage.stage,
        "total": stage.total(),
        "counts": counts_json(&stage.counts),
    })
}

fn progress_json(progress: &CampaignProgress) -> Value {
    let mut value = campaign_json(&progress.record);
    value["progress"] = json!({
        "stages": progress.stages.iter().map(stage_json).collect::<Vec<_>>(),
        "totals": counts_json(&progress.totals),
        "total": progress.totals.values().sum::<u64>(),
    });
    value
}

fn row_json(row: &CampaignDevice) -> Value {
    json!({
        "dev_id": row.dev_id.as_str(),
        "stage": row.stage,
        "state": row.state.name(),
        "result": row.result,
        "attempts": row.attempts,
        "next_attempt_ms": row.next_attempt_ms,
        "commands": row.commands.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "updated_ms": row.updated_ms,
    })
}

fn campaign_id(text: &str) -> Result<CampaignId, AdminRefusal> {
    text.parse()
        .map_err(|_| refuse(404, format!("no campaign {text:?}")).into())
}

async fn create<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = read_json_body(&shared, request).await?;
    let spec = parse_campaign_spec(&body)?;
    let record = admin(&shared).create_campaign(spec).await?;
    let progress = admin(&shared).campaign(record.id).await?;
    Ok((StatusCode::CREATED, axum::Json(progress_json(&progress))).into_response())
}

async fn list<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
) -> Result<Response, AdminRefusal> {
    let campaigns = admin(&shared).campaigns().await?;
    Ok(axum::Json(json!({
        "campaigns": campaigns.iter().map(campaign_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn show<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(id): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = campaign_id(&id)?;
    let progress = admin(&shared).campaign(id).await?;
    Ok(axum::Json(progress_json(&progress)).into_response())
}

#[derive(Deserialize)]
struct DevicesQuery {
    state: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn devices<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, AdminRefusal> {
    let id = campaign_id(&id)?;
    let query = Query::<DevicesQuery>::try_from_uri(&uri)
        .map_err(|e| refuse(400, format!("query: {e}")))?;
    let state = match query.state.as_deref() {
        None | Some("") => None,
        Some(name) => Some(UpdateState::from_name(name).ok_or_else(|| {
            refuse(
                400,
                format!(
                    "state {name:?} is not one of {}",
                    UpdateState::ALL.map(UpdateState::name).join(", ")
                ),
            )
        })?),
    };
    let after = query.after.as_deref().map(dev_id).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let rows = admin(&shared)
        .campaign_devices(id, state, after.as_ref(), limit)
        .await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.dev_id.to_string()))
        .flatten();
    Ok(axum::Json(json!({
        "devices": rows.iter().map(row_json).collect::<Vec<_>>(),
        "next": next,
    }))
    .into_response())
}

async fn action<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, AdminRefusal> {
    let id = campaign_id(&id)?;
    let admin = admin(&shared);
    let record = match action.as_str() {
        "pause" => admin.pause_campaign(id).await?,
        "resume" => admin.resume_campaign(id).await?,
        "approve" => admin.approve_campaign(id).await?,
        "cancel" => admin.cancel_campaign(id).await?,
        _ => return Err(refuse(404, "no such admin resource").into()),
    };
    Ok(axum::Json(campaign_json(&record)).into_response())
}
