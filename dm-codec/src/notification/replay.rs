//! The replay defences of Package#0: [`check_timestamp`] and
//! [`NotificationIdWindow`]. They take the time as an argument and never
//! read a clock.

use dm_types::ServerId;

/// Why a notification is taken for a replay (docs/protocol.md sections 3.6 and
/// 12). A client ignores such a notification; it is not a decoding error and
/// nothing is reported to the server, hence a type of its own rather than an
/// [`Error`](crate::Error) variant.
///
/// ```
/// use dm_codec::notification::{check_timestamp, Replay};
///
/// assert_eq!(check_timestamp(100, 500, 60), Err(Replay::TooOld { age_secs: 400 }));
/// assert_eq!(Replay::TooOld { age_secs: 400 }.to_string(), "TIMESTAMP is 400 s old, outside the window");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Replay {
    /// The TIMESTAMP is older than the acceptance window.
    #[error("TIMESTAMP is {age_secs} s old, outside the window")]
    TooOld {
        /// How many seconds before `now` the TIMESTAMP lies.
        age_secs: u64,
    },
    /// The TIMESTAMP lies further in the future than the window allows.
    #[error("TIMESTAMP is {ahead_secs} s in the future, outside the window")]
    InFuture {
        /// How many seconds after `now` the TIMESTAMP lies.
        ahead_secs: u64,
    },
    /// This server's NOTIFICATION-ID was already accepted, and its
    /// TIMESTAMP is still inside the window.
    #[error("NOTIFICATION-ID {id} was already seen")]
    Duplicate {
        /// The repeated NOTIFICATION-ID.
        id: u16,
    },
    /// The TIMESTAMP is not newer than that of an id already forgotten
    /// (possible only when the clock was set back): whether the
    /// notification was seen cannot be told.
    #[error(
        "TIMESTAMP {timestamp} is not newer than the NOTIFICATION-IDs already forgotten \
         (up to {forgotten_up_to})"
    )]
    Forgotten {
        /// The notification's TIMESTAMP.
        timestamp: u64,
        /// The newest TIMESTAMP of a forgotten id.
        forgotten_up_to: u64,
    },
    /// This server already had `limit` notifications accepted inside the
    /// window (the rate limit).
    #[error("more than {limit} notifications of this server inside the window")]
    TooMany {
        /// Most notifications accepted per server inside the window.
        limit: usize,
    },
    /// `limit` other servers have notifications inside the window.
    #[error("more than {limit} servers with notifications inside the window")]
    TooManyServers {
        /// Most servers remembered.
        limit: usize,
    },
}

/// Checks a TIMESTAMP against the acceptance window: it passes when it lies
/// at most `window_secs` before or after `now_unix_secs` (the window covers
/// clock skew in both directions). The caller supplies the time; nothing here
/// reads a clock.
///
/// ```
/// use dm_codec::notification::{check_timestamp, Replay};
///
/// let now = 1_764_000_000;
/// assert!(check_timestamp(now - 300, now, 300).is_ok());
/// assert_eq!(check_timestamp(now - 301, now, 300), Err(Replay::TooOld { age_secs: 301 }));
/// assert_eq!(check_timestamp(now + 400, now, 300), Err(Replay::InFuture { ahead_secs: 400 }));
/// ```
pub fn check_timestamp(timestamp: u64, now_unix_secs: u64, window_secs: u64) -> Result<(), Replay> {
    if timestamp <= now_unix_secs {
        let age_secs = now_unix_secs - timestamp;
        if age_secs > window_secs {
            return Err(Replay::TooOld { age_secs });
        }
    } else {
        let ahead_secs = timestamp - now_unix_secs;
        if ahead_secs > window_secs {
            return Err(Replay::InFuture { ahead_secs });
        }
    }
    Ok(())
}

/// Remembers every NOTIFICATION-ID accepted while its TIMESTAMP is inside
/// the acceptance window, per server, so that no notification is accepted
/// twice (docs/protocol.md sections 3.6 and 12).
///
/// [`NotificationIdWindow::accept`] is the whole replay policy:
///
/// 1. the TIMESTAMP must pass [`check_timestamp`];
/// 2. ids whose TIMESTAMP has left the window (too old) are forgotten —
///    the same notification would now fail step 1 — and the newest
///    forgotten TIMESTAMP is kept: a notification not newer than it is
///    refused ([`Replay::Forgotten`]), so a clock set back cannot revive a
///    forgotten id;
/// 3. an id remembered for this server is a [`Replay::Duplicate`];
/// 4. at most `max_per_window` ids are remembered per server: beyond, a
///    notification is refused ([`Replay::TooMany`]) until older ones leave
///    the window — a rate limit, never an eviction, so no id is forgotten
///    early;
/// 5. at most `max_servers` servers are remembered; a new server beyond
///    takes the place of one with no id left inside the window, else it is
///    refused ([`Replay::TooManyServers`]).
///
/// Memory is bounded by `max_servers × max_per_window` entries of 10
/// bytes; nothing is allocated up front. Accept an id only after the
/// notification passed its digest check, so that forged notifications
/// cannot use up the rate limit.
///
/// ```
/// use dm_codec::notification::{NotificationIdWindow, Replay};
/// use dm_types::ServerId;
///
/// let a = ServerId::new("a.example")?;
/// let b = ServerId::new("b.example")?;
/// let now = 1_764_000_000;
/// let mut window = NotificationIdWindow::new(8, 2);
/// window.accept(&a, 1, now, now, 300)?;
/// window.accept(&b, 1, now, now, 300)?; // ids are per server
/// assert_eq!(window.accept(&a, 1, now, now + 10, 300), Err(Replay::Duplicate { id: 1 }));
/// window.accept(&a, 2, now + 1, now + 1, 300)?;
/// // Two ids per window: a third is refused, nothing is forgotten early.
/// assert_eq!(window.accept(&a, 3, now + 2, now + 2, 300), Err(Replay::TooMany { limit: 2 }));
/// // Once id 1's TIMESTAMP left the window, the id may come again.
/// window.accept(&a, 1, now + 301, now + 301, 300)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationIdWindow {
    max_servers: usize,
    max_per_window: usize,
    /// In the order first seen.
    servers: Vec<ServerIds>,
}

/// What a window remembers of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerIds {
    server_id: ServerId,
    /// Accepted first first.
    accepted: Vec<AcceptedId>,
    /// The newest TIMESTAMP of an id forgotten.
    forgotten_up_to: Option<u64>,
}

/// A NOTIFICATION-ID a [`NotificationIdWindow`] remembers, with the
/// TIMESTAMP of the notification that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptedId {
    /// The NOTIFICATION-ID.
    pub id: u16,
    /// Its notification's TIMESTAMP (Unix seconds).
    pub timestamp: u64,
}

impl ServerIds {
    /// Forgets the ids whose TIMESTAMP is too old at `now_unix_secs`.
    fn forget_old(&mut self, now_unix_secs: u64, window_secs: u64) {
        let mut forgotten = self.forgotten_up_to;
        self.accepted.retain(|a| {
            let old = matches!(
                check_timestamp(a.timestamp, now_unix_secs, window_secs),
                Err(Replay::TooOld { .. })
            );
            if old {
                forgotten = forgotten.max(Some(a.timestamp));
            }
            !old
        });
        self.forgotten_up_to = forgotten;
    }
}

impl NotificationIdWindow {
    /// A window for up to `max_servers` servers with at most
    /// `max_per_window` ids accepted per server inside the window (both at
    /// least 1; 0 is taken as 1).
    ///
    /// ```
    /// use dm_codec::notification::NotificationIdWindow;
    /// use dm_types::ServerId;
    ///
    /// let window = NotificationIdWindow::new(4, 64);
    /// assert!(!window.contains(&ServerId::new("dm")?, 1));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn new(max_servers: usize, max_per_window: usize) -> Self {
        NotificationIdWindow {
            max_servers: max_servers.max(1),
            max_per_window: max_per_window.max(1),
            servers: Vec::new(),
        }
    }

    /// Whether `id` is among the remembered ids of `server_id`.
    ///
    /// ```
    /// use dm_codec::notification::NotificationIdWindow;
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(1, 1);
    /// window.accept(&dm, 5, 100, 100, 60)?;
    /// assert!(window.contains(&dm, 5));
    /// assert!(!window.contains(&dm, 6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn contains(&self, server_id: &ServerId, id: u16) -> bool {
        self.server(server_id)
            .is_some_and(|s| s.accepted.iter().any(|a| a.id == id))
    }

    /// Applies the replay policy (see the type) to a notification of
    /// `server_id` carrying `id` and `timestamp`, received at
    /// `now_unix_secs` with an acceptance window of `window_secs`: records
    /// the id and returns `Ok` when the notification may be acted on; when
    /// it is refused, only ids that left the window are forgotten.
    ///
    /// A notification without TIMESTAMP (allowed only unauthenticated) can
    /// pass its time of reception as `timestamp`.
    ///
    /// ```
    /// use dm_codec::notification::{NotificationIdWindow, Replay};
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(1, 64);
    /// assert_eq!(window.accept(&dm, 1, 1_000, 1_400, 300), Err(Replay::TooOld { age_secs: 400 }));
    /// window.accept(&dm, 1, 1_000, 1_000, 300)?;
    /// assert_eq!(window.accept(&dm, 1, 1_000, 1_200, 300), Err(Replay::Duplicate { id: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept(
        &mut self,
        server_id: &ServerId,
        id: u16,
        timestamp: u64,
        now_unix_secs: u64,
        window_secs: u64,
    ) -> Result<(), Replay> {
        check_timestamp(timestamp, now_unix_secs, window_secs)?;
        let known = self.servers.iter().position(|s| s.server_id == *server_id);
        let index = if let Some(index) = known {
            index
        } else {
            if self.servers.len() >= self.max_servers {
                for server in &mut self.servers {
                    server.forget_old(now_unix_secs, window_secs);
                }
                let idle = self.servers.iter().position(|s| s.accepted.is_empty());
                let Some(idle) = idle else {
                    return Err(Replay::TooManyServers {
                        limit: self.max_servers,
                    });
                };
                self.servers.remove(idle);
            }
            self.servers.push(ServerIds {
                server_id: server_id.clone(),
                accepted: Vec::new(),
                forgotten_up_to: None,
            });
            self.servers.len() - 1
        };
        let max_per_window = self.max_per_window;
        let Some(server) = self.servers.get_mut(index) else {
            return Err(Replay::TooManyServers {
                limit: self.max_servers,
            });
        };
        server.forget_old(now_unix_secs, window_secs);
        if let Some(forgotten_up_to) = server.forgotten_up_to
            && timestamp <= forgotten_up_to
        {
            return Err(Replay::Forgotten {
                timestamp,
                forgotten_up_to,
            });
        }
        if server.accepted.iter().any(|a| a.id == id) {
            return Err(Replay::Duplicate { id });
        }
        if server.accepted.len() >= max_per_window {
            return Err(Replay::TooMany {
                limit: max_per_window,
            });
        }
        server.accepted.push(AcceptedId { id, timestamp });
        Ok(())
    }

    /// Changes how many ids are accepted per server inside the window. Ids
    /// already remembered are kept until they leave the window; while as
    /// many or more are remembered, new ones are refused.
    ///
    /// ```
    /// use dm_codec::notification::{NotificationIdWindow, Replay};
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(1, 4);
    /// window.accept(&dm, 1, 100, 100, 60)?;
    /// window.set_max_per_window(1);
    /// assert!(window.contains(&dm, 1));
    /// assert_eq!(window.accept(&dm, 2, 100, 100, 60), Err(Replay::TooMany { limit: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_max_per_window(&mut self, max_per_window: usize) {
        self.max_per_window = max_per_window.max(1);
    }

    /// The servers remembered, in the order first seen (to persist the
    /// window with [`NotificationIdWindow::accepted`] and
    /// [`NotificationIdWindow::forgotten_up_to`]).
    pub fn servers(&self) -> impl Iterator<Item = &ServerId> {
        self.servers.iter().map(|s| &s.server_id)
    }

    /// The ids remembered for `server_id`, accepted first first.
    pub fn accepted(&self, server_id: &ServerId) -> &[AcceptedId] {
        self.server(server_id)
            .map_or(&[], |s| s.accepted.as_slice())
    }

    /// The newest TIMESTAMP of an id forgotten for `server_id`:
    /// notifications not newer than it are refused.
    pub fn forgotten_up_to(&self, server_id: &ServerId) -> Option<u64> {
        self.server(server_id).and_then(|s| s.forgotten_up_to)
    }

    /// Puts back what [`NotificationIdWindow::accepted`] and
    /// [`NotificationIdWindow::forgotten_up_to`] gave for `server_id` (read
    /// from storage), replacing what the window held for it. The window's
    /// bounds still hold: a repeated id is kept once, ids beyond
    /// `max_per_window` are dropped (the oldest first; `forgotten_up_to`
    /// then covers them), and a server beyond `max_servers` is ignored.
    /// Restoring what a window gave back leaves it equal.
    ///
    /// ```
    /// use dm_codec::notification::{AcceptedId, NotificationIdWindow, Replay};
    /// use dm_types::ServerId;
    ///
    /// let dm = ServerId::new("dm")?;
    /// let mut window = NotificationIdWindow::new(4, 64);
    /// window.accept(&dm, 7, 1_000, 1_000, 300)?;
    /// let mut restored = NotificationIdWindow::new(4, 64);
    /// restored.restore(&dm, window.accepted(&dm).iter().copied(), window.forgotten_up_to(&dm));
    /// assert_eq!(restored, window);
    /// assert_eq!(restored.accept(&dm, 7, 1_000, 1_100, 300), Err(Replay::Duplicate { id: 7 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(
        &mut self,
        server_id: &ServerId,
        accepted: impl IntoIterator<Item = AcceptedId>,
        forgotten_up_to: Option<u64>,
    ) {
        let mut kept: Vec<AcceptedId> = Vec::new();
        for entry in accepted {
            if !kept.iter().any(|a| a.id == entry.id) {
                kept.push(entry);
            }
        }
        let mut forgotten_up_to = forgotten_up_to;
        if kept.len() > self.max_per_window {
            let dropped = kept.len() - self.max_per_window;
            for entry in kept.drain(..dropped) {
                forgotten_up_to = forgotten_up_to.max(Some(entry.timestamp));
            }
        }
        let entry = ServerIds {
            server_id: server_id.clone(),
            accepted: kept,
            forgotten_up_to,
        };
        let full = self.servers.len() >= self.max_servers;
        match self.servers.iter_mut().find(|s| s.server_id == *server_id) {
            Some(existing) => *existing = entry,
            None if !full => self.servers.push(entry),
            None => {}
        }
    }

    fn server(&self, server_id: &ServerId) -> Option<&ServerIds> {
        self.servers.iter().find(|s| s.server_id == *server_id)
    }
}
