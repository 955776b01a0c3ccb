//! Request admission: headers, declared sizes, media types,
//! authentication, the device's requests in flight, and body reading
//! inside the body budget.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::OriginalUri;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use http_body_util::BodyExt as _;

use dm_codec::mime;
use dm_types::DevId;

use crate::auth::{self, AuthFailure, ClientCertificate, Lookups, RequestAuth};
use crate::metrics::AuthMethod;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{DeviceRegistration, PskIdentity, SessionRecord, SessionToken, Store};
use crate::util::now_ms;

use super::refusal::{Refusal, internal, refuse};
use crate::budget::{DeviceSlot, Reservation};

/// A header as text (`None` when absent or not visible ASCII).
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// 413 when the declared `Content-Length` is over `limit`.
pub(crate) fn check_length(headers: &HeaderMap, limit: usize) -> Result<(), Refusal> {
    let Some(value) = headers.get(CONTENT_LENGTH) else {
        return Ok(());
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| refuse(400, "malformed Content-Length"))?;
    if usize::try_from(length).map_or(true, |l| l > limit) {
        return Err(refuse(
            413,
            format!("a body of {length} bytes is over the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

/// Reads a body of at most `limit` bytes within `timeout`: 413 as soon as
/// more arrives (the rest is never read), 408 when too slow. Outside the
/// body budget: for the admin API, whose caller holds the admin token.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Refusal> {
    collect(body, limit, None, timeout, None).await
}

/// A device's request body in memory, with its share of the server's body
/// budget (given back when this is dropped).
pub(crate) struct BufferedBody {
    bytes: Bytes,
    _share: Reservation,
}

impl std::ops::Deref for BufferedBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads a device's request body of at most `limit` bytes within the body
/// timeout, inside the server's body budget
/// ([`ServerLimits::body_budget_bytes`](crate::ServerLimits::body_budget_bytes)):
/// a body with a `Content-Length` takes all of its share before a byte is
/// read, a body without one as its buffer grows with the bytes that arrive
/// (at most twice what arrived). When the budget
/// has no room within
/// [`ServerLimits::body_budget_wait`](crate::ServerLimits::body_budget_wait),
/// the answer is 503 with `Retry-After`. 413 and 408 as [`read_body`].
pub(crate) async fn read_device_body<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<BufferedBody, Refusal> {
    let limits = &shared.options.limits;
    check_length(headers, limit)?;
    let mut share = Reservation::empty(shared.bodies.clone());
    if let Some(length) = declared_length(headers)
        && !share.grow(length, limits.body_budget_wait).await
    {
        return Err(bodies_over_budget());
    }
    let bytes = collect(
        body,
        limit,
        declared_length(headers),
        limits.body_timeout,
        Some((&mut share, limits.body_budget_wait)),
    )
    .await?;
    Ok(BufferedBody {
        bytes,
        _share: share,
    })
}

/// The `Content-Length` of a request, when present and well-formed.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn bodies_over_budget() -> Refusal {
    tracing::warn!("the body budget is exhausted: a request body is refused");
    refuse(
        503,
        "the server holds as many request bodies as it may; try later",
    )
    .with_header(RETRY_AFTER, HeaderValue::from_static("5"))
}

/// Reads the frames of `body` (at most `limit` bytes, within `timeout`),
/// growing `share` to cover the body's buffer when given. Each frame is
/// copied into that buffer as it arrives and dropped, so the connection
/// reuses its read buffer. The buffer doubles as bytes arrive: at most
/// twice the bytes received, never beyond the `declared` length, so a
/// declared length alone allocates nothing.
async fn collect(
    body: Body,
    limit: usize,
    declared: Option<usize>,
    timeout: Duration,
    mut share: Option<(&mut Reservation, Duration)>,
) -> Result<Bytes, Refusal> {
    const FIRST: usize = 16 << 10;
    let ceiling = declared.unwrap_or(limit).min(limit);
    let read = async {
        let mut body = body;
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| refuse(400, format!("cannot read the body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let grown = bytes.len().saturating_add(data.len());
            if grown > limit {
                return Err(refuse(
                    413,
                    format!("the body is over the limit of {limit} bytes"),
                ));
            }
            if grown > bytes.capacity() {
                let doubled = bytes.capacity().saturating_mul(2).max(FIRST);
                let capacity = doubled.min(ceiling).max(grown);
                // The share covers what is allocated, not only what arrived.
                if let Some((share, wait)) = share.as_mut()
                    && capacity > share.bytes()
                    && !share.grow(capacity - share.bytes(), *wait).await
                {
                    return Err(bodies_over_budget());
                }
                bytes.reserve_exact(capacity - bytes.len());
            }
            bytes.extend_from_slice(&data);
        }
        bytes.shrink_to_fit();
        Ok(Bytes::from(bytes))
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| refuse(408, "the body did not arrive in time"))?
}

/// A slot for one more request of `dev_id` in flight; 429 with
/// `Retry-After` when the device already has
/// [`ServerLimits::requests_per_device`](crate::ServerLimits::requests_per_device).
pub(crate) fn enter<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
) -> Result<DeviceSlot, Refusal> {
    shared.requests.enter(dev_id).ok_or_else(|| {
        let limit = shared.requests.limit();
        tracing::info!(%dev_id, limit, "a device is over its requests in flight");
        refuse(
            429,
            format!("the device already has {limit} requests in flight, the most allowed"),
        )
        .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
    })
}

/// 406 when an `Accept` header excludes `offered` (400 when malformed).
pub(crate) fn check_accept(headers: &HeaderMap, offered: &'static str) -> Result<(), Refusal> {
    let Some(accept) = headers.get(axum::http::header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept
        .to_str()
        .map_err(|_| refuse(400, "the Accept header is not ASCII"))?;
    match mime::negotiate(accept, &[offered]) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(refuse(406, format!("Accept {accept:?} excludes {offered}"))),
        Err(e) => Err(refuse(400, format!("Accept: {e}"))),
    }
}

/// The request target (path and query) as the client sent it, even when the
/// router is nested in an application.
fn target(parts: &Parts) -> String {
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// Authenticates the device behind a request (401 with challenges when it
/// cannot be). In dev mode, a request without credentials is the device its
/// `OMADM-DevID` names, registered on first sight, unless that device is
/// registered with credentials, a certificate or a PSK: then it must use
/// them.
pub(crate) async fn authenticate<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
) -> Result<DevId, Refusal> {
    authenticate_with(shared, parts, &mut Lookups::new(&shared.store, None)).await
}

/// [`authenticate`] for a request that continues the session `token`, and
/// that session's record (`None` when it is not open): read along the
/// device's credentials when it can be, in one round trip.
pub(crate) async fn authenticate_continuing<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    token: SessionToken,
) -> Result<(DevId, Option<SessionRecord>), Refusal> {
    let mut lookups = Lookups::new(&shared.store, Some(token));
    let dev_id = authenticate_with(shared, parts, &mut lookups).await?;
    Ok((dev_id, lookups.into_session().await?))
}

async fn authenticate_with<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    lookups: &mut Lookups<'_, S>,
) -> Result<DevId, Refusal> {
    let target = target(parts);
    let request = RequestAuth {
        method: parts.method.as_str(),
        target: &target,
        headers: &parts.headers,
        certificate: parts.extensions.get::<ClientCertificate>(),
        psk_identity: parts.extensions.get::<PskIdentity>(),
    };
    let now = now_ms();
    let failure = match auth::authenticate_device(
        &shared.options,
        lookups,
        &shared.server_key,
        &request,
        now,
    )
    .await
    {
        Ok(Some(dev_id)) => return Ok(dev_id),
        Ok(None) if shared.options.dev_mode => match dev_mode_device(shared, parts, lookups).await?
        {
            Some(dev_id) => return Ok(dev_id),
            None => AuthFailure::Unauthorized {
                reason: "the device is registered with credentials".into(),
                stale: false,
            },
        },
        Ok(None) => AuthFailure::Unauthorized {
            reason: "credentials required".into(),
            stale: false,
        },
        Err(failure) => failure,
    };
    match failure {
        AuthFailure::Store(e) => Err(internal(&e)),
        AuthFailure::Unauthorized { reason, stale } => {
            shared.metrics.auth_failure(auth_method(parts));
            if parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION)
            {
                tracing::info!(%reason, "device not authenticated");
            } else {
                // The usual first step of a Digest exchange.
                tracing::debug!(%reason, "device challenged");
            }
            let key = shared
                .server_key
                .get(&shared.store)
                .await
                .map_err(|e| internal(&e))?;
            let mut refusal = refuse(401, reason);
            for value in
                auth::challenges(&shared.options, &key, now, stale).map_err(|e| internal(&e))?
            {
                refusal = refusal.with_header(WWW_AUTHENTICATE, value);
            }
            Err(refusal)
        }
    }
}

/// The authentication method a refused device request tried (the label
/// of its failure in `GET /metrics`).
fn auth_method(parts: &Parts) -> AuthMethod {
    let scheme = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|value| {
            let value = value.to_str().unwrap_or("");
            let scheme = value.split(' ').next().unwrap_or("");
            if scheme.eq_ignore_ascii_case("Digest") {
                AuthMethod::Digest
            } else if scheme.eq_ignore_ascii_case("Basic") {
                AuthMethod::Basic
            } else {
                AuthMethod::Malformed
            }
        });
    match scheme {
        Some(method) => method,
        None if parts.extensions.get::<PskIdentity>().is_some() => AuthMethod::Psk,
        None if parts.extensions.get::<ClientCertificate>().is_some() => AuthMethod::Certificate,
        None => AuthMethod::None,
    }
}

/// The device a request without credentials is in dev mode; `None` when
/// that device has credentials or a certificate to use.
async fn dev_mode_device<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    parts: &Parts,
    lookups: &mut Lookups<'_, S>,
) -> Result<Option<DevId>, Refusal> {
    let header = header(&parts.headers, mime::OMADM_DEV_ID)
        .ok_or_else(|| refuse(400, "OMADM-DevID is required"))?;
    let dev_id = DevId::new(header).map_err(|e| refuse(400, format!("OMADM-DevID: {e}")))?;
    if let Some(device) = lookups.device(&dev_id).await? {
        if device.credentials.is_some()
            || device.certificate_sha256.is_some()
            || device.psk.is_some()
        {
            return Ok(None);
        }
    } else {
        let mut registration = DeviceRegistration::new(dev_id.clone());
        registration
            .notification_secret
            .clone_from(&shared.options.dev_notification);
        let now = now_ms();
        match shared.store.register_device(registration, false, now).await {
            Ok(()) => {
                tracing::warn!(%dev_id, "dev mode: registered a device that sent no credentials");
                shared
                    .events
                    .record(crate::events::device_registered(&dev_id, now));
            }
            // Registered meanwhile by a concurrent request.
            Err(crate::Error::DeviceExists(_)) => {}
            Err(e) => return Err(internal(&e)),
        }
    }
    Ok(Some(dev_id))
}

/// 403 unless `OMADM-DevID` is present and names `dev_id`.
pub(crate) fn check_dev_id_header(headers: &HeaderMap, dev_id: &DevId) -> Result<(), Refusal> {
    match header(headers, mime::OMADM_DEV_ID) {
        Some(given) if given == dev_id.as_str() => Ok(()),
        Some(given) => Err(refuse(
            403,
            format!("OMADM-DevID {given:?} is not the authenticated device"),
        )),
        None => Err(refuse(403, "OMADM-DevID is required")),
    }
}
