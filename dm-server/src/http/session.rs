//! `POST /dm` and `POST /dm/s/{token}`: the packages of a session.
//!
//! Each request loads what it needs from the store and saves what changed,
//! so any server node sharing the store can take any package of a session.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use dm_codec::mime;
use dm_session::{
    CachedInstance, Initiator, PackageRequest, ServerEvent, ServerSession, SessionState,
    answer_from_cache, cacheable_targets,
};
use dm_types::{Alert, AlertType, Command, DevId, NotificationAddress, Status, StatusCode};

use super::refusal::{Refusal, busy, refuse};
use super::request::{authenticate, check_accept, check_length, enter, header, read_device_body};
use crate::budget::{DeviceSlot, hold_until_sent};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{
    AlertRecord, CommandId, SessionEnd, SessionOutcome, SessionRecord, SessionSummary,
    SessionToken, Store,
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

/// `POST /dm/s/{token}`: a Package#3 after CONT.
pub(crate) async fn continued<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let result = async {
        let dev_id = authenticate(&shared, &parts).await?;
        let slot = enter(&shared, &dev_id)?;
        let token: SessionToken = token.parse().map_err(|_| refuse(404, "no such session"))?;
        let package = package3(&shared, &parts, body, dev_id, token).await?;
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
    // A cheap early refusal; `open_session` below is the exact one.
    if shared.store.open_sessions().await? >= limits.max_sessions {
        return Err(busy("too many open sessions; try later"));
    }
    let body = read_device_body(shared, &parts.headers, body, limits.codec.package_bytes).await?;
    let token = SessionToken::random()?;
    let span = tracing::info_span!("dm_session", dev_id = %dev_id, session = %token);
    async {
        let session_uri = shared.session_uri(&parts.headers, token)?;
        let request = package_request(parts, &dev_id, &body);
        let now_ms = now_ms();
        let mut engine = ServerSession::<CommandId>::start(
            shared.session_config(session_uri.clone()),
            &request,
            now_ms,
        )
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
        shared
            .store
            .open_session(record.clone(), limits.max_sessions)
            .await?;
        let outcome = async {
            shared
                .store
                .begin_session(
                    &dev_id,
                    SessionSummary::new(token, initiator, now_ms),
                    mos,
                    now_ms,
                )
                .await?;
            record_alerts(shared, &dev_id, token, alerts, now_ms).await?;
            let mut next = next_package(shared, engine, &dev_id, token, now_ms).await?;
            let saved = save_or_end(shared, &record, &next.state, now_ms).await;
            if saved.is_err() {
                release(shared, &dev_id, token, std::mem::take(&mut next.claimed)).await;
            }
            saved.map(|()| next)
        }
        .await;
        match outcome {
            Ok(next) => Ok(hold_until_sent(package2(next), slot)),
            Err(refusal) => {
                let end =
                    SessionEnd::new(SessionOutcome::Failed(refusal.message.clone()), 1, now_ms);
                if let Err(error) = shared.store.end_session(token, &dev_id, end).await {
                    tracing::warn!(%error, "the failed session could not be ended; it will expire");
                }
                Err(refusal)
            }
        }
    }
    .instrument(span)
    .await
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A Package#2 built (its body and headers), with the session state after
/// it and the commands claimed for it.
struct NextPackage {
    body: Vec<u8>,
    headers: &'static [(&'static str, &'static str)],
    state: SessionState<CommandId>,
    claimed: Vec<CommandId>,
}

/// Claims as many queued commands as the engine has room for in the next
/// Package#2 (none when that package is the last), and builds it.
async fn next_package<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    mut engine: ServerSession<CommandId>,
    dev_id: &DevId,
    token: SessionToken,
    now_ms: u64,
) -> Result<NextPackage, crate::Error> {
    let mut claimed = Vec::new();
    let room = engine.next_package_room();
    if room > 0 {
        for (id, command) in shared
            .store
            .claim_commands(dev_id, token, room, now_ms)
            .await?
        {
            claimed.push(id);
            engine.enqueue(id, command);
        }
    }
    let body = engine.respond(now_ms);
    let headers = engine.response_headers();
    while engine.poll_event().is_some() {}
    Ok(NextPackage {
        body,
        headers,
        state: engine.into_state(),
        claimed,
    })
}

/// After a Package#2: ends the session as completed when the engine ended
/// it (the package held END), else saves its state (version-checked against
/// `record`) for the Package#3. 409 when another request saved the session
/// first.
async fn save_or_end<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    record: &SessionRecord,
    state: &SessionState<CommandId>,
    now_ms: u64,
) -> Result<(), Refusal> {
    if state.is_ended() {
        let end = SessionEnd::new(
            SessionOutcome::Completed,
            count(state.packages_sent),
            now_ms,
        );
        shared
            .store
            .end_session(record.token, record.dev_id(), end)
            .await?;
        tracing::info!("Package#2 with END: session completed");
        Ok(())
    } else {
        tracing::info!(commands = state.sent().len(), "Package#2");
        save(shared, record, state).await
    }
}

/// Saves the session's `state` as the version after `record`'s; 409 when
/// another request saved the session first (or ended it).
async fn save<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    record: &SessionRecord,
    state: &SessionState<CommandId>,
) -> Result<(), Refusal> {
    let mut next = record.clone();
    next.version += 1;
    next.state = state.clone();
    match shared.store.save_session(next, record.version).await {
        Ok(()) => Ok(()),
        Err(e @ (crate::Error::SessionVersion { .. } | crate::Error::SessionNotFound(_))) => {
            Err(refuse(409, e))
        }
        Err(e) => Err(e.into()),
    }
}

/// Puts back the commands claimed for a Package#2 that is not delivered.
async fn release<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
    token: SessionToken,
    claimed: Vec<CommandId>,
) {
    if claimed.is_empty() {
        return;
    }
    if let Err(error) = shared
        .store
        .release_commands(dev_id, token, claimed, now_ms())
        .await
    {
        tracing::warn!(%error, "claimed commands could not be released; they fail with the session");
    }
}

async fn record_alerts<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
    token: SessionToken,
    alerts: Vec<Alert>,
    now_ms: u64,
) -> Result<(), Refusal> {
    for alert in &alerts {
        if alert.alert_type.as_str() != AlertType::NOTIFICATION_ADDRESS {
            continue;
        }
        match NotificationAddress::from_alert(alert) {
            Ok(address) => {
                tracing::info!(%address, "notification address");
                shared
                    .store
                    .set_notification_address(dev_id, address.as_str())
                    .await?;
            }
            Err(error) => {
                tracing::warn!(%error, "NotificationAddress alert without a usable address");
            }
        }
    }
    if alerts.is_empty() {
        return Ok(());
    }
    let records = alerts
        .into_iter()
        .map(|alert| AlertRecord::new(alert, Some(token), now_ms))
        .collect();
    Ok(shared.store.record_alerts(dev_id, records).await?)
}

/// Records a command's status, with MO caching (docs/protocol.md section
/// 8): the instances a GET returned with their validators are kept, and a
/// `304` to a GET that asked with the validators of kept instances is
/// recorded with their data, marked as served from the cache.
async fn record_result<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
    token: SessionToken,
    tag: CommandId,
    command: &Command,
    status: Status,
    now_ms: u64,
) -> Result<(), crate::Error> {
    let store = &shared.store;
    let fresh = CachedInstance::from_result(command, &status);
    if !fresh.is_empty() {
        store.record_cached_instances(dev_id, fresh).await?;
    }
    if status.code == StatusCode::NOT_MODIFIED {
        let mut kept = Vec::new();
        for (moid, miid) in cacheable_targets(command) {
            if let Some(instance) = store.cached_instance(dev_id, &moid, &miid).await? {
                kept.push(instance);
            }
        }
        let answer = answer_from_cache(command, &status, |moid, miid| {
            kept.iter()
                .find(|k| k.moid == *moid && k.miid == *miid)
                .cloned()
        });
        if let Some(answer) = answer {
            tracing::info!(id = %tag, "304: served from the cache");
            return store.record_cached_result(tag, token, answer, now_ms).await;
        }
    }
    store.record_result(tag, token, status, now_ms).await
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
    let package = package3(shared, parts, body, dev_id, token).await?;
    Ok(hold_until_sent(package, slot))
}

async fn package3<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    body: Body,
    dev_id: DevId,
    token: SessionToken,
) -> Result<Response, Refusal> {
    let record = shared
        .store
        .session(token)
        .await?
        .ok_or_else(|| refuse(404, "no such session"))?;
    // Saved ended: another request is ending it (see `save` before
    // `save_or_end` below); this one lost the race and changes nothing.
    if record.state.is_ended() {
        return Err(refuse(409, "the session is ending in another request"));
    }
    let owner = record.dev_id().clone();
    let span = tracing::info_span!("dm_session", dev_id = %owner, session = %token);
    async {
        let now_ms = now_ms();
        let packages = count(record.state.packages_sent);
        let end = |outcome: SessionOutcome| SessionEnd::new(outcome, packages, now_ms);
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
                .end_session(token, &owner, end(outcome))
                .await?;
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
        let mut engine =
            ServerSession::resume(shared.session_config(session_uri), record.state.clone());
        // Refused before its body is read when the session is past its
        // deadline (the engine would refuse it after).
        if engine.handle_timeout(now_ms) {
            shared
                .store
                .end_session(token, &dev_id, end(SessionOutcome::Timeout))
                .await?;
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
        let mut alerts = Vec::new();
        let mut results = 0;
        while let Some(event) = engine.poll_event() {
            match event {
                ServerEvent::Result {
                    tag,
                    command,
                    status,
                } => {
                    results += 1;
                    record_result(shared, &dev_id, token, tag, &command, status, now_ms).await?;
                }
                ServerEvent::Alert(alert) => alerts.push(alert),
                _ => {}
            }
        }
        tracing::info!(results, alerts = alerts.len(), "Package#3");
        record_alerts(shared, &dev_id, token, alerts, now_ms).await?;
        let mut next = next_package(shared, engine, &dev_id, token, now_ms).await?;
        // Ending is version-checked too, by a save first: of two requests
        // continuing the session at once (the same Package#3 sent to two
        // nodes), exactly one is answered 200, the other 409, also when the
        // answer is END. (`end_session` itself checks no version.)
        let mut saved = Ok(());
        if next.state.is_ended() {
            saved = save(shared, &record, &next.state).await;
        }
        if saved.is_ok() {
            saved = save_or_end(shared, &record, &next.state, now_ms).await;
        }
        if let Err(refusal) = saved {
            release(shared, &dev_id, token, std::mem::take(&mut next.claimed)).await;
            return Err(refusal);
        }
        Ok(package2(next))
    }
    .instrument(span)
    .await
}
