//! The steps of a session ([`Store::step_session`](crate::Store::step_session)),
//! each one transaction made of the statements of the single steps.

use std::sync::{Mutex, PoisonError};

use dm_types::MosEntry;

use super::alerts::NewAlert;
use super::cache::NewInstance;
use super::commands::NewResult;
use super::locks::lock_existing;
use super::{Connection, Dialect, alerts, cache, commands, devices, sessions};
use crate::store::{
    Respond, SessionEnd, SessionOutcome, SessionRecord, SessionSummary, StepOutcome,
};
use crate::{Error, Retention};

/// A [`SessionStep`](crate::SessionStep) encoded as the store writes it
/// (encoded before the transaction, which may run more than once).
#[derive(Debug, Clone)]
pub(super) struct EncodedStep {
    pub(super) record: SessionRecord,
    pub(super) opening: Option<Opening>,
    pub(super) statuses: Vec<NewResult>,
    pub(super) cached_instances: Vec<NewInstance>,
    pub(super) alerts: Vec<NewAlert>,
    pub(super) notification_address: Option<String>,
    pub(super) claim: usize,
    pub(super) now_ms: u64,
}

/// What a Package#1 step adds: the session's opening.
#[derive(Debug, Clone)]
pub(super) struct Opening {
    pub(super) summary: SessionSummary,
    /// Already capped to the retention.
    pub(super) mos: Option<Vec<MosEntry>>,
    pub(super) max_open: usize,
}

/// See [`Store::step_session`](crate::Store::step_session). The device's
/// row is locked first, then the counter of open sessions (the order of
/// every transaction).
pub(super) async fn step(
    c: &mut dyn Connection,
    d: Dialect,
    step: &EncodedStep,
    respond: &Mutex<Respond>,
    retention: &Retention,
) -> Result<StepOutcome, Error> {
    let record = &step.record;
    let (token, dev_id) = (record.token, record.dev_id());
    lock_existing(c, d, dev_id).await?;
    match &step.opening {
        Some(opening) => {
            sessions::open(c, d, record, opening.max_open).await?;
            let mos = opening.mos.as_ref();
            sessions::begin(c, d, dev_id, &opening.summary, mos, retention).await?;
        }
        None => sessions::check_version(c, d, token, record.version).await?,
    }
    if !step.cached_instances.is_empty() {
        cache::record(c, d, dev_id, &step.cached_instances, retention).await?;
    }
    for status in &step.statuses {
        commands::record_result(c, d, status, retention).await?;
    }
    if let Some(address) = &step.notification_address {
        devices::set_notification_address(c, dev_id, address).await?;
    }
    if !step.alerts.is_empty() {
        alerts::record(c, d, dev_id, &step.alerts, retention).await?;
    }
    let claimed = if step.claim > 0 {
        commands::claim(c, d, dev_id, token, step.claim, step.now_ms).await?
    } else {
        Vec::new()
    };
    let state = {
        let mut respond = respond.lock().unwrap_or_else(PoisonError::into_inner);
        (*respond)(claimed)?
    };
    if state.is_ended() {
        let end = SessionEnd::of_state(SessionOutcome::Completed, &state, step.now_ms);
        sessions::end(c, d, token, dev_id, &end, retention).await?;
        Ok(StepOutcome::Completed)
    } else {
        let mut next = record.clone();
        next.version = record.version + 1;
        next.state = state;
        sessions::save(c, &next, record.version).await?;
        Ok(StepOutcome::Saved {
            version: next.version,
        })
    }
}
