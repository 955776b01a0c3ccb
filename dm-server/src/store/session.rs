//! Sessions as the store keeps them: the open [`SessionRecord`], the
//! device's [`SessionSummary`], and how one ended.

use std::fmt;

use serde::{Deserialize, Serialize};

use dm_session::{Initiator, SessionState};
use dm_types::DevId;

use super::{CommandId, SessionToken, wire};

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "lowercase")]
#[non_exhaustive]
pub enum SessionOutcome {
    /// A Package#2 with END was sent.
    Completed,
    /// No Package#3 came within the idle timeout.
    Timeout,
    /// A package broke a rule (the reason).
    Failed(String),
}

impl fmt::Display for SessionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionOutcome::Completed => f.write_str("completed"),
            SessionOutcome::Timeout => f.write_str("timeout"),
            SessionOutcome::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// The summary of a device's last session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The session token.
    pub token: SessionToken,
    /// Who started it.
    #[serde(with = "wire::initiator")]
    pub initiator: Initiator,
    /// When Package#1 arrived (Unix milliseconds).
    pub started_ms: u64,
    /// When it ended; `None` while open.
    pub ended_ms: Option<u64>,
    /// Whether CONT (to the session URI `<public base>/dm/s/<token>`) was
    /// sent.
    pub cont_sent: bool,
    /// How many Package#2 were sent.
    pub packages: u32,
    /// How it ended; `None` while open.
    pub outcome: Option<SessionOutcome>,
}

impl SessionSummary {
    /// A session that started at `started_ms`.
    pub fn new(token: SessionToken, initiator: Initiator, started_ms: u64) -> SessionSummary {
        SessionSummary {
            token,
            initiator,
            started_ms,
            ended_ms: None,
            cont_sent: false,
            packages: 0,
            outcome: None,
        }
    }
}

/// An open session: what any server node needs to continue it. The
/// session itself is the engine's [`SessionState`] (its device, the
/// commands of its last Package#2 awaiting their statuses, its deadline);
/// the store adds the token, the version it checks on every save and when
/// the session started.
///
/// ```
/// use dm_server::{SessionRecord, SessionToken};
/// use dm_session::SessionState;
/// use dm_types::DevId;
///
/// let state = SessionState::new(DevId::new("IMEI:1")?, 300_000);
/// let record = SessionRecord::new(SessionToken::from_bytes([1; 16]), 0, state);
/// assert_eq!(record.version, 0);
/// assert_eq!(record.dev_id().as_str(), "IMEI:1");
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session token.
    pub token: SessionToken,
    /// Incremented on every save; [`Store::save_session`](crate::Store::save_session) checks it.
    pub version: u64,
    /// When Package#1 arrived (Unix milliseconds).
    pub started_ms: u64,
    /// The session engine's state.
    pub state: SessionState<CommandId>,
}

impl SessionRecord {
    /// A record at version 0.
    pub fn new(
        token: SessionToken,
        started_ms: u64,
        state: SessionState<CommandId>,
    ) -> SessionRecord {
        SessionRecord {
            token,
            version: 0,
            started_ms,
            state,
        }
    }

    /// The session's device.
    pub fn dev_id(&self) -> &DevId {
        &self.state.dev_id
    }
}

/// How and when a session ended, for [`Store::end_session`](crate::Store::end_session).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEnd {
    /// When (Unix milliseconds).
    pub ended_ms: u64,
    /// How many Package#2 were sent.
    pub packages: u32,
    /// How.
    pub outcome: SessionOutcome,
}

impl SessionEnd {
    /// A session that ended at `ended_ms` after `packages` Package#2.
    pub fn new(outcome: SessionOutcome, packages: u32, ended_ms: u64) -> SessionEnd {
        SessionEnd {
            ended_ms,
            packages,
            outcome,
        }
    }

    /// A session ending at `ended_ms` in `state`: its Package#2 sent so far
    /// counted (at most `u32::MAX`).
    pub(crate) fn of_state(
        outcome: SessionOutcome,
        state: &SessionState<CommandId>,
        ended_ms: u64,
    ) -> SessionEnd {
        let packages = u32::try_from(state.packages_sent).unwrap_or(u32::MAX);
        SessionEnd::new(outcome, packages, ended_ms)
    }
}
