//! Every case of `conformance/vectors/packages.json`: decode, check validity, and
//! compare the canonical re-encoding with the expected JSON.

mod common;

use dm_codec::Limits;
use serde_json::Value;

/// Decodes `bytes` as `kind` and re-encodes it.
fn decode_and_encode(kind: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let limits = Limits::default();
    let result = match kind {
        "p1" => dm_codec::decode_package1(bytes, &limits).map(|p| dm_codec::encode_package1(&p)),
        "p2" => dm_codec::decode_package2(bytes, &limits).map(|p| dm_codec::encode_package2(&p)),
        "p3" => dm_codec::decode_package3(bytes, &limits).map(|p| dm_codec::encode_package3(&p)),
        "mos" => dm_codec::decode_mo_serialization(bytes, &limits)
            .map(|p| dm_codec::encode_mo_serialization(&p)),
        "alert" => dm_codec::decode_alert(bytes, &limits).map(|a| dm_codec::encode_alert(&a)),
        other => panic!("unknown kind {other}"),
    };
    result.map_err(|e| e.to_string())
}

fn input_bytes(case: &Value) -> Vec<u8> {
    if let Some(text) = case["input_text"].as_str() {
        text.as_bytes().to_vec()
    } else if let Some(hex) = case["input_hex"].as_str() {
        common::hex(hex)
    } else {
        serde_json::to_vec(&case["input"]).expect("vector input serializes")
    }
}

#[test]
fn every_package_vector() {
    let vectors = common::vectors("packages.json");
    let cases = vectors.as_array().expect("packages.json is an array");
    common::run_cases("packages.json", cases, |case| {
        let kind = case["kind"].as_str().ok_or("no kind")?;
        let bytes = input_bytes(case);
        let outcome = decode_and_encode(kind, &bytes);
        match (&case["valid"], outcome) {
            (Value::Bool(true), Ok(encoded)) => {
                let expected = if case["canonical"].is_null() {
                    &case["input"]
                } else {
                    &case["canonical"]
                };
                let got: Value = serde_json::from_slice(&encoded).map_err(|e| e.to_string())?;
                if &got != expected {
                    return Err(format!("re-encoded as {got}, expected {expected}"));
                }
                // The canonical form is a fixed point.
                let again = decode_and_encode(kind, &encoded)?;
                if again != encoded {
                    return Err("re-encoding is not a fixed point".into());
                }
                Ok(())
            }
            (Value::Bool(true), Err(e)) => Err(format!("rejected: {e}")),
            (Value::Bool(false), Ok(encoded)) => {
                Err(format!("accepted as {}", String::from_utf8_lossy(&encoded)))
            }
            (Value::Bool(false), Err(_)) | (Value::Null, _) => Ok(()),
            (other, _) => Err(format!("bad `valid` field {other}")),
        }
    });
}
