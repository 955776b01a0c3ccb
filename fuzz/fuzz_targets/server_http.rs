//! dm-server end to end: arbitrary bytes as the Package#1 and then the
//! Package#3 bodies of a session, sent through the server's axum router
//! (`tower::ServiceExt::oneshot`, no sockets) in dev mode, with commands
//! queued for the device. Each Package#3 goes to the session URI of the
//! last CONT, else to `/dm`.
//!
//! Input layout: the bodies, split at 0xFF bytes (at most 8).
//! Checks: never panics; never a 500; every 200 carries a Package#2 that
//! decodes.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use dm_codec::{Limits, mime};
use dm_server::{
    DeviceRegistration, DmServer, MemoryStore, ServerOptions, SessionSettings, UdpChannel,
};
use dm_types::{Command, CommandEntry, DevId};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const DEV_ID: &str = "IMEI:493005100592800";
/// The base of session URIs when requests carry no `Host`.
const BASE: &str = "http://localhost";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    options: ServerOptions,
    commands: Vec<Command>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let options = ServerOptions::builder()
            .dev_mode(true)
            .session(SessionSettings::default().with_commands_per_package(2))
            .build()
            .expect("dev-mode options");
        let commands = [
            &["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"][..],
            &["HGET", "https://repo.example/wlan", "urn:x:wlan//"],
            &["EXEC", "urn:oma:mo:oma-dm-dmacc:1.0//Ext/Reboot"],
            &["DELETE", "urn:x:y//a"],
        ]
        .iter()
        .map(|words| Command::from_words(words).expect("a constant command parses"))
        .collect();
        Fixture {
            runtime,
            options,
            commands,
        }
    })
}

async fn post(server: &DmServer, path: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let request = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", content_type)
        .header("accept", mime::REQUEST)
        .header(mime::OMADM_DEV_ID, DEV_ID)
        .body(Body::from(body.to_vec()))
        .expect("a valid request");
    let response = server
        .router()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("an in-memory body")
        .to_bytes()
        .to_vec();
    (status, body)
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    fixture.runtime.block_on(async {
        let server = DmServer::new(fixture.options.clone(), MemoryStore::new(), UdpChannel);
        let admin = server.admin();
        let dev_id = DevId::new(DEV_ID).expect("a DevID");
        admin
            .register_device(DeviceRegistration::new(dev_id.clone()), false)
            .await
            .expect("registered");
        for command in &fixture.commands {
            admin
                .enqueue(&dev_id, command.clone())
                .await
                .expect("queued");
        }
        let mut next = "/dm".to_owned();
        for (index, body) in data.split(|&b| b == 0xff).take(8).enumerate() {
            let content_type = if index == 0 {
                mime::INITIATION
            } else {
                mime::RESPONSE
            };
            let (status, body) = post(&server, &next, content_type, body).await;
            assert_ne!(
                status,
                500,
                "internal error: {}",
                String::from_utf8_lossy(&body)
            );
            if status != 200 {
                continue;
            }
            let package =
                dm_codec::decode_package2(&body, &Limits::default()).unwrap_or_else(|e| {
                    panic!(
                        "a 200 without a valid Package#2 ({e}): {}",
                        String::from_utf8_lossy(&body)
                    )
                });
            for entry in package.commands() {
                if let CommandEntry::Command(Command::Cont { uri }) = entry {
                    let path = uri
                        .as_str()
                        .strip_prefix(BASE)
                        .expect("a session URI on the request's base");
                    next = path.to_owned();
                }
            }
        }
    });
});
