//! [`Shared`]: what every request handler and the admin operations share.

use std::sync::{Arc, OnceLock};

use axum::http::HeaderMap;

use dm_session::ServerConfig;
use dm_types::ServerUri;

use crate::Error;
use crate::auth::ServerKey;
use crate::budget::{BodyBudget, DeviceRequests};
use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::notify::NotificationChannel;
use crate::options::ServerOptions;
use crate::store::{SessionToken, Store};
use crate::util::now_ms;

/// What every request handler shares.
pub(crate) struct Shared<S, C> {
    pub(crate) options: ServerOptions,
    pub(crate) store: S,
    pub(crate) channel: C,
    /// The public base URI: configured, or the bound address once serving.
    pub(crate) public_base: OnceLock<String>,
    /// The bytes of device request bodies held in memory, bounded.
    pub(crate) bodies: Arc<BodyBudget>,
    /// The requests each device has in flight, capped.
    pub(crate) requests: Arc<DeviceRequests>,
    /// The store's server key, read once.
    pub(crate) server_key: ServerKey,
    /// The counters `GET /metrics` reports.
    pub(crate) metrics: Metrics,
    /// The events waiting to be appended, and the node's subscribers.
    pub(crate) events: Arc<EventHub>,
}

impl<S: Store, C: NotificationChannel> Shared<S, C> {
    /// The base URI devices reach this server at (no trailing `/`).
    pub(crate) fn base_uri(&self, headers: &HeaderMap) -> String {
        if let Some(base) = self.public_base.get() {
            return base.clone();
        }
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
            })
            .unwrap_or("localhost");
        format!("{scheme}://{host}")
    }

    /// The session URI CONT sends for `token`.
    pub(crate) fn session_uri(
        &self,
        headers: &HeaderMap,
        token: SessionToken,
    ) -> Result<ServerUri, Error> {
        let uri = format!("{}/dm/s/{token}", self.base_uri(headers));
        ServerUri::new(uri).map_err(|e| Error::config("session URI", e))
    }

    /// The engine configuration of a session.
    pub(crate) fn session_config(&self, session_uri: ServerUri) -> ServerConfig {
        self.options
            .session
            .session_config(self.options.limits.codec, session_uri)
    }

    /// Ends the sessions past their deadline (their unanswered commands
    /// fail).
    pub(crate) async fn expire(&self) -> Result<Vec<crate::store::SessionRecord>, Error> {
        let now = now_ms();
        let expired = self.store.expire_sessions(now).await?;
        for session in &expired {
            tracing::info!(dev_id = %session.state.dev_id, session = %session.token, "session expired");
            self.session_ended(session, &crate::store::SessionOutcome::Timeout, now);
        }
        Ok(expired)
    }

    /// Records that a session ended (`session.ended`), and that the
    /// commands still awaiting their status in it failed
    /// (`command.finished`, `failed`).
    pub(crate) fn session_ended(
        &self,
        session: &crate::store::SessionRecord,
        outcome: &crate::store::SessionOutcome,
        now_ms: u64,
    ) {
        self.metrics
            .session_ended(outcome, session.started_ms, now_ms);
        let dev_id = session.dev_id();
        let failed = match &session.state.phase {
            dm_session::SessionPhase::AwaitingStatuses { sent } => sent
                .iter()
                .filter_map(|(tag, command)| tag.map(|id| (id, command)))
                .map(|(id, command)| {
                    crate::events::command_finished(
                        dev_id,
                        id,
                        command.name(),
                        crate::store::CommandState::Failed,
                        None,
                        now_ms,
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        self.events
            .record_all(
                failed
                    .into_iter()
                    .chain(std::iter::once(crate::events::session_ended(
                        dev_id,
                        session.token,
                        outcome,
                        now_ms,
                    ))),
            );
    }
}
