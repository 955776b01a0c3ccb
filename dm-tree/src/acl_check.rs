//! The DM 1.x ACL check of one command at one node, shared by the
//! operations and EXEC.

use crate::tree::{MoInstance, NodeId};
use crate::{AclCommand, Error, Principal};

/// Refuses (403) a server the DM 1.x ACL in force at the node does not
/// admit for `command`; the device, a bootstrap server (DM 1.x ACLs name
/// management servers; what a bootstrap server may touch is decided by its
/// own rights, docs/protocol.md section 11.3) and ACL-free nodes pass.
pub(crate) fn check_acl(
    principal: &Principal,
    instance: &MoInstance,
    id: NodeId,
    command: AclCommand,
) -> Result<(), Error> {
    let Principal::Server(server) = principal else {
        return Ok(());
    };
    match instance.effective_acl(id) {
        Some(acl) if !acl.allows(command, server) => Err(Error::Forbidden {
            principal: principal.to_string(),
            right: command.name(),
            uri: instance.client_uri(id).to_string(),
        }),
        _ => Ok(()),
    }
}
