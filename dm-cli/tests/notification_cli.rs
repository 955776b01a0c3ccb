//! `dm notification decode|encode` run as a process on the conformance vectors.

mod common;

use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../conformance/vectors/notifications.json"
);

struct Output {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `dm` with `args`, feeding `stdin`.
fn dm(args: &[&str], stdin: &[u8]) -> Output {
    let output = common::dm(args, stdin);
    Output {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The vector case called `name`; fails with a clear message when the file
/// or the case is absent.
fn case(name: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(VECTORS).map_err(|e| {
        format!("cannot read the notification vectors at {VECTORS}: {e} (run the tests from a clone of the repository)")
    })?;
    let cases: Value =
        serde_json::from_str(&text).map_err(|e| format!("{VECTORS} is not JSON: {e}"))?;
    cases
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .cloned()
        .ok_or_else(|| format!("vector case `{name}` is missing from {VECTORS}"))
}

fn text(case: &Value, member: &str) -> String {
    case[member].as_str().unwrap_or_default().to_owned()
}

fn unhex(text: &str) -> Vec<u8> {
    dm_codec::hex::decode(text).expect("hex digits")
}

fn stdout_json(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "one line: {text:?}"
    );
    serde_json::from_str(&text).expect("stdout is JSON")
}

#[test]
fn valid_hex_with_good_secret() -> Result<(), String> {
    let case = case("all six options, digest valid")?;
    let hex = format!("  {}\n", text(&case, "hex"));
    let out = dm(
        &[
            "notification",
            "decode",
            "--hex",
            "--secret-hex",
            &text(&case, "secret_hex"),
            "--auth-data-hex",
            &text(&case, "auth_data_hex"),
        ],
        hex.as_bytes(),
    );
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(stdout_json(&out), case["decoded"]);
    assert!(out.stderr.is_empty());
    Ok(())
}

#[test]
fn raw_bytes_from_a_file() -> Result<(), String> {
    let case = case("no digest, minimal mandatory options")?;
    let path = std::env::temp_dir().join(format!("dm-notification-cli-{}.bin", std::process::id()));
    std::fs::write(&path, unhex(&text(&case, "hex"))).map_err(|e| e.to_string())?;
    let out = dm(
        &["notification", "decode", path.to_str().unwrap_or_default()],
        b"",
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(stdout_json(&out), case["decoded"]);
    Ok(())
}

#[test]
fn invalid_notification_exits_1_with_empty_stdout() -> Result<(), String> {
    for name in [
        "server id only",
        "truncated inside an option",
        "empty input",
    ] {
        let case = case(name)?;
        let out = dm(
            &["notification", "decode", "--hex"],
            text(&case, "hex").as_bytes(),
        );
        assert_eq!(out.code, Some(1), "{name}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(out.stderr.starts_with("error: "), "{name}: {}", out.stderr);
        assert!(out.stderr.contains("at byte"), "{name}: {}", out.stderr);
    }
    Ok(())
}

#[test]
fn wrong_secret_exits_3_and_still_prints() -> Result<(), String> {
    let case = case("same message, wrong secret")?;
    let out = dm(
        &[
            "notification",
            "decode",
            "--hex",
            "--secret-hex",
            &text(&case, "secret_hex"),
            "--auth-data-hex",
            &text(&case, "auth_data_hex"),
        ],
        text(&case, "hex").as_bytes(),
    );
    assert_eq!(out.code, Some(3), "stderr: {}", out.stderr);
    assert_eq!(stdout_json(&out)["SERVER-ID"], "dm.example.com");
    assert!(out.stderr.contains("does not verify"), "{}", out.stderr);
    Ok(())
}

#[test]
fn secret_without_digest_exits_3() -> Result<(), String> {
    let case = case("no digest, minimal mandatory options")?;
    // --auth-data-hex is optional: empty auth data.
    let out = dm(
        &["notification", "decode", "--hex", "--secret-hex", "00"],
        text(&case, "hex").as_bytes(),
    );
    assert_eq!(out.code, Some(3));
    assert_eq!(stdout_json(&out), case["decoded"]);
    assert!(out.stderr.contains("no SHA256-DIGEST"), "{}", out.stderr);
    Ok(())
}

#[test]
fn bad_hex_and_bad_arguments_exit_1() {
    let out = dm(&["notification", "decode", "--hex"], b"12 34");
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("not a hex digit"), "{}", out.stderr);
    let out = dm(
        &["notification", "decode", "--hex", "--secret-hex", "xyz"],
        b"",
    );
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("--secret-hex"), "{}", out.stderr);
    let out = dm(&["notification", "decode", "--auth-data-hex", "00"], b"");
    assert_eq!(out.code, Some(1), "auth data needs a secret");
    assert!(out.stdout.is_empty());
}

#[test]
fn encode_reproduces_the_vector() -> Result<(), String> {
    let case = case("all six options, digest valid")?;
    let json = case["decoded"].to_string();
    let out = dm(&["notification", "encode", "--hex"], json.as_bytes());
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", text(&case, "hex"))
    );
    let out = dm(&["notification", "encode"], json.as_bytes());
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout, unhex(&text(&case, "hex")));
    Ok(())
}

#[test]
fn encode_rejects_invalid_json() {
    for input in [
        &b"{}"[..],
        br#"{"VER":1,"SERVER-ID":"dm","PREFERRED-CON-TYPE":7}"#,
        b"not json",
        b"\xff",
    ] {
        let out = dm(&["notification", "encode"], input);
        assert_eq!(out.code, Some(1));
        assert!(out.stdout.is_empty());
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

#[test]
fn help_documents_exit_status_3() {
    let out = dm(&["notification", "decode", "--help"], b"");
    assert_eq!(out.code, Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("3  with --secret-hex"), "{help}");
}
