//! A queued command and where it stands: [`CommandRecord`], [`CommandState`].

use serde::{Deserialize, Serialize};

use dm_types::{Command, DevId, Status};

use super::{CommandId, SessionToken, wire};

/// Where a queued command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandState {
    /// Waiting for the device's next session.
    Queued,
    /// Sent in a Package#2; the status has not arrived yet.
    Sent,
    /// The status arrived (whatever its code).
    Done,
    /// No status will come: the session ended without one.
    Failed,
}

impl CommandState {
    /// `queued`, `sent`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Sent => "sent",
            CommandState::Done => "done",
            CommandState::Failed => "failed",
        }
    }

    /// Whether the command is done or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, CommandState::Done | CommandState::Failed)
    }
}

/// A command queued for a device, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CommandRecord {
    /// Its identifier.
    pub id: CommandId,
    /// The device it is for.
    pub dev_id: DevId,
    /// The command.
    pub command: Command,
    /// Where it stands.
    pub state: CommandState,
    /// The session that sent it.
    pub session: Option<SessionToken>,
    /// Its status entry, once done.
    #[serde(with = "wire::status_option")]
    pub result: Option<Status>,
    /// Whether `result` is a `304` whose data the server filled in from
    /// what it kept of the instances (docs/protocol.md section 8; see
    /// [`Store::record_cached_result`](crate::Store::record_cached_result)): the device sent no data.
    #[serde(default)]
    pub from_cache: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued (Unix milliseconds).
    pub queued_ms: u64,
    /// When its state last changed (Unix milliseconds).
    pub updated_ms: u64,
}

impl CommandRecord {
    /// A command just queued.
    pub fn queued(id: CommandId, dev_id: DevId, command: Command, now_ms: u64) -> CommandRecord {
        CommandRecord {
            id,
            dev_id,
            command,
            state: CommandState::Queued,
            session: None,
            result: None,
            from_cache: false,
            error: None,
            queued_ms: now_ms,
            updated_ms: now_ms,
        }
    }
}
