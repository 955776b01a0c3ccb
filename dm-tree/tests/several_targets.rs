//! Several targets, one status (docs/protocol.md section 4): every target is
//! resolved and checked first; the status is that of the first failing
//! target in parameter order (then node order), and nothing is read or
//! deleted.

mod common;

use common::{items, server, status, uri};

use std::sync::Arc;

use dm_tree::{MoTree, Principal};
use dm_types::{ClientUri, Moid};

const FIXED: &str = "urn:x:fixed:1.0";

/// `Serial` is permanent, `Key` cannot be read (no Get), `Note` is an
/// ordinary node.
const DDF: &str = r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName/><DFProperties>
    <AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
    <Occurrence><ZeroOrMore/></Occurrence><DFType><DDFName>urn:x:fixed:1.0</DDFName></DFType></DFProperties>
    <Node><NodeName>Serial</NodeName><DFProperties><AccessType><Add/><Get/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Permanent/></Scope></DFProperties></Node>
    <Node><NodeName>Key</NodeName><DFProperties><AccessType><Add/><Delete/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
    <Node><NodeName>Note</NodeName><DFProperties><AccessType><Add/><Delete/><Get/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
    </Node></MgmtTree>";

/// srv1 may manage the fixed MO and created instance 1 of it; srv2 has an
/// account without that MOID.
fn tree() -> MoTree {
    let mut tree = MoTree::new();
    let definition = dm_ddf::MoDefinition::parse(DDF.as_bytes()).expect("test DDF parses");
    tree.define(Moid::new(FIXED).expect("moid"), Arc::new(definition));
    let accounts = items(&format!(
        r#"[{{"ClientURI":"urn:oma:mo:oma-dm-dmacc:1.2//","MOData":{{"a":{{"SrvID":"srv1","Perm":{{"1":{{"MOID":"{FIXED}"}}}}}}}}}}]"#
    ));
    tree.write(&Principal::Device, None, &accounts)
        .expect("accounts");
    let instance = items(&format!(
        r#"[{{"ClientURI":"{FIXED}//","MOData":{{"r":{{"Serial":"1","Key":"k","Note":"n"}}}}}}]"#
    ));
    tree.write(&server("srv1"), None, &instance)
        .expect("srv1 creates instance 1");
    tree
}

fn targets(texts: &[&str]) -> Vec<ClientUri> {
    texts.iter().map(|t| uri(t)).collect()
}

const SERIAL: &str = "urn:x:fixed:1.0/1/Serial";
const KEY: &str = "urn:x:fixed:1.0/1/Key";
const NOTE: &str = "urn:x:fixed:1.0/1/Note";
const MISSING: &str = "urn:x:fixed:1.0/9/";

#[test]
fn delete_reports_the_first_failing_target_and_deletes_nothing() {
    let mut tree = tree();
    let srv1 = server("srv1");
    let before = tree.to_snapshot();
    assert_eq!(
        status(tree.delete(&srv1, &targets(&[SERIAL, MISSING]))),
        405
    );
    assert_eq!(
        status(tree.delete(&srv1, &targets(&[MISSING, SERIAL]))),
        404
    );
    // A deletable node before the failing one stays.
    assert_eq!(status(tree.delete(&srv1, &targets(&[NOTE, SERIAL]))), 405);
    assert_eq!(status(tree.delete(&srv1, &targets(&[NOTE, MISSING]))), 404);
    assert_eq!(tree.to_snapshot(), before, "nothing was deleted");
    // Node order within one target: `*` resolves to Key, Note, Serial;
    // Serial fails before the missing second target is looked at.
    assert_eq!(
        status(tree.delete(&srv1, &targets(&["urn:x:fixed:1.0/1/*", MISSING]))),
        405
    );
    assert_eq!(tree.to_snapshot(), before, "nothing was deleted");
    assert_eq!(status(tree.delete(&srv1, &targets(&[NOTE]))), 200);
}

#[test]
fn reads_report_the_first_failing_target() {
    let tree = tree();
    let srv1 = server("srv1");
    // Key cannot be read (405); a missing instance is 404; the order decides.
    assert_eq!(status(tree.read(&srv1, &targets(&[KEY, MISSING]))), 405);
    assert_eq!(status(tree.read(&srv1, &targets(&[MISSING, KEY]))), 404);
    assert_eq!(status(tree.read(&srv1, &targets(&[NOTE, KEY]))), 405);
    assert_eq!(status(tree.read(&srv1, &targets(&[NOTE, SERIAL]))), 200);
    assert_eq!(
        status(tree.read(&srv1, &targets(&["urn:x:fixed:1.0/1/*", MISSING]))),
        405
    );
    // An instance srv2 may not see is missing for it (404), never 403.
    assert_eq!(
        status(tree.read(&server("srv2"), &targets(&[NOTE, KEY]))),
        404
    );
}
