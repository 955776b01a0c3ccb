//! DEFAULT: fetching missing configuration from the ServerURI a server
//! named ([`DmClient::ensure_configuration`]).

use dm_session::DefaultFetch;
use dm_types::{ClientUri, Moid};

use crate::Error;
use crate::client::DmClient;
use crate::session_tree::{SessionTree, Taken};

/// The outcome of [`DmClient::ensure_configuration`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Configuration {
    /// The tree already holds an instance of the MOID.
    Present,
    /// It was fetched from the DEFAULT ServerURI and written at these
    /// places.
    Fetched(Vec<ClientUri>),
}

impl DmClient {
    /// Makes sure the tree holds configuration for `moid`: when it has no
    /// instance, performs the HGET procedure against the ServerURI a server
    /// gave with DEFAULT (the newest), on that server's behalf, reporting no
    /// status to anyone (docs/protocol.md section 4). Change reports are sent for
    /// what the fetch wrote.
    pub async fn ensure_configuration(&mut self, moid: &Moid) -> Result<Configuration, Error> {
        if self.tree.instances_of(moid.as_str()).next().is_some() {
            return Ok(Configuration::Present);
        }
        let default = self
            .state
            .defaults
            .iter()
            .rev()
            .find(|d| d.moid == *moid)
            .cloned()
            .ok_or_else(|| Error::NoDefault(moid.clone()))?;
        let fetch = DefaultFetch {
            server_id: default.server.clone(),
            moid: moid.clone(),
            source: default.source.clone(),
        };
        let limits = self.settings.limits;
        let request = fetch.request_with_limits(&self.dev_id, &limits);
        let mut http = self.http_for(&default.server)?;
        let transport = self.transport_of(&default.server);
        let answer = transport.perform(&mut http, &request).await;
        let every_moid = self
            .settings_of(&default.server)
            .is_some_and(|a| a.every_moid);
        let mut view = SessionTree {
            tree: &mut self.tree,
            server: default.server.clone(),
            every_moid,
            changed: false,
            defaults: Vec::new(),
            default_limit: 0,
            reports: None,
            taken: Taken::default(),
        };
        let written = match answer {
            Ok(response) => fetch.apply_with_limits(&response, &limits, &mut view),
            Err(failure) => Err(DefaultFetch::failed(&failure)),
        };
        let changed = view.changed;
        if changed {
            self.save()?;
        }
        let written = written.map_err(|status| Error::DefaultFetch {
            moid: moid.clone(),
            status,
        })?;
        self.send_change_reports(&written).await;
        Ok(Configuration::Fetched(written))
    }
}
