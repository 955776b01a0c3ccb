//! API keys across a PostgreSQL cluster: two servers on one database; a
//! key added through one works on the other, and a key revoked through one
//! is refused by the other from the next request on, without a restart.

use dm_test_support::postgres::fresh_database;
use dm_test_support::server::{AdminClient, TestServer, options};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_node_is_refused_by_the_other_at_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let options = || options().build().expect("options");
    let a = TestServer::start_on(options(), db.store().await).await;
    let b = TestServer::start_on(options(), db.store().await).await;
    let (status, added) = AdminClient::new(&a.base)
        .post("/admin/keys", json!({"name": "ci", "scope": "operator"}))
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().expect("id");
    let mut on_b = AdminClient::new(&b.base);
    on_b.token = Some(added["key"].as_str().expect("key").to_owned());
    let (status, body) = on_b.get("/admin/whoami").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "operator");
    assert_eq!(body["key"]["id"], id);
    // B lists the key A added, and records its use for both to see.
    let (status, listed) = AdminClient::new(&b.base).get("/admin/keys").await;
    assert_eq!(status, 200);
    assert_eq!(listed["keys"][0]["id"], id);
    let (_, shown) = AdminClient::new(&a.base)
        .get(&format!("/admin/keys/{id}"))
        .await;
    assert!(shown["last_used_ms"].as_u64().is_some(), "{shown}");

    let (status, _) = AdminClient::new(&a.base)
        .call(
            "DELETE".parse().expect("a method"),
            &format!("/admin/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = on_b.get("/admin/whoami").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body, json!({"error": "wrong admin token or API key"}));
    // The admin token keeps working on both.
    assert_eq!(
        AdminClient::new(&b.base).get("/admin/whoami").await.1["scope"],
        "admin"
    );
    a.stop().await.expect("stopped");
    b.stop().await.expect("stopped");
}
