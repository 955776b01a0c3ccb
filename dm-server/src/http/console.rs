//! The web console at `/console/` (docs/console.md): hand-written HTML, CSS
//! and JavaScript modules built into the server (`dm-server/console/`),
//! served with a strict Content-Security-Policy. The console holds no
//! secret of its own: it calls the admin API with the API key (or admin
//! token) the operator signs in with, so everything it shows or does goes
//! through the admin API's checks.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderName, HeaderValue,
    IF_NONE_MATCH, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::Store;

/// The policy of every console response: scripts, styles and requests of
/// the console's own origin only, no inline script or style, no `eval`, no
/// HTML strings given to the DOM (Trusted Types), no framing, no form
/// submission (a form whose script failed to load cannot send the key in
/// a URL).
pub(crate) const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// One file of the console.
struct Asset {
    /// Its name under `/console/`.
    name: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes.
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../console/", $name)),
        }
    };
}

/// Every file of the console; `index.html` is served at `/console/`.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("icon.svg", SVG),
    asset!("app.js", JAVASCRIPT),
    asset!("api.js", JAVASCRIPT),
    asset!("dom.js", JAVASCRIPT),
    asset!("events.js", JAVASCRIPT),
    asset!("command.js", JAVASCRIPT),
    asset!("devices.js", JAVASCRIPT),
    asset!("device.js", JAVASCRIPT),
    asset!("campaigns.js", JAVASCRIPT),
    asset!("bootstrap.js", JAVASCRIPT),
];

/// The `ETag` of each asset (a SHA-256 prefix of its bytes), in the order of
/// [`ASSETS`].
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex = dm_codec::hex::encode(&digest[..12]);
            HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
        })
        .collect()
});

/// The routes of the console: `/console` redirects to `/console/`, which is
/// `index.html`; `/console/<asset>` is one file or `404`.
pub(crate) fn routes<S: Store, C: NotificationChannel>() -> Router<Arc<Shared<S, C>>> {
    Router::new()
        .route("/console", get(redirect))
        .route("/console/", get(index::<S, C>))
        .route("/console/{*name}", get(file::<S, C>))
        .layer(middleware::map_response(protect))
}

async fn redirect() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(LOCATION, HeaderValue::from_static("/console/"))],
    )
        .into_response()
}

async fn index<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    headers: HeaderMap,
) -> Response {
    serve(&shared, "index.html", &headers)
}

async fn file<S: Store, C: NotificationChannel>(
    State(shared): State<Arc<Shared<S, C>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&shared, &name, &headers)
}

/// The asset `name`, `304` when the client's copy is current, `404` when
/// there is none of that name.
fn serve<S, C>(shared: &Shared<S, C>, name: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such console file\n",
        )
            .into_response();
    };
    let asset = &ASSETS[index];
    let bootstrap = shared.options.bootstrap.is_some();
    // The page names the server's role (the bootstrap role's console shows
    // bootstrap profiles instead of devices): its own ETag.
    let etag = if bootstrap && asset.name == "index.html" {
        HeaderValue::from_static("\"bootstrap-index\"")
    } else {
        ETAGS[index].clone()
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|tag| tag.trim() == etag));
    let common = [
        (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (ETAG, etag),
        // Names do not change with the content: a copy is revalidated
        // (a 304 with the ETag) before each use.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    if bootstrap && asset.name == "index.html" {
        let page = String::from_utf8_lossy(asset.body).replacen(
            "data-role=\"management\"",
            "data-role=\"bootstrap\"",
            1,
        );
        return (common, page).into_response();
    }
    (common, asset.body).into_response()
}

/// The headers of every console response, refusals included.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY_VALUE,
    );
    set(headers, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, REFERRER_POLICY, "no-referrer");
    set(headers, X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if !headers.contains_key(CACHE_CONTROL) {
        set(headers, CACHE_CONTROL, "no-cache");
    }
    response
}
