//! Package#0 over UDP: built, signed, sent to the address the device
//! announced, and verified on arrival with dm_codec.

use dm_test_support::server as common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use dm_codec::notification::{self, DigestCheck, Received};
use dm_server::{DeviceRegistration, Error, NotificationChannel};
use serde_json::json;
use tokio::net::UdpSocket;

const SECRET: &[u8] = b"noti-secret-1";
const DATA: &[u8] = b"auth-data";

#[tokio::test]
async fn notifications_reach_the_announced_address_signed() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let realm = admin.realm().to_owned();
    admin
        .register_device(
            DeviceRegistration::new(dev(DEV1))
                .with_password(USER1, PASS1, &realm)
                .with_notification_secret(SECRET.to_vec(), DATA.to_vec()),
            true,
        )
        .await
        .expect("registered");
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("udp://{}", socket.local_addr().expect("address"));
    let p1 = format!(
        r#"{{"Alert":[{{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}},{{"AlertType":"urn:dm-sdk:at:1.0:NotificationAddress","Data":{{"Address":"{address}"}}}}]}}"#
    );
    let response = post_package1(&client(), &server, DEV1, &p1, BASIC1).await;
    assert_eq!(response.status(), 200);

    let http_admin = AdminClient::new(&server.base);
    for expected_id in [1u16, 2] {
        let (status, answer) = http_admin
            .post(
                &format!("/admin/devices/{}/notify", segment(DEV1)),
                json!(null),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["notification_id"], expected_id);
        assert_eq!(answer["address"], address.as_str());

        let mut buffer = [0u8; 512];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
            .await
            .expect("a datagram arrives")
            .expect("received");
        let received = Received::decode(&buffer[..n]).expect("a valid Package#0");
        assert_eq!(received.verify_digest(SECRET, DATA), DigestCheck::Valid);
        assert_eq!(received.verify_digest(b"other", DATA), DigestCheck::Invalid);
        let n = received.notification();
        assert_eq!(n.server_id.as_str(), "test-server");
        assert_eq!(n.notification_id, Some(expected_id));
        assert!(n.req_mos);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        notification::check_timestamp(n.timestamp.expect("TIMESTAMP"), now, 60)
            .expect("fresh timestamp");
    }
    assert_eq!(
        admin
            .device(&dev(DEV1))
            .await
            .expect("device")
            .last_notification_id,
        Some(2)
    );
}

/// A channel that always fails.
struct Broken;

impl NotificationChannel for Broken {
    async fn deliver(&self, address: &str, _bytes: &[u8]) -> Result<(), Error> {
        Err(Error::Delivery {
            address: address.to_owned(),
            message: "gateway down".into(),
        })
    }
}

#[tokio::test]
async fn a_failing_channel_is_a_502() {
    let server = TestServer::start_with(
        options().build().expect("options"),
        dm_server::MemoryStore::new(),
        Broken,
    )
    .await;
    server
        .admin()
        .register_device(
            DeviceRegistration::new(dev(DEV1))
                .with_notification_address("sms://+4912345")
                .with_notification_secret(SECRET.to_vec(), DATA.to_vec()),
            false,
        )
        .await
        .expect("registered");
    let (status, answer) = AdminClient::new(&server.base)
        .post(
            &format!("/admin/devices/{}/notify", segment(DEV1)),
            json!(null),
        )
        .await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("gateway down"))
    );
}
