//! The client side of one DM session, sans-IO.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dm_codec::{Limits, mime};
use dm_tree::ExecOutcome;
use dm_types::{
    Alert, Command, CommandEntry, DevId, MoItem, Moid, Package1, Package3, ServerId, ServerUri,
    Status, StatusCode,
};

use crate::ManagementTree;

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

/// Identifies a request from [`ClientSession::poll_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// POST (packages, HPOST).
    Post,
    /// GET (HGET).
    Get,
    /// PUT (HPUT).
    Put,
}

/// An HTTP request for the caller to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Pass it back with the response.
    pub id: RequestId,
    /// The method.
    pub method: Method,
    /// The target.
    pub uri: ServerUri,
    /// `Content-Type` of the body, when there is one.
    pub content_type: Option<&'static str>,
    /// `Accept`.
    pub accept: &'static str,
    /// `OMADM-DevID`.
    pub dev_id: DevId,
    /// The body (empty for GET).
    pub body: Vec<u8>,
}

/// The HTTP answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status; 0 when no answer came (network error).
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `OMADM-Accept`, if any: on a Package#2 answer, the media types the
    /// server accepts for uploaded MO data (docs/protocol.md section 2.2).
    pub omadm_accept: Option<String>,
    /// The body.
    pub body: Vec<u8>,
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
    /// The session is over.
    Ended(ClientEnd),
}

/// How a client session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEnd {
    /// The server sent END.
    Completed,
    /// The server answered a package with this HTTP status instead of 200
    /// (after the one answer to a `401` challenge the transport gives):
    /// the session is aborted and never retried (section 2).
    Refused(u16),
    /// The session was aborted (invalid Package#2, package limit, duration
    /// limit, no answer); nothing more is sent.
    Aborted(String),
}

impl std::fmt::Display for ClientEnd {
    /// ```
    /// use dm_session::ClientEnd;
    ///
    /// assert_eq!(ClientEnd::Refused(413).to_string(), "refused: the server answered HTTP 413");
    /// assert_eq!(ClientEnd::Completed.to_string(), "completed");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientEnd::Completed => f.write_str("completed"),
            ClientEnd::Refused(status) => write!(f, "refused: the server answered HTTP {status}"),
            ClientEnd::Aborted(reason) => write!(f, "aborted: {reason}"),
        }
    }
}

/// What the session waits for.
#[derive(Debug)]
enum Waiting {
    Package(RequestId),
    /// A repository answer for the command at `index`.
    Repository {
        id: RequestId,
        index: usize,
    },
    Nothing,
}

/// One client-side session: builds Package#1, executes each Package#2
/// strictly in order against a [`ManagementTree`], asks the caller to perform
/// repository requests for HGET/HPUT/HPOST, builds Package#3, obeys CONT and
/// END. No I/O and no clock.
///
/// Loop: take [`ClientSession::poll_request`], perform it, feed the answer to
/// [`ClientSession::handle_response`]; act on [`ClientSession::poll_event`];
/// stop when [`ClientSession::is_ended`].
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
/// session.handle_response(package1.id, &answer, &mut tree);
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
    packages: usize,
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
            mos: Some(tree.mo_list(&config.server_id)),
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
            packages: 0,
            events: VecDeque::new(),
            ended: false,
            deadline: now + config_duration,
            omadm_accept: None,
            alerts: Vec::new(),
        };
        let id = session.send(
            Method::Post,
            uri,
            Some(mime::INITIATION),
            mime::REQUEST,
            dm_codec::encode_package1(&package),
        );
        session.waiting = Waiting::Package(id);
        session
    }

    fn send(
        &mut self,
        method: Method,
        uri: ServerUri,
        content_type: Option<&'static str>,
        accept: &'static str,
        body: Vec<u8>,
    ) -> RequestId {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        self.outbox.push_back(Request {
            id,
            method,
            uri,
            content_type,
            accept,
            dev_id: self.config.dev_id.clone(),
            body,
        });
        id
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

    /// Aborts the session when `now` is past its allowed duration.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline {
            self.abort("the session lasted longer than its limit".into());
        }
    }

    fn abort(&mut self, reason: String) {
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
    pub fn handle_response(
        &mut self,
        id: RequestId,
        response: &Response,
        tree: &mut impl ManagementTree,
    ) {
        match self.waiting {
            Waiting::Package(expected) if expected == id => self.package2(response, tree),
            Waiting::Repository {
                id: expected,
                index,
            } if expected == id => {
                let status = self.repository_answer(index, response, tree);
                self.statuses.push(Status {
                    code: status.0,
                    uris: status.1,
                    data: Vec::new(),
                });
                self.next_index = index + 1;
                self.run(tree);
            }
            _ => {}
        }
    }

    fn package2(&mut self, response: &Response, tree: &mut impl ManagementTree) {
        if response.status != 200 {
            return self.end_early(ClientEnd::Refused(response.status));
        }
        if !response
            .content_type
            .as_deref()
            .is_some_and(|t| mime::content_type_matches(t, mime::REQUEST))
        {
            return self.abort("the answer is not a Package#2 (Content-Type)".into());
        }
        self.packages += 1;
        if let Some(accept) = &response.omadm_accept {
            self.omadm_accept = Some(accept.clone());
        }
        let package = match dm_codec::decode_package2(&response.body, &self.config.limits) {
            Ok(package) => package,
            Err(e) => return self.abort(format!("invalid Package#2: {e}")),
        };
        if !package.ends_session() && self.packages >= self.config.packages_per_session {
            return self.abort(format!(
                "the server sent {} packages without END",
                self.packages
            ));
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
                self.next_index += 1;
                continue;
            }
            if let Some(request) = self.execute(index, &command, tree) {
                self.waiting = Waiting::Repository { id: request, index };
                return;
            }
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
            Method::Post,
            self.current_uri.clone(),
            Some(mime::RESPONSE),
            mime::REQUEST,
            dm_codec::encode_package3(&package),
        );
        self.waiting = Waiting::Package(id);
    }

    /// Runs one command; returns the repository request it waits for, or
    /// records its status.
    fn execute(
        &mut self,
        _index: usize,
        command: &Command,
        tree: &mut impl ManagementTree,
    ) -> Option<RequestId> {
        let server = self.config.server_id.clone();
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
            Command::Delete { targets } => match tree.delete(&server, targets.as_slice()) {
                Ok(removed) => {
                    self.report_changes(&removed, tree);
                    Status::new(StatusCode::OK)
                }
                Err(code) => Status::new(code),
            },
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
            Command::Hget { source, .. } => {
                return Some(self.send(
                    Method::Get,
                    source.clone(),
                    None,
                    mime::MO_DATA,
                    Vec::new(),
                ));
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
                    return Some(self.send(
                        method,
                        destination.clone(),
                        Some(mime::MO_DATA),
                        mime::MO_DATA,
                        dm_codec::encode_mo_serialization(&data),
                    ));
                }
                Ok(None) => Status::new(StatusCode::NOT_MODIFIED),
                Err(code) => Status::new(code),
            },
            _ => Status::new(StatusCode::NOT_IMPLEMENTED),
        };
        self.statuses.push(outcome);
        None
    }

    /// The status of the HGET/HPUT/HPOST at `index` from the repository's
    /// answer.
    fn repository_answer(
        &mut self,
        index: usize,
        response: &Response,
        tree: &mut impl ManagementTree,
    ) -> (StatusCode, Vec<dm_types::ClientUri>) {
        let is_upload = !matches!(
            self.commands.get(index),
            Some(CommandEntry::Command(Command::Hget { .. }))
        );
        if is_upload && response.status == 415 {
            // The repository rejects MO data, the one format this client writes.
            return (StatusCode::NOT_ACCEPTABLE, Vec::new());
        }
        if !(200..300).contains(&response.status) {
            return (StatusCode::BAD_GATEWAY, Vec::new());
        }
        let Some(CommandEntry::Command(Command::Hget { target, .. })) = self.commands.get(index)
        else {
            return (StatusCode::OK, Vec::new());
        };
        let target = target.clone();
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
        match tree.write(&self.config.server_id, target.as_ref(), &items) {
            Ok(uris) => {
                self.report_changes(&uris, tree);
                (StatusCode::OK, uris)
            }
            Err(code) => (code, Vec::new()),
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
        for (report_to, items) in tree.change_reports(changed) {
            self.send(
                Method::Put,
                report_to,
                Some(mime::MO_DATA),
                mime::MO_DATA,
                dm_codec::encode_mo_serialization(&items),
            );
        }
    }
}

/// The HGET a client performs on its own (docs/protocol.md section 4, DEFAULT):
/// when a local application needs configuration for `moid` and the tree has
/// none, fetch it from the `source` a server named with DEFAULT and write
/// it on that server's behalf, reporting no status to anyone.
///
/// ```
/// use dm_session::{DefaultFetch, Response};
/// use dm_tree::MoTree;
/// use dm_types::{DevId, Moid, ServerId, ServerUri, StatusCode};
///
/// let fetch = DefaultFetch {
///     server_id: ServerId::new("srv1")?,
///     moid: Moid::new("urn:x:wlan")?,
///     source: ServerUri::new("https://repo.example/wlan")?,
/// };
/// let request = fetch.request(&DevId::new("IMEI:1")?);
/// assert_eq!(request.uri.as_str(), "https://repo.example/wlan");
/// let answer = Response {
///     status: 200,
///     content_type: Some("application/dmmo+json".into()),
///     omadm_accept: None,
///     body: br#"[{"ClientURI":"urn:x:wlan//","MOData":{"W":{"SSID":"home"}}}]"#.to_vec(),
/// };
/// // On an empty device srv1 has no account, so it may not create the instance.
/// let mut tree = MoTree::new();
/// assert_eq!(fetch.apply(&answer, &mut tree), Err(StatusCode::FORBIDDEN));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultFetch {
    /// The server that sent DEFAULT (whose rights apply to the write).
    pub server_id: ServerId,
    /// The MO type the configuration is for.
    pub moid: Moid,
    /// Where to fetch it.
    pub source: ServerUri,
}

impl DefaultFetch {
    /// The HTTP GET to perform.
    pub fn request(&self, dev_id: &DevId) -> Request {
        Request {
            id: RequestId(0),
            method: Method::Get,
            uri: self.source.clone(),
            content_type: None,
            accept: mime::MO_DATA,
            dev_id: dev_id.clone(),
            body: Vec::new(),
        }
    }

    /// Writes the fetched data (HGET semantics): `502` for a failed fetch,
    /// `415`/`400` for a body that is not MO serialization, `400` for data of
    /// another MOID, or the tree's own refusal. Decodes with the default
    /// [`Limits`]; a client with limits of its own uses
    /// [`DefaultFetch::apply_with_limits`].
    pub fn apply(
        &self,
        response: &Response,
        tree: &mut impl ManagementTree,
    ) -> Result<Vec<dm_types::ClientUri>, StatusCode> {
        self.apply_with_limits(response, &Limits::default(), tree)
    }

    /// [`DefaultFetch::apply`] decoding the body with `limits`, so that a
    /// body over the client's `mo_data_bytes` (or nesting depth, string
    /// length) is `413` like any HGET of the session.
    pub fn apply_with_limits(
        &self,
        response: &Response,
        limits: &Limits,
        tree: &mut impl ManagementTree,
    ) -> Result<Vec<dm_types::ClientUri>, StatusCode> {
        if !(200..300).contains(&response.status) {
            return Err(StatusCode::BAD_GATEWAY);
        }
        if !response
            .content_type
            .as_deref()
            .is_some_and(|t| mime::content_type_matches(t, mime::MO_DATA))
        {
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        let items =
            dm_codec::decode_mo_serialization(&response.body, limits).map_err(|e| e.status())?;
        if items
            .iter()
            .any(|item| item.client_uri.moid() != self.moid.as_str())
        {
            return Err(StatusCode::BAD_REQUEST);
        }
        tree.write(&self.server_id, None, &items)
    }
}
