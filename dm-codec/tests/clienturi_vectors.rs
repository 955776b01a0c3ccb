//! Every case of `conformance/vectors/clienturi.json` through the library.

mod common;

use dm_types::ClientUri;
use serde_json::Value;

#[test]
fn every_clienturi_vector() {
    let vectors = common::vectors("clienturi.json");
    let cases = vectors.as_array().expect("clienturi.json is an array");
    common::run_cases("clienturi.json", cases, |case| {
        let uri = case["uri"].as_str().ok_or("no uri")?;
        match (case["valid"].as_bool(), ClientUri::parse(uri)) {
            (Some(true), Ok(parsed)) => {
                let mut got = dm_codec::client_uri_to_json(&parsed);
                let canonical = got
                    .as_object_mut()
                    .and_then(|o| o.remove("canonical"))
                    .unwrap_or(Value::Null);
                if got != case["parsed"] {
                    return Err(format!("parsed as {got}, expected {}", case["parsed"]));
                }
                let expected = case["canonical"].as_str().unwrap_or(uri);
                if canonical != expected {
                    return Err(format!("canonical {canonical}, expected {expected}"));
                }
                let reparsed = ClientUri::parse(expected).map_err(|e| e.to_string())?;
                if reparsed.as_str() != expected {
                    return Err("canonical form is not a fixed point".into());
                }
                Ok(())
            }
            (Some(true), Err(e)) => Err(format!("rejected: {e}")),
            (Some(false), Ok(parsed)) => Err(format!("accepted as {parsed}")),
            (Some(false), Err(_)) => Ok(()),
            (None, _) => Err("bad `valid` field".into()),
        }
    });
}
