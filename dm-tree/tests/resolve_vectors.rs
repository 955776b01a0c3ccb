//! Every case of `conformance/vectors/resolve.json`: resolve the ClientURI against
//! the named tree and compare the status and the sorted canonical node list.

use std::path::PathBuf;

use dm_tree::MoTree;
use serde_json::Value;

fn vectors() -> Value {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/vectors/resolve.json"
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "conformance data not found at {} ({e}): run the tests from a clone of the repository",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("resolve.json is JSON")
}

/// What resolving `uri` gives: the status and the sorted absolute ClientURIs.
fn resolve(tree: &MoTree, uri: &str) -> (u16, Vec<String>) {
    let (status, uris) = tree.resolve_str(uri);
    (
        status.as_u16(),
        uris.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn every_resolve_vector() {
    let vectors = vectors();
    let mut trees = std::collections::BTreeMap::new();
    for (name, items) in vectors["trees"].as_object().expect("trees") {
        let bytes = serde_json::to_vec(items).expect("serializes");
        let items = dm_codec::decode_mo_serialization(&bytes, &dm_codec::Limits::default())
            .unwrap_or_else(|e| panic!("tree {name}: {e}"));
        let tree =
            MoTree::from_mo_serialization(&items).unwrap_or_else(|e| panic!("tree {name}: {e}"));
        trees.insert(name.clone(), tree);
    }
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let tree = &trees[case["tree"].as_str().expect("tree name")];
        let got = resolve(tree, case["uri"].as_str().expect("uri"));
        let expected: (u16, Vec<String>) = (
            u16::try_from(case["sc"].as_u64().expect("sc")).expect("sc fits"),
            case["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n.as_str().expect("node uri").to_owned())
                .collect(),
        );
        if got != expected {
            failures.push(format!("  {name}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "resolve.json: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
