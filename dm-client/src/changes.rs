//! Local changes and live values: the device's own writes
//! ([`DmClient::set_local`](crate::DmClient::set_local), [`DmClient::update`](crate::DmClient::update)), signalled live-value
//! changes ([`DmClient::notify_changed`](crate::DmClient::notify_changed), [`ChangeSignal`](crate::ChangeSignal)), and the SUB
//! change reports they cause, built by `MoTree::change_reports` (the one
//! implementation) and sent as `dm_session::Request::change_report`.

use dm_session::Request;
use dm_tree::{MoTree, Principal};
use dm_types::{ClientUri, LeafValue, MoData, MoItem, MoNode, NodeName, Segment};
use tokio::sync::mpsc;

use crate::Error;
use crate::client::DmClient;
use crate::handles::{ChangeSignal, Changes};

impl DmClient {
    /// Sets the leaf at `uri` (an absolute ClientURI) to `value` as the
    /// device itself, then sends the change reports of the subscriptions
    /// that fire. Returns how many reports were delivered (answered 2xx).
    pub async fn set_local(&mut self, uri: &ClientUri, value: LeafValue) -> Result<usize, Error> {
        let name = match uri.path().last() {
            Some(Segment::Name(name)) => {
                NodeName::new(name.into_owned()).map_err(|_| Error::NotALeafUri(uri.clone()))?
            }
            _ => return Err(Error::NotALeafUri(uri.clone())),
        };
        let item = MoItem {
            ddf: None,
            client_uri: uri.clone(),
            cache_validator: None,
            data: MoData::new(name, MoNode::Leaf(value)),
        };
        let target = uri.clone();
        self.update(move |tree| tree.write(&Principal::Device, Some(&target), &[item]))
            .await
    }

    /// Changes the tree as the device application wants (`change` returns
    /// the absolute ClientURIs it changed), persists it, and sends the
    /// change reports of the subscriptions that fire (HTTP PUT of the
    /// watched data to each subscription's ServerURI, read with its
    /// server's rights). Returns how many reports were delivered
    /// (answered 2xx); an undelivered report is logged, not retried.
    pub async fn update(
        &mut self,
        change: impl FnOnce(&mut MoTree) -> Result<Vec<ClientUri>, dm_tree::Error>,
    ) -> Result<usize, Error> {
        let changed = change(&mut self.tree)?;
        self.save()?;
        Ok(self.send_change_reports(&changed).await)
    }

    /// Signals that live values served by a [`NodeHandler`](dm_tree::NodeHandler) changed at
    /// `node` (any ClientURI form, resolved as the device; typically the
    /// absolute ClientURI of the leaf, e.g. a battery level), and handles
    /// the change as a write of the tree: the designated instances count a
    /// modification, so their cache validators change
    /// ([`MoTree::mark_changed`]; they already follow live values by
    /// themselves, see [`MoTree::cache_validator_as`]), the state is
    /// persisted, and the subscriptions watching the node, an ancestor or
    /// a descendant get their change report, carrying the live value,
    /// through the same path as [`DmClient::update`](crate::DmClient::update). Returns how many
    /// reports were delivered (answered 2xx).
    ///
    /// Errors: a ClientURI that designates nothing (`404`) or is ambiguous
    /// (`409`) is [`Error::Tree`]; nothing is sent then.
    pub async fn notify_changed(&mut self, node: &ClientUri) -> Result<usize, Error> {
        self.update(|tree| tree.mark_changed(node)).await
    }

    /// A handle that signals live-value changes to this client (see
    /// [`ChangeSignal`](crate::ChangeSignal)).
    pub fn change_signal(&mut self) -> ChangeSignal {
        let changes = self.changes.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            Box::new(Changes { sender, receiver })
        });
        ChangeSignal {
            sender: changes.sender.clone(),
        }
    }

    /// Handles every change signalled through a [`ChangeSignal`](crate::ChangeSignal) so far
    /// (without waiting), each node once, as [`DmClient::notify_changed`](crate::DmClient::notify_changed);
    /// returns how many change reports were delivered. A signal for a node
    /// the tree does not hold is logged and skipped.
    pub async fn take_changes(&mut self) -> Result<usize, Error> {
        self.handle_changes(Vec::new()).await
    }

    /// Handles `nodes` and every change signal waiting, each node once.
    pub(crate) async fn handle_changes(
        &mut self,
        mut nodes: Vec<ClientUri>,
    ) -> Result<usize, Error> {
        if let Some(changes) = &mut self.changes {
            while let Ok(node) = changes.receiver.try_recv() {
                if !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
        }
        let mut delivered = 0;
        for node in nodes {
            match self.notify_changed(&node).await {
                Ok(count) => delivered += count,
                Err(Error::Tree(e)) => tracing::warn!(node = node.as_str(), "change signal: {e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(delivered)
    }

    /// Sends the change reports due after `changed`.
    pub(crate) async fn send_change_reports(&mut self, changed: &[ClientUri]) -> usize {
        let mut delivered = 0;
        for report in self.tree.change_reports(changed) {
            let Ok(mut http) = self.http_for(&report.server) else {
                continue;
            };
            let request = Request::change_report(&self.dev_id, &report);
            match self
                .transport_of(&report.server)
                .perform(&mut http, &request)
                .await
            {
                Ok(response) if (200..300).contains(&response.status) => delivered += 1,
                Ok(response) => {
                    tracing::warn!(
                        uri = request.uri.as_str(),
                        status = response.status,
                        "change report refused"
                    );
                }
                Err(failure) => tracing::warn!("change report: {failure}"),
            }
        }
        delivered
    }
}
