//! Fuzz target: the DDF parser on arbitrary bytes, then the operations run
//! on what it accepts. Nothing may panic, overflow the stack or allocate
//! without bound; warnings point into the input.
#![no_main]

use dm_ddf::{Limits, MoDefinition, WarningKind};
use dm_types::{Children, LeafValue, MoData, MoNode, NodeName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let Ok(parsed) = MoDefinition::parse_with_warnings(data, &limits) else {
        return;
    };
    // Every warning points into the input, in document order, and the
    // list is bounded (the limit plus the one saying it was reached).
    assert!(parsed.warnings.len() <= limits.max_warnings + 1);
    let mut previous = 0;
    for warning in &parsed.warnings {
        let position = warning.position;
        assert!(position.offset <= data.len(), "{warning}");
        assert!(position.line >= 1 && position.column >= 1, "{warning}");
        if !matches!(warning.kind, WarningKind::TooManyWarnings { .. }) {
            assert!(position.offset >= previous, "{warning}");
            previous = position.offset;
        }
        let _ = (warning.to_string(), warning.kind.code());
    }
    let def = parsed.definition;
    let _ = (
        def.node_count(),
        def.max_depth(),
        def.ddf_name(),
        def.moid(),
    );
    // Look every defined node up by the names of its first path, and
    // validate a small MO against each top-level definition.
    for (_, node) in &def {
        let _ = (node.is_secret(), node.is_open(), node.moid());
        let _ = def.lookup([node.name.to_string()]);
    }
    let Ok(leaf_name) = NodeName::new("n") else {
        return;
    };
    let Ok(children) = Children::new(vec![(leaf_name, MoNode::Leaf(LeafValue::from("v")))]) else {
        return;
    };
    for root in &def.nodes {
        let name = root.name.as_named().unwrap_or("x");
        if let Ok(name) = NodeName::new(name) {
            let _ = def.validate(&MoData::new(name, MoNode::Interior(children.clone())));
        }
    }
});
