//! DM 1.x node ACLs, evaluated in addition to the instance permissions.

mod common;

use common::{SENSOR, items, server, status, uri};

use dm_tree::{Acl, MoTree, NodeId, Principal};

/// srv1 and srv2 both hold every right on instance 1 (through its DACMO
/// entry); ACLs then narrow what each may do per node.
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    let setup = items(&format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{SENSOR}"}}}}}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"b":{{"SrvID":"srv2","Perm":{{"1":{{"MOID":"{SENSOR}"}}}}}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &setup)
        .expect("accounts");
    tree.write(
        &server("srv1"),
        None,
        &items(&format!(r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"P":{{"Open":"o","Locked":{{"Key":"k"}}}}}}}}]"#)),
    )
    .expect("created");
    let grant = items(
        r#"[{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/1/ACL/2","MOData":{"2":{"ServerID":"srv2","Rights":"Read,Write,Exec,Delegate"}}}]"#,
    );
    tree.write(&server("srv1"), None, &grant)
        .expect("delegated");
    let instance = tree.instance_mut(SENSOR, "1").expect("instance");
    let locked = instance.lookup(["Locked"]).expect("Locked");
    instance.set_acl(
        locked,
        Some(
            "Get=srv1&Replace=srv1&Add=srv1&Delete=srv1"
                .parse()
                .expect("ACL"),
        ),
    );
    tree
}

#[test]
fn acls_narrow_each_command_and_are_inherited() {
    let mut tree = tree();
    let key = || vec![uri(&format!("{SENSOR}/1/Locked/Key"))];
    // Get: srv1 admitted; srv2 refused on the node and on its descendants.
    assert_eq!(status(tree.read(&server("srv1"), &key())), 200);
    assert_eq!(status(tree.read(&server("srv2"), &key())), 403);
    assert_eq!(
        status(tree.read(&server("srv2"), &[uri(&format!("{SENSOR}/1/Open"))])),
        200
    );
    // Reading the root as srv2 silently leaves the locked subtree out.
    let outcome = tree
        .read(&server("srv2"), &[uri(&format!("{SENSOR}/1/"))])
        .expect("readable");
    let dm_tree::ReadOutcome::Data(data) = outcome else {
        panic!("data expected")
    };
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&data)).expect("UTF-8");
    assert!(json.contains("Open") && !json.contains("Locked"), "{json}");
    // Replace and Add.
    let replace = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/1/Locked/Key","MOData":{{"Key":"x"}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv2"), None, &replace)), 403);
    let add = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/1/Locked/New","MOData":{{"New":"x"}}}}]"#
    ));
    assert_eq!(status(tree.write(&server("srv2"), None, &add)), 403);
    assert_eq!(status(tree.write(&server("srv1"), None, &add)), 200);
    // Delete; Exec is named by nobody, so nobody may run it.
    assert_eq!(status(tree.delete(&server("srv2"), &key())), 403);
    assert_eq!(status(tree.exec(&server("srv1"), &key()[0], None)), 403);
    // The device is not bound by ACLs.
    assert_eq!(status(tree.read(&Principal::Device, &key())), 200);
    assert_eq!(status(tree.delete(&server("srv1"), &key())), 200);
}

#[test]
fn empty_acls_inherit_and_snapshots_keep_acls() {
    let mut tree = tree();
    let instance = tree.instance_mut(SENSOR, "1").expect("instance");
    let key = instance.lookup(["Locked", "Key"]).expect("Key");
    assert!(instance.set_acl(key, Some("".parse::<Acl>().expect("empty ACL"))));
    assert!(instance.acl(key).is_none(), "an empty ACL is no ACL");
    assert!(
        instance.effective_acl(key).is_some(),
        "the parent's applies"
    );
    assert!(instance.acl(NodeId::ROOT).is_none());
    let restored = MoTree::from_snapshot(&tree.to_snapshot(), MoTree::new()).expect("restores");
    assert_eq!(restored.to_snapshot(), tree.to_snapshot());
    assert_eq!(
        status(restored.read(&server("srv2"), &[uri(&format!("{SENSOR}/1/Locked/Key"))])),
        403
    );
    for bad in ["Get", "Fly=*", "Get=*&Get=srv1", "Get=a+"] {
        assert!(bad.parse::<Acl>().is_err(), "{bad} accepted");
    }
}

#[test]
fn granted_rights_replace_the_servers_item_and_add_others() {
    use dm_tree::{DmAcc, MoInstance, Principal, Rights};
    use dm_types::{LeafValue, Miid, MoData, MoNode, Moid, NodeName, ServerId, ServerUri};

    let mut tree = dm_tree::MoTree::new();
    let a = ServerId::new("a.example").expect("id");
    let b = ServerId::new("b.example").expect("id");
    for server in [&a, &b] {
        let uri = ServerUri::new(format!("https://{server}/dm")).expect("uri");
        tree.add_dm_acc(&DmAcc::new(server.clone(), uri))
            .expect("account");
    }
    let moid = Moid::new("urn:x:fw:1.0").expect("moid");
    let data = MoData::new(
        NodeName::new("V").expect("name"),
        MoNode::Leaf(LeafValue::from("1")),
    );
    tree.insert(MoInstance::new(
        moid.clone(),
        Miid::new("fw").expect("miid"),
        &data,
    ))
    .expect("instance");
    for server in [&a, &b] {
        tree.grant_moid(server, &moid).expect("perm");
    }
    let rights = |tree: &dm_tree::MoTree, server: &ServerId| {
        let instance = tree.instance("urn:x:fw:1.0", "fw").expect("instance");
        tree.rights(&Principal::Server(server.clone()), instance)
    };
    // Device-created: Read for both.
    assert_eq!(rights(&tree, &b), Rights::READ);
    tree.grant_rights(&a, "urn:x:fw:1.0", "fw", Rights::ALL)
        .expect("granted");
    // Now under a DACMO entry: b is not listed.
    assert_eq!(rights(&tree, &a), Rights::ALL);
    assert_eq!(rights(&tree, &b), Rights::NONE);
    tree.grant_rights(&a, "urn:x:fw:1.0", "fw", Rights::READ | Rights::EXEC)
        .expect("replaced");
    tree.grant_rights(&b, "urn:x:fw:1.0", "fw", Rights::READ)
        .expect("added");
    assert_eq!(rights(&tree, &a).to_string(), "Read,Exec");
    assert_eq!(rights(&tree, &b), Rights::READ);
    assert_eq!(tree.instances_of("urn:oma:mo:oma-dm-dacmo:1.0").count(), 1);
    assert_eq!(
        tree.grant_rights(&a, "urn:x:fw:1.0", "nope", Rights::READ),
        Err(dm_tree::Error::NotFound)
    );
}
