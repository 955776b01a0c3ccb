//! One step of a session as the store applies it
//! ([`Store::step_session`](crate::Store::step_session)): what a Package#1
//! or a Package#3 changes, and the Package#2 built in between.

use dm_session::{CachedInstance, SessionState};
use dm_types::{Command, MosEntry, Status};

use super::{
    AlertRecord, CommandId, SessionEnd, SessionOutcome, SessionRecord, SessionSummary, Store,
};
use crate::Error;

/// Builds the Package#2 of a step from the commands the step claimed for
/// it, and returns the session's state after it.
///
/// A store may call it more than once (a database may run a transaction
/// again after a serialization failure): each call starts from what it
/// captured, clones what it needs, and has no effect outside (the caller
/// takes the package it built from a slot the last call filled). An error
/// it returns aborts the step.
pub type Respond =
    Box<dyn FnMut(Vec<(CommandId, Command)>) -> Result<SessionState<CommandId>, Error> + Send>;

/// The package a [`SessionStep`] answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepPackage {
    /// A Package#1: the step opens the session (its record, at version 0),
    /// unless `max_open` sessions are open already, and begins it
    /// ([`Store::open_session`](crate::Store::open_session) and
    /// [`Store::begin_session`](crate::Store::begin_session)).
    Package1 {
        /// The session's summary, the device's latest.
        summary: SessionSummary,
        /// The MO inventory the Package#1 announced, if any.
        mos: Option<Vec<MosEntry>>,
        /// How many sessions may be open at once, this one included.
        max_open: usize,
    },
    /// A Package#3 of an open session, whose stored version must be the
    /// record's ([`Store::save_session`](crate::Store::save_session)).
    Package3,
}

/// A command's status received in a Package#3.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandStatus {
    /// The command.
    pub id: CommandId,
    /// Its status (with its results).
    pub status: Status,
    /// Whether the results were filled in from the cache (a `304`, see
    /// [`Store::record_cached_result`](crate::Store::record_cached_result)).
    pub from_cache: bool,
}

impl CommandStatus {
    /// A status as the device sent it.
    pub fn new(id: CommandId, status: Status) -> CommandStatus {
        CommandStatus {
            id,
            status,
            from_cache: false,
        }
    }

    /// A status whose results came from the cache.
    pub fn from_cache(id: CommandId, status: Status) -> CommandStatus {
        CommandStatus {
            id,
            status,
            from_cache: true,
        }
    }
}

/// Everything a Package#1 or a Package#3 changes in the store, applied as
/// one step by [`Store::step_session`](crate::Store::step_session).
///
/// ```
/// use dm_server::{SessionRecord, SessionStep, SessionSummary, SessionToken, StepPackage};
/// use dm_session::{Initiator, SessionState};
/// use dm_types::DevId;
///
/// let token = SessionToken::from_bytes([1; 16]);
/// let record = SessionRecord::new(token, 0, SessionState::new(DevId::new("IMEI:1")?, 300_000));
/// let opening = StepPackage::Package1 {
///     summary: SessionSummary::new(token, Initiator::Client, 0),
///     mos: None,
///     max_open: 100,
/// };
/// let mut step = SessionStep::new(record, opening, 0);
/// step.claim = 8;
/// assert!(step.statuses.is_empty());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionStep {
    /// The session before the step: new (Package#1) or as loaded
    /// (Package#3).
    pub record: SessionRecord,
    /// The package answered.
    pub package: StepPackage,
    /// The statuses of commands sent in the session, recorded as
    /// [`Store::record_result`](crate::Store::record_result) does (a
    /// command no longer `sent` in the session is left alone).
    pub statuses: Vec<CommandStatus>,
    /// MO instances to keep for caching
    /// ([`Store::record_cached_instances`](crate::Store::record_cached_instances)).
    pub cached_instances: Vec<CachedInstance>,
    /// Alerts received ([`Store::record_alerts`](crate::Store::record_alerts)).
    pub alerts: Vec<AlertRecord>,
    /// Where the device now listens for Package#0 (a NotificationAddress
    /// alert), see
    /// [`Store::set_notification_address`](crate::Store::set_notification_address).
    pub notification_address: Option<String>,
    /// How many queued commands to claim for the Package#2
    /// ([`Store::claim_commands`](crate::Store::claim_commands)).
    pub claim: usize,
    /// When the package arrived (Unix milliseconds).
    pub now_ms: u64,
}

impl SessionStep {
    /// A step that records nothing and claims nothing, yet.
    pub fn new(record: SessionRecord, package: StepPackage, now_ms: u64) -> SessionStep {
        SessionStep {
            record,
            package,
            statuses: Vec::new(),
            cached_instances: Vec::new(),
            alerts: Vec::new(),
            notification_address: None,
            claim: 0,
            now_ms,
        }
    }
}

/// What a [`SessionStep`] left of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// The Package#2 continues the session, saved at `version`.
    Saved {
        /// The version the session is saved at.
        version: u64,
    },
    /// The Package#2 held END: the session ended as completed.
    Completed,
}

/// The default [`Store::step_session`](crate::Store::step_session): the
/// step composed of the store's other methods (not atomic).
pub(super) async fn composed<S: Store + ?Sized>(
    store: &S,
    step: SessionStep,
    respond: Respond,
) -> Result<StepOutcome, Error> {
    let token = step.record.token;
    let dev_id = step.record.dev_id().clone();
    let now_ms = step.now_ms;
    match step.package.clone() {
        StepPackage::Package1 {
            summary,
            mos,
            max_open,
        } => {
            store.open_session(step.record.clone(), max_open).await?;
            let applied = async {
                store.begin_session(&dev_id, summary, mos, now_ms).await?;
                apply(store, step, respond).await
            }
            .await;
            if let Err(error) = &applied {
                let end = SessionEnd::new(SessionOutcome::Failed(error.to_string()), 1, now_ms);
                if let Err(error) = store.end_session(token, &dev_id, end).await {
                    tracing::warn!(%error, "the failed session could not be ended; it will expire");
                }
            }
            applied
        }
        StepPackage::Package3 => {
            let expected = step.record.version;
            match store.session(token).await? {
                None => return Err(Error::SessionNotFound(token.public_id())),
                Some(stored) if stored.version != expected => {
                    return Err(Error::SessionVersion {
                        session: token.public_id(),
                        expected,
                    });
                }
                Some(_) => {}
            }
            apply(store, step, respond).await
        }
    }
}

/// Steps 2 to 4 of [`composed`]: records, claims, responds, saves or ends;
/// releases the claimed commands when the session is not saved.
async fn apply<S: Store + ?Sized>(
    store: &S,
    step: SessionStep,
    mut respond: Respond,
) -> Result<StepOutcome, Error> {
    let SessionStep {
        record,
        statuses,
        cached_instances,
        alerts,
        notification_address,
        claim,
        now_ms,
        ..
    } = step;
    let (token, dev_id) = (record.token, record.dev_id().clone());
    if !cached_instances.is_empty() {
        store
            .record_cached_instances(&dev_id, cached_instances)
            .await?;
    }
    for CommandStatus {
        id,
        status,
        from_cache,
    } in statuses
    {
        if from_cache {
            store
                .record_cached_result(id, token, status, now_ms)
                .await?;
        } else {
            store.record_result(id, token, status, now_ms).await?;
        }
    }
    if let Some(address) = &notification_address {
        store.set_notification_address(&dev_id, address).await?;
    }
    if !alerts.is_empty() {
        store.record_alerts(&dev_id, alerts).await?;
    }
    let claimed = if claim > 0 {
        store.claim_commands(&dev_id, token, claim, now_ms).await?
    } else {
        Vec::new()
    };
    let ids: Vec<CommandId> = claimed.iter().map(|(id, _)| *id).collect();
    let finished = async {
        let state = respond(claimed)?;
        finish(store, record, state, now_ms).await
    }
    .await;
    if finished.is_err()
        && !ids.is_empty()
        && let Err(error) = store.release_commands(&dev_id, token, ids, now_ms).await
    {
        tracing::warn!(%error, "claimed commands could not be released; they fail with the session");
    }
    finished
}

/// Step 4: saves the session at the next version, then, when `state` is
/// ended, ends it as completed. Ending is version-checked by that save
/// ([`Store::end_session`] checks no version): of two requests continuing
/// the session at once, one ends it, the other meets the version conflict
/// (or the session saved as ended, which the server answers 409).
async fn finish<S: Store + ?Sized>(
    store: &S,
    record: SessionRecord,
    state: SessionState<CommandId>,
    now_ms: u64,
) -> Result<StepOutcome, Error> {
    let expected = record.version;
    let (token, dev_id) = (record.token, record.dev_id().clone());
    let ended = state.is_ended();
    let packages = u32::try_from(state.packages_sent).unwrap_or(u32::MAX);
    let mut next = record;
    next.version = expected + 1;
    next.state = state;
    store.save_session(next, expected).await?;
    if ended {
        let end = SessionEnd::new(SessionOutcome::Completed, packages, now_ms);
        store.end_session(token, &dev_id, end).await?;
        Ok(StepOutcome::Completed)
    } else {
        Ok(StepOutcome::Saved {
            version: expected + 1,
        })
    }
}
