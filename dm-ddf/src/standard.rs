//! The standard MOs of DM 2.0 (docs/protocol.md sections 7 and 10.2), and
//! the update MOs used with it (FUMO and SCOMO, section 13), as DDF
//! documents bundled with the crate.
//!
//! Each DDF is available as its XML text (`*_XML`, the files in the crate's
//! `ddf/` folder) and as a parsed [`MoDefinition`], parsed once on first
//! use.
//!
//! ```
//! use dm_ddf::standard;
//!
//! let moids: Vec<String> = standard::all().iter().filter_map(|d| d.moid()).map(|m| m.into_string()).collect();
//! assert_eq!(moids, [
//!     "urn:oma:mo:oma-dm-devinfo:1.0",
//!     "urn:oma:mo:oma-dm-dmacc:1.2",
//!     "urn:oma:mo:oma-sessioninfomo:1.0",
//!     "urn:oma:mo:oma-dm-dacmo:1.0",
//! ]);
//! assert!(standard::DEVINFO_XML.contains("<VerDTD>1.2</VerDTD>"));
//! ```

use std::sync::LazyLock;

use crate::MoDefinition;

/// DevInfo (`urn:oma:mo:oma-dm-devinfo:1.0`, DDF document version 1.2): one instance, every node
/// Get only; `DevID`, `Man`, `Mod`, `DmV`, `Lang`, `DevType`, `OEM`, `FwV`,
/// `SwV`, `HwV` required `chr` leaves, `Bearer` and `Ext` optional open
/// interior nodes.
pub const DEVINFO_XML: &str = include_str!("../ddf/devinfo-1.2.xml");

/// DMAcc 1.2 (`urn:oma:mo:oma-dm-dmacc:1.2`): one instance per server. The
/// secret nodes (`Perm` and below, `Auth/Bootstrap/ClientPubKey`,
/// `ServerPubKey`, `ClientSecretKey`, `Auth/Noti/Secret`,
/// `Auth/Trsp/Secret`) lack `Get`, so
/// [`NodeDefinition::is_secret`](crate::NodeDefinition::is_secret) holds for
/// them.
pub const DMACC_XML: &str = include_str!("../ddf/dmacc-1.2.xml");

/// SessionInfo 1.0 (`urn:oma:mo:oma-sessioninfomo:1.0`): `CBT`,
/// `Initiator`, `SrvID`, `StartTime`, Get only.
pub const SESSIONINFO_XML: &str = include_str!("../ddf/sessioninfo-1.0.xml");

/// DACMO 1.0 (`urn:oma:mo:oma-dm-dacmo:1.0`): `<x>/MOID`, `<x>/MIID`,
/// `<x>/ACL/<y>/ServerID`, `<x>/ACL/<y>/Rights`.
pub const DACMO_XML: &str = include_str!("../ddf/dacmo-1.0.xml");

/// FUMO 1.0 (`urn:oma:mo:oma-fumo:1.0`, docs/protocol.md section 13.1):
/// zero or more instances with `PkgName`, `PkgVersion`, the executable
/// `Download`, `Update` and `DownloadAndUpdate` (with `PkgURL`, and
/// `Update/PkgData` writable but not readable), `State` (Get only) and
/// `Ext` holding the SDK's `PkgSize`, `PkgSHA256` and `PkgSignature`
/// (**[project decision]**) besides the vendor's own nodes.
pub const FUMO_XML: &str = include_str!("../ddf/fumo-1.0.xml");

/// SCOMO 1.0 (`urn:oma:mo:oma-scomo:1.0`, docs/protocol.md section 13.2):
/// `Download/<x>` (with `Operations/{Download, DownloadInstall,
/// DownloadInstallInactive}` and an `Ext` like FUMO's),
/// `Inventory/Delivered/<x>` (`Install`, `InstallInactive`, `Remove`) and
/// `Inventory/Deployed/<x>` (`Activate`, `Deactivate`, `Remove`).
pub const SCOMO_XML: &str = include_str!("../ddf/scomo-1.0.xml");

fn bundled(xml: &str) -> MoDefinition {
    // The bundled documents are fixed at build time and the crate's tests
    // parse each of them, so this cannot fail at run time.
    #[allow(clippy::expect_used)]
    MoDefinition::parse_str(xml).expect("a bundled standard DDF parses (tested)")
}

static DEVINFO: LazyLock<MoDefinition> = LazyLock::new(|| bundled(DEVINFO_XML));
static DMACC: LazyLock<MoDefinition> = LazyLock::new(|| bundled(DMACC_XML));
static SESSIONINFO: LazyLock<MoDefinition> = LazyLock::new(|| bundled(SESSIONINFO_XML));
static DACMO: LazyLock<MoDefinition> = LazyLock::new(|| bundled(DACMO_XML));
static FUMO: LazyLock<MoDefinition> = LazyLock::new(|| bundled(FUMO_XML));
static SCOMO: LazyLock<MoDefinition> = LazyLock::new(|| bundled(SCOMO_XML));

/// The DevInfo 1.2 definition ([`DEVINFO_XML`]).
///
/// ```
/// let devinfo = dm_ddf::standard::devinfo();
/// assert_eq!(devinfo.nodes[0].children.len(), 12);
/// ```
pub fn devinfo() -> &'static MoDefinition {
    &DEVINFO
}

/// The DMAcc 1.2 definition ([`DMACC_XML`]).
///
/// ```
/// let dmacc = dm_ddf::standard::dmacc();
/// assert!(dmacc.lookup_path("srv/Perm/p1/MOID").is_some_and(|n| n.is_secret()));
/// ```
pub fn dmacc() -> &'static MoDefinition {
    &DMACC
}

/// The SessionInfo 1.0 definition ([`SESSIONINFO_XML`]).
///
/// ```
/// let info = dm_ddf::standard::sessioninfo();
/// assert!(info.lookup_path("SessionInfo/CBT").is_some());
/// ```
pub fn sessioninfo() -> &'static MoDefinition {
    &SESSIONINFO
}

/// The DACMO 1.0 definition ([`DACMO_XML`]).
///
/// ```
/// let dacmo = dm_ddf::standard::dacmo();
/// assert!(dacmo.lookup_path("x/ACL/y/Rights").is_some());
/// ```
pub fn dacmo() -> &'static MoDefinition {
    &DACMO
}

/// The FUMO 1.0 definition ([`FUMO_XML`]).
///
/// ```
/// let fumo = dm_ddf::standard::fumo();
/// assert!(fumo.lookup_path("fw/Download/PkgURL").is_some());
/// assert!(fumo.lookup_path("fw/Update/PkgData").is_some_and(|n| n.is_secret()));
/// assert!(fumo.lookup_path("fw/Ext").is_some_and(|n| n.is_extension_point()));
/// ```
pub fn fumo() -> &'static MoDefinition {
    &FUMO
}

/// The SCOMO 1.0 definition ([`SCOMO_XML`]).
///
/// ```
/// let scomo = dm_ddf::standard::scomo();
/// assert!(scomo.lookup_path("s/Download/app/Operations/DownloadInstall").is_some());
/// assert!(scomo.lookup_path("s/Inventory/Deployed/app/Operations/Activate").is_some());
/// ```
pub fn scomo() -> &'static MoDefinition {
    &SCOMO
}

/// The definitions of the update MOs of section 13: FUMO and SCOMO (not
/// among [`all`]: the DM 2.0 standard MOs every tree holds).
///
/// ```
/// let moids: Vec<String> = dm_ddf::standard::update_definitions().iter().filter_map(|d| d.moid()).map(|m| m.into_string()).collect();
/// assert_eq!(moids, ["urn:oma:mo:oma-fumo:1.0", "urn:oma:mo:oma-scomo:1.0"]);
/// ```
pub fn update_definitions() -> [&'static MoDefinition; 2] {
    [fumo(), scomo()]
}

/// The four standard definitions: DevInfo, DMAcc, SessionInfo, DACMO.
///
/// ```
/// assert_eq!(dm_ddf::standard::all().len(), 4);
/// ```
pub fn all() -> [&'static MoDefinition; 4] {
    [devinfo(), dmacc(), sessioninfo(), dacmo()]
}
