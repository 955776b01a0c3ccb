//! Notifications ([`DmClient::handle_notification`](crate::DmClient::handle_notification)) and the UDP listener
//! that also takes the product's signals ([`DmClient::listen_udp`](crate::DmClient::listen_udp),
//! [`DmClient::listen_channel`](crate::DmClient::listen_channel) for notifications received otherwise).

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
        self.listen(Source::Udp(socket), shutdown).await
    }

    /// [`DmClient::listen_udp`] for notifications the product receives
    /// itself (an SMS modem, a push service, a gateway, a simulation): each
    /// message of `notifications` is a Package#0 and goes through
    /// [`DmClient::handle_notification`](crate::DmClient::handle_notification);
    /// EXEC results, tree edits and change signals are handled as
    /// [`DmClient::listen_udp`] does. Returns when `shutdown` completes or
    /// every sender of `notifications` is gone. Notifications arriving
    /// during a session wait in the channel.
    ///
    /// ```
    /// use dm_client::{Account, DmClient};
    /// use dm_tree::{DevInfo, DmAcc};
    /// use dm_types::{DevId, ServerId, ServerUri};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let account = DmAcc::new(ServerId::new("dm.example")?, ServerUri::new("https://dm.example/dm")?);
    /// let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1"))
    ///     .account(Account::new(account))
    ///     .build()?;
    /// let (sender, mut notifications) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    /// // Garbage is ignored (logged); the listener stops once the sender is gone.
    /// sender.send(vec![0xff; 3]).await?;
    /// drop(sender);
    /// client.listen_channel(&mut notifications, std::future::pending()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn listen_channel(
        &mut self,
        notifications: &mut tokio::sync::mpsc::Receiver<Vec<u8>>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        self.listen(Source::Channel(notifications), shutdown).await
    }

    /// The loop of [`DmClient::listen_udp`] and
    /// [`DmClient::listen_channel`]. The sessions it runs are boxed: a
    /// listener waiting holds none of their state.
    async fn listen(
        &mut self,
        mut source: Source<'_>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            enum Next {
                Stop,
                Notification(std::io::Result<Vec<u8>>),
                Completion(Option<Report>),
                Changed(Option<ClientUri>),
            }
            let next = tokio::select! {
                () = &mut shutdown => Next::Stop,
                received = source.next() => match received {
                    Some(received) => Next::Notification(received),
                    None => Next::Stop,
                },
                completion = next_completion(&mut self.completions) => Next::Completion(completion),
                node = next_change(&mut self.changes) => Next::Changed(node),
            };
            match next {
                Next::Stop => return Ok(()),
                Next::Notification(Ok(bytes)) => {
                    if let Err(e) =
                        Box::pin(self.handle_notification(&bytes, SystemTime::now())).await
                    {
                        tracing::warn!("notification: {e}");
                    }
                    // Results the session left owed to a ServerURI (EXECs
                    // that finished at once) go now, each in its session.
                    if self.pending_reports() > 0
                        && let Err(e) = Box::pin(self.deliver_pending_reports()).await
                    {
                        tracing::warn!("delivering results: {e}");
                    }
                }
                Next::Notification(Err(e)) => {
                    tracing::warn!("notification socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Next::Completion(Some(Report::Alert(server, alert, delivery))) => {
                    if let Err(e) = Box::pin(self.raise_alert(&server, alert, delivery)).await {
                        tracing::warn!(server = server.as_str(), "raised alert: {e}");
                    }
                }
                Next::Completion(Some(Report::Exec(node, status))) => {
                    match self.exec_finished(&node, status) {
                        Ok(()) => {
                            if let Err(e) = Box::pin(self.deliver_pending_reports()).await {
                                tracing::warn!("delivering results: {e}");
                            }
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                Next::Completion(Some(Report::Edit(edit))) => {
                    if let Err(e) = Box::pin(self.update(|tree| Ok(edit.apply(tree)))).await {
                        tracing::warn!("tree edit: {e}");
                    }
                }
                Next::Completion(None) | Next::Changed(None) => {}
                Next::Changed(Some(node)) => {
                    // The signals waiting now are handled together, each
                    // node once.
                    if let Err(e) = Box::pin(self.handle_changes(vec![node])).await {
                        tracing::warn!("change signal: {e}");
                    }
                }
            }
        }
    }
}

/// Where a listener's notifications come from.
enum Source<'a> {
    /// Datagrams of a UDP socket.
    Udp(&'a UdpSocket),
    /// Messages handed in by the product.
    Channel(&'a mut tokio::sync::mpsc::Receiver<Vec<u8>>),
}

impl Source<'_> {
    /// The next notification; `None` when no more can come.
    async fn next(&mut self) -> Option<std::io::Result<Vec<u8>>> {
        /// Largest notification: 31 options of 2 + 270 bytes, plus the header.
        const DATAGRAM: usize = 2 + 31 * 272;
        match self {
            Source::Udp(socket) => {
                let mut buffer = vec![0u8; DATAGRAM];
                Some(socket.recv_from(&mut buffer).await.map(|(n, _)| {
                    buffer.truncate(n);
                    buffer
                }))
            }
            Source::Channel(receiver) => receiver.recv().await.map(Ok),
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
