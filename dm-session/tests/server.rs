//! `ServerSession`: package flow, CONT/END, result matching and every
//! refusal with its HTTP status.

use std::time::Duration;

use dm_session::{
    EndReason, Error, Initiator, PackageRequest, ServerConfig, ServerEvent, ServerSession,
};
use dm_types::{Command, DevId, ServerUri};

/// Unix milliseconds of the tests' "now".
const NOW_MS: u64 = 1_764_000_000_000;

const P1: &[u8] = br#"{"MOS":[{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:x:other","Mark":"minor"}]}"#;

fn p1(body: &[u8]) -> PackageRequest<'_> {
    PackageRequest {
        content_type: Some("application/vnd.oma.dm.initiation+json"),
        dev_id: Some("IMEI:1"),
        authenticated: None,
        body,
    }
}

fn p3(body: &[u8]) -> PackageRequest<'_> {
    PackageRequest {
        content_type: Some("application/vnd.oma.dm.response+json; charset=utf-8"),
        dev_id: Some("IMEI:1"),
        authenticated: None,
        body,
    }
}

fn get(node: &str) -> Command {
    Command::from_words(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//{node}")]).expect("GET")
}

fn events<T: Clone>(session: &mut ServerSession<T>) -> Vec<ServerEvent<T>> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn statuses(n: usize) -> Vec<u8> {
    format!(r#"{{"Status":[{}]}}"#, vec![r#"{"sc":200}"#; n].join(",")).into_bytes()
}

#[test]
fn batches_commands_with_cont_and_ends_with_a_lone_end() {
    let now = NOW_MS;
    let config = ServerConfig::default()
        .with_commands_per_package(2)
        .with_session_uri(ServerUri::new("https://dm.example/s/abc").expect("uri"));
    let mut session = ServerSession::start(config, &p1(P1), NOW_MS).expect("valid Package#1");
    let first = events(&mut session);
    assert!(matches!(
        &first[0],
        ServerEvent::Started { dev_id, initiator: Initiator::Client, mos: Some(mos) }
            if dev_id.as_str() == "IMEI:1" && mos.len() == 1
    ));
    assert!(matches!(&first[1], ServerEvent::Alert(a) if a.alert_type.as_str() == "urn:x:other"));
    for (tag, node) in ["Man", "Mod", "DevID"].iter().enumerate() {
        session.enqueue(tag, get(node));
    }
    // CONT comes first, once; its status is not reported as a result.
    let body = session.respond(now);
    assert_eq!(
        String::from_utf8(body).expect("UTF-8"),
        r#"{"CMD":[["CONT","https://dm.example/s/abc"],["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"],["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"]]}"#
    );
    session
        .handle_package3(&p3(&statuses(3)), now)
        .expect("3 statuses");
    let tags: Vec<usize> = events(&mut session)
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Result { tag, .. } => Some(tag),
            _ => None,
        })
        .collect();
    assert_eq!(tags, [0, 1]);
    let body = session.respond(now);
    assert_eq!(
        body,
        br#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//DevID"]]}"#
    );
    session
        .handle_package3(
            &p3(br#"{"Status":[{"sc":404}],"Alert":[{"AlertType":"urn:x:late"}]}"#),
            now,
        )
        .expect("1 status");
    let last = events(&mut session);
    assert!(
        matches!(&last[0], ServerEvent::Result { tag: 2, status, .. } if status.code.as_u16() == 404)
    );
    assert!(matches!(&last[1], ServerEvent::Alert(_)));
    assert_eq!(session.respond(now), br#"{"CMD":[["END"]]}"#);
    assert!(session.is_ended());
    assert_eq!(
        events(&mut session),
        [ServerEvent::Ended(EndReason::Completed)]
    );
    // Nothing more is accepted.
    assert_eq!(
        session.handle_package3(&p3(&statuses(0)), now),
        Err(Error::NotWaiting)
    );
}

#[test]
fn package1_refusals() {
    let start = |request: &PackageRequest<'_>| {
        ServerSession::<u8>::start(ServerConfig::default(), request, NOW_MS)
            .err()
            .map(|e| e.status().as_u16())
    };
    assert_eq!(start(&p1(P1)), None);
    assert_eq!(
        start(&PackageRequest {
            content_type: Some("application/json"),
            ..p1(P1)
        }),
        Some(415)
    );
    assert_eq!(
        start(&PackageRequest {
            content_type: None,
            ..p1(P1)
        }),
        Some(415)
    );
    assert_eq!(
        start(&PackageRequest {
            dev_id: None,
            ..p1(P1)
        }),
        Some(400)
    );
    assert_eq!(
        start(&PackageRequest {
            dev_id: Some("bad id"),
            ..p1(P1)
        }),
        Some(400)
    );
    let other = DevId::new("IMEI:2").expect("dev id");
    assert_eq!(
        start(&PackageRequest {
            authenticated: Some(&other),
            ..p1(P1)
        }),
        Some(403)
    );
    let same = DevId::new("IMEI:1").expect("dev id");
    assert_eq!(
        start(&PackageRequest {
            authenticated: Some(&same),
            ..p1(P1)
        }),
        None
    );
    assert_eq!(
        start(&p1(br#"{"Alert":[]}"#)),
        Some(400),
        "no session-start alert"
    );
    assert_eq!(
        start(&p1(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:BootstrapComplete"}]}"#)),
        None,
        "two session-start alerts of different types"
    );
    assert_eq!(
        start(&p1(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#)),
        Some(400),
        "the same session-start alert type twice"
    );
    assert_eq!(start(&p1(b"{")), Some(400));
    let config =
        ServerConfig::default().with_limits(dm_codec::Limits::default().with_package_bytes(8));
    assert_eq!(
        ServerSession::<u8>::start(config, &p1(P1), NOW_MS)
            .err()
            .map(|e| e.status().as_u16()),
        Some(413)
    );
}

#[test]
fn initiators() {
    let started = |body: &[u8]| {
        let mut session =
            ServerSession::<u8>::start(ServerConfig::default(), &p1(body), NOW_MS).expect("valid");
        match session.poll_event() {
            Some(ServerEvent::Started { initiator, .. }) => initiator,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        started(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ServerInitiatedMgmt","DataType":"int","Data":{"NotificationID":4660}}]}"#),
        Initiator::Server(Some(4660))
    );
    assert_eq!(
        started(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:BootstrapComplete"}]}"#),
        Initiator::Bootstrap
    );
    // Several types: the most specific governs, whatever the order.
    assert_eq!(
        started(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:BootstrapComplete"}]}"#),
        Initiator::Bootstrap
    );
    assert_eq!(
        started(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ServerInitiatedMgmt","DataType":"int","Data":{"NotificationID":7}},{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#),
        Initiator::Server(Some(7))
    );
    assert_eq!(
        started(br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:BootstrapComplete"},{"AlertType":"urn:oma:at:dm:2.0:ServerInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#),
        Initiator::Bootstrap
    );
}

#[test]
fn package3_refusals_end_the_session() {
    let now = NOW_MS;
    let open = || {
        let mut session =
            ServerSession::start(ServerConfig::default(), &p1(P1), NOW_MS).expect("valid");
        session.enqueue(1u8, get("Man"));
        session.respond(now);
        events(&mut session);
        session
    };
    let cases: [(PackageRequest<'_>, u16); 4] = [
        (
            PackageRequest {
                dev_id: Some("IMEI:2"),
                ..p3(br#"{"Status":[{"sc":200}]}"#)
            },
            403,
        ),
        (p3(br#"{"Status":[]}"#), 400),
        (p3(br#"{"Status":[{"sc":200},{"sc":200}]}"#), 400),
        (
            PackageRequest {
                content_type: Some("text/plain"),
                ..p3(br#"{"Status":[{"sc":200}]}"#)
            },
            415,
        ),
    ];
    for (request, expected) in cases {
        let mut session = open();
        let err = session.handle_package3(&request, now).expect_err("refused");
        assert_eq!(err.status().as_u16(), expected, "{err}");
        assert!(session.is_ended());
        assert!(matches!(
            events(&mut session).as_slice(),
            [ServerEvent::Ended(EndReason::Failed(_))]
        ));
    }
}

#[test]
fn timeouts_and_limits() {
    let now = NOW_MS;
    let config = ServerConfig::default().with_idle_timeout(Duration::from_secs(30));
    let mut session = ServerSession::start(config, &p1(P1), NOW_MS).expect("valid");
    session.enqueue(1u8, get("Man"));
    session.respond(now);
    assert_eq!(session.poll_timeout(), Some(now + 30_000));
    assert!(!session.handle_timeout(now + 29_000));
    assert!(!session.is_ended());
    let late = now + 31_000;
    assert_eq!(
        session.handle_package3(&p3(&statuses(1)), late),
        Err(Error::Expired)
    );
    assert!(session.is_ended());
    assert!(events(&mut session).contains(&ServerEvent::Ended(EndReason::Timeout)));

    // The package limit ends the session even with commands left.
    let config = ServerConfig::default()
        .with_commands_per_package(1)
        .with_packages_per_session(2);
    let mut session = ServerSession::start(config, &p1(P1), NOW_MS).expect("valid");
    for tag in 0..3u8 {
        session.enqueue(tag, get("Man"));
    }
    session.respond(now);
    session
        .handle_package3(&p3(&statuses(1)), now)
        .expect("1 status");
    assert_eq!(session.respond(now), br#"{"CMD":[["END"]]}"#);
    assert_eq!(session.queued(), 2);
}

#[test]
fn a_held_session_stays_open_with_empty_packages() {
    let now = NOW_MS;
    let mut session =
        ServerSession::<u8>::start(ServerConfig::default(), &p1(P1), NOW_MS).expect("valid");
    session.hold(true);
    assert_eq!(session.respond(now), br#"{"CMD":[]}"#);
    session
        .handle_package3(&p3(br#"{"Status":[]}"#), now)
        .expect("empty answer");
    session.enqueue(9, get("Lang"));
    session.hold(false);
    session.respond(now);
    session
        .handle_package3(&p3(&statuses(1)), now)
        .expect("1 status");
    assert_eq!(session.respond(now), br#"{"CMD":[["END"]]}"#);
}
