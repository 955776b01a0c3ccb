//! The bundled standard DDFs (docs/protocol.md sections 7 and 10.2): each parses,
//! has the structure the protocol describes, and accepts or refuses sample
//! MO data as it should.

use dm_ddf::{DdfRepository, Error, MoDefinition, Violation, ViolationKind, standard};
use dm_types::{
    AccessType, Children, LeafValue, MoData, MoNode, NodeFormat, NodeName, Occurrence, Scope,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn leaf(value: impl Into<LeafValue>) -> MoNode {
    MoNode::Leaf(value.into())
}

fn interior(children: Vec<(&str, MoNode)>) -> Result<MoNode, dm_types::Error> {
    let children = children
        .into_iter()
        .map(|(name, node)| Ok((NodeName::new(name)?, node)))
        .collect::<Result<Vec<_>, dm_types::Error>>()?;
    Ok(MoNode::Interior(Children::new(children)?))
}

fn data(name: &str, node: MoNode) -> Result<MoData, dm_types::Error> {
    Ok(MoData::new(NodeName::new(name)?, node))
}

/// The violations as `path: kind` lines (empty when the data is valid).
fn violations(def: &MoDefinition, data: &MoData) -> Result<Vec<String>, String> {
    match def.validate(data) {
        Ok(()) => Ok(Vec::new()),
        Err(Error::Invalid(list)) => Ok(list.iter().map(Violation::to_string).collect()),
        Err(other) => Err(format!("unexpected error {other}")),
    }
}

#[test]
fn the_bundled_files_parse_with_their_moids() -> TestResult {
    let cases = [
        (
            standard::DEVINFO_XML,
            "urn:oma:mo:oma-dm-devinfo:1.0",
            13,
            2,
        ),
        (standard::DMACC_XML, "urn:oma:mo:oma-dm-dmacc:1.2", 31, 4),
        (
            standard::SESSIONINFO_XML,
            "urn:oma:mo:oma-sessioninfomo:1.0",
            5,
            2,
        ),
        (standard::DACMO_XML, "urn:oma:mo:oma-dm-dacmo:1.0", 7, 4),
    ];
    for (xml, moid, nodes, depth) in cases {
        let def = MoDefinition::parse_str(xml)?;
        assert_eq!(def.ver_dtd, "1.2");
        assert_eq!(
            def.moid().map(dm_types::Moid::into_string).as_deref(),
            Some(moid)
        );
        assert_eq!(
            (def.node_count(), def.max_depth()),
            (nodes, depth),
            "{moid}"
        );
        assert!(xml.contains("<!DOCTYPE MgmtTree PUBLIC \"-//OMA//DTD-DM-DDF 1.2//EN\""));
    }
    let parsed: Vec<MoDefinition> = [
        standard::DEVINFO_XML,
        standard::DMACC_XML,
        standard::SESSIONINFO_XML,
        standard::DACMO_XML,
    ]
    .into_iter()
    .map(MoDefinition::parse_str)
    .collect::<Result<_, _>>()?;
    let bundled: Vec<MoDefinition> = standard::all().into_iter().cloned().collect();
    assert_eq!(parsed, bundled);
    let repo = DdfRepository::standard();
    assert_eq!(repo.len(), 4, "the four MOIDs are distinct");
    Ok(())
}

#[test]
fn devinfo_structure() -> TestResult {
    let def = standard::devinfo();
    let root = def.root("DevInfo").ok_or("no DevInfo root")?;
    assert_eq!(
        (root.occurrence, root.scope),
        (Occurrence::One, Scope::Permanent)
    );
    for name in [
        "DevID", "Man", "Mod", "DmV", "Lang", "DevType", "OEM", "FwV", "SwV", "HwV",
    ] {
        let node = root.child(name).ok_or(name)?;
        assert_eq!(node.format, NodeFormat::Chr, "{name}");
        assert_eq!(node.access_type, AccessType::GET, "{name}");
        assert_eq!(node.occurrence, Occurrence::One, "{name}");
    }
    for name in ["Bearer", "Ext"] {
        let node = root.child(name).ok_or(name)?;
        assert!(
            node.is_open() && node.occurrence == Occurrence::ZeroOrOne,
            "{name}"
        );
    }
    assert!(def.iter().all(|(_, n)| n.access_type == AccessType::GET));
    Ok(())
}

fn devinfo_data(extra: Vec<(&str, MoNode)>) -> Result<MoData, dm_types::Error> {
    let mut children = vec![
        ("DevID", leaf("IMEI:493005100592800")),
        ("Man", leaf("Vendor")),
        ("Mod", leaf("DM_Client")),
        ("DmV", leaf("2.0")),
        ("Lang", leaf("en")),
        ("DevType", leaf("phone")),
        ("OEM", leaf("Vendor")),
        ("FwV", leaf("1.0")),
        ("SwV", leaf("1.1")),
        ("HwV", leaf("A")),
    ];
    children.extend(extra);
    data("DevInfo", interior(children)?)
}

#[test]
fn devinfo_data_validates() -> TestResult {
    let def = standard::devinfo();
    assert_eq!(
        violations(def, &devinfo_data(vec![])?)?,
        Vec::<String>::new()
    );
    // Ext is open: any vendor content is accepted below it.
    let ext = interior(vec![("Battery", interior(vec![("Level", leaf(80))])?)])?;
    assert_eq!(
        violations(def, &devinfo_data(vec![("Ext", ext)])?)?,
        Vec::<String>::new()
    );
    Ok(())
}

#[test]
fn devinfo_data_with_every_kind_of_violation() -> TestResult {
    let def = standard::devinfo();
    let bad = data(
        "DevInfo",
        interior(vec![
            ("DevID", leaf(12345)),
            ("Man", leaf("Vendor")),
            ("Color", leaf("red")),
            ("Bearer", leaf("LTE")),
            ("Mod", interior(vec![])?),
        ])?,
    )?;
    assert_eq!(
        violations(def, &bad)?,
        [
            "DevInfo/Bearer: does not fit format node: a string leaf where an interior node is defined",
            "DevInfo/Color: no such node in the definition",
            "DevInfo/DevID: does not fit format chr: expected a string",
            "DevInfo/Mod: does not fit format chr: an interior node where a leaf is defined",
            "DevInfo/DmV: required node is missing",
            "DevInfo/Lang: required node is missing",
            "DevInfo/DevType: required node is missing",
            "DevInfo/OEM: required node is missing",
            "DevInfo/FwV: required node is missing",
            "DevInfo/SwV: required node is missing",
            "DevInfo/HwV: required node is missing",
        ]
    );
    // A root the definition does not have.
    let other = data("DevDetail", interior(vec![])?)?;
    assert_eq!(
        violations(def, &other)?,
        ["DevDetail: no such node in the definition"]
    );
    Ok(())
}

#[test]
fn dmacc_structure_and_secret_nodes() -> TestResult {
    let def = standard::dmacc();
    let root = &def.nodes[0];
    assert!(root.name.is_placeholder());
    assert_eq!(root.occurrence, Occurrence::ZeroOrMore);
    let secret: Vec<String> = def
        .iter()
        .filter(|(_, n)| n.is_secret())
        .map(|(_, n)| n.name.to_string())
        .collect();
    assert_eq!(
        secret,
        [
            "Perm",
            "<x>",
            "MOID",
            "ClientPubKey",
            "ServerPubKey",
            "ClientSecretKey",
            "Secret",
            "Secret",
            "Secret"
        ]
    );
    let expect = [
        ("SrvID", NodeFormat::Chr),
        ("SrvURI", NodeFormat::Chr),
        ("Name", NodeFormat::Chr),
        ("Perm/p/MOID", NodeFormat::Chr),
        ("Auth/Bootstrap/ServerURI", NodeFormat::Chr),
        ("Auth/Bootstrap/SecMode", NodeFormat::Bin),
        ("Auth/Bootstrap/ClientSecretKey", NodeFormat::Bin),
        ("Auth/Noti/Type", NodeFormat::Int),
        ("Auth/Noti/Data", NodeFormat::Bin),
        ("Auth/Noti/Secret", NodeFormat::Bin),
        ("Auth/Trsp/Data", NodeFormat::Bin),
        ("Auth/Trsp/Secret", NodeFormat::Bin),
        ("Push/GCM/SenderID", NodeFormat::Chr),
        ("Ext", NodeFormat::Node),
        ("Ext/HTTPAuth", NodeFormat::Node),
        ("Ext/HTTPAuth/Name", NodeFormat::Chr),
        ("Ext/HTTPAuth/Secret", NodeFormat::Bin),
    ];
    for (path, format) in expect {
        let node = root.lookup(path.split('/')).ok_or(path)?;
        assert_eq!(node.format, format, "{path}");
    }
    assert!(
        !root
            .lookup(["Auth", "Trsp", "Data"])
            .ok_or("Trsp/Data")?
            .is_secret()
    );
    Ok(())
}

#[test]
fn dmacc_data() -> TestResult {
    let def = standard::dmacc();
    let account = |noti_type: MoNode| -> Result<MoData, dm_types::Error> {
        data(
            "srv1",
            interior(vec![
                ("SrvID", leaf("srv1")),
                ("SrvURI", leaf("https://dm.example.com/dm")),
                (
                    "Perm",
                    interior(vec![(
                        "1",
                        interior(vec![("MOID", leaf("urn:oma:mo:oma-dm-devinfo:1.0"))])?,
                    )])?,
                ),
                (
                    "Auth",
                    interior(vec![
                        (
                            "Noti",
                            interior(vec![("Type", noti_type), ("Secret", leaf("c2VjcmV0"))])?,
                        ),
                        ("Trsp", interior(vec![("Secret", leaf("not base64!"))])?),
                    ])?,
                ),
            ])?,
        )
    };
    assert_eq!(
        violations(def, &account(leaf(1))?)?,
        [
            "srv1/Auth/Trsp/Secret: does not fit format bin: not base64 (standard alphabet, with padding)"
        ]
    );
    assert_eq!(
        violations(def, &account(leaf("HMAC"))?)?,
        [
            "srv1/Auth/Noti/Type: does not fit format int: expected an integer",
            "srv1/Auth/Trsp/Secret: does not fit format bin: not base64 (standard alphabet, with padding)",
        ]
    );
    Ok(())
}

#[test]
fn dmacc_ext_holds_http_auth_and_stays_open_for_vendor_nodes() -> TestResult {
    let def = standard::dmacc();
    let root = &def.nodes[0];
    assert!(
        root.lookup(["Ext", "HTTPAuth", "Secret"])
            .ok_or("Secret")?
            .is_secret()
    );
    assert!(
        !root
            .lookup(["Ext", "HTTPAuth", "Name"])
            .ok_or("Name")?
            .is_secret()
    );
    let account = |ext: MoNode| -> Result<MoData, dm_types::Error> {
        data(
            "srv1",
            interior(vec![
                ("SrvID", leaf("srv1")),
                ("SrvURI", leaf("https://dm.example.com/dm")),
                ("Perm", interior(vec![])?),
                ("Auth", interior(vec![])?),
                ("Ext", ext),
            ])?,
        )
    };
    let good = interior(vec![
        (
            "HTTPAuth",
            interior(vec![
                ("Name", leaf("device-1")),
                ("Secret", leaf("c2VjcmV0")),
            ])?,
        ),
        ("Vendor", interior(vec![("Anything", leaf(42))])?),
        ("Flag", leaf(true)),
    ])?;
    assert_eq!(violations(def, &account(good)?)?, Vec::<String>::new());
    // The defined child is still checked.
    let bad = interior(vec![(
        "HTTPAuth",
        interior(vec![
            ("Name", leaf(7)),
            ("Secret", leaf("not base64!")),
            ("Other", leaf("x")),
        ])?,
    )])?;
    assert_eq!(
        violations(def, &account(bad)?)?,
        [
            "srv1/Ext/HTTPAuth/Name: does not fit format chr: expected a string",
            "srv1/Ext/HTTPAuth/Other: no such node in the definition",
            "srv1/Ext/HTTPAuth/Secret: does not fit format bin: not base64 (standard alphabet, with padding)",
        ]
    );
    Ok(())
}

#[test]
fn sessioninfo_data() -> TestResult {
    let def = standard::sessioninfo();
    for name in ["CBT", "Initiator", "SrvID", "StartTime"] {
        let node = def.lookup(["SessionInfo", name]).ok_or(name)?;
        assert_eq!(
            (node.access_type, node.format),
            (AccessType::GET, NodeFormat::Chr)
        );
    }
    let ok = data(
        "SessionInfo",
        interior(vec![
            ("CBT", leaf("WLAN")),
            ("Initiator", leaf("Server")),
            ("SrvID", leaf("srv1")),
            ("StartTime", leaf("2024-05-01T10:00:00Z")),
        ])?,
    )?;
    assert_eq!(violations(def, &ok)?, Vec::<String>::new());
    let partial = data("SessionInfo", interior(vec![("CBT", leaf(true))])?)?;
    assert_eq!(
        violations(def, &partial)?,
        [
            "SessionInfo/CBT: does not fit format chr: expected a string",
            "SessionInfo/Initiator: required node is missing",
            "SessionInfo/SrvID: required node is missing",
            "SessionInfo/StartTime: required node is missing",
        ]
    );
    Ok(())
}

#[test]
fn dacmo_data() -> TestResult {
    let def = standard::dacmo();
    let acl_entry =
        |rights: &str| interior(vec![("ServerID", leaf("srv2")), ("Rights", leaf(rights))]);
    let ok = data(
        "5",
        interior(vec![
            ("MOID", leaf("urn:oma:mo:oma-dm-devinfo:1.0")),
            ("MIID", leaf("0")),
            (
                "ACL",
                interior(vec![
                    ("a", acl_entry("Read,Delegate")?),
                    ("b", acl_entry("Read")?),
                ])?,
            ),
        ])?,
    )?;
    assert_eq!(violations(def, &ok)?, Vec::<String>::new());
    let missing = data(
        "5",
        interior(vec![
            ("MOID", leaf("urn:x:y")),
            ("ACL", interior(vec![("a", interior(vec![])?)])?),
        ])?,
    )?;
    assert_eq!(
        violations(def, &missing)?,
        [
            "5/ACL/a/ServerID: required node is missing",
            "5/ACL/a/Rights: required node is missing",
            "5/MIID: required node is missing",
        ]
    );
    Ok(())
}

#[test]
fn occurrence_of_placeholders_is_counted() -> TestResult {
    let xml = r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Root</NodeName>
        <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat></DFProperties>
        <Node><NodeName/><DFProperties><AccessType><Get/></AccessType><DFFormat><int/></DFFormat>
          <Occurrence><OneOrN>2</OneOrN></Occurrence></DFProperties></Node>
        </Node></MgmtTree>";
    let def = MoDefinition::parse_str(xml)?;
    let with = |n: usize| -> Result<MoData, dm_types::Error> {
        let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
        data(
            "Root",
            interior(names.iter().map(|s| (s.as_str(), leaf(1))).collect())?,
        )
    };
    assert_eq!(
        violations(&def, &with(0)?)?,
        ["Root/<x>: required node is missing"]
    );
    assert_eq!(violations(&def, &with(2)?)?, Vec::<String>::new());
    let err = def
        .validate(&with(3)?)
        .err()
        .ok_or("three nodes accepted")?;
    assert_eq!(
        err.violations(),
        [Violation {
            path: "Root/<x>".into(),
            kind: ViolationKind::OccurrenceExceeded {
                occurrence: Occurrence::OneOrN(Some(2)),
                count: 3
            }
        }]
    );
    assert_eq!(err.status().as_u16(), 400);
    Ok(())
}

#[test]
fn node_validation_of_a_subtree() -> TestResult {
    let def = standard::dmacc();
    let noti = def.lookup_path("any/Auth/Noti").ok_or("Noti")?;
    let ok = data("Noti", interior(vec![("Type", leaf(2))])?)?;
    assert!(noti.validate(&ok).is_ok());
    let wrong_name = data("Trsp", interior(vec![])?)?;
    let err = noti.validate(&wrong_name).err().ok_or("accepted")?;
    assert_eq!(err.violations()[0].kind, ViolationKind::UnknownNode);
    Ok(())
}

#[test]
fn the_update_mos_parse_and_stay_apart_from_the_standard_four() -> TestResult {
    for (xml, moid, nodes) in [
        (standard::FUMO_XML, "urn:oma:mo:oma-fumo:1.0", 14),
        (standard::SCOMO_XML, "urn:oma:mo:oma-scomo:1.0", 42),
    ] {
        let def = MoDefinition::parse_str(xml)?;
        assert_eq!(
            def.moid().map(dm_types::Moid::into_string).as_deref(),
            Some(moid)
        );
        assert_eq!(def.node_count(), nodes, "{moid}");
        assert!(xml.contains("docs/protocol.md section 13"));
    }
    let bundled: Vec<MoDefinition> = standard::update_definitions()
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(
        bundled,
        [
            MoDefinition::parse_str(standard::FUMO_XML)?,
            MoDefinition::parse_str(standard::SCOMO_XML)?
        ]
    );
    assert_eq!(standard::all().len(), 4);
    let mut repo = DdfRepository::standard();
    for def in standard::update_definitions() {
        repo.insert(def.clone(), None)?;
    }
    assert_eq!(repo.len(), 6);
    Ok(())
}

fn fumo_data(extra: Vec<(&str, MoNode)>) -> Result<MoData, dm_types::Error> {
    let mut children = vec![
        ("PkgName", leaf("acme-fw")),
        ("PkgVersion", leaf("2.1")),
        ("Download", interior(vec![("PkgURL", leaf(""))])?),
        (
            "Update",
            interior(vec![("PkgData", leaf(LeafValue::Binary(Vec::new())))])?,
        ),
        ("DownloadAndUpdate", interior(vec![("PkgURL", leaf(""))])?),
        ("State", leaf(10)),
    ];
    children.extend(extra);
    data("fw", interior(children)?)
}

#[test]
fn fumo_structure_and_data() -> TestResult {
    let def = standard::fumo();
    let root = def.root("fw").ok_or("no FUMO root")?;
    assert_eq!(root.occurrence, Occurrence::ZeroOrMore);
    for exec in ["Download", "Update", "DownloadAndUpdate"] {
        let node = root.child(exec).ok_or(exec)?;
        assert!(node.access_type.contains(AccessType::EXEC), "{exec}");
    }
    let state = root.child("State").ok_or("State")?;
    assert_eq!(
        (state.format, state.access_type),
        (NodeFormat::Int, AccessType::GET)
    );
    let url = def
        .lookup_path("fw/DownloadAndUpdate/PkgURL")
        .ok_or("PkgURL")?;
    assert!(url.access_type.contains(AccessType::REPLACE) && url.format == NodeFormat::Chr);
    let size = def.lookup_path("fw/Ext/PkgSize").ok_or("PkgSize")?;
    assert_eq!(size.format, NodeFormat::Int);
    let signature = def
        .lookup_path("fw/Ext/PkgSignature")
        .ok_or("PkgSignature")?;
    assert_eq!(signature.format, NodeFormat::Bin);

    assert_eq!(violations(def, &fumo_data(vec![])?)?, Vec::<String>::new());
    let ext = interior(vec![
        ("PkgSize", leaf(1024)),
        ("PkgSHA256", leaf("ab".repeat(32))),
        ("Vendor", interior(vec![("Anything", leaf(1))])?),
    ])?;
    assert_eq!(
        violations(def, &fumo_data(vec![("Ext", ext)])?)?,
        Vec::<String>::new()
    );
    // A size that is no integer, an unknown node outside Ext.
    let bad = interior(vec![("PkgSize", leaf("big"))])?;
    assert_eq!(violations(def, &fumo_data(vec![("Ext", bad)])?)?.len(), 1);
    assert_eq!(
        violations(def, &fumo_data(vec![("Nope", leaf(1))])?)?.len(),
        1
    );
    Ok(())
}

#[test]
fn scomo_structure_and_data() -> TestResult {
    let def = standard::scomo();
    for (path, exec) in [
        ("s/Download/a/Operations/Download", true),
        ("s/Download/a/Operations/DownloadInstallInactive", true),
        ("s/Inventory/Delivered/a/Operations/InstallInactive", true),
        ("s/Inventory/Deployed/a/Operations/Deactivate", true),
        ("s/Inventory/Deployed/a/State", false),
        ("s/Download/a/Ext/PkgSHA256", false),
    ] {
        let node = def.lookup_path(path).ok_or(path)?;
        assert_eq!(node.access_type.contains(AccessType::EXEC), exec, "{path}");
    }
    let component = interior(vec![
        ("PkgID", leaf("app-1.2")),
        ("Name", leaf("app")),
        ("PkgURL", leaf("https://u.example/app")),
        ("Ext", interior(vec![("PkgSize", leaf(10))])?),
        (
            "Operations",
            interior(vec![("DownloadInstall", interior(vec![])?)])?,
        ),
    ])?;
    let deployed = interior(vec![(
        "app",
        interior(vec![
            ("ID", leaf("app")),
            ("Version", leaf("1.2")),
            ("State", leaf("active")),
            (
                "Operations",
                interior(vec![
                    ("Activate", interior(vec![])?),
                    ("Deactivate", interior(vec![])?),
                    ("Remove", interior(vec![])?),
                ])?,
            ),
        ])?,
    )])?;
    let scomo = data(
        "s",
        interior(vec![
            ("Download", interior(vec![("app", component)])?),
            ("Inventory", interior(vec![("Deployed", deployed)])?),
        ])?,
    )?;
    assert_eq!(violations(def, &scomo)?, Vec::<String>::new());
    Ok(())
}
