//! Memory of idle clients: a fleet of simulated devices sharing one
//! transport must stay at or under 8 KiB per device (the target is 100,000
//! devices in one process). Measured as the growth of the resident set
//! while 20,000 clients are built, each with DevInfo and one DMAcc holding a
//! notification secret.

use dm_test_support::device as common;

use common::*;
use dm_client::{Account, Credentials, DmClient};
use dm_tree::{DevInfo, NotificationAuth};
use dm_types::DevId;

/// Resident set size in bytes (Linux; `None` elsewhere).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn idle_clients_fit_in_8_kib_each() {
    const DEVICES: usize = 20_000;
    let transport = transport();
    let build = |n: usize| {
        let devinfo = DevInfo::new(
            DevId::new(format!("IMEI:49300510{n:07}")).expect("DevID"),
            "Acme",
            "X1",
        );
        let mut account = account("http://127.0.0.1:8080");
        account
            .perm_moids
            .push("urn:oma:mo:oma-dm-devinfo:1.0".parse().expect("moid"));
        account.notification = Some(NotificationAuth::sha256(vec![7; 16], vec![9; 8]));
        DmClient::builder(devinfo)
            .account(
                Account::new(account)
                    .credentials(Credentials::password(format!("device-{n}"), "password")),
            )
            .transport(transport.clone())
            .notification_address(format!("udp://10.0.{}.{}:9443", n / 256 % 256, n % 256))
            .build()
            .expect("client")
    };
    // Warm up lazily built statics (standard definitions) before measuring.
    drop(build(0));
    let Some(before) = rss() else {
        eprintln!("skipped: no /proc/self/statm on this platform");
        return;
    };
    let fleet: Vec<DmClient> = (0..DEVICES).map(build).collect();
    let after = rss().expect("statm");
    let per_device = after.saturating_sub(before) / DEVICES as u64;
    eprintln!(
        "size_of::<DmClient>() = {} B; resident growth per idle client = {per_device} B",
        std::mem::size_of::<DmClient>()
    );
    assert_eq!(fleet.len(), DEVICES);
    assert!(per_device <= 8 * 1024, "{per_device} B per idle client");
    assert!(std::mem::size_of::<DmClient>() <= 512);
}
