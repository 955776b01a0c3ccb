//! Tree figures, each with its ratio to a baseline measured in the same run:
//! - exact-path resolution (`urn:x:y/inst/a12/b7/c3/leaf`) on a 10^6-node
//!   instance vs the same ClientURI on a ~10^3-node one: ratio
//!   time(small) / time(large), target >= 0.5x (at most 2x slower);
//! - wildcard resolution (`urn:x:y/inst/*/*/leaf`, 1,024 matches) in ns per
//!   matched node vs a hand-written walk through the public accessors that
//!   collects the same nodes (target >= 0.5x, our own choice: resolution
//!   adds at most as much again as the bare walk);
//! - memory per node of a 10^6-node instance, from the process's resident
//!   size before and after building it, names and values excluded (target
//!   <= 96 bytes), vs the same tree as a `serde_json::Value`;
//! - MO serialization of a 10^4-node instance (straight from the arena) vs
//!   `serde_json::to_vec` of the equivalent `serde_json::Value` (>= 0.7x).
//!
//! Trees are built once, outside the timed loops; ClientURIs are parsed
//! outside the loops too, for ours and the baseline alike.
#![allow(missing_docs, clippy::cast_precision_loss)]

#[path = "../../dm-codec/benches/support/mod.rs"]
mod support;
use support as ratio;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dm_tree::{MoInstance, MoTree, NodeId, NodeRef};
use dm_types::{Children, ClientUri, LeafValue, Miid, MoData, MoItem, MoNode, Moid, NodeName};
use serde_json::Value;

const MOID: &str = "urn:x:y";
const MIID: &str = "inst";

fn name(text: &str) -> NodeName {
    NodeName::new(text).expect("bench names are valid node names")
}

fn interior(children: Vec<(NodeName, MoNode)>) -> MoNode {
    MoNode::Interior(Children::new(children).expect("bench names are unique"))
}

/// `Root/a<i>/b<j>/c<k>/<leaf>` with `a` levels, `b` per `a`, `c` per `b`,
/// and below each `c` the leaves `leaves` (text, integer and boolean values).
fn levels(a: usize, b: usize, c: usize, leaves: &[&str]) -> MoData {
    let mut serial = 0i64;
    let mut leaf = |which: &str| {
        serial += 1;
        match which {
            "Value" => LeafValue::Int(serial),
            "Enabled" => LeafValue::Bool(serial % 2 == 0),
            "Unit" => LeafValue::Text("celsius".to_owned()),
            _ => LeafValue::Text(format!("v{serial}")),
        }
    };
    let root = (0..a)
        .map(|i| {
            let bs = (0..b)
                .map(|j| {
                    let cs = (0..c)
                        .map(|k| {
                            let ls = leaves
                                .iter()
                                .map(|l| (name(l), MoNode::Leaf(leaf(l))))
                                .collect();
                            (name(&format!("c{k}")), interior(ls))
                        })
                        .collect();
                    (name(&format!("b{j}")), interior(cs))
                })
                .collect();
            (name(&format!("a{i}")), interior(bs))
        })
        .collect();
    MoData::new(name("Root"), interior(root))
}

/// `Root/p<i>/q<j>/{leaf, x, y}`: `n * n` nodes named `leaf` two levels down.
fn grid(n: usize) -> MoData {
    let root = (0..n)
        .map(|i| {
            let qs = (0..n)
                .map(|j| {
                    let ls = ["leaf", "x", "y"]
                        .iter()
                        .map(|l| (name(l), MoNode::Leaf(LeafValue::Int(1))))
                        .collect();
                    (name(&format!("q{j}")), interior(ls))
                })
                .collect();
            (name(&format!("p{i}")), interior(qs))
        })
        .collect();
    MoData::new(name("Root"), interior(root))
}

fn instance(data: &MoData) -> MoInstance {
    MoInstance::new(
        Moid::new(MOID).expect("valid MOID"),
        Miid::new(MIID).expect("valid MIID"),
        data,
    )
}

fn tree_of(instance: MoInstance) -> MoTree {
    let mut tree = MoTree::new();
    tree.insert(instance).expect("a new tree has no instances");
    tree
}

fn uri(text: &str) -> ClientUri {
    ClientUri::parse(text).expect("bench ClientURIs are valid")
}

/// The MO data as JSON, the way section 3.4 maps it.
fn json_node(node: &MoNode) -> Value {
    match node {
        MoNode::Interior(children) => Value::Object(
            children
                .iter()
                .map(|(n, c)| (n.as_str().to_owned(), json_node(c)))
                .collect(),
        ),
        MoNode::Leaf(LeafValue::Int(i)) => Value::from(*i),
        MoNode::Leaf(LeafValue::Bool(b)) => Value::from(*b),
        MoNode::Leaf(LeafValue::Null) => Value::Null,
        MoNode::Leaf(LeafValue::Float(f)) => Value::from(f.get()),
        MoNode::Leaf(v) => Value::from(v.to_text().into_owned()),
    }
}

fn json_data(data: &MoData) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(data.name().as_str().to_owned(), json_node(data.node()));
    Value::Object(map)
}

/// Bytes of names and text values: the payload, not overhead.
fn payload_bytes(name: &NodeName, node: &MoNode) -> usize {
    name.as_str().len()
        + match node {
            MoNode::Interior(children) => children.iter().map(|(n, c)| payload_bytes(n, c)).sum(),
            MoNode::Leaf(LeafValue::Text(s)) => s.len(),
            MoNode::Leaf(_) => 0,
        }
}

/// Exact-path resolution on 10^6 vs ~10^3 nodes, then the memory figure,
/// measured while the large instance is built (so nothing freed by another
/// benchmark gets reused).
fn exact_path_and_memory(c: &mut Criterion) {
    let large_data = levels(100, 100, 20, &["leaf", "Date", "Value", "Unit"]);
    let nodes = large_data.node().count();

    let before = ratio::rss_bytes();
    let large_instance = instance(&large_data);
    let after_ours = ratio::rss_bytes();
    let json = json_data(&large_data);
    let after_json = ratio::rss_bytes();
    let payload = payload_bytes(large_data.name(), large_data.node());
    drop(large_data);
    if let (Some(before), Some(after_ours), Some(after_json)) = (before, after_ours, after_json) {
        let per_node = |delta: u64| (delta as f64 - payload as f64) / nodes as f64;
        let ours = per_node(after_ours.saturating_sub(before));
        let baseline = per_node(after_json.saturating_sub(after_ours));
        println!(
            "FIGURE memory_per_node: ours {ours:.1} B/node ({} target <= 96 B/node), baseline serde_json::Value {baseline:.1} B/node; ratio {:.2}x ({nodes} nodes, {payload} bytes of names and values excluded, resident size from /proc/self/status)",
            ratio::verdict(ours <= 96.0),
            baseline / ours
        );
    } else {
        println!("FIGURE memory_per_node: unavailable (no /proc/self/status)");
    }
    drop(json);
    assert_eq!(large_instance.len(), nodes);

    let large = tree_of(large_instance);
    let small_data = levels(13, 8, 4, &["leaf"]);
    let small_nodes = small_data.node().count();
    let small = tree_of(instance(&small_data));
    let target = uri("urn:x:y/inst/a12/b7/c3/leaf");
    for tree in [&large, &small] {
        let found = tree.resolve(&target).expect("the leaf exists");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].client_uri(), target);
    }
    let Some((large_time, small_time)) = ratio::measure_pair(
        c,
        "resolve_exact_path",
        ("1e6_nodes", "1e3_nodes"),
        None,
        || {
            black_box(large.resolve(black_box(&target)).ok());
        },
        || {
            black_box(small.resolve(black_box(&target)).ok());
        },
    ) else {
        return;
    };
    let ratio = small_time.as_secs_f64() / large_time.as_secs_f64();
    println!(
        "FIGURE resolve_exact_path: {nodes} nodes {large_time:?}, {small_nodes} nodes {small_time:?}; ratio small/large {ratio:.2}x ({} target >= 0.5x)",
        ratio::verdict(ratio >= 0.5)
    );
}

/// `*/*/leaf` over 32 x 32 interior nodes: cost per matched node.
fn wildcard(c: &mut Criterion) {
    let tree = tree_of(instance(&grid(32)));
    let pattern = uri("urn:x:y/inst/*/*/leaf");
    let matched = tree.resolve(&pattern).map_or(0, |found| found.len());
    assert_eq!(matched, 32 * 32);
    let inst = tree.instance(MOID, MIID).expect("the instance exists");
    // The floor: visiting the same nodes by hand and collecting them.
    let walk = || {
        let mut found = Vec::new();
        for &p in inst.children(NodeId::ROOT) {
            for &q in inst.children(p) {
                if let Some(id) = inst.child(q, "leaf") {
                    found.push(NodeRef { instance: inst, id });
                }
            }
        }
        found
    };
    assert_eq!(walk().len(), matched);
    ratio::compare_per_item(
        c,
        "resolve_wildcard_per_matched_node",
        matched,
        "matched node",
        0.5,
        || {
            black_box(tree.resolve(black_box(&pattern)).ok());
        },
        || {
            black_box(walk());
        },
    );
}

/// A 10^4-node instance to MO serialization bytes vs `serde_json::to_vec`.
fn serialize(c: &mut Criterion) {
    let data = levels(20, 83, 1, &["Date", "Value", "Unit", "Enabled"]);
    // `levels` puts one `c0` under each `b`; count what was built.
    let nodes = data.node().count();
    let inst = instance(&data);
    let client_uri = inst.client_uri(NodeId::ROOT);
    // Straight from the node arena (`MoInstance::encode_mo_serialization`).
    let ours = || inst.encode_mo_serialization(NodeId::ROOT);
    let json = Value::Array(vec![serde_json::json!({
        "ClientURI": client_uri.as_str(),
        "CV": inst.cache_validator().as_str(),
        "MOData": json_data(&data),
    })]);
    let bytes = ours();
    let json_bytes = serde_json::to_vec(&json).expect("a Value serializes");
    assert_eq!(
        serde_json::from_slice::<Value>(&bytes).expect("our output is JSON"),
        json,
        "both sides encode the same document"
    );
    assert_eq!(bytes.len(), json_bytes.len());
    println!("serialize_instance: {nodes} nodes, {} bytes", bytes.len());
    ratio::compare(
        c,
        "serialize_instance_1e4_nodes",
        Some(bytes.len()),
        0.7,
        || {
            black_box(ours());
        },
        || {
            black_box(serde_json::to_vec(black_box(&json)).ok());
        },
    );
    // The other route, through an intermediate `MoData` (what reads on behalf
    // of a server build): building it vs encoding it.
    let prebuilt = [MoItem {
        ddf: None,
        client_uri: client_uri.clone(),
        cache_validator: None,
        data: inst.to_mo_data(NodeId::ROOT).expect("the root exists"),
    }];
    if let Some((build, encode)) = ratio::measure_pair(
        c,
        "serialize_instance_1e4_nodes_parts",
        ("to_mo_data", "encode_prebuilt"),
        None,
        || {
            black_box(inst.to_mo_data(NodeId::ROOT));
        },
        || {
            black_box(dm_codec::encode_mo_serialization(black_box(&prebuilt)));
        },
    ) {
        println!(
            "DETAIL serialize_instance_1e4_nodes via MoData: to_mo_data {build:?}, encode_mo_serialization of prebuilt MO data {encode:?}"
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(20);
    targets = exact_path_and_memory, wildcard, serialize
}
criterion_main!(benches);
