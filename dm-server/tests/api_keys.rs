//! API keys on a running server: what each scope may do, revocation
//! without a restart, refusals that say nothing about the key, a key text
//! that appears once and never again (answers and log lines), the admin
//! token as an admin key, and dev mode as before. What the log says of a
//! key is in `api_key_logs.rs`.

use dm_server::{ApiKey, MemoryStore, ServerOptions};
use dm_test_support::server::{
    ADMIN_TOKEN, AdminClient, DEV1, DEV2, TestServer, client, options, register_two, segment,
};
use reqwest::Method;
use serde_json::{Value, json};

async fn server() -> TestServer {
    TestServer::start(options().build().expect("options")).await
}

/// Adds a key through the admin API with the admin token: its id and text.
async fn add_key(base: &str, name: &str, scope: &str) -> (String, String) {
    let (status, body) = AdminClient::new(base)
        .post("/admin/keys", json!({ "name": name, "scope": scope }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], name);
    assert_eq!(body["scope"], scope);
    assert!(body["created_ms"].as_u64().is_some_and(|t| t > 0), "{body}");
    let key = body["key"].as_str().expect("the key").to_owned();
    assert!(key.starts_with("dmk_"), "{key}");
    (body["id"].as_str().expect("id").to_owned(), key)
}

fn as_key(base: &str, key: &str) -> AdminClient {
    let mut admin = AdminClient::new(base);
    admin.token = Some(key.to_owned());
    admin
}

fn command() -> Value {
    json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"]})
}

fn device(dev_id: &str) -> Value {
    json!({"dev_id": dev_id, "username": "device-9", "password": "pw"})
}

#[tokio::test]
async fn each_scope_does_what_it_may_and_nothing_more() {
    let server = server().await;
    let base = &server.base;
    let commands = format!("/admin/devices/{}/commands", segment(DEV1));
    let tags = format!("/admin/devices/{}/tags", segment(DEV1));

    let (read_id, read) = add_key(base, "dashboard", "read").await;
    let read = as_key(base, &read);
    assert_eq!(read.get("/admin/devices").await.0, 200);
    assert_eq!(
        read.get(&format!("/admin/devices/{}", segment(DEV1)))
            .await
            .0,
        200
    );
    assert_eq!(read.get(&commands).await.0, 200);
    assert_eq!(read.get("/admin/campaigns").await.0, 200);
    let (status, body) = read.get("/admin/whoami").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"scope": "read", "key": {"id": read_id, "name": "dashboard"}})
    );
    let (status, body) = read.post(&commands, command()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"],
        "this API key has scope read; POST /admin/devices/{dev_id}/commands needs operator"
    );
    assert_eq!(read.get("/metrics").await.0, 200);
    assert_eq!(read.get("/admin/keys").await.0, 403);
    assert_eq!(read.get("/admin/webhooks").await.0, 403);
    assert_eq!(read.get(&format!("/admin/keys/{read_id}")).await.0, 403);
    assert_eq!(read.post("/admin/devices", device("IMEI:9")).await.0, 403);
    assert_eq!(
        read.call(Method::PUT, &tags, Some(json!(["canary"])))
            .await
            .0,
        403
    );

    let (_, operator) = add_key(base, "runner", "operator").await;
    let operator = as_key(base, &operator);
    let (status, body) = operator.post(&commands, command()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = operator
        .call(Method::PUT, &tags, Some(json!(["canary"])))
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let (status, body) = operator.post("/admin/devices", device("IMEI:9")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"],
        "this API key has scope operator; POST /admin/devices needs admin"
    );
    assert_eq!(
        operator
            .call(
                Method::DELETE,
                &format!("/admin/devices/{}", segment(DEV2)),
                None
            )
            .await
            .0,
        403
    );
    assert_eq!(
        operator
            .post("/admin/keys", json!({"name": "mine", "scope": "read"}))
            .await
            .0,
        403
    );
    assert_eq!(server.admin().device_count().await.expect("count"), 2);

    let (_, admin_key) = add_key(base, "root", "admin").await;
    let admin_key = as_key(base, &admin_key);
    assert_eq!(
        admin_key.post("/admin/devices", device("IMEI:9")).await.0,
        201
    );
    assert_eq!(admin_key.get("/admin/keys").await.0, 200);
    assert_eq!(
        admin_key
            .post("/admin/keys", json!({"name": "child", "scope": "read"}))
            .await
            .0,
        201
    );
    assert_eq!(
        admin_key
            .call(
                Method::DELETE,
                &format!("/admin/devices/{}", segment("IMEI:9")),
                None
            )
            .await
            .0,
        204
    );

    // The admin token is an admin key, without a key record.
    let token = AdminClient::new(base);
    assert_eq!(
        token.get("/admin/whoami").await.1,
        json!({"scope": "admin", "key": null})
    );
    let (status, body) = token.get("/admin/keys").await;
    assert_eq!(status, 200);
    let keys = body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4, "{body}");
    // The keys used carry when (to the minute).
    let listed = keys
        .iter()
        .find(|k| k["id"] == read_id.as_str())
        .expect("listed");
    assert!(listed["last_used_ms"].as_u64().is_some(), "{listed}");
    assert_eq!(listed["revoked_ms"], Value::Null);
}

/// The raw answer to `GET /admin/devices` with this bearer: status,
/// headers but `date`, body.
async fn raw_answer(base: &str, bearer: &str) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
    let response = client()
        .get(format!("{base}/admin/devices"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let mut headers: Vec<(String, Vec<u8>)> = response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str() != "date")
        .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
        .collect();
    headers.sort();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn revoked_unknown_and_wrong_keys_get_the_same_answer_at_once() {
    let server = server().await;
    let base = &server.base;
    let (id, key) = add_key(base, "ci", "read").await;
    assert_eq!(raw_answer(base, &key).await.0, 200);
    let unknown = ApiKey::generate().expect("key").text();
    let wrong_secret = format!("{}{}", &key[..21], &unknown[21..]);
    let wrong = raw_answer(base, &wrong_secret).await;
    assert_eq!(wrong.0, 401);
    assert_eq!(
        serde_json::from_slice::<Value>(&wrong.2).expect("JSON"),
        json!({"error": "wrong admin token or API key"})
    );
    assert!(
        wrong
            .1
            .iter()
            .any(|(n, v)| n == "www-authenticate" && v == br#"Bearer realm="dm-admin""#),
        "{:?}",
        wrong.1
    );
    assert_eq!(raw_answer(base, &unknown).await, wrong);
    assert_eq!(raw_answer(base, "not a key at all").await, wrong);

    // Revoked: refused from the next request on, with the same answer.
    let admin = AdminClient::new(base);
    let (status, _) = admin
        .call(Method::DELETE, &format!("/admin/keys/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(raw_answer(base, &key).await, wrong);
    let (status, body) = admin.get(&format!("/admin/keys/{id}")).await;
    assert_eq!(status, 200);
    assert!(body["revoked_ms"].as_u64().is_some(), "{body}");
    // Revoking again keeps it revoked; unknown and malformed ids.
    assert_eq!(
        admin
            .call(Method::DELETE, &format!("/admin/keys/{id}"), None)
            .await
            .0,
        204
    );
    let other = ApiKey::generate().expect("key");
    let (status, body) = admin
        .call(Method::DELETE, &format!("/admin/keys/{}", other.id()), None)
        .await;
    assert_eq!(
        (status, &body["error"]),
        (404, &json!(format!("no API key {}", other.id())))
    );
    let (status, body) = admin.get("/admin/keys/NOT-AN-ID").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "invalid request: API key: the id is not 16 characters of a-z 2-7"
    );
    // The admin token still works.
    assert_eq!(raw_answer(base, ADMIN_TOKEN).await.0, 200);
}

#[tokio::test]
async fn adding_a_key_is_checked_precisely() {
    let server = server().await;
    let admin = AdminClient::new(&server.base);
    for (body, expected) in [
        (
            json!({"name": "ci", "scope": "root"}),
            r#"invalid request: scope "root" is not read, operator or admin"#,
        ),
        (
            json!({"name": "x".repeat(65), "scope": "read"}),
            r#"invalid request: "name" must be 1 to 64 bytes of text without control characters"#,
        ),
        (
            json!({"name": "", "scope": "read"}),
            r#"invalid request: "name" must be 1 to 64 bytes of text without control characters"#,
        ),
        (
            json!({"name": "a\u{7}b", "scope": "read"}),
            r#"invalid request: "name" must be 1 to 64 bytes of text without control characters"#,
        ),
        (
            json!({"scope": "read"}),
            r#"invalid request: "name" must be a string"#,
        ),
        (
            json!({"name": "ci"}),
            r#"invalid request: "scope" must be one of "read", "operator", "admin""#,
        ),
        (
            json!({"name": "ci", "scope": "read", "key": "dmk_mine"}),
            r#"invalid request: unknown member "key" (expected name and scope)"#,
        ),
        (
            json!(["ci", "read"]),
            r#"invalid request: "body" must be an object {"name": ..., "scope": ...}"#,
        ),
    ] {
        let (status, answer) = admin.post("/admin/keys", body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], expected, "{body}");
    }
    let send = |body: String, content_type: &'static str| {
        client()
            .post(server.url("/admin/keys"))
            .bearer_auth(ADMIN_TOKEN)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let duplicate = send(
        r#"{"name":"a","name":"b","scope":"read"}"#.into(),
        "application/json",
    )
    .await
    .expect("answer");
    assert_eq!(duplicate.status(), 400);
    let large = send(
        format!(r#"{{"name":"{}","scope":"read"}}"#, "x".repeat(2000)),
        "application/json",
    )
    .await
    .expect("answer");
    assert_eq!(large.status(), 413);
    let text = send(r#"{"name":"a","scope":"read"}"#.into(), "text/plain")
        .await
        .expect("answer");
    assert_eq!(text.status(), 415);
    assert_eq!(
        admin.get("/admin/keys").await.1,
        json!({"keys": []}),
        "nothing was added"
    );
}

#[tokio::test]
async fn dev_mode_admits_as_before_and_a_key_given_keeps_its_scope() {
    let options = ServerOptions::builder()
        .server_id("test-server")
        .dev_mode(true)
        .build()
        .expect("options");
    let server = TestServer::start_on(options, MemoryStore::new()).await;
    register_two(&server.admin()).await;
    let mut anyone = AdminClient::new(&server.base);
    anyone.token = None;
    assert_eq!(anyone.get("/admin/devices").await.0, 200);
    assert_eq!(
        anyone.get("/admin/whoami").await.1,
        json!({"scope": "admin", "key": null})
    );
    let (status, body) = anyone
        .post("/admin/keys", json!({"name": "viewer", "scope": "read"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let viewer = as_key(&server.base, body["key"].as_str().expect("key"));
    assert_eq!(viewer.get("/admin/whoami").await.1["scope"], "read");
    assert_eq!(
        viewer
            .post(
                &format!("/admin/devices/{}/commands", segment(DEV1)),
                command()
            )
            .await
            .0,
        403
    );
}
