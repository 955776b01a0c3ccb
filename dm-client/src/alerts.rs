//! Asynchronous EXEC results and the product's alerts: raising them,
//! recording completions, and delivering what is pending.

use dm_types::{Alert, ClientUri, ServerId, ServerUri, StatusCode};
use tokio::sync::mpsc;

use crate::Error;
use crate::client::DmClient;
use crate::handles::{
    AlertSender, Completions, Delivery, ExecCompletion, Report, check_alert, result_alert,
};
use crate::report::SessionReport;
use crate::state::PendingAlert;
use dm_session::Trigger;

impl DmClient {
    /// Raises a generic alert (docs/protocol.md sections 3.5 and 6) for
    /// `server`: an application alert, or an asynchronous result of the
    /// product's own (any `AlertType`, with `SourceURI`, `TargetURI`,
    /// `Mark`, `DataType` and `Data` as the alert carries them).
    ///
    /// The alert is kept as pending — in the state file when the client
    /// has one, so it survives a restart — and goes in Package#1 of the
    /// next session with `server` ([`Delivery::NextSession`]), or of a
    /// client-initiated session opened at once ([`Delivery::Now`], whose
    /// report is returned). It leaves the pending list once that Package#1
    /// was answered with HTTP 200 (at least once: a lost answer means a new
    /// try in the next session).
    ///
    /// Errors: [`Error::UnknownServer`] without an account for `server`,
    /// [`Error::SessionStartAlert`] for a session-start alert type (the
    /// client sends those itself), [`Error::InvalidAlert`] for an alert
    /// that does not decode back under the default limits, and state file
    /// failures (the alert is then not kept).
    ///
    /// ```no_run
    /// use dm_client::{Delivery, DmClient};
    /// use dm_types::{Alert, AlertType, Mark, ServerId};
    ///
    /// # async fn example(client: &mut DmClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut alert = Alert::new(AlertType::new("urn:x:acme:battery-low")?);
    /// alert.source_uri = Some("urn:x:acme:battery:1.0//Level".into());
    /// alert.mark = Some(Mark::Warning);
    /// client.raise_alert(&ServerId::new("dm.example")?, alert, Delivery::Now).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn raise_alert(
        &mut self,
        server: &ServerId,
        alert: Alert,
        delivery: Delivery,
    ) -> Result<Option<SessionReport>, Error> {
        check_alert(&alert)?;
        self.keep_alert(server, alert)?;
        if let Err(e) = self.save() {
            self.state.pending.pop();
            return Err(e);
        }
        match delivery {
            Delivery::NextSession => Ok(None),
            Delivery::Now => self.run_session(server, Trigger::Client).await.map(Some),
        }
    }

    fn sender(&mut self) -> mpsc::UnboundedSender<Report> {
        self.completions
            .get_or_insert_with(|| {
                let (sender, receiver) = mpsc::unbounded_channel();
                Box::new(Completions { sender, receiver })
            })
            .sender
            .clone()
    }

    /// A handle that reports asynchronous EXEC results to this client
    /// (see [`ExecCompletion`](crate::ExecCompletion)).
    pub fn exec_completion(&mut self) -> ExecCompletion {
        ExecCompletion {
            sender: self.sender(),
        }
    }

    /// A handle that changes this client's tree from anywhere (see
    /// [`TreeEditor`](crate::TreeEditor)).
    pub fn tree_editor(&mut self) -> crate::TreeEditor {
        crate::TreeEditor {
            sender: self.sender(),
        }
    }

    /// A handle that raises alerts for this client from anywhere, a
    /// session under way included (see [`AlertSender`]).
    pub fn alert_sender(&mut self) -> AlertSender {
        AlertSender {
            sender: self.sender(),
        }
    }

    /// Records every result reported through [`ExecCompletion`](crate::ExecCompletion) and every
    /// alert raised through [`AlertSender`] so far (without waiting), as
    /// pending, applies the edits of a [`TreeEditor`](crate::TreeEditor)
    /// (in the order they all came), and returns how many; deliver them with
    /// [`DmClient::deliver_pending_reports`](crate::DmClient::deliver_pending_reports). An alert for a server
    /// without account is logged and dropped.
    pub fn take_exec_completions(&mut self) -> Result<usize, Error> {
        let mut taken = Vec::new();
        if let Some(completions) = &mut self.completions {
            while let Ok(report) = completions.receiver.try_recv() {
                taken.push(report);
            }
        }
        let count = taken.len();
        let mut kept = false;
        for report in taken {
            match report {
                Report::Exec(node, status) => self.exec_finished(&node, status)?,
                Report::Edit(edit) => {
                    edit.apply(&mut self.tree);
                    kept = true;
                }
                Report::Alert(server, alert, _) => match self.keep_alert(&server, alert) {
                    Ok(()) => kept = true,
                    Err(e) => tracing::warn!(server = server.as_str(), "raised alert dropped: {e}"),
                },
            }
        }
        if kept {
            self.save()?;
        }
        Ok(count)
    }

    /// Records the final status of an asynchronous EXEC of `node` (as the
    /// server named it, or its absolute ClientURI): the result alert of the
    /// node's handler ([`NodeHandler::result_alert`](dm_tree::NodeHandler::result_alert): FUMO and SCOMO have
    /// their own types), by default an `ExecComplete` alert (`SourceURI` =
    /// the node as the server named it, `Data` `{"sc": status}`), is
    /// persisted as pending, for the EXEC's ServerURI or, when it named
    /// none, the account's `SrvURI`.
    pub fn exec_finished(&mut self, node: &ClientUri, status: StatusCode) -> Result<(), Error> {
        self.record_exec_finished(node, status)?;
        self.save()
    }

    /// [`DmClient::exec_finished`](crate::DmClient::exec_finished) without saving.
    pub(crate) fn record_exec_finished(
        &mut self,
        node: &ClientUri,
        status: StatusCode,
    ) -> Result<(), Error> {
        let index = self
            .state
            .running
            .iter()
            .position(|r| r.node == *node || r.absolute == *node)
            .ok_or_else(|| Error::NoRunningExec(node.clone()))?;
        let running = self.state.running.remove(index);
        self.state.pending.push(PendingAlert {
            alert: result_alert(
                self.tree.exec_result_alert(&running.node, status),
                &running.node,
                status,
            ),
            server: running.server,
            report_to: running.report_to,
        });
        Ok(())
    }

    /// Delivers every pending result: one session per destination, with
    /// [`Trigger::Report`] when the EXEC named a ServerURI, else a
    /// client-initiated session with the account's server, the alerts in
    /// Package#1. An alert is dropped from the pending list once its
    /// Package#1 was answered with HTTP 200 (delivery is at least once: a
    /// lost answer means a new try later). Results for a server that no
    /// longer has an account are dropped.
    pub async fn deliver_pending_reports(&mut self) -> Result<Vec<SessionReport>, Error> {
        let mut destinations: Vec<(ServerId, Option<ServerUri>)> = Vec::new();
        for pending in &self.state.pending {
            let destination = (pending.server.clone(), pending.report_to.clone());
            if !destinations.contains(&destination) {
                destinations.push(destination);
            }
        }
        let mut reports = Vec::new();
        for (server, report_to) in destinations {
            if self.tree.dm_acc(&server)?.is_none() {
                tracing::warn!(
                    server = server.as_str(),
                    "dropping results for a server without account"
                );
                self.state.pending.retain(|p| p.server != server);
                self.save()?;
                continue;
            }
            let trigger = report_to.map_or(Trigger::Client, |uri| Trigger::Report { uri });
            reports.push(self.run_session(&server, trigger).await?);
        }
        Ok(reports)
    }
}
