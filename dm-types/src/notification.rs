//! Package#0, the DM notification (docs/protocol.md section 3.6).

use crate::{Error, ServerId};

/// The bearer the server prefers for the session (PREFERRED-CON-TYPE).
///
/// ```
/// use dm_types::ConnectionType;
///
/// assert_eq!(ConnectionType::from_byte(2), Some(ConnectionType::Wlan));
/// assert_eq!(ConnectionType::Wlan as u8, 2);
/// assert_eq!(ConnectionType::from_byte(4), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectionType {
    /// 0: any bearer.
    Any = 0,
    /// 1: cellular.
    Cellular = 1,
    /// 2: WLAN.
    Wlan = 2,
    /// 3: wireline.
    Wireline = 3,
}

impl ConnectionType {
    /// The type for a wire byte (0–3).
    pub fn from_byte(b: u8) -> Option<ConnectionType> {
        match b {
            0 => Some(ConnectionType::Any),
            1 => Some(ConnectionType::Cellular),
            2 => Some(ConnectionType::Wlan),
            3 => Some(ConnectionType::Wireline),
            _ => None,
        }
    }
}

/// The notification format version this project sends and accepts.
pub const NOTIFICATION_VERSION: u8 = 1;

/// A DM notification: the server asks the client to open a session.
///
/// The binary form and its digest live in `dm-codec`.
///
/// ```
/// use dm_types::{ConnectionType, Notification, ServerId};
///
/// let n = Notification::new(ServerId::new("dm.example.com")?, ConnectionType::Any);
/// assert_eq!(n.version, 1);
/// assert!(!n.req_mos);
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// VER (4 bits): the notification format version.
    pub version: u8,
    /// SERVER-ID: which server wants a session.
    pub server_id: ServerId,
    /// PREFERRED-CON-TYPE.
    pub preferred_con_type: ConnectionType,
    /// NOTIFICATION-ID: detects duplicates.
    pub notification_id: Option<u16>,
    /// SHA256-DIGEST: authenticates the notification.
    pub digest: Option<[u8; 32]>,
    /// TIMESTAMP: POSIX seconds, against replay.
    pub timestamp: Option<u64>,
    /// REQ-MOS: the client must send its MO list.
    pub req_mos: bool,
}

impl Notification {
    /// A notification with the two mandatory options and nothing else.
    pub fn new(server_id: ServerId, preferred_con_type: ConnectionType) -> Notification {
        Notification {
            version: NOTIFICATION_VERSION,
            server_id,
            preferred_con_type,
            notification_id: None,
            digest: None,
            timestamp: None,
            req_mos: false,
        }
    }

    /// Checks the fields a value built by hand could get wrong (the version).
    pub fn check(&self) -> Result<(), Error> {
        if self.version != NOTIFICATION_VERSION {
            return Err(Error::Notification("unknown notification version"));
        }
        Ok(())
    }
}
