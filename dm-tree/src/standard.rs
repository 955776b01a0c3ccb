//! The standard MO instances every DM 2.0 client holds, built from plain
//! configuration: DevInfo, DMAcc and SessionInfo (docs/protocol.md section 10.2).

use std::fmt;
use std::sync::{Arc, LazyLock};

use dm_ddf::MoDefinition;

use dm_types::{
    Children, DevId, LeafValue, Miid, MoData, MoNode, Moid, NodeFormat, NodeName, ServerId,
    ServerUri,
};

use crate::{DMACC_MOID, Error, MoInstance, MoTree, NodeId};

/// The DevInfo MOID.
pub const DEVINFO_MOID: &str = "urn:oma:mo:oma-dm-devinfo:1.0";
/// The SessionInfo MOID.
pub const SESSIONINFO_MOID: &str = "urn:oma:mo:oma-sessioninfomo:1.0";

fn name(text: &str) -> NodeName {
    NodeName::new(text).unwrap_or_else(|_| unreachable!("constant node names are valid"))
}

fn interior(children: Vec<(NodeName, MoNode)>) -> MoNode {
    // Constant, distinct names.
    MoNode::Interior(Children::new(children).unwrap_or_default())
}

fn leaf(text: &str) -> MoNode {
    MoNode::Leaf(LeafValue::from(text))
}

/// The DevInfo of a device: identity, make and versions (all read-only).
///
/// ```
/// use dm_tree::DevInfo;
/// use dm_types::DevId;
///
/// let devinfo = DevInfo::new(DevId::new("IMEI:493005100592800")?, "Acme", "X1");
/// let instance = devinfo.to_instance();
/// assert_eq!(instance.client_uri(dm_tree::NodeId::ROOT).as_str(), "urn:oma:mo:oma-dm-devinfo:1.0/devinfo/");
/// assert!(instance.lookup(["DevID"]).is_some());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevInfo {
    /// `DevID`: IMEI, ESN, MEID or UUID URN.
    pub dev_id: DevId,
    /// `Man`: manufacturer.
    pub manufacturer: String,
    /// `Mod`: model.
    pub model: String,
    /// `DmV`: DM client version (default `2.0`).
    pub dm_version: String,
    /// `Lang`: current language (default `en`).
    pub language: String,
    /// `DevType`: device type.
    pub device_type: String,
    /// `OEM`.
    pub oem: String,
    /// `FwV`: firmware version.
    pub firmware_version: String,
    /// `SwV`: software version.
    pub software_version: String,
    /// `HwV`: hardware version.
    pub hardware_version: String,
}

impl DevInfo {
    /// DevInfo with the three identifying values; the others default to
    /// `DmV` `2.0`, `Lang` `en` and empty text.
    pub fn new(dev_id: DevId, manufacturer: &str, model: &str) -> DevInfo {
        DevInfo {
            dev_id,
            manufacturer: manufacturer.to_owned(),
            model: model.to_owned(),
            dm_version: "2.0".to_owned(),
            language: "en".to_owned(),
            device_type: String::new(),
            oem: String::new(),
            firmware_version: String::new(),
            software_version: String::new(),
            hardware_version: String::new(),
        }
    }

    /// The DevInfo instance (MIID `devinfo`, root `DevInfo`), with the
    /// standard DevInfo 1.2 definition attached.
    pub fn to_instance(&self) -> MoInstance {
        let data = MoData::new(
            name("DevInfo"),
            interior(vec![
                (name("DevID"), leaf(self.dev_id.as_str())),
                (name("DevType"), leaf(&self.device_type)),
                (name("DmV"), leaf(&self.dm_version)),
                (name("FwV"), leaf(&self.firmware_version)),
                (name("HwV"), leaf(&self.hardware_version)),
                (name("Lang"), leaf(&self.language)),
                (name("Man"), leaf(&self.manufacturer)),
                (name("Mod"), leaf(&self.model)),
                (name("OEM"), leaf(&self.oem)),
                (name("SwV"), leaf(&self.software_version)),
            ]),
        );
        instance(DEVINFO_MOID, "devinfo", &data, &DEVINFO_DEFINITION)
    }
}

/// Information about the current session (SessionInfo, read-only).
///
/// ```
/// use dm_tree::SessionInfo;
///
/// let info = SessionInfo { bearer: "WLAN".into(), initiator: "Server".into(),
///                          server_id: "dm.example".into(), start_time: "2026-11-24T06:00:00Z".into() };
/// let instance = info.to_instance();
/// let cbt = instance.lookup(["CBT"]).unwrap();
/// assert_eq!(instance.value(cbt).map(|v| v.to_text().into_owned()), Some("WLAN".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// `CBT`: current bearer type (`CELLULAR`, `WLAN`, `WIRELINE`, `OTHER`).
    pub bearer: String,
    /// `Initiator`: `Server`, `Client` or `Bootstrap`.
    pub initiator: String,
    /// `SrvID`: the server of the session.
    pub server_id: String,
    /// `StartTime`: RFC 3339 date-time.
    pub start_time: String,
}

impl SessionInfo {
    /// The SessionInfo instance (MIID `sessioninfo`, root `SessionInfo`),
    /// with the standard definition attached.
    pub fn to_instance(&self) -> MoInstance {
        let data = MoData::new(
            name("SessionInfo"),
            interior(vec![
                (name("CBT"), leaf(&self.bearer)),
                (name("Initiator"), leaf(&self.initiator)),
                (name("SrvID"), leaf(&self.server_id)),
                (name("StartTime"), leaf(&self.start_time)),
            ]),
        );
        instance(
            SESSIONINFO_MOID,
            "sessioninfo",
            &data,
            &SESSIONINFO_DEFINITION,
        )
    }
}

/// The standard definitions, shared by every instance built here (an
/// `Arc` each, not a copy per instance: a fleet of simulated devices holds
/// thousands of these instances).
static DEVINFO_DEFINITION: LazyLock<Arc<MoDefinition>> =
    LazyLock::new(|| Arc::new(dm_ddf::standard::devinfo().clone()));
static DMACC_DEFINITION: LazyLock<Arc<MoDefinition>> =
    LazyLock::new(|| Arc::new(dm_ddf::standard::dmacc().clone()));
static SESSIONINFO_DEFINITION: LazyLock<Arc<MoDefinition>> =
    LazyLock::new(|| Arc::new(dm_ddf::standard::sessioninfo().clone()));
static DACMO_DEFINITION: LazyLock<Arc<MoDefinition>> =
    LazyLock::new(|| Arc::new(dm_ddf::standard::dacmo().clone()));

impl MoTree {
    /// Registers ([`MoTree::define`]) the standard definitions of DevInfo,
    /// DMAcc, SessionInfo and the DACMO (docs/protocol.md sections 7 and
    /// 10.2), replacing any other definition of those MOIDs, so that their
    /// one-instance, read-only and secret rules hold for every instance
    /// inserted later. `dm_client::DmClient` always does this.
    ///
    /// ```
    /// use dm_tree::MoTree;
    ///
    /// let mut tree = MoTree::new();
    /// tree.define_standard();
    /// tree.insert(dm_tree::DevInfo::new(dm_types::DevId::new("IMEI:1")?, "Acme", "X1").to_instance())?;
    /// assert!(tree.instances_of(dm_tree::DEVINFO_MOID).all(|i| i.definition().is_some()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn define_standard(&mut self) {
        for (moid, definition) in [
            (DEVINFO_MOID, &*DEVINFO_DEFINITION),
            (DMACC_MOID, &*DMACC_DEFINITION),
            (SESSIONINFO_MOID, &*SESSIONINFO_DEFINITION),
            (crate::DACMO_MOID, &*DACMO_DEFINITION),
        ] {
            let moid = Moid::new(moid).unwrap_or_else(|_| unreachable!("constant MOID is valid"));
            self.define(moid, Arc::clone(definition));
        }
    }

    /// Removes the instances no server can legitimately have made, as a
    /// state written by an older version may hold them (docs/protocol.md
    /// sections 4 and 10.2): every DevInfo or SessionInfo instance a server
    /// created (the device maintains those), and, for any other MO whose
    /// definition allows one instance but which holds several, the
    /// server-created ones beyond the one kept (the first the device
    /// created, else the first). Their DACMO entries go with them. Returns
    /// the ClientURIs of the removed instance roots, for the caller to log.
    ///
    /// ```
    /// use dm_tree::{MoInstance, MoTree, Principal};
    /// use dm_types::{LeafValue, Miid, MoData, MoNode, Moid, NodeName, ServerId};
    ///
    /// let mut tree = MoTree::new();
    /// tree.define_standard();
    /// tree.insert(dm_tree::DevInfo::new(dm_types::DevId::new("IMEI:1")?, "Acme", "X1").to_instance())?;
    /// let forged = MoData::new(NodeName::new("DevInfo")?, MoNode::Leaf(LeafValue::Null));
    /// let server = Principal::Server(ServerId::new("evil")?);
    /// tree.insert(MoInstance::new(Moid::new(dm_tree::DEVINFO_MOID)?, Miid::new("1")?, &forged).with_creator(server))?;
    /// let removed = tree.remove_surplus_instances();
    /// assert_eq!(removed[0].as_str(), "urn:oma:mo:oma-dm-devinfo:1.0/1/");
    /// assert_eq!(tree.instances_of(dm_tree::DEVINFO_MOID).count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_surplus_instances(&mut self) -> Vec<dm_types::ClientUri> {
        let by_server =
            |instance: &MoInstance| matches!(instance.creator(), crate::Principal::Server(_));
        let mut doomed: Vec<(Moid, Miid)> = Vec::new();
        for (moid, by_miid) in &self.instances {
            let instances: Vec<&MoInstance> = by_miid.values().map(AsRef::as_ref).collect();
            if moid.as_str() == DEVINFO_MOID || moid.as_str() == SESSIONINFO_MOID {
                doomed.extend(
                    instances
                        .iter()
                        .filter(|i| by_server(i))
                        .map(|i| (i.moid().clone(), i.miid().clone())),
                );
                continue;
            }
            let single = instances
                .first()
                .and_then(|i| i.governing_definition())
                .is_some_and(|d| {
                    !d.nodes.is_empty() && d.nodes.iter().all(|r| r.occurrence.max() == Some(1))
                });
            if single && instances.len() > 1 {
                let kept = instances.iter().position(|i| !by_server(i)).unwrap_or(0);
                doomed.extend(
                    instances
                        .iter()
                        .enumerate()
                        .filter(|(index, i)| *index != kept && by_server(i))
                        .map(|(_, i)| (i.moid().clone(), i.miid().clone())),
                );
            }
        }
        let mut removed = Vec::with_capacity(doomed.len());
        for (moid, miid) in doomed {
            if let Some(instance) = self.remove(moid.as_str(), miid.as_str()) {
                removed.push(instance.client_uri(NodeId::ROOT));
                self.remove_dacmo_entries(moid.as_str(), miid.as_str());
            }
        }
        removed
    }
}

fn instance(moid: &str, miid: &str, data: &MoData, definition: &Arc<MoDefinition>) -> MoInstance {
    let moid = Moid::new(moid).unwrap_or_else(|_| unreachable!("constant MOID is valid"));
    let miid = Miid::new(miid).unwrap_or_else(|_| unreachable!("constant MIID is valid"));
    MoInstance::new(moid, miid, data).with_definition(Arc::clone(definition))
}

/// How a server authenticates the notifications it sends (the DMAcc
/// `Auth/Noti` subtree, docs/protocol.md section 3.6). The secret never leaves
/// the device: servers cannot read `Auth/Noti/Secret`, only the device
/// itself can (through [`DmAcc::from_instance`]).
///
/// ```
/// use dm_tree::NotificationAuth;
///
/// let auth = NotificationAuth::sha256(b"s3cr3t".to_vec(), b"auth-data".to_vec());
/// assert!(auth.digest_required());
/// assert!(!format!("{auth:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct NotificationAuth {
    /// `Auth/Noti/Type`: [`NotificationAuth::TYPE_NONE`] or
    /// [`NotificationAuth::TYPE_SHA256`].
    pub auth_type: i64,
    /// `Auth/Noti/Secret`, when set.
    pub secret: Option<Vec<u8>>,
    /// `Auth/Noti/Data` (empty when absent).
    pub data: Vec<u8>,
}

impl NotificationAuth {
    /// `Auth/Noti/Type` 0: notifications are not authenticated.
    pub const TYPE_NONE: i64 = 0;
    /// `Auth/Noti/Type` 1: SHA-256 digest over secret, notification and data.
    pub const TYPE_SHA256: i64 = 1;

    /// An `Auth/Noti` subtree of type none: the account accepts
    /// notifications without a digest (an account without `Auth/Noti`
    /// accepts none at all, docs/protocol.md section 3.6).
    ///
    /// ```
    /// use dm_tree::NotificationAuth;
    ///
    /// assert!(!NotificationAuth::unauthenticated().digest_required());
    /// ```
    pub fn unauthenticated() -> NotificationAuth {
        NotificationAuth {
            auth_type: NotificationAuth::TYPE_NONE,
            secret: None,
            data: Vec::new(),
        }
    }

    /// SHA-256 digest authentication with `secret` and `data`.
    pub fn sha256(secret: Vec<u8>, data: Vec<u8>) -> NotificationAuth {
        NotificationAuth {
            auth_type: NotificationAuth::TYPE_SHA256,
            secret: Some(secret),
            data,
        }
    }

    /// Whether a notification must carry a valid digest: the account holds
    /// a secret, or its type asks for the digest (docs/protocol.md section 3.6).
    pub fn digest_required(&self) -> bool {
        self.secret.is_some() || self.auth_type == NotificationAuth::TYPE_SHA256
    }
}

impl fmt::Debug for NotificationAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationAuth")
            .field("auth_type", &self.auth_type)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("data", &self.data)
            .finish()
    }
}

/// A DMAcc account (one per server, docs/protocol.md section 10.2) from plain
/// configuration: what a factory bootstrap writes.
///
/// ```
/// use dm_tree::{DmAcc, MoTree, NotificationAuth};
/// use dm_types::{Miid, Moid, ServerId, ServerUri};
///
/// let mut account = DmAcc::new(ServerId::new("dm.example")?, ServerUri::new("https://dm.example/dm")?);
/// account.perm_moids.push(Moid::new("urn:oma:mo:oma-dm-devinfo:1.0")?);
/// account.notification = Some(NotificationAuth::sha256(b"key".to_vec(), Vec::new()));
/// let mut tree = MoTree::new();
/// let miid = tree.add_dm_acc(&account)?;
/// assert_eq!(miid.as_str(), "acc1");
/// assert_eq!(tree.allowed_moids(&account.server_id), ["urn:oma:mo:oma-dm-devinfo:1.0"]);
/// // The device reads its own account back, secret included.
/// assert_eq!(tree.dm_acc(&account.server_id)?, Some(account));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmAcc {
    /// `SrvID`: the server identifier, unique on the device.
    pub server_id: ServerId,
    /// `SrvURI`: where sessions are opened.
    pub server_uri: ServerUri,
    /// `Name`: user-displayable name (left out when empty).
    pub name: String,
    /// `Perm/<x>/MOID`: the MOIDs this server may manage.
    pub perm_moids: Vec<Moid>,
    /// `Auth/Noti`: notification authentication, when configured.
    pub notification: Option<NotificationAuth>,
    /// `Auth/Bootstrap`: present on a bootstrap account (docs/protocol.md
    /// section 11.1).
    pub bootstrap: Option<BootstrapAuth>,
    /// `Auth/Trsp`: the TLS client certificate of management sessions.
    pub transport: Option<TransportAuth>,
    /// `Ext/HTTPAuth`: HTTP Basic or Digest credentials of the client.
    pub http: Option<HttpAuth>,
}

impl DmAcc {
    /// An account with no name, no permission and no notification
    /// authentication.
    pub fn new(server_id: ServerId, server_uri: ServerUri) -> DmAcc {
        DmAcc {
            server_id,
            server_uri,
            name: String::new(),
            perm_moids: Vec::new(),
            notification: None,
            bootstrap: None,
            transport: None,
            http: None,
        }
    }

    /// Whether this is a bootstrap account: its `Auth/Bootstrap` subtree is
    /// present (docs/protocol.md section 11.1).
    ///
    /// ```
    /// use dm_tree::{BootstrapAuth, DmAcc, SecMode};
    /// use dm_types::{ServerId, ServerUri};
    ///
    /// let mut account = DmAcc::new(ServerId::new("bs")?, ServerUri::new("https://bs.example/dm")?);
    /// assert!(!account.is_bootstrap_account());
    /// account.bootstrap = Some(BootstrapAuth::new(ServerUri::new("https://bs.example/bootstrap")?, SecMode::Psk));
    /// assert!(account.is_bootstrap_account());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn is_bootstrap_account(&self) -> bool {
        self.bootstrap.is_some()
    }

    /// The DMAcc instance (root `DMAcc`) with MIID `miid`, with the
    /// standard DMAcc 1.2 definition attached. `Perm` entries are named
    /// `1`, `2`, ... in list order; `Auth/Noti` is written only when
    /// [`DmAcc::notification`] is set.
    pub fn to_instance(&self, miid: Miid) -> MoInstance {
        let mut children = vec![
            (name("SrvID"), leaf(self.server_id.as_str())),
            (name("SrvURI"), leaf(self.server_uri.as_str())),
            (name("Perm"), perm_node(&self.perm_moids)),
            (name("Auth"), self.auth_node()),
        ];
        if !self.name.is_empty() {
            children.push((name("Name"), leaf(&self.name)));
        }
        if let Some(http) = &self.http {
            children.push((
                name("Ext"),
                interior(vec![(
                    name("HTTPAuth"),
                    interior(vec![
                        (name("Name"), leaf(&http.name)),
                        (name("Secret"), binary(&http.secret)),
                    ]),
                )]),
            ));
        }
        let data = MoData::new(name("DMAcc"), interior(children));
        let moid = Moid::new(DMACC_MOID).unwrap_or_else(|_| unreachable!("constant MOID is valid"));
        MoInstance::new(moid, miid, &data).with_definition(Arc::clone(&DMACC_DEFINITION))
    }

    /// Reads an account from a DMAcc instance as the device sees it
    /// (secret nodes included). `bin` leaves may hold bytes or, after a
    /// snapshot round trip, their base64 text.
    ///
    /// Errors ([`Error::InvalidData`]): a missing or invalid `SrvID` or
    /// `SrvURI`, a `Perm` MOID that is not a URN, a `bin` leaf that is not
    /// base64, an `Auth/Noti/Type` that is not an integer, an
    /// `Auth/Bootstrap` without a valid `ServerURI` or whose `SecMode` is not
    /// exactly one byte 0 or 1, an `Ext/HTTPAuth` without `Name`.
    pub fn from_instance(instance: &MoInstance) -> Result<DmAcc, Error> {
        let bad =
            |what: &str| Error::invalid_data(format!("DMAcc {}", instance.miid().as_str()), what);
        let text = |path: &[&str]| {
            instance
                .lookup(path.iter().copied())
                .and_then(|id| instance.value(id))
                .map(|value| value.to_text().into_owned())
        };
        let server_id = text(&["SrvID"])
            .ok_or_else(|| bad("no SrvID"))
            .and_then(|t| ServerId::new(t).map_err(|e| bad(&e.to_string())))?;
        let server_uri = text(&["SrvURI"])
            .ok_or_else(|| bad("no SrvURI"))
            .and_then(|t| ServerUri::new(t).map_err(|e| bad(&e.to_string())))?;
        let mut perm_moids = Vec::new();
        if let Some(perm) = instance.child(NodeId::ROOT, "Perm") {
            for &entry in instance.children(perm) {
                if let Some(value) = instance
                    .child(entry, "MOID")
                    .and_then(|m| instance.value(m))
                {
                    perm_moids.push(
                        Moid::new(value.to_text().into_owned())
                            .map_err(|e| bad(&format!("Perm: {e}")))?,
                    );
                }
            }
        }
        // A `bin` leaf below `parent` (at `path`), as bytes.
        let bytes =
            |parent: NodeId, path: &str, leaf_name: &str| -> Result<Option<Vec<u8>>, Error> {
                let Some(value) = instance
                    .child(parent, leaf_name)
                    .and_then(|id| instance.value(id))
                else {
                    return Ok(None);
                };
                match value.clone().conform(NodeFormat::Bin) {
                    Ok(LeafValue::Binary(bytes)) => Ok(Some(bytes)),
                    _ => Err(bad(&format!("{path}/{leaf_name} is not base64"))),
                }
            };
        let child_text = |parent: NodeId, leaf_name: &str| {
            instance
                .child(parent, leaf_name)
                .and_then(|id| instance.value(id))
                .map(|value| value.to_text().into_owned())
        };
        let bootstrap = match instance.lookup(["Auth", "Bootstrap"]) {
            None => None,
            Some(node) => {
                let path = "Auth/Bootstrap";
                let server_uri = child_text(node, "ServerURI")
                    .ok_or_else(|| bad("no Auth/Bootstrap/ServerURI"))
                    .and_then(|t| {
                        ServerUri::new(t)
                            .map_err(|e| bad(&format!("Auth/Bootstrap/ServerURI: {e}")))
                    })?;
                let mode = match bytes(node, path, "SecMode")? {
                    None => return Err(bad("no Auth/Bootstrap/SecMode")),
                    Some(mode) => SecMode::from_bytes(&mode).ok_or_else(|| {
                        bad(&format!(
                            "Auth/Bootstrap/SecMode must be one byte, 0 (X.509) or 1 (PSK), not {} byte(s){}",
                            mode.len(),
                            mode.first()
                                .filter(|_| mode.len() == 1)
                                .map(|b| format!(" of value {b}"))
                                .unwrap_or_default()
                        ))
                    })?,
                };
                Some(BootstrapAuth {
                    server_uri,
                    mode,
                    client_public: bytes(node, path, "ClientPubKey")?.unwrap_or_default(),
                    server_public: bytes(node, path, "ServerPubKey")?.unwrap_or_default(),
                    client_secret: bytes(node, path, "ClientSecretKey")?.unwrap_or_default(),
                })
            }
        };
        let transport = match instance.lookup(["Auth", "Trsp"]) {
            None => None,
            Some(node) => Some(TransportAuth {
                data: bytes(node, "Auth/Trsp", "Data")?.unwrap_or_default(),
                secret: bytes(node, "Auth/Trsp", "Secret")?.unwrap_or_default(),
            }),
        };
        let http = match instance.lookup(["Ext", "HTTPAuth"]) {
            None => None,
            Some(node) => Some(HttpAuth {
                name: child_text(node, "Name").ok_or_else(|| bad("no Ext/HTTPAuth/Name"))?,
                secret: bytes(node, "Ext/HTTPAuth", "Secret")?.unwrap_or_default(),
            }),
        };
        let notification = match instance.lookup(["Auth", "Noti"]) {
            None => None,
            Some(noti) => {
                let auth_type = match instance
                    .child(noti, "Type")
                    .and_then(|id| instance.value(id))
                {
                    None => NotificationAuth::TYPE_NONE,
                    Some(LeafValue::Int(n)) => *n,
                    Some(other) => other
                        .to_text()
                        .parse()
                        .map_err(|_| bad("Auth/Noti/Type is not an integer"))?,
                };
                Some(NotificationAuth {
                    auth_type,
                    secret: bytes(noti, "Auth/Noti", "Secret")?,
                    data: bytes(noti, "Auth/Noti", "Data")?.unwrap_or_default(),
                })
            }
        };
        Ok(DmAcc {
            server_id,
            server_uri,
            name: text(&["Name"]).unwrap_or_default(),
            perm_moids,
            notification,
            bootstrap,
            transport,
            http,
        })
    }
}

fn perm_node(moids: &[Moid]) -> MoNode {
    let entries = moids
        .iter()
        .enumerate()
        .map(|(index, moid)| {
            (
                name(&(index + 1).to_string()),
                interior(vec![(name("MOID"), leaf(moid.as_str()))]),
            )
        })
        .collect();
    interior(entries)
}

fn binary(bytes: &[u8]) -> MoNode {
    MoNode::Leaf(LeafValue::Binary(bytes.to_vec()))
}

impl DmAcc {
    /// The `Auth` subtree: `Noti`, `Bootstrap` and `Trsp` when set.
    fn auth_node(&self) -> MoNode {
        let mut auth = Vec::new();
        if let Some(notification) = &self.notification {
            let mut noti = vec![(
                name("Type"),
                MoNode::Leaf(LeafValue::Int(notification.auth_type)),
            )];
            if let Some(secret) = &notification.secret {
                noti.push((name("Secret"), binary(secret)));
            }
            noti.push((name("Data"), binary(&notification.data)));
            auth.push((name("Noti"), interior(noti)));
        }
        if let Some(bootstrap) = &self.bootstrap {
            auth.push((
                name("Bootstrap"),
                interior(vec![
                    (name("ServerURI"), leaf(bootstrap.server_uri.as_str())),
                    (name("SecMode"), binary(&[bootstrap.mode.byte()])),
                    (name("ClientPubKey"), binary(&bootstrap.client_public)),
                    (name("ServerPubKey"), binary(&bootstrap.server_public)),
                    (name("ClientSecretKey"), binary(&bootstrap.client_secret)),
                ]),
            ));
        }
        if let Some(transport) = &self.transport {
            auth.push((
                name("Trsp"),
                interior(vec![
                    (name("Data"), binary(&transport.data)),
                    (name("Secret"), binary(&transport.secret)),
                ]),
            ));
        }
        interior(auth)
    }
}

/// The TLS mode of a bootstrap (`Auth/Bootstrap/SecMode`, one byte,
/// docs/protocol.md section 11.1).
///
/// ```
/// use dm_tree::SecMode;
///
/// assert_eq!(SecMode::from_bytes(&[1]), Some(SecMode::Psk));
/// assert_eq!(SecMode::X509.byte(), 0);
/// assert_eq!(SecMode::from_bytes(&[0, 0]), None);
/// assert_eq!(SecMode::from_bytes(&[2]), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecMode {
    /// Byte 0: X.509 certificate mode.
    X509,
    /// Byte 1: PSK-TLS mode (RFC 4279).
    Psk,
}

impl SecMode {
    /// The `SecMode` byte.
    pub fn byte(self) -> u8 {
        match self {
            SecMode::X509 => 0,
            SecMode::Psk => 1,
        }
    }

    /// The mode a `SecMode` value names: exactly one byte, 0 or 1.
    pub fn from_bytes(bytes: &[u8]) -> Option<SecMode> {
        match bytes {
            [0] => Some(SecMode::X509),
            [1] => Some(SecMode::Psk),
            _ => None,
        }
    }
}

/// The bootstrap credentials of an account (`Auth/Bootstrap`,
/// docs/protocol.md section 11.1). In X.509 mode `client_public` is the
/// client certificate (DER), `client_secret` its private key (PKCS#8 DER) and
/// `server_public` the server's or its issuer's certificate (DER); in PSK mode
/// they are the PSK identity, the pre-shared key and the expected identity
/// hint. None of the three is ever readable by a server; `Debug` hides all
/// three.
///
/// ```
/// use dm_tree::{BootstrapAuth, SecMode};
/// use dm_types::ServerUri;
///
/// let mut auth = BootstrapAuth::new(ServerUri::new("https://bs.example/dm")?, SecMode::Psk);
/// auth.client_public = b"device-17".to_vec();
/// auth.client_secret = b"pre-shared".to_vec();
/// let shown = format!("{auth:?}");
/// assert!(shown.contains("Psk") && !shown.contains("pre-shared") && !shown.contains("device-17"));
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapAuth {
    /// `ServerURI`: the bootstrap server (https).
    pub server_uri: ServerUri,
    /// `SecMode`: X.509 or PSK.
    pub mode: SecMode,
    /// `ClientPubKey`: client certificate (X.509) or PSK identity.
    pub client_public: Vec<u8>,
    /// `ServerPubKey`: expected server or CA certificate (X.509) or PSK
    /// identity hint.
    pub server_public: Vec<u8>,
    /// `ClientSecretKey`: client private key (X.509) or pre-shared key.
    pub client_secret: Vec<u8>,
}

impl BootstrapAuth {
    /// Bootstrap credentials with empty key material.
    pub fn new(server_uri: ServerUri, mode: SecMode) -> BootstrapAuth {
        BootstrapAuth {
            server_uri,
            mode,
            client_public: Vec::new(),
            server_public: Vec::new(),
            client_secret: Vec::new(),
        }
    }
}

impl fmt::Debug for BootstrapAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapAuth")
            .field("server_uri", &self.server_uri)
            .field("mode", &self.mode)
            .field("client_public", &"<hidden>")
            .field("server_public", &"<hidden>")
            .field("client_secret", &"<hidden>")
            .finish()
    }
}

/// The TLS client credentials of management sessions (`Auth/Trsp`,
/// docs/protocol.md section 11.1): `data` the certificate chain (DER, or PEM
/// text), `secret` the private key (never readable; hidden by `Debug`).
///
/// ```
/// use dm_tree::TransportAuth;
///
/// let auth = TransportAuth { data: b"-----BEGIN CERTIFICATE-----".to_vec(), secret: b"key!".to_vec() };
/// assert!(!format!("{auth:?}").contains("key!"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TransportAuth {
    /// `Data`: the certificate chain.
    pub data: Vec<u8>,
    /// `Secret`: the private key.
    pub secret: Vec<u8>,
}

impl fmt::Debug for TransportAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportAuth")
            .field("data", &format_args!("{} bytes", self.data.len()))
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// The HTTP Basic or Digest credentials of the client for one server
/// (`Ext/HTTPAuth`, a project extension, docs/protocol.md section 11.1):
/// `secret` is never readable and hidden by `Debug`.
///
/// ```
/// use dm_tree::HttpAuth;
///
/// let auth = HttpAuth { name: "device-17".into(), secret: b"p4ss".to_vec() };
/// let shown = format!("{auth:?}");
/// assert!(shown.contains("device-17") && !shown.contains("p4ss"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HttpAuth {
    /// `Name`: the user name.
    pub name: String,
    /// `Secret`: the password.
    pub secret: Vec<u8>,
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAuth")
            .field("name", &self.name)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl MoTree {
    /// The DMAcc instance whose `SrvID` is `server`.
    fn dm_acc_instance(&self, server: &ServerId) -> Option<&MoInstance> {
        self.instances_of(DMACC_MOID).find(|account| {
            account
                .child(NodeId::ROOT, "SrvID")
                .and_then(|id| account.value(id))
                .is_some_and(|value| value.to_text() == server.as_str())
        })
    }

    /// The account of `server`, read as the device (secrets included); `None`
    /// when no DMAcc instance has that `SrvID`.
    pub fn dm_acc(&self, server: &ServerId) -> Result<Option<DmAcc>, Error> {
        self.dm_acc_instance(server)
            .map(DmAcc::from_instance)
            .transpose()
    }

    /// Every account, in MIID order; instances that do not read as an
    /// account are reported as errors in place.
    pub fn dm_accs(&self) -> Vec<Result<DmAcc, Error>> {
        self.instances_of(DMACC_MOID)
            .map(DmAcc::from_instance)
            .collect()
    }

    /// Adds the DMAcc instance of `account` (a bootstrap by the device) under
    /// the first free MIID among `acc1`, `acc2`, ... and returns it.
    /// [`Error::InstanceExists`] when the server already has an account.
    pub fn add_dm_acc(&mut self, account: &DmAcc) -> Result<Miid, Error> {
        if self.dm_acc_instance(&account.server_id).is_some() {
            return Err(Error::InstanceExists);
        }
        let count = self.instances_of(DMACC_MOID).count();
        let miid = (1..=count + 1)
            .map(|n| format!("acc{n}"))
            .find(|candidate| self.instance(DMACC_MOID, candidate).is_none())
            .and_then(|text| Miid::new(text).ok())
            .unwrap_or_else(|| unreachable!("`accN` is a valid MIID and one is free"));
        self.insert(account.to_instance(miid.clone()))?;
        Ok(miid)
    }

    /// Adds `moid` to the `Perm` list of `server`'s account (a change by
    /// the device itself); returns whether it was missing.
    /// [`Error::NotFound`] when the server has no account.
    ///
    /// ```
    /// use dm_tree::{DmAcc, MoTree};
    /// use dm_types::{Moid, ServerId, ServerUri};
    ///
    /// let server = ServerId::new("dm.example")?;
    /// let mut tree = MoTree::new();
    /// tree.add_dm_acc(&DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?))?;
    /// let wlan = Moid::new("urn:x:wlan:1.0")?;
    /// assert!(tree.grant_moid(&server, &wlan)?);
    /// assert!(!tree.grant_moid(&server, &wlan)?);
    /// assert_eq!(tree.allowed_moids(&server), ["urn:x:wlan:1.0"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn grant_moid(&mut self, server: &ServerId, moid: &Moid) -> Result<bool, Error> {
        if self
            .allowed_moids(server)
            .iter()
            .any(|m| m == moid.as_str())
        {
            return Ok(false);
        }
        let miid = self
            .dm_acc_instance(server)
            .ok_or(Error::NotFound)?
            .miid()
            .clone();
        let instance = self
            .instance_mut(DMACC_MOID, miid.as_str())
            .ok_or(Error::NotFound)?;
        let perm = match instance.child(NodeId::ROOT, "Perm") {
            Some(perm) => perm,
            None => instance.write(
                &[name("Perm")],
                &MoData::new(name("Perm"), interior(Vec::new())),
            )?,
        };
        let count = instance.children(perm).len();
        let entry = (1..=count + 1)
            .map(|n| n.to_string())
            .find(|candidate| instance.child(perm, candidate).is_none())
            .map_or_else(|| name("1"), |text| name(&text));
        let data = MoData::new(
            entry.clone(),
            interior(vec![(name("MOID"), leaf(moid.as_str()))]),
        );
        instance.write(&[name("Perm"), entry], &data)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Principal, ReadOutcome};
    use dm_types::ClientUri;

    fn account() -> DmAcc {
        let mut account = DmAcc::new(
            ServerId::new("dm.example").expect("id"),
            ServerUri::new("https://dm.example/dm").expect("uri"),
        );
        account.name = "Example".into();
        account.perm_moids = vec![Moid::new(DEVINFO_MOID).expect("moid")];
        account.notification = Some(NotificationAuth::sha256(vec![0, 1, 2, 255], b"d".to_vec()));
        account
    }

    fn full_account() -> DmAcc {
        let mut account = account();
        let mut bootstrap = BootstrapAuth::new(
            ServerUri::new("https://bs.example/bootstrap").expect("uri"),
            SecMode::X509,
        );
        bootstrap.client_public = vec![0x30, 0x82, 1];
        bootstrap.server_public = vec![0x30, 0x82, 2];
        bootstrap.client_secret = b"client-private-key".to_vec();
        account.bootstrap = Some(bootstrap);
        account.transport = Some(TransportAuth {
            data: b"-----BEGIN CERTIFICATE-----\nMII\n".to_vec(),
            secret: b"transport-private-key".to_vec(),
        });
        account.http = Some(HttpAuth {
            name: "device-17".into(),
            secret: b"http-password".to_vec(),
        });
        account
    }

    #[test]
    fn every_credential_survives_instance_and_snapshot_round_trips() {
        let account = full_account();
        let instance = account.to_instance(Miid::new("acc1").expect("miid"));
        assert_eq!(DmAcc::from_instance(&instance), Ok(account.clone()));
        let data = instance.to_mo_data(NodeId::ROOT).expect("data");
        if let Err(e) = dm_ddf::standard::dmacc().validate(&data) {
            panic!("the written instance does not fit the DMAcc DDF: {e}");
        }
        let mut tree = MoTree::new();
        tree.add_dm_acc(&account).expect("added");
        let restored = MoTree::from_snapshot(&tree.to_snapshot(), MoTree::new()).expect("restored");
        assert_eq!(
            restored.dm_acc(&account.server_id),
            Ok(Some(account.clone()))
        );
        assert!(account.is_bootstrap_account());
        let shown = format!("{account:?}");
        for secret in [
            "client-private-key",
            "transport-private-key",
            "http-password",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for secret in [
            &b"client-private-key"[..],
            b"transport-private-key",
            b"http-password",
        ] {
            let text = format!("{secret:?}");
            assert!(
                !shown.contains(&text[1..text.len() - 1]),
                "bytes of a secret in {shown}"
            );
        }
    }

    #[test]
    fn a_bad_sec_mode_or_bootstrap_uri_is_reported_precisely() {
        for (value, message) in [
            (LeafValue::Binary(vec![2]), "not 1 byte(s) of value 2"),
            (LeafValue::Binary(vec![0, 1]), "not 2 byte(s)"),
            (LeafValue::Binary(Vec::new()), "not 0 byte(s)"),
            (LeafValue::from("AQ=="), ""),
        ] {
            let mut instance = full_account().to_instance(Miid::new("acc1").expect("miid"));
            instance
                .write(
                    &[name("Auth"), name("Bootstrap"), name("SecMode")],
                    &MoData::new(name("SecMode"), MoNode::Leaf(value.clone())),
                )
                .expect("written");
            let result = DmAcc::from_instance(&instance);
            if message.is_empty() {
                // Base64 text of the byte 1, as a snapshot leaves it.
                assert_eq!(
                    result.map(|a| a.bootstrap.map(|b| b.mode)),
                    Ok(Some(SecMode::Psk))
                );
            } else {
                let Err(Error::InvalidData { reason, .. }) = result else {
                    panic!("{value:?} accepted");
                };
                assert!(
                    reason.contains("Auth/Bootstrap/SecMode must be one byte"),
                    "{reason}"
                );
                assert!(reason.contains(message), "{reason}");
            }
        }
        let mut instance = full_account().to_instance(Miid::new("acc1").expect("miid"));
        instance
            .write(
                &[name("Auth"), name("Bootstrap"), name("ServerURI")],
                &MoData::new(name("ServerURI"), leaf("not a uri")),
            )
            .expect("written");
        let Err(Error::InvalidData { reason, .. }) = DmAcc::from_instance(&instance) else {
            panic!("a bad bootstrap URI accepted");
        };
        assert!(reason.starts_with("Auth/Bootstrap/ServerURI"), "{reason}");
    }

    #[test]
    fn account_survives_a_snapshot_round_trip() {
        let mut tree = MoTree::new();
        tree.add_dm_acc(&account()).expect("added");
        let restored = MoTree::from_snapshot(&tree.to_snapshot(), MoTree::new()).expect("restored");
        assert_eq!(restored.dm_acc(&account().server_id), Ok(Some(account())));
        assert_eq!(restored.dm_accs(), vec![Ok(account())]);
    }

    #[test]
    fn servers_never_read_the_secret() {
        let mut tree = MoTree::new();
        tree.add_dm_acc(&account()).expect("added");
        let server = Principal::Server(account().server_id);
        let all = ClientUri::parse("urn:oma:mo:oma-dm-dmacc:1.2/acc1/").expect("uri");
        let grant = Moid::new(DMACC_MOID).expect("moid");
        tree.grant_moid(&account().server_id, &grant)
            .expect("granted");
        let Ok(ReadOutcome::Data(items)) = tree.read(&server, &[all]) else {
            panic!("the server reads its own account");
        };
        let text = String::from_utf8(dm_codec::encode_mo_serialization(&items)).expect("utf-8");
        assert!(text.contains("SrvURI") && !text.contains("Secret") && !text.contains("Perm"));
        let secret =
            ClientUri::parse("urn:oma:mo:oma-dm-dmacc:1.2/acc1/Auth/Noti/Secret").expect("uri");
        assert_eq!(
            tree.read(&server, &[secret])
                .map(|_| ())
                .map_err(|e| e.status().as_u16()),
            Err(405)
        );
    }

    #[test]
    fn a_second_account_for_one_server_is_refused_and_bad_values_are_reported() {
        let mut tree = MoTree::new();
        tree.add_dm_acc(&account()).expect("added");
        assert_eq!(tree.add_dm_acc(&account()), Err(Error::InstanceExists));
        let mut other = account();
        other.server_id = ServerId::new("other").expect("id");
        assert_eq!(
            tree.add_dm_acc(&other).map(Miid::into_string),
            Ok("acc2".into())
        );
        let instance = tree.instance_mut(DMACC_MOID, "acc2").expect("acc2");
        instance
            .write(
                &[name("Auth"), name("Noti"), name("Secret")],
                &MoData::new(name("Secret"), leaf("not base64!")),
            )
            .expect("written");
        assert!(matches!(
            tree.dm_acc(&other.server_id),
            Err(Error::InvalidData { .. })
        ));
        assert_eq!(
            tree.grant_moid(
                &ServerId::new("nobody").expect("id"),
                &Moid::new("urn:x:y").expect("moid")
            ),
            Err(Error::NotFound)
        );
    }
}
