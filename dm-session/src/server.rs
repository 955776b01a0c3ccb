//! The server side of one DM session, sans-IO.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use dm_codec::{Limits, mime};
use dm_types::{
    Alert, AlertType, Command, CommandEntry, DevId, MosEntry, Package2, ServerUri, Status,
};

use crate::Error;

/// Settings of a [`ServerSession`].
///
/// ```
/// use dm_session::ServerConfig;
///
/// let config = ServerConfig::default().with_commands_per_package(16);
/// assert_eq!(config.commands_per_package, 16);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Decoding limits for Package#1 and #3.
    pub limits: Limits,
    /// Most commands in one Package#2 (CONT not counted).
    pub commands_per_package: usize,
    /// Most Package#2 in one session; the last one is END alone (at least
    /// 2 through [`ServerConfig::with_packages_per_session`]).
    pub packages_per_session: usize,
    /// How long the session waits for the next Package#3.
    pub idle_timeout: Duration,
    /// Where the client posts Package#3 (sent with CONT in the first
    /// Package#2 that does not end the session); `None` sends no CONT.
    pub session_uri: Option<ServerUri>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            commands_per_package: 64,
            packages_per_session: 64,
            idle_timeout: Duration::from_secs(300),
            session_uri: None,
        }
    }
}

impl ServerConfig {
    /// Sets [`ServerConfig::limits`].
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`ServerConfig::commands_per_package`] (at least 1).
    #[must_use]
    pub fn with_commands_per_package(mut self, n: usize) -> Self {
        self.commands_per_package = n.max(1);
        self
    }

    /// Sets [`ServerConfig::packages_per_session`] (at least 2: one with
    /// commands, one with END).
    #[must_use]
    pub fn with_packages_per_session(mut self, n: usize) -> Self {
        self.packages_per_session = n.max(2);
        self
    }

    /// Sets [`ServerConfig::idle_timeout`].
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::session_uri`].
    #[must_use]
    pub fn with_session_uri(mut self, uri: ServerUri) -> Self {
        self.session_uri = Some(uri);
        self
    }
}

/// What the HTTP layer knows of one package POST.
#[derive(Debug, Clone, Copy)]
pub struct PackageRequest<'a> {
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The `OMADM-DevID` header, if any.
    pub dev_id: Option<&'a str>,
    /// The device the transport authenticated (credentials, certificate);
    /// `None` when the server does not authenticate devices.
    pub authenticated: Option<&'a DevId>,
    /// The body.
    pub body: &'a [u8],
}

/// How the session began (from its session-start alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Initiator {
    /// `ClientInitiatedMgmt`.
    Client,
    /// `ServerInitiatedMgmt`, with the notification's id when given.
    Server(Option<u16>),
    /// `BootstrapComplete`.
    Bootstrap,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A Package#2 with END was sent.
    Completed,
    /// No Package#3 arrived within the idle timeout.
    Timeout,
    /// A Package#3 broke a rule (the error it was refused with); the
    /// session was dropped.
    Failed(Error),
}

/// What the application learns, in order, from [`ServerSession::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent<T> {
    /// The session started: the device, how, its MO list and its alerts
    /// other than the session-start one.
    Started {
        /// The device.
        dev_id: DevId,
        /// Who initiated the session.
        initiator: Initiator,
        /// The MO list, when sent.
        mos: Option<Vec<MosEntry>>,
    },
    /// A generic alert from the client.
    Alert(Alert),
    /// The outcome of a command queued with `tag`.
    Result {
        /// The tag given to [`ServerSession::enqueue`].
        tag: T,
        /// The command.
        command: Command,
        /// Its status entry (code, URIs, GET data).
        status: Status,
    },
    /// The session is over.
    Ended(EndReason),
}

/// One server-side session: validates Package#1, batches the commands the
/// application queues into Package#2 (adding CONT and END), and matches each
/// Package#3 status back to its command. No I/O, no clock: time is passed in
/// as Unix milliseconds (`now_ms`, read by the caller from its wall clock),
/// so that the deadline kept in the [`SessionState`] means the same on every
/// node that resumes the session.
///
/// Call order: [`ServerSession::start`] on Package#1; [`enqueue`] commands
/// (at most [`next_package_room`] of them are sent in the next package);
/// [`respond`] to get the Package#2 body of the HTTP answer (with the
/// headers of [`response_headers`]); on each Package#3, [`handle_package3`]
/// then [`respond`] again. Poll [`poll_event`] after each of these calls,
/// and [`poll_timeout`] / [`handle_timeout`] while waiting.
///
/// [`enqueue`]: ServerSession::enqueue
/// [`next_package_room`]: ServerSession::next_package_room
/// [`respond`]: ServerSession::respond
/// [`response_headers`]: ServerSession::response_headers
/// [`handle_package3`]: ServerSession::handle_package3
/// [`poll_event`]: ServerSession::poll_event
/// [`poll_timeout`]: ServerSession::poll_timeout
/// [`handle_timeout`]: ServerSession::handle_timeout
///
/// ```
/// use dm_session::{PackageRequest, ServerConfig, ServerEvent, ServerSession};
/// use dm_types::Command;
///
/// let now_ms = 1_764_000_000_000;
/// let p1 = br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;
/// let request = PackageRequest {
///     content_type: Some("application/vnd.oma.dm.initiation+json"),
///     dev_id: Some("IMEI:1"),
///     authenticated: None,
///     body: p1,
/// };
/// let mut session = ServerSession::<u32>::start(ServerConfig::default(), &request, now_ms)?;
/// assert!(matches!(session.poll_event(), Some(ServerEvent::Started { .. })));
/// session.enqueue(7, Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])?);
/// let p2 = session.respond(now_ms);
/// assert_eq!(p2, br#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}"#);
///
/// let p3 = PackageRequest {
///     content_type: Some("application/vnd.oma.dm.response+json"),
///     body: br#"{"Status":[{"sc":200}]}"#,
///     ..request
/// };
/// session.handle_package3(&p3, now_ms + 1_000)?;
/// assert!(matches!(session.poll_event(), Some(ServerEvent::Result { tag: 7, .. })));
/// assert_eq!(session.respond(now_ms + 1_000), br#"{"CMD":[["END"]]}"#);
/// assert!(session.is_ended());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerSession<T> {
    config: ServerConfig,
    state: SessionState<T>,
    events: VecDeque<ServerEvent<T>>,
}

/// Where a session stands between two packages (part of [`SessionState`]).
/// Serialized with a `"phase"` member: `"responding"`,
/// `"awaiting_statuses"` (with `sent`) or `"ended"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionPhase<T> {
    /// A package was accepted (Package#1, or a Package#3): the application
    /// owes the answer ([`ServerSession::respond`]).
    Responding,
    /// A Package#2 without END was sent; the session waits for the Package#3
    /// until [`SessionState::deadline_ms`].
    AwaitingStatuses {
        /// The commands of that Package#2 in order, with the tags they were
        /// queued with (`None` for the CONT the session added itself).
        sent: Vec<(Option<T>, Command)>,
    },
    /// The session is over.
    Ended,
}

/// Everything a [`ServerSession`] needs to continue, as plain data: what a
/// server stores between two packages so that another process (or another
/// node sharing the same database) can take the session over with
/// [`ServerSession::resume`]. It serializes with serde (the DevID as text,
/// commands in their Package#2 array form, times as Unix milliseconds).
///
/// Events are not part of the state: poll every event with
/// [`ServerSession::poll_event`] before taking it.
///
/// ```
/// use dm_session::{PackageRequest, ServerConfig, ServerSession, SessionPhase, SessionState};
/// use dm_types::Command;
///
/// let now_ms = 1_764_000_000_000;
/// let request = PackageRequest {
///     content_type: Some("application/vnd.oma.dm.initiation+json"),
///     dev_id: Some("IMEI:1"),
///     authenticated: None,
///     body: br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#,
/// };
/// let mut session = ServerSession::<u64>::start(ServerConfig::default(), &request, now_ms)?;
/// while session.poll_event().is_some() {}
/// session.enqueue(1, Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])?);
/// session.respond(now_ms);
/// let state = session.into_state();
/// assert!(matches!(&state.phase, SessionPhase::AwaitingStatuses { sent } if sent.len() == 1));
/// assert_eq!(state.deadline_ms, now_ms + 300_000);
///
/// // Stored as JSON, and later, possibly on another node, the Package#3 arrives.
/// let json = serde_json::to_string(&state)?;
/// let state: SessionState<u64> = serde_json::from_str(&json)?;
/// let mut session = ServerSession::resume(ServerConfig::default(), state);
/// let p3 = PackageRequest {
///     content_type: Some("application/vnd.oma.dm.response+json"),
///     body: br#"{"Status":[{"sc":200}]}"#,
///     ..request
/// };
/// session.handle_package3(&p3, now_ms + 1_000)?;
/// assert_eq!(session.respond(now_ms + 1_000), br#"{"CMD":[["END"]]}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionState<T> {
    /// The session's device.
    pub dev_id: DevId,
    /// Commands queued but not yet sent, in order.
    pub queued: Vec<(T, Command)>,
    /// Whether the session is held open ([`ServerSession::hold`]).
    pub hold: bool,
    /// Whether CONT was sent.
    pub cont_sent: bool,
    /// How many Package#2 were built so far.
    pub packages_sent: usize,
    /// When the session expires unless it moves on (Unix milliseconds):
    /// [`ServerConfig::idle_timeout`] after the last package it accepted
    /// or built.
    pub deadline_ms: u64,
    /// Where the session stands.
    pub phase: SessionPhase<T>,
}

impl<T> SessionState<T> {
    /// The state of a session of `dev_id` that owes its first answer, with
    /// nothing queued, expiring at `deadline_ms` (what
    /// [`ServerSession::start`] begins with; useful to build stored records
    /// by hand).
    ///
    /// ```
    /// use dm_session::{SessionPhase, SessionState};
    /// use dm_types::DevId;
    ///
    /// let state = SessionState::<u64>::new(DevId::new("IMEI:1")?, 1_000);
    /// assert_eq!(state.phase, SessionPhase::Responding);
    /// assert!(!state.is_expired(1_000));
    /// assert!(state.is_expired(1_001));
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn new(dev_id: DevId, deadline_ms: u64) -> Self {
        SessionState {
            dev_id,
            queued: Vec::new(),
            hold: false,
            cont_sent: false,
            packages_sent: 0,
            deadline_ms,
            phase: SessionPhase::Responding,
        }
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, SessionPhase::Ended)
    }

    /// Whether the session is open but past its deadline at `now_ms`: it
    /// has expired, and a store ends it as timed out.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        !self.is_ended() && now_ms > self.deadline_ms
    }

    /// The commands of the last Package#2 awaiting their statuses, in
    /// order (none unless the session waits for a Package#3).
    pub fn sent(&self) -> &[(Option<T>, Command)] {
        match &self.phase {
            SessionPhase::AwaitingStatuses { sent } => sent,
            _ => &[],
        }
    }
}

fn check_content_type(request: &PackageRequest<'_>, expected: &'static str) -> Result<(), Error> {
    let got = request.content_type.unwrap_or("");
    if mime::content_type_matches(got, expected) {
        Ok(())
    } else {
        Err(Error::ContentType {
            got: got.to_owned(),
            expected,
        })
    }
}

/// The headers of every Package#2 answer, besides its length.
const PACKAGE2_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", mime::REQUEST),
    (mime::OMADM_ACCEPT, mime::MO_DATA),
    ("Cache-Control", "no-store"),
];

fn deadline_after(now_ms: u64, timeout: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
}

impl<T: Clone> ServerSession<T> {
    /// Accepts a Package#1 at `now_ms` (Unix milliseconds): checks its
    /// Content-Type (415), the `OMADM-DevID` header (400 when absent or
    /// malformed, 403 when it is not the authenticated device), the package
    /// (400/413) and its one session-start alert (400). Emits
    /// [`ServerEvent::Started`] and one [`ServerEvent::Alert`] per other
    /// alert. The session expires [`ServerConfig::idle_timeout`] after
    /// `now_ms` unless it answers.
    pub fn start(
        config: ServerConfig,
        request: &PackageRequest<'_>,
        now_ms: u64,
    ) -> Result<Self, Error> {
        check_content_type(request, mime::INITIATION)?;
        let header = request.dev_id.ok_or(Error::MissingDevId)?;
        let dev_id = DevId::new(header).map_err(Error::InvalidDevId)?;
        if let Some(authenticated) = request.authenticated
            && *authenticated != dev_id
        {
            return Err(Error::WrongDevice {
                got: dev_id.into_string(),
                expected: authenticated.as_str().to_owned(),
            });
        }
        let package = dm_codec::decode_package1(request.body, &config.limits)?;
        let start = package.session_start_alert().map_err(Error::SessionStart)?;
        let initiator = match start.alert_type.as_str() {
            AlertType::SERVER_INITIATED_MGMT => Initiator::Server(start.notification_id()),
            AlertType::BOOTSTRAP_COMPLETE => Initiator::Bootstrap,
            _ => Initiator::Client,
        };
        let mut events = VecDeque::new();
        events.push_back(ServerEvent::Started {
            dev_id: dev_id.clone(),
            initiator,
            mos: package.mos,
        });
        events.extend(
            package
                .alerts
                .into_iter()
                .filter(|a| !a.alert_type.is_session_start())
                .map(ServerEvent::Alert),
        );
        let deadline_ms = deadline_after(now_ms, config.idle_timeout);
        Ok(ServerSession {
            config,
            state: SessionState::new(dev_id, deadline_ms),
            events,
        })
    }

    /// The session's device.
    pub fn dev_id(&self) -> &DevId {
        &self.state.dev_id
    }

    /// Continues a session from its [`SessionState`] (taken with
    /// [`ServerSession::state`] or [`ServerSession::into_state`], possibly
    /// by another process). `config` should be the one the session started
    /// with; the resumed session has no pending events.
    pub fn resume(config: ServerConfig, state: SessionState<T>) -> Self {
        ServerSession {
            config,
            state,
            events: VecDeque::new(),
        }
    }

    /// The session's state, to store and [`resume`] later. Events not yet
    /// polled are not part of it.
    ///
    /// [`resume`]: ServerSession::resume
    pub fn state(&self) -> &SessionState<T> {
        &self.state
    }

    /// The session's state, by value (see [`ServerSession::state`]).
    pub fn into_state(self) -> SessionState<T> {
        self.state
    }

    /// Queues a command; its result comes back as [`ServerEvent::Result`]
    /// with `tag`. END is not queued: the session ends when the queue is
    /// drained (see [`ServerSession::hold`]).
    pub fn enqueue(&mut self, tag: T, command: Command) {
        if command != Command::End {
            self.state.queued.push((tag, command));
        }
    }

    /// Keeps the session open after the queue drains (an empty Package#2
    /// invites the next Package#3), while the application decides what to
    /// send; `hold(false)` lets it end.
    pub fn hold(&mut self, hold: bool) {
        self.state.hold = hold;
    }

    /// How many more commands the next Package#2 can carry: the room
    /// [`ServerConfig::commands_per_package`] leaves beside the commands
    /// already queued, and none when no answer is due or when the next
    /// package is the last one the configuration allows (that one is END
    /// alone). An application that keeps its queue elsewhere takes this
    /// many commands from it before [`ServerSession::respond`].
    ///
    /// ```
    /// use dm_session::{PackageRequest, ServerConfig, ServerSession};
    ///
    /// let request = PackageRequest {
    ///     content_type: Some("application/vnd.oma.dm.initiation+json"),
    ///     dev_id: Some("IMEI:1"),
    ///     authenticated: None,
    ///     body: br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#,
    /// };
    /// let config = ServerConfig::default().with_commands_per_package(8);
    /// let mut session = ServerSession::<u64>::start(config, &request, 0)?;
    /// assert_eq!(session.next_package_room(), 8);
    /// session.enqueue(1, dm_types::Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])?);
    /// assert_eq!(session.next_package_room(), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_package_room(&self) -> usize {
        let responding = matches!(self.state.phase, SessionPhase::Responding);
        if !responding || self.is_last_package() {
            return 0;
        }
        self.config
            .commands_per_package
            .saturating_sub(self.state.queued.len())
    }

    /// Whether the next Package#2 is the last the configuration allows.
    fn is_last_package(&self) -> bool {
        self.state.packages_sent + 1 >= self.config.packages_per_session
    }

    /// The headers of the HTTP answer that carries a Package#2 (besides its
    /// length), as (name, value) pairs the transport copies: its
    /// Content-Type, the `OMADM-Accept` of the MO data the server reads,
    /// and `Cache-Control: no-store`.
    ///
    /// ```
    /// use dm_session::{PackageRequest, ServerConfig, ServerSession};
    ///
    /// let request = PackageRequest {
    ///     content_type: Some("application/vnd.oma.dm.initiation+json"),
    ///     dev_id: Some("IMEI:1"),
    ///     authenticated: None,
    ///     body: br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#,
    /// };
    /// let session = ServerSession::<u64>::start(ServerConfig::default(), &request, 0)?;
    /// assert!(session
    ///     .response_headers()
    ///     .contains(&("Content-Type", "application/vnd.oma.dm.request+json")));
    /// # Ok::<(), dm_session::Error>(())
    /// ```
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        &PACKAGE2_HEADERS
    }

    /// Builds the Package#2 that answers the last package, at `now_ms`.
    ///
    /// - With commands queued: up to `commands_per_package` of them, preceded
    ///   by CONT to the session URI the first time; the client answers with a
    ///   Package#3 whose statuses come back as [`ServerEvent::Result`]. The
    ///   session waits for it until [`ServerConfig::idle_timeout`] after
    ///   `now_ms`.
    /// - With the queue drained (and the session not held), or on the last
    ///   package the configuration allows: END alone, so that no result is
    ///   lost (a package holding END is never answered). The session is then
    ///   over ([`ServerEvent::Ended`]); commands still queued stay unsent
    ///   ([`ServerSession::queued`]).
    ///
    /// Called while no answer is due (before the Package#3 arrived, or after
    /// the end) it returns END and ends the session.
    pub fn respond(&mut self, now_ms: u64) -> Vec<u8> {
        if !matches!(self.state.phase, SessionPhase::Responding) {
            return self.finish();
        }
        let last = self.is_last_package();
        self.state.packages_sent += 1;
        if last || (self.state.queued.is_empty() && !self.state.hold) {
            return self.finish();
        }
        let take = self
            .config
            .commands_per_package
            .min(self.state.queued.len());
        let mut sent: Vec<(Option<T>, Command)> = Vec::with_capacity(take + 1);
        if !self.state.cont_sent
            && let Some(uri) = &self.config.session_uri
        {
            sent.push((None, Command::Cont { uri: uri.clone() }));
            self.state.cont_sent = true;
        }
        sent.extend(
            self.state
                .queued
                .drain(..take)
                .map(|(tag, c)| (Some(tag), c)),
        );
        let body = encode(&sent, false);
        self.state.phase = SessionPhase::AwaitingStatuses { sent };
        self.state.deadline_ms = deadline_after(now_ms, self.config.idle_timeout);
        body
    }

    /// Sends END alone and ends the session.
    fn finish(&mut self) -> Vec<u8> {
        self.end(EndReason::Completed);
        encode::<T>(&[], true)
    }

    fn end(&mut self, reason: EndReason) {
        if !self.state.is_ended() {
            self.state.phase = SessionPhase::Ended;
            self.events.push_back(ServerEvent::Ended(reason));
        }
    }

    /// Accepts a Package#3 at `now_ms`: refuses it when the session is not
    /// waiting for one (404) or is past its deadline (404, the session ends
    /// as timed out), then checks Content-Type (415), `OMADM-DevID` (403
    /// unless it is the session's device), the package (400/413) and that it
    /// holds one status per command sent (400). Emits one
    /// [`ServerEvent::Result`] per queued command, in order, then one
    /// [`ServerEvent::Alert`] per alert. A refused package ends the session.
    pub fn handle_package3(
        &mut self,
        request: &PackageRequest<'_>,
        now_ms: u64,
    ) -> Result<(), Error> {
        if !matches!(self.state.phase, SessionPhase::AwaitingStatuses { .. }) {
            return Err(Error::NotWaiting);
        }
        if self.state.is_expired(now_ms) {
            self.end(EndReason::Timeout);
            return Err(Error::Expired);
        }
        match self.read_package3(request) {
            Ok(()) => {
                self.state.phase = SessionPhase::Responding;
                self.state.deadline_ms = deadline_after(now_ms, self.config.idle_timeout);
                Ok(())
            }
            Err(e) => {
                self.end(EndReason::Failed(e.clone()));
                Err(e)
            }
        }
    }

    fn read_package3(&mut self, request: &PackageRequest<'_>) -> Result<(), Error> {
        check_content_type(request, mime::RESPONSE)?;
        let header = request.dev_id.unwrap_or("");
        if header != self.state.dev_id.as_str() {
            return Err(Error::WrongDevice {
                got: header.to_owned(),
                expected: self.state.dev_id.as_str().to_owned(),
            });
        }
        let package = dm_codec::decode_package3(request.body, &self.config.limits)?;
        let SessionPhase::AwaitingStatuses { sent } = &mut self.state.phase else {
            return Err(Error::NotWaiting);
        };
        if package.statuses.len() != sent.len() {
            return Err(Error::StatusCount {
                statuses: package.statuses.len(),
                commands: sent.len(),
            });
        }
        for ((tag, command), status) in std::mem::take(sent).into_iter().zip(package.statuses) {
            if let Some(tag) = tag {
                self.events.push_back(ServerEvent::Result {
                    tag,
                    command,
                    status,
                });
            }
        }
        self.events
            .extend(package.alerts.into_iter().map(ServerEvent::Alert));
        Ok(())
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent<T>> {
        self.events.pop_front()
    }

    /// When [`ServerSession::handle_timeout`] must be called (Unix
    /// milliseconds): the deadline for the next Package#3, while the
    /// session waits for one.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.state.phase {
            SessionPhase::AwaitingStatuses { .. } => Some(self.state.deadline_ms),
            _ => None,
        }
    }

    /// Ends the session as timed out if it waits for a Package#3 and is past
    /// its deadline at `now_ms`; says whether it did. A server calls it
    /// before reading a Package#3's body, to refuse a late one (404) at
    /// once.
    pub fn handle_timeout(&mut self, now_ms: u64) -> bool {
        let waiting = matches!(self.state.phase, SessionPhase::AwaitingStatuses { .. });
        if waiting && self.state.is_expired(now_ms) {
            self.end(EndReason::Timeout);
            return true;
        }
        false
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.state.is_ended()
    }

    /// Commands still queued (not yet sent).
    pub fn queued(&self) -> usize {
        self.state.queued.len()
    }
}

fn encode<T>(commands: &[(Option<T>, Command)], end: bool) -> Vec<u8> {
    let mut entries: Vec<CommandEntry> = commands
        .iter()
        .map(|(_, c)| CommandEntry::Command(c.clone()))
        .collect();
    if end {
        entries.push(CommandEntry::Command(Command::End));
    }
    // END is last and the only END, so the package is valid.
    let package = Package2::new(entries).unwrap_or_default();
    dm_codec::encode_package2(&package)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &[u8] = br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;

    fn request(content_type: &'static str, body: &'static [u8]) -> PackageRequest<'static> {
        PackageRequest {
            content_type: Some(content_type),
            dev_id: Some("IMEI:1"),
            authenticated: None,
            body,
        }
    }

    fn get(node: &str) -> Command {
        Command::from_words(&["GET", &format!("urn:oma:mo:oma-dm-devinfo:1.0//{node}")])
            .expect("valid GET")
    }

    fn config() -> ServerConfig {
        ServerConfig::default()
            .with_commands_per_package(1)
            .with_session_uri(ServerUri::new("https://dm.example/dm/s/1").expect("valid URI"))
    }

    const NOW: u64 = 1_764_000_000_000;
    const IDLE_MS: u64 = 300_000;

    #[test]
    fn resumed_session_continues_where_the_state_was_taken() {
        let now = NOW;
        let mut session =
            ServerSession::start(config(), &request(mime::INITIATION, P1), now).expect("valid");
        while session.poll_event().is_some() {}
        session.enqueue(1u32, get("Man"));
        session.enqueue(2, get("Mod"));
        session.respond(now);
        let state = session.state().clone();
        assert_eq!(state.dev_id.as_str(), "IMEI:1");
        assert!(state.cont_sent);
        assert_eq!(state.packages_sent, 1);
        assert_eq!(state.queued, vec![(2, get("Mod"))]);
        let SessionPhase::AwaitingStatuses { sent } = &state.phase else {
            panic!("awaiting statuses: {:?}", state.phase);
        };
        assert_eq!(sent.len(), 2, "CONT and the first GET");
        assert_eq!(sent[0].0, None);
        assert_eq!(sent[1], (Some(1), get("Man")));
        assert_eq!(state.deadline_ms, now + IDLE_MS);
        assert_eq!(session.into_state(), state);

        // A second process takes over, from the stored JSON.
        let json = serde_json::to_string(&state).expect("serializable");
        let stored: SessionState<u32> = serde_json::from_str(&json).expect("deserializable");
        assert_eq!(stored, state);
        let mut resumed = ServerSession::resume(config(), stored);
        assert!(resumed.poll_event().is_none());
        assert_eq!(resumed.queued(), 1);
        assert_eq!(resumed.poll_timeout(), Some(now + IDLE_MS));
        resumed
            .handle_package3(
                &request(mime::RESPONSE, br#"{"Status":[{"sc":200},{"sc":404}]}"#),
                now,
            )
            .expect("two statuses for CONT and GET");
        assert!(matches!(
            resumed.poll_event(),
            Some(ServerEvent::Result { tag: 1, status, .. }) if status.code.as_u16() == 404
        ));
        // No second CONT: the state says it was sent.
        assert_eq!(
            resumed.respond(now),
            br#"{"CMD":[["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"]]}"#
        );
        assert_eq!(resumed.state().packages_sent, 2);
    }

    #[test]
    fn resumed_state_keeps_its_deadline_and_end() {
        let now = NOW;
        let mut session =
            ServerSession::start(config(), &request(mime::INITIATION, P1), now).expect("valid");
        session.enqueue(1u32, get("Man"));
        session.respond(now);
        let mut state = session.into_state();
        state.deadline_ms = now;
        // Past the stored deadline, the resumed session refuses the package.
        let mut late = ServerSession::resume(config(), state.clone());
        let body = br#"{"Status":[{"sc":200},{"sc":200}]}"#;
        assert_eq!(
            late.handle_package3(&request(mime::RESPONSE, body), now + 1),
            Err(Error::Expired)
        );
        assert_eq!(
            late.poll_event(),
            Some(ServerEvent::Ended(EndReason::Timeout))
        );
        assert_eq!(late.state().phase, SessionPhase::Ended);

        // An ended state resumes as ended; a responding one can answer.
        let ended = ServerSession::resume(config(), late.into_state());
        assert!(ended.is_ended());
        state.phase = SessionPhase::Responding;
        let mut responding = ServerSession::resume(config(), state);
        assert_eq!(responding.respond(now), br#"{"CMD":[["END"]]}"#);
        assert!(responding.is_ended());
    }

    #[test]
    fn the_room_of_the_next_package_leaves_the_last_one_to_end() {
        let config = config().with_packages_per_session(2);
        let mut session =
            ServerSession::start(config, &request(mime::INITIATION, P1), NOW).expect("valid");
        assert_eq!(session.next_package_room(), 1);
        session.enqueue(1u32, get("Man"));
        assert_eq!(session.next_package_room(), 0);
        session.respond(NOW);
        assert_eq!(session.next_package_room(), 0, "no answer is due");
        session
            .handle_package3(
                &request(mime::RESPONSE, br#"{"Status":[{"sc":200},{"sc":200}]}"#),
                NOW,
            )
            .expect("statuses for CONT and GET");
        assert_eq!(session.next_package_room(), 0, "the next package is END");
        assert_eq!(session.respond(NOW), br#"{"CMD":[["END"]]}"#);
    }
}
