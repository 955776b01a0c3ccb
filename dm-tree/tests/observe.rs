//! Everything a server can observe obeys the read rules (docs/protocol.md
//! section 7): `nv` conditions, SUB and change reports never reveal a
//! secret or a hidden node; DM 1.x ACLs guard the nodes a write or delete of
//! an ancestor would replace or remove; one-instance MOs never get a second
//! instance from a server.

mod common;

use std::sync::Arc;

use common::{DACMO, DEVINFO, DMACC, SENSOR, id, items, server, status, uri};
use dm_tree::{DevInfo, DmAcc, MoTree, NotificationAuth, Principal, ReadOutcome};
use dm_types::{DevId, Moid, ServerUri, StatusCode};

const SECRET: &[u8] = b"guessme!";
const SESSIONINFO: &str = "urn:oma:mo:oma-sessioninfomo:1.0";

fn b64(bytes: &[u8]) -> String {
    dm_types::LeafValue::Binary(bytes.to_vec())
        .to_text()
        .into_owned()
}

/// srv1 owns DMAcc acc1 (with a notification secret) and may manage the
/// DMAcc, DevInfo, SessionInfo and sensor MOs; srv2 may manage the sensor
/// MO. srv1 created sensor instance 1 and gave srv2 every right on it but
/// the ACL of `Locked` admits srv1 alone; srv1 created instance 2 and gave
/// srv2 Exec only.
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    let mut one = DmAcc::new(
        id("srv1"),
        ServerUri::new("https://dm1.example/dm").expect("uri"),
    );
    one.perm_moids = [DMACC, DEVINFO, SESSIONINFO, SENSOR]
        .map(|m| Moid::new(m).expect("moid"))
        .to_vec();
    one.notification = Some(NotificationAuth::sha256(SECRET.to_vec(), b"data".to_vec()));
    tree.add_dm_acc(&one).expect("acc1");
    let mut two = DmAcc::new(
        id("srv2"),
        ServerUri::new("https://dm2.example/dm").expect("uri"),
    );
    two.perm_moids = vec![Moid::new(SENSOR).expect("moid")];
    tree.add_dm_acc(&two).expect("acc2");
    let devinfo = DevInfo::new(
        DevId::new("IMEI:493005100592800").expect("id"),
        "Acme",
        "X1",
    );
    tree.insert(devinfo.to_instance()).expect("DevInfo");
    for body in [
        r#"{"P":{"Open":"o","Locked":{"Key":"k","Deep":{"Leaf":"l"}}}}"#,
        r#"{"Q":{"Open":"o2"}}"#,
    ] {
        tree.write(
            &server("srv1"),
            None,
            &items(&format!(
                r#"[{{"ClientURI":"{SENSOR}//","MOData":{body}}}]"#
            )),
        )
        .expect("created");
    }
    for (entry, rights) in [("1", "Read,Write,Exec,Delegate"), ("2", "Exec")] {
        let grant = items(&format!(
            r#"[{{"ClientURI":"{DACMO}/{entry}/ACL/2","MOData":{{"2":{{"ServerID":"srv2","Rights":"{rights}"}}}}}}]"#
        ));
        tree.write(&server("srv1"), None, &grant)
            .expect("delegated");
    }
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

/// The outcome of a GET as the server sees it: status and MO
/// serialization (or the error's status only: messages stay on the
/// device).
fn get(tree: &MoTree, who: &str, target: &str) -> (u16, Vec<u8>) {
    match tree.read(&server(who), &[uri(target)]) {
        Ok(ReadOutcome::Data(items)) => (200, dm_codec::encode_mo_serialization(&items)),
        Ok(ReadOutcome::NotModified) => (304, Vec::new()),
        Err(e) => (e.status().as_u16(), Vec::new()),
    }
}

#[test]
fn nv_conditions_never_match_a_leaf_the_server_may_not_read() {
    let tree = tree();
    // Each case: who asks, a ClientURI template whose `{}` is the guessed
    // value, the right guess and a wrong one.
    let cases = [
        // A secret of the server's own account (DDF: no Get).
        (
            "srv1",
            format!("{DMACC}/(x)/SrvID?nv=(x)/Auth/Noti/Secret:{{}}"),
            b64(SECRET),
        ),
        // The secret as the x-named node itself.
        (
            "srv1",
            format!("{DMACC}/acc1/Auth/Noti/(x)?nv=(x):{{}}"),
            b64(SECRET),
        ),
        // A Perm MOID (never readable).
        (
            "srv1",
            format!("{DMACC}/(x)/SrvID?nv=(x)/Perm/1/MOID:{{}}"),
            DMACC.to_owned(),
        ),
        // A leaf a DM 1.x ACL hides from srv2.
        (
            "srv2",
            format!("{SENSOR}/(x)/Open?nv=(x)/Locked/Key:{{}}"),
            "k".to_owned(),
        ),
        (
            "srv2",
            format!("{SENSOR}/1/Locked/(x)?nv=(x):{{}}"),
            "k".to_owned(),
        ),
        // A leaf of an instance srv2 sees (Exec) but may not read.
        (
            "srv2",
            format!("{SENSOR}/(x)/?nv=(x)/Open:{{}}"),
            "o2".to_owned(),
        ),
    ];
    for (who, template, right) in &cases {
        let right_uri = template.replace("{}", right);
        let wrong_uri = template.replace("{}", "wrong-guess");
        let right_answer = get(&tree, who, &right_uri);
        let wrong_answer = get(&tree, who, &wrong_uri);
        assert_eq!(right_answer, wrong_answer, "{who}: {right_uri}");
        // Exactly as if the leaf were absent.
        let absent = template
            .replace("Secret", "Absent")
            .replace("MOID", "Absent")
            .replace("Key", "Absent")
            .replace("Open:", "Absent:")
            .replace("{}", right);
        assert_eq!(right_answer, get(&tree, who, &absent), "{who}: {absent}");
        // SUB, HGET and DELETE resolve the same way.
        let subscribed = tree.clone().subscribe(
            &server(who),
            id(who),
            uri(&right_uri),
            ServerUri::new("https://dm.example/r").expect("uri"),
        );
        assert_eq!(status(subscribed), right_answer.0, "{right_uri}");
        assert_eq!(
            status(tree.clone().delete(&server(who), &[uri(&right_uri)])),
            status(tree.clone().delete(&server(who), &[uri(&wrong_uri)])),
        );
        // The device itself still resolves by every value.
        assert_eq!(
            tree.resolve_str(&right_uri).0,
            StatusCode::OK,
            "{right_uri}"
        );
    }
    // A readable leaf still selects.
    let (code, body) = get(
        &tree,
        "srv1",
        &format!("{DMACC}/(x)/SrvURI?nv=(x)/SrvID:srv1"),
    );
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&body).contains("dm1.example"));
    let (code, _) = get(
        &tree,
        "srv1",
        &format!("{SENSOR}/(x)/Open?nv=(x)/Locked/Key:k"),
    );
    assert_eq!(code, 200, "srv1's ACL admits it");
}

#[test]
fn sub_is_refused_like_get_and_reports_only_what_the_server_may_read() {
    let mut tree = tree();
    let to = ServerUri::new("https://dm.example/r").expect("uri");
    for (who, target) in [
        ("srv1", format!("{DMACC}/acc1/Auth/Noti/Secret")),
        ("srv1", format!("{DMACC}/acc1/Perm")),
        ("srv1", format!("{DMACC}/acc2/")),
        ("srv2", format!("{SENSOR}/1/Locked")),
        ("srv2", format!("{SENSOR}/1/Locked/Key")),
        ("srv2", format!("{SENSOR}/2/Open")),
        ("srv2", format!("{SENSOR}/3/")),
    ] {
        let get_status = get(&tree, who, &target).0;
        assert_ne!(get_status, 200, "{who} {target}");
        let sub_status = status(tree.subscribe(&server(who), id(who), uri(&target), to.clone()));
        assert_eq!(sub_status, get_status, "{who} {target}");
    }
    assert!(tree.subscriptions().is_empty());

    // srv1 watches its account's Auth; srv2 watches sensor instance 1.
    tree.subscribe(
        &server("srv1"),
        id("srv1"),
        uri(&format!("{DMACC}/acc1/Auth")),
        to.clone(),
    )
    .expect("subscribed");
    tree.subscribe(
        &server("srv2"),
        id("srv2"),
        uri(&format!("{SENSOR}/1/")),
        to.clone(),
    )
    .expect("subscribed");
    let device_write = |tree: &mut MoTree, target: &str, body: &str| {
        tree.write(
            &Principal::Device,
            None,
            &items(&format!(r#"[{{"ClientURI":"{target}","MOData":{body}}}]"#)),
        )
        .expect("written")
    };
    // A change of only the secret, or of only a node the ACL hides from
    // srv2, fires nothing.
    let changed = device_write(
        &mut tree,
        &format!("{DMACC}/acc1/Auth/Noti/Secret"),
        &format!(r#"{{"Secret":"{}"}}"#, b64(b"another")),
    );
    assert!(tree.fired(&changed).is_empty());
    let changed = device_write(
        &mut tree,
        &format!("{SENSOR}/1/Locked/Key"),
        r#"{"Key":"k2"}"#,
    );
    assert!(tree.fired(&changed).is_empty());
    let changed = device_write(
        &mut tree,
        &format!("{SENSOR}/1/Locked"),
        r#"{"Locked":{"New":"n"}}"#,
    );
    assert!(tree.fired(&changed).is_empty());
    // A readable change fires, and the report leaves the hidden parts out.
    let changed = device_write(
        &mut tree,
        &format!("{DMACC}/acc1/Auth/Noti/Data"),
        r#"{"Data":"ZGF0YTI="}"#,
    );
    let fired: Vec<String> = tree
        .fired(&changed)
        .iter()
        .map(|s| s.server.to_string())
        .collect();
    assert_eq!(fired, ["srv1"]);
    let (_, report) = get(&tree, "srv1", &format!("{DMACC}/acc1/Auth"));
    let report = String::from_utf8(report).expect("utf-8");
    assert!(
        report.contains("ZGF0YTI=") && !report.contains("Secret"),
        "{report}"
    );
    let changed = device_write(&mut tree, &format!("{SENSOR}/1/Open"), r#"{"Open":"o3"}"#);
    assert_eq!(tree.fired(&changed).len(), 1);
    let (_, report) = get(&tree, "srv2", &format!("{SENSOR}/1/"));
    let report = String::from_utf8(report).expect("utf-8");
    assert!(
        report.contains("o3") && !report.contains("Locked"),
        "{report}"
    );
    // A restored tree compares later changes with what the server could
    // read at the restore.
    let mut restored = MoTree::from_snapshot(&tree.to_snapshot(), MoTree::new()).expect("restored");
    let changed = device_write(
        &mut restored,
        &format!("{DMACC}/acc1/Auth/Noti/Secret"),
        &format!(r#"{{"Secret":"{}"}}"#, b64(b"third")),
    );
    assert!(restored.fired(&changed).is_empty());
}

#[test]
fn writing_or_deleting_an_ancestor_needs_the_acl_rights_of_every_node_it_replaces() {
    let sensor_root = |body: &str| {
        items(&format!(
            r#"[{{"ClientURI":"{SENSOR}/1/","MOData":{{"P":{body}}}}}]"#
        ))
    };
    let mut tree = tree();
    let before = tree.to_snapshot();
    // srv2 holds every right on the instance, but Locked admits srv1 only.
    for result in [
        status(tree.delete(&server("srv2"), &[uri(&format!("{SENSOR}/1/"))])),
        status(tree.write(&server("srv2"), None, &sensor_root(r#"{"Open":"x"}"#))),
        status(tree.write(
            &server("srv2"),
            None,
            &sensor_root(r#"{"Open":"x","Locked":{"Key":"k"}}"#),
        )),
    ] {
        assert_eq!(result, 403);
    }
    assert_eq!(tree.to_snapshot(), before, "nothing changed");
    // srv2 may replace what the ACL does not cover.
    tree.write(
        &server("srv2"),
        None,
        &items(&format!(
            r#"[{{"ClientURI":"{SENSOR}/1/Open","MOData":{{"Open":"x"}}}}]"#
        )),
    )
    .expect("Open is not restricted");
    // srv1 replaces the root keeping Locked: Locked keeps its ACL.
    tree.write(
        &server("srv1"),
        None,
        &sensor_root(r#"{"Open":"y","Locked":{"Key":"k9"}}"#),
    )
    .expect("srv1 is admitted");
    let instance = tree.instance(SENSOR, "1").expect("instance");
    let locked = instance.lookup(["Locked"]).expect("Locked");
    assert_eq!(
        instance.acl(locked).map(ToString::to_string).as_deref(),
        Some("Get=srv1&Replace=srv1&Add=srv1&Delete=srv1")
    );
    assert_eq!(get(&tree, "srv2", &format!("{SENSOR}/1/Locked/Key")).0, 403);
    // An ACL that admits every server to Replace but srv1 alone to Delete:
    // srv2 may rewrite the root keeping Locked, not drop it.
    let instance = tree.instance_mut(SENSOR, "1").expect("instance");
    let locked = instance.lookup(["Locked"]).expect("Locked");
    instance.set_acl(
        locked,
        Some("Get=*&Replace=*&Delete=srv1".parse().expect("ACL")),
    );
    tree.write(
        &server("srv2"),
        None,
        &sensor_root(r#"{"Open":"z","Locked":{"Key":"k10"}}"#),
    )
    .expect("Replace is admitted");
    let before = tree.to_snapshot();
    assert_eq!(
        status(tree.write(&server("srv2"), None, &sensor_root(r#"{"Open":"z"}"#))),
        403
    );
    // Adding a child under Locked needs Add, which only srv1 holds.
    assert_eq!(
        status(tree.write(
            &server("srv2"),
            None,
            &sensor_root(r#"{"Open":"z","Locked":{"Key":"k10","New":"n"}}"#),
        )),
        403
    );
    assert_eq!(
        status(tree.delete(&server("srv2"), &[uri(&format!("{SENSOR}/1/Locked"))])),
        403
    );
    assert_eq!(tree.to_snapshot(), before, "nothing changed");
    tree.delete(&server("srv1"), &[uri(&format!("{SENSOR}/1/"))])
        .expect("srv1 is admitted");
}

#[test]
fn one_instance_mos_never_get_a_second_instance_from_a_server() {
    let mut tree = tree();
    let before = tree.to_snapshot();
    let hget = |tree: &mut MoTree, target: &str, body: &str| {
        status(tree.write(
            &server("srv1"),
            None,
            &items(&format!(r#"[{{"ClientURI":"{target}","MOData":{body}}}]"#)),
        ))
    };
    for body in [
        r#"{"DevInfo":{"DevID":"IMEI:000000000000000","Man":"Evil"}}"#,
        r#"{"Evil":{"DevID":"IMEI:000000000000000"}}"#,
    ] {
        assert_eq!(
            hget(&mut tree, &format!("{DEVINFO}//"), body),
            405,
            "{body}"
        );
    }
    assert_eq!(tree.to_snapshot(), before, "nothing changed");
    // Writing into the existing root needs Write; given Write (by a DACMO
    // entry of the device), the data must name the root, and DevInfo is Get
    // only.
    assert_eq!(
        hget(
            &mut tree,
            &format!("{DEVINFO}/devinfo/"),
            r#"{"DevInfo":{"DevID":"IMEI:1"}}"#
        ),
        403
    );
    tree.write(
        &Principal::Device,
        None,
        &items(&format!(
            r#"[{{"ClientURI":"{DACMO}//","MOData":{{"DACMO":{{"MOID":"{DEVINFO}","MIID":"devinfo","ACL":{{"1":{{"ServerID":"srv1","Rights":"Read,Write"}}}}}}}}}}]"#
        )),
    )
    .expect("entry");
    let before = tree.to_snapshot();
    assert_eq!(
        hget(
            &mut tree,
            &format!("{DEVINFO}/devinfo/"),
            r#"{"Evil":{"DevID":"IMEI:1"}}"#
        ),
        400
    );
    assert_eq!(
        hget(
            &mut tree,
            &format!("{DEVINFO}/devinfo/"),
            r#"{"DevInfo":{"DevID":"IMEI:1"}}"#
        ),
        405
    );
    assert_eq!(tree.to_snapshot(), before, "nothing changed");
    assert_eq!(tree.instances_of(DEVINFO).count(), 1);

    // Without a DevInfo, and without any definition registered, a server
    // still cannot create one (the root is permanent and Get only); the
    // same for SessionInfo.
    tree.remove(DEVINFO, "devinfo");
    assert_eq!(
        hget(
            &mut tree,
            &format!("{DEVINFO}//"),
            r#"{"DevInfo":{"DevID":"IMEI:1"}}"#
        ),
        405
    );
    assert_eq!(
        hget(
            &mut tree,
            &format!("{SESSIONINFO}//"),
            r#"{"SessionInfo":{"CBT":"WLAN"}}"#
        ),
        405
    );
    assert_eq!(tree.instances_of(DEVINFO).count(), 0);
    assert_eq!(tree.instances_of(SESSIONINFO).count(), 0);

    // A product MO whose DDF says ZeroOrOne: one instance, never two.
    let ddf = dm_ddf::MoDefinition::parse_str(
        r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Cfg</NodeName><DFProperties>
           <AccessType><Add/><Get/><Replace/><Delete/></AccessType><DFFormat><node/></DFFormat>
           <Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope>
           <DFType><DDFName>urn:x:cfg:1.0</DDFName></DFType></DFProperties>
           <Node><NodeName>V</NodeName><DFProperties><AccessType><Get/><Replace/></AccessType>
           <DFFormat><chr/></DFFormat></DFProperties></Node></Node></MgmtTree>",
    )
    .expect("DDF");
    let cfg = Moid::new("urn:x:cfg:1.0").expect("moid");
    tree.define(cfg.clone(), Arc::new(ddf));
    tree.grant_moid(&id("srv1"), &cfg).expect("granted");
    assert_eq!(
        hget(&mut tree, "urn:x:cfg:1.0//", r#"{"Cfg":{"V":"a"}}"#),
        200
    );
    assert_eq!(
        hget(&mut tree, "urn:x:cfg:1.0//", r#"{"Cfg":{"V":"b"}}"#),
        405
    );
    assert_eq!(
        hget(&mut tree, "urn:x:cfg:1.0//", r#"{"Other":{"V":"b"}}"#),
        405
    );
    assert_eq!(
        hget(&mut tree, "urn:x:cfg:1.0/1/", r#"{"Other":{"V":"b"}}"#),
        400
    );
    assert_eq!(
        hget(&mut tree, "urn:x:cfg:1.0/1/", r#"{"Cfg":{"V":"c"}}"#),
        200
    );
    assert_eq!(tree.instances_of("urn:x:cfg:1.0").count(), 1);
    assert_eq!(tree.resolve_str("urn:x:cfg:1.0//V").0.as_u16(), 200);
}
