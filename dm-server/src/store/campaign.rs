//! Campaigns: an artifact rolled out to a group in stages, and each
//! device's progress through it (docs/updates.md).

use std::collections::BTreeMap;

use dm_types::DevId;
use serde::{Deserialize, Serialize};

use super::ids::CommandId;
use super::name::{ArtifactId, CampaignId, GroupId};

/// How many devices a stage takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageSize {
    /// This percentage (1 to 100) of the campaign's devices, counted over
    /// the whole target group (the last stage takes whatever is left).
    Percent(u8),
    /// This many devices.
    Count(u32),
    /// The devices of the target group that are also in this group.
    Group(GroupId),
}

/// What happens when a stage reaches its success threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advance {
    /// The next stage starts at once.
    Auto,
    /// The campaign waits for an operator's approval.
    Approval,
}

/// One stage of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Its devices.
    pub size: StageSize,
    /// Percentage (0 to 100) of the stage's devices that must have
    /// succeeded for the stage to be done.
    pub success_threshold_percent: u8,
    /// What happens then.
    pub advance: Advance,
    /// Percentage (0 to 100) of the stage's devices failed for good that
    /// pauses the whole campaign.
    pub error_threshold_percent: u8,
}

/// How fast a campaign goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pacing {
    /// Most devices between notified and a final state at once.
    pub max_in_flight: u32,
    /// Most Package#0 sent per second for the campaign.
    pub notifications_per_second: u32,
}

/// When devices may be started: a daily window in UTC minutes of the day
/// (`start_minute` to `end_minute`, wrapping past midnight when the end is
/// before the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// First minute (0 to 1439).
    pub start_minute: u16,
    /// Minute the window closes (0 to 1439; exclusive).
    pub end_minute: u16,
}

/// How transient failures (FUMO 407, 412, 503) are retried; permanent ones
/// never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRetry {
    /// Most attempts per device, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt (ms); doubled after each.
    pub initial_backoff_ms: u64,
    /// Longest wait (ms).
    pub max_backoff_ms: u64,
}

/// What an operator asks for when creating a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSpec {
    /// Free text.
    pub name: String,
    /// The package delivered.
    pub artifact: ArtifactId,
    /// The devices targeted (resolved when the campaign is created).
    pub group: GroupId,
    /// At least one stage.
    pub stages: Vec<Stage>,
    /// Rate limits.
    pub pacing: Pacing,
    /// When devices may be started; always when `None`.
    pub window: Option<MaintenanceWindow>,
    /// Retries of transient failures.
    pub retry: CampaignRetry,
    /// A device that makes no progress for this long after it was started
    /// counts as a transient failure (ms).
    pub device_timeout_ms: u64,
}

impl CampaignSpec {
    /// Whether the campaign targets `group`, as its target group or a
    /// stage's.
    pub fn uses_group(&self, group: &GroupId) -> bool {
        self.group == *group
            || self
                .stages
                .iter()
                .any(|s| matches!(&s.size, StageSize::Group(g) if g == group))
    }
}

/// Why a campaign is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// An operator paused it.
    Operator,
    /// This stage (index) crossed its error threshold.
    ErrorThreshold {
        /// The stage.
        stage: u32,
    },
}

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Devices of the current stage (and of earlier ones, for retries) are
    /// started.
    Running,
    /// The current stage reached its success threshold and waits for an
    /// operator before the next starts.
    WaitingApproval,
    /// Nothing new is started (devices already under way finish).
    Paused(PauseReason),
    /// Stopped for good; devices not yet started were skipped.
    Cancelled,
    /// Every device reached a final state.
    Completed,
}

impl CampaignStatus {
    /// Cancelled or completed.
    pub fn is_finished(self) -> bool {
        matches!(self, CampaignStatus::Cancelled | CampaignStatus::Completed)
    }
}

/// A campaign as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CampaignRecord {
    /// Assigned by the store.
    pub id: CampaignId,
    /// What was asked.
    pub spec: CampaignSpec,
    /// Where it stands.
    pub status: CampaignStatus,
    /// The current stage (index into `spec.stages`).
    pub stage: u32,
    /// Bumped by every change (optimistic concurrency between nodes).
    pub version: u64,
    /// Created (Unix ms).
    pub created_ms: u64,
    /// Last changed (Unix ms).
    pub updated_ms: u64,
}

/// Where one device stands in a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// Waiting to be started (first time, or for a retry at
    /// `next_attempt_ms`).
    Pending,
    /// Its commands are queued and a Package#0 was sent (or it has no
    /// notification address and will come on its own).
    Notified,
    /// A session took its commands.
    InSession,
    /// It accepted the download (EXEC answered 202).
    Downloading,
    /// It downloaded and was told to install.
    Installing,
    /// It reported success.
    Succeeded,
    /// It failed for good (`result` holds the code).
    Failed,
    /// It was not updated: already at the version, in another campaign, or
    /// the campaign was cancelled before it started.
    Skipped,
}

impl UpdateState {
    /// Every state, in order.
    pub const ALL: [UpdateState; 8] = [
        UpdateState::Pending,
        UpdateState::Notified,
        UpdateState::InSession,
        UpdateState::Downloading,
        UpdateState::Installing,
        UpdateState::Succeeded,
        UpdateState::Failed,
        UpdateState::Skipped,
    ];

    /// The name used in the admin API and the stores.
    ///
    /// ```
    /// use dm_server::UpdateState;
    /// assert_eq!(UpdateState::InSession.name(), "in_session");
    /// assert_eq!(UpdateState::from_name("in_session"), Some(UpdateState::InSession));
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            UpdateState::Pending => "pending",
            UpdateState::Notified => "notified",
            UpdateState::InSession => "in_session",
            UpdateState::Downloading => "downloading",
            UpdateState::Installing => "installing",
            UpdateState::Succeeded => "succeeded",
            UpdateState::Failed => "failed",
            UpdateState::Skipped => "skipped",
        }
    }

    /// The state of this name.
    pub fn from_name(name: &str) -> Option<UpdateState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Succeeded, failed or skipped.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            UpdateState::Succeeded | UpdateState::Failed | UpdateState::Skipped
        )
    }

    /// Started and not final: notified, in session, downloading or
    /// installing.
    pub fn is_in_flight(self) -> bool {
        !self.is_final() && self != UpdateState::Pending
    }
}

/// One device's row in a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CampaignDevice {
    /// The campaign.
    pub campaign: CampaignId,
    /// The device.
    pub dev_id: DevId,
    /// The stage it belongs to (index).
    pub stage: u32,
    /// Where it stands.
    pub state: UpdateState,
    /// The last result code it reported (FUMO 200..599, SCOMO 1200..1599),
    /// or the EXEC status that failed it.
    pub result: Option<u16>,
    /// Attempts started so far.
    pub attempts: u32,
    /// When a pending device may be started (Unix ms; 0 at once).
    pub next_attempt_ms: u64,
    /// The commands queued for its current attempt.
    pub commands: Vec<CommandId>,
    /// Last changed (Unix ms).
    pub updated_ms: u64,
}

impl CampaignDevice {
    /// A pending row of `stage`, never attempted.
    ///
    /// ```
    /// use dm_server::{CampaignDevice, CampaignId, UpdateState};
    /// use dm_types::DevId;
    ///
    /// let row = CampaignDevice::pending(CampaignId(1), DevId::new("IMEI:1")?, 0);
    /// assert_eq!(row.state, UpdateState::Pending);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending(campaign: CampaignId, dev_id: DevId, stage: u32) -> CampaignDevice {
        CampaignDevice {
            campaign,
            dev_id,
            stage,
            state: UpdateState::Pending,
            result: None,
            attempts: 0,
            next_attempt_ms: 0,
            commands: Vec::new(),
            updated_ms: 0,
        }
    }
}

/// How many devices of one stage are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCounts {
    /// The stage (index).
    pub stage: u32,
    /// Devices per state (states with none may be absent).
    pub counts: BTreeMap<UpdateState, u64>,
}

impl StageCounts {
    /// The devices of the stage in `state`.
    pub fn count(&self, state: UpdateState) -> u64 {
        self.counts.get(&state).copied().unwrap_or(0)
    }

    /// Every device of the stage.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}
