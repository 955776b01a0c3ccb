//! The [`NodeHandler`] seam through which a product backs nodes with live
//! values and executable actions, and the handlers a tree holds.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use dm_types::{Alert, ClientUri, LeafValue, Moid, StatusCode};

/// What an EXEC did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Finished with this status.
    Done(StatusCode),
    /// Running: the final status follows later as an alert (`202`).
    Started,
}

/// Backs the nodes of one MO type with live behaviour (battery level,
/// firmware update, ...). Registered per MOID with [`MoTree::set_handler`](crate::MoTree::set_handler).
///
/// Live values and caching (docs/protocol.md section 8): the cache
/// validator servers see for an instance with a handler folds in the values
/// a read serves ([`MoTree::cache_validator_as`](crate::MoTree::cache_validator_as)), so it changes when a live
/// value does, without the handler doing anything. For SUB, the product
/// signals a change with [`MoTree::mark_changed`](crate::MoTree::mark_changed) (in a device client:
/// `DmClient::notify_changed`), which reports it to the subscriptions like a
/// write.
///
/// ```
/// use dm_tree::{ExecOutcome, InstanceView, NodeHandler};
/// use dm_types::{ClientUri, LeafValue, StatusCode};
///
/// struct Battery;
///
/// impl NodeHandler for Battery {
///     fn read(&self, node: &ClientUri) -> Option<LeafValue> {
///         node.as_str().ends_with("/Level").then(|| LeafValue::Int(87))
///     }
///     fn exec(&self, _node: &ClientUri, instance: &dyn InstanceView, _asynchronous: bool) -> ExecOutcome {
///         // What the server wrote into the instance drives the action.
///         match instance.value("Calibrate/Mode") {
///             Some(LeafValue::Text(mode)) if mode == "full" => ExecOutcome::Started,
///             _ => ExecOutcome::Done(StatusCode::OK),
///         }
///     }
/// }
/// ```
pub trait NodeHandler: Send + Sync {
    /// The live value of the leaf at `node`; `None` keeps the stored value.
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        let _ = node;
        None
    }

    /// Executes the node (its absolute ClientURI). `instance` is a
    /// read-only view of the MO instance holding it, with the stored values
    /// servers wrote (a FUMO `PkgURL`, say). `asynchronous` is true when
    /// the server asked for the result to be reported later (EXEC with a
    /// ServerURI).
    fn exec(
        &self,
        node: &ClientUri,
        instance: &dyn InstanceView,
        asynchronous: bool,
    ) -> ExecOutcome;

    /// The generic alert reporting that an asynchronous EXEC of `node` (as
    /// the server named it: the alert's `SourceURI`) ended with `status`:
    /// the MO chooses its alert type (docs/protocol.md sections 6 and 13:
    /// FUMO reports `org.openmobilealliance.dm.firmwareupdate.update`,
    /// SCOMO `urn:oma:at:scomo:1.0:OperationComplete`). The default is
    /// `urn:oma:at:dm:2.0:ExecComplete` with `Data` `{"sc": status}`.
    ///
    /// ```
    /// use dm_tree::{ExecOutcome, InstanceView, NodeHandler};
    /// use dm_types::{Alert, AlertType, ClientUri, StatusCode};
    ///
    /// struct Fumo;
    ///
    /// impl NodeHandler for Fumo {
    ///     fn exec(&self, _node: &ClientUri, _instance: &dyn InstanceView, _asynchronous: bool) -> ExecOutcome {
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

/// A read-only view of one MO instance, as a [`NodeHandler`] sees the
/// instance whose node it executes ([`MoInstance`](crate::MoInstance)
/// implements it). Paths are relative to the instance root, their segments
/// separated by `/` (`Download/PkgURL`; the empty path is the root). The
/// values are the stored ones, not those a handler serves live.
///
/// ```
/// use dm_tree::{InstanceView, MoTree};
/// use dm_types::LeafValue;
///
/// let items = dm_codec::decode_mo_serialization(
///     br#"[{"ClientURI":"urn:x:fw:1.0/fw/","MOData":{"FW":{"Download":{"PkgURL":"https://u.example/p"},"State":10}}}]"#,
///     &dm_codec::Limits::default(),
/// )?;
/// let tree = MoTree::from_mo_serialization(&items)?;
/// let view: &dyn InstanceView = tree.instance("urn:x:fw:1.0", "fw").unwrap();
/// assert_eq!(view.miid(), "fw");
/// assert_eq!(view.value("Download/PkgURL"), Some(&LeafValue::from("https://u.example/p")));
/// assert_eq!(view.value("Download"), None);
/// assert_eq!(view.children(""), ["Download", "State"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait InstanceView {
    /// The instance's MIID.
    fn miid(&self) -> &str;

    /// The stored value of the leaf at `path` (`None` for an interior
    /// node or no node).
    fn value(&self, path: &str) -> Option<&LeafValue>;

    /// The names of the children of the node at `path`, in the tree's
    /// order (empty for a leaf or no node).
    fn children(&self, path: &str) -> Vec<&str>;
}

/// The registered handlers, by MOID.
#[derive(Clone, Default)]
pub(crate) struct Handlers(BTreeMap<Moid, Arc<dyn NodeHandler>>);

impl Handlers {
    pub(crate) fn get(&self, moid: &str) -> Option<&Arc<dyn NodeHandler>> {
        self.0.get(moid)
    }

    /// Registers `handler` for `moid`, replacing any earlier one.
    pub(crate) fn insert(&mut self, moid: Moid, handler: Arc<dyn NodeHandler>) {
        self.0.insert(moid, handler);
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
