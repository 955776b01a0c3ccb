//! [`Subscription`] and [`ChangeReport`]: what SUB leaves in the tree and
//! what a change reports.

use std::sync::atomic::{AtomicU64, Ordering};

use dm_types::{ClientUri, ServerId, ServerUri};

/// One change subscription: when what its server can read under `target`
/// changes, the subtree is reported by HTTP PUT to `report_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The server that made it (and whose view of the tree applies).
    pub server: ServerId,
    /// The watched ClientURI, as given (compared in canonical form).
    pub target: ClientUri,
    /// Where reports go.
    pub report_to: ServerUri,
    /// A digest of what the server could read at `target` when last
    /// reported (or subscribed).
    pub(crate) view: View,
}

/// A change report to send (docs/protocol.md section 4, SUB): the items
/// go by HTTP PUT, as MO serialization, to `report_to`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeReport {
    /// The server whose subscription fired (whose credentials apply when
    /// `report_to` has the origin of its `SrvURI`).
    pub server: ServerId,
    /// Where the report goes.
    pub report_to: ServerUri,
    /// The watched subtree as that server may read it.
    pub items: Vec<dm_types::MoItem>,
}

impl Subscription {
    /// A subscription whose view is not known yet (it fires on the first
    /// related change).
    pub(crate) fn new(server: ServerId, target: ClientUri, report_to: ServerUri) -> Subscription {
        Subscription {
            server,
            target,
            report_to,
            view: View(AtomicU64::new(View::UNKNOWN)),
        }
    }
}

/// A digest of the data a subscription's server reads at its target
/// (without cache validators), updated when the subscription fires: a
/// change report goes out only when that data changed, so a change of a
/// node the server may not read (a secret, a Get-less node, a node its ACL
/// hides) is never signalled (docs/protocol.md section 7). Atomic so that
/// [`MoTree::fired`](crate::MoTree::fired) stays a read of the tree; not part of equality.
#[derive(Debug)]
pub(crate) struct View(pub(crate) AtomicU64);

impl View {
    pub(crate) const UNKNOWN: u64 = 0;
}

impl Clone for View {
    fn clone(&self) -> View {
        View(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl PartialEq for View {
    fn eq(&self, _: &View) -> bool {
        true
    }
}

impl Eq for View {}
