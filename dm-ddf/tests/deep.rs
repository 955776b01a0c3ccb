//! The deepest definition the parser admits ([`Limits::DEPTH_CEILING`]) is
//! safe to parse, clone, compare, print, validate and drop on a small
//! thread stack (1 MiB, half the default of spawned threads), even in a
//! debug build.

use dm_ddf::{Error, Limits, MoDefinition};
use dm_types::{Children, MoData, MoNode, NodeName};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// `depth` interior nodes named `n`, nested.
fn nested_ddf(depth: usize) -> String {
    let open = "<Node><NodeName>n</NodeName><DFProperties><AccessType><Get/></AccessType>\
                <DFFormat><node/></DFFormat></DFProperties>";
    format!(
        "<MgmtTree><VerDTD>1.2</VerDTD>{}{}</MgmtTree>",
        open.repeat(depth),
        "</Node>".repeat(depth)
    )
}

fn on_small_stack(f: impl FnOnce() -> TestResult + Send + 'static) -> TestResult {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)?
        .join()
        .map_err(|_| "the thread panicked")?
}

#[test]
fn a_definition_at_the_depth_ceiling_is_safe_on_a_small_stack() -> TestResult {
    on_small_stack(|| {
        // MgmtTree is element 1 and each node's DFProperties one deeper than
        // the node: the ceiling admits this many nested nodes.
        let depth = Limits::DEPTH_CEILING - 2;
        let unlimited = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        let def = MoDefinition::parse_str_with(&nested_ddf(depth), &unlimited)?;
        assert_eq!((def.max_depth(), def.node_count()), (depth, depth));
        let copy = def.clone();
        assert_eq!(copy, def);
        assert!(format!("{def:?}").len() > depth);

        let mut node = MoNode::Interior(Children::default());
        for _ in 1..depth {
            node = MoNode::Interior(Children::new(vec![(NodeName::new("n")?, node)])?);
        }
        let data = MoData::new(NodeName::new("n")?, node);
        def.validate(&data)?;
        // Dropping `data` recurses in dm-types; keep this test about dm-ddf.
        std::mem::forget(data);
        drop(copy);

        // One more level is refused, whatever the configured limit.
        let err = MoDefinition::parse_str_with(&nested_ddf(depth + 1), &unlimited).err();
        assert!(matches!(err, Some(Error::Limit { .. })), "{err:?}");
        Ok(())
    })
}
