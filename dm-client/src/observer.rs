//! What the product learns as it happens ([`Observer`](crate::Observer)).

use dm_session::ClientEvent;
use dm_types::ServerId;

use crate::notify::Ignored;
use crate::report::{BootstrapReport, SessionReport};

/// Receives what happens in the client as it happens (sessions driven by
/// [`DmClient::listen_udp`](crate::DmClient::listen_udp) included). Every method has an empty default.
pub trait Observer: Send + Sync {
    /// A session event: SHOW (`LaunchBrowser`: the
    /// [`BrowserLauncher`](crate::BrowserLauncher) opened the page), DEFAULT, EXEC started
    /// asynchronously, EXEC with a ServerURI finished at once (its result
    /// is kept for a new session).
    fn event(&self, server: &ServerId, event: &ClientEvent) {
        let _ = (server, event);
    }

    /// A session ended.
    fn session_ended(&self, report: &SessionReport) {
        let _ = report;
    }

    /// A notification passed every check; its session starts.
    fn notification_accepted(&self, server: &ServerId, notification_id: Option<u16>) {
        let _ = (server, notification_id);
    }

    /// A bootstrap ended (client-initiated, or server-initiated by a
    /// notification), its `BootstrapComplete` sessions included.
    fn bootstrap_ended(&self, server: &ServerId, report: &BootstrapReport) {
        let _ = (server, report);
    }

    /// A notification was ignored.
    fn notification_ignored(&self, reason: &Ignored) {
        let _ = reason;
    }
}
