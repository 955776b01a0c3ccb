//! `GET /metrics`: the server's counters and the store's gauges in the
//! Prometheus text format (docs/operations.md), behind the admin API's
//! authentication: the admin token or an API key of any scope (`read`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};

use super::refusal::Refusal;
use crate::metrics::{CampaignGauge, StoreGauges};
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::Store;

/// The media type of the text exposition format.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub(crate) async fn scrape<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    super::access::authorize(&shared, &Method::GET, "/metrics", &headers).await?;
    let gauges = gauges(&shared.store).await?;
    let text = shared.metrics.render(shared.store.latency(), &gauges);
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(EXPOSITION));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// What the store says now: open sessions, queue depth, and the progress of
/// the campaigns not finished.
async fn gauges<S: Store>(store: &S) -> Result<StoreGauges, crate::Error> {
    let mut campaigns = Vec::new();
    for campaign in store.campaigns().await? {
        if campaign.status.is_finished() {
            continue;
        }
        let counts = store.campaign_counts(campaign.id).await?;
        let devices = counts
            .iter()
            .flat_map(|stage| {
                stage
                    .counts
                    .iter()
                    .map(|(state, count)| (stage.stage, state.name(), *count))
            })
            .collect();
        campaigns.push(CampaignGauge {
            id: campaign.id.to_string(),
            stage: campaign.stage,
            devices,
        });
    }
    Ok(StoreGauges {
        open_sessions: store.open_sessions().await?,
        queued_commands: store.queued_command_count().await?,
        campaigns,
    })
}
