//! `dm key add | list | revoke` against a `dm serve` process: the key is
//! printed once, works with its scope, is refused once revoked, and no line
//! the server logs carries it.

mod common;

use dm_test_support::process::DmServe;
use serde_json::{Value, json};

const DM: &str = env!("CARGO_BIN_EXE_dm");
const TOKEN: &str = "key-cli-admin-token";

struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("dm-key-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8 path").to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `dm key --admin URL --token-file FILE ARGS`: exit code, stdout as
/// JSON (or a string), stderr.
fn key(url: &str, token_file: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["key", "--admin", url, "--token-file", token_file];
    all.extend_from_slice(args);
    let output = common::dm(&all, b"");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (
        output.status.code(),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn whoami(url: &str, bearer: &str) -> (u16, Value) {
    let response = dm_test_support::server::client()
        .get(format!("{url}/admin/whoami"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("JSON"))
}

#[tokio::test]
async fn keys_are_added_listed_and_revoked_and_never_logged() {
    let scratch = Scratch::new("cycle");
    let config = scratch.path("server.json");
    std::fs::write(
        &config,
        json!({"server_id": "key-cli", "admin_token": TOKEN}).to_string(),
    )
    .expect("config");
    let token_file = scratch.path("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let store = format!("sqlite:{}", scratch.path("store.sqlite"));
    let serve = DmServe::start(
        DM,
        &[
            "--listen",
            "127.0.0.1:0",
            "--config",
            &config,
            "--store",
            &store,
        ],
    );
    let url = serve.url();

    let (code, added, stderr) = key(
        &url,
        &token_file,
        &["add", "--name", "ci", "--scope", "read"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let id = added["id"].as_str().expect("id").to_owned();
    let text = added["key"].as_str().expect("key").to_owned();
    assert_eq!(
        (&added["name"], &added["scope"]),
        (&json!("ci"), &json!("read"))
    );
    let (status, me) = whoami(&url, &text).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({"scope": "read", "key": {"id": id, "name": "ci"}})
    );

    let (code, listed, stderr) = key(&url, &token_file, &["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(listed["keys"][0]["id"], id.as_str());
    assert_eq!(listed["keys"][0]["revoked_ms"], Value::Null);
    assert!(!listed.to_string().contains(&text[21..]), "{listed}");

    // Mistakes are refused before or by the server, precisely.
    let (code, _, stderr) = key(
        &url,
        &token_file,
        &["add", "--name", "ci", "--scope", "root"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not read, operator or admin"), "{stderr}");
    let (code, _, stderr) = key(&url, &token_file, &["revoke", "aaaaaaaaaaaaaaaa"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("404") && stderr.contains("no API key"),
        "{stderr}"
    );

    let (code, revoked, stderr) = key(&url, &token_file, &["revoke", &id]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(revoked, json!({"status": 204}));
    assert_eq!(whoami(&url, &text).await.0, 401);
    let (_, listed, _) = key(&url, &token_file, &["list"]);
    assert!(
        listed["keys"][0]["revoked_ms"].as_u64().is_some(),
        "{listed}"
    );
    // A key is not the admin token: `dm key` with it is refused.
    let key_file = scratch.path("key");
    std::fs::write(&key_file, &text).expect("key file");
    let (code, _, stderr) = key(&url, &key_file, &["list"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("401"), "{stderr}");

    let log = serve.stderr();
    assert!(log.contains(&id), "the log names keys by id:\n{log}");
    assert!(!log.contains(&text[21..]), "a key in the log:\n{log}");
}
