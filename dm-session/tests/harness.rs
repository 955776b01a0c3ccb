//! A ClientSession against a ServerSession and an in-memory repository, all
//! in memory: one scenario per command and per error path.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dm_codec::mime;
use dm_session::{
    AbortReason, BrowserLauncher, Busy, ClientConfig, ClientEnd, ClientEvent, ClientSession,
    Failure, Method, PackageRequest, RequestKind, Response, ServerConfig, ServerEvent,
    ServerSession, TransportFailure, Trigger,
};
use dm_tree::{DevInfo, ExecOutcome, MoTree, NodeHandler, Principal};
use dm_types::{ClientUri, Command, DevId, Moid, ServerId, ServerUri, StatusCode};

const REPO: &str = "https://repo.example/";

/// A browser component that records the pages it opened, or fails every
/// launch.
#[derive(Default)]
struct Browser {
    fails: bool,
    opened: Mutex<Vec<String>>,
}

impl Browser {
    fn opened(&self) -> Vec<String> {
        self.opened.lock().expect("lock").clone()
    }
}

impl BrowserLauncher for Browser {
    fn launch(&self, page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.fails {
            return Err("no display".into());
        }
        self.opened.lock().expect("lock").push(page.to_string());
        Ok(())
    }
}
const DM: &str = "https://dm.example/dm";

/// FUMO: `Update` runs asynchronously when the server asks for it;
/// `Download` always finishes at once. Results are reported with FUMO's own
/// alert type.
struct Fumo;

impl NodeHandler for Fumo {
    fn exec(
        &self,
        node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        asynchronous: bool,
    ) -> ExecOutcome {
        if asynchronous && !node.as_str().ends_with("/Download") {
            ExecOutcome::Started
        } else {
            ExecOutcome::Done(StatusCode::OK)
        }
    }

    fn result_alert(&self, node: &ClientUri, status: StatusCode) -> dm_types::Alert {
        let mut alert =
            dm_types::Alert::new(dm_types::AlertType::new(FUMO_DOWNLOAD).expect("alert type"));
        alert.source_uri = Some(node.to_string());
        alert.data_type = Some("int".into());
        let mut data = dm_types::JsonObject::new();
        data.insert("DM1x".into(), status.as_u16().to_string().into());
        alert.data = Some(data);
        alert
    }
}

/// Unix milliseconds of the server engine's "now".
const NOW_MS: u64 = 1_764_000_000_000;

const FUMO_DOWNLOAD: &str = "org.openmobilealliance.dm.firmwareupdate.download";

/// An MO whose `Serial` is permanent and whose `Key` cannot be read.
const FIXED: &str = "urn:x:fixed:1.0";
const FIXED_DDF: &str = r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName/><DFProperties>
    <AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
    <Occurrence><ZeroOrMore/></Occurrence><DFType><DDFName>urn:x:fixed:1.0</DDFName></DFType></DFProperties>
    <Node><NodeName>Serial</NodeName><DFProperties><AccessType><Add/><Get/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Permanent/></Scope></DFProperties></Node>
    <Node><NodeName>Key</NodeName><DFProperties><AccessType><Add/><Delete/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
    <Node><NodeName>Note</NodeName><DFProperties><AccessType><Add/><Delete/><Get/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
    </Node></MgmtTree>";

/// A device whose DMAcc lets srv1 manage DevInfo, the sensor MO and FUMO.
fn device() -> MoTree {
    let mut tree = MoTree::new();
    tree.insert(DevInfo::new(DevId::new("IMEI:1").expect("dev id"), "Acme", "X1").to_instance())
        .expect("devinfo");
    let account = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"acc":{"SrvID":"srv1","Perm":{
             "1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0"},"2":{"MOID":"urn:oma:mo:moid:1.0"},"3":{"MOID":"urn:oma:mo:oma-fumo:1.0"},"4":{"MOID":"urn:x:fixed:1.0"}}}}}]"#,
        &dm_codec::Limits::default(),
    )
    .expect("account");
    tree.write(&Principal::Device, None, &account)
        .expect("account");
    let fumo = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:oma:mo:oma-fumo:1.0//","MOData":{"fw":{"Update":null,"Download":null}}}]"#,
        &dm_codec::Limits::default(),
    )
    .expect("fumo");
    let who = Principal::Server(ServerId::new("srv1").expect("server id"));
    tree.write(&who, None, &fumo).expect("fumo");
    tree.set_handler(
        Moid::new("urn:oma:mo:oma-fumo:1.0").expect("moid"),
        Arc::new(Fumo),
    );
    tree
}

/// The client configuration every test uses: device IMEI:1, server srv1.
fn client_config() -> ClientConfig {
    ClientConfig::new(
        DevId::new("IMEI:1").expect("dev id"),
        ServerId::new("srv1").expect("server id"),
        ServerUri::new(DM).expect("uri"),
    )
}

/// A Package#2 answer with `body`.
fn package2(body: &[u8]) -> Response {
    Response {
        status: 200,
        content_type: Some(mime::REQUEST.into()),
        omadm_accept: None,
        body: body.to_vec(),
    }
}

fn command(words: &[&str]) -> Command {
    Command::from_words(words).expect("test command")
}

struct Run {
    results: Vec<(usize, StatusCode, Vec<String>, usize)>,
    client_events: Vec<ClientEvent>,
    server_events: usize,
    repo: BTreeMap<String, Vec<u8>>,
}

/// Runs one session: `commands` queued on the server, `repo` serving HGET
/// and storing HPUT/HPOST, `tamper` changing the HTTP answer to a package.
fn session(
    tree: &mut MoTree,
    commands: Vec<Command>,
    repo: BTreeMap<String, Vec<u8>>,
    tamper: impl Fn(usize, Response) -> Response,
    server_config: &ServerConfig,
) -> Run {
    session_as(client_config(), tree, commands, repo, tamper, server_config)
}

/// [`session`] with a client configuration of the test's own.
fn session_as(
    config: ClientConfig,
    tree: &mut MoTree,
    commands: Vec<Command>,
    mut repo: BTreeMap<String, Vec<u8>>,
    tamper: impl Fn(usize, Response) -> Response,
    server_config: &ServerConfig,
) -> Run {
    let now = Instant::now();
    let mut client = ClientSession::new(config, Trigger::Client, tree, Vec::new(), now);
    let mut server: Option<ServerSession<usize>> = None;
    let mut results = Vec::new();
    let mut server_events = 0;
    let mut packages = 0;
    let mut pending = commands.into_iter().enumerate().collect::<Vec<_>>();
    let mut client_events = Vec::new();
    for _ in 0..1000 {
        let Some(request) = client.poll_request() else {
            break;
        };
        let uri = request.uri.as_str().to_owned();
        let response = if uri.starts_with(REPO) {
            if request.method == Method::Get {
                match repo.get(&uri) {
                    Some(body) => Response {
                        status: 200,
                        content_type: Some(mime::MO_DATA.into()),
                        omadm_accept: None,
                        body: body.clone(),
                    },
                    None => Response {
                        status: 404,
                        content_type: None,
                        omadm_accept: None,
                        body: Vec::new(),
                    },
                }
            } else {
                repo.insert(uri, request.body.clone());
                Response {
                    status: 204,
                    content_type: None,
                    omadm_accept: None,
                    body: Vec::new(),
                }
            }
        } else {
            let package = PackageRequest {
                content_type: request.content_type,
                dev_id: Some(request.dev_id.as_str()),
                authenticated: None,
                body: &request.body,
            };
            let body = match &mut server {
                None => {
                    let mut s = ServerSession::start(server_config.clone(), &package, NOW_MS)
                        .expect("Package#1 accepted");
                    for (tag, c) in pending.drain(..) {
                        s.enqueue(tag, c);
                    }
                    let body = s.respond(NOW_MS);
                    server = Some(s);
                    body
                }
                Some(s) => {
                    s.handle_package3(&package, NOW_MS)
                        .expect("Package#3 accepted");
                    s.respond(NOW_MS)
                }
            };
            if let Some(s) = &mut server {
                while let Some(event) = s.poll_event() {
                    server_events += 1;
                    if let ServerEvent::Result { tag, status, .. } = event {
                        results.push((
                            tag,
                            status.code,
                            status.uris.iter().map(ToString::to_string).collect(),
                            status.data.len(),
                        ));
                    }
                }
            }
            packages += 1;
            tamper(packages, package2(&body))
        };
        client
            .handle_response(request.id, &response, tree)
            .expect("an awaited answer");
        client_events.extend(std::iter::from_fn(|| client.poll_event()));
    }
    assert!(client.is_ended(), "the client session ends");
    Run {
        results,
        client_events,
        server_events,
        repo,
    }
}

fn plain(tree: &mut MoTree, commands: Vec<Command>, repo: BTreeMap<String, Vec<u8>>) -> Run {
    session(tree, commands, repo, |_, r| r, &ServerConfig::default())
}

#[test]
fn get_devinfo_and_end() {
    let mut tree = device();
    let run = plain(
        &mut tree,
        vec![command(&[
            "GET",
            "urn:oma:mo:oma-dm-devinfo:1.0//Man",
            "urn:oma:mo:oma-dm-devinfo:1.0//Mod",
        ])],
        BTreeMap::new(),
    );
    assert_eq!(run.results, [(0, StatusCode::OK, vec![], 2)]);
    assert_eq!(
        run.client_events.last(),
        Some(&ClientEvent::Ended(ClientEnd::Completed))
    );
    assert!(run.server_events >= 2);
}

#[test]
fn hget_hput_delete_round_trip_through_the_repository() {
    let mut tree = device();
    let mut repo = BTreeMap::new();
    repo.insert(
        format!("{REPO}new"),
        br#"[{"ClientURI":"urn:oma:mo:moid:1.0//","MOData":{"Sensor":{"ID":"GPS"}}}]"#.to_vec(),
    );
    let run = plain(
        &mut tree,
        vec![
            command(&["HGET", &format!("{REPO}new")]),
            command(&["HPUT", &format!("{REPO}up"), "urn:oma:mo:moid:1.0/1/"]),
            command(&["HGET", &format!("{REPO}missing")]),
            command(&["DELETE", "urn:oma:mo:moid:1.0/1/ID"]),
            command(&["GET", "urn:oma:mo:moid:1.0/1/ID"]),
        ],
        repo,
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [200, 200, 502, 200, 404]);
    assert_eq!(run.results[0].2, ["urn:oma:mo:moid:1.0/1/"]);
    let uploaded = String::from_utf8(run.repo[&format!("{REPO}up")].clone()).expect("UTF-8");
    assert!(
        uploaded.contains(r#""MOData":{"Sensor":{"ID":"GPS"}}"#),
        "{uploaded}"
    );
    assert!(tree.instance("urn:oma:mo:moid:1.0", "1").is_some());
}

#[test]
fn exec_show_default_sub_cont_and_invalid_commands() {
    let mut tree = device();
    let browser = Arc::new(Browser::default());
    let mut config = client_config();
    config.browser = Some(browser.clone());
    let run = session_as(
        config,
        &mut tree,
        vec![
            command(&["EXEC", "urn:oma:mo:oma-fumo:1.0//Update"]),
            command(&[
                "EXEC",
                "urn:oma:mo:oma-fumo:1.0//Update",
                "https://dm.example/async",
            ]),
            command(&["SHOW", "https://ui.example/consent"]),
            command(&[
                "DEFAULT",
                "urn:oma:mo:oma-wlan:1.0",
                "https://repo.example/wlan",
            ]),
            command(&[
                "SUB",
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
                "https://dm.example/changes",
            ]),
            command(&["UNSUB", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
            command(&["UNSUB", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
            // An https session never moves to http; any other origin is
            // followed (docs/protocol.md section 2.1).
            command(&["CONT", "http://dm.example/s/1"]),
            command(&["CONT", "https://node2.example/s/2"]),
        ],
        BTreeMap::new(),
        |_, r| r,
        &ServerConfig::default()
            .with_session_uri(ServerUri::new("https://dm.example/s/1").expect("uri")),
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [200, 202, 200, 200, 200, 200, 404, 403, 200]);
    assert_eq!(browser.opened(), ["https://ui.example/consent"]);
    assert!(run.client_events.contains(&ClientEvent::LaunchBrowser(
        ServerUri::new("https://ui.example/consent").expect("uri")
    )));
    assert!(run.client_events.iter().any(|e| matches!(
        e,
        ClientEvent::ExecStarted {
            report_to: Some(_),
            ..
        }
    )));
    assert!(
        run.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::Default { .. }))
    );
}

#[test]
fn http_errors_invalid_packages_and_endless_servers_abort() {
    let aborted = |tamper: &dyn Fn(usize, Response) -> Response, config: ServerConfig| {
        let mut tree = device();
        let commands = (0..5)
            .map(|_| command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]))
            .collect();
        let run = session(&mut tree, commands, BTreeMap::new(), tamper, &config);
        matches!(
            run.client_events.last(),
            Some(ClientEvent::Ended(
                ClientEnd::Aborted(_) | ClientEnd::Refused(_)
            ))
        )
    };
    let one = || ServerConfig::default().with_commands_per_package(1);
    assert!(aborted(
        &|n, r| if n == 2 {
            Response { status: 500, ..r }
        } else {
            r
        },
        one()
    ));
    // An HTTP error status is a refusal, with its status.
    let mut tree = device();
    let run = session(
        &mut tree,
        vec![command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])],
        BTreeMap::new(),
        |_, r| Response { status: 503, ..r },
        &one(),
    );
    assert_eq!(
        run.client_events.last(),
        Some(&ClientEvent::Ended(ClientEnd::Refused(503)))
    );
    assert!(aborted(
        &|n, r| if n == 2 {
            Response {
                body: b"{".to_vec(),
                ..r
            }
        } else {
            r
        },
        one()
    ));
    assert!(aborted(
        &|_, r| Response {
            content_type: Some("text/html".into()),
            ..r
        },
        one()
    ));
    // A server that keeps the session going past the client's package limit.
    let mut tree = device();
    let config = client_config();
    let mut config = config;
    config.packages_per_session = 3;
    let mut client = ClientSession::new(
        config,
        Trigger::Client,
        &tree,
        Vec::new(),
        std::time::Instant::now(),
    );
    for _ in 0..10 {
        let Some(request) = client.poll_request() else {
            break;
        };
        let body = br#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}"#;
        client
            .handle_response(request.id, &package2(body), &mut tree)
            .expect("an awaited answer");
    }
    assert!(client.is_ended());
    let events: Vec<ClientEvent> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(matches!(
        events.last(),
        Some(ClientEvent::Ended(ClientEnd::Aborted(
            AbortReason::TooManyPackages { packages: 3 }
        )))
    ));
}

#[test]
fn unknown_and_malformed_commands_get_their_status() {
    let mut tree = device();
    let config = client_config();
    let mut client = ClientSession::new(
        config,
        Trigger::Server {
            notification_id: Some(7),
        },
        &tree,
        Vec::new(),
        Instant::now(),
    );
    let p1 = client.poll_request().expect("Package#1");
    let text = String::from_utf8(p1.body).expect("UTF-8");
    assert!(
        text.contains("ServerInitiatedMgmt") && text.contains(r#""NotificationID":7"#),
        "{text}"
    );
    assert!(
        text.contains("urn:oma:mo:oma-dm-devinfo:1.0"),
        "the MO list is sent: {text}"
    );
    let body = br#"{"CMD":[["FROB"],["GET","bad uri"],["GET"]]}"#;
    client
        .handle_response(p1.id, &package2(body), &mut tree)
        .expect("an awaited answer");
    let p3 = client.poll_request().expect("Package#3");
    assert_eq!(p3.body, br#"{"Status":[{"sc":501},{"sc":400},{"sc":400}]}"#);
}

#[test]
fn a_session_past_its_duration_is_aborted() {
    let tree = device();
    let mut config = client_config();
    config.max_duration = std::time::Duration::from_secs(60);
    let start = Instant::now();
    let mut client = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), start);
    assert_eq!(
        client.poll_timeout(),
        Some(start + std::time::Duration::from_secs(60))
    );
    client.handle_timeout(start + std::time::Duration::from_secs(59));
    assert!(!client.is_ended());
    client.handle_timeout(start + std::time::Duration::from_secs(60));
    assert!(client.is_ended());
    assert_eq!(client.poll_timeout(), None);
    let events: Vec<ClientEvent> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(matches!(
        events.as_slice(),
        [ClientEvent::Ended(ClientEnd::Aborted(
            AbortReason::SessionTooLong
        ))]
    ));
}

#[test]
fn subscriptions_report_changes_by_put() {
    let mut tree = device();
    let mut repo = BTreeMap::new();
    repo.insert(
        format!("{REPO}new"),
        br#"[{"ClientURI":"urn:oma:mo:moid:1.0//","MOData":{"Sensor":{"ID":"GPS"}}}]"#.to_vec(),
    );
    repo.insert(
        format!("{REPO}id"),
        br#"[{"ClientURI":"urn:oma:mo:moid:1.0/1/ID","MOData":{"ID":"Temp"}}]"#.to_vec(),
    );
    let run = plain(
        &mut tree,
        vec![
            command(&["HGET", &format!("{REPO}new")]),
            command(&["SUB", "urn:oma:mo:moid:1.0/1/", &format!("{REPO}changes")]),
            command(&["HGET", &format!("{REPO}id")]),
        ],
        repo,
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [200, 200, 200]);
    let report = String::from_utf8(run.repo[&format!("{REPO}changes")].clone()).expect("UTF-8");
    assert!(
        report.contains(r#""MOData":{"Sensor":{"ID":"Temp"}}"#),
        "{report}"
    );
    // Deleting the watched instance reports too (an empty array: nothing left).
    let mut tree2 = tree.clone();
    let run = plain(
        &mut tree2,
        vec![command(&["DELETE", "urn:oma:mo:moid:1.0/1/"])],
        BTreeMap::new(),
    );
    assert_eq!(run.results[0].1, StatusCode::OK);
    assert_eq!(
        run.repo.get(&format!("{REPO}changes")).map(Vec::as_slice),
        Some(&b"[]"[..])
    );
}

mod properties {
    use super::*;
    use dm_session::ManagementTree;
    use proptest::prelude::*;

    /// The repository every generated session uses.
    fn repository() -> BTreeMap<String, Vec<u8>> {
        let mut repo = BTreeMap::new();
        repo.insert(
            format!("{REPO}a"),
            br#"[{"ClientURI":"urn:oma:mo:moid:1.0//","MOData":{"S":{"ID":"a","V":1}}}]"#.to_vec(),
        );
        repo.insert(
            format!("{REPO}v"),
            br#"[{"ClientURI":"urn:oma:mo:moid:1.0/1/V","MOData":{"V":2}}]"#.to_vec(),
        );
        repo
    }

    fn command_pool() -> Vec<Command> {
        [
            vec!["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"],
            vec!["GET", "urn:oma:mo:moid:1.0/*/V"],
            vec!["HGET", "https://repo.example/a"],
            vec!["HGET", "https://repo.example/v"],
            vec!["HGET", "https://repo.example/none"],
            vec!["HPUT", "https://repo.example/up", "urn:oma:mo:moid:1.0/1/"],
            vec!["DELETE", "urn:oma:mo:moid:1.0/1/V"],
            vec!["DELETE", "urn:oma:mo:moid:1.0/2/"],
            vec!["EXEC", "urn:oma:mo:oma-fumo:1.0//Update"],
            vec![
                "SUB",
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
                "https://repo.example/changes",
            ],
            vec!["UNSUB", "urn:oma:mo:oma-dm-devinfo:1.0//Man"],
            vec!["SHOW", "https://ui.example/"],
            vec!["DEFAULT", "urn:x:y", "https://repo.example/d"],
        ]
        .iter()
        .map(|words| command(words))
        .collect()
    }

    /// Applies `commands` straight to the tree, as the model of what a
    /// session does to it.
    fn apply_directly(tree: &mut MoTree, commands: &[Command], repo: &BTreeMap<String, Vec<u8>>) {
        let server = dm_tree::Principal::Server(ServerId::new("srv1").expect("server id"));
        for command in commands {
            match command {
                Command::Hget { source, target } => {
                    if let Some(body) = repo.get(source.as_str()) {
                        let items =
                            dm_codec::decode_mo_serialization(body, &dm_codec::Limits::default())
                                .expect("repository data decodes");
                        let _ = ManagementTree::write(tree, &server, target.as_ref(), &items);
                    }
                }
                Command::Delete { targets } => {
                    let _ = ManagementTree::delete(tree, &server, targets.as_slice());
                }
                Command::Sub { target, report_to } => {
                    let _ = ManagementTree::subscribe(tree, &server, target, report_to);
                }
                Command::Unsub { target } => {
                    let _ = ManagementTree::unsubscribe(tree, &server, target);
                }
                Command::Exec { target, report_to } => {
                    let _ = ManagementTree::exec(tree, &server, target, report_to.as_ref());
                }
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sessions_end_and_change_the_tree_like_direct_application(
            picks in proptest::collection::vec(0..13usize, 0..12),
            per_package in 1..4usize,
        ) {
            let pool = command_pool();
            let commands: Vec<Command> = picks.iter().map(|&i| pool[i].clone()).collect();
            let mut through_session = device();
            let run = session(
                &mut through_session,
                commands.clone(),
                repository(),
                |_, r| r,
                &ServerConfig::default().with_commands_per_package(per_package),
            );
            prop_assert_eq!(run.results.len(), commands.len(), "one result per command");
            let tags: Vec<usize> = run.results.iter().map(|r| r.0).collect();
            prop_assert_eq!(tags, (0..commands.len()).collect::<Vec<_>>(), "results in order");
            prop_assert_eq!(run.client_events.last(), Some(&ClientEvent::Ended(ClientEnd::Completed)));
            let mut direct = device();
            apply_directly(&mut direct, &commands, &repository());
            prop_assert_eq!(through_session.to_snapshot(), direct.to_snapshot());
        }
    }
}

#[test]
fn an_asynchronous_exec_is_reported_in_a_later_session() {
    let now = Instant::now();
    let mut tree = device();
    let run = plain(
        &mut tree,
        vec![command(&[
            "EXEC",
            "urn:oma:mo:oma-fumo:1.0//Update",
            "https://dm.example/async",
        ])],
        BTreeMap::new(),
    );
    assert_eq!(run.results[0].1, StatusCode::ACCEPTED);
    let Some(ClientEvent::ExecStarted {
        node,
        report_to: Some(report_to),
    }) = run
        .client_events
        .iter()
        .find(|e| matches!(e, ClientEvent::ExecStarted { .. }))
        .cloned()
    else {
        panic!("EXEC started asynchronously")
    };
    // Later, when the update finished: a new session to the given ServerURI,
    // Package#1 carrying ClientInitiatedMgmt and the result alert.
    let config = client_config();
    let alert = dm_types::Alert::exec_complete(&node, StatusCode::OK);
    let mut client = ClientSession::new(
        config,
        Trigger::Report {
            uri: report_to.clone(),
        },
        &tree,
        vec![alert],
        now,
    );
    let p1 = client.poll_request().expect("Package#1");
    assert_eq!(p1.uri, report_to);
    let request = PackageRequest {
        content_type: p1.content_type,
        dev_id: Some(p1.dev_id.as_str()),
        authenticated: None,
        body: &p1.body,
    };
    let mut server = ServerSession::<usize>::start(ServerConfig::default(), &request, NOW_MS)
        .expect("Package#1");
    let events: Vec<ServerEvent<usize>> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(e,
        ServerEvent::Alert(a) if a.alert_type.as_str() == "urn:oma:at:dm:2.0:ExecComplete"
            && a.source_uri.as_deref() == Some(node.as_str())
    )));
}

#[test]
fn default_fetches_configuration_for_a_missing_mo() {
    let mut tree = device();
    let fetch = dm_session::DefaultFetch {
        server_id: ServerId::new("srv1").expect("server id"),
        moid: Moid::new("urn:oma:mo:moid:1.0").expect("moid"),
        source: ServerUri::new("https://repo.example/d").expect("uri"),
    };
    let request = fetch.request(&DevId::new("IMEI:1").expect("dev id"));
    assert_eq!(
        (request.method, request.accept),
        (Method::Get, mime::MO_DATA)
    );
    let answer = |status: u16, content_type: &str, body: &[u8]| Response {
        status,
        content_type: Some(content_type.into()),
        omadm_accept: None,
        body: body.to_vec(),
    };
    let good = br#"[{"ClientURI":"urn:oma:mo:moid:1.0//","MOData":{"S":{"ID":"d"}}}]"#;
    assert_eq!(
        fetch.apply(&answer(500, mime::MO_DATA, good), &mut tree),
        Err(StatusCode::BAD_GATEWAY)
    );
    assert_eq!(
        fetch.apply(&answer(200, "text/plain", good), &mut tree),
        Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    );
    assert_eq!(
        fetch.apply(&answer(200, mime::MO_DATA, b"[{"), &mut tree),
        Err(StatusCode::BAD_REQUEST)
    );
    let other = br#"[{"ClientURI":"urn:x:other//","MOData":{"S":{}}}]"#;
    assert_eq!(
        fetch.apply(&answer(200, mime::MO_DATA, other), &mut tree),
        Err(StatusCode::BAD_REQUEST)
    );
    let written = fetch
        .apply(&answer(200, mime::MO_DATA, good), &mut tree)
        .expect("written");
    assert_eq!(written.len(), 1);
    assert_eq!(
        tree.resolve_str("urn:oma:mo:moid:1.0//ID").0,
        StatusCode::OK
    );
}

#[test]
fn uploads_follow_omadm_accept() {
    // The server accepts uploads only as XML: HPUT cannot be served (406).
    let mut tree = device();
    let run = session(
        &mut tree,
        vec![
            command(&[
                "HPUT",
                &format!("{REPO}up"),
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
            ]),
            command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
        ],
        BTreeMap::new(),
        |n, r| {
            if n == 1 {
                Response {
                    omadm_accept: Some("application/xml, text/*;q=0.5".into()),
                    ..r
                }
            } else {
                r
            }
        },
        &ServerConfig::default(),
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [406, 200]);
    assert!(run.repo.is_empty(), "nothing was uploaded");
    // A list that includes MO data (or a wildcard) lets the upload through.
    let mut tree = device();
    let run = session(
        &mut tree,
        vec![command(&[
            "HPUT",
            &format!("{REPO}up"),
            "urn:oma:mo:oma-dm-devinfo:1.0//Man",
        ])],
        BTreeMap::new(),
        |_, r| Response {
            omadm_accept: Some("application/*".into()),
            ..r
        },
        &ServerConfig::default(),
    );
    assert_eq!(run.results[0].1, StatusCode::OK);

    // A repository that rejects the media type: 406 for the command.
    let config = client_config();
    let mut client = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), Instant::now());
    let p1 = client.poll_request().expect("Package#1");
    let p2 = format!(r#"{{"CMD":[["HPUT","{REPO}up","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}}"#);
    client
        .handle_response(p1.id, &package2(p2.as_bytes()), &mut tree)
        .expect("an awaited answer");
    let put = client.poll_request().expect("the upload");
    assert_eq!(put.method, Method::Put);
    client
        .handle_response(
            put.id,
            &Response {
                status: 415,
                ..Response::default()
            },
            &mut tree,
        )
        .expect("an awaited answer");
    let p3 = client.poll_request().expect("Package#3");
    assert_eq!(p3.body, br#"{"Status":[{"sc":406}]}"#);
}

#[test]
fn queued_alerts_travel_in_the_next_package3() {
    let mut tree = device();
    let config = client_config();
    let mut client = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), Instant::now());
    let p1 = client.poll_request().expect("Package#1");
    client.queue_alert(dm_types::Alert::new(
        dm_types::AlertType::new("urn:x:battery-low").expect("type"),
    ));
    client
        .handle_response(p1.id, &package2(br#"{"CMD":[]}"#), &mut tree)
        .expect("an awaited answer");
    let p3 = client.poll_request().expect("Package#3");
    assert_eq!(
        p3.body,
        br#"{"Status":[],"Alert":[{"AlertType":"urn:x:battery-low"}]}"#
    );
}

/// The Package#1 the server sees from `client`, and the alerts in it.
fn alerts_of_package1(client: &mut ClientSession) -> (Vec<dm_types::Alert>, ServerUri) {
    let p1 = client.poll_request().expect("Package#1");
    let request = PackageRequest {
        content_type: p1.content_type,
        dev_id: Some(p1.dev_id.as_str()),
        authenticated: None,
        body: &p1.body,
    };
    let mut server = ServerSession::<usize>::start(ServerConfig::default(), &request, NOW_MS)
        .expect("Package#1");
    let alerts = std::iter::from_fn(|| server.poll_event())
        .filter_map(|e| match e {
            ServerEvent::Alert(alert) => Some(alert),
            _ => None,
        })
        .collect();
    (alerts, p1.uri)
}

#[test]
fn an_exec_with_a_server_uri_that_finishes_at_once_is_reported_in_a_new_session() {
    let mut tree = device();
    let download = "urn:oma:mo:oma-fumo:1.0//Download";
    let run = plain(
        &mut tree,
        vec![
            command(&["EXEC", download, "https://dm.example/async"]),
            command(&["EXEC", download]),
        ],
        BTreeMap::new(),
    );
    // The ServerURI forces asynchronous reporting: 202, never the status
    // itself; without one the status comes at once.
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [202, 200]);
    let finished: Vec<_> = run
        .client_events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ExecFinished {
                node,
                report_to,
                status,
                alert,
            } => {
                assert_eq!(*status, StatusCode::OK);
                Some((node.clone(), report_to.clone(), alert.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "{:?}", run.client_events);
    let (node, report_to, alert) = finished[0].clone();
    assert_eq!(node.as_str(), download);
    assert_eq!(report_to.as_str(), "https://dm.example/async");
    assert!(
        !run.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::ExecStarted { .. })),
        "nothing is left running"
    );
    // The MO's own alert type, with the handler's data.
    assert_eq!(alert.alert_type.as_str(), FUMO_DOWNLOAD);
    assert_eq!(alert.source_uri.as_deref(), Some(download));
    assert_eq!(
        alert.data.as_ref().and_then(|d| d.get("DM1x")),
        Some(&"200".into())
    );
    // The new session: Package#1 to the ServerURI with the result.
    let mut client = ClientSession::new(
        client_config(),
        Trigger::Report {
            uri: report_to.clone(),
        },
        &tree,
        vec![alert.clone()],
        Instant::now(),
    );
    let (alerts, uri) = alerts_of_package1(&mut client);
    // (The server reports the alerts besides the session-start one.)
    assert_eq!(uri, report_to);
    assert_eq!(
        alerts,
        [alert],
        "the result, besides the session-start alert"
    );
}

#[test]
fn without_a_handler_of_its_own_the_result_is_exec_complete() {
    let mut tree = device();
    tree.set_handler(
        Moid::new("urn:oma:mo:oma-fumo:1.0").expect("moid"),
        Arc::new(Always(StatusCode::INTERNAL_ERROR)),
    );
    let run = plain(
        &mut tree,
        vec![command(&[
            "EXEC",
            "urn:oma:mo:oma-fumo:1.0/1/Update",
            "https://dm.example/async",
        ])],
        BTreeMap::new(),
    );
    assert_eq!(run.results[0].1, StatusCode::ACCEPTED);
    let alert = run
        .client_events
        .iter()
        .find_map(|e| match e {
            ClientEvent::ExecFinished { alert, .. } => Some(alert.clone()),
            _ => None,
        })
        .expect("the result");
    assert_eq!(
        alert,
        dm_types::Alert::exec_complete(
            &ClientUri::parse("urn:oma:mo:oma-fumo:1.0/1/Update").expect("uri"),
            StatusCode::INTERNAL_ERROR
        )
    );
}

/// Finishes every EXEC at once with one status (default result alert).
struct Always(StatusCode);

impl NodeHandler for Always {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        ExecOutcome::Done(self.0)
    }
}

#[test]
fn show_answers_the_launch_result() {
    let show = || vec![command(&["SHOW", "https://ui.example/consent?id=7"])];
    // No browser component: 500, no event.
    let mut tree = device();
    let run = plain(&mut tree, show(), BTreeMap::new());
    assert_eq!(run.results[0].1, StatusCode::INTERNAL_ERROR);
    assert!(
        !run.client_events
            .iter()
            .any(|e| matches!(e, ClientEvent::LaunchBrowser(_)))
    );
    // A launch that fails: 500.
    let failing = Arc::new(Browser {
        fails: true,
        ..Browser::default()
    });
    let mut config = client_config();
    config.browser = Some(failing.clone());
    let run = session_as(
        config,
        &mut tree,
        show(),
        BTreeMap::new(),
        |_, r| r,
        &ServerConfig::default(),
    );
    assert_eq!(run.results[0].1, StatusCode::INTERNAL_ERROR);
    assert!(failing.opened().is_empty());
    // A launch that works: 200, the page opened and reported.
    let working = Arc::new(Browser::default());
    let mut config = client_config();
    config.browser = Some(working.clone());
    let run = session_as(
        config,
        &mut tree,
        show(),
        BTreeMap::new(),
        |_, r| r,
        &ServerConfig::default(),
    );
    assert_eq!(run.results[0].1, StatusCode::OK);
    assert_eq!(working.opened(), ["https://ui.example/consent?id=7"]);
    assert!(run.client_events.contains(&ClientEvent::LaunchBrowser(
        ServerUri::new("https://ui.example/consent?id=7").expect("uri")
    )));
}

/// Marks the device busy when `Update` is executed.
struct Occupying(Busy);

impl NodeHandler for Occupying {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        self.0.set(true);
        ExecOutcome::Done(StatusCode::OK)
    }
}

#[test]
fn a_busy_device_answers_503_except_for_cont_end_and_invalid_commands() {
    let mut tree = device();
    let before = tree.to_snapshot();
    let busy = Busy::default();
    busy.set(true);
    let mut config = client_config();
    config.busy = busy.clone();
    config.browser = Some(Arc::new(Browser::default()));
    let mut repo = BTreeMap::new();
    repo.insert(
        format!("{REPO}new"),
        br#"[{"ClientURI":"urn:oma:mo:moid:1.0//","MOData":{"Sensor":{"ID":"GPS"}}}]"#.to_vec(),
    );
    let run = session_as(
        config.clone(),
        &mut tree,
        vec![
            command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
            command(&["HGET", &format!("{REPO}new")]),
            command(&[
                "HPUT",
                &format!("{REPO}up"),
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
            ]),
            command(&[
                "HPOST",
                &format!("{REPO}up"),
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
            ]),
            command(&["DELETE", "urn:oma:mo:oma-fumo:1.0//Update"]),
            command(&["EXEC", "urn:oma:mo:oma-fumo:1.0//Update"]),
            command(&["SHOW", "https://ui.example/"]),
            command(&["DEFAULT", "urn:x:y", "https://repo.example/d"]),
            command(&[
                "SUB",
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
                "https://dm.example/c",
            ]),
            command(&["UNSUB", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
            command(&["CONT", "https://dm.example/s/2"]),
        ],
        repo,
        |_, r| r,
        &ServerConfig::default()
            .with_session_uri(ServerUri::new("https://dm.example/s/1").expect("uri")),
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(
        codes,
        [503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 200]
    );
    assert_eq!(
        run.client_events,
        [ClientEvent::Ended(ClientEnd::Completed)],
        "nothing ran; END still ended the session"
    );
    assert_eq!(run.repo.len(), 1, "nothing was sent: {:?}", run.repo.keys());
    assert_eq!(tree.to_snapshot(), before, "the tree did not change");

    // Unknown and malformed commands keep their status.
    let mut client = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), Instant::now());
    let p1 = client.poll_request().expect("Package#1");
    client.handle_response(
        p1.id,
        &package2(
            br#"{"CMD":[["FROB"],["GET","bad uri"],["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}"#,
        ),
        &mut tree,
    )
            .expect("an awaited answer");
    let p3 = client.poll_request().expect("Package#3");
    assert_eq!(p3.body, br#"{"Status":[{"sc":501},{"sc":400},{"sc":503}]}"#);

    // The flag is read as each command comes: busy from the middle of a
    // package on.
    let free = Busy::default();
    tree.set_handler(
        Moid::new("urn:oma:mo:oma-fumo:1.0").expect("moid"),
        Arc::new(Occupying(free.clone())),
    );
    let mut config = client_config();
    config.busy = free.clone();
    let run = session_as(
        config,
        &mut tree,
        vec![
            command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
            command(&["EXEC", "urn:oma:mo:oma-fumo:1.0//Update"]),
            command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
        ],
        BTreeMap::new(),
        |_, r| r,
        &ServerConfig::default(),
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [200, 200, 503]);
    free.set(false);
    let run = plain(
        &mut tree,
        vec![command(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])],
        BTreeMap::new(),
    );
    assert_eq!(run.results[0].1, StatusCode::OK);
}

/// `device()` with the fixed MO, instance 1 created by srv1 (`Serial`
/// permanent, `Key` unreadable, `Note` ordinary).
fn fixed_device() -> MoTree {
    let mut tree = device();
    let definition = dm_ddf::MoDefinition::parse(FIXED_DDF.as_bytes()).expect("DDF");
    tree.define(Moid::new(FIXED).expect("moid"), Arc::new(definition));
    let instance = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:x:fixed:1.0//","MOData":{"r":{"Serial":"1","Key":"k","Note":"n"}}}]"#,
        &dm_codec::Limits::default(),
    )
    .expect("instance");
    let who = Principal::Server(ServerId::new("srv1").expect("server id"));
    tree.write(&who, None, &instance).expect("srv1 creates it");
    tree
}

#[test]
fn several_targets_report_the_first_failure_in_parameter_order() {
    const SERIAL: &str = "urn:x:fixed:1.0/1/Serial";
    const KEY: &str = "urn:x:fixed:1.0/1/Key";
    const NOTE: &str = "urn:x:fixed:1.0/1/Note";
    const MISSING: &str = "urn:x:fixed:1.0/9/";
    let up = format!("{REPO}up");
    let mut tree = fixed_device();
    let before = tree.to_snapshot();
    let run = plain(
        &mut tree,
        vec![
            command(&["DELETE", SERIAL, MISSING]),
            command(&["DELETE", MISSING, SERIAL]),
            command(&["DELETE", NOTE, SERIAL]),
            command(&["GET", KEY, MISSING]),
            command(&["GET", MISSING, KEY]),
            command(&["HPUT", &up, KEY, MISSING]),
            command(&["HPUT", &up, MISSING, KEY]),
            command(&["HPOST", &up, NOTE, KEY]),
            command(&["HPOST", &up, MISSING, NOTE]),
        ],
        BTreeMap::new(),
    );
    let codes: Vec<u16> = run.results.iter().map(|r| r.1.as_u16()).collect();
    assert_eq!(codes, [405, 404, 405, 405, 404, 405, 404, 405, 404]);
    assert!(run.results.iter().all(|r| r.3 == 0), "no data was returned");
    assert!(run.repo.is_empty(), "nothing was sent");
    assert_eq!(tree.to_snapshot(), before, "nothing was deleted");
}

#[test]
fn queued_alerts_a_session_never_sent_are_given_back() {
    let mut tree = device();
    let mut client = ClientSession::new(
        client_config(),
        Trigger::Client,
        &tree,
        Vec::new(),
        Instant::now(),
    );
    let p1 = client.poll_request().expect("Package#1");
    let alert = dm_types::Alert::new(dm_types::AlertType::new("urn:x:battery-low").expect("type"));
    client.queue_alert(alert.clone());
    // The server ends the session: no Package#3 carries the alert.
    client
        .handle_response(p1.id, &package2(br#"{"CMD":[["END"]]}"#), &mut tree)
        .expect("an awaited answer");
    assert!(client.is_ended());
    assert_eq!(client.take_unsent_alerts(), std::slice::from_ref(&alert));
    assert!(client.take_unsent_alerts().is_empty());
    // An alert that left in a Package#3 is not given back.
    let mut client = ClientSession::new(
        client_config(),
        Trigger::Client,
        &tree,
        Vec::new(),
        Instant::now(),
    );
    let p1 = client.poll_request().expect("Package#1");
    client.queue_alert(alert);
    client
        .handle_response(p1.id, &package2(br#"{"CMD":[]}"#), &mut tree)
        .expect("an awaited answer");
    assert!(client.take_unsent_alerts().is_empty());
}

/// The device tree with alerts of the device's own waiting to go.
struct Raising {
    tree: MoTree,
    alerts: Vec<dm_types::Alert>,
    asked: usize,
}

impl dm_session::ManagementTree for Raising {
    fn mo_list(&self, server: &dm_tree::Principal) -> Vec<dm_types::MosEntry> {
        self.tree.mo_list(server)
    }
    fn read(
        &self,
        server: &dm_tree::Principal,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<dm_types::MoItem>>, StatusCode> {
        dm_session::ManagementTree::read(&self.tree, server, targets)
    }
    fn write(
        &mut self,
        server: &dm_tree::Principal,
        target: Option<&ClientUri>,
        items: &[dm_types::MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        dm_session::ManagementTree::write(&mut self.tree, server, target, items)
    }
    fn delete(
        &mut self,
        server: &dm_tree::Principal,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        dm_session::ManagementTree::delete(&mut self.tree, server, targets)
    }
    fn exec(
        &mut self,
        server: &dm_tree::Principal,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, StatusCode> {
        dm_session::ManagementTree::exec(&mut self.tree, server, target, report_to)
    }
    fn subscribe(
        &mut self,
        server: &dm_tree::Principal,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode> {
        dm_session::ManagementTree::subscribe(&mut self.tree, server, target, report_to)
    }
    fn unsubscribe(
        &mut self,
        server: &dm_tree::Principal,
        target: &ClientUri,
    ) -> Result<(), StatusCode> {
        dm_session::ManagementTree::unsubscribe(&mut self.tree, server, target)
    }
    fn change_reports(&self, changed: &[ClientUri]) -> Vec<dm_tree::ChangeReport> {
        dm_session::ManagementTree::change_reports(&self.tree, changed)
    }
    fn take_alerts(&mut self) -> Vec<dm_types::Alert> {
        self.asked += 1;
        std::mem::take(&mut self.alerts)
    }
}

#[test]
fn the_devices_own_alerts_travel_in_the_next_package3() {
    let battery =
        dm_types::Alert::new(dm_types::AlertType::new("urn:x:battery-low").expect("type"));
    let mut device = Raising {
        tree: device(),
        alerts: Vec::new(),
        asked: 0,
    };
    let mut client = ClientSession::new(
        client_config(),
        Trigger::Client,
        &device,
        Vec::new(),
        Instant::now(),
    );
    let p1 = client.poll_request().expect("Package#1");
    device.alerts.push(battery.clone());
    let queued = dm_types::Alert::new(dm_types::AlertType::new("urn:x:queued").expect("type"));
    client.queue_alert(queued);
    client
        .handle_response(
            p1.id,
            &package2(br#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}"#),
            &mut device,
        )
        .expect("an awaited answer");
    let p3 = client.poll_request().expect("Package#3");
    let package = dm_codec::decode_package3(&p3.body, &dm_codec::Limits::default()).expect("P3");
    let types: Vec<&str> = package
        .alerts
        .iter()
        .map(|a| a.alert_type.as_str())
        .collect();
    assert_eq!(types, ["urn:x:queued", "urn:x:battery-low"]);
    assert_eq!(device.asked, 1);
    // A package with END builds no Package#3: nothing is asked for.
    device.alerts.push(battery);
    client
        .handle_response(p3.id, &package2(br#"{"CMD":[["END"]]}"#), &mut device)
        .expect("an awaited answer");
    assert!(client.is_ended());
    assert_eq!(device.asked, 1);
    assert_eq!(
        device.alerts.len(),
        1,
        "the alert waits for a later session"
    );
}

#[test]
fn requests_say_what_they_are_for_and_how_much_answer_they_read() {
    let mut tree = device();
    let config = client_config();
    let limits = config.limits;
    let mut client = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), Instant::now());
    let p1 = client.poll_request().expect("Package#1");
    assert_eq!(p1.kind, RequestKind::Package);
    assert_eq!(p1.content_type, Some(mime::INITIATION));
    assert_eq!(p1.response_limit, Some(limits.package_bytes));
    let p2 = format!(
        r#"{{"CMD":[["HGET","{REPO}a","urn:oma:mo:oma-dm-devinfo:1.0//Man"],["HPUT","{REPO}up","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}}"#
    );
    client
        .handle_response(p1.id, &package2(p2.as_bytes()), &mut tree)
        .expect("an awaited answer");
    let get = client.poll_request().expect("the HGET");
    assert_eq!(
        (get.kind, get.response_limit),
        (RequestKind::RepositoryRead, Some(limits.mo_data_bytes))
    );
    // An answer to a request the session does not wait for is refused.
    assert_eq!(
        client.handle_response(p1.id, &package2(br#"{"CMD":[]}"#), &mut tree),
        Err(dm_session::Error::NotAwaited(p1.id))
    );
    // MO data over the limit: 413 for the HGET, and the package goes on.
    client
        .handle_failure(get.id, Failure::BodyTooLarge, &mut tree)
        .expect("an awaited failure");
    let put = client.poll_request().expect("the HPUT");
    assert_eq!(
        (put.kind, put.response_limit),
        (RequestKind::RepositoryWrite, None)
    );
    let no_answer = Failure::NoAnswer {
        kind: TransportFailure::Interrupted,
        detail: "reset".into(),
    };
    client
        .handle_failure(put.id, no_answer.clone(), &mut tree)
        .expect("an awaited failure");
    assert_eq!(
        client.handle_failure(put.id, no_answer.clone(), &mut tree),
        Err(dm_session::Error::NotAwaited(put.id)),
        "a second failure of the same request is stale"
    );
    let p3 = client.poll_request().expect("Package#3");
    assert_eq!(p3.content_type, Some(mime::RESPONSE));
    assert_eq!(p3.body, br#"{"Status":[{"sc":413},{"sc":502}]}"#);
    // A package without answer aborts, with the failure's kind.
    client
        .handle_failure(p3.id, no_answer, &mut tree)
        .expect("an awaited failure");
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Ended(ClientEnd::Aborted(
            AbortReason::NoAnswer {
                kind: TransportFailure::Interrupted,
                detail: "reset".into()
            }
        )))
    );
    let stats = client.stats();
    assert_eq!(
        (
            stats.packages_sent,
            stats.packages_received,
            stats.commands_received,
            stats.commands_answered,
            stats.repository_requests,
            stats.failures
        ),
        (2, 1, 2, 2, 2, 3)
    );
    assert_eq!(
        stats.bytes_sent,
        (p1.body.len() + put.body.len() + p3.body.len()) as u64
    );
    assert_eq!(stats.bytes_received, p2.len() as u64);
}

#[test]
fn an_oversized_package2_aborts_with_the_limit() {
    let mut tree = device();
    let config = client_config();
    let limit = config.limits.package_bytes;
    let mut client = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), Instant::now());
    let p1 = client.poll_request().expect("Package#1");
    client
        .handle_failure(p1.id, Failure::BodyTooLarge, &mut tree)
        .expect("an awaited failure");
    assert_eq!(
        client.poll_event(),
        Some(ClientEvent::Ended(ClientEnd::Aborted(
            AbortReason::PackageTooLarge { limit }
        )))
    );
}
