//! Every admin endpoint over HTTP, and the data repository as devices use it.

use dm_test_support::server as common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const WLAN: &str = r#"[{"ClientURI":"urn:dm-sdk:mo:wlan:1.0//","MOData":{"WLAN":{"SSID":"office","Hidden":false}}}]"#;

async fn run_session(server: &TestServer, codes_after_cont: &[u16], data: Option<&str>) {
    let http = client();
    let response = post_package1(&http, server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    let mut statuses = vec![r#"{"sc":200}"#.to_owned()];
    for code in codes_after_cont {
        match data {
            Some(data) if *code == 200 => statuses.push(format!(r#"{{"sc":200,"Data":{data}}}"#)),
            _ => statuses.push(format!(r#"{{"sc":{code}}}"#)),
        }
    }
    let body = format!(r#"{{"Status":[{}]}}"#, statuses.join(","));
    let response = post_package(&http, &package[0][1], RESPONSE, DEV1, &body, BASIC1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
}

#[tokio::test]
async fn devices_can_be_registered_listed_read_and_removed() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);

    let (status, body) = admin
        .post(
            "/admin/devices",
            json!({"dev_id": "IMEI:3", "username": "device-3", "password": "pw3",
                   "notification": {"secret_hex": "0102", "data_hex": "03"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"dev_id": "IMEI:3"}));
    // The new device can authenticate.
    let digest = Auth::Digest("device-3", "pw3", "SHA-256");
    let response = post_package1(&client(), &server, "IMEI:3", P1, digest).await;
    assert_eq!(response.status(), 200);
    for (body, expected) in [
        (json!({"dev_id": "IMEI:3"}), 409),
        (
            json!({"dev_id": "IMEI:4", "username": "device-1", "password": "x"}),
            409,
        ),
        (json!({"dev_id": "bad id"}), 400),
        (json!({"dev_id": "IMEI:4", "colour": "red"}), 400),
        (json!({"dev_id": "IMEI:4", "username": "u"}), 400),
        (json!([1, 2]), 400),
    ] {
        let (status, answer) = admin.post("/admin/devices", body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }

    let (status, list) = admin.get("/admin/devices").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 3);
    let ids: Vec<&str> = list["devices"]
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["dev_id"].as_str().expect("dev_id"))
        .collect();
    assert_eq!(ids, ["IMEI:3", DEV1, DEV2]);
    assert_eq!(list["next"], Value::Null);
    let (_, page) = admin.get("/admin/devices?limit=2").await;
    assert_eq!(page["devices"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["next"], DEV1);
    let (_, rest) = admin
        .get(&format!("/admin/devices?limit=2&after={}", segment(DEV1)))
        .await;
    assert_eq!(rest["devices"][0]["dev_id"], DEV2);
    assert_eq!(admin.get("/admin/devices?limit=x").await.0, 400);

    let (status, device) = admin.get("/admin/devices/IMEI%3A3").await;
    assert_eq!(status, 200, "{device}");
    assert_eq!(device["username"], "device-3");
    assert_eq!(device["notification_secret"], true);
    assert_eq!(device["notification_address"], Value::Null);
    assert_eq!(device["last_session"]["outcome"], "completed");
    assert_eq!(device["mos"][0]["MOID"], "urn:oma:mo:oma-dm-devinfo:1.0");
    // Unencoded colons work too.
    assert_eq!(admin.get("/admin/devices/IMEI:3").await.0, 200);
    assert_eq!(admin.get("/admin/devices/IMEI%3A9").await.0, 404);
    assert_eq!(admin.get("/admin/devices/bad%20id").await.0, 400);

    let (status, _) = admin
        .call(Method::DELETE, "/admin/devices/IMEI%3A3", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(admin.get("/admin/devices/IMEI%3A3").await.0, 404);
    assert_eq!(
        admin
            .call(Method::DELETE, "/admin/devices/IMEI%3A3", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn commands_are_queued_and_their_results_read() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let path = format!("/admin/devices/{}/commands", segment(DEV1));

    let (status, queued) = admin
        .post(
            &path,
            json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"]}),
        )
        .await;
    assert_eq!(status, 201, "{queued}");
    let id = queued["id"].as_str().expect("id").to_owned();
    let (status, second) = admin
        .post(
            &path,
            json!({"command": ["DELETE", "urn:oma:mo:oma-dm-devinfo:1.0//"]}),
        )
        .await;
    assert_eq!(status, 201);
    let second = second["id"].as_str().expect("id").to_owned();

    for (body, expected) in [
        (json!({"command": ["END"]}), 422),
        (
            json!({"command": ["CONT", "https://elsewhere.example/"]}),
            422,
        ),
        (json!({"command": ["GET"]}), 400),
        (json!({"command": ["FROB", "x"]}), 400),
        (json!({"command": "GET"}), 400),
        (json!({"words": ["GET"]}), 400),
        (json!({"command": ["GET", "urn:x:y//", 7]}), 400),
    ] {
        let (status, answer) = admin.post(&path, body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(answer["error"].is_string());
    }
    let (status, _) = admin
        .post(
            "/admin/devices/IMEI%3A9/commands",
            json!({"command": ["GET", "urn:x:y//"]}),
        )
        .await;
    assert_eq!(status, 404);
    let response = client()
        .post(server.url(&path))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "application/json")
        .body("not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 400);

    let (status, record) = admin.get(&format!("{path}/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(record["state"], "queued");
    assert_eq!(record["status"], Value::Null);
    assert_eq!(
        record["command"],
        json!(["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"])
    );

    let data = r#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/","MOData":{"DevInfo":{"Man":"Vendor","DmV":"2.0"}}}]"#;
    run_session(&server, &[200, 405], Some(data)).await;

    let (_, record) = admin.get(&format!("{path}/{id}")).await;
    assert_eq!(record["state"], "done");
    assert_eq!(record["status"], 200);
    assert_eq!(record["data"][0]["MOData"]["DevInfo"]["Man"], "Vendor");
    assert_eq!(record["uris"], json!([]));
    assert!(record["session"].is_string());
    let (_, record) = admin.get(&format!("{path}/{second}")).await;
    assert_eq!(
        (record["state"].as_str(), record["status"].as_u64()),
        (Some("done"), Some(405))
    );

    let (status, list) = admin.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(list["commands"].as_array().map(Vec::len), Some(2));
    let (_, device) = admin
        .get(&format!("/admin/devices/{}", segment(DEV1)))
        .await;
    assert_eq!(
        device["commands"]["finished"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(device["commands"]["pending"], json!([]));
    assert!(
        device["last_session"]["session_uri"]
            .as_str()
            .is_some_and(|u| u.contains("/dm/s/"))
    );

    // A command id of another device, or none at all.
    assert_eq!(
        admin
            .get(&format!("/admin/devices/{}/commands/{id}", segment(DEV2)))
            .await
            .0,
        404
    );
    assert_eq!(admin.get(&format!("{path}/999")).await.0, 404);
    assert_eq!(admin.get(&format!("{path}/x")).await.0, 404);
}

#[tokio::test]
async fn alerts_and_notify_errors() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let p1 = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:ExecComplete","SourceURI":"urn:dm-sdk:mo:demo:1.0//Reboot","Data":{"sc":200}}]}"#;
    let response = post_package1(&client(), &server, DEV1, p1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let (status, alerts) = admin
        .get(&format!("/admin/devices/{}/alerts", segment(DEV1)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        alerts["alerts"][0]["alert"],
        json!({"AlertType": "urn:oma:at:dm:2.0:ExecComplete",
               "SourceURI": "urn:dm-sdk:mo:demo:1.0//Reboot", "Data": {"sc": 200}})
    );
    assert!(alerts["alerts"][0]["received_ms"].is_u64());
    assert_eq!(admin.get("/admin/devices/IMEI%3A9/alerts").await.0, 404);

    // No notification address yet: 409; an address but no secret: 422.
    let notify = format!("/admin/devices/{}/notify", segment(DEV1));
    let (status, answer) = admin.post(&notify, json!(null)).await;
    assert_eq!(status, 409, "{answer}");
    let p1 = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:dm-sdk:at:1.0:NotificationAddress","Data":{"Address":"udp://127.0.0.1:9"}}]}"#;
    let response = post_package1(&client(), &server, DEV1, p1, BASIC1).await;
    assert_eq!(response.status(), 200, "the address is announced");
    let (status, answer) = admin.post(&notify, json!(null)).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        admin
            .post("/admin/devices/IMEI%3A9/notify", json!(null))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn the_repository_serves_devices_and_the_admin() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let http = client();
    let put = |path: &str, content_type: &str, body: &str| {
        let request = http
            .put(server.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .header("Content-Type", content_type)
            .body(body.to_owned());
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    assert_eq!(put("/admin/repository/demo/wlan", MO_DATA, WLAN).await, 201);
    assert_eq!(put("/admin/repository/demo/wlan", MO_DATA, WLAN).await, 204);
    assert_eq!(
        put("/admin/repository/demo/bad", MO_DATA, r#"[{"MOData":{}}]"#).await,
        400
    );
    assert_eq!(
        put("/admin/repository/demo/bad", "text/plain", WLAN).await,
        415
    );
    assert_eq!(put("/admin/repository/a//b", MO_DATA, WLAN).await, 400);

    // HGET.
    let response = repo_get(&http, &server.url("/repo/demo/wlan"), Some(DEV1), DIGEST1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], MO_DATA);
    let served: Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
    assert_eq!(served[0]["MOData"]["WLAN"]["SSID"], "office");
    let response = repo_get(&http, &server.url("/repo/demo/none"), Some(DEV1), DIGEST1).await;
    assert_eq!(response.status(), 404);
    let response = http
        .get(server.url("/repo/demo/wlan"))
        .basic_auth(USER1, Some(PASS1))
        .header("OMADM-DevID", DEV1)
        .header("Accept", "text/html")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 406);
    let response = http
        .get(server.url("/repo/demo/wlan"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);

    // HPUT / HPOST / SUB reports.
    let upload = server.url("/repo/uploads/device-1");
    for (method, expected) in [(Method::PUT, 201), (Method::POST, 204), (Method::PUT, 204)] {
        let response = send(
            &http,
            method,
            &upload,
            Some(MO_DATA),
            Some(DEV1),
            WLAN.as_bytes(),
            DIGEST1,
        )
        .await;
        assert_eq!(response.status(), expected);
    }
    let response = send(
        &http,
        Method::PUT,
        &upload,
        Some("application/json"),
        Some(DEV1),
        WLAN.as_bytes(),
        DIGEST1,
    )
    .await;
    assert_eq!(response.status(), 415);
    assert_eq!(response.headers()["omadm-accept"], MO_DATA);
    let response = repo_put(&http, &upload, Some(DEV1), b"[{]", DIGEST1).await;
    assert_eq!(response.status(), 400);
    // Devices cannot overwrite the server's objects or each other's, nor
    // read each other's.
    let demo = server.url("/repo/demo/wlan");
    let response = repo_put(&http, &demo, Some(DEV1), WLAN.as_bytes(), DIGEST1).await;
    assert_eq!(response.status(), 403);
    let response = repo_put(&http, &upload, Some(DEV2), WLAN.as_bytes(), BASIC2).await;
    assert_eq!(response.status(), 403);
    let response = repo_get(&http, &upload, Some(DEV2), BASIC2).await;
    assert_eq!(response.status(), 404);
    let response = repo_get(&http, &upload, Some(DEV1), DIGEST1).await;
    assert_eq!(response.status(), 200);

    // The admin reads what devices uploaded, and deletes.
    let (status, uploaded) = admin.get("/admin/repository/uploads/device-1").await;
    assert_eq!(status, 200);
    assert_eq!(uploaded[0]["MOData"]["WLAN"]["Hidden"], false);
    assert_eq!(admin.get("/admin/repository/uploads/none").await.0, 404);
    assert_eq!(
        admin
            .call(Method::DELETE, "/admin/repository/uploads/device-1", None)
            .await
            .0,
        204
    );
    assert_eq!(
        admin
            .call(Method::DELETE, "/admin/repository/uploads/device-1", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn several_session_start_alerts_of_different_types_start_one_session() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    // docs/protocol.md section 3.1: the most specific type governs.
    let p1 = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:BootstrapComplete"}]}"#;
    let response = post_package1(&client(), &server, DEV1, p1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let (status, device) = admin
        .get(&format!("/admin/devices/{}", segment(DEV1)))
        .await;
    assert_eq!(status, 200, "{device}");
    assert_eq!(device["last_session"]["initiator"], "bootstrap", "{device}");
    // Session-start alerts are not stored as application alerts.
    let (_, alerts) = admin
        .get(&format!("/admin/devices/{}/alerts", segment(DEV1)))
        .await;
    assert_eq!(alerts["alerts"], json!([]), "{alerts}");

    // The same type twice is a bad Package#1.
    let twice = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#;
    let response = post_package1(&client(), &server, DEV1, twice, BASIC1).await;
    assert_eq!(response.status(), 400);
}
