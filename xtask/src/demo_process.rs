//! The processes of `cargo xtask demo`: `dm` children killed when dropped,
//! started once they print the line they are waited for, and polling with
//! the demo's step timeout.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one step may take before the demo gives up on it.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process that is killed when dropped.
pub(crate) struct Process {
    child: Child,
    name: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Ask for a graceful stop first (SIGTERM), then make sure.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("demo: {} had to be killed", self.name);
    }
}

/// Starts `dm` with `args`, logs its stderr to `log`, and waits for the line
/// that starts with `prefix`; returns the rest of that line.
pub(crate) fn spawn(
    dm: &Path,
    name: &str,
    args: &[String],
    log: &Path,
    prefix: &'static str,
) -> Result<(Process, String), String> {
    let mut child = Command::new(dm)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let process = Process {
        child,
        name: name.to_owned(),
    };
    let (found, wait) = mpsc::channel();
    let log_path = log.to_owned();
    std::thread::spawn(move || {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&log_path).ok();
        let mut found = Some(found);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(file) = file.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            if let Some(rest) = line.strip_prefix(prefix)
                && let Some(sender) = found.take()
            {
                let _ = sender.send(rest.trim().to_owned());
            }
        }
    });
    match wait.recv_timeout(STEP_TIMEOUT) {
        Ok(rest) => Ok((process, rest)),
        Err(_) => Err(format!(
            "{name} did not print `{prefix}` within {STEP_TIMEOUT:?} (see {})",
            log.display()
        )),
    }
}

/// Polls `check` every 50 ms until it gives a value or the step times out.
pub(crate) fn wait_for<T>(
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
