//! `dm serve` on PostgreSQL reached through a proxy the test cuts (every
//! database connection closed, new ones refused) while devices run sessions
//! and the admin API is written: while cut, device and admin requests get
//! 503 with `Retry-After` within the pool timeout (never 500, never a hang);
//! once healed the node serves again by itself, and every command is in
//! exactly one state, consistent with what the devices executed.
//!
//! Needs `--features postgres`; skips (outside CI) without a PostgreSQL
//! server at 127.0.0.1:5432.

#![cfg(feature = "postgres")]

mod faults;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dm_test_support::admin_api::{AdminApi, http_client};
use dm_test_support::fleet::{self, Fleet};
use dm_test_support::process::DmServe;
use dm_test_support::proxy::Proxy;
use faults::{
    DM, Scratch, TOKEN, eventually, fresh_database, postgres_address, postgres_url_via,
    write_config,
};
use serde_json::json;

const DEVICES: usize = 40;
/// Jobs 0 and 1 are queued before the load, 2 and 3 during it.
const JOBS: usize = 4;
/// How long the database stays cut.
const OUTAGE: Duration = Duration::from_secs(3);
/// The longest answer while cut: the pool's timeouts (5 s) and a margin
/// for a loaded machine.
const LONGEST_ANSWER: Duration = Duration::from_secs(8);

/// What a request got while the database was cut.
#[derive(Debug)]
struct Probe {
    what: &'static str,
    status: u16,
    retry_after: Option<String>,
    took: Duration,
}

/// A Package#1 of device `n` to `base`: status and `Retry-After`.
async fn package1(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> Result<(u16, Option<String>), String> {
    let answer = http
        .post(format!("{base}/dm"))
        .header("Content-Type", "application/vnd.oma.dm.initiation+json")
        .header("Accept", "application/vnd.oma.dm.request+json")
        .header("OMADM-DevID", fleet::dev_id(n))
        .body(r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((answer.status().as_u16(), retry_after))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_from_its_database_answers_503_and_recovers_by_itself() {
    let started = Instant::now();
    let Some(database) = fresh_database("database_outage").await else {
        return;
    };
    let scratch = Scratch::new("outage");
    let proxy = Proxy::start(&[postgres_address(database.url())]);
    let config = write_config(&scratch, json!({"session_idle_secs": 2}), json!({}));
    let mut serve = DmServe::start(
        DM,
        &[
            "--listen",
            "127.0.0.1:0",
            "--dev",
            "--config",
            &config,
            "--store",
            &postgres_url_via(database.url(), proxy.address()),
        ],
    );
    let pid = serve.pid();
    let base = serve.url();
    let admin = AdminApi::new(&base, Some(TOKEN));
    // Command id -> (device, job), for every 201.
    let acked = Arc::new(Mutex::new(BTreeMap::<u64, (usize, usize)>::new()));
    // (device, job) whose enqueue got no 201: they may or may not exist.
    let uncertain = Arc::new(Mutex::new(BTreeSet::<(usize, usize)>::new()));
    let enqueue = {
        let (admin, acked, uncertain) = (admin.clone(), acked.clone(), uncertain.clone());
        move |n: usize, job: usize| {
            let admin = admin.clone();
            let acked = acked.clone();
            let uncertain = uncertain.clone();
            async move {
                match admin
                    .enqueue(&fleet::dev_id(n), &fleet::job_command(job))
                    .await
                {
                    Ok(answer) if answer.status == 201 => {
                        let id = answer.body["id"]
                            .as_str()
                            .and_then(|id| id.parse().ok())
                            .expect("a numeric id");
                        acked.lock().expect("lock").insert(id, (n, job));
                    }
                    Ok(answer) => {
                        assert_eq!(answer.status, 503, "enqueue: {}", answer.body);
                        uncertain.lock().expect("lock").insert((n, job));
                    }
                    Err(_) => {
                        uncertain.lock().expect("lock").insert((n, job));
                    }
                }
            }
        }
    };
    for n in 0..DEVICES {
        let answer = admin.register(&fleet::dev_id(n)).await.expect("an answer");
        assert_eq!(answer.status, 201, "{}", answer.body);
        for job in 0..2 {
            enqueue(n, job).await;
        }
    }
    assert_eq!(acked.lock().expect("lock").len(), DEVICES * 2);

    // The load: sessions of every device in turn, and jobs 2 and 3 queued.
    let fleet = Arc::new(Fleet::new(&base, JOBS));
    let stop = Arc::new(AtomicBool::new(false));
    let sessions = {
        let fleet = fleet.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut outcomes = BTreeMap::<String, usize>::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let wave: Vec<usize> = (n..n + 4).map(|k| k % DEVICES).collect();
                n += 4;
                for (_, result) in fleet.sessions(&wave, 4).await {
                    let outcome = match result {
                        Ok(report) if report.completed() => "completed".to_owned(),
                        Ok(report) => format!("{:?}", report.end),
                        Err(_) => "error".to_owned(),
                    };
                    *outcomes.entry(outcome).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        })
    };
    let writes = {
        let stop = stop.clone();
        let enqueue = enqueue.clone();
        tokio::spawn(async move {
            'all: for job in 2..JOBS {
                for n in 0..DEVICES {
                    if stop.load(Ordering::SeqCst) {
                        break 'all;
                    }
                    enqueue(n, job).await;
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The cut: requests needing the database are refused with 503.
    proxy.cut();
    let cut_at = Instant::now();
    let http = http_client();
    let mut probes = Vec::new();
    let mut k = 0;
    while cut_at.elapsed() < OUTAGE {
        k += 1;
        let n = k % DEVICES;
        let begun = Instant::now();
        let (status, retry_after) = package1(&http, &base, n).await.expect("an answer");
        probes.push(Probe {
            what: "Package#1",
            status,
            retry_after,
            took: begun.elapsed(),
        });
        let begun = Instant::now();
        let answer = admin.device(&fleet::dev_id(n)).await.expect("an answer");
        probes.push(Probe {
            what: "GET device",
            status: answer.status,
            retry_after: answer.retry_after,
            took: begun.elapsed(),
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "database_outage: {} probes while cut, the slowest {:?}",
        probes.len(),
        probes.iter().map(|p| p.took).max()
    );
    for probe in &probes {
        assert_eq!(
            probe.status,
            503,
            "{}: {probe:?}; stderr:\n{}",
            probe.what,
            serve.stderr()
        );
        assert!(probe.retry_after.is_some(), "{probe:?}");
        assert!(probe.took <= LONGEST_ANSWER, "{probe:?}");
    }

    // Healed: the same process serves again by itself.
    proxy.heal();
    let healed_at = Instant::now();
    let recovered = eventually(Duration::from_secs(15), || async {
        matches!(admin.device(&fleet::dev_id(0)).await, Ok(answer) if answer.status == 200)
    })
    .await;
    assert!(recovered, "no recovery; stderr:\n{}", serve.stderr());
    eprintln!(
        "database_outage: serving again {:.2} s after healing",
        healed_at.elapsed().as_secs_f64()
    );
    assert!(serve.is_running());
    assert_eq!(serve.pid(), pid, "not restarted");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let outcomes = sessions.await.expect("the sessions");
    writes.await.expect("the writes");
    eprintln!("database_outage: sessions during the test {outcomes:?}");
    // A session either completed, was refused with 503, or lost its
    // connection: never a 500.
    for outcome in outcomes.keys() {
        assert!(
            ["completed", "Refused(503)", "error"].contains(&outcome.as_str()),
            "a session ended {outcome}"
        );
    }

    // Sessions the cut broke expire (their sent commands fail); then every
    // device completes a session.
    let settled = eventually(Duration::from_secs(20), || async {
        for n in 0..DEVICES {
            let answer = admin.device(&fleet::dev_id(n)).await.expect("an answer");
            let pending = answer.body["commands"]["pending"].as_array().cloned();
            if pending.into_iter().flatten().any(|c| c["state"] == "sent") {
                return false;
            }
        }
        true
    })
    .await;
    assert!(settled, "commands stay sent; stderr:\n{}", serve.stderr());
    let all: Vec<usize> = (0..DEVICES).collect();
    for (n, result) in fleet.sessions(&all, 8).await {
        let report = result.unwrap_or_else(|e| panic!("device {n}: {e}"));
        assert!(report.completed(), "device {n}: {report}");
    }

    // Every acknowledged command is there, once, in one state; a command
    // whose enqueue was refused may exist (its commit may have landed just
    // before the cut) but nothing else does; nothing ran twice; done =>
    // executed; executed => done or failed.
    let acked = acked.lock().expect("lock").clone();
    let uncertain = uncertain.lock().expect("lock").clone();
    let counts = fleet.log().counts();
    let mut states = BTreeMap::<String, usize>::new();
    let mut listed = BTreeSet::new();
    for n in 0..DEVICES {
        let answer = admin.device(&fleet::dev_id(n)).await.expect("an answer");
        for list in ["pending", "finished"] {
            for command in answer.body["commands"][list]
                .as_array()
                .into_iter()
                .flatten()
            {
                let id: u64 = command["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("a numeric id");
                assert!(listed.insert(id), "command {id} listed twice");
                let job = command["command"][1]
                    .as_str()
                    .and_then(|uri| uri.rsplit_once("/J"))
                    .and_then(|(_, k)| k.parse().ok())
                    .expect("a job");
                match acked.get(&id) {
                    Some(&known) => assert_eq!(known, (n, job), "command {id}"),
                    None => assert!(uncertain.contains(&(n, job)), "command {id} never queued"),
                }
                let state = command["state"].as_str().unwrap_or("?");
                let executed = counts.get(&(n, job)).copied().unwrap_or(0);
                match state {
                    "done" => assert_eq!(executed, 1, "command {id}"),
                    "failed" => assert!(executed <= 1, "command {id}"),
                    other => panic!("command {id} still {other} after a session"),
                }
                *states.entry(state.to_owned()).or_default() += 1;
            }
        }
    }
    for id in acked.keys() {
        assert!(listed.contains(id), "acknowledged command {id} lost");
    }
    assert_eq!(fleet.log().executed_twice(), Vec::new(), "executed twice");
    eprintln!(
        "database_outage: {} commands acknowledged, {} uncertain; in the end {states:?}; {:.1} s in all",
        acked.len(),
        uncertain.len(),
        started.elapsed().as_secs_f64()
    );
    drop(serve);
    drop(database);
}

/// The database stops answering without closing anything (a network that
/// drops every packet): every request is still answered within the pool's
/// timeouts and a margin, 503 with `Retry-After`, and the node serves again
/// once the network heals.
///
/// The requests waiting for a pool connection get their 503 after the
/// pool's wait timeout (5 s); the one whose transaction holds a pooled
/// connection after the store's transaction timeout (5 s), which abandons
/// the transaction and closes its connection (TCP keepalive never fires
/// while the path to the database is up and silent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_database_stops_answering_answers_503_in_bounded_time() {
    let started = Instant::now();
    let Some(database) = fresh_database("database_outage stall").await else {
        return;
    };
    let scratch = Scratch::new("stall");
    let proxy = Proxy::start(&[postgres_address(database.url())]);
    let config = write_config(&scratch, json!({}), json!({}));
    let serve = DmServe::start(
        DM,
        &[
            "--listen",
            "127.0.0.1:0",
            "--dev",
            "--config",
            &config,
            "--store",
            &postgres_url_via(database.url(), proxy.address()),
        ],
    );
    let base = serve.url();
    let admin = AdminApi::new(&base, Some(TOKEN));
    let fleet = Fleet::new(&base, JOBS);
    for n in 0..8 {
        assert_eq!(
            admin
                .register(&fleet::dev_id(n))
                .await
                .expect("an answer")
                .status,
            201
        );
        let report = fleet.session(n).await.expect("a session");
        assert!(report.completed(), "{report}");
    }

    proxy.stall();
    let http = http_client();
    let probes = (0..8).map(|n| {
        let (http, admin, base) = (http.clone(), admin.clone(), base.clone());
        async move {
            let begun = Instant::now();
            let (status, retry_after) = if n % 2 == 0 {
                package1(&http, &base, n).await?
            } else {
                let answer = admin.device(&fleet::dev_id(n)).await?;
                (answer.status, answer.retry_after)
            };
            Ok::<_, String>(Probe {
                what: if n % 2 == 0 {
                    "Package#1"
                } else {
                    "GET device"
                },
                status,
                retry_after,
                took: begun.elapsed(),
            })
        }
    });
    let probes = dm_test_support::fleet::join_all(probes).await;
    proxy.heal();
    eprintln!("database_outage stall: {probes:?}");
    for probe in &probes {
        let probe = probe.as_ref().unwrap_or_else(|e| {
            panic!("no answer while stalled: {e}; stderr:\n{}", serve.stderr())
        });
        assert_eq!(probe.status, 503, "{}: {probe:?}", probe.what);
        assert!(probe.retry_after.is_some(), "{probe:?}");
        assert!(probe.took <= LONGEST_ANSWER, "{probe:?}");
    }
    let recovered = eventually(Duration::from_secs(15), || async {
        matches!(admin.device(&fleet::dev_id(0)).await, Ok(answer) if answer.status == 200)
    })
    .await;
    assert!(recovered, "no recovery; stderr:\n{}", serve.stderr());
    let report = fleet.session(0).await.expect("a session");
    assert!(report.completed(), "{report}");
    eprintln!(
        "database_outage stall: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}
