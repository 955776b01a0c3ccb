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

/// Counts executions; reports a live battery level.
struct Firmware {
    runs: AtomicUsize,
}

impl NodeHandler for Firmware {
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        node.as_str()
            .ends_with("/Level")
            .then_some(LeafValue::Int(87))
    }

    fn exec(&self, _node: &ClientUri, asynchronous: bool) -> ExecOutcome {
        self.runs.fetch_add(1, Ordering::SeqCst);
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
