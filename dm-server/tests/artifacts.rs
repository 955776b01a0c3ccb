//! Artifacts over HTTP: uploads through the admin API (SHA-256 checked,
//! size bounded, hostile descriptions refused) and downloads by devices
//! with their capability URL (ranges, If-Range, HEAD; every misused token
//! refused the same way).

use dm_test_support::server as common;
use dm_test_support::store::artifact_content;

use common::*;
use dm_server::{ARTIFACT_CHUNK, ServerLimits};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn sha256_hex(bytes: &[u8]) -> String {
    dm_codec::hex::encode(&sha2::Sha256::digest(bytes))
}

/// Uploads `content` as artifact `id` with `query`; status and answer.
async fn upload(base: &str, id: &str, query: &str, content: Vec<u8>) -> (u16, Value) {
    let response = client()
        .put(format!("{base}/admin/artifacts/{id}?{query}"))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "application/octet-stream")
        .body(content)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// The download URL of `id` for `dev_id`, valid until `expires_ms` (or the
/// default).
async fn url_for(admin: &AdminClient, id: &str, dev_id: &str, expires_ms: Option<u64>) -> String {
    let mut path = format!("/admin/artifacts/{id}/url?dev_id={}", segment(dev_id));
    if let Some(expires_ms) = expires_ms {
        path = format!("{path}&expires_ms={expires_ms}");
    }
    let (status, body) = admin.get(&path).await;
    assert_eq!(status, 200, "{body}");
    body["url"].as_str().expect("url").to_owned()
}

async fn download(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

#[tokio::test]
async fn uploads_are_checked_and_downloads_serve_ranges() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let content = artifact_content(ARTIFACT_CHUNK * 2 + 77);
    let hex = sha256_hex(&content);

    // A declared SHA-256 that differs: 400, nothing stored.
    let wrong = "0".repeat(64);
    let (status, body) = upload(
        &server.base,
        "fw-2",
        &format!("kind=firmware&name=acme&version=2.0&sha256={wrong}"),
        content.to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().expect("error").contains("SHA-256"),
        "{body}"
    );
    assert_eq!(admin.get("/admin/artifacts/fw-2").await.0, 404);

    let (status, body) = upload(
        &server.base,
        "fw-2",
        &format!("kind=firmware&name=acme&version=2.0&sha256={hex}&meta.channel=beta"),
        content.to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sha256"], hex);
    assert_eq!(body["size"], content.len());
    assert_eq!(body["source"], "stored");
    assert_eq!(body["metadata"], json!({"channel": "beta"}));
    let (status, listed) = admin.get("/admin/artifacts").await;
    assert_eq!(status, 200);
    assert_eq!(listed["artifacts"][0]["id"], "fw-2");

    let url = url_for(&admin, "fw-2", DEV1, None).await;
    assert!(
        url.starts_with(&format!("{}/artifacts/fw-2?token=", server.base)),
        "{url}"
    );

    // The whole artifact.
    let response = download(&url, &[]).await;
    assert_eq!(response.status(), 200);
    let etag = format!("\"{hex}\"");
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert_eq!(response.headers()["accept-ranges"], "bytes");
    assert_eq!(response.bytes().await.expect("body"), content);

    // One range across a chunk boundary, an open one, a suffix.
    let size = content.len();
    let chunk = ARTIFACT_CHUNK;
    for (range, start, end) in [
        (
            format!("bytes={}-{}", chunk - 10, chunk + 9),
            chunk - 10,
            chunk + 10,
        ),
        (format!("bytes={}-", size - 5), size - 5, size),
        ("bytes=-7".to_owned(), size - 7, size),
        (format!("bytes=0-{}", size * 2), 0, size),
    ] {
        let response = download(&url, &[("Range", &range)]).await;
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{}/{size}", end - 1).as_str()
        );
        assert_eq!(
            response.bytes().await.expect("body"),
            content.slice(start..end),
            "{range}"
        );
    }
    // Unsatisfiable.
    let response = download(&url, &[("Range", &format!("bytes={size}-"))]).await;
    assert_eq!(response.status(), 416);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    // Several ranges: the whole artifact.
    let response = download(&url, &[("Range", "bytes=0-1,5-6")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body").len(), size);
    // If-Range: honoured with the current ETag, else the whole artifact.
    let response = download(&url, &[("Range", "bytes=0-9"), ("If-Range", &etag)]).await;
    assert_eq!(response.status(), 206);
    let response = download(&url, &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body").len(), size);
    // HEAD: the headers without the body.
    let response = client().head(&url).send().await.expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        size.to_string().as_str()
    );
    assert!(response.bytes().await.expect("body").is_empty());

    // Replaced: 200, the new content served, the old ETag no longer
    // honoured by If-Range.
    let small = artifact_content(10);
    let (status, _) = upload(
        &server.base,
        "fw-2",
        "kind=firmware&name=acme&version=2.1",
        small.to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let response = download(&url, &[("Range", "bytes=0-1"), ("If-Range", &etag)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body"), small);

    // Removed: its URL is a 404 like any other.
    let (status, _) = admin
        .call(Method::DELETE, "/admin/artifacts/fw-2", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(download(&url, &[]).await.status(), 404);
    let (status, _) = admin
        .call(Method::DELETE, "/admin/artifacts/fw-2", None)
        .await;
    assert_eq!(status, 404);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_misused_token_is_refused_like_an_unknown_artifact() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    for id in ["fw-a", "fw-b"] {
        let (status, body) = upload(
            &server.base,
            id,
            "kind=firmware&name=acme&version=1",
            b"firmware".to_vec(),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let good = url_for(&admin, "fw-a", DEV1, None).await;
    assert_eq!(download(&good, &[]).await.status(), 200);
    let token = good.split_once("token=").expect("token").1.to_owned();
    let other_device = url_for(&admin, "fw-a", DEV2, None).await;
    let other_token = other_device
        .split_once("token=")
        .expect("token")
        .1
        .to_owned();
    let expired = url_for(&admin, "fw-a", DEV1, Some(1)).await;
    let mut tampered = token.clone().into_bytes();
    tampered[12] = if tampered[12] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let base = &server.base;
    let refusals = [
        ("expired", expired),
        (
            "tampered",
            format!("{base}/artifacts/fw-a?token={tampered}"),
        ),
        (
            "other artifact",
            format!("{base}/artifacts/fw-b?token={token}"),
        ),
        // DEV2's token spliced with DEV1's MAC: the MAC names the device.
        (
            "other device",
            format!(
                "{base}/artifacts/fw-a?token={}{}",
                &token[..54],
                &other_token[54..]
            ),
        ),
        ("no token", format!("{base}/artifacts/fw-a")),
        ("malformed", format!("{base}/artifacts/fw-a?token=%00%01")),
        (
            "unknown artifact",
            format!("{base}/artifacts/fw-z?token={token}"),
        ),
        ("bad id", format!("{base}/artifacts/a%20b?token={token}")),
    ];
    let mut answers = Vec::new();
    for (what, url) in refusals {
        let response = download(&url, &[]).await;
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        answers.push((status, body.clone()));
        assert_eq!(status, 404, "{what}: {body}");
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every refusal is the same: {answers:?}"
    );
    // The other device's own token is fine for it.
    assert_eq!(download(&other_device, &[]).await.status(), 200);
    // A URL for an unregistered device is not issued.
    let (status, _) = admin
        .get("/admin/artifacts/fw-a/url?dev_id=IMEI%3A999")
        .await;
    assert_eq!(status, 404);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused() {
    let limits = ServerLimits::default().with_artifact_bytes(1000);
    let options = options().limits(limits).build().expect("options");
    let server = TestServer::start(options).await;
    let admin = AdminClient::new(&server.base);
    let query = "kind=software&name=app&version=1";
    let (status, body) = upload(&server.base, "big", query, vec![0; 1001]).await;
    assert_eq!(status, 413, "{body}");
    // Without a Content-Length (chunked): refused as the bytes arrive.
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let chunk = format!("258\r\n{}\r\n", "a".repeat(600));
    let request = format!(
        "PUT /admin/artifacts/big?{query} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let (status, body) = upload(&server.base, "big", query, vec![0; 1000]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(admin.get("/admin/artifacts/big").await.1["size"], 1000);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn url_artifacts_and_hostile_descriptions() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let sha = "ab".repeat(32);
    let good = json!({"kind": "software", "name": "app", "version": "1.0",
                      "url": "https://cdn.example/app.pkg", "size": 1234, "sha256": sha,
                      "metadata": {"vendor": "acme"}});
    let (status, body) = admin
        .call(Method::PUT, "/admin/artifacts/app-1", Some(good.clone()))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "url");
    assert_eq!(body["url"], "https://cdn.example/app.pkg");
    // Its PkgURL is its URL.
    assert_eq!(
        url_for(&admin, "app-1", DEV1, None).await,
        "https://cdn.example/app.pkg"
    );
    let with = |member: &str, value: Value| {
        let mut body = good.clone();
        body[member] = value;
        body
    };
    let many: serde_json::Map<String, Value> = (0..65)
        .map(|i| (format!("k{i}"), Value::from("v")))
        .collect();
    for (what, body) in [
        ("kind", with("kind", json!("os"))),
        ("url scheme", with("url", json!("file:///etc/passwd"))),
        ("url space", with("url", json!("https://a b"))),
        (
            "url huge",
            with("url", json!(format!("https://a/{}", "x".repeat(3000)))),
        ),
        ("sha256", with("sha256", json!("xyz"))),
        ("sha256 upper", with("sha256", json!("AB".repeat(32)))),
        ("name control", with("name", json!("a\u{1}b"))),
        ("name empty", with("name", json!(""))),
        ("version huge", with("version", json!("1".repeat(200)))),
        ("size", with("size", json!(-1))),
        ("metadata count", with("metadata", Value::Object(many))),
        ("metadata key", with("metadata", json!({"a b": "c"}))),
        (
            "metadata value",
            with("metadata", json!({"k": "v".repeat(2000)})),
        ),
        ("unknown member", with("colour", json!("red"))),
        ("array", json!([1, 2])),
    ] {
        let (status, answer) = admin
            .call(Method::PUT, "/admin/artifacts/app-2", Some(body))
            .await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
    }
    for (what, id) in [
        ("dot-dot", "%2E%2E"),
        ("slash", "a%2Fb"),
        ("too long", &"a".repeat(65)[..]),
        ("space", "a%20b"),
    ] {
        let (status, answer) = admin
            .call(
                Method::PUT,
                &format!("/admin/artifacts/{id}"),
                Some(good.clone()),
            )
            .await;
        assert!(status == 400 || status == 404, "{what}: {status} {answer}");
    }
    // Upload descriptions.
    for (what, query) in [
        ("no kind", "name=a&version=1"),
        ("no name", "kind=firmware&version=1"),
        (
            "unknown parameter",
            "kind=firmware&name=a&version=1&colour=red",
        ),
        ("twice", "kind=firmware&name=a&name=b&version=1"),
        (
            "metadata key",
            "kind=firmware&name=a&version=1&meta.a%20b=c",
        ),
        ("sha256", "kind=firmware&name=a&version=1&sha256=12"),
    ] {
        let (status, answer) = upload(&server.base, "fw", query, b"x".to_vec()).await;
        assert_eq!(status, 400, "{what}: {answer}");
    }
    // Another media type: 415.
    let response = client()
        .put(format!(
            "{}/admin/artifacts/fw?kind=firmware&name=a&version=1",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 415);
    // Without the admin token: 401, nothing stored.
    let response = client()
        .put(format!(
            "{}/admin/artifacts/fw?kind=firmware&name=a&version=1",
            server.base
        ))
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 401);
    let (_, listed) = admin.get("/admin/artifacts").await;
    assert_eq!(listed["artifacts"].as_array().expect("list").len(), 1);
    server.stop().await.expect("stopped");
}
