//! The campaign driver: a background task of the server that, every
//! [`ServerOptionsBuilder::campaign_tick`](crate::ServerOptionsBuilder::campaign_tick),
//! looks at each unfinished campaign whose lease this node holds
//! ([`Store::lease_campaign`]): retries the devices whose timeout passed,
//! moves the campaign through its stages ([`policy::decide`]), and, inside
//! the maintenance window, starts the devices that are due, within the
//! campaign's pacing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dm_types::DevId;

use super::commands;
use super::policy::{self, CampaignDecision, DeviceEvent, Flavor, StageView, TokenBucket};
use crate::Error;
use crate::admin::Admin;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{
    ArtifactRecord, CampaignDevice, CampaignId, CampaignRecord, CampaignStatus, CommandState,
    ObjectOwner, RepositoryObject, StageCounts, Store, UpdateState,
};
use crate::util::now_ms;

/// Rows read per page (timeouts, failures since the last change).
const PAGE: usize = 500;

/// Most devices started per campaign and tick.
const MAX_STARTS_PER_TICK: u64 = 1000;

/// What a node keeps between ticks: its id (random per process) and the
/// token bucket of each campaign it drives.
pub(crate) struct Driver<S, C> {
    shared: Arc<Shared<S, C>>,
    node: String,
    buckets: HashMap<CampaignId, TokenBucket>,
    /// The members of the last `campaign.progress` event recorded per
    /// campaign: another is recorded when they change.
    progress: HashMap<CampaignId, String>,
}

impl<S: Store, C: NotificationChannel> Driver<S, C> {
    /// A driver with a fresh node id.
    pub(crate) fn new(shared: Arc<Shared<S, C>>) -> Result<Self, Error> {
        let node = dm_codec::hex::encode(&crate::util::random::<8>()?);
        Ok(Driver {
            shared,
            node,
            buckets: HashMap::new(),
            progress: HashMap::new(),
        })
    }

    /// How long a lease lasts: ten ticks, at least a second (another node
    /// takes a campaign over that long after its driver stopped).
    fn lease_ms(&self) -> u64 {
        let tick = u64::try_from(self.shared.options.campaign_tick.as_millis()).unwrap_or(1000);
        tick.saturating_mul(10).max(1000)
    }

    /// Runs forever, a tick every `campaign_tick`.
    pub(crate) async fn run(mut self) {
        let tick = self
            .shared
            .options
            .campaign_tick
            .max(Duration::from_millis(10));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = self.tick(now_ms()).await {
                tracing::warn!(%error, "campaign tick failed");
            }
        }
    }

    /// One pass over the unfinished campaigns.
    pub(crate) async fn tick(&mut self, now_ms: u64) -> Result<(), Error> {
        let campaigns = self.shared.store.campaigns().await?;
        let mut driven = Vec::new();
        for campaign in campaigns {
            if campaign.status.is_finished() {
                continue;
            }
            let id = campaign.id;
            let leased = self
                .shared
                .store
                .lease_campaign(id, &self.node, now_ms, now_ms + self.lease_ms())
                .await?;
            if !leased {
                continue;
            }
            driven.push(id);
            if let Err(error) = self.drive(campaign, now_ms).await {
                tracing::warn!(campaign = %id, %error, "driving the campaign failed");
            }
        }
        self.buckets.retain(|id, _| driven.contains(id));
        self.progress.retain(|id, _| driven.contains(id));
        Ok(())
    }

    /// One campaign's tick.
    async fn drive(&mut self, campaign: CampaignRecord, now_ms: u64) -> Result<(), Error> {
        let store = &self.shared.store;
        let id = campaign.id;
        let Some(artifact) = store.artifact(&campaign.spec.artifact).await? else {
            tracing::warn!(campaign = %id, artifact = %campaign.spec.artifact, "the campaign's artifact is gone");
            return Ok(());
        };
        let flavor = commands::flavor(artifact.kind);
        self.time_out(&campaign, flavor, now_ms).await?;
        let counts = store.campaign_counts(id).await?;
        let campaign = self.advance(campaign, &counts, now_ms).await?;
        let event = super::admin::progress_event(&campaign, &counts, now_ms);
        if self.progress.get(&id) != Some(&event.data) {
            self.progress.insert(id, event.data.clone());
            self.shared.events.record(event);
        }
        if !matches!(
            campaign.status,
            CampaignStatus::Running | CampaignStatus::WaitingApproval
        ) || !policy::window_open(campaign.spec.window.as_ref(), now_ms)
        {
            return Ok(());
        }
        let in_flight: u64 = counts
            .iter()
            .flat_map(|c| c.counts.iter())
            .filter(|(state, _)| state.is_in_flight())
            .map(|(_, n)| *n)
            .sum();
        let rate = campaign.spec.pacing.notifications_per_second;
        let bucket = self
            .buckets
            .entry(id)
            .or_insert_with(|| TokenBucket::new(rate, now_ms));
        bucket.refill(rate, now_ms);
        let room = policy::in_flight_room(campaign.spec.pacing, in_flight)
            .min(bucket.available())
            .min(MAX_STARTS_PER_TICK);
        if room == 0 {
            return Ok(());
        }
        let limit = usize::try_from(room).unwrap_or(usize::MAX);
        let due = store
            .due_campaign_devices(id, campaign.stage, now_ms, limit)
            .await?;
        let mut started = 0;
        for row in due {
            match self.start(&campaign, &artifact, flavor, row, now_ms).await {
                Ok(true) => started += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(campaign = %id, %error, "starting a device failed"),
            }
        }
        if let Some(bucket) = self.buckets.get_mut(&id) {
            bucket.take(started);
        }
        Ok(())
    }

    /// Rows in flight without progress for the device timeout: a transient
    /// failure each (retried after the backoff, or failed when out of
    /// attempts).
    async fn time_out(
        &self,
        campaign: &CampaignRecord,
        flavor: Flavor,
        now_ms: u64,
    ) -> Result<(), Error> {
        let store = &self.shared.store;
        let before = now_ms.saturating_sub(campaign.spec.device_timeout_ms);
        let stale = store
            .stale_campaign_devices(campaign.id, before, PAGE)
            .await?;
        for row in stale {
            let Some((next, _)) = policy::transition(
                &row,
                flavor,
                &campaign.spec.retry,
                &DeviceEvent::Timeout,
                now_ms,
            ) else {
                continue;
            };
            if super::hooks::move_row(store, &row, &next, now_ms).await? {
                tracing::info!(campaign = %campaign.id, dev_id = %row.dev_id, "device timed out");
            }
        }
        Ok(())
    }

    /// Moves the campaign on when its current stage says so; returns it as
    /// it now is.
    async fn advance(
        &self,
        campaign: CampaignRecord,
        counts: &[StageCounts],
        now_ms: u64,
    ) -> Result<CampaignRecord, Error> {
        let stage = campaign.stage;
        let current = counts
            .iter()
            .find(|c| c.stage == stage)
            .cloned()
            .unwrap_or(StageCounts {
                stage,
                counts: std::collections::BTreeMap::new(),
            });
        let campaign_final = counts
            .iter()
            .flat_map(|c| c.counts.iter())
            .all(|(state, n)| state.is_final() || *n == 0);
        let mut view = StageView {
            counts: current,
            failed_since_change: 0,
            campaign_final,
        };
        let failed = view.counts.count(UpdateState::Failed);
        if campaign.status == CampaignStatus::Running && failed > 0 {
            // Only failures since the last change count: read them only
            // when they could matter.
            let stage_final = UpdateState::ALL
                .iter()
                .filter(|s| !s.is_final())
                .all(|s| view.counts.count(*s) == 0);
            let spec = campaign.spec.stages.get(stage as usize);
            if stage_final || spec.is_some_and(|s| policy::error_crossed(s, &view.counts, failed)) {
                view.failed_since_change = self.failed_since(&campaign).await?;
            }
        }
        let decision = policy::decide(campaign.status, stage, &campaign.spec.stages, &view);
        let (status, stage) = match decision {
            CampaignDecision::Keep => return Ok(campaign),
            CampaignDecision::Advance(next) => (CampaignStatus::Running, next),
            CampaignDecision::WaitApproval => (CampaignStatus::WaitingApproval, stage),
            CampaignDecision::Pause(reason) => (CampaignStatus::Paused(reason), stage),
            CampaignDecision::Complete => (CampaignStatus::Completed, stage),
        };
        let updated = self
            .shared
            .store
            .update_campaign(campaign.id, campaign.version, status, stage, now_ms)
            .await?;
        tracing::info!(campaign = %campaign.id, ?status, stage, "campaign moved on");
        Ok(updated)
    }

    /// The current stage's rows that failed since the campaign last
    /// changed.
    async fn failed_since(&self, campaign: &CampaignRecord) -> Result<u64, Error> {
        let mut after: Option<DevId> = None;
        let mut failed = 0;
        loop {
            let page = self
                .shared
                .store
                .campaign_devices(campaign.id, Some(UpdateState::Failed), after.as_ref(), PAGE)
                .await?;
            failed += page
                .iter()
                .filter(|r| r.stage == campaign.stage && r.updated_ms >= campaign.updated_ms)
                .count() as u64;
            if page.len() < PAGE {
                return Ok(failed);
            }
            after = page.last().map(|r| r.dev_id.clone());
        }
    }

    /// Starts one due device: skipped when it was removed or (firmware) is
    /// at the artifact's version already, failed when it has no instance
    /// of the update MO; otherwise its commands are queued (those of an
    /// earlier attempt the device never picked up are kept) and a Package#0
    /// sent. `true` when it was started.
    async fn start(
        &self,
        campaign: &CampaignRecord,
        artifact: &ArtifactRecord,
        flavor: Flavor,
        row: CampaignDevice,
        now_ms: u64,
    ) -> Result<bool, Error> {
        let store = &self.shared.store;
        let retry = &campaign.spec.retry;
        let settle = async |event: DeviceEvent<'_>| -> Result<bool, Error> {
            let Some((next, _)) = policy::transition(&row, flavor, retry, &event, now_ms) else {
                return Ok(false);
            };
            super::hooks::move_row(store, &row, &next, now_ms).await
        };
        let Some(device) = store.device(&row.dev_id).await? else {
            tracing::info!(campaign = %campaign.id, dev_id = %row.dev_id, "device removed: skipped");
            settle(DeviceEvent::Skip).await?;
            return Ok(false);
        };
        if flavor == Flavor::Firmware
            && device
                .devinfo
                .get("FwV")
                .is_some_and(|v| *v == artifact.version)
        {
            tracing::info!(campaign = %campaign.id, dev_id = %row.dev_id, version = %artifact.version, "device at the version already: skipped");
            settle(DeviceEvent::Skip).await?;
            return Ok(false);
        }
        let Some(miid) = commands::instance(device.mos.as_deref(), flavor) else {
            tracing::warn!(
                campaign = %campaign.id,
                dev_id = %row.dev_id,
                moid = commands::moid(flavor),
                "the device reported no instance of the update MO in its last MOS: failed"
            );
            settle(DeviceEvent::Unsupported {
                result: commands::unsupported_code(flavor),
            })
            .await?;
            return Ok(false);
        };
        let Some(base) = self.shared.public_base.get().cloned() else {
            return Err(Error::config(
                "campaigns",
                "the server's public URI is not known yet: no command can name it",
            ));
        };
        let commands = if self.still_queued(&row).await? {
            row.commands.clone()
        } else {
            self.queue(
                campaign,
                artifact,
                flavor,
                &device.dev_id,
                &miid,
                &base,
                now_ms,
            )
            .await?
        };
        if !settle(DeviceEvent::Notified { commands }).await? {
            return Ok(false);
        }
        let admin = Admin::new(self.shared.clone());
        match admin.notify(&row.dev_id).await {
            Ok(_) => {}
            Err(error @ (Error::NoNotificationAddress(_) | Error::NoNotificationSecret(_))) => {
                tracing::debug!(dev_id = %row.dev_id, %error, "not notified: the device picks its commands up in its next session");
            }
            Err(error) => tracing::warn!(dev_id = %row.dev_id, %error, "notification failed"),
        }
        tracing::info!(campaign = %campaign.id, dev_id = %row.dev_id, attempt = row.attempts + 1, "device started");
        Ok(true)
    }

    /// Whether the commands of the row's last attempt are all still queued
    /// (never claimed by a session: the device did not come).
    async fn still_queued(&self, row: &CampaignDevice) -> Result<bool, Error> {
        if row.commands.is_empty() {
            return Ok(false);
        }
        for id in &row.commands {
            let queued = self
                .shared
                .store
                .command(*id)
                .await?
                .is_some_and(|c| c.state == CommandState::Queued && c.dev_id == row.dev_id);
            if !queued {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Stores the device's MO data and queues the HGET and the EXEC.
    #[allow(clippy::too_many_arguments)]
    async fn queue(
        &self,
        campaign: &CampaignRecord,
        artifact: &ArtifactRecord,
        flavor: Flavor,
        dev_id: &DevId,
        miid: &dm_types::Miid,
        base: &str,
        now_ms: u64,
    ) -> Result<Vec<crate::store::CommandId>, Error> {
        let store = &self.shared.store;
        let key = self.shared.server_key.get(store).await?;
        let expires_ms = now_ms.saturating_add(
            campaign
                .spec
                .device_timeout_ms
                .saturating_mul(2)
                .max(3_600_000),
        );
        let url = crate::artifact::artifact_url(base, &key, artifact, dev_id, expires_ms);
        let data = commands::mo_data(flavor, campaign.id, miid, artifact, &url);
        let body = serde_json::to_vec(&data).map_err(|e| Error::store("encode MO data", e))?;
        let canonical = crate::admin::canonical_mo_data(&body, &self.shared.options.limits.codec)?;
        let path = commands::repository_path(campaign.id, dev_id);
        // The device's own object: no other device reads its download
        // token.
        store
            .put_object(
                &path,
                RepositoryObject::new(canonical, ObjectOwner::Device(dev_id.clone()), now_ms),
            )
            .await?;
        let admin = Admin::new(self.shared.clone());
        let hget = admin.enqueue(dev_id, commands::hget(base, &path)?).await?;
        let exec = admin
            .enqueue(
                dev_id,
                commands::exec_download(flavor, campaign.id, miid, base)?,
            )
            .await?;
        Ok(vec![hget, exec])
    }
}
