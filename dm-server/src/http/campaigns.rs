//! The campaign routes of the admin API (`/admin/campaigns...`,
//! docs/admin-api.md).

use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{AdminRefusal, AppState, admin, dev_id, read_json_body};
use super::admin_routes::{AdminRoute, Doc};
use super::refusal::refuse;
use super::schemas;
use crate::campaign::admin::{CampaignProgress, parse_campaign_spec, status_name};
use crate::notify::NotificationChannel;
use crate::store::{
    CampaignDevice, CampaignId, CampaignRecord, CampaignStatus, PauseReason, StageCounts, Store,
    UpdateState,
};

/// Most rows one listing returns.
const MAX_LIST: usize = 1000;

/// The campaign routes.
pub(super) fn routes<S: Store, C: NotificationChannel>() -> Vec<AdminRoute<S, C>> {
    let id = |doc: Doc| {
        doc.path_param(
            "id",
            json!({"type": "integer", "minimum": 1}),
            json!(1),
            "the campaign's id",
        )
    };
    vec![
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/campaigns", "Campaigns, in id order")
                .response(200, "the campaigns", schemas::reference("CampaignList"), json!({"campaigns": [example_campaign()]})),
            list::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/campaigns", "Create a campaign")
                .describe("Rolls `artifact` out to `group` in stages (docs/updates.md). Unknown members are 400; an artifact or group that does not exist is 404.")
                .body(schemas::reference("CampaignSpec"), json!({
                    "name": "X1 firmware 2.1",
                    "artifact": super::admin_updates::EXAMPLE_ARTIFACT,
                    "group": super::admin_updates::EXAMPLE_GROUP,
                    "stages": [
                        {"size": {"percent": 10}, "success_threshold_percent": 100, "advance": "approval"},
                        {"size": {"percent": 90}, "error_threshold_percent": 5},
                    ],
                    "pacing": {"max_in_flight": 500, "notifications_per_second": 50},
                    "window": {"start_minute": 120, "end_minute": 300},
                    "retry": {"max_attempts": 3, "initial_backoff_ms": 60000, "max_backoff_ms": 3_600_000},
                    "device_timeout_ms": 3_600_000,
                }))
                .response(201, "created", schemas::reference("CampaignProgress"), example_progress())
                .errors(&[404]),
            create::<S, C>,
        ),
        AdminRoute::new(
            id(Doc::new(Method::GET, "/admin/campaigns/{id}", "A campaign with its progress"))
                .response(200, "the campaign", schemas::reference("CampaignProgress"), example_progress())
                .errors(&[404]),
            show::<S, C>,
        ),
        AdminRoute::new(
            id(Doc::new(Method::GET, "/admin/campaigns/{id}/devices", "The campaign's devices, a page at a time"))
                .query("state", update_state_schema(), "only the rows in this state")
                .query("after", schemas::dev_id(), "the last DevID of the previous page")
                .query("limit", schemas::limit(MAX_LIST as u64), "rows per page")
                .response(200, "a page of rows", schemas::reference("CampaignDevices"), json!({
                    "devices": [{"dev_id": super::admin::EXAMPLE_DEV_ID, "stage": 1, "state": "failed",
                                 "result": 402, "attempts": 1, "next_attempt_ms": 0,
                                 "commands": ["1841", "1842"], "updated_ms": 1_764_000_300_000_u64}],
                    "next": null,
                }))
                .errors(&[404]),
            devices::<S, C>,
        ),
        AdminRoute::new(
            id(Doc::new(Method::POST, "/admin/campaigns/{id}/{action}", "Pause, resume, approve or cancel a campaign"))
                .describe("No body. 409 when the action does not apply to the campaign's status.")
                .path_param(
                    "action",
                    json!({"type": "string", "enum": ["pause", "resume", "approve", "cancel"]}),
                    json!("pause"),
                    "what to do",
                )
                .response(200, "the campaign after the action", schemas::reference("Campaign"), example_campaign())
                .errors(&[404, 409]),
            action::<S, C>,
        ),
    ]
}

fn update_state_schema() -> Value {
    json!({"type": "string", "enum": UpdateState::ALL.map(UpdateState::name)})
}

fn example_campaign() -> Value {
    json!({
        "id": 1, "name": "X1 firmware 2.1", "status": "paused", "pause_reason": "operator",
        "paused_stage": null, "stage": 0, "stages": 2, "version": 3,
        "created_ms": 1_764_000_000_000_u64, "updated_ms": 1_764_000_360_000_u64,
        "spec": {
            "name": "X1 firmware 2.1",
            "artifact": super::admin_updates::EXAMPLE_ARTIFACT,
            "group": super::admin_updates::EXAMPLE_GROUP,
            "stages": [
                {"size": {"percent": 10}, "success_threshold_percent": 100, "advance": "approval", "error_threshold_percent": 10},
                {"size": {"percent": 90}, "success_threshold_percent": 90, "advance": "auto", "error_threshold_percent": 5},
            ],
            "pacing": {"max_in_flight": 500, "notifications_per_second": 50},
            "window": null,
            "retry": {"max_attempts": 3, "initial_backoff_ms": 60000, "max_backoff_ms": 3_600_000},
            "device_timeout_ms": 3_600_000,
        },
    })
}

fn example_progress() -> Value {
    let mut value = example_campaign();
    value["progress"] = json!({
        "stages": [{"stage": 0, "total": 5, "counts": {"succeeded": 4, "downloading": 1}}],
        "totals": {"succeeded": 4, "downloading": 1},
        "total": 5,
    });
    value
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
