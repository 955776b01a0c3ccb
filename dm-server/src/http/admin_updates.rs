//! The admin API of updates (documented in `docs/admin-api.md`):
//! artifacts (`/admin/artifacts`), device groups (`/admin/groups`) and
//! device tags (`/admin/devices/{dev_id}/tags`).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::extract::{Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::admin::{ARTIFACT_ROUTE, AdminRefusal, AppState, dev_id, json_body};
use super::admin_routes::{AdminRoute, Doc};
use super::refusal::{Refusal, refuse};
use super::request::header;
use super::schemas;
use crate::Error;
use crate::artifact::artifact_url;
use crate::group::members_page;
use crate::notify::NotificationChannel;
use crate::shared::Shared;
use crate::store::{
    ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource, GroupFilter, GroupId, GroupRecord,
    Store, Tag,
};
use crate::util::now_ms;

/// Longest package name or version (they are written to the device).
const MAX_TEXT: usize = 128;

/// Most metadata entries of an artifact.
const MAX_METADATA: usize = 64;

/// Longest metadata key (value: [`MAX_METADATA_VALUE`]).
const MAX_METADATA_KEY: usize = 64;

/// Longest metadata value.
const MAX_METADATA_VALUE: usize = 1024;

/// Longest artifact URL.
const MAX_URL: usize = 2048;

/// Longest group description.
const MAX_DESCRIPTION: usize = 1024;

/// Most explicit devices, tags, DevInfo conditions or MOs of a group.
const MAX_GROUP_ITEMS: usize = 10_000;

/// Longest DevInfo leaf name or value in a group's conditions.
const MAX_DEVINFO_TEXT: usize = 256;

/// Most tags of a device.
const MAX_TAGS: usize = 64;

/// Most members one page of `GET /admin/groups/{id}/devices` returns.
const MAX_MEMBERS_PAGE: usize = 1000;

/// The routes: artifacts, groups, tags.
pub(super) fn routes<S: Store, C: NotificationChannel>() -> Vec<AdminRoute<S, C>> {
    let artifact_param = |doc: Doc| {
        doc.path_param(
            "id",
            schemas::name(),
            json!(EXAMPLE_ARTIFACT),
            "the artifact's id",
        )
    };
    let group_param = |doc: Doc| {
        doc.path_param(
            "id",
            schemas::name(),
            json!(EXAMPLE_GROUP),
            "the group's id",
        )
    };
    vec![
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/artifacts", "Artifacts, in id order")
                .response(200, "the artifacts", schemas::reference("ArtifactList"), json!({"artifacts": [example_artifact()]})),
            list_artifacts::<S, C>,
        ),
        AdminRoute::new(
            artifact_param(Doc::new(Method::GET, ARTIFACT_ROUTE, "One artifact"))
                .response(200, "the artifact", schemas::reference("Artifact"), example_artifact())
                .errors(&[404]),
            artifact::<S, C>,
        ),
        AdminRoute::new(
            artifact_param(Doc::new(Method::PUT, ARTIFACT_ROUTE, "Upload an artifact, or describe one at a URL"))
                .describe("`application/octet-stream`: the body is the content, described by the query (`kind`, `name`, `version`, optional `sha256`, metadata as `meta.<key>=<value>`; any other parameter is 400). `application/json`: an artifact devices download from `url`. 409 when an unfinished campaign uses it.")
                .query("kind", json!({"type": "string", "enum": ["firmware", "software"]}), "upload: FUMO firmware or SCOMO software")
                .query("name", json!({"type": "string", "minLength": 1, "maxLength": MAX_TEXT}), "upload: the package name written to the device")
                .query("version", json!({"type": "string", "minLength": 1, "maxLength": MAX_TEXT}), "upload: the package version")
                .query("sha256", json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}), "upload: the content's SHA-256 (400 when it differs)")
                .body(schemas::reference("ArtifactAtUrl"), json!({
                    "kind": "software", "name": "app", "version": "1.0",
                    "url": "https://cdn.example/app-1.0.pkg", "size": 1234,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "metadata": {"vendor": "acme"},
                }))
                .body_in("application/octet-stream", json!({"type": "string", "contentMediaType": "application/octet-stream"}), json!("<content>"))
                .response(200, "replaced", schemas::reference("Artifact"), example_artifact())
                .response(201, "stored", schemas::reference("Artifact"), example_artifact())
                .errors(&[409]),
            put_artifact::<S, C>,
        ),
        AdminRoute::new(
            artifact_param(Doc::new(Method::DELETE, ARTIFACT_ROUTE, "Remove an artifact and its content"))
                .empty(204, "removed")
                .errors(&[404, 409]),
            remove_artifact::<S, C>,
        ),
        AdminRoute::new(
            artifact_param(Doc::new(Method::GET, "/admin/artifacts/{id}/url", "The URL a device downloads the artifact from"))
                .required_query("dev_id", schemas::dev_id(), json!(super::admin::EXAMPLE_DEV_ID), "the registered device")
                .query("expires_ms", schemas::count(), "when the URL stops working (Unix ms; default in 24 hours)")
                .response(200, "the URL", schemas::reference("DownloadUrl"), json!({
                    "url": "https://dm.example.com/artifacts/fw-2.1.0?token=AAABk", "expires_ms": 1_764_086_400_000_u64,
                }))
                .errors(&[404]),
            download_url::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::GET, "/admin/groups", "Groups, in id order")
                .response(200, "the groups", schemas::reference("GroupList"), json!({"groups": [example_group()]})),
            list_groups::<S, C>,
        ),
        AdminRoute::new(
            group_param(Doc::new(Method::GET, "/admin/groups/{id}", "One group"))
                .response(200, "the group", schemas::reference("Group"), example_group())
                .errors(&[404]),
            group::<S, C>,
        ),
        AdminRoute::new(
            group_param(Doc::new(Method::PUT, "/admin/groups/{id}", "Add or replace a group"))
                .body(schemas::reference("GroupBody"), json!({
                    "description": "first devices of the X1",
                    "filter": {"tags": ["canary"], "devinfo": {"Mod": "X1"}},
                }))
                .response(200, "replaced", schemas::reference("Group"), example_group())
                .response(201, "added", schemas::reference("Group"), example_group()),
            put_group::<S, C>,
        ),
        AdminRoute::new(
            group_param(Doc::new(Method::DELETE, "/admin/groups/{id}", "Remove a group"))
                .empty(204, "removed")
                .errors(&[404, 409]),
            remove_group::<S, C>,
        ),
        AdminRoute::new(
            group_param(Doc::new(Method::GET, "/admin/groups/{id}/devices", "The group's members now, a page at a time"))
                .query("after", schemas::dev_id(), "the last DevID of the previous page")
                .query("limit", schemas::limit(MAX_MEMBERS_PAGE as u64), "members per page")
                .response(200, "a page of members", schemas::reference("GroupMembers"), json!({
                    "devices": [super::admin::EXAMPLE_DEV_ID], "next": null,
                }))
                .errors(&[404]),
            members::<S, C>,
        ),
        AdminRoute::new(
            Doc::new(Method::PUT, "/admin/devices/{dev_id}/tags", "Replace the device's tags")
                .path_param("dev_id", schemas::dev_id(), json!(super::admin::EXAMPLE_DEV_ID), "the DevID, percent-encoded")
                .body(schemas::reference("Tags"), json!(["canary", "site:berlin"]))
                .response(200, "the tags now", schemas::reference("TaggedDevice"), json!({
                    "dev_id": super::admin::EXAMPLE_DEV_ID, "tags": ["canary", "site:berlin"],
                }))
                .errors(&[404]),
            set_tags::<S, C>,
        ),
    ]
}

/// The artifact id the documented examples use.
pub(super) const EXAMPLE_ARTIFACT: &str = "fw-2.1.0";

/// The group id the documented examples use.
pub(super) const EXAMPLE_GROUP: &str = "wave-1";

fn example_artifact() -> Value {
    json!({
        "id": EXAMPLE_ARTIFACT,
        "kind": "firmware",
        "name": "acme-fw",
        "version": "2.1.0",
        "size": 7_340_032,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "source": "stored",
        "url": null,
        "metadata": {"channel": "beta"},
        "created_ms": 1_764_000_000_000_u64,
    })
}

fn example_group() -> Value {
    json!({
        "id": EXAMPLE_GROUP,
        "description": "first devices of the X1",
        "filter": {"devices": [], "tags": ["canary"], "devinfo": {"Mod": "X1"}, "mos": [],
                   "last_session_after_ms": null, "last_session_before_ms": null},
        "updated_ms": 1_764_000_000_000_u64,
    })
}

/// An artifact as the admin API shows it.
pub(super) fn artifact_json(record: &ArtifactRecord) -> Value {
    let (source, url) = match &record.source {
        ArtifactSource::Stored => ("stored", None),
        ArtifactSource::Url(url) => ("url", Some(url.as_str())),
    };
    json!({
        "id": record.id.as_str(),
        "kind": kind_name(record.kind),
        "name": record.name,
        "version": record.version,
        "size": record.size,
        "sha256": record.sha256_hex(),
        "source": source,
        "url": url,
        "metadata": record.metadata,
        "created_ms": record.created_ms,
    })
}

fn kind_name(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Firmware => "firmware",
        ArtifactKind::Software => "software",
    }
}

fn parse_kind(text: &str) -> Result<ArtifactKind, Refusal> {
    match text {
        "firmware" => Ok(ArtifactKind::Firmware),
        "software" => Ok(ArtifactKind::Software),
        _ => Err(refuse(400, "kind must be \"firmware\" or \"software\"")),
    }
}

/// A package name or version: 1 to [`MAX_TEXT`] bytes, no control
/// character.
fn check_text(what: &str, text: &str) -> Result<(), Refusal> {
    if text.is_empty() || text.len() > MAX_TEXT || text.chars().any(char::is_control) {
        return Err(refuse(
            400,
            format!("{what} must be 1 to {MAX_TEXT} bytes without control characters"),
        ));
    }
    Ok(())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Refusal> {
    if metadata.len() > MAX_METADATA {
        return Err(refuse(
            400,
            format!("at most {MAX_METADATA} metadata entries"),
        ));
    }
    for (key, value) in metadata {
        if key.is_empty()
            || key.len() > MAX_METADATA_KEY
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
        {
            return Err(refuse(
                400,
                format!("a metadata key must be 1 to {MAX_METADATA_KEY} of A-Z a-z 0-9 . _ - :"),
            ));
        }
        if value.len() > MAX_METADATA_VALUE || value.chars().any(char::is_control) {
            return Err(refuse(
                400,
                format!(
                    "a metadata value must be at most {MAX_METADATA_VALUE} bytes without control \
                     characters"
                ),
            ));
        }
    }
    Ok(())
}

fn parse_sha256(text: &str) -> Result<[u8; 32], Refusal> {
    let bytes = dm_codec::hex::decode(text)
        .filter(|_| text.len() == 64 && !text.bytes().any(|b| b.is_ascii_uppercase()));
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| refuse(400, "sha256 must be 64 lowercase hex digits"))
}

/// An `http(s)` URL a device can be given: no whitespace or control
/// character, at most [`MAX_URL`] bytes.
fn check_url(url: &str) -> Result<(), Refusal> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme = lower.starts_with("http://") || lower.starts_with("https://");
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    if !scheme
        || rest.is_empty()
        || rest.starts_with('/')
        || url.len() > MAX_URL
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(refuse(
            400,
            format!("url must be an http or https URL of at most {MAX_URL} bytes"),
        ));
    }
    Ok(())
}

/// The body of `PUT /admin/artifacts/{id}` for an artifact at a URL.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlArtifact {
    kind: String,
    name: String,
    version: String,
    url: String,
    size: u64,
    sha256: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Parses the JSON body of an artifact at a URL (`PUT
/// /admin/artifacts/{id}` with `application/json`), as the admin API
/// does: strict JSON, every member checked.
///
/// ```
/// # use dm_server::*;
/// let record = dm_server::parse_artifact_json(
///     "app-1",
///     br#"{"kind":"software","name":"app","version":"1","url":"https://cdn.example/a","size":3,
///          "sha256":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
/// )?;
/// assert_eq!(record.size, 3);
/// assert!(dm_server::parse_artifact_json("app-1", b"{}").is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_artifact_json(id: &str, body: &[u8]) -> Result<ArtifactRecord, Error> {
    let invalid = |refusal: Refusal| Error::InvalidCommand {
        problem: refusal.message,
    };
    let id = ArtifactId::new(id)?;
    let value = crate::admin::decode_admin_json(body)?;
    if !value.is_object() {
        return Err(Error::InvalidCommand {
            problem: "artifact: expected an object".into(),
        });
    }
    let given: UrlArtifact = serde_json::from_value(value).map_err(|e| Error::InvalidCommand {
        problem: format!("artifact: {e}"),
    })?;
    let kind = parse_kind(&given.kind).map_err(invalid)?;
    check_text("name", &given.name).map_err(invalid)?;
    check_text("version", &given.version).map_err(invalid)?;
    check_url(&given.url).map_err(invalid)?;
    check_metadata(&given.metadata).map_err(invalid)?;
    let sha256 = parse_sha256(&given.sha256).map_err(invalid)?;
    let mut record = ArtifactRecord::new(
        id,
        kind,
        given.name,
        given.version,
        given.size,
        sha256,
        ArtifactSource::Url(given.url),
    );
    record.metadata = given.metadata;
    Ok(record)
}

/// The body of `PUT /admin/groups/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    #[serde(default)]
    description: String,
    #[serde(default)]
    filter: GroupFilter,
}

/// Parses the JSON body of `PUT /admin/groups/{id}` as the admin API does:
/// strict JSON, `{"description", "filter": {"devices", "tags", "devinfo",
/// "mos", "last_session_after_ms", "last_session_before_ms"}}`, each
/// bounded.
///
/// ```
/// let group = dm_server::parse_group_json(
///     "canary",
///     br#"{"description":"first","filter":{"tags":["canary"],"devinfo":{"Mod":"X1"}}}"#,
/// )?;
/// assert_eq!(group.filter.tags.len(), 1);
/// assert!(dm_server::parse_group_json("canary", br#"{"filter":{"color":"red"}}"#).is_err());
/// # Ok::<(), dm_server::Error>(())
/// ```
pub fn parse_group_json(id: &str, body: &[u8]) -> Result<GroupRecord, Error> {
    let id = GroupId::new(id)?;
    let value = crate::admin::decode_admin_json(body)?;
    crate::admin::check_objects("group", &value, &["filter"])?;
    let given: GroupBody = serde_json::from_value(value).map_err(|e| Error::InvalidCommand {
        problem: format!("group: {e}"),
    })?;
    let filter = &given.filter;
    let problem = |problem: String| Err(Error::InvalidCommand { problem });
    if given.description.len() > MAX_DESCRIPTION
        || given
            .description
            .chars()
            .any(|c| c.is_control() && c != '\n')
    {
        return problem(format!(
            "description must be at most {MAX_DESCRIPTION} bytes without control characters"
        ));
    }
    if [
        filter.devices.len(),
        filter.tags.len(),
        filter.devinfo.len(),
        filter.mos.len(),
    ]
    .iter()
    .any(|n| *n > MAX_GROUP_ITEMS)
    {
        return problem(format!(
            "a group condition lists at most {MAX_GROUP_ITEMS} items"
        ));
    }
    if filter.devinfo.iter().any(|(name, value)| {
        name.is_empty()
            || name.len() > MAX_DEVINFO_TEXT
            || value.len() > MAX_DEVINFO_TEXT
            || name.chars().chain(value.chars()).any(char::is_control)
    }) {
        return problem(format!(
            "a DevInfo condition is a leaf name and value of at most {MAX_DEVINFO_TEXT} bytes"
        ));
    }
    let mut record = GroupRecord::new(id, given.filter);
    record.description = given.description;
    Ok(record)
}

fn group_json(group: &GroupRecord) -> Value {
    json!({
        "id": group.id.as_str(),
        "description": group.description,
        "filter": group.filter,
        "updated_ms": group.updated_ms,
    })
}

fn artifact_id(text: &str) -> Result<ArtifactId, Refusal> {
    ArtifactId::new(text).map_err(|e| refuse(400, e))
}

fn group_id(text: &str) -> Result<GroupId, Refusal> {
    GroupId::new(text).map_err(|e| refuse(400, e))
}

async fn list_artifacts<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
) -> Result<Response, AdminRefusal> {
    let artifacts = shared.store.artifacts().await?;
    Ok(axum::Json(json!({
        "artifacts": artifacts.iter().map(artifact_json).collect::<Vec<_>>()
    }))
    .into_response())
}

async fn artifact<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = artifact_id(&text)?;
    let record = shared
        .store
        .artifact(&id)
        .await?
        .ok_or(Error::ArtifactNotFound(id))?;
    Ok(axum::Json(artifact_json(&record)).into_response())
}

async fn remove_artifact<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = artifact_id(&text)?;
    if !shared.store.remove_artifact(&id).await? {
        return Err(Error::ArtifactNotFound(id).into());
    }
    tracing::info!(artifact = %id, "artifact removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How long a download URL is valid by default (24 h).
const DEFAULT_URL_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Deserialize)]
struct UrlQuery {
    dev_id: Option<String>,
    expires_ms: Option<u64>,
}

/// `GET /admin/artifacts/{id}/url?dev_id=<DevID>&expires_ms=<ms>`: the
/// `PkgURL` a registered device downloads the artifact from (what a
/// campaign writes), valid until `expires_ms` (default: in 24 hours).
async fn download_url<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request_headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, AdminRefusal> {
    let id = artifact_id(&text)?;
    let query =
        Query::<UrlQuery>::try_from_uri(&uri).map_err(|e| refuse(400, format!("query: {e}")))?;
    let dev_id = dev_id(
        query
            .0
            .dev_id
            .as_deref()
            .ok_or_else(|| refuse(400, "the query needs dev_id"))?,
    )?;
    let expires_ms = query
        .0
        .expires_ms
        .unwrap_or_else(|| now_ms().saturating_add(DEFAULT_URL_LIFETIME_MS));
    let record = shared
        .store
        .artifact(&id)
        .await?
        .ok_or(Error::ArtifactNotFound(id))?;
    if shared.store.device(&dev_id).await?.is_none() {
        return Err(Error::DeviceNotFound(dev_id).into());
    }
    let key = shared.server_key.get(&shared.store).await?;
    let base = shared.base_uri(&request_headers);
    let url = artifact_url(&base, &key, &record, &dev_id, expires_ms);
    Ok(axum::Json(json!({ "url": url, "expires_ms": expires_ms })).into_response())
}

/// The query of an uploaded artifact: its description.
#[derive(Deserialize)]
struct UploadQuery {
    kind: Option<String>,
    name: Option<String>,
    version: Option<String>,
    sha256: Option<String>,
}

/// `PUT /admin/artifacts/{id}`: `application/octet-stream` uploads stored
/// content (described by the query: `kind`, `name`, `version`, optional
/// `sha256`, metadata as `meta.<key>=<value>`); `application/json`
/// describes an artifact at a URL.
async fn put_artifact<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let id = artifact_id(&text)?;
    let content_type = header(request.headers(), CONTENT_TYPE.as_str()).unwrap_or("");
    let (mut record, content) =
        if dm_codec::mime::content_type_matches(content_type, "application/json") {
            let body = super::admin::read_json_body(&shared, request).await?;
            (parse_artifact_json(id.as_str(), &body)?, None)
        } else {
            let (record, content) = upload(&shared, id, request).await?;
            (record, Some(content))
        };
    record.created_ms = now_ms();
    let replaced = shared.store.put_artifact(record.clone(), content).await?;
    tracing::info!(artifact = %record.id, size = record.size, replaced, "artifact stored");
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(artifact_json(&record))).into_response())
}

/// Reads an uploaded artifact: the description from the query, the body
/// frame by frame (each within the body timeout) up to
/// [`ServerLimits::artifact_bytes`](crate::ServerLimits::artifact_bytes),
/// its SHA-256 computed as it arrives.
async fn upload<S: Store, C: NotificationChannel>(
    shared: &Shared<S, C>,
    id: ArtifactId,
    request: Request,
) -> Result<(ArtifactRecord, bytes::Bytes), Refusal> {
    let limit = shared.options.limits.artifact_bytes;
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map_err(|e| refuse(400, format!("query: {e}")))?
        .0;
    let mut metadata = BTreeMap::new();
    let mut known = Vec::new();
    for (key, value) in pairs {
        if let Some(key) = key.strip_prefix("meta.") {
            if metadata.insert(key.to_owned(), value).is_some() {
                return Err(refuse(400, format!("metadata {key:?} given twice")));
            }
        } else if ["kind", "name", "version", "sha256"].contains(&key.as_str()) {
            if known.iter().any(|(k, _): &(String, String)| *k == key) {
                return Err(refuse(400, format!("{key} given twice")));
            }
            known.push((key, value));
        } else {
            return Err(refuse(400, format!("unknown query parameter {key:?}")));
        }
    }
    let query: UploadQuery =
        serde_json::from_value(json!(known.into_iter().collect::<BTreeMap<_, _>>()))
            .map_err(|e| refuse(400, format!("query: {e}")))?;
    let kind = parse_kind(query.kind.as_deref().unwrap_or(""))?;
    let name = query
        .name
        .ok_or_else(|| refuse(400, "the query needs name"))?;
    let version = query
        .version
        .ok_or_else(|| refuse(400, "the query needs version"))?;
    check_text("name", &name)?;
    check_text("version", &version)?;
    check_metadata(&metadata)?;
    let expected = query.sha256.as_deref().map(parse_sha256).transpose()?;
    let declared = header(request.headers(), "content-length")
        .map(|v| v.trim().parse::<u64>())
        .transpose()
        .map_err(|_| refuse(400, "malformed Content-Length"))?;
    if let Some(length) = declared
        && length > limit
    {
        return Err(refuse(
            413,
            format!("an artifact of {length} bytes is over the limit of {limit} bytes"),
        ));
    }
    let (content, sha256) = read_content(
        request.into_body(),
        limit,
        shared.options.limits.body_timeout,
    )
    .await?;
    if let Some(expected) = expected
        && expected != sha256
    {
        return Err(Error::ArtifactMismatch {
            problem: format!(
                "the content's SHA-256 is {}, not {}",
                dm_codec::hex::encode(&sha256),
                dm_codec::hex::encode(&expected)
            ),
        }
        .into());
    }
    let size = content.len() as u64;
    let mut record = ArtifactRecord::new(
        id,
        kind,
        name,
        version,
        size,
        sha256,
        ArtifactSource::Stored,
    );
    record.metadata = metadata;
    Ok((record, content))
}

/// Reads a body of at most `limit` bytes, each frame within `timeout`
/// (413 as soon as more arrives, 408 when a frame is late), hashing it as
/// it arrives.
async fn read_content(
    mut body: Body,
    limit: u64,
    timeout: std::time::Duration,
) -> Result<(bytes::Bytes, [u8; 32]), Refusal> {
    let mut content = BytesMut::new();
    let mut hasher = Sha256::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(refuse(408, "the artifact did not arrive in time")),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(refuse(400, format!("reading the artifact: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if (content.len() + data.len()) as u64 > limit {
            return Err(refuse(
                413,
                format!("the artifact is over the limit of {limit} bytes"),
            ));
        }
        hasher.update(&data);
        content.extend_from_slice(&data);
    }
    Ok((content.freeze(), hasher.finalize().into()))
}

async fn list_groups<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
) -> Result<Response, AdminRefusal> {
    let groups = shared.store.groups().await?;
    Ok(axum::Json(json!({
        "groups": groups.iter().map(group_json).collect::<Vec<_>>()
    }))
    .into_response())
}

async fn group<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = group_id(&text)?;
    let group = shared
        .store
        .group(&id)
        .await?
        .ok_or(Error::GroupNotFound(id))?;
    Ok(axum::Json(group_json(&group)).into_response())
}

async fn put_group<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let id = group_id(&text)?;
    let body = super::admin::read_json_body(&shared, request).await?;
    let mut group = parse_group_json(id.as_str(), &body)?;
    group.updated_ms = now_ms();
    let replaced = shared.store.put_group(group.clone()).await?;
    tracing::info!(group = %group.id, replaced, "group stored");
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(group_json(&group))).into_response())
}

async fn remove_group<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
) -> Result<Response, AdminRefusal> {
    let id = group_id(&text)?;
    if !shared.store.remove_group(&id).await? {
        return Err(Error::GroupNotFound(id).into());
    }
    tracing::info!(group = %id, "group removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct MembersQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /admin/groups/{id}/devices?after=&limit=`: the group's members
/// resolved now, a page at a time.
async fn members<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, AdminRefusal> {
    let id = group_id(&text)?;
    let query = Query::<MembersQuery>::try_from_uri(&uri)
        .map_err(|e| refuse(400, format!("query: {e}")))?;
    let after = query.after.as_deref().map(dev_id).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_MEMBERS_PAGE);
    let group = shared
        .store
        .group(&id)
        .await?
        .ok_or(Error::GroupNotFound(id))?;
    let (devices, next) = members_page(&shared.store, &group.filter, after.as_ref(), limit).await?;
    Ok(axum::Json(json!({
        "devices": devices.iter().map(dm_types::DevId::as_str).collect::<Vec<_>>(),
        "next": next.map(|d| d.to_string()),
    }))
    .into_response())
}

/// `PUT /admin/devices/{dev_id}/tags` with `["a", "b"]`: replaces the
/// device's tags.
async fn set_tags<S: Store, C: NotificationChannel>(
    axum::extract::State(shared): AppState<S, C>,
    Path(text): Path<String>,
    request: Request,
) -> Result<Response, AdminRefusal> {
    let dev_id = dev_id(&text)?;
    let body = json_body(&shared, request).await?;
    let tags: BTreeSet<Tag> = serde_json::from_value(body)
        .map_err(|e| refuse(400, format!("tags: an array of tags: {e}")))?;
    if tags.len() > MAX_TAGS {
        return Err(refuse(400, format!("at most {MAX_TAGS} tags")).into());
    }
    shared.store.set_device_tags(&dev_id, tags.clone()).await?;
    tracing::info!(%dev_id, tags = tags.len(), "device tags set");
    Ok(axum::Json(json!({ "dev_id": dev_id.as_str(), "tags": tags })).into_response())
}
