//! What the client keeps between sessions besides the tree, and the state
//! file that holds both, written atomically.

use std::path::{Path, PathBuf};

use dm_codec::Limits;
use dm_codec::notification::{AcceptedId, NotificationIdWindow};
use dm_tree::MoTree;
use dm_types::{Alert, ClientUri, DevId, Moid, ServerId, ServerUri};
use serde_json::{Value, json};

use crate::Error;

/// Most notifications accepted per server while their TIMESTAMPs are inside
/// the acceptance window (the rate limit of docs/protocol.md section 12):
/// every id accepted inside the window is remembered, so none is accepted
/// twice.
pub(crate) const NOTIFICATIONS_PER_WINDOW: usize = 64;

/// The highest [`NOTIFICATIONS_PER_WINDOW`] a builder may set, and the most
/// ids per server a state file may hold.
pub(crate) const MAX_NOTIFICATIONS_PER_WINDOW: usize = 4096;

/// Most servers whose NOTIFICATION-IDs are remembered at once.
pub(crate) const NOTIFYING_SERVERS: usize = 64;

/// Most accounts a state file may list as owed `BootstrapComplete` (far
/// more than a device has: the tree's own limits bound its accounts).
const MAX_ACCOUNTS: usize = 4096;

/// The format name and version of the state file.
const FORMAT: &str = "dm-client-state";
const VERSION: u64 = 1;

/// Where a server said to fetch configuration of an MO type (DEFAULT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DefaultUri {
    pub(crate) server: ServerId,
    pub(crate) moid: Moid,
    pub(crate) source: ServerUri,
}

/// An alert waiting for a session that delivers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingAlert {
    pub(crate) server: ServerId,
    /// Where Package#1 goes (EXEC with a ServerURI); `None`: the account's
    /// `SrvURI`.
    pub(crate) report_to: Option<ServerUri>,
    pub(crate) alert: Alert,
}

/// An EXEC that answered `202` and whose result is still to come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningExec {
    pub(crate) server: ServerId,
    /// The ClientURI as the server sent it (the alert's `SourceURI`).
    pub(crate) node: ClientUri,
    /// The node's absolute ClientURI (what a `NodeHandler` sees).
    pub(crate) absolute: ClientUri,
    pub(crate) report_to: Option<ServerUri>,
}

/// The client's own state, persisted next to the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientState {
    pub(crate) defaults: Vec<DefaultUri>,
    pub(crate) pending: Vec<PendingAlert>,
    pub(crate) running: Vec<RunningExec>,
    /// The NOTIFICATION-IDs acted on whose TIMESTAMP is inside the window,
    /// per server.
    pub(crate) notification_ids: NotificationIdWindow,
    /// The DevID the device runs with, kept apart from the tree (whose
    /// DevInfo servers must not be able to change); `None` in files of
    /// older versions.
    pub(crate) dev_id: Option<DevId>,
    /// The management accounts owed a session with `BootstrapComplete`
    /// (docs/protocol.md sections 11.2 and 11.3), until one succeeds.
    /// Files written before it was kept have none (`bootstrap_complete`
    /// absent).
    pub(crate) bootstrap_complete: Vec<ServerId>,
}

impl Default for ClientState {
    fn default() -> Self {
        ClientState {
            defaults: Vec::new(),
            pending: Vec::new(),
            running: Vec::new(),
            notification_ids: NotificationIdWindow::new(
                NOTIFYING_SERVERS,
                NOTIFICATIONS_PER_WINDOW,
            ),
            dev_id: None,
            bootstrap_complete: Vec::new(),
        }
    }
}

impl ClientState {
    /// Records DEFAULT: one ServerURI per (server, MOID), the newest wins.
    pub(crate) fn set_default(&mut self, server: &ServerId, moid: Moid, source: ServerUri) {
        self.defaults
            .retain(|d| !(d.server == *server && d.moid == moid));
        self.defaults.push(DefaultUri {
            server: server.clone(),
            moid,
            source,
        });
    }

    /// Owes `server` a `BootstrapComplete` session; whether that is new.
    pub(crate) fn owe_bootstrap_complete(&mut self, server: &ServerId) -> bool {
        if self.bootstrap_complete.contains(server) {
            return false;
        }
        self.bootstrap_complete.push(server.clone());
        true
    }

    /// Whether `server` is owed a `BootstrapComplete` session.
    pub(crate) fn owes_bootstrap_complete(&self, server: &ServerId) -> bool {
        self.bootstrap_complete.contains(server)
    }

    /// Clears what `server` is owed; whether anything was.
    pub(crate) fn clear_bootstrap_complete(&mut self, server: &ServerId) -> bool {
        let before = self.bootstrap_complete.len();
        self.bootstrap_complete.retain(|s| s != server);
        before != self.bootstrap_complete.len()
    }

    fn to_json(&self) -> Value {
        let text = |uri: Option<&ServerUri>| uri.map_or(Value::Null, |u| Value::from(u.as_str()));
        json!({
            "dev_id": self.dev_id.as_ref().map_or(Value::Null, |id| Value::from(id.as_str())),
            "bootstrap_complete": self.bootstrap_complete.iter().map(ServerId::as_str).collect::<Vec<_>>(),
            "defaults": self.defaults.iter().map(|d| json!({
                "server": d.server.as_str(), "moid": d.moid.as_str(), "source": d.source.as_str(),
            })).collect::<Vec<_>>(),
            "pending": self.pending.iter().map(|p| json!({
                "server": p.server.as_str(),
                "report_to": text(p.report_to.as_ref()),
                "alert": serde_json::from_slice::<Value>(&dm_codec::encode_alert(&p.alert)).unwrap_or(Value::Null),
            })).collect::<Vec<_>>(),
            "running": self.running.iter().map(|r| json!({
                "server": r.server.as_str(), "node": r.node.as_str(), "absolute": r.absolute.as_str(),
                "report_to": text(r.report_to.as_ref()),
            })).collect::<Vec<_>>(),
            "notification_ids": self.notification_ids.servers().map(|server| json!({
                "server": server.as_str(),
                "accepted": self.notification_ids.accepted(server).iter()
                    .map(|a| json!([a.id, a.timestamp])).collect::<Vec<_>>(),
                "forgotten_up_to": self.notification_ids.forgotten_up_to(server),
            })).collect::<Vec<_>>(),
        })
    }

    fn from_json(value: &Value) -> Result<ClientState, String> {
        fn list<'a>(value: &'a Value, name: &str) -> Result<&'a [Value], String> {
            value[name]
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| format!("state.{name} is not an array"))
        }
        fn text<'a>(entry: &'a Value, at: &str, name: &str) -> Result<&'a str, String> {
            entry[name]
                .as_str()
                .ok_or_else(|| format!("{at}.{name} is not a string"))
        }
        fn server(entry: &Value, at: &str) -> Result<ServerId, String> {
            ServerId::new(text(entry, at, "server")?).map_err(|e| format!("{at}.server: {e}"))
        }
        fn uri(entry: &Value, at: &str, name: &str) -> Result<Option<ServerUri>, String> {
            match &entry[name] {
                Value::Null => Ok(None),
                Value::String(text) => ServerUri::new(text.as_str())
                    .map(Some)
                    .map_err(|e| format!("{at}.{name}: {e}")),
                _ => Err(format!("{at}.{name} is not a string or null")),
            }
        }
        fn client_uri(entry: &Value, at: &str, name: &str) -> Result<ClientUri, String> {
            ClientUri::parse(text(entry, at, name)?).map_err(|e| format!("{at}.{name}: {e}"))
        }
        let dev_id = match &value["dev_id"] {
            Value::Null => None,
            Value::String(text) => {
                Some(DevId::new(text.as_str()).map_err(|e| format!("state.dev_id: {e}"))?)
            }
            _ => return Err("state.dev_id is not a string or null".into()),
        };
        let mut state = ClientState {
            dev_id,
            ..ClientState::default()
        };
        match &value["bootstrap_complete"] {
            Value::Null => {}
            Value::Array(servers) => {
                if servers.len() > MAX_ACCOUNTS {
                    return Err(format!(
                        "state.bootstrap_complete holds more than {MAX_ACCOUNTS} accounts"
                    ));
                }
                for (index, entry) in servers.iter().enumerate() {
                    let at = format!("state.bootstrap_complete[{index}]");
                    let server = entry
                        .as_str()
                        .ok_or_else(|| format!("{at} is not a string"))
                        .and_then(|text| ServerId::new(text).map_err(|e| format!("{at}: {e}")))?;
                    if !state.owe_bootstrap_complete(&server) {
                        return Err(format!("{at} repeats {server}"));
                    }
                }
            }
            _ => return Err("state.bootstrap_complete is not an array".into()),
        }
        for (index, entry) in list(value, "defaults")?.iter().enumerate() {
            let at = format!("state.defaults[{index}]");
            state.defaults.push(DefaultUri {
                server: server(entry, &at)?,
                moid: Moid::new(text(entry, &at, "moid")?)
                    .map_err(|e| format!("{at}.moid: {e}"))?,
                source: uri(entry, &at, "source")?
                    .ok_or_else(|| format!("{at}.source is missing"))?,
            });
        }
        for (index, entry) in list(value, "pending")?.iter().enumerate() {
            let at = format!("state.pending[{index}]");
            let bytes =
                serde_json::to_vec(&entry["alert"]).map_err(|e| format!("{at}.alert: {e}"))?;
            state.pending.push(PendingAlert {
                server: server(entry, &at)?,
                report_to: uri(entry, &at, "report_to")?,
                alert: dm_codec::decode_alert(&bytes, &Limits::default())
                    .map_err(|e| format!("{at}.alert: {e}"))?,
            });
        }
        for (index, entry) in list(value, "running")?.iter().enumerate() {
            let at = format!("state.running[{index}]");
            state.running.push(RunningExec {
                server: server(entry, &at)?,
                node: client_uri(entry, &at, "node")?,
                absolute: client_uri(entry, &at, "absolute")?,
                report_to: uri(entry, &at, "report_to")?,
            });
        }
        // Restored with the highest limit: the client's own is set after
        // loading, and never drops remembered ids.
        state.notification_ids =
            NotificationIdWindow::new(NOTIFYING_SERVERS, MAX_NOTIFICATIONS_PER_WINDOW);
        let servers = list(value, "notification_ids")?;
        if servers.len() > NOTIFYING_SERVERS {
            return Err(format!(
                "state.notification_ids holds more than {NOTIFYING_SERVERS} servers"
            ));
        }
        for (index, entry) in servers.iter().enumerate() {
            let at = format!("state.notification_ids[{index}]");
            let server = server(entry, &at)?;
            if state.notification_ids.servers().any(|s| *s == server) {
                return Err(format!("{at}.server repeats {server}"));
            }
            let (accepted, forgotten_up_to) = notification_ids(entry, &at)?;
            state
                .notification_ids
                .restore(&server, accepted, forgotten_up_to);
        }
        state
            .notification_ids
            .set_max_per_window(NOTIFICATIONS_PER_WINDOW);
        Ok(state)
    }
}

/// The remembered NOTIFICATION-IDs of one server in the state file:
/// `accepted` pairs of id and TIMESTAMP, and `forgotten_up_to`. A file
/// written before TIMESTAMPs were kept holds `ids` alone: those ids are
/// taken as forgotten (their TIMESTAMPs are unknown).
fn notification_ids(entry: &Value, at: &str) -> Result<(Vec<AcceptedId>, Option<u64>), String> {
    if entry.get("accepted").is_none() && entry["ids"].is_array() {
        return Ok((Vec::new(), None));
    }
    let pairs = entry["accepted"]
        .as_array()
        .ok_or_else(|| format!("{at}.accepted is not an array"))?;
    if pairs.len() > MAX_NOTIFICATIONS_PER_WINDOW {
        return Err(format!(
            "{at}.accepted holds more than {MAX_NOTIFICATIONS_PER_WINDOW} ids"
        ));
    }
    let mut accepted: Vec<AcceptedId> = Vec::with_capacity(pairs.len());
    for (index, pair) in pairs.iter().enumerate() {
        let entry = match pair.as_array().map(Vec::as_slice) {
            Some([id, timestamp]) => id
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .zip(timestamp.as_u64())
                .map(|(id, timestamp)| AcceptedId { id, timestamp }),
            _ => None,
        }
        .ok_or_else(|| {
            format!("{at}.accepted[{index}] is not a [NOTIFICATION-ID, TIMESTAMP] pair")
        })?;
        if accepted.iter().any(|a| a.id == entry.id) {
            return Err(format!("{at}.accepted[{index}] repeats id {}", entry.id));
        }
        accepted.push(entry);
    }
    let forgotten_up_to = match &entry["forgotten_up_to"] {
        Value::Null => None,
        value => Some(
            value
                .as_u64()
                .ok_or_else(|| format!("{at}.forgotten_up_to is not a TIMESTAMP or null"))?,
        ),
    };
    Ok((accepted, forgotten_up_to))
}

/// The state file's bytes: the tree snapshot and the client state.
pub(crate) fn encode(tree: &MoTree, state: &ClientState) -> Vec<u8> {
    let tree: Value = serde_json::from_slice(&tree.to_snapshot()).unwrap_or(Value::Null);
    let document = json!({
        "format": FORMAT,
        "version": VERSION,
        "tree": tree,
        "state": state.to_json(),
    });
    serde_json::to_vec_pretty(&document).unwrap_or_default()
}

/// Reads a state file's bytes into `base` (a tree holding the definitions
/// and handlers to attach).
pub(crate) fn decode(
    bytes: &[u8],
    base: MoTree,
    path: &Path,
) -> Result<(MoTree, ClientState), Error> {
    let corrupt = |reason: String| Error::StateCorrupt {
        path: path.to_owned(),
        reason,
    };
    let document: Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    if document["format"] != FORMAT {
        return Err(corrupt(format!("not a {FORMAT} document")));
    }
    if document["version"].as_u64() != Some(VERSION) {
        return Err(corrupt(format!(
            "version {} is not the supported version {VERSION}",
            document["version"]
        )));
    }
    let snapshot = serde_json::to_vec(&document["tree"]).map_err(|e| corrupt(e.to_string()))?;
    let tree = MoTree::from_snapshot(&snapshot, base).map_err(|e| corrupt(format!("tree: {e}")))?;
    let state = ClientState::from_json(&document["state"]).map_err(corrupt)?;
    Ok((tree, state))
}

/// The largest state file read: far beyond what servers can make the
/// device keep ([`dm_tree::TreeLimits`], 16 MiB of tree data by default),
/// so that only a damaged file or a device that stored that much itself
/// reaches it.
pub(crate) const MAX_STATE_BYTES: u64 = 256 << 20;

/// The state file's bytes; `None` when it does not exist (no state yet).
/// A file over [`MAX_STATE_BYTES`] is [`Error::StateCorrupt`], read no
/// further.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    use std::io::Read as _;
    let io = |source| Error::StateIo {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io(source)),
    };
    // The length the file claims is checked first (nothing read), and the
    // read stops past the limit in case the file grew meanwhile.
    let claimed = file.metadata().map_err(io)?.len();
    let mut bytes = Vec::new();
    if claimed <= MAX_STATE_BYTES {
        file.take(MAX_STATE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    }
    if claimed > MAX_STATE_BYTES || bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(Error::StateCorrupt {
            path: path.to_owned(),
            reason: format!(
                "the file is larger than the {} MiB a state file may hold; \
                 move it aside to start the device afresh (it is then provisioned \
                 again from its configuration)",
                MAX_STATE_BYTES >> 20
            ),
        });
    }
    Ok(Some(bytes))
}

/// The tree of the state file at `path` (instances and subscriptions, no
/// definitions or handlers); `None` when the file does not exist.
pub(crate) fn read_tree(path: &Path) -> Result<Option<MoTree>, Error> {
    let Some(bytes) = read(path)? else {
        return Ok(None);
    };
    let (tree, _) = decode(&bytes, MoTree::new(), path)?;
    Ok(Some(tree))
}

/// The DevID stored in a state file (at `path`): the recorded one (`state`)
/// or, in files of older versions, the `DevID` of the DevInfo instance the
/// device created; `None` when there is neither. DevInfo instances a server
/// created are ignored, and a DevInfo that disagrees with the recorded
/// DevID is overruled; both are logged.
pub(crate) fn stored_dev_id(
    tree: &MoTree,
    state: &ClientState,
    path: &Path,
) -> Result<Option<DevId>, Error> {
    let corrupt = |reason: String| Error::StateCorrupt {
        path: path.to_owned(),
        reason,
    };
    let mut found: Vec<(String, Result<DevId, String>)> = Vec::new();
    for devinfo in tree.instances_of(dm_tree::DEVINFO_MOID) {
        let miid = devinfo.miid().as_str().to_owned();
        if let dm_tree::Principal::Server(server) = devinfo.creator() {
            tracing::warn!(
                state_file = %path.display(),
                miid,
                server = server.as_str(),
                "ignoring a DevInfo instance a server created"
            );
            continue;
        }
        let dev_id = devinfo
            .lookup(["DevID"])
            .and_then(|id| devinfo.value(id))
            .ok_or_else(|| "no DevID".to_owned())
            .and_then(|value| {
                DevId::new(value.to_text().into_owned()).map_err(|e| format!("DevID: {e}"))
            });
        found.push((miid, dev_id));
    }
    if let Some(recorded) = &state.dev_id {
        for (miid, dev_id) in &found {
            if dev_id.as_ref().ok() != Some(recorded) {
                tracing::warn!(
                    state_file = %path.display(),
                    miid,
                    recorded = recorded.as_str(),
                    "a DevInfo instance disagrees with the recorded DevID, which is kept"
                );
            }
        }
        return Ok(Some(recorded.clone()));
    }
    match found.as_slice() {
        [] => Ok(None),
        [(miid, dev_id)] => dev_id
            .clone()
            .map(Some)
            .map_err(|reason| corrupt(format!("DevInfo {miid}: {reason}"))),
        [(first, dev_id), rest @ ..] => {
            let dev_id = dev_id
                .clone()
                .map_err(|reason| corrupt(format!("DevInfo {first}: {reason}")))?;
            if rest.iter().all(|(_, other)| other.as_ref() == Ok(&dev_id)) {
                return Ok(Some(dev_id));
            }
            let miids: Vec<&str> = found.iter().map(|(miid, _)| miid.as_str()).collect();
            Err(corrupt(format!(
                "{} DevInfo instances ({}) with different DevIDs and no recorded DevID; \
                 a device has one DevInfo: remove the ones that are not the device's \
                 from tree.instances, or delete the file to start the device afresh",
                found.len(),
                miids.join(", ")
            )))
        }
    }
}

/// The client's error for a failure of the state file's `dm_files`
/// operations: [`Error::StatePermissions`] or [`Error::StateIo`].
fn file_error(error: dm_files::Error) -> Error {
    match error {
        dm_files::Error::SharedPermissions { path, mode } => Error::StatePermissions { path, mode },
        dm_files::Error::Io { path, source } => Error::StateIo { path, source },
        dm_files::Error::NoFileName { path } => Error::StateIo {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        },
        other => Error::StateIo {
            path: other.path().to_owned(),
            source: std::io::Error::other(other),
        },
    }
}

/// Checks that group and others can neither read nor write the state file
/// at `path` ([`dm_files::check_permissions`]); a missing file passes.
pub(crate) fn check_permissions(path: &Path) -> Result<(), Error> {
    dm_files::check_permissions(path, dm_files::Access::OwnerOnly).map_err(file_error)
}

/// Removes the temporary files a writer of the state file at `path` left
/// behind when it was killed between creating and renaming them
/// ([`dm_files::remove_stale_temporaries`]); the paths removed. Two
/// processes must not share a state file.
pub(crate) fn remove_stale_temporaries(path: &Path) -> Result<Vec<PathBuf>, Error> {
    dm_files::remove_stale_temporaries(path).map_err(file_error)
}

/// Replaces the state file at `path` atomically and durably, owner-only
/// ([`dm_files::write_atomically_with`]): `write` fills a new temporary
/// file; when anything fails the temporary file is removed and `path` is
/// left as it was.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    dm_files::write_atomically_with(path, write).map_err(file_error)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use dm_codec::notification::Replay;
    use dm_types::StatusCode;

    /// Distinguishes the scratch directories of concurrent tests.
    static SCRATCH: AtomicU64 = AtomicU64::new(0);

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dm-client-state-{name}-{}-{}",
            std::process::id(),
            SCRATCH.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    fn sample() -> ClientState {
        let server = ServerId::new("dm.example").expect("id");
        let node = ClientUri::parse("urn:x:y//Reboot").expect("uri");
        let mut state = ClientState::default();
        state.set_default(
            &server,
            Moid::new("urn:x:wlan").expect("moid"),
            ServerUri::new("https://repo.example/wlan").expect("uri"),
        );
        state.pending.push(PendingAlert {
            server: server.clone(),
            report_to: None,
            alert: Alert::exec_complete(&node, StatusCode::OK),
        });
        state.running.push(RunningExec {
            server: server.clone(),
            node,
            absolute: ClientUri::parse("urn:x:y/m/Reboot").expect("uri"),
            report_to: Some(ServerUri::new("https://dm.example/r").expect("uri")),
        });
        state.owe_bootstrap_complete(&server);
        state
            .notification_ids
            .accept(&server, 7, 1_764_000_000, 1_764_000_000, 300)
            .expect("new id");
        state
    }

    #[test]
    fn state_round_trips() {
        let dir = scratch("round-trip");
        let path = dir.join("device.json");
        let bytes = encode(&MoTree::new(), &sample());
        let (tree, state) = decode(&bytes, MoTree::new(), &path).expect("decoded");
        assert_eq!(state, sample());
        assert_eq!(tree, MoTree::new());
    }

    #[test]
    fn notification_ids_inside_the_window_are_persisted() {
        const NOW: u64 = 1_764_000_000;
        let server = ServerId::new("dm.example").expect("id");
        let mut state = ClientState::default();
        for id in 0..40 {
            state
                .notification_ids
                .accept(&server, id, NOW + u64::from(id), NOW + 40, 300)
                .expect("new id");
        }
        let path = Path::new("state.json");
        let (_, mut loaded) =
            decode(&encode(&MoTree::new(), &state), MoTree::new(), path).expect("decoded");
        assert_eq!(loaded, state);
        // After a restart the first one is still a replay.
        assert_eq!(
            loaded
                .notification_ids
                .accept(&server, 0, NOW, NOW + 60, 300),
            Err(Replay::Duplicate { id: 0 })
        );
        // A file written before TIMESTAMPs were kept still loads.
        let legacy = String::from_utf8(encode(&MoTree::new(), &ClientState::default()))
            .expect("utf-8")
            .replace(
                r#""notification_ids": []"#,
                r#""notification_ids": [{"server": "dm.example", "ids": [1, 2]}]"#,
            );
        let (_, loaded) = decode(legacy.as_bytes(), MoTree::new(), path).expect("legacy");
        assert_eq!(loaded.notification_ids.accepted(&server), []);
        for (broken, expected) in [
            (
                r#"[{"server": "dm.example", "accepted": [[1]]}]"#,
                "accepted[0] is not a",
            ),
            (
                r#"[{"server": "dm.example", "accepted": [[1, 5], [1, 6]]}]"#,
                "accepted[1] repeats id 1",
            ),
            (
                r#"[{"server": "dm.example", "accepted": [], "forgotten_up_to": "x"}]"#,
                "forgotten_up_to is not",
            ),
            (
                r#"[{"server": "a", "accepted": []}, {"server": "a", "accepted": []}]"#,
                "notification_ids[1].server repeats a",
            ),
        ] {
            let text = String::from_utf8(encode(&MoTree::new(), &ClientState::default()))
                .expect("utf-8")
                .replace(
                    r#""notification_ids": []"#,
                    &format!(r#""notification_ids": {broken}"#),
                );
            let err = decode(text.as_bytes(), MoTree::new(), path).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn pending_bootstrap_complete_is_kept_and_checked() {
        let path = Path::new("state.json");
        let (_, loaded) =
            decode(&encode(&MoTree::new(), &sample()), MoTree::new(), path).expect("decoded");
        assert_eq!(loaded.bootstrap_complete, sample().bootstrap_complete);
        let text =
            String::from_utf8(encode(&MoTree::new(), &ClientState::default())).expect("utf-8");
        // Files written before it was kept load with nothing pending.
        let older = text.replace(r#""bootstrap_complete": [],"#, "");
        assert_ne!(older, text);
        let (_, loaded) = decode(older.as_bytes(), MoTree::new(), path).expect("older file");
        assert!(loaded.bootstrap_complete.is_empty());
        for (broken, expected) in [
            (
                r#""bootstrap_complete": [1],"#,
                "bootstrap_complete[0] is not a string",
            ),
            (
                r#""bootstrap_complete": ["a", "a"],"#,
                "bootstrap_complete[1] repeats a",
            ),
            (
                r#""bootstrap_complete": {},"#,
                "bootstrap_complete is not an array",
            ),
        ] {
            let damaged = text.replace(r#""bootstrap_complete": [],"#, broken);
            let err = decode(damaged.as_bytes(), MoTree::new(), path).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn corrupt_files_are_precise_errors() {
        let path = Path::new("state.json");
        let good = encode(&MoTree::new(), &sample());
        let truncated = &good[..good.len() / 2];
        for (bytes, expected) in [
            (truncated, "not JSON"),
            (
                &b"{\"format\":\"other\"}"[..],
                "not a dm-client-state document",
            ),
            (
                &b"{\"format\":\"dm-client-state\",\"version\":9}"[..],
                "version 9",
            ),
        ] {
            let err = decode(bytes, MoTree::new(), path).unwrap_err();
            assert!(
                matches!(&err, Error::StateCorrupt { reason, .. } if reason.contains(expected)),
                "{err}"
            );
        }
        let text = String::from_utf8(good).expect("utf-8");
        let broken = text.replace("\"urn:x:wlan\"", "\"not a urn\"");
        let err = decode(broken.as_bytes(), MoTree::new(), path).unwrap_err();
        assert!(err.to_string().contains("state.defaults[0].moid"), "{err}");
    }

    #[test]
    fn the_stored_dev_id_is_read_without_a_client() {
        let dir = scratch("dev-id");
        let path = dir.join("device.json");
        let dev_id = |path: &Path| crate::DmClient::stored_dev_id(path);
        // No file yet, and a file without DevInfo: nothing stored.
        assert!(matches!(dev_id(&path), Ok(None)));
        std::fs::write(&path, encode(&MoTree::new(), &sample())).expect("write");
        assert!(matches!(dev_id(&path), Ok(None)));
        let with_devinfo = |devinfo: &str| {
            let document = format!(
                r#"[{{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/","MOData":{{"DevInfo":{devinfo}}}}}]"#
            );
            let items = dm_codec::decode_mo_serialization(document.as_bytes(), &Limits::default())
                .expect("MO serialization");
            let tree = MoTree::from_mo_serialization(&items).expect("tree");
            std::fs::write(&path, encode(&tree, &sample())).expect("write");
            dev_id(&path)
        };
        let stored = with_devinfo(r#"{"DevID":"IMEI:493005100592800","Man":"Acme"}"#);
        assert_eq!(
            stored.expect("read").map(|id| id.as_str().to_owned()),
            Some("IMEI:493005100592800".to_owned())
        );
        // Precise errors, no panics.
        for (devinfo, expected) in [
            (r#"{"Man":"Acme"}"#, "DevInfo devinfo: no DevID"),
            (r#"{"DevID":"has space"}"#, "DevInfo devinfo: DevID: "),
        ] {
            let err = with_devinfo(devinfo).unwrap_err();
            assert!(
                matches!(&err, Error::StateCorrupt { path: p, reason } if p == &path && reason.starts_with(expected)),
                "{err}"
            );
        }
        std::fs::write(&path, b"{\"format\":\"dm-client-state\"").expect("write");
        let err = dev_id(&path).unwrap_err();
        assert!(
            matches!(&err, Error::StateCorrupt { reason, .. } if reason.contains("not JSON")),
            "{err}"
        );
        // A directory is no state file: the read fails.
        let err = dev_id(&dir).unwrap_err();
        assert!(matches!(err, Error::StateIo { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = scratch("owner-only");
        let path = dir.join("device.json");
        write_atomic(&path, |file| file.write_all(b"secret")).expect("written");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(check_permissions(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).expect("chmod");
        assert!(matches!(
            check_permissions(&path),
            Err(Error::StatePermissions { mode: 0o660, .. })
        ));
        assert!(check_permissions(&dir.join("missing.json")).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_without_a_file_name_is_a_state_file_error() {
        let err = write_atomic(Path::new("/"), |_| Ok(())).unwrap_err();
        assert!(
            matches!(&err, Error::StateIo { path, source }
                if path == Path::new("/") && source.kind() == std::io::ErrorKind::InvalidInput),
            "{err}"
        );
        assert!(err.to_string().contains("the path names no file"), "{err}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("atomic");
        let path = dir.join("device.json");
        write_atomic(&path, |file| file.write_all(b"old state")).expect("first write");
        let err = write_atomic(&path, |file| {
            file.write_all(b"half of the new st")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(matches!(err, Error::StateIo { .. }), "{err}");
        assert_eq!(std::fs::read(&path).expect("old file"), b"old state");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .expect("listing")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("device.json")]);
        write_atomic(&path, |file| file.write_all(b"new state")).expect("second write");
        assert_eq!(std::fs::read(&path).expect("new file"), b"new state");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
