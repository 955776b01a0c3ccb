//! The web console's files as the server serves them (docs/console.md):
//! content types, the Content-Security-Policy and the other protective
//! headers, caching, the redirect, unknown files, the option that turns it
//! off, and that no page holds inline script or a secret. The console in a
//! real browser is tested in `e2e/tests/console.rs`.

use std::collections::BTreeSet;

use dm_test_support::server::{ADMIN_TOKEN, TestServer, client, options};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors \
                   'none'; require-trusted-types-for 'script'; trusted-types 'none'";

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    client()
        .get(server.url(path))
        .send()
        .await
        .expect("the server answers")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} on {}", response.url()))
}

fn assert_protected(response: &reqwest::Response) {
    assert_eq!(header(response, "content-security-policy"), CSP);
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "x-frame-options"), "DENY");
    assert_eq!(
        header(response, "cross-origin-opener-policy"),
        "same-origin"
    );
    assert_eq!(
        header(response, "cross-origin-resource-policy"),
        "same-origin"
    );
}

/// The files `text` (HTML or a module) loads: `src`/`href` attributes and
/// `import ... from './x.js'`.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["src=\"", "href=\"", "from './"] {
        let mut rest = text;
        while let Some(start) = rest.find(marker) {
            rest = &rest[start + marker.len()..];
            let end = rest.find(['"', '\'']).expect("closed");
            let name = rest[..end].trim_start_matches("./");
            if !name.starts_with('#') && !name.contains(':') {
                found.push(name.to_owned());
            }
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn the_console_files_are_served_with_their_types_and_a_strict_policy() {
    let server = TestServer::start(options().build().expect("options")).await;
    let page = get(&server, "/console/").await;
    assert_eq!(page.status(), 200);
    assert_protected(&page);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let html = page.text().await.expect("page");
    assert!(html.contains("data-role=\"management\""), "{html}");

    // Every file the page loads, and every module those load, is served
    // with its type.
    let mut seen = BTreeSet::new();
    let mut pending = references(&html);
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let response = get(&server, &format!("/console/{name}")).await;
        assert_eq!(response.status(), 200, "{name}");
        assert_protected(&response);
        let expected = match name.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected file type {other:?}"),
        };
        assert_eq!(header(&response, "content-type"), expected, "{name}");
        let text = response.text().await.expect("file");
        if expected.starts_with("text/javascript") {
            pending.extend(references(&text));
            // The policy forbids them; the console never needs them.
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "eval(",
                "new Function",
                "document.write",
            ] {
                assert!(!text.contains(forbidden), "{name} uses {forbidden}");
            }
        }
    }
    for module in [
        "app.js",
        "api.js",
        "dom.js",
        "events.js",
        "command.js",
        "devices.js",
        "device.js",
        "campaigns.js",
        "bootstrap.js",
        "console.css",
        "icon.svg",
    ] {
        assert!(seen.contains(module), "{module} is not loaded: {seen:?}");
    }
    // No inline script, style or event handler in the page.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains("<script type=\"module\" src=\"app.js\"></script>"));
    for inline in [" style=", " onclick=", " onload=", "<style", "javascript:"] {
        assert!(!html.contains(inline), "inline {inline}");
    }
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn unchanged_files_are_revalidated_with_their_etag() {
    let server = TestServer::start(options().build().expect("options")).await;
    for path in ["/console/", "/console/app.js"] {
        let first = get(&server, path).await;
        let etag = header(&first, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again = client()
            .get(server.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .expect("answer");
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), etag);
        assert_protected(&again);
        assert!(again.bytes().await.expect("body").is_empty());
        let other = client()
            .get(server.url(path))
            .header("If-None-Match", "\"something else\"")
            .send()
            .await
            .expect("answer");
        assert_eq!(other.status(), 200, "{path}");
    }
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn console_redirects_and_unknown_files_are_404() {
    let server = TestServer::start(options().build().expect("options")).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = http
        .get(server.url("/console"))
        .send()
        .await
        .expect("answer");
    assert_eq!(redirect.status(), 308);
    assert_eq!(header(&redirect, "location"), "/console/");
    for path in [
        "/console/nothing.js",
        "/console/index.html/",
        "/console/js/app.js",
        "/console/app.js%00",
        "/console/APP.JS",
    ] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_protected(&response);
        assert_eq!(
            header(&response, "content-type"),
            "text/plain; charset=utf-8"
        );
    }
    // The console takes no writes.
    let post = client()
        .post(server.url("/console/"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("answer");
    assert_eq!(post.status(), 405);
    assert_protected(&post);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let server = TestServer::start(options().console(false).build().expect("options")).await;
    for path in ["/console", "/console/", "/console/app.js"] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().get("content-security-policy").is_none());
    }
    // The admin API is still there.
    let devices = client()
        .get(server.url("/admin/devices"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(devices.status(), 200);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn the_console_reveals_no_secret_and_needs_the_key_for_data() {
    let server = TestServer::start(options().build().expect("options")).await;
    for path in [
        "/console/",
        "/console/app.js",
        "/console/api.js",
        "/console/device.js",
        "/console/nothing",
    ] {
        let text = get(&server, path).await.text().await.expect("body");
        assert!(!text.contains(ADMIN_TOKEN), "{path} holds the admin token");
    }
    // The console's files are public; its data is the admin API's, which
    // a request from the console's page without the key does not get.
    let refused = client()
        .get(server.url("/admin/devices"))
        .header("Origin", server.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    let allowed = client()
        .get(server.url("/admin/devices"))
        .header("Origin", server.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(allowed.status(), 200);
    server.stop().await.expect("stopped");
}
