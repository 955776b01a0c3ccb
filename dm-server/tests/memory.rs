//! Memory of the embedded store, read from the process's resident size (a
//! counting allocator would need `unsafe`, which the workspace forbids):
//! a registered device must cost at most 2 KiB (so 1,000,000 fit in 2 GiB)
//! and an idle open session at most 16 KiB.
//!
//! This file holds one test so that nothing else allocates meanwhile.

#![cfg(target_os = "linux")]

use dm_test_support::server as common;

use common::resident;
use dm_server::{
    DeviceRegistration, MemoryStore, SessionOutcome, SessionRecord, SessionSummary, SessionToken,
    Store,
};
use dm_session::{Initiator, SessionPhase, SessionState};
use dm_types::{Command, DevId, Miid, Moid, MosEntry};

fn dev_id(i: usize) -> DevId {
    DevId::new(format!("IMEI:{}", 350_000_000_000_000 + i)).expect("valid DevID")
}

fn inventory() -> Vec<MosEntry> {
    [
        ("urn:oma:mo:oma-dm-devinfo:1.0", "devinfo"),
        ("urn:oma:mo:oma-dm-dmacc:1.2", "acc1"),
        ("urn:oma:mo:oma-sessioninfomo:1.0", "sessioninfo"),
    ]
    .into_iter()
    .map(|(moid, miid)| MosEntry {
        ddf: None,
        moid: Moid::new(moid).expect("moid"),
        miids: vec![Miid::new(miid).expect("miid")],
    })
    .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_device_costs_under_2_kib_and_an_idle_session_under_16_kib() {
    const DEVICES: usize = 50_000;
    const SESSIONS: usize = 10_000;
    let store = MemoryStore::new();

    let before = resident();
    for i in 0..DEVICES {
        let registration = DeviceRegistration::new(dev_id(i))
            .with_password(&format!("device-{i}"), "a password", "oma-dm")
            .with_notification_secret(vec![7; 16], vec![8; 16]);
        store
            .register_device(registration, false, 0)
            .await
            .expect("registered");
    }
    let registered = resident();
    let per_device = (registered - before) / DEVICES;

    // Every device has had sessions: as many summaries as the store keeps
    // (four), the latest one failed, and an MO inventory.
    for i in 0..DEVICES {
        for n in 0..4u128 {
            let token = SessionToken::from_bytes((i as u128 * 4 + n).to_be_bytes());
            let mut summary = SessionSummary::new(token, Initiator::Client, 1);
            summary.cont_sent = true;
            summary.ended_ms = Some(2);
            summary.packages = 3;
            summary.outcome = Some(if n == 3 {
                SessionOutcome::Failed("Package#3 holds 1 statuses for 2 commands".into())
            } else {
                SessionOutcome::Completed
            });
            store
                .begin_session(&dev_id(i), summary, Some(inventory()), 1)
                .await
                .expect("recorded");
        }
    }
    let with_history = resident();
    let per_active_device = (with_history - before) / DEVICES;

    // Idle open sessions, each waiting for the statuses of CONT and four GETs.
    let command = |words: &[&str]| Command::from_words(words).expect("valid command");
    for i in 0..SESSIONS {
        let token = SessionToken::from_bytes(((i + 4 * DEVICES) as u128).to_be_bytes());
        let mut record = SessionRecord::new(token, 1, SessionState::new(dev_id(i), 1));
        record.state.deadline_ms = u64::MAX;
        record.state.cont_sent = true;
        record.state.packages_sent = 1;
        let mut sent = vec![(
            None,
            command(&["CONT", &format!("https://dm.example.com/dm/s/{token}")]),
        )];
        for node in ["Man", "Mod", "FwV", "Lang"] {
            let id = store
                .enqueue_command(
                    &dev_id(i),
                    command(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//{node}")]),
                    1,
                )
                .await
                .expect("queued");
            sent.push((
                Some(id),
                command(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//{node}")]),
            ));
        }
        record.state.phase = SessionPhase::AwaitingStatuses { sent };
        store.open_session(record, usize::MAX).await.expect("saved");
    }
    let per_session = (resident() - with_history) / SESSIONS;

    eprintln!(
        "MemoryStore: {per_device} B per registered device, {per_active_device} B per device with four session summaries and an MO inventory, {per_session} B per idle open session (with its 4 queued command records)"
    );
    assert!(per_device <= 1024, "{per_device} B per registered device");
    assert!(
        per_active_device <= 2048,
        "{per_active_device} B per active device"
    );
    assert!(per_session <= 16 * 1024, "{per_session} B per idle session");
    assert_eq!(store.device_count().await.expect("count"), DEVICES);
}
