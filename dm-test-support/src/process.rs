//! Running a built binary of the workspace the way its tests do: once to
//! completion ([`run`]), or `dm serve` as a server a test can kill and
//! restart ([`DmServe`]).

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `program` with `args`, feeding `stdin`, and waits for it; its exit
/// status, standard output and standard error. A test passes the path Cargo
/// gives it (`env!("CARGO_BIN_EXE_<name>")`).
///
/// ```
/// # #[cfg(unix)]
/// # {
/// let output = dm_test_support::process::run("cat", &[], b"hello");
/// assert!(output.status.success());
/// assert_eq!(output.stdout, b"hello");
/// # }
/// ```
pub fn run(program: impl AsRef<OsStr>, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    if let Some(mut input) = child.stdin.take() {
        // The process may exit before reading everything; that is its answer.
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("the program finishes")
}

/// The prefix of the line `dm serve` prints on stderr once it listens.
pub const LISTENING: &str = "dm serve: listening on ";

/// How long [`DmServe::start`] waits for the listening line.
const START_WAIT: Duration = Duration::from_secs(30);

/// A running `dm serve` child process: started with its arguments, ready
/// once it printed its listening line, killed (SIGKILL) when dropped. Its
/// stderr is collected line by line, over every run.
///
/// `kill_hard` kills it without warning (SIGKILL on Unix: no shutdown, no
/// flush); `restart` starts it again with the same arguments on the same
/// address.
pub struct DmServe {
    program: PathBuf,
    args: Vec<String>,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    address: SocketAddr,
}

impl DmServe {
    /// Runs `program serve ARGS` (`program` is the `dm` binary,
    /// `env!("CARGO_BIN_EXE_dm")`) and waits (30 s at most) for its
    /// listening line. Give `--listen 127.0.0.1:0` for a free port.
    pub fn start(program: impl AsRef<Path>, args: &[&str]) -> DmServe {
        let program = program.as_ref().to_owned();
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (child, address) = spawn_serve(&program, &args, &stderr);
        DmServe {
            program,
            args,
            child,
            stderr,
            address,
        }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://<address>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed on stderr so far, over every run.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process at once (SIGKILL on Unix) and reaps it.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .lock()
            .expect("lock")
            .push("--- killed by the test (SIGKILL) ---".to_owned());
    }

    /// Starts the process again (after [`DmServe::kill_hard`], or killing
    /// it first) with the same arguments, on the same address.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.kill_hard();
        }
        let mut args = self.args.clone();
        let listen = self.address.to_string();
        match args.iter().position(|a| a == "--listen") {
            Some(at) if at + 1 < args.len() => args[at + 1] = listen,
            _ => args.extend(["--listen".to_owned(), listen]),
        }
        let (child, address) = spawn_serve(&self.program, &args, &self.stderr);
        assert_eq!(address, self.address, "restarted on another address");
        self.child = child;
    }
}

impl Drop for DmServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `program serve ARGS`, appends its stderr lines to `log`, and
/// waits for its listening line; the child and its address.
fn spawn_serve(
    program: &Path,
    args: &[String],
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, SocketAddr) {
    let mut child = Command::new(program)
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dm serve starts");
    let pipe = child.stderr.take().expect("stderr");
    let (listening, heard) = std::sync::mpsc::channel();
    let lines = log.clone();
    // Drains stderr for the whole life of the process.
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(LISTENING) {
                let _ = listening.send(rest.to_owned());
            }
            lines.lock().expect("lock").push(line);
        }
    });
    let Ok(rest) = heard.recv_timeout(START_WAIT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "dm serve {args:?} did not listen; stderr:\n{}",
            log.lock().expect("lock").join("\n")
        );
    };
    // `http://127.0.0.1:PORT`, maybe followed by ` (public URI ...)`.
    let url = rest.split(' ').next().unwrap_or(&rest);
    let address = url
        .rsplit('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the listening line {rest:?}"));
    (child, address)
}
