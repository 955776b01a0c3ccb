//! The standard MO instances every DM 2.0 client holds, built from plain
//! configuration: DevInfo and SessionInfo (PROTOCOL.md section 10.2).

use std::sync::Arc;

use dm_types::{Children, DevId, LeafValue, Miid, MoData, MoNode, Moid, NodeName};

use crate::MoInstance;

/// The DevInfo MOID.
pub const DEVINFO_MOID: &str = "urn:oma:mo:oma-dm-devinfo:1.2";
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
/// assert_eq!(instance.client_uri(dm_tree::NodeId::ROOT).as_str(), "urn:oma:mo:oma-dm-devinfo:1.2/devinfo/");
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
        instance(DEVINFO_MOID, "devinfo", &data, dm_ddf::standard::devinfo())
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
            dm_ddf::standard::sessioninfo(),
        )
    }
}

fn instance(
    moid: &str,
    miid: &str,
    data: &MoData,
    definition: &dm_ddf::MoDefinition,
) -> MoInstance {
    let moid = Moid::new(moid).unwrap_or_else(|_| unreachable!("constant MOID is valid"));
    let miid = Miid::new(miid).unwrap_or_else(|_| unreachable!("constant MIID is valid"));
    MoInstance::new(moid, miid, data).with_definition(Arc::new(definition.clone()))
}
