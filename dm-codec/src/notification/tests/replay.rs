//! The TIMESTAMP window and the NOTIFICATION-ID window.

use super::*;

#[test]
fn timestamp_window() {
    assert_eq!(check_timestamp(10, 10, 0), Ok(()));
    assert_eq!(
        check_timestamp(9, 10, 0),
        Err(Replay::TooOld { age_secs: 1 })
    );
    assert_eq!(
        check_timestamp(11, 10, 0),
        Err(Replay::InFuture { ahead_secs: 1 })
    );
    assert_eq!(check_timestamp(0, u64::MAX, u64::MAX), Ok(()));
    assert_eq!(
        check_timestamp(u64::MAX, 0, 5),
        Err(Replay::InFuture {
            ahead_secs: u64::MAX
        })
    );
    assert_eq!(
        check_timestamp(0, u64::MAX, 5),
        Err(Replay::TooOld { age_secs: u64::MAX })
    );
}

#[test]
fn id_window_remembers_every_id_inside_the_window() {
    const NOW: u64 = 1_764_000_000;
    let a = ServerId::new("a").expect("valid");
    let mut window = NotificationIdWindow::new(4, 64);
    window.accept(&a, 1, NOW, NOW, 300).expect("new");
    // 40 distinct notifications, then the first again: still a replay.
    for id in 2..=41u16 {
        let at = NOW + u64::from(id);
        window.accept(&a, id, at, at, 300).expect("new");
    }
    assert_eq!(
        window.accept(&a, 1, NOW, NOW + 100, 300),
        Err(Replay::Duplicate { id: 1 })
    );
    assert_eq!(window.accepted(&a).len(), 41);
    // Once its TIMESTAMP left the window, the id may be used again
    // (with a new TIMESTAMP); the old notification is too old.
    let later = NOW + 301;
    assert_eq!(
        window.accept(&a, 1, NOW, later, 300),
        Err(Replay::TooOld { age_secs: 301 })
    );
    window.accept(&a, 1, later, later, 300).expect("reused");
    assert_eq!(window.forgotten_up_to(&a), Some(NOW));
    // Ids 2.. are still inside the window.
    assert_eq!(
        window.accept(&a, 2, NOW + 2, later, 300),
        Err(Replay::Duplicate { id: 2 })
    );
}

#[test]
fn id_window_rate_limit_refuses_without_forgetting() {
    const NOW: u64 = 1_764_000_000;
    let a = ServerId::new("a").expect("valid");
    let mut window = NotificationIdWindow::new(1, 8);
    for id in 0..8 {
        window.accept(&a, id, NOW, NOW, 300).expect("new");
    }
    for id in 8..100 {
        assert_eq!(
            window.accept(&a, id, NOW, NOW + 1, 300),
            Err(Replay::TooMany { limit: 8 })
        );
    }
    // Nothing was forgotten to make room.
    assert!((0..8).all(|id| window.contains(&a, id)));
    assert_eq!(
        window.accept(&a, 0, NOW, NOW + 2, 300),
        Err(Replay::Duplicate { id: 0 })
    );
    // Room again once the first ones left the window.
    window
        .accept(&a, 8, NOW + 301, NOW + 301, 300)
        .expect("room");
    assert_eq!(window.accepted(&a).len(), 1);
    // A future TIMESTAMP keeps its id until it is too old itself.
    let b = ServerId::new("b").expect("valid");
    let mut window = NotificationIdWindow::new(1, 8);
    window.accept(&b, 1, NOW + 300, NOW, 300).expect("new");
    assert_eq!(
        window.accept(&b, 1, NOW + 300, NOW + 599, 300),
        Err(Replay::Duplicate { id: 1 })
    );
}

#[test]
fn id_window_survives_a_clock_set_back() {
    const NOW: u64 = 1_764_000_000;
    let a = ServerId::new("a").expect("valid");
    let mut window = NotificationIdWindow::new(1, 8);
    window.accept(&a, 1, NOW, NOW, 300).expect("new");
    window
        .accept(&a, 2, NOW + 400, NOW + 400, 300)
        .expect("new");
    assert!(!window.contains(&a, 1), "forgotten");
    // The clock goes back: the forgotten notification is inside the
    // window again, but not newer than what was forgotten.
    assert_eq!(
        window.accept(&a, 1, NOW, NOW + 100, 300),
        Err(Replay::Forgotten {
            timestamp: NOW,
            forgotten_up_to: NOW
        })
    );
    window
        .accept(&a, 3, NOW + 101, NOW + 101, 300)
        .expect("newer");
}

#[test]
fn id_window_bounds_servers() {
    const NOW: u64 = 1_764_000_000;
    let servers: Vec<ServerId> = (0..3)
        .map(|i| ServerId::new(format!("s{i}")).expect("valid"))
        .collect();
    let mut window = NotificationIdWindow::new(2, 4);
    window.accept(&servers[0], 1, NOW, NOW, 300).expect("new");
    window.accept(&servers[1], 1, NOW, NOW, 300).expect("new");
    assert_eq!(
        window.accept(&servers[2], 1, NOW, NOW, 300),
        Err(Replay::TooManyServers { limit: 2 })
    );
    // A server whose ids all left the window makes room.
    window
        .accept(&servers[1], 2, NOW + 200, NOW + 200, 300)
        .expect("new");
    window
        .accept(&servers[2], 1, NOW + 301, NOW + 301, 300)
        .expect("room");
    assert!(window.servers().all(|s| *s != servers[0]));
    assert!(window.contains(&servers[1], 2));
    let mut zero = NotificationIdWindow::new(0, 0);
    zero.accept(&servers[0], 1, NOW, NOW, 0).expect("one");
    assert_eq!(
        zero.accept(&servers[0], 2, NOW, NOW, 0),
        Err(Replay::TooMany { limit: 1 })
    );
}

#[test]
fn id_window_restores_within_its_bounds() {
    let a = ServerId::new("a").expect("valid");
    let b = ServerId::new("b").expect("valid");
    let entry = |id, timestamp| AcceptedId { id, timestamp };
    let mut window = NotificationIdWindow::new(1, 2);
    window.restore(
        &a,
        [entry(1, 10), entry(1, 11), entry(2, 12), entry(3, 13)],
        Some(5),
    );
    assert_eq!(window.accepted(&a), [entry(2, 12), entry(3, 13)]);
    assert_eq!(window.forgotten_up_to(&a), Some(10));
    window.restore(&b, [entry(1, 1)], None);
    assert_eq!(window.servers().count(), 1, "one server at most");
    let mut again = NotificationIdWindow::new(1, 2);
    again.restore(
        &a,
        window.accepted(&a).iter().copied(),
        window.forgotten_up_to(&a),
    );
    assert_eq!(again, window);
}
