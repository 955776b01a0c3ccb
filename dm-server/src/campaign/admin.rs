//! The campaign operations of [`Admin`]: create (validated, the group
//! resolved and the members assigned to stages), read, list rows, and the
//! operator's pause, resume, approve and cancel.

use std::collections::{BTreeMap, BTreeSet};

use dm_types::DevId;
use serde::Deserialize;

use super::policy::{self, OperatorAction};
use crate::Error;
use crate::admin::Admin;
use crate::notify::NotificationChannel;
use crate::store::{
    Advance, ArtifactId, CampaignDevice, CampaignId, CampaignRecord, CampaignRetry, CampaignSpec,
    GroupId, MaintenanceWindow, Pacing, Stage, StageCounts, StageSize, Store, UpdateState,
};
use crate::util::now_ms;

/// Default success threshold of a stage (%).
const DEFAULT_SUCCESS_THRESHOLD: u8 = 90;
/// Default error threshold of a stage (%).
const DEFAULT_ERROR_THRESHOLD: u8 = 10;
/// Default pacing.
const DEFAULT_PACING: Pacing = Pacing {
    max_in_flight: 100,
    notifications_per_second: 10,
};
/// Default retries: 3 attempts, 1 minute doubling, at most 1 hour.
const DEFAULT_RETRY: CampaignRetry = CampaignRetry {
    max_attempts: 3,
    initial_backoff_ms: 60_000,
    max_backoff_ms: 3_600_000,
};
/// Default device timeout: 1 hour.
const DEFAULT_DEVICE_TIMEOUT_MS: u64 = 3_600_000;

/// A stage as the admin API takes it (thresholds and advance optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageRequest {
    size: StageSize,
    #[serde(default)]
    success_threshold_percent: Option<u8>,
    #[serde(default)]
    advance: Option<Advance>,
    #[serde(default)]
    error_threshold_percent: Option<u8>,
}

/// Pacing as the admin API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PacingRequest {
    max_in_flight: Option<u32>,
    notifications_per_second: Option<u32>,
}

/// Retries as the admin API takes them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryRequest {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
}

/// The body of `POST /admin/campaigns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignRequest {
    #[serde(default)]
    name: String,
    artifact: ArtifactId,
    group: GroupId,
    stages: Vec<StageRequest>,
    #[serde(default)]
    pacing: Option<PacingRequest>,
    #[serde(default)]
    window: Option<MaintenanceWindow>,
    #[serde(default)]
    retry: Option<RetryRequest>,
    #[serde(default)]
    device_timeout_ms: Option<u64>,
}

fn invalid(problem: impl Into<String>) -> Error {
    Error::InvalidCampaign {
        problem: problem.into(),
    }
}

/// Reads a campaign as the admin API receives it (JSON, strict: a
/// duplicate or unknown member is refused), filling in the defaults:
/// stages succeed at 90%, pause the campaign at 10% failures and advance
/// automatically; pacing 100 devices in flight, 10 notifications a second;
/// 3 attempts, backoff 1 minute doubling up to 1 hour; a device timeout of
/// 1 hour; no maintenance window. The values are checked
/// ([`check_campaign_spec`]).
///
/// ```
/// use dm_server::{StageSize, parse_campaign_spec};
///
/// let spec = parse_campaign_spec(br#"{
///     "name": "fw 2.0", "artifact": "fw-2.0", "group": "all",
///     "stages": [{"size": {"percent": 10}, "advance": "approval"}, {"size": {"percent": 90}}],
///     "pacing": {"max_in_flight": 50}
/// }"#)?;
/// assert_eq!(spec.stages[0].size, StageSize::Percent(10));
/// assert_eq!(spec.stages[1].success_threshold_percent, 90);
/// assert_eq!(spec.pacing.max_in_flight, 50);
/// assert_eq!(spec.pacing.notifications_per_second, 10);
/// assert_eq!(spec.retry.max_attempts, 3);
/// let no_stage = parse_campaign_spec(br#"{"artifact": "a", "group": "g", "stages": []}"#);
/// assert_eq!(no_stage.unwrap_err().status().as_u16(), 400);
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_campaign_spec(body: &[u8]) -> Result<CampaignSpec, Error> {
    let value = crate::admin::decode_admin_json(body)?;
    crate::admin::check_objects("campaign", &value, &["pacing", "retry", "window"])?;
    for stage in value["stages"].as_array().into_iter().flatten() {
        crate::admin::check_objects("stage", stage, &["size"])?;
    }
    let request: CampaignRequest =
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    let stages = request
        .stages
        .into_iter()
        .map(|s| Stage {
            size: s.size,
            success_threshold_percent: s
                .success_threshold_percent
                .unwrap_or(DEFAULT_SUCCESS_THRESHOLD),
            advance: s.advance.unwrap_or(Advance::Auto),
            error_threshold_percent: s.error_threshold_percent.unwrap_or(DEFAULT_ERROR_THRESHOLD),
        })
        .collect();
    let pacing = request.pacing.map_or(DEFAULT_PACING, |p| Pacing {
        max_in_flight: p.max_in_flight.unwrap_or(DEFAULT_PACING.max_in_flight),
        notifications_per_second: p
            .notifications_per_second
            .unwrap_or(DEFAULT_PACING.notifications_per_second),
    });
    let retry = request.retry.map_or(DEFAULT_RETRY, |r| CampaignRetry {
        max_attempts: r.max_attempts.unwrap_or(DEFAULT_RETRY.max_attempts),
        initial_backoff_ms: r
            .initial_backoff_ms
            .unwrap_or(DEFAULT_RETRY.initial_backoff_ms),
        max_backoff_ms: r.max_backoff_ms.unwrap_or(DEFAULT_RETRY.max_backoff_ms),
    });
    let spec = CampaignSpec {
        name: request.name,
        artifact: request.artifact,
        group: request.group,
        stages,
        pacing,
        window: request.window,
        retry,
        device_timeout_ms: request
            .device_timeout_ms
            .unwrap_or(DEFAULT_DEVICE_TIMEOUT_MS),
    };
    check_campaign_spec(&spec)?;
    Ok(spec)
}

/// Checks a campaign's values ([`Error::InvalidCampaign`]): at least one
/// stage (at most 100); percentages from 1 to 100 for a stage size, at most
/// 100 for thresholds; a count of at least 1; window minutes under 1440
/// and a window that is not empty; at least one device in flight and one
/// notification a second; at least one attempt, a maximum backoff not under
/// the initial one; a device timeout of at least a second.
///
/// ```
/// use dm_server::{check_campaign_spec, parse_campaign_spec};
///
/// let mut spec = parse_campaign_spec(br#"{"artifact": "a", "group": "g", "stages": [{"size": {"count": 1}}]}"#)?;
/// assert!(check_campaign_spec(&spec).is_ok());
/// spec.stages[0].error_threshold_percent = 101;
/// assert!(check_campaign_spec(&spec).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn check_campaign_spec(spec: &CampaignSpec) -> Result<(), Error> {
    if spec.stages.is_empty() {
        return Err(invalid("at least one stage is needed"));
    }
    if spec.stages.len() > 100 {
        return Err(invalid("at most 100 stages"));
    }
    for (i, stage) in spec.stages.iter().enumerate() {
        match &stage.size {
            StageSize::Percent(p) if !(1..=100).contains(p) => {
                return Err(invalid(format!("stage {i}: percent {p} is not 1 to 100")));
            }
            StageSize::Count(0) => {
                return Err(invalid(format!("stage {i}: a count of 0 devices")));
            }
            _ => {}
        }
        for (what, value) in [
            ("success_threshold_percent", stage.success_threshold_percent),
            ("error_threshold_percent", stage.error_threshold_percent),
        ] {
            if value > 100 {
                return Err(invalid(format!("stage {i}: {what} {value} is over 100")));
            }
        }
    }
    if let Some(window) = &spec.window {
        if window.start_minute >= 1440 || window.end_minute >= 1440 {
            return Err(invalid("window minutes are minutes of the day: 0 to 1439"));
        }
        if window.start_minute == window.end_minute {
            return Err(invalid("an empty window (start == end) never opens"));
        }
    }
    if spec.pacing.max_in_flight == 0 || spec.pacing.notifications_per_second == 0 {
        return Err(invalid(
            "pacing: max_in_flight and notifications_per_second must be at least 1",
        ));
    }
    if spec.retry.max_attempts == 0 {
        return Err(invalid("retry: max_attempts must be at least 1"));
    }
    if spec.retry.max_backoff_ms < spec.retry.initial_backoff_ms {
        return Err(invalid("retry: max_backoff_ms is under initial_backoff_ms"));
    }
    if spec.device_timeout_ms < 1000 {
        return Err(invalid("device_timeout_ms must be at least 1000"));
    }
    Ok(())
}

/// A campaign with how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CampaignProgress {
    /// The campaign.
    pub record: CampaignRecord,
    /// Its rows per state, per stage.
    pub stages: Vec<StageCounts>,
    /// Its rows per state, all stages.
    pub totals: BTreeMap<UpdateState, u64>,
}

impl<S: Store, C: NotificationChannel> Admin<S, C> {
    /// Creates a campaign (docs/updates.md): checks it
    /// ([`check_campaign_spec`]), that its artifact and group exist
    /// ([`Error::ArtifactNotFound`], [`Error::GroupNotFound`], also for the
    /// group of a stage), resolves the group now and assigns its members to
    /// the stages (in DevID order: each stage takes its share of what is
    /// left, the last takes the rest). Devices already in another
    /// unfinished campaign are skipped. The campaign starts running at
    /// once; the server's driver starts its devices.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dm_server::{
    ///     ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource, CampaignStatus,
    ///     DeviceRegistration, DmServer, GroupFilter, GroupId, GroupRecord, MemoryStore,
    ///     ServerOptions, Store, UdpChannel, UpdateState, parse_campaign_spec,
    /// };
    /// use dm_types::DevId;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let server = DmServer::new(ServerOptions::builder().build()?, store.clone(), UdpChannel);
    /// let admin = server.admin();
    /// let dev_id = DevId::new("IMEI:493005100592800")?;
    /// admin.register_device(DeviceRegistration::new(dev_id.clone()), false).await?;
    /// let artifact = ArtifactRecord::new(
    ///     ArtifactId::new("fw-2.0")?, ArtifactKind::Firmware, "acme-x1", "2.0", 5,
    ///     [0; 32], ArtifactSource::Url("https://cdn.example/fw-2.0.bin".into()),
    /// );
    /// store.put_artifact(artifact, None).await?;
    /// let mut filter = GroupFilter::default();
    /// filter.devices.insert(dev_id.clone());
    /// store.put_group(GroupRecord::new(GroupId::new("all")?, filter)).await?;
    ///
    /// let spec = parse_campaign_spec(
    ///     br#"{"artifact": "fw-2.0", "group": "all", "stages": [{"size": {"percent": 100}}]}"#,
    /// )?;
    /// let campaign = admin.create_campaign(spec).await?;
    /// let progress = admin.campaign(campaign.id).await?;
    /// assert_eq!(progress.record.status, CampaignStatus::Running);
    /// assert_eq!(progress.totals[&UpdateState::Pending], 1);
    /// admin.pause_campaign(campaign.id).await?;
    /// // Not waiting for approval: 409.
    /// assert_eq!(admin.approve_campaign(campaign.id).await.unwrap_err().status().as_u16(), 409);
    /// admin.resume_campaign(campaign.id).await?;
    /// admin.cancel_campaign(campaign.id).await?;
    /// let rows = admin.campaign_devices(campaign.id, None, None, 10).await?;
    /// assert_eq!(rows[0].state, UpdateState::Skipped);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn create_campaign(&self, spec: CampaignSpec) -> Result<CampaignRecord, Error> {
        check_campaign_spec(&spec)?;
        let store = &self.shared.store;
        if store.artifact(&spec.artifact).await?.is_none() {
            return Err(Error::ArtifactNotFound(spec.artifact.clone()));
        }
        let now = now_ms();
        let group = store
            .group(&spec.group)
            .await?
            .ok_or_else(|| Error::GroupNotFound(spec.group.clone()))?;
        let members: BTreeSet<DevId> = crate::group::resolve_group(store, &group, now)
            .await?
            .into_iter()
            .collect();
        let mut groups = BTreeMap::new();
        for stage in &spec.stages {
            if let StageSize::Group(id) = &stage.size
                && !groups.contains_key(id)
            {
                let group = store
                    .group(id)
                    .await?
                    .ok_or_else(|| Error::GroupNotFound(id.clone()))?;
                let in_group: BTreeSet<DevId> = crate::group::resolve_group(store, &group, now)
                    .await?
                    .into_iter()
                    .collect();
                groups.insert(id.clone(), in_group);
            }
        }
        let assigned = policy::assign_stages(&members, &spec.stages, &groups);
        let record = store.create_campaign(spec, assigned, now).await?;
        tracing::info!(campaign = %record.id, devices = members.len(), "campaign created");
        self.record_progress(&record, now).await;
        Ok(record)
    }

    /// Records a `campaign.progress` event of the campaign as it stands
    /// (a failure to read its counts is logged, not returned: the change
    /// was made).
    async fn record_progress(&self, record: &CampaignRecord, now_ms: u64) {
        match self.shared.store.campaign_counts(record.id).await {
            Ok(counts) => self
                .shared
                .events
                .record(progress_event(record, &counts, now_ms)),
            Err(error) => {
                tracing::warn!(campaign = %record.id, %error, "campaign counts not read for its event");
            }
        }
    }

    /// Every campaign, in id order.
    pub async fn campaigns(&self) -> Result<Vec<CampaignRecord>, Error> {
        self.shared.store.campaigns().await
    }

    /// A campaign with its counts ([`Error::CampaignNotFound`]).
    pub async fn campaign(&self, id: CampaignId) -> Result<CampaignProgress, Error> {
        let store = &self.shared.store;
        let record = store
            .campaign(id)
            .await?
            .ok_or(Error::CampaignNotFound(id))?;
        let stages = store.campaign_counts(id).await?;
        let mut totals = BTreeMap::new();
        for stage in &stages {
            for (state, n) in &stage.counts {
                *totals.entry(*state).or_insert(0) += n;
            }
        }
        Ok(CampaignProgress {
            record,
            stages,
            totals,
        })
    }

    /// A campaign's rows in DevID order, those in `state` only when given,
    /// after `after`, at most `limit` ([`Error::CampaignNotFound`]).
    pub async fn campaign_devices(
        &self,
        id: CampaignId,
        state: Option<UpdateState>,
        after: Option<&DevId>,
        limit: usize,
    ) -> Result<Vec<CampaignDevice>, Error> {
        let store = &self.shared.store;
        if store.campaign(id).await?.is_none() {
            return Err(Error::CampaignNotFound(id));
        }
        store.campaign_devices(id, state, after, limit).await
    }

    /// Pauses a running (or waiting) campaign: devices already started
    /// finish, no other starts ([`Error::CampaignState`] otherwise).
    pub async fn pause_campaign(&self, id: CampaignId) -> Result<CampaignRecord, Error> {
        self.operator_action(id, OperatorAction::Pause).await
    }

    /// Resumes a paused campaign; failures so far no longer count towards
    /// the error threshold ([`Error::CampaignState`] otherwise).
    pub async fn resume_campaign(&self, id: CampaignId) -> Result<CampaignRecord, Error> {
        self.operator_action(id, OperatorAction::Resume).await
    }

    /// Starts the next stage of a campaign waiting for approval, or of one
    /// paused at its error threshold ([`Error::CampaignState`] otherwise).
    pub async fn approve_campaign(&self, id: CampaignId) -> Result<CampaignRecord, Error> {
        self.operator_action(id, OperatorAction::Approve).await
    }

    /// Cancels an unfinished campaign: its devices not yet started, or
    /// notified but not yet in a session, are skipped
    /// ([`Error::CampaignState`] for a finished one).
    pub async fn cancel_campaign(&self, id: CampaignId) -> Result<CampaignRecord, Error> {
        self.operator_action(id, OperatorAction::Cancel).await
    }

    /// Cancelling: the devices notified but not yet in a session lose
    /// their MO data, so that the commands still queued for them (the store
    /// cannot take a queued command back) download nothing.
    async fn forget_notified(&self, id: CampaignId) -> Result<(), Error> {
        let store = &self.shared.store;
        let mut after: Option<DevId> = None;
        loop {
            let page = store
                .campaign_devices(id, Some(UpdateState::Notified), after.as_ref(), 500)
                .await?;
            for row in &page {
                super::commands::forget_mo_data(store, id, &row.dev_id).await;
            }
            if page.len() < 500 {
                return Ok(());
            }
            after = page.last().map(|r| r.dev_id.clone());
        }
    }

    async fn operator_action(
        &self,
        id: CampaignId,
        action: OperatorAction,
    ) -> Result<CampaignRecord, Error> {
        let store = &self.shared.store;
        // A change by the driver between the read and the write: read again.
        for _ in 0..5 {
            let record = store
                .campaign(id)
                .await?
                .ok_or(Error::CampaignNotFound(id))?;
            let Some((status, stage)) = policy::operator_action(
                action,
                record.status,
                record.stage,
                record.spec.stages.len(),
            ) else {
                return Err(Error::CampaignState {
                    campaign: id,
                    problem: format!(
                        "cannot {} a campaign that is {}",
                        action.name(),
                        status_name(record.status)
                    ),
                });
            };
            let now = now_ms();
            match store
                .update_campaign(id, record.version, status, stage, now)
                .await
            {
                Ok(updated) => {
                    if action == OperatorAction::Cancel {
                        self.forget_notified(id).await?;
                        let skipped = store.skip_pending_campaign_devices(id, now).await?;
                        tracing::info!(campaign = %id, skipped, "campaign cancelled");
                    } else {
                        tracing::info!(campaign = %id, action = action.name(), "campaign changed by the operator");
                    }
                    self.record_progress(&updated, now).await;
                    return Ok(updated);
                }
                Err(Error::CampaignVersion { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Err(Error::CampaignVersion {
            campaign: id,
            expected: 0,
        })
    }
}

/// The `campaign.progress` event of a campaign with these counts: its
/// status, stage, and how many of its devices are in each state (states
/// with none left out).
pub(crate) fn progress_event(
    record: &CampaignRecord,
    counts: &[crate::store::StageCounts],
    now_ms: u64,
) -> crate::store::NewEvent {
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for stage in counts {
        for (state, n) in &stage.counts {
            if *n > 0 {
                *totals.entry(state.name()).or_default() += n;
            }
        }
    }
    crate::events::campaign_progress(
        record.id,
        status_name(record.status),
        record.stage,
        &serde_json::json!(totals),
        now_ms,
    )
}

/// The name of a status in the admin API (`paused` for both reasons).
pub(crate) fn status_name(status: crate::store::CampaignStatus) -> &'static str {
    use crate::store::CampaignStatus as S;
    match status {
        S::Running => "running",
        S::WaitingApproval => "waiting_approval",
        S::Paused(_) => "paused",
        S::Cancelled => "cancelled",
        S::Completed => "completed",
    }
}
