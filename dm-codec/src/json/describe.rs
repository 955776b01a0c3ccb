//! The JSON description of a parsed ClientURI, for tools and conformance
//! tests (the `dm uri parse` output).

use dm_types::{ClientUri, Instance, Segment};
use serde_json::{Value, json};

/// Describes a parsed ClientURI as JSON:
/// `{"moid", "instance": {"kind", "value"?}, "path": [{"kind", "value"?}],
/// "nv": [{"xname", "path", "value"}], "cv", "canonical"}` with kinds
/// `miid`/`xname`/`sole`/`all` (instance) and `name`/`xname`/`all` (path);
/// values are decoded text, x-names their letter.
///
/// ```
/// use dm_codec::client_uri_to_json;
/// use dm_types::ClientUri;
///
/// let uri = ClientUri::parse("urn:oma:mo:moid:1.0/*/Setting")?;
/// let json = client_uri_to_json(&uri);
/// assert_eq!(json["instance"]["kind"], "all");
/// assert_eq!(json["path"][0]["value"], "Setting");
/// assert_eq!(json["cv"], serde_json::Value::Null);
/// # Ok::<(), dm_types::Error>(())
/// ```
pub fn client_uri_to_json(uri: &ClientUri) -> Value {
    let instance = match uri.instance() {
        Instance::Miid(miid) => json!({"kind": "miid", "value": miid}),
        Instance::XName(x) => json!({"kind": "xname", "value": x.letter().to_string()}),
        Instance::Sole => json!({"kind": "sole"}),
        _ => json!({"kind": "all"}),
    };
    let path: Vec<Value> = uri
        .path()
        .map(|segment| match segment {
            Segment::Name(name) => json!({"kind": "name", "value": name}),
            Segment::XName(x) => json!({"kind": "xname", "value": x.letter().to_string()}),
            _ => json!({"kind": "all"}),
        })
        .collect();
    let nv: Vec<Value> = uri
        .conditions()
        .map(|c| {
            json!({
                "xname": c.xname().letter().to_string(),
                "path": c.path().collect::<Vec<_>>(),
                "value": c.value(),
            })
        })
        .collect();
    json!({
        "moid": uri.moid(),
        "instance": instance,
        "path": path,
        "nv": nv,
        "cv": uri.cache_validator(),
        "canonical": uri.as_str(),
    })
}
