//! Schema-driven fuzzing of the admin API from its OpenAPI document
//! (`GET /admin/openapi.json`, `docs/openapi.json`): requests generated
//! from the document's operations — valid ones, boundary values, and
//! mutated ones (wrong types, huge strings, unicode, missing and extra
//! members, bad path parameters, bad JSON, wrong media types) — sent to a
//! real server over loopback. Every answer must be a status the document
//! lists for the operation (never a 500), every refusal `{"error": ...}`,
//! every success valid against its documented schema, and a body that
//! breaks its schema is never accepted. Also what the walk of
//! `dm-server/tests/openapi.rs` uses: the operations of a document, the
//! seeded fleet its examples name.
//!
//! ```no_run
//! # async fn example() {
//! use dm_test_support::api_fuzz::{fuzz, seed_management};
//! use dm_test_support::server::{ADMIN_TOKEN, TestServer, client, options};
//!
//! let server = TestServer::start(options().build().unwrap()).await;
//! seed_management(&server).await;
//! let document = dm_server::openapi_document(dm_server::ServerRole::Management);
//! let report = fuzz(&server.base, &client(), ADMIN_TOKEN, &document, 1000, 7).await;
//! assert!(report.failures.is_empty(), "{}", report.failures.join("\n"));
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use dm_server::{NotificationChannel, Store};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::json_schema::{Pattern, follow, validate};
use crate::server::{
    ADMIN_TOKEN, BASIC1, DEV1, DEV2, MO_DATA, PASS1, RESPONSE, TestServer, USER1, client, commands,
    post_package, post_package1,
};

/// A parameter of an operation.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// Its name.
    pub name: String,
    /// Its schema.
    pub schema: Value,
    /// The documented example.
    pub example: Option<Value>,
    /// Whether it must be given.
    pub required: bool,
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The method.
    pub method: Method,
    /// The OpenAPI path (`/admin/devices/{dev_id}`).
    pub path: String,
    /// Path parameters.
    pub path_params: Vec<Parameter>,
    /// Query parameters.
    pub query: Vec<Parameter>,
    /// Request bodies: media type, schema, example.
    pub bodies: Vec<(String, Value, Option<Value>)>,
    /// Documented answers: status, and the media type and schema of the
    /// body when there is one.
    pub responses: BTreeMap<u16, Option<(String, Value)>>,
    /// Served without authentication.
    pub public: bool,
}

/// The operations of `document`, in path then method order.
pub fn operations(document: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    let Some(paths) = document["paths"].as_object() else {
        return all;
    };
    for (path, methods) in paths {
        for (method, operation) in methods.as_object().into_iter().flatten() {
            let parameters = |place: &str| -> Vec<Parameter> {
                operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == place)
                    .map(|p| Parameter {
                        name: p["name"].as_str().unwrap_or("").to_owned(),
                        schema: p["schema"].clone(),
                        example: p.get("example").cloned(),
                        required: p["required"] == true,
                    })
                    .collect()
            };
            let bodies = operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(media, content)| {
                    (
                        media.clone(),
                        content["schema"].clone(),
                        content.get("example").cloned(),
                    )
                })
                .collect();
            let responses = operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(status, answer)| {
                    let body = answer["content"].as_object().and_then(|c| {
                        c.iter()
                            .next()
                            .map(|(media, content)| (media.clone(), content["schema"].clone()))
                    });
                    Some((status.parse().ok()?, body))
                })
                .collect();
            all.push(Operation {
                method: Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .unwrap_or(Method::GET),
                path: path.clone(),
                path_params: parameters("path"),
                query: parameters("query"),
                bodies,
                responses,
                public: operation["security"] == json!([]),
            });
        }
    }
    all
}

/// Percent-encodes a path parameter (`/` kept in `path`, the rest of a
/// repository path).
pub fn encode_segment(name: &str, value: &str) -> String {
    let mut encoded = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric()
            || b"-._~".contains(&byte)
            || (byte == b'/' && name == "path")
        {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Operation {
    /// The path with `values` for its parameters (already encoded).
    pub fn path_with(&self, values: &BTreeMap<String, String>) -> String {
        let mut path = self.path.clone();
        for (name, value) in values {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        path
    }

    /// The path with the documented examples of its parameters.
    pub fn example_path(&self) -> String {
        let values = self
            .path_params
            .iter()
            .map(|p| {
                let example = p.example.as_ref().map(text_of).unwrap_or_default();
                (p.name.clone(), encode_segment(&p.name, &example))
            })
            .collect();
        self.path_with(&values)
    }

    /// The query of the required parameters' examples (`?a=b`, or empty).
    pub fn example_query(&self) -> String {
        let pairs: Vec<String> = self
            .query
            .iter()
            .filter(|p| p.required)
            .filter_map(|p| {
                let value = p.example.as_ref().map(text_of)?;
                Some(format!("{}={}", p.name, encode_segment(&p.name, &value)))
            })
            .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }

    /// Checks an answer against the document: a listed status, and a
    /// body valid against its schema (`{"error"}` for refusals).
    pub fn check_answer(
        &self,
        status: u16,
        body: &[u8],
        document: &Value,
        extra_statuses: &[u16],
    ) -> Result<(), String> {
        let documented = self.responses.get(&status);
        if documented.is_none() && !extra_statuses.contains(&status) {
            return Err(format!(
                "status {status} is not documented (documented: {:?}); body {}",
                self.responses.keys().collect::<Vec<_>>(),
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        let schema = match documented {
            Some(Some((_, schema))) => schema.clone(),
            Some(None) => {
                if body.is_empty() {
                    return Ok(());
                }
                return Err(format!("status {status} has a body but none is documented"));
            }
            None => json!({"$ref": "#/components/schemas/Error"}),
        };
        if self.public && status == 200 {
            return Ok(());
        }
        if schema.get("contentMediaType").is_some() {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "status {status}: the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )
        })?;
        validate(&schema, &value, document).map_err(|problems| {
            format!(
                "status {status}: the body does not match its schema: {} in {}",
                problems.join("; "),
                short(&value.to_string())
            )
        })
    }
}

fn short(text: &str) -> String {
    if text.len() > 400 {
        format!("{}...", text.chars().take(400).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        if high <= low {
            return low;
        }
        let span = (high - low) as u64 + 1;
        low + usize::try_from(self.bits() % span).unwrap_or(0)
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.bits().is_multiple_of(n.max(1))
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.between(0, items.len() - 1)]
    }
}

/// A value valid against `schema` (as far as the subset goes), chosen by
/// `rng`; `boundary` favours the bounds.
pub fn generate(
    schema: &Value,
    document: &Value,
    rng: &mut Rng,
    boundary: bool,
    depth: usize,
) -> Value {
    let schema = follow(schema, document);
    if depth > 8 {
        return Value::Null;
    }
    if let Some(Value::Array(choices)) = schema.get("enum") {
        return rng.pick(choices).clone();
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            let branch = rng.pick(branches).clone();
            return generate(&branch, document, rng, boundary, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => text_of(rng.pick(kinds)),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "null" => Value::Null,
        "boolean" => Value::Bool(rng.one_in(2)),
        "integer" | "number" => {
            let low = schema["minimum"].as_u64().unwrap_or(0);
            let high = schema["maximum"].as_u64().unwrap_or(low + 1000);
            let value = if boundary {
                *rng.pick(&[low, high])
            } else {
                low + rng.bits() % (high - low + 1)
            };
            json!(value)
        }
        "string" => {
            let low = size(&schema["minLength"], 0);
            let high = size(&schema["maxLength"], low.max(12));
            let length = if boundary {
                *rng.pick(&[low, high])
            } else {
                rng.between(low, high.min(low + 24))
            };
            let pattern = schema["pattern"].as_str().and_then(Pattern::parse);
            let text = match pattern {
                Some(pattern) => {
                    let mut text = pattern.generate(length.max(1), |a, b| rng.between(a, b));
                    if text.chars().count() > high {
                        text = text.chars().take(high).collect();
                    }
                    text
                }
                None => (0..length)
                    .map(|_| char::from(b'a' + u8::try_from(rng.between(0, 25)).unwrap_or(0)))
                    .collect(),
            };
            Value::String(text)
        }
        "array" => {
            let low = size(&schema["minItems"], 0);
            let high = size(&schema["maxItems"], 3).min(low + 3);
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array(
                (0..rng.between(low, high))
                    .map(|_| generate(&items, document, rng, boundary, depth + 1))
                    .collect(),
            )
        }
        _ => {
            let mut object = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (name, member) in schema["properties"].as_object().into_iter().flatten() {
                if required.contains(&name.as_str()) || rng.one_in(2) {
                    object.insert(
                        name.clone(),
                        generate(member, document, rng, boundary, depth + 1),
                    );
                }
            }
            Value::Object(object)
        }
    }
}

/// Whether the answer is an endless `text/event-stream`.
pub fn is_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// A size bound of a schema, `default` when absent.
fn size(bound: &Value, default: usize) -> usize {
    bound
        .as_u64()
        .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// What a fuzzing run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Requests sent.
    pub sent: usize,
    /// Answers by status.
    pub statuses: BTreeMap<u16, usize>,
    /// Requests by kind (`valid`, `wrong_type`, ...).
    pub kinds: BTreeMap<&'static str, usize>,
    /// What broke the contract, one line each (empty when all is well).
    pub failures: Vec<String>,
}

impl Report {
    /// One line: requests, statuses and kinds.
    pub fn summary(&self) -> String {
        format!(
            "{} requests; statuses {:?}; kinds {:?}; {} failures",
            self.sent,
            self.statuses,
            self.kinds,
            self.failures.len()
        )
    }
}

/// One request to send.
struct Request {
    kind: &'static str,
    method: Method,
    path: String,
    query: String,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    /// The body breaks its schema: it must not be accepted.
    invalid_body: bool,
    /// The path is not the documented shape: 404 and 405 are fine.
    path_mutated: bool,
}

const STRANGE: [&str; 12] = [
    "",
    "..",
    ".",
    "%",
    "%FF",
    "%00",
    "a/b",
    "-1",
    "18446744073709551616",
    "日本語",
    "\u{202e}evil",
    "IMEI:0 ",
];

fn strange_text(rng: &mut Rng) -> String {
    match rng.between(0, 6) {
        0 => "x".repeat(rng.between(1000, 70_000)),
        1 => "😀".repeat(rng.between(1, 300)),
        2 => "\u{0}\u{1}\u{7f}\u{200b}".to_owned(),
        3 => "e\u{301}\u{302}\u{303}".repeat(50),
        4 => "\u{fffd}\u{feff}\u{10ffff}".to_owned(),
        5 => " ".repeat(rng.between(0, 5)),
        _ => (*rng.pick(&STRANGE)).to_owned(),
    }
}

/// A value of another JSON type than `value`'s.
fn other_type(value: &Value, rng: &mut Rng) -> Value {
    let candidates = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!("text"),
        json!([]),
        json!({}),
        json!([1, "a", null]),
        json!({"nested": {"deep": [1]}}),
    ];
    loop {
        let candidate = rng.pick(&candidates).clone();
        if std::mem::discriminant(&candidate) != std::mem::discriminant(value) {
            return candidate;
        }
    }
}

/// Mutates one place of `value`: `(kind, mutated)`.
fn mutate(value: &Value, schema: &Value, document: &Value, rng: &mut Rng) -> (&'static str, Value) {
    let schema = follow(schema, document);
    let mut value = value.clone();
    // Walk down into a random member or item now and then.
    if let Value::Object(members) = &mut value
        && !members.is_empty()
        && rng.one_in(3)
    {
        let names: Vec<String> = members.keys().cloned().collect();
        let name = rng.pick(&names).clone();
        let member_schema = schema["properties"][&name].clone();
        let (kind, inner) = mutate(&members[&name], &member_schema, document, rng);
        members.insert(name, inner);
        return (kind, value);
    }
    match rng.between(0, 5) {
        0 => ("wrong_type", other_type(&value, rng)),
        1 => ("huge_or_unicode_string", Value::String(strange_text(rng))),
        2 => match &mut value {
            Value::Object(members) if !members.is_empty() => {
                let names: Vec<String> = members.keys().cloned().collect();
                members.remove(rng.pick(&names));
                ("missing_member", value)
            }
            _ => ("wrong_type", other_type(&value, rng)),
        },
        3 => match &mut value {
            Value::Object(members) => {
                members.insert(
                    strange_text(rng).chars().take(40).collect::<String>() + "x",
                    json!(1),
                );
                ("extra_member", value)
            }
            Value::Array(items) => {
                let extra = items.first().cloned().unwrap_or(json!(null));
                for _ in 0..rng.between(1, 3) {
                    items.push(extra.clone());
                }
                ("extra_items", value)
            }
            _ => ("wrong_type", other_type(&value, rng)),
        },
        4 => ("boundary", generate(schema, document, rng, true, 0)),
        _ => match value {
            Value::Number(_) => (
                "boundary_number",
                rng.pick(&[
                    json!(0),
                    json!(-1),
                    json!(u64::MAX),
                    json!(1e300),
                    json!(i64::MIN),
                ])
                .clone(),
            ),
            other => ("wrong_type", other_type(&other, rng)),
        },
    }
}

fn bad_json(rng: &mut Rng, valid: &[u8]) -> (&'static str, Vec<u8>) {
    match rng.between(0, 6) {
        0 => ("bad_json_truncated", valid[..valid.len() / 2].to_vec()),
        1 => ("bad_json_trailing", [valid, b" {}"].concat()),
        2 => (
            "bad_json_duplicate",
            br#"{"a":1,"a":2,"command":["GET","urn:x:y//"],"command":["GET","urn:x:y//"]}"#
                .to_vec(),
        ),
        3 => (
            "bad_json_deep",
            [b"[".repeat(5000), b"]".repeat(5000)].concat(),
        ),
        4 => ("bad_json_utf8", b"{\"dev_id\":\"\xff\xfe\"}".to_vec()),
        5 => ("bad_json_empty", Vec::new()),
        _ => ("bad_json_garbage", b"\x00\x01not json at all".to_vec()),
    }
}

fn build_request(op: &Operation, document: &Value, rng: &mut Rng) -> Request {
    let mut kind = "valid";
    let mut path_mutated = false;
    // Path parameters: the example (it names seeded objects), a generated
    // one, or something strange.
    let mut values = BTreeMap::new();
    for param in &op.path_params {
        let roll = rng.between(0, 9);
        let text = if roll < 6 {
            param.example.as_ref().map(text_of).unwrap_or_default()
        } else if roll < 8 {
            text_of(&generate(&param.schema, document, rng, roll == 7, 0))
        } else {
            kind = "bad_path_parameter";
            path_mutated = true;
            strange_text(rng)
        };
        // `.` and `..` are resolved by the client: another path.
        path_mutated |= text == "." || text == "..";
        let encoded = if path_mutated && rng.one_in(4) {
            text // raw, unencoded
        } else {
            encode_segment(&param.name, &text)
        };
        values.insert(param.name.clone(), encoded);
    }
    let path = op.path_with(&values);
    // Query: required examples, optional generated or strange ones.
    let mut pairs = Vec::new();
    for param in &op.query {
        let given = param.required || rng.one_in(2);
        if !given {
            continue;
        }
        let text = if rng.one_in(6) {
            if kind == "valid" {
                kind = "bad_query";
            }
            strange_text(rng).chars().take(300).collect()
        } else if param.required && rng.one_in(2) {
            param.example.as_ref().map(text_of).unwrap_or_default()
        } else {
            let boundary = rng.one_in(3);
            text_of(&generate(&param.schema, document, rng, boundary, 0))
        };
        pairs.push(format!("{}={}", param.name, encode_segment("", &text)));
    }
    if rng.one_in(12) {
        pairs.push(format!("unknown{}=1", rng.between(0, 9)));
        if kind == "valid" {
            kind = "unknown_query";
        }
    }
    let query = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    };
    let mut request = Request {
        kind,
        method: op.method.clone(),
        path,
        query,
        content_type: None,
        body: None,
        invalid_body: false,
        path_mutated,
    };
    let Some((media, schema, example)) = op
        .bodies
        .iter()
        .find(|(media, _, _)| media.contains("json"))
        .cloned()
    else {
        if !op.bodies.is_empty() {
            let (media, _, _) = &op.bodies[0];
            request.content_type = Some(media.clone());
            request.body = Some(vec![0x5a; rng.between(0, 4096)]);
        } else if op.method != Method::GET && rng.one_in(8) {
            // A write without a body given one anyway.
            request.content_type = Some("application/json".into());
            request.body = Some(b"{}".to_vec());
            if request.kind == "valid" {
                request.kind = "unexpected_body";
            }
        }
        return request;
    };
    let base = if rng.one_in(3) || example.is_none() {
        let boundary = rng.one_in(3);
        generate(&schema, document, rng, boundary, 0)
    } else {
        example.clone().unwrap_or(Value::Null)
    };
    request.content_type = Some(media.clone());
    let roll = rng.between(0, 9);
    if roll < 4 {
        request.body = Some(base.to_string().into_bytes());
        request.invalid_body = validate(&schema, &base, document).is_err();
    } else if roll < 8 {
        let (mutation, value) = mutate(&base, &schema, document, rng);
        request.kind = mutation;
        request.invalid_body = validate(&schema, &value, document).is_err();
        request.body = Some(value.to_string().into_bytes());
    } else if roll == 8 {
        let (mutation, body) = bad_json(rng, base.to_string().as_bytes());
        request.kind = mutation;
        request.invalid_body = true;
        request.body = Some(body);
    } else {
        request.kind = "wrong_content_type";
        request.invalid_body = true;
        request.body = Some(base.to_string().into_bytes());
        let wrong = [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
            Some("application/jsonx"),
        ];
        request.content_type = rng.pick(&wrong).map(str::to_owned);
        // The artifact route also takes octet-stream uploads.
        if op.bodies.len() > 1 {
            request.invalid_body = false;
        }
    }
    request
}

/// Sends `requests` generated requests (seeded by `seed`) to the admin API
/// of the server at `base`, with `token`, and checks each answer against
/// `document`; then that the server still answers.
pub async fn fuzz(
    base: &str,
    http: &reqwest::Client,
    token: &str,
    document: &Value,
    requests: usize,
    seed: u64,
) -> Report {
    let mut report = Report::default();
    let operations = operations(document);
    let mut rng = Rng::new(seed);
    for n in 0..requests {
        let op = rng.pick(&operations);
        let request = build_request(op, document, &mut rng);
        let url = format!("{base}{}{}", request.path, request.query);
        let mut builder = http
            .request(request.method.clone(), &url)
            .timeout(Duration::from_secs(20));
        if !rng.one_in(50) {
            builder = builder.bearer_auth(token);
        }
        if let Some(content_type) = &request.content_type {
            builder = builder.header("Content-Type", content_type);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        report.sent += 1;
        *report.kinds.entry(request.kind).or_default() += 1;
        let what = format!(
            "#{n} {} {} {}{} ({})",
            request.kind,
            request.method,
            request.path.chars().take(120).collect::<String>(),
            request.query.chars().take(80).collect::<String>(),
            op.path
        );
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => {
                // A URL the client itself refuses to send is no finding.
                if e.is_builder() {
                    continue;
                }
                report.failures.push(format!("{what}: no answer: {e}"));
                continue;
            }
        };
        let status = response.status().as_u16();
        *report.statuses.entry(status).or_default() += 1;
        // An event stream does not end: its head is the answer.
        let body = if is_stream(&response) {
            bytes::Bytes::new()
        } else {
            response.bytes().await.unwrap_or_default()
        };
        let extra: &[u16] = if request.path_mutated {
            &[404, 405]
        } else {
            &[]
        };
        if status >= 500 && !op.responses.contains_key(&status) {
            report.failures.push(format!(
                "{what}: {status} {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
            continue;
        }
        // A mutated path may reach another route: its answers are not
        // this operation's.
        let checked = if request.path_mutated && (200..300).contains(&status) {
            Ok(())
        } else {
            op.check_answer(status, &body, document, extra)
        };
        if let Err(problem) = checked {
            report.failures.push(format!("{what}: {problem}"));
            continue;
        }
        if request.invalid_body && (200..300).contains(&status) && !request.path_mutated {
            report.failures.push(format!(
                "{what}: a body breaking its schema was accepted ({status}): {}",
                String::from_utf8_lossy(
                    &request.body.unwrap_or_default()[..]
                        .iter()
                        .take(300)
                        .copied()
                        .collect::<Vec<u8>>()
                )
            ));
        }
    }
    // The server is still up and answering.
    let alive = http
        .get(format!("{base}/admin/openapi.json"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string());
    if alive != Ok(200) {
        report.failures.push(format!(
            "the server no longer answers after the run: {alive:?}"
        ));
    }
    report
}

/// Seeds a management server so that the documented examples name real
/// objects: device 1 (`IMEI:493005100592800`, the examples' DevID) with a
/// notification address and secret, a session with an alert and a
/// finished command, a pending command, tags, the repository object
/// `demo/wlan`, the stored artifact `fw-2.1.0`, the group `wave-1`,
/// webhook 1 and campaign 1. Expects the two devices of [`TestServer::start`].
pub async fn seed_management<S: Store, C: NotificationChannel>(server: &TestServer<S, C>) {
    let http = client();
    let admin = |method: Method, path: &str| {
        http.request(method, server.url(path))
            .bearer_auth(ADMIN_TOKEN)
    };
    let expect = |response: reqwest::Response, what: &str| {
        assert!(
            response.status().is_success(),
            "seeding: {what}: {}",
            response.status()
        );
    };
    let dev1 = "IMEI%3A493005100592800";
    let response = admin(Method::PUT, &format!("/admin/devices/{dev1}/credentials"))
        .header("Content-Type", "application/json")
        .body(
            json!({"dev_id": DEV1, "username": USER1, "password": PASS1,
                   "notification": {"address": "udp://127.0.0.1:9", "secret_hex": "6e6f7469", "data_hex": "64617461"}})
            .to_string(),
        )
        .send()
        .await
        .expect("answer");
    expect(response, "credentials");
    let response = admin(Method::POST, &format!("/admin/devices/{dev1}/commands"))
        .header("Content-Type", "application/json")
        .body(r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"]}"#)
        .send()
        .await
        .expect("answer");
    expect(response, "command");
    // A session: Package#1 with MOS and an alert, the GET answered.
    let p1 = r#"{"MOS":[{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:oma:at:dm:2.0:ExecComplete","SourceURI":"urn:dm-sdk:mo:demo:1.0//Reboot","Data":{"sc":200}}]}"#;
    let response = post_package1(&http, server, DEV1, p1, BASIC1).await;
    assert_eq!(response.status(), 200, "seeding: Package#1");
    let package = commands(&response.bytes().await.expect("body"));
    let statuses: Vec<String> = package
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i == 0 {
                r#"{"sc":200}"#.to_owned()
            } else {
                r#"{"sc":200,"Data":[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Mod","MOData":{"Mod":"X1"}}]}"#.to_owned()
            }
        })
        .collect();
    let response = post_package(
        &http,
        &package[0][1],
        RESPONSE,
        DEV1,
        &format!(r#"{{"Status":[{}]}}"#, statuses.join(",")),
        BASIC1,
    )
    .await;
    assert_eq!(response.status(), 200, "seeding: Package#3");
    for (method, path, content_type, body) in [
        (
            Method::POST,
            format!("/admin/devices/{dev1}/commands"),
            "application/json",
            r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//FwV"]}"#.to_owned(),
        ),
        (
            Method::PUT,
            format!("/admin/devices/{dev1}/tags"),
            "application/json",
            r#"["canary"]"#.to_owned(),
        ),
        (
            Method::PUT,
            "/admin/repository/demo/wlan".to_owned(),
            MO_DATA,
            r#"[{"ClientURI":"urn:dm-sdk:mo:wlan:1.0//","MOData":{"WLAN":{"SSID":"office"}}}]"#
                .to_owned(),
        ),
        (
            Method::PUT,
            "/admin/artifacts/fw-2.1.0?kind=firmware&name=acme-fw&version=2.1.0&meta.channel=beta"
                .to_owned(),
            "application/octet-stream",
            "firmware image".to_owned(),
        ),
        (
            Method::PUT,
            "/admin/groups/wave-1".to_owned(),
            "application/json",
            json!({"description": "first", "filter": {"devices": [DEV1, DEV2]}}).to_string(),
        ),
        (
            Method::POST,
            "/admin/campaigns".to_owned(),
            "application/json",
            json!({"name": "seeded", "artifact": "fw-2.1.0", "group": "wave-1",
                "stages": [{"size": {"percent": 100}}],
                "window": {"start_minute": 0, "end_minute": 1}})
            .to_string(),
        ),
    ] {
        let response = admin(method, &path)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("answer");
        expect(response, &path);
    }
}
