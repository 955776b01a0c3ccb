//! The handles the product keeps to reach the client from anywhere
//! ([`ExecCompletion`](crate::ExecCompletion), [`AlertSender`], [`ChangeSignal`](crate::ChangeSignal)), the channels
//! behind them, and the checks every alert of the product passes.

use dm_codec::Limits;
use dm_tree::MoTree;
use dm_types::{Alert, ClientUri, ServerId, StatusCode};
use tokio::sync::mpsc;

use crate::Error;

/// Reports the end of an asynchronous EXEC from anywhere (a
/// [`NodeHandler`](dm_tree::NodeHandler), a task, another thread): cheap to clone. The client
/// takes the results in [`DmClient::listen_udp`](crate::DmClient::listen_udp),
/// [`DmClient::take_exec_completions`](crate::DmClient::take_exec_completions), or at the end of a session.
#[derive(Debug, Clone)]
pub struct ExecCompletion {
    pub(crate) sender: mpsc::UnboundedSender<Report>,
}

impl ExecCompletion {
    /// Reports that the EXEC of `node` (as the server named it, or its
    /// absolute ClientURI) finished with `status`. False when the client is
    /// gone.
    pub fn finished(&self, node: ClientUri, status: StatusCode) -> bool {
        self.sender.send(Report::Exec(node, status)).is_ok()
    }
}

/// Raises generic alerts from anywhere — a [`NodeHandler`](dm_tree::NodeHandler) in the middle of
/// a session, a task, another thread — as [`DmClient::raise_alert`](crate::DmClient::raise_alert) does
/// (cheap to clone).
///
/// An alert for the server of a session under way goes in that session's
/// next Package#3 (docs/protocol.md section 3.3); if the session ends
/// first (END, abort), it is kept pending for the next session. Otherwise
/// the client takes it in [`DmClient::listen_udp`](crate::DmClient::listen_udp) (delivered as its
/// [`Delivery`] says), [`DmClient::take_exec_completions`](crate::DmClient::take_exec_completions) (kept pending)
/// or the next session (in its Package#3, or kept pending when it is for
/// another server). Until the client takes it, the alert is held in
/// memory only.
#[derive(Debug, Clone)]
pub struct AlertSender {
    pub(crate) sender: mpsc::UnboundedSender<Report>,
}

impl AlertSender {
    /// Raises `alert` for `server`. Errors: [`Error::SessionStartAlert`]
    /// for a session-start alert type, [`Error::InvalidAlert`] for one that
    /// does not decode back, [`Error::ClientGone`] when the
    /// client no longer exists. A server without account is found out when
    /// the client takes the alert (it is then logged and dropped).
    pub fn raise(&self, server: ServerId, alert: Alert, delivery: Delivery) -> Result<(), Error> {
        check_alert(&alert)?;
        self.sender
            .send(Report::Alert(server, alert, delivery))
            .map_err(|_| Error::ClientGone)
    }
}

/// When [`DmClient::raise_alert`](crate::DmClient::raise_alert) delivers an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// In Package#1 of the next session with the server, whoever starts
    /// it (the device, a notification); kept until then, in the state file
    /// when the client has one.
    NextSession,
    /// In a client-initiated session started at once (with every other
    /// alert pending for that server).
    Now,
}

/// Refuses what the client must not send or keep: session-start alert
/// types (the client sends those itself), and alerts that would not decode
/// back — from the state file, or at the server — under the default limits.
pub(crate) fn check_alert(alert: &Alert) -> Result<(), Error> {
    if alert.alert_type.is_session_start() {
        return Err(Error::SessionStartAlert(alert.alert_type.clone()));
    }
    dm_codec::decode_alert(&dm_codec::encode_alert(alert), &Limits::default())
        .map(drop)
        .map_err(Error::InvalidAlert)
}

/// The result alert a handler built, or — when it is not one the client
/// can keep and send ([`check_alert`]) — the default `ExecComplete` alert,
/// so that a result is never lost.
pub(crate) fn result_alert(alert: Alert, node: &ClientUri, status: StatusCode) -> Alert {
    match check_alert(&alert) {
        Ok(()) => alert,
        Err(e) => {
            tracing::warn!(
                node = node.as_str(),
                "the handler's result alert is replaced by ExecComplete: {e}"
            );
            Alert::exec_complete(node, status)
        }
    }
}

/// What the handles report to the client.
#[derive(Debug)]
pub(crate) enum Report {
    /// An asynchronous EXEC finished ([`ExecCompletion`](crate::ExecCompletion)).
    Exec(ClientUri, StatusCode),
    /// An alert was raised ([`AlertSender`]).
    Alert(ServerId, Alert, Delivery),
    /// A change of the tree was asked for ([`TreeEditor`]).
    Edit(TreeEdit),
}

/// A change of the tree a [`TreeEditor`] hands to the client: it returns
/// the absolute ClientURIs it changed.
pub(crate) struct TreeEdit(pub(crate) Box<EditFn>);

/// The change a [`TreeEdit`] carries.
pub(crate) type EditFn = dyn FnOnce(&mut MoTree) -> Result<Vec<ClientUri>, dm_tree::Error> + Send;

impl std::fmt::Debug for TreeEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TreeEdit")
    }
}

impl TreeEdit {
    /// Applies the change; the ClientURIs it changed, or none when it
    /// failed (logged: the product asked from afar and cannot be told).
    pub(crate) fn apply(self, tree: &mut MoTree) -> Vec<ClientUri> {
        match (self.0)(tree) {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!("tree edit refused: {e}");
                Vec::new()
            }
        }
    }
}

/// Changes the device's tree from anywhere — a task driving a software
/// installation, another thread — as [`DmClient::update`](crate::DmClient::update)
/// does (cheap to clone). Update MO drivers keep their inventory nodes
/// with it.
///
/// Edits reach the client through the same queue as the results of an
/// [`ExecCompletion`] and the alerts of an [`AlertSender`], so they apply
/// in the order they were made: an edit made before reporting an EXEC
/// result is in the tree before the result alert leaves. The client
/// applies them in [`DmClient::listen_udp`](crate::DmClient::listen_udp)
/// as they come (persisted, change reports sent), in
/// [`DmClient::take_exec_completions`](crate::DmClient::take_exec_completions)
/// (persisted), and at the end of a session for those made during it (so
/// a session's server never sees the tree change under its commands).
///
/// ```
/// use dm_client::DmClient;
/// use dm_tree::DevInfo;
/// use dm_types::DevId;
///
/// let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1")).build()?;
/// let editor = client.tree_editor();
/// editor.edit(|tree| {
///     tree.remove("urn:x:demo:1.0", "1");
///     Ok(Vec::new())
/// });
/// assert_eq!(client.take_exec_completions()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TreeEditor {
    pub(crate) sender: mpsc::UnboundedSender<Report>,
}

impl TreeEditor {
    /// Asks the client to run `change` on its tree; `change` returns the
    /// absolute ClientURIs it changed (for the subscriptions' change
    /// reports) or an error, which is logged. False when the client is
    /// gone.
    pub fn edit(
        &self,
        change: impl FnOnce(&mut MoTree) -> Result<Vec<ClientUri>, dm_tree::Error> + Send + 'static,
    ) -> bool {
        self.sender
            .send(Report::Edit(TreeEdit(Box::new(change))))
            .is_ok()
    }
}

/// Signals from anywhere (a [`NodeHandler`](dm_tree::NodeHandler), a sensor task, another
/// thread) that live values a handler serves changed: cheap to clone. The
/// client handles each signal as [`DmClient::notify_changed`](crate::DmClient::notify_changed) (new cache
/// validator, change reports), in [`DmClient::listen_udp`](crate::DmClient::listen_udp) as they come or
/// with [`DmClient::take_changes`](crate::DmClient::take_changes). Several signals for the same node before
/// the client handles them count as one.
///
/// ```
/// use dm_client::DmClient;
/// use dm_tree::DevInfo;
/// use dm_types::{ClientUri, DevId};
///
/// let mut client = DmClient::builder(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1")).build()?;
/// let signal = client.change_signal();
/// std::thread::spawn(move || {
///     signal.changed(ClientUri::parse("urn:x:battery:1.0/bat/Level").expect("ClientURI"));
/// })
/// .join()
/// .expect("signalled");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChangeSignal {
    pub(crate) sender: mpsc::UnboundedSender<ClientUri>,
}

impl ChangeSignal {
    /// Signals that the live value at `node` (any ClientURI form; typically
    /// a leaf's absolute ClientURI) changed. False when the client is gone.
    pub fn changed(&self, node: ClientUri) -> bool {
        self.sender.send(node).is_ok()
    }
}

#[derive(Debug)]
pub(crate) struct Changes {
    pub(crate) sender: mpsc::UnboundedSender<ClientUri>,
    pub(crate) receiver: mpsc::UnboundedReceiver<ClientUri>,
}

#[derive(Debug)]
pub(crate) struct Completions {
    pub(crate) sender: mpsc::UnboundedSender<Report>,
    pub(crate) receiver: mpsc::UnboundedReceiver<Report>,
}
