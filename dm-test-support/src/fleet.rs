//! A fleet of simulated devices in the test's process — `DmClient`s sharing
//! one transport, built for each session — that log every command they
//! execute, so that a test can hold the server's command states against
//! what the devices really did.
//!
//! Each device has the MO [`JOBS_MOID`] with the leaves `J0`, `J1`, …
//! (as many as the fleet's `jobs`), executable by [`SERVER_ID`]; the
//! command `EXEC urn:x:fleet:1.0//J<k>` ([`job_command`]) is job `k`, and
//! its execution is logged as `(device number, k)`. A test queues each job
//! of a device at most once, so a job names one command.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dm_client::{Account, DmClient, RetryPolicy, SessionReport, Transport, Trigger};
use dm_tree::{DevInfo, DmAcc, ExecOutcome, MoTree, NodeHandler};
use dm_types::{ClientUri, DevId, Moid, ServerId, ServerUri, StatusCode};

/// The server id the devices know their server by (`server_id` of the
/// server's configuration).
pub const SERVER_ID: &str = "dm.fleet";

/// The MO of the jobs the devices execute.
pub const JOBS_MOID: &str = "urn:x:fleet:1.0";

/// The DevID of device `n`: 15 digits, like an IMEI.
///
/// ```
/// assert_eq!(dm_test_support::fleet::dev_id(7), "IMEI:490000000000007");
/// ```
pub fn dev_id(n: usize) -> String {
    format!("IMEI:{:015}", 490_000_000_000_000_usize + n)
}

/// The command of job `k`, in the admin API's array form.
///
/// ```
/// assert_eq!(dm_test_support::fleet::job_command(3), ["EXEC", "urn:x:fleet:1.0//J3"]);
/// ```
pub fn job_command(job: usize) -> [String; 2] {
    ["EXEC".to_owned(), format!("{JOBS_MOID}//J{job}")]
}

/// What the devices executed: (device number, job number), in order.
#[derive(Debug, Default)]
pub struct ExecutionLog {
    executed: Mutex<Vec<(usize, usize)>>,
}

impl ExecutionLog {
    /// Every execution so far, in order.
    pub fn executed(&self) -> Vec<(usize, usize)> {
        self.executed.lock().expect("lock").clone()
    }

    /// How many times each (device, job) was executed.
    pub fn counts(&self) -> BTreeMap<(usize, usize), usize> {
        let mut counts = BTreeMap::new();
        for &key in self.executed.lock().expect("lock").iter() {
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    /// The (device, job) pairs executed more than once.
    pub fn executed_twice(&self) -> Vec<(usize, usize)> {
        self.counts()
            .into_iter()
            .filter(|&(_, count)| count > 1)
            .map(|(key, _)| key)
            .collect()
    }

    fn push(&self, device: usize, job: usize) {
        self.executed.lock().expect("lock").push((device, job));
    }
}

/// Logs each EXEC of `J<k>` as (device, k) and answers 200.
struct Logger {
    device: usize,
    log: Arc<ExecutionLog>,
}

impl NodeHandler for Logger {
    fn exec(
        &self,
        node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        let job = node
            .as_str()
            .rsplit_once("/J")
            .and_then(|(_, k)| k.parse().ok());
        match job {
            Some(job) => {
                self.log.push(self.device, job);
                ExecOutcome::Done(StatusCode::OK)
            }
            None => ExecOutcome::Done(StatusCode::NOT_FOUND),
        }
    }
}

/// Simulated devices of one server (or of a proxy in front of several).
///
/// ```no_run
/// # async fn example() {
/// use dm_test_support::fleet::Fleet;
///
/// let fleet = Fleet::new("http://127.0.0.1:8080", 2);
/// let report = fleet.session(0).await.expect("a session");
/// assert!(report.completed());
/// println!("executed: {:?}", fleet.log().executed());
/// # }
/// ```
pub struct Fleet {
    server_uri: ServerUri,
    transport: Transport,
    tree: MoTree,
    log: Arc<ExecutionLog>,
}

impl Fleet {
    /// A fleet for the server at `base` (`http://host:port`; devices post
    /// to `<base>/dm`), each device with `jobs` jobs. Requests time out
    /// after 10 s; a refused connection is tried 3 times (nothing was
    /// sent), a package whose delivery is uncertain never.
    pub fn new(base: &str, jobs: usize) -> Fleet {
        let transport = Transport::builder()
            .retry(RetryPolicy {
                attempts: 3,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(200),
            })
            .connect_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(10))
            .idle_connections_per_host(64)
            .build()
            .expect("the fleet's transport");
        Fleet {
            server_uri: ServerUri::new(format!("{base}/dm")).expect("a server URI"),
            transport,
            tree: jobs_tree(jobs),
            log: Arc::new(ExecutionLog::default()),
        }
    }

    /// What the devices executed.
    pub fn log(&self) -> &ExecutionLog {
        &self.log
    }

    /// Device `n`, ready for a session.
    pub fn device(&self, n: usize) -> DmClient {
        let server_id = ServerId::new(SERVER_ID).expect("a server id");
        let dev_id = DevId::new(dev_id(n)).expect("a DevID");
        let account = DmAcc::new(server_id, self.server_uri.clone());
        let mut client = DmClient::builder(DevInfo::new(dev_id, "Acme", "Sim-1"))
            .account(Account::new(account).allow_every_moid(true))
            .tree(self.tree.clone())
            .transport(self.transport.clone())
            .build()
            .expect("a simulated device");
        client.set_handler(
            Moid::new(JOBS_MOID).expect("a MOID"),
            Arc::new(Logger {
                device: n,
                log: self.log.clone(),
            }),
        );
        client
    }

    /// Runs one client-initiated session of device `n`; the report, or
    /// why the session could not run (a network failure, an HTTP error).
    pub async fn session(&self, n: usize) -> Result<SessionReport, String> {
        let server_id = ServerId::new(SERVER_ID).expect("a server id");
        self.device(n)
            .run_session(&server_id, Trigger::Client)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs one session of each device of `devices`, at most `concurrency`
    /// at once; each device's result, in the order given.
    pub async fn sessions(
        &self,
        devices: &[usize],
        concurrency: usize,
    ) -> Vec<(usize, Result<SessionReport, String>)> {
        let mut results = Vec::with_capacity(devices.len());
        for wave in devices.chunks(concurrency.max(1)) {
            let runs = wave
                .iter()
                .map(|&n| async move { (n, self.session(n).await) });
            results.extend(join_all(runs).await);
        }
        results
    }
}

/// Runs the futures concurrently on the current task; their outputs in
/// order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in set.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}

/// The tree of every device: `urn:x:fleet:1.0/jobs/` with leaves `J0`…,
/// and the DACMO giving [`SERVER_ID`] Read and Exec on it.
fn jobs_tree(jobs: usize) -> MoTree {
    let leaves: Vec<String> = (0..jobs).map(|k| format!(r#""J{k}":"""#)).collect();
    let document = format!(
        r#"[{{"ClientURI":"{JOBS_MOID}/jobs/","MOData":{{"Jobs":{{{}}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/fleet/","MOData":{{"DACMO":{{"MOID":"{JOBS_MOID}","MIID":"jobs",
              "ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Exec"}}}}}}}}}}]"#,
        leaves.join(",")
    );
    let limits = dm_codec::Limits::default();
    let items =
        dm_codec::decode_mo_serialization(document.as_bytes(), &limits).expect("the jobs MO");
    MoTree::from_mo_serialization(&items).expect("the jobs tree")
}
