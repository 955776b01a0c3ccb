//! The admin API under `/admin` (JSON; documented in `docs/admin-api.md`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use dm_codec::mime;
use dm_types::DevId;

use super::{Refusal, check_length, read_body, refuse};
use crate::admin::Admin;
use crate::config::DeviceConfig;
use crate::notify::NotificationChannel;
use crate::server::Shared;
use crate::store::wire::{initiator_name, mo_items_to_json, mos_to_json};
use crate::store::{AlertRecord, CommandId, CommandRecord, DeviceRecord, SessionSummary, Store};
use crate::util::hex;

type AppState<S, C> = State<Arc<Shared<S, C>>>;

/// Largest JSON body of a command or device registration.
const SMALL_BODY: usize = 256 << 10;

/// Most devices one listing returns.
const MAX_LIST: usize = 1000;

pub(crate) fn router<S: Store, C: NotificationChannel>(
    shared: Arc<Shared<S, C>>,
) -> Router<Arc<Shared<S, C>>> {
    Router::new()
        .route(
            "/admin/devices",
            get(list_devices::<S, C>).post(register_device::<S, C>),
        )
        .route(
            "/admin/devices/{dev_id}",
            get(device::<S, C>).delete(remove_device::<S, C>),
        )
        .route(
            "/admin/devices/{dev_id}/commands",
            get(commands::<S, C>).post(enqueue::<S, C>),
        )
        .route(
            "/admin/devices/{dev_id}/commands/{id}",
            get(command::<S, C>),
        )
        .route("/admin/devices/{dev_id}/alerts", get(alerts::<S, C>))
        .route("/admin/devices/{dev_id}/notify", post(notify::<S, C>))
        .route(
            "/admin/repository/{*path}",
            get(read_object::<S, C>)
                .put(write_object::<S, C>)
                .delete(delete_object::<S, C>),
        )
        .route("/admin", any(no_such_resource))
        .route("/admin/{*rest}", any(no_such_resource))
        .route_layer(middleware::from_fn_with_state(shared, check_token::<S, C>))
        .layer(middleware::map_response(json_errors))
}

async fn no_such_resource() -> AdminRefusal {
    refuse(404, "no such admin resource").into()
}

/// Makes every refusal of the admin API JSON `{"error": ...}`, axum's own
/// included (a path segment that does not decode, a method not allowed).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Bodies of the router's own refusals are short texts.
    let text = axum::body::to_bytes(body, 4 << 10)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(
        parts,
        axum::body::Body::from(json!({ "error": message }).to_string()),
    )
}

async fn check_token<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
    next: Next,
) -> Response {
    match crate::auth::check_admin(&shared.options, request.headers()) {
        Ok(()) => next.run(request).await,
        Err((status, message)) => {
            tracing::info!(%message, "admin request refused");
            let refusal = refuse(status, message).json();
            if status == 401 {
                refusal
                    .with_header(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Bearer realm="dm-admin""#),
                    )
                    .into_response()
            } else {
                refusal.into_response()
            }
        }
    }
}

/// What admin handlers answer when they refuse: the refusal as
/// `{"error": ...}`.
struct AdminRefusal(Refusal);

impl From<Refusal> for AdminRefusal {
    fn from(refusal: Refusal) -> Self {
        AdminRefusal(refusal.json())
    }
}

impl From<crate::Error> for AdminRefusal {
    fn from(error: crate::Error) -> Self {
        AdminRefusal(Refusal::from(error).json())
    }
}

impl IntoResponse for AdminRefusal {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

fn dev_id(text: &str) -> Result<DevId, Refusal> {
    DevId::new(text).map_err(|e| refuse(400, format!("DevID {text:?}: {e}")))
}

fn admin<S: Store, C: NotificationChannel>(shared: &Arc<Shared<S, C>>) -> Admin<S, C> {
    Admin::new(shared.clone())
}

async fn json_body<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    request: Request,
) -> Result<Value, Refusal> {
    check_length(request.headers(), SMALL_BODY)?;
    let body = read_body(
        request.into_body(),
        SMALL_BODY,
        shared.options.limits.body_timeout,
    )
    .await?;
    serde_json::from_slice(&body).map_err(|e| refuse(400, format!("invalid JSON: {e}")))
}

fn summary_json(summary: &SessionSummary, base: &str) -> Value {
    let notification_id = match summary.initiator {
        dm_session::Initiator::Server(id) => id,
        _ => None,
    };
    json!({
        "token": summary.token.to_string(),
        "initiator": initiator_name(summary.initiator),
        "notification_id": notification_id,
        "started_ms": summary.started_ms,
        "ended_ms": summary.ended_ms,
        "session_uri": summary.cont_sent.then(|| format!("{base}/dm/s/{}", summary.token)),
        "packages": summary.packages,
        "outcome": summary.outcome.as_ref().map(ToString::to_string),
    })
}

fn device_summary_json(record: &DeviceRecord, base: &str) -> Value {
    json!({
        "dev_id": record.dev_id.as_str(),
        "notification_address": record.notification_address,
        "open_session": record.open_session.is_some(),
        "last_session": record.last_session().map(|s| summary_json(s, base)),
    })
}

pub(crate) fn command_json(record: &CommandRecord) -> Value {
    let words = crate::store::wire::command::words(&record.command);
    let result = record.result.as_ref();
    json!({
        "id": record.id.to_string(),
        "command": words,
        "state": record.state.as_str(),
        "status": result.map(|s| s.code.as_u16()),
        "uris": result.map_or_else(Vec::new, |s| s.uris.iter().map(|u| Value::from(u.as_str())).collect()),
        "data": result.map_or_else(|| json!([]), |s| mo_items_to_json(&s.data)),
        "from_cache": record.from_cache,
        "error": record.error,
        "session": record.session.map(|t| t.to_string()),
        "queued_ms": record.queued_ms,
        "updated_ms": record.updated_ms,
    })
}

fn alert_json(record: &AlertRecord) -> Value {
    let alert: Value =
        serde_json::from_slice(&dm_codec::encode_alert(&record.alert)).unwrap_or(Value::Null);
    json!({
        "received_ms": record.received_ms,
        "session": record.session.map(|t| t.to_string()),
        "alert": alert,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_devices<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, AdminRefusal> {
    let query =
        Query::<ListQuery>::try_from_uri(&uri).map_err(|e| refuse(400, format!("query: {e}")))?;
    let after = query.after.as_deref().map(dev_id).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let admin = admin(&shared);
    let base = shared.base_uri(&headers);
    let devices = admin.devices(after.as_ref(), limit).await?;
    let next = (devices.len() == limit)
        .then(|| devices.last().map(|d| d.dev_id.to_string()))
        .flatten();
    Ok(axum::Json(json!({
        "devices": devices
            .iter()
            .map(|d| device_summary_json(d, &base))
            .collect::<Vec<_>>(),
        "next": next,
        "total": admin.device_count().await?,
    }))
    .into_response())
}

async fn register_device<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = json_body(&shared, request).await?;
    let config: DeviceConfig =
        serde_json::from_value(body).map_err(|e| refuse(400, format!("device: {e}")))?;
    let registration = config
        .registration(&shared.options.realm)
        .map_err(|e| refuse(400, e))?;
    let dev_id = registration.dev_id.to_string();
    admin(&shared).register_device(registration, false).await?;
    tracing::info!(%dev_id, "device registered");
    Ok((StatusCode::CREATED, axum::Json(json!({ "dev_id": dev_id }))).into_response())
}

async fn device<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let admin = admin(&shared);
    let record = admin.device(&dev_id).await?;
    let commands = admin.commands(&dev_id).await?;
    let (finished, pending): (Vec<&CommandRecord>, Vec<&CommandRecord>) =
        commands.iter().partition(|c| c.state.is_finished());
    let alerts = admin.alerts(&dev_id).await?.len();
    let base = shared.base_uri(&headers);
    Ok(axum::Json(json!({
        "dev_id": record.dev_id.as_str(),
        "registered_ms": record.registered_ms,
        "username": record.credentials.as_ref().map(|c| c.username.as_str()),
        "certificate_sha256": record.certificate_sha256.map(|c| hex(&c)),
        "notification_address": record.notification_address,
        "notification_secret": record.notification_secret.is_some(),
        "last_notification_id": record.last_notification_id,
        "last_session": record.last_session().map(|s| summary_json(s, &base)),
        "sessions": record
            .sessions
            .iter()
            .map(|s| summary_json(s, &base))
            .collect::<Vec<_>>(),
        "open_session": record.open_session.map(|t| t.to_string()),
        "mos": record.mos.as_ref().map(|m| m.iter().map(mos_to_json).collect::<Vec<_>>()),
        "commands": {
            "pending": pending.into_iter().map(command_json).collect::<Vec<_>>(),
            "finished": finished.into_iter().map(command_json).collect::<Vec<_>>(),
        },
        "alerts": alerts,
    }))
    .into_response())
}

async fn remove_device<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    admin(&shared).remove_device(&dev_id).await?;
    tracing::info!(%dev_id, "device removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn enqueue<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let body = json_body(&shared, request).await?;
    let words = body
        .get("command")
        .ok_or_else(|| refuse(400, r#"the body needs a "command" array"#))?;
    let command = crate::admin::parse_command(words)?;
    let use_cache = match body.get("use_cache") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(refuse(400, r#""use_cache" must be true or false"#).into()),
    };
    let admin = admin(&shared);
    let id = if use_cache {
        admin.enqueue_cached(&dev_id, command).await?
    } else {
        admin.enqueue(&dev_id, command).await?
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id.to_string() })),
    )
        .into_response())
}

async fn commands<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let commands = admin(&shared).commands(&dev_id).await?;
    Ok(axum::Json(json!({
        "commands": commands.iter().map(command_json).collect::<Vec<_>>()
    }))
    .into_response())
}

async fn command<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path((text, id)): Path<(String, String)>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let id: CommandId = id
        .parse()
        .map_err(|_| refuse(404, format!("no command {id:?}")))?;
    let record = admin(&shared).command(&dev_id, id).await?;
    Ok(axum::Json(command_json(&record)).into_response())
}

async fn alerts<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let alerts = admin(&shared).alerts(&dev_id).await?;
    Ok(axum::Json(json!({
        "alerts": alerts.iter().map(alert_json).collect::<Vec<_>>()
    }))
    .into_response())
}

async fn notify<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let sent = admin(&shared).notify(&dev_id).await?;
    Ok(axum::Json(json!({
        "notification_id": sent.notification_id,
        "timestamp": sent.timestamp,
        "address": sent.address,
    }))
    .into_response())
}

async fn read_object<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(path): Path<String>,
) -> Result<Response, AdminRefusal> {
    let object = admin(&shared)
        .repository(&path)
        .await?
        .ok_or_else(|| refuse(404, format!("no repository object at {path}")))?;
    Ok(([(CONTENT_TYPE, mime::MO_DATA)], object.body).into_response())
}

async fn write_object<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(path): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let limits = &shared.options.limits;
    super::check_length(request.headers(), limits.codec.mo_data_bytes)?;
    let content_type = super::header(request.headers(), CONTENT_TYPE.as_str()).unwrap_or("");
    if !(mime::content_type_matches(content_type, mime::MO_DATA)
        || mime::content_type_matches(content_type, "application/json"))
    {
        return Err(refuse(
            415,
            format!("Content-Type {content_type:?} is not {}", mime::MO_DATA),
        )
        .into());
    }
    check_length(request.headers(), SMALL_BODY)?;
    let body = read_body(
        request.into_body(),
        limits.codec.mo_data_bytes,
        limits.body_timeout,
    )
    .await?;
    let created = admin(&shared).put_repository(&path, &body).await?;
    tracing::info!(path, "repository object stored");
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

async fn delete_object<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(path): Path<String>,
) -> Result<Response, AdminRefusal> {
    if admin(&shared).delete_repository(&path).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(refuse(404, format!("no repository object at {path}")).into())
    }
}
