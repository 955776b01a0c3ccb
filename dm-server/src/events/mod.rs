//! Events: what happened (a command finished, an alert arrived, a session
//! ended, a device was registered, a campaign moved on), recorded where it
//! happens, kept in the store, streamed to subscribers of every node
//! (`GET /admin/events`) and delivered to webhooks.
//!
//! The path of an event, each step cheap for the request that causes it:
//!
//! 1. [`EventHub::record`] puts it in a bounded in-memory buffer (a push
//!    under a mutex; when full, the event is dropped and counted).
//! 2. The appender ([`EventHub::run`]) appends what waits every
//!    [`EventSettings::flush_interval`] in one transaction
//!    ([`Store::append_events`]); the store gives the ids.
//! 3. One reader per node reads the new events by id (woken by its own
//!    appender, and every [`EventSettings::poll_interval`] for the other
//!    nodes'), turns each into its SSE frame once, and broadcasts the
//!    frames in batches to the node's subscribers, which filter and write
//!    them. A subscriber that falls behind reads what it missed from the
//!    store instead of holding the others back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::json;
use tokio::sync::{Notify, broadcast, watch};

use dm_types::DevId;

use crate::store::{
    CampaignId, CommandId, CommandState, EventKind, EventRecord, NewEvent, SessionOutcome,
    SessionToken, Store,
};
use crate::util::now_ms;

pub(crate) mod request;
pub(crate) mod settings;
pub(crate) mod webhook;

pub use request::{EventRequest, parse_event_request};
pub use settings::EventSettings;

/// Events read from the store per query.
pub(crate) const PAGE: usize = 1000;

/// Batches of frames a subscriber may be behind before it reads from the
/// store instead.
const BROADCAST_BATCHES: usize = 256;

/// One event, ready to write: its SSE frame, and what subscribers filter
/// on.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) id: u64,
    pub(crate) kind: EventKind,
    pub(crate) dev_id: Option<DevId>,
    pub(crate) bytes: Bytes,
}

/// The frames of the events after id `from` up to `through` (every event
/// of that range, in order), and all of them as one buffer for the
/// subscribers that filter nothing.
#[derive(Debug)]
pub(crate) struct FrameBatch {
    pub(crate) from: u64,
    pub(crate) through: u64,
    pub(crate) frames: Vec<Frame>,
    pub(crate) all: Bytes,
}

/// The SSE frame of an event: `id`, `event` and one `data` line.
pub(crate) fn sse_frame(event: &EventRecord) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        event.id,
        event.kind.name(),
        event.to_json()
    ))
}

/// The frame saying that events after `after` were pruned (no `id`).
pub(crate) fn lost_frame(after: u64, pruned_through: u64) -> Bytes {
    Bytes::from(format!(
        "event: events.lost\ndata: {}\n\n",
        json!({"kind": "events.lost", "after": after, "pruned_through": pruned_through})
    ))
}

/// What a node keeps of the events: the buffer waiting to be appended,
/// the broadcast of frames to its subscribers, and its stop signal.
pub(crate) struct EventHub {
    pub(crate) settings: EventSettings,
    pending: Mutex<Vec<NewEvent>>,
    dropped: AtomicU64,
    /// Wakes the appender early (the buffer holds a full batch, or the
    /// server stops).
    flush_now: Notify,
    /// Wakes the reader (this node appended).
    appended: Notify,
    frames: broadcast::Sender<Arc<FrameBatch>>,
    /// The lowest id a subscriber that just started stands at: the reader
    /// reads from there at the latest.
    floor: Mutex<Option<u64>>,
    closed: watch::Sender<bool>,
}

impl EventHub {
    pub(crate) fn new(settings: EventSettings) -> EventHub {
        EventHub {
            settings,
            pending: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            flush_now: Notify::new(),
            appended: Notify::new(),
            frames: broadcast::channel(BROADCAST_BATCHES).0,
            floor: Mutex::new(None),
            closed: watch::channel(false).0,
        }
    }

    /// Records an event: into the buffer, or dropped (and counted) when
    /// it is full. Never waits for the store.
    pub(crate) fn record(&self, event: NewEvent) {
        self.record_all(std::iter::once(event));
    }

    /// Records several events.
    pub(crate) fn record_all(&self, events: impl IntoIterator<Item = NewEvent>) {
        if !self.settings.enabled {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dropped = 0;
        for event in events {
            if pending.len() < self.settings.buffer {
                pending.push(event);
            } else {
                dropped += 1;
            }
        }
        let full = pending.len() >= PAGE;
        drop(pending);
        if dropped > 0 {
            let total = self.dropped.fetch_add(dropped, Ordering::Relaxed) + dropped;
            tracing::warn!(dropped, total, "event buffer full: events dropped");
        }
        if full {
            self.flush_now.notify_one();
        }
    }

    /// A receiver of the frame batches.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<FrameBatch>> {
        self.frames.subscribe()
    }

    /// A subscriber (subscribed before) has read every event up to
    /// `cursor` from the store: the reader's next batch starts there at
    /// the latest, so no event falls between.
    pub(crate) fn joined(&self, cursor: u64) {
        let mut floor = self.floor.lock().unwrap_or_else(PoisonError::into_inner);
        *floor = Some(floor.map_or(cursor, |f| f.min(cursor)));
        drop(floor);
        self.appended.notify_one();
    }

    /// A receiver that changes to `true` when the server stops.
    pub(crate) fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Ends every stream (the server stops).
    pub(crate) fn close(&self) {
        let _ = self.closed.send(true);
    }

    fn take_pending(&self) -> Vec<NewEvent> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Appends what waits; on a failure the events go back to the front
    /// of the buffer (within its bound) for the next try.
    pub(crate) async fn flush<S: Store>(&self, store: &S) {
        let batch = self.take_pending();
        if batch.is_empty() {
            return;
        }
        match store.append_events(batch.clone()).await {
            Ok(()) => self.appended.notify_one(),
            Err(error) => {
                tracing::warn!(%error, events = batch.len(), "appending events failed: retried");
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                let mut kept = batch;
                kept.append(&mut pending);
                kept.truncate(self.settings.buffer);
                *pending = kept;
            }
        }
    }

    /// Runs the appender, the reader and the pruning, forever.
    pub(crate) async fn run<S: Store>(&self, store: &S) {
        if !self.settings.enabled {
            return std::future::pending().await;
        }
        tokio::join!(
            self.append_loop(store),
            self.read_loop(store),
            self.prune_loop(store)
        );
    }

    async fn append_loop<S: Store>(&self, store: &S) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.flush_interval) => {}
                () = self.flush_now.notified() => {}
            }
            self.flush(store).await;
        }
    }

    async fn prune_loop<S: Store>(&self, store: &S) {
        let mut interval = tokio::time::interval(self.settings.prune_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let age = u64::try_from(self.settings.max_age.as_millis()).unwrap_or(u64::MAX);
            let before = now_ms().saturating_sub(age);
            match store.prune_events(self.settings.keep_events, before).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "events pruned"),
                Err(error) => tracing::warn!(%error, "pruning events failed"),
            }
        }
    }

    /// The node's one reader: reads new events by id while anyone
    /// subscribes, and broadcasts their frames.
    async fn read_loop<S: Store>(&self, store: &S) {
        let mut cursor: Option<u64> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = self.appended.notified() => {}
            }
            if self.frames.receiver_count() == 0 {
                // Nobody listens: a subscriber reads its start from the
                // store, and the next batch tells where it begins.
                cursor = None;
                continue;
            }
            if let Err(error) = self.read_new(store, &mut cursor).await {
                tracing::warn!(%error, "reading events failed");
            }
        }
    }

    async fn read_new<S: Store>(
        &self,
        store: &S,
        cursor: &mut Option<u64>,
    ) -> Result<(), crate::Error> {
        let floor = self
            .floor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut from = match (*cursor, floor) {
            (Some(at), Some(floor)) => at.min(floor),
            (Some(at), None) => at,
            (None, Some(floor)) => floor,
            // The subscribers are starting: each says where it stands.
            (None, None) => return Ok(()),
        };
        *cursor = Some(from);
        let everything = crate::store::EventFilter::default();
        loop {
            let events = store.events_after(from, PAGE, &everything).await?;
            let Some(last) = events.last().map(|e| e.id) else {
                return Ok(());
            };
            let full = events.len() == PAGE;
            let _ = self.frames.send(Arc::new(batch(from, last, &events)));
            from = last;
            *cursor = Some(last);
            if !full {
                return Ok(());
            }
        }
    }
}

/// The batch of `events` (every event after `from` up to `through`).
pub(crate) fn batch(from: u64, through: u64, events: &[EventRecord]) -> FrameBatch {
    let frames: Vec<Frame> = events
        .iter()
        .map(|event| Frame {
            id: event.id,
            kind: event.kind,
            dev_id: event.dev_id.clone(),
            bytes: sse_frame(event),
        })
        .collect();
    let mut all = BytesMut::with_capacity(frames.iter().map(|f| f.bytes.len()).sum());
    for frame in &frames {
        all.extend_from_slice(&frame.bytes);
    }
    FrameBatch {
        from,
        through,
        frames,
        all: all.freeze(),
    }
}

// ---------------------------------------------------------------------------
// The events, as they happen.

/// `device.registered`.
pub(crate) fn device_registered(dev_id: &DevId, at_ms: u64) -> NewEvent {
    NewEvent::new(
        EventKind::DeviceRegistered,
        at_ms,
        Some(dev_id.clone()),
        json!({"dev_id": dev_id.as_str()}).to_string(),
    )
}

/// `command.finished`: `done` with its status code, or `failed` without.
pub(crate) fn command_finished(
    dev_id: &DevId,
    id: CommandId,
    command: &str,
    state: CommandState,
    status: Option<u16>,
    at_ms: u64,
) -> NewEvent {
    NewEvent::new(
        EventKind::CommandFinished,
        at_ms,
        Some(dev_id.clone()),
        json!({
            "dev_id": dev_id.as_str(),
            "command_id": id.to_string(),
            "command": command,
            "state": state.as_str(),
            "status": status,
        })
        .to_string(),
    )
}

/// `alert.received`.
pub(crate) fn alert_received(dev_id: &DevId, alert_type: &str, at_ms: u64) -> NewEvent {
    NewEvent::new(
        EventKind::AlertReceived,
        at_ms,
        Some(dev_id.clone()),
        json!({"dev_id": dev_id.as_str(), "alert_type": alert_type}).to_string(),
    )
}

/// `session.ended`: `outcome` is `completed`, `timeout` or `failed` (then
/// with its `reason`).
pub(crate) fn session_ended(
    dev_id: &DevId,
    token: SessionToken,
    outcome: &SessionOutcome,
    at_ms: u64,
) -> NewEvent {
    let (name, reason) = match outcome {
        SessionOutcome::Completed => ("completed", None),
        SessionOutcome::Timeout => ("timeout", None),
        SessionOutcome::Failed(reason) => ("failed", Some(reason.as_str())),
    };
    NewEvent::new(
        EventKind::SessionEnded,
        at_ms,
        Some(dev_id.clone()),
        json!({
            "dev_id": dev_id.as_str(),
            "session_id": token.to_string(),
            "outcome": name,
            "reason": reason,
        })
        .to_string(),
    )
}

/// `campaign.progress`: its status, current stage and the number of its
/// devices in each state.
pub(crate) fn campaign_progress(
    id: CampaignId,
    state: &str,
    stage: u32,
    counts: &serde_json::Value,
    at_ms: u64,
) -> NewEvent {
    NewEvent::new(
        EventKind::CampaignProgress,
        at_ms,
        None,
        json!({"campaign_id": id.0, "state": state, "stage": stage, "counts": counts}).to_string(),
    )
}

/// The wait between two webhook attempts: `backoff` doubled per attempt
/// made, at most a minute.
pub(crate) fn backoff(first: Duration, attempts_made: u32) -> Duration {
    let factor = 1u32 << attempts_made.saturating_sub(1).min(16);
    first.saturating_mul(factor).min(Duration::from_secs(60))
}
