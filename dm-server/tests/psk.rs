//! PSK-TLS identities as the server authenticates them: the `PskIdentity`
//! request extension (which the OpenSSL backend sets after a handshake that
//! proved the key, and an application terminating PSK-TLS itself sets the
//! same way) names the device registered with that identity, as a client
//! certificate does; and PSK credentials through the admin API, whose key
//! is never shown.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::Request;
use dm_server::{
    DeviceRegistration, DmServer, MemoryStore, PskCredentials, PskIdentity, ServerOptions,
    UdpChannel,
};
use dm_test_support::server as common;
use serde_json::json;
use tower::ServiceExt as _;

use common::*;

const KEY_HEX: &str = "00112233445566778899aabbccddeeff";

fn psk(identity: &str) -> PskCredentials {
    PskCredentials::from_hex(identity, KEY_HEX).expect("credentials")
}

/// A server whose device 1 is registered with the PSK identity `device-1`.
async fn server() -> DmServer {
    let server = DmServer::new(
        ServerOptions::builder().build().expect("options"),
        MemoryStore::new(),
        UdpChannel,
    );
    server
        .admin()
        .register_device(
            DeviceRegistration::new(dev(DEV1)).with_psk(psk("device-1")),
            false,
        )
        .await
        .expect("registered");
    server
        .admin()
        .register_device(
            DeviceRegistration::new(dev(DEV2)).with_password(USER2, PASS2, "oma-dm"),
            false,
        )
        .await
        .expect("registered");
    server
}

/// Package#1 of `dev_id` through the routes, on a connection that proved
/// the key of `identity` (if any); the status.
async fn package1(server: &DmServer, dev_id: &str, identity: Option<&str>) -> u16 {
    let mut request = Request::post("/dm")
        .header("host", "127.0.0.1:8080")
        .header("content-type", INITIATION)
        .header("accept", REQUEST)
        .header("omadm-devid", dev_id)
        .body(Body::from(P1))
        .expect("request");
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("address");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    if let Some(identity) = identity {
        request
            .extensions_mut()
            .insert(PskIdentity::new(identity).expect("identity"));
    }
    let response = server.router().oneshot(request).await.expect("answered");
    response.status().as_u16()
}

async fn sessions(server: &DmServer, dev_id: &str) -> usize {
    server
        .admin()
        .device(&dev(dev_id))
        .await
        .expect("registered")
        .sessions
        .len()
}

#[tokio::test]
async fn a_registered_psk_identity_names_its_device_and_nothing_else() {
    let server = server().await;
    // The identity needs no HTTP authentication.
    assert_eq!(package1(&server, DEV1, Some("device-1")).await, 200);
    assert_eq!(sessions(&server, DEV1).await, 1);
    // It names device 1 only: another DevID is 403, and opens nothing.
    assert_eq!(package1(&server, DEV2, Some("device-1")).await, 403);
    assert_eq!(sessions(&server, DEV2).await, 0);
    // An identity no device has: 401, nothing opened.
    assert_eq!(package1(&server, DEV1, Some("device-9")).await, 401);
    // Without the identity, device 1 has no other credentials.
    assert_eq!(package1(&server, DEV1, None).await, 401);
    assert_eq!(sessions(&server, DEV1).await, 1);

    // Registered again without a PSK: the identity no longer names it.
    server
        .admin()
        .register_device(DeviceRegistration::new(dev(DEV1)), true)
        .await
        .expect("replaced");
    assert_eq!(package1(&server, DEV1, Some("device-1")).await, 401);
    assert_eq!(sessions(&server, DEV1).await, 1);
}

#[tokio::test]
async fn psk_credentials_are_registered_over_the_admin_api_and_the_key_never_shown() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let (status, body) = admin
        .post(
            "/admin/devices",
            json!({"dev_id": "IMEI:3", "psk": {"identity": "device-3", "key_hex": KEY_HEX}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, device) = admin.get("/admin/devices/IMEI%3A3").await;
    assert_eq!(status, 200);
    assert_eq!(device["psk_identity"], "device-3");
    assert!(!device.to_string().contains(KEY_HEX), "{device}");
    let (_, list) = admin.get("/admin/devices").await;
    assert!(!list.to_string().contains(KEY_HEX), "{list}");

    for (body, expected) in [
        // The identity is taken (alone, and in a batch).
        (
            json!({"dev_id": "IMEI:4", "psk": {"identity": "device-3", "key_hex": KEY_HEX}}),
            409,
        ),
        // Out of bounds: the key too short, the identity empty, not hex.
        (
            json!({"dev_id": "IMEI:4", "psk": {"identity": "d", "key_hex": "00112233445566778899"}}),
            400,
        ),
        (
            json!({"dev_id": "IMEI:4", "psk": {"identity": "", "key_hex": KEY_HEX}}),
            400,
        ),
        (
            json!({"dev_id": "IMEI:4", "psk": {"identity": "d", "key_hex": "zz112233445566778899aabbccddeeff"}}),
            400,
        ),
    ] {
        let (status, answer) = admin.post("/admin/devices", body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(!answer.to_string().contains("445566778899"), "{answer}");
    }
    let (status, answer) = admin
        .post(
            "/admin/devices/bulk",
            json!([
                {"dev_id": "IMEI:5", "psk": {"identity": "device-5", "key_hex": KEY_HEX}},
                {"dev_id": "IMEI:6", "psk": {"identity": "device-3", "key_hex": KEY_HEX}}
            ]),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        admin.get("/admin/devices/IMEI%3A5").await.0,
        404,
        "all or nothing"
    );
    let (status, answer) = admin
        .post(
            "/admin/devices/bulk",
            json!([{"dev_id": "IMEI:5", "psk": {"identity": "device-5", "key_hex": KEY_HEX}}]),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let (_, device) = admin.get("/admin/devices/IMEI%3A5").await;
    assert_eq!(device["psk_identity"], "device-5");
}
