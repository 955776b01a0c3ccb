//! The admin API's OpenAPI document against the server itself: the
//! checked-in copies are the generated ones, every route is documented
//! and every documented route exists, the examples validate against their
//! schemas, a walk through every operation answers as documented, and
//! fuzzing from the document breaks no promise.
//!
//! `DM_UPDATE_OPENAPI=1 cargo test -p dm-server --test openapi` rewrites
//! `docs/openapi.json` and `docs/openapi-bootstrap.json`.

use std::collections::BTreeMap;

use dm_server::{ServerRole, openapi_document};
use dm_test_support::api_fuzz::{Operation, fuzz, operations, seed_management};
use dm_test_support::json_schema::validate;
use dm_test_support::server::{ADMIN_TOKEN, TestServer, client, options};
use reqwest::Method;
use serde_json::{Value, json};

fn checked_in(role: ServerRole) -> std::path::PathBuf {
    let name = match role {
        ServerRole::Management => "openapi.json",
        ServerRole::Bootstrap => "openapi-bootstrap.json",
    };
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name)
}

fn text(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("JSON");
    text.push('\n');
    text
}

#[test]
fn the_checked_in_documents_are_the_generated_ones() {
    for role in [ServerRole::Management, ServerRole::Bootstrap] {
        let generated = text(&openapi_document(role));
        let path = checked_in(role);
        if std::env::var_os("DM_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("write the document");
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == generated,
            "{} differs from the document the server generates; run \
             `DM_UPDATE_OPENAPI=1 cargo test -p dm-server --test openapi` and commit it",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_server_serves_its_document_without_authentication() {
    let server = TestServer::start(options().build().expect("options")).await;
    for token in [None, Some("wrong"), Some(ADMIN_TOKEN)] {
        let mut request = client().get(server.url("/admin/openapi.json"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("answer");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{token:?}"
        );
        let served: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
        assert_eq!(served, openapi_document(ServerRole::Management));
    }
    // Other methods are refused like any unknown method of a route.
    let response = client()
        .post(server.url("/admin/openapi.json"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 405);
    // The rest of the admin API still needs the token.
    let response = client()
        .get(server.url("/admin/devices"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);
}

/// Sends `method` to `path` with the token and, for a write, the
/// operation's example body; the status and body.
async fn send(
    base: &str,
    method: Method,
    path_and_query: &str,
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Vec<u8>) {
    let mut request = client()
        .request(method, format!("{base}{path_and_query}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some((media, body)) = body {
        request = request.header("Content-Type", media).body(body);
    }
    let response = request.send().await.expect("answer");
    let status = response.status().as_u16();
    if dm_test_support::api_fuzz::is_stream(&response) {
        return (status, Vec::new());
    }
    (status, response.bytes().await.expect("body").to_vec())
}

fn example_body(op: &Operation) -> Option<(&str, Vec<u8>)> {
    let (media, _, example) = op.bodies.first()?;
    let example = example.as_ref()?;
    Some((
        media.as_str(),
        match example {
            Value::String(content) if !media.contains("json") => content.clone().into_bytes(),
            value => value.to_string().into_bytes(),
        },
    ))
}

fn is_router_refusal(status: u16, body: &[u8]) -> bool {
    status == 405
        || (status == 404 && String::from_utf8_lossy(body).contains("no such admin resource"))
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let server = TestServer::start(options().build().expect("options")).await;
    seed_management(&server).await;
    let document = openapi_document(ServerRole::Management);
    let operations = operations(&document);
    assert!(operations.len() >= 30, "{} operations", operations.len());
    let mut by_path: BTreeMap<String, Vec<Method>> = BTreeMap::new();
    for op in &operations {
        by_path
            .entry(op.example_path())
            .or_default()
            .push(op.method.clone());
        // GETs and bodiless writes first: the documented route answers
        // (whatever the handler thinks of the request), not the router.
        let (status, body) = send(
            &server.base,
            op.method.clone(),
            &format!("{}{}", op.example_path(), op.example_query()),
            None,
        )
        .await;
        assert!(
            !is_router_refusal(status, &body),
            "{} {} is documented but the server has no such route: {status} {}",
            op.method,
            op.path,
            String::from_utf8_lossy(&body)
        );
    }
    // Every other method of a documented path is the router's 405: no
    // route answers undocumented.
    for (path, documented) in &by_path {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            if documented.contains(&method) {
                continue;
            }
            let (status, body) = send(&server.base, method.clone(), path, None).await;
            assert_eq!(
                status,
                405,
                "{method} {path} is not documented but answers: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    // Paths no template covers are the router's 404.
    for path in [
        "/admin",
        "/admin/",
        "/admin/nothing",
        "/admin/devices/IMEI%3A1/unknown",
        "/admin/campaigns/1/devices/more",
        "/admin/openapi.yaml",
        "/admin/bootstrap/profiles",
    ] {
        let (status, body) = send(&server.base, Method::GET, path, None).await;
        assert!(
            status == 404 && String::from_utf8_lossy(&body).contains("\"error\""),
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// Every example of `document` with the schema it must match.
fn examples(document: &Value) -> Vec<(String, Value, Value)> {
    let mut found = Vec::new();
    for (path, methods) in document["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("operations") {
            let at = format!("{method} {path}");
            for param in operation["parameters"].as_array().into_iter().flatten() {
                if let Some(example) = param.get("example") {
                    found.push((
                        format!("{at} parameter {}", param["name"]),
                        param["schema"].clone(),
                        example.clone(),
                    ));
                }
            }
            let bodies = operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(media, c)| (format!("{at} body {media}"), c));
            let answers = operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(status, answer)| {
                    answer["content"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(move |(media, c)| (format!("{status} {media}"), c))
                })
                .map(|(what, c)| (format!("{at} answer {what}"), c));
            for (what, content) in bodies.chain(answers) {
                if let Some(example) = content.get("example") {
                    found.push((what, content["schema"].clone(), example.clone()));
                }
            }
        }
    }
    found
}

#[test]
fn the_documented_examples_validate_against_their_schemas() {
    for role in [ServerRole::Management, ServerRole::Bootstrap] {
        let document = openapi_document(role);
        let examples = examples(&document);
        assert!(examples.len() > 20, "{role:?}: {} examples", examples.len());
        for (what, schema, example) in &examples {
            if let Err(problems) = validate(schema, example, &document) {
                panic!("{role:?}: the example of {what} breaks its schema: {problems:?}");
            }
            // The schemas refuse something: an object example without one
            // of its required members, or a value of another type.
            let target = dm_test_support::json_schema::follow(schema, &document);
            if let (Some(members), Some(required)) =
                (example.as_object(), target["required"].as_array())
                && let Some(name) = required.first().and_then(Value::as_str)
            {
                let mut without = members.clone();
                without.remove(name);
                assert!(
                    validate(schema, &Value::Object(without), &document).is_err(),
                    "{role:?}: {what} without {name} still validates"
                );
            }
            if !schema.to_string().contains("contentMediaType") && what.contains("application/") {
                assert!(
                    validate(schema, &json!(12.5), &document).is_err(),
                    "{role:?}: {what}: 12.5 validates"
                );
            }
        }
    }
}

/// The order of the walk: reads, then writes, then removals.
fn rank(op: &Operation) -> u8 {
    match op.method {
        Method::GET => 0,
        Method::DELETE => 3,
        // Re-keying drops the seeded notification secret `notify` needs.
        Method::PUT if op.path.ends_with("/credentials") => 2,
        _ => 1,
    }
}

#[tokio::test]
async fn a_walk_through_every_operation_answers_as_documented() {
    let server = TestServer::start(options().build().expect("options")).await;
    seed_management(&server).await;
    let document = openapi_document(ServerRole::Management);
    let mut operations = operations(&document);
    operations.sort_by_key(rank);
    // What the seeded state refuses on purpose: the artifact and group of
    // the seeded campaign cannot be replaced or removed while it runs.
    let refused = [
        (Method::DELETE, "/admin/artifacts/{id}", 409),
        (Method::DELETE, "/admin/groups/{id}", 409),
        (Method::PUT, "/admin/artifacts/{id}", 409),
        // No key can be made with the example's id: its ids are random.
        (Method::GET, "/admin/keys/{id}", 404),
        (Method::DELETE, "/admin/keys/{id}", 404),
    ];
    let mut successes = 0;
    for op in &operations {
        let (status, body) = send(
            &server.base,
            op.method.clone(),
            &format!("{}{}", op.example_path(), op.example_query()),
            example_body(op),
        )
        .await;
        let expected_refusal = refused
            .iter()
            .find(|(m, p, _)| *m == op.method && *p == op.path)
            .map(|(_, _, s)| *s);
        match expected_refusal {
            Some(expected) => assert_eq!(
                status,
                expected,
                "{} {}: {}",
                op.method,
                op.path,
                String::from_utf8_lossy(&body)
            ),
            None => assert!(
                (200..300).contains(&status),
                "{} {}: {status} {}",
                op.method,
                op.path,
                String::from_utf8_lossy(&body)
            ),
        }
        if let Err(problem) = op.check_answer(status, &body, &document, &[]) {
            panic!("{} {}: {problem}", op.method, op.path);
        }
        successes += usize::from((200..300).contains(&status));
    }
    assert!(successes + refused.len() >= operations.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_admin_api_from_its_document_breaks_no_promise() {
    let server = TestServer::start(options().build().expect("options")).await;
    seed_management(&server).await;
    let document = openapi_document(ServerRole::Management);
    let seed = std::env::var("DM_API_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_251_118);
    let report = fuzz(&server.base, &client(), ADMIN_TOKEN, &document, 3000, seed).await;
    println!("api fuzz (seed {seed}): {}", report.summary());
    assert!(
        report.failures.is_empty(),
        "{} failures:\n{}",
        report.failures.len(),
        report
            .failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(report.statuses.keys().any(|s| (200..300).contains(s)));
    assert!(report.statuses.keys().any(|s| (400..500).contains(s)));
}
