//! Bootstrap sessions (docs/protocol.md section 11.3): the command filter,
//! the HGET origin rule, approval, account events, and no secret in any
//! answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dm_codec::mime;
use dm_session::{
    AccountChange, AccountChangeKind, BootstrapApproval, ClientConfig, ClientEvent, ClientSession,
    RequestKind, Response, SessionRole, Trigger,
};
use dm_tree::{BootstrapAuth, DevInfo, DmAcc, HttpAuth, MoTree, NodeId, SecMode};
use dm_types::{DevId, Miid, MoItem, Moid, ServerId, ServerUri};

const BS_URI: &str = "https://bs.example/bootstrap";
const REPO: &str = "https://bs.example/accounts/";
const DMACC: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
const DEVINFO: &str = "urn:oma:mo:oma-dm-devinfo:1.0";

fn id(text: &str) -> ServerId {
    ServerId::new(text).expect("server id")
}

fn account(srv_id: &str, bootstrap_uri: Option<&str>) -> DmAcc {
    let mut account = DmAcc::new(
        id(srv_id),
        ServerUri::new(format!("https://{srv_id}.example/dm")).expect("uri"),
    );
    if let Some(uri) = bootstrap_uri {
        let mut auth = BootstrapAuth::new(ServerUri::new(uri).expect("uri"), SecMode::X509);
        auth.client_secret = b"BOOTSTRAP-PRIVATE-KEY".to_vec();
        account.bootstrap = Some(auth);
    }
    account
}

/// DevInfo, the bootstrap account `bs`, the management account `mgmt`
/// named by it, and `other` (named by nobody); `mgmt` may manage DMAcc.
fn device() -> MoTree {
    let mut tree = MoTree::new();
    tree.define_standard();
    tree.insert(DevInfo::new(DevId::new("IMEI:1").expect("devid"), "Acme", "X1").to_instance())
        .expect("devinfo");
    tree.add_dm_acc(&account("bs", Some(BS_URI))).expect("bs");
    let mut mgmt = account("mgmt", Some(BS_URI));
    mgmt.perm_moids = vec![
        Moid::new(DMACC).expect("moid"),
        Moid::new(DEVINFO).expect("moid"),
    ];
    mgmt.http = Some(HttpAuth {
        name: "device".into(),
        secret: b"HTTP-PASSWORD".to_vec(),
    });
    tree.add_dm_acc(&mgmt).expect("mgmt");
    tree.add_dm_acc(&account("other", None)).expect("other");
    tree
}

fn config(role: SessionRole) -> ClientConfig {
    let (server, uri) = match role {
        SessionRole::Bootstrap => ("bs", BS_URI),
        SessionRole::Management => ("mgmt", "https://mgmt.example/dm"),
    };
    let mut config = ClientConfig::new(
        DevId::new("IMEI:1").expect("devid"),
        id(server),
        ServerUri::new(uri).expect("uri"),
    );
    config.role = role;
    config
}

/// The MO serialization creating the DMAcc instance of `account`.
fn account_body(account: &DmAcc) -> Vec<u8> {
    let instance = account.to_instance(Miid::new("x").expect("miid"));
    let item = MoItem {
        ddf: None,
        client_uri: dm_types::ClientUri::parse(&format!("{DMACC}//")).expect("uri"),
        cache_validator: None,
        data: instance.to_mo_data(NodeId::ROOT).expect("data"),
    };
    dm_codec::encode_mo_serialization(&[item])
}

struct Outcome {
    /// The status codes of the one Package#2's commands.
    codes: Vec<u16>,
    /// Every byte the device sent (Package#1, Package#3, uploads).
    sent: String,
    /// Package#1.
    first: Vec<u8>,
    /// Where each request went.
    uris: Vec<String>,
    events: Vec<ClientEvent>,
}

/// One session: Package#2 `commands` (JSON command arrays), then END;
/// `repo` answers GETs below [`REPO`] and elsewhere.
fn run(
    config: ClientConfig,
    tree: &mut MoTree,
    commands: &str,
    repo: &BTreeMap<String, Vec<u8>>,
) -> Outcome {
    let mut client = ClientSession::new(config, Trigger::Client, tree, Vec::new(), Instant::now());
    let mut packages = 0;
    let mut codes = Vec::new();
    let mut sent = String::new();
    let mut events = Vec::new();
    let mut first = Vec::new();
    let mut uris = Vec::new();
    while let Some(request) = client.poll_request() {
        if first.is_empty() {
            first.clone_from(&request.body);
        }
        uris.push(request.uri.as_str().to_owned());
        sent.push_str(&String::from_utf8_lossy(&request.body));
        let response = if request.kind == RequestKind::ChangeReport {
            Response {
                status: 204,
                content_type: None,
                omadm_accept: None,
                body: Vec::new(),
            }
        } else if let Some(body) = repo.get(request.uri.as_str()) {
            Response {
                status: 200,
                content_type: Some(mime::MO_DATA.into()),
                omadm_accept: None,
                body: body.clone(),
            }
        } else {
            if packages == 1 {
                let package3 =
                    dm_codec::decode_package3(&request.body, &dm_codec::Limits::default())
                        .expect("Package#3");
                codes = package3.statuses.iter().map(|s| s.code.as_u16()).collect();
            }
            packages += 1;
            let body = if packages == 1 {
                format!(r#"{{"CMD":[{commands}]}}"#)
            } else {
                r#"{"CMD":[["END"]]}"#.to_owned()
            };
            Response {
                status: 200,
                content_type: Some(mime::REQUEST.into()),
                omadm_accept: None,
                body: body.into_bytes(),
            }
        };
        client
            .handle_response(request.id, &response, tree)
            .expect("awaited");
        events.extend(std::iter::from_fn(|| client.poll_event()));
    }
    assert!(client.is_ended());
    Outcome {
        codes,
        sent,
        first,
        uris,
        events,
    }
}

fn miid_of(tree: &MoTree, srv_id: &str) -> String {
    tree.instances_of(DMACC)
        .find(|i| DmAcc::from_instance(i).is_ok_and(|a| a.server_id.as_str() == srv_id))
        .map(|i| i.miid().as_str().to_owned())
        .expect("account")
}

#[test]
fn package1_lists_devinfo_and_the_accounts_the_bootstrap_server_may_write() {
    let mut tree = device();
    let outcome = run(
        config(SessionRole::Bootstrap),
        &mut tree,
        "",
        &BTreeMap::new(),
    );
    let (bs, mgmt, other) = (
        miid_of(&tree, "bs"),
        miid_of(&tree, "mgmt"),
        miid_of(&tree, "other"),
    );
    let package1 = dm_codec::decode_package1(&outcome.first, &dm_codec::Limits::default())
        .expect("Package#1 first");
    let mos = package1.mos.expect("MO list");
    let dmacc = mos
        .iter()
        .find(|m| m.moid.as_str() == DMACC)
        .expect("DMAcc listed");
    let miids: Vec<&str> = dmacc.miids.iter().map(Miid::as_str).collect();
    assert_eq!(miids, [bs.as_str(), mgmt.as_str()]);
    assert!(!miids.contains(&other.as_str()));
    assert_eq!(mos.len(), 2, "DevInfo and DMAcc only");
}

#[test]
fn every_command_outside_the_bootstrap_set_answers_403_without_touching_the_tree() {
    let mut tree = device();
    let before = tree.to_snapshot();
    let mgmt = miid_of(&tree, "mgmt");
    let commands = format!(
        r#"["GET","{DMACC}/{mgmt}/SrvURI"],["GET","{DEVINFO}//Man","{DMACC}/{mgmt}/SrvID"],
        ["EXEC","{DEVINFO}//Man"],["SUB","{DEVINFO}//Man","https://bs.example/c"],["UNSUB","{DEVINFO}//Man"],
        ["HPUT","{REPO}up","{DEVINFO}//Man"],["HPOST","{REPO}up","{DEVINFO}//Man"],
        ["SHOW","https://bs.example/ui"],["DEFAULT","{DMACC}","{REPO}d"],
        ["DELETE","{DEVINFO}//Man"],["DELETE","{DMACC}/{mgmt}/Name","{DEVINFO}//Man"],
        ["HGET","https://evil.example/accounts/new"],["HGET","http://bs.example/accounts/new"],
        ["HGET","{REPO}devinfo"],["FROB"],["GET"],["GET","{DEVINFO}//Man"],["CONT","https://bs.example/next"]"#
    );
    let mut repo = BTreeMap::new();
    let body = account_body(&account("new", None));
    repo.insert("https://evil.example/accounts/new".to_owned(), body.clone());
    repo.insert("http://bs.example/accounts/new".to_owned(), body);
    // From the right origin, but not DMAcc data.
    repo.insert(
        format!("{REPO}devinfo"),
        format!(r#"[{{"ClientURI":"{DEVINFO}/devinfo/Man","MOData":{{"Man":"Evil"}}}}]"#)
            .into_bytes(),
    );
    let outcome = run(config(SessionRole::Bootstrap), &mut tree, &commands, &repo);
    assert_eq!(
        outcome.codes,
        [
            403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 501, 400, 200,
            200
        ]
    );
    assert_eq!(tree.to_snapshot(), before, "the tree did not change");
    assert!(
        outcome
            .uris
            .iter()
            .all(|u| !u.contains("accounts/new") && !u.contains("evil")),
        "no repository request was made: {:?}",
        outcome.uris
    );
}

/// Records what it was asked and answers `allow`.
struct Approval {
    allow: bool,
    asked: Mutex<Vec<(ServerId, Vec<AccountChange>)>>,
}

impl BootstrapApproval for Approval {
    fn approve(&self, bootstrap_server: &ServerId, changes: &[AccountChange]) -> bool {
        self.asked
            .lock()
            .expect("lock")
            .push((bootstrap_server.clone(), changes.to_vec()));
        self.allow
    }
}

fn provisioning_commands(tree: &MoTree) -> (String, BTreeMap<String, Vec<u8>>) {
    let mut repo = BTreeMap::new();
    let mut new = account("new", None);
    new.name = "New server".into();
    new.http = Some(HttpAuth {
        name: "dev".into(),
        secret: b"NEW-HTTP-PASSWORD".to_vec(),
    });
    repo.insert(format!("{REPO}new"), account_body(&new));
    let mut rekeyed = account("mgmt", Some(BS_URI));
    rekeyed.server_uri = ServerUri::new("https://mgmt2.example/dm").expect("uri");
    repo.insert(format!("{REPO}mgmt"), account_body(&rekeyed));
    let bs = miid_of(tree, "bs");
    (
        format!(
            r#"["GET","{DEVINFO}//DevID"],["HGET","{REPO}new"],["HGET","{REPO}mgmt"],["DELETE","{DMACC}/{bs}/"]"#
        ),
        repo,
    )
}

#[test]
fn approved_changes_take_effect_and_raise_account_events() {
    let mut tree = device();
    let (commands, repo) = provisioning_commands(&tree);
    let mgmt = miid_of(&tree, "mgmt");
    let approval = Arc::new(Approval {
        allow: true,
        asked: Mutex::new(Vec::new()),
    });
    // The management server watches its own account: the change report of
    // the re-keying must carry no secret either.
    let watched = dm_types::ClientUri::parse(&format!("{DMACC}/{mgmt}/")).expect("uri");
    let reports = "https://mgmt.example/reports";
    tree.subscribe(
        &dm_tree::Principal::Server(id("mgmt")),
        id("mgmt"),
        watched,
        ServerUri::new(reports).expect("uri"),
    )
    .expect("subscribed");
    let mut config = config(SessionRole::Bootstrap);
    config.bootstrap_approval = Some(approval.clone());
    let outcome = run(config, &mut tree, &commands, &repo);
    assert_eq!(outcome.codes, [200, 200, 200, 200]);
    assert!(
        outcome.uris.iter().any(|u| u == reports),
        "a change report went out: {:?}",
        outcome.uris
    );
    assert_eq!(
        &outcome.events[..3],
        [
            ClientEvent::AccountProvisioned {
                server_id: id("new"),
                bootstrap: false
            },
            ClientEvent::AccountProvisioned {
                server_id: id("mgmt"),
                bootstrap: true
            },
            ClientEvent::AccountRemoved {
                server_id: id("bs")
            },
        ]
    );
    assert_eq!(miid_of(&tree, "mgmt"), mgmt, "replaced in place");
    assert_eq!(
        tree.dm_acc(&id("mgmt"))
            .expect("reads")
            .map(|a| a.server_uri.as_str().to_owned()),
        Some("https://mgmt2.example/dm".to_owned())
    );
    assert!(tree.dm_acc(&id("bs")).expect("reads").is_none());
    let asked = approval.asked.lock().expect("lock").clone();
    let kinds: Vec<(String, String, AccountChangeKind)> = asked
        .iter()
        .flat_map(|(bs, changes)| {
            changes
                .iter()
                .map(move |c| (bs.to_string(), c.server_id.to_string(), c.kind))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("bs".into(), "new".into(), AccountChangeKind::Create),
            ("bs".into(), "mgmt".into(), AccountChangeKind::Replace),
            ("bs".into(), "bs".into(), AccountChangeKind::Delete),
        ]
    );
    assert_eq!(asked[0].1[0].name, "New server");
    // Secrets were never sent: not the device's, not the new ones.
    for secret in [
        "BOOTSTRAP-PRIVATE-KEY",
        "HTTP-PASSWORD",
        "NEW-HTTP-PASSWORD",
    ] {
        assert!(!outcome.sent.contains(secret), "{secret} sent");
    }
    assert!(!format!("{asked:?}").contains("PASSWORD"));
}

#[test]
fn a_refused_bootstrap_answers_403_and_changes_nothing() {
    let mut tree = device();
    let before = tree.to_snapshot();
    let (commands, repo) = provisioning_commands(&tree);
    let approval = Arc::new(Approval {
        allow: false,
        asked: Mutex::new(Vec::new()),
    });
    let mut config = config(SessionRole::Bootstrap);
    config.bootstrap_approval = Some(approval.clone());
    let outcome = run(config, &mut tree, &commands, &repo);
    assert_eq!(outcome.codes, [200, 403, 403, 403]);
    assert_eq!(tree.to_snapshot(), before, "snapshot bytes equal");
    assert_eq!(approval.asked.lock().expect("lock").len(), 3);
    assert!(
        outcome
            .events
            .iter()
            .all(|e| matches!(e, ClientEvent::Ended(_))),
        "{:?}",
        outcome.events
    );
}

#[test]
fn a_management_session_cannot_touch_accounts_even_with_a_dacmo_grant() {
    let mut tree = device();
    let mgmt = miid_of(&tree, "mgmt");
    let entry = dm_codec::decode_mo_serialization(
        format!(
            r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0//","MOData":{{"d":{{"MOID":"{DMACC}","MIID":"{mgmt}",
              "ACL":{{"a":{{"ServerID":"mgmt","Rights":"Read,Write,Exec,Delegate"}}}}}}}}}}]"#
        )
        .as_bytes(),
        &dm_codec::Limits::default(),
    )
    .expect("entry");
    tree.write(&dm_tree::Principal::Device, None, &entry)
        .expect("entry written");
    let before = tree.to_snapshot();
    let mut repo = BTreeMap::new();
    repo.insert(
        "https://mgmt.example/new".to_owned(),
        account_body(&account("new", None)),
    );
    let name = format!(r#"[{{"ClientURI":"{DMACC}/{mgmt}/Name","MOData":{{"Name":"x"}}}}]"#);
    repo.insert("https://mgmt.example/name".to_owned(), name.into_bytes());
    let commands = format!(
        r#"["HGET","https://mgmt.example/new"],["HGET","https://mgmt.example/name"],["DELETE","{DMACC}/{mgmt}/"],["GET","{DMACC}/{mgmt}/"]"#
    );
    let outcome = run(config(SessionRole::Management), &mut tree, &commands, &repo);
    assert_eq!(outcome.codes, [403, 403, 403, 200]);
    assert_eq!(tree.to_snapshot(), before);
    // What it may read carries no secret.
    assert!(outcome.sent.contains("SrvURI"));
    for secret in ["BOOTSTRAP-PRIVATE-KEY", "HTTP-PASSWORD", "ClientSecretKey"] {
        assert!(!outcome.sent.contains(secret), "{secret} sent");
    }
}
