//! Notifications ([`DmClient::handle_notification`](crate::DmClient::handle_notification)) and the UDP listener
//! that also takes the product's signals ([`DmClient::listen_udp`](crate::DmClient::listen_udp)).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dm_session::Trigger;
use dm_types::ClientUri;
use tokio::net::UdpSocket;

use crate::Error;
use crate::client::DmClient;
use crate::handles::{Changes, Completions, Report};
use crate::notify::NotificationOutcome;

impl DmClient {
    /// Handles a received Package#0: decodes it, finds the account by
    /// SERVER-ID, applies the digest policy with that account's
    /// `Auth/Noti/Secret` and `Auth/Noti/Data`, the TIMESTAMP window and
    /// the NOTIFICATION-ID replay window (persisted), then runs the
    /// server-initiated session. `now` is the device's clock.
    ///
    /// Digest policy (docs/protocol.md section 3.6): with a secret (or type 1)
    /// the digest is mandatory and must verify; without one, a notification
    /// carrying a digest is ignored. An authenticated notification must
    /// carry TIMESTAMP and NOTIFICATION-ID.
    ///
    /// A notification whose SERVER-ID is a bootstrap account starts a
    /// server-initiated bootstrap (docs/protocol.md section 11.4): the
    /// bootstrap of [`DmClient::bootstrap`](crate::DmClient::bootstrap)
    /// with `ServerInitiatedMgmt` in Package#1, reported as
    /// [`NotificationOutcome::Bootstrap`].
    pub async fn handle_notification(
        &mut self,
        bytes: &[u8],
        now: SystemTime,
    ) -> Result<NotificationOutcome, Error> {
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let window = self.settings.notification_window.as_secs();
        match dm_session::notification::verify(
            bytes,
            &self.tree,
            &mut self.state.notification_ids,
            now_secs,
            window,
        ) {
            Err(reason) => {
                tracing::info!("notification ignored: {reason}");
                if let Some(observer) = &self.observer {
                    observer.notification_ignored(&reason);
                }
                Ok(NotificationOutcome::Ignored(reason))
            }
            Ok(accepted) => {
                tracing::info!(server = accepted.server.as_str(), id = ?accepted.notification_id, "notification accepted");
                if let Some(observer) = &self.observer {
                    observer.notification_accepted(&accepted.server, accepted.notification_id);
                }
                if accepted.notification_id.is_some() {
                    self.save()?;
                }
                let trigger = Trigger::Server {
                    notification_id: accepted.notification_id,
                };
                if self
                    .tree
                    .dm_acc(&accepted.server)?
                    .is_some_and(|account| account.is_bootstrap_account())
                {
                    let report = self.bootstrap_with(&accepted.server, trigger).await?;
                    return Ok(NotificationOutcome::Bootstrap(report));
                }
                let report = self.run_session(&accepted.server, trigger).await?;
                Ok(NotificationOutcome::Session(report))
            }
        }
    }

    /// Listens for notifications on `socket` until `shutdown` completes:
    /// each datagram goes through [`DmClient::handle_notification`](crate::DmClient::handle_notification), and
    /// the results its session left pending (an EXEC with a ServerURI that
    /// finished at once) are delivered right after it; EXEC results
    /// reported through [`ExecCompletion`](crate::ExecCompletion) are recorded and delivered;
    /// edits of a [`TreeEditor`](crate::TreeEditor) are applied as
    /// [`DmClient::update`](crate::DmClient::update) does;
    /// live-value changes signalled through a [`ChangeSignal`](crate::ChangeSignal) are handled
    /// as [`DmClient::notify_changed`](crate::DmClient::notify_changed). Outcomes go to the [`Observer`](crate::Observer) and
    /// to `tracing`.
    /// Datagrams arriving during a session wait in the socket buffer.
    pub async fn listen_udp(
        &mut self,
        socket: &UdpSocket,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        /// Largest notification: 31 options of 2 + 270 bytes, plus the header.
        const DATAGRAM: usize = 2 + 31 * 272;
        let mut buffer = vec![0u8; DATAGRAM];
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            enum Next {
                Stop,
                Datagram(std::io::Result<usize>),
                Completion(Option<Report>),
                Changed(Option<ClientUri>),
            }
            let next = tokio::select! {
                () = &mut shutdown => Next::Stop,
                received = socket.recv_from(&mut buffer) => Next::Datagram(received.map(|(n, _)| n)),
                completion = next_completion(&mut self.completions) => Next::Completion(completion),
                node = next_change(&mut self.changes) => Next::Changed(node),
            };
            match next {
                Next::Stop => return Ok(()),
                Next::Datagram(Ok(length)) => {
                    if let Err(e) = self
                        .handle_notification(&buffer[..length], SystemTime::now())
                        .await
                    {
                        tracing::warn!("notification: {e}");
                    }
                    // Results the session left owed to a ServerURI (EXECs
                    // that finished at once) go now, each in its session.
                    if self.pending_reports() > 0
                        && let Err(e) = self.deliver_pending_reports().await
                    {
                        tracing::warn!("delivering results: {e}");
                    }
                }
                Next::Datagram(Err(e)) => {
                    tracing::warn!("notification socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Next::Completion(Some(Report::Alert(server, alert, delivery))) => {
                    if let Err(e) = self.raise_alert(&server, alert, delivery).await {
                        tracing::warn!(server = server.as_str(), "raised alert: {e}");
                    }
                }
                Next::Completion(Some(Report::Exec(node, status))) => {
                    match self.exec_finished(&node, status) {
                        Ok(()) => {
                            if let Err(e) = self.deliver_pending_reports().await {
                                tracing::warn!("delivering results: {e}");
                            }
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                Next::Completion(Some(Report::Edit(edit))) => {
                    if let Err(e) = self.update(|tree| Ok(edit.apply(tree))).await {
                        tracing::warn!("tree edit: {e}");
                    }
                }
                Next::Completion(None) | Next::Changed(None) => {}
                Next::Changed(Some(node)) => {
                    // The signals waiting now are handled together, each
                    // node once.
                    if let Err(e) = self.handle_changes(vec![node]).await {
                        tracing::warn!("change signal: {e}");
                    }
                }
            }
        }
    }
}

async fn next_change(changes: &mut Option<Box<Changes>>) -> Option<ClientUri> {
    match changes {
        Some(changes) => changes.receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_completion(completions: &mut Option<Box<Completions>>) -> Option<Report> {
    match completions {
        Some(completions) => completions.receiver.recv().await,
        None => std::future::pending().await,
    }
}
