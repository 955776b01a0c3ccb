//! The server side of a bootstrap session (docs/protocol.md section 11), sans-IO.
//!
//! A bootstrap server provisions management accounts (DMAcc instances) on a
//! device over a mutually authenticated connection:
//!
//! 1. [`account_data`] turns the accounts to provision ([`dm_tree::DmAcc`],
//!    one per management server) into the MO serialization body the
//!    server's repository serves (one item per account, each addressed to
//!    `urn:oma:mo:oma-dm-dmacc:1.2//`: a new instance; the device replaces an
//!    account with the same `SrvID` in place when this bootstrap server may).
//! 2. [`BootstrapSession`] runs the session: it accepts the Package#1,
//!    sends the HGET of that body ([`BootstrapSession::provision`]), reads
//!    the HGET's status from the Package#3 ([`BootstrapOutcome`]), and ends
//!    with END once the application has acted on the outcome (registered the
//!    device with the management server, or not).
//!
//! The session can send only commands a bootstrap session allows (section
//! 11.3): HGET of DMAcc data, DELETE of DMAcc instances
//! ([`BootstrapSession::roll_back`]), CONT and END.

use serde::{Deserialize, Serialize};

use dm_tree::{DmAcc, NodeId};
use dm_types::{
    Alert, ClientUri, Command, DevId, Miid, MoItem, MosEntry, NonEmpty, ServerUri, Status,
    StatusCode,
};

use crate::{
    Error, Initiator, PackageRequest, ServerConfig, ServerEvent, ServerSession, SessionState,
};

/// The ClientURI of every item of the DMAcc data: a new DMAcc instance
/// (the device assigns its MIID, or replaces the account with the same
/// `SrvID` in place).
pub const NEW_DMACC_INSTANCE: &str = "urn:oma:mo:oma-dm-dmacc:1.2//";

/// The MIID the DMAcc data is built under before its ClientURI is set to
/// [`NEW_DMACC_INSTANCE`] (it never appears in the data).
const PLACEHOLDER_MIID: &str = "bootstrap";

/// The MO serialization items that provision `accounts`: one item per
/// account, in order, each the whole DMAcc instance (secret nodes included)
/// addressed to [`NEW_DMACC_INSTANCE`].
///
/// ```
/// use dm_session::bootstrap_server::{NEW_DMACC_INSTANCE, account_items};
/// use dm_tree::DmAcc;
/// use dm_types::{ServerId, ServerUri};
///
/// let account = DmAcc::new(ServerId::new("dm.example")?, ServerUri::new("https://dm.example/dm")?);
/// let items = account_items(&[account]);
/// assert_eq!(items.len(), 1);
/// assert_eq!(items[0].client_uri.as_str(), NEW_DMACC_INSTANCE);
/// assert_eq!(items[0].data.name().as_str(), "DMAcc");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn account_items(accounts: &[DmAcc]) -> Vec<MoItem> {
    let miid =
        Miid::new(PLACEHOLDER_MIID).unwrap_or_else(|_| unreachable!("constant MIID is valid"));
    let client_uri = ClientUri::parse(NEW_DMACC_INSTANCE)
        .unwrap_or_else(|_| unreachable!("constant ClientURI is valid"));
    accounts
        .iter()
        .filter_map(|account| {
            let data = account.to_instance(miid.clone()).to_mo_data(NodeId::ROOT)?;
            Some(MoItem {
                ddf: None,
                client_uri: client_uri.clone(),
                cache_validator: None,
                data,
            })
        })
        .collect()
}

/// The body (`application/dmmo+json`) the bootstrap server's repository
/// answers the device's HGET with: [`account_items`] encoded.
///
/// ```
/// use dm_session::bootstrap_server::account_data;
/// use dm_tree::{DmAcc, NotificationAuth};
/// use dm_types::{ServerId, ServerUri};
///
/// let mut account = DmAcc::new(ServerId::new("dm.example")?, ServerUri::new("https://dm.example/dm")?);
/// account.notification = Some(NotificationAuth::sha256(b"secret".to_vec(), b"data".to_vec()));
/// let body = account_data(&[account]);
/// let items = dm_codec::decode_mo_serialization(&body, &dm_codec::Limits::default())?;
/// assert_eq!(items[0].client_uri.as_str(), "urn:oma:mo:oma-dm-dmacc:1.2//");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn account_data(accounts: &[DmAcc]) -> Vec<u8> {
    dm_codec::encode_mo_serialization(&account_items(accounts))
}

/// What the device answered to the HGET of the DMAcc data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BootstrapOutcome {
    /// `200`: the accounts were written; `written` lists the DMAcc instances
    /// (absolute ClientURIs with the MIIDs the device chose).
    Provisioned {
        /// Where the device wrote the data.
        written: Vec<ClientUri>,
    },
    /// `403`: the user refused the bootstrap, or the device does not let
    /// this bootstrap server write those accounts. Nothing changed.
    Refused,
    /// Any other status: the HGET failed (the repository could not be
    /// read, the data did not fit the tree, ...). Nothing changed.
    Failed(StatusCode),
}

impl BootstrapOutcome {
    /// The outcome an HGET status means.
    ///
    /// ```
    /// use dm_session::bootstrap_server::BootstrapOutcome;
    /// use dm_types::{Status, StatusCode};
    ///
    /// assert_eq!(BootstrapOutcome::of_status(&Status::new(StatusCode::FORBIDDEN)), BootstrapOutcome::Refused);
    /// assert_eq!(
    ///     BootstrapOutcome::of_status(&Status::new(StatusCode::BAD_GATEWAY)),
    ///     BootstrapOutcome::Failed(StatusCode::BAD_GATEWAY),
    /// );
    /// ```
    pub fn of_status(status: &Status) -> BootstrapOutcome {
        match status.code {
            StatusCode::OK => BootstrapOutcome::Provisioned {
                written: status.uris.clone(),
            },
            StatusCode::FORBIDDEN => BootstrapOutcome::Refused,
            code => BootstrapOutcome::Failed(code),
        }
    }

    /// Whether the device now holds the accounts.
    pub fn is_provisioned(&self) -> bool {
        matches!(self, BootstrapOutcome::Provisioned { .. })
    }
}

/// What a bootstrap session's command was for: the tag its commands carry
/// in the [`SessionState`] a server stores between packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BootstrapStep {
    /// The HGET of the DMAcc data.
    Hget,
    /// The DELETE of the accounts written, after a failed registration.
    RollBack,
}

/// What a Package#3 of a bootstrap session said
/// ([`BootstrapSession::handle_package3`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BootstrapStatus {
    /// The HGET's outcome. Act on it (register the device with the
    /// management server when provisioned), then answer with
    /// [`BootstrapSession::respond`] (END), or
    /// [`BootstrapSession::roll_back`] first.
    Hget(BootstrapOutcome),
    /// The status of the roll-back DELETE.
    RolledBack(StatusCode),
}

/// One bootstrap session on the server (docs/protocol.md section 11.3), over
/// [`ServerSession`]: only HGET of DMAcc data, DELETE of DMAcc instances,
/// CONT and END are ever sent.
///
/// ```
/// use dm_session::bootstrap_server::{BootstrapOutcome, BootstrapSession, BootstrapStatus};
/// use dm_session::{PackageRequest, ServerConfig};
/// use dm_types::ServerUri;
///
/// let now_ms = 1_764_000_000_000;
/// let p1 = PackageRequest {
///     content_type: Some("application/vnd.oma.dm.initiation+json"),
///     dev_id: Some("IMEI:1"),
///     authenticated: None,
///     body: br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#,
/// };
/// let mut session = BootstrapSession::start(ServerConfig::default(), &p1, now_ms)?;
/// assert_eq!(session.dev_id().as_str(), "IMEI:1");
/// session.provision(ServerUri::new("https://bs.example/bootstrap/accounts/t0k3n")?);
/// assert_eq!(
///     session.respond(now_ms),
///     br#"{"CMD":[["HGET","https://bs.example/bootstrap/accounts/t0k3n"]]}"#,
/// );
/// let p3 = PackageRequest {
///     content_type: Some("application/vnd.oma.dm.response+json"),
///     body: br#"{"Status":[{"sc":200,"URI":["urn:oma:mo:oma-dm-dmacc:1.2/acc2/"]}]}"#,
///     ..p1
/// };
/// let status = session.handle_package3(&p3, now_ms + 1_000)?;
/// assert!(matches!(status, BootstrapStatus::Hget(BootstrapOutcome::Provisioned { .. })));
/// // Register the device with its management server here, then:
/// assert_eq!(session.respond(now_ms + 1_000), br#"{"CMD":[["END"]]}"#);
/// assert!(session.is_ended());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BootstrapSession {
    inner: ServerSession<BootstrapStep>,
    initiator: Initiator,
    mos: Vec<MosEntry>,
    alerts: Vec<Alert>,
}

impl BootstrapSession {
    /// Accepts a Package#1 at `now_ms` with every check of
    /// [`ServerSession::start`]; its session-start alert must be
    /// `ClientInitiatedMgmt` or `ServerInitiatedMgmt`
    /// ([`Error::NotBootstrapStart`] for `BootstrapComplete`, which belongs to
    /// the management server). The Package#1's other alerts are kept
    /// ([`BootstrapSession::take_alerts`]).
    pub fn start(
        config: ServerConfig,
        request: &PackageRequest<'_>,
        now_ms: u64,
    ) -> Result<BootstrapSession, Error> {
        let inner = ServerSession::start(config, request, now_ms)?;
        let mut session = BootstrapSession {
            inner,
            initiator: Initiator::Client,
            mos: Vec::new(),
            alerts: Vec::new(),
        };
        session.drain_events();
        if session.initiator == Initiator::Bootstrap {
            return Err(Error::NotBootstrapStart);
        }
        Ok(session)
    }

    /// Continues a bootstrap session from its stored state (see
    /// [`ServerSession::resume`]).
    pub fn resume(config: ServerConfig, state: SessionState<BootstrapStep>) -> BootstrapSession {
        BootstrapSession {
            inner: ServerSession::resume(config, state),
            initiator: Initiator::Client,
            mos: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// The session's state, to store between packages.
    pub fn state(&self) -> &SessionState<BootstrapStep> {
        self.inner.state()
    }

    /// The session's state, by value.
    pub fn into_state(self) -> SessionState<BootstrapStep> {
        self.inner.into_state()
    }

    /// The device.
    pub fn dev_id(&self) -> &DevId {
        self.inner.dev_id()
    }

    /// Who started the session (from the Package#1; [`Initiator::Client`]
    /// after [`BootstrapSession::resume`]).
    pub fn initiator(&self) -> Initiator {
        self.initiator
    }

    /// The MO list of the Package#1 (DevInfo and the DMAcc instances this
    /// bootstrap server may manage); empty after a resume.
    pub fn mos(&self) -> &[MosEntry] {
        &self.mos
    }

    /// The generic alerts the device sent so far (other than the
    /// session-start alert), taken out.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// Queues the HGET of the DMAcc data from `repository` (the URI where
    /// the server serves [`account_data`] to this device). The device's
    /// policy wants it on the same origin as the bootstrap ServerURI.
    pub fn provision(&mut self, repository: ServerUri) {
        self.inner.enqueue(
            BootstrapStep::Hget,
            Command::Hget {
                source: repository,
                target: None,
            },
        );
    }

    /// After a provisioned outcome the server could not act on (the
    /// management server did not accept the registration): queues the
    /// DELETE of the DMAcc instances the HGET wrote, so the device does not
    /// keep accounts its management server does not know. Only DMAcc
    /// instance roots are deleted; returns whether a DELETE was queued.
    pub fn roll_back(&mut self, written: &[ClientUri]) -> bool {
        let targets: Vec<ClientUri> = written
            .iter()
            .filter(|uri| {
                uri.moid() == dm_tree::DMACC_MOID && uri.miid().is_some() && uri.is_instance_root()
            })
            .cloned()
            .collect();
        match NonEmpty::new(targets) {
            Some(targets) => {
                self.inner
                    .enqueue(BootstrapStep::RollBack, Command::Delete { targets });
                true
            }
            None => false,
        }
    }

    /// The Package#2 body answering the last package: the commands queued
    /// (with CONT first when configured), or END when nothing is queued.
    pub fn respond(&mut self, now_ms: u64) -> Vec<u8> {
        let body = self.inner.respond(now_ms);
        self.drain_events();
        body
    }

    /// The headers of every Package#2 answer (see
    /// [`ServerSession::response_headers`]).
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        self.inner.response_headers()
    }

    /// Accepts a Package#3 (every check of
    /// [`ServerSession::handle_package3`]) and says what the device
    /// answered to the bootstrap command it carried.
    ///
    /// Errors: those of [`ServerSession::handle_package3`];
    /// [`Error::NoBootstrapStatus`] when the package answered no bootstrap
    /// command (answer it with END: [`BootstrapSession::respond`]).
    pub fn handle_package3(
        &mut self,
        request: &PackageRequest<'_>,
        now_ms: u64,
    ) -> Result<BootstrapStatus, Error> {
        self.inner.handle_package3(request, now_ms)?;
        match self.drain_events() {
            Some(status) => Ok(status),
            None => Err(Error::NoBootstrapStatus),
        }
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.inner.is_ended()
    }

    /// Reads the inner session's events; returns the last bootstrap status.
    fn drain_events(&mut self) -> Option<BootstrapStatus> {
        let mut found = None;
        while let Some(event) = self.inner.poll_event() {
            match event {
                ServerEvent::Started { initiator, mos, .. } => {
                    self.initiator = initiator;
                    self.mos = mos.unwrap_or_default();
                }
                ServerEvent::Alert(alert) => self.alerts.push(alert),
                ServerEvent::Result { tag, status, .. } => {
                    found = Some(match tag {
                        BootstrapStep::Hget => {
                            BootstrapStatus::Hget(BootstrapOutcome::of_status(&status))
                        }
                        BootstrapStep::RollBack => BootstrapStatus::RolledBack(status.code),
                    });
                }
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_tree::{MoTree, NotificationAuth};
    use dm_types::{ServerId, StatusCode};

    const NOW: u64 = 1_764_000_000_000;

    fn package1(alert: &str) -> Vec<u8> {
        format!(
            r#"{{"MOS":[{{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}}],"Alert":[{{"AlertType":"{alert}"}},{{"AlertType":"urn:dm-sdk:at:1.0:NotificationAddress","Data":{{"Address":"udp://10.0.0.1:5000"}}}}]}}"#
        )
        .into_bytes()
    }

    fn request(body: &[u8]) -> PackageRequest<'_> {
        PackageRequest {
            content_type: Some("application/vnd.oma.dm.initiation+json"),
            dev_id: Some("IMEI:1"),
            authenticated: None,
            body,
        }
    }

    fn status_request(body: &[u8]) -> PackageRequest<'_> {
        PackageRequest {
            content_type: Some("application/vnd.oma.dm.response+json"),
            dev_id: Some("IMEI:1"),
            authenticated: None,
            body,
        }
    }

    fn started() -> BootstrapSession {
        let p1 = package1("urn:oma:at:dm:2.0:ClientInitiatedMgmt");
        let mut session =
            BootstrapSession::start(ServerConfig::default(), &request(&p1), NOW).unwrap();
        session.provision(ServerUri::new("https://bs.example/bootstrap/accounts/t").unwrap());
        let p2 = session.respond(NOW);
        assert_eq!(
            p2,
            br#"{"CMD":[["HGET","https://bs.example/bootstrap/accounts/t"]]}"#
        );
        session
    }

    fn account() -> DmAcc {
        let mut account = DmAcc::new(
            ServerId::new("dm.example").unwrap(),
            ServerUri::new("https://dm.example/dm").unwrap(),
        );
        account.name = "Example DM".into();
        account
            .perm_moids
            .push(dm_types::Moid::new("urn:oma:mo:oma-dm-devinfo:1.0").unwrap());
        account.notification = Some(NotificationAuth::sha256(vec![7; 32], b"auth".to_vec()));
        account
    }

    #[test]
    fn account_data_round_trips_through_a_device_tree() {
        let body = account_data(&[account(), {
            let mut second = account();
            second.server_id = ServerId::new("dm2.example").unwrap();
            second
        }]);
        let items = dm_codec::decode_mo_serialization(&body, &dm_codec::Limits::default()).unwrap();
        assert_eq!(items.len(), 2);
        // The device reads each item back as the account it describes,
        // secret included.
        let mut tree = MoTree::new();
        for (n, item) in items.iter().enumerate() {
            assert_eq!(item.client_uri.as_str(), NEW_DMACC_INSTANCE);
            let miid = Miid::new(format!("acc{}", n + 1)).unwrap();
            let instance = dm_tree::MoInstance::new(
                dm_types::Moid::new(dm_tree::DMACC_MOID).unwrap(),
                miid,
                &item.data,
            );
            let read = DmAcc::from_instance(&instance).unwrap();
            tree.add_dm_acc(&read).unwrap();
            if n == 0 {
                assert_eq!(read, account());
            }
        }
        assert_eq!(tree.dm_accs().len(), 2);
    }

    #[test]
    fn provisioned_then_end() {
        let mut session = started();
        let status = session
            .handle_package3(
                &status_request(
                    br#"{"Status":[{"sc":200,"URI":["urn:oma:mo:oma-dm-dmacc:1.2/acc2/"]}]}"#,
                ),
                NOW + 1,
            )
            .unwrap();
        let BootstrapStatus::Hget(BootstrapOutcome::Provisioned { written }) = status else {
            panic!("{status:?}");
        };
        assert_eq!(written[0].as_str(), "urn:oma:mo:oma-dm-dmacc:1.2/acc2/");
        assert_eq!(session.respond(NOW + 2), br#"{"CMD":[["END"]]}"#);
        assert!(session.is_ended());
    }

    #[test]
    fn refused_and_failed_statuses() {
        for (sc, expected) in [
            (403, BootstrapOutcome::Refused),
            (502, BootstrapOutcome::Failed(StatusCode::BAD_GATEWAY)),
            (
                405,
                BootstrapOutcome::Failed(StatusCode::COMMAND_NOT_ALLOWED),
            ),
        ] {
            let mut session = started();
            let body = format!(r#"{{"Status":[{{"sc":{sc}}}]}}"#);
            let status = session
                .handle_package3(&status_request(body.as_bytes()), NOW + 1)
                .unwrap();
            assert_eq!(status, BootstrapStatus::Hget(expected));
            assert!(!status_is_provisioned(&status));
            assert_eq!(session.respond(NOW + 2), br#"{"CMD":[["END"]]}"#);
        }
    }

    fn status_is_provisioned(status: &BootstrapStatus) -> bool {
        matches!(status, BootstrapStatus::Hget(outcome) if outcome.is_provisioned())
    }

    #[test]
    fn roll_back_deletes_only_dmacc_instances_then_ends() {
        let mut session = started();
        let body = br#"{"Status":[{"sc":200,"URI":["urn:oma:mo:oma-dm-dmacc:1.2/acc2/","urn:oma:mo:oma-dm-devinfo:1.0/devinfo/","urn:oma:mo:oma-dm-dmacc:1.2/acc3/Name"]}]}"#;
        let BootstrapStatus::Hget(BootstrapOutcome::Provisioned { written }) = session
            .handle_package3(&status_request(body), NOW + 1)
            .unwrap()
        else {
            panic!("not provisioned");
        };
        assert!(session.roll_back(&written));
        assert_eq!(
            session.respond(NOW + 2),
            br#"{"CMD":[["DELETE","urn:oma:mo:oma-dm-dmacc:1.2/acc2/"]]}"#
        );
        let status = session
            .handle_package3(&status_request(br#"{"Status":[{"sc":200}]}"#), NOW + 3)
            .unwrap();
        assert_eq!(status, BootstrapStatus::RolledBack(StatusCode::OK));
        assert_eq!(session.respond(NOW + 4), br#"{"CMD":[["END"]]}"#);
    }

    #[test]
    fn roll_back_of_nothing_queues_nothing() {
        let mut session = started();
        let uri = ClientUri::parse("urn:oma:mo:oma-dm-devinfo:1.0/devinfo/").unwrap();
        assert!(!session.roll_back(&[uri]));
        assert!(!session.roll_back(&[]));
    }

    #[test]
    fn package1_alerts_and_mos_are_kept() {
        let p1 = package1("urn:oma:at:dm:2.0:ServerInitiatedMgmt");
        let mut session =
            BootstrapSession::start(ServerConfig::default(), &request(&p1), NOW).unwrap();
        assert_eq!(session.initiator(), Initiator::Server(None));
        assert_eq!(session.mos().len(), 1);
        let alerts = session.take_alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].alert_type.as_str(),
            dm_types::AlertType::NOTIFICATION_ADDRESS
        );
        assert!(session.take_alerts().is_empty());
    }

    #[test]
    fn bootstrap_complete_is_not_a_bootstrap_session() {
        let p1 = package1("urn:oma:at:dm:2.0:BootstrapComplete");
        let err = BootstrapSession::start(ServerConfig::default(), &request(&p1), NOW).unwrap_err();
        assert_eq!(err, Error::NotBootstrapStart);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn wrong_status_count_fails_the_session() {
        let mut session = started();
        let err = session
            .handle_package3(&status_request(br#"{"Status":[]}"#), NOW + 1)
            .unwrap_err();
        assert!(matches!(err, Error::StatusCount { .. }));
        assert!(session.is_ended());
    }

    #[test]
    fn cont_comes_first_and_its_status_is_skipped() {
        let p1 = package1("urn:oma:at:dm:2.0:ClientInitiatedMgmt");
        let config = ServerConfig::default()
            .with_session_uri(ServerUri::new("https://bs.example/dm/s/1").unwrap());
        let mut session = BootstrapSession::start(config, &request(&p1), NOW).unwrap();
        session.provision(ServerUri::new("https://bs.example/bootstrap/accounts/t").unwrap());
        assert_eq!(
            session.respond(NOW),
            br#"{"CMD":[["CONT","https://bs.example/dm/s/1"],["HGET","https://bs.example/bootstrap/accounts/t"]]}"#
        );
        let status = session
            .handle_package3(
                &status_request(br#"{"Status":[{"sc":200},{"sc":403}]}"#),
                NOW + 1,
            )
            .unwrap();
        assert_eq!(status, BootstrapStatus::Hget(BootstrapOutcome::Refused));
    }

    #[test]
    fn state_resumes() {
        let session = started();
        let state = session.into_state();
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains("\"hget\""));
        let state: SessionState<BootstrapStep> = serde_json::from_str(&json).unwrap();
        let mut session = BootstrapSession::resume(ServerConfig::default(), state);
        let status = session
            .handle_package3(&status_request(br#"{"Status":[{"sc":403}]}"#), NOW + 1)
            .unwrap();
        assert_eq!(status, BootstrapStatus::Hget(BootstrapOutcome::Refused));
    }
}
