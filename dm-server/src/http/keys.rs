//! The API key routes of the admin API (`/admin/keys...`, admin scope) and
//! `GET /admin/whoami` (any scope), docs/admin-api.md "Keys".

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::access::Caller;
use super::admin::{AdminRefusal, AppState, admin};
use super::refusal::refuse;
use super::request::{check_length, read_body};
use crate::access::parse_api_key_request;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{ApiKeyId, ApiKeyRecord, Store};

/// Largest body of `POST /admin/keys` (a name of at most 64 bytes and a
/// scope).
const KEY_BODY: usize = 1024;

/// The routes.
pub(crate) fn routes<S: Store, C: NotificationChannel>() -> Router<Arc<Shared<S, C>>> {
    Router::new()
        .route("/admin/keys", get(list::<S, C>).post(add::<S, C>))
        .route("/admin/keys/{id}", get(show::<S, C>).delete(revoke::<S, C>))
        .route("/admin/whoami", get(whoami))
}

/// A key as the admin API lists it: never its secret nor its hash.
fn key_json(record: &ApiKeyRecord) -> Value {
    json!({
        "id": record.id.as_str(),
        "name": record.name,
        "scope": record.scope,
        "created_ms": record.created_ms,
        "revoked_ms": record.revoked_ms,
        "last_used_ms": record.last_used_ms,
    })
}

fn key_id(text: &str) -> Result<ApiKeyId, AdminRefusal> {
    ApiKeyId::new(text).map_err(|e| refuse(400, e).into())
}

async fn add<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    check_length(request.headers(), KEY_BODY)?;
    let body = read_body(
        request.into_body(),
        KEY_BODY,
        shared.options.limits.body_timeout,
    )
    .await?;
    let (name, scope) = parse_api_key_request(&body)?;
    let (record, key) = admin(&shared).add_api_key(&name, scope).await?;
    tracing::info!(id = %record.id, %scope, "API key added");
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "id": record.id.as_str(),
            "name": record.name,
            "scope": record.scope,
            "created_ms": record.created_ms,
            // The only time the key is ever shown.
            "key": key.text(),
        })),
    )
        .into_response())
}

async fn list<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
) -> Result<Response, AdminRefusal> {
    let keys = admin(&shared).api_keys().await?;
    Ok(
        axum::Json(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn show<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = key_id(&text)?;
    let record = admin(&shared)
        .api_key(&id)
        .await?
        .ok_or_else(|| refuse(404, format!("no API key {id}")))?;
    Ok(axum::Json(key_json(&record)).into_response())
}

async fn revoke<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = key_id(&text)?;
    if admin(&shared).revoke_api_key(&id).await? {
        tracing::info!(%id, "API key revoked");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(refuse(404, format!("no API key {id}")).into())
    }
}

/// Who the caller is: their scope, and the key (id and name) when an API
/// key authenticated the request.
async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    let key = caller
        .key
        .as_ref()
        .map(|(id, name)| json!({ "id": id.as_str(), "name": name }));
    axum::Json(json!({ "scope": caller.scope, "key": key })).into_response()
}
