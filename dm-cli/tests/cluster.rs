//! Three `dm serve` nodes on one PostgreSQL database behind a round-robin
//! proxy (their `public_uri`), 1,000 simulated devices, one node killed
//! with SIGKILL in the middle of the sessions: no command is lost or
//! executed twice, the sessions of the dead node expire and fail their sent
//! commands, the survivors serve every device, every node sees the same
//! state, and any node sends notifications.
//!
//! Needs `--features postgres`; skips (outside CI) without a PostgreSQL
//! server at 127.0.0.1:5432.

#![cfg(feature = "postgres")]

mod faults;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dm_test_support::admin_api::AdminApi;
use dm_test_support::fleet::{self, Fleet, join_all};
use dm_test_support::process::DmServe;
use dm_test_support::proxy::Proxy;
use faults::{DM, Rng, Scratch, TOKEN, eventually, fresh_database, write_config};
use serde_json::{Value, json};

const DEVICES: usize = 1000;
/// Devices after the first [`DEVICES`] whose sessions node 1 opens just
/// before it is killed (and never hears from again).
const STRANDED: usize = 3;
const ALL: usize = DEVICES + STRANDED;
/// Sessions (and admin requests) at once.
const CONCURRENCY: usize = 24;
/// Jobs per device: device `n` gets jobs `0..1 + n % 2`.
const JOBS: usize = 2;
const NOTI_SECRET_HEX: &str = "636c75737465722d736563726574";

fn jobs_of(n: usize) -> usize {
    1 + n % 2
}

/// A device's commands as the admin API lists them: id -> (state, job).
async fn commands_of(admin: &AdminApi, n: usize) -> BTreeMap<u64, (String, usize)> {
    let answer = admin
        .device(&fleet::dev_id(n))
        .await
        .unwrap_or_else(|e| panic!("device {n}: {e}"));
    assert_eq!(answer.status, 200, "device {n}: {}", answer.body);
    let mut commands = BTreeMap::new();
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
            let job = command["command"][1]
                .as_str()
                .and_then(|uri| uri.rsplit_once("/J"))
                .and_then(|(_, k)| k.parse().ok())
                .expect("a job command");
            let state = command["state"].as_str().unwrap_or("?").to_owned();
            let earlier = commands.insert(id, (state, job));
            assert!(
                earlier.is_none(),
                "command {id} listed twice: {}",
                answer.body
            );
        }
    }
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_lose_one_and_every_command_runs_at_most_once() {
    let started = Instant::now();
    let Some(database) = fresh_database("cluster").await else {
        return;
    };
    let mut rng = Rng::from_clock("cluster");
    let scratch = Scratch::new("cluster");
    let proxy = Proxy::start(&[]);
    let config = write_config(
        &scratch,
        json!({"session_idle_secs": 2}),
        json!({"public_uri": proxy.url()}),
    );
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--config",
        &config,
        "--store",
        database.url(),
    ];
    let mut nodes: Vec<DmServe> = (0..3).map(|_| DmServe::start(DM, &args)).collect();
    proxy.set_upstreams(&nodes.iter().map(DmServe::address).collect::<Vec<_>>());
    let admin = AdminApi::new(&proxy.url(), Some(TOKEN));

    // 1,000 devices and 1,500 commands, through the proxy (every node).
    let mut ids = BTreeMap::<u64, (usize, usize)>::new();
    for wave in (0..ALL).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let writes = wave.iter().map(|&n| {
            let admin = admin.clone();
            async move {
                let dev_id = fleet::dev_id(n);
                let answer = admin.register(&dev_id).await.expect("an answer");
                assert_eq!(answer.status, 201, "{dev_id}: {}", answer.body);
                let mut queued = Vec::new();
                for job in 0..jobs_of(n) {
                    let answer = admin
                        .enqueue(&dev_id, &fleet::job_command(job))
                        .await
                        .expect("an answer");
                    assert_eq!(answer.status, 201, "{dev_id}: {}", answer.body);
                    let id: u64 = answer.body["id"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .expect("a numeric id");
                    queued.push((id, (n, job)));
                }
                queued
            }
        });
        for queued in join_all(writes).await {
            for (id, command) in queued {
                assert!(ids.insert(id, command).is_none(), "id {id} given twice");
            }
        }
    }
    eprintln!(
        "cluster: {ALL} devices, {} commands queued in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    // Sessions in waves; node 1 is killed at a random moment of the run.
    let fleet = Arc::new(Fleet::new(&proxy.url(), JOBS));
    let done = Arc::new(AtomicUsize::new(0));
    let run = {
        let fleet = fleet.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut failed = Vec::new();
            for wave in (0..DEVICES).collect::<Vec<_>>().chunks(CONCURRENCY) {
                for (n, result) in fleet.sessions(wave, CONCURRENCY).await {
                    match result {
                        Ok(report) if report.completed() => {}
                        Ok(report) => failed.push((n, report.to_string())),
                        Err(e) => failed.push((n, e)),
                    }
                }
                done.fetch_add(wave.len(), Ordering::SeqCst);
            }
            failed
        })
    };
    let kill_after = usize::try_from(200 + rng.below(400)).unwrap_or(300);
    let reached = eventually(Duration::from_secs(60), || async {
        done.load(Ordering::SeqCst) >= kill_after
    })
    .await;
    assert!(reached, "the sessions do not progress");
    // Sessions node 1 opens and never hears from again: Package#1 straight
    // to it, its Package#2 sending the device's commands.
    let http = dm_test_support::admin_api::http_client();
    for n in DEVICES..ALL {
        let package2 = post_package1(&http, &nodes[1].url(), n).await;
        assert_eq!(package2.len(), 1 + jobs_of(n), "{package2:?}");
    }
    let sessions_started = Instant::now();
    nodes[1].kill_hard();
    eprintln!(
        "cluster: node 1 killed after {} sessions",
        done.load(Ordering::SeqCst)
    );
    let failed = run.await.expect("the session run");
    eprintln!(
        "cluster: first pass done {:.1} s after the kill; {} sessions failed: {:?}",
        sessions_started.elapsed().as_secs_f64(),
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );

    // The survivors expire what the dead node left open: no command stays
    // `sent` (session_idle_secs 2, expiry every 5 s).
    let survivor = admin.at(&nodes[0].url());
    let touched: Vec<usize> = failed.iter().map(|(n, _)| *n).chain(DEVICES..ALL).collect();
    let settled = eventually(Duration::from_secs(20), || async {
        for &n in &touched {
            if commands_of(&survivor, n)
                .await
                .values()
                .any(|(state, _)| state == "sent")
            {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        settled,
        "commands stay sent; node 0:\n{}",
        nodes[0].stderr()
    );

    // Every command is in exactly one state, consistent with what the
    // devices executed: done => executed once; executed => done or failed
    // (failed: sent in a session the kill cut, expired); queued => never
    // executed.
    let counts = fleet.log().counts();
    let mut states = BTreeMap::<String, usize>::new();
    let mut timeouts = 0;
    let listed = every_device(&survivor).await;
    for (n, commands) in listed.iter().enumerate() {
        assert_eq!(commands.len(), jobs_of(n), "device {n}: {commands:?}");
        for (id, (state, job)) in commands {
            assert_eq!(ids.get(id), Some(&(n, *job)), "command {id}");
            let executed = counts.get(&(n, *job)).copied().unwrap_or(0);
            match state.as_str() {
                "done" => assert_eq!(executed, 1, "command {id} done, executed {executed}"),
                "failed" => assert!(executed <= 1, "command {id} executed {executed} times"),
                "queued" => assert_eq!(executed, 0, "command {id} executed, queued again"),
                other => panic!("command {id}: {other}"),
            }
            *states.entry(state.clone()).or_default() += 1;
        }
    }
    for &n in &touched {
        let device = survivor.device(&fleet::dev_id(n)).await.expect("an answer");
        let outcomes = device.body["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        timeouts += outcomes
            .iter()
            .filter(|s| s["outcome"] == "timeout")
            .count();
    }
    eprintln!(
        "cluster: after the first pass {states:?}; {timeouts} sessions of failed devices timed out"
    );
    // The stranded sessions expired, failing the commands they sent.
    for n in DEVICES..ALL {
        let device = survivor.device(&fleet::dev_id(n)).await.expect("an answer");
        assert_eq!(
            device.body["last_session"]["outcome"], "timeout",
            "{}",
            device.body
        );
        for command in device.body["commands"]["finished"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(command["state"], "failed", "{command}");
            assert_eq!(
                command["error"], "no status received: session timeout",
                "{command}"
            );
        }
        let commands = commands_of(&survivor, n).await;
        assert!(
            commands.values().all(|(state, _)| state == "failed"),
            "{commands:?}"
        );
    }

    // Every device completes a session through the survivors.
    let all: Vec<usize> = (0..ALL).collect();
    let second = Instant::now();
    for (n, result) in fleet.sessions(&all, CONCURRENCY).await {
        let report = result.unwrap_or_else(|e| panic!("device {n}: {e}"));
        assert!(report.completed(), "device {n}: {report}");
    }
    eprintln!(
        "cluster: second pass (every device through the survivors) in {:.1} s",
        second.elapsed().as_secs_f64()
    );
    assert_eq!(fleet.log().executed_twice(), Vec::new(), "executed twice");

    // The killed node comes back; every node sees the same devices and the
    // same command states.
    nodes[1].restart();
    let views: Vec<AdminApi> = nodes.iter().map(|node| admin.at(&node.url())).collect();
    for view in &views {
        assert_eq!(view.device_count().await.expect("a count"), ALL as u64);
    }
    let counts = fleet.log().counts();
    let mut finished = BTreeMap::<String, usize>::new();
    let seen: Vec<_> = join_all(views.iter().map(every_device)).await;
    for (node, other) in seen.iter().enumerate().skip(1) {
        for n in 0..ALL {
            assert_eq!(
                seen[0][n], other[n],
                "device {n} seen differently by nodes 0 and {node}"
            );
        }
    }
    for (n, commands) in seen[0].iter().enumerate() {
        for (id, (state, job)) in commands {
            assert!(
                state == "done" || state == "failed",
                "command {id}: {state}"
            );
            if state == "done" {
                assert_eq!(counts.get(&(n, *job)), Some(&1), "command {id}");
            }
            *finished.entry(state.clone()).or_default() += 1;
        }
    }
    eprintln!("cluster: in the end {finished:?}");

    // Any node sends a notification (the NOTIFICATION-ID counter is shared).
    let listener = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a UDP socket");
    let notified = fleet::dev_id(ALL);
    let answer = admin
        .call(
            reqwest::Method::POST,
            "/admin/devices",
            Some(json!({
                "dev_id": notified,
                "notification": {
                    "address": format!("udp://{}", listener.local_addr().expect("address")),
                    "secret_hex": NOTI_SECRET_HEX,
                },
            })),
        )
        .await
        .expect("an answer");
    assert_eq!(answer.status, 201, "{}", answer.body);
    let secret = dm_codec::hex::decode(NOTI_SECRET_HEX).expect("hex");
    let mut seen_ids = Vec::new();
    for (i, view) in views.iter().enumerate() {
        let answer = view.notify(&notified).await.expect("an answer");
        assert_eq!(answer.status, 200, "node {i}: {}", answer.body);
        let mut datagram = vec![0; 2048];
        let (length, _) =
            tokio::time::timeout(Duration::from_secs(5), listener.recv_from(&mut datagram))
                .await
                .expect("a Package#0 within 5 s")
                .expect("received");
        let received =
            dm_codec::notification::Received::decode(&datagram[..length]).expect("a Package#0");
        assert!(received.verify_digest(&secret, b"").is_valid(), "node {i}");
        let id = received
            .notification()
            .notification_id
            .expect("a NOTIFICATION-ID");
        assert_eq!(Value::from(id), answer.body["notification_id"], "node {i}");
        seen_ids.push(id);
    }
    let mut unique = seen_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), views.len(), "ids {seen_ids:?}");
    eprintln!("cluster: {:.1} s in all", started.elapsed().as_secs_f64());
    drop(nodes);
    drop(database);
}

/// The commands of every device (0 to [`ALL`]), as [`commands_of`],
/// [`CONCURRENCY`] requests at once.
async fn every_device(admin: &AdminApi) -> Vec<BTreeMap<u64, (String, usize)>> {
    let mut all = Vec::with_capacity(ALL);
    for wave in (0..ALL).collect::<Vec<_>>().chunks(CONCURRENCY) {
        all.extend(join_all(wave.iter().map(|&n| commands_of(admin, n))).await);
    }
    all
}

/// Posts device `n`'s Package#1 to the node at `base`; the commands of
/// the Package#2 (a 200) it answers.
async fn post_package1(http: &reqwest::Client, base: &str, n: usize) -> Vec<Value> {
    let answer = http
        .post(format!("{base}/dm"))
        .header("Content-Type", "application/vnd.oma.dm.initiation+json")
        .header("Accept", "application/vnd.oma.dm.request+json")
        .header("OMADM-DevID", fleet::dev_id(n))
        .body(r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 200, "Package#1 of device {n}");
    commands_in(&answer.bytes().await.expect("a body"))
}

/// The commands of a Package#2 body.
fn commands_in(body: &[u8]) -> Vec<Value> {
    let package: Value = serde_json::from_slice(body).expect("a Package#2");
    package["CMD"].as_array().cloned().expect("CMD")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_package3_on_two_nodes_at_once_is_taken_once() {
    let Some(database) = fresh_database("cluster race").await else {
        return;
    };
    let scratch = Scratch::new("race");
    let config = write_config(&scratch, json!({}), json!({}));
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--config",
        &config,
        "--store",
        database.url(),
    ];
    let nodes = [DmServe::start(DM, &args), DmServe::start(DM, &args)];
    let admin = AdminApi::new(&nodes[0].url(), Some(TOKEN));
    let http = dm_test_support::admin_api::http_client();
    // The loser is 409 when it read the session before the winner saved
    // it, 404 when it came after the session ended.
    let mut conflicts = 0;
    for round in 0..10 {
        let dev_id = fleet::dev_id(round);
        assert_eq!(
            admin.register(&dev_id).await.expect("an answer").status,
            201
        );
        let mut ids = Vec::new();
        for job in 0..2 {
            let answer = admin
                .enqueue(&dev_id, &fleet::job_command(job))
                .await
                .expect("an answer");
            ids.push(answer.body["id"].as_str().expect("an id").to_owned());
        }
        let commands = post_package1(&http, &nodes[0].url(), round).await;
        assert_eq!(commands[0][0], "CONT", "{commands:?}");
        let session_uri = commands[0][1].as_str().expect("a URI").to_owned();
        let path = &session_uri[session_uri.find("/dm/s/").expect("a session path")..];
        let statuses: Vec<Value> = commands.iter().map(|_| json!({"sc": 200})).collect();
        let package3 = json!({ "Status": statuses }).to_string();
        let send = |node: &DmServe| {
            http.post(format!("{}{path}", node.url()))
                .header("Content-Type", "application/vnd.oma.dm.response+json")
                .header("Accept", "application/vnd.oma.dm.request+json")
                .header("OMADM-DevID", &dev_id)
                .body(package3.clone())
                .send()
        };
        let (first, second) = tokio::join!(send(&nodes[0]), send(&nodes[1]));
        let mut statuses = [
            first.expect("an answer").status().as_u16(),
            second.expect("an answer").status().as_u16(),
        ];
        statuses.sort_unstable();
        assert!(
            statuses == [200, 409] || statuses == [200, 404],
            "round {round}: {statuses:?}"
        );
        conflicts += usize::from(statuses[1] == 409);
        for id in &ids {
            let answer = admin.command(&dev_id, id).await.expect("an answer");
            assert_eq!(answer.body["state"], "done", "{}", answer.body);
            assert_eq!(answer.body["status"], 200, "{}", answer.body);
        }
        let device = admin.device(&dev_id).await.expect("an answer");
        assert_eq!(
            device.body["last_session"]["outcome"], "completed",
            "{}",
            device.body
        );
        assert_eq!(device.body["open_sessions"], json!([]), "{}", device.body);
    }
    eprintln!("cluster race: 10 rounds, {conflicts} answered 409, the others 404");
    drop(nodes);
    drop(database);
}
