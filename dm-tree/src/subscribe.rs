//! SUB and UNSUB (docs/protocol.md section 4): change subscriptions owned by
//! servers, and which of them fire after a change.

use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::Ordering;

use dm_types::{ClientUri, ServerId, ServerUri};

use crate::subscription::View;
use crate::{ChangeReport, Error, MoTree, Principal, ReadOutcome, Subscription};

impl MoTree {
    /// Records a subscription (SUB). The target must resolve, for the
    /// server, to nodes it may read (404/409/403 otherwise). A second SUB of
    /// the same server on the same ClientURI replaces the first; a new one
    /// beyond [`TreeLimits::subscriptions_per_server`](crate::TreeLimits)
    /// is `413`.
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoTree, Principal};
    /// use dm_types::{ClientUri, Moid, ServerId, ServerUri};
    ///
    /// let srv1 = ServerId::new("srv1")?;
    /// let mut account = DmAcc::new(srv1.clone(), ServerUri::new("https://dm.example/dm")?);
    /// account.perm_moids.push(Moid::new("urn:x:y")?);
    /// let mut tree = MoTree::new();
    /// tree.add_dm_acc(&account)?;
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:y//","MOData":{"r":{"a":1}}}]"#, &dm_codec::Limits::default())?;
    /// let written = tree.write(&Principal::Device, None, &items)?;
    /// let a = ClientUri::parse("urn:x:y/1/a")?;
    /// let who = Principal::Server(srv1.clone());
    /// tree.subscribe(&who, srv1.clone(), a.clone(), ServerUri::new("https://dm.example/changes")?)?;
    /// // Nothing changed since the SUB: nothing fires.
    /// assert!(tree.fired(&written).is_empty());
    /// let change = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:y/1/a","MOData":{"a":2}}]"#, &dm_codec::Limits::default())?;
    /// let written = tree.write(&Principal::Device, None, &change)?;
    /// assert_eq!(tree.fired(&written).len(), 1);
    /// tree.unsubscribe(&srv1, &a)?;
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
        // Refused exactly like a GET of the target (docs/protocol.md
        // section 7): 404/409 from resolution, 403 without Read or against
        // a DM 1.x ACL, 405 for a node the DDF forbids reading (secrets).
        self.readable_targets(principal, std::slice::from_ref(&target))?;
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
        let subscription = Subscription::new(server, target, report_to);
        subscription
            .view
            .0
            .store(self.view_of(&subscription), Ordering::Relaxed);
        self.subscriptions.push(subscription);
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

    /// Removes the subscriptions whose target their server may never read
    /// (a secret or Get-less node: a GET of it is `405`), as a state
    /// written by an older version may hold them, and returns them. They
    /// could not report anything now, but would hold room in the server's
    /// quota. Subscriptions whose target is only gone or invisible for
    /// the moment stay.
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoTree, NotificationAuth};
    /// use dm_types::{Moid, ServerId, ServerUri};
    ///
    /// let mut tree = MoTree::new();
    /// let mut account = DmAcc::new(ServerId::new("srv1")?, ServerUri::new("https://dm.example/dm")?);
    /// account.perm_moids.push(Moid::new("urn:oma:mo:oma-dm-dmacc:1.2")?);
    /// account.notification = Some(NotificationAuth::sha256(b"key".to_vec(), Vec::new()));
    /// tree.add_dm_acc(&account)?;
    /// let snapshot = String::from_utf8(tree.to_snapshot())?.replace(
    ///     r#""subscriptions":[]"#,
    ///     r#""subscriptions":[{"server":"srv1","target":"urn:oma:mo:oma-dm-dmacc:1.2/acc1/Auth/Noti/Secret","report_to":"https://dm.example/r"}]"#,
    /// );
    /// let mut restored = MoTree::from_snapshot(snapshot.as_bytes(), MoTree::new())?;
    /// assert_eq!(restored.remove_unreadable_subscriptions().len(), 1);
    /// assert!(restored.subscriptions().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_unreadable_subscriptions(&mut self) -> Vec<Subscription> {
        let (kept, removed): (Vec<Subscription>, Vec<Subscription>) =
            std::mem::take(&mut self.subscriptions)
                .into_iter()
                .partition(|subscription| {
                    let principal = Principal::Server(subscription.server.clone());
                    !matches!(
                        self.read(&principal, std::slice::from_ref(&subscription.target)),
                        Err(Error::NotAllowed { .. })
                    )
                });
        self.subscriptions = kept;
        removed
    }

    /// Every subscription, in the order made.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// The subscriptions that fire after the nodes at `changed` (absolute
    /// ClientURIs: written, created or deleted) changed: those watching one
    /// of them, one of their descendants, or one of their ancestors, and
    /// for which what their server can read at the target (as
    /// [`MoTree::read`] returns it, cache validators aside) differs from
    /// what it could read when the subscription last fired or was made. So
    /// a change of only a secret or of a node hidden from that server fires
    /// nothing (docs/protocol.md section 7), and asking twice about one
    /// change fires once.
    pub fn fired(&self, changed: &[ClientUri]) -> Vec<&Subscription> {
        self.subscriptions
            .iter()
            .filter(|subscription| self.related_to(subscription, changed))
            .filter(|subscription| {
                let now = self.view_of(subscription);
                subscription.view.0.swap(now, Ordering::Relaxed) != now
            })
            .collect()
    }

    /// The change reports due after the nodes at `changed` changed: for
    /// every subscription that fires ([`MoTree::fired`]), the subtree it
    /// watches as MO serialization read with its server's rights (so no
    /// report carries a node that server may not read, docs/protocol.md
    /// section 7); an empty report when the watched nodes are gone. The one
    /// place reports are built: the session engine and the client's local
    /// changes both take them from here.
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoTree, Principal};
    /// use dm_types::{ClientUri, Moid, ServerId, ServerUri};
    ///
    /// let mut tree = MoTree::new();
    /// // A server allowed the MO reads device-made instances of it.
    /// let mut account = DmAcc::new(ServerId::new("srv1")?, ServerUri::new("https://dm.example/dm")?);
    /// account.perm_moids.push(Moid::new("urn:x:wlan")?);
    /// tree.add_dm_acc(&account)?;
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:wlan//","MOData":{"W":{"SSID":"office"}}}]"#, &dm_codec::Limits::default())?;
    /// tree.write(&Principal::Device, None, &items)?;
    /// let ssid = ClientUri::parse("urn:x:wlan/1/SSID")?;
    /// let report_to = ServerUri::new("https://dm.example/changes")?;
    /// tree.subscribe(&Principal::Device, ServerId::new("srv1")?, ssid.clone(), report_to.clone())?;
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:wlan/1/SSID","MOData":{"SSID":"office-5g"}}]"#, &dm_codec::Limits::default())?;
    /// tree.write(&Principal::Device, None, &items)?;
    /// let reports = tree.change_reports(&[ssid]);
    /// assert_eq!(reports.len(), 1);
    /// assert_eq!(reports[0].report_to, report_to);
    /// assert_eq!(reports[0].items.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn change_reports(&self, changed: &[ClientUri]) -> Vec<ChangeReport> {
        self.fired(changed)
            .into_iter()
            .filter_map(|subscription| {
                let who = Principal::Server(subscription.server.clone());
                let items = match self.read(&who, std::slice::from_ref(&subscription.target)) {
                    Ok(ReadOutcome::Data(items)) => items,
                    Ok(ReadOutcome::NotModified) => return None,
                    // The watched nodes are gone: an empty report.
                    Err(_) => Vec::new(),
                };
                Some(ChangeReport {
                    server: subscription.server.clone(),
                    report_to: subscription.report_to.clone(),
                    items,
                })
            })
            .collect()
    }

    /// Records, for every subscription, what its server can read now (after
    /// a restore: later changes are compared with it).
    pub(crate) fn refresh_views(&self) {
        for subscription in &self.subscriptions {
            subscription
                .view
                .0
                .store(self.view_of(subscription), Ordering::Relaxed);
        }
    }

    /// The digest of what `subscription`'s server reads at its target: the
    /// MO serialization of the data without cache validators, or a fixed
    /// value when the read fails (nothing to read) or is all cached.
    fn view_of(&self, subscription: &Subscription) -> u64 {
        let principal = Principal::Server(subscription.server.clone());
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        match self.read(&principal, std::slice::from_ref(&subscription.target)) {
            Ok(ReadOutcome::Data(mut items)) => {
                for item in &mut items {
                    item.cache_validator = None;
                }
                1u8.hash(&mut hasher);
                dm_codec::encode_mo_serialization(&items).hash(&mut hasher);
            }
            Ok(ReadOutcome::NotModified) => 2u8.hash(&mut hasher),
            Err(_) => 3u8.hash(&mut hasher),
        }
        hasher.finish().max(View::UNKNOWN + 1)
    }

    /// Whether a change at `changed` touches what `subscription` watches.
    fn related_to(&self, subscription: &Subscription, changed: &[ClientUri]) -> bool {
        let principal = Principal::Server(subscription.server.clone());
        let watched: Vec<ClientUri> = match self.resolve_as(&principal, &subscription.target) {
            Ok(nodes) => nodes.iter().map(crate::NodeRef::client_uri).collect(),
            // A watched node that is gone was changed: compare its own text.
            Err(_) if subscription.target.is_absolute() => vec![subscription.target.clone()],
            Err(_) => Vec::new(),
        };
        watched
            .iter()
            .any(|w| changed.iter().any(|c| related(w.as_str(), c.as_str())))
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
