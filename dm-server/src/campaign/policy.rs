//! The campaign policy: plain data and functions, no I/O, time passed in
//! (docs/updates.md, "Server side: campaigns"). The driver and the session
//! hooks feed it what the store holds and write back what it decides.

use std::collections::{BTreeMap, BTreeSet};

use dm_types::DevId;
use dm_types::update::{FumoOperation, ResultOutcome, UpdateReport};

use crate::store::{
    Advance, CampaignDevice, CampaignRetry, CampaignStatus, CommandId, GroupId, MaintenanceWindow,
    Pacing, PauseReason, Stage, StageCounts, StageSize, UpdateState,
};

/// Milliseconds in a minute.
const MINUTE_MS: u64 = 60_000;
/// Minutes in a day.
const DAY_MINUTES: u64 = 1440;

/// Assigns each member of the target (in DevID order, which makes the
/// assignment deterministic) to a stage: stages are filled in order, a
/// `Percent` stage takes that percentage of the whole target (rounded up),
/// a `Count` stage that many, a `Group` stage the remaining members that
/// are in `groups[id]` (an unresolved group takes none), each at most what
/// is left; the last stage takes whatever is left, whatever its size.
pub(crate) fn assign_stages(
    members: &BTreeSet<DevId>,
    stages: &[Stage],
    groups: &BTreeMap<GroupId, BTreeSet<DevId>>,
) -> Vec<(DevId, u32)> {
    let total = members.len() as u64;
    let mut left: Vec<&DevId> = members.iter().collect();
    let mut assigned = Vec::with_capacity(members.len());
    for (index, stage) in stages.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        if index as usize + 1 == stages.len() {
            assigned.extend(left.drain(..).map(|d| (d.clone(), index)));
            break;
        }
        let taken: Vec<&DevId> = match &stage.size {
            StageSize::Percent(percent) => {
                let wanted = (total * u64::from(*percent)).div_ceil(100);
                let wanted = usize::try_from(wanted)
                    .unwrap_or(usize::MAX)
                    .min(left.len());
                left.drain(..wanted).collect()
            }
            StageSize::Count(count) => {
                let wanted = usize::try_from(*count)
                    .unwrap_or(usize::MAX)
                    .min(left.len());
                left.drain(..wanted).collect()
            }
            StageSize::Group(group) => {
                let Some(in_group) = groups.get(group) else {
                    continue;
                };
                let (taken, rest): (Vec<&DevId>, Vec<&DevId>) =
                    left.iter().partition(|d| in_group.contains(**d));
                left = rest;
                taken
            }
        };
        assigned.extend(taken.into_iter().map(|d| (d.clone(), index)));
    }
    assigned
}

/// Whether devices may be started now: always without a window; else
/// when the UTC minute of the day is in `[start, end)`, wrapping past
/// midnight when the end is before the start (an empty window, start ==
/// end, is never open; the admin API refuses it).
pub(crate) fn window_open(window: Option<&MaintenanceWindow>, now_ms: u64) -> bool {
    let Some(window) = window else {
        return true;
    };
    let minute = (now_ms / MINUTE_MS) % DAY_MINUTES;
    let (start, end) = (u64::from(window.start_minute), u64::from(window.end_minute));
    if start <= end {
        start <= minute && minute < end
    } else {
        minute >= start || minute < end
    }
}

/// The wait before the next attempt after `attempts` attempts (at least
/// one): `initial * 2^(attempts - 1)`, at most `max`.
pub(crate) fn backoff_ms(retry: &CampaignRetry, attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(63);
    retry
        .initial_backoff_ms
        .saturating_mul(1u64 << doublings)
        .min(retry.max_backoff_ms)
}

/// How many more devices may be started now: `max_in_flight` minus those
/// in flight.
pub(crate) fn in_flight_room(pacing: Pacing, in_flight: u64) -> u64 {
    u64::from(pacing.max_in_flight).saturating_sub(in_flight)
}

/// A token bucket pacing the devices a campaign starts (each start sends at
/// most one Package#0): `rate` tokens a second, at most a second's worth
/// kept. Counted in thousandths of a token, so that any rate is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    rate: u64,
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `per_second` tokens at `now_ms`.
    pub(crate) fn new(per_second: u32, now_ms: u64) -> TokenBucket {
        let rate = u64::from(per_second);
        TokenBucket {
            rate,
            milli_tokens: rate * 1000,
            last_ms: now_ms,
        }
    }

    /// Adds the tokens earned since the last call (the rate may change).
    pub(crate) fn refill(&mut self, per_second: u32, now_ms: u64) {
        self.rate = u64::from(per_second);
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.rate * 1000);
    }

    /// Whole tokens available.
    pub(crate) fn available(&self) -> u64 {
        self.milli_tokens / 1000
    }

    /// Takes `n` tokens (at most those available).
    pub(crate) fn take(&mut self, n: u64) {
        self.milli_tokens = self
            .milli_tokens
            .saturating_sub(n.min(self.available()) * 1000);
    }
}

/// What the driver sees of a campaign's current stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageView {
    /// The stage's rows per state.
    pub(crate) counts: StageCounts,
    /// The stage's rows that failed since the campaign's status or stage
    /// last changed (an operator who resumes accepts the failures so far).
    pub(crate) failed_since_change: u64,
    /// Every row of the whole campaign is final.
    pub(crate) campaign_final: bool,
}

/// What the driver does with a campaign's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CampaignDecision {
    /// Nothing changes.
    Keep,
    /// The next stage starts.
    Advance(u32),
    /// The current stage is done; an operator approves the next.
    WaitApproval,
    /// Stopped starting devices: the stage's failures crossed its error
    /// threshold, or keep it below its success threshold with nothing left
    /// to try.
    Pause(PauseReason),
    /// Every device is final after the last stage.
    Complete,
}

/// The devices of a stage that count towards its thresholds: all but the
/// skipped ones.
fn attempted(counts: &StageCounts) -> u64 {
    counts
        .total()
        .saturating_sub(counts.count(UpdateState::Skipped))
}

/// Whether `part` is at least `percent`% of `whole`.
fn at_least_percent(part: u64, percent: u8, whole: u64) -> bool {
    u128::from(part) * 100 >= u128::from(percent) * u128::from(whole)
}

/// Whether the stage's successes reached its success threshold (a stage
/// with no attempted device has).
pub(crate) fn success_met(stage: &Stage, counts: &StageCounts) -> bool {
    at_least_percent(
        counts.count(UpdateState::Succeeded),
        stage.success_threshold_percent,
        attempted(counts),
    )
}

/// Whether `failed` failures of the stage reach its error threshold (one at
/// least: a 0% threshold pauses at the first failure).
pub(crate) fn error_crossed(stage: &Stage, counts: &StageCounts, failed: u64) -> bool {
    failed > 0 && at_least_percent(failed, stage.error_threshold_percent, attempted(counts))
}

/// Decides a campaign's next status from its current stage:
///
/// - only a `Running` campaign moves (a waiting, paused or finished one
///   waits for an operator);
/// - failures since the last change crossing the error threshold pause it;
/// - on the last stage, the campaign completes once every row of the
///   campaign is final (whatever the failures: nothing is left to start);
/// - the success threshold met ends the stage: the next starts (`auto`), or
///   the campaign waits for approval;
/// - a stage whose rows are all final below its success threshold pauses
///   the campaign when it failed since the last change; after a resume (no
///   failure since) it counts as done.
pub(crate) fn decide(
    status: CampaignStatus,
    stage_index: u32,
    stages: &[Stage],
    view: &StageView,
) -> CampaignDecision {
    if status != CampaignStatus::Running {
        return CampaignDecision::Keep;
    }
    let Some(stage) = stages.get(stage_index as usize) else {
        return if view.campaign_final {
            CampaignDecision::Complete
        } else {
            CampaignDecision::Keep
        };
    };
    let last = stage_index as usize + 1 >= stages.len();
    if last && view.campaign_final {
        // Nothing is left to start or to wait for.
        return CampaignDecision::Complete;
    }
    let pause = CampaignDecision::Pause(PauseReason::ErrorThreshold { stage: stage_index });
    if error_crossed(stage, &view.counts, view.failed_since_change) {
        return pause;
    }
    let stage_final = UpdateState::ALL
        .iter()
        .filter(|s| !s.is_final())
        .all(|s| view.counts.count(*s) == 0);
    let done = if success_met(stage, &view.counts) {
        true
    } else if stage_final && !last {
        if view.failed_since_change > 0 {
            return pause;
        }
        true
    } else {
        false
    };
    if last {
        CampaignDecision::Keep
    } else if done {
        match stage.advance {
            Advance::Auto => CampaignDecision::Advance(stage_index + 1),
            Advance::Approval => CampaignDecision::WaitApproval,
        }
    } else {
        CampaignDecision::Keep
    }
}

/// What an operator asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperatorAction {
    /// Stop starting devices.
    Pause,
    /// Start devices again after a pause.
    Resume,
    /// Start the next stage of a campaign waiting for approval (or of one
    /// paused at its error threshold: the operator accepts the failures).
    Approve,
    /// Stop for good.
    Cancel,
}

impl OperatorAction {
    /// Its name in the admin API.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OperatorAction::Pause => "pause",
            OperatorAction::Resume => "resume",
            OperatorAction::Approve => "approve",
            OperatorAction::Cancel => "cancel",
        }
    }
}

/// The status and stage after an operator's action, or `None` when it does
/// not apply: pause a running or waiting campaign; resume a paused one;
/// approve a waiting one, or one paused at its error threshold (the next
/// stage starts; after the last stage it keeps running until every row is
/// final); cancel any unfinished one.
pub(crate) fn operator_action(
    action: OperatorAction,
    status: CampaignStatus,
    stage: u32,
    stages: usize,
) -> Option<(CampaignStatus, u32)> {
    let next = if (stage as usize) + 1 < stages {
        stage + 1
    } else {
        stage
    };
    match (action, status) {
        (OperatorAction::Pause, CampaignStatus::Running | CampaignStatus::WaitingApproval) => {
            Some((CampaignStatus::Paused(PauseReason::Operator), stage))
        }
        (OperatorAction::Resume, CampaignStatus::Paused(_)) => {
            Some((CampaignStatus::Running, stage))
        }
        (
            OperatorAction::Approve,
            CampaignStatus::WaitingApproval
            | CampaignStatus::Paused(PauseReason::ErrorThreshold { .. }),
        ) => Some((CampaignStatus::Running, next)),
        (OperatorAction::Cancel, status) if !status.is_finished() => {
            Some((CampaignStatus::Cancelled, stage))
        }
        _ => None,
    }
}

/// What the update is: a firmware update through FUMO (Download, then
/// Update) or a software component through SCOMO (DownloadInstall).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// FUMO.
    Firmware,
    /// SCOMO.
    Software,
}

/// What happened to a device in a campaign.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeviceEvent<'a> {
    /// The driver queued its commands (and sent a Package#0 when it could).
    Notified {
        /// The commands of the attempt.
        commands: Vec<CommandId>,
    },
    /// The driver found it should not be updated (removed from the store,
    /// or already at the artifact's version).
    Skip,
    /// The driver cannot start it: it has no instance of the update MO
    /// (failed for good with `result`).
    Unsupported {
        /// The code recorded.
        result: u16,
    },
    /// A session claimed these commands for its Package#2.
    Claimed(&'a [CommandId]),
    /// The device answered one of its commands.
    Status {
        /// The command.
        command: CommandId,
        /// The status code.
        code: u16,
    },
    /// The device reported a result (a FUMO or SCOMO alert) about the
    /// instance of the row's commands (`matches`), or about another one.
    Report {
        /// The report.
        report: &'a UpdateReport,
        /// It names the row's instance.
        matches: bool,
    },
    /// It made no progress within the campaign's device timeout.
    Timeout,
}

/// What the transition asks of the caller besides writing the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// Nothing.
    None,
    /// Queue the EXEC of `Update` on the row's FUMO instance (its download
    /// succeeded), and add its id to the row's commands.
    QueueUpdate,
}

/// A row's next state, or `None` when the event changes nothing (an event
/// that does not fit the row's state is ignored).
pub(crate) fn transition(
    row: &CampaignDevice,
    flavor: Flavor,
    retry: &CampaignRetry,
    event: &DeviceEvent<'_>,
    now_ms: u64,
) -> Option<(CampaignDevice, FollowUp)> {
    use UpdateState as U;
    let mut next = row.clone();
    next.updated_ms = now_ms;
    let state = row.state;
    let moved = |next: CampaignDevice| Some((next, FollowUp::None));
    match event {
        DeviceEvent::Notified { commands } if state == U::Pending => {
            next.state = U::Notified;
            next.attempts = row.attempts.saturating_add(1);
            next.commands.clone_from(commands);
            moved(next)
        }
        DeviceEvent::Skip if state == U::Pending => {
            next.state = U::Skipped;
            moved(next)
        }
        DeviceEvent::Unsupported { result } if state == U::Pending => {
            next.state = U::Failed;
            next.result = Some(*result);
            moved(next)
        }
        DeviceEvent::Claimed(claimed)
            if matches!(state, U::Pending | U::Notified)
                && !row.commands.is_empty()
                && claimed.iter().any(|c| row.commands.contains(c)) =>
        {
            next.state = U::InSession;
            moved(next)
        }
        DeviceEvent::Status { command, code }
            if state.is_in_flight() && row.commands.contains(command) =>
        {
            status_transition(row, next, *command, *code)
        }
        DeviceEvent::Report { report, matches } if *matches && state.is_in_flight() => {
            report_transition(row, next, flavor, retry, report)
        }
        DeviceEvent::Timeout if state.is_in_flight() => {
            Some((retried(next, retry, None), FollowUp::None))
        }
        _ => None,
    }
}

/// A status of one of the row's commands: the first (firmware: the HGET of
/// the FUMO data) must succeed; the EXEC that starts the download answers
/// 202 (accepted, result to come) or 200; any other status of a command
/// fails the row for good with that status.
fn status_transition(
    row: &CampaignDevice,
    mut next: CampaignDevice,
    command: CommandId,
    code: u16,
) -> Option<(CampaignDevice, FollowUp)> {
    if !(200..300).contains(&code) {
        next.state = UpdateState::Failed;
        next.result = Some(code);
        return Some((next, FollowUp::None));
    }
    // The EXEC that starts the download: the second command of a firmware
    // attempt (after the HGET), the second of a software one.
    let download_exec = row.commands.get(1) == Some(&command);
    if download_exec && matches!(row.state, UpdateState::Notified | UpdateState::InSession) {
        next.state = UpdateState::Downloading;
        return Some((next, FollowUp::None));
    }
    None
}

/// A FUMO or SCOMO result about the row's instance.
fn report_transition(
    row: &CampaignDevice,
    mut next: CampaignDevice,
    flavor: Flavor,
    retry: &CampaignRetry,
    report: &UpdateReport,
) -> Option<(CampaignDevice, FollowUp)> {
    use UpdateState as U;
    let started = matches!(row.state, U::Notified | U::InSession | U::Downloading);
    let (result, expected, on_success) = match (flavor, report) {
        (
            Flavor::Firmware,
            UpdateReport::Fumo {
                operation, result, ..
            },
        ) => match operation {
            FumoOperation::Download => (result.code(), started, U::Installing),
            FumoOperation::Update => (result.code(), row.state == U::Installing, U::Succeeded),
            FumoOperation::DownloadAndUpdate => (
                result.code(),
                started || row.state == U::Installing,
                U::Succeeded,
            ),
        },
        (Flavor::Software, UpdateReport::Scomo { result, .. }) => {
            (result.code(), started, U::Succeeded)
        }
        _ => return None,
    };
    if !expected {
        return None;
    }
    let outcome = report
        .result()
        .map(dm_types::update::UpdateResult::outcome)?;
    next.result = Some(result);
    match outcome {
        ResultOutcome::Success => {
            next.state = on_success;
            let follow = if on_success == U::Installing {
                FollowUp::QueueUpdate
            } else {
                FollowUp::None
            };
            Some((next, follow))
        }
        ResultOutcome::Transient => Some((retried(next, retry, Some(result)), FollowUp::None)),
        ResultOutcome::Permanent => {
            next.state = U::Failed;
            Some((next, FollowUp::None))
        }
    }
}

/// A transient failure: pending again after the backoff when attempts are
/// left, failed otherwise. The row keeps its commands: when the device
/// never picked them up, the next attempt sends them again rather than
/// queueing a second set.
fn retried(mut next: CampaignDevice, retry: &CampaignRetry, result: Option<u16>) -> CampaignDevice {
    if result.is_some() {
        next.result = result;
    }
    if next.attempts < retry.max_attempts {
        next.state = UpdateState::Pending;
        next.next_attempt_ms = next
            .updated_ms
            .saturating_add(backoff_ms(retry, next.attempts));
    } else {
        next.state = UpdateState::Failed;
    }
    next
}

#[cfg(test)]
mod tests;
