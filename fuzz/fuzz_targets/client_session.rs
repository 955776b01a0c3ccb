//! A `ClientSession` fed arbitrary bytes: the input is split at 0xFF bytes
//! into successive answers, each given to the next request (Package#2 for a
//! package POST, MO serialization for a repository GET). The engine must
//! never panic, every Package#3 it writes must decode, and it must end or
//! wait for exactly one answer when the input runs out.
#![no_main]

use dm_codec::{Limits, mime};
use dm_session::{ClientConfig, ClientSession, Method, RequestKind, Response, Trigger};
use dm_tree::{DevInfo, MoTree, Principal};
use dm_types::{DevId, ServerId, ServerUri};
use libfuzzer_sys::fuzz_target;

fn device() -> MoTree {
    let mut tree = MoTree::new();
    let dev_id = DevId::new("IMEI:1").expect("constant DevID");
    tree.insert(DevInfo::new(dev_id, "Acme", "X1").to_instance())
        .expect("a fresh tree takes DevInfo");
    let account = dm_codec::decode_mo_serialization(
        br#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"acc":{"SrvID":"srv1","Perm":{
             "1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0"},"2":{"MOID":"urn:oma:mo:moid:1.0"}}}}}]"#,
        &Limits::default(),
    )
    .expect("constant account decodes");
    tree.write(&Principal::Device, None, &account)
        .expect("the device writes its account");
    tree
}

fuzz_target!(|data: &[u8]| {
    let mut tree = device();
    let config = ClientConfig::new(
        DevId::new("IMEI:1").expect("constant DevID"),
        ServerId::new("srv1").expect("constant ServerID"),
        ServerUri::new("https://dm.example/dm").expect("constant ServerURI"),
    );
    let mut session = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), std::time::Instant::now());
    let mut answers = data.split(|&b| b == 0xff);
    for _ in 0..200 {
        let Some(request) = session.poll_request() else {
            break;
        };
        if request.kind == RequestKind::Package && request.content_type == Some(mime::RESPONSE) {
            assert!(
                dm_codec::decode_package3(&request.body, &Limits::default()).is_ok(),
                "the engine wrote an invalid Package#3: {}",
                String::from_utf8_lossy(&request.body)
            );
        }
        let Some(body) = answers.next() else {
            break;
        };
        let content_type = if request.method == Method::Get {
            mime::MO_DATA
        } else {
            mime::REQUEST
        };
        let response = Response {
            status: 200,
            content_type: Some(content_type.into()), omadm_accept: None,
            body: body.to_vec(),
        };
        // Every request the engine handed out is awaited (or a change
        // report): feeding its answer never fails.
        session
            .handle_response(request.id, &response, &mut tree)
            .expect("an awaited answer");
        while session.poll_event().is_some() {}
    }
});
