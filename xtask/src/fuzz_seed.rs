//! Seeding the fuzz corpora from `conformance/vectors`, the DDF corpus and
//! built-in seeds.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::paths::Paths;

/// Built-in seeds for the `accept` target (header value, then optionally
/// offered types one per line).
const ACCEPT_SEEDS: [&str; 8] = [
    "application/vnd.oma.dm.request+json",
    "application/dmmo+json;q=0.5, */*;q=0.1",
    "application/*;q=0.5, application/dmmo+json",
    "text/html",
    "*/*",
    "a/b;charset=\"utf-8\";q=1;ext=x, c/*;q=0.001, ,",
    "application/cbor, */*;q=0.5\napplication/dmmo+json\napplication/cbor",
    "application/json; profile=\"a \\\"b\\\"\"; q=0.25\napplication/json; profile=\"a \\\"b\\\"\"",
];

/// Built-in seeds for the `server_uri` target, beside those found in the
/// package vectors.
const SERVER_URI_SEEDS: [&str; 6] = [
    "https://dm.example.com/dm",
    "HTTP://DM.example:8080",
    "https://user:pw@[2001:db8::1]:8443/a%20b/c?x=1&y=/?",
    "http://192.0.2.1:/p;q=1",
    "https://a/b#frag",
    "urn:oma:ddf:devinfo:1.2",
];

/// Built-in seeds for the `tree` target beside the ClientURIs and trees of
/// `resolve.json`: MO serialization items that write into its example tree
/// (replacing subtrees, creating nodes, writing below a leaf, new instances).
const TREE_WRITE_SEEDS: [&str; 6] = [
    r#"[{"ClientURI":"urn:oma:mo:moid:1.0/left/Data","MOData":{"Data":{"3":{"Date":"12.4","Value":12}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:moid:1.0/right/Data/3","MOData":{"3":{"Date":"12.5"}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Man","MOData":{"Man":{"Name":"Acme","Site":"x"}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:moid:1.0/left/ID/x","MOData":{"x":1}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:moid:1.0/third/","MOData":{"moroot3":{"ID":"GPS"}}},{"ClientURI":"urn:oma:mo:moid:1.0/third/Data","MOData":{"Data":{"1":{"Value":true}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:moid:1.0/left/","MOData":{"r":{"a":{"b":null}}}},{"ClientURI":"urn:oma:mo:moid:1.0/left/a/%28x%29","MOData":{"(x)":1.5}}]"#,
];

/// Built-in seeds for the `factory_file` target: a management and a
/// bootstrap account (X.509 and PSK), HTTP and transport credentials, and
/// files the decoder refuses (duplicate SrvID, bad SecMode, http bootstrap
/// URI, another MO, a path).
const FACTORY_FILE_SEEDS: [&str; 7] = [
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"dm":{"SrvID":"dm.example","SrvURI":"https://dm.example/dm","Name":"DM","Perm":{"1":{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0"}},"Auth":{"Noti":{"Type":1,"Secret":"c2VjcmV0","Data":""},"Trsp":{"Data":"MIIB","Secret":"a2V5"}},"Ext":{"HTTPAuth":{"Name":"device-1","Secret":"cHc="},"Vendor":{"x":1}}}}},{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/bs/","MOData":{"bs":{"SrvID":"bs.example","SrvURI":"https://bs.example/dm","Perm":{},"Auth":{"Bootstrap":{"ServerURI":"https://bs.example/bootstrap","SecMode":"AA==","ClientPubKey":"MIIB","ServerPubKey":"MIIC","ClientSecretKey":"MIIE"}}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"bs":{"SrvID":"bs","SrvURI":"https://bs.example/dm","Perm":{},"Auth":{"Bootstrap":{"ServerURI":"https://bs.example/b","SecMode":"AQ==","ClientPubKey":"ZGV2aWNl","ServerPubKey":"","ClientSecretKey":"cHNr"}}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvID":"d","SrvURI":"https://x.example/","Perm":{},"Auth":{}}}},{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"b":{"SrvID":"d","SrvURI":"https://y.example/","Perm":{},"Auth":{}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvID":"d","SrvURI":"https://x.example/","Perm":{},"Auth":{"Bootstrap":{"ServerURI":"https://b.example/","SecMode":"AAE="}}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{"a":{"SrvID":"d","SrvURI":"https://x.example/","Perm":{},"Auth":{"Bootstrap":{"ServerURI":"http://b.example/","SecMode":"AA=="}}}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0//","MOData":{"DevInfo":{}}}]"#,
    r#"[{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2/a/SrvID","MOData":{"SrvID":"d"}}]"#,
];

/// Seeds collected per target.
#[derive(Default)]
struct Seeds(Vec<(&'static str, Vec<u8>)>);

impl Seeds {
    fn add(&mut self, target: &'static str, bytes: Vec<u8>) {
        self.0.push((target, bytes));
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn cases(vectors: &Value, file: &str) -> Result<Vec<Value>, String> {
    vectors
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{file}: expected an array of cases"))
}

fn hex(text: &str) -> Option<Vec<u8>> {
    dm_codec::hex::decode(text)
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Every string in `value` that looks like an http(s) URI.
fn http_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                out.push(s.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| http_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| http_strings(v, out)),
        _ => {}
    }
}

fn package_seeds(conformance: &Path, seeds: &mut Seeds) -> Result<(), String> {
    let vectors = read_json(&conformance.join("vectors/packages.json"))?;
    let mut server_uris = Vec::new();
    for case in cases(&vectors, "packages.json")? {
        let target = match case["kind"].as_str() {
            Some("p1") => "package1",
            Some("p2") => {
                // A session answer: the Package#2 alone, then with a status round.
                if let Some(bytes) = case.get("input").map(json_bytes) {
                    let mut two = bytes.clone();
                    two.push(0xff);
                    two.extend_from_slice(br#"{"CMD":[["END"]]}"#);
                    seeds.add("client_session", bytes);
                    seeds.add("client_session", two);
                }
                "package2"
            }
            Some("p3") => "package3",
            Some("mos") => "mo_serialization",
            Some("alert") => "alert",
            _ => continue,
        };
        let input = if let Some(text) = case["input_text"].as_str() {
            Some(text.as_bytes().to_vec())
        } else if let Some(h) = case["input_hex"].as_str() {
            hex(h)
        } else if case.get("input").is_some() {
            Some(json_bytes(&case["input"]))
        } else {
            None
        };
        if target == "package1"
            && let Some(p1) = &input
        {
            // A session: Package#1, then Package#3 answers, split by 0xFF.
            let mut session = p1.clone();
            for p3 in [
                &br#"{"Status":[{"sc":200},{"sc":200}]}"#[..],
                br#"{"Status":[{"sc":404}]}"#,
            ] {
                session.push(0xff);
                session.extend_from_slice(p3);
            }
            seeds.add("server_session", session);
        }
        seeds.0.extend(input.map(|bytes| (target, bytes)));
        if !case["canonical"].is_null() {
            seeds.add(target, json_bytes(&case["canonical"]));
        }
        http_strings(&case["input"], &mut server_uris);
    }
    for uri in server_uris {
        seeds.add("server_uri", uri.into_bytes());
    }
    Ok(())
}

fn notification_seeds(conformance: &Path, seeds: &mut Seeds) -> Result<(), String> {
    let vectors = read_json(&conformance.join("vectors/notifications.json"))?;
    for case in cases(&vectors, "notifications.json")? {
        if let Some(bytes) = case["hex"].as_str().and_then(hex) {
            seeds.add("notification", bytes);
        }
        // The target also reads the JSON form.
        if case["decoded"].is_object() {
            seeds.add("notification", json_bytes(&case["decoded"]));
        }
    }
    Ok(())
}

fn client_uri_seeds(conformance: &Path, seeds: &mut Seeds) -> Result<(), String> {
    let vectors = read_json(&conformance.join("vectors/clienturi.json"))?;
    for case in cases(&vectors, "clienturi.json")? {
        for key in ["uri", "canonical"] {
            if let Some(uri) = case[key].as_str() {
                seeds.add("client_uri", uri.as_bytes().to_vec());
            }
        }
    }
    let resolve = conformance.join("vectors/resolve.json");
    if resolve.is_file() {
        let vectors = read_json(&resolve)?;
        for case in vectors["cases"].as_array().into_iter().flatten() {
            if let Some(uri) = case["uri"].as_str() {
                seeds.add("client_uri", uri.as_bytes().to_vec());
                seeds.add("tree", uri.as_bytes().to_vec());
            }
        }
        // The `tree` target reads input starting with `[` as MO
        // serialization written into its tree.
        for items in vectors["trees"]
            .as_object()
            .into_iter()
            .flat_map(|t| t.values())
        {
            seeds.add("tree", json_bytes(items));
        }
    }
    Ok(())
}

/// Every `*.xml` file under `dir`, recursively.
fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_dir() {
            xml_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn ddf_seeds(conformance: &Path, seeds: &mut Seeds) -> Result<(), String> {
    let dir = conformance.join("ddf");
    if !dir.is_dir() {
        return Err(format!("DDF corpus not found at {}", dir.display()));
    }
    let mut files = Vec::new();
    xml_files(&dir, &mut files)?;
    files.sort();
    for file in files {
        let bytes = fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        seeds.add("ddf", bytes);
    }
    Ok(())
}

/// Writes the seed corpora of `targets` into `fuzz/corpus/<target>/` (files
/// named after a hash of their content, so seeding twice changes nothing).
pub(crate) fn seed(paths: &Paths, targets: &[&'static str]) -> Result<(), String> {
    let conformance = &paths.conformance;
    let mut seeds = Seeds::default();
    package_seeds(conformance, &mut seeds)?;
    notification_seeds(conformance, &mut seeds)?;
    client_uri_seeds(conformance, &mut seeds)?;
    if targets.contains(&"ddf") {
        ddf_seeds(conformance, &mut seeds)?;
    }
    for uri in SERVER_URI_SEEDS {
        seeds.add("server_uri", uri.as_bytes().to_vec());
    }
    for value in ACCEPT_SEEDS {
        seeds.add("accept", value.as_bytes().to_vec());
    }
    for items in TREE_WRITE_SEEDS {
        seeds.add("tree", items.as_bytes().to_vec());
    }
    for file in FACTORY_FILE_SEEDS {
        seeds.add("factory_file", file.as_bytes().to_vec());
    }
    // API key texts (first byte even) and `POST /admin/keys` bodies (odd).
    let key = dm_server::ApiKey::generate()
        .map_err(|e| e.to_string())?
        .text();
    for text in [
        key.clone(),
        format!("{}{}", &key[..21], "A".repeat(43)),
        format!("{}_", &key[..20]),
        "dmk_aaaaaaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB".to_owned(),
        format!("DMK_{}", &key[4..]),
        "test-admin-token".to_owned(),
    ] {
        let mut seed = vec![0];
        seed.extend_from_slice(text.as_bytes());
        seeds.add("api_keys", seed);
    }
    for body in [
        r#"{"name":"ci pipeline","scope":"read"}"#,
        r#"{"name":"ops","scope":"operator"}"#,
        r#"{"name":"root","scope":"admin"}"#,
        r#"{"name":"","scope":"read"}"#,
        r#"{"name":"ab","scope":"admin"}"#,
        r#"{"name":"x","scope":"root","key":"dmk_"}"#,
        r#"{"name":"a","name":"b","scope":"read"}"#,
        r#"["ci","read"]"#,
    ] {
        let mut seed = vec![1];
        seed.extend_from_slice(body.as_bytes());
        seeds.add("api_keys", seed);
    }
    // dm-server's `Authorization` parsing and verification: the target
    // replaces `{nonce}` by a nonce it issued and `{response}` by the right
    // Digest response.
    let realm = dm_server::DEFAULT_REALM;
    let digest = |algorithm: &str, nonce: &str, response: &str| {
        format!(
            r#"Digest username="device-1", realm="{realm}", uri="/dm"{algorithm}, nonce="{nonce}", nc=00000001, cnonce="0a4f113b", qop=auth, response="{response}", opaque="x""#
        )
    };
    for header in [
        digest(", algorithm=SHA-256", "{nonce}", "{response}"),
        digest(", algorithm=md5", "{nonce}", "{response}"),
        digest("", "{nonce}", "{response}"),
        digest(", algorithm=SHA-256", "{nonce}", &"0".repeat(64)),
        digest(
            ", algorithm=SHA-256",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "{response}",
        ),
        digest(", algorithm=SHA-512-256", "{nonce}", "{response}"),
        digest(", userhash=true", "{nonce}", "{response}"),
        "Basic ZGV2aWNlLTE6c2VjcmV0".to_owned(),
        "basic   ZGV2aWNlLTE6d3Jvbmc=  ".to_owned(),
        "Basic bm8tY29sb24=".to_owned(),
        "Bearer abc".to_owned(),
        r#"Digest username="a\"b",,, realm=oma-dm ,nc=0000000G"#.to_owned(),
    ] {
        seeds.add("server_auth", header.into_bytes());
    }
    // The admin API's command body: every command array of the Package#2
    // vectors, and a few of our own.
    let mut commands: Vec<Value> = [
        r#"["GET","urn:oma:mo:oma-dm-devinfo:1.0//"]"#,
        r#"["HGET","https://repo.example/wlan"]"#,
        r#"["END"]"#,
        r#"["CONT","https://dm.example/dm/s/1"]"#,
        r#"["GET"]"#,
        r#"{"GET":1}"#,
    ]
    .iter()
    .filter_map(|text| serde_json::from_str(text).ok())
    .collect();
    for (_, bytes) in seeds.0.iter().filter(|(t, _)| *t == "package2") {
        if let Ok(package) = serde_json::from_slice::<Value>(bytes) {
            commands.extend(package["CMD"].as_array().into_iter().flatten().cloned());
        }
    }
    for command in commands {
        seeds.add(
            "admin_command",
            json_bytes(&serde_json::json!({ "command": command })),
        );
    }
    // Duplicate members, which the admin API refuses (at any depth).
    for body in [
        r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"],"command":["EXEC","urn:x:y//Reboot"]}"#,
        r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//"],"x":{"a":1,"a":2}}"#,
    ] {
        seeds.add("admin_command", body.as_bytes().to_vec());
    }
    // Bootstrap admin bodies: profiles and bootstrap devices.
    for body in [
        r#"{"name":"fleet-a","match":{"dev_id_pattern":"IMEI:35*"},"accounts":[{"server_id":"dm.example","server_uri":"https://dm.example/dm","name":"Example","perm":["urn:oma:mo:oma-dm-devinfo:1.0"],"credentials":{"notification_secret":true,"http_password":true,"client_certificate":true},"register":"local"}]}"#,
        r#"{"name":"f","match":{"identity":"factory-7"},"accounts":[{"server_id":"a","server_uri":"https://a/","credentials":{"client_certificate":true},"register":{"remote":"central"}},{"server_id":"b","server_uri":"http://b:8080/dm","credentials":{"http_password":true}}]}"#,
        r#"{"name":"x","match":{"dev_id":"IMEI:1"},"accounts":[]}"#,
        r#"{"name":"x","match":{"dev_id_pattern":"*a*b**"},"accounts":[{"server_id":"a","server_uri":"https://a/","credentials":{"http_password":true}}],"name":"y"}"#,
        r#"{"dev_id":"IMEI:1","identity":"cn","psk":{"identity":"p","key_hex":"000102030405060708090a0b0c0d0e0f"},"notification":{"address":"udp://192.0.2.1:9443","secret_hex":"00ff","data_hex":"01"}}"#,
        r#"{"dev_id":"IMEI:1","notification":{"data_hex":"01"}}"#,
    ] {
        seeds.add("bootstrap_admin", body.as_bytes().to_vec());
    }
    // Update admin bodies (0: artifact, 1: group) and Range headers (2,
    // then the artifact's size in 8 bytes).
    for body in [
        r#"{"kind":"firmware","name":"acme-fw","version":"2.0","url":"https://cdn.example/fw.bin","size":1048576,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","metadata":{"channel":"beta"}}"#,
        r#"{"kind":"software","name":"app","version":"1","url":"http://a/b","size":0,"sha256":"00","metadata":{"a b":"c"}}"#,
        r#"{"kind":"os","name":"","version":"1","url":"file:///x","size":-1,"sha256":"x"}"#,
    ] {
        let mut seed = vec![0];
        seed.extend_from_slice(body.as_bytes());
        seeds.add("update_admin", seed);
    }
    for (query, header) in [
        ("", None),
        (
            "kinds=command.finished,alert.received&dev_id=IMEI%3A1",
            None,
        ),
        ("since=42", Some("43")),
        ("kinds=nope", None),
        ("since=1&since=2", Some("x")),
    ] {
        let mut seed = vec![0];
        seed.extend_from_slice(query.as_bytes());
        if let Some(header) = header {
            seed.push(b'\n');
            seed.extend_from_slice(header.as_bytes());
        }
        seeds.add("events", seed);
    }
    for body in [
        r#"{"url":"https://hooks.example/dm","secret":"s3cret","kinds":["session.ended"]}"#,
        r#"{"url":"http://127.0.0.1:9/hook","secret":"s"}"#,
        r#"{"url":"ftp://x/","secret":""}"#,
    ] {
        let mut seed = vec![1];
        seed.extend_from_slice(body.as_bytes());
        seeds.add("events", seed);
    }
    for body in [
        r#"{"description":"first wave","filter":{"devices":["IMEI:1"],"tags":["canary","site:berlin"],"devinfo":{"Mod":"X1","FwV":"1.0"},"mos":["urn:oma:mo:oma-fumo:1.0"],"last_session_after_ms":1,"last_session_before_ms":2}}"#,
        r#"{"filter":{"tags":["two words"]}}"#,
        r#"{"filter":{"colour":"red"},"description":"x","description":"y"}"#,
        "{}",
    ] {
        let mut seed = vec![1];
        seed.extend_from_slice(body.as_bytes());
        seeds.add("update_admin", seed);
    }
    for (size, header) in [
        (10u64, "bytes=0-4"),
        (10, "bytes=5-"),
        (10, "bytes=-3"),
        (0, "bytes=-1"),
        (10, "bytes=0-1,3-4"),
        (u64::MAX, "bytes=18446744073709551614-"),
    ] {
        let mut seed = vec![2];
        seed.extend_from_slice(&size.to_be_bytes());
        seed.extend_from_slice(header.as_bytes());
        seeds.add("update_admin", seed);
    }
    for body in [
        r#"{"name":"x1 to 2.0","artifact":"fw-2.0","group":"x1","stages":[{"size":{"percent":1},"success_threshold_percent":95,"advance":"approval","error_threshold_percent":5},{"size":{"count":100}},{"size":{"group":"canary"}}],"pacing":{"max_in_flight":50,"notifications_per_second":10},"window":{"start_minute":120,"end_minute":300},"retry":{"max_attempts":3,"initial_backoff_ms":1000,"max_backoff_ms":60000},"device_timeout_ms":3600000}"#,
        r#"{"artifact":"a","group":"g","stages":[]}"#,
        r#"{"artifact":"a","group":"g","stages":[{"size":{"percent":101}}],"window":{"start_minute":1440,"end_minute":0}}"#,
    ] {
        let mut seed = vec![3];
        seed.extend_from_slice(body.as_bytes());
        seeds.add("update_admin", seed);
    }
    for alert in [
        r#"{"AlertType":"org.openmobilealliance.dm.firmwareupdate.downloadandupdate","SourceURI":"urn:oma:mo:oma-fumo:1.0/fw/DownloadAndUpdate","DataType":"int","Data":{"DM1x":"200"}}"#,
        r#"{"AlertType":"org.openmobilealliance.dm.firmwareupdate.update","Data":{"ResultCode":70000}}"#,
        r#"{"AlertType":"urn:oma:at:scomo:1.0:OperationComplete","TargetURI":"urn:oma:mo:oma-scomo:1.0/sw/Inventory/Deployed/app","DataType":"text/xml","Data":{"DM1x":"<ResultCode>1200</ResultCode><Identifier>a&amp;b</Identifier>"}}"#,
        r#"{"AlertType":"org.openmobilealliance.dm.firmwareupdate.devicerequest","SourceURI":"urn:oma:mo:oma-fumo:1.0/fw/"}"#,
    ] {
        let mut seed = vec![4];
        seed.extend_from_slice(alert.as_bytes());
        seeds.add("update_admin", seed);
    }
    // `dm serve` configuration files.
    for config in [
        r#"{"listen":"0.0.0.0:8443","public_uri":"https://dm.example.com:8443","server_id":"dm.example.com","realm":"oma-dm","admin_token":"change me","tls":{"cert":"server.pem","key":"server.key","client_ca":"devices-ca.pem"},"store":"sqlite:store.sqlite","limits":{"body_bytes":4194304,"repository_bytes":16777216,"header_timeout_secs":10,"body_timeout_secs":30,"max_sessions":10000,"max_connections":16384,"session_idle_secs":300,"commands_per_package":64,"packages_per_session":64},"dev_notification":{"secret_hex":"00ff","data_hex":"0102"},"devices":[{"dev_id":"IMEI:493005100592800","username":"device-1","password":"secret","certificate_sha256":null,"notification":{"address":"udp://192.0.2.10:9443","secret_hex":"6e6f7469","data_hex":"64617461"}}]}"#,
        r#"{"server_id":"dm.example","devices":[{"dev_id":"IMEI:1","username":"d1","password":"pw"},{"dev_id":"IMEI:2","certificate_sha256":"00000000000000000000000000000000000000000000000000000000000000ff"}]}"#,
        r#"{"tls":{"backend":"openssl","cert":"rsa.pem","key":"rsa.key","ecdsa_cert":"ec.pem","ecdsa_key":"ec.key","client_ca":"ca.pem","client_certificate_required":false,"psk":true},"devices":[{"dev_id":"IMEI:3","psk":{"identity":"device-3@dm.example","key_hex":"00112233445566778899aabbccddeeff"}}]}"#,
        r#"{"limits":{"session_idle_secs":7,"max_sessions":3,"shutdown_grace_secs":1,"header_bytes":1024}}"#,
        r#"{"limits":{"body_budget_bytes":4194304,"body_budget_wait_ms":250,"requests_per_device":2,"repository_bytes":1048576}}"#,
        r#"{"public_uri":"http://[::1]:8080/","realm":"a b","store":"postgres://dm:secret@db.example/dm"}"#,
        "{}",
    ] {
        seeds.add("server_config", config.as_bytes().to_vec());
    }
    // PSK credentials of a registration, and PSK identities as received.
    for psk in [
        r#"{"identity":"device-1","key_hex":"000102030405060708090a0b0c0d0e0f"}"#,
        r#"{"identity":"device-1@dm.example","key_hex":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}"#,
        r#"{"identity":"","key_hex":"000102030405060708090a0b0c0d0e0f"}"#,
        r#"{"identity":"ü-device","key_hex":" 000102030405060708090A0B0C0D0E0F "}"#,
        r#"{"identity":"d","key_hex":"0001"}"#,
        r#"{"identity":"d","key_hex":"zz0102030405060708090a0b0c0d0e0f"}"#,
        r#"{"identity":"tab	here","key_hex":"000102030405060708090a0b0c0d0e0f"}"#,
        "device-1@dm.example",
    ] {
        seeds.add("psk_credentials", psk.as_bytes().to_vec());
    }
    seeds.add("psk_credentials", b"\xff\xfe".to_vec());
    seeds.add("psk_credentials", vec![b'x'; 129]);
    // `WWW-Authenticate` values, one per line.
    for challenges in [
        "Digest realm=\"oma-dm\", qop=\"auth\", algorithm=SHA-256, nonce=\"n1\"\nDigest realm=\"oma-dm\", qop=\"auth\", algorithm=MD5, nonce=\"n1\"\nBasic realm=\"oma-dm\", charset=\"UTF-8\"",
        r#"Digest realm="dm, main", qop="auth", algorithm=MD5, nonce="n1", Digest realm="dm", algorithm=SHA-256, qop="auth,auth-int", nonce="n2", Basic realm="dm""#,
        r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        r#"Digest realm="r", qop="auth-int", nonce="x", stale=true"#,
        r#"Digest realm="r", nonce="x", algorithm=SHA-256-sess, userhash=true"#,
        r#"Basic realm="dm""#,
        r#"Bearer realm="x", Negotiate"#,
    ] {
        seeds.add("client_auth", challenges.as_bytes().to_vec());
    }
    // A state file as a client writes it.
    if targets.contains(&"client_state") {
        let devinfo = dm_tree::DevInfo::new(
            dm_types::DevId::new("IMEI:493005100592800").map_err(|e| e.to_string())?,
            "Acme",
            "X1",
        );
        let account = dm_tree::DmAcc::new(
            dm_types::ServerId::new("dm.example").map_err(|e| e.to_string())?,
            dm_types::ServerUri::new("http://127.0.0.1:8080/dm").map_err(|e| e.to_string())?,
        );
        let client = dm_client::DmClient::builder(devinfo)
            .account(dm_client::Account::new(account).allow_every_moid(true))
            .build()
            .map_err(|e| format!("a client for the state file seed: {e}"))?;
        seeds.add("client_state", client.state_file_bytes());
    }
    // The server end to end: the sessions of `server_session`, and one that
    // answers each Package#2 the target's server sends (CONT and two
    // commands, then two commands, then END).
    let sessions: Vec<Vec<u8>> = seeds
        .0
        .iter()
        .filter(|(t, _)| *t == "server_session")
        .map(|(_, bytes)| bytes.clone())
        .collect();
    for session in sessions {
        seeds.add("server_http", session);
    }
    seeds.add(
        "server_http",
        [
            &br#"{"MOS":[{"MOID":"urn:oma:mo:oma-dm-devinfo:1.0","MIID":["devinfo"]}],"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#[..],
            br#"{"Status":[{"sc":200},{"sc":200,"Data":[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/","MOData":{"devinfo":{"DevID":"IMEI:493005100592800","Man":"Acme","Mod":"X1","DmV":"2.0","Lang":"en"}}}]},{"sc":200}]}"#,
            br#"{"Status":[{"sc":202},{"sc":404}]}"#,
            br#"{"Status":[]}"#,
        ]
        .join(&0xff),
    );
    let mut summary = String::new();
    for &target in targets {
        let dir = paths.corpus(target);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut written = 0;
        for (_, bytes) in seeds.0.iter().filter(|(t, _)| *t == target) {
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            let file = dir.join(format!("seed-{:016x}", hasher.finish()));
            fs::write(&file, bytes).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            written += 1;
        }
        let _ = write!(summary, " {target}:{written}");
    }
    println!("seeded corpora (target:seeds):{summary}");
    Ok(())
}
