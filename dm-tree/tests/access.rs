//! Access control (docs/protocol.md section 7): each rule with the status it
//! produces.

mod common;

use common::{DEVINFO, DMACC, SENSOR, items, server, status, uri};

use std::sync::Arc;

use dm_tree::{Error, MoInstance, MoTree, Principal, ReadOutcome, Rights};
use dm_types::{ClientUri, Miid, Moid, StatusCode};

/// DevInfo and two DMAcc accounts created by the device; srv1 and srv2 may
/// manage DevInfo, DMAcc and the sensor MO; srv3 has no account. `left` was created by srv1, `right` by the device.
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    tree.define(
        Moid::new(DEVINFO).expect("moid"),
        Arc::new(dm_ddf::standard::devinfo().clone()),
    );
    tree.define(
        Moid::new(DMACC).expect("moid"),
        Arc::new(dm_ddf::standard::dmacc().clone()),
    );
    let device_created = items(&format!(
        r#"[{{"ClientURI":"{DEVINFO}/devinfo/","MOData":{{"DevInfo":{{"DevID":"IMEI:1","Man":"Acme","Mod":"X",
              "DmV":"2.0","Lang":"en","DevType":"phone","OEM":"","FwV":"1","SwV":"1","HwV":"1"}}}}}},
            {{"ClientURI":"{DMACC}/acc1/","MOData":{{"acc1":{{"SrvID":"srv1","SrvURI":"https://dm1.example/dm",
              "Name":"one","Perm":{{"1":{{"MOID":"{DEVINFO}"}},"2":{{"MOID":"{SENSOR}"}},"3":{{"MOID":"{DMACC}"}}}},
              "Auth":{{"Trsp":{{"Data":"AAEC","Secret":"c2VjcmV0"}}}}}}}}}},
            {{"ClientURI":"{DMACC}/acc2/","MOData":{{"acc2":{{"SrvID":"srv2","SrvURI":"https://dm2.example/dm",
              "Name":"two","Perm":{{"1":{{"MOID":"{DEVINFO}"}},"2":{{"MOID":"{SENSOR}"}},"3":{{"MOID":"{DMACC}"}}}}}}}}}},
            {{"ClientURI":"{SENSOR}/right/","MOData":{{"root":{{"ID":"Temp","Setting":"0xB2"}}}}}}]"#
    ));
    for item in &device_created {
        let miid = item.client_uri.miid().expect("concrete MIID");
        tree.insert(MoInstance::new(item.client_uri.to_moid(), miid, &item.data))
            .expect("new instance");
    }
    let left = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/left/","MOData":{{"root":{{"ID":"GPS","Setting":"0xA1","Data":{{"1":{{"V":"1"}}}}}}}}}}]"#
    ));
    tree.insert(
        MoInstance::new(
            Moid::new(SENSOR).expect("moid"),
            Miid::new("left").expect("miid"),
            &left[0].data,
        )
        .with_creator(server("srv1")),
    )
    .expect("new instance");
    tree
}

fn read(tree: &MoTree, who: &Principal, targets: &[&str]) -> Result<Vec<String>, Error> {
    let targets: Vec<ClientUri> = targets.iter().map(|t| uri(t)).collect();
    match tree.read(who, &targets)? {
        ReadOutcome::Data(items) => Ok(items
            .iter()
            .map(|i| {
                String::from_utf8(dm_codec::encode_mo_serialization(std::slice::from_ref(i)))
                    .expect("UTF-8")
            })
            .collect()),
        ReadOutcome::NotModified => Ok(vec!["304".into()]),
    }
}

#[test]
fn device_created_instances_are_readable_by_allowed_servers() {
    let tree = tree();
    let man = read(&tree, &server("srv1"), &[&format!("{DEVINFO}//Man")]).expect("readable");
    assert!(man[0].contains(r#""MOData":{"Man":"Acme"}"#), "{man:?}");
    assert_eq!(
        status(read(&tree, &server("srv2"), &[&format!("{DEVINFO}//Man")])),
        200
    );
    // A server with no account sees nothing: not found, never forbidden.
    assert_eq!(
        status(read(&tree, &server("srv3"), &[&format!("{DEVINFO}//Man")])),
        404
    );
}

#[test]
fn a_dmacc_instance_is_readable_only_by_the_server_it_describes() {
    let tree = tree();
    assert_eq!(
        status(read(
            &tree,
            &server("srv1"),
            &[&format!("{DMACC}/acc1/Name")]
        )),
        200
    );
    assert_eq!(
        status(read(
            &tree,
            &server("srv1"),
            &[&format!("{DMACC}/acc2/Name")]
        )),
        404
    );
    // `*` and the empty instance part only count visible instances.
    let names = read(&tree, &server("srv2"), &[&format!("{DMACC}/*/Name")]).expect("visible");
    assert_eq!(names.len(), 1);
    assert!(names[0].contains("acc2"));
    assert_eq!(
        status(read(&tree, &server("srv2"), &[&format!("{DMACC}//Name")])),
        200
    );
    assert_eq!(
        status(read(
            &tree,
            &Principal::Device,
            &[&format!("{DMACC}//Name")]
        )),
        409
    );
}

#[test]
fn secrets_are_never_read() {
    let tree = tree();
    for who in [server("srv1"), Principal::Device] {
        let err = tree
            .read(&who, &[uri(&format!("{DMACC}/acc1/Auth/Trsp/Secret"))])
            .expect_err("secret");
        assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED, "{who}");
        assert_eq!(
            status(read(&tree, &who, &[&format!("{DMACC}/acc1/Perm")])),
            405
        );
    }
    // Reading the whole account silently leaves secrets and the Perm list out.
    let account = read(&tree, &server("srv1"), &[&format!("{DMACC}/acc1/")]).expect("readable");
    assert!(account[0].contains(r#""Data":"AAEC""#), "{account:?}");
    assert!(
        !account[0].contains("c2VjcmV0"),
        "secret leaked: {account:?}"
    );
    assert!(!account[0].contains("Perm"), "Perm leaked: {account:?}");
}

#[test]
fn permanent_nodes_cannot_be_deleted() {
    let mut tree = tree();
    let err = tree
        .delete(&Principal::Device, &[uri(&format!("{DEVINFO}//DevID"))])
        .expect_err("permanent");
    assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED);
    // Servers get 403 first: device-created DevInfo is read-only for them.
    let err = tree
        .delete(&server("srv1"), &[uri(&format!("{DEVINFO}//DevID"))])
        .expect_err("read only");
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        status(read(
            &tree,
            &server("srv1"),
            &[&format!("{DEVINFO}//DevID")]
        )),
        200
    );
}

#[test]
fn creators_hold_exclusive_rights() {
    let mut tree = tree();
    let left = tree.instance(SENSOR, "left").expect("left");
    assert_eq!(tree.rights(&server("srv1"), left), Rights::ALL);
    assert_eq!(tree.rights(&server("srv2"), left), Rights::NONE);
    assert_eq!(
        status(read(
            &tree,
            &server("srv2"),
            &[&format!("{SENSOR}/left/ID")]
        )),
        404
    );
    // srv2 sees only `right`, so the empty instance part resolves to it.
    assert_eq!(
        status(read(&tree, &server("srv2"), &[&format!("{SENSOR}//ID")])),
        200
    );
    // The creator deletes; a failed multi-target delete removes nothing.
    let err = tree
        .delete(
            &server("srv1"),
            &[
                uri(&format!("{SENSOR}/left/Data")),
                uri(&format!("{SENSOR}/left/Nope")),
            ],
        )
        .expect_err("second target missing");
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        status(read(
            &tree,
            &server("srv1"),
            &[&format!("{SENSOR}/left/Data")]
        )),
        200
    );
    tree.delete(&server("srv1"), &[uri(&format!("{SENSOR}/left/Data"))])
        .expect("creator may delete");
    assert_eq!(
        status(read(
            &tree,
            &server("srv1"),
            &[&format!("{SENSOR}/left/Data")]
        )),
        404
    );
    tree.delete(&server("srv1"), &[uri(&format!("{SENSOR}/left/"))])
        .expect("the instance root removes the instance");
    assert!(tree.instance(SENSOR, "left").is_none());
}

#[test]
fn an_moid_outside_the_perm_list_is_invisible() {
    let mut tree = tree();
    let other = items(r#"[{"ClientURI":"urn:x:other/o/","MOData":{"o":{"a":1}}}]"#);
    tree.insert(MoInstance::new(
        Moid::new("urn:x:other").expect("moid"),
        Miid::new("o").expect("miid"),
        &other[0].data,
    ))
    .expect("new instance");
    assert_eq!(
        status(read(&tree, &server("srv1"), &["urn:x:other/o/a"])),
        404
    );
    assert_eq!(
        status(read(&tree, &Principal::Device, &["urn:x:other/o/a"])),
        200
    );
}

#[test]
fn dacmo_entries_grant_and_limit_rights() {
    let mut tree = tree();
    let entry = items(&format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/d1/","MOData":{{"d1":{{"MOID":"{SENSOR}","MIID":"left",
              "ACL":{{"a":{{"ServerID":"srv1","Rights":"Read,Write,Exec,Delegate"}},"b":{{"ServerID":"srv2","Rights":"Read"}}}}}}}}}}]"#
    ));
    tree.insert(MoInstance::new(
        Moid::new("urn:oma:mo:oma-dm-dacmo:1.0").expect("moid"),
        Miid::new("d1").expect("miid"),
        &entry[0].data,
    ))
    .expect("new instance");
    let left = tree.instance(SENSOR, "left").expect("left");
    assert_eq!(tree.rights(&server("srv2"), left), Rights::READ);
    assert_eq!(
        status(read(
            &tree,
            &server("srv2"),
            &[&format!("{SENSOR}/left/ID")]
        )),
        200
    );
    let err = tree
        .delete(&server("srv2"), &[uri(&format!("{SENSOR}/left/ID"))])
        .expect_err("read only");
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    // The DACMO entry: readable by both, writable only with Delegate.
    let dacmo = tree
        .instance("urn:oma:mo:oma-dm-dacmo:1.0", "d1")
        .expect("entry");
    assert_eq!(
        tree.rights(&server("srv1"), dacmo),
        Rights::READ | Rights::WRITE
    );
    assert_eq!(tree.rights(&server("srv2"), dacmo), Rights::READ);
    assert_eq!(tree.rights(&server("srv3"), dacmo), Rights::NONE);
}

#[test]
fn cache_validators_answer_304_until_the_instance_changes() {
    let mut tree = tree();
    let who = server("srv1");
    let root = read(&tree, &who, &[&format!("{SENSOR}/left/")]).expect("readable");
    let cv = tree
        .instance(SENSOR, "left")
        .expect("left")
        .cache_validator();
    assert!(root[0].contains(&format!(r#""CV":"{cv}""#)), "{root:?}");
    let cached = format!("{SENSOR}/left/ID?cv={cv}");
    assert_eq!(read(&tree, &who, &[&cached]).expect("readable"), ["304"]);
    // One target without a matching cv: the data is sent.
    let mixed = read(&tree, &who, &[&cached, &format!("{SENSOR}/left/Setting")]).expect("readable");
    assert_eq!(mixed.len(), 2);
    tree.delete(&who, &[uri(&format!("{SENSOR}/left/Data"))])
        .expect("delete");
    assert_ne!(
        tree.instance(SENSOR, "left")
            .expect("left")
            .cache_validator(),
        cv
    );
    assert_eq!(read(&tree, &who, &[&cached]).expect("readable").len(), 1);
}
