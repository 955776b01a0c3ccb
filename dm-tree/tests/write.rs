//! HGET semantics of `MoTree::write` (docs/protocol.md section 4): new instances
//! with client-assigned MIIDs, replacement and creation of nodes, rights,
//! DDF rules and all-or-nothing application.

mod common;

use common::{DEVINFO, DMACC, SENSOR, id, items, server, status, uri};

use std::sync::Arc;

use dm_tree::{MoTree, Principal, ReadOutcome, Rights};
use dm_types::{ClientUri, Moid, StatusCode};

fn uris(written: &[ClientUri]) -> Vec<&str> {
    written.iter().map(ClientUri::as_str).collect()
}

/// A tree where srv1 may manage the sensor MO and DevInfo, srv2 DevInfo only.
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    tree.define(
        Moid::new(DEVINFO).expect("moid"),
        Arc::new(dm_ddf::standard::devinfo().clone()),
    );
    let accounts = items(&format!(
        r#"[{{"ClientURI":"{DMACC}//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{SENSOR}"}},"2":{{"MOID":"{DEVINFO}"}}}}}}}}}},
            {{"ClientURI":"{DMACC}//","MOData":{{"b":{{"SrvID":"srv2","Perm":{{"1":{{"MOID":"{DEVINFO}"}}}}}}}}}},
            {{"ClientURI":"{DEVINFO}//","MOData":{{"DevInfo":{{"DevID":"IMEI:1","Man":"Acme","Mod":"X","DmV":"2.0",
              "Lang":"en","DevType":"phone","OEM":"","FwV":"1","SwV":"1","HwV":"1"}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &accounts)
        .expect("the device writes its own accounts");
    tree
}

/// [`tree`] plus instance 1 of the sensor MO, created by srv1.
fn tree_with_peer() -> MoTree {
    let mut tree = tree();
    tree.write(
        &server("srv1"),
        None,
        &items(&format!(
            r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"GPS"}}}}}}]"#
        )),
    )
    .expect("created");
    tree
}

#[test]
fn empty_instance_part_creates_instances_with_client_assigned_miids() {
    let mut tree = tree();
    let body = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"GPS","Data":{{}}}}}}}},
            {{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"Temp"}}}}}}]"#
    ));
    let written = tree.write(&server("srv1"), None, &body).expect("created");
    assert_eq!(
        uris(&written),
        [format!("{SENSOR}/1/"), format!("{SENSOR}/2/")]
    );
    // The creator holds every right, through a DACMO entry it can read.
    let instance = tree.instance(SENSOR, "1").expect("created");
    assert_eq!(instance.creator(), &server("srv1"));
    assert_eq!(tree.rights(&server("srv1"), instance), Rights::ALL);
    let acl = tree
        .read(&server("srv1"), &[uri("urn:oma:mo:oma-dm-dacmo:1.0/*/ACL")])
        .expect("the creator reads its DACMO entries");
    let ReadOutcome::Data(acl) = acl else {
        panic!("data expected")
    };
    assert_eq!(acl.len(), 2);
    // srv2 may not manage the sensor MO: it cannot create one.
    let err = tree
        .write(&server("srv2"), None, &body)
        .expect_err("not in Perm");
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
}

#[test]
fn a_single_instance_mo_refuses_a_second_instance() {
    let mut tree = tree();
    let body = items(&format!(
        r#"[{{"ClientURI":"{DEVINFO}//","MOData":{{"DevInfo":{{"DevID":"IMEI:2","Man":"A","Mod":"X","DmV":"2.0",
              "Lang":"en","DevType":"phone","OEM":"","FwV":"1","SwV":"1","HwV":"1"}}}}}}]"#
    ));
    let err = tree
        .write(&Principal::Device, None, &body)
        .expect_err("one DevInfo");
    assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED);
}

#[test]
fn writing_into_an_instance_replaces_or_creates_nodes() {
    let mut tree = tree();
    let created = tree
        .write(
            &server("srv1"),
            None,
            &items(&format!(
                r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"GPS","Data":{{}}}}}}}}]"#
            )),
        )
        .expect("created");
    let base = created[0].as_str().to_owned();
    let before = tree
        .instance(SENSOR, "1")
        .expect("instance")
        .cache_validator();
    // Replace a leaf, create a node under an existing parent.
    let body = items(&format!(
        r#"[{{"ClientURI":"{base}ID","MOData":{{"ID":"Temp"}}}},
            {{"ClientURI":"{base}Data/1","MOData":{{"1":{{"V":"20"}}}}}}]"#
    ));
    let written = tree.write(&server("srv1"), None, &body).expect("written");
    assert_eq!(
        uris(&written),
        [format!("{base}ID"), format!("{base}Data/1")]
    );
    assert_eq!(
        tree.resolve_str(&format!("{base}Data/1/V")).0,
        StatusCode::OK
    );
    assert_ne!(
        tree.instance(SENSOR, "1")
            .expect("instance")
            .cache_validator(),
        before
    );
    // The ClientURI parameter takes precedence over the item's own.
    let one = items(r#"[{"ClientURI":"urn:x:ignored/i/","MOData":{"ID":"Wind"}}]"#);
    tree.write(
        &server("srv1"),
        Some(&uri(&format!("{SENSOR}/(x)/ID?nv=(x)/ID:Temp"))),
        &one,
    )
    .expect("x-name designating one node");
    assert_eq!(
        tree.resolve_str(&format!("{SENSOR}/(x)/?nv=(x)/ID:Wind")).0,
        StatusCode::OK
    );
    // ... and then the body holds exactly one item.
    assert_eq!(
        status(tree.write(&server("srv1"), Some(&uri(&base)), &body)),
        400
    );
}

#[test]
fn write_errors() {
    let mut tree = tree_with_peer();
    let cases = [
        // Unknown MIID, missing parent, name mismatch.
        (
            format!(r#"[{{"ClientURI":"{SENSOR}/9/ID","MOData":{{"ID":"x"}}}}]"#),
            404,
        ),
        (
            format!(r#"[{{"ClientURI":"{SENSOR}/1/A/B","MOData":{{"B":"x"}}}}]"#),
            404,
        ),
        (
            format!(r#"[{{"ClientURI":"{SENSOR}/1/ID","MOData":{{"Other":"x"}}}}]"#),
            400,
        ),
        // A leaf cannot get children.
        (
            format!(r#"[{{"ClientURI":"{SENSOR}/1/ID/X","MOData":{{"X":"x"}}}}]"#),
            400,
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            status(tree.write(&server("srv1"), None, &items(&body))),
            expected,
            "{body}"
        );
    }
    // Read-only for srv1: device-created DevInfo (403); DDF: DevID lacks Replace (405).
    let devid = items(&format!(
        r#"[{{"ClientURI":"{DEVINFO}/1/DevID","MOData":{{"DevID":"x"}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv1"), None, &devid)), 403);
    assert_eq!(status(tree.write(&Principal::Device, None, &devid)), 405);
    // In HGET an empty instance part asks for a new instance: no path.
    let path = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}//ID","MOData":{{"ID":"x"}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv1"), None, &path)), 400);
    // DevInfo nodes are Get-only, even for the device through the protocol.
    let man = items(&format!(
        r#"[{{"ClientURI":"{DEVINFO}/1/Man","MOData":{{"Man":"B"}}}}]"#
    ));
    assert_eq!(status(tree.write(&Principal::Device, None, &man)), 405);
}

#[test]
fn written_data_must_fit_the_definition() {
    let ddf = r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName/><DFProperties>
        <AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
        <Occurrence><ZeroOrMore/></Occurrence><DFType><DDFName>urn:x:typed</DDFName></DFType></DFProperties>
        <Node><NodeName>Count</NodeName><DFProperties><AccessType><Add/><Get/><Replace/></AccessType>
        <DFFormat><int/></DFFormat></DFProperties></Node></Node></MgmtTree>";
    let definition = dm_ddf::MoDefinition::parse(ddf.as_bytes()).expect("test DDF parses");
    let mut tree = MoTree::new();
    tree.define(
        Moid::new("urn:x:typed").expect("moid"),
        Arc::new(definition),
    );
    let created = tree
        .write(
            &Principal::Device,
            None,
            &items(r#"[{"ClientURI":"urn:x:typed//","MOData":{"r":{"Count":1}}}]"#),
        )
        .expect("fits");
    assert_eq!(uris(&created), ["urn:x:typed/1/"]);
    let text = items(r#"[{"ClientURI":"urn:x:typed/1/Count","MOData":{"Count":"many"}}]"#);
    let err = tree
        .write(&Principal::Device, None, &text)
        .expect_err("text in an int node");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    assert!(err.to_string().contains("Count"), "{err}");
    let unknown = items(r#"[{"ClientURI":"urn:x:typed/1/Colour","MOData":{"Colour":"red"}}]"#);
    assert_eq!(status(tree.write(&Principal::Device, None, &unknown)), 400);
    assert_eq!(tree.resolve_str("urn:x:typed/1/Count").0, StatusCode::OK);
}

#[test]
fn one_write_applies_every_item_or_none() {
    let mut tree = tree_with_peer();
    let content = |tree: &MoTree| -> Vec<(String, String, String)> {
        tree.instances()
            .map(|i| {
                let data = i.to_mo_data(dm_tree::NodeId::ROOT).expect("root");
                (
                    i.client_uri(dm_tree::NodeId::ROOT).to_string(),
                    format!("{data:?}"),
                    i.cache_validator().to_string(),
                )
            })
            .collect()
    };
    let snapshot = content(&tree);
    let body = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/1/ID","MOData":{{"ID":"changed"}}}},
            {{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"new"}}}}}},
            {{"ClientURI":"{SENSOR}/1/Nope/X","MOData":{{"X":"fails"}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv1"), None, &body)), 404);
    assert_eq!(
        content(&tree),
        snapshot,
        "a failed write leaves the tree untouched"
    );
    // Later items see what earlier items of the same write created.
    let body = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/1/Data","MOData":{{"Data":{{}}}}}},
            {{"ClientURI":"{SENSOR}/1/Data/1","MOData":{{"1":"x"}}}}]"#
    ));
    tree.write(&server("srv1"), None, &body)
        .expect("sequential items");
    assert_eq!(
        tree.resolve_str(&format!("{SENSOR}/1/Data/1")).0,
        StatusCode::OK
    );
}

#[test]
fn permanent_nodes_cannot_be_created_at_run_time() {
    let ddf = r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName/><DFProperties>
        <AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
        <Occurrence><ZeroOrMore/></Occurrence><DFType><DDFName>urn:x:fixed</DDFName></DFType></DFProperties>
        <Node><NodeName>Serial</NodeName><DFProperties><AccessType><Add/><Get/><Replace/></AccessType>
        <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Permanent/></Scope></DFProperties></Node>
        <Node><NodeName>Note</NodeName><DFProperties><AccessType><Add/><Get/><Replace/></AccessType>
        <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
        </Node></MgmtTree>";
    let definition = dm_ddf::MoDefinition::parse(ddf.as_bytes()).expect("test DDF parses");
    let mut tree = MoTree::new();
    tree.define(
        Moid::new("urn:x:fixed").expect("moid"),
        Arc::new(definition),
    );
    // Created together with its parent: fine.
    tree.write(
        &Principal::Device,
        None,
        &items(r#"[{"ClientURI":"urn:x:fixed//","MOData":{"r":{"Serial":"1"}}}]"#),
    )
    .expect("a permanent node comes with its new parent");
    tree.write(
        &Principal::Device,
        None,
        &items(r#"[{"ClientURI":"urn:x:fixed//","MOData":{"r":{}}}]"#),
    )
    .expect("optional node left out");
    // Created on its own later: 405; a dynamic sibling is fine.
    let serial = items(r#"[{"ClientURI":"urn:x:fixed/2/Serial","MOData":{"Serial":"2"}}]"#);
    assert_eq!(status(tree.write(&Principal::Device, None, &serial)), 405);
    let note = items(r#"[{"ClientURI":"urn:x:fixed/2/Note","MOData":{"Note":"n"}}]"#);
    assert_eq!(status(tree.write(&Principal::Device, None, &note)), 200);
    // Replacing the existing permanent node is allowed (it has Replace) ...
    let replace = items(r#"[{"ClientURI":"urn:x:fixed/1/Serial","MOData":{"Serial":"9"}}]"#);
    assert_eq!(status(tree.write(&Principal::Device, None, &replace)), 200);
    // ... deleting it is not.
    let err = tree
        .delete(&Principal::Device, &[uri("urn:x:fixed/1/Serial")])
        .expect_err("permanent");
    assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED);
}

#[test]
fn a_server_cannot_create_accounts_even_with_dmacc_in_its_perm_list() {
    let mut tree = tree();
    let perm = items(&format!(
        r#"[{{"ClientURI":"{DMACC}//","MOData":{{"c":{{"SrvID":"srv3","Perm":{{"1":{{"MOID":"{DMACC}"}},"2":{{"MOID":"{SENSOR}"}}}}}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &perm)
        .expect("the device provisions srv3");
    // The snapshot without its instance-numbering counter, which a
    // rolled-back creation moves.
    let content = |tree: &MoTree| {
        let mut snapshot: serde_json::Value =
            serde_json::from_slice(&tree.to_snapshot()).expect("snapshot JSON");
        if let Some(map) = snapshot.as_object_mut() {
            map.remove("epochs");
        }
        snapshot
    };
    let snapshot = content(&tree);
    // A new account for an unknown server, with rights of its choosing;
    // after a valid item, so that the whole write must roll back.
    let minted = format!(
        r#"{{"ClientURI":"{DMACC}//","MOData":{{"minted":{{"SrvID":"srv9","Perm":{{"1":{{"MOID":"{SENSOR}"}}}}}}}}}}"#
    );
    let body = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"GPS"}}}}}},{minted}]"#
    ));
    let err = tree
        .write(&server("srv3"), None, &body)
        .expect_err("servers do not mint accounts");
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    // The same through the ClientURI parameter, and for a MIID of its choosing.
    let single = items(&format!("[{minted}]"));
    assert_eq!(
        status(tree.write(&server("srv3"), Some(&uri(&format!("{DMACC}//"))), &single)),
        403
    );
    let named = items(&format!(
        r#"[{{"ClientURI":"{DMACC}/acc9/","MOData":{{"acc9":{{"SrvID":"srv9"}}}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv3"), None, &named)), 404);
    assert_eq!(content(&tree), snapshot, "nothing was written");
    assert!(tree.allowed_moids(&id("srv9")).is_empty());
    // Its own device-created account stays read-only to it.
    let own = items(&format!(
        r#"[{{"ClientURI":"{DMACC}/3/Perm/3","MOData":{{"3":{{"MOID":"{DEVINFO}"}}}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv3"), None, &own)), 403);
    assert_eq!(content(&tree), snapshot, "nothing was written");
    // The device still provisions accounts.
    tree.write(&Principal::Device, None, &single)
        .expect("the device provisions srv9");
    assert_eq!(tree.allowed_moids(&id("srv9")), [SENSOR]);
}

#[test]
fn servers_cannot_grow_the_tree_beyond_its_data_limit() {
    let mut tree = tree_with_peer();
    let size = tree.data_bytes();
    tree.set_limits(dm_tree::TreeLimits {
        data_bytes: size + 100,
        ..dm_tree::TreeLimits::default()
    });
    let peer = |value: &str| {
        items(&format!(
            r#"[{{"ClientURI":"{SENSOR}/1/ID","MOData":{{"ID":"{value}"}}}}]"#
        ))
    };
    // Growing within the limit is fine; one byte past it is 413 and
    // changes nothing.
    tree.write(&server("srv1"), None, &peer(&"x".repeat(100 + 3)))
        .expect("exactly at the limit");
    assert_eq!(tree.data_bytes(), size + 100);
    let err = tree
        .write(&server("srv1"), None, &peer(&"x".repeat(104)))
        .expect_err("past the limit");
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(err.to_string().contains("data bytes"), "{err}");
    assert_eq!(tree.data_bytes(), size + 100);
    // Several items are checked together, after all of them: a new
    // instance that does not fit is not created either.
    let body = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/1/ID","MOData":{{"ID":"GPS"}}}},
            {{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"{}"}}}}}}]"#,
        "y".repeat(200)
    ));
    let err = tree
        .write(&server("srv1"), None, &body)
        .expect_err("the pair does not fit");
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(tree.instance(SENSOR, "2").is_none());
    assert_eq!(tree.data_bytes(), size + 100);
    // Shrinking is always allowed, even when the device itself filled the
    // tree beyond the limit.
    tree.write(
        &Principal::Device,
        None,
        &items(&format!(
            r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"Peer":{{"ID":"{}"}}}}}}]"#,
            "z".repeat(500)
        )),
    )
    .expect("the device is not limited");
    tree.write(&server("srv1"), None, &peer("GPS"))
        .expect("a smaller value");
}
