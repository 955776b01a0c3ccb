//! The client side of one DM session, sans-IO.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dm_codec::{Limits, mime};
use dm_tree::{ExecOutcome, Principal};
use dm_types::{
    Alert, Command, CommandEntry, DevId, MoItem, Moid, Package1, Package3, ServerId, ServerUri,
    Status, StatusCode,
};

use crate::bootstrap::{self, AccountChange, AccountChangeKind, BootstrapApproval, SessionRole};
use crate::client_end::{AbortReason, ClientEnd};
use crate::request::{Failure, Method, Request, RequestId, RequestKind, Response};
use crate::stats::ClientStats;
use crate::{Error, ManagementTree};

/// Settings of a [`ClientSession`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The device (`OMADM-DevID`).
    pub dev_id: DevId,
    /// The server of the session (DMAcc `SrvID`): every command runs on its
    /// behalf.
    pub server_id: ServerId,
    /// Where Package#1 goes (DMAcc `SrvURI`).
    pub server_uri: ServerUri,
    /// Decoding limits for Package#2 and repository bodies.
    pub limits: Limits,
    /// Most Package#2 in one session: a server that never sends END is cut
    /// off there.
    pub packages_per_session: usize,
    /// Longest a session may last; past it the session is aborted
    /// ([`ClientSession::handle_timeout`]).
    pub max_duration: Duration,
    /// The device's Web Browser Component, which SHOW launches. `None` (the
    /// default): the device has none, and every SHOW answers `500`
    /// (docs/protocol.md section 4, "Unsupported features").
    pub browser: Option<Arc<dyn BrowserLauncher>>,
    /// Whether the device is busy: while it is set, commands answer `503`
    /// instead of running (see [`Busy`]).
    pub busy: Busy,
    /// What the server is: a management server (the default) or, over the
    /// connection of a bootstrap account, a bootstrap server
    /// (docs/protocol.md section 11.3; then `server_id` is the bootstrap
    /// account's `SrvID` and `server_uri` its `Auth/Bootstrap/ServerURI`).
    pub role: SessionRole,
    /// Asked before each DMAcc write or delete of a bootstrap session takes
    /// effect; `None`: every change is approved.
    pub bootstrap_approval: Option<Arc<dyn BootstrapApproval>>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("dev_id", &self.dev_id)
            .field("server_id", &self.server_id)
            .field("server_uri", &self.server_uri)
            .field("limits", &self.limits)
            .field("packages_per_session", &self.packages_per_session)
            .field("max_duration", &self.max_duration)
            .field("browser", &self.browser.as_ref().map(|_| "BrowserLauncher"))
            .field("busy", &self.busy)
            .field("role", &self.role)
            .field(
                "bootstrap_approval",
                &self
                    .bootstrap_approval
                    .as_ref()
                    .map(|_| "BootstrapApproval"),
            )
            .finish()
    }
}

impl ClientConfig {
    /// A configuration with default limits, at most 64 packages and 10
    /// minutes, no browser component and a device that is not busy.
    ///
    /// ```
    /// use dm_session::ClientConfig;
    /// use dm_types::{DevId, ServerId, ServerUri};
    ///
    /// let config = ClientConfig::new(DevId::new("IMEI:1")?, ServerId::new("srv1")?, ServerUri::new("https://dm.example/dm")?);
    /// assert_eq!(config.packages_per_session, 64);
    /// assert!(config.browser.is_none());
    /// assert!(!config.busy.is_busy());
    /// assert_eq!(config.role, dm_session::SessionRole::Management);
    /// assert_eq!(config.principal(), dm_tree::Principal::Server(ServerId::new("srv1")?));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn new(dev_id: DevId, server_id: ServerId, server_uri: ServerUri) -> ClientConfig {
        ClientConfig {
            dev_id,
            server_id,
            server_uri,
            limits: Limits::default(),
            packages_per_session: 64,
            max_duration: Duration::from_secs(600),
            browser: None,
            busy: Busy::default(),
            role: SessionRole::Management,
            bootstrap_approval: None,
        }
    }

    /// The principal the session's commands run as:
    /// [`Principal::Server`] of `server_id`, or [`Principal::Bootstrap`] in
    /// a bootstrap session.
    pub fn principal(&self) -> Principal {
        match self.role {
            SessionRole::Management => Principal::Server(self.server_id.clone()),
            SessionRole::Bootstrap => Principal::Bootstrap(self.server_id.clone()),
        }
    }
}

/// The device's Web Browser Component as SHOW uses it (docs/protocol.md
/// section 4): [`BrowserLauncher::launch`] opens the page and returns at
/// once, without waiting for the user. The engine answers SHOW with `200`
/// when the launch worked and `500` when it failed; the reason stays on the
/// device (it never reaches the server).
///
/// ```
/// use dm_session::BrowserLauncher;
/// use dm_types::ServerUri;
///
/// struct Kiosk;
///
/// impl BrowserLauncher for Kiosk {
///     fn launch(&self, page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///         if page.as_str().starts_with("https://") {
///             Ok(()) // hand the page to the browser here
///         } else {
///             Err("the kiosk opens HTTPS pages only".into())
///         }
///     }
/// }
/// ```
pub trait BrowserLauncher: Send + Sync {
    /// Opens `page` in the browser; an error when the launch failed.
    fn launch(&self, page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Whether the device is busy, set by the product from anywhere (cheap to
/// clone: every clone shares the one flag) and read by the engine before
/// each command.
///
/// While busy, every command of a Package#2 answers `503` (docs/protocol.md
/// section 5: "the client is busy; try later") without running, except:
/// - END and CONT, which steer the session rather than act on the device:
///   END still ends it (a busy device must not keep the server's session
///   open), and CONT still moves where Package#3 goes (refusing it would
///   send the `503`s to a place the server no longer reads);
/// - a malformed or unknown command, which keeps its `400`/`501`: trying
///   it later cannot succeed, so "try later" would mislead.
///
/// The flag is read as each command is reached, so a device may become busy
/// (or free) in the middle of a package.
///
/// ```
/// use dm_session::Busy;
///
/// let busy = Busy::default();
/// let shared = busy.clone();
/// shared.set(true);
/// assert!(busy.is_busy());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Busy(Arc<AtomicBool>);

impl Busy {
    /// Marks the device busy (`true`) or free (`false`).
    pub fn set(&self, busy: bool) {
        self.0.store(busy, Ordering::SeqCst);
    }

    /// Whether the device is busy.
    pub fn is_busy(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why the client opens the session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// On its own (`ClientInitiatedMgmt`).
    Client,
    /// Answering a verified notification (`ServerInitiatedMgmt`).
    Server {
        /// The notification's NOTIFICATION-ID.
        notification_id: Option<u16>,
    },
    /// First session after a bootstrap (`BootstrapComplete`).
    Bootstrap,
    /// Delivering asynchronous results (EXEC with a ServerURI): Package#1
    /// goes to `uri`.
    Report {
        /// Where to post Package#1.
        uri: ServerUri,
    },
}

/// What the application learns from [`ClientSession::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// SHOW: the [`BrowserLauncher`] opened this page (the command answered
    /// `200`). A failed or impossible launch answers `500` and raises no
    /// event.
    LaunchBrowser(ServerUri),
    /// DEFAULT: where to fetch configuration for `moid` when it is missing.
    Default {
        /// The MO type.
        moid: Moid,
        /// The repository resource.
        source: ServerUri,
    },
    /// EXEC started asynchronously; its result goes to `report_to` (or the
    /// server URI) in a later session.
    ExecStarted {
        /// The executed node.
        node: dm_types::ClientUri,
        /// Where the result goes, when the server named a place.
        report_to: Option<ServerUri>,
    },
    /// An EXEC with a ServerURI finished at once: the command answered `202`
    /// (a ServerURI forces asynchronous reporting, docs/protocol.md section
    /// 4), and `alert` holds the result. The application must deliver it in
    /// a new session whose Package#1 goes to `report_to`
    /// ([`Trigger::Report`]); it is never sent in this session.
    ExecFinished {
        /// The executed node, as the server named it.
        node: dm_types::ClientUri,
        /// The EXEC's ServerURI.
        report_to: ServerUri,
        /// The final status the handler gave.
        status: StatusCode,
        /// The result: the handler's alert type
        /// ([`ManagementTree::exec_result_alert`]), by default
        /// `ExecComplete` with `Data` `{"sc": n}`.
        alert: Alert,
    },
    /// A bootstrap session created or replaced the account of `server_id`
    /// (docs/protocol.md section 11.3): the device owes a management account
    /// a session with `BootstrapComplete`.
    AccountProvisioned {
        /// The account's `SrvID`.
        server_id: ServerId,
        /// Whether the written account is itself a bootstrap account.
        bootstrap: bool,
    },
    /// A bootstrap session deleted the account of `server_id`.
    AccountRemoved {
        /// The account's `SrvID`.
        server_id: ServerId,
    },
    /// The session is over.
    Ended(ClientEnd),
}

/// What the session waits for.
#[derive(Debug)]
enum Waiting {
    /// The Package#2 answering the package sent as `RequestId`.
    Package(RequestId),
    /// The repository's answer to request `id`, made for the command at
    /// `index` of the current Package#2.
    Repository {
        id: RequestId,
        index: usize,
        access: RepositoryAccess,
    },
    Nothing,
}

/// What a repository request does for its command: the answer is matched
/// to it without looking the command up again.
#[derive(Debug)]
enum RepositoryAccess {
    /// HGET: the MO data goes to `target` (`None`: where its ClientURIs
    /// say).
    Read { target: Option<dm_types::ClientUri> },
    /// HPUT or HPOST: only the status counts.
    Write,
}

/// One client-side session: builds Package#1, executes each Package#2
/// strictly in order against a [`ManagementTree`], asks the caller to perform
/// repository requests for HGET/HPUT/HPOST, builds Package#3, obeys CONT and
/// END. No I/O and no clock.
///
/// Loop: take [`ClientSession::poll_request`], perform it, feed the answer to
/// [`ClientSession::handle_response`] (or, when no usable answer came, the
/// [`Failure`] to [`ClientSession::handle_failure`]); act on
/// [`ClientSession::poll_event`]; stop when [`ClientSession::is_ended`].
/// The engine decides everything that follows an answer or its absence,
/// and counts what it did ([`ClientSession::stats`]).
///
/// ```
/// use dm_session::{ClientConfig, ClientEnd, ClientEvent, ClientSession, Response, Trigger};
/// use dm_tree::MoTree;
/// use dm_types::{DevId, ServerId, ServerUri};
///
/// let mut tree = MoTree::new();
/// let config = ClientConfig::new(DevId::new("IMEI:1")?, ServerId::new("srv1")?, ServerUri::new("https://dm.example/dm")?);
/// let mut session = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), std::time::Instant::now());
/// let package1 = session.poll_request().expect("Package#1 to send");
/// assert_eq!(package1.content_type, Some("application/vnd.oma.dm.initiation+json"));
/// let answer = Response {
///     status: 200,
///     content_type: Some("application/vnd.oma.dm.request+json".into()),
///     omadm_accept: None,
///     body: br#"{"CMD":[["END"]]}"#.to_vec(),
/// };
/// session.handle_response(package1.id, &answer, &mut tree)?;
/// assert!(session.is_ended());
/// assert_eq!(session.poll_event(), Some(ClientEvent::Ended(ClientEnd::Completed)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    current_uri: ServerUri,
    next_id: u64,
    outbox: VecDeque<Request>,
    waiting: Waiting,
    commands: Vec<CommandEntry>,
    ends: bool,
    next_index: usize,
    statuses: Vec<Status>,
    /// Change reports sent whose answers (not awaited) may still come.
    reports_in_flight: Vec<RequestId>,
    stats: ClientStats,
    events: VecDeque<ClientEvent>,
    ended: bool,
    deadline: Instant,
    /// The most recent `OMADM-Accept` of the session (absent: MO data only).
    omadm_accept: Option<String>,
    /// Alerts to deliver with the next Package#3.
    alerts: Vec<Alert>,
}

impl ClientSession {
    /// Opens a session: Package#1 with the MO list visible to the server,
    /// the session-start alert of `trigger` and `alerts`.
    pub fn new(
        config: ClientConfig,
        trigger: Trigger,
        tree: &impl ManagementTree,
        alerts: Vec<Alert>,
        now: Instant,
    ) -> ClientSession {
        let start = match &trigger {
            Trigger::Client | Trigger::Report { .. } => Alert::client_initiated(),
            Trigger::Server {
                notification_id: Some(id),
            } => Alert::server_initiated(*id),
            Trigger::Server {
                notification_id: None,
            } => {
                let mut alert = Alert::server_initiated(0);
                alert.data = None;
                alert.data_type = None;
                alert
            }
            Trigger::Bootstrap => Alert::bootstrap_complete(),
        };
        let package = Package1 {
            mos: Some(tree.mo_list(&config.principal())),
            alerts: std::iter::once(start).chain(alerts).collect(),
        };
        let uri = match trigger {
            Trigger::Report { uri } => uri,
            _ => config.server_uri.clone(),
        };
        let config_duration = config.max_duration;
        let mut session = ClientSession {
            current_uri: uri.clone(),
            config,
            next_id: 0,
            outbox: VecDeque::new(),
            waiting: Waiting::Nothing,
            commands: Vec::new(),
            ends: false,
            next_index: 0,
            statuses: Vec::new(),
            reports_in_flight: Vec::new(),
            stats: ClientStats::default(),
            events: VecDeque::new(),
            ended: false,
            deadline: now + config_duration,
            omadm_accept: None,
            alerts: Vec::new(),
        };
        let id = session.send(
            RequestKind::Package,
            Method::Post,
            uri,
            dm_codec::encode_package1(&package),
        );
        if let Some(package1) = session.outbox.back_mut() {
            package1.content_type = Some(mime::INITIATION);
        }
        session.waiting = Waiting::Package(id);
        session
    }

    /// Queues a request of `kind` and counts it.
    fn send(
        &mut self,
        kind: RequestKind,
        method: Method,
        uri: ServerUri,
        body: Vec<u8>,
    ) -> RequestId {
        self.next_id += 1;
        let id = RequestId::new(self.next_id);
        self.stats.bytes_sent = self.stats.bytes_sent.saturating_add(body.len() as u64);
        match kind {
            RequestKind::Package => self.stats.packages_sent += 1,
            RequestKind::RepositoryRead | RequestKind::RepositoryWrite => {
                self.stats.repository_requests += 1;
            }
            RequestKind::ChangeReport => {
                self.stats.change_reports += 1;
                self.reports_in_flight.push(id);
            }
            RequestKind::DefaultFetch => {}
        }
        self.outbox.push_back(Request::new(
            id,
            kind,
            method,
            uri,
            &self.config.dev_id,
            body,
            &self.config.limits,
        ));
        id
    }

    /// What the session counted so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Queues a generic alert for the next Package#3 (alerts that exist
    /// when the session opens go in Package#1: see [`ClientSession::new`]).
    /// A session that ends before another Package#3 (END, abort) keeps
    /// them: take them back with [`ClientSession::take_unsent_alerts`] and
    /// deliver them in a later session.
    pub fn queue_alert(&mut self, alert: Alert) {
        self.alerts.push(alert);
    }

    /// The alerts queued with [`ClientSession::queue_alert`] that no
    /// Package#3 carried yet (all of them once the session is over without
    /// sending another Package#3). An alert that left in a Package#3 is
    /// not returned, even if its answer never came.
    pub fn take_unsent_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// The next HTTP request to perform.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<Request> {
        self.outbox.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// When [`ClientSession::handle_timeout`] must be called: the end of the
    /// session's allowed duration.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.ended).then_some(self.deadline)
    }

    /// Aborts the session when `now` is past its allowed duration
    /// ([`AbortReason::SessionTooLong`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline {
            self.abort(AbortReason::SessionTooLong);
        }
    }

    /// Ends a session the caller stops driving before its end
    /// ([`AbortReason::Abandoned`]); nothing if it is over.
    pub fn abandon(&mut self) {
        self.abort(AbortReason::Abandoned);
    }

    fn abort(&mut self, reason: AbortReason) {
        self.end_early(ClientEnd::Aborted(reason));
    }

    fn end_early(&mut self, end: ClientEnd) {
        if !self.ended {
            self.ended = true;
            self.waiting = Waiting::Nothing;
            self.outbox.clear();
            self.events.push_back(ClientEvent::Ended(end));
        }
    }

    /// Feeds the answer to request `id`. Poll requests and events again
    /// afterwards.
    ///
    /// Errors: [`Error::NotAwaited`] when the session waits for no answer
    /// to `id` — an unknown request, one already answered (a stale or
    /// repeated answer), or one of a session that ended; the answer is
    /// then ignored. Answers to change reports are taken (and ignored)
    /// once.
    pub fn handle_response(
        &mut self,
        id: RequestId,
        response: &Response,
        tree: &mut impl ManagementTree,
    ) -> Result<(), Error> {
        if self.report_answered(id) {
            self.count_received(response);
            return Ok(());
        }
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Package(expected) if expected == id => {
                self.count_received(response);
                self.package2(response, tree);
            }
            Waiting::Repository {
                id: expected,
                index,
                access,
            } if expected == id => {
                self.count_received(response);
                let (code, uris) = self.repository_answer(access, response, tree);
                self.resume(index, code, uris, tree);
            }
            waiting => {
                self.waiting = waiting;
                return Err(Error::NotAwaited(id));
            }
        }
        Ok(())
    }

    /// Reports that request `id` got no usable answer: no HTTP answer at
    /// all, or a body over its `response_limit`. The engine decides: a
    /// package without answer aborts the session
    /// ([`AbortReason::NoAnswer`], [`AbortReason::PackageTooLarge`]); a
    /// repository request answers its command (`502`, or `413` for an HGET
    /// body over [`Limits::mo_data_bytes`]) and the package goes on; a
    /// change report is not awaited, so nothing follows. Poll requests and
    /// events again afterwards.
    ///
    /// Errors: [`Error::NotAwaited`], as for
    /// [`ClientSession::handle_response`].
    ///
    /// ```
    /// use dm_session::{AbortReason, ClientConfig, ClientEnd, ClientEvent, ClientSession, Failure, TransportFailure, Trigger};
    /// use dm_tree::MoTree;
    /// use dm_types::{DevId, ServerId, ServerUri};
    ///
    /// let mut tree = MoTree::new();
    /// let config = ClientConfig::new(DevId::new("IMEI:1")?, ServerId::new("srv1")?, ServerUri::new("https://dm.example/dm")?);
    /// let mut session = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), std::time::Instant::now());
    /// let package1 = session.poll_request().expect("Package#1");
    /// let failure = Failure::NoAnswer { kind: TransportFailure::Connect, detail: "connection refused".into() };
    /// session.handle_failure(package1.id, failure, &mut tree)?;
    /// assert!(matches!(
    ///     session.poll_event(),
    ///     Some(ClientEvent::Ended(ClientEnd::Aborted(AbortReason::NoAnswer { kind: TransportFailure::Connect, .. })))
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_failure(
        &mut self,
        id: RequestId,
        failure: Failure,
        tree: &mut impl ManagementTree,
    ) -> Result<(), Error> {
        if self.report_answered(id) {
            self.stats.failures += 1;
            return Ok(());
        }
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Package(expected) if expected == id => {
                self.stats.failures += 1;
                self.abort(match failure {
                    Failure::NoAnswer { kind, detail } => AbortReason::NoAnswer { kind, detail },
                    Failure::BodyTooLarge => AbortReason::PackageTooLarge {
                        limit: self.config.limits.package_bytes,
                    },
                });
            }
            Waiting::Repository {
                id: expected,
                index,
                access,
            } if expected == id => {
                self.stats.failures += 1;
                let code = match (failure, access) {
                    (Failure::BodyTooLarge, RepositoryAccess::Read { .. }) => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    _ => StatusCode::BAD_GATEWAY,
                };
                self.resume(index, code, Vec::new(), tree);
            }
            waiting => {
                self.waiting = waiting;
                return Err(Error::NotAwaited(id));
            }
        }
        Ok(())
    }

    /// Whether `id` is a change report in flight (then no longer).
    fn report_answered(&mut self, id: RequestId) -> bool {
        let Some(position) = self.reports_in_flight.iter().position(|r| *r == id) else {
            return false;
        };
        self.reports_in_flight.swap_remove(position);
        true
    }

    fn count_received(&mut self, response: &Response) {
        self.stats.bytes_received = self
            .stats
            .bytes_received
            .saturating_add(response.body.len() as u64);
    }

    /// Records the status of the repository command at `index` and runs
    /// the rest of the package.
    fn resume(
        &mut self,
        index: usize,
        code: StatusCode,
        uris: Vec<dm_types::ClientUri>,
        tree: &mut impl ManagementTree,
    ) {
        self.statuses.push(Status {
            code,
            uris,
            data: Vec::new(),
        });
        self.stats.commands_answered += 1;
        self.next_index = index + 1;
        self.run(tree);
    }

    fn package2(&mut self, response: &Response, tree: &mut impl ManagementTree) {
        if response.status != 200 {
            return self.end_early(ClientEnd::Refused(response.status));
        }
        self.stats.packages_received += 1;
        if !response
            .content_type
            .as_deref()
            .is_some_and(|t| mime::content_type_matches(t, mime::REQUEST))
        {
            return self.abort(AbortReason::NotAPackage {
                content_type: response.content_type.clone(),
            });
        }
        if let Some(accept) = &response.omadm_accept {
            self.omadm_accept = Some(accept.clone());
        }
        let package = match dm_codec::decode_package2(&response.body, &self.config.limits) {
            Ok(package) => package,
            Err(e) => return self.abort(AbortReason::InvalidPackage(e)),
        };
        self.stats.commands_received += package
            .commands()
            .iter()
            .filter(|c| !matches!(c, CommandEntry::Command(Command::End)))
            .count();
        let packages = self.stats.packages_received;
        if !package.ends_session() && packages >= self.config.packages_per_session {
            return self.abort(AbortReason::TooManyPackages { packages });
        }
        self.ends = package.ends_session();
        self.commands = package.into_commands();
        self.next_index = 0;
        self.statuses.clear();
        self.waiting = Waiting::Nothing;
        self.run(tree);
    }

    /// Executes commands from `next_index` until one needs the repository
    /// or the package is done.
    fn run(&mut self, tree: &mut impl ManagementTree) {
        while self.next_index < self.commands.len() {
            let index = self.next_index;
            let entry = self.commands[index].clone();
            let command = match entry {
                CommandEntry::Invalid(invalid) => {
                    self.statuses.push(Status::new(invalid.status()));
                    self.stats.commands_answered += 1;
                    self.next_index += 1;
                    continue;
                }
                CommandEntry::Command(Command::End) => {
                    self.next_index += 1;
                    continue;
                }
                CommandEntry::Command(command) => command,
            };
            if self.config.busy.is_busy() && !matches!(command, Command::Cont { .. }) {
                self.statuses
                    .push(Status::new(StatusCode::SERVICE_UNAVAILABLE));
                self.stats.commands_answered += 1;
                self.next_index += 1;
                continue;
            }
            if self.config.role == SessionRole::Bootstrap
                && !bootstrap::permitted(&command, &self.config.server_uri)
            {
                self.statuses.push(Status::new(StatusCode::FORBIDDEN));
                self.stats.commands_answered += 1;
                self.next_index += 1;
                continue;
            }
            if let Some((id, access)) = self.execute(&command, tree) {
                self.waiting = Waiting::Repository { id, index, access };
                return;
            }
            self.stats.commands_answered += 1;
            self.next_index += 1;
        }
        if self.ends {
            self.ended = true;
            self.waiting = Waiting::Nothing;
            self.events
                .push_back(ClientEvent::Ended(ClientEnd::Completed));
            return;
        }
        let mut alerts = std::mem::take(&mut self.alerts);
        alerts.extend(tree.take_alerts());
        let package = Package3 {
            statuses: std::mem::take(&mut self.statuses),
            alerts,
        };
        let id = self.send(
            RequestKind::Package,
            Method::Post,
            self.current_uri.clone(),
            dm_codec::encode_package3(&package),
        );
        self.waiting = Waiting::Package(id);
    }

    /// Runs one command; returns the repository request it waits for, or
    /// records its status.
    fn execute(
        &mut self,
        command: &Command,
        tree: &mut impl ManagementTree,
    ) -> Option<(RequestId, RepositoryAccess)> {
        let server = self.config.principal();
        let status = |code: Result<(), StatusCode>| {
            Status::new(code.map_or_else(|c| c, |()| StatusCode::OK))
        };
        let outcome = match command {
            Command::Get { targets } => match tree.read(&server, targets.as_slice()) {
                Ok(Some(data)) => Status {
                    code: StatusCode::OK,
                    uris: Vec::new(),
                    data,
                },
                Ok(None) => Status::new(StatusCode::NOT_MODIFIED),
                Err(code) => Status::new(code),
            },
            Command::Delete { targets } => {
                let changes = match self.config.role {
                    SessionRole::Management => Ok(Vec::new()),
                    SessionRole::Bootstrap => {
                        bootstrap::delete_changes(targets.as_slice(), &tree.accounts(&server))
                            .and_then(|changes| self.approved(changes))
                    }
                };
                match changes.and_then(|changes| {
                    tree.delete(&server, targets.as_slice())
                        .map(|removed| (removed, changes))
                }) {
                    Ok((removed, changes)) => {
                        self.report_changes(&removed, tree);
                        self.report_accounts(&changes, tree);
                        Status::new(StatusCode::OK)
                    }
                    Err(code) => Status::new(code),
                }
            }
            Command::Exec { target, report_to } => {
                match (tree.exec(&server, target, report_to.as_ref()), report_to) {
                    (Ok(ExecOutcome::Done(code)), None) | (Err(code), _) => Status::new(code),
                    // A ServerURI forces asynchronous reporting: 202 now,
                    // and the result in a new session posted to it.
                    (Ok(ExecOutcome::Done(code)), Some(report_to)) => {
                        self.events.push_back(ClientEvent::ExecFinished {
                            node: target.clone(),
                            report_to: report_to.clone(),
                            status: code,
                            alert: tree.exec_result_alert(&server, target, code),
                        });
                        Status::new(StatusCode::ACCEPTED)
                    }
                    (Ok(ExecOutcome::Started), _) => {
                        self.events.push_back(ClientEvent::ExecStarted {
                            node: target.clone(),
                            report_to: report_to.clone(),
                        });
                        Status::new(StatusCode::ACCEPTED)
                    }
                }
            }
            Command::Sub { target, report_to } => {
                status(tree.subscribe(&server, target, report_to))
            }
            Command::Unsub { target } => status(tree.unsubscribe(&server, target)),
            // The launch result is the status (docs/protocol.md section 4):
            // no browser component, or a failed launch, is 500.
            Command::Show { page } => {
                match self.config.browser.as_deref().map(|b| b.launch(page)) {
                    Some(Ok(())) => {
                        self.events
                            .push_back(ClientEvent::LaunchBrowser(page.clone()));
                        Status::new(StatusCode::OK)
                    }
                    Some(Err(_)) | None => Status::new(StatusCode::INTERNAL_ERROR),
                }
            }
            Command::Cont { uri } => {
                // docs/protocol.md section 2.1: CONT is followed to any
                // origin (a server may hand the session to another node);
                // the one refusal is a move from https to http.
                if self.current_uri.is_https() && !uri.is_https() {
                    Status::new(StatusCode::FORBIDDEN)
                } else {
                    self.current_uri = uri.clone();
                    Status::new(StatusCode::OK)
                }
            }
            Command::Default { moid, source } => match tree.accept_default(&server, moid, source) {
                Ok(()) => {
                    self.events.push_back(ClientEvent::Default {
                        moid: moid.clone(),
                        source: source.clone(),
                    });
                    Status::new(StatusCode::OK)
                }
                Err(code) => Status::new(code),
            },
            Command::Hget { source, target } => {
                let id = self.send(
                    RequestKind::RepositoryRead,
                    Method::Get,
                    source.clone(),
                    Vec::new(),
                );
                let target = target.clone();
                return Some((id, RepositoryAccess::Read { target }));
            }
            Command::Hput { .. } | Command::Hpost { .. } if !self.uploads_accepted() => {
                Status::new(StatusCode::NOT_ACCEPTABLE)
            }
            Command::Hput {
                destination,
                targets,
            }
            | Command::Hpost {
                destination,
                targets,
            } => match tree.read(&server, targets.as_slice()) {
                Ok(Some(data)) => {
                    let method = if matches!(command, Command::Hput { .. }) {
                        Method::Put
                    } else {
                        Method::Post
                    };
                    let id = self.send(
                        RequestKind::RepositoryWrite,
                        method,
                        destination.clone(),
                        dm_codec::encode_mo_serialization(&data),
                    );
                    return Some((id, RepositoryAccess::Write));
                }
                Ok(None) => Status::new(StatusCode::NOT_MODIFIED),
                Err(code) => Status::new(code),
            },
            _ => Status::new(StatusCode::NOT_IMPLEMENTED),
        };
        self.statuses.push(outcome);
        None
    }

    /// The status of an HGET, HPUT or HPOST from the repository's answer.
    fn repository_answer(
        &mut self,
        access: RepositoryAccess,
        response: &Response,
        tree: &mut impl ManagementTree,
    ) -> (StatusCode, Vec<dm_types::ClientUri>) {
        let is_upload = matches!(access, RepositoryAccess::Write);
        if is_upload && response.status == 415 {
            // The repository rejects MO data, the one format this client writes.
            return (StatusCode::NOT_ACCEPTABLE, Vec::new());
        }
        if !(200..300).contains(&response.status) {
            return (StatusCode::BAD_GATEWAY, Vec::new());
        }
        let RepositoryAccess::Read { target } = access else {
            return (StatusCode::OK, Vec::new());
        };
        if !response
            .content_type
            .as_deref()
            .is_some_and(|t| mime::content_type_matches(t, mime::MO_DATA))
        {
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new());
        }
        let items: Vec<MoItem> =
            match dm_codec::decode_mo_serialization(&response.body, &self.config.limits) {
                Ok(items) => items,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return (e.status(), Vec::new());
                }
                Err(_) => return (StatusCode::BAD_REQUEST, Vec::new()),
            };
        let who = self.config.principal();
        let changes = match self.config.role {
            SessionRole::Management => Ok(Vec::new()),
            SessionRole::Bootstrap => {
                bootstrap::write_changes(target.as_ref(), &items, &tree.accounts(&who))
                    .and_then(|changes| self.approved(changes))
            }
        };
        match changes.and_then(|changes| {
            tree.write(&who, target.as_ref(), &items)
                .map(|uris| (uris, changes))
        }) {
            Ok((uris, changes)) => {
                self.report_changes(&uris, tree);
                self.report_accounts(&changes, tree);
                (StatusCode::OK, uris)
            }
            Err(code) => (code, Vec::new()),
        }
    }

    /// `changes` when the [`BootstrapApproval`] (if any) approves them,
    /// else `403`.
    fn approved(&self, changes: Vec<AccountChange>) -> Result<Vec<AccountChange>, StatusCode> {
        match &self.config.bootstrap_approval {
            Some(approval) if !changes.is_empty() => {
                if approval.approve(&self.config.server_id, &changes) {
                    Ok(changes)
                } else {
                    Err(StatusCode::FORBIDDEN)
                }
            }
            _ => Ok(changes),
        }
    }

    /// Raises [`ClientEvent::AccountProvisioned`] and
    /// [`ClientEvent::AccountRemoved`] for the account changes a bootstrap
    /// command made.
    fn report_accounts(&mut self, changes: &[AccountChange], tree: &impl ManagementTree) {
        if changes.is_empty() {
            return;
        }
        let accounts = tree.accounts(&Principal::Device);
        for change in changes {
            let event = match change.kind {
                AccountChangeKind::Delete => ClientEvent::AccountRemoved {
                    server_id: change.server_id.clone(),
                },
                AccountChangeKind::Create | AccountChangeKind::Replace => {
                    ClientEvent::AccountProvisioned {
                        server_id: change.server_id.clone(),
                        bootstrap: accounts
                            .iter()
                            .find(|a| a.server_id == change.server_id)
                            .is_some_and(|a| a.is_bootstrap_account),
                    }
                }
            };
            self.events.push_back(event);
        }
    }

    /// Whether the server accepts uploads in the one format this client
    /// writes (`application/dmmo+json`), per the latest `OMADM-Accept`.
    fn uploads_accepted(&self) -> bool {
        self.omadm_accept.as_deref().is_none_or(|accept| {
            mime::negotiate(accept, &[mime::MO_DATA]).is_ok_and(|chosen| chosen.is_some())
        })
    }

    /// Queues the SUB change reports due after `changed`: HTTP PUT of the
    /// watched data to each firing subscription's ServerURI. Their answers
    /// are not awaited (a `415` cannot be helped: MO data has one format
    /// here).
    fn report_changes(&mut self, changed: &[dm_types::ClientUri], tree: &impl ManagementTree) {
        for report in tree.change_reports(changed) {
            let request = Request::change_report(&self.config.dev_id, &report);
            self.send(
                RequestKind::ChangeReport,
                request.method,
                request.uri,
                request.body,
            );
        }
    }
}
