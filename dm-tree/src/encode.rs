//! MO serialization written straight from the node arena, without building
//! an intermediate `MoData` tree.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::tree::{MoInstance, NodeId};

/// The subtree at a node, as the JSON value of its `MOData` member.
struct Subtree<'a> {
    instance: &'a MoInstance,
    id: NodeId,
}

impl Serialize for Subtree<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(value) = self.instance.value(self.id) {
            return dm_codec::LeafJson(value).serialize(serializer);
        }
        let children = self.instance.children(self.id);
        let mut map = serializer.serialize_map(Some(children.len()))?;
        for &child in children {
            if let Some(name) = self.instance.name(child) {
                map.serialize_entry(
                    name,
                    &Subtree {
                        instance: self.instance,
                        id: child,
                    },
                )?;
            }
        }
        map.end()
    }
}

/// One MO serialization item for a node.
struct Item<'a>(Subtree<'a>);

impl Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Subtree { instance, id } = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ClientURI", instance.client_uri(id).as_str())?;
        if id == NodeId::ROOT {
            map.serialize_entry("CV", instance.cache_validator().as_str())?;
        }
        map.serialize_entry("MOData", &MoDataMember(&self.0))?;
        map.end()
    }
}

/// The `MOData` object: one member named after the node.
struct MoDataMember<'b>(&'b Subtree<'b>);
impl Serialize for MoDataMember<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        let name = self.0.instance.name(self.0.id).unwrap_or_default();
        map.serialize_entry(name, self.0)?;
        map.end()
    }
}

impl MoInstance {
    /// The subtree at `id` as an MO serialization array of one item
    /// (`application/dmmo+json`), written straight from the tree: the
    /// absolute ClientURI, the cache validator at the instance root, and
    /// every node as stored. This is the device's own view (no access
    /// control): reads on behalf of a server go through
    /// [`MoTree::read`](crate::MoTree::read).
    ///
    /// ```
    /// use dm_tree::{MoInstance, NodeId};
    /// use dm_types::{Children, LeafValue, Miid, MoData, MoNode, Moid, NodeName};
    ///
    /// let children = Children::new(vec![(NodeName::new("a")?, MoNode::Leaf(LeafValue::Int(1)))])?;
    /// let data = MoData::new(NodeName::new("r")?, MoNode::Interior(children));
    /// let instance = MoInstance::new(Moid::new("urn:x:y")?, Miid::new("m")?, &data);
    /// let a = instance.lookup(["a"]).unwrap();
    /// assert_eq!(
    ///     instance.encode_mo_serialization(a),
    ///     br#"[{"ClientURI":"urn:x:y/m/a","MOData":{"a":1}}]"#
    /// );
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn encode_mo_serialization(&self, id: NodeId) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * self.len().min(1 << 16));
        let mut serializer = serde_json::Serializer::new(&mut out);
        let item = Item(Subtree { instance: self, id });
        let written = (|| {
            let mut seq = serializer.serialize_seq(Some(1))?;
            seq.serialize_element(&item)?;
            SerializeSeq::end(seq)
        })();
        // Writing to a vector with string keys cannot fail; stay total anyway.
        if written.is_err() {
            out.clear();
        }
        out
    }
}
