//! The tree as one session's server works on it ([`SessionTree`]): the
//! `ManagementTree` adapter between the session engine and `MoTree`.

use dm_session::ManagementTree;
use dm_tree::{ChangeReport, DACMO_MOID, DMACC_MOID, ExecOutcome, MoTree, Principal};
use dm_types::{Alert, ClientUri, MoItem, Moid, MosEntry, ServerId, ServerUri, StatusCode};
use tokio::sync::mpsc;

use crate::handles::Report;

/// The tree as one session's server works on it: delegates to `MoTree`,
/// notes whether anything changed, for an account allowed every MOID adds
/// MOIDs to its `Perm` list as they appear, and bounds the server's DEFAULT
/// URIs.
pub(crate) struct SessionTree<'a> {
    pub(crate) tree: &'a mut MoTree,
    pub(crate) server: ServerId,
    pub(crate) every_moid: bool,
    pub(crate) changed: bool,
    /// The MOIDs the server has DEFAULT URIs for, stored and accepted in
    /// this session.
    pub(crate) defaults: Vec<Moid>,
    pub(crate) default_limit: usize,
    /// Where the product's handles report (a session drains it before
    /// each Package#3).
    pub(crate) reports: Option<&'a mut mpsc::UnboundedReceiver<Report>>,
    pub(crate) taken: Taken,
}

/// What a session took from the product's handles.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    /// Alerts for the session's server, sent in a Package#3.
    pub(crate) sent: Vec<Alert>,
    /// Alerts for other servers.
    pub(crate) elsewhere: Vec<(ServerId, Alert)>,
    /// EXEC results.
    pub(crate) finished: Vec<(ClientUri, StatusCode)>,
    /// Tree edits, applied once the session is over.
    pub(crate) edits: Vec<crate::handles::TreeEdit>,
}

impl SessionTree<'_> {
    /// Adds `moid` to the server's `Perm` list, except the MOIDs that
    /// control access itself: the DMAcc (accounts and their `Perm` lists)
    /// and the DACMO (ACLs) stay out unless the account as provisioned
    /// already lists them.
    fn grant(&mut self, moid: &Moid) {
        if self.every_moid
            && moid.as_str() != DACMO_MOID
            && moid.as_str() != DMACC_MOID
            && self.tree.grant_moid(&self.server, moid).unwrap_or(false)
        {
            self.changed = true;
        }
    }

    /// Grants every MOID present in the tree.
    pub(crate) fn grant_present(&mut self) {
        if !self.every_moid {
            return;
        }
        let mut moids: Vec<Moid> = self.tree.instances().map(|i| i.moid().clone()).collect();
        moids.dedup();
        for moid in moids {
            self.grant(&moid);
        }
    }

    fn mark<T, E>(&mut self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.changed = true;
        }
        result
    }
}

impl ManagementTree for SessionTree<'_> {
    fn mo_list(&self, who: &Principal) -> Vec<MosEntry> {
        ManagementTree::mo_list(&*self.tree, who)
    }

    fn read(
        &self,
        who: &Principal,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<MoItem>>, StatusCode> {
        ManagementTree::read(&*self.tree, who, targets)
    }

    fn write(
        &mut self,
        who: &Principal,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        let moids: Vec<Moid> = match target {
            Some(target) => vec![target.to_moid()],
            None => items.iter().map(|item| item.client_uri.to_moid()).collect(),
        };
        for moid in &moids {
            self.grant(moid);
        }
        let result = ManagementTree::write(&mut *self.tree, who, target, items);
        self.mark(result)
    }

    fn delete(
        &mut self,
        who: &Principal,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        let result = ManagementTree::delete(&mut *self.tree, who, targets);
        self.mark(result)
    }

    fn exec(
        &mut self,
        who: &Principal,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, StatusCode> {
        ManagementTree::exec(&mut *self.tree, who, target, report_to)
    }

    fn exec_result_alert(&self, who: &Principal, target: &ClientUri, status: StatusCode) -> Alert {
        ManagementTree::exec_result_alert(&*self.tree, who, target, status)
    }

    fn subscribe(
        &mut self,
        who: &Principal,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode> {
        let result = ManagementTree::subscribe(&mut *self.tree, who, target, report_to);
        self.mark(result)
    }

    fn unsubscribe(&mut self, who: &Principal, target: &ClientUri) -> Result<(), StatusCode> {
        let result = ManagementTree::unsubscribe(&mut *self.tree, who, target);
        self.mark(result)
    }

    fn change_reports(&self, changed: &[ClientUri]) -> Vec<ChangeReport> {
        ManagementTree::change_reports(&*self.tree, changed)
    }

    fn accounts(&self, who: &Principal) -> Vec<dm_session::AccountSummary> {
        ManagementTree::accounts(&*self.tree, who)
    }

    fn take_alerts(&mut self) -> Vec<Alert> {
        let mut now = Vec::new();
        if let Some(reports) = self.reports.as_deref_mut() {
            while let Ok(report) = reports.try_recv() {
                match report {
                    Report::Alert(server, alert, _) if server == self.server => {
                        now.push(alert);
                    }
                    Report::Alert(server, alert, _) => self.taken.elsewhere.push((server, alert)),
                    Report::Exec(node, status) => self.taken.finished.push((node, status)),
                    Report::Edit(edit) => self.taken.edits.push(edit),
                }
            }
        }
        self.taken.sent.extend(now.iter().cloned());
        now
    }

    fn accept_default(
        &mut self,
        _who: &Principal,
        moid: &Moid,
        _source: &ServerUri,
    ) -> Result<(), StatusCode> {
        if !self.defaults.contains(moid) {
            if self.defaults.len() >= self.default_limit {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            self.defaults.push(moid.clone());
        }
        Ok(())
    }
}
