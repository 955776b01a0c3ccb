//! The demo's firmware campaign (docs/updates.md): a firmware image
//! uploaded through the admin API, the demo's three managed devices (each
//! `dm device --fumo`; device #3 configured so that its installs fail with
//! `410`) tagged and grouped, a campaign of two stages (device #1 first,
//! then the others), its progress printed per stage until it completes, and
//! the outcome checked: #1 and #2 succeeded and report the new `FwV` in a
//! later session, #3 failed with `410`.

use std::time::Instant;

use serde_json::{Value, json};

use crate::demo_process::{STEP_TIMEOUT, wait_for};

/// The firmware image the campaign delivers.
pub(crate) const ARTIFACT: &str = "demo-fw-2.1.0";

/// Its version (what `FwV` reads once installed).
pub(crate) const VERSION: &str = "2.1.0";

/// Its size.
const IMAGE_BYTES: usize = 256 * 1024;

/// The tag and the group of the campaign's devices.
const TAG: &str = "demo-fleet";

/// The install result the failing device is configured with (`dm device
/// --update-result`): update failed, permanent.
pub(crate) const FAILING_RESULT: &str = "410";

/// The admin API of the running server.
pub(crate) struct Api<'a> {
    pub(crate) http: &'a reqwest::blocking::Client,
    pub(crate) base: &'a str,
    pub(crate) token: &'a str,
}

impl Api<'_> {
    fn send(
        &self,
        what: &str,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<Value, String> {
        let response = request
            .bearer_auth(self.token)
            .send()
            .map_err(|e| format!("{what}: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().map_err(|e| format!("{what}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{what}: HTTP {status} {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{what}: {e}"))
    }

    fn json(
        &self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        self.send(what, request)
    }

    fn get(&self, what: &str, path: &str) -> Result<Value, String> {
        self.send(what, self.http.get(format!("{}{path}", self.base)))
    }
}

/// Percent-encodes a DevID for a path segment.
fn segment(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// One line of a campaign's progress: its status and each stage's rows per
/// state.
fn progress_line(campaign: &Value) -> String {
    let stages: Vec<String> = campaign["progress"]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|stage| {
            let counts: Vec<String> = stage["counts"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(state, n)| format!("{state} {n}"))
                .collect();
            format!(
                "stage {}: {}",
                stage["stage"].as_u64().unwrap_or(0) + 1,
                counts.join(", ")
            )
        })
        .collect();
    format!(
        "{} (stage {}) | {}",
        campaign["status"].as_str().unwrap_or("?"),
        campaign["stage"].as_u64().unwrap_or(0) + 1,
        stages.join(" | ")
    )
}

/// A check of the demo's summary: what, whether it held, the detail.
pub(crate) type Check = (String, bool, String);

/// Runs the campaign over `devices` (DevIDs, the numbers the demo prints
/// them with), `failing` the one whose installs fail; returns the checks.
pub(crate) fn run(
    api: &Api<'_>,
    devices: &[(usize, &str)],
    failing: &str,
) -> Result<Vec<Check>, String> {
    let started = Instant::now();
    println!();
    println!(
        "-- firmware campaign: devices #1-#3 run `dm device --fumo` (#3 with --update-result {FAILING_RESULT})"
    );
    let image: Vec<u8> = (0..IMAGE_BYTES)
        .map(|i| u8::try_from(i % 253).unwrap_or(0))
        .collect();
    let request = api
        .http
        .put(format!(
            "{}/admin/artifacts/{ARTIFACT}?kind=firmware&name=demo-firmware&version={VERSION}",
            api.base
        ))
        .header("Content-Type", "application/octet-stream")
        .body(image);
    let artifact = api.send("upload the firmware", request)?;
    println!(
        "  artifact {ARTIFACT}: {} bytes, sha256 {}… (PUT /admin/artifacts, stored in the server's store)",
        artifact["size"],
        artifact["sha256"]
            .as_str()
            .unwrap_or("")
            .get(..16)
            .unwrap_or("")
    );
    for (_, dev_id) in devices {
        api.json(
            "tag a device",
            reqwest::Method::PUT,
            &format!("/admin/devices/{}/tags", segment(dev_id)),
            &json!([TAG]),
        )?;
    }
    api.json(
        "create the group",
        reqwest::Method::PUT,
        &format!("/admin/groups/{TAG}"),
        &json!({"description": "the demo's managed devices", "filter": {"tags": [TAG]}}),
    )?;
    let members = api.get("list the group", &format!("/admin/groups/{TAG}/devices"))?;
    println!(
        "  group {TAG} (devices tagged {TAG}): {}",
        members["devices"]
    );
    let created = api.json(
        "create the campaign",
        reqwest::Method::POST,
        "/admin/campaigns",
        &json!({
            "name": format!("demo firmware {VERSION}"),
            "artifact": ARTIFACT,
            "group": TAG,
            "stages": [
                {"size": {"count": 1}},
                // The last stage: one failure of two must not pause it.
                {"size": {"percent": 100}, "error_threshold_percent": 100},
            ],
            "pacing": {"max_in_flight": 10, "notifications_per_second": 10},
            "retry": {"max_attempts": 2, "initial_backoff_ms": 500, "max_backoff_ms": 1000},
            "device_timeout_ms": 15_000,
        }),
    )?;
    let id = created["id"]
        .as_u64()
        .ok_or_else(|| format!("campaign without id: {created}"))?;
    println!("  campaign {id}: 2 stages (1 device, then the rest), auto-advance");
    let mut last = String::new();
    let finished = wait_for(&format!("campaign {id} to finish"), || {
        let campaign = api.get("read the campaign", &format!("/admin/campaigns/{id}"))?;
        let line = progress_line(&campaign);
        if line != last {
            println!("  {:>5.1} s  {line}", started.elapsed().as_secs_f64());
            last = line;
        }
        let status = campaign["status"].as_str().unwrap_or("");
        Ok(matches!(status, "completed" | "paused" | "cancelled").then_some(campaign))
    })?;
    let mut checks: Vec<Check> = vec![(
        format!("campaign {id} completed"),
        finished["status"] == "completed",
        progress_line(&finished),
    )];
    let rows = api.get(
        "read the campaign's devices",
        &format!("/admin/campaigns/{id}/devices"),
    )?;
    let rows: Vec<Value> = rows["devices"].as_array().cloned().unwrap_or_default();
    let row = |dev_id: &str| rows.iter().find(|r| r["dev_id"] == dev_id).cloned();
    for (number, dev_id) in devices {
        let row = row(dev_id).unwrap_or(Value::Null);
        let (expected, result) = if *dev_id == failing {
            ("failed", Some(u64::from(410u16)))
        } else {
            ("succeeded", None)
        };
        let ok = row["state"] == expected && result.is_none_or(|r| row["result"] == r);
        checks.push((
            format!("campaign: device #{number} {expected}"),
            ok,
            format!(
                "stage {}, state {}, result {}, attempts {}",
                row["stage"].as_u64().unwrap_or(0) + 1,
                row["state"],
                row["result"],
                row["attempts"]
            ),
        ));
    }
    println!(
        "  campaign finished in {:.1} s (bounded by {STEP_TIMEOUT:?})",
        started.elapsed().as_secs_f64()
    );
    Ok(checks)
}

/// Asks each updated device for its `FwV` in a new session (a GET queued,
/// a notification sent) and checks it is the campaign's version.
pub(crate) fn firmware_versions(
    api: &Api<'_>,
    devices: &[(usize, &str)],
) -> Result<Vec<Check>, String> {
    let fwv = "urn:oma:mo:oma-dm-devinfo:1.0//FwV";
    let mut checks = Vec::new();
    for (number, dev_id) in devices {
        let path = format!("/admin/devices/{}", segment(dev_id));
        let queued = api.json(
            "queue a GET of FwV",
            reqwest::Method::POST,
            &format!("{path}/commands"),
            &json!({"command": ["GET", fwv]}),
        )?;
        let command = queued["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("queue answer without id: {queued}"))?;
        api.send(
            "notify",
            api.http.post(format!("{}{path}/notify", api.base)),
        )?;
        let record = wait_for(&format!("device #{number}'s FwV"), || {
            let record = api.get("read the command", &format!("{path}/commands/{command}"))?;
            let state = record["state"].as_str().unwrap_or("");
            Ok(matches!(state, "done" | "failed").then_some(record))
        })?;
        let value = &record["data"][0]["MOData"]["FwV"];
        checks.push((
            format!("device #{number} reports FwV {VERSION} in a later session"),
            record["status"] == 200 && *value == VERSION,
            truncate(&format!("GET {fwv}: {value}"), 70),
        ));
    }
    Ok(checks)
}
