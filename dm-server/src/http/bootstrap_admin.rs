//! The admin API of the bootstrap role (`/admin/bootstrap/...`, documented
//! in `docs/admin-api.md`): profiles, bootstrap devices, outcomes and
//! server-initiated bootstrap. No answer ever carries a secret.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::admin::{AdminRefusal, AppState, admin, dev_id, read_json_body};
use super::refusal::refuse;
use crate::bootstrap::{BootstrapProfile, parse_bootstrap_device};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{BootstrapDevice, BootstrapOutcomeRecord, Store};

/// The routes.
pub(super) fn routes<S: Store, C: NotificationChannel>() -> Router<Arc<Shared<S, C>>> {
    Router::new()
        .route(
            "/admin/bootstrap/profiles",
            get(list_profiles::<S, C>).post(put_profile::<S, C>),
        )
        .route(
            "/admin/bootstrap/profiles/{name}",
            get(profile::<S, C>)
                .put(put_named_profile::<S, C>)
                .delete(remove_profile::<S, C>),
        )
        .route("/admin/bootstrap/devices", post(register_device::<S, C>))
        .route(
            "/admin/bootstrap/devices/{dev_id}",
            get(device::<S, C>).delete(remove_device::<S, C>),
        )
        .route(
            "/admin/bootstrap/devices/{dev_id}/outcomes",
            get(outcomes::<S, C>),
        )
        .route(
            "/admin/bootstrap/devices/{dev_id}/notify",
            post(notify::<S, C>),
        )
}

async fn list_profiles<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
) -> Result<Response, AdminRefusal> {
    let profiles = admin(&shared).bootstrap_profiles().await?;
    let list: Vec<Value> = profiles.iter().map(BootstrapProfile::to_value).collect();
    Ok(axum::Json(json!({ "profiles": list })).into_response())
}

async fn store_profile<S: Store, C: NotificationChannel>(
    shared: &Arc<Shared<S, C>>,
    profile: BootstrapProfile,
) -> Result<Response, AdminRefusal> {
    let value = profile.to_value();
    let replaced = admin(shared).put_bootstrap_profile(profile).await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(value)).into_response())
}

async fn put_profile<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = read_json_body(&shared, request).await?;
    let profile = BootstrapProfile::from_json(&body)?;
    store_profile(&shared, profile).await
}

async fn put_named_profile<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = read_json_body(&shared, request).await?;
    let profile = BootstrapProfile::from_json(&body)?;
    if profile.name != name {
        return Err(refuse(400, "name differs from the name of the path").into());
    }
    store_profile(&shared, profile).await
}

async fn profile<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(name): Path<String>,
) -> Result<Response, AdminRefusal> {
    let profiles = admin(&shared).bootstrap_profiles().await?;
    let profile = profiles
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| refuse(404, "no such bootstrap profile"))?;
    Ok(axum::Json(profile.to_value()).into_response())
}

async fn remove_profile<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(name): Path<String>,
) -> Result<Response, AdminRefusal> {
    if admin(&shared).remove_bootstrap_profile(&name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(refuse(404, "no such bootstrap profile").into())
    }
}

async fn register_device<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = read_json_body(&shared, request).await?;
    let device = parse_bootstrap_device(&body)?;
    let dev_id = device.dev_id.as_str().to_owned();
    admin(&shared).register_bootstrap_device(device).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "dev_id": dev_id }))).into_response())
}

/// A device as the admin API shows it: no secret, only whether one is set.
fn device_json(device: &BootstrapDevice, outcomes: &[BootstrapOutcomeRecord]) -> Value {
    json!({
        "dev_id": device.dev_id.as_str(),
        "identity": device.identity,
        "psk_identity": device.psk.as_ref().map(|p| p.identity.as_str()),
        "notification_secret": device.notification_secret.is_some(),
        "notification_address": device.notification_address,
        "last_notification_id": device.last_notification_id,
        "outcomes": outcomes,
    })
}

async fn device<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let admin = admin(&shared);
    let device = admin.bootstrap_device(&dev_id).await?;
    let outcomes = admin.bootstrap_outcomes(&dev_id).await?;
    Ok(axum::Json(device_json(&device, &outcomes)).into_response())
}

async fn remove_device<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    if admin(&shared).remove_bootstrap_device(&dev_id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(crate::Error::DeviceNotFound(dev_id).into())
    }
}

async fn outcomes<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let outcomes = admin(&shared).bootstrap_outcomes(&dev_id).await?;
    Ok(axum::Json(json!({ "outcomes": outcomes })).into_response())
}

async fn notify<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let sent = admin(&shared).notify_bootstrap(&dev_id).await?;
    Ok(axum::Json(json!({
        "notification_id": sent.notification_id,
        "timestamp": sent.timestamp,
        "address": sent.address,
    }))
    .into_response())
}
