//! Operations on behalf of a principal, with access control (PROTOCOL.md
//! sections 4, 7 and 8): visibility, rights, DDF AccessType and Scope,
//! secret nodes, cache validators.

use dm_types::{AccessType, ClientUri, MoItem, MoNode, NodeName, Scope, ServerId};

use crate::tree::{MoInstance, NodeId, NodeRef};
use crate::{Error, MoTree, Principal, Rights};

/// The DMAcc MOID: one instance per server, holding its `Perm` MOID list.
pub const DMACC_MOID: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
/// The Delegation Access Control MOID: one instance per controlled MO
/// instance, holding its ACL.
pub const DACMO_MOID: &str = "urn:oma:mo:oma-dm-dacmo:1.0";

/// The outcome of a read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutcome {
    /// The data of every resolved node, in parameter then node order.
    Data(Vec<MoItem>),
    /// Every target carried a `cv` that still matches: `304`, no data.
    NotModified,
}

impl MoTree {
    /// The MOIDs a server may manage: the `Perm/*/MOID` values of the DMAcc
    /// instance whose `SrvID` is `server`.
    ///
    /// ```
    /// use dm_tree::MoTree;
    /// use dm_types::ServerId;
    ///
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/acc1/","MOData":{"acc1":{"SrvID":"dm1",
    ///          "Perm":{"1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.2"}}}}}]"#,
    ///     &dm_codec::Limits::default(),
    /// )?;
    /// let tree = MoTree::from_mo_serialization(&items)?;
    /// assert_eq!(tree.allowed_moids(&ServerId::new("dm1")?), ["urn:oma:mo:oma-dm-devinfo:1.2"]);
    /// assert!(tree.allowed_moids(&ServerId::new("dm2")?).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allowed_moids(&self, server: &ServerId) -> Vec<String> {
        let Some(account) = self.account(server) else {
            return Vec::new();
        };
        let Some(perm) = account.child(NodeId::ROOT, "Perm") else {
            return Vec::new();
        };
        account
            .children(perm)
            .iter()
            .filter_map(|&entry| account.child(entry, "MOID"))
            .filter_map(|moid| account.value(moid))
            .map(|value| value.to_text().into_owned())
            .collect()
    }

    /// The DMAcc instance describing `server`.
    fn account(&self, server: &ServerId) -> Option<&MoInstance> {
        self.instances_of(DMACC_MOID)
            .find(|account| describes(account, server))
    }

    /// The rights `principal` holds on `instance` (section 7):
    /// - the device holds every right;
    /// - a server holds none on an MOID missing from its `Perm` list (the
    ///   DACMO excepted);
    /// - a DACMO entry is readable by servers that see the controlled
    ///   instance, and writable by those holding Delegate on it;
    /// - when a DACMO entry controls the instance, its ACL decides;
    /// - otherwise an instance the device created is readable by every
    ///   allowed server, except a DMAcc instance, readable only by the server
    ///   it describes; an instance a server created without a DACMO entry
    ///   belongs to that server alone.
    pub fn rights(&self, principal: &Principal, instance: &MoInstance) -> Rights {
        let Principal::Server(server) = principal else {
            return Rights::ALL;
        };
        if instance.moid().as_str() == DACMO_MOID {
            let Some((moid, miid)) = controlled(instance) else {
                return Rights::NONE;
            };
            let Some(target) = self.instance(&moid, &miid) else {
                return Rights::NONE;
            };
            let held = self.rights(principal, target);
            return match (held.is_empty(), held.contains(Rights::DELEGATE)) {
                (true, _) => Rights::NONE,
                (false, false) => Rights::READ,
                (false, true) => Rights::READ | Rights::WRITE,
            };
        }
        if !self
            .allowed_moids(server)
            .iter()
            .any(|m| m == instance.moid().as_str())
        {
            return Rights::NONE;
        }
        if let Some(acl) = self.acl_of(instance) {
            return acl
                .iter()
                .find(|(id, _)| id == server.as_str())
                .map_or(Rights::NONE, |(_, rights)| *rights);
        }
        match instance.creator() {
            Principal::Device => {
                if instance.moid().as_str() == DMACC_MOID && !describes(instance, server) {
                    Rights::NONE
                } else {
                    Rights::READ
                }
            }
            Principal::Server(creator) if creator == server => Rights::ALL,
            Principal::Server(_) => Rights::NONE,
        }
    }

    /// The ACL of the DACMO entry controlling `instance`, when there is one:
    /// `(ServerID, Rights)` pairs (unparsable rights count as none).
    fn acl_of(&self, instance: &MoInstance) -> Option<Vec<(String, Rights)>> {
        let entry = self.instances_of(DACMO_MOID).find(|entry| {
            controlled(entry).is_some_and(|(moid, miid)| {
                moid == instance.moid().as_str() && miid == instance.miid().as_str()
            })
        })?;
        let acl = entry.child(NodeId::ROOT, "ACL");
        Some(
            acl.map(|acl| entry.children(acl))
                .unwrap_or_default()
                .iter()
                .filter_map(|&item| {
                    let server = entry.value(entry.child(item, "ServerID")?)?.to_text();
                    let rights = entry
                        .child(item, "Rights")
                        .and_then(|r| entry.value(r))
                        .and_then(|v| v.to_text().parse().ok())
                        .unwrap_or(Rights::NONE);
                    Some((server.into_owned(), rights))
                })
                .collect(),
        )
    }

    /// [`MoTree::resolve`] as `principal` sees the tree: instances on which it
    /// holds no right do not exist.
    pub fn resolve_as(
        &self,
        principal: &Principal,
        uri: &ClientUri,
    ) -> Result<Vec<NodeRef<'_>>, Error> {
        self.resolve_among(uri, |instance| !self.rights(principal, instance).is_empty())
    }

    /// Resolves every target and checks `right` on each node; the first
    /// failure in parameter order (then node order) is the error.
    fn resolve_checked(
        &self,
        principal: &Principal,
        targets: &[ClientUri],
        right: (Rights, &'static str),
    ) -> Result<Vec<(usize, NodeRef<'_>)>, Error> {
        let mut found = Vec::new();
        for (index, uri) in targets.iter().enumerate() {
            for node in self.resolve_as(principal, uri)? {
                if !self.rights(principal, node.instance).contains(right.0) {
                    return Err(Error::Forbidden {
                        principal: principal.to_string(),
                        right: right.1,
                        uri: node.client_uri().to_string(),
                    });
                }
                found.push((index, node));
            }
        }
        Ok(found)
    }

    /// Reads the data at `targets` (GET, HPUT, HPOST, SUB reports): every
    /// target is resolved and checked first, and the command succeeds or
    /// fails as a whole.
    ///
    /// Errors: 404/409 from resolution, 403 without the Read right, 405 for a
    /// node whose DDF AccessType lacks Get (secret nodes). Inside a subtree,
    /// such nodes are silently left out. Items at an instance root carry the
    /// instance's cache validator; when every target carried a `cv` equal to
    /// its instance's validator the outcome is [`ReadOutcome::NotModified`].
    pub fn read(&self, principal: &Principal, targets: &[ClientUri]) -> Result<ReadOutcome, Error> {
        let nodes = self.resolve_checked(principal, targets, (Rights::READ, "Read"))?;
        for (_, node) in &nodes {
            if !readable(node.instance, node.id) {
                return Err(Error::NotAllowed {
                    uri: node.client_uri().to_string(),
                    reason: "the node cannot be read (its AccessType lacks Get)",
                });
            }
        }
        let all_cached = !targets.is_empty()
            && nodes.iter().all(|(index, node)| {
                targets[*index]
                    .cache_validator()
                    .is_some_and(|cv| cv == node.instance.cache_validator().as_str())
            });
        if all_cached {
            return Ok(ReadOutcome::NotModified);
        }
        let items = nodes
            .iter()
            .filter_map(|(_, node)| {
                let data = filtered_data(node.instance, node.id)?;
                Some(MoItem {
                    ddf: None,
                    client_uri: node.client_uri(),
                    cache_validator: (node.id == NodeId::ROOT)
                        .then(|| node.instance.cache_validator()),
                    data,
                })
            })
            .collect();
        Ok(ReadOutcome::Data(items))
    }

    /// Deletes the nodes at `targets` (DELETE): interior nodes with their
    /// subtree, an instance root with its whole instance. Every target is
    /// resolved and checked before anything is removed.
    ///
    /// Errors: 404/409 from resolution, 403 without the Write right, 405 for
    /// a permanent node or one whose DDF AccessType lacks Delete.
    pub fn delete(&mut self, principal: &Principal, targets: &[ClientUri]) -> Result<(), Error> {
        let nodes = self.resolve_checked(principal, targets, (Rights::WRITE, "Write"))?;
        let mut doomed = Vec::with_capacity(nodes.len());
        for (_, node) in &nodes {
            if let Some(definition) = node.instance.node_definition(node.id) {
                let reason = if definition.scope == Scope::Permanent {
                    Some("a permanent node cannot be deleted")
                } else if !definition.access_type.contains(AccessType::DELETE) {
                    Some("the node's AccessType lacks Delete")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(Error::NotAllowed {
                        uri: node.client_uri().to_string(),
                        reason,
                    });
                }
            }
            doomed.push((
                node.instance.moid().clone(),
                node.instance.miid().clone(),
                node.instance.path(node.id),
            ));
        }
        // Deepest first is not needed: a node already gone with an ancestor
        // is simply skipped.
        for (moid, miid, path) in doomed {
            if path.is_empty() {
                self.remove(moid.as_str(), miid.as_str());
            } else if let Some(instance) = self.instance_mut(moid.as_str(), miid.as_str())
                && let Some(id) = instance.lookup(path.iter().map(NodeName::as_str))
            {
                instance.delete(id);
            }
        }
        Ok(())
    }
}

/// Whether a DMAcc instance describes `server` (its `SrvID` leaf).
fn describes(account: &MoInstance, server: &ServerId) -> bool {
    account
        .child(NodeId::ROOT, "SrvID")
        .and_then(|id| account.value(id))
        .is_some_and(|value| value.to_text() == server.as_str())
}

/// The `(MOID, MIID)` a DACMO entry controls.
fn controlled(entry: &MoInstance) -> Option<(String, String)> {
    let text = |name| {
        entry
            .child(NodeId::ROOT, name)
            .and_then(|id| entry.value(id))
            .map(|v| v.to_text().into_owned())
    };
    Some((text("MOID")?, text("MIID")?))
}

/// Whether the DDF lets the node be read (no definition: yes).
fn readable(instance: &MoInstance, id: NodeId) -> bool {
    instance
        .node_definition(id)
        .is_none_or(|definition| definition.access_type.contains(AccessType::GET))
}

/// The subtree at `id` without the nodes that cannot be read.
fn filtered_data(instance: &MoInstance, id: NodeId) -> Option<dm_types::MoData> {
    let data = instance.to_mo_data(id)?;
    if instance.definition().is_none() {
        return Some(data);
    }
    let (name, node) = data.into_parts();
    Some(dm_types::MoData::new(name, prune(instance, id, node)))
}

fn prune(instance: &MoInstance, id: NodeId, node: MoNode) -> MoNode {
    let MoNode::Interior(children) = node else {
        return node;
    };
    let kept = children
        .iter()
        .filter_map(|(name, child)| {
            let child_id = instance.child(id, name.as_str())?;
            readable(instance, child_id)
                .then(|| (name.clone(), prune(instance, child_id, child.clone())))
        })
        .collect();
    MoNode::Interior(dm_types::Children::new(kept).unwrap_or_default())
}
