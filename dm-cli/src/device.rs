//! `dm device`: a simulated device, built on `dm-client`.
//!
//! It opens one client-initiated session with the server, then (unless
//! `--once`) listens for notifications on UDP, runs a server-initiated
//! session for each verified one, and delivers asynchronous EXEC results.
//! The tree is persisted to `--state`; an existing state file is the same
//! device again (its DevID and account are kept). Lines on stderr tell what
//! happens; when listening, `dm device: listening for notifications on
//! udp://HOST:PORT` comes before the first session (tools wait for that
//! prefix), and SIGTERM or Ctrl-C stops it gracefully (`dm device:
//! stopped`, exit 0).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use dm_client::{
    Account, AccountChange, BootstrapApproval, BootstrapReport, BrowserLauncher, ClientEvent,
    Credentials, DmClient, DmClientBuilder, ExecCompletion, Ignored, Observer, SessionReport,
    Transport, Trigger,
};
use dm_tree::{
    DACMO_MOID, DMACC_MOID, DevInfo, DmAcc, ExecOutcome, MoTree, NodeHandler, NotificationAuth,
};
use dm_types::{ClientUri, DevId, Moid, ServerId, ServerUri, StatusCode};
use sha2::Digest as _;

/// The vendor MO of the simulated device: `Demo/Reboot` executes
/// asynchronously (result 200 about 200 ms later), `Demo/Status` reads.
const DEMO_MOID: &str = "urn:dm-sdk:mo:demo:1.0";

/// How long the demo `Reboot` takes.
const REBOOT_TIME: Duration = Duration::from_millis(200);

/// How long `--once` waits for the updates a session started.
const UPDATE_WAIT: Duration = Duration::from_secs(600);

/// Options of the subcommand (boxed: they are many, and the other
/// subcommands' options are small).
#[derive(clap::Args)]
#[command(after_help = "\
Without --state, or when the file does not exist yet, the device bootstraps one
DMAcc account for --server: SrvID --srv-id (default: the host of --server),
allowed every MOID unless --perm lists them, notification secret --noti-*.

An existing state file is the same device again: it keeps its stored DevID
unless --dev-id is given, and its stored account as it is. --srv-id, --perm,
--noti-secret-hex, --noti-data-hex and the URL of --server only set up a new
state file; when one of them differs from the stored account, a note on stderr
says it is not applied. A stored account whose Perm list names every MOID of
the tree (as after a bootstrap without --perm) stays allowed every MOID.

The vendor MO urn:dm-sdk:mo:demo:1.0 holds an executable Reboot node that
answers EXEC with 202 and reports 200 about 200 ms later in a new session.

Updates (docs/updates.md): --fumo creates the FUMO instance
urn:oma:mo:oma-fumo:1.0/fw/ and --scomo the SCOMO instance
urn:oma:mo:oma-scomo:1.0/scomo/, both granted Read, Write and Exec to the
server; packages are really downloaded (PkgURL, Ext/PkgSize, Ext/PkgSHA256),
installs are simulated: they take --update-duration, report --update-result
(SCOMO: plus 1000), and --update-fail-percent of them fail with 410 (1410). A
successful firmware update sets DevInfo FwV to the package's PkgVersion (kept
in the state file). Each result prints a line, e.g. \"dm device: firmware
update 1.2.0 finished: 200\" or \"dm device: software component app
DownloadInstall finished: 1200\", and goes to the server as its alert. With
--once the device waits for the updates the session started, and delivers
their results, before it exits. An update still running when the device
stopped is reported at the next start as interrupted (503, SCOMO 1503).

Secrets: --password and --noti-secret-hex on the command line are visible to
every local user in the process list. Give them instead in a file
(--password-file, --noti-secret-file: readable by the device's account only)
or in the environment (DM_DEVICE_PASSWORD, DM_DEVICE_NOTI_SECRET_HEX).
--noti-data-hex needs a notification secret from one of these.

The state file holds the account secrets: it is written owner-only (mode 0600,
set when it is created; Unix), and dm device refuses to start on a state file
group or others can read or write, naming the file, its mode and the fix
(chmod 600), unless --allow-shared-permissions is given. Temporary files an
interrupted write left beside it (.NAME.PID-N.tmp) are removed at start. On
other platforms nothing is checked and the file gets the directory's default
access.

Exit status with --once: 0 when the session ended with END, 1 otherwise.
Without --once the device listens until SIGTERM or Ctrl-C, then prints
\"dm device: stopped\" and exits 0.")]
pub(crate) struct Args {
    #[command(flatten)]
    options: Box<Options>,
}

/// The options themselves.
#[derive(clap::Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags"
)]
struct Options {
    /// The server URI sessions are opened at (DMAcc SrvURI), e.g.
    /// http://127.0.0.1:8080/dm. Optional with --factory.
    #[arg(long, value_name = "URL", required_unless_present = "factory")]
    server: Option<String>,
    /// The state file: the tree and client state, loaded when it exists and
    /// written after every change.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// DevInfo DevID (default: the one stored in --state, else a UUID URN
    /// derived from the host name).
    #[arg(long, value_name = "ID")]
    dev_id: Option<String>,
    /// The server's SrvID (default: the host of --server); used when the
    /// state file is created.
    #[arg(long, value_name = "ID")]
    srv_id: Option<String>,
    /// An MOID the server may manage (repeatable; default: every MOID);
    /// used when the state file is created.
    #[arg(long = "perm", value_name = "MOID")]
    perms: Vec<String>,
    /// Run one client-initiated session and exit (instead of listening for
    /// notifications until SIGTERM or Ctrl-C).
    #[arg(long)]
    once: bool,
    /// Where to listen for notifications (UDP).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    notify_listen: SocketAddr,
    /// The notification address announced to the server (default: the
    /// bound --notify-listen address as udp://HOST:PORT).
    #[arg(long, value_name = "ADDR")]
    notify_address: Option<String>,
    /// HTTP user name (Digest preferred, Basic accepted); needs a password.
    #[arg(long)]
    username: Option<String>,
    /// HTTP password. Visible to every local user in the process list:
    /// prefer --password-file or DM_DEVICE_PASSWORD.
    #[arg(
        long,
        env = "DM_DEVICE_PASSWORD",
        hide_env_values = true,
        conflicts_with = "password_file"
    )]
    password: Option<String>,
    /// A file holding the HTTP password (one final newline is not part of
    /// it).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// CA certificates (PEM) trusted for the server, instead of the system's.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// TLS client certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key of the TLS client certificate (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Notification secret (DMAcc Auth/Noti/Secret), in hex. Visible to
    /// every local user in the process list: prefer --noti-secret-file or
    /// DM_DEVICE_NOTI_SECRET_HEX.
    #[arg(
        long,
        value_name = "HEX",
        env = "DM_DEVICE_NOTI_SECRET_HEX",
        hide_env_values = true,
        conflicts_with = "noti_secret_file"
    )]
    noti_secret_hex: Option<String>,
    /// A file holding the notification secret in hex (surrounding white
    /// space ignored).
    #[arg(long, value_name = "FILE")]
    noti_secret_file: Option<PathBuf>,
    /// Notification auth data (DMAcc Auth/Noti/Data), in hex (not a
    /// secret).
    #[arg(long, value_name = "HEX")]
    noti_data_hex: Option<String>,
    /// Start even when group or others can read or write the state file
    /// (refused by default: it holds the account secrets). The state is
    /// still written owner-only (mode 0600).
    #[arg(long)]
    allow_shared_permissions: bool,
    /// A factory file (an MO serialization of DMAcc instances, management
    /// or bootstrap accounts, secrets included) installed when the state
    /// file does not exist yet (docs/protocol.md section 11.2).
    #[arg(long, value_name = "FILE")]
    factory: Option<PathBuf>,
    /// Refuse every bootstrap (a user who says no): each account change a
    /// bootstrap server asks is answered 403.
    #[arg(long, conflicts_with = "approve_bootstrap")]
    refuse_bootstrap: bool,
    /// Approve every bootstrap (a user who says yes), printing what is
    /// approved; the default approves without asking.
    #[arg(long)]
    approve_bootstrap: bool,
    /// Simulate a FUMO instance (MIID fw) over a simulated firmware whose
    /// version starts as DevInfo FwV; a successful update sets FwV to the
    /// installed PkgVersion.
    #[arg(long)]
    fumo: bool,
    /// Simulate a SCOMO instance (MIID scomo) over simulated software
    /// components.
    #[arg(long)]
    scomo: bool,
    /// What a simulated install reports: a FUMO result code (200..=599);
    /// SCOMO reports it plus 1000.
    #[arg(
        long,
        value_name = "CODE",
        default_value_t = 200,
        value_parser = clap::value_parser!(u16).range(200..=599)
    )]
    update_result: u16,
    /// How long a simulated install takes, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    update_duration: u64,
    /// The share of simulated installs, in percent, that fail with 410
    /// (SCOMO 1410), drawn with --update-seed.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=100)
    )]
    update_fail_percent: u8,
    /// The seed of the failure draw (default: derived from the DevID, so
    /// that each device fails differently but the same way on every run).
    #[arg(long, value_name = "N")]
    update_seed: Option<u64>,
}

impl Options {
    /// The update MOs to simulate.
    fn updates(&self) -> crate::simulation::UpdateSimulation {
        crate::simulation::UpdateSimulation {
            fumo: self.fumo,
            scomo: self.scomo,
            result: self.update_result,
            duration: Duration::from_millis(self.update_duration),
            fail_percent: self.update_fail_percent,
            seed: self.update_seed,
        }
    }
}

pub(crate) fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return crate::fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(device(*args.options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => crate::fail(e),
    }
}

/// Prints what happens on stderr.
struct Printer;

impl Observer for Printer {
    fn event(&self, _server: &ServerId, event: &ClientEvent) {
        match event {
            ClientEvent::LaunchBrowser(page) => {
                say!("dm device: SHOW {page} opened in the simulated browser");
            }
            ClientEvent::Default { moid, source } => {
                say!("dm device: DEFAULT {moid} from {source}");
            }
            ClientEvent::ExecStarted { node, report_to } => match report_to {
                Some(uri) => say!("dm device: EXEC {node} started; result to {uri}"),
                None => say!("dm device: EXEC {node} started; result to the server URI"),
            },
            other => say!("dm device: {other:?}"),
        }
    }

    fn session_ended(&self, report: &SessionReport) {
        say!("dm device: session ended: {report}");
    }

    fn notification_accepted(&self, server: &ServerId, notification_id: Option<u16>) {
        let id = notification_id.map_or_else(String::new, |id| format!(" (NOTIFICATION-ID {id})"));
        say!("dm device: notification from {server} verified{id}; session starts");
    }

    fn bootstrap_ended(&self, server: &ServerId, report: &BootstrapReport) {
        let provisioned: Vec<&str> = report.provisioned.iter().map(ServerId::as_str).collect();
        let uri = format!(" at {}", report.server_uri);
        if report.completed() {
            say!(
                "dm device: bootstrap with {server}{uri}: provisioned {}",
                if provisioned.is_empty() {
                    "nothing".to_owned()
                } else {
                    provisioned.join(", ")
                }
            );
        } else {
            say!(
                "dm device: bootstrap with {server}{uri} failed: {}; no account changed",
                report.session
            );
        }
        for session in &report.bootstrap_complete {
            print_bootstrap_complete(session);
        }
    }

    fn notification_ignored(&self, reason: &Ignored) {
        say!("dm device: notification ignored: {reason}");
    }
}

/// The simulated device's Web Browser Component: it has no screen, so a
/// launch always works and the page is only printed (SHOW answers `200`).
struct SimulatedBrowser;

impl BrowserLauncher for SimulatedBrowser {
    fn launch(&self, _page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

/// Runs `Reboot` asynchronously.
struct DemoHandler {
    completion: ExecCompletion,
}

impl NodeHandler for DemoHandler {
    fn exec(
        &self,
        node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        if !node.as_str().ends_with("/Reboot") {
            return ExecOutcome::Done(StatusCode::COMMAND_NOT_ALLOWED);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return ExecOutcome::Done(StatusCode::OK);
        };
        let completion = self.completion.clone();
        let node = node.clone();
        runtime.spawn(async move {
            tokio::time::sleep(REBOOT_TIME).await;
            completion.finished(node, StatusCode::OK);
        });
        ExecOutcome::Started
    }
}

async fn device(args: Options) -> Result<bool, String> {
    // Installed first: from now on SIGTERM and Ctrl-C stop a listening
    // device gracefully instead of killing it.
    let shutdown = (!args.once).then(crate::shutdown_signal);
    let server_uri = args
        .server
        .as_deref()
        .map(|server| ServerUri::new(server).map_err(|e| format!("--server: {e}")))
        .transpose()?;
    let Some(server_uri) = server_uri else {
        return factory_device(args, shutdown).await;
    };
    let server_id = ServerId::new(args.srv_id.as_deref().unwrap_or(server_uri.host()))
        .map_err(|e| format!("--srv-id: {e}"))?;
    let given_dev_id = args
        .dev_id
        .as_deref()
        .map(|id| DevId::new(id).map_err(|e| format!("--dev-id: {e}")))
        .transpose()?;
    let perms = args
        .perms
        .iter()
        .map(|moid| Moid::new(moid.as_str()).map_err(|e| format!("--perm {moid}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bootstrap = DmAcc::new(server_id, server_uri);
    bootstrap.name = "dm device".into();
    bootstrap.perm_moids.clone_from(&perms);
    let noti_secret = match (&args.noti_secret_hex, &args.noti_secret_file) {
        (Some(hex), _) => Some(
            parse_hex(hex)
                .map_err(|e| format!("--noti-secret-hex (or DM_DEVICE_NOTI_SECRET_HEX): {e}"))?,
        ),
        (None, Some(path)) => {
            let text = String::from_utf8(read_file(path)?)
                .map_err(|_| format!("--noti-secret-file {}: not text", path.display()))?;
            Some(
                parse_hex(&text)
                    .map_err(|e| format!("--noti-secret-file {}: {e}", path.display()))?,
            )
        }
        (None, None) => None,
    };
    if let Some(secret) = noti_secret {
        let data = match &args.noti_data_hex {
            Some(data) => parse_hex(data).map_err(|e| format!("--noti-data-hex: {e}"))?,
            None => Vec::new(),
        };
        bootstrap.notification = Some(NotificationAuth::sha256(secret, data));
    } else if args.noti_data_hex.is_some() {
        return Err(
            "--noti-data-hex needs a notification secret (--noti-secret-hex, \
             --noti-secret-file or DM_DEVICE_NOTI_SECRET_HEX)"
                .into(),
        );
    }

    // An existing state file is the same device again: its DevID (unless
    // --dev-id is given) and its account are kept.
    let stored = match &args.state {
        Some(path) => DmClient::stored_tree(path)
            .map_err(|e| e.to_string())?
            .map(|tree| (path.as_path(), tree)),
        None => None,
    };
    let stored_dev_id = match &stored {
        Some((path, _)) => DmClient::stored_dev_id(path).map_err(|e| e.to_string())?,
        None => None,
    };
    let dev_id = match (given_dev_id, stored_dev_id) {
        (Some(given), Some(stored_id)) => {
            if given != stored_id
                && let Some((path, _)) = &stored
            {
                say!(
                    "dm device: note: --dev-id {given} replaces the DevID {stored_id} stored in {}",
                    path.display()
                );
            }
            given
        }
        (Some(given), None) => given,
        (None, Some(stored_id)) => stored_id,
        (None, None) => host_dev_id()?,
    };
    let (account, every_moid) = match &stored {
        Some((path, tree)) => match stored_account(tree, &bootstrap)? {
            Some(account) => {
                note_kept_account(path, &account, &bootstrap, &args);
                let every_moid = allows_every_moid(tree, &account);
                (account, every_moid)
            }
            None => (bootstrap, perms.is_empty()),
        },
        None => (bootstrap, perms.is_empty()),
    };
    let server_id = account.server_id.clone();

    let password = match (&args.password, &args.password_file) {
        (Some(password), _) => Some(password.clone()),
        (None, Some(path)) => Some(read_password(path)?),
        (None, None) => None,
    };
    let credentials = match (args.username.clone(), password) {
        (Some(username), Some(password)) => Credentials::password(username, password),
        (Some(_), None) => {
            return Err(
                "--username needs a password (--password-file, DM_DEVICE_PASSWORD \
                 or --password)"
                    .into(),
            );
        }
        (None, Some(_)) => {
            return Err(
                "a password (--password, --password-file or DM_DEVICE_PASSWORD) \
                 needs --username"
                    .into(),
            );
        }
        (None, None) => Credentials::None,
    };
    let mut transport = Transport::builder();
    if let Some(path) = &args.ca {
        transport = transport.ca_pem(&read_file(path)?);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        transport = transport.client_identity_pem(&read_file(cert)?, &read_file(key)?);
    }
    let transport = transport.build().map_err(|e| e.to_string())?;

    let socket = if args.once {
        None
    } else {
        let socket = tokio::net::UdpSocket::bind(args.notify_listen)
            .await
            .map_err(|e| format!("--notify-listen {}: {e}", args.notify_listen))?;
        Some(socket)
    };
    let address = match (&socket, &args.notify_address) {
        (_, Some(address)) => Some(address.clone()),
        (Some(socket), None) => Some(format!(
            "udp://{}",
            socket.local_addr().map_err(|e| e.to_string())?
        )),
        (None, None) => None,
    };

    let mut builder = DmClient::builder(devinfo_of(dev_id, &args))
        .account(
            Account::new(account)
                .credentials(credentials)
                .overwrite_credentials(true)
                .allow_every_moid(every_moid),
        )
        .tree(demo_tree(Some(&server_id))?)
        .transport(transport)
        .observer(Arc::new(Printer))
        .browser(Arc::new(SimulatedBrowser));
    builder = common_settings(builder, &args);
    if let (Some(address), Some(_)) = (&address, &socket) {
        builder = builder.notification_address(address.as_str());
    }
    let (mut client, _updates) = start(builder, &args.updates())?;

    let (Some(socket), Some(shutdown)) = (socket, shutdown) else {
        let report = client
            .run_session(&server_id, Trigger::Client)
            .await
            .map_err(|e| e.to_string())?;
        if args.updates().any() {
            // The updates the session started finish, and their results
            // go, before the device exits.
            crate::simulation::settle(&mut client, UPDATE_WAIT).await?;
            if client.pending_reports() > 0 {
                client
                    .deliver_pending_reports()
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        return Ok(report.completed());
    };
    if let Some(address) = &address {
        say!("dm device: listening for notifications on {address}");
    }
    say!(
        "dm device: {} starts a session with {server_id}",
        client.dev_id()
    );
    let mut shutdown = std::pin::pin!(shutdown);
    let first = async {
        bootstrap_first(&mut client).await?;
        client.run_session(&server_id, Trigger::Client).await?;
        if client.pending_reports() > 0 {
            client.deliver_pending_reports().await?;
        }
        Ok::<_, dm_client::Error>(())
    };
    // A signal during the first session stops the device at once (the
    // state file keeps its last complete version).
    let stopped = tokio::select! {
        first = first => {
            first.map_err(|e| e.to_string())?;
            false
        }
        () = &mut shutdown => true,
    };
    if !stopped {
        client
            .listen_udp(&socket, shutdown)
            .await
            .map_err(|e| e.to_string())?;
    }
    say!("dm device: stopped");
    Ok(true)
}

/// What `dm device` sets whatever the accounts: the state file, the
/// factory file, the bootstrap approval.
fn common_settings(mut builder: DmClientBuilder, args: &Options) -> DmClientBuilder {
    if let Some(path) = &args.state {
        builder = builder
            .state_file(path)
            .allow_shared_permissions(args.allow_shared_permissions);
    }
    if let Some(path) = &args.factory {
        builder = builder.factory_file(path);
    }
    if args.refuse_bootstrap || args.approve_bootstrap {
        builder = builder.bootstrap_approval(Arc::new(User {
            approves: args.approve_bootstrap,
        }));
    }
    builder
}

/// Builds the client and attaches the demo handler; a `Reboot` still
/// running when the previous process stopped has finished (the device
/// restarted).
fn start(
    builder: DmClientBuilder,
    updates: &crate::simulation::UpdateSimulation,
) -> Result<(DmClient, Vec<Box<dyn std::any::Any + Send>>), String> {
    let mut client = builder.build().map_err(|e| e.to_string())?;
    let handles = crate::simulation::attach(&mut client, updates)?;
    let completion = client.exec_completion();
    client.set_handler(
        Moid::new(DEMO_MOID).map_err(|e| e.to_string())?,
        Arc::new(DemoHandler { completion }),
    );
    for (_, node) in client.running_execs() {
        if node.moid() == DEMO_MOID && node.as_str().ends_with("/Reboot") {
            client
                .exec_finished(&node, StatusCode::OK)
                .map_err(|e| e.to_string())?;
        } else if crate::simulation::interrupted(&node) {
            // A simulated update the previous process did not finish: a
            // transient failure (FUMO 503, SCOMO 1503), which servers retry.
            say!("dm device: update {node} interrupted by a restart: reported as 503");
            client
                .exec_finished(&node, StatusCode::SERVICE_UNAVAILABLE)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok((client, handles))
}

/// The DevInfo of the simulated device: with `--fumo`, the firmware
/// version an earlier simulated update stored in the state file stays.
fn devinfo_of(dev_id: DevId, args: &Options) -> DevInfo {
    let mut devinfo = host_devinfo(dev_id);
    if args.fumo
        && let Some(version) = crate::simulation::stored_firmware_version(args.state.as_deref())
    {
        devinfo.firmware_version = version;
    }
    devinfo
}

/// The simulated user asked before a bootstrap changes accounts.
struct User {
    approves: bool,
}

impl BootstrapApproval for User {
    fn approve(&self, bootstrap_server: &ServerId, changes: &[AccountChange]) -> bool {
        let names: Vec<String> = changes
            .iter()
            .map(|c| format!("{:?} {}", c.kind, c.server_id))
            .collect();
        let answer = if self.approves { "approved" } else { "refused" };
        say!(
            "dm device: bootstrap by {bootstrap_server} {answer}: {}",
            names.join(", ")
        );
        self.approves
    }
}

/// A device with only bootstrap accounts bootstraps at once (with each,
/// until one provisions a management account); then the
/// `BootstrapComplete` sessions owed run. Whether a management account
/// exists afterwards.
async fn bootstrap_first(client: &mut DmClient) -> Result<bool, dm_client::Error> {
    let bootstrap_servers = client.bootstrap_servers();
    let managed = |client: &DmClient| {
        let bootstrap_servers = client.bootstrap_servers();
        client
            .servers()
            .into_iter()
            .any(|s| !bootstrap_servers.contains(&s))
    };
    if !managed(client) {
        for server in &bootstrap_servers {
            client.bootstrap(server).await?;
            if managed(client) {
                break;
            }
        }
    }
    if !client.pending_bootstrap_complete().is_empty() {
        for report in client.deliver_bootstrap_complete().await? {
            print_bootstrap_complete(&report);
        }
    }
    Ok(managed(client))
}

fn print_bootstrap_complete(report: &SessionReport) {
    if report.completed() {
        say!(
            "dm device: BootstrapComplete delivered to {}",
            report.server_id
        );
    } else {
        say!(
            "dm device: BootstrapComplete to {} still pending: {report}",
            report.server_id
        );
    }
}

/// `dm device --factory FILE` without `--server`: the accounts come from
/// the factory file (or the state file); bootstraps at once when there is
/// no management account, delivers the `BootstrapComplete` sessions, then
/// listens (server-initiated bootstraps included) unless `--once`.
async fn factory_device(
    args: Options,
    shutdown: Option<impl std::future::Future<Output = ()>>,
) -> Result<bool, String> {
    for (given, name) in [
        (args.srv_id.is_some(), "--srv-id"),
        (!args.perms.is_empty(), "--perm"),
        (args.username.is_some(), "--username"),
        (
            args.password.is_some() || args.password_file.is_some(),
            "--password",
        ),
        (
            args.noti_secret_hex.is_some() || args.noti_secret_file.is_some(),
            "--noti-secret-*",
        ),
        (args.noti_data_hex.is_some(), "--noti-data-hex"),
    ] {
        if given {
            return Err(format!(
                "{name} sets up the account of --server: without --server the accounts come \
                 from --factory"
            ));
        }
    }
    let stored_dev_id = match &args.state {
        Some(path) => DmClient::stored_dev_id(path).map_err(|e| e.to_string())?,
        None => None,
    };
    let dev_id = match (&args.dev_id, stored_dev_id) {
        (Some(given), _) => DevId::new(given.as_str()).map_err(|e| format!("--dev-id: {e}"))?,
        (None, Some(stored)) => stored,
        (None, None) => host_dev_id()?,
    };
    let mut transport = Transport::builder();
    if let Some(path) = &args.ca {
        transport = transport.ca_pem(&read_file(path)?);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        transport = transport.client_identity_pem(&read_file(cert)?, &read_file(key)?);
    }
    let transport = transport.build().map_err(|e| e.to_string())?;
    let socket = if args.once {
        None
    } else {
        Some(
            tokio::net::UdpSocket::bind(args.notify_listen)
                .await
                .map_err(|e| format!("--notify-listen {}: {e}", args.notify_listen))?,
        )
    };
    let address = match (&socket, &args.notify_address) {
        (_, Some(address)) => Some(address.clone()),
        (Some(socket), None) => Some(format!(
            "udp://{}",
            socket.local_addr().map_err(|e| e.to_string())?
        )),
        (None, None) => None,
    };
    let mut builder = DmClient::builder(devinfo_of(dev_id, &args))
        .tree(demo_tree(None)?)
        .transport(transport)
        .observer(Arc::new(Printer))
        .browser(Arc::new(SimulatedBrowser));
    builder = common_settings(builder, &args);
    if let (Some(address), Some(_)) = (&address, &socket) {
        builder = builder.notification_address(address.as_str());
    }
    let (mut client, mut updates) = start(builder, &args.updates())?;
    if client.servers().is_empty() {
        return Err("the factory file and the state file hold no account".into());
    }
    let (Some(socket), Some(shutdown)) = (socket, shutdown) else {
        return bootstrap_first(&mut client)
            .await
            .map_err(|e| e.to_string());
    };
    if let Some(address) = &address {
        say!("dm device: listening for notifications on {address}");
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let stopped = tokio::select! {
        first = bootstrap_first(&mut client) => {
            first.map_err(|e| e.to_string())?;
            false
        }
        () = &mut shutdown => true,
    };
    if !stopped {
        // The accounts the bootstrap provisioned manage the simulated
        // update MOs too (attaching again keeps the instances).
        if args.updates().any() {
            updates.extend(crate::simulation::attach(&mut client, &args.updates())?);
        }
        client
            .listen_udp(&socket, shutdown)
            .await
            .map_err(|e| e.to_string())?;
    }
    drop(updates);
    say!("dm device: stopped");
    Ok(true)
}

/// The account of a stored tree the device goes on with: the one for the
/// SrvID asked for (`--srv-id`, default the host of `--server`), else the
/// one at `--server`, else the first; `None` when the tree has none.
fn stored_account(tree: &MoTree, wanted: &DmAcc) -> Result<Option<DmAcc>, String> {
    let accounts = tree
        .dm_accs()
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the state file's account: {e}"))?;
    let index = accounts
        .iter()
        .position(|a| a.server_id == wanted.server_id)
        .or_else(|| {
            accounts
                .iter()
                .position(|a| a.server_uri == wanted.server_uri)
        })
        .unwrap_or(0);
    Ok(accounts.into_iter().nth(index))
}

/// Whether a stored account goes on being allowed every MOID: its `Perm`
/// list is empty (bootstrapped without --perm, no session yet) or names
/// every MOID of the tree, the DMAcc and DACMO aside (what the client
/// grants before each session of such an account). A --perm list that
/// leaves out an MOID of the tree stays exactly what it is.
fn allows_every_moid(tree: &MoTree, account: &DmAcc) -> bool {
    account.perm_moids.is_empty()
        || tree
            .instances()
            .map(dm_tree::MoInstance::moid)
            .filter(|moid| moid.as_str() != DMACC_MOID && moid.as_str() != DACMO_MOID)
            .all(|moid| account.perm_moids.contains(moid))
}

/// Says on stderr which of the bootstrap options given differ from the
/// account kept from the state file (they are not applied).
fn note_kept_account(path: &Path, kept: &DmAcc, wanted: &DmAcc, args: &Options) {
    let moids = |account: &DmAcc| -> BTreeSet<String> {
        account.perm_moids.iter().map(ToString::to_string).collect()
    };
    let mut ignored = Vec::new();
    if args.srv_id.is_some() && kept.server_id != wanted.server_id {
        ignored.push(format!("--srv-id {}", wanted.server_id));
    }
    if kept.server_uri != wanted.server_uri {
        ignored.push(format!("--server {}", wanted.server_uri));
    }
    if !args.perms.is_empty() && moids(kept) != moids(wanted) {
        ignored.push("--perm".to_owned());
    }
    if wanted.notification.is_some() && kept.notification != wanted.notification {
        ignored.push("the notification secret and --noti-data-hex".to_owned());
    }
    if !ignored.is_empty() {
        say!(
            "dm device: note: {} keeps its account (SrvID {}, SrvURI {}); {} not applied: \
             those options only set up a new state file",
            path.display(),
            kept.server_id,
            kept.server_uri,
            ignored.join(", "),
        );
    }
}

/// The password in `path`: its text without one final newline (`\n` or
/// `\r\n`).
fn read_password(path: &Path) -> Result<String, String> {
    let text = String::from_utf8(read_file(path)?)
        .map_err(|_| format!("--password-file {}: not UTF-8 text", path.display()))?;
    let text = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    Ok(text.to_owned())
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The demo MO instance and the DACMO entry that lets the server read and
/// execute it (a device-created instance is otherwise read-only).
/// The demo MO, its ACL granting `server` (anyone without one: the
/// accounts come from a factory file or a bootstrap).
fn demo_tree(server: Option<&ServerId>) -> Result<MoTree, String> {
    let server = server.map_or("*", ServerId::as_str);
    let document = serde_json::json!([
        {"ClientURI": format!("{DEMO_MOID}/demo/"),
         "MOData": {"Demo": {"Reboot": "", "Status": "running"}}},
        {"ClientURI": "urn:oma:mo:oma-dm-dacmo:1.0/demo/",
         "MOData": {"DACMO": {"MOID": DEMO_MOID, "MIID": "demo",
                    "ACL": {"1": {"ServerID": server, "Rights": "Read,Exec"}}}}},
    ]);
    let items = dm_codec::decode_mo_serialization(
        document.to_string().as_bytes(),
        &dm_codec::Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    MoTree::from_mo_serialization(&items).map_err(|e| e.to_string())
}

/// DevInfo from the host: make and model from the operating system.
fn host_devinfo(dev_id: DevId) -> DevInfo {
    let os = os_name();
    let mut devinfo = DevInfo::new(
        dev_id,
        &os,
        &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    );
    devinfo.device_type = "simulated device".into();
    devinfo.firmware_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    devinfo.software_version = format!("dm {}", env!("CARGO_PKG_VERSION"));
    devinfo
}

/// The operating system's name (`/etc/os-release` NAME, else the OS family).
fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("NAME="))
                .map(|name| name.trim_matches('"').to_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `urn:uuid:` + a UUID made of the SHA-256 of the host name (version 8,
/// RFC 9562 variant): the same host always gets the same DevID.
fn host_dev_id() -> Result<DevId, String> {
    DevId::new(uuid_urn(&host_name())).map_err(|e| e.to_string())
}

fn uuid_urn(name: &str) -> String {
    let digest = sha2::Sha256::digest(format!("dm-device:{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = dm_codec::hex::encode(&bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Hex text (either case, white space around it ignored) to bytes
/// ([`dm_codec::hex::decode`]), with the offset of the first pair that is
/// not two hex digits.
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".into());
    }
    if let Some(at) = text.bytes().position(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("not a hex digit pair at offset {}", at - at % 2));
    }
    dm_codec::hex::decode(text).ok_or_else(|| "not hex digits".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_dev_ids_are_stable_uuid_urns() {
        let id = uuid_urn("build-7");
        assert_eq!(id, uuid_urn("build-7"));
        assert_ne!(id, uuid_urn("build-8"));
        assert_eq!(id.len(), "urn:uuid:".len() + 36);
        assert_eq!(&id[23..24], "8", "version 8: {id}");
        assert!(DevId::new(id).is_ok());
    }

    #[test]
    fn a_stored_account_stays_allowed_every_moid_only_when_it_was() {
        let server = ServerId::new("dm.example").expect("id");
        let mut tree = demo_tree(Some(&server)).expect("tree");
        let devinfo = host_devinfo(DevId::new("IMEI:1").expect("DevID"));
        tree.insert(devinfo.to_instance()).expect("DevInfo");
        let moid = |text: &str| Moid::new(text).expect("MOID");
        let mut account = DmAcc::new(server, ServerUri::new("http://127.0.0.1/dm").expect("URI"));
        tree.add_dm_acc(&account).expect("account");
        // Bootstrapped without --perm, before its first session.
        assert!(allows_every_moid(&tree, &account));
        // After it: every MOID of the tree granted, DMAcc and DACMO aside.
        account.perm_moids = vec![moid(dm_tree::DEVINFO_MOID), moid(DEMO_MOID)];
        assert!(allows_every_moid(&tree, &account));
        // A --perm list that leaves one out.
        account.perm_moids = vec![moid(dm_tree::DEVINFO_MOID)];
        assert!(!allows_every_moid(&tree, &account));
    }

    #[test]
    fn hex_is_parsed_strictly() {
        assert_eq!(parse_hex("00Ff10"), Ok(vec![0, 255, 16]));
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("+1").is_err());
        assert_eq!(parse_hex(" 0a0b \n"), Ok(vec![10, 11]));
        assert_eq!(
            parse_hex("00zz"),
            Err("not a hex digit pair at offset 2".to_owned())
        );
        assert_eq!(
            parse_hex("0"),
            Err("an odd number of hex digits".to_owned())
        );
    }
}
