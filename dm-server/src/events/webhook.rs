//! Webhook delivery: every node looks at the webhooks each
//! [`EventSettings::poll_interval`](super::EventSettings::poll_interval)
//! and delivers the events of those whose lease it holds
//! ([`Store::lease_webhook`]), one after the other, each POSTed with its
//! signature and retried with a growing wait up to
//! [`EventSettings::webhook_attempts`](super::EventSettings::webhook_attempts);
//! the cursor moves past each event delivered or given up on
//! ([`Store::advance_webhook`]), so one node delivers each event once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, Request};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use serde_json::Value;

use dm_types::ServerUri;

use crate::Error;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{EventKind, EventRecord, Store, WebhookId, WebhookRecord, WebhookSpec};
use crate::util::{hmac_sha256, now_ms};

/// Events read per webhook and round.
const WEBHOOK_PAGE: usize = 100;

/// Longest webhook URL.
pub(crate) const MAX_URL_BYTES: usize = 2048;

/// Longest webhook secret.
pub(crate) const MAX_SECRET_BYTES: usize = 256;

/// The `X-DM-Signature` header of a delivery of `body` at `t` (Unix
/// seconds): `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
///
/// A receiver recomputes the MAC over the `t` it received, a `.` and the
/// body as received, compares in constant time, and refuses a `t` too far
/// from its clock (replays).
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "t={t},v1={}",
        dm_codec::hex::encode(&hmac_sha256(secret, &message))
    )
}

/// Checks a webhook to create: an `http` or `https` URL (at most 2048
/// bytes, no user name or password in it), a secret of 1 to 256 bytes
/// without control characters.
pub(crate) fn check_spec(spec: &WebhookSpec) -> Result<(), Error> {
    let invalid = |problem: String| Error::InvalidWebhook { problem };
    if spec.url.len() > MAX_URL_BYTES {
        return Err(invalid(format!(
            "the URL is longer than {MAX_URL_BYTES} bytes"
        )));
    }
    let uri = ServerUri::new(spec.url.as_str())
        .map_err(|e| invalid(format!("the URL is not an http or https URL: {e}")))?;
    let authority = uri
        .as_str()
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
    if authority.contains('@') {
        return Err(invalid(
            "the URL must not carry a user name or password".into(),
        ));
    }
    if spec.secret.is_empty() || spec.secret.len() > MAX_SECRET_BYTES {
        return Err(invalid(format!(
            "the secret must have 1 to {MAX_SECRET_BYTES} bytes"
        )));
    }
    if spec.secret.chars().any(char::is_control) {
        return Err(invalid(
            "the secret must not have control characters".into(),
        ));
    }
    Ok(())
}

/// A webhook from the JSON body of `POST /admin/webhooks`:
/// `{"url", "secret", "kinds"?}` (nothing else), checked
/// ([`Error::InvalidWebhook`] for what is wrong).
///
/// ```
/// use dm_server::{EventKind, parse_webhook_json};
///
/// let spec = parse_webhook_json(br#"{"url":"https://hooks.example/dm","secret":"s","kinds":["session.ended"]}"#)?;
/// assert_eq!(spec.kinds, vec![EventKind::SessionEnded]);
/// assert!(parse_webhook_json(br#"{"url":"ftp://hooks.example/","secret":"s"}"#).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_webhook_json(body: &[u8]) -> Result<WebhookSpec, Error> {
    let invalid = |problem: &str| Error::InvalidWebhook {
        problem: problem.to_owned(),
    };
    let value = crate::admin::decode_admin_json(body)?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("the body is not a JSON object"))?;
    if let Some(name) = object
        .keys()
        .find(|k| !["url", "secret", "kinds"].contains(&k.as_str()))
    {
        return Err(Error::InvalidWebhook {
            problem: format!(
                "unknown member {:?}",
                name.chars().take(64).collect::<String>()
            ),
        });
    }
    let url = object
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("\"url\" (a string) is missing"))?;
    let secret = object
        .get("secret")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("\"secret\" (a string) is missing"))?;
    let kinds = match object.get("kinds") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(names)) => {
            let names = names
                .iter()
                .map(|n| {
                    n.as_str()
                        .ok_or_else(|| invalid("\"kinds\" holds kind names"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            kinds_of_names(names)?
        }
        Some(_) => return Err(invalid("\"kinds\" is an array of kind names")),
    };
    let spec = WebhookSpec::new(url, secret).with_kinds(kinds);
    check_spec(&spec)?;
    Ok(spec)
}

/// Delivers the webhooks' events, forever.
pub(crate) async fn run<S: Store, C: NotificationChannel>(shared: Arc<Shared<S, C>>) {
    let settings = &shared.events.settings;
    if !settings.enabled {
        return std::future::pending().await;
    }
    let node = match crate::util::random::<8>() {
        Ok(bytes) => dm_codec::hex::encode(&bytes),
        Err(error) => {
            tracing::error!(%error, "webhook delivery cannot start");
            return std::future::pending().await;
        }
    };
    let mut delivering: HashMap<WebhookId, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut interval = tokio::time::interval(settings.poll_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        delivering.retain(|_, task| !task.is_finished());
        let webhooks = match shared.store.webhooks().await {
            Ok(webhooks) => webhooks,
            Err(error) => {
                tracing::warn!(%error, "reading the webhooks failed");
                continue;
            }
        };
        for webhook in webhooks {
            if delivering.contains_key(&webhook.id) {
                continue;
            }
            let id = webhook.id;
            let task = tokio::spawn(deliver(shared.clone(), node.clone(), id));
            delivering.insert(id, task);
        }
    }
}

/// How long a lease lasts: longer than one attempt and the longest wait.
fn lease_ms(settings: &super::EventSettings) -> u64 {
    let longest = settings.webhook_timeout + Duration::from_secs(60) + Duration::from_secs(30);
    u64::try_from(longest.as_millis()).unwrap_or(u64::MAX)
}

/// Delivers a webhook's waiting events while this node holds its lease.
async fn deliver<S: Store, C: NotificationChannel>(
    shared: Arc<Shared<S, C>>,
    node: String,
    id: WebhookId,
) {
    let settings = &shared.events.settings;
    let store = &shared.store;
    let lease = async || {
        let now = now_ms();
        store
            .lease_webhook(id, &node, now, now.saturating_add(lease_ms(settings)))
            .await
    };
    loop {
        let webhook = match lease().await {
            Ok(Some(webhook)) => webhook,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(webhook = %id, %error, "leasing a webhook failed");
                return;
            }
        };
        // Read first: every event up to it that the query below does not
        // return is one the webhook does not want.
        let read = async {
            let newest = store.event_bounds().await?.newest;
            let events = store
                .events_after(webhook.cursor, WEBHOOK_PAGE, &webhook.filter())
                .await?;
            Ok::<_, Error>((newest, events))
        };
        let (newest, events) = match read.await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(webhook = %id, %error, "reading events for a webhook failed");
                return;
            }
        };
        if events.is_empty() {
            if newest > webhook.cursor {
                let _ = store.advance_webhook(id, &node, newest).await;
            }
            return;
        }
        for event in &events {
            if !deliver_one(&shared, &webhook, event, &lease).await {
                return;
            }
            match store.advance_webhook(id, &node, event.id).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(webhook = %id, %error, "moving a webhook's cursor failed");
                    return;
                }
            }
        }
        if events.len() < WEBHOOK_PAGE && events.last().is_some_and(|e| e.id < newest) {
            let _ = store.advance_webhook(id, &node, newest).await;
        }
    }
}

/// POSTs one event until it is accepted (a 2xx answer) or the attempts
/// are spent (then it is given up on, logged); `false` when the lease was
/// lost meanwhile (another node delivers now).
async fn deliver_one<S: Store, C: NotificationChannel, L, F>(
    shared: &Shared<S, C>,
    webhook: &WebhookRecord,
    event: &EventRecord,
    lease: &L,
) -> bool
where
    L: Fn() -> F,
    F: Future<Output = Result<Option<WebhookRecord>, Error>>,
{
    let settings = &shared.events.settings;
    let body = event.to_json().into_bytes();
    for attempt in 1..=settings.webhook_attempts {
        if attempt > 1 {
            tokio::time::sleep(super::backoff(settings.webhook_backoff, attempt - 1)).await;
            match lease().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return false,
            }
        }
        match post(webhook, event, &body, settings.webhook_timeout).await {
            Ok(status) if (200..300).contains(&status) => {
                tracing::debug!(webhook = %webhook.id, event = event.id, status, "webhook delivered");
                return true;
            }
            Ok(status) => {
                tracing::info!(webhook = %webhook.id, event = event.id, attempt, status, "webhook refused the event");
            }
            Err(problem) => {
                tracing::info!(webhook = %webhook.id, event = event.id, attempt, %problem, "webhook not reached");
            }
        }
    }
    tracing::warn!(
        webhook = %webhook.id,
        event = event.id,
        attempts = settings.webhook_attempts,
        "webhook delivery given up: the event is skipped"
    );
    true
}

/// One POST of an event; the answer's status.
async fn post(
    webhook: &WebhookRecord,
    event: &EventRecord,
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let uri = ServerUri::new(webhook.spec.url.as_str()).map_err(|e| e.to_string())?;
    let t = now_ms() / 1000;
    let host = uri.host();
    let port = uri.port_or_default();
    let authority = match uri.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri.path_and_query())
        .header("host", authority)
        .header("content-type", "application/json")
        .header("user-agent", "dm-server")
        .header("x-dm-event-id", event.id.to_string())
        .header("x-dm-event", event.kind.name())
        .header(
            "x-dm-signature",
            signature(webhook.spec.secret.as_bytes(), t, body),
        )
        .body(Full::new(bytes::Bytes::copy_from_slice(body)))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let address = host.trim_start_matches('[').trim_end_matches(']');
        let stream = tokio::net::TcpStream::connect((address, port))
            .await
            .map_err(|e| e.to_string())?;
        if uri.is_https() {
            let name = ServerName::try_from(address.to_owned()).map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, stream)
                .await
                .map_err(|e| e.to_string())?;
            crate::bootstrap::send_http(TokioIo::new(tls), request).await
        } else {
            crate::bootstrap::send_http(TokioIo::new(stream), request).await
        }
    };
    let (status, _) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| "no answer in time".to_owned())??;
    Ok(status.as_u16())
}

/// The TLS client of https webhooks: the platform's trust store.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| e.to_string())?;
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// The kinds of a webhook from their names; an unknown name is an error.
pub(crate) fn kinds_of_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<EventKind>, Error> {
    let mut kinds = Vec::new();
    for name in names {
        let kind = EventKind::from_name(name).ok_or_else(|| Error::InvalidWebhook {
            problem: format!(
                "kind {name:?} is not one of {}",
                EventKind::ALL.map(EventKind::name).join(", ")
            ),
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}
