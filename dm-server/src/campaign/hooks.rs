//! The campaign hooks of the session path: what a session tells about the
//! device's campaign row (its update reports, the commands a Package#2
//! carries, their statuses) moves the row ([`policy::transition`]).
//!
//! They cost nothing for a session that carries no update alert and no
//! campaign command (no store read), and never fail the session: a
//! campaign error is logged.

use dm_types::update::UpdateReport;
use dm_types::{Alert, Command, DevId, Miid};

use super::commands;
use super::policy::{self, DeviceEvent, Flavor, FollowUp};
use crate::Error;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{CampaignDevice, CampaignRetry, CommandId, Store};

/// A device's row in its active campaign, with what its transitions need.
struct Active {
    row: CampaignDevice,
    retry: CampaignRetry,
    flavor: Flavor,
    /// The update MO instance the row's commands target.
    instance: Option<(String, Miid)>,
    /// The EXEC that started the download.
    download: Option<Command>,
}

/// Reads the device's active row, its campaign and the EXEC of its
/// download.
async fn active<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
) -> Result<Option<Active>, Error> {
    let store = &shared.store;
    let Some(row) = store.active_campaign_device(dev_id).await? else {
        return Ok(None);
    };
    let Some(campaign) = store.campaign(row.campaign).await? else {
        return Ok(None);
    };
    let download = match row.commands.get(1) {
        Some(id) => store.command(*id).await?.map(|c| c.command),
        None => None,
    };
    let instance = download.as_ref().and_then(commands::exec_instance);
    let flavor = match &instance {
        Some((moid, _)) if moid == dm_types::update::SCOMO_MOID => Flavor::Software,
        _ => Flavor::Firmware,
    };
    Ok(Some(Active {
        row,
        retry: campaign.spec.retry,
        flavor,
        instance,
        download,
    }))
}

impl Active {
    /// Applies an event: writes the row when it moves (compare-and-set),
    /// and does what the transition asks. `false` when nothing changed.
    async fn apply<S: Store, C: NotificationChannel>(
        &mut self,
        shared: &Shared<S, C>,
        event: &DeviceEvent<'_>,
        now_ms: u64,
    ) -> Result<bool, Error> {
        let Some((mut next, follow)) =
            policy::transition(&self.row, self.flavor, &self.retry, event, now_ms)
        else {
            return Ok(false);
        };
        if follow == FollowUp::QueueUpdate {
            let download = self
                .download
                .as_ref()
                .ok_or_else(|| Error::store("queue the update", "the row has no download EXEC"))?;
            let update = commands::exec_update(download)?;
            let id = shared
                .store
                .enqueue_command(&self.row.dev_id, update, now_ms)
                .await?;
            next.commands.push(id);
        }
        if !move_row(&shared.store, &self.row, &next, now_ms).await? {
            tracing::info!(campaign = %self.row.campaign, "the campaign row moved meanwhile: event dropped");
            return Ok(false);
        }
        self.row = next;
        Ok(true)
    }
}

/// Writes `next` over `row` if the stored row is still `row` (compare-and-
/// set on its state and attempts); once final, the device's campaign MO
/// data is removed. `false` when the row moved meanwhile.
pub(super) async fn move_row<S: Store>(
    store: &S,
    row: &CampaignDevice,
    next: &CampaignDevice,
    now_ms: u64,
) -> Result<bool, Error> {
    if !store
        .advance_campaign_device(next, (row.state, row.attempts), now_ms)
        .await?
    {
        return Ok(false);
    }
    tracing::info!(
        campaign = %row.campaign,
        dev_id = %row.dev_id,
        from = row.state.name(),
        to = next.state.name(),
        result = next.result,
        "campaign device moved"
    );
    if next.state.is_final() {
        commands::forget_mo_data(store, next.campaign, &next.dev_id).await;
    }
    Ok(true)
}

/// Before the step of a package: the FUMO and SCOMO results among its
/// alerts move the device's row (a download that succeeded queues the
/// EXEC of Update, which this session's Package#2 then carries).
pub(crate) async fn before_step<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
    alerts: &[Alert],
    now_ms: u64,
) {
    let reports: Vec<(UpdateReport, Vec<Option<String>>)> = alerts
        .iter()
        .filter_map(|alert| match UpdateReport::from_alert(alert)? {
            Ok(report) => report.result().is_some().then(|| {
                (
                    report,
                    vec![alert.source_uri.clone(), alert.target_uri.clone()],
                )
            }),
            Err(error) => {
                tracing::info!(%error, "update alert not understood");
                None
            }
        })
        .collect();
    if reports.is_empty() {
        return;
    }
    let result = async {
        let Some(mut active) = active(shared, dev_id).await? else {
            tracing::info!("update report from a device in no campaign: ignored");
            return Ok(());
        };
        for (report, uris) in &reports {
            let uris: Vec<Option<&str>> = uris.iter().map(Option::as_deref).collect();
            let matches = active
                .instance
                .as_ref()
                .is_some_and(|(moid, miid)| commands::names_instance(&uris, moid, miid));
            let event = DeviceEvent::Report { report, matches };
            if !active.apply(shared, &event, now_ms).await? {
                tracing::info!(
                    ?report,
                    state = active.row.state.name(),
                    "update report that does not fit the campaign row: ignored"
                );
            }
        }
        Ok::<_, Error>(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, "campaign hook (reports) failed");
    }
}

/// After the step of a package: the statuses it carried of the row's
/// commands (`statuses`: id and code of campaign commands), then the
/// commands its Package#2 carries (`claimed`, when one of them is a
/// campaign command).
pub(crate) async fn after_step<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    dev_id: &DevId,
    statuses: &[(CommandId, u16)],
    claimed: Option<&[CommandId]>,
    now_ms: u64,
) {
    if statuses.is_empty() && claimed.is_none() {
        return;
    }
    let result = async {
        let Some(mut active) = active(shared, dev_id).await? else {
            return Ok(());
        };
        for (command, code) in statuses {
            let event = DeviceEvent::Status {
                command: *command,
                code: *code,
            };
            active.apply(shared, &event, now_ms).await?;
        }
        if let Some(claimed) = claimed {
            active
                .apply(shared, &DeviceEvent::Claimed(claimed), now_ms)
                .await?;
        }
        Ok::<_, Error>(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, "campaign hook (commands) failed");
    }
}
