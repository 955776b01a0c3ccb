//! `dm`: inspect and convert OMA DM 2.0 packages, notifications, ClientURIs and
//! DDF files.
//!
//! Output contract (other tools and tests rely on it): a valid input exits 0
//! and prints one line of JSON on stdout; an invalid one exits 1, prints
//! nothing on stdout and `error: ...` on stderr. No input makes it panic.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `eprintln!` that never panics: a line that cannot be written (standard
/// error closed because the log collector died, a full disk) is dropped,
/// so losing a message never stops `dm serve` or a listening `dm device`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_stderr(format_args!($($arg)*))
    };
}

mod bootstrap;
mod campaigns;
mod ddf;
mod decode;
mod device;
mod input;
mod keys;
mod notification;
mod serve;
mod simulation;
mod updates;
mod uri;

#[derive(Parser)]
#[command(
    name = "dm",
    version,
    about = "OMA DM 2.0 tool: inspect and convert packages, notifications, ClientURIs and DDF files"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Decode a JSON package, MO serialization or alert and print its
    /// canonical re-encoding as one line of JSON.
    Decode {
        /// What the bytes are.
        kind: decode::Kind,
        /// The file to read (standard input when absent).
        file: Option<PathBuf>,
    },
    /// Decode or encode a binary Package#0 notification.
    Notification {
        #[command(subcommand)]
        action: notification::Action,
    },
    /// Work with ClientURIs.
    Uri {
        #[command(subcommand)]
        action: uri::Action,
    },
    /// Parse a DDF file and print its summary as JSON (or an outline).
    Ddf(ddf::Args),
    /// Run a management server (HTTP, or HTTPS when given certificates).
    Serve(serve::Args),
    /// Run a simulated device against a server.
    Device(device::Args),
    /// Manage a bootstrap server through its admin API: profiles,
    /// server-initiated bootstrap.
    Bootstrap(bootstrap::Args),
    /// Manage the artifacts (firmware and software packages) of a
    /// management server through its admin API.
    Artifact(updates::ArtifactArgs),
    /// Manage the device groups (and device tags) of a management server
    /// through its admin API.
    Group(updates::GroupArgs),
    /// Roll an artifact out to a group in stages, and watch or steer the
    /// campaign, through a management server's admin API.
    Campaign(campaigns::CampaignArgs),
    /// Add, list and revoke the API keys (read, operator, admin) of a
    /// server's admin API.
    Key(keys::KeyArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = u8::from(e.use_stderr());
            // Printing can only fail on a closed stream; nothing more to do then.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Commands::Decode { kind, file } => decode::run(kind, file.as_deref()),
        Commands::Notification { action } => notification::run(action),
        Commands::Uri { action } => uri::run(action),
        Commands::Ddf(args) => ddf::run(&args),
        Commands::Serve(args) => serve::run(args),
        Commands::Device(args) => device::run(args),
        Commands::Bootstrap(args) => bootstrap::run(args),
        Commands::Artifact(args) => updates::run_artifact(&args),
        Commands::Group(args) => updates::run_group(&args),
        Commands::Campaign(args) => campaigns::run(&args),
        Commands::Key(args) => keys::run(&args),
    }
}

/// Prints `error: <message>` on stderr and returns exit code 1.
pub(crate) fn fail(message: impl std::fmt::Display) -> ExitCode {
    say!("error: {message}");
    ExitCode::from(1)
}

/// Writes one line on stderr; a failed write is ignored (see `say!`).
pub(crate) fn write_stderr(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_fmt(line)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// Standard error as the log's writer: a failed write (a closed pipe) is
/// dropped instead of reported, so logging never stops serving.
pub(crate) struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM: how `dm serve` and a listening
/// `dm device` are told to stop gracefully.
///
/// The signal handlers are installed when this is called (inside the
/// runtime), not when the future is first polled: a signal that comes
/// while the process is still starting (binding, a first session) is kept
/// for the future instead of killing the process.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                    only.recv().await;
                }
                // No handler: the signals keep their default action.
                (Err(_), Err(_)) => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Prints one line on stdout and returns exit code 0.
pub(crate) fn print_line(line: impl std::fmt::Display) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
