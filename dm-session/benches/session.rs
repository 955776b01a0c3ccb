//! Session engine figures, each with its ratio to a baseline measured in the
//! same run:
//! - a full four-package session (Package#1, a GET of DevInfo, Package#3,
//!   END) through both engines in memory vs the codec cost of encoding and
//!   decoding those four packages (target: at most 3x, ratio >= 0.33);
//! - memory held by an idle `ServerSession` waiting for its Package#3
//!   (target <= 4 KiB), from the resident size of 10,000 of them.
#![allow(missing_docs)]

#[path = "../../dm-codec/benches/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use dm_codec::{Limits, mime};
use dm_session::{
    ClientConfig, ClientSession, PackageRequest, Response, ServerConfig, ServerSession, Trigger,
};
use dm_tree::{DevInfo, MoTree, Principal};
use dm_types::{Command, DevId, ServerId, ServerUri};

/// Unix milliseconds of the server engine's "now".
const NOW_MS: u64 = 1_764_000_000_000;

fn device() -> MoTree {
    let mut tree = MoTree::new();
    tree.insert(DevInfo::new(DevId::new("IMEI:1").expect("dev id"), "Acme", "X1").to_instance())
        .expect("devinfo");
    let account = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"acc":{"SrvID":"srv1","Perm":{"1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0"}}}}}]"#,
        &Limits::default(),
    )
    .expect("account");
    tree.write(&Principal::Device, None, &account)
        .expect("account");
    tree
}

/// One whole session; returns the number of packages exchanged.
fn full_session(tree: &mut MoTree, get: &Command) -> usize {
    let now = Instant::now();
    let config = ClientConfig::new(
        DevId::new("IMEI:1").expect("dev id"),
        ServerId::new("srv1").expect("server id"),
        ServerUri::new("https://dm.example/dm").expect("uri"),
    );
    let mut client = ClientSession::new(config, Trigger::Client, tree, Vec::new(), now);
    let mut server: Option<ServerSession<u32>> = None;
    let mut packages = 0;
    while let Some(request) = client.poll_request() {
        let package = PackageRequest {
            content_type: request.content_type,
            dev_id: Some(request.dev_id.as_str()),
            authenticated: None,
            body: &request.body,
        };
        let body = match &mut server {
            None => {
                let mut s = ServerSession::start(ServerConfig::default(), &package, NOW_MS)
                    .expect("Package#1");
                s.enqueue(1, get.clone());
                let body = s.respond(NOW_MS);
                server = Some(s);
                body
            }
            Some(s) => {
                s.handle_package3(&package, NOW_MS).expect("Package#3");
                s.respond(NOW_MS)
            }
        };
        if let Some(s) = &mut server {
            while s.poll_event().is_some() {}
        }
        packages += 2;
        let response = Response {
            status: 200,
            content_type: Some(mime::REQUEST.into()),
            omadm_accept: None,
            body,
        };
        client
            .handle_response(request.id, &response, tree)
            .expect("an awaited answer");
        while client.poll_event().is_some() {}
    }
    packages
}

fn session(c: &mut Criterion) {
    let mut tree = device();
    let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"]).expect("GET");
    assert_eq!(full_session(&mut tree, &get), 4);
    // The same four packages, as the engines write them.
    let limits = Limits::default();
    let p1 = br#"{"MOS":[{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#.to_vec();
    let p2 = br#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//"]]}"#.to_vec();
    let p3 = {
        let who = Principal::Server(ServerId::new("srv1").expect("server id"));
        let uri = dm_types::ClientUri::parse("urn:oma:mo:oma-dm-devinfo:1.0//").expect("uri");
        let dm_tree::ReadOutcome::Data(data) = tree.read(&who, &[uri]).expect("readable") else {
            unreachable!("no cv")
        };
        let status = dm_types::Status {
            code: dm_types::StatusCode::OK,
            uris: Vec::new(),
            data,
        };
        dm_codec::encode_package3(&dm_types::Package3 {
            statuses: vec![status],
            alerts: Vec::new(),
        })
    };
    let end = br#"{"CMD":[["END"]]}"#.to_vec();
    support::compare(
        c,
        "full_session_vs_codec",
        None,
        0.33,
        || {
            black_box(full_session(&mut tree, &get));
        },
        || {
            let first = dm_codec::decode_package1(black_box(&p1), &limits).expect("p1");
            black_box(dm_codec::encode_package1(&first));
            let commands = dm_codec::decode_package2(black_box(&p2), &limits).expect("p2");
            black_box(dm_codec::encode_package2(&commands));
            let statuses = dm_codec::decode_package3(black_box(&p3), &limits).expect("p3");
            black_box(dm_codec::encode_package3(&statuses));
            let last = dm_codec::decode_package2(black_box(&end), &limits).expect("end");
            black_box(dm_codec::encode_package2(&last));
        },
    );
}

fn idle_memory(_: &mut Criterion) {
    let p1 = br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;
    let request = PackageRequest {
        content_type: Some(mime::INITIATION),
        dev_id: Some("IMEI:493005100592800"),
        authenticated: None,
        body: p1,
    };
    let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"]).expect("GET");
    let config = ServerConfig::default()
        .with_session_uri(ServerUri::new("https://dm.example/s/0123456789abcdef").expect("uri"));
    let count = 10_000;
    let before = support::rss_bytes();
    let sessions: Vec<ServerSession<u64>> = (0..count)
        .map(|i| {
            let mut s = ServerSession::start(config.clone(), &request, NOW_MS).expect("Package#1");
            while s.poll_event().is_some() {}
            s.enqueue(i, get.clone());
            black_box(s.respond(NOW_MS));
            s
        })
        .collect();
    let after = support::rss_bytes();
    black_box(&sessions);
    if let (Some(before), Some(after)) = (before, after) {
        #[allow(clippy::cast_precision_loss)] // a figure for people
        let per_session = after.saturating_sub(before) as f64 / count as f64;
        let verdict = if per_session <= 4096.0 {
            "meets"
        } else {
            "MISSES"
        };
        println!(
            "FIGURE idle_server_session_memory: {per_session:.0} B per session waiting for Package#3 ({verdict} target <= 4096 B; {count} sessions, stack size {} B)",
            std::mem::size_of::<ServerSession<u64>>()
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(20);
    targets = idle_memory, session
}
criterion_main!(benches);
