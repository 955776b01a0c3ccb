//! `dm serve`: a management server (`dm-server` on the store `--store` or
//! the configuration names: SQLite by default, PostgreSQL for several
//! nodes, or memory).
//!
//! Prints `dm serve: listening on <scheme>://<address>` on stderr once the
//! socket is bound (tools wait for that prefix; `--listen 127.0.0.1:0`
//! reports the port chosen), then `dm serve: store <location>`, logs
//! requests on stderr (`RUST_LOG` filters), and stops gracefully on Ctrl-C
//! or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use dm_server::{
    DEFAULT_LISTEN, DmServer, Error, FileConfig, MemoryStore, ServerOptions, SqliteStore, Store,
    StoreLocation, UdpChannel,
};

/// Options of the subcommand.
#[derive(clap::Args)]
#[command(after_help = "\
Secrets (the admin token, device passwords, notification secrets) are read
from the --config file only, never from the command line, where every local
user could see them in the process list. The configuration file holds them in
clear: keep it readable by the server's account only.

The store (--store, else the configuration's `store` key): sqlite:PATH (the
default with --config: dm-store.sqlite beside the configuration file; without
--config: memory), postgres://user@host:port/database (several dm serve
processes may share one database; what the URL leaves out comes from PGHOST,
PGPORT, PGUSER, PGPASSWORD, PGDATABASE), or memory (nothing survives a
restart). Every write the server acknowledges is committed first.

The SQLite file is created owner-only (mode 0600; Unix). dm serve refuses to
start on a store file group or others can read or write, naming the file, its
mode and the fix (chmod 600), unless --allow-shared-permissions is given. On
other platforms nothing is checked and the file gets the directory's default
access.

Log lines that cannot be written (stderr closed) are dropped; serving goes on.")]
pub(crate) struct Args {
    /// Address to listen on [default: the configuration's `listen`, else
    /// 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// JSON configuration file: server id, admin token, TLS files, store
    /// location, limits and devices (see the dm-server README).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Development mode (loopback only): devices connecting without
    /// credentials are registered, and the admin API needs no token.
    #[arg(long)]
    dev: bool,
    /// The store: sqlite:PATH, postgres://user@host:port/database, or
    /// memory [default: the configuration's `store`; with --config,
    /// sqlite:dm-store.sqlite beside it; else memory].
    #[arg(long, value_name = "LOCATION")]
    store: Option<StoreLocation>,
    /// Start even when group or others can read or write the store file
    /// (refused by default: it holds password hashes, the nonce key and
    /// notification secrets); the configuration key
    /// `allow_shared_permissions` does the same. The store is still written
    /// owner-only (mode 0600).
    #[arg(long)]
    allow_shared_permissions: bool,
}

impl Args {
    /// `dm serve --listen LISTEN --config CONFIG` (for tests).
    #[cfg(test)]
    pub(crate) fn with_config(listen: SocketAddr, config: PathBuf) -> Args {
        Args {
            listen: Some(listen),
            config: Some(config),
            dev: false,
            store: None,
            allow_shared_permissions: false,
        }
    }
}

pub(crate) fn run(args: Args) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return crate::fail(format!("cannot start the runtime: {e}")),
    };
    // The signal handlers are installed inside the runtime.
    let served = runtime
        .block_on(async { serve(args, crate::shutdown_signal(), |line| say!("{line}")).await });
    match served {
        Ok(()) => {
            say!("dm serve: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => crate::fail(e),
    }
}

fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("dm_server=info,warn"));
    // Only fails when a subscriber is already installed. A log line that
    // cannot be written is dropped: with `std::io::stderr` as the writer,
    // the fmt layer reports a failed write (EPIPE once the log collector
    // died) with `eprintln!`, which panics on the same closed pipe.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::LossyStderr)
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Runs the server until `shutdown`; `say` prints the lines meant for the
/// user (the listening line first).
pub(crate) async fn serve(
    args: Args,
    shutdown: impl Future<Output = ()> + Send,
    say: impl Fn(&str),
) -> Result<(), Error> {
    let mut config = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    config.allow_shared_permissions |= args.allow_shared_permissions;
    let listen = args.listen.or(config.listen).unwrap_or(DEFAULT_LISTEN);
    if args.dev && !listen.ip().is_loopback() {
        return Err(Error::Config {
            setting: "--dev".into(),
            problem: format!("only listens on a loopback address, not {listen}"),
        });
    }
    let options = config
        .options()?
        .listen(listen)
        .dev_mode(args.dev)
        .build()?;
    let location = args
        .store
        .clone()
        .or_else(|| config.store.clone())
        .unwrap_or(StoreLocation::Memory);
    match &location {
        StoreLocation::Memory => {
            serve_on(
                &config,
                options,
                MemoryStore::new(),
                &location,
                shutdown,
                say,
            )
            .await
        }
        StoreLocation::Sqlite(path) => {
            let store = if config.allow_shared_permissions {
                SqliteStore::open_file_allowing_shared_permissions(path).await?
            } else {
                SqliteStore::open_file(path).await?
            };
            serve_on(&config, options, store, &location, shutdown, say).await
        }
        StoreLocation::Postgres(url) => {
            postgres(&config, options, url, &location, shutdown, say).await
        }
    }
}

#[cfg(feature = "postgres")]
async fn postgres(
    config: &FileConfig,
    options: ServerOptions,
    url: &str,
    location: &StoreLocation,
    shutdown: impl Future<Output = ()> + Send,
    say: impl Fn(&str),
) -> Result<(), Error> {
    let store = dm_store_postgres::connect(url).await?;
    serve_on(config, options, store, location, shutdown, say).await
}

#[cfg(not(feature = "postgres"))]
#[allow(
    clippy::unused_async,
    reason = "the signature of the PostgreSQL build's function, which awaits"
)]
async fn postgres(
    _config: &FileConfig,
    _options: ServerOptions,
    _url: &str,
    location: &StoreLocation,
    _shutdown: impl Future<Output = ()> + Send,
    _say: impl Fn(&str),
) -> Result<(), Error> {
    Err(Error::Config {
        setting: "store".into(),
        problem: format!(
            "{location}: this dm was built without PostgreSQL support; build it with \
             `cargo install dm-cli --features postgres`"
        ),
    })
}

/// Registers the configured devices in `store`, then serves until
/// `shutdown`.
async fn serve_on<S: Store>(
    config: &FileConfig,
    options: ServerOptions,
    store: S,
    location: &StoreLocation,
    shutdown: impl Future<Output = ()> + Send,
    say: impl Fn(&str),
) -> Result<(), Error> {
    let registrations = config.registrations(options.realm())?;
    let bootstrap_options = config.bootstrap_options()?;
    let listen = options.listen();
    let scheme = if options.is_tls() { "https" } else { "http" };
    let dev_mode = options.dev_mode();
    let public_uri = options.public_uri().map(str::to_owned);
    let admin_enabled = dev_mode || config.admin_token.is_some();
    let console = options.console();
    // One store for both roles: the bootstrap server registers the devices
    // it provisions where the management server finds them.
    let store = std::sync::Arc::new(store);
    let server = DmServer::new(options, store.clone(), UdpChannel);
    let admin = server.admin();
    for registration in registrations {
        admin.register_device(registration, true).await?;
    }
    let bootstrap = match bootstrap_options {
        Some(options) => {
            let bootstrap = DmServer::new(options, store, UdpChannel);
            let profiles = config
                .bootstrap
                .as_ref()
                .map(|b| b.profiles.clone())
                .unwrap_or_default();
            for profile in profiles {
                bootstrap.admin().put_bootstrap_profile(profile).await?;
            }
            let listener = tokio::net::TcpListener::bind(bootstrap.options().listen()).await?;
            Some((bootstrap, listener))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    match public_uri {
        Some(uri) => say(&format!(
            "dm serve: listening on {scheme}://{local} (public URI {uri})"
        )),
        None => say(&format!("dm serve: listening on {scheme}://{local}")),
    }
    if console && admin_enabled {
        say(&format!("dm serve: console at {scheme}://{local}/console/"));
    }
    if let Some((bootstrap, listener)) = &bootstrap {
        let local = listener.local_addr()?;
        say(&format!("dm serve: bootstrap listening on https://{local}"));
        if bootstrap
            .options()
            .bootstrap()
            .is_some_and(|b| b.issuing_ca.is_none())
        {
            say("dm serve: bootstrap: no issuing_ca: profiles asking for client certificates fail");
        }
    }
    match location {
        StoreLocation::Memory => {
            say(
                "dm serve: store memory: nothing survives a restart (--store sqlite:PATH keeps it)",
            );
        }
        other => say(&format!("dm serve: store {other}")),
    }
    if dev_mode {
        say(
            "dm serve: WARNING: development mode: any device that connects without credentials \
             is registered and the admin API accepts requests without a token. Never expose it.",
        );
    } else if !admin_enabled {
        say("dm serve: no admin_token in the configuration: the admin API is disabled");
    }
    let Some((bootstrap, bootstrap_listener)) = bootstrap else {
        return server.serve(listener, shutdown).await;
    };
    // Both servers stop on the one shutdown signal.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let waiting = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let management = server.serve(listener, waiting(stopped.clone()));
    let bootstrapping = bootstrap.serve(bootstrap_listener, waiting(stopped));
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let ((), management, bootstrapping) = tokio::join!(signal, management, bootstrapping);
    management.and(bootstrapping)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn args(listen: &str, config: Option<PathBuf>, dev: bool) -> Args {
        Args {
            listen: Some(listen.parse().expect("address")),
            config,
            dev,
            store: None,
            allow_shared_permissions: false,
        }
    }

    #[tokio::test]
    async fn dev_mode_refuses_a_public_address() {
        let result = serve(args("0.0.0.0:0", None, true), async {}, |_| {}).await;
        assert!(matches!(result, Err(Error::Config { .. })), "{result:?}");
    }

    #[tokio::test]
    async fn a_bad_configuration_is_reported() {
        // In a directory of its own: the default store goes beside the
        // configuration, and a store another program left in the shared
        // temporary directory must not decide the outcome.
        let dir = std::env::temp_dir().join(format!("dm-serve-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let path = dir.join("server.json");
        std::fs::write(&path, br#"{"devices":[{"dev_id":"has space"}]}"#).expect("write");
        let result = serve(
            args("127.0.0.1:0", Some(path.clone()), false),
            async {},
            |_| {},
        )
        .await;
        assert!(matches!(result, Err(Error::Config { .. })), "{result:?}");
        let missing = path.with_extension("missing");
        let result = serve(args("127.0.0.1:0", Some(missing), false), async {}, |_| {}).await;
        assert!(matches!(result, Err(Error::File { .. })), "{result:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn serves_the_configured_devices_and_persists_the_store() {
        let dir = std::env::temp_dir().join(format!("dm-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let config = dir.join("server.json");
        std::fs::write(
            &config,
            br#"{"server_id":"cli-test","admin_token":"t",
                 "devices":[{"dev_id":"IMEI:1","username":"u","password":"p"}]}"#,
        )
        .expect("write");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let said = lines.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(serve(
            args("127.0.0.1:0", Some(config), false),
            async {
                let _ = stopped.await;
            },
            move |line| said.lock().expect("lock").push(line.to_owned()),
        ));
        let address = loop {
            let first = lines.lock().expect("lock").first().cloned();
            if let Some(line) = first {
                break line
                    .strip_prefix("dm serve: listening on http://")
                    .expect("the listening line")
                    .to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert!(!address.ends_with(":0"), "the real port: {address}");
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        stream
            .write_all(
                b"GET /admin/devices/IMEI:1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n",
            )
            .await
            .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(r#""username":"u""#), "{answer}");
        let _ = stop.send(());
        running.await.expect("joined").expect("clean stop");
        assert!(
            dir.join(StoreLocation::DEFAULT_SQLITE_FILE).exists(),
            "the SQLite store beside the configuration"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
