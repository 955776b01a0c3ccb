//! Who may do what (docs/protocol.md section 7): principals and per-instance
//! rights.

use std::fmt;

use dm_types::ServerId;

/// The identity a tree operation runs as.
///
/// ```
/// use dm_tree::Principal;
/// use dm_types::ServerId;
///
/// let server = Principal::Server(ServerId::new("dm.example")?);
/// assert_ne!(server, Principal::Device);
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// The device itself or a local application: not limited by
    /// permissions (DDF AccessType and Scope still apply).
    Device,
    /// A DM server, by its DMAcc `SrvID`.
    Server(ServerId),
    /// The bootstrap server of a bootstrap session (docs/protocol.md section
    /// 11.3), by the `SrvID` of the bootstrap account the device used. It
    /// may read DevInfo, create DMAcc instances, and write or delete the
    /// DMAcc instances it created or whose `Auth/Bootstrap/ServerURI` names
    /// it; nothing else exists for it.
    ///
    /// ```
    /// use dm_tree::Principal;
    /// use dm_types::ServerId;
    ///
    /// let bootstrap = Principal::Bootstrap(ServerId::new("bs.example")?);
    /// assert_eq!(bootstrap.to_string(), "bootstrap server bs.example");
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    Bootstrap(ServerId),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Device => f.write_str("the device"),
            Principal::Server(id) => write!(f, "server {id}"),
            Principal::Bootstrap(id) => write!(f, "bootstrap server {id}"),
        }
    }
}

/// A set of logical rights on an MO instance: Read (GET, HPUT, HPOST, SUB),
/// Write (HGET, DELETE), Exec (EXEC), Delegate (granting rights through the
/// DACMO).
///
/// ```
/// use dm_tree::Rights;
///
/// let rights: Rights = "Read,Exec".parse()?;
/// assert!(rights.contains(Rights::READ) && !rights.contains(Rights::WRITE));
/// assert_eq!(rights.to_string(), "Read,Exec");
/// assert!("Read,Fly".parse::<Rights>().is_err());
/// # Ok::<(), dm_tree::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    /// No right: the instance is invisible.
    pub const NONE: Rights = Rights(0);
    /// GET, HPUT, HPOST, SUB.
    pub const READ: Rights = Rights(1);
    /// HGET, DELETE.
    pub const WRITE: Rights = Rights(2);
    /// EXEC.
    pub const EXEC: Rights = Rights(4);
    /// Granting rights to other servers.
    pub const DELEGATE: Rights = Rights(8);
    /// Every right (what the creating server gets).
    pub const ALL: Rights = Rights(15);

    const NAMES: [(Rights, &'static str); 4] = [
        (Rights::READ, "Read"),
        (Rights::WRITE, "Write"),
        (Rights::EXEC, "Exec"),
        (Rights::DELEGATE, "Delegate"),
    ];

    /// Whether every right of `other` is in `self`.
    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}

impl fmt::Display for Rights {
    /// The DACMO `Rights` form: comma-separated tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (right, name) in Rights::NAMES {
            if self.contains(right) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Rights {
    type Err = crate::Error;

    /// Parses the DACMO `Rights` form: comma-separated tokens, exactly
    /// `Read`, `Write`, `Exec`, `Delegate` (an empty text is no right).
    fn from_str(text: &str) -> Result<Rights, crate::Error> {
        let mut rights = Rights::NONE;
        for token in text.split(',').filter(|t| !t.is_empty()) {
            let Some((right, _)) = Rights::NAMES.iter().find(|(_, name)| *name == token) else {
                return Err(crate::Error::invalid_data(
                    format!("Rights {text:?}"),
                    format!("unknown right {token:?}"),
                ));
            };
            rights = rights | *right;
        }
        Ok(rights)
    }
}
