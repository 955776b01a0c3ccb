//! MO caching on the server (docs/protocol.md section 8): the validators of
//! GET results are kept per device and instance, a GET queued with
//! `use_cache` asks with them, and a `304` is shown with the kept data,
//! marked as served from the cache — only for the validator it answers.

use dm_test_support::server as common;

use common::{
    ADMIN_TOKEN, AdminClient, BASIC1, DEV1, RESPONSE, TestServer, client, commands, cont_uri, dev,
    options, post_package, post_package1, segment,
};
use dm_server::{
    CommandState, DeviceRegistration, Error, MemoryStore, Retention, SessionToken, Store,
};
use dm_session::CachedInstance;
use dm_types::{CacheValidator, Command, Miid, MoItem, Moid, Status, StatusCode};
use serde_json::{Value, json};

/// An instance root item of `moid`/`miid` with validator `cv` and a leaf
/// holding `value`.
fn instance(moid: &str, miid: &str, cv: &str, value: &str) -> CachedInstance {
    let json = format!(
        r#"[{{"ClientURI":"{moid}/{miid}/","CV":"{cv}","MOData":{{"R":{{"v":"{value}"}}}}}}]"#
    );
    let item: MoItem =
        dm_codec::decode_mo_serialization(json.as_bytes(), &dm_codec::Limits::default())
            .expect("MO data")
            .remove(0);
    CachedInstance {
        moid: Moid::new(moid).expect("moid"),
        miid: Miid::new(miid).expect("miid"),
        cache_validator: CacheValidator::new(cv).expect("cv"),
        item,
    }
}

async fn kept(store: &impl Store, moid: &str, miid: &str) -> Option<String> {
    store
        .cached_instance(
            &dev(DEV1),
            &Moid::new(moid).expect("moid"),
            &Miid::new(miid).expect("miid"),
        )
        .await
        .expect("read")
        .map(|c| c.cache_validator.to_string())
}

#[tokio::test]
async fn the_store_keeps_the_latest_instances_within_its_budgets() {
    let retention = Retention::default()
        .with_cached_instances(2)
        .with_cache_bytes(400);
    let store = MemoryStore::new().with_retention(retention);
    let device = dev(DEV1);
    store
        .register_device(DeviceRegistration::new(device.clone()), false, 0)
        .await
        .expect("registered");
    store
        .record_cached_instances(
            &device,
            vec![
                instance("urn:x:a", "1", "v1", "one"),
                instance("urn:x:a", "2", "v2", "two"),
                instance("urn:x:a", "3", "v3", "three"),
            ],
        )
        .await
        .expect("kept");
    // Two instances at most: the least recently received is forgotten.
    assert_eq!(kept(&store, "urn:x:a", "1").await, None);
    assert_eq!(kept(&store, "urn:x:a", "2").await.as_deref(), Some("v2"));
    // A new validator replaces the old data and counts as recent.
    store
        .record_cached_instances(&device, vec![instance("urn:x:a", "2", "v2b", "two")])
        .await
        .expect("kept");
    store
        .record_cached_instances(&device, vec![instance("urn:x:b", "1", "w1", "b")])
        .await
        .expect("kept");
    assert_eq!(kept(&store, "urn:x:a", "3").await, None);
    assert_eq!(kept(&store, "urn:x:a", "2").await.as_deref(), Some("v2b"));
    let data = store
        .cached_instance(
            &device,
            &Moid::new("urn:x:a").expect("moid"),
            &Miid::new("2").expect("miid"),
        )
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(data, instance("urn:x:a", "2", "v2b", "two"));
    // Larger than the whole budget: not kept, and the outdated data it
    // would have replaced is gone too.
    let huge = "x".repeat(500);
    store
        .record_cached_instances(&device, vec![instance("urn:x:b", "1", "w2", &huge)])
        .await
        .expect("refused quietly");
    assert_eq!(kept(&store, "urn:x:b", "1").await, None);
    assert_eq!(kept(&store, "urn:x:a", "2").await.as_deref(), Some("v2b"));
    // An unknown device is an error; a removed device's cache goes with it.
    let stranger = dev("IMEI:999");
    let err = store
        .record_cached_instances(&stranger, vec![instance("urn:x:a", "1", "v1", "one")])
        .await
        .expect_err("unknown device");
    assert!(matches!(err, Error::DeviceNotFound(_)), "{err}");
    assert!(store.remove_device(&device).await.expect("removed"));
    store
        .register_device(DeviceRegistration::new(device.clone()), false, 1)
        .await
        .expect("registered again");
    assert_eq!(kept(&store, "urn:x:a", "2").await, None);
}

#[tokio::test]
async fn no_instance_is_kept_when_caching_is_off() {
    let store = MemoryStore::new().with_retention(Retention::default().with_cached_instances(0));
    let device = dev(DEV1);
    store
        .register_device(DeviceRegistration::new(device.clone()), false, 0)
        .await
        .expect("registered");
    store
        .record_cached_instances(&device, vec![instance("urn:x:a", "1", "v1", "one")])
        .await
        .expect("accepted");
    assert_eq!(kept(&store, "urn:x:a", "1").await, None);
}

#[tokio::test]
async fn kept_instances_and_the_cache_mark_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("dm-server-caching-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("directory");
    let path = dir.join("store.sqlite");
    let _ = std::fs::remove_file(&path);
    let device = dev(DEV1);
    let token = SessionToken::from_bytes([5; 16]);
    {
        let store = dm_server::SqliteStore::open_file(&path)
            .await
            .expect("store");
        store
            .register_device(DeviceRegistration::new(device.clone()), false, 0)
            .await
            .expect("registered");
        store
            .record_cached_instances(&device, vec![instance("urn:x:a", "1", "v1", "one")])
            .await
            .expect("kept");
        let get = Command::from_words(&["GET", "urn:x:a/1/?cv=v1"]).expect("GET");
        let id = store
            .enqueue_command(&device, get, 1)
            .await
            .expect("queued");
        store
            .open_session(
                dm_server::SessionRecord::new(
                    token,
                    1,
                    dm_session::SessionState::new(device.clone(), 1),
                ),
                10,
            )
            .await
            .expect("session");
        store
            .claim_commands(&device, token, 10, 2)
            .await
            .expect("claimed");
        let mut answer = Status::new(StatusCode::NOT_MODIFIED);
        answer.data = vec![instance("urn:x:a", "1", "v1", "one").item];
        store
            .record_cached_result(id, token, answer, 3)
            .await
            .expect("recorded");
    }
    let store = dm_server::SqliteStore::open_file(&path)
        .await
        .expect("reopened");
    assert_eq!(kept(&store, "urn:x:a", "1").await.as_deref(), Some("v1"));
    let commands = store.commands(&device).await.expect("commands");
    assert_eq!(commands.len(), 1);
    assert!(commands[0].from_cache);
    assert_eq!(commands[0].state, CommandState::Done);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens a session of device 1 and returns its session URI and the
/// commands of the first Package#2 after CONT.
async fn session(server: &TestServer) -> (String, Vec<Vec<String>>) {
    let p1 = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;
    let response = post_package1(&client(), server, DEV1, p1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    (cont_uri(&package), package[1..].to_vec())
}

/// Answers the session's Package#2 (CONT and one command) with `status`
/// for the command; the session then ends.
async fn answer(uri: &str, status: &str) {
    let body = format!(r#"{{"Status":[{{"sc":200}},{status}]}}"#);
    let response = post_package(&client(), uri, RESPONSE, DEV1, &body, BASIC1).await;
    assert_eq!(response.status(), 200);
}

/// Queues a command through the admin API; returns its id.
async fn queue(admin: &AdminClient, body: Value) -> String {
    let (status, answer) = admin
        .post(&format!("/admin/devices/{}/commands", segment(DEV1)), body)
        .await;
    assert_eq!(status, 201, "{answer}");
    answer["id"].as_str().expect("id").to_owned()
}

async fn shown(admin: &AdminClient, id: &str) -> Value {
    let (status, command) = admin
        .get(&format!("/admin/devices/{}/commands/{id}", segment(DEV1)))
        .await;
    assert_eq!(status, 200, "{command}");
    command
}

const ROOT: &str = "urn:x:battery:1.0/bat/";

fn data(cv: &str, level: u32) -> String {
    format!(
        r#"{{"sc":200,"Data":[{{"ClientURI":"{ROOT}","CV":"{cv}","MOData":{{"Battery":{{"Level":{level}}}}}}}]}}"#
    )
}

#[tokio::test]
async fn a_get_with_use_cache_asks_with_the_kept_validator_and_shows_the_kept_data() {
    let server =
        TestServer::start(options().admin_token(ADMIN_TOKEN).build().expect("options")).await;
    let admin = AdminClient::new(&server.base);

    // A first GET: the device returns the data with its validator, and
    // (hostile) a validated instance of an MO nobody asked about.
    let first = queue(&admin, json!({"command": ["GET", ROOT]})).await;
    let (uri, sent) = session(&server).await;
    assert_eq!(sent, [["GET", ROOT]]);
    let foreign = r#"{"ClientURI":"urn:x:other:1.0/9/","CV":"z","MOData":{"O":{}}}"#;
    let mut status = data("v1", 87);
    status.insert_str(status.len() - 2, &format!(",{foreign}"));
    answer(&uri, &status).await;
    assert_eq!(shown(&admin, &first).await["from_cache"], false);
    let foreign = server
        .admin()
        .cached_instance(
            &dev(DEV1),
            &Moid::new("urn:x:other:1.0").expect("moid"),
            &Miid::new("9").expect("miid"),
        )
        .await
        .expect("read");
    assert_eq!(foreign, None, "only the MOs the GET asked about are kept");

    // use_cache: the GET carries the kept validator; the device's 304 is
    // shown with the kept data, marked as served from the cache.
    let cached = queue(&admin, json!({"command": ["GET", ROOT], "use_cache": true})).await;
    let asked = format!("{ROOT}?cv=v1");
    assert_eq!(
        shown(&admin, &cached).await["command"],
        json!(["GET", asked])
    );
    let (uri, sent) = session(&server).await;
    assert_eq!(sent, [["GET", asked.as_str()]]);
    answer(&uri, r#"{"sc":304}"#).await;
    let result = shown(&admin, &cached).await;
    assert_eq!(result["status"], 304, "{result}");
    assert_eq!(result["from_cache"], true, "{result}");
    assert_eq!(
        result["data"][0]["MOData"]["Battery"]["Level"], 87,
        "{result}"
    );
    assert_eq!(result["data"][0]["CV"], "v1", "{result}");

    // The instance changed: the device sends the data and a new validator,
    // which the next cached GET uses.
    let changed = queue(&admin, json!({"command": ["GET", ROOT], "use_cache": true})).await;
    let (uri, _) = session(&server).await;
    answer(&uri, &data("v2", 50)).await;
    let result = shown(&admin, &changed).await;
    assert_eq!(
        (result["status"].clone(), result["from_cache"].clone()),
        (json!(200), json!(false))
    );
    let again = queue(&admin, json!({"command": ["GET", ROOT], "use_cache": true})).await;
    assert_eq!(
        shown(&admin, &again).await["command"],
        json!(["GET", format!("{ROOT}?cv=v2")])
    );
    let (uri, _) = session(&server).await;
    answer(&uri, r#"{"sc":304}"#).await;
    let result = shown(&admin, &again).await;
    assert_eq!(
        result["data"][0]["MOData"]["Battery"]["Level"], 50,
        "{result}"
    );

    // A 304 for a validator the server no longer holds (the GET named v1,
    // the server keeps v2) is shown as it came: no data, not from the cache.
    let stale = queue(&admin, json!({"command": ["GET", format!("{ROOT}?cv=v1")]})).await;
    let (uri, _) = session(&server).await;
    answer(&uri, r#"{"sc":304}"#).await;
    let result = shown(&admin, &stale).await;
    assert_eq!(result["status"], 304);
    assert_eq!(result["from_cache"], false);
    assert_eq!(result["data"], json!([]));
    // Nor does a 304 to a GET that asked with no validator at all.
    let plain = queue(&admin, json!({"command": ["GET", ROOT]})).await;
    let (uri, _) = session(&server).await;
    answer(&uri, r#"{"sc":304}"#).await;
    assert_eq!(shown(&admin, &plain).await["from_cache"], false);

    // Without kept data, use_cache sends the GET as it is.
    let unknown = queue(
        &admin,
        json!({"command": ["GET", "urn:x:battery:1.0/other/"], "use_cache": true}),
    )
    .await;
    assert_eq!(
        shown(&admin, &unknown).await["command"],
        json!(["GET", "urn:x:battery:1.0/other/"])
    );
}

#[tokio::test]
async fn use_cache_is_for_gets_only_and_a_boolean() {
    let server =
        TestServer::start(options().admin_token(ADMIN_TOKEN).build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let path = format!("/admin/devices/{}/commands", segment(DEV1));
    let (status, body) = admin
        .post(
            &path,
            json!({"command": ["DELETE", ROOT], "use_cache": true}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin
        .post(&path, json!({"command": ["GET", ROOT], "use_cache": "yes"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = admin
        .post(
            &format!("/admin/devices/{}/commands", segment("IMEI:999")),
            json!({"command": ["GET", ROOT], "use_cache": true}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (_, listed) = admin.get(&path).await;
    assert_eq!(listed["commands"], json!([]), "nothing was queued");
}
