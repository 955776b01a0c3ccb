//! Live behaviour behind nodes: the [`NodeHandler`] seam through which a
//! product backs nodes with live values and executable actions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use dm_types::{AccessType, Alert, ClientUri, LeafValue, Moid, ServerUri, StatusCode};

use crate::tree::NodeRef;
use crate::{Error, MoTree, Principal, Rights};

/// What an EXEC did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Finished with this status.
    Done(StatusCode),
    /// Running: the final status follows later as an alert (`202`).
    Started,
}

/// Backs the nodes of one MO type with live behaviour (battery level,
/// firmware update, ...). Registered per MOID with [`MoTree::set_handler`].
///
/// Live values and caching (docs/protocol.md section 8): the cache
/// validator servers see for an instance with a handler folds in the values
/// a read serves ([`MoTree::cache_validator_as`]), so it changes when a live
/// value does, without the handler doing anything. For SUB, the product
/// signals a change with [`MoTree::mark_changed`] (in a device client:
/// `DmClient::notify_changed`), which reports it to the subscriptions like a
/// write.
///
/// ```
/// use dm_tree::{ExecOutcome, NodeHandler};
/// use dm_types::{ClientUri, LeafValue, StatusCode};
///
/// struct Battery;
///
/// impl NodeHandler for Battery {
///     fn read(&self, node: &ClientUri) -> Option<LeafValue> {
///         node.as_str().ends_with("/Level").then(|| LeafValue::Int(87))
///     }
///     fn exec(&self, _node: &ClientUri, _asynchronous: bool) -> ExecOutcome {
///         ExecOutcome::Done(StatusCode::OK)
///     }
/// }
/// ```
pub trait NodeHandler: Send + Sync {
    /// The live value of the leaf at `node`; `None` keeps the stored value.
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        let _ = node;
        None
    }

    /// Executes the node. `asynchronous` is true when the server asked for
    /// the result to be reported later (EXEC with a ServerURI).
    fn exec(&self, node: &ClientUri, asynchronous: bool) -> ExecOutcome;

    /// The generic alert reporting that an asynchronous EXEC of `node` (as
    /// the server named it: the alert's `SourceURI`) ended with `status`:
    /// the MO chooses its alert type (docs/protocol.md sections 6 and 13:
    /// FUMO reports `org.openmobilealliance.dm.firmwareupdate.update`,
    /// SCOMO `urn:oma:at:scomo:1.0:OperationComplete`). The default is
    /// `urn:oma:at:dm:2.0:ExecComplete` with `Data` `{"sc": status}`.
    ///
    /// ```
    /// use dm_tree::{ExecOutcome, NodeHandler};
    /// use dm_types::{Alert, AlertType, ClientUri, StatusCode};
    ///
    /// struct Fumo;
    ///
    /// impl NodeHandler for Fumo {
    ///     fn exec(&self, _node: &ClientUri, _asynchronous: bool) -> ExecOutcome {
    ///         ExecOutcome::Started
    ///     }
    ///     fn result_alert(&self, node: &ClientUri, status: StatusCode) -> Alert {
    ///         let mut alert = Alert::new(AlertType::new("org.openmobilealliance.dm.firmwareupdate.update").expect("non-empty"));
    ///         alert.source_uri = Some(node.to_string());
    ///         alert.data_type = Some("int".into());
    ///         let mut data = dm_types::JsonObject::new();
    ///         data.insert("DM1x".into(), status.as_u16().to_string().into());
    ///         alert.data = Some(data);
    ///         alert
    ///     }
    /// }
    ///
    /// let node = ClientUri::parse("urn:oma:mo:oma-fumo:1.0//Update")?;
    /// let alert = Fumo.result_alert(&node, StatusCode::OK);
    /// assert_eq!(alert.alert_type.as_str(), "org.openmobilealliance.dm.firmwareupdate.update");
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    fn result_alert(&self, node: &ClientUri, status: StatusCode) -> Alert {
        Alert::exec_complete(node, status)
    }
}

/// A fingerprint of the leaf values a read serves (64-bit FNV-1a over each
/// leaf's name and typed value, in the read's stable node order): what makes
/// the cache validator of a handler-backed instance change when a live
/// value does. It is not secret-keyed, so it only ever covers values the
/// reading server receives anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64);

impl Fingerprint {
    pub(crate) fn new() -> Fingerprint {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Lengths go first, so that no two sequences of leaves fold alike by
    /// shifting bytes from one field to the next.
    fn field(&mut self, tag: u8, bytes: &[u8]) {
        self.bytes(&[tag]);
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }

    /// Folds one served leaf.
    pub(crate) fn leaf(&mut self, name: &str, value: &LeafValue) {
        self.field(0, name.as_bytes());
        match value {
            LeafValue::Null => self.field(1, &[]),
            LeafValue::Bool(b) => self.field(2, &[u8::from(*b)]),
            LeafValue::Int(i) => self.field(3, &i.to_le_bytes()),
            LeafValue::Float(f) => self.field(4, &f.get().to_bits().to_le_bytes()),
            LeafValue::Text(text) => self.field(5, text.as_bytes()),
            LeafValue::Binary(bytes) => self.field(6, bytes),
            // A kind added later: its text form tells values apart.
            other => self.field(7, other.to_text().as_bytes()),
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// The registered handlers, by MOID.
#[derive(Clone, Default)]
pub(crate) struct Handlers(BTreeMap<Moid, Arc<dyn NodeHandler>>);

impl Handlers {
    pub(crate) fn get(&self, moid: &str) -> Option<&Arc<dyn NodeHandler>> {
        self.0.get(moid)
    }
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl PartialEq for Handlers {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((a, x), (b, y))| a == b && Arc::ptr_eq(x, y))
    }
}

impl MoTree {
    /// Registers the handler behind the nodes of `moid` (replacing any
    /// earlier one).
    pub fn set_handler(&mut self, moid: Moid, handler: Arc<dyn NodeHandler>) {
        self.handlers.0.insert(moid, handler);
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
        crate::ops::check_acl(principal, node.instance, node.id, crate::AclCommand::Exec)?;
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
        Ok(handler.exec(&node.client_uri(), report_to.is_some()))
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
