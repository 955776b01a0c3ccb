//! Packages #1, #2 and #3, their status entries and generic alerts
//! (docs/protocol.md sections 3.1–3.5).

use std::fmt;

use crate::{AlertType, ClientUri, CommandEntry, DdfUri, Error, Miid, MoItem, Moid, StatusCode};

/// A JSON object, as carried by an alert's `Data` member.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Severity of an alert (`Mark`).
///
/// ```
/// use dm_types::Mark;
///
/// assert_eq!(Mark::from_name("warning"), Some(Mark::Warning));
/// assert_eq!(Mark::Fatal.name(), "fatal");
/// assert_eq!(Mark::from_name("severe"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// `fatal`
    Fatal,
    /// `critical`
    Critical,
    /// `minor`
    Minor,
    /// `warning`
    Warning,
    /// `informational`
    Informational,
    /// `harmless`
    Harmless,
    /// `indeterminate`
    Indeterminate,
}

impl Mark {
    /// Every mark, from the most to the least severe.
    pub const ALL: [Mark; 7] = [
        Mark::Fatal,
        Mark::Critical,
        Mark::Minor,
        Mark::Warning,
        Mark::Informational,
        Mark::Harmless,
        Mark::Indeterminate,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Mark::Fatal => "fatal",
            Mark::Critical => "critical",
            Mark::Minor => "minor",
            Mark::Warning => "warning",
            Mark::Informational => "informational",
            Mark::Harmless => "harmless",
            Mark::Indeterminate => "indeterminate",
        }
    }

    /// The mark with this wire name (case-sensitive).
    pub fn from_name(name: &str) -> Option<Mark> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A generic alert (section 3.5). Alerts travel client → server only.
///
/// ```
/// use dm_types::{Alert, AlertType};
///
/// let alert = Alert::server_initiated(4660);
/// assert_eq!(alert.alert_type.as_str(), AlertType::SERVER_INITIATED_MGMT);
/// assert_eq!(alert.notification_id(), Some(4660));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The alert type (required).
    pub alert_type: AlertType,
    /// The MO node the alert concerns (a free string).
    pub source_uri: Option<String>,
    /// An additional related address (a free string).
    pub target_uri: Option<String>,
    /// Severity.
    pub mark: Option<Mark>,
    /// The type of `data`.
    pub data_type: Option<String>,
    /// Content defined by the alert type.
    pub data: Option<JsonObject>,
}

impl Alert {
    /// An alert of `alert_type` with no other member.
    pub fn new(alert_type: AlertType) -> Alert {
        Alert {
            alert_type,
            source_uri: None,
            target_uri: None,
            mark: None,
            data_type: None,
            data: None,
        }
    }

    fn of_constant(alert_type: &'static str) -> Alert {
        // The constants of `AlertType` are non-empty.
        Alert::new(AlertType::new(alert_type).unwrap_or_else(|_| unreachable!("non-empty")))
    }

    /// `ClientInitiatedMgmt`: the client started the session on its own.
    pub fn client_initiated() -> Alert {
        Alert::of_constant(AlertType::CLIENT_INITIATED_MGMT)
    }

    /// `BootstrapComplete`: first session after a bootstrap.
    pub fn bootstrap_complete() -> Alert {
        Alert::of_constant(AlertType::BOOTSTRAP_COMPLETE)
    }

    /// `ServerInitiatedMgmt` carrying the notification's NOTIFICATION-ID as
    /// `"DataType": "int", "Data": {"NotificationID": n}` (project decision).
    pub fn server_initiated(notification_id: u16) -> Alert {
        let mut alert = Alert::of_constant(AlertType::SERVER_INITIATED_MGMT);
        alert.data_type = Some("int".to_owned());
        let mut data = JsonObject::new();
        data.insert("NotificationID".to_owned(), notification_id.into());
        alert.data = Some(data);
        alert
    }

    /// `ExecComplete` reporting the final status of an asynchronous EXEC of
    /// `node` (project decision of section 6).
    pub fn exec_complete(node: &ClientUri, status: StatusCode) -> Alert {
        let mut alert = Alert::of_constant(AlertType::EXEC_COMPLETE);
        alert.source_uri = Some(node.to_string());
        let mut data = JsonObject::new();
        data.insert("sc".to_owned(), status.as_u16().into());
        alert.data = Some(data);
        alert
    }

    /// The NOTIFICATION-ID of a `ServerInitiatedMgmt` alert, when present and
    /// in range.
    pub fn notification_id(&self) -> Option<u16> {
        self.data
            .as_ref()?
            .get("NotificationID")?
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
    }
}

/// One entry of Package#1 `MOS`: an MO type and the instances this server
/// may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MosEntry {
    /// Where the MO's DDF can be fetched.
    pub ddf: Option<DdfUri>,
    /// The MO type.
    pub moid: Moid,
    /// The visible instances (possibly none).
    pub miids: Vec<Miid>,
}

/// Package#1: the client opens a session (section 3.1).
///
/// ```
/// use dm_types::{Alert, Package1};
///
/// let p1 = Package1 { mos: None, alerts: vec![Alert::client_initiated()] };
/// assert!(p1.session_start_alert().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Package1 {
    /// The MO list; `None` when the member was absent.
    pub mos: Option<Vec<MosEntry>>,
    /// Generic alerts, the session-start alert among them.
    pub alerts: Vec<Alert>,
}

impl Package1 {
    /// The session-start alert that says who started the session (a session
    /// rule the server checks; decoding does not), docs/protocol.md section
    /// 3.1.
    ///
    /// A Package#1 carries at least one session-start alert and may carry
    /// several of different types (a client sends `ClientInitiatedMgmt`
    /// together with `BootstrapComplete`); the most specific one governs:
    /// `BootstrapComplete`, then `ServerInitiatedMgmt`, then
    /// `ClientInitiatedMgmt`. The same type twice is an error (HTTP 400 at
    /// the server).
    ///
    /// ```
    /// use dm_types::{Alert, AlertType, Package1};
    ///
    /// let both = Package1 {
    ///     mos: None,
    ///     alerts: vec![Alert::client_initiated(), Alert::bootstrap_complete()],
    /// };
    /// let start = both.session_start_alert()?;
    /// assert_eq!(start.alert_type.as_str(), AlertType::BOOTSTRAP_COMPLETE);
    ///
    /// let twice = Package1 {
    ///     mos: None,
    ///     alerts: vec![Alert::client_initiated(), Alert::client_initiated()],
    /// };
    /// assert!(twice.session_start_alert().is_err());
    /// # Ok::<(), dm_types::Error>(())
    /// ```
    pub fn session_start_alert(&self) -> Result<&Alert, Error> {
        /// The session-start types, most specific first.
        const PRECEDENCE: [&str; 3] = [
            AlertType::BOOTSTRAP_COMPLETE,
            AlertType::SERVER_INITIATED_MGMT,
            AlertType::CLIENT_INITIATED_MGMT,
        ];
        let mut found: [Option<&Alert>; 3] = [None; 3];
        for alert in &self.alerts {
            let Some(rank) = PRECEDENCE
                .iter()
                .position(|t| *t == alert.alert_type.as_str())
            else {
                continue;
            };
            if found[rank].replace(alert).is_some() {
                return Err(Error::Package(
                    "Package#1 carries the same session-start alert type twice",
                ));
            }
        }
        found
            .into_iter()
            .flatten()
            .next()
            .ok_or(Error::Package("Package#1 carries no session-start alert"))
    }
}

/// Package#2: commands from the server (section 3.2).
///
/// END may only be the last entry; a package holding END ends the session.
///
/// ```
/// use dm_types::{Command, CommandEntry, Package2};
///
/// let p2 = Package2::new(vec![Command::End.into()])?;
/// assert!(p2.ends_session());
/// let get = Command::from_words(&["GET", "urn:x:y//a"])?;
/// assert!(Package2::new(vec![Command::End.into(), get.into()]).is_err());
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package2 {
    commands: Vec<CommandEntry>,
}

impl Package2 {
    /// Checks that END, if present, is the last entry.
    pub fn new(commands: Vec<CommandEntry>) -> Result<Package2, Error> {
        if let Some(pos) = commands.iter().position(CommandEntry::is_end)
            && pos + 1 != commands.len()
        {
            return Err(Error::Package("END may only be the last command"));
        }
        Ok(Package2 { commands })
    }

    /// The entries in order.
    pub fn commands(&self) -> &[CommandEntry] {
        &self.commands
    }

    /// The entries, by value.
    pub fn into_commands(self) -> Vec<CommandEntry> {
        self.commands
    }

    /// Whether the package ends with a valid END: the client executes it and
    /// sends nothing more.
    pub fn ends_session(&self) -> bool {
        matches!(
            self.commands.last(),
            Some(CommandEntry::Command(crate::Command::End))
        )
    }

    /// How many status entries the answering Package#3 carries (END has none).
    pub fn status_count(&self) -> usize {
        self.commands.len() - usize::from(self.ends_session())
    }
}

/// One status entry of Package#3.
///
/// ```
/// use dm_types::{Status, StatusCode};
///
/// let s = Status::new(StatusCode::OK);
/// assert!(s.uris.is_empty() && s.data.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The status code.
    pub code: StatusCode,
    /// ClientURIs touched (HGET targets, ...); omitted on the wire when empty.
    pub uris: Vec<ClientUri>,
    /// GET results; omitted on the wire when empty.
    pub data: Vec<MoItem>,
}

impl Status {
    /// A status with no URIs or data.
    pub fn new(code: StatusCode) -> Status {
        Status {
            code,
            uris: Vec::new(),
            data: Vec::new(),
        }
    }
}

/// Package#3: statuses and alerts from the client (section 3.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Package3 {
    /// One entry per command of the preceding Package#2 (END excepted).
    pub statuses: Vec<Status>,
    /// Alerts the client delivers now; omitted on the wire when empty.
    pub alerts: Vec<Alert>,
}
