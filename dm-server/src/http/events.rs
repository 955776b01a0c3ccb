//! The event routes of the admin API (docs/admin-api.md, "Events"):
//! `GET /admin/events` (Server-Sent Events) and the webhooks
//! (`/admin/webhooks...`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use hyper::body::Frame as BodyFrame;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::admin::{AdminRefusal, AppState, read_json_body};
use super::admin_routes::{AdminRoute, Doc};
use super::refusal::refuse;
use super::schemas;
use crate::events::webhook::parse_webhook_json;
use crate::events::{EventRequest, FrameBatch, PAGE, lost_frame, parse_event_request, sse_frame};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{EventFilter, Store, WebhookId, WebhookRecord};
use crate::util::now_ms;

/// The event routes.
pub(crate) fn routes<S: Store, C: NotificationChannel>() -> Vec<AdminRoute<S, C>> {
    let kinds: Vec<&str> = crate::store::EventKind::ALL
        .map(crate::store::EventKind::name)
        .to_vec();
    vec![
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/events", "The event stream (Server-Sent Events)")
                .describe("`text/event-stream`: each event is `id: <u64>`, `event: <kind>`, `data: <one-line JSON>` with `id`, `kind`, `at_ms` and the kind's members. Resume with `Last-Event-ID` or `since`; when the resume point was pruned, an `event: events.lost` comes first. A `: keep-alive` comment every 15 s. The stream does not end.")
                .query("kinds", json!({"type": "string", "maxLength": 1024}), "comma-separated kinds wanted (default all)")
                .query("dev_id", schemas::dev_id(), "only the events of this device")
                .query("since", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "resume after this event id")
                .response_in(
                    200,
                    "the stream",
                    "text/event-stream",
                    json!({"type": "string", "contentMediaType": "text/event-stream",
                           "description": format!("events of the kinds {}", kinds.join(", "))}),
                    json!("id: 7\nevent: command.finished\ndata: {\"id\":7,\"kind\":\"command.finished\",\"at_ms\":1764000000000,\"dev_id\":\"IMEI:493005100592800\",\"command_id\":\"3\",\"command\":\"GET\",\"state\":\"done\",\"status\":200}\n\n"),
                ),
            stream::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/webhooks", "Webhooks")
                .response(200, "the webhooks (never their secrets)", schemas::reference("WebhookList"), json!({"webhooks": [example_webhook()]})),
            list_webhooks::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/webhooks", "Add a webhook")
                .describe("Events are POSTed to `url` with `X-DM-Signature: t=<unix secs>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>` and `X-DM-Event-Id`; retried with backoff. The secret is never shown again.")
                .body(schemas::reference("WebhookRequest"), json!({
                    "url": "https://hooks.example/dm", "secret": "correct horse", "kinds": ["command.finished"],
                }))
                .response(201, "added", schemas::reference("Webhook"), example_webhook()),
            create_webhook::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::DELETE, "/admin/webhooks/{id}", "Remove a webhook")
                .path_param("id", json!({"type": "integer", "minimum": 1}), json!(1), "the webhook's id")
                .empty(204, "removed")
                .errors(&[404]),
            remove_webhook::<S, C>,
        ),
    ]
}

fn example_webhook() -> Value {
    json!({"id": 1, "url": "https://hooks.example/dm", "kinds": ["command.finished"],
           "created_ms": 1_764_000_000_000_u64, "cursor": 0})
}

/// Chunks of the stream waiting to be written per subscriber; beyond, the
/// subscriber waits (and, behind, reads from the store).
const CHUNKS: usize = 4;

/// A response body fed by a channel: the chunks of one event stream.
struct EventBody(mpsc::Receiver<Bytes>);

impl axum::body::HttpBody for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(BodyFrame::data(bytes))))
    }
}

async fn stream<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AdminRefusal> {
    let request = parse_event_request(
        uri.query(),
        headers.get("last-event-id").map(HeaderValue::as_bytes),
    )?;
    if !shared.events.settings.enabled {
        return Err(refuse(404, "events are disabled on this server").into());
    }
    let (sender, receiver) = mpsc::channel(CHUNKS);
    // Subscribed before the task starts: no batch is missed between the
    // start read and the first batch.
    let batches = shared.events.subscribe();
    tokio::spawn(subscriber(shared.clone(), request, batches, sender));
    let mut response = Body::new(EventBody(receiver)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Why a subscriber stops.
enum Stop {
    /// The client went away, or the server stops.
    Gone,
    /// The store failed (the client reconnects with `Last-Event-ID`).
    Store(crate::Error),
}

impl From<crate::Error> for Stop {
    fn from(error: crate::Error) -> Self {
        Stop::Store(error)
    }
}

/// One subscriber: reads what it resumes from the store, then writes the
/// node's batches (filtered), reading from the store again whenever it
/// fell behind or a batch does not start where it stands.
async fn subscriber<S: Store, C: NotificationChannel>(
    shared: Arc<Shared<S, C>>,
    request: EventRequest,
    mut batches: broadcast::Receiver<Arc<FrameBatch>>,
    sender: mpsc::Sender<Bytes>,
) {
    let mut reader = Reader {
        store: &shared.store,
        filter: &request.filter,
        sender: &sender,
    };
    let mut closed = shared.events.closed();
    let keep_alive = shared.events.settings.keep_alive;
    let run = async {
        if *closed.borrow_and_update() {
            return Err(Stop::Gone);
        }
        let mut cursor = match request.since {
            None => shared.store.event_bounds().await?.newest,
            Some(since) => reader.catch_up(since).await?,
        };
        shared.events.joined(cursor);
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
        loop {
            tokio::select! {
                received = batches.recv() => match received {
                    Ok(batch) => cursor = reader.batch(cursor, &batch).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        cursor = reader.catch_up(cursor).await?;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err::<(), _>(Stop::Gone),
                },
                _ = ticks.tick() => reader.send(Bytes::from_static(b": keep-alive\n\n")).await?,
                () = sender.closed() => return Err(Stop::Gone),
                _ = closed.changed() => return Err(Stop::Gone),
            }
        }
    };
    if let Err(Stop::Store(error)) = run.await {
        tracing::warn!(%error, "event stream ended: the store failed");
    }
}

/// What a subscriber writes with.
struct Reader<'a, S> {
    store: &'a S,
    filter: &'a EventFilter,
    sender: &'a mpsc::Sender<Bytes>,
}

impl<S: Store> Reader<'_, S> {
    async fn send(&mut self, bytes: Bytes) -> Result<(), Stop> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.sender.send(bytes).await.map_err(|_| Stop::Gone)
    }

    /// Writes every event after `after` the filter passes, from the store
    /// (first `events.lost` when some were pruned); returns the id every
    /// event up to which has been considered.
    async fn catch_up(&mut self, after: u64) -> Result<u64, Stop> {
        // Read first: the queries below see at least every event up to it.
        let bounds = self.store.event_bounds().await?;
        if bounds.lost_after(after) {
            self.send(lost_frame(after, bounds.pruned_through)).await?;
        }
        let mut cursor = after;
        loop {
            let events = self.store.events_after(cursor, PAGE, self.filter).await?;
            let mut chunk = BytesMut::new();
            for event in &events {
                chunk.extend_from_slice(&sse_frame(event));
            }
            self.send(chunk.freeze()).await?;
            if let Some(last) = events.last() {
                cursor = last.id;
            }
            if events.len() < PAGE {
                return Ok(cursor.max(bounds.newest));
            }
        }
    }

    /// Writes a batch's frames after `cursor`; returns the new cursor.
    async fn batch(&mut self, cursor: u64, batch: &FrameBatch) -> Result<u64, Stop> {
        if batch.through <= cursor {
            return Ok(cursor);
        }
        if batch.from > cursor {
            // Events between were read before this subscriber was there.
            return self.catch_up(cursor).await;
        }
        if batch.from == cursor && self.filter.is_everything() {
            self.send(batch.all.clone()).await?;
            return Ok(batch.through);
        }
        let mut chunk = BytesMut::new();
        for frame in batch.frames.iter().filter(|f| f.id > cursor) {
            if self.filter.matches(frame.kind, frame.dev_id.as_ref()) {
                chunk.extend_from_slice(&frame.bytes);
            }
        }
        self.send(chunk.freeze()).await?;
        Ok(batch.through)
    }
}

/// A webhook as the admin API shows it (never its secret).
fn webhook_json(record: &WebhookRecord) -> Value {
    json!({
        "id": record.id.0,
        "url": record.spec.url,
        "kinds": record.spec.kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "created_ms": record.created_ms,
        "cursor": record.cursor,
    })
}

/// `POST /admin/webhooks`: `{"url", "secret", "kinds"?}`.
async fn create_webhook<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = read_json_body(&shared, request).await?;
    let spec = parse_webhook_json(&body)?;
    let record = shared.store.create_webhook(spec, now_ms()).await?;
    tracing::info!(webhook = %record.id, url = %record.spec.url, "webhook created");
    Ok((StatusCode::CREATED, axum::Json(webhook_json(&record))).into_response())
}

async fn list_webhooks<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
) -> Result<Response, AdminRefusal> {
    let webhooks = shared.store.webhooks().await?;
    Ok(axum::Json(json!({
        "webhooks": webhooks.iter().map(webhook_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn remove_webhook<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(id): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id: WebhookId = id.parse().map_err(|_| {
        refuse(
            404,
            format!("no webhook {:?}", id.chars().take(64).collect::<String>()),
        )
    })?;
    if shared.store.remove_webhook(id).await? {
        tracing::info!(webhook = %id, "webhook removed");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(crate::Error::WebhookNotFound(id).into())
    }
}
