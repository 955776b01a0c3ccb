//! One step of a session as the store applies it
//! ([`Store::step_session`](crate::Store::step_session)): what a Package#1
//! or a Package#3 changes, and the Package#2 built in between.

use dm_session::{CachedInstance, SessionState};
use dm_types::{Command, MosEntry, Status};

use super::{AlertRecord, CommandId, SessionRecord, SessionSummary};
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
