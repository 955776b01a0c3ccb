//! `dm decode` and `dm uri parse` through the built binary: the output
//! contract (exit codes, one line of JSON, nothing on stdout on error).

mod common;

use std::process::Output;

fn dm(args: &[&str], stdin: &[u8]) -> Output {
    common::dm(args, stdin)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

#[test]
fn decode_prints_the_canonical_form_on_one_line() {
    let out = dm(
        &["decode", "p2"],
        br#"{ "CMD" : [ ["GET", "URN:oma:mo:moid:1.0/left/%41"], ["END"] ], "X": 1 }"#,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "{\"CMD\":[[\"GET\",\"urn:oma:mo:moid:1.0/left/A\"],[\"END\"]]}\n"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn decode_reads_a_file_argument() {
    let dir = std::env::temp_dir().join(format!("dm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("p3.json");
    std::fs::write(&file, br#"{"Status":[{"sc":404}]}"#).expect("write");
    let out = dm(&["decode", "p3", &file.to_string_lossy()], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "{\"Status\":[{\"sc\":404}]}\n");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn invalid_input_exits_1_with_nothing_on_stdout() {
    let cases: &[(&str, &[u8])] = &[
        ("p1", b"[]"),
        ("p2", b"{\"CMD\":[[\"END\"]]} x"),
        ("p2", b"{\"CMD\":[[\"END\"],[\"GET\",\"urn:x:y//\"]]}"),
        ("p3", b"{\"Status\":[{\"sc\":99}]}"),
        (
            "mos",
            b"[{\"ClientURI\":\"urn:x:y/a/\",\"MOData\":{\"r\":{\"a\":1,\"a\":2}}}]",
        ),
        ("alert", b"{\"AlertType\":\"urn:x:y\",\"Mark\":\"severe\"}"),
        ("p2", b"\xef\xbb\xbf{\"CMD\":[]}"),
        ("p2", b"\xff"),
        ("p2", b""),
    ];
    for (kind, input) in cases {
        let out = dm(&["decode", kind], input);
        assert_eq!(out.status.code(), Some(1), "{kind} {input:?}");
        assert!(out.stdout.is_empty(), "{kind} {input:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{kind}: {stderr}");
    }
}

#[test]
fn deep_nesting_is_a_clean_error() {
    let mut input = String::from(r#"[{"ClientURI":"urn:x:y/a/","MOData":{"r":"#);
    input.push_str(&"{\"a\":".repeat(100_000));
    let out = dm(&["decode", "mos"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn uri_parse_contract() {
    let out = dm(&["uri", "parse", "urn:oma:mo:moid:1.0/*/Setting"], b"");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["instance"], serde_json::json!({"kind": "all"}));
    assert_eq!(json["canonical"], "urn:oma:mo:moid:1.0/*/Setting");

    let out = dm(&["uri", "parse", "urn:oma:mo:moid:1.0/left/a//b"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty segment"));
}

#[test]
fn usage_errors_exit_1() {
    let out = dm(&["decode", "p9"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn uri_resolve_contract() {
    let dir = std::env::temp_dir().join(format!("dm-cli-resolve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tree = dir.join("tree.json");
    std::fs::write(
        &tree,
        br#"[{"ClientURI":"urn:oma:mo:moid:1.0/left/","MOData":{"r":{"ID":"GPS","S":"1"}}},
             {"ClientURI":"urn:oma:mo:moid:1.0/right/","MOData":{"r":{"ID":"T","S":"2"}}}]"#,
    )
    .expect("write");
    let tree_arg = tree.to_string_lossy().into_owned();
    let run = |uri: &str| {
        let out = dm(&["uri", "resolve", "--tree", &tree_arg, uri], b"");
        assert_eq!(out.status.code(), Some(0), "{uri}");
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).expect("JSON")
    };
    assert_eq!(
        run("urn:oma:mo:moid:1.0/*/S"),
        serde_json::json!({"sc": 200, "nodes": ["urn:oma:mo:moid:1.0/left/S", "urn:oma:mo:moid:1.0/right/S"]})
    );
    assert_eq!(
        run("urn:oma:mo:moid:1.0//S"),
        serde_json::json!({"sc": 409, "nodes": []})
    );
    assert_eq!(
        run("urn:oma:mo:moid:1.0/left"),
        serde_json::json!({"sc": 400, "nodes": []})
    );
    let out = dm(
        &[
            "uri",
            "resolve",
            "--tree",
            "/nonexistent/tree.json",
            "urn:x:y//",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
