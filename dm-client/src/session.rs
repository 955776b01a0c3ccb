//! Driving one session ([`DmClient::run_session`]) in three steps: prepare
//! (account, alerts for Package#1, SessionInfo, the engine), drive (perform
//! each request the engine emits and hand back its answer or failure), and
//! settle (record what the session left: DEFAULT URIs, EXECs, alerts, the
//! state file). The engine decides everything about the protocol; this
//! module performs I/O and keeps the device's records.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dm_session::{
    AbortReason, ClientConfig, ClientEnd, ClientEvent, ClientSession, ClientStats, RequestKind,
    SessionRole, Trigger,
};
use dm_tree::{DMACC_MOID, MoInstance, SESSIONINFO_MOID, SessionInfo};
use dm_types::{Alert, ServerId, ServerUri};

use crate::Error;
use crate::auth::Credentials;
use crate::client::DmClient;
use crate::handles::result_alert;
use crate::observer::Observer;
use crate::report::SessionReport;
use crate::session_tree::{SessionTree, Taken};
use crate::state::{PendingAlert, RunningExec};
use crate::transport::{HttpSession, Transport};

/// A session ready to start: the engine's settings and what the client
/// must remember to settle it.
struct Prepared {
    config: ClientConfig,
    /// The account's `SrvURI` (the origin its credentials belong to).
    server_uri: ServerUri,
    credentials: Credentials,
    transport: Transport,
    every_moid: bool,
    /// Package#1's alerts after the session-start one.
    alerts: Vec<Alert>,
    /// Indexes of the pending alerts Package#1 carries.
    delivered: Vec<usize>,
    /// Whether the session inserted the SessionInfo instance (removed at
    /// the end).
    own_session_info: bool,
    /// A bootstrap session: the DMAcc instances before it, put back when
    /// it does not end with END (nothing half-applied).
    accounts_before: Option<Vec<MoInstance>>,
    /// A management session carrying the `BootstrapComplete` owed to it.
    bootstrap_complete: bool,
}

/// What driving a session left to settle.
struct Driven {
    end: ClientEnd,
    events: Vec<ClientEvent>,
    stats: ClientStats,
    tree_changed: bool,
    taken: Taken,
}

impl DmClient {
    /// Runs one session with `server`: Package#1 (with the asynchronous
    /// results pending for that destination and the notification address),
    /// then every Package#2 executed strictly in order — repository GET,
    /// PUT and POST, and SUB change reports, performed as they come — until
    /// END, an HTTP error, an invalid package, a network failure the
    /// [`RetryPolicy`](crate::RetryPolicy) does not retry, or the session
    /// limits.
    ///
    /// With [`Trigger::Report`] Package#1 goes to its URI; otherwise to the
    /// account's `SrvURI`. `OMADM-DevID`, `Accept` and `Content-Type` are
    /// sent on every request, cookies are kept for the session, and a `401`
    /// challenge is answered once (credentials go only to the `SrvURI`
    /// origin). Afterwards DEFAULT URIs and started EXECs are recorded, the
    /// results of EXECs with a ServerURI that finished at once and the
    /// alerts raised for other servers (or sent in a Package#3 of a session
    /// the server did not end) are kept pending, EXEC completions reported
    /// meanwhile are recorded, and the state is persisted when anything
    /// changed. SHOW uses the builder's
    /// [`browser`](crate::DmClientBuilder::browser), and the
    /// [`Busy`](crate::Busy) flag is honoured.
    ///
    /// Credentials come from the account in the tree, read at each start:
    /// `Ext/HTTPAuth` answers the challenge, `Auth/Trsp` is presented as
    /// the TLS client certificate (docs/protocol.md section 11.1).
    ///
    /// A session with a bootstrap account (one with `Auth/Bootstrap`) is
    /// always a bootstrap session to its `Auth/Bootstrap/ServerURI` (see
    /// [`DmClient::bootstrap`], which also runs the `BootstrapComplete`
    /// sessions). While a management account is owed `BootstrapComplete`
    /// ([`DmClient::pending_bootstrap_complete`]) a session with it with
    /// [`Trigger::Client`] or [`Trigger::Server`] starts with
    /// [`Trigger::Bootstrap`] instead, until one completes.
    ///
    /// Errors are local failures only (unknown server, state file, TLS
    /// material of the account that cannot be used); how the session went
    /// is in the report.
    pub async fn run_session(
        &mut self,
        server: &ServerId,
        trigger: Trigger,
    ) -> Result<SessionReport, Error> {
        let trigger = match trigger {
            Trigger::Client | Trigger::Server { .. }
                if self.state.owes_bootstrap_complete(server) =>
            {
                Trigger::Bootstrap
            }
            other => other,
        };
        let prepared = self.prepare_session(server, &trigger)?;
        let driven = self.drive_session(server, trigger, &prepared).await;
        self.settle_session(server, &prepared, driven)
    }

    /// Step 1: the account, the alerts Package#1 carries, SessionInfo, and
    /// the engine's configuration.
    fn prepare_session(&mut self, server: &ServerId, trigger: &Trigger) -> Result<Prepared, Error> {
        let account = self
            .tree
            .dm_acc(server)?
            .ok_or_else(|| Error::UnknownServer(server.clone()))?;
        let settings = self.settings_of(server).cloned();
        let every_moid = settings.as_ref().is_some_and(|s| s.every_moid);
        let (role, server_uri, credentials, transport) = match &account.bootstrap {
            Some(auth) => (
                SessionRole::Bootstrap,
                auth.server_uri.clone(),
                Credentials::None,
                crate::credentials::bootstrap_transport(&self.transport_of(server), auth)?,
            ),
            None => (
                SessionRole::Management,
                account.server_uri.clone(),
                crate::credentials::http_credentials(
                    account.http.as_ref(),
                    &settings.map(|s| s.credentials).unwrap_or_default(),
                ),
                self.management_transport(&account)?,
            ),
        };
        let destination = match trigger {
            Trigger::Report { uri } => Some(uri.clone()),
            _ => None,
        };
        let delivered: Vec<usize> = (0..self.state.pending.len())
            .filter(|&i| {
                let pending = &self.state.pending[i];
                pending.server == *server && pending.report_to == destination
            })
            .collect();
        let mut alerts: Vec<Alert> = delivered
            .iter()
            .map(|&i| self.state.pending[i].alert.clone())
            .collect();
        if let Some(address) = &self.notification_address {
            match dm_types::NotificationAddress::new(address.as_ref()) {
                Ok(address) => alerts.push(address.to_alert()),
                Err(error) => tracing::warn!(%error, "notification address not announced"),
            }
        }
        let initiator = match trigger {
            Trigger::Server { .. } => "Server",
            Trigger::Bootstrap => "Bootstrap",
            _ => "Client",
        };
        let session_info = SessionInfo {
            bearer: self.settings.bearer.clone(),
            initiator: initiator.into(),
            server_id: server.as_str().into(),
            start_time: rfc3339(SystemTime::now()),
        };
        let own_session_info = self.tree.instances_of(SESSIONINFO_MOID).next().is_none()
            && self.tree.insert(session_info.to_instance()).is_ok();
        let mut config = ClientConfig::new(self.dev_id.clone(), server.clone(), server_uri.clone());
        config.role = role;
        config
            .bootstrap_approval
            .clone_from(&self.bootstrap_approval);
        config.limits = self.settings.limits;
        config.packages_per_session = self.settings.packages_per_session;
        config.max_duration = self.settings.max_session_duration;
        config.browser.clone_from(&self.browser);
        config.busy = self.busy.clone();
        let accounts_before = (role == SessionRole::Bootstrap)
            .then(|| self.tree.instances_of(DMACC_MOID).cloned().collect());
        Ok(Prepared {
            config,
            server_uri,
            credentials,
            transport,
            every_moid,
            alerts,
            delivered,
            own_session_info,
            accounts_before,
            bootstrap_complete: role == SessionRole::Management && *trigger == Trigger::Bootstrap,
        })
    }

    /// Step 2: performs every request the engine emits and hands back its
    /// answer or its failure, until the engine ends the session (the
    /// session's deadline included).
    async fn drive_session(
        &mut self,
        server: &ServerId,
        trigger: Trigger,
        prepared: &Prepared,
    ) -> Driven {
        let settings = Arc::clone(&self.settings);
        let observer = self.observer.clone();
        let mut view = SessionTree {
            tree: &mut self.tree,
            server: server.clone(),
            every_moid: prepared.every_moid,
            changed: false,
            defaults: self
                .state
                .defaults
                .iter()
                .filter(|d| d.server == *server)
                .map(|d| d.moid.clone())
                .collect(),
            default_limit: settings.default_uris_per_server,
            reports: self.completions.as_deref_mut().map(|c| &mut c.receiver),
            taken: Taken::default(),
        };
        view.grant_present();
        let mut session = ClientSession::new(
            prepared.config.clone(),
            trigger,
            &view,
            prepared.alerts.clone(),
            Instant::now(),
        );
        let mut http = HttpSession::new(prepared.credentials.clone(), prepared.server_uri.clone());
        let mut events = Vec::new();
        let mut end = None;
        tracing::info!(server = server.as_str(), "session starts");
        while let Some(request) = session.poll_request() {
            if request.kind == RequestKind::Package {
                http.package_posted(&request.uri);
            }
            let exchange = prepared.transport.perform(&mut http, &request);
            let outcome = match session.poll_timeout() {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), exchange)
                    .await
                    .ok(),
                None => Some(exchange.await),
            };
            let fed = match outcome {
                None => {
                    session.handle_timeout(Instant::now());
                    Ok(())
                }
                Some(Ok(response)) => session.handle_response(request.id, &response, &mut view),
                Some(Err(failure)) => session.handle_failure(request.id, failure, &mut view),
            };
            if let Err(e) = fed {
                tracing::warn!(server = server.as_str(), "answer not taken: {e}");
            }
            drain(
                &mut session,
                &mut events,
                &mut end,
                observer.as_deref(),
                server,
            );
        }
        if !session.is_ended() {
            session.abandon();
        }
        drain(
            &mut session,
            &mut events,
            &mut end,
            observer.as_deref(),
            server,
        );
        Driven {
            end: end.unwrap_or(ClientEnd::Aborted(AbortReason::Abandoned)),
            events,
            stats: session.stats(),
            tree_changed: view.changed,
            taken: std::mem::take(&mut view.taken),
        }
    }

    /// Step 3: records what the session left — delivered and kept alerts,
    /// DEFAULT URIs, EXECs started or finished — persists the state when
    /// anything changed, and reports.
    fn settle_session(
        &mut self,
        server: &ServerId,
        prepared: &Prepared,
        driven: Driven,
    ) -> Result<SessionReport, Error> {
        if prepared.own_session_info {
            self.tree.remove(SESSIONINFO_MOID, "sessioninfo");
        }
        let Driven {
            end,
            mut events,
            stats,
            mut tree_changed,
            taken,
        } = driven;
        let mut state_changed = false;
        if let Some(before) = &prepared.accounts_before
            && end != ClientEnd::Completed
        {
            // A bootstrap that did not end with END changes no account.
            if tree_changed {
                self.restore_accounts(before);
                tree_changed = false;
            }
            events.retain(|e| {
                !matches!(
                    e,
                    ClientEvent::AccountProvisioned { .. } | ClientEvent::AccountRemoved { .. }
                )
            });
        }
        if prepared.bootstrap_complete && end == ClientEnd::Completed {
            state_changed |= self.state.clear_bootstrap_complete(server);
        }
        // Package#1 was answered with HTTP 200: its alerts were delivered.
        let package1_received = stats.packages_received > 0;
        let mut alerts_delivered = 0;
        if package1_received {
            alerts_delivered = prepared.alerts.len();
            for &index in prepared.delivered.iter().rev() {
                self.state.pending.remove(index);
                state_changed = true;
            }
        }
        for event in &events {
            state_changed |= self.record_event(server, event);
        }
        // Alerts raised during the session: those that went in a Package#3
        // are delivered once the server ended the session; the others wait
        // for a later session.
        let mut kept = taken.elsewhere;
        if end == ClientEnd::Completed {
            alerts_delivered += taken.sent.len();
        } else {
            kept.extend(taken.sent.into_iter().map(|alert| (server.clone(), alert)));
        }
        for (to, alert) in kept {
            match self.keep_alert(&to, alert) {
                Ok(()) => state_changed = true,
                Err(e) => tracing::warn!(server = to.as_str(), "raised alert dropped: {e}"),
            }
        }
        // The product's edits made during the session, before the results
        // they may precede.
        for edit in taken.edits {
            edit.apply(&mut self.tree);
            tree_changed = true;
        }
        // Recorded before anything can fail, so that none is lost.
        for (node, status) in taken.finished {
            match self.record_exec_finished(&node, status) {
                Ok(()) => state_changed = true,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let report = SessionReport {
            server_id: server.clone(),
            end,
            packages: stats.packages_received,
            commands: stats.commands_received,
            events,
            alerts_delivered,
            tree_changed,
            stats,
        };
        if report.tree_changed || state_changed {
            self.save()?;
        }
        tracing::info!(server = server.as_str(), outcome = %report, "session ended");
        if let Some(observer) = &self.observer {
            observer.session_ended(&report);
        }
        Ok(report)
    }

    /// Records what a session event leaves for later; whether the state
    /// changed.
    fn record_event(&mut self, server: &ServerId, event: &ClientEvent) -> bool {
        match event {
            ClientEvent::Default { moid, source } => {
                self.state.set_default(server, moid.clone(), source.clone());
                true
            }
            ClientEvent::ExecStarted { node, report_to } => {
                let absolute = match self.tree.resolve(node).as_deref() {
                    Ok([only]) => only.client_uri(),
                    _ => node.clone(),
                };
                self.state.running.push(RunningExec {
                    server: server.clone(),
                    node: node.clone(),
                    absolute,
                    report_to: report_to.clone(),
                });
                true
            }
            // Finished at once but owed to a ServerURI: pending for a new
            // session posted there (deliver_pending_reports).
            ClientEvent::ExecFinished {
                node,
                report_to,
                status,
                alert,
            } => {
                self.state.pending.push(PendingAlert {
                    server: server.clone(),
                    report_to: Some(report_to.clone()),
                    alert: result_alert(alert.clone(), node, *status),
                });
                true
            }
            ClientEvent::AccountProvisioned {
                server_id,
                bootstrap: false,
            } => {
                self.derived.retain(|d| d.server != *server_id);
                self.state.owe_bootstrap_complete(server_id);
                true
            }
            ClientEvent::AccountRemoved { server_id } => {
                self.derived.retain(|d| d.server != *server_id);
                self.state.clear_bootstrap_complete(server_id);
                true
            }
            _ => false,
        }
    }

    /// Puts the DMAcc instances back as they were (`before`).
    fn restore_accounts(&mut self, before: &[MoInstance]) {
        let now: Vec<String> = self
            .tree
            .instances_of(DMACC_MOID)
            .map(|i| i.miid().as_str().to_owned())
            .collect();
        for miid in now {
            self.tree.remove(DMACC_MOID, &miid);
        }
        for instance in before {
            if let Err(e) = self.tree.insert(instance.clone()) {
                tracing::warn!(miid = instance.miid().as_str(), "account not restored: {e}");
            }
        }
    }
}

/// Pulls the engine's events: the end goes to `end`, the others to
/// `events` and the observer.
fn drain(
    session: &mut ClientSession,
    events: &mut Vec<ClientEvent>,
    end: &mut Option<ClientEnd>,
    observer: Option<&dyn Observer>,
    server: &ServerId,
) {
    while let Some(event) = session.poll_event() {
        match event {
            ClientEvent::Ended(how) => *end = Some(how),
            other => {
                if let Some(observer) = observer {
                    observer.event(server, &other);
                }
                events.push(other);
            }
        }
    }
}

/// RFC 3339 UTC date-time of `time` (second precision).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

impl DmClient {
    /// The transport of a management session with `account`: with
    /// `Auth/Trsp`, one derived from the account's explicit transport (or
    /// the client's) presenting that certificate chain and key, cached
    /// while the material is unchanged; without it, the account's explicit
    /// transport or the client's.
    pub(crate) fn management_transport(
        &mut self,
        account: &dm_tree::DmAcc,
    ) -> Result<Transport, Error> {
        let server = &account.server_id;
        let base = self.transport_of(server);
        let Some(trsp) = &account.transport else {
            self.derived.retain(|d| d.server != *server);
            return Ok(base);
        };
        let material = crate::credentials::material_hash(&trsp.data, &trsp.secret);
        if let Some(found) = self
            .derived
            .iter()
            .find(|d| d.server == *server && d.material == material)
        {
            return Ok(found.transport.clone());
        }
        let transport = base
            .derive(true)
            .client_identity(&trsp.data, &trsp.secret)
            .build()?;
        self.derived.retain(|d| d.server != *server);
        self.derived.push(crate::credentials::DerivedTransport {
            server: server.clone(),
            material,
            transport: transport.clone(),
        });
        Ok(transport)
    }
}
