//! The admin API under `/admin` (JSON; documented in `docs/admin-api.md`).

use std::sync::Arc;

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, ORIGIN, TRANSFER_ENCODING,
};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use dm_codec::mime;
use dm_types::DevId;

use super::access::{Caller, identify, permit};
use super::admin_routes::{AdminRoute, Doc};
use super::refusal::{Refusal, refuse};
use super::request::{check_length, header, read_body};
use super::schemas;
use crate::admin::Admin;
use crate::config::DeviceConfig;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::wire::{initiator_name, mo_items_to_json, mos_to_json};
use crate::store::{
    AlertRecord, CommandId, CommandRecord, DeviceQuery, DeviceRecord, SessionRecord,
    SessionSummary, SessionToken, Store,
};

pub(super) type AppState<S, C> = State<Arc<Shared<S, C>>>;

/// Largest JSON body of a command or device registration.
const SMALL_BODY: usize = 256 << 10;

/// Largest body of a bulk registration (`POST /admin/devices/bulk`): the
/// largest JSON document the codec decodes.
const BULK_BODY: usize = dm_codec::Limits::DEFAULT_PACKAGE_BYTES;

/// Most devices one bulk registration takes.
const MAX_BULK: usize = 10_000;

/// The route of repository objects.
const REPOSITORY_ROUTE: &str = "/admin/repository/{*path}";

/// The route of one artifact (its `PUT` takes `application/octet-stream`).
pub(super) const ARTIFACT_ROUTE: &str = "/admin/artifacts/{id}";

/// Most entries one listing returns (devices, commands, alerts,
/// sessions), and the default.
const MAX_LIST: usize = 1000;
const DEFAULT_LIST: usize = 100;

/// Most entries of each list of the device page (`GET
/// /admin/devices/{dev_id}`): the newest.
const DEVICE_PAGE_LIST: usize = 100;

/// The device, command, alert, notification and repository routes.
pub(super) fn routes<S: Store, C: NotificationChannel>() -> Vec<AdminRoute<S, C>> {
    let dev = || {
        (
            schemas::dev_id(),
            json!(EXAMPLE_DEV_ID),
            "the DevID, percent-encoded (`IMEI%3A493005100592800`)",
        )
    };
    let with_dev = |doc: Doc| {
        let (schema, example, description) = dev();
        doc.path_param("dev_id", schema, example, description)
    };
    vec![
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/devices", "Registered devices, a page at a time")
                .describe("In DevID order (bytes), `limit` at a time after `after`, only DevIDs starting with `prefix` when given (one range scan of the DevID index); `next` is the `after` of the following page, `null` on the last. `total` only on the first page without a prefix, else `null`.")
                .query("prefix", json!({"type": "string", "maxLength": 256, "pattern": "^[!-~]*$"}), "only DevIDs starting with this (empty: no filter)")
                .query("after", schemas::dev_id(), "the last DevID of the previous page")
                .query("limit", schemas::limit(MAX_LIST as u64), "devices per page")
                .response(200, "a page of devices", schemas::reference("DeviceList"), json!({
                    "devices": [example_summary()],
                    "next": null,
                    "total": 1,
                })),
            list_devices::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/devices", "Register a device")
                .describe("The body has the shape of a `devices` entry of the configuration file; only `dev_id` is required. The password is stored as its Digest hashes, the PSK key is never shown again.")
                .body(schemas::reference("DeviceRegistration"), json!({
                    "dev_id": "IMEI:493005100592802",
                    "username": "device-3",
                    "password": "correct horse",
                    "notification": {"address": "udp://127.0.0.1:9", "secret_hex": "6e6f74692d736563726574", "data_hex": "617574682d64617461"},
                }))
                .response(201, "registered", schemas::reference("Registered"), json!({"dev_id": "IMEI:493005100592802"}))
                .errors(&[409]),
            register_device::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::POST, "/admin/devices/bulk", "Register several devices, all or nothing")
                .describe("At most 10,000 devices and 4 MiB; the first invalid entry is named (`device 1: ...`).")
                .body(schemas::reference("BulkRegistration"), json!([
                    {"dev_id": "IMEI:493005100592803", "username": "device-4", "password": "pw 4"},
                    {"dev_id": "IMEI:493005100592804"},
                ]))
                .response(201, "registered", schemas::reference("BulkRegistered"), json!({"registered": 2}))
                .errors(&[409]),
            register_devices::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::GET, "/admin/devices/{dev_id}", "Everything about one device"))
                .response(200, "the device", schemas::reference("Device"), example_device())
                .errors(&[404]),
            device::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::DELETE, "/admin/devices/{dev_id}", "Remove a device with its commands, alerts and open sessions"))
                .empty(204, "removed")
                .errors(&[404]),
            remove_device::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::PUT, "/admin/devices/{dev_id}/credentials", "Register a device, or replace its credentials"))
                .describe("The body's `dev_id` must be the path's. Sessions, commands and alerts are kept.")
                .body(schemas::reference("DeviceRegistration"), json!({
                    "dev_id": EXAMPLE_DEV_ID, "username": "device-1", "password": "correct horse",
                }))
                .response(200, "registered or re-keyed", schemas::reference("Registered"), json!({"dev_id": EXAMPLE_DEV_ID}))
                .errors(&[409]),
            replace_credentials::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::GET, "/admin/devices/{dev_id}/commands", "The device's commands"))
                .describe("Pending and finished commands the store keeps, newest first (by id), `limit` at a time, those with an id below `before`; `next` is the `before` of the following page, `total` the number kept.")
                .query("limit", schemas::limit(MAX_LIST as u64), "commands per page")
                .query("before", json!({"type": "string", "pattern": "^[0-9]+$"}), "the id of the last command of the previous page")
                .response(200, "the commands", schemas::reference("CommandList"), json!({"commands": [example_command()], "next": null, "total": 1}))
                .errors(&[404]),
            commands::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::POST, "/admin/devices/{dev_id}/commands", "Queue a command for the device's next session"))
                .describe("`command` is the Package#2 array form of one command, checked like a Package#2 entry. `use_cache` (GET only) asks with the validator of a kept instance.")
                .body(schemas::reference("CommandRequest"), json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"]}))
                .response(201, "queued", schemas::reference("CommandQueued"), json!({"id": "7"}))
                .errors(&[404, 422]),
            enqueue::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::GET, "/admin/devices/{dev_id}/commands/{id}", "One command and its result"))
                .path_param("id", schemas::string(), json!("1"), "the command's id")
                .response(200, "the command", schemas::reference("Command"), example_command())
                .errors(&[404]),
            command::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::GET, "/admin/devices/{dev_id}/alerts", "The generic alerts the device sent"))
                .describe("The newest `limit` alerts kept, oldest first; `total` the number kept.")
                .query("limit", schemas::limit(MAX_LIST as u64), "alerts")
                .response(200, "the alerts, oldest first", schemas::reference("AlertList"), json!({"alerts": [{
                    "received_ms": 1_764_000_002_000_u64,
                    "session": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                    "alert": {"AlertType": "urn:oma:at:dm:2.0:ExecComplete", "SourceURI": "urn:dm-sdk:mo:demo:1.0//Reboot", "Data": {"sc": 200}},
                }], "total": 1}))
                .errors(&[404]),
            alerts::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::GET, "/admin/devices/{dev_id}/sessions", "The sessions the store keeps of the device"))
                .describe("Latest first, `limit` at a time, those older than the session `before` (its `id`); each with `commands`, the number of kept commands sent in it. `next` is the `before` of the following page.")
                .query("limit", schemas::limit(MAX_LIST as u64), "sessions per page")
                .query("before", json!({"type": "string", "pattern": "^[0-9A-Fa-f]{16}$"}), "the id of the last session of the previous page")
                .response(200, "the sessions, latest first", schemas::reference("SessionList"), json!({
                    "sessions": [example_device_session()], "next": null,
                }))
                .errors(&[404]),
            sessions::<S, C>,
        ),
        AdminRoute::new(
            with_dev(Doc::new(Method::POST, "/admin/devices/{dev_id}/notify", "Send the device a Package#0"))
                .describe("Signed with the device's notification secret, sent to its notification address. No body.")
                .response(200, "sent", schemas::reference("NotificationSent"), json!({
                    "notification_id": 13, "timestamp": 1_764_000_100_u64, "address": "udp://192.0.2.10:9443",
                }))
                .errors(&[404, 409, 422, 502]),
            notify::<S, C>,
        ),
        AdminRoute::new(
            repository(Doc::new(Method::GET, REPOSITORY_ROUTE, "A repository object"))
                .response_in(200, "the MO serialization document", mime::MO_DATA, schemas::reference("MoData"), example_mo_data())
                .errors(&[404]),
            read_object::<S, C>,
        ),
        AdminRoute::new(
            repository(Doc::new(Method::PUT, REPOSITORY_ROUTE, "Store a repository object for devices to read"))
                .describe("An MO serialization document, checked and stored in canonical form; at most `ServerLimits::codec.mo_data_bytes`.")
                .body_in(mime::MO_DATA, schemas::reference("MoData"), example_mo_data())
                .body(schemas::reference("MoData"), example_mo_data())
                .empty(201, "stored (new)")
                .empty(204, "stored (replaced)"),
            write_object::<S, C>,
        ),
        AdminRoute::new(
            repository(Doc::new(Method::DELETE, REPOSITORY_ROUTE, "Remove a repository object"))
                .empty(204, "removed")
                .errors(&[404]),
            delete_object::<S, C>,
        ),
    ]
}

/// The DevID the documented examples use.
pub(super) const EXAMPLE_DEV_ID: &str = "IMEI:493005100592800";

fn repository(doc: Doc) -> Doc {
    doc.path_param(
        "path",
        json!({"type": "string", "minLength": 1, "maxLength": 1024}),
        json!("demo/wlan"),
        "1 to 1024 bytes of non-empty segments other than `.` and `..` (may contain `/`)",
    )
}

fn example_mo_data() -> Value {
    json!([{"ClientURI": "urn:dm-sdk:mo:wlan:1.0//",
            "MOData": {"WLAN": {"SSID": "office", "Security": "WPA3", "Hidden": false}}}])
}

fn example_session() -> Value {
    json!({
        "id": "0c5d3b6f1e2a9478",
        "token": "6f9f2c0d4b1e8a7730c2d4e5f6a7b8c9",
        "initiator": "server",
        "notification_id": 12,
        "started_ms": 1_764_000_000_000_u64,
        "ended_ms": 1_764_000_000_420_u64,
        "session_uri": "https://dm.example.com/dm/s/6f9f2c0d4b1e8a7730c2d4e5f6a7b8c9",
        "packages": 3,
        "outcome": "completed",
    })
}

fn example_device_session() -> Value {
    let mut session = example_session();
    session["commands"] = json!(1);
    session
}

fn example_summary() -> Value {
    json!({
        "dev_id": EXAMPLE_DEV_ID,
        "notification_address": "udp://192.0.2.10:9443",
        "open_session": false,
        "open_sessions": [],
        "last_session": example_session(),
        "tags": ["canary", "site:berlin"],
    })
}

fn example_command() -> Value {
    json!({
        "id": "7",
        "command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Mod"],
        "state": "done",
        "status": 200,
        "uris": [],
        "data": [{"ClientURI": "urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Mod", "MOData": {"Mod": "X1"}}],
        "from_cache": false,
        "error": null,
        "session": "6f9f2c0d4b1e8a7730c2d4e5f6a7b8c9",
        "queued_ms": 1_764_000_000_000_u64,
        "updated_ms": 1_764_000_000_400_u64,
    })
}

fn example_device() -> Value {
    json!({
        "dev_id": EXAMPLE_DEV_ID,
        "registered_ms": 1_763_990_000_000_u64,
        "username": "device-1",
        "certificate_sha256": null,
        "psk_identity": null,
        "notification_address": "udp://192.0.2.10:9443",
        "notification_secret": true,
        "last_notification_id": 12,
        "open_session": null,
        "open_sessions": [],
        "last_session": example_session(),
        "sessions": [example_session()],
        "mos": [{"MOID": "urn:oma:mo:oma-dm-devinfo:1.0", "MIID": ["devinfo"]}],
        "tags": ["canary", "site:berlin"],
        "devinfo": {"Mod": "X1", "FwV": "1.0.3"},
        "commands": {"pending": [], "finished": [example_command()], "pending_total": 0, "finished_total": 1},
        "alerts": 1,
        "recent_alerts": [{
            "received_ms": 1_764_000_002_000_u64,
            "session": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "alert": {"AlertType": "urn:oma:at:dm:2.0:ExecComplete", "Data": {"sc": 200}},
        }],
    })
}

pub(super) async fn no_such_resource() -> AdminRefusal {
    refuse(404, "no such admin resource").into()
}

/// Makes every refusal of the admin API JSON `{"error": ...}`, axum's own
/// included (a path segment that does not decode, a method not allowed).
pub(super) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Bodies of the router's own refusals are short texts.
    let text = axum::body::to_bytes(body, 4 << 10)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(
        parts,
        axum::body::Body::from(json!({ "error": message }).to_string()),
    )
}

/// Admits an admin request before its handler runs: in dev mode only a
/// loopback `Host` (403), a cross-origin request only with a credential
/// (the admin token or an API key, 403), then the credential (401/403,
/// [`identify`]), its scope for the route (403, [`permit`]), then the media
/// type of a write (415). The handler finds the [`Caller`] among the
/// request's extensions.
pub(super) async fn admit<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    mut request: Request,
    next: Next,
) -> Response {
    // What needs no await is read first: a `&Request` is not `Send`.
    let loopback = is_loopback_host(host(&request));
    let cross_origin = is_cross_origin(&shared, &request);
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let media_type = check_media_type(&request);
    let identified = identify(&shared, request.headers()).await;
    let admitted = admission(
        shared.options.dev_mode && !loopback,
        cross_origin,
        identified,
        request.method(),
        &template,
        media_type,
    );
    match admitted {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => {
            tracing::info!(message = %refusal.message, "admin request refused");
            refusal.into_response()
        }
    }
}

/// The checks of [`admit`], in their order.
fn admission(
    foreign_host_in_dev_mode: bool,
    cross_origin: bool,
    identified: Result<Caller, Refusal>,
    method: &Method,
    template: &str,
    media_type: Result<(), (u16, String)>,
) -> Result<Caller, Refusal> {
    if foreign_host_in_dev_mode {
        return Err(refuse(
            403,
            "dev mode: the admin API answers only requests to a loopback Host \
             (localhost, 127.0.0.1 or [::1])",
        )
        .json());
    }
    if cross_origin && !identified.as_ref().is_ok_and(|c| c.presented) {
        return Err(refuse(
            403,
            "a cross-origin admin request needs the admin token or an API key",
        )
        .json());
    }
    let caller = identified?;
    permit(&caller, method, template)?;
    media_type.map_err(|(status, message)| refuse(status, message).json())?;
    Ok(caller)
}

/// The `Host` of a request (its header, else the authority of an
/// absolute-form target); empty when there is none.
fn host(request: &Request) -> &str {
    header(request.headers(), HOST.as_str())
        .or_else(|| request.uri().authority().map(Authority::as_str))
        .unwrap_or("")
}

/// `localhost`, `127.0.0.1` or `[::1]` (any case), with an optional port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.starts_with('[') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    };
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|loopback| name.eq_ignore_ascii_case(loopback))
}

/// Whether a browser sent the request from another origin: an `Origin`
/// other than the server's own (its public base, or the scheme and `Host`
/// the request was sent to), or a `Sec-Fetch-Site` other than
/// `same-origin` and `none`.
fn is_cross_origin<S, C>(shared: &Shared<S, C>, request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !(site == "same-origin" || site == "none")
    {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let scheme = if shared.options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let requested = format!("{scheme}://{}", host(request));
    let public = shared.public_base.get().map(|base| origin_of(base));
    !(origin.eq_ignore_ascii_case(&requested)
        || public.is_some_and(|public| origin.eq_ignore_ascii_case(public)))
}

/// `scheme://authority` of an absolute URI.
fn origin_of(uri: &str) -> &str {
    let authority_start = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[authority_start..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |i| authority_start + i);
    &uri[..end]
}

/// 415 unless a write (POST, PUT, DELETE) is `application/json`, or, for
/// the repository PUT, `application/dmmo+json` or `application/json` —
/// never a media type a browser may send cross-origin without asking
/// (`text/plain`, a form). A write without a body may omit the media type.
fn check_media_type(request: &Request) -> Result<(), (u16, String)> {
    let method = request.method();
    if !(method == Method::POST || method == Method::PUT || method == Method::DELETE) {
        return Ok(());
    }
    let headers = request.headers();
    let repository = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == REPOSITORY_ROUTE);
    let artifact = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == ARTIFACT_ROUTE);
    let accepted: &[&str] = if repository && method == Method::PUT {
        &[mime::MO_DATA, "application/json"]
    } else if artifact && method == Method::PUT {
        &["application/octet-stream", "application/json"]
    } else {
        &["application/json"]
    };
    match header(headers, CONTENT_TYPE.as_str()) {
        Some(given)
            if accepted
                .iter()
                .any(|a| mime::content_type_matches(given, a)) =>
        {
            Ok(())
        }
        None if !has_body(headers) => Ok(()),
        given => Err((
            415,
            format!(
                "Content-Type {:?} is not {}",
                given.unwrap_or(""),
                accepted.join(" or ")
            ),
        )),
    }
}

/// Whether the head announces a body (`Transfer-Encoding`, or a
/// `Content-Length` other than 0).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes().trim_ascii() != b"0")
}

/// What admin handlers answer when they refuse: the refusal as
/// `{"error": ...}`.
pub(super) struct AdminRefusal(Refusal);

impl From<Refusal> for AdminRefusal {
    fn from(refusal: Refusal) -> Self {
        AdminRefusal(refusal.json())
    }
}

impl From<crate::Error> for AdminRefusal {
    fn from(error: crate::Error) -> Self {
        AdminRefusal(Refusal::from(error).json())
    }
}

impl IntoResponse for AdminRefusal {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

pub(super) fn dev_id(text: &str) -> Result<DevId, Refusal> {
    DevId::new(text).map_err(|e| refuse(400, format!("DevID {text:?}: {e}")))
}

pub(super) fn admin<S: Store, C: NotificationChannel>(shared: &Arc<Shared<S, C>>) -> Admin<S, C> {
    Admin::new(shared.clone())
}

/// Reads a JSON body of at most [`SMALL_BODY`] bytes.
pub(super) async fn read_json_body<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    request: Request,
) -> Result<axum::body::Bytes, Refusal> {
    check_length(request.headers(), SMALL_BODY)?;
    read_body(
        request.into_body(),
        SMALL_BODY,
        shared.options.limits.body_timeout,
    )
    .await
}

/// Reads and decodes a JSON body strictly (a duplicate member is 400).
pub(super) async fn json_body<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    request: Request,
) -> Result<Value, Refusal> {
    let body = read_json_body(shared, request).await?;
    Ok(crate::admin::decode_admin_json(&body)?)
}

fn summary_json(summary: &SessionSummary, base: &str) -> Value {
    let notification_id = match summary.initiator {
        dm_session::Initiator::Server(id) => id,
        _ => None,
    };
    json!({
        "id": summary.token.public_id(),
        "token": summary.token.to_string(),
        "initiator": initiator_name(summary.initiator),
        "notification_id": notification_id,
        "started_ms": summary.started_ms,
        "ended_ms": summary.ended_ms,
        "session_uri": summary.cont_sent.then(|| format!("{base}/dm/s/{}", summary.token)),
        "packages": summary.packages,
        "outcome": summary.outcome.as_ref().map(ToString::to_string),
    })
}

/// An open session, named without its token.
fn open_session_json(session: &SessionRecord) -> Value {
    json!({
        "id": session.token.public_id(),
        "started_ms": session.started_ms,
        "deadline_ms": session.state.deadline_ms,
        "packages": session.state.packages_sent,
    })
}

fn device_summary_json(record: &DeviceRecord, open: &[&SessionRecord], base: &str) -> Value {
    json!({
        "dev_id": record.dev_id.as_str(),
        "notification_address": record.notification_address,
        "open_session": !open.is_empty(),
        "open_sessions": open.iter().map(|s| open_session_json(s)).collect::<Vec<_>>(),
        "last_session": record.last_session().map(|s| summary_json(s, base)),
        "tags": record.tags,
    })
}

pub(crate) fn command_json(record: &CommandRecord) -> Value {
    let result = record.result.as_ref();
    json!({
        "id": record.id.to_string(),
        "command": record.command,
        "state": record.state.as_str(),
        "status": result.map(|s| s.code.as_u16()),
        "uris": result.map_or_else(Vec::new, |s| s.uris.iter().map(|u| Value::from(u.as_str())).collect()),
        "data": result.map_or_else(|| json!([]), |s| mo_items_to_json(&s.data)),
        "from_cache": record.from_cache,
        "error": record.error,
        "session": record.session.map(|t| t.to_string()),
        "queued_ms": record.queued_ms,
        "updated_ms": record.updated_ms,
    })
}

fn alert_json(record: &AlertRecord) -> Value {
    let alert: Value =
        serde_json::from_slice(&dm_codec::encode_alert(&record.alert)).unwrap_or(Value::Null);
    json!({
        "received_ms": record.received_ms,
        "session": record.session.map(|t| t.to_string()),
        "alert": alert,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// Reads the query of a listing (400 for a malformed one or an unknown
/// parameter).
fn list_query<T: serde::de::DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, Refusal> {
    Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| refuse(400, format!("query: {e}")))
}

/// The `limit` of a listing: 1 to [`MAX_LIST`], [`DEFAULT_LIST`] when
/// absent.
fn list_limit(text: Option<&str>) -> Result<usize, Refusal> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIST);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIST).contains(n))
        .ok_or_else(|| {
            let shown: String = text.chars().take(32).collect();
            refuse(
                400,
                format!("limit {shown:?} is not a number from 1 to {MAX_LIST}"),
            )
        })
}

/// The `prefix` of the device list: the start of a DevID (visible ASCII,
/// at most 256 bytes); empty is no filter.
fn dev_id_prefix(text: &str) -> Result<&str, Refusal> {
    if text.is_empty() {
        return Ok(text);
    }
    DevId::new(text).map_err(|e| {
        let shown: String = text.chars().take(32).collect();
        refuse(
            400,
            format!(
                "prefix {shown:?}: {}",
                e.to_string().replace("DevID", "a DevID prefix")
            ),
        )
    })?;
    Ok(text)
}

/// `GET /admin/devices?prefix=&after=&limit=`: a page of devices (one
/// range scan, their open sessions read with them); `total` only on the
/// first page without a prefix.
async fn list_devices<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, AdminRefusal> {
    let query: ListQuery = list_query(&uri)?;
    let mut listing = DeviceQuery::new(list_limit(query.limit.as_deref())?);
    if let Some(prefix) = &query.prefix {
        listing = listing.with_prefix(dev_id_prefix(prefix)?);
    }
    if let Some(after) = query.after.as_deref() {
        listing = listing.with_after(dev_id(after)?);
    }
    let admin = admin(&shared);
    let base = shared.base_uri(&headers);
    let page = admin.devices(&listing).await?;
    let open: std::collections::HashMap<SessionToken, &SessionRecord> =
        page.open_sessions.iter().map(|s| (s.token, s)).collect();
    let listed: Vec<Value> = page
        .devices
        .iter()
        .map(|device| {
            let sessions: Vec<&SessionRecord> = device
                .open_sessions
                .iter()
                .filter_map(|token| open.get(token).copied())
                .collect();
            device_summary_json(device, &sessions, &base)
        })
        .collect();
    let total = if listing.is_first_unfiltered_page() {
        Some(admin.device_count().await?)
    } else {
        None
    };
    Ok(axum::Json(json!({
        "devices": listed,
        "next": page.next.map(|d| d.to_string()),
        "total": total,
    }))
    .into_response())
}

async fn register_device<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let body = json_body(&shared, request).await?;
    crate::admin::check_objects("device", &body, &["psk", "notification"])?;
    let config: DeviceConfig =
        serde_json::from_value(body).map_err(|e| refuse(400, format!("device: {e}")))?;
    let registration = config
        .registration(&shared.options.realm)
        .map_err(|e| refuse(400, e))?;
    let dev_id = registration.dev_id.to_string();
    admin(&shared).register_device(registration, false).await?;
    tracing::info!(%dev_id, "device registered");
    Ok((StatusCode::CREATED, axum::Json(json!({ "dev_id": dev_id }))).into_response())
}

/// `PUT /admin/devices/{dev_id}/credentials`: registers the device, or
/// replaces the credentials of a registered one (re-keying, e.g. by a
/// bootstrap server), keeping its sessions, commands and alerts.
async fn replace_credentials<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let body = json_body(&shared, request).await?;
    crate::admin::check_objects("device", &body, &["psk", "notification"])?;
    let config: DeviceConfig =
        serde_json::from_value(body).map_err(|e| refuse(400, format!("device: {e}")))?;
    if config.dev_id != dev_id.as_str() {
        return Err(refuse(400, "dev_id differs from the DevID of the path").into());
    }
    let registration = config
        .registration(&shared.options.realm)
        .map_err(|e| refuse(400, e))?;
    admin(&shared).register_device(registration, true).await?;
    tracing::info!(%dev_id, "device credentials replaced");
    Ok(axum::Json(json!({ "dev_id": dev_id.as_str() })).into_response())
}

async fn register_devices<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    check_length(request.headers(), BULK_BODY)?;
    let body = read_body(
        request.into_body(),
        BULK_BODY,
        shared.options.limits.body_timeout,
    )
    .await?;
    let body = crate::admin::decode_admin_json(&body)?;
    let Value::Array(entries) = body else {
        return Err(refuse(400, "devices: expected an array of devices").into());
    };
    if entries.len() > MAX_BULK {
        return Err(refuse(
            413,
            format!(
                "{} devices are over the limit of {MAX_BULK} per request",
                entries.len()
            ),
        )
        .into());
    }
    let mut registrations = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        crate::admin::check_objects(&format!("device {i}"), &entry, &["psk", "notification"])?;
        let config: DeviceConfig =
            serde_json::from_value(entry).map_err(|e| refuse(400, format!("device {i}: {e}")))?;
        registrations.push(
            config
                .registration(&shared.options.realm)
                .map_err(|e| refuse(400, format!("device {i}: {e}")))?,
        );
    }
    let registered = registrations.len();
    admin(&shared).register_devices(registrations).await?;
    tracing::info!(registered, "devices registered in bulk");
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "registered": registered })),
    )
        .into_response())
}

async fn device<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let admin = admin(&shared);
    let record = admin.device(&dev_id).await?;
    let commands = admin.commands(&dev_id).await?;
    let (finished, pending): (Vec<&CommandRecord>, Vec<&CommandRecord>) =
        commands.iter().partition(|c| c.state.is_finished());
    let alerts = admin.alerts(&dev_id).await?;
    let open = admin.open_sessions_of(&record).await?;
    let base = shared.base_uri(&headers);
    Ok(axum::Json(json!({
        "dev_id": record.dev_id.as_str(),
        "registered_ms": record.registered_ms,
        "username": record.credentials.as_ref().map(|c| c.username.as_str()),
        "certificate_sha256": record.certificate_sha256.map(|c| dm_codec::hex::encode(&c)),
        // The identity only: the key never leaves the store.
        "psk_identity": record.psk.as_ref().map(|p| p.identity.as_str()),
        "notification_address": record.notification_address,
        "notification_secret": record.notification_secret.is_some(),
        "last_notification_id": record.last_notification_id,
        "last_session": record.last_session().map(|s| summary_json(s, &base)),
        "sessions": record
            .sessions
            .iter()
            .take(DEVICE_PAGE_LIST)
            .map(|s| summary_json(s, &base))
            .collect::<Vec<_>>(),
        "open_session": open.last().map(|s| s.token.to_string()),
        "open_sessions": open.iter().map(open_session_json).collect::<Vec<_>>(),
        "mos": record.mos.as_ref().map(|m| m.iter().map(mos_to_json).collect::<Vec<_>>()),
        "tags": record.tags,
        "devinfo": record.devinfo,
        // The newest of each list, in the order of the list (pending in
        // queue order, finished and alerts oldest first), with its length.
        "commands": {
            "pending": newest(&pending, DEVICE_PAGE_LIST).iter().map(|c| command_json(c)).collect::<Vec<_>>(),
            "finished": newest(&finished, DEVICE_PAGE_LIST).iter().map(|c| command_json(c)).collect::<Vec<_>>(),
            "pending_total": pending.len(),
            "finished_total": finished.len(),
        },
        "alerts": alerts.len(),
        "recent_alerts": newest(&alerts, DEVICE_PAGE_LIST).iter().map(alert_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn remove_device<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    admin(&shared).remove_device(&dev_id).await?;
    tracing::info!(%dev_id, "device removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn enqueue<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let body = read_json_body(&shared, request).await?;
    let request = crate::admin::parse_command_request(&body)?;
    let admin = admin(&shared);
    let id = if request.use_cache {
        admin.enqueue_cached(&dev_id, request.command).await?
    } else {
        admin.enqueue(&dev_id, request.command).await?
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id.to_string() })),
    )
        .into_response())
}

/// The last `n` of `list` (the newest of a list kept oldest first).
fn newest<T>(list: &[T], n: usize) -> &[T] {
    &list[list.len().saturating_sub(n)..]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BeforeQuery {
    before: Option<String>,
    limit: Option<String>,
}

/// `GET /admin/devices/{dev_id}/commands?limit=&before=`: the device's
/// commands newest first (by id), `limit` at a time, those before the id
/// `before`.
async fn commands<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let query: BeforeQuery = list_query(&uri)?;
    let limit = list_limit(query.limit.as_deref())?;
    let before = match query.before.as_deref() {
        Some(text) => Some(text.parse::<CommandId>().map_err(|_| {
            let shown: String = text.chars().take(32).collect();
            refuse(400, format!("before {shown:?} is not a command id"))
        })?),
        None => None,
    };
    let admin = admin(&shared);
    // An unknown device is 404, not an empty list.
    admin.device(&dev_id).await?;
    let mut commands = admin.commands(&dev_id).await?;
    let total = commands.len();
    commands.sort_unstable_by_key(|c| std::cmp::Reverse(c.id));
    let mut page: Vec<&CommandRecord> = commands
        .iter()
        .filter(|c| before.is_none_or(|before| c.id < before))
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| page[limit - 1].id.to_string());
    page.truncate(limit);
    Ok(axum::Json(json!({
        "commands": page.into_iter().map(command_json).collect::<Vec<_>>(),
        "next": next,
        "total": total,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<String>,
}

/// `GET /admin/devices/{dev_id}/sessions?limit=&before=`: the sessions the
/// store keeps of the device, latest first, `limit` at a time, those
/// older than the session `before` (its `id`).
async fn sessions<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let query: BeforeQuery = list_query(&uri)?;
    let limit = list_limit(query.limit.as_deref())?;
    if let Some(before) = query.before.as_deref()
        && !(before.len() == 16 && before.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        let shown: String = before.chars().take(32).collect();
        return Err(refuse(400, format!("before {shown:?} is not a session id")).into());
    }
    let admin = admin(&shared);
    let record = admin.device(&dev_id).await?;
    let commands = admin.commands(&dev_id).await?;
    let base = shared.base_uri(&headers);
    let ids: Vec<String> = record
        .sessions
        .iter()
        .map(|s| s.token.public_id())
        .collect();
    // After the cursor; a cursor the store no longer keeps was older than
    // every session kept (the oldest are forgotten first): nothing is left.
    let start = match query.before.as_deref() {
        Some(before) => ids
            .iter()
            .position(|id| id.eq_ignore_ascii_case(before))
            .map_or(ids.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = record
        .sessions
        .iter()
        .skip(start)
        .take(limit)
        .map(|summary| {
            let mut entry = summary_json(summary, &base);
            entry["commands"] = commands
                .iter()
                .filter(|c| c.session == Some(summary.token))
                .count()
                .into();
            entry
        })
        .collect();
    let next = (start + limit < ids.len()).then(|| ids[start + limit - 1].clone());
    Ok(axum::Json(json!({ "sessions": page, "next": next })).into_response())
}

async fn command<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path((text, id)): Path<(String, String)>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let id: CommandId = id
        .parse()
        .map_err(|_| refuse(404, format!("no command {id:?}")))?;
    let record = admin(&shared).command(&dev_id, id).await?;
    Ok(axum::Json(command_json(&record)).into_response())
}

/// `GET /admin/devices/{dev_id}/alerts?limit=`: the newest `limit`
/// alerts kept, oldest first, with how many are kept.
async fn alerts<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let query: LimitQuery = list_query(&uri)?;
    let limit = list_limit(query.limit.as_deref())?;
    let alerts = admin(&shared).alerts(&dev_id).await?;
    Ok(axum::Json(json!({
        "alerts": newest(&alerts, limit).iter().map(alert_json).collect::<Vec<_>>(),
        "total": alerts.len(),
    }))
    .into_response())
}

async fn notify<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let sent = admin(&shared).notify(&dev_id).await?;
    Ok(axum::Json(json!({
        "notification_id": sent.notification_id,
        "timestamp": sent.timestamp,
        "address": sent.address,
    }))
    .into_response())
}

async fn read_object<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(path): Path<String>,
) -> Result<Response, AdminRefusal> {
    let object = admin(&shared)
        .repository(&path)
        .await?
        .ok_or_else(|| refuse(404, format!("no repository object at {path}")))?;
    Ok(([(CONTENT_TYPE, mime::MO_DATA)], object.body).into_response())
}

async fn write_object<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(path): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    // The media type was checked on admission (`check_media_type`).
    let limits = &shared.options.limits;
    check_length(request.headers(), limits.codec.mo_data_bytes)?;
    let body = read_body(
        request.into_body(),
        limits.codec.mo_data_bytes,
        limits.body_timeout,
    )
    .await?;
    let created = admin(&shared).put_repository(&path, &body).await?;
    tracing::info!(path, "repository object stored");
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

async fn delete_object<S: Store, C: NotificationChannel>(
    State(shared): AppState<S, C>,
    Path(path): Path<String>,
) -> Result<Response, AdminRefusal> {
    if admin(&shared).delete_repository(&path).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(refuse(404, format!("no repository object at {path}")).into())
    }
}
