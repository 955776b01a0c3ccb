//! Device groups and tags over HTTP: every condition of a group resolved
//! against devices that ran real sessions (their DevInfo values and MOS
//! recorded from them), paging of members, and hostile definitions.

use dm_test_support::server as common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Runs a session of DEV1 that answers a queued GET of DevInfo `Mod`.
async fn session_reporting_mod(server: &TestServer, admin: &AdminClient, model: &str) {
    let (status, body) = admin
        .post(
            &format!("/admin/devices/{}/commands", segment(DEV1)),
            json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let http = client();
    let response = post_package1(&http, server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    let data = format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0//Mod","MOData":{{"Mod":"{model}"}}}}]"#
    );
    let body = format!(r#"{{"Status":[{{"sc":200}},{{"sc":200,"Data":{data}}}]}}"#);
    let response = post_package(&http, &package[0][1], RESPONSE, DEV1, &body, BASIC1).await;
    assert_eq!(response.status(), 200);
}

async fn put_group(admin: &AdminClient, id: &str, body: Value) -> (u16, Value) {
    admin
        .call(Method::PUT, &format!("/admin/groups/{id}"), Some(body))
        .await
}

/// The members of a group defined by `filter`.
async fn members_of(admin: &AdminClient, filter: Value) -> Vec<String> {
    let (status, body) = put_group(admin, "g", json!({ "filter": filter })).await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = admin.get("/admin/groups/g/devices").await;
    assert_eq!(status, 200, "{body}");
    body["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d.as_str().expect("DevID").to_owned())
        .collect()
}

#[tokio::test]
async fn groups_resolve_every_condition() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    session_reporting_mod(&server, &admin, "X1").await;
    let (status, device) = admin
        .get(&format!("/admin/devices/{}", segment(DEV1)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(device["devinfo"], json!({"Mod": "X1"}), "{device}");

    let (status, body) = admin
        .call(
            Method::PUT,
            &format!("/admin/devices/{}/tags", segment(DEV2)),
            Some(json!(["canary", "site:berlin"])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, device) = admin
        .get(&format!("/admin/devices/{}", segment(DEV2)))
        .await;
    assert_eq!(device["tags"], json!(["canary", "site:berlin"]));

    let one = vec![DEV1.to_owned()];
    let two = vec![DEV2.to_owned()];
    assert_eq!(
        members_of(&admin, json!({"devices": [DEV1, "IMEI:999"]})).await,
        one,
        "listed and registered"
    );
    assert_eq!(members_of(&admin, json!({"tags": ["canary"]})).await, two);
    assert_eq!(
        members_of(&admin, json!({"tags": ["canary", "site:berlin"]})).await,
        two
    );
    assert!(
        members_of(&admin, json!({"tags": ["canary", "site:paris"]}))
            .await
            .is_empty(),
        "every tag"
    );
    assert_eq!(
        members_of(&admin, json!({"devinfo": {"Mod": "X1"}})).await,
        one
    );
    assert!(
        members_of(&admin, json!({"devinfo": {"Mod": "X2"}}))
            .await
            .is_empty()
    );
    assert_eq!(
        members_of(&admin, json!({"mos": ["urn:oma:mo:oma-dm-devinfo:1.0"]})).await,
        one
    );
    assert!(
        members_of(&admin, json!({"mos": ["urn:oma:mo:oma-fumo:1.0"]}))
            .await
            .is_empty()
    );
    assert_eq!(
        members_of(&admin, json!({"last_session_after_ms": before})).await,
        one
    );
    assert_eq!(
        members_of(&admin, json!({"last_session_before_ms": before})).await,
        two,
        "never had a session"
    );
    assert_eq!(
        members_of(
            &admin,
            json!({"devices": [DEV2], "devinfo": {"Mod": "X1"}, "last_session_after_ms": before})
        )
        .await,
        [DEV1, DEV2],
        "listed or meeting every condition, DevID order"
    );
    assert!(members_of(&admin, json!({})).await.is_empty());

    // A newer report replaces the value.
    session_reporting_mod(&server, &admin, "X2").await;
    assert_eq!(
        members_of(&admin, json!({"devinfo": {"Mod": "X2"}})).await,
        one
    );

    // Paging.
    put_group(&admin, "both", json!({"filter": {"devices": [DEV1, DEV2]}})).await;
    let (_, page) = admin.get("/admin/groups/both/devices?limit=1").await;
    assert_eq!(page["devices"], json!([DEV1]));
    assert_eq!(page["next"], DEV1);
    let (_, page) = admin
        .get(&format!(
            "/admin/groups/both/devices?limit=1&after={}",
            segment(DEV1)
        ))
        .await;
    assert_eq!(page["devices"], json!([DEV2]));
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn groups_are_kept_listed_and_removed() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let definition = json!({"description": "first wave",
                            "filter": {"tags": ["canary"], "devinfo": {"Mod": "X1"}}});
    let (status, body) = put_group(&admin, "wave-1", definition.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["description"], "first wave");
    let (status, body) = put_group(&admin, "wave-1", definition).await;
    assert_eq!(status, 200, "replaced: {body}");
    put_group(&admin, "all", json!({})).await;
    let (status, body) = admin.get("/admin/groups").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["all", "wave-1"]);
    let (status, body) = admin.get("/admin/groups/wave-1").await;
    assert_eq!(status, 200);
    assert_eq!(body["filter"]["tags"], json!(["canary"]));
    let (status, _) = admin
        .call(Method::DELETE, "/admin/groups/wave-1", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(admin.get("/admin/groups/wave-1").await.0, 404);
    assert_eq!(admin.get("/admin/groups/wave-1/devices").await.0, 404);
    let (status, _) = admin
        .call(Method::DELETE, "/admin/groups/wave-1", None)
        .await;
    assert_eq!(status, 404);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn hostile_groups_and_tags_are_refused() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let devices: Vec<String> = (0..10_001).map(|i| format!("IMEI:{i}")).collect();
    for (what, body) in [
        ("unknown condition", json!({"filter": {"colour": "red"}})),
        ("unknown member", json!({"filter": {}, "owner": "x"})),
        ("bad tag", json!({"filter": {"tags": ["two words"]}})),
        ("bad DevID", json!({"filter": {"devices": [""]}})),
        ("bad MOID", json!({"filter": {"mos": ["not a urn"]}})),
        ("time", json!({"filter": {"last_session_after_ms": -1}})),
        ("huge description", json!({"description": "d".repeat(2000)})),
        (
            "devinfo value",
            json!({"filter": {"devinfo": {"Mod": "x".repeat(300)}}}),
        ),
        ("devinfo name", json!({"filter": {"devinfo": {"": "x"}}})),
        ("too many devices", json!({"filter": {"devices": devices}})),
        ("array", json!([])),
    ] {
        let (status, answer) = put_group(&admin, "g", body).await;
        assert!(status == 400 || status == 413, "{what}: {status} {answer}");
    }
    for id in ["a%20b", "%2E%2E", &"g".repeat(65)] {
        let (status, answer) = put_group(&admin, id, json!({})).await;
        assert!(status == 400 || status == 404, "{id}: {status} {answer}");
    }
    assert_eq!(admin.get("/admin/groups").await.1, json!({"groups": []}));

    let tags = |body: Value| {
        let admin = &admin;
        async move {
            admin
                .call(
                    Method::PUT,
                    &format!("/admin/devices/{}/tags", segment(DEV1)),
                    Some(body),
                )
                .await
        }
    };
    let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    for (what, body) in [
        ("not an array", json!({"tags": ["a"]})),
        ("bad tag", json!(["a/b"])),
        ("long tag", json!(["t".repeat(65)])),
        ("too many", json!(many)),
        ("not strings", json!([1])),
    ] {
        let (status, answer) = tags(body).await;
        assert_eq!(status, 400, "{what}: {answer}");
    }
    let (status, _) = admin
        .call(
            Method::PUT,
            "/admin/devices/IMEI%3A404/tags",
            Some(json!(["a"])),
        )
        .await;
    assert_eq!(status, 404, "unknown device");
    let (status, body) = tags(json!(["b", "a", "a"])).await;
    assert_eq!(status, 200);
    assert_eq!(body["tags"], json!(["a", "b"]), "a set");
    let (status, _) = tags(json!([])).await;
    assert_eq!(status, 200);
    let (_, device) = admin
        .get(&format!("/admin/devices/{}", segment(DEV1)))
        .await;
    assert_eq!(device["tags"], json!([]));
    server.stop().await.expect("stopped");
}
