//! A key appears once, in the answer that adds it, and never again: not in
//! later answers, not in any log line. Alone in its test binary, so that
//! the log subscriber of this test sees the server's every line (tracing
//! caches per call site which subscribers want it, across threads).

use std::io::Write;
use std::sync::{Arc, Mutex};

use dm_test_support::server::{AdminClient, DEV1, TestServer, options, segment};
use reqwest::Method;
use serde_json::{Value, json};

fn command() -> Value {
    json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"]})
}

fn as_key(base: &str, key: &str) -> AdminClient {
    let mut admin = AdminClient::new(base);
    admin.token = Some(key.to_owned());
    admin
}

/// A writer of log lines into memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_key_appears_once_and_in_no_later_answer_or_log_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs the server's tasks on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start(options().build().expect("options")).await;
    let base = &server.base;
    let (status, added) = AdminClient::new(base)
        .post("/admin/keys", json!({"name": "ci", "scope": "read"}))
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().expect("id").to_owned();
    let key = added["key"].as_str().expect("key").to_owned();
    let secret = key[21..].to_owned();
    let user = as_key(base, &key);
    let mut answers = Vec::new();
    answers.push(user.get("/admin/whoami").await.1);
    answers.push(user.get("/admin/devices").await.1);
    answers.push(
        user.post(
            &format!("/admin/devices/{}/commands", segment(DEV1)),
            command(),
        )
        .await
        .1,
    );
    answers.push(user.get("/admin/keys").await.1);
    let admin = AdminClient::new(base);
    answers.push(admin.get("/admin/keys").await.1);
    answers.push(admin.get(&format!("/admin/keys/{id}")).await.1);
    let wrong = as_key(base, &format!("{}{}", &key[..21], "A".repeat(43)));
    answers.push(wrong.get("/admin/devices").await.1);
    answers.push(
        admin
            .call(Method::DELETE, &format!("/admin/keys/{id}"), None)
            .await
            .1,
    );
    answers.push(user.get("/admin/devices").await.1);
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains(&secret), "the secret in {text}");
        assert!(!text.contains("secret_sha256"), "the hash in {text}");
    }
    let listed = admin.get(&format!("/admin/keys/{id}")).await.1;
    assert_eq!(
        listed.as_object().map(|o| {
            let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
            keys.sort_unstable();
            keys
        }),
        Some(vec![
            "created_ms",
            "id",
            "last_used_ms",
            "name",
            "revoked_ms",
            "scope"
        ])
    );
    let logged = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("UTF-8");
    assert!(logged.contains("API key added"), "{logged}");
    assert!(logged.contains("admin request refused"), "{logged}");
    assert!(logged.contains(&id), "the id names the key in the log");
    assert!(
        !logged.contains(&secret),
        "the secret in the log:\n{logged}"
    );
}
