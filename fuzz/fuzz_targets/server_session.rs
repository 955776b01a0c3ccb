//! A `ServerSession` fed arbitrary bytes: the input is split at 0xFF bytes
//! into a Package#1 body and then successive Package#3 bodies. The engine
//! must never panic, every Package#2 it writes must decode, a refused
//! package must end the session, and every session must end.
#![no_main]

use dm_codec::{Limits, mime};
use dm_session::{PackageRequest, ServerConfig, ServerSession};
use dm_types::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xff);
    let now: u64 = 1_764_000_000_000;
    let p1 = PackageRequest {
        content_type: Some(mime::INITIATION),
        dev_id: Some("IMEI:1"),
        authenticated: None,
        body: parts.next().unwrap_or_default(),
    };
    let config = ServerConfig::default().with_commands_per_package(2);
    let Ok(mut session) = ServerSession::<usize>::start(config, &p1, now) else {
        return;
    };
    let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])
        .expect("a constant command parses");
    for tag in 0..3 {
        session.enqueue(tag, get.clone());
    }
    for _round in 0..100 {
        let body = session.respond(now);
        assert!(
            dm_codec::decode_package2(&body, &Limits::default()).is_ok(),
            "the engine wrote an invalid Package#2: {}",
            String::from_utf8_lossy(&body)
        );
        if session.is_ended() {
            break;
        }
        let Some(p3) = parts.next() else {
            session.handle_timeout(now + 3_600_000);
            assert!(session.is_ended(), "an overdue session must end");
            break;
        };
        let request = PackageRequest {
            content_type: Some(mime::RESPONSE),
            body: p3,
            ..p1
        };
        if session.handle_package3(&request, now).is_err() {
            assert!(session.is_ended(), "a refused Package#3 must end the session");
            break;
        }
    }
    assert!(session.is_ended() || session.poll_timeout().is_some());
    while session.poll_event().is_some() {}
});
