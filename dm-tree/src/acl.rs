//! DM 1.x node ACLs (docs/protocol.md section 7): an optional per-node
//! restriction evaluated in addition to the instance permissions.

use std::fmt;

use dm_types::ServerId;

use crate::Error;

/// The DM 1.x commands an ACL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclCommand {
    /// `Add`: create a child.
    Add,
    /// `Delete`.
    Delete,
    /// `Exec`.
    Exec,
    /// `Get`: read.
    Get,
    /// `Replace`: write.
    Replace,
}

impl AclCommand {
    const ALL: [AclCommand; 5] = [
        AclCommand::Add,
        AclCommand::Delete,
        AclCommand::Exec,
        AclCommand::Get,
        AclCommand::Replace,
    ];

    /// The name in ACL text.
    pub fn name(self) -> &'static str {
        match self {
            AclCommand::Add => "Add",
            AclCommand::Delete => "Delete",
            AclCommand::Exec => "Exec",
            AclCommand::Get => "Get",
            AclCommand::Replace => "Replace",
        }
    }
}

/// Who an ACL entry admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Admits {
    Anyone,
    Servers(Vec<String>),
}

/// A DM 1.x ACL such as `Get=*&Replace=srv1+srv2&Exec=srv1`: for each
/// command, `*` (any server) or the server ids allowed, joined by `+`. A
/// command the ACL does not name is allowed to no server.
///
/// ```
/// use dm_tree::{Acl, AclCommand};
/// use dm_types::ServerId;
///
/// let acl: Acl = "Get=*&Replace=srv1+srv2".parse()?;
/// let srv2 = ServerId::new("srv2")?;
/// assert!(acl.allows(AclCommand::Get, &ServerId::new("other")?));
/// assert!(acl.allows(AclCommand::Replace, &srv2));
/// assert!(!acl.allows(AclCommand::Exec, &srv2));
/// assert_eq!(acl.to_string(), "Get=*&Replace=srv1+srv2");
/// assert!("Fly=*".parse::<Acl>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl(Vec<(AclCommand, Admits)>);

impl Acl {
    /// Whether the ACL lets `server` run `command`.
    pub fn allows(&self, command: AclCommand, server: &ServerId) -> bool {
        self.0.iter().any(|(c, admits)| {
            *c == command
                && match admits {
                    Admits::Anyone => true,
                    Admits::Servers(ids) => ids.iter().any(|id| id == server.as_str()),
                }
        })
    }

    /// Whether the ACL is empty (an empty ACL inherits the parent's).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::str::FromStr for Acl {
    type Err = Error;

    fn from_str(text: &str) -> Result<Acl, Error> {
        let bad = |what: String| Error::invalid_data(format!("ACL {text:?}"), what);
        let mut entries: Vec<(AclCommand, Admits)> = Vec::new();
        for entry in text.split('&').filter(|e| !e.is_empty()) {
            let (name, who) = entry
                .split_once('=')
                .ok_or_else(|| bad(format!("{entry:?} has no '='")))?;
            let command = AclCommand::ALL
                .into_iter()
                .find(|c| c.name() == name)
                .ok_or_else(|| bad(format!("unknown command {name:?}")))?;
            if entries.iter().any(|(c, _)| *c == command) {
                return Err(bad(format!("{name} appears twice")));
            }
            let admits = if who == "*" {
                Admits::Anyone
            } else {
                let ids: Vec<String> = who.split('+').map(str::to_owned).collect();
                if ids.iter().any(|id| ServerId::new(id.as_str()).is_err()) {
                    return Err(bad(format!("{who:?} is not a list of server ids")));
                }
                Admits::Servers(ids)
            };
            entries.push((command, admits));
        }
        Ok(Acl(entries))
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (command, admits)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{}=", command.name())?;
            match admits {
                Admits::Anyone => f.write_str("*")?,
                Admits::Servers(ids) => f.write_str(&ids.join("+"))?,
            }
        }
        Ok(())
    }
}
