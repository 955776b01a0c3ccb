//! The API key routes of the admin API (`/admin/keys...`, admin scope) and
//! `GET /admin/whoami` (any scope), docs/admin-api.md "Keys".

use axum::extract::{Extension, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access::Caller;
use super::admin::{AdminRefusal, AppState, admin};
use super::admin_routes::{AdminRoute, Doc};
use super::refusal::refuse;
use super::request::{check_length, read_body};
use super::schemas;
use crate::access::parse_api_key_request;
use crate::notify::NotificationChannel;
use crate::store::{ApiKeyId, ApiKeyRecord, Store};

/// Largest body of `POST /admin/keys` (a name of at most 64 bytes and a
/// scope).
const KEY_BODY: usize = 1024;

/// An example key id.
const EXAMPLE_ID: &str = "k7q2m4xw3bnr5tdy";

/// A key as listed, for the document.
fn example_key() -> Value {
    json!({"id": EXAMPLE_ID, "name": "ci", "scope": "read", "created_ms": 1_764_000_000_000_u64,
           "revoked_ms": null, "last_used_ms": 1_764_000_060_000_u64})
}

/// The routes (both roles).
pub(crate) fn routes<S: Store, C: NotificationChannel>() -> Vec<AdminRoute<S, C>> {
    let id = || json!({"type": "string", "pattern": "^[a-z2-7]{16}$"});
    vec![
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/keys", "Add an API key")
                .describe("The answer carries the key `dmk_<id>_<secret>`, this once: the server keeps only the SHA-256 of its secret. Body at most 1 KiB.")
                .body(schemas::reference("ApiKeyRequest"), json!({"name": "ci", "scope": "read"}))
                .response(201, "added", schemas::reference("ApiKeyAdded"), json!({
                    "id": EXAMPLE_ID, "name": "ci", "scope": "read", "created_ms": 1_764_000_000_000_u64,
                    "key": "dmk_k7q2m4xw3bnr5tdy_3q2-7wLm0cR4kY1vB9dZsXfNpA6uTeHjGo5iKqW8yEc",
                }))
                .errors(&[400, 413]),
            add::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/keys", "API keys")
                .describe("Every key, revoked ones included, in id order; never a secret nor its hash.")
                .response(200, "the keys", schemas::reference("ApiKeyList"), json!({"keys": [example_key()]})),
            list::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/keys/{id}", "One API key")
                .path_param("id", id(), json!(EXAMPLE_ID), "the key's id")
                .response(200, "the key", schemas::reference("ApiKey"), example_key())
                .errors(&[400, 404]),
            show::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::DELETE, "/admin/keys/{id}", "Revoke an API key")
                .describe("At once, on every node sharing the store; revoking again keeps the first time.")
                .path_param("id", id(), json!(EXAMPLE_ID), "the key's id")
                .empty(204, "revoked")
                .errors(&[400, 404]),
            revoke::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/whoami", "Who the credential is")
                .describe("The scope of the credential, and the key (id and name), `null` for the admin token and for dev mode without a credential.")
                .response(200, "the caller", schemas::reference("WhoAmI"), json!({
                    "scope": "operator", "key": {"id": EXAMPLE_ID, "name": "ci"},
                })),
            whoami,
        ),
    ]
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
