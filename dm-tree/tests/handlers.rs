//! Node handlers (live values, EXEC) and the standard instances built from
//! configuration.

mod common;

use common::{items, server, uri};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dm_tree::{
    DevInfo, ExecOutcome, MoTree, NodeHandler, NodeId, Principal, ReadOutcome, SessionInfo,
};
use dm_types::{ClientUri, DevId, LeafValue, Moid, ServerUri, StatusCode};

const FUMO: &str = "urn:oma:mo:oma-fumo:1.0";

/// What an EXEC saw of its instance: MIID, `Level`, the root's children.
type Seen = (String, Option<LeafValue>, Vec<String>);

/// Counts executions; reports a live battery level; remembers what the
/// executed instance held.
struct Firmware {
    runs: AtomicUsize,
    seen: std::sync::Mutex<Vec<Seen>>,
}

impl NodeHandler for Firmware {
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        node.as_str()
            .ends_with("/Level")
            .then_some(LeafValue::Int(87))
    }

    fn exec(
        &self,
        _node: &ClientUri,
        instance: &dyn dm_tree::InstanceView,
        asynchronous: bool,
    ) -> ExecOutcome {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().expect("lock").push((
            instance.miid().to_owned(),
            instance.value("Level").cloned(),
            instance
                .children("")
                .into_iter()
                .map(str::to_owned)
                .collect(),
        ));
        if asynchronous {
            ExecOutcome::Started
        } else {
            ExecOutcome::Done(StatusCode::OK)
        }
    }
}

fn tree() -> (MoTree, Arc<Firmware>) {
    let mut tree = MoTree::new();
    let setup = items(&format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{FUMO}"}}}}}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"b":{{"SrvID":"srv2","Perm":{{"1":{{"MOID":"{FUMO}"}}}}}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &setup)
        .expect("accounts");
    tree.write(
        &server("srv1"),
        None,
        &items(&format!(r#"[{{"ClientURI":"{FUMO}//","MOData":{{"fw":{{"Update":null,"Level":0,"Other":null}}}}}},
                            {{"ClientURI":"{FUMO}//","MOData":{{"fw":{{"Update":null}}}}}}]"#)),
    )
    .expect("srv1 creates two instances");
    let handler = Arc::new(Firmware {
        runs: AtomicUsize::new(0),
        seen: std::sync::Mutex::default(),
    });
    tree.set_handler(Moid::new(FUMO).expect("moid"), handler.clone());
    (tree, handler)
}

#[test]
fn exec_runs_the_handler_with_the_right_checks() {
    let (tree, handler) = tree();
    let srv1 = server("srv1");
    assert_eq!(
        tree.exec(&srv1, &uri(&format!("{FUMO}/1/Update")), None),
        Ok(ExecOutcome::Done(StatusCode::OK))
    );
    let report = ServerUri::new("https://dm.example/async").expect("uri");
    assert_eq!(
        tree.exec(&srv1, &uri(&format!("{FUMO}/1/Update")), Some(&report)),
        Ok(ExecOutcome::Started)
    );
    assert_eq!(handler.runs.load(Ordering::SeqCst), 2);
    // The handler sees the executed instance as the server wrote it.
    let seen = handler.seen.lock().expect("lock").clone();
    let children = vec!["Level".to_owned(), "Other".to_owned(), "Update".to_owned()];
    assert_eq!(seen[0], ("1".to_owned(), Some(LeafValue::Int(0)), children));
    let status = |r: Result<ExecOutcome, dm_tree::Error>| r.err().map(|e| e.status().as_u16());
    // Several nodes where one is required, nothing, another server's instance.
    assert_eq!(
        status(tree.exec(&srv1, &uri(&format!("{FUMO}/*/Update")), None)),
        Some(409)
    );
    assert_eq!(
        status(tree.exec(&srv1, &uri(&format!("{FUMO}/1/Nope")), None)),
        Some(404)
    );
    assert_eq!(
        status(tree.exec(&server("srv2"), &uri(&format!("{FUMO}/1/Update")), None)),
        Some(404)
    );
    assert_eq!(
        handler.runs.load(Ordering::SeqCst),
        2,
        "failed EXECs run nothing"
    );
    // No handler for an MO: nothing executes its nodes.
    let devinfo = DevInfo::new(DevId::new("IMEI:1").expect("dev id"), "Acme", "X");
    let mut tree = tree;
    tree.insert(devinfo.to_instance()).expect("devinfo");
    let err = tree
        .exec(
            &Principal::Device,
            &uri("urn:oma:mo:oma-dm-devinfo:1.0//DevID"),
            None,
        )
        .expect_err("DevID is not executable");
    assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED);
}

#[test]
fn reads_report_live_values() {
    let (tree, _) = tree();
    let outcome = tree
        .read(&server("srv1"), &[uri(&format!("{FUMO}/1/"))])
        .expect("readable");
    let ReadOutcome::Data(items) = outcome else {
        panic!("data expected")
    };
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&items)).expect("UTF-8");
    assert!(json.contains(r#""Level":87"#), "{json}");
    // The stored value is unchanged.
    let instance = tree.instance(FUMO, "1").expect("instance");
    let level = instance.lookup(["Level"]).expect("Level");
    assert_eq!(instance.value(level), Some(&LeafValue::Int(0)));
}

#[test]
fn standard_instances_fit_their_definitions() {
    let mut devinfo = DevInfo::new(
        DevId::new("IMEI:493005100592800").expect("dev id"),
        "Acme",
        "X1",
    );
    devinfo.firmware_version = "1.0.3".into();
    let instance = devinfo.to_instance();
    let data = instance.to_mo_data(NodeId::ROOT).expect("root");
    dm_ddf::standard::devinfo()
        .validate(&data)
        .expect("DevInfo fits its DDF");
    let session = SessionInfo {
        bearer: "WLAN".into(),
        initiator: "Client".into(),
        server_id: "srv1".into(),
        start_time: "2026-11-24T06:00:00Z".into(),
    }
    .to_instance();
    let data = session.to_mo_data(NodeId::ROOT).expect("root");
    dm_ddf::standard::sessioninfo()
        .validate(&data)
        .expect("SessionInfo fits its DDF");
    // Both are read-only through the protocol.
    let mut tree = MoTree::new();
    tree.insert(instance).expect("devinfo");
    let write = items(
        r#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/FwV","MOData":{"FwV":"2"}}]"#,
    );
    let err = tree
        .write(&Principal::Device, None, &write)
        .expect_err("Get only");
    assert_eq!(err.status(), StatusCode::COMMAND_NOT_ALLOWED);
}

const BATTERY: &str = "urn:x:battery";

/// Live `Level` and `Health` values the test changes at will.
struct Battery {
    level: std::sync::atomic::AtomicI64,
    health: std::sync::atomic::AtomicI64,
}

impl NodeHandler for Battery {
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        let text = node.as_str();
        if text.ends_with("/Level") {
            Some(LeafValue::Int(self.level.load(Ordering::SeqCst)))
        } else if text.ends_with("/Health") {
            Some(LeafValue::Int(self.health.load(Ordering::SeqCst)))
        } else {
            None
        }
    }

    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        ExecOutcome::Done(StatusCode::OK)
    }
}

/// A device-created battery instance readable by srv1 and srv2, whose
/// `Health` only srv1 may read (DM 1.x ACL), backed by a live handler.
fn battery_tree() -> (MoTree, Arc<Battery>) {
    let mut tree = MoTree::new();
    let setup = items(&format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{BATTERY}"}}}}}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"b":{{"SrvID":"srv2","Perm":{{"1":{{"MOID":"{BATTERY}"}}}}}}}}}},
            {{"ClientURI":"{BATTERY}//","MOData":{{"B":{{"Level":0,"Health":0,"Model":"X"}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &setup)
        .expect("accounts and battery");
    let instance = tree.instance_mut(BATTERY, "1").expect("battery");
    let health = instance.lookup(["Health"]).expect("Health");
    instance.set_acl(health, Some("Get=srv1".parse().expect("ACL")));
    let battery = Arc::new(Battery {
        level: 87.into(),
        health: 100.into(),
    });
    tree.set_handler(Moid::new(BATTERY).expect("moid"), battery.clone());
    (tree, battery)
}

/// Reads `targets` as `who`: `None` for 304, else the items.
fn get(tree: &MoTree, who: &Principal, targets: &[&str]) -> Option<Vec<dm_types::MoItem>> {
    let targets: Vec<ClientUri> = targets.iter().map(|t| uri(t)).collect();
    match tree.read(who, &targets).expect("readable") {
        ReadOutcome::Data(items) => Some(items),
        ReadOutcome::NotModified => None,
    }
}

fn root_cv(tree: &MoTree, who: &Principal) -> String {
    let items = get(tree, who, &[&format!("{BATTERY}/1/")]).expect("data");
    items[0]
        .cache_validator
        .as_ref()
        .expect("CV at the root")
        .to_string()
}

#[test]
fn a_live_value_change_changes_the_cache_validator() {
    let (tree, battery) = battery_tree();
    let srv1 = server("srv1");
    let cv = root_cv(&tree, &srv1);
    // Unchanged: 304, for the root and for a node below it.
    let cached_root = format!("{BATTERY}/1/?cv={cv}");
    let cached_level = format!("{BATTERY}/1/Level?cv={cv}");
    assert!(get(&tree, &srv1, &[&cached_root]).is_none());
    assert!(get(&tree, &srv1, &[&cached_level]).is_none());
    assert_eq!(
        tree.cache_validator_as(&srv1, tree.instance(BATTERY, "1").expect("battery"))
            .as_str(),
        cv
    );
    // The handler's value changes; the stored tree does not.
    battery.level.store(86, Ordering::SeqCst);
    let items = get(&tree, &srv1, &[&cached_root]).expect("the data, not 304");
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&items)).expect("UTF-8");
    assert!(json.contains(r#""Level":86"#), "{json}");
    let fresh = items[0].cache_validator.as_ref().expect("CV").to_string();
    assert_ne!(fresh, cv);
    assert!(get(&tree, &srv1, &[&cached_level]).is_some());
    // The new validator answers 304 again; a value that comes back to what
    // the server holds is unchanged data, so the old validator matches again.
    assert!(get(&tree, &srv1, &[&format!("{BATTERY}/1/?cv={fresh}")]).is_none());
    battery.level.store(87, Ordering::SeqCst);
    assert!(get(&tree, &srv1, &[&cached_root]).is_none());
}

#[test]
fn a_validator_covers_only_what_its_server_reads() {
    let (tree, battery) = battery_tree();
    let (srv1, srv2) = (server("srv1"), server("srv2"));
    let cv1 = root_cv(&tree, &srv1);
    let cv2 = root_cv(&tree, &srv2);
    // srv2 does not receive Health: its data and validator ignore it.
    battery.health.store(42, Ordering::SeqCst);
    assert!(
        get(&tree, &srv2, &[&format!("{BATTERY}/1/?cv={cv2}")]).is_none(),
        "a hidden node's change must not be observable through the validator"
    );
    assert!(get(&tree, &srv1, &[&format!("{BATTERY}/1/?cv={cv1}")]).is_some());
    // A value both read changes both validators.
    battery.level.store(10, Ordering::SeqCst);
    assert!(get(&tree, &srv2, &[&format!("{BATTERY}/1/?cv={cv2}")]).is_some());
}

#[test]
fn instances_without_a_handler_keep_the_stored_validator() {
    let (tree, _) = battery_tree();
    let srv1 = server("srv1");
    let account = tree
        .instances_of("urn:oma:mo:oma-dm-dmacc:1.2")
        .next()
        .expect("account");
    assert_eq!(
        tree.cache_validator_as(&srv1, account),
        account.cache_validator()
    );
    // A handler-backed one differs from its stored validator (it folds the
    // values read), and still changes with a stored write.
    let mut tree = tree;
    let before = root_cv(&tree, &srv1);
    assert_ne!(
        before,
        tree.instance(BATTERY, "1")
            .expect("battery")
            .cache_validator()
            .to_string()
    );
    let write = items(&format!(
        r#"[{{"ClientURI":"{BATTERY}/1/Model","MOData":{{"Model":"Y"}}}}]"#
    ));
    tree.write(&Principal::Device, None, &write)
        .expect("written");
    assert_ne!(root_cv(&tree, &srv1), before);
}

#[test]
fn mark_changed_bumps_the_validator_and_fires_subscriptions() {
    let (mut tree, battery) = battery_tree();
    let srv1 = server("srv1");
    let report = ServerUri::new("https://dm.example/changes").expect("uri");
    let level = uri(&format!("{BATTERY}/1/Level"));
    tree.subscribe(&srv1, common::id("srv1"), level.clone(), report)
        .expect("SUB");
    let before = root_cv(&tree, &srv1);
    // A signal without a new value bumps the validator but reports nothing:
    // what the server reads at the target is the same.
    let same = tree
        .mark_changed(&uri(&format!("{BATTERY}//Level")))
        .expect("resolves");
    assert_ne!(
        root_cv(&tree, &srv1),
        before,
        "a signalled change is a change"
    );
    assert!(
        tree.fired(&same).is_empty(),
        "the value it reads is the same"
    );
    // The live value changes, then the product signals it.
    battery.level.store(86, std::sync::atomic::Ordering::SeqCst);
    let before = root_cv(&tree, &srv1);
    // Any ClientURI form, resolved as the device.
    let changed = tree
        .mark_changed(&uri(&format!("{BATTERY}//Level")))
        .expect("resolves");
    assert_eq!(changed, [level]);
    assert_ne!(
        root_cv(&tree, &srv1),
        before,
        "a signalled change is a change"
    );
    assert_eq!(tree.fired(&changed).len(), 1);
    // A change elsewhere in the instance fires nothing for Level.
    let model = tree
        .mark_changed(&uri(&format!("{BATTERY}/1/Model")))
        .expect("resolves");
    assert!(tree.fired(&model).is_empty());
    // Nothing to mark: the error, and no change.
    let cv = root_cv(&tree, &srv1);
    let err = tree
        .mark_changed(&uri(&format!("{BATTERY}/1/Nope")))
        .expect_err("no such node");
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    assert_eq!(root_cv(&tree, &srv1), cv);
}
