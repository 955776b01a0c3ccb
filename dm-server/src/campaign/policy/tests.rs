use std::collections::{BTreeMap, BTreeSet};

use dm_types::DevId;
use dm_types::update::{FumoOperation, FumoResult, ScomoResult, UpdateReport};

use super::*;
use crate::store::{CampaignId, StageCounts};

fn dev(n: u32) -> DevId {
    DevId::new(format!("IMEI:{n:03}")).expect("DevID")
}

fn devs(n: u32) -> BTreeSet<DevId> {
    (0..n).map(dev).collect()
}

fn stage(size: StageSize) -> Stage {
    Stage {
        size,
        success_threshold_percent: 100,
        advance: Advance::Auto,
        error_threshold_percent: 20,
    }
}

fn per_stage(assigned: &[(DevId, u32)], stages: u32) -> Vec<usize> {
    (0..stages)
        .map(|s| assigned.iter().filter(|(_, i)| *i == s).count())
        .collect()
}

#[test]
fn percent_stages_count_over_the_whole_target_rounded_up() {
    let stages = [
        stage(StageSize::Percent(10)),
        stage(StageSize::Percent(30)),
        stage(StageSize::Percent(10)),
    ];
    let assigned = assign_stages(&devs(25), &stages, &BTreeMap::new());
    // 10% of 25 = 2.5 -> 3; 30% -> 8 (7.5); the last takes the rest.
    assert_eq!(per_stage(&assigned, 3), [3, 8, 14]);
    // Deterministic: DevID order.
    assert_eq!(assigned[0], (dev(0), 0));
    assert_eq!(assigned[3], (dev(3), 1));
    assert_eq!(assigned.len(), 25);
    assert_eq!(
        assign_stages(&devs(25), &stages, &BTreeMap::new()),
        assigned
    );
}

#[test]
fn count_stages_take_at_most_what_is_left() {
    let stages = [
        stage(StageSize::Count(2)),
        stage(StageSize::Count(10)),
        stage(StageSize::Count(1)),
    ];
    assert_eq!(
        per_stage(&assign_stages(&devs(5), &stages, &BTreeMap::new()), 3),
        [2, 3, 0]
    );
    // A single stage takes everyone whatever its size.
    let one = [stage(StageSize::Count(1))];
    assert_eq!(
        per_stage(&assign_stages(&devs(4), &one, &BTreeMap::new()), 1),
        [4]
    );
    assert!(assign_stages(&BTreeSet::new(), &stages, &BTreeMap::new()).is_empty());
}

#[test]
fn group_stages_take_the_intersection() {
    let canary = GroupId::new("canary").expect("group id");
    let unknown = GroupId::new("unknown").expect("group id");
    let mut groups = BTreeMap::new();
    groups.insert(
        canary.clone(),
        [dev(3), dev(7), dev(99)]
            .into_iter()
            .collect::<BTreeSet<_>>(),
    );
    let stages = [
        stage(StageSize::Group(canary)),
        stage(StageSize::Group(unknown)),
        stage(StageSize::Percent(50)),
        stage(StageSize::Count(1)),
    ];
    let assigned = assign_stages(&devs(10), &stages, &groups);
    let stage0: Vec<&DevId> = assigned
        .iter()
        .filter(|(_, s)| *s == 0)
        .map(|(d, _)| d)
        .collect();
    // dev 99 is not in the target.
    assert_eq!(stage0, [&dev(3), &dev(7)]);
    assert_eq!(per_stage(&assigned, 4), [2, 0, 5, 3]);
}

#[test]
fn windows_wrap_past_midnight() {
    let at = |minute: u64| minute * 60_000 + 17 * 86_400_000 + 5_000;
    let day = MaintenanceWindow {
        start_minute: 120,
        end_minute: 240,
    };
    assert!(window_open(None, at(0)));
    assert!(!window_open(Some(&day), at(119)));
    assert!(window_open(Some(&day), at(120)));
    assert!(window_open(Some(&day), at(239)));
    assert!(!window_open(Some(&day), at(240)));
    let night = MaintenanceWindow {
        start_minute: 1380,
        end_minute: 60,
    };
    assert!(window_open(Some(&night), at(1380)));
    assert!(window_open(Some(&night), at(1439)));
    assert!(window_open(Some(&night), at(0)));
    assert!(window_open(Some(&night), at(59)));
    assert!(!window_open(Some(&night), at(60)));
    assert!(!window_open(Some(&night), at(720)));
    let empty = MaintenanceWindow {
        start_minute: 5,
        end_minute: 5,
    };
    assert!(!window_open(Some(&empty), at(5)));
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let retry = CampaignRetry {
        max_attempts: 10,
        initial_backoff_ms: 1000,
        max_backoff_ms: 5000,
    };
    assert_eq!(backoff_ms(&retry, 1), 1000);
    assert_eq!(backoff_ms(&retry, 2), 2000);
    assert_eq!(backoff_ms(&retry, 3), 4000);
    assert_eq!(backoff_ms(&retry, 4), 5000);
    assert_eq!(backoff_ms(&retry, 0), 1000);
    assert_eq!(backoff_ms(&retry, u32::MAX), 5000);
    let huge = CampaignRetry {
        max_attempts: 100,
        initial_backoff_ms: u64::MAX / 2,
        max_backoff_ms: u64::MAX,
    };
    assert_eq!(backoff_ms(&huge, 3), u64::MAX);
}

#[test]
fn admission_is_bounded_by_in_flight_and_tokens() {
    let pacing = Pacing {
        max_in_flight: 10,
        notifications_per_second: 4,
    };
    assert_eq!(in_flight_room(pacing, 3), 7);
    assert_eq!(in_flight_room(pacing, 12), 0);
    let mut bucket = TokenBucket::new(4, 1000);
    assert_eq!(bucket.available(), 4);
    bucket.take(3);
    assert_eq!(bucket.available(), 1);
    bucket.take(5);
    assert_eq!(bucket.available(), 0);
    bucket.refill(4, 1249);
    assert_eq!(bucket.available(), 0);
    bucket.refill(4, 1250);
    assert_eq!(bucket.available(), 1);
    // At most a second's worth.
    bucket.refill(4, 100_000);
    assert_eq!(bucket.available(), 4);
    // A clock going back earns nothing.
    bucket.take(4);
    bucket.refill(4, 50);
    assert_eq!(bucket.available(), 0);
    let mut none = TokenBucket::new(0, 0);
    none.refill(0, 10_000);
    assert_eq!(none.available(), 0);
}

fn counts(pairs: &[(UpdateState, u64)]) -> StageCounts {
    StageCounts {
        stage: 0,
        counts: pairs.iter().copied().collect(),
    }
}

fn view(pairs: &[(UpdateState, u64)], failed_since: u64, campaign_final: bool) -> StageView {
    StageView {
        counts: counts(pairs),
        failed_since_change: failed_since,
        campaign_final,
    }
}

fn two_stages(advance: Advance) -> Vec<Stage> {
    vec![
        Stage {
            size: StageSize::Count(10),
            success_threshold_percent: 80,
            advance,
            error_threshold_percent: 20,
        },
        stage(StageSize::Percent(100)),
    ]
}

#[test]
fn success_threshold_advances_or_waits() {
    use UpdateState as U;
    let running = CampaignStatus::Running;
    let auto = two_stages(Advance::Auto);
    let under = view(&[(U::Succeeded, 7), (U::Downloading, 3)], 0, false);
    assert_eq!(decide(running, 0, &auto, &under), CampaignDecision::Keep);
    let met = view(&[(U::Succeeded, 8), (U::Downloading, 2)], 0, false);
    assert_eq!(
        decide(running, 0, &auto, &met),
        CampaignDecision::Advance(1)
    );
    let approval = two_stages(Advance::Approval);
    assert_eq!(
        decide(running, 0, &approval, &met),
        CampaignDecision::WaitApproval
    );
    // Skipped rows count neither way: 4 of 5 attempted is 80%.
    let skipped = view(
        &[(U::Succeeded, 4), (U::Pending, 1), (U::Skipped, 5)],
        0,
        false,
    );
    assert_eq!(
        decide(running, 0, &auto, &skipped),
        CampaignDecision::Advance(1)
    );
    // An empty stage is done at once.
    assert_eq!(
        decide(running, 0, &auto, &view(&[], 0, false)),
        CampaignDecision::Advance(1)
    );
    // Only a running campaign moves.
    for status in [
        CampaignStatus::WaitingApproval,
        CampaignStatus::Paused(PauseReason::Operator),
        CampaignStatus::Cancelled,
        CampaignStatus::Completed,
    ] {
        assert_eq!(decide(status, 0, &auto, &met), CampaignDecision::Keep);
    }
}

#[test]
fn the_last_stage_completes_when_every_row_is_final() {
    use UpdateState as U;
    let running = CampaignStatus::Running;
    let auto = two_stages(Advance::Auto);
    let done = view(&[(U::Succeeded, 9), (U::Failed, 1)], 0, true);
    assert_eq!(decide(running, 1, &auto, &done), CampaignDecision::Complete);
    // Earlier stages' retries still under way.
    let earlier_busy = view(&[(U::Succeeded, 10)], 0, false);
    assert_eq!(
        decide(running, 1, &auto, &earlier_busy),
        CampaignDecision::Keep
    );
    let busy = view(&[(U::Succeeded, 9), (U::Installing, 1)], 0, false);
    assert_eq!(decide(running, 1, &auto, &busy), CampaignDecision::Keep);
    // Failures over the error threshold when everything is final: done.
    let failures = view(&[(U::Succeeded, 1), (U::Failed, 9)], 9, true);
    assert_eq!(
        decide(running, 1, &auto, &failures),
        CampaignDecision::Complete
    );
    // A stage index past the stages completes once everything is final.
    assert_eq!(decide(running, 5, &auto, &done), CampaignDecision::Complete);
}

#[test]
fn error_threshold_pauses_before_the_next_stage() {
    use UpdateState as U;
    let running = CampaignStatus::Running;
    let auto = two_stages(Advance::Auto);
    let pause = CampaignDecision::Pause(PauseReason::ErrorThreshold { stage: 0 });
    // 2 of 10 failed = 20%: paused even though 8 succeeded.
    let crossed = view(&[(U::Succeeded, 8), (U::Failed, 2)], 2, false);
    assert_eq!(decide(running, 0, &auto, &crossed), pause);
    let below = view(
        &[(U::Succeeded, 8), (U::Failed, 1), (U::Pending, 1)],
        1,
        false,
    );
    assert_eq!(
        decide(running, 0, &auto, &below),
        CampaignDecision::Advance(1)
    );
    // After a resume, only failures since count.
    let accepted = view(&[(U::Succeeded, 8), (U::Failed, 2)], 0, false);
    assert_eq!(
        decide(running, 0, &auto, &accepted),
        CampaignDecision::Advance(1)
    );
    // A 0% threshold pauses at the first failure, never without one.
    let mut strict = auto.clone();
    strict[0].error_threshold_percent = 0;
    let one = view(&[(U::Pending, 9), (U::Failed, 1)], 1, false);
    assert_eq!(decide(running, 0, &strict, &one), pause);
    let none = view(&[(U::Pending, 10)], 0, false);
    assert_eq!(decide(running, 0, &strict, &none), CampaignDecision::Keep);
    // The last stage pauses too.
    let last = view(&[(U::Failed, 3), (U::Pending, 7)], 3, false);
    assert_eq!(
        decide(running, 1, &auto, &last),
        CampaignDecision::Pause(PauseReason::ErrorThreshold { stage: 1 })
    );
}

#[test]
fn a_finished_stage_below_its_success_threshold_pauses_until_resumed() {
    use UpdateState as U;
    let running = CampaignStatus::Running;
    let mut auto = two_stages(Advance::Auto);
    auto[0].error_threshold_percent = 50;
    let stalled = view(&[(U::Succeeded, 7), (U::Failed, 3)], 3, false);
    assert_eq!(
        decide(running, 0, &auto, &stalled),
        CampaignDecision::Pause(PauseReason::ErrorThreshold { stage: 0 })
    );
    let resumed = view(&[(U::Succeeded, 7), (U::Failed, 3)], 0, false);
    assert_eq!(
        decide(running, 0, &auto, &resumed),
        CampaignDecision::Advance(1)
    );
}

#[test]
fn operator_actions_apply_only_where_they_make_sense() {
    use CampaignStatus as C;
    use OperatorAction as A;
    let paused = C::Paused(PauseReason::Operator);
    let errors = C::Paused(PauseReason::ErrorThreshold { stage: 0 });
    assert_eq!(
        operator_action(A::Pause, C::Running, 0, 2),
        Some((paused, 0))
    );
    assert_eq!(
        operator_action(A::Pause, C::WaitingApproval, 1, 2),
        Some((paused, 1))
    );
    assert_eq!(operator_action(A::Pause, paused, 0, 2), None);
    assert_eq!(
        operator_action(A::Resume, paused, 0, 2),
        Some((C::Running, 0))
    );
    assert_eq!(
        operator_action(A::Resume, errors, 0, 2),
        Some((C::Running, 0))
    );
    assert_eq!(operator_action(A::Resume, C::Running, 0, 2), None);
    assert_eq!(
        operator_action(A::Approve, C::WaitingApproval, 0, 2),
        Some((C::Running, 1))
    );
    assert_eq!(
        operator_action(A::Approve, errors, 0, 2),
        Some((C::Running, 1))
    );
    assert_eq!(
        operator_action(A::Approve, errors, 1, 2),
        Some((C::Running, 1))
    );
    assert_eq!(operator_action(A::Approve, C::Running, 0, 2), None);
    assert_eq!(operator_action(A::Approve, paused, 0, 2), None);
    for status in [C::Running, C::WaitingApproval, paused, errors] {
        assert_eq!(
            operator_action(A::Cancel, status, 0, 2),
            Some((C::Cancelled, 0))
        );
    }
    for action in [A::Pause, A::Resume, A::Approve, A::Cancel] {
        assert_eq!(operator_action(action, C::Cancelled, 0, 2), None);
        assert_eq!(operator_action(action, C::Completed, 0, 2), None);
    }
    assert_eq!(A::Approve.name(), "approve");
}

fn retry() -> CampaignRetry {
    CampaignRetry {
        max_attempts: 3,
        initial_backoff_ms: 1000,
        max_backoff_ms: 60_000,
    }
}

fn row(state: UpdateState, attempts: u32) -> CampaignDevice {
    let mut row = CampaignDevice::pending(CampaignId(1), dev(1), 0);
    row.state = state;
    row.attempts = attempts;
    if state != UpdateState::Pending {
        row.commands = vec![CommandId(10), CommandId(11)];
    }
    row
}

fn fumo(operation: FumoOperation, code: u16) -> UpdateReport {
    UpdateReport::Fumo {
        operation,
        source_uri: Some(format!("urn:oma:mo:oma-fumo:1.0/fw/{operation}")),
        result: FumoResult::new(code).expect("FUMO result"),
    }
}

fn step(
    row: &CampaignDevice,
    flavor: Flavor,
    event: &DeviceEvent<'_>,
) -> Option<(CampaignDevice, FollowUp)> {
    transition(row, flavor, &retry(), event, 5000)
}

fn state_after(row: &CampaignDevice, event: &DeviceEvent<'_>) -> Option<UpdateState> {
    step(row, Flavor::Firmware, event).map(|(r, _)| r.state)
}

#[test]
fn a_firmware_update_goes_through_every_state() {
    use UpdateState as U;
    let pending = row(U::Pending, 0);
    let (notified, _) = step(
        &pending,
        Flavor::Firmware,
        &DeviceEvent::Notified {
            commands: vec![CommandId(10), CommandId(11)],
        },
    )
    .expect("notified");
    assert_eq!(notified.state, U::Notified);
    assert_eq!(notified.attempts, 1);
    assert_eq!(notified.commands, [CommandId(10), CommandId(11)]);
    assert_eq!(notified.updated_ms, 5000);
    let claimed = [CommandId(10), CommandId(11), CommandId(12)];
    let (in_session, _) =
        step(&notified, Flavor::Firmware, &DeviceEvent::Claimed(&claimed)).expect("claimed");
    assert_eq!(in_session.state, U::InSession);
    // The HGET's 200 changes nothing; the EXEC's 202 starts the download.
    let hget_ok = DeviceEvent::Status {
        command: CommandId(10),
        code: 200,
    };
    assert_eq!(state_after(&in_session, &hget_ok), None);
    let (downloading, _) = step(
        &in_session,
        Flavor::Firmware,
        &DeviceEvent::Status {
            command: CommandId(11),
            code: 202,
        },
    )
    .expect("accepted");
    assert_eq!(downloading.state, U::Downloading);
    let downloaded = fumo(FumoOperation::Download, 200);
    let (installing, follow) = step(
        &downloading,
        Flavor::Firmware,
        &DeviceEvent::Report {
            report: &downloaded,
            matches: true,
        },
    )
    .expect("downloaded");
    assert_eq!(installing.state, U::Installing);
    assert_eq!(installing.result, Some(200));
    assert_eq!(follow, FollowUp::QueueUpdate);
    let updated = fumo(FumoOperation::Update, 200);
    let (succeeded, follow) = step(
        &installing,
        Flavor::Firmware,
        &DeviceEvent::Report {
            report: &updated,
            matches: true,
        },
    )
    .expect("updated");
    assert_eq!(succeeded.state, U::Succeeded);
    assert_eq!(follow, FollowUp::None);
    // A final row moves no more.
    for event in [
        DeviceEvent::Timeout,
        DeviceEvent::Skip,
        DeviceEvent::Report {
            report: &updated,
            matches: true,
        },
    ] {
        assert_eq!(state_after(&succeeded, &event), None, "{event:?}");
    }
}

#[test]
fn reports_that_do_not_fit_the_row_are_ignored() {
    use UpdateState as U;
    let download = fumo(FumoOperation::Download, 200);
    let update = fumo(FumoOperation::Update, 200);
    let other = DeviceEvent::Report {
        report: &download,
        matches: false,
    };
    assert_eq!(state_after(&row(U::Downloading, 1), &other), None);
    // An update result while downloading, a download result while
    // installing, anything while pending.
    let early = DeviceEvent::Report {
        report: &update,
        matches: true,
    };
    assert_eq!(state_after(&row(U::Downloading, 1), &early), None);
    let late = DeviceEvent::Report {
        report: &download,
        matches: true,
    };
    assert_eq!(state_after(&row(U::Installing, 1), &late), None);
    assert_eq!(state_after(&row(U::Pending, 1), &late), None);
    // A SCOMO result for a firmware row, and a FUMO one for a software row.
    let scomo = UpdateReport::Scomo {
        source_uri: None,
        target_uri: None,
        result: ScomoResult::SUCCESSFUL,
        identifier: None,
    };
    let scomo_event = DeviceEvent::Report {
        report: &scomo,
        matches: true,
    };
    assert_eq!(state_after(&row(U::Downloading, 1), &scomo_event), None);
    assert!(step(&row(U::Downloading, 1), Flavor::Software, &late).is_none());
    let request = UpdateReport::FumoRequest {
        requester: dm_types::update::UpdateRequester::Device,
        source_uri: None,
    };
    let request_event = DeviceEvent::Report {
        report: &request,
        matches: true,
    };
    assert_eq!(state_after(&row(U::Downloading, 1), &request_event), None);
    // Claims and statuses of other commands.
    let elsewhere = [CommandId(99)];
    assert_eq!(
        state_after(&row(U::Notified, 1), &DeviceEvent::Claimed(&elsewhere)),
        None
    );
    let foreign = DeviceEvent::Status {
        command: CommandId(99),
        code: 500,
    };
    assert_eq!(state_after(&row(U::InSession, 1), &foreign), None);
    // A second admission of a started row.
    let again = DeviceEvent::Notified { commands: vec![] };
    assert_eq!(state_after(&row(U::Notified, 1), &again), None);
}

#[test]
fn a_software_update_succeeds_on_its_scomo_result() {
    use UpdateState as U;
    let ok = UpdateReport::Scomo {
        source_uri: None,
        target_uri: None,
        result: ScomoResult::SUCCESSFUL,
        identifier: None,
    };
    let event = DeviceEvent::Report {
        report: &ok,
        matches: true,
    };
    let (done, follow) = step(&row(U::Downloading, 1), Flavor::Software, &event).expect("done");
    assert_eq!(
        (done.state, done.result, follow),
        (U::Succeeded, Some(1200), FollowUp::None)
    );
    let bad = UpdateReport::Scomo {
        source_uri: None,
        target_uri: None,
        result: ScomoResult::new(1402).expect("code"),
        identifier: None,
    };
    let event = DeviceEvent::Report {
        report: &bad,
        matches: true,
    };
    let (failed, _) = step(&row(U::InSession, 1), Flavor::Software, &event).expect("failed");
    assert_eq!((failed.state, failed.result), (U::Failed, Some(1402)));
    let busy = UpdateReport::Scomo {
        source_uri: None,
        target_uri: None,
        result: ScomoResult::new(1503).expect("code"),
        identifier: None,
    };
    let event = DeviceEvent::Report {
        report: &busy,
        matches: true,
    };
    let (retry, _) = step(&row(U::Downloading, 1), Flavor::Software, &event).expect("retried");
    assert_eq!(retry.state, U::Pending);
}

#[test]
fn transient_results_are_retried_with_backoff_then_fail() {
    use UpdateState as U;
    let lost = fumo(FumoOperation::Download, 503);
    let event = DeviceEvent::Report {
        report: &lost,
        matches: true,
    };
    let (retried, _) = step(&row(U::Downloading, 1), Flavor::Firmware, &event).expect("retried");
    assert_eq!(retried.state, U::Pending);
    assert_eq!(retried.result, Some(503));
    assert_eq!(retried.next_attempt_ms, 5000 + 1000);
    assert_eq!(retried.commands, [CommandId(10), CommandId(11)]);
    assert_eq!(retried.attempts, 1);
    let (second, _) = step(&row(U::Downloading, 2), Flavor::Firmware, &event).expect("retried");
    assert_eq!(second.next_attempt_ms, 5000 + 2000);
    // The third attempt was the last.
    let (failed, _) = step(&row(U::Downloading, 3), Flavor::Firmware, &event).expect("failed");
    assert_eq!((failed.state, failed.result), (U::Failed, Some(503)));
    // A timeout is transient too, and keeps the last result.
    let mut timed_out = row(U::InSession, 1);
    timed_out.result = Some(407);
    let (again, _) = step(&timed_out, Flavor::Firmware, &DeviceEvent::Timeout).expect("retried");
    assert_eq!((again.state, again.result), (U::Pending, Some(407)));
    let (exhausted, _) = step(
        &row(U::Notified, 3),
        Flavor::Firmware,
        &DeviceEvent::Timeout,
    )
    .expect("failed");
    assert_eq!((exhausted.state, exhausted.result), (U::Failed, None));
    assert_eq!(
        state_after(&row(U::Pending, 1), &DeviceEvent::Timeout),
        None
    );
}

#[test]
fn permanent_results_and_refused_commands_fail_for_good() {
    use UpdateState as U;
    let corrupt = fumo(FumoOperation::Download, 402);
    let event = DeviceEvent::Report {
        report: &corrupt,
        matches: true,
    };
    let (failed, _) = step(&row(U::Downloading, 1), Flavor::Firmware, &event).expect("failed");
    assert_eq!((failed.state, failed.result), (U::Failed, Some(402)));
    let update_failed = fumo(FumoOperation::Update, 410);
    let event = DeviceEvent::Report {
        report: &update_failed,
        matches: true,
    };
    let (failed, _) = step(&row(U::Installing, 1), Flavor::Firmware, &event).expect("failed");
    assert_eq!((failed.state, failed.result), (U::Failed, Some(410)));
    // The EXEC refused, the HGET refused.
    for (command, code) in [(11, 405), (10, 403), (11, 500)] {
        let event = DeviceEvent::Status {
            command: CommandId(command),
            code,
        };
        let (failed, _) = step(&row(U::InSession, 1), Flavor::Firmware, &event).expect("failed");
        assert_eq!((failed.state, failed.result), (U::Failed, Some(code)));
    }
    // The EXEC of Update accepted changes nothing; refused fails.
    let mut installing = row(U::Installing, 1);
    installing.commands.push(CommandId(12));
    let accepted = DeviceEvent::Status {
        command: CommandId(12),
        code: 202,
    };
    assert_eq!(state_after(&installing, &accepted), None);
    let refused = DeviceEvent::Status {
        command: CommandId(12),
        code: 403,
    };
    assert_eq!(state_after(&installing, &refused), Some(U::Failed));
    let (unsupported, _) = step(
        &row(U::Pending, 0),
        Flavor::Firmware,
        &DeviceEvent::Unsupported { result: 408 },
    )
    .expect("failed");
    assert_eq!(
        (unsupported.state, unsupported.result),
        (U::Failed, Some(408))
    );
}

#[test]
fn skip_only_touches_rows_not_started() {
    use UpdateState as U;
    assert_eq!(
        state_after(&row(U::Pending, 0), &DeviceEvent::Skip),
        Some(U::Skipped)
    );
    assert_eq!(state_after(&row(U::Notified, 1), &DeviceEvent::Skip), None);
    // A download and update in one go succeeds on its result.
    let both = fumo(FumoOperation::DownloadAndUpdate, 200);
    let event = DeviceEvent::Report {
        report: &both,
        matches: true,
    };
    assert_eq!(
        state_after(&row(U::Downloading, 1), &event),
        Some(U::Succeeded)
    );
}
