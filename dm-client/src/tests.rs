//! Unit tests of the client's private parts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dm_session::{AbortReason, ClientEnd, ClientStats, Trigger};
use dm_tree::DevInfo;
use dm_types::{DevId, Moid, ServerId};
use tokio::net::UdpSocket;

use crate::DmClient;
use crate::report::SessionReport;
use crate::session::rfc3339;

/// Fleets spawn sessions on a multi-threaded runtime: the client and its
/// futures must be `Send`.
#[test]
fn clients_and_their_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let devinfo = DevInfo::new(DevId::new("IMEI:1").expect("DevID"), "Acme", "X1");
    let mut client = DmClient::builder(devinfo).build().expect("client");
    send(&client);
    let server = ServerId::new("dm").expect("id");
    send(&client.run_session(&server, Trigger::Client));
    send(&client.handle_notification(b"", SystemTime::now()));
    send(&client.deliver_pending_reports());
    send(&client.ensure_configuration(&Moid::new("urn:x:y").expect("moid")));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let socket = UdpSocket::from_std(socket).expect("socket");
    send(&client.listen_udp(&socket, std::future::ready(())));
    let (_sender, mut notifications) = tokio::sync::mpsc::channel(1);
    send(&client.listen_channel(&mut notifications, std::future::ready(())));
}

#[test]
fn dates_are_rfc3339() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    let t = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    assert_eq!(rfc3339(t), "2025-11-24T16:00:00Z");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661);
    assert_eq!(rfc3339(leap), "2000-02-29T01:01:01Z");
}

#[test]
fn report_lines_read_well() {
    let mut report = SessionReport {
        server_id: ServerId::new("dm").expect("id"),
        end: ClientEnd::Completed,
        packages: 1,
        commands: 3,
        events: Vec::new(),
        alerts_delivered: 0,
        tree_changed: false,
        stats: ClientStats::default(),
    };
    assert_eq!(report.to_string(), "completed (3 commands)");
    report.end = ClientEnd::Refused(500);
    report.commands = 1;
    assert_eq!(
        report.to_string(),
        "refused: the server answered HTTP 500 (1 command)"
    );
    report.end = ClientEnd::Aborted(AbortReason::SessionTooLong);
    assert_eq!(
        report.to_string(),
        "aborted: the session lasted longer than its limit (1 command)"
    );
}

/// The transport of an account's `Auth/Trsp` is built once while the
/// material stays the same, and again when a session changed it; an
/// account without one uses the client's transport.
#[test]
fn auth_trsp_transports_are_cached_per_material() {
    let (_, issuer) = dm_test_support::device::test_ca("CA");
    let identity = |name: &str| {
        let (certificate, key) =
            dm_test_support::device::signed_certificate(&issuer, &[], Some(name));
        dm_tree::TransportAuth {
            data: certificate.der().to_vec(),
            secret: key.serialize_der(),
        }
    };
    let devinfo = DevInfo::new(DevId::new("IMEI:1").expect("DevID"), "Acme", "X1");
    let mut client = DmClient::builder(devinfo).build().expect("client");
    let mut account = dm_tree::DmAcc::new(
        ServerId::new("dm").expect("id"),
        dm_types::ServerUri::new("https://dm.example/dm").expect("URI"),
    );
    let plain = client.management_transport(&account).expect("transport");
    assert!(plain.same_as(&client.transport));
    account.transport = Some(identity("first"));
    let first = client.management_transport(&account).expect("transport");
    assert!(!first.same_as(&client.transport));
    let again = client.management_transport(&account).expect("transport");
    assert!(again.same_as(&first), "built once");
    account.transport = Some(identity("second"));
    let second = client.management_transport(&account).expect("transport");
    assert!(!second.same_as(&first), "new material, new transport");
    assert_eq!(client.derived.len(), 1, "one per account");
    // Unusable material is a precise error, never a panic.
    account.transport = Some(dm_tree::TransportAuth {
        data: b"-----BEGIN CERTIFICATE-----\nnot base64".to_vec(),
        secret: b"x".to_vec(),
    });
    assert!(matches!(
        client.management_transport(&account),
        Err(crate::Error::Tls { .. })
    ));
}
