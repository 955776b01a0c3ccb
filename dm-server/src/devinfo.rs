//! The DevInfo values a device reports: the leaves of a successful GET of
//! its DevInfo MO (`urn:oma:mo:oma-dm-devinfo:1.0`), which the server
//! records ([`Store::record_devinfo`](crate::Store::record_devinfo)) for
//! device groups to select on.

use std::collections::BTreeMap;

use dm_types::{Command, LeafValue, MoNode, Segment, Status};

/// The DevInfo MO.
pub(crate) const DEVINFO_MOID: &str = "urn:oma:mo:oma-dm-devinfo:1.0";

/// Most leaves taken from one result.
const MAX_LEAVES: usize = 64;

/// Longest leaf name (its path below the DevInfo root) kept.
const MAX_NAME: usize = 128;

/// Longest leaf value kept (longer ones are left out).
const MAX_VALUE: usize = 256;

/// The DevInfo leaves in the result of a GET: each leaf's path below the
/// DevInfo root (`Mod`, `FwV`, `Ext/Battery`) to its value as text.
/// Binary leaves, values over 256 bytes, and items whose URI has a
/// wildcard or an x-name are left out; at most 64 leaves.
pub(crate) fn devinfo_values(command: &Command, status: &Status) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if !matches!(command, Command::Get { .. }) || !status.code.is_success() {
        return values;
    }
    for item in &status.data {
        if item.client_uri.moid() != DEVINFO_MOID {
            continue;
        }
        let mut prefix = Vec::new();
        let mut literal = true;
        for segment in item.client_uri.path() {
            match segment {
                Segment::Name(name) => prefix.push(name.into_owned()),
                _ => literal = false,
            }
        }
        if !literal {
            continue;
        }
        collect(&prefix.join("/"), item.data.node(), &mut values);
    }
    values
}

/// Adds the leaves at and below `node` (at `path`) to `values`.
fn collect(path: &str, node: &MoNode, values: &mut BTreeMap<String, String>) {
    if values.len() >= MAX_LEAVES || path.len() > MAX_NAME {
        return;
    }
    match node {
        MoNode::Leaf(LeafValue::Binary(_)) => {}
        MoNode::Leaf(value) => {
            let text = value.to_text();
            if !path.is_empty() && text.len() <= MAX_VALUE {
                values.insert(path.to_owned(), text.into_owned());
            }
        }
        MoNode::Interior(children) => {
            for (name, child) in children.iter() {
                let child_path = if path.is_empty() {
                    name.as_str().to_owned()
                } else {
                    format!("{path}/{}", name.as_str())
                };
                collect(&child_path, child, values);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dm_types::{Children, ClientUri, MoData, MoItem, NodeName, StatusCode};

    use super::*;

    fn name(text: &str) -> NodeName {
        NodeName::new(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn item(uri: &str, data: MoData) -> MoItem {
        MoItem {
            ddf: None,
            client_uri: ClientUri::parse(uri).unwrap_or_else(|e| panic!("{e}")),
            cache_validator: None,
            data,
        }
    }

    fn text(value: &str) -> MoNode {
        MoNode::Leaf(LeafValue::Text(value.into()))
    }

    #[test]
    fn leaves_of_devinfo_gets_are_taken_by_their_path() {
        let get = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//"])
            .unwrap_or_else(|e| panic!("{e}"));
        let ext =
            Children::new(vec![(name("Battery"), text("80"))]).unwrap_or_else(|e| panic!("{e}"));
        let root = Children::new(vec![
            (name("Mod"), text("X1")),
            (name("Ext"), MoNode::Interior(ext)),
            (name("Blob"), MoNode::Leaf(LeafValue::Binary(vec![1]))),
            (name("Long"), text(&"x".repeat(300))),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let mut status = Status::new(StatusCode::OK);
        status.data.push(item(
            "urn:oma:mo:oma-dm-devinfo:1.0//",
            MoData::new(name("DevInfo"), MoNode::Interior(root)),
        ));
        status.data.push(item(
            "urn:oma:mo:oma-dm-devinfo:1.0//FwV",
            MoData::new(name("FwV"), text("1.2")),
        ));
        status.data.push(item(
            "urn:oma:mo:other:1.0//FwV",
            MoData::new(name("FwV"), text("other MO")),
        ));
        let values = devinfo_values(&get, &status);
        let expected: BTreeMap<String, String> =
            [("Ext/Battery", "80"), ("FwV", "1.2"), ("Mod", "X1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        assert_eq!(values, expected);
        status.code = StatusCode::NOT_FOUND;
        assert!(devinfo_values(&get, &status).is_empty(), "a failed GET");
    }
}
