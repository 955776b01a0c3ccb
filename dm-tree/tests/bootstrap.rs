//! Bootstrap rights (docs/protocol.md sections 7 and 11.3): what a
//! bootstrap server may do to DMAcc instances, and what a management server
//! never may, whatever its Perm list or a DACMO entry say.

mod common;

use common::{DEVINFO, DMACC, SENSOR, id, items, server, status, uri};

use dm_tree::{
    BootstrapAuth, DevInfo, DmAcc, HttpAuth, MoInstance, MoTree, NodeId, Principal, ReadOutcome,
    Rights, SecMode,
};
use dm_types::{DevId, Miid, MoItem, Moid, ServerUri};

const BS_URI: &str = "https://bs.example/bootstrap";
const BS2_URI: &str = "https://bs2.example/bootstrap";

fn bootstrap(who: &str) -> Principal {
    Principal::Bootstrap(id(who))
}

fn account(srv_id: &str, bootstrap_uri: Option<&str>) -> DmAcc {
    let mut account = DmAcc::new(
        id(srv_id),
        ServerUri::new(format!("https://{srv_id}.example/dm")).expect("uri"),
    );
    if let Some(bootstrap_uri) = bootstrap_uri {
        let mut auth =
            BootstrapAuth::new(ServerUri::new(bootstrap_uri).expect("uri"), SecMode::Psk);
        auth.client_public = b"identity".to_vec();
        auth.client_secret = b"bootstrap-psk-secret".to_vec();
        account.bootstrap = Some(auth);
    }
    account
}

/// DevInfo, a sensor instance, the bootstrap accounts `bs` and `bs2`, the
/// management account `mgmt` (named by `bs`, Perm DMAcc and the sensor MO)
/// and `plain` (no bootstrap server).
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    tree.define_standard();
    tree.insert(DevInfo::new(DevId::new("IMEI:1").expect("devid"), "Acme", "X1").to_instance())
        .expect("devinfo");
    let sensor = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}/s1/","MOData":{{"s1":{{"ID":"GPS"}}}}}}]"#
    ));
    tree.insert(MoInstance::new(
        Moid::new(SENSOR).expect("moid"),
        Miid::new("s1").expect("miid"),
        &sensor[0].data,
    ))
    .expect("sensor");
    tree.add_dm_acc(&account("bs", Some(BS_URI))).expect("bs");
    tree.add_dm_acc(&account("bs2", Some(BS2_URI)))
        .expect("bs2");
    let mut mgmt = account("mgmt", Some(BS_URI));
    mgmt.perm_moids = vec![
        Moid::new(DMACC).expect("moid"),
        Moid::new(SENSOR).expect("moid"),
    ];
    tree.add_dm_acc(&mgmt).expect("mgmt");
    tree.add_dm_acc(&account("plain", None)).expect("plain");
    tree
}

fn miid_of(tree: &MoTree, srv_id: &str) -> String {
    tree.instances_of(DMACC)
        .find(|i| DmAcc::from_instance(i).is_ok_and(|a| a.server_id.as_str() == srv_id))
        .map(|i| i.miid().as_str().to_owned())
        .expect("account exists")
}

/// An HGET item creating the DMAcc instance of `account`.
fn create_item(account: &DmAcc) -> MoItem {
    let instance = account.to_instance(Miid::new("x").expect("miid"));
    MoItem {
        ddf: None,
        client_uri: uri(&format!("{DMACC}//")),
        cache_validator: None,
        data: instance.to_mo_data(NodeId::ROOT).expect("data"),
    }
}

#[test]
fn the_rights_of_a_bootstrap_server() {
    let tree = tree();
    let rights = |who: &Principal, moid: &str, miid: &str| {
        tree.rights(who, tree.instance(moid, miid).expect("instance"))
    };
    let bs = bootstrap("bs");
    assert_eq!(rights(&bs, DEVINFO, "devinfo"), Rights::READ);
    assert_eq!(rights(&bs, SENSOR, "s1"), Rights::NONE);
    assert_eq!(rights(&bs, DMACC, &miid_of(&tree, "bs")), Rights::WRITE);
    assert_eq!(rights(&bs, DMACC, &miid_of(&tree, "mgmt")), Rights::WRITE);
    assert_eq!(rights(&bs, DMACC, &miid_of(&tree, "plain")), Rights::NONE);
    assert_eq!(rights(&bs, DMACC, &miid_of(&tree, "bs2")), Rights::NONE);
    let bs2 = bootstrap("bs2");
    assert_eq!(rights(&bs2, DMACC, &miid_of(&tree, "bs2")), Rights::WRITE);
    assert_eq!(rights(&bs2, DMACC, &miid_of(&tree, "mgmt")), Rights::NONE);
    // A bootstrap server without an account on the device names nothing.
    let stranger = bootstrap("stranger");
    assert_eq!(
        rights(&stranger, DMACC, &miid_of(&tree, "mgmt")),
        Rights::NONE
    );
    // It reads DevInfo, never an account (not even its own) nor a secret.
    assert!(matches!(
        tree.read(&bs, &[uri(&format!("{DEVINFO}//DevID"))]),
        Ok(ReadOutcome::Data(_))
    ));
    let own = uri(&format!("{DMACC}/{}/SrvURI", miid_of(&tree, "bs")));
    assert_eq!(status(tree.read(&bs, &[own])), 403);
    let secret = uri(&format!(
        "{DMACC}/{}/Auth/Bootstrap/ClientSecretKey",
        miid_of(&tree, "bs")
    ));
    assert_eq!(status(tree.read(&bs, &[secret])), 403);
}

#[test]
fn a_bootstrap_server_creates_accounts_without_a_dacmo_entry() {
    let mut tree = tree();
    let bs = bootstrap("bs");
    let mut new = account("new", None);
    new.perm_moids = vec![Moid::new(SENSOR).expect("moid")];
    new.http = Some(HttpAuth {
        name: "device".into(),
        secret: b"http-secret".to_vec(),
    });
    let written = tree
        .write(&bs, None, &[create_item(&new)])
        .expect("created");
    assert_eq!(written.len(), 1);
    let miid = miid_of(&tree, "new");
    let instance = tree.instance(DMACC, &miid).expect("new account");
    assert_eq!(instance.creator(), &bs);
    assert_eq!(tree.dm_acc(&id("new")), Ok(Some(new)));
    assert_eq!(tree.instances_of(common::DACMO).count(), 0);
    // It may write what it created; another bootstrap server may not see it.
    assert_eq!(tree.rights(&bs, instance), Rights::WRITE);
    assert_eq!(tree.rights(&bootstrap("bs2"), instance), Rights::NONE);
    // Anything but a DMAcc: 403, as is an account that does not validate.
    let sensor = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"s2":{{"ID":"x"}}}}}}]"#
    ));
    assert_eq!(status(tree.write(&bs, None, &sensor)), 403);
    let invalid = items(&format!(
        r#"[{{"ClientURI":"{DMACC}//","MOData":{{"DMAcc":{{"SrvURI":"https://x.example/dm"}}}}}}]"#
    ));
    assert_eq!(status(tree.write(&bs, None, &invalid)), 400);
}

#[test]
fn a_known_srv_id_is_replaced_in_place_when_the_bootstrap_server_may_write_it() {
    let mut tree = tree();
    let bs = bootstrap("bs");
    let miid = miid_of(&tree, "mgmt");
    let count = tree.instances_of(DMACC).count();
    let mut rekeyed = account("mgmt", Some(BS_URI));
    rekeyed.server_uri = ServerUri::new("https://mgmt2.example/dm").expect("uri");
    rekeyed.perm_moids = vec![Moid::new(SENSOR).expect("moid")];
    let written = tree
        .write(&bs, None, &[create_item(&rekeyed)])
        .expect("replaced");
    assert_eq!(written[0].as_str(), format!("{DMACC}/{miid}/"));
    assert_eq!(tree.instances_of(DMACC).count(), count);
    assert_eq!(miid_of(&tree, "mgmt"), miid);
    assert_eq!(tree.dm_acc(&id("mgmt")), Ok(Some(rekeyed)));
}

#[test]
fn another_bootstrap_server_cannot_touch_an_account_it_does_not_name() {
    let mut tree = tree();
    let before = tree.to_snapshot();
    let bs2 = bootstrap("bs2");
    let mgmt = miid_of(&tree, "mgmt");
    // Re-provisioning `mgmt` with bs2 as its bootstrap server.
    let hijack = account("mgmt", Some(BS2_URI));
    assert_eq!(status(tree.write(&bs2, None, &[create_item(&hijack)])), 403);
    // Writing its Auth/Bootstrap/ServerURI directly: the account is invisible.
    let target = uri(&format!("{DMACC}/{mgmt}/Auth/Bootstrap/ServerURI"));
    let swap = items(&format!(
        r#"[{{"ClientURI":"{target}","MOData":{{"ServerURI":"{BS2_URI}"}}}}]"#
    ));
    assert_eq!(status(tree.write(&bs2, None, &swap)), 404);
    assert_eq!(
        status(tree.delete(&bs2, &[uri(&format!("{DMACC}/{mgmt}/"))])),
        404
    );
    assert_eq!(tree.to_snapshot(), before, "nothing changed");
    // The named bootstrap server may swap it, and delete the account.
    tree.write(&bootstrap("bs"), None, &swap)
        .expect("named server writes");
    assert_eq!(
        tree.dm_acc(&id("mgmt"))
            .expect("reads")
            .and_then(|a| a.bootstrap)
            .map(|b| b.server_uri.as_str().to_owned()),
        Some(BS2_URI.to_owned())
    );
    // Now bs2 is named and bs is not.
    assert_eq!(
        status(tree.delete(&bootstrap("bs"), &[uri(&format!("{DMACC}/{mgmt}/"))])),
        404
    );
    tree.delete(&bs2, &[uri(&format!("{DMACC}/{mgmt}/"))])
        .expect("deleted");
    assert!(tree.instance(DMACC, &mgmt).is_none());
    // A device account without bootstrap server is nobody's.
    let plain = miid_of(&tree, "plain");
    assert_eq!(
        status(tree.delete(&bootstrap("bs"), &[uri(&format!("{DMACC}/{plain}/"))])),
        404
    );
}

#[test]
fn a_management_server_never_creates_replaces_or_deletes_an_account() {
    let mut tree = tree();
    let mgmt = miid_of(&tree, "mgmt");
    // A DACMO entry granting `mgmt` every right on its own account.
    let entry = items(&format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/d1/","MOData":{{"d1":{{"MOID":"{DMACC}","MIID":"{mgmt}",
              "ACL":{{"a":{{"ServerID":"mgmt","Rights":"Read,Write,Exec,Delegate"}}}}}}}}}}]"#
    ));
    tree.insert(MoInstance::new(
        Moid::new(common::DACMO).expect("moid"),
        Miid::new("d1").expect("miid"),
        &entry[0].data,
    ))
    .expect("entry");
    let who = server("mgmt");
    let instance = tree.instance(DMACC, &mgmt).expect("mgmt");
    assert_eq!(tree.rights(&who, instance), Rights::READ);
    let before = tree.to_snapshot();
    let name = items(&format!(
        r#"[{{"ClientURI":"{DMACC}/{mgmt}/Name","MOData":{{"Name":"mine"}}}}]"#
    ));
    assert_eq!(status(tree.write(&who, None, &name)), 403);
    let swap = items(&format!(
        r#"[{{"ClientURI":"{DMACC}/{mgmt}/Auth/Bootstrap/ServerURI","MOData":{{"ServerURI":"https://evil.example/"}}}}]"#
    ));
    assert_eq!(status(tree.write(&who, None, &swap)), 403);
    assert_eq!(
        status(tree.delete(&who, &[uri(&format!("{DMACC}/{mgmt}/"))])),
        403
    );
    assert_eq!(
        status(tree.delete(&who, &[uri(&format!("{DMACC}/{mgmt}/Auth/Bootstrap"))])),
        403
    );
    assert_eq!(
        status(tree.write(&who, None, &[create_item(&account("evil", None))])),
        403
    );
    assert_eq!(tree.to_snapshot(), before, "nothing changed");
    // The device keeps every right.
    tree.write(&Principal::Device, None, &name)
        .expect("device writes");
}

#[test]
fn bootstrap_creators_survive_a_snapshot_and_old_creators_still_read() {
    let mut tree = tree();
    tree.write(
        &bootstrap("bs"),
        None,
        &[create_item(&account("new", None))],
    )
    .expect("created");
    let sensor = items(&format!(
        r#"[{{"ClientURI":"{SENSOR}//","MOData":{{"s2":{{"ID":"x"}}}}}}]"#
    ));
    tree.write(&server("mgmt"), None, &sensor)
        .expect("server creates");
    let bytes = tree.to_snapshot();
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    // A server creator keeps the format older versions wrote and read.
    assert!(text.contains(r#""creator":"mgmt""#), "{text}");
    assert!(text.contains(r#""creator":{"bootstrap":"bs"}"#), "{text}");
    let restored = MoTree::from_snapshot(&bytes, MoTree::new()).expect("restored");
    let new = miid_of(&restored, "new");
    assert_eq!(
        restored.instance(DMACC, &new).map(MoInstance::creator),
        Some(&bootstrap("bs"))
    );
    assert_eq!(restored.to_snapshot(), bytes);
    let broken = text.replace(r#"{"bootstrap":"bs"}"#, r#"{"bootstrap":7}"#);
    assert_eq!(
        status(MoTree::from_snapshot(broken.as_bytes(), MoTree::new())),
        400
    );
}
