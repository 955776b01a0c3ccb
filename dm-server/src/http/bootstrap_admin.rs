//! The admin API of the bootstrap role (`/admin/bootstrap/...`, documented
//! in `docs/admin-api.md`): profiles, bootstrap devices, outcomes and
//! server-initiated bootstrap. No answer ever carries a secret.

use std::sync::Arc;

use axum::extract::{Path, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin::{AdminRefusal, AppState, admin, dev_id, read_json_body};
use super::admin_routes::{AdminRoute, Doc};
use super::refusal::refuse;
use super::schemas;
use crate::bootstrap::{BootstrapProfile, parse_bootstrap_device};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{BootstrapDevice, BootstrapOutcomeRecord, Store};

/// The routes.
pub(super) fn routes<S: Store, C: NotificationChannel>() -> Vec<AdminRoute<S, C>> {
    let name = |doc: Doc| {
        doc.path_param(
            "name",
            json!({"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[A-Za-z0-9._-]+$"}),
            json!(EXAMPLE_PROFILE),
            "the profile's name",
        )
    };
    let dev = |doc: Doc| {
        doc.path_param(
            "dev_id",
            schemas::dev_id(),
            json!(super::admin::EXAMPLE_DEV_ID),
            "the DevID, percent-encoded",
        )
    };
    vec![
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/bootstrap/profiles", "Bootstrap profiles, in name order")
                .response(200, "the profiles", schemas::reference("BootstrapProfileList"), json!({"profiles": [example_profile()]})),
            list_profiles::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/bootstrap/profiles", "Add a profile, or replace the one of the same name")
                .body(schemas::reference("BootstrapProfile"), example_profile())
                .response(200, "replaced", schemas::reference("BootstrapProfile"), example_profile())
                .response(201, "added", schemas::reference("BootstrapProfile"), example_profile()),
            put_profile::<S, C>,
        ),
        AdminRoute::new(
            name(Doc::new(Method::GET, "/admin/bootstrap/profiles/{name}", "One profile"))
                .response(200, "the profile", schemas::reference("BootstrapProfile"), example_profile())
                .errors(&[404]),
            profile::<S, C>,
        ),
        AdminRoute::new(
            name(Doc::new(Method::PUT, "/admin/bootstrap/profiles/{name}", "Add or replace the profile of that name"))
                .describe("The body's `name` must be the path's.")
                .body(schemas::reference("BootstrapProfile"), example_profile())
                .response(200, "replaced", schemas::reference("BootstrapProfile"), example_profile())
                .response(201, "added", schemas::reference("BootstrapProfile"), example_profile()),
            put_named_profile::<S, C>,
        ),
        AdminRoute::new(
            name(Doc::new(Method::DELETE, "/admin/bootstrap/profiles/{name}", "Remove a profile"))
                .empty(204, "removed")
                .errors(&[404]),
            remove_profile::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/bootstrap/devices", "Register (or replace) a device with the bootstrap server")
                .body(schemas::reference("BootstrapDeviceRegistration"), json!({
                    "dev_id": "IMEI:493005100592805",
                    "identity": "factory-line-7",
                    "psk": {"identity": "dev-17", "key_hex": "000102030405060708090a0b0c0d0e0f"},
                    "notification": {"address": "udp://127.0.0.1:9", "secret_hex": "6e6f7469", "data_hex": "64617461"},
                }))
                .response(201, "registered", schemas::reference("Registered"), json!({"dev_id": "IMEI:493005100592805"}))
                .errors(&[409]),
            register_device::<S, C>,
        ),
        AdminRoute::new(
            dev(Doc::new(Method::GET, "/admin/bootstrap/devices/{dev_id}", "A device registered with the bootstrap server"))
                .response(200, "the device, without secrets", schemas::reference("BootstrapDevice"), json!({
                    "dev_id": super::admin::EXAMPLE_DEV_ID,
                    "identity": "factory-line-7",
                    "psk_identity": "dev-17",
                    "notification_secret": true,
                    "notification_address": "udp://192.0.2.10:9443",
                    "last_notification_id": 3,
                    "outcomes": [example_outcome()],
                }))
                .errors(&[404]),
            device::<S, C>,
        ),
        AdminRoute::new(
            dev(Doc::new(Method::DELETE, "/admin/bootstrap/devices/{dev_id}", "Remove a device and its outcomes"))
                .empty(204, "removed")
                .errors(&[404]),
            remove_device::<S, C>,
        ),
        AdminRoute::new(
            dev(Doc::new(Method::GET, "/admin/bootstrap/devices/{dev_id}/outcomes", "How the device's last bootstraps ended"))
                .response(200, "newest first, at most 16", schemas::reference("BootstrapOutcomes"), json!({"outcomes": [example_outcome()]})),
            outcomes::<S, C>,
        ),
        AdminRoute::new(
            dev(Doc::new(Method::POST, "/admin/bootstrap/devices/{dev_id}/notify", "Server-initiated bootstrap: send the device a Package#0"))
                .response(200, "sent", schemas::reference("NotificationSent"), json!({
                    "notification_id": 4, "timestamp": 1_764_000_100_u64, "address": "udp://192.0.2.10:9443",
                }))
                .errors(&[404, 409, 422, 502]),
            notify::<S, C>,
        ),
    ]
}

/// The profile name the documented examples use.
const EXAMPLE_PROFILE: &str = "fleet-a";

fn example_profile() -> Value {
    json!({
        "name": EXAMPLE_PROFILE,
        "match": {"dev_id_pattern": "IMEI:35*"},
        "accounts": [{
            "server_id": "dm.example",
            "server_uri": "https://dm.example/dm",
            "name": "Example DM",
            "perm": ["urn:oma:mo:oma-dm-devinfo:1.0"],
            "credentials": {"notification_secret": true, "http_password": true, "client_certificate": false},
            "register": "local",
        }],
    })
}

fn example_outcome() -> Value {
    json!({
        "dev_id": super::admin::EXAMPLE_DEV_ID, "ended_ms": 1_764_000_000_000_u64, "profile": EXAMPLE_PROFILE,
        "credential": "cert-sha256:3f1c", "result": "provisioned", "servers": ["dm.example"],
    })
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
