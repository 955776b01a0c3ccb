//! The seam between the client engine and the device's data:
//! [`ManagementTree`], implemented for `dm_tree::MoTree`.

use dm_tree::{ChangeReport, ExecOutcome, MoTree, Principal, ReadOutcome};
use dm_types::{Alert, ClientUri, MoItem, Moid, MosEntry, ServerId, ServerUri, StatusCode};

/// What the client engine needs from the device's management tree, always
/// on behalf of the session's server. Errors are the status codes the
/// protocol reports.
pub trait ManagementTree {
    /// The MO list of Package#1: every instance visible to `server`,
    /// grouped by MOID.
    fn mo_list(&self, server: &ServerId) -> Vec<MosEntry>;
    /// GET, HPUT and HPOST data; `None` when every `cv` matched (304).
    fn read(
        &self,
        server: &ServerId,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<MoItem>>, StatusCode>;
    /// HGET: writes the items, returns the places written.
    fn write(
        &mut self,
        server: &ServerId,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode>;
    /// DELETE; returns the absolute ClientURIs of the nodes removed.
    fn delete(
        &mut self,
        server: &ServerId,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode>;
    /// EXEC.
    fn exec(
        &mut self,
        server: &ServerId,
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
    fn exec_result_alert(
        &self,
        server: &ServerId,
        target: &ClientUri,
        status: StatusCode,
    ) -> Alert {
        let _ = server;
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
        server: &ServerId,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode>;
    /// UNSUB.
    fn unsubscribe(&mut self, server: &ServerId, target: &ClientUri) -> Result<(), StatusCode>;
    /// DEFAULT: whether the device takes `source` as where to fetch the
    /// configuration of `moid` from; the engine then answers `200` and
    /// reports it as [`ClientEvent::Default`](crate::ClientEvent::Default),
    /// else it answers the status returned (a device that keeps a bounded
    /// number of DEFAULT URIs per server answers `413` beyond it). Accepts
    /// every one unless implemented.
    fn accept_default(
        &mut self,
        server: &ServerId,
        moid: &Moid,
        source: &ServerUri,
    ) -> Result<(), StatusCode> {
        let _ = (server, moid, source);
        Ok(())
    }
    /// The change reports due after the nodes at `changed` (absolute
    /// ClientURIs) changed: for each subscription that fires, its server,
    /// where to PUT and the watched data as that server may read it (empty
    /// when the watched nodes are gone). `MoTree` builds them with
    /// [`MoTree::change_reports`], the one implementation.
    fn change_reports(&self, changed: &[ClientUri]) -> Vec<ChangeReport>;
}

fn principal(server: &ServerId) -> Principal {
    Principal::Server(server.clone())
}

impl ManagementTree for MoTree {
    fn mo_list(&self, server: &ServerId) -> Vec<MosEntry> {
        let who = principal(server);
        let mut list: Vec<MosEntry> = Vec::new();
        for instance in self.instances() {
            if self.rights(&who, instance).is_empty() {
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
        server: &ServerId,
        targets: &[ClientUri],
    ) -> Result<Option<Vec<MoItem>>, StatusCode> {
        match MoTree::read(self, &principal(server), targets) {
            Ok(ReadOutcome::Data(items)) => Ok(Some(items)),
            Ok(_) => Ok(None),
            Err(e) => Err(e.status()),
        }
    }

    fn write(
        &mut self,
        server: &ServerId,
        target: Option<&ClientUri>,
        items: &[MoItem],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        MoTree::write(self, &principal(server), target, items).map_err(|e| e.status())
    }

    fn delete(
        &mut self,
        server: &ServerId,
        targets: &[ClientUri],
    ) -> Result<Vec<ClientUri>, StatusCode> {
        let who = principal(server);
        let mut removed = Vec::new();
        for target in targets {
            if let Ok(nodes) = self.resolve_as(&who, target) {
                removed.extend(nodes.iter().map(dm_tree::NodeRef::client_uri));
            }
        }
        MoTree::delete(self, &who, targets).map_err(|e| e.status())?;
        Ok(removed)
    }

    fn exec(
        &mut self,
        server: &ServerId,
        target: &ClientUri,
        report_to: Option<&ServerUri>,
    ) -> Result<ExecOutcome, StatusCode> {
        MoTree::exec(self, &principal(server), target, report_to).map_err(|e| e.status())
    }

    fn exec_result_alert(
        &self,
        _server: &ServerId,
        target: &ClientUri,
        status: StatusCode,
    ) -> Alert {
        MoTree::exec_result_alert(self, target, status)
    }

    fn subscribe(
        &mut self,
        server: &ServerId,
        target: &ClientUri,
        report_to: &ServerUri,
    ) -> Result<(), StatusCode> {
        MoTree::subscribe(
            self,
            &principal(server),
            server.clone(),
            target.clone(),
            report_to.clone(),
        )
        .map_err(|e| e.status())
    }

    fn unsubscribe(&mut self, server: &ServerId, target: &ClientUri) -> Result<(), StatusCode> {
        MoTree::unsubscribe(self, server, target).map_err(|e| e.status())
    }

    fn change_reports(&self, changed: &[ClientUri]) -> Vec<ChangeReport> {
        MoTree::change_reports(self, changed)
    }
}
