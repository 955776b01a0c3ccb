//! ClientURI resolution and MO serialization writes against a fixed tree: the
//! "example" tree of `conformance/vectors/resolve.json` (section 9's worked
//! example plus a DevInfo instance), built once.
//!
//! - Input starting with `[`: decoded as an MO serialization array and written
//!   into a copy of the tree (the example items followed by the input's, via
//!   `MoTree::from_mo_serialization`). Must never panic; when it succeeds,
//!   every node of the result (up to a bound) must re-resolve from its
//!   absolute ClientURI to exactly itself, and each instance's node count
//!   must match its MO data.
//! - Any other input: UTF-8 text parsed as a ClientURI and resolved. Must
//!   never panic; every node returned must be listed once, have an absolute
//!   ClientURI that re-parses to itself and resolves to exactly that node, and
//!   `resolve_str` must agree with `resolve`.
#![no_main]

use std::sync::LazyLock;

use dm_codec::Limits;
use dm_tree::{MoInstance, MoTree, NodeId, NodeRef};
use dm_types::{ClientUri, MoItem};
use libfuzzer_sys::fuzz_target;

/// The "example" tree of `conformance/vectors/resolve.json`, as MO serialization.
const EXAMPLE_TREE: &str = r#"[
 {"ClientURI":"urn:oma:mo:moid:1.0/left/","MOData":{"moroot1":{"ID":"GPS","Setting":"0xA1",
  "Data":{"1":{"Date":"12.1","Value":"10"},"2":{"Date":"12.2","Value":"11"}}}}},
 {"ClientURI":"urn:oma:mo:moid:1.0/right/","MOData":{"moroot2":{"ID":"Temperature","Setting":"0xB2",
  "Data":{"1":{"Date":"12.1","Value":"20"},"2":{"Date":"12.3","Value":"21"}}}}},
 {"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/","MOData":{"DevInfo":{
  "DevID":"IMEI:493005100592800","Man":"Acme","Mod":"X1"}}}
]"#;

/// Most nodes per tree whose re-resolution is checked (keeps runs fast).
const MAX_CHECKED_NODES: usize = 512;

static ITEMS: LazyLock<Vec<MoItem>> = LazyLock::new(|| {
    dm_codec::decode_mo_serialization(EXAMPLE_TREE.as_bytes(), &Limits::default())
        .expect("the example tree decodes")
});

static TREE: LazyLock<MoTree> =
    LazyLock::new(|| MoTree::from_mo_serialization(&ITEMS).expect("the example tree builds"));

fn same(a: &NodeRef<'_>, b: &NodeRef<'_>) -> bool {
    std::ptr::eq(a.instance, b.instance) && a.id == b.id
}

/// The node's absolute ClientURI re-parses to itself and designates exactly
/// that node.
fn check_round_trip(tree: &MoTree, node: &NodeRef<'_>, context: &str) {
    let uri = node.client_uri();
    assert!(
        uri.is_absolute(),
        "{context}: node ClientURI {uri} is not absolute"
    );
    let reparsed = ClientUri::parse(uri.as_str())
        .unwrap_or_else(|e| panic!("{context}: node ClientURI {uri} does not parse: {e}"));
    assert_eq!(reparsed, uri, "{context}: node ClientURI is not canonical");
    match tree.resolve(&reparsed) {
        Ok(found) => assert!(
            found.len() == 1 && same(&found[0], node),
            "{context}: {uri} resolves to {:?}, not to its node {:?}",
            found.iter().map(NodeRef::client_uri).collect::<Vec<_>>(),
            node.id
        ),
        Err(e) => panic!("{context}: node ClientURI {uri} does not resolve: {e}"),
    }
}

fn resolve_text(tree: &MoTree, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (status, listed) = tree.resolve_str(text);
    let Ok(uri) = ClientUri::parse(text) else {
        assert_eq!(status.as_u16(), 400, "unparsable {text:?} gives {status}");
        return;
    };
    let nodes = match tree.resolve(&uri) {
        Ok(nodes) => nodes,
        Err(e) => {
            assert_eq!(
                status,
                e.status(),
                "resolve_str and resolve disagree on {text:?}"
            );
            assert!(listed.is_empty());
            return;
        }
    };
    assert!(!nodes.is_empty(), "{text:?}: success with no node");
    assert_eq!(
        status.as_u16(),
        200,
        "resolve_str and resolve disagree on {text:?}"
    );
    let mut uris: Vec<ClientUri> = nodes.iter().map(NodeRef::client_uri).collect();
    uris.sort();
    assert_eq!(listed, uris, "resolve_str lists other nodes for {text:?}");
    assert!(
        uris.windows(2).all(|w| w[0] != w[1]),
        "{text:?}: a node is listed twice"
    );
    for node in &nodes {
        check_round_trip(tree, node, text);
    }
}

/// Every node of `instance` reachable from its root, depth first, at most
/// `budget` of them.
fn nodes_of(instance: &MoInstance, budget: usize) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![NodeId::ROOT];
    while let Some(id) = stack.pop() {
        if out.len() == budget {
            break;
        }
        out.push(id);
        stack.extend(instance.children(id).iter().copied());
    }
    out
}

fn write_items(data: &[u8]) {
    let Ok(extra) = dm_codec::decode_mo_serialization(data, &Limits::default()) else {
        return;
    };
    let mut items = ITEMS.clone();
    items.extend(extra);
    let Ok(tree) = MoTree::from_mo_serialization(&items) else {
        return;
    };
    let mut budget = MAX_CHECKED_NODES;
    for instance in tree.instances() {
        let data = instance
            .to_mo_data(NodeId::ROOT)
            .expect("every instance has a root");
        assert_eq!(
            instance.len(),
            data.node().count(),
            "{}: node count differs from the MO data's",
            instance.client_uri(NodeId::ROOT)
        );
        let ids = nodes_of(instance, budget);
        budget -= ids.len();
        for id in ids {
            check_round_trip(&tree, &NodeRef { instance, id }, "written tree");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'[') {
        write_items(data);
    } else {
        resolve_text(&TREE, data);
    }
});
