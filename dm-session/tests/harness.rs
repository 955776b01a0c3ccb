//! A ClientSession against a ServerSession and an in-memory repository, all
//! in memory: one scenario per command and per error path.

use std::collections::BTreeMap;
use std::time::Instant;

use dm_codec::mime;
use dm_session::{
    ClientConfig, ClientEnd, ClientEvent, ClientSession, Method, PackageRequest, Response,
    ServerConfig, ServerEvent, ServerSession, Trigger,
};
use dm_tree::{DevInfo, ExecOutcome, MoTree, NodeHandler, Principal};
use dm_types::{ClientUri, Command, DevId, Moid, ServerId, ServerUri, StatusCode};

const REPO: &str = "https://repo.example/";
const DM: &str = "https://dm.example/dm";

struct Fumo;

impl NodeHandler for Fumo {
    fn exec(&self, _node: &ClientUri, asynchronous: bool) -> ExecOutcome {
        if asynchronous {
            ExecOutcome::Started
        } else {
            ExecOutcome::Done(StatusCode::OK)
        }
    }
}

/// A device whose DMAcc lets srv1 manage DevInfo, the sensor MO and FUMO.
fn device() -> MoTree {
    let mut tree = MoTree::new();
    tree.insert(DevInfo::new(DevId::new("IMEI:1").expect("dev id"), "Acme", "X1").to_instance())
        .expect("devinfo");
    let account = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"acc":{"SrvID":"srv1","Perm":{
             "1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0"},"2":{"MOID":"urn:oma:mo:moid:1.0"},"3":{"MOID":"urn:oma:mo:oma-fumo:1.0"}}}}}]"#,
        &dm_codec::Limits::default(),
    )
    .expect("account");
    tree.write(&Principal::Device, None, &account)
        .expect("account");
    let fumo = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:oma:mo:oma-fumo:1.0//","MOData":{"fw":{"Update":null}}}]"#,
        &dm_codec::Limits::default(),
    )
    .expect("fumo");
    let who = Principal::Server(ServerId::new("srv1").expect("server id"));
    tree.write(&who, None, &fumo).expect("fumo");
    tree.set_handler(
        Moid::new("urn:oma:mo:oma-fumo:1.0").expect("moid"),
        std::sync::Arc::new(Fumo),
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
    mut repo: BTreeMap<String, Vec<u8>>,
    tamper: impl Fn(usize, Response) -> Response,
    server_config: &ServerConfig,
) -> Run {
    let now = Instant::now();
    let config = client_config();
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
                    let mut s = ServerSession::start(server_config.clone(), &package)
                        .expect("Package#1 accepted");
                    for (tag, c) in pending.drain(..) {
                        s.enqueue(tag, c);
                    }
                    let body = s.respond(now);
                    server = Some(s);
                    body
                }
                Some(s) => {
                    s.handle_package3(&package, now)
                        .expect("Package#3 accepted");
                    s.respond(now)
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
        client.handle_response(request.id, &response, tree);
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
    let run = session(
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
        client.handle_response(request.id, &package2(body), &mut tree);
    }
    assert!(client.is_ended());
    let events: Vec<ClientEvent> = std::iter::from_fn(|| client.poll_event()).collect();
    assert!(
        matches!(events.last(), Some(ClientEvent::Ended(ClientEnd::Aborted(reason))) if reason.contains("without END"))
    );
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
    client.handle_response(p1.id, &package2(body), &mut tree);
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
        [ClientEvent::Ended(ClientEnd::Aborted(_))]
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
        let server = ServerId::new("srv1").expect("server id");
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
    let mut server =
        ServerSession::<usize>::start(ServerConfig::default(), &request).expect("Package#1");
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
    client.handle_response(p1.id, &package2(p2.as_bytes()), &mut tree);
    let put = client.poll_request().expect("the upload");
    assert_eq!(put.method, Method::Put);
    client.handle_response(
        put.id,
        &Response {
            status: 415,
            ..Response::default()
        },
        &mut tree,
    );
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
    client.handle_response(p1.id, &package2(br#"{"CMD":[]}"#), &mut tree);
    let p3 = client.poll_request().expect("Package#3");
    assert_eq!(
        p3.body,
        br#"{"Status":[],"Alert":[{"AlertType":"urn:x:battery-low"}]}"#
    );
}
