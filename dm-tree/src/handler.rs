//! Live behaviour behind nodes: registering [`NodeHandler`]s, EXEC, and
//! the live values reads serve.

use std::sync::Arc;

use dm_types::{AccessType, Alert, ClientUri, LeafValue, Moid, ServerUri, StatusCode};

use crate::acl_check::check_acl;
use crate::node_handler::{ExecOutcome, NodeHandler};
use crate::tree::NodeRef;
use crate::{Error, MoTree, Principal, Rights};

impl MoTree {
    /// Registers the handler behind the nodes of `moid` (replacing any
    /// earlier one).
    pub fn set_handler(&mut self, moid: Moid, handler: Arc<dyn NodeHandler>) {
        self.handlers.insert(moid, handler);
    }

    /// Executes the node at `target` (EXEC). `report_to` is the EXEC
    /// ServerURI: when present the handler is told to run asynchronously.
    ///
    /// Errors: 404/409 from resolution (exactly one node is required), 403
    /// without the Exec right, 405 when the DDF AccessType lacks Exec or no
    /// handler executes nodes of this MO.
    pub fn exec(
        &self,
        principal: &Principal,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, Error> {
        let nodes = self.resolve_as(principal, target)?;
        let [node]: [NodeRef<'_>; 1] =
            nodes
                .try_into()
                .map_err(|nodes: Vec<NodeRef<'_>>| Error::Ambiguous {
                    instances: nodes.len(),
                })?;
        if !self.rights(principal, node.instance).contains(Rights::EXEC) {
            return Err(Error::Forbidden {
                principal: principal.to_string(),
                right: "Exec",
                uri: node.client_uri().to_string(),
            });
        }
        check_acl(principal, node.instance, node.id, crate::AclCommand::Exec)?;
        let not_allowed = |reason| Error::NotAllowed {
            uri: node.client_uri().to_string(),
            reason,
        };
        if let Some(definition) = node.instance.node_definition(node.id)
            && !definition.access_type.contains(AccessType::EXEC)
        {
            return Err(not_allowed("the node's AccessType lacks Exec"));
        }
        let handler = self
            .handlers
            .get(node.instance.moid().as_str())
            .ok_or_else(|| not_allowed("nothing on the device executes this node"))?;
        Ok(handler.exec(&node.client_uri(), node.instance, report_to.is_some()))
    }

    /// The alert reporting that the asynchronous EXEC of `node` (as the
    /// server named it) ended with `status`: that of the handler of the
    /// node's MO ([`NodeHandler::result_alert`]), or the default
    /// `ExecComplete` alert when no handler is registered for it.
    ///
    /// ```
    /// use dm_tree::MoTree;
    /// use dm_types::{AlertType, ClientUri, StatusCode};
    ///
    /// let node = ClientUri::parse("urn:x:demo:1.0//Reboot")?;
    /// let alert = MoTree::new().exec_result_alert(&node, StatusCode::OK);
    /// assert_eq!(alert.alert_type.as_str(), AlertType::EXEC_COMPLETE);
    /// assert_eq!(alert.source_uri.as_deref(), Some("urn:x:demo:1.0//Reboot"));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn exec_result_alert(&self, node: &ClientUri, status: StatusCode) -> Alert {
        match self.handlers.get(node.moid()) {
            Some(handler) => handler.result_alert(node, status),
            None => Alert::exec_complete(node, status),
        }
    }

    /// Whether a handler serves the nodes of `instance`.
    pub(crate) fn has_handler(&self, instance: &crate::MoInstance) -> bool {
        self.handlers.get(instance.moid().as_str()).is_some()
    }

    /// Records that live values changed at `target` (any ClientURI form,
    /// resolved as the device): the product's signal that a value its
    /// [`NodeHandler`] serves is now different. Every instance `target`
    /// designates counts a modification, so its cache validator changes
    /// (docs/protocol.md section 8) exactly as after a write, and the
    /// absolute ClientURIs of the designated nodes are returned: the
    /// `changed` list that [`MoTree::fired`] takes to find the
    /// subscriptions to report to.
    ///
    /// Errors: 404/409 from resolution; nothing changes then.
    ///
    /// ```
    /// use dm_tree::{MoTree, Principal};
    /// use dm_types::{ClientUri, ServerId, ServerUri};
    ///
    /// let mut tree = MoTree::new();
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:battery//","MOData":{"B":{"Level":0}}}]"#, &dm_codec::Limits::default())?;
    /// tree.write(&Principal::Device, None, &items)?;
    /// let level = ClientUri::parse("urn:x:battery/1/Level")?;
    /// tree.subscribe(&Principal::Device, ServerId::new("srv1")?, level.clone(), ServerUri::new("https://dm.example/changes")?)?;
    /// let before = tree.instance("urn:x:battery", "1").unwrap().cache_validator();
    /// let changed = tree.mark_changed(&ClientUri::parse("urn:x:battery//Level")?)?;
    /// assert_eq!(changed, [level]);
    /// assert_ne!(tree.instance("urn:x:battery", "1").unwrap().cache_validator(), before);
    /// // The subscription fires only when what its server reads changed:
    /// // here the stored value is the same, so nothing is reported.
    /// assert!(tree.fired(&changed).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mark_changed(&mut self, target: &ClientUri) -> Result<Vec<ClientUri>, Error> {
        let nodes = self.resolve(target)?;
        let changed: Vec<ClientUri> = nodes.iter().map(NodeRef::client_uri).collect();
        let mut instances: Vec<(Moid, dm_types::Miid)> = nodes
            .iter()
            .map(|n| (n.instance.moid().clone(), n.instance.miid().clone()))
            .collect();
        instances.dedup();
        for (moid, miid) in instances {
            if let Some(instance) = self.instance_mut(moid.as_str(), miid.as_str()) {
                instance.touch();
            }
        }
        Ok(changed)
    }

    /// The value a read reports for a leaf: the handler's live value, or
    /// the stored one.
    pub(crate) fn live_value(&self, node: &NodeRef<'_>) -> Option<LeafValue> {
        let stored = node.instance.value(node.id)?;
        Some(
            self.handlers
                .get(node.instance.moid().as_str())
                .and_then(|h| h.read(&node.client_uri()))
                .unwrap_or_else(|| stored.clone()),
        )
    }
}
