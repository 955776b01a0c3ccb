//! Package#0 acceptance: the checks of docs/protocol.md sections 3.6 and 12
//! a client applies before a notification may open a session, without I/O
//! and without reading a clock.
//!
//! [`verify`] takes the received bytes, the device's [`MoTree`] (where the
//! DMAcc accounts and their `Auth/Noti` live), the replay state (a
//! [`NotificationIdWindow`], which the caller keeps and persists), the time
//! and the acceptance window, and says whether the notification is
//! [`Accepted`] (open a session with that server) or [`Ignored`] (and why).
//!
//! ```
//! use dm_codec::notification::{self, NotificationIdWindow, Replay};
//! use dm_session::notification::{Ignored, verify};
//! use dm_tree::{DmAcc, MoTree, NotificationAuth};
//! use dm_types::{ConnectionType, Notification, ServerId, ServerUri};
//!
//! // The device: one account whose notifications are signed.
//! let server = ServerId::new("dm.example")?;
//! let mut account = DmAcc::new(server.clone(), ServerUri::new("https://dm.example/dm")?);
//! account.notification = Some(NotificationAuth::sha256(b"key".to_vec(), b"data".to_vec()));
//! let mut tree = MoTree::new();
//! tree.add_dm_acc(&account)?;
//! let mut replay = NotificationIdWindow::new(16, 64);
//!
//! // What the server sent.
//! let now = 1_764_000_000;
//! let mut sent = Notification::new(server.clone(), ConnectionType::Any);
//! sent.notification_id = Some(7);
//! sent.timestamp = Some(now);
//! let bytes = notification::encode_signed(&sent, b"key", b"data")?;
//!
//! let accepted = verify(&bytes, &tree, &mut replay, now + 2, 300)?;
//! assert_eq!(accepted.server, server);
//! assert_eq!(accepted.notification_id, Some(7));
//! // The same bytes again are a replay; no session.
//! assert_eq!(
//!     verify(&bytes, &tree, &mut replay, now + 3, 300).map(|a| a.server),
//!     Err(Ignored::Replay(Replay::Duplicate { id: 7 }))
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use dm_codec::notification::{self, DigestCheck, NotificationIdWindow, Received, Replay};
use dm_tree::MoTree;
use dm_types::ServerId;

/// Why a notification was ignored (docs/protocol.md section 3.6). Nothing is
/// reported to anyone: the client simply does not open a session.
///
/// ```
/// use dm_session::notification::Ignored;
///
/// assert_eq!(
///     Ignored::InvalidDigest.to_string(),
///     "the SHA256-DIGEST does not verify with the account's Auth/Noti secret and data"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ignored {
    /// The bytes are not a valid notification.
    #[error("not a valid notification: {0}")]
    Malformed(dm_codec::Error),
    /// No DMAcc account has this SERVER-ID.
    #[error("no account for SERVER-ID {0}")]
    UnknownServer(ServerId),
    /// The account exists but cannot be read (for example a `bin` node
    /// that is not base64).
    #[error("the account of {server} cannot be read: {reason}")]
    UnreadableAccount {
        /// The SERVER-ID.
        server: ServerId,
        /// What is wrong with the account.
        reason: String,
    },
    /// The account has no `Auth/Noti` subtree: every notification for it
    /// is ignored, whether or not it carries a digest (docs/protocol.md
    /// section 3.6).
    #[error("the account of {0} has no Auth/Noti: it accepts no notification")]
    NotificationsNotConfigured(ServerId),
    /// The account's `Auth/Noti` asks for no authentication (type none, no
    /// secret) but the notification carries a digest the client cannot
    /// check.
    #[error("a SHA256-DIGEST is present but the account has no Auth/Noti secret to check it")]
    UnexpectedDigest,
    /// The account holds a secret but the notification has no digest.
    #[error("the account has an Auth/Noti secret but the notification has no SHA256-DIGEST")]
    MissingDigest,
    /// The digest does not verify.
    #[error("the SHA256-DIGEST does not verify with the account's Auth/Noti secret and data")]
    InvalidDigest,
    /// An authenticated notification without TIMESTAMP (it could be
    /// replayed forever).
    #[error("an authenticated notification must carry a TIMESTAMP")]
    MissingTimestamp,
    /// An authenticated notification without NOTIFICATION-ID (replays
    /// could not be detected).
    #[error("an authenticated notification must carry a NOTIFICATION-ID")]
    MissingNotificationId,
    /// TIMESTAMP outside the acceptance window, a NOTIFICATION-ID acted on
    /// before while its TIMESTAMP is still inside the window, or the
    /// server's rate limit reached (the `max_per_window` of the
    /// [`NotificationIdWindow`]).
    #[error("replay: {0}")]
    Replay(Replay),
}

/// A notification that passed every check of [`verify`]: the client opens
/// a session with `server`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accepted {
    /// The SERVER-ID, which names a DMAcc account of the tree.
    pub server: ServerId,
    /// The NOTIFICATION-ID, when the notification carried one; it is now
    /// remembered in the replay state, which the caller should persist.
    pub notification_id: Option<u16>,
}

/// Checks the notification `bytes` in this order: decoding, account by
/// SERVER-ID in `tree`, digest policy, then the codec's replay policy
/// ([`NotificationIdWindow::accept`]): TIMESTAMP within `window_secs` of
/// `now_unix_secs`, every NOTIFICATION-ID accepted inside the window
/// remembered, at most so many per server and window. The id is recorded
/// in `replay` only when everything else passed, so that forged or stale
/// notifications cannot use up the rate limit.
///
/// Digest policy: an account without `Auth/Noti` accepts no notification
/// at all; with `Auth/Noti/Secret` set (or type 1) the digest is mandatory
/// and must verify; with `Auth/Noti` of type none and no secret a
/// notification carrying a digest is ignored. TIMESTAMP and NOTIFICATION-ID
/// are mandatory for an authenticated notification and checked whenever
/// present.
///
/// `now_unix_secs` is the device's clock in POSIX seconds; nothing here
/// reads a clock. See the [module example](self).
pub fn verify(
    bytes: &[u8],
    tree: &MoTree,
    replay: &mut NotificationIdWindow,
    now_unix_secs: u64,
    window_secs: u64,
) -> Result<Accepted, Ignored> {
    let received = Received::decode(bytes).map_err(Ignored::Malformed)?;
    let n = received.notification();
    let server = n.server_id.clone();
    let account = match tree.dm_acc(&server) {
        Ok(Some(account)) => account,
        Ok(None) => return Err(Ignored::UnknownServer(server)),
        Err(e) => {
            return Err(Ignored::UnreadableAccount {
                server,
                reason: e.to_string(),
            });
        }
    };
    let Some(auth) = account.notification.as_ref() else {
        return Err(Ignored::NotificationsNotConfigured(server));
    };
    let authenticated = if auth.digest_required() {
        let secret = auth.secret.as_deref().unwrap_or_default();
        match received.verify_digest(secret, &auth.data) {
            DigestCheck::Valid => true,
            DigestCheck::Missing => return Err(Ignored::MissingDigest),
            DigestCheck::Invalid => return Err(Ignored::InvalidDigest),
        }
    } else if n.digest.is_some() {
        return Err(Ignored::UnexpectedDigest);
    } else {
        false
    };
    if n.timestamp.is_none() && authenticated {
        return Err(Ignored::MissingTimestamp);
    }
    match (n.notification_id, n.timestamp) {
        // The codec's replay policy: TIMESTAMP window, every id accepted
        // inside it remembered, at most so many per window.
        (Some(id), timestamp) => replay
            .accept(
                &server,
                id,
                // Unauthenticated without TIMESTAMP: the time of reception
                // bounds how long the id is remembered.
                timestamp.unwrap_or(now_unix_secs),
                now_unix_secs,
                window_secs,
            )
            .map_err(Ignored::Replay)?,
        (None, Some(timestamp)) => {
            notification::check_timestamp(timestamp, now_unix_secs, window_secs)
                .map_err(Ignored::Replay)?;
            if authenticated {
                return Err(Ignored::MissingNotificationId);
            }
        }
        (None, None) => {}
    }
    Ok(Accepted {
        server,
        notification_id: n.notification_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_tree::{DmAcc, NotificationAuth};
    use dm_types::{ConnectionType, Notification, ServerUri};

    const NOW: u64 = 1_764_000_000;
    /// The client's default rate limit.
    const PER_WINDOW: usize = 64;

    pub(super) fn replay_state() -> NotificationIdWindow {
        NotificationIdWindow::new(64, PER_WINDOW)
    }

    fn tree(auth: Option<NotificationAuth>) -> MoTree {
        let mut account = DmAcc::new(
            ServerId::new("dm.example").expect("id"),
            ServerUri::new("https://dm.example/dm").expect("uri"),
        );
        account.notification = auth;
        let mut tree = MoTree::new();
        tree.add_dm_acc(&account).expect("added");
        tree
    }

    fn notification(id: u16, timestamp: u64) -> Notification {
        let mut n = Notification::new(
            ServerId::new("dm.example").expect("id"),
            ConnectionType::Any,
        );
        n.notification_id = Some(id);
        n.timestamp = Some(timestamp);
        n
    }

    fn run(
        tree: &MoTree,
        state: &mut NotificationIdWindow,
        bytes: &[u8],
    ) -> Result<Option<u16>, Ignored> {
        verify(bytes, tree, state, NOW, 300).map(|a| a.notification_id)
    }

    #[test]
    fn signed_notifications_pass_once() {
        let tree = tree(Some(NotificationAuth::sha256(
            b"key".to_vec(),
            b"data".to_vec(),
        )));
        let mut state = replay_state();
        let bytes =
            notification::encode_signed(&notification(1, NOW), b"key", b"data").expect("signed");
        assert_eq!(run(&tree, &mut state, &bytes), Ok(Some(1)));
        assert_eq!(
            run(&tree, &mut state, &bytes),
            Err(Ignored::Replay(Replay::Duplicate { id: 1 }))
        );
    }

    #[test]
    fn no_notification_is_accepted_twice_inside_the_window() {
        let tree = tree(Some(NotificationAuth::sha256(
            b"key".to_vec(),
            b"data".to_vec(),
        )));
        let mut state = replay_state();
        let signed = |id, ts| {
            notification::encode_signed(&notification(id, ts), b"key", b"data").expect("signed")
        };
        let first = signed(1, NOW);
        assert_eq!(run(&tree, &mut state, &first), Ok(Some(1)));
        // 40 newer distinct notifications, one per second.
        for id in 2..=41 {
            let at = NOW + u64::from(id);
            let outcome = verify(&signed(id, at), &tree, &mut state, at, 300);
            assert_eq!(outcome.map(|a| a.notification_id), Ok(Some(id)));
        }
        // The first one again, its TIMESTAMP still inside the window.
        let outcome = verify(&first, &tree, &mut state, NOW + 60, 300);
        assert_eq!(
            outcome.map(|a| a.notification_id),
            Err(Ignored::Replay(Replay::Duplicate { id: 1 }))
        );
    }

    #[test]
    fn a_server_gets_a_bounded_number_of_notifications_per_window() {
        let tree = tree(Some(NotificationAuth::sha256(
            b"key".to_vec(),
            b"data".to_vec(),
        )));
        let mut state = replay_state();
        let signed = |id, ts| {
            notification::encode_signed(&notification(id, ts), b"key", b"data").expect("signed")
        };
        let limit = PER_WINDOW;
        let ids = u16::try_from(limit).expect("small");
        for id in 0..ids {
            assert_eq!(run(&tree, &mut state, &signed(id, NOW)), Ok(Some(id)));
        }
        assert_eq!(
            run(&tree, &mut state, &signed(ids, NOW)),
            Err(Ignored::Replay(Replay::TooMany { limit }))
        );
        // Once those left the window the server may notify again, and an
        // id may be used again with a new TIMESTAMP.
        let later = NOW + 301;
        let outcome = verify(&signed(0, later), &tree, &mut state, later, 300);
        assert_eq!(outcome.map(|a| a.notification_id), Ok(Some(0)));
        assert_eq!(
            Ignored::Replay(Replay::TooMany { limit }).to_string(),
            "replay: more than 64 notifications of this server inside the window"
        );
    }

    #[test]
    fn every_rule_has_its_reason() {
        let signed = tree(Some(NotificationAuth::sha256(
            b"key".to_vec(),
            b"data".to_vec(),
        )));
        let open = tree(Some(NotificationAuth::unauthenticated()));
        let absent = tree(None);
        let mut state = replay_state();
        let good = |id, ts| {
            notification::encode_signed(&notification(id, ts), b"key", b"data").expect("signed")
        };
        let wrong_key =
            notification::encode_signed(&notification(2, NOW), b"other", b"data").expect("signed");
        assert_eq!(
            run(&signed, &mut state, &wrong_key),
            Err(Ignored::InvalidDigest)
        );
        let unsigned = notification::encode(&notification(3, NOW)).expect("encoded");
        assert_eq!(
            run(&signed, &mut state, &unsigned),
            Err(Ignored::MissingDigest)
        );
        assert_eq!(
            run(&open, &mut state, &good(4, NOW)),
            Err(Ignored::UnexpectedDigest)
        );
        // Without Auth/Noti nothing is accepted, signed or not.
        let server = ServerId::new("dm.example").expect("id");
        for bytes in [&unsigned, &good(4, NOW)] {
            assert_eq!(
                run(&absent, &mut state, bytes),
                Err(Ignored::NotificationsNotConfigured(server.clone()))
            );
        }
        assert_eq!(run(&open, &mut state, &unsigned), Ok(Some(3)));
        assert_eq!(
            run(&signed, &mut state, &good(5, NOW - 301)),
            Err(Ignored::Replay(Replay::TooOld { age_secs: 301 }))
        );
        assert_eq!(
            run(&signed, &mut state, &good(6, NOW + 400)),
            Err(Ignored::Replay(Replay::InFuture { ahead_secs: 400 }))
        );
        // A stale notification did not consume its id.
        assert_eq!(run(&signed, &mut state, &good(5, NOW)), Ok(Some(5)));
        assert!(matches!(
            run(&signed, &mut state, &[0x11]),
            Err(Ignored::Malformed(_))
        ));
        let mut stranger = notification(7, NOW);
        stranger.server_id = ServerId::new("stranger").expect("id");
        let bytes = notification::encode(&stranger).expect("encoded");
        assert_eq!(
            run(&signed, &mut state, &bytes),
            Err(Ignored::UnknownServer(
                ServerId::new("stranger").expect("id")
            ))
        );
    }
}

#[cfg(test)]
mod unsigned_fields {
    use super::tests::replay_state;
    use super::*;
    use dm_tree::{DmAcc, NotificationAuth};
    use dm_types::{ConnectionType, Notification, ServerUri};
    use sha2::{Digest as _, Sha256};

    /// Signs by hand, so that a notification can lack the options
    /// `encode_signed` insists on.
    fn sign(n: &Notification) -> Vec<u8> {
        let mut n = n.clone();
        n.digest = Some([0; 32]);
        let mut bytes = notification::encode(&n).expect("encoded");
        let offset = Received::decode(&bytes)
            .expect("decoded")
            .digest_offset()
            .expect("digest option");
        let digest = Sha256::new()
            .chain_update(b"key")
            .chain_update(&bytes)
            .chain_update(b"data")
            .finalize();
        bytes[offset..offset + 32].copy_from_slice(&digest);
        bytes
    }

    #[test]
    fn authenticated_notifications_need_timestamp_and_id() {
        let mut account = DmAcc::new(
            ServerId::new("dm.example").expect("id"),
            ServerUri::new("https://dm.example/dm").expect("uri"),
        );
        account.notification = Some(NotificationAuth::sha256(b"key".to_vec(), b"data".to_vec()));
        let mut tree = MoTree::new();
        tree.add_dm_acc(&account).expect("added");
        let mut state = replay_state();
        let mut n = Notification::new(account.server_id.clone(), ConnectionType::Any);
        n.notification_id = Some(1);
        let outcome = verify(&sign(&n), &tree, &mut state, 1_764_000_000, 300);
        assert_eq!(outcome.map(|_| ()), Err(Ignored::MissingTimestamp));
        n.notification_id = None;
        n.timestamp = Some(1_764_000_000);
        let outcome = verify(&sign(&n), &tree, &mut state, 1_764_000_000, 300);
        assert_eq!(outcome.map(|_| ()), Err(Ignored::MissingNotificationId));
        n.notification_id = Some(9);
        let outcome = verify(&sign(&n), &tree, &mut state, 1_764_000_000, 300);
        assert_eq!(outcome.map(|a| a.notification_id), Ok(Some(9)));
    }
}
