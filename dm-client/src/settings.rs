//! Settings the client keeps per account ([`AccountSettings`]) and for
//! itself ([`Settings`], shared between clients built with the defaults).

use std::sync::Arc;
use std::time::Duration;

use dm_codec::Limits;
use dm_types::ServerId;

use crate::auth::Credentials;
use crate::state;
use crate::transport::Transport;

/// What the client keeps of an [`Account`] (the DMAcc itself lives in the
/// tree).
#[derive(Debug, Clone)]
pub(crate) struct AccountSettings {
    pub(crate) server_id: ServerId,
    pub(crate) credentials: Credentials,
    pub(crate) every_moid: bool,
    pub(crate) transport: Option<Transport>,
}

/// Settings that rarely differ between clients: clients built with the
/// defaults share one allocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) limits: Limits,
    pub(crate) notification_window: Duration,
    pub(crate) packages_per_session: usize,
    pub(crate) max_session_duration: Duration,
    pub(crate) bearer: String,
    pub(crate) default_uris_per_server: usize,
    pub(crate) notifications_per_window: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            notification_window: Duration::from_secs(300),
            packages_per_session: 64,
            max_session_duration: Duration::from_secs(600),
            bearer: "OTHER".into(),
            default_uris_per_server: 64,
            notifications_per_window: state::NOTIFICATIONS_PER_WINDOW,
        }
    }
}

/// The default settings, shared.
pub(crate) static DEFAULT_SETTINGS: std::sync::LazyLock<Arc<Settings>> =
    std::sync::LazyLock::new(|| Arc::new(Settings::default()));
