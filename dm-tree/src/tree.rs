//! The store: MO instances keyed by MOID and MIID, each an arena of nodes.

use std::collections::BTreeMap;
use std::sync::Arc;

use dm_ddf::{MoDefinition, NodeDefinition};

use dm_types::{
    CacheValidator, Children, ClientUri, Instance, LeafValue, Miid, MoData, MoItem, MoNode, Moid,
    NodeName, NodeValueCondition, Segment, StatusCode, XName,
};

use crate::Principal;

use crate::Error;

/// The index of a node inside its [`MoInstance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    /// The instance root.
    pub const ROOT: NodeId = NodeId(0);

    fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Content {
    /// Children, kept sorted by name.
    Interior(Vec<NodeId>),
    Leaf(LeafValue),
    /// A slot freed by a removal, waiting for reuse.
    Free,
}

/// A node name stored compactly: names of up to 22 bytes (nearly all) live
/// inside the node, longer ones on the heap.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<str>),
}

impl Name {
    fn new(name: &str) -> Name {
        match u8::try_from(name.len()) {
            Ok(len) if name.len() <= 22 => {
                let mut bytes = [0; 22];
                bytes[..name.len()].copy_from_slice(name.as_bytes());
                Name::Inline { len, bytes }
            }
            _ => Name::Heap(name.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Heap(text) => text.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        // Built from a `&str`, so the bytes are UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The name as a [`NodeName`] (it was one when stored).
    fn to_node_name(&self) -> NodeName {
        NodeName::new(self.as_str()).unwrap_or_else(|_| unreachable!("stored from a NodeName"))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    name: Name,
    /// The parent's index, or [`NO_PARENT`] for the root and free slots
    /// (4 bytes instead of an 8-byte `Option`).
    parent: u32,
    content: Content,
}

const NO_PARENT: u32 = u32::MAX;

/// What a node counts for in [`MoInstance::data_bytes`] besides its name
/// and value.
const NODE_BYTES: usize = 16;

impl Node {
    fn parent_id(&self) -> Option<NodeId> {
        (self.parent != NO_PARENT).then_some(NodeId(self.parent))
    }
}

/// One MO instance: its identity and its nodes, stored in an arena (a vector
/// indexed by [`NodeId`]; children are sorted index lists), so a lookup costs
/// one binary search per path segment.
#[derive(Debug, Clone, PartialEq)]
pub struct MoInstance {
    moid: Moid,
    miid: Miid,
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// DM 1.x ACLs of the few nodes that carry one.
    acls: BTreeMap<NodeId, crate::Acl>,
    definition: Option<Arc<MoDefinition>>,
    creator: Principal,
    /// Set by the tree when the instance is inserted: distinguishes this
    /// instance from an earlier one with the same MIID.
    epoch: u64,
    /// Counts modifications.
    version: u64,
}

impl MoInstance {
    /// An instance whose root is `data`.
    ///
    /// ```
    /// use dm_tree::{MoInstance, NodeId};
    /// use dm_types::{LeafValue, Miid, MoData, MoNode, Moid, NodeName};
    ///
    /// let data = MoData::new(NodeName::new("CBT")?, MoNode::Leaf(LeafValue::from("WLAN")));
    /// let instance = MoInstance::new(Moid::new("urn:x:y")?, Miid::new("s")?, &data);
    /// assert_eq!(instance.value(NodeId::ROOT), Some(&LeafValue::from("WLAN")));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn new(moid: Moid, miid: Miid, data: &MoData) -> MoInstance {
        let mut instance = MoInstance {
            moid,
            miid,
            nodes: Vec::new(),
            free: Vec::new(),
            acls: BTreeMap::new(),
            definition: None,
            creator: Principal::Device,
            epoch: 0,
            version: 0,
        };
        instance.add(data.name(), None, data.node());
        instance
    }

    /// Attaches the MO definition (DDF) that governs AccessType, Scope and
    /// secrecy of the nodes.
    #[must_use]
    pub fn with_definition(mut self, definition: Arc<MoDefinition>) -> MoInstance {
        self.definition = Some(definition);
        self
    }

    /// Records who created the instance (default: the device).
    #[must_use]
    pub fn with_creator(mut self, creator: Principal) -> MoInstance {
        self.creator = creator;
        self
    }

    /// The MO definition, when one is attached.
    pub fn definition(&self) -> Option<&MoDefinition> {
        self.definition.as_deref()
    }

    /// Who created the instance.
    pub fn creator(&self) -> &Principal {
        &self.creator
    }

    /// The cache validator (section 8) of the stored instance: changes on
    /// every modification of the instance, and differs between an instance
    /// and a later one that reuses its MIID in the same tree. When a
    /// [`NodeHandler`](crate::NodeHandler) serves live values of the
    /// instance, servers see [`MoTree::cache_validator_as`] instead, which
    /// also changes with those values.
    ///
    /// ```
    /// use dm_tree::MoInstance;
    /// use dm_types::{Children, LeafValue, Miid, MoData, MoNode, Moid, NodeName};
    ///
    /// let leaf = |v| MoNode::Leaf(LeafValue::Int(v));
    /// let root = MoData::new(NodeName::new("r")?, MoNode::Interior(Children::new(vec![(NodeName::new("a")?, leaf(1))])?));
    /// let mut instance = MoInstance::new(Moid::new("urn:x:y")?, Miid::new("m")?, &root);
    /// let before = instance.cache_validator();
    /// instance.write(&[NodeName::new("a")?], &MoData::new(NodeName::new("a")?, leaf(2)))?;
    /// assert_ne!(instance.cache_validator(), before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_validator(&self) -> CacheValidator {
        CacheValidator::new(format!("{:x}-{:x}", self.epoch, self.version))
            .unwrap_or_else(|_| unreachable!("the text is never empty"))
    }

    /// The cache validator of a handler-backed instance: the stored state
    /// and `live`, the fingerprint of the leaf values a read served
    /// (docs/protocol.md section 8; see [`MoTree::cache_validator_as`]).
    pub(crate) fn live_cache_validator(&self, live: u64) -> CacheValidator {
        CacheValidator::new(format!("{:x}-{:x}-{live:016x}", self.epoch, self.version))
            .unwrap_or_else(|_| unreachable!("the text is never empty"))
    }

    /// Counts a modification the tree did not make itself (a live value
    /// a [`NodeHandler`](crate::NodeHandler) signalled as changed).
    pub(crate) fn touch(&mut self) {
        self.version += 1;
    }

    /// The state behind the cache validator: (epoch, modifications).
    pub(crate) fn validator_state(&self) -> (u64, u64) {
        (self.epoch, self.version)
    }

    /// Restores the state behind the cache validator (snapshots).
    pub(crate) fn set_validator_state(&mut self, epoch: u64, version: u64) {
        self.epoch = epoch;
        self.version = version;
    }

    /// The definition of a node (placeholders match any name): from the
    /// attached definition or, for the standard MOs (DevInfo, DMAcc,
    /// SessionInfo, DACMO), from their standard DDF, so that their secret and
    /// read-only nodes are protected even when no definition was attached.
    pub fn node_definition(&self, id: NodeId) -> Option<&NodeDefinition> {
        let definition = self.governing_definition()?;
        let root = self.nodes.first()?.name.as_str();
        let path = self.path(id);
        definition.lookup(std::iter::once(root).chain(path.iter().map(NodeName::as_str)))
    }

    /// The definition that governs the instance: the attached one or, for
    /// the standard MOs (DevInfo, DMAcc, SessionInfo, DACMO), their
    /// standard DDF, so that their rules hold even when no definition was
    /// attached.
    pub fn governing_definition(&self) -> Option<&MoDefinition> {
        self.definition
            .as_deref()
            .or_else(|| standard_definition(&self.moid))
    }

    /// The MO type.
    pub fn moid(&self) -> &Moid {
        &self.moid
    }

    /// The instance identifier.
    pub fn miid(&self) -> &Miid {
        &self.miid
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// The instance's size as [`TreeLimits`](crate::TreeLimits) count it:
    /// for each node, its name, its value (texts and binaries by length,
    /// other values as 8 bytes) and 16 bytes for the node itself. Close to
    /// the length of its MO serialization, and cheap: one pass over the
    /// nodes.
    ///
    /// ```
    /// use dm_tree::MoInstance;
    /// use dm_types::{LeafValue, Miid, MoData, MoNode, Moid, NodeName};
    ///
    /// let data = MoData::new(NodeName::new("CBT")?, MoNode::Leaf(LeafValue::from("WLAN")));
    /// let instance = MoInstance::new(Moid::new("urn:x:y")?, Miid::new("s")?, &data);
    /// assert_eq!(instance.data_bytes(), 3 + 4 + 16);
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn data_bytes(&self) -> usize {
        self.nodes
            .iter()
            .map(|node| {
                let value = match &node.content {
                    Content::Free => return 0,
                    Content::Interior(_) => 0,
                    Content::Leaf(LeafValue::Text(text)) => text.len(),
                    Content::Leaf(LeafValue::Binary(bytes)) => bytes.len(),
                    Content::Leaf(_) => 8,
                };
                NODE_BYTES + node.name.as_str().len() + value
            })
            .sum()
    }

    /// Whether the instance has no nodes (never true: the root exists).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes
            .get(id.index())
            .filter(|n| n.content != Content::Free)
    }

    /// Adds `content` (and its subtree) as a node; returns its id.
    fn add(&mut self, name: &NodeName, parent: Option<NodeId>, content: &MoNode) -> NodeId {
        let node = Node {
            name: Name::new(name.as_str()),
            parent: parent.map_or(NO_PARENT, |p| p.0),
            content: match content {
                MoNode::Leaf(value) => Content::Leaf(value.clone()),
                MoNode::Interior(_) => Content::Interior(Vec::new()),
            },
        };
        let id = if let Some(id) = self.free.pop() {
            self.nodes[id.index()] = node;
            id
        } else {
            let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
            self.nodes.push(node);
            id
        };
        if let MoNode::Interior(children) = content {
            // Children arrive sorted by name, so the index list is sorted too.
            let ids: Vec<NodeId> = children
                .iter()
                .map(|(child_name, child)| self.add(child_name, Some(id), child))
                .collect();
            self.nodes[id.index()].content = Content::Interior(ids);
        }
        id
    }

    /// Frees `id` and its subtree.
    fn remove_subtree(&mut self, id: NodeId) {
        let mut stack = vec![id];
        while let Some(current) = stack.pop() {
            let slot = &mut self.nodes[current.index()];
            if let Content::Interior(children) = std::mem::replace(&mut slot.content, Content::Free)
            {
                stack.extend(children);
            }
            slot.parent = NO_PARENT;
            self.acls.remove(&current);
            self.free.push(current);
        }
    }

    /// Sets (or with `None` clears) the DM 1.x ACL of a node; an empty ACL
    /// is the same as none (the parent's applies). Returns whether the node
    /// exists.
    pub fn set_acl(&mut self, id: NodeId, acl: Option<crate::Acl>) -> bool {
        let exists = self.node(id).is_some();
        if exists {
            match acl.filter(|a| !a.is_empty()) {
                Some(acl) => self.acls.insert(id, acl),
                None => self.acls.remove(&id),
            };
            self.version += 1;
        }
        exists
    }

    /// Every node carrying an ACL, with its path below the root.
    pub(crate) fn acls(&self) -> Vec<(Vec<NodeName>, &crate::Acl)> {
        self.acls
            .iter()
            .map(|(&id, acl)| (self.path(id), acl))
            .collect()
    }

    /// Whether any node of the instance carries a DM 1.x ACL.
    pub fn has_acls(&self) -> bool {
        !self.acls.is_empty()
    }

    /// The ACL set on this very node.
    pub fn acl(&self, id: NodeId) -> Option<&crate::Acl> {
        self.node(id)?;
        self.acls.get(&id)
    }

    /// The ACL in force for a node: its own, or the nearest ancestor's.
    pub fn effective_acl(&self, id: NodeId) -> Option<&crate::Acl> {
        let mut current = Some(id);
        while let Some(id) = current {
            let node = self.node(id)?;
            if let Some(acl) = self.acls.get(&id) {
                return Some(acl);
            }
            current = node.parent_id();
        }
        None
    }

    /// The parent of a node (`None` for the root and unknown ids).
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.node(id)?.parent_id()
    }

    /// The name of a node.
    pub fn name(&self, id: NodeId) -> Option<&str> {
        self.node(id).map(|n| n.name.as_str())
    }

    /// The value of a leaf (`None` for interior nodes and unknown ids).
    pub fn value(&self, id: NodeId) -> Option<&LeafValue> {
        match &self.node(id)?.content {
            Content::Leaf(value) => Some(value),
            _ => None,
        }
    }

    /// The children of an interior node, in name order (empty for a leaf).
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        match self.node(id).map(|n| &n.content) {
            Some(Content::Interior(children)) => children,
            _ => &[],
        }
    }

    /// The child of `id` named `name`.
    pub fn child(&self, id: NodeId, name: &str) -> Option<NodeId> {
        let children = self.children(id);
        children
            .binary_search_by(|c| self.nodes[c.index()].name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| children[i])
    }

    /// The node at `path` (names below the root).
    pub fn lookup<'a>(&self, path: impl IntoIterator<Item = &'a str>) -> Option<NodeId> {
        path.into_iter()
            .try_fold(NodeId::ROOT, |id, name| self.child(id, name))
    }

    /// The names from the root (excluded) down to `id`.
    pub fn path(&self, id: NodeId) -> Vec<NodeName> {
        let mut names = Vec::new();
        let mut current = id;
        while let Some(node) = self.node(current) {
            let Some(parent) = node.parent_id() else {
                break;
            };
            names.push(node.name.to_node_name());
            current = parent;
        }
        names.reverse();
        names
    }

    /// The absolute ClientURI of a node (`MOID/MIID/path`).
    pub fn client_uri(&self, id: NodeId) -> ClientUri {
        ClientUri::absolute(&self.moid, &self.miid, &self.path(id))
    }

    /// The subtree at `id` as MO data.
    pub fn to_mo_data(&self, id: NodeId) -> Option<MoData> {
        let node = self.node(id)?;
        Some(MoData::new(node.name.to_node_name(), self.to_mo_node(id)))
    }

    fn to_mo_node(&self, id: NodeId) -> MoNode {
        match self.node(id).map(|n| &n.content) {
            Some(Content::Leaf(value)) => MoNode::Leaf(value.clone()),
            Some(Content::Interior(children)) => {
                let children = children
                    .iter()
                    .map(|&c| {
                        (
                            self.nodes[c.index()].name.to_node_name(),
                            self.to_mo_node(c),
                        )
                    })
                    .collect();
                // Names are unique and sorted already.
                MoNode::Interior(Children::new(children).unwrap_or_default())
            }
            _ => MoNode::Leaf(LeafValue::Null),
        }
    }

    /// Replaces the node at `path` with `data` (whose name must be the last
    /// path name), creating it when its parent exists. An empty path replaces
    /// the whole instance content, keeping the root name of `data`.
    ///
    /// Nodes that exist before and after (same path) keep their DM 1.x ACLs
    /// (docs/protocol.md section 7); the ACLs of removed nodes go with them.
    pub fn write(&mut self, path: &[NodeName], data: &MoData) -> Result<NodeId, Error> {
        let kept = self.acls_below(path);
        let id = self.replace(path, data)?;
        for (names, acl) in kept {
            if let Some(node) = self.lookup(names.iter().map(NodeName::as_str)) {
                self.acls.insert(node, acl);
            }
        }
        Ok(id)
    }

    /// The ACLs set on the node at `path` and its descendants, by path.
    fn acls_below(&self, path: &[NodeName]) -> Vec<(Vec<NodeName>, crate::Acl)> {
        if self.acls.is_empty() {
            return Vec::new();
        }
        self.acls
            .iter()
            .map(|(&id, acl)| (self.path(id), acl))
            .filter(|(names, _)| names.starts_with(path))
            .map(|(names, acl)| (names, acl.clone()))
            .collect()
    }

    fn replace(&mut self, path: &[NodeName], data: &MoData) -> Result<NodeId, Error> {
        let Some((last, parents)) = path.split_last() else {
            let fresh = MoInstance::new(self.moid.clone(), self.miid.clone(), data);
            self.nodes = fresh.nodes;
            self.free = fresh.free;
            self.acls.clear();
            self.version += 1;
            return Ok(NodeId::ROOT);
        };
        if data.name() != last {
            return Err(Error::invalid_data(
                self.client_uri(NodeId::ROOT),
                format!(
                    "MOData names {:?} but the target node is {:?}",
                    data.name().as_str(),
                    last.as_str()
                ),
            ));
        }
        let parent = self
            .lookup(parents.iter().map(NodeName::as_str))
            .ok_or(Error::NotFound)?;
        if self.value(parent).is_some() {
            return Err(Error::invalid_data(
                self.client_uri(parent),
                "the parent of the target is a leaf",
            ));
        }
        if let Some(existing) = self.child(parent, last.as_str()) {
            self.detach(existing);
        }
        let id = self.add(last, Some(parent), data.node());
        self.version += 1;
        let names = &self.nodes;
        if let Content::Interior(children) = &self.nodes[parent.index()].content {
            let position = children
                .binary_search_by(|c| {
                    names[c.index()]
                        .name
                        .as_bytes()
                        .cmp(last.as_str().as_bytes())
                })
                .unwrap_or_else(|i| i);
            if let Content::Interior(children) = &mut self.nodes[parent.index()].content {
                children.insert(position, id);
            }
        }
        Ok(id)
    }

    /// Removes a non-root node and its subtree.
    ///
    /// ```
    /// use dm_tree::{MoInstance, NodeId};
    /// use dm_types::{Children, LeafValue, Miid, MoData, MoNode, Moid, NodeName};
    ///
    /// let children = Children::new(vec![(NodeName::new("a")?, MoNode::Leaf(LeafValue::Int(1)))])?;
    /// let data = MoData::new(NodeName::new("r")?, MoNode::Interior(children));
    /// let mut instance = MoInstance::new(Moid::new("urn:x:y")?, Miid::new("m")?, &data);
    /// let a = instance.lookup(["a"]).unwrap();
    /// assert!(instance.delete(a));
    /// assert_eq!(instance.lookup(["a"]), None);
    /// assert!(!instance.delete(NodeId::ROOT));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn delete(&mut self, id: NodeId) -> bool {
        if id == NodeId::ROOT || self.node(id).is_none() {
            return false;
        }
        self.detach(id);
        self.version += 1;
        true
    }

    fn detach(&mut self, id: NodeId) {
        if let Some(parent) = self.nodes[id.index()].parent_id()
            && let Content::Interior(children) = &mut self.nodes[parent.index()].content
        {
            children.retain(|&c| c != id);
        }
        self.remove_subtree(id);
    }

    /// Whether the node standing for `xname` satisfies every `nv` condition
    /// on that x-name: each names a leaf (relative path) whose value, as
    /// text, equals the condition's value. Interior nodes never match, and
    /// neither does a leaf that `observable` rejects (docs/protocol.md
    /// section 7: a leaf the server may not read is as if absent). Whether
    /// the leaf may be read is decided before its value is looked at, so a
    /// hidden value is never compared.
    fn satisfies(
        &self,
        id: NodeId,
        xname: XName,
        conditions: &[NodeValueCondition<'_>],
        observable: &dyn Fn(&MoInstance, NodeId) -> bool,
    ) -> bool {
        conditions
            .iter()
            .filter(|c| c.xname() == xname)
            .all(|condition| {
                let target = condition
                    .path()
                    .try_fold(id, |current, name| self.child(current, &name))
                    .filter(|&t| observable(self, t));
                target
                    .and_then(|t| self.value(t))
                    .is_some_and(|value| value.to_text() == condition.value())
            })
    }
}

impl crate::node_handler::InstanceView for MoInstance {
    fn miid(&self) -> &str {
        self.miid.as_str()
    }

    fn value(&self, path: &str) -> Option<&LeafValue> {
        let id = self.lookup(path.split('/').filter(|s| !s.is_empty()))?;
        MoInstance::value(self, id)
    }

    fn children(&self, path: &str) -> Vec<&str> {
        self.lookup(path.split('/').filter(|s| !s.is_empty()))
            .map(|id| {
                MoInstance::children(self, id)
                    .iter()
                    .filter_map(|&child| self.name(child))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A node found by [`MoTree::resolve`].
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    /// The instance holding the node.
    pub instance: &'a MoInstance,
    /// The node.
    pub id: NodeId,
}

impl NodeRef<'_> {
    /// The node's absolute ClientURI.
    pub fn client_uri(&self) -> ClientUri {
        self.instance.client_uri(self.id)
    }
}

/// The device's MO instances, by MOID then MIID (both in sorted order, so
/// every listing and resolution result comes in a stable order).
///
/// ```
/// use dm_tree::MoTree;
/// use dm_types::ClientUri;
///
/// let items = dm_codec::decode_mo_serialization(
///     br#"[{"ClientURI":"urn:oma:mo:moid:1.0/left/","MOData":{"moroot1":{"ID":"GPS","Setting":"0xA1"}}},
///          {"ClientURI":"urn:oma:mo:moid:1.0/right/","MOData":{"moroot2":{"ID":"Temp","Setting":"0xB2"}}}]"#,
///     &dm_codec::Limits::default(),
/// )?;
/// let tree = MoTree::from_mo_serialization(&items)?;
/// let found = tree.resolve(&ClientUri::parse("urn:oma:mo:moid:1.0/(x)/Setting?nv=(x)/ID:GPS")?)?;
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].client_uri().as_str(), "urn:oma:mo:moid:1.0/left/Setting");
/// let err = tree.resolve(&ClientUri::parse("urn:oma:mo:moid:1.0//Setting")?).unwrap_err();
/// assert_eq!(err.status().as_u16(), 409);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MoTree {
    /// Instances by MOID then MIID. Boxed: a B-tree node holds room for
    /// eleven entries, so an inline `MoInstance` would make every MOID cost
    /// a node of about 2 KB even when it has a single instance; boxed, the
    /// node holds pointers and each instance costs only its own size.
    pub(crate) instances: BTreeMap<Moid, BTreeMap<Miid, Box<MoInstance>>>,
    /// Definitions attached to instances of each MOID as they are inserted.
    pub(crate) definitions: BTreeMap<Moid, Arc<MoDefinition>>,
    /// The last epoch handed to an inserted instance.
    pub(crate) epochs: u64,
    /// SUB subscriptions, in the order made.
    pub(crate) subscriptions: Vec<crate::Subscription>,
    /// Live behaviour, by MOID.
    pub(crate) handlers: crate::node_handler::Handlers,
    /// What servers can make the tree hold.
    pub(crate) limits: crate::TreeLimits,
}

impl MoTree {
    /// An empty tree.
    pub fn new() -> MoTree {
        MoTree::default()
    }

    /// Builds a tree from MO serialization items whose ClientURIs name
    /// concrete MIIDs (`MOID/MIID/path`): an item at an instance root creates
    /// (or replaces) the instance, an item with a path writes into an
    /// instance created by an earlier item.
    pub fn from_mo_serialization(items: &[MoItem]) -> Result<MoTree, Error> {
        let mut tree = MoTree::new();
        for item in items {
            let uri = &item.client_uri;
            let miid = match uri.instance() {
                Instance::Miid(miid) => Miid::new(miid.into_owned())
                    .map_err(|e| Error::invalid_data(uri, e.to_string()))?,
                _ => {
                    return Err(Error::invalid_data(uri, "the ClientURI must name a MIID"));
                }
            };
            let path = absolute_path(uri)?;
            let moid = uri.to_moid();
            if path.is_empty() {
                let instance = MoInstance::new(moid.clone(), miid.clone(), &item.data);
                tree.instances
                    .entry(moid)
                    .or_default()
                    .insert(miid, Box::new(instance));
            } else {
                let instance = tree
                    .instances
                    .get_mut(&moid)
                    .and_then(|m| m.get_mut(&miid))
                    .ok_or(Error::NotFound)?;
                instance.write(&path, &item.data)?;
            }
        }
        Ok(tree)
    }

    /// What servers can make the tree hold ([`TreeLimits::default`](crate::TreeLimits) unless set).
    pub fn limits(&self) -> crate::TreeLimits {
        self.limits
    }

    /// Sets what servers can make the tree hold. Already stored data and
    /// subscriptions stay; only later server commands are checked.
    pub fn set_limits(&mut self, limits: crate::TreeLimits) {
        self.limits = limits;
    }

    /// The size of every instance ([`MoInstance::data_bytes`]), summed.
    ///
    /// ```
    /// use dm_tree::{MoTree, Principal};
    ///
    /// let mut tree = MoTree::new();
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:y//","MOData":{"r":{"a":"xyz"}}}]"#, &dm_codec::Limits::default())?;
    /// tree.write(&Principal::Device, None, &items)?;
    /// assert_eq!(tree.data_bytes(), (16 + 1) + (16 + 1 + 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn data_bytes(&self) -> usize {
        self.instances().map(MoInstance::data_bytes).sum()
    }

    /// Registers the definition that instances of `moid` get when they are
    /// inserted without one.
    pub fn define(&mut self, moid: Moid, definition: Arc<MoDefinition>) {
        self.definitions.insert(moid, definition);
    }

    /// Adds a new instance (attaching the registered definition of its MOID
    /// when it has none).
    pub fn insert(&mut self, mut instance: MoInstance) -> Result<(), Error> {
        if instance.definition.is_none() {
            instance.definition = self.definitions.get(&instance.moid).cloned();
        }
        self.epochs += 1;
        instance.epoch = self.epochs;
        let by_miid = self.instances.entry(instance.moid.clone()).or_default();
        if by_miid.contains_key(&instance.miid) {
            return Err(Error::InstanceExists);
        }
        by_miid.insert(instance.miid.clone(), Box::new(instance));
        Ok(())
    }

    /// Removes an instance.
    pub fn remove(&mut self, moid: &str, miid: &str) -> Option<MoInstance> {
        let by_miid = self.instances.get_mut(moid)?;
        let removed = by_miid.remove(miid);
        if by_miid.is_empty() {
            self.instances.remove(moid);
        }
        removed.map(|instance| *instance)
    }

    /// The instance `moid`/`miid`.
    pub fn instance(&self, moid: &str, miid: &str) -> Option<&MoInstance> {
        self.instances.get(moid)?.get(miid).map(Box::as_ref)
    }

    /// The instance `moid`/`miid`, for changes.
    pub fn instance_mut(&mut self, moid: &str, miid: &str) -> Option<&mut MoInstance> {
        self.instances.get_mut(moid)?.get_mut(miid).map(Box::as_mut)
    }

    /// Every instance, by MOID then MIID.
    pub fn instances(&self) -> impl Iterator<Item = &MoInstance> {
        self.instances
            .values()
            .flat_map(BTreeMap::values)
            .map(Box::as_ref)
    }

    /// The instances of one MO type, by MIID.
    pub fn instances_of(&self, moid: &str) -> impl Iterator<Item = &MoInstance> {
        self.instances
            .get(moid)
            .into_iter()
            .flat_map(BTreeMap::values)
            .map(Box::as_ref)
    }

    /// Resolves a ClientURI to the nodes it designates (docs/protocol.md section
    /// 9), in a stable order: instances by MIID, then children by name.
    ///
    /// Errors: [`Error::NotFound`] (404) when nothing matches,
    /// [`Error::Ambiguous`] (409) for an empty instance part with several
    /// instances. The walk is iterative, so a ClientURI of any length costs
    /// no stack.
    pub fn resolve(&self, uri: &ClientUri) -> Result<Vec<NodeRef<'_>>, Error> {
        self.resolve_among(uri, |_| true, &|_, _| true)
    }

    /// [`MoTree::resolve`] over the instances `visible` accepts: the others do
    /// not exist for this resolution (skipped by `*` and x-names, not counted
    /// by the empty instance part, 404 by MIID). An `nv` condition matches
    /// only leaves that `observable` accepts.
    pub(crate) fn resolve_among(
        &self,
        uri: &ClientUri,
        visible: impl Fn(&MoInstance) -> bool,
        observable: &dyn Fn(&MoInstance, NodeId) -> bool,
    ) -> Result<Vec<NodeRef<'_>>, Error> {
        let by_miid = self.instances.get(uri.moid()).ok_or(Error::NotFound)?;
        let visible_instances = || by_miid.values().map(Box::as_ref).filter(|i| visible(i));
        let conditions: Vec<NodeValueCondition<'_>> = uri.conditions().collect();
        let mut frontier: Vec<NodeRef<'_>> = match uri.instance() {
            Instance::Miid(miid) => by_miid
                .get(miid.as_ref())
                .filter(|i| visible(i))
                .map(|instance| NodeRef {
                    instance,
                    id: NodeId::ROOT,
                })
                .into_iter()
                .collect(),
            Instance::Sole => {
                let mut all = visible_instances();
                match (all.next(), all.next()) {
                    (Some(instance), None) => vec![NodeRef {
                        instance,
                        id: NodeId::ROOT,
                    }],
                    (None, _) => Vec::new(),
                    (Some(_), Some(_)) => {
                        return Err(Error::Ambiguous {
                            instances: visible_instances().count(),
                        });
                    }
                }
            }
            Instance::XName(x) => visible_instances()
                .filter(|instance| instance.satisfies(NodeId::ROOT, x, &conditions, observable))
                .map(|instance| NodeRef {
                    instance,
                    id: NodeId::ROOT,
                })
                .collect(),
            _ => visible_instances()
                .map(|instance| NodeRef {
                    instance,
                    id: NodeId::ROOT,
                })
                .collect(),
        };
        for segment in uri.path() {
            let mut next = Vec::with_capacity(frontier.len());
            for node in &frontier {
                let instance = node.instance;
                match &segment {
                    Segment::Name(name) => {
                        if let Some(id) = instance.child(node.id, name) {
                            next.push(NodeRef { instance, id });
                        }
                    }
                    Segment::XName(x) => next.extend(
                        instance
                            .children(node.id)
                            .iter()
                            .filter(|&&c| instance.satisfies(c, *x, &conditions, observable))
                            .map(|&id| NodeRef { instance, id }),
                    ),
                    _ => next.extend(
                        instance
                            .children(node.id)
                            .iter()
                            .map(|&id| NodeRef { instance, id }),
                    ),
                }
            }
            frontier = next;
            if frontier.is_empty() {
                break;
            }
        }
        if frontier.is_empty() {
            return Err(Error::NotFound);
        }
        Ok(frontier)
    }
}

impl MoTree {
    /// Resolves ClientURI text and reports the outcome as a status code and
    /// the designated nodes as sorted absolute ClientURIs — `400` and no
    /// nodes for malformed text (what `dm uri resolve` prints).
    ///
    /// ```
    /// use dm_tree::MoTree;
    ///
    /// let tree = MoTree::new();
    /// assert_eq!(tree.resolve_str("urn:x:y/a/").0.as_u16(), 404);
    /// assert_eq!(tree.resolve_str("urn:x:y/a").0.as_u16(), 400);
    /// ```
    pub fn resolve_str(&self, text: &str) -> (StatusCode, Vec<ClientUri>) {
        let uri = match ClientUri::parse(text) {
            Ok(uri) => uri,
            Err(e) => return (e.status(), Vec::new()),
        };
        match self.resolve(&uri) {
            Ok(nodes) => {
                let mut uris: Vec<ClientUri> = nodes.iter().map(NodeRef::client_uri).collect();
                uris.sort();
                (StatusCode::OK, uris)
            }
            Err(e) => (e.status(), Vec::new()),
        }
    }
}

/// The standard definition of `moid` (DevInfo, DMAcc, SessionInfo, DACMO).
pub(crate) fn standard_definition(moid: &Moid) -> Option<&'static MoDefinition> {
    dm_ddf::standard::all()
        .into_iter()
        .find(|d| d.ddf_name() == Some(moid.as_str()))
}

/// The path names of an absolute ClientURI.
fn absolute_path(uri: &ClientUri) -> Result<Vec<NodeName>, Error> {
    uri.path()
        .map(|segment| match segment {
            Segment::Name(name) => NodeName::new(name.into_owned())
                .map_err(|e| Error::invalid_data(uri, e.to_string())),
            _ => Err(Error::invalid_data(
                uri,
                "expected an absolute ClientURI (no wildcards or x-names)",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_behave_alike() {
        let long = "n".repeat(23);
        let names = ["a", "é", &"x".repeat(22), long.as_str(), "zz"];
        let children = names
            .iter()
            .map(|n| {
                (
                    NodeName::new(*n).expect("name"),
                    MoNode::Leaf(LeafValue::Int(1)),
                )
            })
            .collect();
        let data = MoData::new(
            NodeName::new("r").expect("name"),
            MoNode::Interior(Children::new(children).expect("unique")),
        );
        let instance = MoInstance::new(
            Moid::new("urn:x:y").expect("moid"),
            Miid::new("m").expect("miid"),
            &data,
        );
        for name in names {
            let id = instance.lookup([name]).expect("found");
            assert_eq!(instance.name(id), Some(name));
            assert_eq!(instance.path(id)[0].as_str(), name);
        }
        assert_eq!(instance.to_mo_data(NodeId::ROOT), Some(data));
        assert!(matches!(Name::new(&long), Name::Heap(_)));
        assert!(matches!(Name::new(&"x".repeat(22)), Name::Inline { .. }));
    }
}
