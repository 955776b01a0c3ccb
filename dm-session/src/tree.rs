//! The seam between the client engine and the device's data:
//! [`ManagementTree`], implemented for `dm_tree::MoTree`.

use dm_tree::{ChangeReport, DmAcc, ExecOutcome, MoTree, Principal, ReadOutcome};
use dm_types::{Alert, ClientUri, Miid, MoItem, Moid, MosEntry, ServerId, ServerUri, StatusCode};

/// What the client engine needs from the device's management tree, always
/// on behalf of the session's principal: [`Principal::Server`] in a
/// management session, [`Principal::Bootstrap`] in a bootstrap session
/// (docs/protocol.md section 11.3). Errors are the status codes the protocol
/// reports.
pub trait ManagementTree {
    /// The MO list of Package#1: every instance visible to `who`, grouped
    /// by MOID.
    fn mo_list(&self, who: &Principal) -> Vec<MosEntry>;
    /// GET, HPUT and HPOST data; `None` when every `cv` matched (304).
    fn read(
        &self,
        who: &Principal,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<MoItem>>, StatusCode>;
    /// HGET: writes the items, returns the places written.
    fn write(
        &mut self,
        who: &Principal,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode>;
    /// DELETE; returns the absolute ClientURIs of the nodes removed.
    fn delete(
        &mut self,
        who: &Principal,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode>;
    /// EXEC.
    fn exec(
        &mut self,
        who: &Principal,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, StatusCode>;
    /// The alert that reports the final `status` of an asynchronous EXEC
    /// of `target` (as the server named it), for a handler that finished
    /// at once although the EXEC named a ServerURI
    /// ([`ClientEvent::ExecFinished`](crate::ClientEvent::ExecFinished)).
    /// The MO decides its alert type (FUMO and SCOMO define their own);
    /// by default `urn:oma:at:dm:2.0:ExecComplete` with `SourceURI` =
    /// `target` and `Data` `{"sc": status}` (docs/protocol.md section 6).
    fn exec_result_alert(&self, who: &Principal, target: &ClientUri, status: StatusCode) -> Alert {
        let _ = who;
        Alert::exec_complete(target, status)
    }
    /// Alerts the device wants to deliver now (docs/protocol.md section
    /// 3.3): asked just before each Package#3 is built, they travel in it,
    /// after those of [`ClientSession::queue_alert`](crate::ClientSession::queue_alert).
    /// A package that ends the session sends no Package#3 and asks
    /// nothing. None unless implemented.
    fn take_alerts(&mut self) -> Vec<Alert> {
        Vec::new()
    }
    /// SUB.
    fn subscribe(
        &mut self,
        who: &Principal,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode>;
    /// UNSUB.
    fn unsubscribe(&mut self, who: &Principal, target: &ClientUri) -> Result<(), StatusCode>;
    /// DEFAULT: whether the device takes `source` as where to fetch the
    /// configuration of `moid` from; the engine then answers `200` and
    /// reports it as [`ClientEvent::Default`](crate::ClientEvent::Default),
    /// else it answers the status returned (a device that keeps a bounded
    /// number of DEFAULT URIs per server answers `413` beyond it). Accepts
    /// every one unless implemented.
    fn accept_default(
        &mut self,
        who: &Principal,
        moid: &Moid,
        source: &ServerUri,
    ) -> Result<(), StatusCode> {
        let _ = (who, moid, source);
        Ok(())
    }
    /// The change reports due after the nodes at `changed` (absolute
    /// ClientURIs) changed: for each subscription that fires, its server,
    /// where to PUT and the watched data as that server may read it (empty
    /// when the watched nodes are gone). `MoTree` builds them with
    /// [`MoTree::change_reports`], the one implementation.
    fn change_reports(&self, changed: &[ClientUri]) -> Vec<ChangeReport>;
    /// The DMAcc accounts `who` may write ([`Principal::Device`]: every
    /// one), as the device reads them (never a secret): what a bootstrap
    /// session reports to its [`BootstrapApproval`](crate::BootstrapApproval)
    /// and in its events. None unless implemented (a tree without
    /// accounts).
    fn accounts(&self, who: &Principal) -> Vec<AccountSummary> {
        let _ = who;
        Vec::new()
    }
}

/// One DMAcc account as the engine sees it in a bootstrap session
/// ([`ManagementTree::accounts`]): no secret ever.
///
/// ```
/// use dm_session::{AccountSummary, ManagementTree};
/// use dm_tree::{DmAcc, MoTree};
/// use dm_types::{ServerId, ServerUri};
///
/// let mut tree = MoTree::new();
/// tree.add_dm_acc(&DmAcc::new(ServerId::new("dm1")?, ServerUri::new("https://dm1.example/dm")?))?;
/// let accounts = ManagementTree::accounts(&tree, &dm_tree::Principal::Device);
/// assert_eq!(accounts[0].miid.as_str(), "acc1");
/// assert!(!accounts[0].is_bootstrap_account);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The DMAcc instance.
    pub miid: Miid,
    /// `SrvID`.
    pub server_id: ServerId,
    /// `SrvURI`, when valid.
    pub server_uri: Option<ServerUri>,
    /// `Name` (empty when absent).
    pub name: String,
    /// Whether `Auth/Bootstrap` is present.
    pub is_bootstrap_account: bool,
}

/// The server id a subscription belongs to: only a management server
/// subscribes.
fn subscriber(who: &Principal) -> Result<&ServerId, StatusCode> {
    match who {
        Principal::Server(server) => Ok(server),
        Principal::Device | Principal::Bootstrap(_) => Err(StatusCode::FORBIDDEN),
    }
}

impl ManagementTree for MoTree {
    fn mo_list(&self, who: &Principal) -> Vec<MosEntry> {
        let mut list: Vec<MosEntry> = Vec::new();
        for instance in self.instances() {
            if self.rights(who, instance).is_empty() {
                continue;
            }
            match list.last_mut() {
                Some(entry) if entry.moid == *instance.moid() => {
                    entry.miids.push(instance.miid().clone());
                }
                _ => list.push(MosEntry {
                    ddf: None,
                    moid: instance.moid().clone(),
                    miids: vec![instance.miid().clone()],
                }),
            }
        }
        list
    }

    fn read(
        &self,
        who: &Principal,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<MoItem>>, StatusCode> {
        match MoTree::read(self, who, targets) {
            Ok(ReadOutcome::Data(items)) => Ok(Some(items)),
            Ok(_) => Ok(None),
            Err(e) => Err(e.status()),
        }
    }

    fn write(
        &mut self,
        who: &Principal,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        MoTree::write(self, who, target, items).map_err(|e| e.status())
    }

    fn delete(
        &mut self,
        who: &Principal,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        let mut removed = Vec::new();
        for target in targets {
            if let Ok(nodes) = self.resolve_as(who, target) {
                removed.extend(nodes.iter().map(dm_tree::NodeRef::client_uri));
            }
        }
        MoTree::delete(self, who, targets).map_err(|e| e.status())?;
        Ok(removed)
    }

    fn exec(
        &mut self,
        who: &Principal,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, StatusCode> {
        MoTree::exec(self, who, target, report_to).map_err(|e| e.status())
    }

    fn exec_result_alert(&self, _who: &Principal, target: &ClientUri, status: StatusCode) -> Alert {
        MoTree::exec_result_alert(self, target, status)
    }

    fn subscribe(
        &mut self,
        who: &Principal,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode> {
        let server = subscriber(who)?.clone();
        MoTree::subscribe(self, who, server, target.clone(), report_to.clone())
            .map_err(|e| e.status())
    }

    fn unsubscribe(&mut self, who: &Principal, target: &ClientUri) -> Result<(), StatusCode> {
        MoTree::unsubscribe(self, subscriber(who)?, target).map_err(|e| e.status())
    }

    fn change_reports(&self, changed: &[ClientUri]) -> Vec<ChangeReport> {
        MoTree::change_reports(self, changed)
    }

    fn accounts(&self, who: &Principal) -> Vec<AccountSummary> {
        self.instances_of(dm_tree::DMACC_MOID)
            .filter(|instance| self.rights(who, instance).contains(dm_tree::Rights::WRITE))
            .filter_map(|instance| {
                let account = DmAcc::from_instance(instance).ok()?;
                Some(AccountSummary {
                    miid: instance.miid().clone(),
                    is_bootstrap_account: account.is_bootstrap_account(),
                    server_id: account.server_id,
                    server_uri: Some(account.server_uri),
                    name: account.name,
                })
            })
            .collect()
    }
}
