//! Model-based property tests of `dm-tree`.
//!
//! 1. ClientURI resolution: a naive recursive resolver written here straight
//!    from docs/protocol.md section 9 versus [`MoTree::resolve`] on random trees
//!    and random ClientURIs (MIID / empty / `*` / x-name instance parts,
//!    paths of names, `*` and x-names, `nv` conditions). Small name and value
//!    alphabets make collisions and matches frequent.
//! 2. Random `write`/`delete` sequences on one [`MoInstance`] versus a plain
//!    nested-map model, checking after every step the MO data, the parent
//!    chains, the node count (no orphans, no leaks through the free list)
//!    and `lookup` of present and removed paths.
//! 3. MO serialization round trip: `from_mo_serialization(decode(encode(items)))`
//!    gives back every instance's MO data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use dm_tree::{Error, MoInstance, MoTree, NodeId};
use dm_types::{
    Children, ClientUri, FiniteF64, LeafValue, Miid, MoData, MoItem, MoNode, Moid, NodeName,
};
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

// ---------------------------------------------------------------------------
// The model's own data: a nested map, independent of the crate under test.

/// A leaf value from a small set, so that `nv` conditions often match.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Text(&'static str),
    Int(i64),
    Bool(bool),
    Float(f64),
    Null,
}

impl Val {
    fn to_leaf(&self) -> LeafValue {
        match *self {
            Val::Text(s) => LeafValue::Text(s.to_owned()),
            Val::Int(i) => LeafValue::Int(i),
            Val::Bool(b) => LeafValue::Bool(b),
            Val::Float(f) => LeafValue::Float(FiniteF64::new(f).expect("test floats are finite")),
            Val::Null => LeafValue::Null,
        }
    }

    /// The value as section 9 compares it: text as is, integers in decimal,
    /// booleans `true`/`false`. Null and floats never meet a generated `nv`
    /// value (the spec fixes no text form for them, and none is generated).
    fn nv_text(&self) -> Option<String> {
        match *self {
            Val::Text(s) => Some(s.to_owned()),
            Val::Int(i) => Some(i.to_string()),
            Val::Bool(b) => Some(if b { "true" } else { "false" }.to_owned()),
            Val::Float(_) | Val::Null => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum MNode {
    Leaf(Val),
    Interior(BTreeMap<String, MNode>),
}

impl MNode {
    fn to_mo_node(&self) -> MoNode {
        match self {
            MNode::Leaf(v) => MoNode::Leaf(v.to_leaf()),
            MNode::Interior(children) => MoNode::Interior(
                Children::new(
                    children
                        .iter()
                        .map(|(name, child)| (node_name(name), child.to_mo_node()))
                        .collect(),
                )
                .expect("map keys are unique"),
            ),
        }
    }

    fn count(&self) -> usize {
        match self {
            MNode::Leaf(_) => 1,
            MNode::Interior(children) => 1 + children.values().map(MNode::count).sum::<usize>(),
        }
    }

    /// Every path below this node (this node's own path `prefix` included).
    fn paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(prefix.clone());
        if let MNode::Interior(children) = self {
            for (name, child) in children {
                prefix.push(name.clone());
                child.paths(prefix, out);
                prefix.pop();
            }
        }
    }

    fn get(&self, path: &[String]) -> Option<&MNode> {
        path.iter().try_fold(self, |node, name| match node {
            MNode::Interior(children) => children.get(name),
            MNode::Leaf(_) => None,
        })
    }

    fn get_mut(&mut self, path: &[String]) -> Option<&mut MNode> {
        path.iter().try_fold(self, |node, name| match node {
            MNode::Interior(children) => children.get_mut(name),
            MNode::Leaf(_) => None,
        })
    }
}

fn node_name(name: &str) -> NodeName {
    NodeName::new(name).expect("test names are valid node names")
}

fn mo_data(root: &str, node: &MNode) -> MoData {
    MoData::new(node_name(root), node.to_mo_node())
}

/// Percent-encodes every byte outside the RFC 3986 unreserved set (the
/// canonical form of section 9), written here independently of dm-types.
fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            write!(out, "%{b:02X}").expect("writing to a String cannot fail");
        }
    }
    out
}

/// The canonical absolute ClientURI of a node.
fn absolute(moid: &str, miid: &str, path: &[String]) -> String {
    let names: Vec<String> = path.iter().map(|n| enc(n)).collect();
    format!("{moid}/{}/{}", enc(miid), names.join("/"))
}

// ---------------------------------------------------------------------------
// Strategies

fn mnode(
    names: &'static [&'static str],
    values: &'static [Val],
    depth: u32,
) -> impl Strategy<Value = MNode> {
    select(values)
        .prop_map(MNode::Leaf)
        .prop_recursive(depth, 48, 4, move |inner| {
            prop::collection::btree_map(select(names).prop_map(str::to_owned), inner, 0..4)
                .prop_map(MNode::Interior)
        })
}

// ---------------------------------------------------------------------------
// 1. Resolution versus a naive model

/// MOIDs of the trees; the third never holds an instance.
const MOIDS: [&str; 3] = ["urn:x:a", "urn:x:b", "urn:x:c"];
/// MIIDs (`(y)` must be percent-encoded to stay a MIID).
const MIIDS: [&str; 4] = ["i1", "i2", "i 3", "(y)"];
/// Node names: a literal `*` and `(x)` must not act as syntax once encoded.
const NAMES: [&str; 5] = ["a", "b", "1", "*", "(x)"];
/// Leaf values: `1`/`Int(1)` and `true`/`Bool(true)` compare equal as text,
/// `a`/`A` differ by case.
const VALUES: [Val; 8] = [
    Val::Text("1"),
    Val::Int(1),
    Val::Text("a"),
    Val::Text("A"),
    Val::Bool(true),
    Val::Text("true"),
    Val::Int(-2),
    Val::Null,
];
/// `nv` values; `x` is never a leaf value.
const NV_VALUES: [&str; 6] = ["1", "a", "A", "true", "-2", "x"];
/// X-name letters in order of use (`x` and `X` are distinct x-names).
const LETTERS: [char; 5] = ['x', 'X', 'y', 'z', 'w'];

#[derive(Debug, Clone)]
struct Inst {
    moid: &'static str,
    miid: &'static str,
    root: &'static str,
    node: MNode,
}

fn tree_strategy() -> impl Strategy<Value = Vec<Inst>> {
    let per_moid = |moid: &'static str| {
        (
            subsequence(MIIDS.to_vec(), 0..=MIIDS.len()),
            prop::collection::vec((select(&NAMES[..]), mnode(&NAMES, &VALUES, 4)), MIIDS.len()),
        )
            .prop_map(move |(miids, data)| {
                miids
                    .into_iter()
                    .zip(data)
                    .map(|(miid, (root, node))| Inst {
                        moid,
                        miid,
                        root,
                        node,
                    })
                    .collect::<Vec<_>>()
            })
    };
    (per_moid(MOIDS[0]), per_moid(MOIDS[1])).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

fn build_tree(instances: &[Inst]) -> MoTree {
    let mut tree = MoTree::new();
    for inst in instances {
        let instance = MoInstance::new(
            Moid::new(inst.moid).expect("valid MOID"),
            Miid::new(inst.miid).expect("valid MIID"),
            &mo_data(inst.root, &inst.node),
        );
        tree.insert(instance).expect("MIIDs are unique per MOID");
    }
    tree
}

// A query is generated independently of the tree, with "guided" choices
// (indices) that are made concrete against the tree, so that names, MIIDs
// and `nv` conditions hit existing nodes often; unguided choices draw from
// the alphabets and mostly miss.

#[derive(Debug, Clone)]
enum InstSpec {
    /// The MIID of the guide's instance.
    Guided,
    Miid(&'static str),
    Sole,
    All,
    XName,
}

#[derive(Debug, Clone)]
enum SegSpec {
    /// The guide path's name at this depth.
    Guided,
    Name(&'static str),
    All,
    XName,
}

#[derive(Debug, Clone)]
enum CondSpec {
    /// A leaf below the guide's node standing for the x-name, with its value.
    Guided(Index),
    Random(Vec<&'static str>, &'static str),
}

#[derive(Debug, Clone)]
struct QuerySpec {
    moid: &'static str,
    upper_prefix: bool,
    /// Picks an instance of the MOID and a node in it.
    guide: (Index, Index),
    /// Keep path segments beyond the guide node's depth (which mostly miss).
    overshoot: bool,
    instance: InstSpec,
    path: Vec<SegSpec>,
    /// Conditions for the 1st, 2nd, ... x-name used (1 or 2 each).
    conditions: Vec<Vec<CondSpec>>,
    reverse_fields: bool,
}

fn query_strategy() -> impl Strategy<Value = QuerySpec> {
    let moid = prop_oneof![
        9 => Just(MOIDS[0]),
        9 => Just(MOIDS[1]),
        2 => Just(MOIDS[2]),
    ];
    let instance = prop_oneof![
        3 => Just(InstSpec::Guided),
        1 => select(vec!["i1", "i2", "i 3", "(y)", "nosuch"]).prop_map(InstSpec::Miid),
        2 => Just(InstSpec::Sole),
        2 => Just(InstSpec::All),
        3 => Just(InstSpec::XName),
    ];
    let segment = prop_oneof![
        5 => Just(SegSpec::Guided),
        2 => select(&NAMES[..]).prop_map(SegSpec::Name),
        2 => Just(SegSpec::All),
        3 => Just(SegSpec::XName),
    ];
    let cond = prop_oneof![
        3 => any::<Index>().prop_map(CondSpec::Guided),
        1 => (
            prop::collection::vec(select(&NAMES[..]), 0..=2),
            select(&NV_VALUES[..]),
        )
            .prop_map(|(path, value)| CondSpec::Random(path, value)),
    ];
    (
        (
            moid,
            any::<bool>(),
            any::<(Index, Index)>(),
            prop::bool::weighted(0.2),
        ),
        instance,
        prop::collection::vec(segment, 0..=4),
        prop::collection::vec(prop::collection::vec(cond, 1..=2), LETTERS.len()),
        any::<bool>(),
    )
        .prop_map(
            |(
                (moid, upper_prefix, guide, overshoot),
                instance,
                path,
                conditions,
                reverse_fields,
            )| QuerySpec {
                moid,
                upper_prefix,
                guide,
                overshoot,
                instance,
                path,
                conditions,
                reverse_fields,
            },
        )
}

/// A concrete query: what the ClientURI text says, in structured form.
#[derive(Debug, Clone)]
enum InstPart {
    Miid(String),
    Sole,
    All,
    XName,
}

#[derive(Debug, Clone)]
enum Seg {
    Name(String),
    All,
    XName,
}

/// One `nv` field, minus its x-name (given by position).
#[derive(Debug, Clone)]
struct Cond {
    path: Vec<String>,
    value: String,
}

#[derive(Debug, Clone)]
struct Query {
    moid: &'static str,
    /// Write the `urn:` prefix as `URN:` (case-insensitive).
    upper_prefix: bool,
    instance: InstPart,
    path: Vec<Seg>,
    /// Conditions for the 1st, 2nd, ... x-name used, in order of use.
    conditions: Vec<Vec<Cond>>,
    /// Emit the `nv` fields last x-name first.
    reverse_fields: bool,
}

/// Leaves at most two levels below `node` (the node itself included), as
/// relative paths with their `nv` text.
fn leaves_below(node: &MNode) -> Vec<(Vec<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut paths = Vec::new();
    node.paths(&mut Vec::new(), &mut paths);
    for path in paths.into_iter().filter(|p| p.len() <= 2) {
        if let Some(MNode::Leaf(v)) = node.get(&path) {
            out.push((path, v.nv_text()));
        }
    }
    out
}

impl QuerySpec {
    fn concretize(&self, tree: &[Inst]) -> Query {
        let candidates: Vec<&Inst> = tree.iter().filter(|i| i.moid == self.moid).collect();
        let guide_inst = (!candidates.is_empty()).then(|| *self.guide.0.get(&candidates));
        let guide_path: Vec<String> = guide_inst.map_or_else(Vec::new, |inst| {
            let mut paths = Vec::new();
            inst.node.paths(&mut Vec::new(), &mut paths);
            self.guide.1.get(&paths).clone()
        });
        let name_at = |depth: usize| {
            guide_path
                .get(depth)
                .cloned()
                .unwrap_or_else(|| "a".to_owned())
        };
        // The guide's node standing for each x-name, in order of use.
        let mut xname_nodes: Vec<Option<&MNode>> = Vec::new();
        let instance = match &self.instance {
            InstSpec::Guided => InstPart::Miid(guide_inst.map_or("i1", |i| i.miid).to_owned()),
            InstSpec::Miid(miid) => InstPart::Miid((*miid).to_owned()),
            InstSpec::Sole => InstPart::Sole,
            InstSpec::All => InstPart::All,
            InstSpec::XName => {
                xname_nodes.push(guide_inst.map(|i| &i.node));
                InstPart::XName
            }
        };
        let depth = if self.overshoot {
            self.path.len()
        } else {
            self.path.len().min(guide_path.len())
        };
        let path = self.path[..depth]
            .iter()
            .enumerate()
            .map(|(depth, segment)| match segment {
                SegSpec::Guided => Seg::Name(name_at(depth)),
                SegSpec::Name(name) => Seg::Name((*name).to_owned()),
                SegSpec::All => Seg::All,
                SegSpec::XName => {
                    let node = guide_inst.and_then(|i| {
                        guide_path
                            .get(..=depth)
                            .and_then(|prefix| i.node.get(prefix))
                    });
                    xname_nodes.push(node);
                    Seg::XName
                }
            })
            .collect();
        let conditions = xname_nodes
            .iter()
            .zip(&self.conditions)
            .map(|(node, specs)| {
                let leaves = node.map(leaves_below).unwrap_or_default();
                specs
                    .iter()
                    .map(|spec| match spec {
                        CondSpec::Guided(i) if !leaves.is_empty() => {
                            let (path, text) = i.get(&leaves).clone();
                            Cond {
                                path,
                                value: text.unwrap_or_else(|| "x".to_owned()),
                            }
                        }
                        CondSpec::Guided(_) => Cond {
                            path: vec!["a".to_owned()],
                            value: "1".to_owned(),
                        },
                        CondSpec::Random(path, value) => Cond {
                            path: path.iter().map(|n| (*n).to_owned()).collect(),
                            value: (*value).to_owned(),
                        },
                    })
                    .collect()
            })
            .collect();
        Query {
            moid: self.moid,
            upper_prefix: self.upper_prefix,
            instance,
            path,
            conditions,
            reverse_fields: self.reverse_fields,
        }
    }
}

impl Query {
    /// The ClientURI text. X-names get letters in order of use.
    fn text(&self) -> String {
        let mut letters = LETTERS.iter();
        let mut used = Vec::new();
        let mut next_xname = |used: &mut Vec<char>| {
            let letter = *letters.next().expect("at most five x-names");
            used.push(letter);
            format!("({letter})")
        };
        let moid = if self.upper_prefix {
            format!("URN:{}", &self.moid[4..])
        } else {
            self.moid.to_owned()
        };
        let instance = match &self.instance {
            InstPart::Miid(miid) => enc(miid),
            InstPart::Sole => String::new(),
            InstPart::All => "*".to_owned(),
            InstPart::XName => next_xname(&mut used),
        };
        let path: Vec<String> = self
            .path
            .iter()
            .map(|segment| match segment {
                Seg::Name(name) => enc(name),
                Seg::All => "*".to_owned(),
                Seg::XName => next_xname(&mut used),
            })
            .collect();
        let mut fields = Vec::new();
        for (letter, conditions) in used.iter().zip(&self.conditions) {
            for cond in conditions {
                let mut field = format!("nv=({letter})");
                for name in &cond.path {
                    field.push('/');
                    field.push_str(&enc(name));
                }
                field.push(':');
                field.push_str(&enc(&cond.value));
                fields.push(field);
            }
        }
        if self.reverse_fields {
            fields.reverse();
        }
        let query = if fields.is_empty() {
            String::new()
        } else {
            format!("?{}", fields.join("&"))
        };
        format!("{moid}/{instance}/{}{query}", path.join("/"))
    }
}

/// Whether `node` satisfies every condition: each names a leaf (relative
/// path, plain names) whose value as text equals the condition's value.
fn model_satisfies(node: &MNode, conditions: &[Cond]) -> bool {
    conditions.iter().all(|cond| {
        matches!(node.get(&cond.path), Some(MNode::Leaf(v)) if v.nv_text().as_deref() == Some(cond.value.as_str()))
    })
}

/// Walks `segments` from `node` (at `path`), pushing every designated path.
fn model_walk(
    node: &MNode,
    path: &mut Vec<String>,
    segments: &[(&Seg, &[Cond])],
    out: &mut Vec<Vec<String>>,
) {
    let Some(((segment, conditions), rest)) = segments.split_first() else {
        out.push(path.clone());
        return;
    };
    let MNode::Interior(children) = node else {
        return;
    };
    for (name, child) in children {
        let selected = match segment {
            Seg::Name(wanted) => name == wanted,
            Seg::All => true,
            Seg::XName => model_satisfies(child, conditions),
        };
        if selected {
            path.push(name.clone());
            model_walk(child, path, rest, out);
            path.pop();
        }
    }
}

/// Section 9, naively: the status and the sorted absolute ClientURIs.
fn model_resolve(tree: &[Inst], query: &Query) -> (u16, Vec<String>) {
    let mut conditions = query.conditions.iter().map(Vec::as_slice);
    let candidates: Vec<&Inst> = tree.iter().filter(|i| i.moid == query.moid).collect();
    let selected: Vec<&Inst> = match &query.instance {
        InstPart::Miid(miid) => candidates.into_iter().filter(|i| i.miid == miid).collect(),
        InstPart::Sole if candidates.len() > 1 => return (409, Vec::new()),
        InstPart::Sole | InstPart::All => candidates,
        InstPart::XName => {
            let conds = conditions.next().unwrap_or(&[]);
            candidates
                .into_iter()
                .filter(|i| model_satisfies(&i.node, conds))
                .collect()
        }
    };
    let segments: Vec<(&Seg, &[Cond])> = query
        .path
        .iter()
        .map(|segment| {
            let conds = if matches!(segment, Seg::XName) {
                conditions.next().unwrap_or(&[])
            } else {
                &[]
            };
            (segment, conds)
        })
        .collect();
    let mut found = Vec::new();
    for inst in selected {
        let mut paths = Vec::new();
        model_walk(&inst.node, &mut Vec::new(), &segments, &mut paths);
        found.extend(paths.iter().map(|p| absolute(inst.moid, inst.miid, p)));
    }
    if found.is_empty() {
        return (404, Vec::new());
    }
    found.sort();
    (200, found)
}

/// `MoTree::resolve` on the query text: the status and the sorted absolute
/// ClientURIs, checking on the way that `resolve_str` agrees.
fn tree_resolve(tree: &MoTree, text: &str) -> Result<(u16, Vec<String>), String> {
    let uri = ClientUri::parse(text).map_err(|e| format!("{text:?} does not parse: {e}"))?;
    let got = match tree.resolve(&uri) {
        Ok(nodes) => {
            let mut uris: Vec<String> = nodes
                .iter()
                .map(|n| n.client_uri().as_str().to_owned())
                .collect();
            uris.sort();
            let before = uris.len();
            uris.dedup();
            if uris.len() != before {
                return Err(format!("{text:?}: a node is listed twice"));
            }
            (200, uris)
        }
        Err(e) => (e.status().as_u16(), Vec::new()),
    };
    let (status, uris) = tree.resolve_str(text);
    let via_str = (
        status.as_u16(),
        uris.iter()
            .map(|u| u.as_str().to_owned())
            .collect::<Vec<_>>(),
    );
    if via_str != got {
        return Err(format!(
            "{text:?}: resolve gives {got:?}, resolve_str {via_str:?}"
        ));
    }
    Ok(got)
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn resolve_agrees_with_the_model(
        instances in tree_strategy(),
        queries in prop::collection::vec(query_strategy(), 8),
    ) {
        let tree = build_tree(&instances);
        for spec in &queries {
            let query = spec.concretize(&instances);
            let text = query.text();
            let got = tree_resolve(&tree, &text).map_err(TestCaseError::fail)?;
            let expected = model_resolve(&instances, &query);
            prop_assert_eq!(got, expected, "ClientURI {}", text);
        }
    }
}

/// The generators reach every outcome often enough for the property above
/// to mean something: single and multiple matches, x-name matches in the
/// instance part and the path, literal `*`/`(x)` names, 404 and 409.
#[test]
fn resolve_model_covers_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let strategy = (tree_strategy(), query_strategy());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..2000 {
        let (instances, spec) = strategy
            .new_tree(&mut runner)
            .expect("strategy yields a value")
            .current();
        let query = spec.concretize(&instances);
        let (status, nodes) = model_resolve(&instances, &query);
        let kind = match (status, nodes.len()) {
            (200, 1) => "one node",
            (200, _) => "several nodes",
            (404, _) => "404",
            (409, _) => "409",
            _ => "other",
        };
        *counts.entry(kind).or_default() += 1;
        if status == 200 {
            if matches!(query.instance, InstPart::XName) {
                *counts.entry("x-name instance match").or_default() += 1;
            }
            if query.path.iter().any(|s| matches!(s, Seg::XName)) {
                *counts.entry("x-name path match").or_default() += 1;
            }
            if query
                .path
                .iter()
                .any(|s| matches!(s, Seg::Name(n) if n == "*" || n == "(x)"))
            {
                *counts.entry("literal * or (x) name match").or_default() += 1;
            }
        } else if status == 404 && query.conditions.iter().flatten().count() > 0 {
            *counts.entry("404 with nv").or_default() += 1;
        }
    }
    eprintln!("outcomes of 2000 generated cases: {counts:?}");
    for kind in [
        "one node",
        "several nodes",
        "404",
        "404 with nv",
        "409",
        "x-name instance match",
        "x-name path match",
        "literal * or (x) name match",
    ] {
        let n = counts.get(kind).copied().unwrap_or(0);
        assert!(n >= 40, "only {n} of 2000 cases give {kind:?}: {counts:?}");
    }
    assert_eq!(counts.get("other"), None);
}

/// The model itself, on the worked example of section 9.
#[test]
fn model_follows_the_worked_example() {
    let leaf = |s: &'static str| MNode::Leaf(Val::Text(s));
    let map = |entries: Vec<(&str, MNode)>| {
        MNode::Interior(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    };
    let data = |id, d2| {
        map(vec![
            ("ID", leaf(id)),
            (
                "Data",
                map(vec![
                    ("1", map(vec![("Date", leaf("12.1")), ("Value", leaf("1"))])),
                    ("2", map(vec![("Date", leaf(d2)), ("Value", leaf("2"))])),
                ]),
            ),
        ])
    };
    let instances = vec![
        Inst {
            moid: MOIDS[0],
            miid: "i1",
            root: "a",
            node: data("GPS", "12.2"),
        },
        Inst {
            moid: MOIDS[0],
            miid: "i2",
            root: "b",
            node: data("Temperature", "12.3"),
        },
    ];
    let cond = |path: &str, value: &str| Cond {
        path: vec![path.to_owned()],
        value: value.to_owned(),
    };
    let name = |n: &str| Seg::Name(n.to_owned());
    let query = Query {
        moid: MOIDS[0],
        upper_prefix: false,
        instance: InstPart::XName,
        path: vec![name("Data"), Seg::All, name("Value")],
        conditions: vec![vec![cond("ID", "GPS")]],
        reverse_fields: false,
    };
    assert_eq!(query.text(), "urn:x:a/(x)/Data/*/Value?nv=(x)/ID:GPS");
    assert_eq!(
        model_resolve(&instances, &query),
        (
            200,
            vec![
                "urn:x:a/i1/Data/1/Value".to_owned(),
                "urn:x:a/i1/Data/2/Value".to_owned()
            ]
        )
    );
    let tree = build_tree(&instances);
    assert_eq!(
        tree_resolve(&tree, &query.text()),
        Ok(model_resolve(&instances, &query))
    );
    let by_date = Query {
        instance: InstPart::Miid("i2".to_owned()),
        path: vec![name("Data"), Seg::XName, name("Value")],
        conditions: vec![vec![cond("Date", "12.1")]],
        ..query.clone()
    };
    assert_eq!(
        model_resolve(&instances, &by_date),
        (200, vec!["urn:x:a/i2/Data/1/Value".to_owned()])
    );
    let sole = Query {
        instance: InstPart::Sole,
        ..query.clone()
    };
    assert_eq!(model_resolve(&instances, &sole), (409, Vec::new()));
    let none = Query {
        conditions: vec![vec![cond("ID", "GPS"), cond("ID", "Temperature")]],
        ..query
    };
    assert_eq!(model_resolve(&instances, &none), (404, Vec::new()));
}

// ---------------------------------------------------------------------------
// 2. Write/delete sequences versus a nested-map model

const EDIT_NAMES: [&str; 3] = ["a", "b", "c"];
const EDIT_VALUES: [Val; 4] = [Val::Int(1), Val::Text("v"), Val::Bool(false), Val::Null];

/// Where an operation applies, resolved against the model's current paths.
#[derive(Debug, Clone)]
enum Target {
    /// An existing node (the root included).
    Existing(Index),
    /// A child of an existing node (may exist or not; the parent may be a leaf).
    Child(Index, &'static str),
    /// Any path (often with a missing parent).
    Path(Vec<&'static str>),
}

#[derive(Debug, Clone)]
enum Op {
    /// Writes `data` at the target; `rename` gives the data a name other than
    /// the target's last name (an error).
    Write {
        target: Target,
        data: MNode,
        rename: bool,
    },
    Delete(Target),
    /// Replaces the whole instance (empty path).
    WriteRoot(&'static str, MNode),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        3 => any::<Index>().prop_map(Target::Existing),
        3 => (any::<Index>(), select(&EDIT_NAMES[..])).prop_map(|(i, n)| Target::Child(i, n)),
        1 => prop::collection::vec(select(&EDIT_NAMES[..]), 1..=4).prop_map(Target::Path),
    ];
    let data = || mnode(&EDIT_NAMES, &EDIT_VALUES, 3);
    prop_oneof![
        6 => (target.clone(), data(), prop::bool::weighted(0.1))
            .prop_map(|(target, data, rename)| Op::Write { target, data, rename }),
        5 => target.prop_map(Op::Delete),
        1 => (select(&EDIT_NAMES[..]), data()).prop_map(|(name, data)| Op::WriteRoot(name, data)),
    ]
}

/// The instance's state in the model.
struct EditModel {
    root_name: String,
    root: MNode,
    /// Every path that ever existed, to check that removed ones stay gone.
    seen: BTreeSet<Vec<String>>,
}

impl EditModel {
    fn paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.root.paths(&mut Vec::new(), &mut out);
        out
    }

    fn resolve(&self, target: &Target) -> Vec<String> {
        let paths = self.paths();
        match target {
            Target::Existing(i) => i.get(&paths).clone(),
            Target::Child(i, name) => {
                let mut path = i.get(&paths).clone();
                path.push((*name).to_owned());
                path
            }
            Target::Path(names) => names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

fn names(path: &[String]) -> Vec<NodeName> {
    path.iter().map(|n| node_name(n)).collect()
}

fn lookup(instance: &MoInstance, path: &[String]) -> Option<NodeId> {
    instance.lookup(path.iter().map(String::as_str))
}

/// Every invariant that ties the instance to the model.
fn check_instance(instance: &MoInstance, model: &EditModel) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        instance.to_mo_data(NodeId::ROOT),
        Some(mo_data(&model.root_name, &model.root))
    );
    // Walk down from the root through `children`; every node must find its
    // way back up through its parent chain (`path`) and by name (`lookup`).
    let mut ids = BTreeSet::new();
    let mut stack = vec![(NodeId::ROOT, Vec::<String>::new())];
    while let Some((id, path)) = stack.pop() {
        prop_assert!(ids.insert(id), "node {:?} reached twice", id);
        prop_assert_eq!(
            instance.path(id),
            names(&path),
            "parent chain of {:?}",
            path
        );
        prop_assert_eq!(lookup(instance, &path), Some(id), "lookup of {:?}", path);
        let expected_name = path.last().unwrap_or(&model.root_name);
        prop_assert_eq!(instance.name(id), Some(expected_name.as_str()));
        let node = model.root.get(&path);
        match node {
            Some(MNode::Leaf(v)) => {
                prop_assert_eq!(instance.value(id), Some(&v.to_leaf()));
                prop_assert!(instance.children(id).is_empty());
            }
            Some(MNode::Interior(_)) => prop_assert_eq!(instance.value(id), None),
            None => prop_assert!(false, "{:?} is in the instance, not in the model", path),
        }
        let children = instance.children(id);
        let child_names: Vec<&str> = children
            .iter()
            .map(|&c| instance.name(c).unwrap_or_default())
            .collect();
        prop_assert!(
            child_names.windows(2).all(|w| w[0] < w[1]),
            "children of {:?} not strictly sorted: {:?}",
            path,
            child_names
        );
        for (&child, name) in children.iter().zip(child_names) {
            let mut child_path = path.clone();
            child_path.push(name.to_owned());
            stack.push((child, child_path));
        }
    }
    let count = model.root.count();
    prop_assert_eq!(ids.len(), count, "reachable nodes");
    prop_assert_eq!(
        instance.len(),
        count,
        "len() counts orphans or leaked slots"
    );
    let present: BTreeSet<Vec<String>> = model.paths().into_iter().collect();
    for path in &model.seen {
        prop_assert_eq!(
            lookup(instance, path).is_some(),
            present.contains(path),
            "lookup of {:?}",
            path
        );
    }
    Ok(())
}

/// Applies `op` to both and checks the outcome.
fn apply(instance: &mut MoInstance, model: &mut EditModel, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::WriteRoot(name, data) => {
            let got = instance.write(&[], &mo_data(name, data));
            prop_assert_eq!(got, Ok(NodeId::ROOT));
            (*name).clone_into(&mut model.root_name);
            model.root = data.clone();
        }
        Op::Write {
            target,
            data,
            rename,
        } => {
            let path = model.resolve(target);
            let Some((last, parent)) = path.split_last() else {
                // The root as a target: the empty path, covered by WriteRoot.
                return Ok(());
            };
            let name = if *rename {
                format!("{last}2")
            } else {
                last.clone()
            };
            let got = instance.write(&names(&path), &mo_data(&name, data));
            let parent_node = model.root.get(parent);
            match (rename, parent_node) {
                (false, Some(MNode::Interior(_))) => {
                    let id = got.map_err(|e| {
                        TestCaseError::fail(format!("write at {path:?} failed: {e}"))
                    })?;
                    prop_assert_eq!(lookup(instance, &path), Some(id));
                    if let Some(MNode::Interior(children)) = model.root.get_mut(parent) {
                        children.insert(last.clone(), data.clone());
                    }
                }
                (false, Some(MNode::Leaf(_))) => {
                    prop_assert!(matches!(got, Err(Error::InvalidData { .. })), "{:?}", got);
                }
                (false, None) => prop_assert_eq!(got, Err(Error::NotFound)),
                // Wrong name, and perhaps also no usable parent: an error
                // either way, and nothing changes.
                (true, Some(MNode::Interior(_))) => {
                    prop_assert!(matches!(got, Err(Error::InvalidData { .. })), "{:?}", got);
                }
                (true, _) => prop_assert!(got.is_err(), "{:?}", got),
            }
        }
        Op::Delete(target) => {
            let path = model.resolve(target);
            let id = lookup(instance, &path);
            let Some((last, parent)) = path.split_last() else {
                prop_assert_eq!(id, Some(NodeId::ROOT));
                prop_assert!(!instance.delete(NodeId::ROOT), "the root was deleted");
                return Ok(());
            };
            match (id, model.root.get_mut(parent)) {
                (Some(id), Some(MNode::Interior(children))) => {
                    prop_assert!(
                        children.remove(last).is_some(),
                        "{:?} not in the model",
                        path
                    );
                    prop_assert!(instance.delete(id), "delete of {:?}", path);
                    prop_assert!(!instance.delete(id), "second delete of {:?}", path);
                }
                (None, parent) => {
                    let in_model =
                        matches!(parent, Some(MNode::Interior(c)) if c.contains_key(last));
                    prop_assert!(!in_model, "{:?} is in the model, lookup fails", path);
                }
                (Some(_), _) => prop_assert!(false, "{:?} found, not in the model", path),
            }
        }
    }
    model.seen.extend(model.paths());
    Ok(())
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn writes_and_deletes_match_the_model(
        root in mnode(&EDIT_NAMES, &EDIT_VALUES, 4),
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        let mut instance = MoInstance::new(
            Moid::new("urn:x:y").expect("valid MOID"),
            Miid::new("m").expect("valid MIID"),
            &mo_data("r", &root),
        );
        let mut model = EditModel { root_name: "r".to_owned(), root, seen: BTreeSet::new() };
        model.seen.extend(model.paths());
        check_instance(&instance, &model)?;
        for (step, op) in ops.iter().enumerate() {
            let (data_before, validator_before) =
                (instance.to_mo_data(NodeId::ROOT), instance.cache_validator());
            apply(&mut instance, &mut model, op)
                .map_err(|e| TestCaseError::fail(format!("step {step} {op:?}: {e}")))?;
            check_instance(&instance, &model)
                .map_err(|e| TestCaseError::fail(format!("after step {step} {op:?}: {e}")))?;
            // Every modification changes the cache validator.
            if instance.to_mo_data(NodeId::ROOT) != data_before {
                prop_assert_ne!(instance.cache_validator(), validator_before, "step {} {:?}", step, op);
            }
        }
        // The final state survives a snapshot, validator included.
        let mut tree = MoTree::new();
        tree.insert(instance).expect("a fresh tree takes the instance");
        let restored = MoTree::from_snapshot(&tree.to_snapshot(), MoTree::new())
            .map_err(|e| TestCaseError::fail(format!("snapshot: {e}")))?;
        let (before, after) = (tree.instance("urn:x:y", "m"), restored.instance("urn:x:y", "m"));
        prop_assert!(before.is_some() && after.is_some());
        if let (Some(before), Some(after)) = (before, after) {
            prop_assert_eq!(before.to_mo_data(NodeId::ROOT), after.to_mo_data(NodeId::ROOT));
            prop_assert_eq!(before.cache_validator(), after.cache_validator());
        }
    }
}

// ---------------------------------------------------------------------------
// 3. MO serialization round trip

const RT_MOIDS: [&str; 2] = ["urn:x:a", "urn:oma:mo:t:1.0"];
const RT_MIIDS: [&str; 6] = ["i1", "i 2", "é", "%", "(y)", "*"];
const RT_NAMES: [&str; 8] = ["a", "b", "a b", "é", "\"q\"", "%41", "*", "\\"];
/// No binary: without a DDF it comes back as base64 text, by design.
const RT_VALUES: [Val; 10] = [
    Val::Text(""),
    Val::Text("ü \" \\ \n \u{1}"),
    Val::Int(i64::MIN),
    Val::Int(0),
    Val::Bool(false),
    Val::Bool(true),
    Val::Float(0.1),
    Val::Float(-1.0),
    Val::Float(1e300),
    Val::Null,
];

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn mo_serialization_round_trips(
        instances in prop::collection::btree_map(
            (select(&RT_MOIDS[..]), select(&RT_MIIDS[..])),
            (select(&RT_NAMES[..]), mnode(&RT_NAMES, &RT_VALUES, 4)),
            0..6,
        ),
    ) {
        let items: Vec<MoItem> = instances
            .iter()
            .map(|((moid, miid), (root, node))| MoItem {
                ddf: None,
                client_uri: ClientUri::absolute(
                    &Moid::new(*moid).expect("valid MOID"),
                    &Miid::new(*miid).expect("valid MIID"),
                    &[],
                ),
                cache_validator: None,
                data: mo_data(root, node),
            })
            .collect();
        let bytes = dm_codec::encode_mo_serialization(&items);
        let decoded = dm_codec::decode_mo_serialization(&bytes, &dm_codec::Limits::default())
            .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
        let tree = MoTree::from_mo_serialization(&decoded)
            .map_err(|e| TestCaseError::fail(format!("from_mo_serialization: {e}")))?;
        prop_assert_eq!(tree.instances().count(), items.len());
        for (((moid, miid), (_, node)), item) in instances.iter().zip(&items) {
            let instance = tree.instance(moid, miid);
            prop_assert!(instance.is_some(), "instance {} {} missing", moid, miid);
            let instance = instance.expect("checked above");
            prop_assert_eq!(instance.to_mo_data(NodeId::ROOT), Some(item.data.clone()));
            prop_assert_eq!(instance.len(), node.count());
        }
        // Back to MO serialization from the tree: the same bytes (instances
        // come out by MOID then MIID, the order of the generated map).
        let again: Vec<MoItem> = tree
            .instances()
            .map(|instance| MoItem {
                ddf: None,
                client_uri: instance.client_uri(NodeId::ROOT),
                cache_validator: None,
                data: instance.to_mo_data(NodeId::ROOT).expect("the root exists"),
            })
            .collect();
        let bytes_again = dm_codec::encode_mo_serialization(&again);
        prop_assert_eq!(
            String::from_utf8_lossy(&bytes_again),
            String::from_utf8_lossy(&bytes)
        );
        // The direct encoder writes what dm-codec writes for the same item.
        for instance in tree.instances() {
            let item = MoItem {
                ddf: None,
                client_uri: instance.client_uri(NodeId::ROOT),
                cache_validator: Some(instance.cache_validator()),
                data: instance.to_mo_data(NodeId::ROOT).expect("the root exists"),
            };
            let expected = dm_codec::encode_mo_serialization(std::slice::from_ref(&item));
            let direct = instance.encode_mo_serialization(NodeId::ROOT);
            prop_assert_eq!(String::from_utf8_lossy(&direct), String::from_utf8_lossy(&expected));
        }
    }
}
