//! Bootstrap sessions (docs/protocol.md section 11.3): the role of a
//! session, the commands a bootstrap server may send, and the approval the
//! device may ask before a DMAcc write or delete takes effect.

use dm_types::{ClientUri, Command, Instance, MoItem, MoNode, ServerId, ServerUri, StatusCode};

use crate::tree::AccountSummary;

/// What the server of a session is to the device.
///
/// ```
/// use dm_session::SessionRole;
///
/// assert_eq!(SessionRole::default(), SessionRole::Management);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SessionRole {
    /// A management session: commands run as
    /// [`Principal::Server`](dm_tree::Principal::Server).
    #[default]
    Management,
    /// A bootstrap session over the mutually authenticated connection of a
    /// bootstrap account: commands run as
    /// [`Principal::Bootstrap`](dm_tree::Principal::Bootstrap), and only GET
    /// of DevInfo, HGET of DMAcc data, DELETE of DMAcc instances, CONT and
    /// END run; any other command answers `403`.
    Bootstrap,
}

/// What a bootstrap command would do to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountChangeKind {
    /// A new account.
    Create,
    /// An existing account rewritten (whole or in part).
    Replace,
    /// An account removed.
    Delete,
}

/// One account a bootstrap command would change, as shown to a
/// [`BootstrapApproval`]: identifiers and name only, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account's `SrvID`.
    pub server_id: ServerId,
    /// Its `SrvURI`, when known and valid.
    pub server_uri: Option<ServerUri>,
    /// Its `Name` (empty when absent).
    pub name: String,
    /// What happens to it.
    pub kind: AccountChangeKind,
}

/// The device's consent to a bootstrap (docs/protocol.md section 11.3, step
/// 4): asked before each DMAcc write or delete of a bootstrap session takes
/// effect. A refusal answers the command `403` and changes nothing. Without
/// an approval object every change is approved.
///
/// ```
/// use dm_session::{AccountChange, AccountChangeKind, BootstrapApproval};
/// use dm_types::ServerId;
///
/// /// Lets a bootstrap add accounts but never remove one.
/// struct NoRemoval;
///
/// impl BootstrapApproval for NoRemoval {
///     fn approve(&self, _bootstrap_server: &ServerId, changes: &[AccountChange]) -> bool {
///         changes.iter().all(|c| c.kind != AccountChangeKind::Delete)
///     }
/// }
/// let change = AccountChange { server_id: ServerId::new("dm1")?, server_uri: None, name: String::new(), kind: AccountChangeKind::Delete };
/// assert!(!NoRemoval.approve(&ServerId::new("bs")?, &[change]));
/// # Ok::<(), dm_types::Error>(())
/// ```
pub trait BootstrapApproval: Send + Sync {
    /// Whether `bootstrap_server` may make `changes`.
    fn approve(&self, bootstrap_server: &ServerId, changes: &[AccountChange]) -> bool;
}

/// Whether a bootstrap session may run `command` at all (before it touches
/// the tree): GET of DevInfo ClientURIs only, HGET from the bootstrap
/// server's own origin, DELETE of DMAcc ClientURIs, CONT and END.
pub(crate) fn permitted(command: &Command, bootstrap_uri: &ServerUri) -> bool {
    match command {
        Command::Get { targets } => targets
            .iter()
            .all(|t| t.to_moid().as_str() == dm_tree::DEVINFO_MOID),
        // DMAcc data come only over the mutually authenticated connection.
        Command::Hget { source, .. } => source.same_origin(bootstrap_uri),
        Command::Delete { targets } => targets.iter().all(is_dm_acc),
        Command::Cont { .. } | Command::End => true,
        _ => false,
    }
}

fn is_dm_acc(uri: &ClientUri) -> bool {
    uri.to_moid().as_str() == dm_tree::DMACC_MOID
}

/// The account changes an HGET of `items` (into `target`, when given) would
/// make, from the `accounts` the bootstrap server may write: `Err(403)` when
/// an item is not DMAcc data, `Err(400)` when a new account's `SrvID` is
/// missing. An item naming an instance not among them lists no change (the
/// tree refuses it, or it is an instance an earlier item creates).
pub(crate) fn write_changes(
    target: Option<&ClientUri>,
    items: &[MoItem],
    accounts: &[AccountSummary],
) -> Result<Vec<AccountChange>, StatusCode> {
    let mut changes = Vec::with_capacity(items.len());
    for item in items {
        let uri = target.unwrap_or(&item.client_uri);
        if !is_dm_acc(uri) {
            return Err(StatusCode::FORBIDDEN);
        }
        let existing = match uri.instance() {
            Instance::Miid(miid) => match accounts.iter().find(|a| a.miid.as_str() == &*miid) {
                Some(account) => Some(account),
                None => continue,
            },
            _ => None,
        };
        let whole = uri.path_len() == 0;
        let text = |name: &str| match item.data.node() {
            MoNode::Interior(children) if whole => match children.get(name) {
                Some(MoNode::Leaf(value)) => Some(value.to_text().into_owned()),
                _ => None,
            },
            _ => None,
        };
        let change = if let Some(account) = existing {
            AccountChange {
                server_id: account.server_id.clone(),
                server_uri: text("SrvURI")
                    .and_then(|t| ServerUri::new(t).ok())
                    .or_else(|| account.server_uri.clone()),
                name: text("Name").unwrap_or_else(|| account.name.clone()),
                kind: AccountChangeKind::Replace,
            }
        } else {
            // A new account, or one whose SrvID exists (then the tree
            // replaces it in place, or refuses).
            let server_id = text("SrvID")
                .and_then(|t| ServerId::new(t).ok())
                .ok_or(StatusCode::BAD_REQUEST)?;
            let kind = if accounts.iter().any(|a| a.server_id == server_id) {
                AccountChangeKind::Replace
            } else {
                AccountChangeKind::Create
            };
            AccountChange {
                server_id,
                server_uri: text("SrvURI").and_then(|t| ServerUri::new(t).ok()),
                name: text("Name").unwrap_or_default(),
                kind,
            }
        };
        changes.push(change);
    }
    Ok(changes)
}

/// The account changes a DELETE of `targets` would make: a whole instance
/// is a Delete, a node inside it a Replace. A target that does not name its
/// instance by MIID cannot be shown to the approval: `Err(403)`; one naming
/// no account among the `accounts` the bootstrap server may write: `Err(404)`
/// (what the tree answers too: the others are invisible to it).
pub(crate) fn delete_changes(
    targets: &[ClientUri],
    accounts: &[AccountSummary],
) -> Result<Vec<AccountChange>, StatusCode> {
    targets
        .iter()
        .map(|target| {
            let Instance::Miid(miid) = target.instance() else {
                return Err(StatusCode::FORBIDDEN);
            };
            let account = accounts
                .iter()
                .find(|a| a.miid.as_str() == &*miid)
                .ok_or(StatusCode::NOT_FOUND)?;
            Ok(AccountChange {
                server_id: account.server_id.clone(),
                server_uri: account.server_uri.clone(),
                name: account.name.clone(),
                kind: if target.path_len() == 0 {
                    AccountChangeKind::Delete
                } else {
                    AccountChangeKind::Replace
                },
            })
        })
        .collect()
}
