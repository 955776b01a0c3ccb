//! The JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the admin
//! API's bodies, written next to the types they describe: the bodies are
//! built by hand (`json!`) in the handlers, so are their schemas. The
//! tests validate every documented example and every answer of a walk
//! through the API against them (`dm-server/tests/openapi.rs`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// `{"$ref": "#/components/schemas/<name>"}`.
pub(crate) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `schema` or `null`.
pub(crate) fn nullable(schema: Value) -> Value {
    let mut value = Map::new();
    value.insert(
        "anyOf".into(),
        Value::Array(vec![schema, json!({"type": "null"})]),
    );
    Value::Object(value)
}

/// A string.
pub(crate) fn string() -> Value {
    json!({"type": "string"})
}

/// A count or Unix time: an integer ≥ 0.
pub(crate) fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

/// A page size: 1 to `max`.
pub(crate) fn limit(max: u64) -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": max, "default": 100})
}

/// A DevID: 1 to 256 visible ASCII characters.
pub(crate) fn dev_id() -> Value {
    reference("DevId")
}

/// An artifact or group id.
pub(crate) fn name() -> Value {
    reference("Name")
}

/// An object with exactly these `properties`, the `required` ones needed.
fn object(properties: Value, required: &[&str]) -> Value {
    let mut value = Map::new();
    value.insert("type".into(), json!("object"));
    value.insert("properties".into(), properties);
    value.insert("required".into(), json!(required));
    value.insert("additionalProperties".into(), json!(false));
    Value::Object(value)
}

fn array(items: Value) -> Value {
    let mut value = Map::new();
    value.insert("type".into(), json!("array"));
    value.insert("items".into(), items);
    Value::Object(value)
}

fn hex() -> Value {
    json!({"type": "string", "pattern": "^[0-9A-Fa-f]*$"})
}

fn sha256() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-f]{64}$"})
}

fn percent() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": 100})
}

fn update_state() -> Value {
    json!({"type": "string", "enum": ["pending", "notified", "in_session", "downloading",
                                       "installing", "succeeded", "failed", "skipped"]})
}

/// Every named schema.
fn components() -> Map<String, Value> {
    let mut all = Map::new();
    let mut add = |name: &str, schema: Value| {
        all.insert(name.to_owned(), schema);
    };
    add(
        "Error",
        object(
            json!({"error": {"type": "string", "description": "what was refused and why"}}),
            &["error"],
        ),
    );
    add(
        "DevId",
        json!({"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[!-~]+$",
               "description": "DevInfo DevID: visible ASCII; percent-encode it in a path"}),
    );
    add(
        "Name",
        json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$",
               "description": "an artifact or group id (not `.` or `..`)"}),
    );
    add(
        "Tag",
        json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"}),
    );
    add(
        "Tags",
        json!({"type": "array", "items": reference("Tag"), "maxItems": 64}),
    );
    add(
        "SessionSummary",
        object(
            json!({
                "id": {"type": "string", "description": "16 hex digits naming the session"},
                "token": string(),
                "initiator": {"type": "string", "enum": ["client", "server", "bootstrap"]},
                "notification_id": nullable(count()),
                "started_ms": count(),
                "ended_ms": nullable(count()),
                "session_uri": nullable(string()),
                "packages": count(),
                "outcome": nullable(string()),
            }),
            &[
                "id",
                "token",
                "initiator",
                "notification_id",
                "started_ms",
                "ended_ms",
                "session_uri",
                "packages",
                "outcome",
            ],
        ),
    );
    add(
        "DeviceSession",
        object(
            json!({
                "id": {"type": "string", "description": "16 hex digits naming the session"},
                "token": string(),
                "initiator": {"type": "string", "enum": ["client", "server", "bootstrap"]},
                "notification_id": nullable(count()),
                "started_ms": count(),
                "ended_ms": nullable(count()),
                "session_uri": nullable(string()),
                "packages": count(),
                "outcome": nullable(string()),
                "commands": count(),
            }),
            &[
                "id",
                "token",
                "initiator",
                "notification_id",
                "started_ms",
                "ended_ms",
                "session_uri",
                "packages",
                "outcome",
                "commands",
            ],
        ),
    );
    add(
        "SessionList",
        object(
            json!({"sessions": array(reference("DeviceSession")), "next": nullable(string())}),
            &["sessions", "next"],
        ),
    );
    add(
        "OpenSession",
        object(
            json!({"id": string(), "started_ms": count(), "deadline_ms": count(), "packages": count()}),
            &["id", "started_ms", "deadline_ms", "packages"],
        ),
    );
    add(
        "DeviceSummary",
        json!({
            "type": "object",
            "properties": {
                "dev_id": dev_id(),
                "notification_address": nullable(string()),
                "open_session": {"type": "boolean"},
                "open_sessions": array(reference("OpenSession")),
                "last_session": nullable(reference("SessionSummary")),
                "tags": reference("Tags"),
            },
            "required": ["dev_id", "notification_address", "open_session", "open_sessions", "last_session"],
            "additionalProperties": false,
        }),
    );
    add(
        "DeviceList",
        object(
            json!({
                "devices": array(reference("DeviceSummary")),
                "next": nullable(dev_id()),
                "total": nullable(count()),
            }),
            &["devices", "next", "total"],
        ),
    );
    add(
        "MosEntry",
        object(
            json!({"MOID": string(), "MIID": array(string()), "DDF": string()}),
            &["MOID", "MIID"],
        ),
    );
    add(
        "Device",
        object(
            json!({
                "dev_id": dev_id(),
                "registered_ms": count(),
                "username": nullable(string()),
                "certificate_sha256": nullable(sha256()),
                "psk_identity": nullable(string()),
                "notification_address": nullable(string()),
                "notification_secret": {"type": "boolean"},
                "last_notification_id": nullable(count()),
                "last_session": nullable(reference("SessionSummary")),
                "sessions": array(reference("SessionSummary")),
                "open_session": nullable(string()),
                "open_sessions": array(reference("OpenSession")),
                "mos": nullable(array(reference("MosEntry"))),
                "tags": reference("Tags"),
                "devinfo": {"type": "object", "additionalProperties": string()},
                "commands": object(
                    json!({
                        "pending": array(reference("Command")),
                        "finished": array(reference("Command")),
                        "pending_total": count(),
                        "finished_total": count(),
                    }),
                    &["pending", "finished", "pending_total", "finished_total"],
                ),
                "alerts": count(),
                "recent_alerts": array(reference("Alert")),
            }),
            &[
                "dev_id",
                "registered_ms",
                "username",
                "certificate_sha256",
                "psk_identity",
                "notification_address",
                "notification_secret",
                "last_notification_id",
                "last_session",
                "sessions",
                "open_session",
                "open_sessions",
                "mos",
                "tags",
                "devinfo",
                "commands",
                "alerts",
                "recent_alerts",
            ],
        ),
    );
    add(
        "DeviceRegistration",
        object(
            json!({
                "dev_id": dev_id(),
                "username": nullable(string()),
                "password": nullable(string()),
                "certificate_sha256": nullable(json!({"type": "string", "pattern": "^[0-9A-Fa-f]{64}$"})),
                "psk": nullable(reference("Psk")),
                "notification": nullable(reference("NotificationSettings")),
            }),
            &["dev_id"],
        ),
    );
    add(
        "Psk",
        object(
            json!({
                "identity": {"type": "string", "minLength": 1, "maxLength": 128},
                "key_hex": {"type": "string", "minLength": 32, "maxLength": 128, "pattern": "^[0-9A-Fa-f]+$"},
            }),
            &["identity", "key_hex"],
        ),
    );
    add(
        "NotificationSettings",
        object(
            json!({
                "address": nullable(string()),
                "secret_hex": nullable(hex()),
                "data_hex": nullable(hex()),
            }),
            &[],
        ),
    );
    add(
        "Registered",
        object(json!({"dev_id": dev_id()}), &["dev_id"]),
    );
    add(
        "BulkRegistration",
        json!({"type": "array", "items": reference("DeviceRegistration"), "maxItems": 10000}),
    );
    add(
        "BulkRegistered",
        object(json!({"registered": count()}), &["registered"]),
    );
    add(
        "TaggedDevice",
        object(
            json!({"dev_id": dev_id(), "tags": reference("Tags")}),
            &["dev_id", "tags"],
        ),
    );
    add(
        "CommandWords",
        json!({"type": "array", "minItems": 1, "items": {"type": "string"},
               "description": "the Package#2 array form of one command: its name, then its parameters"}),
    );
    add(
        "CommandRequest",
        object(
            json!({"command": reference("CommandWords"), "use_cache": nullable(json!({"type": "boolean"}))}),
            &["command"],
        ),
    );
    add("CommandQueued", object(json!({"id": string()}), &["id"]));
    add(
        "Command",
        object(
            json!({
                "id": string(),
                "command": reference("CommandWords"),
                "state": {"type": "string", "enum": ["queued", "sent", "done", "failed"]},
                "status": nullable(count()),
                "uris": array(string()),
                "data": reference("MoData"),
                "from_cache": {"type": "boolean"},
                "error": nullable(string()),
                "session": nullable(string()),
                "queued_ms": count(),
                "updated_ms": count(),
            }),
            &[
                "id",
                "command",
                "state",
                "status",
                "uris",
                "data",
                "from_cache",
                "error",
                "session",
                "queued_ms",
                "updated_ms",
            ],
        ),
    );
    add(
        "CommandList",
        object(
            json!({
                "commands": array(reference("Command")),
                "next": nullable(string()),
                "total": count(),
            }),
            &["commands", "next", "total"],
        ),
    );
    add(
        "MoData",
        json!({"type": "array", "items": {"type": "object"},
               "description": "MO serialization items (docs/protocol.md)"}),
    );
    add(
        "Alert",
        object(
            json!({
                "received_ms": count(),
                "session": nullable(string()),
                "alert": {"type": "object", "required": ["AlertType"],
                          "properties": {"AlertType": string()}},
            }),
            &["received_ms", "session", "alert"],
        ),
    );
    add(
        "AlertList",
        object(
            json!({"alerts": array(reference("Alert")), "total": count()}),
            &["alerts", "total"],
        ),
    );
    add(
        "NotificationSent",
        object(
            json!({"notification_id": count(), "timestamp": count(), "address": string()}),
            &["notification_id", "timestamp", "address"],
        ),
    );
    add(
        "Artifact",
        object(
            json!({
                "id": name(),
                "kind": {"type": "string", "enum": ["firmware", "software"]},
                "name": string(),
                "version": string(),
                "size": count(),
                "sha256": sha256(),
                "source": {"type": "string", "enum": ["stored", "url"]},
                "url": nullable(string()),
                "metadata": {"type": "object", "additionalProperties": string()},
                "created_ms": count(),
            }),
            &[
                "id",
                "kind",
                "name",
                "version",
                "size",
                "sha256",
                "source",
                "url",
                "metadata",
                "created_ms",
            ],
        ),
    );
    add(
        "ArtifactAtUrl",
        object(
            json!({
                "kind": {"type": "string", "enum": ["firmware", "software"]},
                "name": {"type": "string", "minLength": 1, "maxLength": 128},
                "version": {"type": "string", "minLength": 1, "maxLength": 128},
                "url": {"type": "string", "minLength": 8, "maxLength": 2048, "pattern": "^[hH][tT][tT][pP][sS]?://[!-~]+$"},
                "size": count(),
                "sha256": sha256(),
                "metadata": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1024}},
            }),
            &["kind", "name", "version", "url", "size", "sha256"],
        ),
    );
    add(
        "ArtifactList",
        object(
            json!({"artifacts": array(reference("Artifact"))}),
            &["artifacts"],
        ),
    );
    add(
        "DownloadUrl",
        object(
            json!({"url": string(), "expires_ms": count()}),
            &["url", "expires_ms"],
        ),
    );
    add(
        "GroupFilter",
        object(
            json!({
                "devices": array(dev_id()),
                "tags": array(reference("Tag")),
                "devinfo": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256}},
                "mos": array(string()),
                "last_session_after_ms": nullable(count()),
                "last_session_before_ms": nullable(count()),
            }),
            &[],
        ),
    );
    add(
        "GroupBody",
        object(
            json!({"description": {"type": "string", "maxLength": 1024}, "filter": reference("GroupFilter")}),
            &[],
        ),
    );
    add(
        "Group",
        object(
            json!({"id": name(), "description": string(), "filter": reference("GroupFilter"), "updated_ms": count()}),
            &["id", "description", "filter", "updated_ms"],
        ),
    );
    add(
        "GroupList",
        object(json!({"groups": array(reference("Group"))}), &["groups"]),
    );
    add(
        "GroupMembers",
        object(
            json!({"devices": array(dev_id()), "next": nullable(dev_id())}),
            &["devices", "next"],
        ),
    );
    add(
        "StageSize",
        json!({"oneOf": [
            object(json!({"percent": {"type": "integer", "minimum": 1, "maximum": 100}}), &["percent"]),
            object(json!({"count": {"type": "integer", "minimum": 1}}), &["count"]),
            object(json!({"group": name()}), &["group"]),
        ]}),
    );
    add(
        "Stage",
        object(
            json!({
                "size": reference("StageSize"),
                "success_threshold_percent": nullable(percent()),
                "advance": nullable(json!({"type": "string", "enum": ["auto", "approval"]})),
                "error_threshold_percent": nullable(percent()),
            }),
            &["size"],
        ),
    );
    // An optional member given as `null` is left out.
    add(
        "CampaignSpec",
        object(
            json!({
                "name": string(),
                "artifact": name(),
                "group": name(),
                "stages": {"type": "array", "items": reference("Stage"), "minItems": 1, "maxItems": 100},
                "pacing": nullable(object(json!({
                    "max_in_flight": nullable(json!({"type": "integer", "minimum": 1})),
                    "notifications_per_second": nullable(json!({"type": "integer", "minimum": 1})),
                }), &[])),
                "window": nullable(object(json!({
                    "start_minute": {"type": "integer", "minimum": 0, "maximum": 1439},
                    "end_minute": {"type": "integer", "minimum": 0, "maximum": 1439},
                }), &["start_minute", "end_minute"])),
                "retry": nullable(object(json!({
                    "max_attempts": nullable(json!({"type": "integer", "minimum": 1})),
                    "initial_backoff_ms": nullable(count()),
                    "max_backoff_ms": nullable(count()),
                }), &[])),
                "device_timeout_ms": nullable(json!({"type": "integer", "minimum": 1000})),
            }),
            &["artifact", "group", "stages"],
        ),
    );
    let campaign_properties = json!({
        "id": {"type": "integer", "minimum": 1},
        "name": string(),
        "status": {"type": "string", "enum": ["running", "waiting_approval", "paused", "cancelled", "completed"]},
        "pause_reason": nullable(json!({"type": "string", "enum": ["operator", "error_threshold"]})),
        "paused_stage": nullable(count()),
        "stage": count(),
        "stages": count(),
        "version": count(),
        "created_ms": count(),
        "updated_ms": count(),
        "spec": reference("CampaignSpec"),
    });
    let campaign_required = [
        "id",
        "name",
        "status",
        "pause_reason",
        "paused_stage",
        "stage",
        "stages",
        "version",
        "created_ms",
        "updated_ms",
        "spec",
    ];
    add(
        "Campaign",
        object(campaign_properties.clone(), &campaign_required),
    );
    let counts = json!({"type": "object", "additionalProperties": count(),
                        "description": "rows per state (update states with no row are left out)"});
    let mut progress_properties = campaign_properties;
    progress_properties["progress"] = object(
        json!({
            "stages": array(object(
                json!({"stage": count(), "total": count(), "counts": counts}),
                &["stage", "total", "counts"],
            )),
            "totals": counts,
            "total": count(),
        }),
        &["stages", "totals", "total"],
    );
    let mut progress_required = campaign_required.to_vec();
    progress_required.push("progress");
    add(
        "CampaignProgress",
        object(progress_properties, &progress_required),
    );
    add(
        "CampaignList",
        object(
            json!({"campaigns": array(reference("Campaign"))}),
            &["campaigns"],
        ),
    );
    add(
        "CampaignDevice",
        object(
            json!({
                "dev_id": dev_id(),
                "stage": count(),
                "state": update_state(),
                "result": nullable(count()),
                "attempts": count(),
                "next_attempt_ms": count(),
                "commands": array(string()),
                "updated_ms": count(),
            }),
            &[
                "dev_id",
                "stage",
                "state",
                "result",
                "attempts",
                "next_attempt_ms",
                "commands",
                "updated_ms",
            ],
        ),
    );
    add(
        "CampaignDevices",
        object(
            json!({"devices": array(reference("CampaignDevice")), "next": nullable(dev_id())}),
            &["devices", "next"],
        ),
    );
    let event_kind = json!({"type": "string", "enum": ["device.registered", "command.finished",
                                                        "alert.received", "session.ended", "campaign.progress"]});
    add(
        "WebhookRequest",
        object(
            json!({
                "url": {"type": "string", "minLength": 8, "maxLength": 2048, "pattern": "^[hH][tT][tT][pP][sS]?://[!-~]+$"},
                "secret": {"type": "string", "minLength": 1, "maxLength": 256},
                "kinds": nullable(array(event_kind.clone())),
            }),
            &["url", "secret"],
        ),
    );
    add(
        "Webhook",
        object(
            json!({"id": {"type": "integer", "minimum": 1}, "url": string(), "kinds": array(event_kind),
                   "created_ms": count(), "cursor": count()}),
            &["id", "url", "kinds", "created_ms", "cursor"],
        ),
    );
    add(
        "WebhookList",
        object(
            json!({"webhooks": array(reference("Webhook"))}),
            &["webhooks"],
        ),
    );
    let scope = json!({"type": "string", "enum": ["read", "operator", "admin"]});
    let key_id = json!({"type": "string", "pattern": "^[a-z2-7]{16}$"});
    let key_name = json!({"type": "string", "minLength": 1, "maxLength": 64});
    add(
        "ApiKeyRequest",
        object(
            json!({"name": key_name.clone(), "scope": scope.clone()}),
            &["name", "scope"],
        ),
    );
    add(
        "ApiKeyAdded",
        object(
            json!({"id": key_id.clone(), "name": key_name.clone(), "scope": scope.clone(),
                   "created_ms": count(),
                   "key": {"type": "string", "pattern": "^dmk_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$"}}),
            &["id", "name", "scope", "created_ms", "key"],
        ),
    );
    add(
        "ApiKey",
        object(
            json!({"id": key_id.clone(), "name": key_name.clone(), "scope": scope.clone(),
                   "created_ms": count(), "revoked_ms": nullable(count()),
                   "last_used_ms": nullable(count())}),
            &[
                "id",
                "name",
                "scope",
                "created_ms",
                "revoked_ms",
                "last_used_ms",
            ],
        ),
    );
    add(
        "ApiKeyList",
        object(json!({"keys": array(reference("ApiKey"))}), &["keys"]),
    );
    add(
        "WhoAmI",
        object(
            json!({"scope": scope,
                   "key": nullable(object(json!({"id": key_id, "name": key_name}), &["id", "name"]))}),
            &["scope", "key"],
        ),
    );
    add(
        "BootstrapProfile",
        object(
            json!({
                "name": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[A-Za-z0-9._-]+$"},
                "match": {"oneOf": [
                    object(json!({"identity": string()}), &["identity"]),
                    object(json!({"dev_id": dev_id()}), &["dev_id"]),
                    object(json!({"dev_id_pattern": string()}), &["dev_id_pattern"]),
                ]},
                "accounts": {"type": "array", "minItems": 1, "maxItems": 8, "items": object(
                    json!({
                        "server_id": {"type": "string", "minLength": 1},
                        "server_uri": string(),
                        "name": string(),
                        "perm": {"type": "array", "items": string(), "maxItems": 64},
                        "credentials": object(json!({
                            "notification_secret": {"type": "boolean"},
                            "http_password": {"type": "boolean"},
                            "client_certificate": {"type": "boolean"},
                        }), &[]),
                        "register": {"oneOf": [
                            {"type": "string", "const": "local"},
                            object(json!({"remote": string()}), &["remote"]),
                        ]},
                    }),
                    &["server_id", "server_uri", "credentials"],
                )},
            }),
            &["name", "match", "accounts"],
        ),
    );
    add(
        "BootstrapProfileList",
        object(
            json!({"profiles": array(reference("BootstrapProfile"))}),
            &["profiles"],
        ),
    );
    add(
        "BootstrapDeviceRegistration",
        object(
            json!({
                "dev_id": dev_id(),
                "identity": nullable(string()),
                "psk": nullable(reference("Psk")),
                "notification": nullable(reference("NotificationSettings")),
            }),
            &["dev_id"],
        ),
    );
    add(
        "BootstrapOutcome",
        object(
            json!({
                "dev_id": dev_id(),
                "ended_ms": count(),
                "profile": string(),
                "credential": string(),
                "result": {"type": "string", "enum": ["provisioned", "refused", "failed", "registration_failed", "abandoned"]},
                "servers": array(string()),
                "status": count(),
                "server": string(),
                "problem": string(),
                "reason": string(),
            }),
            &["dev_id", "ended_ms", "profile", "credential", "result"],
        ),
    );
    add(
        "BootstrapOutcomes",
        object(
            json!({"outcomes": array(reference("BootstrapOutcome"))}),
            &["outcomes"],
        ),
    );
    add(
        "BootstrapDevice",
        object(
            json!({
                "dev_id": dev_id(),
                "identity": nullable(string()),
                "psk_identity": nullable(string()),
                "notification_secret": {"type": "boolean"},
                "notification_address": nullable(string()),
                "last_notification_id": count(),
                "outcomes": array(reference("BootstrapOutcome")),
            }),
            &[
                "dev_id",
                "identity",
                "psk_identity",
                "notification_secret",
                "notification_address",
                "last_notification_id",
                "outcomes",
            ],
        ),
    );
    all
}

/// The named schemas `document` refers to, directly or through others.
pub(crate) fn components_used_by(document: &Value) -> Value {
    let all = components();
    let mut used = BTreeSet::new();
    let mut pending = Vec::new();
    collect_references(document, &mut pending);
    while let Some(name) = pending.pop() {
        if used.insert(name.clone())
            && let Some(schema) = all.get(&name)
        {
            collect_references(schema, &mut pending);
        }
    }
    Value::Object(
        all.into_iter()
            .filter(|(name, _)| used.contains(name))
            .collect(),
    )
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref")
                && let Some(name) = target.strip_prefix("#/components/schemas/")
            {
                into.push(name.to_owned());
            }
            map.values().for_each(|v| collect_references(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, into)),
        _ => {}
    }
}
