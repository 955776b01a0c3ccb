//! Client-initiated and server-initiated bootstrap (docs/protocol.md
//! sections 11.3 and 11.4): the bootstrap session with a bootstrap
//! account, then a `BootstrapComplete` session with each management
//! account it provisioned.

use dm_session::{ClientEvent, Trigger};
use dm_types::ServerId;

use crate::Error;
use crate::client::DmClient;
use crate::report::{BootstrapReport, SessionReport};

impl DmClient {
    /// Client-initiated bootstrap (docs/protocol.md section 11.3) with the
    /// bootstrap account `bootstrap_server`: TLS to its
    /// `Auth/Bootstrap/ServerURI` with the account's `Auth/Bootstrap`
    /// material (X.509: `ClientPubKey` and `ClientSecretKey` as client
    /// certificate and key, the server accepted only when it presents
    /// `ServerPubKey` or a certificate it issued; PSK-TLS on the OpenSSL
    /// backend: `ClientPubKey` as identity, `ClientSecretKey` as key,
    /// `ServerPubKey` as the identity hint when not empty), a session in
    /// the bootstrap role with `ClientInitiatedMgmt` (the engine answers
    /// `403` to anything but GET of DevInfo, HGET of DMAcc data from the
    /// bootstrap server's origin, DELETE of DMAcc, CONT and END, and asks
    /// the [`BootstrapApproval`](crate::BootstrapApproval) of the builder
    /// before each account change). A session that does not end with END
    /// (a failed handshake included) changes no account.
    ///
    /// After END, each management account it created or replaced is owed
    /// `BootstrapComplete` (kept in the state file) and gets a session with
    /// [`Trigger::Bootstrap`] now; an account that cannot be reached keeps
    /// it pending until a later session with it completes. An account the
    /// bootstrap removed owes nothing.
    ///
    /// Errors: [`Error::UnknownServer`], [`Error::NotABootstrapAccount`],
    /// [`Error::Tls`] when the bootstrap material cannot be used (PSK-TLS
    /// without the `openssl` feature among them), the state file.
    ///
    /// ```no_run
    /// # async fn example(mut client: dm_client::DmClient) -> Result<(), Box<dyn std::error::Error>> {
    /// for bootstrap_server in client.bootstrap_servers() {
    ///     let report = client.bootstrap(&bootstrap_server).await?;
    ///     println!("bootstrap with {bootstrap_server}: {report}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn bootstrap(
        &mut self,
        bootstrap_server: &ServerId,
    ) -> Result<BootstrapReport, Error> {
        self.bootstrap_with(bootstrap_server, Trigger::Client).await
    }

    /// [`DmClient::bootstrap`] with `trigger` in Package#1 (a server-initiated
    /// bootstrap answers its notification with `ServerInitiatedMgmt`).
    pub(crate) async fn bootstrap_with(
        &mut self,
        bootstrap_server: &ServerId,
        trigger: Trigger,
    ) -> Result<BootstrapReport, Error> {
        let account = self
            .tree
            .dm_acc(bootstrap_server)?
            .ok_or_else(|| Error::UnknownServer(bootstrap_server.clone()))?;
        let Some(auth) = account.bootstrap else {
            return Err(Error::NotABootstrapAccount(bootstrap_server.clone()));
        };
        let session = self.run_session(bootstrap_server, trigger).await?;
        let mut provisioned = Vec::new();
        let mut removed = Vec::new();
        for event in &session.events {
            match event {
                ClientEvent::AccountProvisioned { server_id, .. } => {
                    provisioned.push(server_id.clone());
                }
                ClientEvent::AccountRemoved { server_id } => removed.push(server_id.clone()),
                _ => {}
            }
        }
        let mut bootstrap_complete = Vec::new();
        if session.completed() {
            tracing::info!(
                server = bootstrap_server.as_str(),
                provisioned = ?provisioned,
                removed = ?removed,
                "bootstrap completed"
            );
            bootstrap_complete = self.deliver_bootstrap_complete().await?;
        } else {
            tracing::warn!(server = bootstrap_server.as_str(), outcome = %session, "bootstrap failed; no account changed");
        }
        let report = BootstrapReport {
            session,
            server_uri: auth.server_uri,
            provisioned,
            removed,
            bootstrap_complete,
        };
        if let Some(observer) = &self.observer {
            observer.bootstrap_ended(bootstrap_server, &report);
        }
        Ok(report)
    }

    /// Runs a session with [`Trigger::Bootstrap`] with each management
    /// account owed `BootstrapComplete`
    /// ([`DmClient::pending_bootstrap_complete`]); the reports, in order.
    /// An account whose session does not complete stays pending.
    pub async fn deliver_bootstrap_complete(&mut self) -> Result<Vec<SessionReport>, Error> {
        let owed = self.state.bootstrap_complete.clone();
        let mut reports = Vec::with_capacity(owed.len());
        for server in owed {
            if self.tree.dm_acc(&server)?.is_none() {
                if self.state.clear_bootstrap_complete(&server) {
                    self.save()?;
                }
                continue;
            }
            let report = self.run_session(&server, Trigger::Bootstrap).await?;
            if report.completed() {
                tracing::info!(server = server.as_str(), "BootstrapComplete delivered");
            } else {
                tracing::warn!(server = server.as_str(), outcome = %report, "BootstrapComplete still pending");
            }
            reports.push(report);
        }
        Ok(reports)
    }
}
