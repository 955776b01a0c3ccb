//! Subscriptions, delegation through the DACMO and snapshots.

mod common;

use common::{DACMO, DMACC, SENSOR, id, items, server, uri};

use dm_tree::{MoTree, Principal, Rights};
use dm_types::{ServerUri, StatusCode};

/// srv1 and srv2 may both manage the sensor MO; srv1 creates instance 1.
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    let accounts = items(&format!(
        r#"[{{"ClientURI":"{DMACC}//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{SENSOR}"}}}}}}}}}},
            {{"ClientURI":"{DMACC}//","MOData":{{"b":{{"SrvID":"srv2","Perm":{{"1":{{"MOID":"{SENSOR}"}}}}}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &accounts)
        .expect("accounts");
    tree.write(
        &server("srv1"),
        None,
        &items(&format!(
            r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"P":{{"A":{{"x":1}},"B":"b"}}}}}}]"#
        )),
    )
    .expect("srv1 creates an instance");
    tree
}

#[test]
fn subscriptions_fire_on_changes_under_them() {
    let mut tree = tree();
    let report = ServerUri::new("https://dm1.example/changes").expect("uri");
    tree.subscribe(
        &server("srv1"),
        id("srv1"),
        uri(&format!("{SENSOR}/1/A")),
        report.clone(),
    )
    .expect("subscribed");
    // srv2 cannot see the instance: it cannot subscribe to it.
    let err = tree
        .subscribe(
            &server("srv2"),
            id("srv2"),
            uri(&format!("{SENSOR}/1/A")),
            report.clone(),
        )
        .expect_err("invisible");
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    // A change below A fires; a change of a sibling does not.
    let below = tree
        .write(
            &server("srv1"),
            None,
            &items(&format!(
                r#"[{{"ClientURI":"{SENSOR}/1/A/x","MOData":{{"x":2}}}}]"#
            )),
        )
        .expect("written");
    assert_eq!(tree.fired(&below).len(), 1);
    let sibling = tree
        .write(
            &server("srv1"),
            None,
            &items(&format!(
                r#"[{{"ClientURI":"{SENSOR}/1/B","MOData":{{"B":"c"}}}}]"#
            )),
        )
        .expect("written");
    assert!(tree.fired(&sibling).is_empty());
    // Replacing an ancestor fires when the watched data changes, not when
    // it comes back the same.
    let root = |a: u8| {
        items(&format!(
            r#"[{{"ClientURI":"{SENSOR}/1/","MOData":{{"P":{{"A":{{"x":{a}}},"B":"c"}}}}}}]"#
        ))
    };
    let same = tree
        .write(&server("srv1"), None, &root(2))
        .expect("written");
    assert!(tree.fired(&same).is_empty());
    let replaced = tree
        .write(&server("srv1"), None, &root(3))
        .expect("written");
    assert_eq!(tree.fired(&replaced).len(), 1);
    // Asking again about the same change fires nothing more.
    assert!(tree.fired(&replaced).is_empty());
    // Deleting the watched node fires too.
    tree.delete(&server("srv1"), &[uri(&format!("{SENSOR}/1/A"))])
        .expect("deleted");
    assert_eq!(tree.fired(&[uri(&format!("{SENSOR}/1/A"))]).len(), 1);
    // UNSUB needs the identical ClientURI (canonical form).
    assert_eq!(
        tree.unsubscribe(&id("srv1"), &uri(&format!("{SENSOR}/1/B")))
            .map_err(|e| e.status()),
        Err(StatusCode::NOT_FOUND)
    );
    tree.unsubscribe(&id("srv1"), &uri("URN:oma:mo:moid:1.0/%31/A"))
        .expect("same canonical ClientURI");
    assert!(tree.subscriptions().is_empty());
}

#[test]
fn delegation_needs_the_delegate_right() {
    let mut tree = tree();
    // srv2 cannot grant itself rights: the DACMO entry is invisible to it.
    let grab = items(&format!(
        r#"[{{"ClientURI":"{DACMO}/1/ACL/2","MOData":{{"2":{{"ServerID":"srv2","Rights":"Read,Write,Exec,Delegate"}}}}}}]"#
    ));
    let err = tree
        .write(&server("srv2"), None, &grab)
        .expect_err("no Delegate");
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    let instance = tree.instance(SENSOR, "1").expect("instance");
    assert_eq!(tree.rights(&server("srv2"), instance), Rights::NONE);
    // srv1 holds Delegate and grants srv2 Read, applied at once.
    let grant = items(&format!(
        r#"[{{"ClientURI":"{DACMO}/1/ACL/2","MOData":{{"2":{{"ServerID":"srv2","Rights":"Read"}}}}}}]"#
    ));
    tree.write(&server("srv1"), None, &grant)
        .expect("delegated");
    let instance = tree.instance(SENSOR, "1").expect("instance");
    assert_eq!(tree.rights(&server("srv2"), instance), Rights::READ);
    // Now srv2 sees the DACMO entry but still cannot change it.
    let err = tree
        .write(&server("srv2"), None, &grab)
        .expect_err("Read only");
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        tree.rights(
            &server("srv2"),
            tree.instance(SENSOR, "1").expect("instance")
        ),
        Rights::READ
    );
}

#[test]
fn snapshots_round_trip_and_keep_validators() {
    let mut tree = tree();
    tree.subscribe(
        &server("srv1"),
        id("srv1"),
        uri(&format!("{SENSOR}/1/A")),
        ServerUri::new("https://dm1.example/changes").expect("uri"),
    )
    .expect("subscribed");
    let snapshot = tree.to_snapshot();
    let restored = MoTree::from_snapshot(&snapshot, MoTree::new()).expect("restores");
    assert_eq!(restored.to_snapshot(), snapshot);
    for instance in tree.instances() {
        let copy = restored
            .instance(instance.moid().as_str(), instance.miid().as_str())
            .expect("restored instance");
        assert_eq!(copy.cache_validator(), instance.cache_validator());
        assert_eq!(copy.creator(), instance.creator());
    }
    assert_eq!(restored.subscriptions(), tree.subscriptions());
    // A new instance after restoring never reuses a validator.
    let mut restored = restored;
    restored
        .delete(&server("srv1"), &[uri(&format!("{SENSOR}/1/"))])
        .expect("deleted");
    let again = restored
        .write(
            &server("srv1"),
            None,
            &items(&format!(
                r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"P":{{}}}}}}]"#
            )),
        )
        .expect("recreated");
    assert_eq!(again[0].as_str(), format!("{SENSOR}/1/"));
    assert_ne!(
        restored
            .instance(SENSOR, "1")
            .expect("new")
            .cache_validator(),
        tree.instance(SENSOR, "1").expect("old").cache_validator()
    );
    // Broken documents are refused.
    for bad in [
        &b"{}"[..],
        b"not json",
        br#"{"format":"dm-tree-snapshot","version":2}"#,
    ] {
        assert!(MoTree::from_snapshot(bad, MoTree::new()).is_err());
    }
}

#[test]
fn standard_secrets_are_protected_without_an_attached_definition() {
    let mut tree = MoTree::new();
    let account = items(&format!(
        r#"[{{"ClientURI":"{DMACC}//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{DMACC}"}}}},
              "Auth":{{"Trsp":{{"Data":"AAEC","Secret":"c2VjcmV0"}}}}}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &account)
        .expect("account");
    assert!(
        tree.instance(DMACC, "1")
            .expect("account")
            .definition()
            .is_none()
    );
    for who in [server("srv1"), Principal::Device] {
        let err = tree
            .read(&who, &[uri(&format!("{DMACC}/1/Auth/Trsp/Secret"))])
            .expect_err("secret");
        assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED);
    }
}

#[test]
fn subscriptions_per_server_are_capped() {
    let mut tree = tree();
    tree.set_limits(dm_tree::TreeLimits {
        subscriptions_per_server: 2,
        ..dm_tree::TreeLimits::default()
    });
    let report = ServerUri::new("https://dm1.example/changes").expect("uri");
    let sub = |tree: &mut MoTree, who: &str, node: &str| {
        tree.subscribe(
            &server(who),
            id(who),
            uri(&format!("{SENSOR}/1/{node}")),
            report.clone(),
        )
    };
    sub(&mut tree, "srv1", "A").expect("first");
    sub(&mut tree, "srv1", "B").expect("second");
    // Replacing one of them is not a new subscription.
    sub(&mut tree, "srv1", "A").expect("replaced");
    let err = sub(&mut tree, "srv1", "A/x").expect_err("a third");
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(err.to_string().contains("limit of 2"), "{err}");
    assert_eq!(tree.subscriptions().len(), 2);
    // The limit is per server: srv2, delegated Read, still may.
    tree.write(
        &server("srv1"),
        None,
        &items(&format!(
            r#"[{{"ClientURI":"{DACMO}/1/ACL/2","MOData":{{"2":{{"ServerID":"srv2","Rights":"Read"}}}}}}]"#
        )),
    )
    .expect("delegated");
    sub(&mut tree, "srv2", "A").expect("srv2 has its own allowance");
    assert_eq!(tree.subscriptions().len(), 3);
    // After an UNSUB there is room again.
    tree.unsubscribe(&id("srv1"), &uri(&format!("{SENSOR}/1/B")))
        .expect("unsubscribed");
    sub(&mut tree, "srv1", "A/x").expect("room again");
}
