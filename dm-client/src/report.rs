//! What a session did ([`SessionReport`]).

use dm_session::{ClientEnd, ClientEvent, ClientStats};
use dm_types::{ServerId, ServerUri};

/// What a session did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionReport {
    /// The server of the session.
    pub server_id: ServerId,
    /// How it ended: [`ClientEnd::Completed`] when the server sent END.
    pub end: ClientEnd,
    /// Package#2 received (answered HTTP 200):
    /// [`ClientStats::packages_received`].
    pub packages: usize,
    /// Commands the server sent (END not counted):
    /// [`ClientStats::commands_received`].
    pub commands: usize,
    /// Events seen, in order: browser launches, DEFAULTs, EXECs started or
    /// finished.
    pub events: Vec<ClientEvent>,
    /// Alerts of this client delivered in Package#1 (asynchronous results,
    /// raised alerts, the notification address) and, when the server ended
    /// the session, in its Package#3 (alerts raised through an
    /// [`AlertSender`](crate::AlertSender) during the session).
    pub alerts_delivered: usize,
    /// Whether the tree changed (and was persisted).
    pub tree_changed: bool,
    /// Everything the session engine counted (packages, commands,
    /// repository requests, change reports, bytes).
    pub stats: ClientStats,
}

impl SessionReport {
    /// Whether the server ended the session with END.
    pub fn completed(&self) -> bool {
        self.end == ClientEnd::Completed
    }
}

impl std::fmt::Display for SessionReport {
    /// `completed (3 commands)`, `refused: the server answered HTTP 413
    /// (2 commands)` or `aborted: <reason> (1 command)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.end)?;
        let plural = if self.commands == 1 { "" } else { "s" };
        write!(f, " ({} command{plural})", self.commands)
    }
}

/// What a bootstrap did: the bootstrap session, the accounts it changed,
/// and the `BootstrapComplete` sessions that followed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BootstrapReport {
    /// The bootstrap session. When it did not end with END (failed
    /// handshake, network failure, abort) no account changed.
    pub session: SessionReport,
    /// Where it ran: the account's `Auth/Bootstrap/ServerURI`.
    pub server_uri: ServerUri,
    /// The accounts it created or replaced (management and bootstrap).
    pub provisioned: Vec<ServerId>,
    /// The accounts it deleted.
    pub removed: Vec<ServerId>,
    /// The sessions with `BootstrapComplete` run afterwards, one per
    /// management account owed one; an account whose session did not
    /// complete keeps it pending
    /// ([`DmClient::pending_bootstrap_complete`]).
    pub bootstrap_complete: Vec<SessionReport>,
}

impl BootstrapReport {
    /// Whether the bootstrap server ended the bootstrap session with END.
    pub fn completed(&self) -> bool {
        self.session.completed()
    }
}

impl std::fmt::Display for BootstrapReport {
    /// `completed (2 commands): provisioned dm1, dm2` or the session's end.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.session)?;
        if self.completed() {
            let names: Vec<&str> = self.provisioned.iter().map(ServerId::as_str).collect();
            write!(
                f,
                ": provisioned {}",
                if names.is_empty() {
                    "nothing".to_owned()
                } else {
                    names.join(", ")
                }
            )?;
            if !self.removed.is_empty() {
                let names: Vec<&str> = self.removed.iter().map(ServerId::as_str).collect();
                write!(f, ", removed {}", names.join(", "))?;
            }
        }
        Ok(())
    }
}
