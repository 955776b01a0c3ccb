//! `POST /dm` and `POST /dm/s/{token}`: the packages of a session.
//!
//! Each request loads what it needs from the store (a Package#3's session
//! with the device's credentials) and saves what changed in one step
//! ([`Store::step_session`]), so any server node sharing the store can take
//! any package of a session.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use dm_codec::mime;
use dm_session::{
    CachedInstance, Initiator, PackageRequest, ServerConfig, ServerEvent, ServerSession,
    answer_from_cache, cacheable_targets,
};
use dm_types::{Alert, AlertType, Command, DevId, NotificationAddress, Status, StatusCode};

use super::refusal::{Refusal, internal, refuse};
use super::request::{
    authenticate, authenticate_continuing, check_accept, check_length, enter, header,
    read_device_body,
};
use crate::budget::{DeviceSlot, hold_until_sent};
use crate::devinfo::devinfo_values;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{
    AlertRecord, CommandId, CommandStatus, Respond, SessionEnd, SessionOutcome, SessionRecord,
    SessionStep, SessionSummary, SessionToken, StepOutcome, StepPackage, Store,
};
use crate::util::now_ms;

/// `POST /dm`: a Package#1, or a Package#3 from a client that did not
/// follow CONT (correlated by its device's open session).
pub(crate) async fn initial<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = header(&parts.headers, CONTENT_TYPE.as_str()).unwrap_or("");
    let result = if mime::content_type_matches(content_type, mime::INITIATION) {
        package1(&shared, &parts, body).await
    } else if mime::content_type_matches(content_type, mime::RESPONSE) {
        package3_without_cont(&shared, &parts, body).await
    } else {
        Err(refuse(
            415,
            format!("Content-Type {content_type:?} is not {}", mime::INITIATION),
        ))
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /dm/s/{token}`: a Package#3 after CONT. The session's record is
/// read along the device's credentials.
pub(crate) async fn continued<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let Ok(token) = token.parse::<SessionToken>() else {
            let dev_id = authenticate(&shared, &parts).await?;
            let _slot = enter(&shared, &dev_id)?;
            return Err(refuse(404, "no such session"));
        };
        let (dev_id, record) = authenticate_continuing(&shared, &parts, token).await?;
        let slot = enter(&shared, &dev_id)?;
        let package = package3(&shared, &parts, body, dev_id, record).await?;
        Ok::<_, Refusal>(hold_until_sent(package, slot))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Checks size (413), `Accept` (406), credentials (401) and the device's
/// requests in flight (429).
async fn admit<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
) -> Result<(DevId, DeviceSlot), Refusal> {
    check_length(&parts.headers, shared.options.limits.codec.package_bytes)?;
    check_accept(&parts.headers, mime::REQUEST)?;
    let dev_id = authenticate(shared, parts).await?;
    let slot = enter(shared, &dev_id)?;
    Ok((dev_id, slot))
}

/// The HTTP answer carrying a Package#2: its body, with the headers the
/// engine gives.
fn package2(package: NextPackage) -> Response {
    let mut response = package.body.into_response();
    for (name, value) in package.headers {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

fn package_request<'a>(
    parts: &'a Parts,
    authenticated: &'a DevId,
    body: &'a [u8],
) -> PackageRequest<'a> {
    PackageRequest {
        content_type: header(&parts.headers, CONTENT_TYPE.as_str()),
        dev_id: header(&parts.headers, mime::OMADM_DEV_ID),
        authenticated: Some(authenticated),
        body,
    }
}

async fn package1<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    body: Body,
) -> Result<Response, Refusal> {
    let (dev_id, slot) = admit(shared, parts).await?;
    let limits = &shared.options.limits;
    // The session limit is checked when the session opens, in its step
    // (the body budget bounds the bodies read until then).
    let body = read_device_body(shared, &parts.headers, body, limits.codec.package_bytes).await?;
    let token = SessionToken::random()?;
    let span = tracing::info_span!("dm_session", dev_id = %dev_id, session = %token);
    async {
        let session_uri = shared.session_uri(&parts.headers, token)?;
        let request = package_request(parts, &dev_id, &body);
        let now_ms = now_ms();
        let config = shared.session_config(session_uri);
        let mut engine = ServerSession::<CommandId>::start(config.clone(), &request, now_ms)
            .map_err(|e| {
                tracing::info!(error = %e, "Package#1 refused");
                refuse(e.status().as_u16(), e)
            })?;
        let mut initiator = Initiator::Client;
        let mut mos = None;
        let mut alerts = Vec::new();
        while let Some(event) = engine.poll_event() {
            match event {
                ServerEvent::Started {
                    initiator: i,
                    mos: m,
                    ..
                } => {
                    initiator = i;
                    mos = m;
                }
                ServerEvent::Alert(alert) => alerts.push(alert),
                _ => {}
            }
        }
        tracing::info!(
            initiator = crate::store::wire::initiator_name(initiator),
            alerts = alerts.len(),
            "Package#1"
        );
        let record = SessionRecord::new(token, now_ms, engine.state().clone());
        let opening = StepPackage::Package1 {
            summary: SessionSummary::new(token, initiator, now_ms),
            mos,
            max_open: limits.max_sessions,
        };
        // Before the step claims commands: a download reported done
        // queues its installation for this session.
        crate::campaign::hooks::before_step(shared, &dev_id, &alerts, now_ms).await;
        let mut step = SessionStep::new(record, opening, now_ms);
        let events = step_events(&dev_id, &alerts, &[], now_ms);
        add_alerts(&mut step, alerts);
        let next = take_step(shared, config, engine, step, events).await?;
        shared.metrics.session_started();
        let claimed = next.campaign_claimed.then_some(next.claimed.as_slice());
        crate::campaign::hooks::after_step(shared, &dev_id, &[], claimed, now_ms).await;
        Ok(hold_until_sent(package2(next), slot))
    }
    .instrument(span)
    .await
}

/// A Package#2 built (its body and headers), and the commands it carries.
struct NextPackage {
    body: Vec<u8>,
    headers: &'static [(&'static str, &'static str)],
    claimed: Vec<CommandId>,
    /// One of them is a campaign's.
    campaign_claimed: bool,
}

/// Takes a session's step ([`Store::step_session`]): the store claims as
/// many queued commands as the engine has room for in the next Package#2
/// (none when that package is the last), the engine builds it, and the
/// store saves the session or ends it as completed (the package held END).
/// 409 when another request saved the session first.
async fn take_step<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    config: ServerConfig,
    engine: ServerSession<CommandId>,
    mut step: SessionStep,
    events: Vec<crate::store::NewEvent>,
) -> Result<NextPackage, Refusal> {
    step.claim = engine.next_package_room();
    let (now_ms, started_ms) = (step.now_ms, step.record.started_ms);
    let state = engine.into_state();
    let built: Arc<Mutex<Option<NextPackage>>> = Arc::default();
    let slot = built.clone();
    // Run again from the same state when the store retries the step.
    let respond: Respond = Box::new(move |claimed| {
        let mut engine = ServerSession::resume(config.clone(), state.clone());
        let ids = claimed.iter().map(|(id, _)| *id).collect();
        let campaign_claimed = claimed
            .iter()
            .any(|(_, command)| crate::campaign::commands::is_campaign_command(command));
        for (id, command) in claimed {
            engine.enqueue(id, command);
        }
        let body = engine.respond(now_ms);
        let headers = engine.response_headers();
        while engine.poll_event().is_some() {}
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(NextPackage {
            body,
            headers,
            claimed: ids,
            campaign_claimed,
        });
        Ok(engine.into_state())
    });
    let dev_id = step.record.dev_id().clone();
    let token = step.record.token;
    let completed = match shared.store.step_session(step, respond).await {
        Ok(StepOutcome::Completed) => {
            shared
                .metrics
                .session_ended(&SessionOutcome::Completed, started_ms, now_ms);
            tracing::info!("Package#2 with END: session completed");
            true
        }
        Ok(outcome) => {
            tracing::info!(?outcome, "Package#2");
            false
        }
        Err(e @ (crate::Error::SessionVersion { .. } | crate::Error::SessionNotFound(_))) => {
            return Err(refuse(409, e));
        }
        Err(e) => return Err(e.into()),
    };
    let next = built.lock().unwrap_or_else(PoisonError::into_inner).take();
    let next = next.ok_or_else(|| {
        internal(&crate::Error::store(
            "take a session step",
            "no Package#2 built",
        ))
    })?;
    let ended = completed
        .then(|| crate::events::session_ended(&dev_id, token, &SessionOutcome::Completed, now_ms));
    shared.events.record_all(events.into_iter().chain(ended));
    Ok(next)
}

/// The events of a step: the commands finished, the alerts received.
fn step_events(
    dev_id: &DevId,
    alerts: &[Alert],
    finished: &[(CommandId, &'static str, u16)],
    now_ms: u64,
) -> Vec<crate::store::NewEvent> {
    let finished = finished.iter().map(|(id, name, code)| {
        crate::events::command_finished(
            dev_id,
            *id,
            name,
            crate::store::CommandState::Done,
            Some(*code),
            now_ms,
        )
    });
    let alerts = alerts
        .iter()
        .map(|alert| crate::events::alert_received(dev_id, alert.alert_type.as_str(), now_ms));
    finished.chain(alerts).collect()
}

/// Adds a package's alerts to its step, and the address of the last
/// NotificationAddress alert among them.
fn add_alerts(step: &mut SessionStep, alerts: Vec<Alert>) {
    for alert in &alerts {
        if alert.alert_type.as_str() != AlertType::NOTIFICATION_ADDRESS {
            continue;
        }
        match NotificationAddress::from_alert(alert) {
            Ok(address) => {
                tracing::info!(%address, "notification address");
                step.notification_address = Some(address.as_str().to_owned());
            }
            Err(error) => {
                tracing::warn!(%error, "NotificationAddress alert without a usable address");
            }
        }
    }
    let (token, now_ms) = (step.record.token, step.now_ms);
    step.alerts.extend(
        alerts
            .into_iter()
            .map(|alert| AlertRecord::new(alert, Some(token), now_ms)),
    );
}

/// Adds a command's status to its step, with MO caching (docs/protocol.md
/// section 8): the instances a GET returned with their validators are kept,
/// and a `304` to a GET that asked with the validators of kept instances is
/// recorded with their data, marked as served from the cache (the kept
/// instances are read here, only for a `304`).
async fn add_status<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    step: &mut SessionStep,
    tag: CommandId,
    command: &Command,
    status: Status,
) -> Result<(), crate::Error> {
    let dev_id = step.record.dev_id().clone();
    step.cached_instances
        .extend(CachedInstance::from_result(command, &status));
    if status.code == StatusCode::NOT_MODIFIED {
        let mut kept = Vec::new();
        for (moid, miid) in cacheable_targets(command) {
            // Kept by this package already, else by the store.
            let fresh = step
                .cached_instances
                .iter()
                .rev()
                .find(|k| k.moid == moid && k.miid == miid)
                .cloned();
            let instance = match fresh {
                Some(instance) => Some(instance),
                None => shared.store.cached_instance(&dev_id, &moid, &miid).await?,
            };
            kept.extend(instance);
        }
        let answer = answer_from_cache(command, &status, |moid, miid| {
            kept.iter()
                .find(|k| k.moid == *moid && k.miid == *miid)
                .cloned()
        });
        if let Some(answer) = answer {
            tracing::info!(id = %tag, "304: served from the cache");
            step.statuses.push(CommandStatus::from_cache(tag, answer));
            return Ok(());
        }
    }
    step.statuses.push(CommandStatus::new(tag, status));
    Ok(())
}

async fn package3_without_cont<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    body: Body,
) -> Result<Response, Refusal> {
    let dev_id = authenticate(shared, parts).await?;
    let slot = enter(shared, &dev_id)?;
    let token = shared
        .store
        .device(&dev_id)
        .await?
        .and_then(|d| d.open_session)
        .ok_or_else(|| refuse(404, "the device has no open session"))?;
    let record = shared.store.session(token).await?;
    let package = package3(shared, parts, body, dev_id, record).await?;
    Ok(hold_until_sent(package, slot))
}

/// A Package#3 of the session `record` (404 when it is not open).
async fn package3<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    body: Body,
    dev_id: DevId,
    record: Option<SessionRecord>,
) -> Result<Response, Refusal> {
    let record = record.ok_or_else(|| refuse(404, "no such session"))?;
    // Saved ended: another request is ending it (a store whose steps are
    // not atomic saves the ended state before ending it); this one lost
    // the race and changes nothing.
    if record.state.is_ended() {
        return Err(refuse(409, "the session is ending in another request"));
    }
    let token = record.token;
    let owner = record.dev_id().clone();
    let span = tracing::info_span!("dm_session", dev_id = %owner, session = %token);
    async {
        let now_ms = now_ms();
        let end = |outcome: SessionOutcome| SessionEnd::of_state(outcome, &record.state, now_ms);
        // Section 2: a refused Package#3 is answered, and its session
        // dropped (the commands awaiting a status fail).
        let drop_session = async |refusal: Refusal| -> Result<Response, Refusal> {
            tracing::info!(
                status = refusal.status.as_u16(),
                message = %refusal.message,
                "Package#3 refused: session dropped"
            );
            let outcome = SessionOutcome::Failed(refusal.message.clone());
            shared
                .store
                .end_session(token, &owner, end(outcome.clone()))
                .await?;
            shared.session_ended(&record, &outcome, now_ms);
            Err(refusal)
        };
        let admitted = if owner == dev_id {
            check_length(&parts.headers, shared.options.limits.codec.package_bytes)
                .and_then(|()| check_accept(&parts.headers, mime::REQUEST))
        } else {
            Err(refuse(
                403,
                format!("the session belongs to another device than {dev_id}"),
            ))
        };
        if let Err(refusal) = admitted {
            return drop_session(refusal).await;
        }
        let session_uri = shared.session_uri(&parts.headers, token)?;
        let config = shared.session_config(session_uri);
        let mut engine = ServerSession::resume(config.clone(), record.state.clone());
        // Refused before its body is read when the session is past its
        // deadline (the engine would refuse it after).
        if engine.handle_timeout(now_ms) {
            shared
                .store
                .end_session(token, &dev_id, end(SessionOutcome::Timeout))
                .await?;
            shared.session_ended(&record, &SessionOutcome::Timeout, now_ms);
            tracing::info!("Package#3 after the deadline: session expired");
            let expired = dm_session::Error::Expired;
            return Err(refuse(expired.status().as_u16(), expired));
        }
        let limit = shared.options.limits.codec.package_bytes;
        let body = match read_device_body(shared, &parts.headers, body, limit).await {
            Ok(body) => body,
            Err(refusal) => return drop_session(refusal).await,
        };
        let request = package_request(parts, &dev_id, &body);
        // The deadline applies to the request's arrival, not to the end of
        // its body.
        if let Err(e) = engine.handle_package3(&request, now_ms) {
            return drop_session(refuse(e.status().as_u16(), e)).await;
        }
        let mut step = SessionStep::new(record.clone(), StepPackage::Package3, now_ms);
        let mut devinfo = std::collections::BTreeMap::new();
        let mut alerts = Vec::new();
        let mut campaign_statuses = Vec::new();
        let mut finished = Vec::new();
        while let Some(event) = engine.poll_event() {
            match event {
                ServerEvent::Result {
                    tag,
                    command,
                    status,
                } => {
                    shared.metrics.command_result(&command, status.code);
                    if crate::campaign::commands::is_campaign_command(&command) {
                        campaign_statuses.push((tag, status.code.as_u16()));
                    }
                    finished.push((tag, command.name(), status.code.as_u16()));
                    devinfo.extend(devinfo_values(&command, &status));
                    add_status(shared, &mut step, tag, &command, status).await?;
                }
                ServerEvent::Alert(alert) => alerts.push(alert),
                _ => {}
            }
        }
        tracing::info!(
            results = step.statuses.len(),
            alerts = alerts.len(),
            "Package#3"
        );
        crate::campaign::hooks::before_step(shared, &dev_id, &alerts, now_ms).await;
        let events = step_events(&dev_id, &alerts, &finished, now_ms);
        add_alerts(&mut step, alerts);
        let next = take_step(shared, config, engine, step, events).await?;
        let claimed = next.campaign_claimed.then_some(next.claimed.as_slice());
        crate::campaign::hooks::after_step(shared, &dev_id, &campaign_statuses, claimed, now_ms)
            .await;
        // After the step: DevInfo values are what the device said, kept
        // for group conditions; a failure to keep them fails nothing.
        if !devinfo.is_empty()
            && let Err(error) = shared.store.record_devinfo(&dev_id, devinfo).await
        {
            tracing::warn!(%error, "DevInfo values not recorded");
        }
        Ok(package2(next))
    }
    .instrument(span)
    .await
}
