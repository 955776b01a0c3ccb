//! `dm ddf` through the built binary, on files of the shared DDF corpus
//! (`conformance/ddf`): the JSON summary agrees with `MANIFEST.tsv`,
//! malformed files exit 1 with the line and column, `--outline` indents.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// The corpus folder. Missing, it fails the test: these tests never pass
/// without their data.
fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/ddf");
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the DDF corpus is missing: expected {} (the shared folder next to the workspace)",
        dir.display()
    );
    dir
}

fn dm(args: &[&str]) -> Output {
    common::dm(args, b"")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// `(nodes, max_depth)` of a corpus file, from MANIFEST.tsv.
fn manifest_counts(file: &str) -> (u64, u64) {
    let manifest =
        std::fs::read_to_string(corpus_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let cols: Vec<&str> = manifest
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols[0] == file)
        .expect("the file is in MANIFEST.tsv");
    (
        cols[2].parse().expect("nodes"),
        cols[3].parse().expect("max_depth"),
    )
}

#[test]
fn a_corpus_file_gives_one_line_of_json_matching_the_manifest() {
    let cases = [
        (
            "windows/devinfo.xml",
            Value::from("urn:oma:mo:oma-dm-devinfo:1.0"),
        ),
        ("mattrax/DMClient.xml", Value::Null),
        ("cyanogenmod/syncmldm.xml", Value::Null),
    ];
    for (file, moid) in cases {
        let path = corpus_dir().join(file);
        let out = dm(&["ddf", &path.to_string_lossy()]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{file}");
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "{file}: one line");
        let json: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
        let (nodes, max_depth) = manifest_counts(file);
        assert_eq!(json["moid"], moid, "{file}");
        assert_eq!(json["nodes"], nodes, "{file}");
        assert_eq!(json["max_depth"], max_depth, "{file}");
        assert!(
            json["tree"].as_array().is_some_and(|t| !t.is_empty()),
            "{file}"
        );
    }
}

#[test]
fn the_tree_describes_each_node() {
    let path = corpus_dir().join("windows/devinfo.xml");
    let out = dm(&["ddf", &path.to_string_lossy()]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let root = &json["tree"][0];
    assert_eq!(root["name"], "DevInfo");
    assert_eq!(root["format"], "node");
    assert_eq!(root["ddf_name"], "urn:oma:mo:oma-dm-devinfo:1.0");
    let children = root["children"].as_array().expect("children");
    let devid = children
        .iter()
        .find(|c| c["name"] == "DevId")
        .expect("DevId");
    assert_eq!(devid["format"], "chr");
    assert_eq!(devid["access"], serde_json::json!(["Get"]));
    assert_eq!(devid["occurrence"], "One");
    assert_eq!(devid["scope"], "Permanent");
}

#[test]
fn a_malformed_file_exits_1_with_its_line_and_column() {
    let path = corpus_dir().join("malformed/wso2/OMA-SUP-MO_DM_DMAcc-V1_2-20070209-A.xml");
    let out = dm(&["ddf", &path.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("line 198, column 19"), "{stderr}");
}

#[test]
fn an_invalid_ddf_and_a_missing_file_exit_1() {
    let dir = std::env::temp_dir().join(format!("dm-cli-ddf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.xml");
    std::fs::write(
        &file,
        "<MgmtTree>\n<VerDTD>1.2</VerDTD>\n  <Node><NodeName>A</NodeName></Node>\n</MgmtTree>",
    )
    .expect("write");
    let out = dm(&["ddf", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 3, column 3"), "{stderr}");
    assert!(stderr.contains("has no <DFProperties>"), "{stderr}");

    let out = dm(&["ddf", &dir.join("absent.xml").to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn outline_indents_each_level() {
    let path = corpus_dir().join("cyanogenmod/devdetail_uri.xml");
    let out = dm(&["ddf", "--outline", &path.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "MgmtTree VerDTD 1.1.2, DDFName (none), 4 nodes, depth 2\n\
         URI (node, Get, One, Dynamic)\n  \
         MaxDepth (int, Get, One, Dynamic)\n  \
         MaxSegLen (int, Get, One, Dynamic)\n  \
         MaxTotLen (int, Get, One, Dynamic)\n"
    );
}

#[test]
fn departures_read_past_are_listed_as_warnings_with_their_position() {
    let dir = std::env::temp_dir().join(format!("dm-cli-ddf-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("vendor.xml");
    std::fs::write(
        &file,
        "<MgmtTree>\n<VerDTD>1.2</VerDTD>\n<Node><NodeName>A</NodeName><DFProperties>\
         <AccessType><Get/></AccessType>\n\
         <Description>one</Description><Description>two</Description>\n\
         <DFFormat><chr/></DFFormat></DFProperties></Node>\n</MgmtTree>",
    )
    .expect("write");
    let out = dm(&["ddf", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty());
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    // The existing keys are unchanged.
    assert_eq!(json["nodes"], 1);
    assert_eq!(json["tree"][0]["description"], "one");
    let warnings = json["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(w["kind"], "repeated_differing");
    assert_eq!(
        (w["line"].as_u64(), w["column"].as_u64()),
        (Some(4), Some(31))
    );
    assert_eq!(w["path"], "MgmtTree/Node[A]/DFProperties/Description");
    assert!(
        w["message"]
            .as_str()
            .is_some_and(|m| m.contains("the first is kept")),
        "{w}"
    );

    // The outline prints them on stderr.
    let out = dm(&["ddf", "--outline", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("warning: "), "{stderr}");
    assert!(stderr.contains("line 4, column 31"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_file_that_departs_from_nothing_has_no_warnings() {
    let path = corpus_dir().join("windows/devinfo.xml");
    let out = dm(&["ddf", &path.to_string_lossy()]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["warnings"], serde_json::json!([]));
}
