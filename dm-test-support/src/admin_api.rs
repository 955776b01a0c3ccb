//! The admin API of a running server (`dm serve`, docs/admin-api.md) over
//! HTTP, for tests that run the server as a process: every call returns the
//! answer, or why none came (the server was killed, the connection cut), so
//! that a test under faults can tell them apart.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// An answer of the admin API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client of one server's admin API.
///
/// ```no_run
/// # async fn example() -> Result<(), String> {
/// use dm_test_support::admin_api::AdminApi;
///
/// let admin = AdminApi::new("http://127.0.0.1:8080", Some("token"));
/// let answer = admin.register("IMEI:493005100592800").await?;
/// assert_eq!(answer.status, 201);
/// let queued = admin.enqueue("IMEI:493005100592800", &["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"]).await?;
/// let id = queued.body["id"].as_str().expect("an id");
/// # let _ = id;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AdminApi {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl AdminApi {
    /// The admin API of the server at `base` (`http://host:port`), with the
    /// bearer `token` if given. Each request times out after 10 s.
    pub fn new(base: &str, token: Option<&str>) -> AdminApi {
        AdminApi {
            http: http_client(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
        }
    }

    /// The same client for the server at `base` (another node).
    pub fn at(&self, base: &str) -> AdminApi {
        AdminApi {
            base: base.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    /// `method` on `path` (from `/admin`), with a JSON `body`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| format!("{e:?}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// `POST /admin/devices`: registers `dev_id` without credentials.
    pub async fn register(&self, dev_id: &str) -> Result<Answer, String> {
        self.call(
            reqwest::Method::POST,
            "/admin/devices",
            Some(json!({ "dev_id": dev_id })),
        )
        .await
    }

    /// `POST /admin/devices/{dev_id}/commands`: queues `command`; a 201
    /// carries the id in `body["id"]`.
    pub async fn enqueue(
        &self,
        dev_id: &str,
        command: &[impl AsRef<str>],
    ) -> Result<Answer, String> {
        let words: Vec<&str> = command.iter().map(AsRef::as_ref).collect();
        self.call(
            reqwest::Method::POST,
            &format!("/admin/devices/{}/commands", segment(dev_id)),
            Some(json!({ "command": words })),
        )
        .await
    }

    /// `GET /admin/devices/{dev_id}/commands/{id}`.
    pub async fn command(&self, dev_id: &str, id: &str) -> Result<Answer, String> {
        self.call(
            reqwest::Method::GET,
            &format!("/admin/devices/{}/commands/{id}", segment(dev_id)),
            None,
        )
        .await
    }

    /// `GET /admin/devices/{dev_id}`.
    pub async fn device(&self, dev_id: &str) -> Result<Answer, String> {
        self.call(
            reqwest::Method::GET,
            &format!("/admin/devices/{}", segment(dev_id)),
            None,
        )
        .await
    }

    /// `total` of `GET /admin/devices`.
    pub async fn device_count(&self) -> Result<u64, String> {
        let answer = self
            .call(reqwest::Method::GET, "/admin/devices?limit=1", None)
            .await?;
        answer.body["total"]
            .as_u64()
            .ok_or_else(|| format!("no total: {} {}", answer.status, answer.body))
    }

    /// `POST /admin/devices/{dev_id}/notify`.
    pub async fn notify(&self, dev_id: &str) -> Result<Answer, String> {
        self.call(
            reqwest::Method::POST,
            &format!("/admin/devices/{}/notify", segment(dev_id)),
            None,
        )
        .await
    }
}

/// A plain HTTP client for loopback tests (no proxy, ring for TLS, 10 s
/// per request), as the admin API client uses.
pub fn http_client() -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// A DevID as a path segment (`:` percent-encoded; DevIDs hold no other
/// character that needs it in these tests).
///
/// ```
/// assert_eq!(dm_test_support::admin_api::segment("IMEI:1"), "IMEI%3A1");
/// ```
pub fn segment(dev_id: &str) -> String {
    dev_id.replace('%', "%25").replace(':', "%3A")
}
