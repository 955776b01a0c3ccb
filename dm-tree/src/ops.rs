//! Operations on behalf of a principal, with access control (docs/protocol.md
//! sections 4, 7 and 8): visibility, rights, DDF AccessType and Scope,
//! secret nodes, cache validators.

use dm_types::{AccessType, CacheValidator, ClientUri, MoItem, MoNode, NodeName, Scope, ServerId};

use crate::acl_check::check_acl;
use crate::fingerprint::Fingerprint;
use crate::tree::{MoInstance, NodeId, NodeRef};
use crate::{AclCommand, Error, MoTree, Principal, Rights};

/// The DevInfo MOID.
pub const DEVINFO_MOID: &str = "urn:oma:mo:oma-dm-devinfo:1.0";
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
    /// The subtree at `node` as `principal` reads it: nodes whose DDF or
    /// DM 1.x ACL forbid reading left out, leaves with their live values,
    /// each served leaf folded into `fold` when one is given.
    fn read_node(
        &self,
        principal: &Principal,
        node: &NodeRef<'_>,
        mut fold: Option<&mut Fingerprint>,
    ) -> MoNode {
        let instance = node.instance;
        if let Some(value) = self.live_value(node) {
            if let Some(fold) = fold {
                fold.leaf(instance.name(node.id).unwrap_or_default(), &value);
            }
            return MoNode::Leaf(value);
        }
        let children = instance
            .children(node.id)
            .iter()
            .filter(|&&child| {
                readable(instance, child)
                    && check_acl(principal, instance, child, AclCommand::Get).is_ok()
            })
            .filter_map(|&child| {
                let name = NodeName::new(instance.name(child)?).ok()?;
                let child = NodeRef {
                    instance,
                    id: child,
                };
                Some((name, self.read_node(principal, &child, fold.as_deref_mut())))
            })
            .collect();
        // Names of siblings are unique and sorted in the arena.
        MoNode::Interior(dm_types::Children::new(children).unwrap_or_default())
    }

    /// The MOIDs a server may manage: the `Perm/*/MOID` values of the DMAcc
    /// instance whose `SrvID` is `server`.
    ///
    /// ```
    /// use dm_tree::MoTree;
    /// use dm_types::ServerId;
    ///
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/acc1/","MOData":{"acc1":{"SrvID":"dm1",
    ///          "Perm":{"1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0"}}}}}]"#,
    ///     &dm_codec::Limits::default(),
    /// )?;
    /// let tree = MoTree::from_mo_serialization(&items)?;
    /// assert_eq!(tree.allowed_moids(&ServerId::new("dm1")?), ["urn:oma:mo:oma-dm-devinfo:1.0"]);
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
    /// - a bootstrap server reads DevInfo, writes (HGET, DELETE) the DMAcc
    ///   instances it created or whose `Auth/Bootstrap/ServerURI` is the one
    ///   of its own account, and holds no right on anything else
    ///   (docs/protocol.md section 11.3);
    /// - a management server never holds Write on a DMAcc instance, whatever
    ///   its `Perm` list or a DACMO entry say: accounts change only through
    ///   the device or a bootstrap.
    ///
    /// ```
    /// use dm_tree::{BootstrapAuth, DmAcc, MoTree, Principal, Rights, SecMode};
    /// use dm_types::{ServerId, ServerUri};
    ///
    /// let bootstrap_uri = ServerUri::new("https://bs.example/dm")?;
    /// let mut bootstrap = DmAcc::new(ServerId::new("bs")?, bootstrap_uri.clone());
    /// bootstrap.bootstrap = Some(BootstrapAuth::new(bootstrap_uri, SecMode::Psk));
    /// let mut tree = MoTree::new();
    /// tree.add_dm_acc(&bootstrap)?;
    /// let account = tree.instance(dm_tree::DMACC_MOID, "acc1").unwrap();
    /// assert_eq!(tree.rights(&Principal::Bootstrap(ServerId::new("bs")?), account), Rights::WRITE);
    /// assert_eq!(tree.rights(&Principal::Bootstrap(ServerId::new("other")?), account), Rights::NONE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rights(&self, principal: &Principal, instance: &MoInstance) -> Rights {
        let server = match principal {
            Principal::Device => return Rights::ALL,
            Principal::Bootstrap(bootstrap) => return self.bootstrap_rights(bootstrap, instance),
            Principal::Server(server) => server,
        };
        let rights = self.server_rights(principal, server, instance);
        if instance.moid().as_str() == DMACC_MOID {
            // At most Read: no DACMO grant makes a server an account editor.
            if rights.contains(Rights::READ) {
                Rights::READ
            } else {
                Rights::NONE
            }
        } else {
            rights
        }
    }

    /// The rights of the bootstrap server `bootstrap` (section 11.3).
    fn bootstrap_rights(&self, bootstrap: &ServerId, instance: &MoInstance) -> Rights {
        match instance.moid().as_str() {
            DEVINFO_MOID => Rights::READ,
            DMACC_MOID => {
                let created =
                    matches!(instance.creator(), Principal::Bootstrap(b) if b == bootstrap);
                let named = self
                    .account(bootstrap)
                    .and_then(bootstrap_server_uri)
                    .is_some_and(|own| bootstrap_server_uri(instance).as_deref() == Some(&own));
                if created || named {
                    Rights::WRITE
                } else {
                    Rights::NONE
                }
            }
            _ => Rights::NONE,
        }
    }

    /// The rights of the management server `server` before the DMAcc cap.
    fn server_rights(
        &self,
        principal: &Principal,
        server: &ServerId,
        instance: &MoInstance,
    ) -> Rights {
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
            Principal::Server(_) | Principal::Bootstrap(_) => Rights::NONE,
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
    ///
    /// An `nv` condition (section 9) on a leaf `principal` may not read
    /// ([`MoTree::may_read`]) never matches, exactly as if the leaf were
    /// absent: a server cannot test a guess against a secret or learn of a
    /// hidden node through a ClientURI query (docs/protocol.md section 7).
    pub fn resolve_as(
        &self,
        principal: &Principal,
        uri: &ClientUri,
    ) -> Result<Vec<NodeRef<'_>>, Error> {
        self.resolve_among(
            uri,
            |instance| !self.rights(principal, instance).is_empty(),
            &|instance, id| self.may_read(principal, instance, id),
        )
    }

    /// Whether `principal` may read the node `id` of `instance` by the read
    /// rules of docs/protocol.md section 7: Read on the instance, a DM 1.x
    /// ACL in force that admits Get, and a DDF AccessType with Get on the
    /// node and each of its ancestors (secret nodes never pass). Decided
    /// from rights, ACLs and definitions only, never from values.
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoTree, NodeId, NotificationAuth, Principal};
    /// use dm_types::{Moid, ServerId, ServerUri};
    ///
    /// let server = ServerId::new("dm.example")?;
    /// let mut account = DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?);
    /// account.perm_moids.push(Moid::new("urn:oma:mo:oma-dm-dmacc:1.2")?);
    /// account.notification = Some(NotificationAuth::sha256(b"key".to_vec(), Vec::new()));
    /// let mut tree = MoTree::new();
    /// tree.add_dm_acc(&account)?;
    /// let acc = tree.instance("urn:oma:mo:oma-dm-dmacc:1.2", "acc1").unwrap();
    /// let who = Principal::Server(server);
    /// assert!(tree.may_read(&who, acc, acc.lookup(["SrvURI"]).unwrap()));
    /// assert!(!tree.may_read(&who, acc, acc.lookup(["Auth", "Noti", "Secret"]).unwrap()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn may_read(&self, principal: &Principal, instance: &MoInstance, id: NodeId) -> bool {
        let mut current = Some(id);
        while let Some(node) = current {
            if !readable(instance, node) {
                return false;
            }
            current = instance.parent(node);
        }
        check_acl(principal, instance, id, AclCommand::Get).is_ok()
            && self.rights(principal, instance).contains(Rights::READ)
    }

    /// Resolves every target and checks each node in turn: `right`, the
    /// DM 1.x ACL for `command`, then `check` (the command's own rule: DDF
    /// AccessType, Scope). Targets are taken in parameter order and the
    /// nodes of one target in node order, and the first failure is the
    /// error (docs/protocol.md section 4, "Several targets, one status"):
    /// DELETE of a permanent node then a missing one is `405`, the other
    /// way round `404`.
    fn resolve_checked(
        &self,
        principal: &Principal,
        targets: &[ClientUri],
        right: (Rights, &'static str),
        command: AclCommand,
        check: impl Fn(&NodeRef<'_>) -> Result<(), Error>,
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
                check_acl(principal, node.instance, node.id, command)?;
                check(&node)?;
                found.push((index, node));
            }
        }
        Ok(found)
    }

    /// Reads the data at `targets` (GET, HPUT, HPOST, SUB reports): every
    /// target is resolved and checked first, and the command succeeds or
    /// fails as a whole; the error is that of the first failing target in
    /// parameter order (then node order), whatever fails after it.
    ///
    /// Errors: 404/409 from resolution, 403 without the Read right, 405 for a
    /// node whose DDF AccessType lacks Get (secret nodes). Inside a subtree,
    /// such nodes are silently left out. Items at an instance root carry the
    /// instance's cache validator; when every target carried a `cv` equal to
    /// its instance's validator the outcome is [`ReadOutcome::NotModified`].
    pub fn read(&self, principal: &Principal, targets: &[ClientUri]) -> Result<ReadOutcome, Error> {
        let nodes = self.readable_targets(principal, targets)?;
        // Validators computed once per instance (a handler-backed one costs
        // a read of the instance).
        let mut current: Vec<(&MoInstance, CacheValidator)> = Vec::new();
        let mut all_cached = !targets.is_empty();
        for (index, node) in &nodes {
            let Some(cv) = targets[*index].cache_validator() else {
                all_cached = false;
                break;
            };
            let known = current
                .iter()
                .find(|(instance, _)| std::ptr::eq(*instance, node.instance));
            let validator = if let Some((_, validator)) = known {
                validator.clone()
            } else {
                let validator = self.cache_validator_as(principal, node.instance);
                current.push((node.instance, validator.clone()));
                validator
            };
            if cv != validator.as_str() {
                all_cached = false;
                break;
            }
        }
        if all_cached {
            return Ok(ReadOutcome::NotModified);
        }
        let items = nodes
            .iter()
            .filter_map(|(_, node)| {
                let name = NodeName::new(node.instance.name(node.id)?).ok()?;
                let at_root = node.id == NodeId::ROOT;
                let live = at_root && self.has_handler(node.instance);
                let mut fold = Fingerprint::new();
                let data = dm_types::MoData::new(
                    name,
                    self.read_node(principal, node, live.then_some(&mut fold)),
                );
                // The validator of a root item covers exactly the values
                // sent with it.
                let cache_validator = at_root.then(|| {
                    if live {
                        node.instance.live_cache_validator(fold.finish())
                    } else {
                        node.instance.cache_validator()
                    }
                });
                Some(MoItem {
                    ddf: None,
                    client_uri: node.client_uri(),
                    cache_validator,
                    data,
                })
            })
            .collect();
        Ok(ReadOutcome::Data(items))
    }

    /// Resolves `targets` and checks that `principal` may read every node
    /// (the checks of [`MoTree::read`], also those of SUB): the first
    /// failure in parameter then node order is the error.
    pub(crate) fn readable_targets(
        &self,
        principal: &Principal,
        targets: &[ClientUri],
    ) -> Result<Vec<(usize, NodeRef<'_>)>, Error> {
        self.resolve_checked(
            principal,
            targets,
            (Rights::READ, "Read"),
            AclCommand::Get,
            |node| {
                if readable(node.instance, node.id) {
                    Ok(())
                } else {
                    Err(Error::NotAllowed {
                        uri: node.client_uri().to_string(),
                        reason: "the node cannot be read (its AccessType lacks Get)",
                    })
                }
            },
        )
    }

    /// The cache validator of `instance` as `principal` reads it
    /// (docs/protocol.md section 8): the `CV` a read of its root returns,
    /// and what a `cv` in a read is compared with.
    ///
    /// Without a [`NodeHandler`](crate::NodeHandler) for its MOID it is
    /// [`MoInstance::cache_validator`], which changes with every
    /// modification of the stored instance. With one, live values change
    /// without the tree knowing, so the validator also folds in a
    /// fingerprint of every leaf value the principal reads at that moment
    /// (the handler's live values included): a `cv` taken before a live
    /// value changed no longer matches, whether or not the product
    /// signalled the change ([`MoTree::mark_changed`]). The fingerprint
    /// covers only what the principal may read, so the validator tells it
    /// nothing about nodes hidden from it. The cost is a read of the
    /// instance (one handler call per readable leaf) for each validator of
    /// a handler-backed instance; stored instances pay nothing.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicI64, Ordering};
    /// use dm_tree::{ExecOutcome, MoTree, NodeHandler, Principal, ReadOutcome};
    /// use dm_types::{ClientUri, LeafValue, Moid, StatusCode};
    ///
    /// struct Battery(AtomicI64);
    /// impl NodeHandler for Battery {
    ///     fn read(&self, node: &ClientUri) -> Option<LeafValue> {
    ///         node.as_str().ends_with("/Level").then(|| LeafValue::Int(self.0.load(Ordering::SeqCst)))
    ///     }
    ///     fn exec(&self, _: &ClientUri, _instance: &dyn dm_tree::InstanceView, _: bool) -> ExecOutcome { ExecOutcome::Done(StatusCode::OK) }
    /// }
    ///
    /// let mut tree = MoTree::new();
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:battery//","MOData":{"B":{"Level":0}}}]"#, &dm_codec::Limits::default())?;
    /// tree.write(&Principal::Device, None, &items)?;
    /// let battery = Arc::new(Battery(AtomicI64::new(87)));
    /// tree.set_handler(Moid::new("urn:x:battery")?, battery.clone());
    /// let cv = tree.cache_validator_as(&Principal::Device, tree.instance("urn:x:battery", "1").unwrap());
    /// let cached = ClientUri::parse(&format!("urn:x:battery/1/?cv={cv}"))?;
    /// assert_eq!(tree.read(&Principal::Device, &[cached.clone()])?, ReadOutcome::NotModified);
    /// battery.0.store(86, Ordering::SeqCst);
    /// assert!(matches!(tree.read(&Principal::Device, &[cached])?, ReadOutcome::Data(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cache_validator_as(
        &self,
        principal: &Principal,
        instance: &MoInstance,
    ) -> CacheValidator {
        if !self.has_handler(instance) {
            return instance.cache_validator();
        }
        let mut fold = Fingerprint::new();
        let root = NodeRef {
            instance,
            id: NodeId::ROOT,
        };
        self.read_node(principal, &root, Some(&mut fold));
        instance.live_cache_validator(fold.finish())
    }

    /// Deletes the nodes at `targets` (DELETE): interior nodes with their
    /// subtree, an instance root with its whole instance. Every target is
    /// resolved and checked before anything is removed; the error is that
    /// of the first failing target in parameter order (then node order),
    /// and nothing is deleted then.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use dm_tree::{DevInfo, MoTree, Principal};
    /// use dm_types::{ClientUri, DevId, Moid, StatusCode};
    ///
    /// let mut tree = MoTree::new();
    /// tree.define(Moid::new(dm_tree::DEVINFO_MOID)?, Arc::new(dm_ddf::standard::devinfo().clone()));
    /// tree.insert(DevInfo::new(DevId::new("IMEI:1")?, "Acme", "X1").to_instance())?;
    /// let permanent = ClientUri::parse("urn:oma:mo:oma-dm-devinfo:1.0//DevID")?;
    /// let missing = ClientUri::parse("urn:x:none:1.0//")?;
    /// let status = |targets: &[ClientUri], tree: &mut MoTree| {
    ///     tree.delete(&Principal::Device, targets).map_err(|e| e.status())
    /// };
    /// assert_eq!(status(&[permanent.clone(), missing.clone()], &mut tree), Err(StatusCode::COMMAND_NOT_ALLOWED));
    /// assert_eq!(status(&[missing, permanent], &mut tree), Err(StatusCode::NOT_FOUND));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Errors: 404/409 from resolution, 403 without the Write right or when
    /// the DM 1.x ACL of the node or of any node below it lacks Delete for
    /// the principal, 405 for a permanent node or one whose DDF AccessType
    /// lacks Delete.
    pub fn delete(&mut self, principal: &Principal, targets: &[ClientUri]) -> Result<(), Error> {
        let nodes = self.resolve_checked(
            principal,
            targets,
            (Rights::WRITE, "Write"),
            AclCommand::Delete,
            |node| {
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
                // Nodes below it that a DM 1.x ACL protects from this
                // principal's Delete (docs/protocol.md section 7).
                check_subtree_acls(principal, node.instance, node.id, None)
            },
        )?;
        let doomed: Vec<_> = nodes
            .iter()
            .map(|(_, node)| {
                (
                    node.instance.moid().clone(),
                    node.instance.miid().clone(),
                    node.instance.path(node.id),
                )
            })
            .collect();
        // Deepest first is not needed: a node already gone with an ancestor
        // is simply skipped.
        for (moid, miid, path) in doomed {
            if path.is_empty() {
                self.remove(moid.as_str(), miid.as_str());
                // Its DACMO entries go with it: left behind, they would
                // control the next instance given the same MIID.
                self.remove_dacmo_entries(moid.as_str(), miid.as_str());
            } else if let Some(instance) = self.instance_mut(moid.as_str(), miid.as_str())
                && let Some(id) = instance.lookup(path.iter().map(NodeName::as_str))
            {
                instance.delete(id);
            }
        }
        Ok(())
    }
}

/// Checks the DM 1.x ACLs below `id` for a command that replaces the node
/// with `data` (`None`: removes it; docs/protocol.md section 7): every
/// descendant the new data keeps needs Replace, every other one Delete, as
/// the ACL in force at it asks, and a child the data adds under a node it
/// keeps needs Add there. The first refusal (depth first, by name) is the
/// error.
fn check_subtree_acls(
    principal: &Principal,
    instance: &MoInstance,
    id: NodeId,
    data: Option<&MoNode>,
) -> Result<(), Error> {
    if !instance.has_acls() || matches!(principal, Principal::Device) {
        return Ok(());
    }
    let mut stack: Vec<(NodeId, Option<&MoNode>)> = vec![(id, data)];
    while let Some((node, data)) = stack.pop() {
        if let Some(MoNode::Interior(children)) = data
            && children
                .iter()
                .any(|(name, _)| instance.child(node, name.as_str()).is_none())
        {
            check_acl(principal, instance, node, AclCommand::Add)?;
        }
        for &child in instance.children(node).iter().rev() {
            let kept = match (data, instance.name(child)) {
                (Some(MoNode::Interior(children)), Some(name)) => children.get(name),
                _ => None,
            };
            let command = if kept.is_some() {
                AclCommand::Replace
            } else {
                AclCommand::Delete
            };
            check_acl(principal, instance, child, command)?;
            stack.push((child, kept));
        }
    }
    Ok(())
}

/// The `SrvID` of DMAcc instance data, when it holds a valid one.
fn data_server_id(data: &dm_types::MoData) -> Option<ServerId> {
    let MoNode::Interior(children) = data.node() else {
        return None;
    };
    match children.get("SrvID")? {
        MoNode::Leaf(value) => ServerId::new(value.to_text().into_owned()).ok(),
        MoNode::Interior(_) => None,
    }
}

/// Whether a DMAcc instance describes `server` (its `SrvID` leaf).
fn describes(account: &MoInstance, server: &ServerId) -> bool {
    account
        .child(NodeId::ROOT, "SrvID")
        .and_then(|id| account.value(id))
        .is_some_and(|value| value.to_text() == server.as_str())
}

/// The `Auth/Bootstrap/ServerURI` of a DMAcc instance, when it has one.
fn bootstrap_server_uri(account: &MoInstance) -> Option<String> {
    account
        .lookup(["Auth", "Bootstrap", "ServerURI"])
        .and_then(|id| account.value(id))
        .map(|value| value.to_text().into_owned())
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

/// What one HGET item will do, decided before anything changes.
enum Plan {
    /// Create an instance of `moid` whose root is the item's data.
    Create { moid: dm_types::Moid },
    /// Replace (or create) the node at `path` of an existing instance.
    Replace {
        moid: dm_types::Moid,
        miid: dm_types::Miid,
        path: Vec<NodeName>,
    },
}

impl MoTree {
    /// Writes MO data with HGET semantics (docs/protocol.md section 4) and returns
    /// the absolute ClientURIs written, in item order.
    ///
    /// - `target` is the HGET ClientURI parameter: then `items` must hold
    ///   exactly one item, whose own ClientURI is ignored. Without it each
    ///   item's ClientURI is its target.
    /// - A target with an empty instance part creates a new instance: the
    ///   tree assigns its MIID, its root is named after the `MOData` member,
    ///   and a server creator gets a DACMO entry granting it every right.
    ///   A second instance of an MO whose DDF allows one is `405` (the
    ///   standard DDFs apply when none is registered). A server's new
    ///   instance must take a root the DDF defines (`400`) whose AccessType
    ///   has Add and whose Scope is dynamic (`405`).
    /// - A target naming an instance writes into it: the data replaces the
    ///   node at the path, or creates it when its parent exists; the `MOData`
    ///   member must be named like the target node, the instance root
    ///   included (`400`). `*` and x-names must designate exactly one node
    ///   (`404`/`409`).
    /// - DM 1.x ACLs: replacing a node needs, on each restricted node below
    ///   it, Replace where the data keeps it, Delete where it drops it and
    ///   Add where it adds a child (`403`); kept nodes keep their ACLs.
    /// - Rights: Write on the instance (`403`); creating needs the MOID in the
    ///   server's Perm list (`403`), and a server never creates a DMAcc or
    ///   DACMO instance (`403`): only the device provisions those. DDF:
    ///   replacing needs Replace, creating needs Add and a dynamic node
    ///   (`405`); the resulting instance must validate against its
    ///   definition (`400`).
    /// - A server's write may not grow the tree beyond
    ///   [`TreeLimits::data_bytes`](crate::TreeLimits) (`413`).
    /// - All items apply, or none: every check runs on copies first.
    ///
    /// ```
    /// use dm_tree::{MoTree, Principal};
    ///
    /// let mut tree = MoTree::new();
    /// let items = dm_codec::decode_mo_serialization(
    ///     br#"[{"ClientURI":"urn:x:sensor//","MOData":{"Peer":{"ID":"GPS"}}}]"#,
    ///     &dm_codec::Limits::default(),
    /// )?;
    /// let written = tree.write(&Principal::Device, None, &items)?;
    /// assert_eq!(written[0].as_str(), "urn:x:sensor/1/");
    /// assert_eq!(tree.resolve_str("urn:x:sensor//ID").1[0].as_str(), "urn:x:sensor/1/ID");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(
        &mut self,
        principal: &Principal,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, Error> {
        if target.is_some() && items.len() != 1 {
            return Err(Error::invalid_data(
                "the request body",
                format!(
                    "with a ClientURI parameter it must hold exactly one item, not {}",
                    items.len()
                ),
            ));
        }
        // A server may not grow the tree beyond its limit (a write that
        // keeps or shrinks an already larger tree is fine).
        let before = match principal {
            Principal::Server(_) | Principal::Bootstrap(_) => Some(self.data_bytes()),
            Principal::Device => None,
        };
        // Items apply in order, each seeing the earlier ones; the first
        // instance copy taken before a change is the undo log.
        let mut originals: Vec<MoInstance> = Vec::new();
        let mut created: Vec<(dm_types::Moid, dm_types::Miid)> = Vec::new();
        let mut written = Vec::with_capacity(items.len());
        let mut outcome = Ok(());
        for item in items {
            let uri = target.unwrap_or(&item.client_uri);
            match self.apply(principal, uri, &item.data, &mut originals, &mut created) {
                Ok(uri) => written.push(uri),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if let (Ok(()), Some(before)) = (&outcome, before) {
            let after = self.data_bytes();
            if after > before && after > self.limits.data_bytes {
                outcome = Err(Error::Full {
                    what: "the management tree's data bytes",
                    limit: self.limits.data_bytes,
                });
            }
        }
        if let Err(e) = outcome {
            for (moid, miid) in &created {
                self.remove(moid.as_str(), miid.as_str());
            }
            for original in originals {
                if let Some(slot) =
                    self.instance_mut(original.moid().as_str(), original.miid().as_str())
                {
                    *slot = original;
                }
            }
            return Err(e);
        }
        for (moid, miid) in created {
            let entry = self
                .instance(moid.as_str(), miid.as_str())
                .and_then(|instance| match instance.creator() {
                    Principal::Server(server) => Some(dacmo_entry(instance, server)),
                    // Accounts a bootstrap creates are not under delegation.
                    Principal::Device | Principal::Bootstrap(_) => None,
                });
            if let Some((dacmo, data)) = entry {
                // The new entry must be the only one controlling the
                // instance.
                self.remove_dacmo_entries(moid.as_str(), miid.as_str());
                let miid = self.next_miid(&dacmo);
                self.insert(MoInstance::new(dacmo, miid, &data))?;
            }
        }
        Ok(written)
    }

    /// Applies one HGET item, recording what it changes for undo.
    fn apply(
        &mut self,
        principal: &Principal,
        uri: &ClientUri,
        data: &dm_types::MoData,
        originals: &mut Vec<MoInstance>,
        created: &mut Vec<(dm_types::Moid, dm_types::Miid)>,
    ) -> Result<ClientUri, Error> {
        match self.plan(principal, uri, data)? {
            Plan::Create { moid } => {
                let miid = self.next_miid(&moid);
                let mut instance = MoInstance::new(moid.clone(), miid.clone(), data)
                    .with_creator(principal.clone());
                self.attach_definition(&mut instance);
                validate(principal, &instance)?;
                self.check_identity(principal, uri, &instance, None)?;
                let written = instance.client_uri(NodeId::ROOT);
                self.insert(instance)?;
                created.push((moid, miid));
                Ok(written)
            }
            Plan::Replace { moid, miid, path } => {
                let current = self
                    .instance(moid.as_str(), miid.as_str())
                    .ok_or(Error::NotFound)?;
                let mut copy = current.clone();
                // A whole instance replaced keeps its root name (a
                // bootstrap's account replaced in place names its own).
                let renamed;
                let data = match (path.is_empty(), current.name(NodeId::ROOT)) {
                    (true, Some(root)) if root != data.name().as_str() => {
                        renamed = dm_types::MoData::new(
                            NodeName::new(root)
                                .map_err(|e| Error::invalid_data(uri, e.to_string()))?,
                            data.node().clone(),
                        );
                        &renamed
                    }
                    _ => data,
                };
                let id = copy.write(&path, data)?;
                validate(principal, &copy)?;
                self.check_identity(principal, uri, &copy, Some(current))?;
                let written = copy.client_uri(id);
                let instance = self
                    .instance_mut(moid.as_str(), miid.as_str())
                    .ok_or(Error::NotFound)?;
                let original = std::mem::replace(instance, copy);
                let fresh = created.iter().any(|(m, i)| *m == moid && *i == miid);
                if !fresh
                    && !originals
                        .iter()
                        .any(|o| *o.moid() == moid && *o.miid() == miid)
                {
                    originals.push(original);
                }
                Ok(written)
            }
        }
    }

    /// Checks one HGET item against the current tree (and the instances
    /// this HGET already creates).
    fn plan(
        &self,
        principal: &Principal,
        uri: &ClientUri,
        data: &dm_types::MoData,
    ) -> Result<Plan, Error> {
        let moid = uri.to_moid();
        if matches!(uri.instance(), dm_types::Instance::Sole) {
            if uri.path_len() != 0 {
                return Err(Error::invalid_data(
                    uri,
                    "a new instance is written at its root (no path)",
                ));
            }
            // DACMO entries are created and maintained by the device
            // (section 7): a server only writes into an existing entry.
            // Accounts are provisioned by the device or its bootstrap
            // (section 11): a server creating a DMAcc instance would mint a
            // server identity with rights of its choosing.
            // A bootstrap server creates DMAcc instances only (section
            // 11.3); an account whose SrvID exists is replaced in place when
            // it may write that account.
            let refused = match principal {
                Principal::Device => false,
                Principal::Server(server) => {
                    moid.as_str() == DACMO_MOID
                        || moid.as_str() == DMACC_MOID
                        || !self
                            .allowed_moids(server)
                            .iter()
                            .any(|m| m == moid.as_str())
                }
                Principal::Bootstrap(_) => moid.as_str() != DMACC_MOID,
            };
            if refused {
                return Err(Error::Forbidden {
                    principal: principal.to_string(),
                    right: "Perm",
                    uri: uri.to_string(),
                });
            }
            if let Principal::Bootstrap(_) = principal
                && let Some(existing) = data_server_id(data).and_then(|id| self.account(&id))
            {
                if !self.rights(principal, existing).contains(Rights::WRITE) {
                    return Err(Error::Forbidden {
                        principal: principal.to_string(),
                        right: "Write",
                        uri: existing.client_uri(NodeId::ROOT).to_string(),
                    });
                }
                return Ok(Plan::Replace {
                    moid: existing.moid().clone(),
                    miid: existing.miid().clone(),
                    path: Vec::new(),
                });
            }
            if let Some(definition) = self.definition_for(&moid) {
                // The root the new instance takes (named after the MOData
                // member) must be one the DDF defines, whose Occurrence,
                // AccessType and Scope then decide (section 10). A one-
                // instance MO whose root the data misnames is still one
                // instance (its other roots are looked at too).
                let matched = definition.root(data.name().as_str());
                let single = match matched {
                    Some(root) => root.occurrence.max() == Some(1),
                    None => definition
                        .nodes
                        .iter()
                        .any(|root| root.occurrence.max() == Some(1)),
                };
                if single && self.instances_of(moid.as_str()).next().is_some() {
                    return Err(Error::NotAllowed {
                        uri: uri.to_string(),
                        reason: "the MO allows only one instance and one exists",
                    });
                }
                if !matches!(principal, Principal::Device) {
                    let Some(root) = matched else {
                        return Err(Error::invalid_data(
                            uri,
                            format!(
                                "MOData names {:?}, which is no root node of the MO's definition",
                                data.name().as_str()
                            ),
                        ));
                    };
                    let reason = if root.scope == Scope::Permanent {
                        Some("a permanent instance root cannot be created")
                    } else if !root.access_type.contains(AccessType::ADD) {
                        Some("the root's AccessType lacks Add")
                    } else {
                        None
                    };
                    if let Some(reason) = reason {
                        return Err(Error::NotAllowed {
                            uri: uri.to_string(),
                            reason,
                        });
                    }
                }
            }
            return Ok(Plan::Create { moid });
        }
        // An existing node, or a new one under an existing parent.
        let (instance, exists, path) = match self.resolve_as(principal, uri) {
            Ok(nodes) if nodes.len() > 1 => {
                return Err(Error::Ambiguous {
                    instances: nodes.len(),
                });
            }
            Ok(nodes) => {
                check_acl(
                    principal,
                    nodes[0].instance,
                    nodes[0].id,
                    AclCommand::Replace,
                )?;
                (nodes[0].instance, true, nodes[0].instance.path(nodes[0].id))
            }
            Err(Error::NotFound) if !uri.has_selectors() && uri.path_len() > 0 => {
                // The parent: the same ClientURI without its last segment
                // (and without its query, which a new node cannot match).
                let main = uri.as_str().split('?').next().unwrap_or("");
                let mut parent_text = main.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
                if uri.path_len() == 1 {
                    parent_text.push('/');
                }
                let parent = ClientUri::parse(&parent_text)
                    .map_err(|e| Error::invalid_data(&parent_text, e.to_string()))?;
                let parent = self.resolve_as(principal, &parent)?[0];
                check_acl(principal, parent.instance, parent.id, AclCommand::Add)?;
                let mut path = parent.instance.path(parent.id);
                if let Some(dm_types::Segment::Name(name)) = uri.path().last() {
                    path.push(
                        NodeName::new(name.into_owned())
                            .map_err(|e| Error::invalid_data(uri, e.to_string()))?,
                    );
                }
                (parent.instance, false, path)
            }
            Err(e) => return Err(e),
        };
        if !self.rights(principal, instance).contains(Rights::WRITE) {
            return Err(Error::Forbidden {
                principal: principal.to_string(),
                right: "Write",
                uri: uri.to_string(),
            });
        }
        // The MOData member names the target node: its last path name, or
        // the instance root's own name (section 4).
        let target_name = match path.last() {
            Some(last) => last.as_str(),
            None => instance.name(NodeId::ROOT).unwrap_or_default(),
        };
        if data.name().as_str() != target_name {
            return Err(Error::invalid_data(
                uri,
                format!(
                    "MOData names {:?} but the target node is {:?}",
                    data.name().as_str(),
                    target_name
                ),
            ));
        }
        if exists && let Some(id) = instance.lookup(path.iter().map(NodeName::as_str)) {
            check_subtree_acls(principal, instance, id, Some(data.node()))?;
        }
        if let Some(definition) = instance.governing_definition() {
            let root = instance.name(NodeId::ROOT).unwrap_or_default();
            let names = std::iter::once(root).chain(path.iter().map(NodeName::as_str));
            if let Some(node_definition) = definition.lookup(names) {
                let reason = if exists {
                    (!node_definition.access_type.contains(AccessType::REPLACE))
                        .then_some("the node's AccessType lacks Replace")
                } else if node_definition.scope == Scope::Permanent {
                    Some("a permanent node cannot be created")
                } else {
                    (!node_definition.access_type.contains(AccessType::ADD))
                        .then_some("the node's AccessType lacks Add")
                };
                if let Some(reason) = reason {
                    return Err(Error::NotAllowed {
                        uri: uri.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(Plan::Replace {
            moid: instance.moid().clone(),
            miid: instance.miid().clone(),
            path,
        })
    }

    /// What an HGET may not change, whatever the rights (docs/protocol.md
    /// sections 7 and 10.2): a server's write into a DACMO entry keeps the
    /// instance the entry controls (else it could point its Delegate at
    /// another server's instance), and no two DMAcc instances share a
    /// `SrvID` (else a new account would take over that server's identity,
    /// rights and notifications).
    fn check_identity(
        &self,
        principal: &Principal,
        uri: &ClientUri,
        new: &MoInstance,
        old: Option<&MoInstance>,
    ) -> Result<(), Error> {
        match new.moid().as_str() {
            DACMO_MOID
                if !matches!(principal, Principal::Device)
                    && old.is_none_or(|old| controlled(old) != controlled(new)) =>
            {
                return Err(Error::Forbidden {
                    principal: principal.to_string(),
                    right: "Delegate",
                    uri: uri.to_string(),
                });
            }
            DMACC_MOID => {
                let srv_id = new
                    .child(NodeId::ROOT, "SrvID")
                    .and_then(|id| new.value(id))
                    .map(|value| value.to_text().into_owned());
                if let Some(srv_id) = srv_id
                    && let Ok(server) = ServerId::new(srv_id)
                    && self
                        .instances_of(DMACC_MOID)
                        .any(|other| other.miid() != new.miid() && describes(other, &server))
                {
                    return Err(Error::InstanceExists);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Removes the DACMO entries that control `moid`/`miid`.
    pub(crate) fn remove_dacmo_entries(&mut self, moid: &str, miid: &str) {
        let entries: Vec<String> = self
            .instances_of(DACMO_MOID)
            .filter(|entry| controlled(entry).is_some_and(|(m, i)| m == moid && i == miid))
            .map(|entry| entry.miid().as_str().to_owned())
            .collect();
        for entry in entries {
            self.remove(DACMO_MOID, &entry);
        }
    }

    /// The registered definition of `moid` or, for the standard MOs, their
    /// standard one.
    fn definition_for(&self, moid: &dm_types::Moid) -> Option<&dm_ddf::MoDefinition> {
        self.definitions
            .get(moid)
            .map(|d| &**d)
            .or_else(|| crate::tree::standard_definition(moid))
    }

    fn attach_definition(&self, instance: &mut MoInstance) {
        if let Some(definition) = self.definitions.get(instance.moid()) {
            *instance = instance.clone().with_definition(definition.clone());
        }
    }

    /// The first MIID `1`, `2`, ... not used by `moid`.
    fn next_miid(&self, moid: &dm_types::Moid) -> dm_types::Miid {
        // Among count + 1 candidates at least one is free.
        let count = self.instances_of(moid.as_str()).count();
        (1..=count + 1)
            .map(|n| n.to_string())
            .find(|candidate| self.instance(moid.as_str(), candidate).is_none())
            .and_then(|text| dm_types::Miid::new(text).ok())
            .unwrap_or_else(|| unreachable!("decimal numbers are valid MIIDs"))
    }
}

/// Checks an instance against its definition, when it has one: for a
/// server's write also the standard definition of a standard MO that has
/// none attached (the device provisions those as it sees fit).
fn validate(principal: &Principal, instance: &MoInstance) -> Result<(), Error> {
    let definition = match principal {
        Principal::Server(_) | Principal::Bootstrap(_) => instance.governing_definition(),
        Principal::Device => instance.definition(),
    };
    let (Some(definition), Some(data)) = (definition, instance.to_mo_data(NodeId::ROOT)) else {
        return Ok(());
    };
    definition
        .validate(&data)
        .map_err(|e| Error::invalid_data(instance.client_uri(NodeId::ROOT), e.to_string()))
}

/// The DACMO entry giving `server` every right on `instance`.
fn dacmo_entry(instance: &MoInstance, server: &ServerId) -> (dm_types::Moid, dm_types::MoData) {
    dacmo_entry_for(
        instance.moid().as_str(),
        instance.miid().as_str(),
        Some((server, Rights::ALL)),
    )
}

/// The DACMO entry controlling `moid`/`miid`, with one ACL item for
/// `grant` or none.
fn dacmo_entry_for(
    moid: &str,
    miid: &str,
    grant: Option<(&ServerId, Rights)>,
) -> (dm_types::Moid, dm_types::MoData) {
    use dm_types::{Children, MoData, Moid};
    let name = |text: &str| NodeName::new(text).unwrap_or_else(|_| unreachable!("valid name"));
    let interior = |children| MoNode::Interior(Children::new(children).unwrap_or_default());
    let acl = interior(
        grant
            .map(|(server, rights)| (name("1"), acl_item(server, rights)))
            .into_iter()
            .collect(),
    );
    let root = interior(vec![
        (name("ACL"), acl),
        (name("MIID"), text_leaf(miid)),
        (name("MOID"), text_leaf(moid)),
    ]);
    (
        Moid::new(DACMO_MOID).unwrap_or_else(|_| unreachable!("valid MOID")),
        MoData::new(name("DACMO"), root),
    )
}

fn text_leaf(text: &str) -> MoNode {
    MoNode::Leaf(dm_types::LeafValue::from(text))
}

/// An `ACL/<y>` item giving `server` `rights`.
fn acl_item(server: &ServerId, rights: Rights) -> MoNode {
    let name = |text: &str| NodeName::new(text).unwrap_or_else(|_| unreachable!("valid name"));
    MoNode::Interior(
        dm_types::Children::new(vec![
            (name("Rights"), text_leaf(&rights.to_string())),
            (name("ServerID"), text_leaf(server.as_str())),
        ])
        .unwrap_or_default(),
    )
}

impl MoTree {
    /// Gives `server` exactly `rights` on the instance `moid`/`miid`
    /// through the instance's DACMO entry (docs/protocol.md section 7): a
    /// change by the device itself, for instances it created and wants
    /// managed (a FUMO instance, say). The entry is created when the
    /// instance has none; the server's `ACL/<y>` item is replaced, or
    /// added. Once an entry controls the instance, servers it does not list
    /// hold no right on it. The server still needs the MOID in its Perm list
    /// ([`MoTree::grant_moid`]). [`Error::NotFound`] when the instance does
    /// not exist.
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoInstance, MoTree, Principal, Rights};
    /// use dm_types::{LeafValue, Miid, MoData, MoNode, Moid, NodeName, ServerId, ServerUri};
    ///
    /// let server = ServerId::new("dm.example")?;
    /// let mut tree = MoTree::new();
    /// tree.add_dm_acc(&DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?))?;
    /// let data = MoData::new(NodeName::new("Version")?, MoNode::Leaf(LeafValue::from("1.0")));
    /// tree.insert(MoInstance::new(Moid::new("urn:x:fw:1.0")?, Miid::new("fw")?, &data))?;
    /// tree.grant_moid(&server, &Moid::new("urn:x:fw:1.0")?)?;
    /// let instance = |t: &MoTree| t.instance("urn:x:fw:1.0", "fw").cloned().unwrap();
    /// assert_eq!(tree.rights(&Principal::Server(server.clone()), &instance(&tree)), Rights::READ);
    /// tree.grant_rights(&server, "urn:x:fw:1.0", "fw", "Read,Write,Exec".parse()?)?;
    /// assert_eq!(tree.rights(&Principal::Server(server), &instance(&tree)).to_string(), "Read,Write,Exec");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grant_rights(
        &mut self,
        server: &ServerId,
        moid: &str,
        miid: &str,
        rights: Rights,
    ) -> Result<(), Error> {
        if self.instance(moid, miid).is_none() {
            return Err(Error::NotFound);
        }
        let existing = self
            .instances_of(DACMO_MOID)
            .find(|entry| controlled(entry).is_some_and(|(m, i)| m == moid && i == miid))
            .map(|entry| entry.miid().clone());
        let Some(entry_miid) = existing else {
            let (dacmo, data) = dacmo_entry_for(moid, miid, Some((server, rights)));
            let entry_miid = self.next_miid(&dacmo);
            return self.insert(MoInstance::new(dacmo, entry_miid, &data));
        };
        let entry = self
            .instance_mut(DACMO_MOID, entry_miid.as_str())
            .ok_or(Error::NotFound)?;
        let name = |text: &str| NodeName::new(text).map_err(|_| Error::NotFound);
        let acl = match entry.child(NodeId::ROOT, "ACL") {
            Some(acl) => acl,
            None => entry.write(
                &[name("ACL")?],
                &dm_types::MoData::new(
                    name("ACL")?,
                    MoNode::Interior(dm_types::Children::default()),
                ),
            )?,
        };
        let items = entry.children(acl).to_vec();
        let item = items
            .iter()
            .find(|&&item| {
                entry
                    .child(item, "ServerID")
                    .and_then(|id| entry.value(id))
                    .is_some_and(|v| v.to_text() == server.as_str())
            })
            .and_then(|&item| entry.name(item))
            .map(str::to_owned);
        let item = match item {
            Some(item) => item,
            None => (1..=items.len() + 1)
                .map(|n| n.to_string())
                .find(|candidate| entry.child(acl, candidate).is_none())
                .unwrap_or_else(|| unreachable!("one of count + 1 names is free")),
        };
        let item = name(&item)?;
        entry.write(
            &[name("ACL")?, item.clone()],
            &dm_types::MoData::new(item, acl_item(server, rights)),
        )?;
        Ok(())
    }
}
