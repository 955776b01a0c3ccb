//! SUB and UNSUB (docs/protocol.md section 4): change subscriptions owned by
//! servers, and which of them fire after a change.

use dm_types::{ClientUri, ServerId, ServerUri};

use crate::{Error, MoTree, Principal, Rights};

/// One change subscription: when anything under `target` changes, the
/// subtree is reported by HTTP PUT to `report_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The server that made it (and whose view of the tree applies).
    pub server: ServerId,
    /// The watched ClientURI, as given (compared in canonical form).
    pub target: ClientUri,
    /// Where reports go.
    pub report_to: ServerUri,
}

impl MoTree {
    /// Records a subscription (SUB). The target must resolve, for the
    /// server, to nodes it may read (404/409/403 otherwise). A second SUB of
    /// the same server on the same ClientURI replaces the first; a new one
    /// beyond [`TreeLimits::subscriptions_per_server`](crate::TreeLimits)
    /// is `413`.
    ///
    /// ```
    /// use dm_tree::{MoTree, Principal};
    /// use dm_types::{ClientUri, ServerId, ServerUri};
    ///
    /// let mut tree = MoTree::new();
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:y//","MOData":{"r":{"a":1}}}]"#, &dm_codec::Limits::default())?;
    /// let written = tree.write(&Principal::Device, None, &items)?;
    /// let a = ClientUri::parse("urn:x:y/1/a")?;
    /// tree.subscribe(&Principal::Device, ServerId::new("srv1")?, a.clone(), ServerUri::new("https://dm.example/changes")?)?;
    /// assert_eq!(tree.fired(&written).len(), 1);
    /// tree.unsubscribe(&ServerId::new("srv1")?, &a)?;
    /// assert!(tree.subscriptions().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe(
        &mut self,
        principal: &Principal,
        server: ServerId,
        target: ClientUri,
        report_to: ServerUri,
    ) -> Result<(), Error> {
        for node in self.resolve_as(principal, &target)? {
            if !self.rights(principal, node.instance).contains(Rights::READ) {
                return Err(Error::Forbidden {
                    principal: principal.to_string(),
                    right: "Read",
                    uri: node.client_uri().to_string(),
                });
            }
        }
        let replaces = self
            .subscriptions
            .iter()
            .any(|s| s.server == server && s.target == target);
        let held = self
            .subscriptions
            .iter()
            .filter(|s| s.server == server)
            .count();
        if !replaces && held >= self.limits.subscriptions_per_server {
            return Err(Error::Full {
                what: "the server's subscriptions",
                limit: self.limits.subscriptions_per_server,
            });
        }
        self.subscriptions
            .retain(|s| !(s.server == server && s.target == target));
        self.subscriptions.push(Subscription {
            server,
            target,
            report_to,
        });
        Ok(())
    }

    /// Cancels the subscription `server` made with the identical ClientURI
    /// (canonical comparison); `404` when there is none (UNSUB).
    pub fn unsubscribe(&mut self, server: &ServerId, target: &ClientUri) -> Result<(), Error> {
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|s| !(s.server == *server && s.target == *target));
        if self.subscriptions.len() == before {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Every subscription, in the order made.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// The subscriptions that fire after the nodes at `changed` (absolute
    /// ClientURIs: written, created or deleted) changed: those watching one
    /// of them, one of their descendants, or one of their ancestors.
    pub fn fired(&self, changed: &[ClientUri]) -> Vec<&Subscription> {
        self.subscriptions
            .iter()
            .filter(|subscription| {
                let principal = Principal::Server(subscription.server.clone());
                let watched: Vec<ClientUri> =
                    match self.resolve_as(&principal, &subscription.target) {
                        Ok(nodes) => nodes.iter().map(crate::NodeRef::client_uri).collect(),
                        // A watched node that is gone was changed: compare its own text.
                        Err(_) if subscription.target.is_absolute() => {
                            vec![subscription.target.clone()]
                        }
                        Err(_) => Vec::new(),
                    };
                watched
                    .iter()
                    .any(|w| changed.iter().any(|c| related(w.as_str(), c.as_str())))
            })
            .collect()
    }
}

/// Whether two absolute ClientURIs are the same node or one is an ancestor
/// of the other.
fn related(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.starts_with(short)
        && (long.len() == short.len()
            || short.ends_with('/')
            || long.as_bytes()[short.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::related;

    #[test]
    fn relation_respects_segment_boundaries() {
        assert!(related("urn:x:y/m/a", "urn:x:y/m/a"));
        assert!(related("urn:x:y/m/", "urn:x:y/m/a/b"));
        assert!(related("urn:x:y/m/a/b", "urn:x:y/m/a"));
        assert!(!related("urn:x:y/m/a", "urn:x:y/m/ab"));
        assert!(!related("urn:x:y/m/", "urn:x:y/mm/"));
    }
}
