//! The bootstrap role's device routes (docs/bootstrap.md): `POST /dm`
//! (Package#1 of a bootstrap session), `POST /dm/s/{token}` (its
//! Package#3) and `GET /bootstrap/accounts/{token}` (the DMAcc data its
//! HGET reads, once, on the same bootstrap credential).
//!
//! Every request needs the connection's bootstrap credential (the verified
//! client certificate, or a PSK identity a TLS layer put in the request's
//! extensions): without one it is refused (403) and nothing is stored.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use dm_codec::mime;
use dm_session::bootstrap_server::{BootstrapOutcome, BootstrapSession, BootstrapStatus};
use dm_session::{PackageRequest, ServerConfig};
use dm_types::{Alert, AlertType, DevId, NotificationAddress, ServerUri};

use super::refusal::{Refusal, refuse};
use super::request::{check_accept, check_length, header, read_device_body};
use crate::bootstrap::{
    BootstrapCredential, BootstrapProfile, ProfileMatch, provision, select_profile,
};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{
    BootstrapOutcomeRecord, BootstrapResult, BootstrapSessionRecord, PendingRegistration,
    SessionToken, Store,
};
use crate::util::now_ms;

/// The connection's bootstrap credential (403 without one).
fn credential(parts: &Parts) -> Result<BootstrapCredential, Refusal> {
    parts
        .extensions
        .get::<BootstrapCredential>()
        .cloned()
        .ok_or_else(|| {
            refuse(
                403,
                "a bootstrap session needs a bootstrap credential (client certificate or PSK)",
            )
        })
}

fn settings<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
) -> Result<&crate::BootstrapSettings, Refusal> {
    shared
        .options
        .bootstrap
        .as_ref()
        .ok_or_else(|| refuse(404, "not a bootstrap server"))
}

/// The profile for `dev_id` on `credential`: when the credential's
/// identity is the DevID (certificate CN = DevID), or a registered PSK
/// identity of that device, every profile may match; otherwise only a
/// profile for the credential identity itself.
async fn profile_for<S: Store>(
    store: &S,
    dev_id: &DevId,
    credential: &BootstrapCredential,
) -> Result<Option<BootstrapProfile>, crate::Error> {
    let identity = credential.identity();
    let profiles = store.bootstrap_profiles().await?;
    let identified = match credential {
        BootstrapCredential::Certificate { .. } => identity == Some(dev_id.as_str()),
        BootstrapCredential::Psk { identity } => store
            .bootstrap_device_by_psk_identity(identity)
            .await?
            .is_some_and(|device| device.dev_id == *dev_id),
    };
    if identified {
        return Ok(select_profile(&profiles, dev_id, identity).cloned());
    }
    let own: Vec<BootstrapProfile> = profiles
        .into_iter()
        .filter(|p| matches!(&p.matches, ProfileMatch::Identity(_)))
        .collect();
    Ok(select_profile(&own, dev_id, identity).cloned())
}

fn package_request<'a>(parts: &'a Parts, body: &'a [u8]) -> PackageRequest<'a> {
    PackageRequest {
        content_type: header(&parts.headers, CONTENT_TYPE.as_str()),
        dev_id: header(&parts.headers, mime::OMADM_DEV_ID),
        authenticated: None,
        body,
    }
}

fn package2(body: Vec<u8>, headers: &'static [(&'static str, &'static str)]) -> Response {
    let mut response = body.into_response();
    for (name, value) in headers {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

fn engine_config<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    headers: &HeaderMap,
    token: SessionToken,
) -> Result<ServerConfig, Refusal> {
    let session_uri = shared.session_uri(headers, token)?;
    Ok(shared.session_config(session_uri))
}

/// Records the address of the last NotificationAddress alert for a
/// registered bootstrap device.
async fn record_addresses<S: Store>(
    store: &S,
    dev_id: &DevId,
    alerts: &[Alert],
) -> Result<(), crate::Error> {
    let address = alerts
        .iter()
        .rev()
        .filter(|a| a.alert_type.as_str() == AlertType::NOTIFICATION_ADDRESS)
        .find_map(|a| NotificationAddress::from_alert(a).ok());
    if let Some(address) = address {
        store
            .set_bootstrap_notification_address(dev_id, address.as_str())
            .await?;
    }
    Ok(())
}

/// `POST /dm` in the bootstrap role: a Package#1.
pub(crate) async fn initial<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    package1(&shared, &parts, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn package1<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    body: Body,
) -> Result<Response, Refusal> {
    let settings = settings(shared)?;
    let credential = credential(parts)?;
    let limits = &shared.options.limits;
    check_length(&parts.headers, limits.codec.package_bytes)?;
    check_accept(&parts.headers, mime::REQUEST)?;
    let body = read_device_body(shared, &parts.headers, body, limits.codec.package_bytes).await?;
    let token = SessionToken::random()?;
    let now_ms = now_ms();
    let config = engine_config(shared, &parts.headers, token)?;
    let mut session = BootstrapSession::start(config, &package_request(parts, &body), now_ms)
        .map_err(|e| {
            tracing::info!(error = %e, "bootstrap Package#1 refused");
            refuse(e.status().as_u16(), e)
        })?;
    let dev_id = session.dev_id().clone();
    let span = tracing::info_span!("dm_bootstrap", dev_id = %dev_id, session = %token);
    async {
        let Some(profile) = profile_for(&shared.store, &dev_id, &credential).await? else {
            tracing::info!(credential = %credential.binding(), "no bootstrap profile: refused");
            return Err(refuse(403, "no bootstrap profile for this device"));
        };
        record_addresses(&shared.store, &dev_id, &session.take_alerts()).await?;
        let provisioning = provision(&profile, &dev_id, settings.issuing_ca.as_deref())?;
        let data_token = SessionToken::random()?;
        let data_uri = format!(
            "{}/bootstrap/accounts/{data_token}",
            shared.base_uri(&parts.headers)
        );
        let data_uri =
            ServerUri::new(data_uri).map_err(|e| crate::Error::config("bootstrap data URI", e))?;
        session.provision(data_uri);
        let package = session.respond(now_ms);
        let headers = session.response_headers();
        let lifetime = u64::try_from(settings.data_lifetime.as_millis()).unwrap_or(u64::MAX);
        let mut record = BootstrapSessionRecord::new(
            token,
            dev_id.clone(),
            credential.binding(),
            data_token,
            session.into_state(),
            now_ms.saturating_add(lifetime),
        );
        record.profile.clone_from(&profile.name);
        record.account_data = Some(
            String::from_utf8(provisioning.account_data)
                .map_err(|e| crate::Error::store("encode the DMAcc data", e))?,
        );
        record.registrations = provisioning.registrations;
        shared.store.save_bootstrap_session(record).await?;
        tracing::info!(profile = %profile.name, "bootstrap Package#2: HGET of the DMAcc data");
        Ok(package2(package, headers))
    }
    .instrument(span)
    .await
}

/// `POST /dm/s/{token}` in the bootstrap role: a Package#3.
pub(crate) async fn continued<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    package3(&shared, &parts, body, &token)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn package3<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    body: Body,
    token: &str,
) -> Result<Response, Refusal> {
    let settings = settings(shared)?;
    let credential = credential(parts)?;
    let limits = &shared.options.limits;
    let no_session = || refuse(404, "no such session");
    let token: SessionToken = token.parse().map_err(|_| no_session())?;
    let mut record = shared
        .store
        .bootstrap_session(token)
        .await?
        .ok_or_else(no_session)?;
    if record.binding != credential.binding() {
        return Err(refuse(
            403,
            "the session belongs to another bootstrap credential",
        ));
    }
    let dev_id = record.dev_id.clone();
    let span = tracing::info_span!("dm_bootstrap", dev_id = %dev_id, session = %token);
    async {
        let now_ms = now_ms();
        let abandon = async |record: &BootstrapSessionRecord, refusal: Refusal| {
            let result = BootstrapResult::Abandoned {
                reason: refusal.message.clone(),
            };
            let outcome = BootstrapOutcomeRecord::of_session(record, result, now_ms);
            shared.store.end_bootstrap_session(token, outcome).await?;
            tracing::info!(status = refusal.status.as_u16(), message = %refusal.message, "bootstrap session dropped");
            Err::<Response, Refusal>(refusal)
        };
        if now_ms > record.expires_ms {
            return abandon(&record, refuse(404, dm_session::Error::Expired)).await;
        }
        let admitted = check_length(&parts.headers, limits.codec.package_bytes)
            .and_then(|()| check_accept(&parts.headers, mime::REQUEST));
        if let Err(refusal) = admitted {
            return abandon(&record, refusal).await;
        }
        let body = match read_device_body(shared, &parts.headers, body, limits.codec.package_bytes)
            .await
        {
            Ok(body) => body,
            Err(refusal) => return abandon(&record, refusal).await,
        };
        let config = engine_config(shared, &parts.headers, token)?;
        let mut session = BootstrapSession::resume(config, record.state.clone());
        let status = match session.handle_package3(&package_request(parts, &body), now_ms) {
            Ok(status) => status,
            Err(e) => return abandon(&record, refuse(e.status().as_u16(), e)).await,
        };
        record_addresses(&shared.store, &dev_id, &session.take_alerts()).await?;
        let result = match status {
            BootstrapStatus::Hget(BootstrapOutcome::Provisioned { written }) => {
                match register_all(shared, settings, &dev_id, &record.registrations, now_ms).await
                {
                    Ok(servers) => Some(BootstrapResult::Provisioned { servers }),
                    Err((server, problem)) => {
                        tracing::warn!(%server, %problem, "registration failed: the accounts are deleted from the device");
                        if session.roll_back(&written) {
                            record.registration_failure = Some((server, problem));
                            None
                        } else {
                            Some(BootstrapResult::RegistrationFailed { server, problem })
                        }
                    }
                }
            }
            BootstrapStatus::Hget(BootstrapOutcome::Refused) => Some(BootstrapResult::Refused),
            BootstrapStatus::Hget(BootstrapOutcome::Failed(code)) => {
                Some(BootstrapResult::Failed {
                    status: code.as_u16(),
                })
            }
            BootstrapStatus::RolledBack(_) => {
                let (server, problem) = record.registration_failure.clone().unwrap_or_default();
                Some(BootstrapResult::RegistrationFailed { server, problem })
            }
            _ => Some(BootstrapResult::Abandoned {
                reason: "an unexpected status".into(),
            }),
        };
        // Secrets go with the session: nothing is kept for a refused or
        // failed bootstrap.
        record.registrations.clear();
        record.account_data = None;
        let package = session.respond(now_ms);
        let headers = session.response_headers();
        if let Some(result) = result {
            tracing::info!(?result, "bootstrap ended");
            let outcome = BootstrapOutcomeRecord::of_session(&record, result, now_ms);
            shared.store.end_bootstrap_session(token, outcome).await?;
        } else {
            record.state = session.into_state();
            shared.store.save_bootstrap_session(record).await?;
        }
        Ok(package2(package, headers))
    }
    .instrument(span)
    .await
}

/// Registers (or re-keys) the device with every management server; the
/// `SrvID`s on success, the failing one and why otherwise.
async fn register_all<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    settings: &crate::BootstrapSettings,
    dev_id: &DevId,
    registrations: &[PendingRegistration],
    now_ms: u64,
) -> Result<Vec<String>, (String, String)> {
    let mut servers = Vec::with_capacity(registrations.len());
    for pending in registrations {
        let failed = |problem: String| (pending.server_id.clone(), problem);
        match &pending.remote {
            None => {
                let realm = settings
                    .management_realm
                    .as_deref()
                    .unwrap_or(&shared.options.realm);
                let registration = pending.registration(dev_id, realm);
                shared
                    .store
                    .register_device(registration, true, now_ms)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            }
            Some(name) => {
                let remote = settings
                    .remotes
                    .get(name)
                    .ok_or_else(|| failed(format!("no remote management server {name:?}")))?;
                remote
                    .register(dev_id, pending)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            }
        }
        tracing::info!(server = %pending.server_id, "device registered with its management server");
        servers.push(pending.server_id.clone());
    }
    Ok(servers)
}

/// `GET /bootstrap/accounts/{token}`: the DMAcc data, once, to the
/// connection authenticated by the session's bootstrap credential (404
/// otherwise, whatever the reason). The body is never logged.
pub(crate) async fn account_data<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let result = async {
        settings(&shared)?;
        let credential = credential(&parts)?;
        let not_found = || refuse(404, "no such DMAcc data");
        let token: SessionToken = token.parse().map_err(|_| not_found())?;
        let (dev_id, data) = shared
            .store
            .take_bootstrap_account_data(token, &credential.binding(), now_ms())
            .await?
            .ok_or_else(not_found)?;
        if let Some(given) = header(&parts.headers, mime::OMADM_DEV_ID)
            && given != dev_id.as_str()
        {
            // Taken already: the data is gone for everyone.
            tracing::warn!(%dev_id, "DMAcc data read with another OMADM-DevID: withheld");
            return Err(not_found());
        }
        tracing::info!(%dev_id, "DMAcc data served");
        Ok::<_, Refusal>(
            (
                [
                    (CONTENT_TYPE, HeaderValue::from_static(mime::MO_DATA)),
                    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                data,
            )
                .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
