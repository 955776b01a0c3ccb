//! Snapshots: the whole tree with its metadata as one stable JSON document,
//! for persistence (dm-client writes it after every session that changed
//! the tree).

use dm_types::{ClientUri, MoItem, NodeName, ServerId, ServerUri};
use serde_json::{Value, json};

use crate::tree::{MoInstance, NodeId};
use crate::{Error, MoTree, Principal, Subscription};

/// The snapshot format version this crate writes and reads.
pub const SNAPSHOT_VERSION: u64 = 1;

impl MoTree {
    /// The whole tree as a JSON document:
    /// `{"format":"dm-tree-snapshot","version":1,"epochs":N,"instances":[...],"subscriptions":[...]}`,
    /// each instance with its MO data (as an MO serialization item), creator
    /// and cache-validator state. Definitions are not stored: register them
    /// again with [`MoTree::define`] before [`MoTree::from_snapshot`].
    ///
    /// ```
    /// use dm_tree::{MoTree, Principal};
    ///
    /// let mut tree = MoTree::new();
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:y//","MOData":{"r":{"a":1}}}]"#, &dm_codec::Limits::default())?;
    /// tree.write(&Principal::Device, None, &items)?;
    /// let restored = MoTree::from_snapshot(&tree.to_snapshot(), MoTree::new())?;
    /// assert_eq!(restored.to_snapshot(), tree.to_snapshot());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_snapshot(&self) -> Vec<u8> {
        let instances: Vec<Value> = self
            .instances()
            .map(|instance| {
                let item = MoItem {
                    ddf: None,
                    client_uri: instance.client_uri(NodeId::ROOT),
                    cache_validator: None,
                    data: instance
                        .to_mo_data(NodeId::ROOT)
                        .unwrap_or_else(|| unreachable!("every instance has a root")),
                };
                let item: Value =
                    serde_json::from_slice(&dm_codec::encode_mo_serialization(&[item]))
                        .unwrap_or(Value::Null);
                let creator = match instance.creator() {
                    Principal::Device => Value::Null,
                    Principal::Server(id) => Value::from(id.as_str()),
                    Principal::Bootstrap(id) => json!({"bootstrap": id.as_str()}),
                };
                let (epoch, version) = instance.validator_state();
                let acls: Vec<Value> = instance
                    .acls()
                    .into_iter()
                    .map(|(path, acl)| {
                        let path: Vec<&str> = path.iter().map(NodeName::as_str).collect();
                        json!({"path": path, "acl": acl.to_string()})
                    })
                    .collect();
                json!({
                    "item": item[0],
                    "creator": creator,
                    "epoch": epoch,
                    "modifications": version,
                    "acls": acls,
                })
            })
            .collect();
        let subscriptions: Vec<Value> = self
            .subscriptions()
            .iter()
            .map(|s| json!({"server": s.server.as_str(), "target": s.target.as_str(), "report_to": s.report_to.as_str()}))
            .collect();
        let document = json!({
            "format": "dm-tree-snapshot",
            "version": SNAPSHOT_VERSION,
            "epochs": self.epochs,
            "instances": instances,
            "subscriptions": subscriptions,
        });
        serde_json::to_vec(&document).unwrap_or_default()
    }

    /// Restores a tree written by [`MoTree::to_snapshot`] into `base` (a tree
    /// holding the definitions to attach, usually empty otherwise). Any
    /// problem — another format or version, malformed MO data, a duplicate
    /// instance — is an error and nothing is returned half-built.
    pub fn from_snapshot(bytes: &[u8], base: MoTree) -> Result<MoTree, Error> {
        let bad = |what: &str| Error::invalid_data("snapshot", what);
        let document: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(&format!("not JSON: {e}")))?;
        if document["format"] != "dm-tree-snapshot" {
            return Err(bad("not a dm-tree snapshot"));
        }
        if document["version"].as_u64() != Some(SNAPSHOT_VERSION) {
            return Err(bad("unsupported version"));
        }
        // The document is already in memory: what the device itself stored
        // (a value beyond the limits servers get, say) loads, bounded by
        // the snapshot's own size.
        let mut limits = dm_codec::Limits::default();
        limits.mo_data_bytes = bytes.len();
        limits.string_length = bytes.len();
        limits.uri_length = bytes.len();
        let mut tree = base;
        let epochs = document["epochs"]
            .as_u64()
            .ok_or_else(|| bad("epochs missing"))?;
        for entry in document["instances"]
            .as_array()
            .ok_or_else(|| bad("instances missing"))?
        {
            let bytes = serde_json::to_vec(&[&entry["item"]]).map_err(|e| bad(&e.to_string()))?;
            let item = dm_codec::decode_mo_serialization(&bytes, &limits)
                .map_err(|e| bad(&e.to_string()))?
                .pop()
                .ok_or_else(|| bad("empty instance item"))?;
            let miid = item
                .client_uri
                .miid()
                .ok_or_else(|| bad("instance without MIID"))?;
            let creator = match &entry["creator"] {
                Value::Null => Principal::Device,
                Value::String(id) => {
                    Principal::Server(ServerId::new(id.as_str()).map_err(|e| bad(&e.to_string()))?)
                }
                Value::Object(object) if object.len() == 1 && object.contains_key("bootstrap") => {
                    let id = object["bootstrap"]
                        .as_str()
                        .ok_or_else(|| bad("a bootstrap creator must be a ServerID"))?;
                    Principal::Bootstrap(ServerId::new(id).map_err(|e| bad(&e.to_string()))?)
                }
                _ => {
                    return Err(bad(
                        "creator must be null, a ServerID or {\"bootstrap\": ServerID}",
                    ));
                }
            };
            let (Some(epoch), Some(version)) =
                (entry["epoch"].as_u64(), entry["modifications"].as_u64())
            else {
                return Err(bad("validator state missing"));
            };
            let miid_text = miid.as_str().to_owned();
            let instance =
                MoInstance::new(item.client_uri.to_moid(), miid, &item.data).with_creator(creator);
            tree.insert(instance)?;
            let inserted = tree
                .instance_mut(item.client_uri.moid(), &miid_text)
                .ok_or_else(|| bad("instance vanished"))?;
            for acl in entry["acls"].as_array().map_or(&[][..], Vec::as_slice) {
                let names: Vec<&str> = acl["path"]
                    .as_array()
                    .ok_or_else(|| bad("ACL path missing"))?
                    .iter()
                    .map(|n| n.as_str().ok_or_else(|| bad("ACL path holds a non-string")))
                    .collect::<Result<_, _>>()?;
                let id = inserted
                    .lookup(names)
                    .ok_or_else(|| bad("ACL on a missing node"))?;
                let text = acl["acl"].as_str().ok_or_else(|| bad("ACL text missing"))?;
                inserted.set_acl(id, Some(text.parse()?));
            }
            inserted.set_validator_state(epoch, version);
        }
        tree.epochs = tree.epochs.max(epochs);
        for entry in document["subscriptions"]
            .as_array()
            .ok_or_else(|| bad("subscriptions missing"))?
        {
            let text = |name: &str| {
                entry[name]
                    .as_str()
                    .ok_or_else(|| bad("subscription field missing"))
            };
            tree.subscriptions.push(Subscription::new(
                ServerId::new(text("server")?).map_err(|e| bad(&e.to_string()))?,
                ClientUri::parse(text("target")?).map_err(|e| bad(&e.to_string()))?,
                ServerUri::new(text("report_to")?).map_err(|e| bad(&e.to_string()))?,
            ));
        }
        tree.refresh_views();
        Ok(tree)
    }
}
